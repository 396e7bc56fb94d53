//! The fan's pages after the event page: the waiting room, the shop, checkout, and the order.
//!
//! The pages call the JSON API from small scripts in `static/` (the cookies the API sets carry
//! the ticket and the admission), so the rules live in one place; the server renders the
//! first state of each page, so a page is useful before its script runs (and the waiting room
//! without one, refreshing itself).

use actix_web::http::{header, StatusCode};
use actix_web::middleware::from_fn;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use uuid::Uuid;

use super::{money, render, show_time};
use crate::domain::order::OrderStatus;
use crate::room::line::{FanState, Status};
use crate::sale::{self, SaleError};
use crate::web::error::{ApiError, Back, PageError, Refusal};
use crate::web::extract::{
    admission_cookie, clear_cookies, fan_token, organizer_reading, refused_bearer, set_cookies,
    Admitted, JoinRoute, Joiner, Reader, StatusRoute, Ticket,
};
use crate::web::{allow, forward, State};

/// The waiting room.
#[derive(Template)]
#[template(path = "queue.html")]
pub struct QueuePage {
    pub id: Uuid,
    pub name: String,
    pub venue: String,
    pub pow_bits: u8,
    /// The fan's place, when their ticket came with the request.
    pub status: Option<StatusView>,
}

/// What the waiting room shows before its script runs.
pub struct StatusView {
    pub state: FanState,
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
        state: status.state,
        position: status.position,
        ahead: status.ahead,
        eta: eta_range(Some(status.eta_secs)),
    }
}

async fn queue_page(
    ticket: Result<Ticket<StatusRoute>, Refusal>,
    state: State,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, PageError> {
    let event = path.into_inner();
    // Without a ticket the page renders empty and its script joins; a limited caller gets
    // the refusal page, as from the API.
    let ticket = match ticket {
        Ok(ticket) => Some(ticket),
        Err(refusal) => match refusal.error() {
            ApiError::RateLimited(_) | ApiError::Sale(SaleError::NotFound(_)) => {
                return Err(refusal.into())
            }
            _ => None,
        },
    };
    let view = sale::list_events::event(&state.sale, event).await?;
    let status = match ticket {
        Some(t) => Some(sale::status::status(&state.sale, event, &t.claims, t.token).await?),
        None => None,
    };
    Ok(render(
        StatusCode::OK,
        &QueuePage {
            id: event,
            name: view.name,
            venue: view.venue,
            pow_bits: view.pow_difficulty_bits,
            status: status.as_ref().map(status_view),
        },
    ))
}

/// `POST /events/{id}/queue` from the event page's form: joins at once when the event asks
/// no proof of work (so the line works without scripts), else leaves it to the page's worker.
async fn queue_form(
    joiner: Joiner,
    req: HttpRequest,
    state: State,
) -> Result<HttpResponse, PageError> {
    let event = joiner.event;
    let view = sale::list_events::event(&state.sale, event).await?;
    let mut redirect = HttpResponse::SeeOther();
    if view.pow_difficulty_bits == 0 {
        let joined = sale::join::join(
            &state.sale,
            sale::join::JoinRequest {
                event,
                own: joiner.own,
                pow: None,
            },
        )
        .await?;
        set_cookies(&mut redirect, &req, event, &joined.status, true);
    }
    Ok(redirect
        .insert_header((header::LOCATION, format!("/events/{event}/queue")))
        .finish())
}

/// `POST /events/{id}/queue/leave` from the waiting room's *Leave the line* button: out of
/// the line, the ticket's cookies removed, back to the event page.
async fn leave_form(
    ticket: Ticket<JoinRoute>,
    req: HttpRequest,
    state: State,
) -> Result<HttpResponse, PageError> {
    let event = ticket.event;
    sale::leave::leave(&state.sale, event, &ticket.claims).await?;
    let mut redirect = HttpResponse::SeeOther();
    clear_cookies(&mut redirect, &req, event);
    Ok(redirect
        .insert_header((header::LOCATION, format!("/events/{event}?left=1")))
        .finish())
}

/// A GA tier in the quantity picker.
pub struct GaTier {
    pub id: String,
    pub name: String,
    pub price: String,
    pub available: u32,
}

/// A seated tier, for the best-available picker.
pub struct SeatedTier {
    pub id: String,
    pub price: String,
}

/// The shop. The seat map is drawn by the page's script from the layout (the event's seating
/// blocks, in the page) and the seats' states, which it refreshes every few seconds.
#[derive(Template)]
#[template(path = "shop.html")]
pub struct ShopPage {
    pub id: Uuid,
    pub name: String,
    pub max_per_order: u32,
    /// The seating blocks as JSON, for the script.
    pub layout: String,
    pub seated: Vec<SeatedTier>,
    pub tiers: Vec<GaTier>,
    pub sold_out: bool,
}

/// One seating block as the page's script draws it.
#[derive(serde::Serialize)]
struct LayoutBlock<'a> {
    section: &'a str,
    tier: &'a str,
    rows: u32,
    seats_per_row: u32,
    price: String,
}

