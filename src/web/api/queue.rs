//! Fan endpoints of the waiting room: join the line, read one's status, check the draw.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::error::PayloadError;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{TimeZone, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::inventory;
use crate::edge::pow::{self, PowError};
use crate::edge::{Client, Route};
use crate::inventory::actor::GetSnapshot;
use crate::room::line::{RoomError, Rules, Status};
use crate::room::pacer;
use crate::room::pacing::PREQUEUE_METHOD;
use crate::web::auth::{admission_cookie, fan_token, limit_ip, limit_session, ticket_cookie};
use crate::web::error::ApiError;
use crate::web::{payload_error, State, FAN_BODY_LIMIT};

/// Seconds a fan should wait before joining again when the line is full.
pub const LINE_FULL_RETRY_AFTER_SECS: u64 = 30;

impl From<RoomError> for ApiError {
    fn from(e: RoomError) -> Self {
        match e {
            RoomError::Line(e) => e.into(),
            RoomError::Store(e) => e.into(),
            RoomError::Full => ApiError::Busy(
                "the line for this event is full; try again shortly".into(),
                LINE_FULL_RETRY_AFTER_SECS,
            ),
        }
    }
}

/// The event's line rules on this node: cached, or read from its actor on first use (which
/// also makes this node's pacer tick the event). Unknown events are 404.
pub async fn rules(state: &State, event: Uuid) -> Result<Rules, ApiError> {
    if let Some(rules) = state.room.rules(event) {
        return Ok(rules);
    }
    let snap = inventory(state, event).await?.ask(GetSnapshot).await?;
    let rules = pacer::rules(&snap, 1.0);
    state.room.set_rules(event, rules);
    Ok(rules)
}

fn cookie(name: String, value: String) -> Cookie<'static> {
    Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .finish()
}

/// Sets the fan's cookies: the ticket on joins only (a poll already carries it), the
/// admission once the fan is admitted.
pub fn set_cookies(
    response: &mut actix_web::HttpResponseBuilder,
    event: Uuid,
    status: &Status,
    joined: bool,
) {
    if joined {
        response.cookie(cookie(ticket_cookie(event), status.ticket.clone()));
    }
    if let Some(admission) = &status.admission {
        response.cookie(cookie(admission_cookie(event), admission.clone()));
    }
}

/// The answer to a join or a poll: the status as JSON, with the fan's cookies.
fn respond(
    mut response: actix_web::HttpResponseBuilder,
    event: Uuid,
    status: &Status,
    joined: bool,
) -> HttpResponse {
    set_cookies(&mut response, event, status, joined);
    response
        .insert_header(("Cache-Control", "no-store"))
        .json(status)
}

/// Body of a join: optional, with the solved challenge when the event demands one.
#[derive(Deserialize, Default)]
pub struct JoinBody {
    pow: Option<PowSolution>,
}

/// A solved proof-of-work challenge.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PowSolution {
    challenge: String,
    nonce: String,
}

impl JoinBody {
    /// An empty body is a join without proof of work; anything else must be the JSON object.
    fn parse(bytes: &[u8]) -> Result<Self, ApiError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JoinBody::default());
        }
        serde_json::from_slice(bytes)
            .map_err(|e| ApiError::BadRequest(format!("invalid JSON: {e}")))
    }
}

/// Checks and spends the join's proof of work (one place per solved challenge, across nodes).
/// Returns the spent challenge's id, to give back if the join then fails.
async fn spend_pow(
    state: &State,
    event: Uuid,
    bits: u8,
    solution: Option<&PowSolution>,
) -> Result<String, ApiError> {
    let refused = |e: PowError| {
        state.counters.pow_refused(event);
        match e {
            PowError::Missing => ApiError::BadRequest(e.to_string()),
            _ => ApiError::Invalid(format!("proof of work refused ({}): {e}", e.reason())),
        }
    };
    let now = state.clock.now();
    let solution = solution.ok_or(PowError::Missing).map_err(refused)?;
    let challenge = pow::verify(
        &state.signer,
        &solution.challenge,
        &solution.nonce,
        event,
        bits,
        now,
    )
    .map_err(refused)?;
    let first = state
        .room
        .store()
        .claim_once(
            event,
            &challenge.id,
            now.timestamp_millis(),
            challenge.expires_ms,
        )
        .await?;
    if !first {
        return Err(refused(PowError::Replayed));
    }
    Ok(challenge.id)
}

/// `POST /api/v1/events/{id}/queue`: 201 with a new place, 200 with the caller's own.
pub async fn join(
    req: HttpRequest,
    state: State,
    path: web::Path<Uuid>,
    body: Result<web::Bytes, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    let event = path.into_inner();
    let client = limit_ip(&req, &state, event, Route::Join)?;
    let body = body.map_err(|e| match e.as_error::<PayloadError>() {
        Some(e) => payload_error(e, FAN_BODY_LIMIT),
        None => ApiError::BadRequest(e.to_string()),
    })?;
    let body = JoinBody::parse(&body)?;
    let (status, created) = join_line(&req, &state, event, client, &body).await?;
    let builder = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(respond(builder, event, &status, true))
}

