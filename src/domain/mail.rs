//! The mails an order sends, as rows of the outbox: what each is about, where it stands, and
//! when a failed one is tried again.
//!
//! A row is written in the same transaction as the order (or the cancel) it tells of, so a
//! committed order always has its mail waiting; a sender on any node delivers it later (see
//! `mail`). Rows move `pending` → `sent`, or `pending` → `parked` when the mail cannot be
//! delivered (a refusal, or too many attempts); the organizer can make a parked row due again.
//! Nothing here does I/O: the sender decides each row's next state with [`after_failure`],
//! given the time and a random draw.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a mail tells the buyer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MailKind {
    /// The order is confirmed (written with the order).
    OrderConfirmed,
    /// The order was cancelled (written with the cancel).
    OrderCancelled,
}

impl MailKind {
    /// The word stored in the database and shown in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::OrderConfirmed => "order_confirmed",
            MailKind::OrderCancelled => "order_cancelled",
        }
    }

    /// Parses the stored word.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "order_confirmed" => Some(MailKind::OrderConfirmed),
            "order_cancelled" => Some(MailKind::OrderCancelled),
            _ => None,
        }
    }
}

/// Where a mail stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MailState {
    /// Waiting for its (next) attempt.
    Pending,
    /// Accepted by the mail server (or written as a file).
    Sent,
    /// Not deliverable as things stand: kept, with the last error, until the organizer
    /// retries it.
    Parked,
}

impl MailState {
    /// The word stored in the database, shown in the API and taken in `?state=`.
    pub fn as_str(self) -> &'static str {
        match self {
            MailState::Pending => "pending",
            MailState::Sent => "sent",
            MailState::Parked => "parked",
        }
    }

    /// Parses the stored (or asked for) word.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pending" => Some(MailState::Pending),
            "sent" => Some(MailState::Sent),
            "parked" => Some(MailState::Parked),
            _ => None,
        }
    }
}

/// One row of the outbox: one mail about one order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    /// Also the mail's `Message-ID`, so a retried delivery is the same message.
    pub id: Uuid,
    pub event_id: Uuid,
    pub order_id: Uuid,
    pub kind: MailKind,
    /// The buyer's address as typed at checkout (checked again when the mail is built).
    pub recipient: String,
    pub state: MailState,
    /// Attempts made so far (since the organizer last retried it).
    pub attempts: u32,
    /// Why the last attempt failed, as the mail server or the sender said it.
    pub last_error: Option<String>,
    /// When a pending row is due.
    pub next_attempt_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// What an attempt's failure says about the next one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Worth trying again: no connection, a timeout, a `4xx` reply.
    Transient,
    /// Trying again changes nothing: a `5xx` reply, an address that is no address.
    Permanent,
}

/// What becomes of a row after an attempt (one `UPDATE` each).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MailOutcome {
    Sent { at: DateTime<Utc> },
    Retry { error: String, at: DateTime<Utc> },
    Parked { error: String },
}

/// Exponential backoff between attempts, capped, with jitter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first failure (doubling after each further one).
    pub base: Duration,
    /// The longest wait.
    pub cap: Duration,
}

impl Backoff {
    /// The wait after the `attempts`-th failed attempt (1 for the first), given a random
    /// `draw` in `[0, 1)`: half the exponential delay for sure, the other half at random
    /// ("equal jitter"), so rows that failed together (a mail server outage) spread out when
    /// it comes back, yet none is retried sooner than half its step.
    pub fn delay(&self, attempts: u32, draw: f64) -> Duration {
        let doublings = attempts.saturating_sub(1).min(31);
        let step = self
            .base
            .saturating_mul(1u32 << doublings)
            .min(self.cap)
            .max(Duration::from_millis(1));
        let half = step / 2;
        half + half.mul_f64(draw.clamp(0.0, 1.0))
    }
}

/// The outcome of a failed attempt on a row that had `attempts` before it: retried after the
/// backoff while the failure is transient and attempts remain (at most `max_attempts` in
/// all), else parked with the error.
pub fn after_failure(
    attempts: u32,
    failure: Failure,
    error: String,
    max_attempts: u32,
    backoff: Backoff,
    now: DateTime<Utc>,
    draw: f64,
) -> MailOutcome {
    let made = attempts.saturating_add(1);
    if failure == Failure::Permanent || made >= max_attempts {
        return MailOutcome::Parked { error };
    }
    let wait =
        chrono::Duration::from_std(backoff.delay(made, draw)).unwrap_or(chrono::Duration::MAX);
    MailOutcome::Retry {
        error,
        at: now.checked_add_signed(wait).unwrap_or(now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BACKOFF: Backoff = Backoff {
        base: Duration::from_secs(30),
        cap: Duration::from_secs(3600),
    };

    #[test]
    fn backoff_doubles_up_to_the_cap_with_half_of_it_jittered() {
        assert_eq!(BACKOFF.delay(1, 0.0), Duration::from_secs(15));
        assert_eq!(BACKOFF.delay(1, 0.999_999).as_secs(), 29);
        assert_eq!(BACKOFF.delay(2, 0.0), Duration::from_secs(30));
        assert_eq!(BACKOFF.delay(3, 0.5), Duration::from_secs(90));
        assert_eq!(BACKOFF.delay(9, 0.0), Duration::from_secs(1800));
        assert_eq!(BACKOFF.delay(40, 1.0), Duration::from_secs(3600));
        assert_eq!(BACKOFF.delay(u32::MAX, 0.0), Duration::from_secs(1800));
    }

    #[test]
    fn transient_failures_retry_until_the_last_attempt_then_park() {
        let now = Utc::now();
        let retry = after_failure(0, Failure::Transient, "451".into(), 8, BACKOFF, now, 0.0);
        assert_eq!(
            retry,
            MailOutcome::Retry {
                error: "451".into(),
                at: now + chrono::Duration::seconds(15)
            }
        );
        let last = after_failure(7, Failure::Transient, "451".into(), 8, BACKOFF, now, 0.0);
        assert_eq!(
            last,
            MailOutcome::Parked {
                error: "451".into()
            }
        );
    }

    #[test]
    fn a_permanent_failure_parks_at_once() {
        let parked = after_failure(
            0,
            Failure::Permanent,
            "550 no such user".into(),
            8,
            BACKOFF,
            Utc::now(),
            0.5,
        );
        assert!(matches!(parked, MailOutcome::Parked { .. }));
    }

    #[test]
    fn stored_words_round_trip() {
        for kind in [MailKind::OrderConfirmed, MailKind::OrderCancelled] {
            assert_eq!(MailKind::parse(kind.as_str()), Some(kind));
        }
        for state in [MailState::Pending, MailState::Sent, MailState::Parked] {
            assert_eq!(MailState::parse(state.as_str()), Some(state));
        }
        assert_eq!(MailState::parse("PARKED"), None);
    }
}
