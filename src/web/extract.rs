//! Who is calling, checked once per kind of route: extractors that run before a handler reads
//! anything else, so every route of a kind makes the same checks in the same order.
//!
//! - [`Organizer`]: the organizer's bearer token.
//! - [`Admitted`]: the route's per-address limit, then the event (404), then a valid admission
//!   for the event in the path (403), then the per-session limit. Shop routes take it.
//! - [`Ticket`]: the same with the fan's queue ticket (the status route).
//! - [`Joiner`]: the join's per-address limit, and the caller's own ticket when they hold one
//!   (then the per-session limit).
//! - [`Reader`]: the per-address limit on reads anyone may make.
//!
//! Extractors run in argument order and the first refusal ends the request, so a handler that
//! lists one of these before its body extractor refuses an over-limit caller before a byte of
//! the body is read. Refusals render as JSON under `/api/` and as the refusal page elsewhere.

use std::future::{ready, Ready};
use std::marker::PhantomData;
use std::time::Duration;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponseBuilder};
use futures_util::future::LocalBoxFuture;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::error::{ApiError, Refusal};
use super::State;
use crate::edge::{Client, Route};
use crate::room::line::Status;
use crate::room::token::Claims;
use crate::sale::refusals::Refused;

/// Name of the cookie carrying a fan's queue ticket for one event.
pub fn ticket_cookie(event: Uuid) -> String {
    format!("fg_ticket_{}", event.simple())
}

/// Name of the cookie carrying a fan's admission for one event.
pub fn admission_cookie(event: Uuid) -> String {
    format!("fg_admission_{}", event.simple())
}

fn cookie(name: String, value: String, secure: bool) -> Cookie<'static> {
    Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .finish()
}

/// Sets the fan's cookies: the ticket on joins only (a poll already carries it), the
/// admission once the fan is admitted. `Secure` when the product is served over HTTPS.
pub fn set_cookies(
    response: &mut HttpResponseBuilder,
    req: &HttpRequest,
    event: Uuid,
    status: &Status,
    joined: bool,
) {
    let secure = secure(req);
    if joined {
        response.cookie(cookie(ticket_cookie(event), status.ticket.clone(), secure));
    }
    if let Some(admission) = &status.admission {
        response.cookie(cookie(admission_cookie(event), admission.clone(), secure));
    }
}

/// Removes the fan's cookies of an event (they left the line).
pub fn clear_cookies(response: &mut HttpResponseBuilder, req: &HttpRequest, event: Uuid) {
    for name in [ticket_cookie(event), admission_cookie(event)] {
        let mut gone = cookie(name, String::new(), secure(req));
        gone.make_removal();
        response.cookie(gone);
    }
}

/// Whether the browser reached the product over HTTPS: `PUBLIC_URL` says so, or a trusted
/// proxy's `X-Forwarded-Proto` does (a client's own header counts for nothing).
pub fn secure(req: &HttpRequest) -> bool {
    req.app_data::<State>()
        .is_some_and(|state| state.edge.is_https(req))
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

/// The token a fan presents for an event: the bearer header first, else the cookie.
pub fn fan_token(req: &HttpRequest, cookie: &str) -> Option<String> {
    bearer(req)
        .map(str::to_string)
        .or_else(|| req.cookie(cookie).map(|c| c.value().to_string()))
}

/// Whether the request carries the organizer token (for endpoints open to fans too).
pub fn is_organizer(req: &HttpRequest, state: &State) -> bool {
    bearer(req).is_some_and(|t| same_secret(t, &state.settings.organizer_token))
}

fn state(req: &HttpRequest) -> Result<State, Refusal> {
    req.app_data::<State>()
        .cloned()
        .ok_or_else(|| Refusal::to(req, ApiError::internal("no application state")))
}

/// Proof that the request carries the organizer token.
pub struct Organizer;

impl FromRequest for Organizer {
    type Error = Refusal;
    type Future = Ready<Result<Self, Refusal>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(organizer(req))
    }
}

