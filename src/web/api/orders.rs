//! Orders: the organizer's list and CSV export, cancelling, and reading one order back.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use uuid::Uuid;

use crate::sale::{self, export};
use crate::web::error::ApiError;
use crate::web::extract::{
    admission_cookie, fan_token, organizer_reading, refused_bearer, Organizer, Reader,
};
use crate::web::{csv_download, State};

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

/// A listing's `after` cursor: an id, or none when absent or empty (`400` otherwise).
pub fn cursor(after: Option<&str>) -> Result<Option<Uuid>, ApiError> {
    match after {
        None | Some("") => Ok(None),
        Some(cursor) => Uuid::parse_str(cursor)
            .map(Some)
            .map_err(|_| ApiError::bad_request("invalid cursor")),
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

/// `GET /api/v1/orders/{id}`: for the organizer, or the fan whose admission bought it (an
/// expired admission still reads its own order: the confirmation outlives the shopping).
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

/// `POST /api/v1/orders/{id}/cancel`: frees the order's items; repeating it is harmless.
pub async fn cancel(
    _: Organizer,
    state: State,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(sale::cancel::cancel(&state.sale, path.into_inner()).await?))
}
