//! Who is calling: the organizer (bearer token) or an admitted fan (admission token, from the
//! `Authorization` header or the event's HttpOnly cookie).

use std::future::{ready, Ready};

use actix_web::{dev::Payload, http::header, FromRequest, HttpRequest};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::error::ApiError;
use super::State;
use std::time::Duration;

use crate::edge::{Client, Route};
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

/// Resolves the caller and applies a route's per-address limit, before anything else is
/// read; the caller comes back for the per-session limit. Refusals are counted.
pub fn limit_ip(
    req: &HttpRequest,
    state: &State,
    event: Uuid,
    route: Route,
) -> Result<Client, ApiError> {
    let client = state.edge.client(req);
    counted(state, event, state.edge.check_ip(route, client))?;
    Ok(client)
}

/// Applies a route's per-session limit once the caller's token is verified.
pub fn limit_session(
    state: &State,
    event: Uuid,
    route: Route,
    client: Client,
    session: &str,
) -> Result<(), ApiError> {
    counted(
        state,
        event,
        state.edge.check_session(route, client, session),
    )
}

fn counted(state: &State, event: Uuid, checked: Result<(), Duration>) -> Result<(), ApiError> {
    checked.map_err(|wait| {
        state.counters.rate_limited(event);
        rate_limited(wait)
    })
}

/// The refusal of a request over a limit, told when to come back (whole seconds, at least 1),
/// counted in `requests_rejected_total{reason="rate_limited"}`.
pub fn rate_limited(wait: Duration) -> ApiError {
    metrics::counter!("requests_rejected_total", "reason" => "rate_limited").increment(1);
    ApiError::RateLimited(wait.as_secs_f64().ceil().max(1.0) as u64)
}

/// Verifies the caller's admission for `event` (invariant 5) and applies the route's
/// per-session limit to it; `client` has passed the per-address limit.
pub fn admission(
    req: &HttpRequest,
    state: &State,
    event: Uuid,
    route: Route,
    client: Client,
) -> Result<Claims, ApiError> {
    let claims = verified_admission(req, state, event)?;
    limit_session(state, event, route, client, &claims.session)?;
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
