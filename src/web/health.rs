//! Operations endpoints: liveness, readiness, metrics.

use actix_web::HttpResponse;
use serde::Serialize;

use super::error::BACKEND_RETRY_AFTER_SECS;
use super::State;

/// The process serves.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    status: &'static str,
}

/// Whether the node can serve: each backend `ok` or `unavailable`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ok` when both backends answer.
    status: &'static str,
    database: &'static str,
    line: &'static str,
    /// `redis` or `in-process`.
    line_backend: &'static str,
}

/// Liveness: the process is up and serving.
#[utoipa::path(
    get, path = "/healthz", tag = "operations", operation_id = "healthz",
    responses((status = 200, description = "Serving", body = Health))
)]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// Readiness: the database and the line store both answer within `READY_TIMEOUT_MS`.
#[utoipa::path(
    get, path = "/readyz", tag = "operations", operation_id = "readyz",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "A backend does not answer", body = Readiness,
         headers(("Retry-After" = u32, description = "Seconds"))),
    )
)]
pub async fn readyz(state: State) -> HttpResponse {
    let ready = state.sale.ready(state.settings.ready_timeout).await;
    let word = |ok: bool| if ok { "ok" } else { "unavailable" };
    let all = ready.database && ready.line;
    let body = Readiness {
        status: word(all),
        database: word(ready.database),
        line: word(ready.line),
        line_backend: if state.settings.redis_url.is_some() {
            "redis"
        } else {
            "in-process"
        },
    };
    if all {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", BACKEND_RETRY_AFTER_SECS.to_string()))
            .json(body)
    }
}

/// Metrics in the Prometheus text format.
#[utoipa::path(
    get, path = "/metrics", tag = "operations", operation_id = "metrics",
    responses((status = 200, description = "Prometheus text", body = String,
               content_type = "text/plain"))
)]
pub async fn metrics(state: State) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}
