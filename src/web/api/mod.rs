//! The JSON API of API.md, v1.

pub mod events;
pub mod orders;
pub mod queue;
pub mod shop;
pub mod stats;

use actix_web::{web, HttpResponse};
use uuid::Uuid;

use super::error::ApiError;
use super::{json_config, State, FAN_BODY_LIMIT, ORGANIZER_BODY_LIMIT};
use crate::inventory::registry::InventoryError;
use crate::inventory::InventoryHandle;

/// Seconds a client should wait before retrying when an actor is saturated.
pub const BUSY_RETRY_AFTER_SECS: u64 = 1;

/// Registers the `/api/v1` routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    let organizer = || json_config(ORGANIZER_BODY_LIMIT);
    let fan = || json_config(FAN_BODY_LIMIT);
    cfg.service(
        web::resource("/events")
            .app_data(organizer())
            .route(web::post().to(events::create))
            .route(web::get().to(events::list)),
    )
    .service(
        web::resource("/events/{id}")
            .app_data(organizer())
            .route(web::get().to(events::get))
            .route(web::patch().to(events::patch)),
    )
    .route("/events/{id}/pause", web::post().to(events::pause))
    .route("/events/{id}/resume", web::post().to(events::resume))
    .route("/events/{id}/stats", web::get().to(stats::stats))
    .route("/events/{id}/orders", web::get().to(orders::list))
    .service(
        web::resource("/events/{id}/queue")
            .app_data(fan())
            .route(web::post().to(queue::join))
            .route(web::get().to(queue::status)),
    )
    .route("/events/{id}/fairness", web::get().to(queue::fairness))
    .route("/events/{id}/seats", web::get().to(shop::seats))
    .service(
        web::resource("/events/{id}/holds")
            .app_data(fan())
            .route(web::post().to(shop::hold)),
    )
    .route(
        "/events/{id}/holds/{hold_id}",
        web::delete().to(shop::release),
    )
    .service(
        web::resource("/events/{id}/holds/{hold_id}/order")
            .app_data(fan())
            .route(web::post().to(shop::order)),
    )
    .route("/orders/{id}", web::get().to(orders::get))
    .route("/orders/{id}/cancel", web::post().to(orders::cancel))
    .default_service(web::to(not_found));
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound("route"))
}

impl From<InventoryError> for ApiError {
    fn from(e: InventoryError) -> Self {
        match e {
            InventoryError::Busy => ApiError::Busy(
                "this event's shop is saturated; retry shortly".into(),
                BUSY_RETRY_AFTER_SECS,
            ),
            InventoryError::Stopped => ApiError::Busy(
                "this event's shop is restarting; retry shortly".into(),
                BUSY_RETRY_AFTER_SECS,
            ),
            InventoryError::UnknownEvent => ApiError::NotFound("event"),
            InventoryError::Store(e) => e.into(),
        }
    }
}

/// The event's actor, or 404 for an unknown event.
pub async fn inventory(state: &State, event: Uuid) -> Result<InventoryHandle, ApiError> {
    Ok(state.registry.get(event).await?)
}
