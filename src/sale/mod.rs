//! The sale's operations: one file per thing a fan or an organizer can do, in the product's
//! words (`join`, `hold`, `order`, `pause`, …).
//!
//! Each operation takes typed input, returns a typed result or a [`SaleError`], and is the only
//! code that talks to the registry, the inventory actors, the line and the stores for what it
//! does. The web layer parses a request, calls one operation and maps the answer; the pages and
//! the JSON API call the same operations, so neither can do what the other could not.
//!
//! What is *not* here: who the caller is and how often they may call (the edge and the web
//! layer's extractors decide that before an operation runs), and how an answer is shown.

pub mod admit;
pub mod cancel;
pub mod create_event;
pub mod edit_event;
pub mod export;
pub mod facts;
pub mod hold;
pub mod join;
pub mod leave;
pub mod list_events;
pub mod notifications;
pub mod order;
pub mod owner;
pub mod pause;
pub mod refusals;
pub mod release;
pub mod resend_mail;
pub mod retry_mail;
pub mod stats;
pub mod status;

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use crate::clock::Clock;
use crate::inventory::registry::InventoryError;
use crate::inventory::{InventoryHandle, Registry};
use crate::room::line::{Room, RoomError, Rules};
use crate::room::token::{Claims, TokenKind, TokenSigner};
use crate::room::LineError;
use crate::store::{OrderStore, StoreError};
use refusals::Refusals;

pub use crate::domain::inventory::ShopError;

/// Seconds a client should wait before retrying when an actor or a queue is saturated.
pub const BUSY_RETRY_AFTER_SECS: u64 = 1;
/// Seconds a fan should wait before joining again when the line is full.
pub const LINE_FULL_RETRY_AFTER_SECS: u64 = 30;

/// Why an operation did not do what was asked. Each variant is one of the contract's answers;
/// the web layer maps them to statuses and codes in one place.
#[derive(Debug, thiserror::Error)]
pub enum SaleError {
    /// Well-formed but incomplete (a join without the proof of work the event asks).
    #[error("{0}")]
    BadRequest(String),
    /// Unknown event, hold or order.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Against a rule (over `max_per_order`, unknown seat, a key reused with another body).
    #[error("{0}")]
    Invalid(String),
    /// Some of the requested places are not free (their ids, or the tier's id).
    #[error("some of the requested places are no longer available")]
    Unavailable(Vec<String>),
    /// The sale is not open (scheduled, paused or closed).
    #[error("{0}")]
    SaleNotOpen(String),
    /// The hold's time ran out; its places are free again.
    #[error("the hold expired and its places were released")]
    HoldExpired,
    /// The caller holds no valid admission (or ticket) for this event.
    #[error("{0}")]
    NotAdmitted(String),
    /// A bounded queue or line is full: retry after the seconds given.
    #[error("{0}")]
    Busy(String, u64),
    /// The database or the line store cannot be reached; nothing was done.
    #[error("{0}")]
    Backend(String),
    /// A bug or corrupt state: logged, hidden from the client.
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for SaleError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(cause) => SaleError::Backend(cause),
            other => SaleError::Internal(other.to_string()),
        }
    }
}

impl From<LineError> for SaleError {
    fn from(e: LineError) -> Self {
        match e {
            LineError::Unavailable(cause) => SaleError::Backend(cause),
        }
    }
}

impl From<RoomError> for SaleError {
    fn from(e: RoomError) -> Self {
        match e {
            RoomError::Line(e) => e.into(),
            RoomError::Store(e) => e.into(),
            RoomError::Full => SaleError::Busy(
                "the line for this event is full; try again shortly".into(),
                LINE_FULL_RETRY_AFTER_SECS,
            ),
        }
    }
}

impl From<InventoryError> for SaleError {
    fn from(e: InventoryError) -> Self {
        match e {
            InventoryError::Busy => SaleError::Busy(
                "this event's shop is saturated; retry shortly".into(),
                BUSY_RETRY_AFTER_SECS,
            ),
            InventoryError::Stopped => SaleError::Busy(
                "this event's shop is restarting; retry shortly".into(),
                BUSY_RETRY_AFTER_SECS,
            ),
            InventoryError::UnknownEvent => SaleError::NotFound("event"),
            InventoryError::Store(e) => e.into(),
        }
    }
}

