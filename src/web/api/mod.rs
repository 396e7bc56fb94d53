//! The JSON API (`docs/api.md`), v1: thin adapters over [`crate::sale`].

pub mod events;
pub mod orders;
pub mod queue;
pub mod shop;

use actix_web::middleware::from_fn;
use actix_web::{web, HttpMessage, HttpResponse};

use super::error::ApiError;
use super::{fan_limits, forward, organizer_limits};

/// Registers the `/api/v1` routes. Routes are nested under `/events/{id}` so a request's
/// path is matched against one pattern with a parameter and then static suffixes: actix's
/// router matches parameterised patterns one by one with a regex engine, and a flat list of
/// a dozen such patterns cost the status poll most of its time.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/events/{id}")
            .service(
                fan_limits().on_resource(
                    web::resource("/queue")
                        .route(web::get().to(queue::status))
                        .route(web::post().to(queue::join)),
                ),
            )
            // Calls on an event's inventory go to the node that owns it (see `forward`);
            // reads of the event any node answers.
            .service(
                organizer_limits().on_resource(
                    web::resource("")
                        .wrap(from_fn(forward::writes_to_event_owner))
                        .route(web::get().to(events::get))
                        .route(web::patch().to(events::patch)),
                ),
            )
            .service(
                fan_limits().on_resource(
                    web::resource("/holds")
                        .wrap(from_fn(forward::to_event_owner))
                        .route(web::post().to(shop::hold)),
                ),
            )
            .service(
                fan_limits().on_scope(
                    web::scope("/holds/{hold_id}")
                        .wrap(from_fn(forward::to_event_owner))
                        .route("", web::delete().to(shop::release))
                        .route("/order", web::post().to(shop::order)),
                ),
            )
            .service(
                web::resource("/seats")
                    .wrap(from_fn(forward::to_event_owner))
                    .route(web::get().to(shop::seats)),
            )
            .route("/fairness", web::get().to(queue::fairness))
            .route("/challenge", web::get().to(queue::challenge))
            .service(
                web::resource("/pause")
                    .wrap(from_fn(forward::to_event_owner))
                    .route(web::post().to(events::pause)),
            )
            .service(
                web::resource("/resume")
                    .wrap(from_fn(forward::to_event_owner))
                    .route(web::post().to(events::resume)),
            )
            .route("/stats", web::get().to(events::stats))
            .route("/orders", web::get().to(orders::list))
            .default_service(web::to(not_found)),
    )
    .service(
        organizer_limits().on_resource(
            web::resource("/events")
                .route(web::post().to(events::create))
                .route(web::get().to(events::list)),
        ),
    )
    .service(
        web::scope("/orders/{id}")
            .route("", web::get().to(orders::get))
            .service(
                web::resource("/cancel")
                    .wrap(from_fn(forward::to_order_owner))
                    .route(web::post().to(orders::cancel)),
            )
            .default_service(web::to(not_found)),
    )
    .default_service(web::to(not_found));
}

async fn not_found(req: actix_web::HttpRequest) -> Result<HttpResponse, ApiError> {
    req.extensions_mut().insert(crate::telemetry::UNMATCHED);
    Err(ApiError::not_found("route"))
}
