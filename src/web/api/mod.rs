//! The JSON API (`docs/api.md`), v1: thin adapters over [`crate::sale`].

pub mod events;
pub mod notifications;
pub mod orders;
pub mod queue;
pub mod shop;

use actix_web::middleware::from_fn;
use actix_web::{web, HttpMessage, HttpResponse};

use super::error::ApiError;
use super::{allow, fan_limits, forward, organizer_limits};

/// Registers the `/api/v1` routes. Routes are nested under `/events/{id}` so a request's
/// path is matched against one pattern with a parameter and then static suffixes: actix's
/// router matches parameterised patterns one by one with a regex engine, and a flat list of
/// a dozen such patterns cost the status poll most of its time.
pub fn routes(cfg: &mut web::ServiceConfig) {
    // Calls on an event's inventory go to the node that owns it (`forward`); reads of the
    // event any node answers. Every resource answers the methods it does not take with 405.
    let owned = || from_fn(forward::to_event_owner);
    cfg.service(
        web::scope("/events/{id}")
            .service(
                fan_limits().on_resource(
                    web::resource("/queue")
                        .route(web::get().to(queue::status))
                        .route(web::post().to(queue::join))
                        .route(web::delete().to(queue::leave))
                        .default_service(allow("GET, POST, DELETE")),
                ),
            )
            .service(
                organizer_limits().on_resource(
                    web::resource("")
                        .wrap(from_fn(forward::writes_to_event_owner))
                        .route(web::get().to(events::get))
                        .route(web::patch().to(events::patch))
                        .default_service(allow("GET, PATCH")),
                ),
            )
            .service(
                fan_limits().on_resource(
                    web::resource("/holds")
                        .wrap(owned())
                        .route(web::post().to(shop::hold))
                        .default_service(allow("POST")),
                ),
            )
            .service(
                fan_limits().on_resource(
                    web::resource("/holds/{hold_id}")
                        .wrap(owned())
                        .route(web::delete().to(shop::release))
                        .default_service(allow("DELETE")),
                ),
            )
            .service(
                fan_limits().on_resource(
                    web::resource("/holds/{hold_id}/order")
                        .wrap(owned())
                        .route(web::post().to(shop::order))
                        .default_service(allow("POST")),
                ),
            )
            .service(
                web::resource("/seats")
                    .wrap(owned())
                    .route(web::get().to(shop::seats))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/availability")
                    .wrap(owned())
                    .route(web::get().to(shop::availability))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/fairness")
                    .route(web::get().to(queue::fairness))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/challenge")
                    .route(web::get().to(queue::challenge))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/pause")
                    .wrap(owned())
                    .route(web::post().to(events::pause))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/resume")
                    .wrap(owned())
                    .route(web::post().to(events::resume))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/stats")
                    .route(web::get().to(events::stats))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/orders")
                    .route(web::get().to(orders::list))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/notifications")
                    .route(web::get().to(notifications::list))
                    .default_service(allow("GET")),
            )
            .default_service(web::to(not_found)),
    )
    .service(
        organizer_limits().on_resource(
            web::resource("/events")
                .route(web::post().to(events::create))
                .route(web::get().to(events::list))
                .default_service(allow("GET, POST")),
        ),
    )
    .service(
        web::scope("/orders/{id}")
            .service(
                web::resource("")
                    .route(web::get().to(orders::get))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/cancel")
                    .wrap(from_fn(forward::to_order_owner))
                    .route(web::post().to(orders::cancel))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/resend")
                    .route(web::post().to(notifications::resend))
                    .default_service(allow("POST")),
            )
            .default_service(web::to(not_found)),
    )
    .service(
        web::scope("/notifications/{id}")
            .service(
                web::resource("/retry")
                    .route(web::post().to(notifications::retry))
                    .default_service(allow("POST")),
            )
            .default_service(web::to(not_found)),
    )
    .default_service(web::to(not_found));
}

async fn not_found(req: actix_web::HttpRequest) -> Result<HttpResponse, ApiError> {
    req.extensions_mut().insert(crate::telemetry::UNMATCHED);
    Err(ApiError::not_found("route"))
}