impl From<ShopError> for SaleError {
    fn from(e: ShopError) -> Self {
        match e {
            ShopError::Invalid(m) => SaleError::Invalid(m),
            ShopError::Unavailable(ids) => SaleError::Unavailable(ids),
            ShopError::SaleNotOpen(m) => SaleError::SaleNotOpen(m),
            ShopError::HoldNotFound => SaleError::NotFound("hold"),
            ShopError::OrderNotFound => SaleError::NotFound("order"),
            ShopError::HoldExpired => SaleError::HoldExpired,
        }
    }
}

/// Knobs of the operations themselves (the stores, room and registry carry their own).
#[derive(Clone, Copy, Debug)]
pub struct SaleSettings {
    /// How long a proof-of-work challenge stays good.
    pub pow_challenge_ttl: Duration,
    /// How often the pacer ticks.
    pub tick: Duration,
    /// What counts as a saturated shop (the pacer slows down).
    pub saturation: admit::Saturation,
    /// Most long polls parked at once on this node.
    pub long_poll_max: usize,
}

/// Everything the operations share: the stores, the room, this node's actors, the signer and
/// the clock. One per node.
pub struct Sale {
    pub(crate) store: Arc<dyn OrderStore>,
    pub(crate) room: Arc<Room>,
    pub(crate) registry: Arc<Registry>,
    pub(crate) signer: TokenSigner,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) refusals: Refusals,
    pub(crate) settings: SaleSettings,
    pub(crate) ownership: owner::Ownership,
    pub(crate) facts: facts::Facts,
    /// Long polls parked on this node now.
    pub(crate) parked: std::sync::atomic::AtomicUsize,
}

