//! Fan endpoints of the waiting room: join the line, read one's status, check the draw.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{TimeZone, Utc};
use uuid::Uuid;

use super::inventory;
use crate::inventory::actor::GetSnapshot;
use crate::room::line::{RoomError, Rules, Status};
use crate::room::pacer;
use crate::room::pacing::PREQUEUE_METHOD;
use crate::web::auth::{admission_cookie, fan_token, ticket_cookie};
use crate::web::error::ApiError;
use crate::web::State;

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

/// The answer to a join or a poll. The ticket cookie is set on joins only (a poll already
/// carries it); the admission cookie when the fan is admitted.
fn respond(
    mut response: actix_web::HttpResponseBuilder,
    event: Uuid,
    status: &Status,
    joined: bool,
) -> HttpResponse {
    if joined {
        response.cookie(cookie(ticket_cookie(event), status.ticket.clone()));
    }
    if let Some(admission) = &status.admission {
        response.cookie(cookie(admission_cookie(event), admission.clone()));
    }
    response
        .insert_header(("Cache-Control", "no-store"))
        .json(status)
}

/// `POST /api/v1/events/{id}/queue`: 201 with a new place, 200 with the caller's own.
pub async fn join(
    req: HttpRequest,
    state: State,
    path: web::Path<Uuid>,
    body: Option<web::Json<serde_json::Value>>,
) -> Result<HttpResponse, ApiError> {
    let event = path.into_inner();
    if let Some(body) = body {
        if !body.is_object() {
            return Err(ApiError::BadRequest(
                "the body must be a JSON object".into(),
            ));
        }
    }
    let rules = rules(&state, event).await?;
    if rules.sale == crate::domain::inventory::SaleState::Closed {
        return Err(ApiError::SaleNotOpen("the sale has closed".into()));
    }
    let current = fan_token(&req, &ticket_cookie(event));
    let (claims, created) = state.room.join(event, current.as_deref(), &rules).await?;
    let token = match current {
        Some(token) if !created => token,
        _ => state.signer.sign(&claims),
    };
    let status = state.room.status(&claims, token, &rules).await?;
    let builder = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(respond(builder, event, &status, true))
}

/// `GET /api/v1/events/{id}/queue`: the caller's status (with an admission once admitted).
pub async fn status(
    req: HttpRequest,
    state: State,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let event = path.into_inner();
    let rules = rules(&state, event).await?;
    let token = fan_token(&req, &ticket_cookie(event));
    let claims = token
        .as_deref()
        .and_then(|t| state.room.ticket(event, t))
        .ok_or_else(|| {
            ApiError::NotAdmitted("no valid queue ticket for this event: join the line".into())
        })?;
    let token = token.unwrap_or_default();
    let status = state.room.status(&claims, token, &rules).await?;
    Ok(respond(HttpResponse::Ok(), event, &status, false))
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
