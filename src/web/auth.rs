//! Who is calling: the organizer (bearer token) or an admitted fan (admission token, from the
//! `Authorization` header or the event's HttpOnly cookie).

use std::future::{ready, Ready};

use actix_web::{dev::Payload, http::header, FromRequest, HttpRequest};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::error::ApiError;
use super::State;
use crate::edge::Route;
use crate::room::token::{Claims, TokenKind};

/// Name of the cookie carrying a fan's queue ticket for one event.
pub fn ticket_cookie(event: Uuid) -> String {
    format!("fg_ticket_{}", event.simple())
}

/// Name of the cookie carrying a fan's admission for one event.
pub fn admission_cookie(event: Uuid) -> String {
    format!("fg_admission_{}", event.simple())
}

/// The bearer token of the `Authorization` header, if any.
pub fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// Compares secrets without leaking where they differ (hashing first evens out lengths).
pub fn same_secret(a: &str, b: &str) -> bool {
    let (x, y) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    x.iter()
        .zip(y.iter())
        .fold(0u8, |acc, (p, q)| acc | (p ^ q))
        == 0
}

/// Proof that the request carries the organizer token.
pub struct Organizer;

impl FromRequest for Organizer {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let ok = match (req.app_data::<State>(), bearer(req)) {
            (Some(state), Some(token)) => same_secret(token, &state.settings.organizer_token),
            _ => false,
        };
        ready(if ok {
            Ok(Organizer)
        } else {
            Err(ApiError::Unauthorized)
        })
    }
}

/// Whether the request carries the organizer token (for endpoints open to fans too).
pub fn is_organizer(req: &HttpRequest, state: &State) -> bool {
    bearer(req).is_some_and(|t| same_secret(t, &state.settings.organizer_token))
}

/// The token a fan presents for an event: the bearer header first, else the cookie.
pub fn fan_token(req: &HttpRequest, cookie: &str) -> Option<String> {
    bearer(req)
        .map(str::to_string)
        .or_else(|| req.cookie(cookie).map(|c| c.value().to_string()))
}

/// Applies a route's rate limit, per address (`session` None, before anything else is read)
/// or per session (once the caller's token is verified), counting refusals.
pub fn rate_limit(
    req: &HttpRequest,
    state: &State,
    event: Uuid,
    route: Route,
    session: Option<&str>,
) -> Result<(), ApiError> {
    let checked = match session {
        None => state.edge.check_ip(route, req),
        Some(session) => state.edge.check_session(route, req, session),
    };
    checked.map_err(|wait| {
        state.counters.rate_limited(event);
        ApiError::RateLimited(wait.as_secs_f64().ceil().max(1.0) as u64)
    })
}

/// Verifies the caller's admission for `event` (invariant 5) under `route`'s rate limits,
/// counting refusals.
pub fn admission(
    req: &HttpRequest,
    state: &State,
    event: Uuid,
    route: Route,
) -> Result<Claims, ApiError> {
    rate_limit(req, state, event, route, None)?;
    let claims = verified_admission(req, state, event)?;
    rate_limit(req, state, event, route, Some(&claims.session))?;
    Ok(claims)
}

/// Verifies the caller's admission for `event` (invariant 5), counting refusals.
pub fn verified_admission(
    req: &HttpRequest,
    state: &State,
    event: Uuid,
) -> Result<Claims, ApiError> {
    let result = match fan_token(req, &admission_cookie(event)) {
        None => Err(ApiError::NotAdmitted(
            "an admission for this event is required: join the line first".into(),
        )),
        Some(token) => state
            .signer
            .verify(&token, TokenKind::Admission, event, state.clock.now())
            .map_err(|e| ApiError::NotAdmitted(format!("admission refused: {e}"))),
    };
    if result.is_err() {
        state.counters.not_admitted(event);
    }
    result
}
