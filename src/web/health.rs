//! Operations endpoints: liveness, readiness, metrics.

use actix_web::{HttpResponse, Responder};
use serde_json::json;

use super::error::BACKEND_RETRY_AFTER_SECS;
use super::State;

/// `GET /healthz`: the process is up and serving.
pub async fn healthz() -> impl Responder {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// `GET /readyz`: the database and the line store both answer within the ready timeout.
pub async fn readyz(state: State) -> HttpResponse {
    let ready = state.sale.ready(state.settings.ready_timeout).await;
    let word = |ok: bool| if ok { "ok" } else { "unavailable" };
    let all = ready.database && ready.line;
    let body = json!({
        "status": word(all),
        "database": word(ready.database),
        "line": word(ready.line),
        "line_backend": if state.settings.redis_url.is_some() { "redis" } else { "in-process" },
    });
    if all {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", BACKEND_RETRY_AFTER_SECS.to_string()))
            .json(body)
    }
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(state: State) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}
