//! An event's order e-mails for the organizer: listed a page at a time (all, or by state), and
//! counted for the dashboard.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::export::{check_limit, next_cursor};
use super::{Sale, SaleError};
use crate::domain::mail::{MailKind, MailState, Notification};
use crate::store::MailCounts;

/// One mail as the organizer sees it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct NotificationView {
    pub id: Uuid,
    pub order_id: Uuid,
    pub kind: MailKind,
    pub to: String,
    pub state: MailState,
    pub attempts: u32,
    pub last_error: Option<String>,
    /// When a pending mail is due (`null` once sent or parked).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub sent_at: Option<DateTime<Utc>>,
}

impl From<Notification> for NotificationView {
    fn from(n: Notification) -> Self {
        NotificationView {
            id: n.id,
            order_id: n.order_id,
            kind: n.kind,
            next_attempt_at: (n.state == MailState::Pending).then_some(n.next_attempt_at),
            to: n.recipient,
            state: n.state,
            attempts: n.attempts,
            last_error: n.last_error,
            sent_at: n.sent_at,
        }
    }
}

/// A page of an event's mails, oldest first, and the cursor of the next page when there may
/// be one.
#[derive(Serialize, utoipa::ToSchema)]
pub struct NotificationsPage {
    pub notifications: Vec<NotificationView>,
    pub next: Option<String>,
}

/// Which mails to list: in `state` (all when `None`), after a cursor, at most `limit`.
pub struct ListRequest {
    pub state: Option<MailState>,
    pub after: Option<Uuid>,
    pub limit: u32,
}

/// The `state` a listing asks for: `pending`, `sent`, `parked`, or none (absent).
pub fn state_filter(text: Option<&str>) -> Result<Option<MailState>, SaleError> {
    match text {
        None => Ok(None),
        Some(word) => MailState::parse(word).map(Some).ok_or_else(|| {
            SaleError::BadRequest(format!(
                "state must be pending, sent or parked, not {:?}",
                word.chars().take(20).collect::<String>()
            ))
        }),
    }
}

/// A page of an event's mails.
pub async fn list(
    sale: &Sale,
    event: Uuid,
    request: ListRequest,
) -> Result<NotificationsPage, SaleError> {
    sale.known_event(event).await?;
    check_limit(request.limit)?;
    let rows = sale
        .store
        .list_notifications(event, request.state, request.after, request.limit)
        .await?;
    let next = next_cursor(&rows, request.limit, |n| n.id);
    Ok(NotificationsPage {
        notifications: rows.into_iter().map(NotificationView::from).collect(),
        next,
    })
}

/// An event's pending and parked mails.
pub async fn counts(sale: &Sale, event: Uuid) -> Result<MailCounts, SaleError> {
    Ok(sale.store.mail_counts(event).await?)
}
