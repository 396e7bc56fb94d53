//! Sending a call to the node that owns its event.
//!
//! Calls that need an event's inventory (the seat map, holds, releases, orders, organizer
//! writes, cancels) are served by the event's owner only (`sale::owner`). On any other node
//! this middleware forwards the request, once, to the owner's `NODE_URL` and relays the answer
//! unchanged; without an owner this node takes the event over and serves it. So any load
//! balancer is correct, round robin included; routing by the event id in the path only saves
//! the hop.
//!
//! The forwarded request carries the client's address in a header signed with the shared
//! secret (with the method, path and time, so it cannot be replayed elsewhere): the owner
//! applies its rate limits to the client, not to the forwarding node. The client's own
//! credentials travel unchanged (cookies, bearer tokens). A forwarded request that finds its
//! owner gone is answered `503` with `Retry-After`, never forwarded a second time.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::BytesMut;
use actix_web::{HttpMessage, HttpResponse, ResponseError};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::error::{ApiError, Refusal};
use super::{payload_error, State, ORGANIZER_BODY_LIMIT};
use crate::edge::ForwardedClient;
use crate::sale::{self, owner::Location};

/// The header carrying the signed client of a forwarded request.
pub const FORWARDED_HEADER: &str = "x-floodgate-forwarded";
/// How long a forwarding signature is good for, in ms (clocks of nodes differ a little).
const HOP_MAX_AGE_MS: i64 = 30_000;
/// How long a forwarded call may take, the owner's work (an order's commit) included.
pub const FORWARD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// How long connecting to the owner may take before it counts as gone.
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// The client that forwards calls to owners: pooled connections, bounded waits, no redirects.
pub fn client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(FORWARD_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

/// The signed content of the forwarding header. Its field names differ from every other
/// signed payload, and unknown fields are refused, so no other token passes for it.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Hop {
    fwd_client: String,
    fwd_at_ms: i64,
    fwd_method: String,
    fwd_path: String,
}

/// The client a peer node forwarded this request for, if it carries a valid signed header.
/// The guard reads it first, so the limits and the in-flight count see the client, not the
/// forwarding node.
pub fn forwarded_client(req: &ServiceRequest, state: &State) -> Option<std::net::IpAddr> {
    let value = req.headers().get(FORWARDED_HEADER)?.to_str().ok()?;
    let hop: Hop = state.sale.signer().open_payload(value).ok()?;
    let age = state.sale.now().timestamp_millis() - hop.fwd_at_ms;
    let fresh = (-HOP_MAX_AGE_MS..=HOP_MAX_AGE_MS).contains(&age);
    let same = hop.fwd_method == req.method().as_str() && hop.fwd_path == path_and_query(req);
    (fresh && same)
        .then(|| hop.fwd_client.parse().ok())
        .flatten()
}

fn path_and_query(req: &ServiceRequest) -> String {
    req.uri()
        .path_and_query()
        .map_or_else(|| req.path().to_string(), |p| p.as_str().to_string())
}

/// Which event a request's call belongs to.
enum Owned {
    /// The path's `{id}` is the event.
    Event,
    /// The path's `{id}` is an order of the event.
    Order,
}

