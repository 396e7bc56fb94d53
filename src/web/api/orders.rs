//! Orders: the organizer's list and CSV export, cancelling, and reading one order back.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use uuid::Uuid;

use crate::domain::order::Order;
use crate::sale::export::OrdersPage;
use crate::sale::{self, export};
use crate::web::error::ApiError;
use crate::web::extract::{
    admission_cookie, fan_token, organizer_reading, refused_bearer, Organizer, Reader,
};
use crate::web::{csv_download, State};

/// Query of `GET /api/v1/events/{id}/orders`.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// The cursor: the `next` of the previous page (an order id).
    #[param(value_type = Option<String>, pattern = "^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})?$")]
    after: Option<String>,
    /// Orders per page (100 when absent); with `format=csv`, at most this many orders.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// `json` (a page) or `csv` (every matching order, one row per item).
    #[param(value_type = Option<ListFormat>)]
    format: Option<String>,
    /// Only orders whose name, email, order id or an item id contains this (any case).
    #[param(max_length = 200)]
    q: Option<String>,
}

/// A listing's `after` cursor: an id in the spelling the API writes (`next`), or none when
/// absent or empty (`400` otherwise: one cursor, one spelling).
pub fn cursor(after: Option<&str>) -> Result<Option<Uuid>, ApiError> {
    match after {
        None | Some("") => Ok(None),
        Some(cursor) => Uuid::parse_str(cursor)
            .ok()
            .filter(|id| id.to_string() == cursor)
            .map(Some)
            .ok_or_else(|| ApiError::bad_request("invalid cursor")),
    }
}

/// What the listing answers in.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // describes the `format` parameter
pub enum ListFormat {
    Json,
    Csv,
}

/// An event's orders: a page of them, oldest first, or every matching order as CSV.
#[utoipa::path(
    get, path = "/api/v1/events/{id}/orders", tag = "organizer", operation_id = "listOrders",
    params(("id" = Uuid, Path, description = "The event"), ListQuery),
    security(("organizer" = [])),
    responses(
        (status = 200, description = "A page of orders, or the CSV",
         content(
            (OrdersPage = "application/json"),
            (String = "text/csv", example = "order_id,status,created_at,name,email,item_id,tier,price_cents,order_total_cents"),
         )),
    )
)]
pub async fn list(
    _: Organizer,
    state: State,
    path: web::Path<Uuid>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let event = path.into_inner();
    let query = query.into_inner();
    let after = cursor(query.after.as_deref())?;
    let search = export::search_term(query.q.as_deref())?;
    match query.format.as_deref() {
        None | Some("json") => {}
        Some("csv") => {
            let body = export::csv(&state.sale, event, after, query.limit, search).await?;
            return Ok(csv_download(event, body));
        }
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "format must be json or csv, not {:?}",
                other.chars().take(20).collect::<String>()
            )))
        }
    }
    let page = export::PageRequest {
        after,
        limit: query.limit.unwrap_or(export::DEFAULT_PAGE),
        search,
    };
    Ok(HttpResponse::Ok().json(export::orders(&state.sale, event, page).await?))
}

/// One order: for the organizer, or the fan whose admission bought it (an expired admission
/// still reads its own order: the confirmation outlives the shopping). `404` to anyone else.
#[utoipa::path(
    get, path = "/api/v1/orders/{id}", tag = "orders", operation_id = "getOrder",
    params(("id" = Uuid, Path, description = "The order")),
    security(("organizer" = []), ("admission" = []), ("admission_cookie" = [])),
    responses((status = 200, description = "The order", body = Order))
)]
pub async fn get(
    _: Reader,
    req: HttpRequest,
    state: State,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let order = sale::order::find(&state.sale, path.into_inner()).await?;
    let token = fan_token(&req, &admission_cookie(order.event_id));
    if organizer_reading(&req, &state)?
        || sale::order::bought_with(&state.sale, &order, token.as_deref())
    {
        Ok(HttpResponse::Ok().json(order))
    } else {
        refused_bearer(&req, &state)?;
        // Not 403: whether an order id exists is nobody else's business.
        Err(ApiError::not_found("order"))
    }
}

/// Cancel an order: its places are free again and back in the buyer's allowance; repeating it
/// is harmless.
#[utoipa::path(
    post, path = "/api/v1/orders/{id}/cancel", tag = "organizer", operation_id = "cancelOrder",
    params(("id" = Uuid, Path, description = "The order")),
    security(("organizer" = [])),
    responses((status = 200, description = "The order, cancelled", body = Order))
)]
pub async fn cancel(
    _: Organizer,
    state: State,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(sale::cancel::cancel(&state.sale, path.into_inner()).await?))
}