impl Sale {
    /// The operations over these parts.
    pub fn new(
        store: Arc<dyn OrderStore>,
        room: Arc<Room>,
        registry: Arc<Registry>,
        signer: TokenSigner,
        clock: Arc<dyn Clock>,
        settings: SaleSettings,
        ownership: owner::Mode,
    ) -> Self {
        Sale {
            store,
            room,
            registry,
            signer,
            clock,
            refusals: Refusals::default(),
            settings,
            ownership: owner::Ownership::new(ownership),
            facts: facts::Facts::default(),
            parked: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// The order store (tests and benchmarks reach the database through it).
    pub fn store(&self) -> &Arc<dyn OrderStore> {
        &self.store
    }

    /// The room (tests drive the line through it).
    pub fn room(&self) -> &Arc<Room> {
        &self.room
    }

    /// Inventory actors running or starting on this node.
    pub fn actors(&self) -> usize {
        self.registry.len()
    }

    /// Sets this node's sale gauges again (every few seconds, so they show before anything
    /// changes them): events owned here, long polls parked.
    pub fn report_gauges(&self) {
        metrics::gauge!("owned_events").set(self.registry.events().len() as f64);
        metrics::gauge!("long_polls_parked")
            .set(self.parked.load(std::sync::atomic::Ordering::Relaxed) as f64);
    }

    /// Stops every inventory actor on this node (the node is shutting down).
    pub fn stop_actors(&self) {
        self.registry.stop_all();
    }

    /// Counts a refused request of an event (per event only if the event exists).
    pub fn refused(&self, event: Uuid, why: refusals::Refused) {
        self.refusals
            .count(event, why, facts::is_known(self, event));
    }

    /// The refusals counted for an event on this node.
    pub fn refusals_of(&self, event: Uuid) -> refusals::Counts {
        self.refusals.get(event)
    }

    /// The node's signer (the console signs its session cookies with it).
    pub fn signer(&self) -> &TokenSigner {
        &self.signer
    }

    /// The clock every operation reads.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// Whether the database and the line store answer within `limit` (asked at once, so a dead
    /// backend costs one timeout, not two).
    pub async fn ready(&self, limit: Duration) -> Readiness {
        let (database, line) = tokio::join!(
            tokio::time::timeout(limit, self.store.ping()),
            tokio::time::timeout(limit, self.room.store().ping()),
        );
        Readiness {
            database: matches!(database, Ok(Ok(()))),
            line: matches!(line, Ok(Ok(()))),
        }
    }

    /// Verifies a queue ticket of this event (`None`: missing, forged, expired or another's).
    pub fn ticket(&self, event: Uuid, token: &str) -> Option<Claims> {
        self.room.ticket(event, token)
    }

    /// Verifies an admission for this event.
    pub fn admission(&self, event: Uuid, token: Option<&str>) -> Result<Claims, SaleError> {
        let token = token.ok_or_else(|| {
            SaleError::NotAdmitted(
                "an admission for this event is required: join the line first".into(),
            )
        })?;
        self.signer
            .verify(token, TokenKind::Admission, event, self.clock.now())
            .map_err(|e| SaleError::NotAdmitted(format!("admission refused: {e}")))
    }

    /// Checks that an event exists (404 otherwise), from this node's memory when it can.
    pub async fn known_event(&self, event: Uuid) -> Result<(), SaleError> {
        facts::exists(self, event).await
    }

    /// The event's line rules: this node's if fresh (the owner sets them each tick), else
    /// from the owner's actor here, or what the owner publishes. With no owner anywhere the
    /// event's line would not move: this node takes the event over. Unknown events are 404.
    pub(crate) async fn rules(&self, event: Uuid) -> Result<Rules, SaleError> {
        if let Some(rules) = self.room.rules(event) {
            return Ok(rules);
        }
        if let Some(rules) = self.owner_rules(event).await {
            return Ok(rules);
        }
        if let Some(published) = facts::published(self, &[event]).await?.remove(0) {
            let rules = published.rules();
            self.room.set_rules(event, rules);
            return Ok(rules);
        }
        let record = facts::record(self, event).await?;
        if let owner::Location::Here = owner::locate(self, event).await? {
            if let Some(rules) = self.owner_rules(event).await {
                return Ok(rules);
            }
        }
        // The owner took the event a moment ago and has not published yet: the stored event
        // and its sold count say enough.
        let counts = facts::counts(self, &record, None).await?;
        let spec = &record.spec;
        let rules = Rules {
            rate_per_minute: spec.admission.rate_per_minute,
            max_active: spec.admission.max_active,
            admission_ttl_secs: spec.admission.admission_ttl_secs,
            sale: counts.state(&record, self.clock.now()),
            opens_at: spec.sale_opens_at,
            shop_throttle: 1.0,
            pow_bits: spec.pow_difficulty_bits,
        };
        self.room.set_rules(event, rules);
        Ok(rules)
    }

    /// Refreshes what this node knows of an event its fans wait on (a long poll): the line
    /// from the line store, the rules from the owner (here, or as published). Wakes the
    /// waiting fans when either changed.
    pub(crate) async fn refresh_watched(&self, event: Uuid) {
        if let Err(e) = self.room.refresh_now(event).await {
            tracing::warn!(%event, error = %e, "refreshing a watched line failed");
        }
        if self.owner_rules(event).await.is_none() {
            if let Ok(Some(published)) = facts::published(self, &[event])
                .await
                .map(|mut p| p.remove(0))
            {
                self.room.set_rules(event, published.rules());
            }
        }
    }

    /// The rules from this node's actor, if it owns the event.
    async fn owner_rules(&self, event: Uuid) -> Option<Rules> {
        let actor = owner::owned_actor(self, event)?;
        let snap = actor.ask(crate::inventory::actor::GetSnapshot).await.ok()?;
        let rules = admit::rules_of(&snap, 1.0);
        self.room.set_rules(event, rules);
        Some(rules)
    }

    /// The event's actor, for an operation on its inventory: this node's if it owns the
    /// event (taking the event over when nobody owns it), `503` when another node does.
    pub(crate) async fn actor(&self, event: Uuid) -> Result<InventoryHandle, SaleError> {
        owner::actor(self, event).await
    }
}

/// Which backends answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Readiness {
    pub database: bool,
    pub line: bool,
}