/// The organizer check: an address locked out for wrong tokens is refused first (right token
/// or not, so guessing learns nothing); a wrong token counts against the login limit, as on
/// reads ([`refused_bearer`]: no token at all is no guess).
fn organizer(req: &HttpRequest) -> Result<Organizer, Refusal> {
    let state = state(req)?;
    if let Some(wait) = state.edge.locked_out(state.edge.client(req)) {
        return Err(Refusal::to(req, rate_limited(wait)));
    }
    if is_organizer(req, &state) {
        return Ok(Organizer);
    }
    refused_bearer(req, &state).map_err(|e| Refusal::to(req, e))?;
    Err(Refusal::to(req, ApiError::Unauthorized))
}

/// A reader within the per-address limit on reads (event pages and lists, challenges, the
/// draw, orders): each costs the server more than a status poll.
pub struct Reader;

impl FromRequest for Reader {
    type Error = Refusal;
    type Future = Ready<Result<Self, Refusal>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready((|| {
            let state = state(req)?;
            let client = state.edge.client(req);
            state
                .edge
                .check_ip(Route::Read, client)
                .map_err(|wait| Refusal::to(req, rate_limited(wait)))?;
            Ok(Reader)
        })())
    }
}

/// For reads open to the organizer and to some fans: whether the caller is the organizer
/// (`429` for the organizer token while the address is locked out for wrong tokens). A
/// caller who does not present it (a fan, with their cookie or admission) is not refused for
/// what others at their address guessed; a wrong bearer counts once the read is refused
/// ([`refused_bearer`]).
pub fn organizer_reading(req: &HttpRequest, state: &State) -> Result<bool, ApiError> {
    if !is_organizer(req, state) {
        return Ok(false);
    }
    match state.edge.locked_out(state.edge.client(req)) {
        Some(wait) => Err(rate_limited(wait)),
        None => Ok(true),
    }
}

/// A read refused to a caller who presented a bearer token: counted as a wrong organizer
/// token (`429` once over the login limit).
pub fn refused_bearer(req: &HttpRequest, state: &State) -> Result<(), ApiError> {
    if bearer(req).is_none() {
        return Ok(());
    }
    state
        .edge
        .failed_login(state.edge.client(req))
        .map_err(rate_limited)
}

/// The refusal of a request over a limit, told when to come back (whole seconds, at least 1),
/// counted in `requests_rejected_total{reason="rate_limited"}`.
pub fn rate_limited(wait: Duration) -> ApiError {
    metrics::counter!("requests_rejected_total", "reason" => "rate_limited").increment(1);
    ApiError::RateLimited(wait.as_secs_f64().ceil().max(1.0) as u64)
}

/// A kind of route with limits of its own.
pub trait Limited: 'static {
    const ROUTE: Route;
}

/// Joining the line.
pub struct JoinRoute;
/// Status polls and seat-map reads.
pub struct StatusRoute;
/// Holds and releases.
pub struct HoldRoute;
/// Orders.
pub struct OrderRoute;

impl Limited for JoinRoute {
    const ROUTE: Route = Route::Join;
}
impl Limited for StatusRoute {
    const ROUTE: Route = Route::Status;
}
impl Limited for HoldRoute {
    const ROUTE: Route = Route::Hold;
}
impl Limited for OrderRoute {
    const ROUTE: Route = Route::Order;
}

/// The event named by the path's `{id}` (a malformed id names nothing: 404).
fn path_event(req: &HttpRequest) -> Result<Uuid, Refusal> {
    req.match_info()
        .get("id")
        .and_then(|id| Uuid::parse_str(id).ok())
        .ok_or_else(|| Refusal::to(req, ApiError::not_found("resource")))
}

/// The caller, past the route's per-address limit.
fn limit_ip(
    req: &HttpRequest,
    state: &State,
    event: Uuid,
    route: Route,
) -> Result<Client, Refusal> {
    let client = state.edge.client(req);
    state.edge.check_ip(route, client).map_err(|wait| {
        state.sale.refused(event, Refused::RateLimited);
        Refusal::to(req, rate_limited(wait))
    })?;
    Ok(client)
}

/// The route's per-session limit, once the caller's token is verified.
fn limit_session(
    req: &HttpRequest,
    state: &State,
    event: Uuid,
    route: Route,
    client: Client,
    session: &str,
) -> Result<(), Refusal> {
    state
        .edge
        .check_session(route, client, session)
        .map_err(|wait| {
            state.sale.refused(event, Refused::RateLimited);
            Refusal::to(req, rate_limited(wait))
        })
}

