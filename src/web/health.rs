//! Operations endpoints: liveness, readiness, metrics.

use actix_web::{HttpResponse, Responder};
use serde_json::json;

use super::error::BACKEND_RETRY_AFTER_SECS;
use super::State;

/// `GET /healthz`: the process is up and serving.
pub async fn healthz() -> impl Responder {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// `GET /readyz`: the database and the line store both answer within the ready timeout
/// (checked at once, so a dead backend costs one timeout, not two).
pub async fn readyz(state: State) -> HttpResponse {
    let limit = state.settings.ready_timeout;
    let (database, line) = tokio::join!(
        tokio::time::timeout(limit, state.store.ping()),
        tokio::time::timeout(limit, state.room.store().ping()),
    );
    let word = |ok: bool| if ok { "ok" } else { "unavailable" };
    let database_ok = matches!(database, Ok(Ok(())));
    let line_ok = matches!(line, Ok(Ok(())));
    let body = json!({
        "status": word(database_ok && line_ok),
        "database": word(database_ok),
        "line": word(line_ok),
        "line_backend": if state.settings.redis_url.is_some() { "redis" } else { "in-process" },
    });
    if database_ok && line_ok {
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
