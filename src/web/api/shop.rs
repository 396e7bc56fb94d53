//! Fan shop endpoints: seats, holds, release, order. Each takes an [`Admitted`] fan of the
//! event in its path; the inventory decisions are the event actor's.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::event::MAX_PER_ORDER_CEILING;
use crate::domain::inventory::{HoldRequest, SeatStatus, TierCounts};
use crate::domain::order::Buyer;
use crate::sale;
use crate::web::error::ApiError;
use crate::web::extract::{Admitted, HoldRoute, OrderRoute, StatusRoute};
use crate::web::json::JsonObject;
use crate::web::State;

/// Longest accepted `Idempotency-Key`.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 128;

#[derive(Serialize)]
struct SeatsView {
    seats: Vec<SeatStatus>,
    tiers: Vec<TierCounts>,
}

/// `GET /api/v1/events/{id}/seats`
pub async fn seats(fan: Admitted<StatusRoute>, state: State) -> Result<HttpResponse, ApiError> {
    let (seats, tiers) = sale::hold::seat_map(&state.sale, fan.event).await?;
    Ok(HttpResponse::Ok().json(SeatsView { seats, tiers }))
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
                    return Err(ApiError::invalid(format!(
                        "at most {MAX_PER_ORDER_CEILING} seats per hold"
                    )));
                }
                Ok(HoldRequest::Items(seats))
            }
            (None, Some(tier), Some(quantity)) => Ok(HoldRequest::Quantity { tier, quantity }),
            (None, Some(_), None) => Err(ApiError::bad_request("quantity is missing")),
            (None, None, Some(_)) => Err(ApiError::bad_request("tier is missing")),
            _ => Err(ApiError::bad_request(
                "give either \"seats\": [ids] or \"tier\" and \"quantity\"",
            )),
        }
    }
}

/// `POST /api/v1/events/{id}/holds`
pub async fn hold(
    fan: Admitted<HoldRoute>,
    state: State,
    body: JsonObject<HoldBody>,
) -> Result<HttpResponse, ApiError> {
    let request = body.into_inner().into_request()?;
    let view = sale::hold::hold(&state.sale, fan.event, &fan.claims, request).await?;
    Ok(HttpResponse::Created().json(view))
}

/// `DELETE /api/v1/events/{id}/holds/{hold_id}`
pub async fn release(
    fan: Admitted<HoldRoute>,
    state: State,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (_, hold_id) = path.into_inner();
    sale::release::release(&state.sale, fan.event, &fan.claims, hold_id).await?;
    Ok(HttpResponse::NoContent().finish())
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
        .ok_or_else(|| ApiError::bad_request("the Idempotency-Key header is required"))?;
    let bytes = value.as_bytes();
    if bytes.is_empty()
        || bytes.len() > MAX_IDEMPOTENCY_KEY_LEN
        || !bytes.iter().all(|b| (0x21..=0x7e).contains(b))
    {
        return Err(ApiError::bad_request(format!(
            "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} visible ASCII characters"
        )));
    }
    // Checked above: visible ASCII only.
    Ok(String::from_utf8_lossy(bytes).into_owned())
}

/// `POST /api/v1/events/{id}/holds/{hold_id}/order`
pub async fn order(
    fan: Admitted<OrderRoute>,
    req: HttpRequest,
    state: State,
    path: web::Path<(Uuid, Uuid)>,
    body: JsonObject<OrderBody>,
) -> Result<HttpResponse, ApiError> {
    let (_, hold_id) = path.into_inner();
    let key = idempotency_key(&req)?;
    let body = body.into_inner();
    let buyer = Buyer::parse(&body.name, &body.email).map_err(|e| ApiError::invalid(e.0))?;
    let (order, created) = sale::order::order(
        &state.sale,
        &fan.claims,
        sale::order::OrderRequest {
            event: fan.event,
            hold_id,
            key,
            buyer,
        },
    )
    .await?;
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
