//! The fan's pages after the event page: the waiting room, the shop, checkout, and the order.
//!
//! The pages call the JSON API from small scripts in `static/` (the cookies the API sets carry
//! the ticket and the admission), so the rules live in one place; the server renders the
//! first state of each page, so a page is useful before its script runs (and the waiting room
//! without one, refreshing itself).

use std::collections::BTreeMap;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use uuid::Uuid;

use super::{error_page, money, refusal_page, render, show_time};
use crate::edge::Route;
use crate::room::line::Status;
use crate::web::api::events::view;
use crate::web::api::queue::{self, rules};
use crate::web::api::shop::seat_map;
use crate::web::auth::{limit_ip, verified_admission};
use crate::web::error::ApiError;
use crate::web::State;

/// The waiting room.
#[derive(Template)]
#[template(path = "queue.html")]
pub struct QueuePage {
    pub id: Uuid,
    pub name: String,
    pub venue: String,
    pub pow_bits: u8,
    /// The sale's opening (RFC 3339), so a pre-queue page polls right after it.
    pub opens_at: String,
    /// The fan's place, when their ticket came with the request.
    pub status: Option<StatusView>,
}

/// What the waiting room shows before its script runs.
pub struct StatusView {
    pub state: &'static str,
    pub position: u64,
    pub ahead: u64,
    pub eta: String,
}

/// A wait in words, as a range (the rate is measured, so the estimate moves).
pub fn eta_range(secs: Option<u64>) -> String {
    match secs {
        None => "estimating…".into(),
        Some(s) if s < 60 => "less than a minute".into(),
        Some(s) => {
            let low = (s as f64 * 0.8 / 60.0).floor().max(1.0) as u64;
            let high = (s as f64 * 1.25 / 60.0).ceil() as u64;
            if low >= high {
                format!("about {low} min")
            } else {
                format!("{low}–{high} min")
            }
        }
    }
}

fn status_view(status: &Status) -> StatusView {
    StatusView {
        state: status.state.as_str(),
        position: status.position,
        ahead: status.ahead,
        eta: eta_range(Some(status.eta_secs)),
    }
}

async fn queue_page(req: HttpRequest, state: State, path: web::Path<Uuid>) -> HttpResponse {
    let event = path.into_inner();
    let client = match limit_ip(&req, &state, event, Route::Status) {
        Ok(client) => client,
        Err(e) => return error_page(&e),
    };
    let (v, rules) = match tokio::try_join!(view(&state, event), rules(&state, event)) {
        Ok(found) => found,
        Err(e) => return error_page(&e),
    };
    // Without a ticket the page renders empty and its script joins; a limited caller gets
    // the refusal page, as from the API.
    let status = match queue::ticket_status(&req, &state, event, client, &rules).await {
        Ok(s) => Some(status_view(&s)),
        Err(e @ ApiError::RateLimited(_)) => return error_page(&e),
        Err(_) => None,
    };
    render(
        StatusCode::OK,
        &QueuePage {
            id: event,
            name: v.name,
            venue: v.venue,
            pow_bits: rules.pow_bits,
            opens_at: v.sale_opens_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
            status,
        },
    )
}

/// `POST /events/{id}/queue` from the event page's form: joins at once when the event asks
/// no proof of work (so the line works without scripts), else leaves it to the page's worker.
async fn queue_form(req: HttpRequest, state: State, path: web::Path<Uuid>) -> HttpResponse {
    let event = path.into_inner();
    let joined = async {
        let client = limit_ip(&req, &state, event, Route::Join)?;
        if rules(&state, event).await?.pow_bits > 0 {
            return Ok(None);
        }
        let (status, _) =
            queue::join_line(&req, &state, event, client, &Default::default()).await?;
        Ok::<_, ApiError>(Some(status))
    };
    let mut redirect = HttpResponse::SeeOther();
    match joined.await {
        Ok(Some(status)) => queue::set_cookies(&mut redirect, event, &status, true),
        Ok(None) => {}
        Err(e) => return error_page(&e),
    }
    redirect
        .insert_header((header::LOCATION, format!("/events/{event}/queue")))
        .finish()
}

/// One row of seats on the map.
pub struct SeatRow {
    pub label: String,
    pub seats: Vec<SeatCell>,
}

