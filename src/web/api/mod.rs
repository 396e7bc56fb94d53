//! The JSON API of API.md, v1.

pub mod events;
pub mod orders;
pub mod queue;
pub mod shop;
pub mod stats;

use actix_web::{web, HttpMessage, HttpResponse};
use uuid::Uuid;

use super::error::ApiError;
use super::{json_config, State, FAN_BODY_LIMIT, ORGANIZER_BODY_LIMIT};
use crate::inventory::registry::InventoryError;
use crate::inventory::InventoryHandle;

/// Seconds a client should wait before retrying when an actor is saturated.
pub const BUSY_RETRY_AFTER_SECS: u64 = 1;

/// Registers the `/api/v1` routes. Routes are nested under `/events/{id}` so a request's
/// path is matched against one pattern with a parameter and then static suffixes: actix's
/// router matches parameterised patterns one by one with a regex engine, and a flat list of
/// a dozen such patterns cost the status poll most of its time.
pub fn routes(cfg: &mut web::ServiceConfig) {
    let organizer = || json_config(ORGANIZER_BODY_LIMIT);
    let fan = || json_config(FAN_BODY_LIMIT);
    cfg.service(
        web::scope("/events/{id}")
            .service(
                web::resource("/queue")
                    .app_data(fan())
                    .app_data(web::PayloadConfig::new(FAN_BODY_LIMIT))
                    .route(web::get().to(queue::status))
                    .route(web::post().to(queue::join)),
            )
            .service(
                web::resource("")
                    .app_data(organizer())
                    .route(web::get().to(events::get))
                    .route(web::patch().to(events::patch)),
            )
            .service(
                web::resource("/holds")
                    .app_data(fan())
                    .route(web::post().to(shop::hold)),
            )
            .service(
                web::scope("/holds/{hold_id}")
                    .route("", web::delete().to(shop::release))
                    .service(
                        web::resource("/order")
                            .app_data(fan())
                            .route(web::post().to(shop::order)),
                    ),
            )
            .route("/seats", web::get().to(shop::seats))
            .route("/fairness", web::get().to(queue::fairness))
            .route("/challenge", web::get().to(queue::challenge))
            .route("/pause", web::post().to(events::pause))
            .route("/resume", web::post().to(events::resume))
            .route("/stats", web::get().to(stats::stats))
            .route("/orders", web::get().to(orders::list))
            .default_service(web::to(not_found)),
    )
    .service(
        web::resource("/events")
            .app_data(organizer())
            .route(web::post().to(events::create))
            .route(web::get().to(events::list)),
    )
    .service(
        web::scope("/orders/{id}")
            .route("", web::get().to(orders::get))
            .route("/cancel", web::post().to(orders::cancel))
            .default_service(web::to(not_found)),
    )
    .default_service(web::to(not_found));
}

async fn not_found(req: actix_web::HttpRequest) -> Result<HttpResponse, ApiError> {
    req.extensions_mut().insert(crate::telemetry::UNMATCHED);
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
