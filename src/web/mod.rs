//! HTTP: the JSON API (`api/`), the HTML pages (`pages/`), the operations endpoints, and the
//! request plumbing they share.
//!
//! Handlers parse a request, call one [`crate::sale`] operation and map its answer; the checks
//! every route of a kind needs are extractors ([`extract`]) and middleware ([`guard`]), written
//! once. Body limits are declared here once per kind of route ([`fan_limits`],
//! [`organizer_limits`]) and set on the scopes that take bodies, where both the JSON and the raw
//! body extractors read them, refusing a declared `Content-Length` over the limit before
//! reading anything.

pub mod api;
pub mod canonical;
pub mod error;
pub mod extract;
pub mod forward;
pub mod guard;
pub mod health;
pub mod pages;
pub mod render;

use std::sync::Arc;

use actix_web::error::{JsonPayloadError, PathError, PayloadError, QueryPayloadError};
use actix_web::{web, HttpRequest};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::config::Settings;
use crate::edge::Edge;
use crate::sale::Sale;
use error::ApiError;

/// Largest body a fan endpoint accepts (16 KiB, as the contract says).
pub const FAN_BODY_LIMIT: usize = 16 * 1024;
/// Largest body an organizer endpoint accepts (an event with many blocks).
pub const ORGANIZER_BODY_LIMIT: usize = 256 * 1024;

/// Everything a handler may need, shared by all workers.
pub struct AppState {
    pub settings: Settings,
    pub sale: Arc<Sale>,
    pub edge: Edge,
    pub metrics: PrometheusHandle,
    /// The client that forwards calls to the node owning their event.
    pub forwarder: reqwest::Client,
}

/// Shorthand for handlers.
pub type State = web::Data<AppState>;

/// The body limits of one kind of route: the JSON extractor's and the raw body's, with the
/// contract's errors (400 malformed, 408 too slow, 413 too large).
pub struct BodyLimits {
    pub json: web::JsonConfig,
    pub raw: web::PayloadConfig,
}

fn body_limits(limit: usize) -> BodyLimits {
    BodyLimits {
        json: web::JsonConfig::default()
            .limit(limit)
            .error_handler(move |err, _req| json_error(err, limit).into()),
        raw: web::PayloadConfig::new(limit),
    }
}

/// Fan routes: 16 KiB.
pub fn fan_limits() -> BodyLimits {
    body_limits(FAN_BODY_LIMIT)
}

/// Organizer writes: 256 KiB.
pub fn organizer_limits() -> BodyLimits {
    body_limits(ORGANIZER_BODY_LIMIT)
}

impl BodyLimits {
    /// Sets these limits on a scope (wrapped in middleware or not).
    pub fn on_scope<T>(self, scope: actix_web::Scope<T>) -> actix_web::Scope<T>
    where
        T: actix_web::dev::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Error = actix_web::Error,
            InitError = (),
        >,
    {
        scope.app_data(self.json).app_data(self.raw)
    }

    /// Sets these limits on a resource (wrapped in middleware or not).
    pub fn on_resource<T>(self, resource: actix_web::Resource<T>) -> actix_web::Resource<T>
    where
        T: actix_web::dev::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Error = actix_web::Error,
            InitError = (),
        >,
    {
        resource.app_data(self.json).app_data(self.raw)
    }
}

fn json_error(err: JsonPayloadError, limit: usize) -> ApiError {
    match err {
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            ApiError::TooLarge(limit)
        }
        JsonPayloadError::Payload(e) => payload_error(&e, limit),
        JsonPayloadError::ContentType => {
            ApiError::bad_request("Content-Type must be application/json")
        }
        JsonPayloadError::Deserialize(e) => ApiError::bad_request(format!("invalid JSON: {e}")),
        other => ApiError::bad_request(other.to_string()),
    }
}

/// A body that could not be read: over the limit (413), too slow to arrive (408, from the
/// guard's body deadline), or broken (400).
pub fn payload_error(err: &PayloadError, limit: usize) -> ApiError {
    match err {
        PayloadError::Overflow => ApiError::TooLarge(limit),
        PayloadError::Io(e) if e.kind() == std::io::ErrorKind::TimedOut => ApiError::Timeout,
        other => ApiError::bad_request(format!("the request body could not be read: {other}")),
    }
}

/// A raw body as read by `web::Bytes` under a limit, with the contract's errors.
pub fn read_body(
    body: Result<web::Bytes, actix_web::Error>,
    limit: usize,
) -> Result<web::Bytes, ApiError> {
    body.map_err(|e| match e.as_error::<PayloadError>() {
        Some(e) => payload_error(e, limit),
        None => ApiError::bad_request(e.to_string()),
    })
}

/// An event's orders as a CSV download (the API's `?format=csv` and the console's link).
pub fn csv_download(event: uuid::Uuid, body: Vec<u8>) -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"orders-{event}.csv\""),
        ))
        .body(body)
}

/// Path segments that fail to parse (an event id that is not a UUID) name nothing: 404.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err: PathError, _req: &HttpRequest| {
        let _ = err;
        ApiError::not_found("resource").into()
    })
}

/// Query strings that fail to parse: 400.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err: QueryPayloadError, _req: &HttpRequest| {
        ApiError::bad_request(format!("invalid query: {err}")).into()
    })
}

/// Registers every route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    let defaults = fan_limits();
    cfg.app_data(path_config())
        .app_data(query_config())
        // Routes that declare no limit of their own take the fan limit.
        .app_data(defaults.json)
        .app_data(defaults.raw)
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(health::metrics))
        .service(web::scope("/api/v1").configure(api::routes))
        .configure(pages::routes);
}
