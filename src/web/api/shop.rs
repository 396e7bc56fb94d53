//! Fan shop endpoints: seats, holds, release, order. Each takes an [`Admitted`] fan of the
//! event in its path; the inventory decisions are the event actor's.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::event::MAX_PER_ORDER_CEILING;
use crate::domain::inventory::HoldView;
use crate::domain::inventory::{HoldRequest, SeatStatus, TierCounts};
use crate::domain::order::Buyer;
use crate::domain::order::Order;
use crate::sale;
use crate::web::error::{ApiError, ErrorBody};
use crate::web::extract::{Admitted, HoldRoute, OrderRoute, StatusRoute};
use crate::web::json::JsonObject;
use crate::web::State;

/// Longest accepted `Idempotency-Key`.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 128;

/// Every reserved seat's status, and the tiers' counts.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SeatsView {
    seats: Vec<SeatStatus>,
    tiers: Vec<TierCounts>,
}

/// The seat map: every reserved seat with its status, and the tiers' counts.
#[utoipa::path(
    get, path = "/api/v1/events/{id}/seats", tag = "shop", operation_id = "getSeats",
    params(("id" = Uuid, Path, description = "The event")),
    security(("admission" = []), ("admission_cookie" = [])),
    responses((status = 200, description = "The seat map", body = SeatsView))
)]
pub async fn seats(fan: Admitted<StatusRoute>, state: State) -> Result<HttpResponse, ApiError> {
    let (seats, tiers) = sale::hold::seat_map(&state.sale, fan.event).await?;
    Ok(HttpResponse::Ok().json(SeatsView { seats, tiers }))
}

/// Body of `POST …/holds`: either `seats` (ids), or `tier` and `quantity` (general admission).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldBody {
    /// Seats by id (`A-3-17`), all or nothing.
    #[schema(max_items = 100)]
    seats: Option<Vec<String>>,
    /// A general-admission tier's id.
    tier: Option<String>,
    /// How many places of `tier`.
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

/// Hold places for `hold_ttl_secs`: seats by id, or a quantity of a GA tier. All or nothing.
/// One admission holds and buys at most `max_per_order` places in all.
#[utoipa::path(
    post, path = "/api/v1/events/{id}/holds", tag = "shop", operation_id = "createHold",
    params(("id" = Uuid, Path, description = "The event")),
    request_body(content = HoldBody, content_type = "application/json"),
    security(("admission" = []), ("admission_cookie" = [])),
    responses(
        (status = 201, description = "Held", body = HoldView,
         links(
            ("PlaceOrder" = (operation_id = "placeOrder", parameters(
                ("id" = "$request.path.id"), ("hold_id" = "$response.body#/hold_id")))),
            ("ReleaseHold" = (operation_id = "releaseHold", parameters(
                ("id" = "$request.path.id"), ("hold_id" = "$response.body#/hold_id")))),
         )),
        (status = 409, description = "Some places are not free (`unavailable` lists them), or the sale is not open", body = ErrorBody),
        (status = 422, description = "Against a rule: over `max_per_order`, an unknown seat or tier, a quantity below 1", body = ErrorBody),
    )
)]
pub async fn hold(
    fan: Admitted<HoldRoute>,
    state: State,
    body: JsonObject<HoldBody>,
) -> Result<HttpResponse, ApiError> {
    let request = body.into_inner().into_request()?;
    let view = sale::hold::hold(&state.sale, fan.event, &fan.claims, request).await?;
    Ok(HttpResponse::Created().json(view))
}

/// Release a hold: its places are free at once.
#[utoipa::path(
    delete, path = "/api/v1/events/{id}/holds/{hold_id}", tag = "shop", operation_id = "releaseHold",
    params(("id" = Uuid, Path, description = "The event"), ("hold_id" = Uuid, Path, description = "The hold")),
    security(("admission" = []), ("admission_cookie" = [])),
    responses(
        (status = 204, description = "Released"),
        (status = 410, description = "The hold ran out (its places are free again)", body = ErrorBody),
    )
)]
pub async fn release(
    fan: Admitted<HoldRoute>,
    state: State,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (_, hold_id) = path.into_inner();
    sale::release::release(&state.sale, fan.event, &fan.claims, hold_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Body of `POST …/holds/{hold_id}/order`: the buyer.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderBody {
    #[schema(example = "Ada Lovelace")]
    name: String,
    #[schema(example = "ada@example.com")]
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

/// Order a hold.
///
/// `201` means the order is committed. The same `Idempotency-Key` with the same body again
/// answers `200` with the same order, however often and from however many connections; the
/// same key with another body is `422`.
#[utoipa::path(
    post, path = "/api/v1/events/{id}/holds/{hold_id}/order", tag = "shop", operation_id = "placeOrder",
    params(
        ("id" = Uuid, Path, description = "The event"),
        ("hold_id" = Uuid, Path, description = "The hold"),
        ("Idempotency-Key" = String, Header, description = "1–128 visible ASCII characters, chosen by the client: one key, one order",
         min_length = 1, max_length = 128, pattern = "^[!-~]+$"),
    ),
    request_body(content = OrderBody, content_type = "application/json"),
    security(("admission" = []), ("admission_cookie" = [])),
    responses(
        (status = 201, description = "Committed", body = Order,
         headers(("Location" = String, description = "The order's address")),
         links(("GetOrder" = (operation_id = "getOrder", parameters(("id" = "$response.body#/order_id")))))),
        (status = 200, description = "The key's order, again", body = Order),
        (status = 409, description = "The sale is not open", body = ErrorBody),
        (status = 410, description = "The hold ran out (its places are free again)", body = ErrorBody),
        (status = 422, description = "Against a rule: a bad name or email, the key used for another body", body = ErrorBody),
    )
)]
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
