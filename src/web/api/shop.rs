//! Fan shop endpoints: seats, holds, release, order. Each takes an [`Admitted`] fan of the
//! event in its path; the inventory decisions are the event actor's.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::event::MAX_PER_ORDER_CEILING;
use crate::domain::inventory::Availability;
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

/// The seats' states, compactly, for a live seat map: two bits per seat in the layout's order
/// (the event's `seating` blocks in order, rows from 1, seats from 1), with the version of
/// the last change. Send the `ETag` back in `If-None-Match`: `304` while nothing changed.
#[utoipa::path(
    get, path = "/api/v1/events/{id}/availability", tag = "shop", operation_id = "getAvailability",
    params(("id" = Uuid, Path, description = "The event")),
    security(("admission" = []), ("admission_cookie" = [])),
    responses(
        (status = 200, description = "The states", body = Availability,
         headers(("ETag" = String, description = "The layout and version of these states"))),
        (status = 304, description = "Nothing changed since the `If-None-Match` version"),
    )
)]
pub async fn availability(
    fan: Admitted<StatusRoute>,
    req: HttpRequest,
    state: State,
) -> Result<HttpResponse, ApiError> {
    let states = sale::hold::availability(&state.sale, fan.event).await?;
    let tag = format!("\"{}.{}\"", states.layout, states.version);
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag));
    let mut answer = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    answer
        .insert_header((header::ETAG, tag))
        .insert_header((header::CACHE_CONTROL, "private, no-cache"));
    if fresh {
        return Ok(answer.finish());
    }
    let wire = wire::of(fan.event, &states);
    let (encoding, body) = wire::pick(&wire, &req);
    if let Some(encoding) = encoding {
        answer.insert_header((header::CONTENT_ENCODING, encoding));
    }
    Ok(answer.content_type("application/json").body(body))
}

/// The seat states as sent: serialized and compressed once per version, for every fan of the
/// event who asks for that version (an arena's states are 7 KB of JSON; compressing them per
/// request cost most of each answer).
mod wire {
    use std::collections::HashMap;
    use std::io::Write;
    use std::sync::Arc;

    use actix_web::http::header::{AcceptEncoding, Encoding, Header};
    use actix_web::web::Bytes;
    use actix_web::HttpRequest;
    use parking_lot::Mutex;
    use uuid::Uuid;

    use crate::domain::inventory::Availability;

    /// One version's answer: plain, gzip and brotli.
    pub struct Wire {
        version: u64,
        layout: String,
        plain: Bytes,
        gzip: Bytes,
        brotli: Bytes,
    }

    /// The latest encoded answer of each event this node served.
    static CACHE: Mutex<Option<HashMap<Uuid, Arc<Wire>>>> = Mutex::new(None);

    /// The answer for these states, from the cache when it holds their version.
    pub fn of(event: Uuid, states: &Availability) -> Arc<Wire> {
        if let Some(wire) = CACHE.lock().get_or_insert_with(HashMap::new).get(&event) {
            if wire.version == states.version && wire.layout == states.layout {
                return wire.clone();
            }
        }
        // Plain numbers and strings: serializing cannot fail.
        let plain = serde_json::to_vec(states).unwrap_or_default();
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let _ = gzip.write_all(&plain);
        let gzip = gzip.finish().unwrap_or_default();
        let mut brotli = Vec::new();
        {
            let mut writer = brotli::CompressorWriter::new(&mut brotli, 4096, 5, 22);
            let _ = writer.write_all(&plain);
        }
        let wire = Arc::new(Wire {
            version: states.version,
            layout: states.layout.clone(),
            plain: plain.into(),
            gzip: gzip.into(),
            brotli: brotli.into(),
        });
        CACHE
            .lock()
            .get_or_insert_with(HashMap::new)
            .insert(event, wire.clone());
        wire
    }

    /// The encoding the client prefers among those we hold, and the body in it.
    pub fn pick(wire: &Wire, req: &HttpRequest) -> (Option<&'static str>, Bytes) {
        let supported = [Encoding::brotli(), Encoding::gzip(), Encoding::identity()];
        let chosen = AcceptEncoding::parse(req)
            .ok()
            .and_then(|accept| accept.negotiate(supported.iter()));
        match chosen {
            Some(e) if e == Encoding::brotli() => (Some("br"), wire.brotli.clone()),
            Some(e) if e == Encoding::gzip() => (Some("gzip"), wire.gzip.clone()),
            _ => (None, wire.plain.clone()),
        }
    }
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

/// Body of `POST …/holds`: either `seats` (ids), or `tier` and `quantity` (general admission),
/// or `best_available`.
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
    /// The best free seats, chosen by the shop.
    best_available: Option<BestAvailable>,
}

/// The best free seats: blocks in the order the organizer set, rows from the first, seats
/// from the middle of a row out.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BestAvailable {
    /// How many seats.
    #[schema(minimum = 1, maximum = 100)]
    quantity: i64,
    /// Only seats of this tier.
    tier: Option<String>,
    /// Side by side in one row (the default), or anywhere.
    #[serde(default = "together")]
    #[schema(default = true)]
    together: bool,
}

fn together() -> bool {
    true
}

impl HoldBody {
    fn into_request(self) -> Result<HoldRequest, ApiError> {
        if let Some(best) = self.best_available {
            if self.seats.is_some() || self.tier.is_some() || self.quantity.is_some() {
                return Err(ApiError::bad_request(
                    "give \"best_available\" alone, without \"seats\", \"tier\" or \"quantity\"",
                ));
            }
            return Ok(HoldRequest::Best {
                quantity: best.quantity,
                tier: best.tier,
                together: best.together,
            });
        }
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
                "give either \"seats\": [ids], \"tier\" and \"quantity\", or \"best_available\"",
            )),
        }
    }
}

/// Hold places for `hold_ttl_secs`: seats by id, a quantity of a GA tier, or the best
/// available seats. All or nothing (`409 unavailable` when they cannot all be had). One
/// admission holds and buys at most `max_per_order` places in all.
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