/// Joins the line for the caller (the API's join and the event page's form): their own place
/// when they hold a valid ticket, else a new one, paid with proof of work when the event asks.
/// Returns the status and whether the place is new.
pub async fn join_line(
    req: &HttpRequest,
    state: &State,
    event: Uuid,
    client: Client,
    body: &JoinBody,
) -> Result<(Status, bool), ApiError> {
    let rules = rules(state, event).await?;
    if rules.sale == crate::domain::inventory::SaleState::Closed {
        return Err(ApiError::SaleNotOpen("the sale has closed".into()));
    }
    let current = fan_token(req, &ticket_cookie(event));
    // Verified once: the room takes the claims as they are.
    let own = current.as_deref().and_then(|t| state.room.ticket(event, t));
    let spent = match &own {
        // Joining again with one's own ticket: the same place, no new work asked.
        Some(own) => {
            limit_session(state, event, Route::Join, client, &own.session)?;
            None
        }
        None if rules.pow_bits > 0 => {
            Some(spend_pow(state, event, rules.pow_bits, body.pow.as_ref()).await?)
        }
        None => None,
    };
    let joined = async {
        let (claims, created) = state.room.join(event, own, &rules).await?;
        let token = match current {
            Some(token) if !created => token,
            _ => state.signer.sign(&claims),
        };
        Ok::<_, RoomError>((state.room.status(&claims, token, &rules).await?, created))
    };
    match joined.await {
        Ok(joined) => Ok(joined),
        Err(e) => {
            // The fan got no ticket, so bought nothing: they may retry with the same solution
            // (best effort; if the line store is down, a retry is told to fetch a new one).
            if let Some(id) = spent {
                let _ = state.room.store().release_once(event, &id).await;
            }
            Err(e.into())
        }
    }
}

/// `GET /api/v1/events/{id}/queue`: the caller's status (with an admission once admitted).
pub async fn status(
    req: HttpRequest,
    state: State,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let event = path.into_inner();
    let client = limit_ip(&req, &state, event, Route::Status)?;
    let rules = rules(&state, event).await?;
    let status = ticket_status(&req, &state, event, client, &rules).await?;
    Ok(respond(HttpResponse::Ok(), event, &status, false))
}

/// The status of the caller's ticket (from the header or the cookie), under the status
/// route's per-session limit; `client` has passed the per-address limit. `NotAdmitted`
/// without a valid ticket for this event. The API and the waiting-room page both use it.
pub async fn ticket_status(
    req: &HttpRequest,
    state: &State,
    event: Uuid,
    client: Client,
    rules: &Rules,
) -> Result<Status, ApiError> {
    let token = fan_token(req, &ticket_cookie(event));
    let claims = token
        .as_deref()
        .and_then(|t| state.room.ticket(event, t))
        .ok_or_else(|| {
            ApiError::NotAdmitted("no valid queue ticket for this event: join the line".into())
        })?;
    limit_session(state, event, Route::Status, client, &claims.session)?;
    let token = token.unwrap_or_default();
    Ok(state.room.status(&claims, token, rules).await?)
}

/// `GET /api/v1/events/{id}/challenge`: a fresh proof-of-work challenge for one join (issued
/// with `difficulty_bits` 0 when the event asks for none; a join then needs no solution).
pub async fn challenge(state: State, path: web::Path<Uuid>) -> Result<HttpResponse, ApiError> {
    let event = path.into_inner();
    let rules = rules(&state, event).await?;
    let ttl = chrono::Duration::from_std(state.edge.settings().pow_challenge_ttl)
        .unwrap_or_else(|_| chrono::Duration::seconds(120));
    let (token, challenge) =
        pow::issue(&state.signer, event, rules.pow_bits, state.clock.now(), ttl);
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(serde_json::json!({
            "challenge": token,
            "difficulty_bits": challenge.bits,
            "expires_at": challenge.expires(),
            "algorithm": pow::METHOD,
        })))
}

/// `GET /api/v1/events/{id}/fairness`: the pre-queue draw, published once the line opened.
pub async fn fairness(state: State, path: web::Path<Uuid>) -> Result<HttpResponse, ApiError> {
    let event = path.into_inner();
    rules(&state, event).await?;
    let opening = state.room.opening(event).await?.ok_or_else(|| {
        ApiError::SaleNotOpen("the line has not opened yet; the seed is drawn at opening".into())
    })?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "event_id": event,
        "opened_at": Utc.timestamp_millis_opt(opening.opened_at_ms).single(),
        "pre_queue_size": opening.prequeue_size,
        "seed": opening.seed,
        "algorithm": "HMAC-SHA256",
        "method": PREQUEUE_METHOD,
    })))
}
