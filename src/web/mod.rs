//! HTTP: the JSON API (`api/`), the HTML pages (`pages/`), operations endpoints, and the
//! shared state and request plumbing they use. Handlers parse, call one actor or store
//! operation, and map the result; no SQL or Redis commands live here.

pub mod api;
pub mod auth;
pub mod error;
pub mod health;
pub mod pages;

use std::sync::Arc;

use actix_web::error::{JsonPayloadError, PathError, PayloadError, QueryPayloadError};
use actix_web::{web, HttpRequest};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::clock::Clock;
use crate::config::Settings;
use crate::inventory::Registry;
use crate::room::line::Room;
use crate::room::token::TokenSigner;
use crate::store::OrderStore;
use error::ApiError;

/// Largest body a fan endpoint accepts (API.md: 16 KiB).
pub const FAN_BODY_LIMIT: usize = 16 * 1024;
/// Largest body an organizer endpoint accepts (an event with many blocks).
pub const ORGANIZER_BODY_LIMIT: usize = 256 * 1024;

/// Everything a handler may need, shared by all workers.
pub struct AppState {
    pub settings: Settings,
    pub store: Arc<dyn OrderStore>,
    pub room: Arc<Room>,
    pub registry: Arc<Registry>,
    pub signer: TokenSigner,
    pub clock: Arc<dyn Clock>,
    pub metrics: PrometheusHandle,
    pub counters: api::stats::EventCounters,
    pub edge: crate::edge::Edge,
}

/// Shorthand for handlers.
pub type State = web::Data<AppState>;

/// JSON bodies: limit and contract errors (400 malformed, 413 too large).
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(move |err, _req| json_error(err, limit).into())
}

fn json_error(err: JsonPayloadError, limit: usize) -> ApiError {
    match err {
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            ApiError::TooLarge(limit)
        }
        JsonPayloadError::Payload(e) => payload_error(&e, limit),
        JsonPayloadError::ContentType => {
            ApiError::BadRequest("Content-Type must be application/json".into())
        }
        JsonPayloadError::Deserialize(e) => ApiError::BadRequest(format!("invalid JSON: {e}")),
        other => ApiError::BadRequest(other.to_string()),
    }
}

/// A body that could not be read: over the limit (413), too slow to arrive (408, from the
/// edge's body deadline), or broken (400).
pub fn payload_error(err: &PayloadError, limit: usize) -> ApiError {
    match err {
        PayloadError::Overflow => ApiError::TooLarge(limit),
        PayloadError::Io(e) if e.kind() == std::io::ErrorKind::TimedOut => ApiError::Timeout,
        other => ApiError::BadRequest(format!("the request body could not be read: {other}")),
    }
}

/// Path segments that fail to parse (an event id that is not a UUID) name nothing: 404.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err: PathError, _req: &HttpRequest| {
        let _ = err;
        ApiError::NotFound("resource").into()
    })
}

/// Query strings that fail to parse: 400.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err: QueryPayloadError, _req: &HttpRequest| {
        ApiError::BadRequest(format!("invalid query: {err}")).into()
    })
}

/// Registers every route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(path_config())
        .app_data(query_config())
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(health::metrics))
        .service(web::scope("/api/v1").configure(api::routes))
        .configure(pages::routes);
}
