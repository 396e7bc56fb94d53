//! Order e-mails for the organizer: an event's mails by state, retrying a parked one, and
//! resending an order's mail.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use uuid::Uuid;

use super::orders::cursor;
use crate::domain::mail::MailState;
use crate::sale::notifications::{self, ListRequest, NotificationView, NotificationsPage};
use crate::sale::{export, resend_mail, retry_mail};
use crate::web::error::{ApiError, ErrorBody};
use crate::web::extract::Organizer;
use crate::web::State;

/// Query of `GET /api/v1/events/{id}/notifications`.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only mails in this state (every mail when absent).
    #[param(value_type = Option<MailState>)]
    state: Option<String>,
    /// The cursor: the `next` of the previous page (a mail id).
    #[param(value_type = Option<String>, pattern = "^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})?$")]
    after: Option<String>,
    /// Mails per page (100 when absent).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// An event's order e-mails, oldest first, a page at a time: where each stands, how often it
/// was tried, the last error.
#[utoipa::path(
    get, path = "/api/v1/events/{id}/notifications", tag = "organizer", operation_id = "listNotifications",
    params(("id" = Uuid, Path, description = "The event"), ListQuery),
    security(("organizer" = [])),
    responses((status = 200, description = "A page of mails", body = NotificationsPage))
)]
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

/// Retry a mail: a parked (or pending) mail is due again now, its attempts counted afresh.
#[utoipa::path(
    post, path = "/api/v1/notifications/{id}/retry", tag = "organizer", operation_id = "retryNotification",
    params(("id" = Uuid, Path, description = "The mail")),
    security(("organizer" = [])),
    responses(
        (status = 202, description = "Due again", body = NotificationView),
        (status = 422, description = "Already sent (resend the order's mail instead)", body = ErrorBody),
    )
)]
pub async fn retry(
    _: Organizer,
    state: State,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let row = retry_mail::retry(&state.sale, path.into_inner()).await?;
    Ok(HttpResponse::Accepted().json(row))
}

/// Send an order's mail once more, as a new mail (the order as it stands now).
#[utoipa::path(
    post, path = "/api/v1/orders/{id}/resend", tag = "organizer", operation_id = "resendOrderMail",
    params(("id" = Uuid, Path, description = "The order")),
    security(("organizer" = [])),
    responses((status = 202, description = "A new mail, due now", body = NotificationView))
)]
pub async fn resend(
    _: Organizer,
    state: State,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let row = resend_mail::resend(&state.sale, path.into_inner()).await?;
    Ok(HttpResponse::Accepted().json(row))
}
