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
use actix_web::HttpRequest;
use chrono::Duration;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::web::auth::same_secret;
use crate::web::error::ApiError;
use crate::web::State;

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
    let claims: SessionClaims = state.signer.open_payload(cookie.value()).ok()?;
    let fresh = claims.until > state.clock.now().timestamp();
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
        until: (state.clock.now() + Duration::hours(SESSION_HOURS)).timestamp(),
    };
    session_cookie(req, state.signer.sign_payload(&claims))
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
        .secure(req.connection_info().scheme() == "https")
}

/// Whether `typed` is the organizer token.
pub fn is_organizer_token(state: &State, typed: &str) -> bool {
    !typed.is_empty() && same_secret(typed.trim(), &state.settings.organizer_token)
}
