//! Fan shop endpoints: seats, holds, release, order. Each requires an admission for the event
//! in its path; the inventory decisions are the actor's.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::edge::Route;

use super::inventory;
use crate::domain::event::MAX_PER_ORDER_CEILING;
use crate::domain::inventory::{HoldRequest, SeatStatus, ShopError, TierCounts};
use crate::domain::order::Buyer;
use crate::inventory::actor::{
    GetSeats, OrderFailure, OrderTicket, PlaceHold, PlaceOrder, ReleaseHold,
};
use crate::web::api::BUSY_RETRY_AFTER_SECS;
use crate::web::auth::{admission, limit_ip};
use crate::web::error::ApiError;
use crate::web::State;

/// Longest accepted `Idempotency-Key`.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 128;

impl From<ShopError> for ApiError {
    fn from(e: ShopError) -> Self {
        match e {
            ShopError::Invalid(m) => ApiError::Invalid(m),
            ShopError::Unavailable(ids) => ApiError::Unavailable(ids),
            ShopError::SaleNotOpen(m) => ApiError::SaleNotOpen(m),
            ShopError::HoldNotFound => ApiError::NotFound("hold"),
            ShopError::OrderNotFound => ApiError::NotFound("order"),
            ShopError::HoldExpired => ApiError::HoldExpired,
        }
    }
}

#[derive(Serialize)]
struct SeatsView {
    seats: Vec<SeatStatus>,
    tiers: Vec<TierCounts>,
}

/// `GET /api/v1/events/{id}/seats`
pub async fn seats(
    req: HttpRequest,
    state: State,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (seats, tiers) = seat_map(&req, &state, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(SeatsView { seats, tiers }))
}

/// Every seat's status and the tiers' counts, for an admitted caller, under the status
/// route's limits. The API and the shop page both use it.
pub async fn seat_map(
    req: &HttpRequest,
    state: &State,
    event: Uuid,
) -> Result<(Vec<SeatStatus>, Vec<TierCounts>), ApiError> {
    let client = limit_ip(req, state, event, Route::Status)?;
    let actor = inventory(state, event).await?;
    admission(req, state, event, Route::Status, client)?;
    Ok(actor.ask(GetSeats).await?)
}

/// Body of `POST …/holds`: seats by id, or a quantity of a GA tier.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoldBody {
    seats: Option<Vec<String>>,
    tier: Option<String>,
    quantity: Option<i64>,
}

impl HoldBody {
    fn into_request(self) -> Result<HoldRequest, ApiError> {
        match (self.seats, self.tier, self.quantity) {
            (Some(seats), None, None) => {
                // Refuse absurd lists before they reach the actor; the actor applies the event's
                // own max_per_order.
                if seats.len() > MAX_PER_ORDER_CEILING as usize {
                    return Err(ApiError::Invalid(format!(
                        "at most {MAX_PER_ORDER_CEILING} seats per hold"
                    )));
                }
                Ok(HoldRequest::Items(seats))
            }
            (None, Some(tier), Some(quantity)) => Ok(HoldRequest::Quantity { tier, quantity }),
            (None, Some(_), None) => Err(ApiError::BadRequest("quantity is missing".into())),
            (None, None, Some(_)) => Err(ApiError::BadRequest("tier is missing".into())),
            _ => Err(ApiError::BadRequest(
                "give either \"seats\": [ids] or \"tier\" and \"quantity\"".into(),
            )),
        }
    }
}

/// `POST /api/v1/events/{id}/holds`
pub async fn hold(
    req: HttpRequest,
    state: State,
    path: web::Path<Uuid>,
    body: web::Json<HoldBody>,
) -> Result<HttpResponse, ApiError> {
    let event = path.into_inner();
    let client = limit_ip(&req, &state, event, Route::Hold)?;
    let actor = inventory(&state, event).await?;
    let claims = admission(&req, &state, event, Route::Hold, client)?;
    let request = body.into_inner().into_request()?;
    let view = actor
        .ask(PlaceHold {
            session: claims.session,
            request,
        })
        .await??;
    Ok(HttpResponse::Created().json(view))
}

