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
pub mod compress;
pub mod error;
pub mod extract;
pub mod forward;
pub mod guard;
pub mod health;
pub mod json;
pub mod openapi;
pub mod pages;
pub mod render;

use std::sync::Arc;

use actix_web::error::{PathError, PayloadError, QueryPayloadError};
use actix_web::{web, HttpMessage, HttpRequest};
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

/// The largest body a kind of route takes, for the extractors that read bodies.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimit(pub usize);

/// The body limits of one kind of route: the one the JSON-object and form extractors read,
/// and the raw body's, with the contract's errors (400 malformed, 408 too slow, 413 too large).
pub struct BodyLimits {
    pub limit: BodyLimit,
    pub raw: web::PayloadConfig,
}

fn body_limits(limit: usize) -> BodyLimits {
    BodyLimits {
        limit: BodyLimit(limit),
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
        scope.app_data(self.limit).app_data(self.raw)
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
        resource.app_data(self.limit).app_data(self.raw)
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

/// The answer to a method a route does not take: `405` with `Allow` (JSON under `/api/`, the
/// error page elsewhere). Set as each resource's default service.
pub fn allow(methods: &'static str) -> actix_web::Route {
    web::route().to(move |req: HttpRequest| async move {
        req.extensions_mut()
            .insert(crate::telemetry::FixedLabel("method_not_allowed"));
        Err::<actix_web::HttpResponse, _>(error::Refusal::to(
            &req,
            ApiError::MethodNotAllowed(req.method().to_string(), methods),
        ))
    })
}

/// What pages may load: only the site's own scripts, styles, images and workers (no inline
/// script or style attribute anywhere); nobody may frame them; forms post only here.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; worker-src 'self'; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Middleware: the headers answers carry. Every answer: no type sniffing, referrers only to
/// this site. Pages (HTML) also: the content security policy and no framing (a JSON answer is
/// not rendered, and a status poll is better without 300 bytes of headers it does not use).
pub async fn security_headers(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    use actix_web::http::header::{self, HeaderValue};
    let mut response = next.call(req).await?;
    let headers = response.headers_mut();
    let html = headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"text/html"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if html {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    Ok(response)
}

/// `GET /api/docs`: the API reference, a page of the static directory that renders
/// `/api/v1/openapi.json` in the browser.
async fn api_docs(state: State) -> Result<actix_files::NamedFile, ApiError> {
    actix_files::NamedFile::open_async(state.settings.static_dir.join("api-docs.html"))
        .await
        .map_err(|_| ApiError::not_found("page"))
}

/// A resource that only reads: `GET` to `handler`, 405 for the rest.
pub fn get_only<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    web::resource(path.to_string())
        .route(web::get().to(handler))
        .default_service(allow("GET"))
}

/// Path segments that fail to parse (an event id that is not a UUID) name nothing: 404, as
/// JSON under `/api/` and as the error page elsewhere.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err: PathError, req: &HttpRequest| {
        let _ = err;
        let what = if req.path().starts_with("/api/") {
            "resource"
        } else {
            "page"
        };
        error::Refusal::to(req, ApiError::not_found(what)).into()
    })
}

/// Query strings that fail to parse: 400 (JSON under `/api/`, the error page elsewhere).
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err: QueryPayloadError, req: &HttpRequest| {
        error::Refusal::to(req, ApiError::bad_request(format!("invalid query: {err}"))).into()
    })
}

/// Registers every route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    let defaults = fan_limits();
    cfg.app_data(path_config())
        .app_data(query_config())
        // Routes that declare no limit of their own take the fan limit.
        .app_data(defaults.limit)
        .app_data(defaults.raw)
        .service(
            web::resource("/healthz")
                .route(web::get().to(health::healthz))
                .default_service(allow("GET")),
        )
        .service(
            web::resource("/readyz")
                .route(web::get().to(health::readyz))
                .default_service(allow("GET")),
        )
        .service(
            web::resource("/metrics")
                .route(web::get().to(health::metrics))
                .default_service(allow("GET")),
        )
        .service(get_only("/api/docs", api_docs))
        .service(get_only("/api/v1/openapi.json", openapi::document))
        .service(web::scope("/api/v1").configure(api::routes))
        .configure(pages::routes);
}
