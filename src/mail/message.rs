//! Building one mail from its outbox row, the order and the event as stored.
//!
//! Rendered at send time, not when the order commits: the row stays four ids and an address
//! (the commit statement, the hot path, writes no more than that), and a mail tells the order
//! as it stands when it leaves (a venue the organizer corrected is the corrected one). The
//! `Message-ID` is the row's, so every attempt at one row is the same message.
//!
//! Buyer-supplied text never reaches a header raw: the name loses control characters (a CR/LF
//! cannot start a header) and is encoded by the mail library, and the address must parse as
//! exactly one address (a list, a display name or a header in it is refused, and the row is
//! parked rather than sent anywhere).

use std::str::FromStr;

use askama::Template;
use lettre::message::{Mailbox, MultiPart};
use lettre::{Address, Message};

use crate::domain::mail::{Failure, MailKind, Notification};
use crate::domain::order::Order;
use crate::domain::show::{money, show_time};
use crate::store::EventRecord;

/// Why a mail was not delivered (or could not even be built): the row is parked when the
/// failure is permanent, else tried again later.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{detail}")]
pub struct Undelivered {
    pub failure: Failure,
    /// The metric's reason label.
    pub reason: &'static str,
    pub detail: String,
}

/// The reasons a delivery failed, as `mail_failed_total` labels them.
pub mod reason {
    /// No connection to the mail server.
    pub const UNREACHABLE: &str = "unreachable";
    /// No answer within the send timeout.
    pub const TIMEOUT: &str = "timeout";
    /// The TLS handshake failed.
    pub const TLS: &str = "tls";
    /// A `4xx` reply: try again later.
    pub const DEFERRED: &str = "deferred";
    /// A `5xx` reply: refused for good.
    pub const REJECTED: &str = "rejected";
    /// The stored recipient is not one address.
    pub const ADDRESS: &str = "address";
    /// Writing the mail as a file failed.
    pub const FILE: &str = "file";
    /// The database failed while the mail was being built.
    pub const DATABASE: &str = "database";
    /// The mail's order or event is not stored.
    pub const MESSAGE: &str = "message";
    /// Anything unforeseen.
    pub const OTHER: &str = "other";
    /// Every reason, for the metric's series to exist (at 0) before the first failure.
    pub const ALL: [&str; 10] = [
        UNREACHABLE,
        TIMEOUT,
        TLS,
        DEFERRED,
        REJECTED,
        ADDRESS,
        FILE,
        DATABASE,
        MESSAGE,
        OTHER,
    ];
}

impl Undelivered {
    /// The mail server could not be reached or did not answer (not the mail's fault).
    pub fn server_unreachable(&self) -> bool {
        [reason::UNREACHABLE, reason::TIMEOUT, reason::TLS].contains(&self.reason)
    }

    /// The mail server answered, refusing the mail for now or for good.
    pub fn server_replied(&self) -> bool {
        [reason::DEFERRED, reason::REJECTED].contains(&self.reason)
    }

    pub(crate) fn permanent(reason: &'static str, detail: String) -> Self {
        Undelivered {
            failure: Failure::Permanent,
            reason,
            detail,
        }
    }
}

/// One line of the mail's table of places.
pub struct MailLine {
    pub id: String,
    pub tier: String,
    pub price: String,
}

/// What both parts of a mail show.
pub struct MailView {
    pub cancelled: bool,
    pub subject: String,
    pub buyer: String,
    pub event: String,
    pub venue: String,
    pub starts_at: String,
    pub order_id: String,
    pub lines: Vec<MailLine>,
    pub total: String,
    /// The order's page, with its key: opens on any device.
    pub link: String,
}

#[derive(Template)]
#[template(path = "mail/order.txt")]
struct TextPart<'a> {
    m: &'a MailView,
}

#[derive(Template)]
#[template(path = "mail/order.html")]
struct HtmlPart<'a> {
    m: &'a MailView,
}