/// The event in the path and the caller, past the route's per-address limit, once the event
/// is known to exist (404 otherwise).
async fn caller_of_event(
    req: &HttpRequest,
    route: Route,
) -> Result<(State, Uuid, Client), Refusal> {
    let state = state(req)?;
    let event = path_event(req)?;
    let client = limit_ip(req, &state, event, route)?;
    state
        .sale
        .known_event(event)
        .await
        .map_err(|e| Refusal::to(req, e))?;
    Ok((state, event, client))
}

/// What a fan presents: their queue ticket or their admission.
pub trait Credential: 'static {
    /// The cookie a browser carries it in.
    fn cookie(event: Uuid) -> String;
    /// Verifies it for `event`: its claims, or the refusal (counted when it matters).
    fn verify(state: &State, event: Uuid, token: Option<&str>) -> Result<Claims, ApiError>;
}

/// An admission: shop routes need it.
pub struct AdmissionToken;
/// A queue ticket: the status route needs it.
pub struct QueueTicket;

impl Credential for AdmissionToken {
    fn cookie(event: Uuid) -> String {
        admission_cookie(event)
    }

    fn verify(state: &State, event: Uuid, token: Option<&str>) -> Result<Claims, ApiError> {
        state.sale.admission(event, token).map_err(|e| {
            state.sale.refused(event, Refused::NotAdmitted);
            e.into()
        })
    }
}

impl Credential for QueueTicket {
    fn cookie(event: Uuid) -> String {
        ticket_cookie(event)
    }

    fn verify(state: &State, event: Uuid, token: Option<&str>) -> Result<Claims, ApiError> {
        token
            .and_then(|t| state.sale.ticket(event, t))
            .ok_or_else(|| {
                ApiError::not_admitted("no valid queue ticket for this event: join the line")
            })
    }
}

/// A fan of the event in the path holding a valid credential `C`, within route `R`'s limits:
/// the per-address limit, then the event (404), then the credential (403), then the
/// per-session limit.
pub struct Fan<C: Credential, R: Limited> {
    pub event: Uuid,
    pub claims: Claims,
    /// The credential's signed form, echoed back in answers.
    pub token: String,
    kind: PhantomData<(C, R)>,
}

/// An admitted fan (shop routes).
pub type Admitted<R> = Fan<AdmissionToken, R>;
/// A fan in line (the status route).
pub type Ticket<R> = Fan<QueueTicket, R>;

impl<C: Credential, R: Limited> FromRequest for Fan<C, R> {
    type Error = Refusal;
    type Future = LocalBoxFuture<'static, Result<Self, Refusal>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let (state, event, client) = caller_of_event(&req, R::ROUTE).await?;
            let token = fan_token(&req, &C::cookie(event));
            let claims =
                C::verify(&state, event, token.as_deref()).map_err(|e| Refusal::to(&req, e))?;
            limit_session(&req, &state, event, R::ROUTE, client, &claims.session)?;
            Ok(Fan {
                event,
                claims,
                token: token.unwrap_or_default(),
                kind: PhantomData,
            })
        })
    }
}

/// A fan joining the event in the path: past the join's per-address limit, with their own
/// ticket when they hold a valid one (then past the per-session limit too).
pub struct Joiner {
    pub event: Uuid,
    /// The caller's own ticket: its claims and signed form.
    pub own: Option<(Claims, String)>,
}

impl FromRequest for Joiner {
    type Error = Refusal;
    type Future = Ready<Result<Self, Refusal>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready((|| {
            let state = state(req)?;
            let event = path_event(req)?;
            let client = limit_ip(req, &state, event, Route::Join)?;
            // Verified once: the join takes the claims as they are.
            let own = fan_token(req, &ticket_cookie(event))
                .and_then(|token| Some((state.sale.ticket(event, &token)?, token)));
            if let Some((claims, _)) = &own {
                limit_session(req, &state, event, Route::Join, client, &claims.session)?;
            }
            Ok(Joiner { event, own })
        })())
    }
}