/// One seat on the map.
pub struct SeatCell {
    pub id: String,
    pub number: String,
    pub status: &'static str,
    pub price: String,
}

/// One section of the map.
pub struct Section {
    pub name: String,
    pub tier: String,
    pub rows: Vec<SeatRow>,
}

/// A GA tier in the quantity picker.
pub struct GaTier {
    pub id: String,
    pub name: String,
    pub price: String,
    pub available: u32,
}

/// The shop.
#[derive(Template)]
#[template(path = "shop.html")]
pub struct ShopPage {
    pub id: Uuid,
    pub name: String,
    pub max_per_order: u32,
    pub sections: Vec<Section>,
    pub tiers: Vec<GaTier>,
    pub sold_out: bool,
}

/// A section's seats by row number, each with its seat number.
type RowsByNumber = BTreeMap<u32, Vec<(u32, SeatCell)>>;

/// Builds the seat map's sections from seat ids (`SECTION-ROW-SEAT`), rows and seats in order.
pub fn sections(
    seats: &[crate::domain::inventory::SeatStatus],
    prices: &BTreeMap<String, i64>,
) -> Vec<Section> {
    let mut map: BTreeMap<String, (String, RowsByNumber)> = BTreeMap::new();
    for seat in seats {
        let mut parts = seat.id.rsplitn(3, '-');
        let (Some(number), Some(row), Some(section)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let (Ok(n), Ok(r)) = (number.parse::<u32>(), row.parse::<u32>()) else {
            continue;
        };
        let entry = map
            .entry(section.to_string())
            .or_insert_with(|| (seat.tier.clone(), BTreeMap::new()));
        entry.1.entry(r).or_default().push((
            n,
            SeatCell {
                id: seat.id.clone(),
                number: number.to_string(),
                status: seat.status,
                price: money(prices.get(&seat.tier).copied().unwrap_or(0)),
            },
        ));
    }
    map.into_iter()
        .map(|(name, (tier, rows))| Section {
            name,
            tier,
            rows: rows
                .into_iter()
                .map(|(r, mut seats)| {
                    seats.sort_by_key(|(n, _)| *n);
                    SeatRow {
                        label: r.to_string(),
                        seats: seats.into_iter().map(|(_, s)| s).collect(),
                    }
                })
                .collect(),
        })
        .collect()
}

async fn shop_page(req: HttpRequest, state: State, path: web::Path<Uuid>) -> HttpResponse {
    let event = path.into_inner();
    let result = async {
        let (seats, tiers) = seat_map(&req, &state, event).await?;
        let v = view(&state, event).await?;
        Ok::<_, ApiError>((v, seats, tiers))
    }
    .await;
    let (v, seats, tiers) = match result {
        Ok(found) => found,
        Err(ApiError::NotAdmitted(_)) => return not_admitted(event),
        Err(e) => return error_page(&e),
    };
    let prices: BTreeMap<String, i64> = tiers
        .iter()
        .map(|t| (t.id.clone(), t.price_cents))
        .collect();
    let sold_out = tiers.iter().all(|t| t.available == 0);
    render(
        StatusCode::OK,
        &ShopPage {
            id: event,
            name: v.name,
            max_per_order: v.max_per_order,
            sections: sections(&seats, &prices),
            tiers: tiers
                .into_iter()
                .filter(|t| !t.seated)
                .map(|t| GaTier {
                    id: t.id,
                    name: t.name,
                    price: money(t.price_cents),
                    available: t.available,
                })
                .collect(),
            sold_out,
        },
    )
}

/// 403 for the shop and checkout: the refusal page, pointing back to the line.
fn not_admitted(event: Uuid) -> HttpResponse {
    refusal_page(
        &ApiError::NotAdmitted(String::new()),
        &format!("/events/{event}/queue"),
        "Back to the line",
    )
}

/// Checkout for one hold.
#[derive(Template)]
#[template(path = "checkout.html")]
pub struct CheckoutPage {
    pub id: Uuid,
    pub name: String,
    pub hold_id: Uuid,
}

async fn checkout_page(
    req: HttpRequest,
    state: State,
    path: web::Path<(Uuid, Uuid)>,
) -> HttpResponse {
    let (event, hold_id) = path.into_inner();
    let v = match view(&state, event).await {
        Ok(v) => v,
        Err(e) => return error_page(&e),
    };
    if verified_admission(&req, &state, event).is_err() {
        return not_admitted(event);
    }
    render(
        StatusCode::OK,
        &CheckoutPage {
            id: event,
            name: v.name,
            hold_id,
        },
    )
}

/// One line of the confirmation.
pub struct OrderLine {
    pub id: String,
    pub tier: String,
    pub price: String,
}

/// The order confirmation.
#[derive(Template)]
#[template(path = "order.html")]
pub struct OrderPage {
    pub order_id: Uuid,
    pub event_id: Uuid,
    pub event_name: String,
    pub venue: String,
    pub starts_at: String,
    pub buyer: String,
    pub email: String,
    pub cancelled: bool,
    pub lines: Vec<OrderLine>,
    pub total: String,
}

async fn order_page(req: HttpRequest, state: State, path: web::Path<Uuid>) -> HttpResponse {
    let order_id = path.into_inner();
    let order = match state.store.get_order(order_id).await {
        Ok(Some(order)) => order,
        Ok(None) => return error_page(&ApiError::NotFound("order")),
        Err(e) => return error_page(&e.into()),
    };
    if !crate::web::api::orders::may_read(&req, &state, &order) {
        return error_page(&ApiError::NotFound("order"));
    }
    let v = match view(&state, order.event_id).await {
        Ok(v) => v,
        Err(e) => return error_page(&e),
    };
    render(
        StatusCode::OK,
        &OrderPage {
            order_id,
            event_id: order.event_id,
            event_name: v.name,
            venue: v.venue,
            starts_at: show_time(v.starts_at),
            buyer: order.name.clone(),
            email: order.email.clone(),
            cancelled: order.status == crate::domain::order::OrderStatus::Cancelled,
            lines: order
                .items
                .iter()
                .map(|i| OrderLine {
                    id: i.id.clone(),
                    tier: i.tier.clone(),
                    price: money(i.price_cents),
                })
                .collect(),
            total: money(order.total_cents),
        },
    )
}

/// Registers the fan pages.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/events/{id}/queue")
            .route(web::get().to(queue_page))
            .route(web::post().to(queue_form)),
    )
    .route("/events/{id}/shop", web::get().to(shop_page))
    .route(
        "/events/{id}/checkout/{hold_id}",
        web::get().to(checkout_page),
    )
    .route("/orders/{id}", web::get().to(order_page));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::inventory::SeatStatus;

    #[test]
    fn eta_is_a_range_in_minutes() {
        assert_eq!(eta_range(None), "estimating…");
        assert_eq!(eta_range(Some(30)), "less than a minute");
        assert_eq!(eta_range(Some(600)), "8–13 min");
    }

    #[test]
    fn the_seat_map_is_ordered_by_section_row_and_seat() {
        let seat = |id: &str, status| SeatStatus {
            id: id.into(),
            tier: "lower".into(),
            status,
        };
        let seats = [
            seat("B-1-1", "free"),
            seat("A-2-10", "sold"),
            seat("A-2-9", "held"),
            seat("A-1-1", "free"),
        ];
        let prices = BTreeMap::from([("lower".to_string(), 9000)]);
        let map = sections(&seats, &prices);
        assert_eq!(map.len(), 2);
        assert_eq!(map[0].name, "A");
        assert_eq!(map[0].rows[1].label, "2");
        let numbers: Vec<&str> = map[0].rows[1]
            .seats
            .iter()
            .map(|s| s.number.as_str())
            .collect();
        assert_eq!(numbers, ["9", "10"]);
        assert_eq!(map[0].rows[1].seats[0].price, "$90.00");
    }

    #[test]
    fn the_order_page_escapes_buyer_names() {
        let page = OrderPage {
            order_id: Uuid::nil(),
            event_id: Uuid::nil(),
            event_name: "Night".into(),
            venue: "Hall".into(),
            starts_at: "soon".into(),
            buyer: "<script>alert(1)</script>".into(),
            email: "a@b.c".into(),
            cancelled: false,
            lines: vec![],
            total: "$0.00".into(),
        };
        let html = page.render().unwrap();
        assert!(!html.contains("<script>alert"), "{html}");
    }
}
