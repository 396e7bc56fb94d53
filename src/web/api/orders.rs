//! Orders: the organizer's list and CSV export, cancelling, and reading one order back.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use uuid::Uuid;

use crate::domain::order::Order;
use crate::inventory::actor::OrderCancelled;
use crate::room::token::TokenKind;
use crate::web::auth::{admission_cookie, fan_token, is_organizer, Organizer};
use crate::web::error::ApiError;
use crate::web::State;

/// Orders per page when `limit` is absent, and the most one page may hold.
pub const DEFAULT_PAGE: u32 = 100;
pub const MAX_PAGE: u32 = 1_000;
/// Longest order search, in characters.
pub const MAX_SEARCH_CHARS: usize = 200;

/// Query of `GET /api/v1/events/{id}/orders`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    after: Option<String>,
    limit: Option<u32>,
    format: Option<String>,
    /// Only orders whose name, email, order id or an item id contains this (any case).
    q: Option<String>,
}

/// The search of an order listing: trimmed, empty meaning none, bounded.
pub fn search_term(q: Option<&str>) -> Result<Option<&str>, ApiError> {
    match q.map(str::trim) {
        None | Some("") => Ok(None),
        Some(q) if q.chars().count() > MAX_SEARCH_CHARS => Err(ApiError::BadRequest(format!(
            "a search is at most {MAX_SEARCH_CHARS} characters"
        ))),
        Some(q) => Ok(Some(q)),
    }
}

/// `GET /api/v1/events/{id}/orders`: a page of orders, oldest first, or every order as CSV.
pub async fn list(
    _: Organizer,
    state: State,
    path: web::Path<Uuid>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let event = path.into_inner();
    let query = query.into_inner();
    if state.store.get_event(event).await?.is_none() {
        return Err(ApiError::NotFound("event"));
    }
    let after = match query.after.as_deref() {
        None | Some("") => None,
        Some(cursor) => Some(
            Uuid::parse_str(cursor).map_err(|_| ApiError::BadRequest("invalid cursor".into()))?,
        ),
    };
    match query.format.as_deref() {
        None | Some("json") => {}
        Some("csv") => return csv_export(&state, event).await,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "format must be json or csv, not {:?}",
                other.chars().take(20).collect::<String>()
            )))
        }
    }
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit must be 1 to {MAX_PAGE}"
        )));
    }
    let search = search_term(query.q.as_deref())?;
    let orders = state.store.list_orders(event, after, limit, search).await?;
    let next = (orders.len() == limit as usize)
        .then(|| orders.last().map(|o| o.order_id.to_string()))
        .flatten();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "orders": orders, "next": next })))
}

/// Every order of an event as CSV, one row per item.
pub async fn csv_export(state: &State, event: Uuid) -> Result<HttpResponse, ApiError> {
    let mut out = csv::Writer::from_writer(Vec::new());
    let csv_err = |e: csv::Error| ApiError::Internal(format!("csv: {e}"));
    out.write_record([
        "order_id",
        "status",
        "created_at",
        "name",
        "email",
        "item_id",
        "tier",
        "price_cents",
        "order_total_cents",
    ])
    .map_err(csv_err)?;
    let mut after = None;
    loop {
        let page = state
            .store
            .list_orders(event, after, MAX_PAGE, None)
            .await?;
        for order in &page {
            for item in &order.items {
                out.write_record([
                    order.order_id.to_string(),
                    order.status.as_str().to_string(),
                    order.created_at.to_rfc3339(),
                    csv_safe(&order.name),
                    csv_safe(&order.email),
                    item.id.clone(),
                    item.tier.clone(),
                    item.price_cents.to_string(),
                    order.total_cents.to_string(),
                ])
                .map_err(csv_err)?;
            }
        }
        if page.len() < MAX_PAGE as usize {
            break;
        }
        after = page.last().map(|o| o.order_id);
    }
    let body = out
        .into_inner()
        .map_err(|e| ApiError::Internal(format!("csv: {e}")))?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"orders-{event}.csv\""),
        ))
        .body(body))
}

/// Defuses spreadsheet formula injection: a cell a buyer controls never starts with `=`, `+`,
/// `-`, `@` or a tab when opened in a spreadsheet.
fn csv_safe(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    }
}

/// `GET /api/v1/orders/{id}`: for the organizer, or the fan whose admission bought it (an
/// expired admission still reads its own order: the confirmation outlives the shopping).
pub async fn get(
    req: HttpRequest,
    state: State,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let order = state
        .store
        .get_order(path.into_inner())
        .await?
        .ok_or(ApiError::NotFound("order"))?;
    if may_read(&req, &state, &order) {
        Ok(HttpResponse::Ok().json(order))
    } else {
        // Not 403: whether an order id exists is nobody else's business.
        Err(ApiError::NotFound("order"))
    }
}

/// Whether the caller may read `order`: the organizer, or the fan whose admission bought it.
pub fn may_read(req: &HttpRequest, state: &State, order: &Order) -> bool {
    is_organizer(req, state) || bought_it(req, state, order)
}

fn bought_it(req: &HttpRequest, state: &State, order: &Order) -> bool {
    let Some(token) = fan_token(req, &admission_cookie(order.event_id)) else {
        return false;
    };
    match state.signer.open(&token) {
        Ok(claims) => {
            claims.kind == TokenKind::Admission
                && claims.event == order.event_id
                && claims.session == order.session
        }
        Err(_) => false,
    }
}

/// `POST /api/v1/orders/{id}/cancel`: frees the order's items; repeating it is harmless.
pub async fn cancel(
    _: Organizer,
    state: State,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(cancel_order(&state, path.into_inner()).await?))
}

/// Cancels an order (if it is not already) and gives its items back to the event's shop.
pub async fn cancel_order(state: &State, id: Uuid) -> Result<Order, ApiError> {
    let (order, changed) = state
        .store
        .cancel_order(id, state.clock.now())
        .await?
        .ok_or(ApiError::NotFound("order"))?;
    if changed {
        tracing::info!(order = %order.order_id, event = %order.event_id, "order cancelled");
        metrics::counter!("orders_total", "outcome" => "cancelled").increment(1);
        if let Some(actor) = state.registry.running(order.event_id) {
            actor
                .ask(OrderCancelled {
                    order: order.clone(),
                })
                .await?;
        }
    }
    Ok(order)
}
