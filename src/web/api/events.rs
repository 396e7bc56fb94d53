//! Organizer endpoints on events: create, read, list, patch, pause, resume, stats.

use actix_web::{web, HttpResponse};
use uuid::Uuid;

use crate::domain::event::EventSpec;
use crate::sale::{self, edit_event::EventPatch};
use crate::web::error::ApiError;
use crate::web::extract::{Organizer, Reader};
use crate::web::json::JsonObject;
use crate::web::State;

/// `POST /api/v1/events`
pub async fn create(
    _: Organizer,
    state: State,
    body: JsonObject<EventSpec>,
) -> Result<HttpResponse, ApiError> {
    let view = sale::create_event::create_event(&state.sale, body.into_inner()).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/events/{}", view.id)))
        .json(view))
}

/// `GET /api/v1/events/{id}` (public)
pub async fn get(_: Reader, state: State, path: web::Path<Uuid>) -> Result<HttpResponse, ApiError> {
    let view = sale::list_events::event(&state.sale, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// `GET /api/v1/events` (public): every event, with its state.
pub async fn list(_: Reader, state: State) -> Result<HttpResponse, ApiError> {
    let events = sale::list_events::events(&state.sale).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "events": events })))
}

/// `PATCH /api/v1/events/{id}`
pub async fn patch(
    _: Organizer,
    state: State,
    path: web::Path<Uuid>,
    body: JsonObject<EventPatch>,
) -> Result<HttpResponse, ApiError> {
    let view =
        sale::edit_event::edit_event(&state.sale, path.into_inner(), body.into_inner()).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// `POST /api/v1/events/{id}/pause`
pub async fn pause(
    _: Organizer,
    state: State,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let view = sale::pause::pause(&state.sale, path.into_inner(), true).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// `POST /api/v1/events/{id}/resume`
pub async fn resume(
    _: Organizer,
    state: State,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let view = sale::pause::pause(&state.sale, path.into_inner(), false).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// `GET /api/v1/events/{id}/stats`
pub async fn stats(
    _: Organizer,
    state: State,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(sale::stats::stats(&state.sale, path.into_inner()).await?))
}
