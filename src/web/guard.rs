//! The guard every request passes before routing: the node's ceiling on requests in flight
//! and each address's, a refusal of state-changing requests from other sites' pages, and a
//! deadline for the request's body to arrive (slow clients). All of it before a byte of a body
//! is read, so one address sending slow bodies holds at most its own share of the node.
//!
//! Operations endpoints (`/healthz`, `/readyz`, `/metrics`) stay reachable at the ceiling, so
//! an overloaded node can be seen. Body limits are not here: each kind of route declares its
//! own (see the module above), and its extractors refuse an oversized body before reading it.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, ResponseError};

use super::error::{ApiError, Refusal};
use super::State;
use crate::edge::deadline::BodyDeadline;
use crate::edge::ForwardedClient;
use crate::telemetry::FixedLabel;

/// Seconds a client should wait when the server is at its in-flight ceiling.
pub const OVERLOAD_RETRY_AFTER_SECS: u64 = 1;

/// Operations endpoints stay reachable at the ceiling, so an overloaded node can be seen.
fn is_operations(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics")
}

/// Whether the request announces a body (GETs and other bodiless requests pay nothing).
fn has_body(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0")
}

/// A request the guard turns away, counted by `reason`, labelled `edge` in the route metrics.
fn refuse<B>(
    req: ServiceRequest,
    reason: &'static str,
    err: ApiError,
) -> ServiceResponse<EitherBody<B>> {
    metrics::counter!("requests_rejected_total", "reason" => reason).increment(1);
    req.extensions_mut().insert(FixedLabel("edge"));
    let response = Refusal::to(req.request(), err).error_response();
    req.into_response(response).map_into_right_body()
}

/// Middleware: the in-flight ceilings, cross-site refusals and the body deadline.
pub async fn guard(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let Some(state) = req.app_data::<State>().cloned() else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    if is_operations(req.path()) {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    if let Some(client) = super::forward::forwarded_client(&req, &state) {
        req.extensions_mut().insert(ForwardedClient(client));
    }
    let client = state.edge.client(req.request());
    // Resolved once: the extractors and handlers read it from here.
    req.extensions_mut().insert(client);
    let Some(_inflight) = state.edge.enter() else {
        let err = ApiError::busy(
            "the server is at capacity; retry shortly",
            OVERLOAD_RETRY_AFTER_SECS,
        );
        return Ok(refuse(req, "overloaded", err));
    };
    let Some(_client_inflight) = state.edge.enter_client(client) else {
        return Ok(refuse(req, "client_inflight", ApiError::RateLimited(1)));
    };
    if !req.method().is_safe() && state.edge.is_cross_site(req.request()) {
        let err = ApiError::Forbidden("requests from other sites' pages are refused".into());
        return Ok(refuse(req, "cross_site", err));
    }
    if has_body(&req) {
        let deadline = tokio::time::Instant::now() + state.edge.settings().request_timeout;
        let payload = req.take_payload();
        req.set_payload(BodyDeadline::wrap(payload, deadline));
    }
    Ok(next.call(req).await?.map_into_left_body())
}
