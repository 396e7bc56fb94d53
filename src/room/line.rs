//! The room's logic over a [`LineStore`]: joining, a fan's status, admission.
//!
//! This first version hands out places and signed tickets for real, but admits every fan in
//! the line as soon as the sale is open: pacing (rate, `max_active`, no-show skipping) and the
//! pre-queue draw arrive with the waiting-room work, behind this same interface.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use serde::Serialize;
use uuid::Uuid;

use super::token::{Claims, TokenKind, TokenSigner};
use super::{LineError, LineStore};
use crate::clock::Clock;
use crate::domain::event::EventSpec;
use crate::domain::inventory::SaleState;

/// How long a queue ticket stays valid: long enough to outlast any line.
pub const TICKET_TTL_HOURS: i64 = 48;

/// Where a fan stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FanState {
    PreQueue,
    Waiting,
    Admitted,
    Expired,
}

/// A fan's status, as `GET …/queue` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    pub ticket: String,
    pub state: FanState,
    pub position: u64,
    pub ahead: u64,
    pub eta_secs: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admission: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admission_expires_at: Option<DateTime<Utc>>,
}

/// Numbers of one event's line for the organizer.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct LineStats {
    pub waiting: u64,
    pub admitted_total: u64,
    pub active_shoppers: u64,
    pub admission_rate_per_minute: f64,
}

/// The waiting room of every event.
pub struct Room {
    store: Arc<dyn LineStore>,
    signer: TokenSigner,
    clock: Arc<dyn Clock>,
}

impl Room {
    /// A room over a line store.
    pub fn new(store: Arc<dyn LineStore>, signer: TokenSigner, clock: Arc<dyn Clock>) -> Self {
        Room {
            store,
            signer,
            clock,
        }
    }

    /// The line store (for readiness checks).
    pub fn store(&self) -> &Arc<dyn LineStore> {
        &self.store
    }

    /// Joins the line: a new place and ticket, or the caller's own when `current` is a valid
    /// ticket of this event. Returns the ticket's claims and whether the place is new.
    pub async fn join(
        &self,
        event: Uuid,
        current: Option<&str>,
    ) -> Result<(Claims, bool), LineError> {
        let now = self.clock.now();
        if let Some(claims) =
            current.and_then(|t| self.signer.verify(t, TokenKind::Queue, event, now).ok())
        {
            return Ok((claims, false));
        }
        let seq = self.store.next_seq(event).await?;
        let mut session = [0u8; 16];
        rand::rng().fill_bytes(&mut session);
        let claims = Claims {
            kind: TokenKind::Queue,
            event,
            session: hex::encode(session),
            seq,
            issued_at: now.timestamp(),
            expires_at: (now + Duration::hours(TICKET_TTL_HOURS)).timestamp(),
        };
        Ok((claims, true))
    }

    /// Verifies a ticket of this event.
    pub fn ticket(&self, event: Uuid, token: &str) -> Option<Claims> {
        self.signer
            .verify(token, TokenKind::Queue, event, self.clock.now())
            .ok()
    }

    /// A fan's status; admitted fans get a fresh admission token.
    pub async fn status(
        &self,
        ticket: &Claims,
        spec: &EventSpec,
        sale: SaleState,
    ) -> Result<Status, LineError> {
        let now = self.clock.now();
        let state = match sale {
            SaleState::Scheduled => FanState::PreQueue,
            SaleState::Paused => FanState::Waiting,
            SaleState::Closed => FanState::Expired,
            SaleState::OnSale | SaleState::SoldOut => FanState::Admitted,
        };
        let mut status = Status {
            ticket: self.signer.sign(ticket),
            state,
            position: ticket.seq,
            ahead: 0,
            eta_secs: 0,
            admission: None,
            admission_expires_at: None,
        };
        if state == FanState::Admitted {
            let expires = now + Duration::seconds(i64::from(spec.admission.admission_ttl_secs));
            let admission = Claims {
                kind: TokenKind::Admission,
                expires_at: expires.timestamp(),
                issued_at: now.timestamp(),
                ..ticket.clone()
            };
            status.admission = Some(self.signer.sign(&admission));
            status.admission_expires_at = Some(admission.expires());
        }
        Ok(status)
    }

    /// The line's numbers for the organizer.
    pub async fn stats(&self, event: Uuid) -> Result<LineStats, LineError> {
        let issued = self.store.last_seq(event).await?;
        Ok(LineStats {
            waiting: 0,
            admitted_total: issued,
            active_shoppers: 0,
            admission_rate_per_minute: 0.0,
        })
    }
}
