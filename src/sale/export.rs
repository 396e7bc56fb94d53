//! An event's orders for the organizer: listed a page at a time, searched, or exported whole as
//! CSV (one row per item).

use serde::Serialize;
use uuid::Uuid;

use super::{Sale, SaleError};
use crate::domain::order::Order;

/// Orders per page when no limit is given, and the most one page may hold.
pub const DEFAULT_PAGE: u32 = 100;
pub const MAX_PAGE: u32 = 1_000;
/// Longest order search, in characters.
pub const MAX_SEARCH_CHARS: usize = 200;

/// The search of an order listing: bounded as sent (the documented `maxLength`), then
/// trimmed, empty meaning none.
pub fn search_term(q: Option<&str>) -> Result<Option<&str>, SaleError> {
    match q {
        Some(q) if q.chars().count() > MAX_SEARCH_CHARS => Err(SaleError::BadRequest(format!(
            "a search is at most {MAX_SEARCH_CHARS} characters"
        ))),
        q => Ok(q.map(str::trim).filter(|q| !q.is_empty())),
    }
}

/// Which orders to list: after a cursor (an order id), at most `limit`, matching `search`.
pub struct PageRequest<'a> {
    pub after: Option<Uuid>,
    pub limit: u32,
    pub search: Option<&'a str>,
}

/// A page of orders, oldest first, and the cursor of the next page when there may be one.
#[derive(Serialize, utoipa::ToSchema)]
pub struct OrdersPage {
    pub orders: Vec<Order>,
    pub next: Option<String>,
}

/// The cursor of the page after `rows`, a full page of `limit`: the last row's id.
pub(crate) fn next_cursor<T>(rows: &[T], limit: u32, id: impl Fn(&T) -> Uuid) -> Option<String> {
    (rows.len() == limit as usize)
        .then(|| rows.last().map(|row| id(row).to_string()))
        .flatten()
}

pub(crate) fn check_limit(limit: u32) -> Result<(), SaleError> {
    if (1..=MAX_PAGE).contains(&limit) {
        Ok(())
    } else {
        Err(SaleError::BadRequest(format!(
            "limit must be 1 to {MAX_PAGE}"
        )))
    }
}

/// A page of an event's orders.
pub async fn orders(
    sale: &Sale,
    event: Uuid,
    page: PageRequest<'_>,
) -> Result<OrdersPage, SaleError> {
    sale.known_event(event).await?;
    check_limit(page.limit)?;
    let orders = sale
        .store
        .list_orders(event, page.after, page.limit, page.search)
        .await?;
    let next = next_cursor(&orders, page.limit, |o| o.order_id);
    Ok(OrdersPage { orders, next })
}

/// An event's orders as CSV, one row per item: every order matching `search` after the
/// cursor, or at most `limit` of them when a limit is given.
pub async fn csv(
    sale: &Sale,
    event: Uuid,
    after: Option<Uuid>,
    limit: Option<u32>,
    search: Option<&str>,
) -> Result<Vec<u8>, SaleError> {
    sale.known_event(event).await?;
    if let Some(limit) = limit {
        check_limit(limit)?;
    }
    let mut left = limit.map_or(usize::MAX, |l| l as usize);
    let mut out = csv::Writer::from_writer(Vec::new());
    let csv_err = |e: csv::Error| SaleError::Internal(format!("csv: {e}"));
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
    let mut after = after;
    while left > 0 {
        let want = left.min(MAX_PAGE as usize) as u32;
        let page = sale.store.list_orders(event, after, want, search).await?;
        left -= page.len();
        for order in &page {
            for item in &order.items {
                out.write_record([
                    order.order_id.to_string(),
                    order.status.as_str().to_string(),
                    order.created_at.to_rfc3339(),
                    csv_safe(&order.name),
                    csv_safe(&order.email),
                    item.id.to_string(),
                    item.tier.clone(),
                    item.price_cents.to_string(),
                    order.total_cents.to_string(),
                ])
                .map_err(csv_err)?;
            }
        }
        if page.len() < want as usize {
            break;
        }
        after = page.last().map(|o| o.order_id);
    }
    out.into_inner()
        .map_err(|e| SaleError::Internal(format!("csv: {e}")))
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