/// Text on one line: control characters (CR, LF, tabs, NUL) become spaces, runs of spaces one.
pub fn one_line(text: &str) -> String {
    text.split(|c: char| c.is_control() || c.is_whitespace())
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The recipient: exactly one plain address (`local@domain`), or the reason it is refused.
pub fn recipient(address: &str) -> Result<Address, Undelivered> {
    Address::from_str(address.trim()).map_err(|e| {
        Undelivered::permanent(
            reason::ADDRESS,
            format!(
                "the address {:?} was refused: {e}",
                address.chars().take(80).collect::<String>()
            ),
        )
    })
}

/// What the mail about `order` says, with `link` to its page.
pub fn view(kind: MailKind, order: &Order, event: &EventRecord, link: String) -> MailView {
    let spec = &event.spec;
    let cancelled = kind == MailKind::OrderCancelled;
    let starts_at = show_time(spec.starts_at);
    let subject = one_line(&if cancelled {
        format!(
            "Order cancelled: {} at {}, {starts_at}",
            spec.name, spec.venue
        )
    } else {
        format!("Your tickets: {} at {}, {starts_at}", spec.name, spec.venue)
    });
    MailView {
        cancelled,
        subject,
        buyer: one_line(&order.name),
        event: spec.name.clone(),
        venue: spec.venue.clone(),
        starts_at,
        order_id: order.order_id.to_string(),
        lines: order
            .items
            .iter()
            .map(|i| MailLine {
                id: i.id.to_string(),
                tier: i.tier.clone(),
                price: money(i.price_cents),
            })
            .collect(),
        total: money(order.total_cents),
        link,
    }
}

/// The mail of one outbox row, from `from`.
pub fn compose(
    row: &Notification,
    view: &MailView,
    from: &Mailbox,
) -> Result<Message, Undelivered> {
    let to = Mailbox::new(Some(view.buyer.clone()), recipient(&row.recipient)?);
    let render =
        |e: askama::Error| Undelivered::permanent(reason::MESSAGE, format!("rendering: {e}"));
    let text = TextPart { m: view }.render().map_err(render)?;
    let html = HtmlPart { m: view }.render().map_err(render)?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(view.subject.clone())
        .message_id(Some(message_id(row, from)))
        .multipart(MultiPart::alternative_plain_html(text, html))
        .map_err(|e| Undelivered::permanent(reason::MESSAGE, format!("building the message: {e}")))
}

/// The row's `Message-ID`: its id at the sender's domain.
pub fn message_id(row: &Notification, from: &Mailbox) -> String {
    format!("<{}@{}>", row.id, from.email.domain())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::demo_event;
    use crate::domain::item::ItemId;
    use crate::domain::mail::MailState;
    use crate::domain::order::{Item, OrderStatus};
    use chrono::Utc;
    use uuid::Uuid;

    fn order(name: &str, email: &str) -> Order {
        Order {
            order_id: Uuid::now_v7(),
            event_id: Uuid::now_v7(),
            items: vec![
                Item {
                    id: ItemId::parse("A-1-2").unwrap(),
                    tier: "lower".into(),
                    price_cents: 9000,
                },
                Item {
                    id: ItemId::parse("floor#7").unwrap(),
                    tier: "floor".into(),
                    price_cents: 5000,
                },
            ],
            total_cents: 14000,
            status: OrderStatus::Confirmed,
            name: name.into(),
            email: email.into(),
            created_at: Utc::now(),
            session: "s".into(),
        }
    }

    fn row(order: &Order, kind: MailKind) -> Notification {
        Notification {
            id: Uuid::now_v7(),
            event_id: order.event_id,
            order_id: order.order_id,
            kind,
            recipient: order.email.clone(),
            state: MailState::Pending,
            attempts: 0,
            last_error: None,
            next_attempt_at: Utc::now(),
            sent_at: None,
            created_at: Utc::now(),
        }
    }

    fn event() -> EventRecord {
        let now = Utc::now();
        EventRecord {
            id: Uuid::now_v7(),
            spec: demo_event(now),
            paused: false,
            created_at: now,
            updated_at: now,
        }
    }

    fn mail(order: &Order, kind: MailKind) -> Result<String, Undelivered> {
        let event = event();
        let link = format!("http://127.0.0.1:8080/orders/{}?k=key", order.order_id);
        let view = view(kind, order, &event, link);
        let from = crate::mail::parse_from("Floodgate <tickets@example.com>").unwrap();
        let message = compose(&row(order, kind), &view, &from)?;
        Ok(String::from_utf8(message.formatted()).unwrap())
    }

    /// The message's header block, unfolded, one header a line.
    fn headers(mail: &str) -> Vec<String> {
        let head = mail.split("\r\n\r\n").next().unwrap();
        let mut lines: Vec<String> = Vec::new();
        for line in head.split("\r\n") {
            match lines.last_mut() {
                Some(last) if line.starts_with([' ', '\t']) => last.push_str(line),
                _ => lines.push(line.to_string()),
            }
        }
        lines
    }

    #[test]
    fn a_confirmation_names_the_event_places_total_order_and_link() {
        let order = order("Ada Lovelace", "ada@example.com");
        let event = event();
        let link = format!("http://127.0.0.1:8080/orders/{}?k=key", order.order_id);
        let view = view(MailKind::OrderConfirmed, &order, &event, link.clone());
        let text = TextPart { m: &view }.render().unwrap();
        let html = HtmlPart { m: &view }.render().unwrap();
        let date = show_time(event.spec.starts_at);
        let order_id = order.order_id.to_string();
        for part in [
            event.spec.name.as_str(),
            event.spec.venue.as_str(),
            &date,
            "A-1-2",
            "floor#7",
            "$140.00",
            &order_id,
        ] {
            assert!(text.contains(part), "{part} missing from {text}");
            assert!(html.contains(part), "{part} missing from {html}");
        }
        assert!(text.contains(&link), "{text}");
        assert!(html.contains(&link.replace('&', "&#38;")), "{html}");
        assert!(view.subject.contains(&event.spec.name) && view.subject.contains(&date));
        let mail = mail(&order, MailKind::OrderConfirmed).unwrap();
        assert!(headers(&mail)
            .iter()
            .any(|h| h.starts_with("Subject: ") && h.contains("Your tickets")));
        assert!(mail.contains("multipart/alternative"));
        assert!(mail.contains("text/plain") && mail.contains("text/html"));
    }

    #[test]
    fn a_name_with_cr_lf_cannot_add_a_header() {
        let order = order(
            "Eve\r\nBcc: victim@evil.test\r\n\r\nbody",
            "eve@example.com",
        );
        let mail = mail(&order, MailKind::OrderConfirmed).unwrap();
        let headers = headers(&mail);
        assert!(
            !headers
                .iter()
                .any(|h| h.to_ascii_lowercase().starts_with("bcc")),
            "{headers:?}"
        );
        let to: Vec<&String> = headers.iter().filter(|h| h.starts_with("To: ")).collect();
        assert_eq!(to.len(), 1, "{headers:?}");
        assert!(to[0].ends_with("<eve@example.com>"), "{}", to[0]);
    }

    #[test]
    fn an_email_holding_two_addresses_or_a_header_is_refused() {
        for email in [
            "a@example.com, b@evil.test",
            "a@example.com,evil.test",
            "a@example.com\r\nBcc: b@evil.test",
            "Name <a@example.com>",
            "a@example.com>",
        ] {
            let refused = mail(&order("Eve", email), MailKind::OrderConfirmed).unwrap_err();
            assert_eq!(refused.failure, Failure::Permanent, "{email:?}");
            assert_eq!(refused.reason, reason::ADDRESS, "{email:?}");
        }
    }

    #[test]
    fn one_message_id_per_row_at_the_senders_domain() {
        let order = order("Ada", "ada@example.com");
        let row = row(&order, MailKind::OrderCancelled);
        let from = crate::mail::parse_from("tickets@example.com").unwrap();
        let view = view(
            MailKind::OrderCancelled,
            &order,
            &event(),
            "http://x/o".into(),
        );
        let mail = String::from_utf8(compose(&row, &view, &from).unwrap().formatted()).unwrap();
        let id = format!("Message-ID: <{}@example.com>", row.id);
        assert!(headers(&mail).contains(&id), "{mail}");
        assert!(mail.contains("Order cancelled"), "{mail}");
    }

    #[test]
    fn the_html_part_escapes_what_buyers_and_organizers_typed() {
        let order = order("<script>alert(1)</script>", "ada@example.com");
        let mut event = event();
        event.spec.venue = "<b>Hall</b>".into();
        let view = view(
            MailKind::OrderConfirmed,
            &order,
            &event,
            "http://x/o?k=1&2".into(),
        );
        let html = HtmlPart { m: &view }.render().unwrap();
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains("<b>Hall"), "{html}");
    }
}