async fn route<B: MessageBody>(
    mut req: ServiceRequest,
    next: Next<B>,
    owned: Owned,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let Some(state) = req.app_data::<State>().cloned() else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let hopped = req.extensions().get::<ForwardedClient>().copied();
    let Some(id) = req
        .match_info()
        .get("id")
        .and_then(|id| Uuid::parse_str(id).ok())
    else {
        // A malformed id: the handler answers 404.
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let event = match owned {
        Owned::Event => id,
        Owned::Order => match sale::cancel::event_of(&state.sale, id).await {
            Ok(event) => event,
            // An unknown order: the handler answers 404 (or its error) itself.
            Err(_) => return Ok(next.call(req).await?.map_into_left_body()),
        },
    };
    match sale::owner::locate(&state.sale, event).await {
        Ok(Location::Here) => Ok(next.call(req).await?.map_into_left_body()),
        // Not found and the like: the handler gives the same answer, in its own shape.
        Err(sale::SaleError::NotFound(_)) => Ok(next.call(req).await?.map_into_left_body()),
        Err(e) => refuse(req, e.into()),
        Ok(Location::There(_)) if hopped.is_some() => {
            metrics::counter!("forwarded_requests_total", "outcome" => "second_hop").increment(1);
            refuse(req, moving())
        }
        Ok(Location::There(url)) => {
            let response = forward(req.request().clone(), req.take_payload(), &state, &url).await;
            Ok(req.into_response(response).map_into_right_body())
        }
    }
}

fn moving() -> ApiError {
    ApiError::busy(
        "this event is moving to another node; retry shortly",
        sale::BUSY_RETRY_AFTER_SECS,
    )
}

fn refuse<B>(
    req: ServiceRequest,
    error: ApiError,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let response = Refusal::to(req.request(), error).error_response();
    Ok(req.into_response(response).map_into_right_body())
}

/// Middleware for routes of an event's inventory: served by the event's owner.
pub async fn to_event_owner(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    route(req, next, Owned::Event).await
}

/// Middleware for a resource whose reads any node answers and whose writes the owner serves.
pub async fn writes_to_event_owner(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if matches!(*req.method(), Method::GET | Method::HEAD) {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    route(req, next, Owned::Event).await
}

/// Middleware for routes of an order (cancels): served by the owner of the order's event.
pub async fn to_order_owner(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    route(req, next, Owned::Order).await
}

/// Headers that belong to one connection, not to the request or answer they travel with.
fn hop_by_hop(name: &str) -> bool {
    matches!(
        name,
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
            | "content-length"
            // This node checked where the request came from (see `guard`); the owner sees a
            // request from a node, not from a page.
            | "origin"
            | "sec-fetch-site"
    ) || name == FORWARDED_HEADER
}

/// Sends the request to `owner` and relays its answer; `503` when the owner cannot be
/// reached (it died, and its lease has yet to expire).
async fn forward(
    req: actix_web::HttpRequest,
    mut payload: actix_web::dev::Payload,
    state: &State,
    owner: &str,
) -> HttpResponse {
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        match chunk {
            Ok(chunk) if body.len() + chunk.len() <= ORGANIZER_BODY_LIMIT => {
                body.extend_from_slice(&chunk)
            }
            Ok(_) => {
                return Refusal::to(&req, ApiError::TooLarge(ORGANIZER_BODY_LIMIT)).error_response()
            }
            Err(e) => {
                return Refusal::to(&req, payload_error(&e, ORGANIZER_BODY_LIMIT)).error_response()
            }
        }
    }
    let target = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.path().to_string(), |p| p.as_str().to_string());
    let client = state
        .edge
        .client_ip(&req)
        .map_or_else(String::new, |ip| ip.to_string());
    let hop = state.sale.signer().sign_payload(&Hop {
        fwd_client: client,
        fwd_at_ms: state.sale.now().timestamp_millis(),
        fwd_method: req.method().as_str().to_string(),
        fwd_path: target.clone(),
    });
    let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes())
        .unwrap_or(reqwest::Method::GET);
    let mut out = state
        .forwarder
        .request(method, format!("{owner}{target}"))
        .header(FORWARDED_HEADER, hop)
        .body(body.freeze().to_vec());
    for (name, value) in req.headers() {
        if !hop_by_hop(name.as_str()) {
            out = out.header(name.as_str(), value.as_bytes());
        }
    }
    let answer = match out.send().await {
        Ok(answer) => answer,
        Err(e) => {
            tracing::warn!(%owner, error = %e, "forwarding to the event's owner failed");
            metrics::counter!("forwarded_requests_total", "outcome" => "unreachable").increment(1);
            return Refusal::to(&req, moving()).error_response();
        }
    };
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut response = HttpResponse::build(status);
    for (name, value) in answer.headers() {
        if !hop_by_hop(name.as_str()) {
            response.append_header((name.as_str(), value.as_bytes()));
        }
    }
    match answer.bytes().await {
        Ok(bytes) => {
            metrics::counter!("forwarded_requests_total", "outcome" => "relayed").increment(1);
            response.body(bytes.to_vec())
        }
        Err(e) => {
            tracing::warn!(%owner, error = %e, "the owner's answer broke off");
            metrics::counter!("forwarded_requests_total", "outcome" => "unreachable").increment(1);
            Refusal::to(&req, moving()).error_response()
        }
    }
}
