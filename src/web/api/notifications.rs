//! Order e-mails for the organizer: an event's mails by state, retrying a parked one, and
//! resending an order's mail.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use uuid::Uuid;

use super::orders::cursor;
use crate::sale::notifications::{self, ListRequest};
use crate::sale::{export, resend_mail, retry_mail};
use crate::web::error::ApiError;
use crate::web::extract::Organizer;
use crate::web::State;

/// Query of `GET /api/v1/events/{id}/notifications`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    state: Option<String>,
    after: Option<String>,
    limit: Option<u32>,
}

/// `GET /api/v1/events/{id}/notifications`: a page of the event's mails, oldest first.
pub async fn list(
    _: Organizer,
    state: State,
    path: web::Path<Uuid>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let request = ListRequest {
        state: notifications::state_filter(query.state.as_deref())?,
        after: cursor(query.after.as_deref())?,
        limit: query.limit.unwrap_or(export::DEFAULT_PAGE),
    };
    let page = notifications::list(&state.sale, path.into_inner(), request).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// `POST /api/v1/notifications/{id}/retry`: a parked (or pending) mail is due again: `202`.
pub async fn retry(
    _: Organizer,
    state: State,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let row = retry_mail::retry(&state.sale, path.into_inner()).await?;
    Ok(HttpResponse::Accepted().json(row))
}

/// `POST /api/v1/orders/{id}/resend`: the order's mail once more, as a new mail: `202`.
pub async fn resend(
    _: Organizer,
    state: State,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let row = resend_mail::resend(&state.sale, path.into_inner()).await?;
    Ok(HttpResponse::Accepted().json(row))
}
