//! Fan endpoints of the waiting room: join the line, read one's status.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::{web, HttpRequest, HttpResponse};
use uuid::Uuid;

use super::inventory;
use crate::inventory::actor::GetSnapshot;
use crate::room::line::Status;
use crate::web::auth::{admission_cookie, fan_token, ticket_cookie};
use crate::web::error::ApiError;
use crate::web::State;

fn cookie(name: String, value: String) -> Cookie<'static> {
    Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .finish()
}

fn respond(
    mut response: actix_web::HttpResponseBuilder,
    event: Uuid,
    status: &Status,
) -> HttpResponse {
    response.cookie(cookie(ticket_cookie(event), status.ticket.clone()));
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
    let snap = inventory(&state, event).await?.ask(GetSnapshot).await?;
    let current = fan_token(&req, &ticket_cookie(event));
    let (claims, created) = state.room.join(event, current.as_deref()).await?;
    let status = state.room.status(&claims, &snap.spec, snap.state).await?;
    let builder = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(respond(builder, event, &status))
}

/// `GET /api/v1/events/{id}/queue`: the caller's status (with an admission once admitted).
pub async fn status(
    req: HttpRequest,
    state: State,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let event = path.into_inner();
    let snap = inventory(&state, event).await?.ask(GetSnapshot).await?;
    let claims = fan_token(&req, &ticket_cookie(event))
        .and_then(|t| state.room.ticket(event, &t))
        .ok_or_else(|| {
            ApiError::NotAdmitted("no valid queue ticket for this event: join the line".into())
        })?;
    let status = state.room.status(&claims, &snap.spec, snap.state).await?;
    Ok(respond(HttpResponse::Ok(), event, &status))
}
