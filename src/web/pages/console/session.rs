//! The console's login: the organizer token, typed once into a form, buys a signed session
//! cookie, and every form posted with that cookie must carry the session's anti-forgery token.
//!
//! The cookie is HttpOnly, `SameSite=Strict` and scoped to `/organizer`, so scripts cannot
//! read it and other sites' pages do not send it; the anti-forgery token is derived from the
//! session's random id, which only the cookie carries, so a page elsewhere cannot forge it
//! either (two locks: old browsers ignore `SameSite`). The cookie also carries a fingerprint
//! of the organizer token it was bought with: changing `ORGANIZER_TOKEN` ends every session.

use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};
use chrono::Duration;
use futures_util::future::LocalBoxFuture;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::web::error::{ApiError, Back, PageError};
use crate::web::extract::same_secret;
use crate::web::{read_body, State, ORGANIZER_BODY_LIMIT};

/// Name of the console's session cookie.
pub const SESSION_COOKIE: &str = "fg_organizer";
/// Path the cookie is sent to: the console only, never the fan pages or the API.
pub const CONSOLE_PATH: &str = "/organizer";
/// How long a login lasts.
pub const SESSION_HOURS: i64 = 12;

/// The signed content of the session cookie. Its field names differ from every other signed
/// payload (tickets, admissions, challenges), and unknown fields are refused, so no other
/// token the server signs can pass for a session.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionClaims {
    /// Random session id.
    console: String,
    /// Fingerprint of the organizer token the session was bought with.
    token_fp: String,
    /// Expires at, seconds since the epoch.
    until: i64,
}

/// A logged-in organizer.
pub struct Session {
    id: String,
}

impl Session {
    /// The anti-forgery token every console form carries.
    pub fn csrf(&self) -> String {
        let mut hash = Sha256::new();
        hash.update(b"floodgate console csrf\0");
        hash.update(self.id.as_bytes());
        hex::encode(hash.finalize())
    }

    /// Refuses a form whose anti-forgery token is missing or not this session's.
    pub fn check_csrf(&self, token: Option<&str>) -> Result<(), ApiError> {
        match token {
            Some(t) if same_secret(t, &self.csrf()) => Ok(()),
            _ => Err(ApiError::Forbidden(
                "this form is out of date or came from another site; reload the page and try again"
                    .into(),
            )),
        }
    }
}

fn token_fingerprint(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    hex::encode(&digest[..8])
}

/// The session the request's cookie proves, if any (signed, unexpired, current token).
pub fn session(req: &HttpRequest, state: &State) -> Option<Session> {
    let cookie = req.cookie(SESSION_COOKIE)?;
    let claims: SessionClaims = state.sale.signer().open_payload(cookie.value()).ok()?;
    let fresh = claims.until > state.sale.now().timestamp();
    let current = same_secret(
        &claims.token_fp,
        &token_fingerprint(&state.settings.organizer_token),
    );
    (fresh && current).then_some(Session { id: claims.console })
}

/// A new session's cookie, for an organizer who typed the right token.
pub fn start(req: &HttpRequest, state: &State) -> Cookie<'static> {
    let mut id = [0u8; 16];
    rand::rng().fill_bytes(&mut id);
    let claims = SessionClaims {
        console: hex::encode(id),
        token_fp: token_fingerprint(&state.settings.organizer_token),
        until: (state.sale.now() + Duration::hours(SESSION_HOURS)).timestamp(),
    };
    session_cookie(req, state.sale.signer().sign_payload(&claims))
        .max_age(CookieDuration::hours(SESSION_HOURS))
        .finish()
}

/// The cookie that ends a session in the browser.
pub fn end(req: &HttpRequest) -> Cookie<'static> {
    let mut cookie = session_cookie(req, String::new()).finish();
    cookie.make_removal();
    cookie
}

fn session_cookie(req: &HttpRequest, value: String) -> actix_web::cookie::CookieBuilder<'static> {
    Cookie::build(SESSION_COOKIE, value)
        .path(CONSOLE_PATH)
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(crate::web::extract::secure(req))
}

/// Whether `typed` is the organizer token.
pub fn is_organizer_token(state: &State, typed: &str) -> bool {
    !typed.is_empty() && same_secret(typed.trim(), &state.settings.organizer_token)
}

/// Why a console request was turned away.
#[derive(Debug)]
pub enum Denied {
    /// No valid session: to the login.
    NotSignedIn,
    /// A form without its session's token, or a body that could not be read.
    Refused(PageError),
}

impl std::fmt::Display for Denied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Denied::NotSignedIn => f.write_str("not signed in"),
            Denied::Refused(e) => e.fmt(f),
        }
    }
}

impl ResponseError for Denied {
    fn status_code(&self) -> StatusCode {
        match self {
            Denied::NotSignedIn => StatusCode::SEE_OTHER,
            Denied::Refused(e) => e.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Denied::NotSignedIn => HttpResponse::SeeOther()
                .insert_header((header::LOCATION, CONSOLE_PATH))
                .finish(),
            Denied::Refused(e) => e.error_response(),
        }
    }
}

fn refused(error: ApiError) -> Denied {
    Denied::Refused(PageError::new(error, Back::Console(CONSOLE_PATH.into())))
}

fn app_state(req: &HttpRequest) -> Result<State, Denied> {
    req.app_data::<State>()
        .cloned()
        .ok_or_else(|| refused(ApiError::internal("no application state")))
}

/// A console page needs a logged-in organizer: without one, the login page.
impl FromRequest for Session {
    type Error = Denied;
    type Future = std::future::Ready<Result<Self, Denied>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(
            app_state(req).and_then(|state| session(req, &state).ok_or(Denied::NotSignedIn)),
        )
    }
}

/// A posted console form's fields, once its session and anti-forgery token are checked.
pub struct ConsoleForm {
    pub session: Session,
    pub fields: Vec<(String, String)>,
}

impl ConsoleForm {
    /// The value of one field, if posted.
    pub fn field(&self, name: &str) -> Option<&str> {
        field(&self.fields, name)
    }
}

/// The first value of `name` among form fields.
pub fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The fields of an `application/x-www-form-urlencoded` body.
pub fn form_fields(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

impl FromRequest for ConsoleForm {
    type Error = Denied;
    type Future = LocalBoxFuture<'static, Result<Self, Denied>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let body = web::Bytes::from_request(&req, payload);
        Box::pin(async move {
            let state = app_state(&req)?;
            let session = session(&req, &state).ok_or(Denied::NotSignedIn)?;
            let body = read_body(body.await, ORGANIZER_BODY_LIMIT).map_err(refused)?;
            let fields = form_fields(&body);
            session
                .check_csrf(field(&fields, "csrf"))
                .map_err(refused)?;
            Ok(ConsoleForm { session, fields })
        })
    }
}
