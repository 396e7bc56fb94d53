//! Organizer endpoints on events: create, read, list, patch, pause, resume, stats.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use uuid::Uuid;

use crate::domain::event::EventSpec;
use crate::sale::list_events::EventView;
use crate::sale::stats::Stats;
use crate::sale::{self, edit_event::EventPatch};
use crate::web::error::{ApiError, ErrorBody};
use crate::web::extract::{Organizer, Reader};
use crate::web::json::JsonObject;
use crate::web::State;

/// Create an event.
///
/// The event goes on sale at `sale_opens_at` (at once when absent or past). Unknown fields are
/// refused: a misspelt field silently ignored would sell under the wrong rules.
#[utoipa::path(
    post, path = "/api/v1/events", tag = "organizer", operation_id = "createEvent",
    request_body(content = EventSpec, content_type = "application/json"),
    security(("organizer" = [])),
    responses(
        (status = 201, description = "Created", body = EventView,
         headers(("Location" = String, description = "The event's address")),
         links(
            ("GetEvent" = (operation_id = "getEvent", parameters(("id" = "$response.body#/id")))),
            ("JoinQueue" = (operation_id = "joinQueue", parameters(("id" = "$response.body#/id")))),
         )),
        (status = 422, description = "Against a rule (the message names it)", body = ErrorBody),
    )
)]
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

/// One event, with its tiers' live counts (anyone may read it).
#[utoipa::path(
    get, path = "/api/v1/events/{id}", tag = "events", operation_id = "getEvent",
    params(("id" = Uuid, Path, description = "The event")),
    responses((status = 200, description = "The event", body = EventView))
)]
pub async fn get(_: Reader, state: State, path: web::Path<Uuid>) -> Result<HttpResponse, ApiError> {
    let view = sale::list_events::event(&state.sale, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Every event.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EventList {
    pub events: Vec<EventView>,
}

/// Every event, oldest first, with its state (anyone may read it).
#[utoipa::path(
    get, path = "/api/v1/events", tag = "events", operation_id = "listEvents",
    responses((status = 200, description = "Every event", body = EventList))
)]
pub async fn list(_: Reader, state: State) -> Result<HttpResponse, ApiError> {
    let events = sale::list_events::events(&state.sale).await?;
    Ok(HttpResponse::Ok().json(EventList { events }))
}

/// Change an event.
///
/// `sale_opens_at: null` clears it (on sale at once). A `tiers` entry with an existing id
/// replaces that tier, a new id adds one; `seating` entries add blocks or reprice one. Blocks
/// are never resized or removed, tiers never removed, and GA capacity shrinks only while the
/// places it drops are free.
#[utoipa::path(
    patch, path = "/api/v1/events/{id}", tag = "organizer", operation_id = "patchEvent",
    params(("id" = Uuid, Path, description = "The event")),
    request_body(content = EventPatch, content_type = "application/json"),
    security(("organizer" = [])),
    responses(
        (status = 200, description = "The event as it now stands", body = EventView),
        (status = 422, description = "Against a rule (the message names it)", body = ErrorBody),
    )
)]
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

/// Pause the sale: admission and shopping stop; the line keeps its order.
#[utoipa::path(
    post, path = "/api/v1/events/{id}/pause", tag = "organizer", operation_id = "pauseEvent",
    params(("id" = Uuid, Path, description = "The event")),
    security(("organizer" = [])),
    responses(
        (status = 200, description = "The event, paused", body = EventView),
        (status = 409, description = "The sale has closed", body = ErrorBody),
    )
)]
pub async fn pause(
    _: Organizer,
    state: State,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let view = sale::pause::pause(&state.sale, path.into_inner(), true).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Resume a paused sale.
#[utoipa::path(
    post, path = "/api/v1/events/{id}/resume", tag = "organizer", operation_id = "resumeEvent",
    params(("id" = Uuid, Path, description = "The event")),
    security(("organizer" = [])),
    responses(
        (status = 200, description = "The event, going on", body = EventView),
        (status = 409, description = "The sale has closed", body = ErrorBody),
    )
)]
pub async fn resume(
    _: Organizer,
    state: State,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let view = sale::pause::pause(&state.sale, path.into_inner(), false).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// The event's live numbers: its line, its sales and the requests refused for it.
#[utoipa::path(
    get, path = "/api/v1/events/{id}/stats", tag = "organizer", operation_id = "eventStats",
    params(("id" = Uuid, Path, description = "The event")),
    security(("organizer" = [])),
    responses((status = 200, description = "The numbers", body = Stats))
)]
pub async fn stats(
    _: Organizer,
    state: State,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(sale::stats::stats(&state.sale, path.into_inner()).await?))
}
