//! The console's order e-mails: an event's mails by state (parked first: those need the
//! organizer), with *Retry* on every mail not sent. Calls the same operations as the API.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;
use uuid::Uuid;

use super::session::{ConsoleForm, Session};
use super::{back_to, console_error, private, see_other, Chrome};
use crate::domain::mail::{MailKind, MailState};
use crate::sale::{self, notifications::ListRequest};
use crate::store::MailCounts;
use crate::web::error::PageError;
use crate::web::pages::render;
use crate::web::State;

/// Mails per page.
pub const MAILS_PER_PAGE: u32 = 50;

/// One mail as the table shows it.
struct MailRow {
    id: Uuid,
    order_id: Uuid,
    kind: &'static str,
    to: String,
    attempts: u32,
    last_error: Option<String>,
    /// When it is due (pending), was sent, or was written (parked).
    when: String,
    retryable: bool,
}

/// A tab of the page: one state.
struct Tab {
    state: &'static str,
    label: &'static str,
    current: bool,
}

#[derive(Template)]
#[template(path = "console/notifications.html")]
struct MailsPage {
    chrome: Chrome,
    id: Uuid,
    name: String,
    state: &'static str,
    counts: MailCounts,
    tabs: Vec<Tab>,
    rows: Vec<MailRow>,
    next: Option<String>,
    /// Where a retry button comes back to (this page, as shown).
    here: String,
}

/// Query of the mails page.
#[derive(Deserialize)]
pub struct MailsQuery {
    state: Option<String>,
    after: Option<Uuid>,
}

fn stamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// `/organizer/events/{id}/notifications`: the event's mails in one state, parked by default.
pub async fn mails(
    session: Session,
    state: State,
    path: web::Path<Uuid>,
    query: web::Query<MailsQuery>,
) -> Result<HttpResponse, PageError> {
    let id = path.into_inner();
    let back = format!("/organizer/events/{id}");
    let shown = sale::notifications::state_filter(query.state.as_deref())
        .map_err(|e| console_error(e, &back))?
        .unwrap_or(MailState::Parked);
    let name = sale::edit_event::saved_spec(&state.sale, id)
        .await
        .map_err(|e| console_error(e, &back))?
        .name;
    let counts = sale::notifications::counts(&state.sale, id)
        .await
        .map_err(|e| console_error(e, &back))?;
    let request = ListRequest {
        state: Some(shown),
        after: query.after,
        limit: MAILS_PER_PAGE,
    };
    let page = sale::notifications::list(&state.sale, id, request)
        .await
        .map_err(|e| console_error(e, &back))?;
    let address = |after: Option<&str>| {
        let base = format!(
            "/organizer/events/{id}/notifications?state={}",
            shown.as_str()
        );
        match after {
            Some(after) => format!("{base}&after={after}"),
            None => base,
        }
    };
    let rows = page
        .notifications
        .into_iter()
        .map(|n| MailRow {
            id: n.id,
            order_id: n.order_id,
            kind: match n.kind {
                MailKind::OrderConfirmed => "confirmation",
                MailKind::OrderCancelled => "cancellation",
            },
            when: match (n.state, n.sent_at, n.next_attempt_at) {
                (MailState::Sent, Some(at), _) => format!("sent {}", stamp(at)),
                (MailState::Pending, _, Some(at)) => format!("due {}", stamp(at)),
                _ => "parked".into(),
            },
            retryable: n.state != MailState::Sent,
            to: n.to,
            attempts: n.attempts,
            last_error: n.last_error,
        })
        .collect();
    let tabs = [
        (MailState::Parked, "Parked"),
        (MailState::Pending, "Pending"),
        (MailState::Sent, "Sent"),
    ]
    .into_iter()
    .map(|(state, label)| Tab {
        state: state.as_str(),
        label,
        current: state == shown,
    })
    .collect();
    Ok(private(render(
        StatusCode::OK,
        &MailsPage {
            chrome: Chrome::new(&session),
            id,
            name,
            state: shown.as_str(),
            counts,
            tabs,
            rows,
            next: page.next.as_deref().map(|after| address(Some(after))),
            here: address(query.after.map(|a| a.to_string()).as_deref()),
        },
    )))
}

/// `POST /organizer/notifications/{id}/retry`: the mail is due again; back to the page.
pub async fn retry(
    posted: ConsoleForm,
    state: State,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, PageError> {
    let back = back_to(&posted);
    sale::retry_mail::retry(&state.sale, path.into_inner())
        .await
        .map_err(|e| console_error(e, &back))?;
    Ok(see_other(&back))
}
