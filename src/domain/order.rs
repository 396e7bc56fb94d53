//! Orders and the items in them, in the shapes the API shows (`docs/api.md`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::item::ItemId;

/// One sellable place as the API shows it: `{"id": "A-3-17", "tier": "lower", "price_cents": 12900}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Item {
    pub id: ItemId,
    pub tier: String,
    pub price_cents: i64,
}

/// Whether an order still stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    Confirmed,
    Cancelled,
}

impl OrderStatus {
    /// The word stored in the database and shown in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Confirmed => "confirmed",
            OrderStatus::Cancelled => "cancelled",
        }
    }

    /// Parses the stored word; anything else is a corrupt row.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "confirmed" => Some(OrderStatus::Confirmed),
            "cancelled" => Some(OrderStatus::Cancelled),
            _ => None,
        }
    }
}

/// A committed order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Order {
    pub order_id: Uuid,
    pub event_id: Uuid,
    pub items: Vec<Item>,
    pub total_cents: i64,
    pub status: OrderStatus,
    pub name: String,
    pub email: String,
    pub created_at: DateTime<Utc>,
    /// The admission session that bought it (lets that fan read it back); never shown.
    #[serde(skip)]
    pub session: String,
}

/// An order on its way to the database, with what makes it idempotent.
#[derive(Clone, Debug)]
pub struct NewOrder {
    pub order: Order,
    /// The client's `Idempotency-Key`.
    pub idempotency_key: String,
    /// Fingerprint of the request body: the same key with another body is refused.
    pub request_hash: String,
}

/// What became of one order of a committed batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommitOutcome {
    /// Written: the fan may be told 201.
    Committed,
    /// Another order already has this idempotency key (written by another actor).
    KeyTaken,
    /// One of its items is already in a live order (written by another actor).
    ItemTaken,
    /// Not written: the event has a newer owner, so this node may no longer sell it.
    Fenced,
}

/// What the committer settled for one order of a batch.
#[derive(Clone, Debug, PartialEq)]
pub enum Settled {
    /// What the database reported for this order's write.
    Outcome(CommitOutcome),
    /// The key's order is already stored, for the same request: an earlier attempt whose
    /// answer was lost (the commit went through), or another node's. This is that order.
    Stored(Order),
    /// Not written, as far as anyone can tell (the database failed, and could not be asked).
    Failed,
}

/// The buyer's details, as checked at checkout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Buyer {
    pub name: String,
    pub email: String,
}

/// Longest buyer name and email accepted.
pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_EMAIL_CHARS: usize = 254;

/// Why a buyer's details were refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BuyerError(pub String);

impl Buyer {
    /// Parses a name and email: a non-empty name without control characters, and an email
    /// that is one address as the mail sender reads it (lettre's `Address`), with a dotted
    /// domain. Deliverability is the mail system's business; a list or a typo such as
    /// `ada@example.com,x.org` is refused here, not parked after the order.
    pub fn parse(name: &str, email: &str) -> Result<Buyer, BuyerError> {
        let name = name.trim();
        let email = email.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
            return Err(BuyerError(format!(
                "name must be 1 to {MAX_NAME_CHARS} characters"
            )));
        }
        if name.chars().any(char::is_control) {
            return Err(BuyerError(
                "name must not contain control characters".into(),
            ));
        }
        if !plausible_email(email) {
            return Err(BuyerError("email must look like name@example.com".into()));
        }
        Ok(Buyer {
            name: name.to_string(),
            email: email.to_string(),
        })
    }
}

fn plausible_email(email: &str) -> bool {
    if email.len() > MAX_EMAIL_CHARS || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && !local.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && email.parse::<lettre::Address>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buyers_are_parsed_not_trusted() {
        assert!(Buyer::parse("Ada", "ada@example.com").is_ok());
        assert!(Buyer::parse(" ", "ada@example.com").is_err());
        assert!(Buyer::parse("Ada", "ada.example.com").is_err());
        assert!(Buyer::parse("Ada", "ada@localhost").is_err());
        assert!(Buyer::parse("Ada", "a b@example.com").is_err());
        for not_one in [
            "ada@example.com,evil.test",
            "ada@example.com;b@evil.test",
            "ada@exa(mple).com",
            "<ada@example.com>",
            "ada@example.com>",
        ] {
            assert!(Buyer::parse("Ada", not_one).is_err(), "{not_one}");
        }
        assert!(Buyer::parse("Ada", "ada.o'neil+tickets@example.co.uk").is_ok());
        assert!(Buyer::parse("Zoë", "zoë@exämple.de").is_ok());
        assert!(Buyer::parse("Ada\u{0}", "ada@example.com").is_err());
        assert!(Buyer::parse(&"x".repeat(201), "ada@example.com").is_err());
    }
}