async fn shop_page(fan: Admitted<StatusRoute>, state: State) -> Result<HttpResponse, PageError> {
    let event = fan.event;
    let view = sale::list_events::event(&state.sale, event).await?;
    let blocks: Vec<LayoutBlock> = view
        .seating
        .iter()
        .map(|b| LayoutBlock {
            section: &b.section,
            tier: &b.tier,
            rows: b.rows,
            seats_per_row: b.seats_per_row,
            price: money(b.price_cents),
        })
        .collect();
    // Plain strings and numbers: serializing cannot fail.
    let layout = serde_json::to_string(&blocks).unwrap_or_else(|_| "[]".into());
    let sold_out = view.tiers.iter().all(|t| t.available == 0);
    let page = ShopPage {
        id: event,
        name: view.name,
        max_per_order: view.max_per_order,
        layout,
        seated: view
            .tiers
            .iter()
            .filter(|t| t.seated)
            .map(|t| SeatedTier {
                id: t.id.clone(),
                price: money(t.price_cents),
            })
            .collect(),
        tiers: view
            .tiers
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
    };
    Ok(render(StatusCode::OK, &page))
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
    _: Reader,
    state: State,
    path: web::Path<(Uuid, Uuid)>,
    req: HttpRequest,
) -> Result<HttpResponse, PageError> {
    let (event, hold_id) = path.into_inner();
    let view = sale::list_events::event(&state.sale, event).await?;
    let token = fan_token(&req, &admission_cookie(event));
    if let Err(e) = state.sale.admission(event, token.as_deref()) {
        state
            .sale
            .refused(event, crate::sale::refusals::Refused::NotAdmitted);
        return Err(PageError::new(e, Back::Line(event)));
    }
    Ok(render(
        StatusCode::OK,
        &CheckoutPage {
            id: event,
            name: view.name,
            hold_id,
        },
    ))
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

/// The query of an order page: the key of the link in the order's mails.
#[derive(serde::Deserialize)]
pub struct OrderLink {
    k: Option<String>,
}

/// The confirmation: for the organizer, the admission that bought it, or the link in the
/// order's mails (`?k=`, which opens it on any device, without cookies).
async fn order_page(
    _: Reader,
    req: HttpRequest,
    state: State,
    path: web::Path<Uuid>,
    link: web::Query<OrderLink>,
) -> Result<HttpResponse, PageError> {
    let order_id = path.into_inner();
    let order = sale::order::find(&state.sale, order_id).await?;
    let token = fan_token(&req, &admission_cookie(order.event_id));
    if !sale::order::opened_by_key(&state.sale, &order, link.k.as_deref())
        && !organizer_reading(&req, &state)?
        && !sale::order::bought_with(&state.sale, &order, token.as_deref())
    {
        refused_bearer(&req, &state)?;
        return Err(ApiError::not_found("order").into());
    }
    let view = sale::list_events::event(&state.sale, order.event_id).await?;
    Ok(render(
        StatusCode::OK,
        &OrderPage {
            order_id,
            event_id: order.event_id,
            event_name: view.name,
            venue: view.venue,
            starts_at: show_time(view.starts_at),
            buyer: order.name.clone(),
            email: order.email.clone(),
            cancelled: order.status == OrderStatus::Cancelled,
            lines: order
                .items
                .iter()
                .map(|i| OrderLine {
                    id: i.id.to_string(),
                    tier: i.tier.clone(),
                    price: money(i.price_cents),
                })
                .collect(),
            total: money(order.total_cents),
        },
    ))
}

/// Registers the fan pages.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/events/{id}/queue")
            .route(web::get().to(queue_page))
            .route(web::post().to(queue_form))
            .default_service(allow("GET, POST")),
    )
    .service(
        web::resource("/events/{id}/queue/leave")
            .route(web::post().to(leave_form))
            .default_service(allow("POST")),
    )
    .service(
        // The seat map is the event's inventory: its owner draws it.
        web::resource("/events/{id}/shop")
            .wrap(from_fn(forward::to_event_owner))
            .route(web::get().to(shop_page))
            .default_service(allow("GET")),
    )
    .service(
        web::resource("/events/{id}/checkout/{hold_id}")
            .route(web::get().to(checkout_page))
            .default_service(allow("GET")),
    )
    .service(
        web::resource("/orders/{id}")
            .route(web::get().to(order_page))
            .default_service(allow("GET")),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eta_is_a_range_in_minutes() {
        assert_eq!(eta_range(None), "estimating…");
        assert_eq!(eta_range(Some(30)), "less than a minute");
        assert_eq!(eta_range(Some(600)), "8–13 min");
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