/// `DELETE /api/v1/events/{id}/holds/{hold_id}`
pub async fn release(
    req: HttpRequest,
    state: State,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (event, hold_id) = path.into_inner();
    let client = limit_ip(&req, &state, event, Route::Hold)?;
    let actor = inventory(&state, event).await?;
    let claims = admission(&req, &state, event, Route::Hold, client)?;
    actor
        .ask(ReleaseHold {
            session: claims.session.clone(),
            hold_id,
        })
        .await??;
    finished_shopping(&state, event, claims.seq);
    Ok(HttpResponse::NoContent().finish())
}

/// The shopper ordered or released: they stop counting against `max_active`, so the pacer
/// can admit the next fan. Done in the background: the fan's answer does not wait for it.
fn finished_shopping(state: &State, event: Uuid, index: u64) {
    let room = state.room.clone();
    actix_web::rt::spawn(async move {
        if let Err(e) = room.finished(event, index).await {
            tracing::warn!(%event, error = %e, "could not mark a shopper finished");
        }
    });
}

/// Body of `POST …/holds/{hold_id}/order`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderBody {
    name: String,
    email: String,
}

/// The `Idempotency-Key` header: 1–128 visible ASCII characters.
fn idempotency_key(req: &HttpRequest) -> Result<String, ApiError> {
    let value = req
        .headers()
        .get("Idempotency-Key")
        .ok_or_else(|| ApiError::BadRequest("the Idempotency-Key header is required".into()))?;
    let bytes = value.as_bytes();
    if bytes.is_empty()
        || bytes.len() > MAX_IDEMPOTENCY_KEY_LEN
        || !bytes.iter().all(|b| (0x21..=0x7e).contains(b))
    {
        return Err(ApiError::BadRequest(format!(
            "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} visible ASCII characters"
        )));
    }
    // Checked above: visible ASCII only.
    Ok(String::from_utf8_lossy(bytes).into_owned())
}

/// Fingerprint of what an idempotency key promises: this hold, this buyer.
fn request_hash(hold_id: Uuid, buyer: &Buyer) -> String {
    let mut hash = Sha256::new();
    for part in [hold_id.to_string().as_str(), &buyer.name, &buyer.email] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    hex::encode(hash.finalize())
}

/// `POST /api/v1/events/{id}/holds/{hold_id}/order`
pub async fn order(
    req: HttpRequest,
    state: State,
    path: web::Path<(Uuid, Uuid)>,
    body: web::Json<OrderBody>,
) -> Result<HttpResponse, ApiError> {
    let (event, hold_id) = path.into_inner();
    let client = limit_ip(&req, &state, event, Route::Order)?;
    let actor = inventory(&state, event).await?;
    let claims = admission(&req, &state, event, Route::Order, client)?;
    let key = idempotency_key(&req)?;
    let body = body.into_inner();
    let buyer = Buyer::parse(&body.name, &body.email).map_err(|e| ApiError::Invalid(e.0))?;
    let ticket = actor
        .ask(PlaceOrder {
            session: claims.session.clone(),
            hold_id,
            request_hash: request_hash(hold_id, &buyer),
            key,
            buyer,
        })
        .await?;
    let reply = match ticket {
        OrderTicket::Ready(reply) => reply,
        // The actor always answers a waiter; a dropped sender means it stopped mid-commit.
        OrderTicket::Wait(rx) => rx.await.unwrap_or(Err(OrderFailure::Busy)),
    };
    match reply {
        Ok((order, created)) => {
            if created {
                finished_shopping(&state, event, claims.seq);
            }
            let mut response = if created {
                HttpResponse::Created()
            } else {
                HttpResponse::Ok()
            };
            Ok(response
                .insert_header((
                    header::LOCATION,
                    format!("/api/v1/orders/{}", order.order_id),
                ))
                .json(order.as_ref()))
        }
        Err(OrderFailure::Shop(e)) => Err(e.into()),
        Err(OrderFailure::Busy) => Err(ApiError::Busy(
            "orders are queueing up; retry with the same Idempotency-Key".into(),
            BUSY_RETRY_AFTER_SECS,
        )),
        Err(OrderFailure::Backend) => {
            Err(ApiError::Backend("the order could not be committed".into()))
        }
    }
}
