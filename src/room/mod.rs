//! The virtual waiting room: a fair line in front of the shop.
//!
//! The room's logic ([`line::Room`], [`pacing`]) is written once over [`LineStore`], a small
//! trait of atomic operations on one event's line; Redis backs it in production (so every node
//! sees one line, and a Lua script makes each operation atomic) and an in-process store backs
//! it when no Redis is configured (one node, `cargo run`).
//!
//! Fans are numbered by join order (`seq`). Admission follows an *index*: for fans who joined
//! after the sale opened the index is their seq; fans of the pre-queue get their rank in the
//! published draw (`pacing::prequeue_ranks`), all below the first post-opening seq. The
//! serving counter is an index: every fan whose index is at or below it has had their turn.

pub mod line;
pub mod memory_store;
pub mod pacing;
pub mod redis_store;
pub mod token;

use async_trait::async_trait;
use uuid::Uuid;

pub use crate::domain::line::{Marks, Opening};

/// What went wrong talking to the line store.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    /// Redis cannot be reached or timed out: the caller answers 503 with Retry-After.
    #[error("line store unavailable: {0}")]
    Unavailable(String),
}

/// One event's line as every node sees it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LineState {
    /// Highest join number handed out.
    pub last_seq: u64,
    /// Join numbers may be handed out up to here (reserved in the database); 0 after a wipe.
    pub ceiling: u64,
    /// Every fan with an index at or below this has had their turn.
    pub serving: u64,
    /// Time of the last pacer tick, ms (the compare-and-set token of `advance`).
    pub last_tick_ms: i64,
    /// Fractional admissions carried between ticks.
    pub credit: f64,
    pub admitted_total: u64,
    pub skipped_total: u64,
    /// Smoothed measured admissions per minute.
    pub rate_per_minute: f64,
    /// Shoppers who have fetched their admission, which has not run out, and who have not
    /// finished.
    pub active: u64,
    /// Admissions granted whose fans have not fetched them yet.
    pub pending: u64,
    /// Slow-down factor some node asked for (1.0: none).
    pub throttle: f64,
    pub opening: Option<Opening>,
    /// Waiting fans seen since the liveness cut-off the state was read with.
    pub seen_recently: u64,
    /// Waiting fans who left the line (after opening), not yet walked past.
    pub left_waiting: u64,
    /// Fans who left the pre-queue before the line opened.
    pub left_before_opening: u64,
    /// Fans who left the line in all.
    pub left_total: u64,
}

impl LineState {
    /// The fans really waiting: before opening everyone in the pre-queue who did not leave;
    /// just after opening (while the pre-queue's first sightings come in) everyone behind the
    /// serving counter who did not leave; after that only fans seen polling within the
    /// liveness grace (a fan who stopped polling is a no-show the pacer will skip).
    pub fn waiting(&self, now_ms: i64, grace_ms: i64) -> u64 {
        let behind = self.last_seq.saturating_sub(self.serving);
        match &self.opening {
            None => self.last_seq.saturating_sub(self.left_before_opening),
            Some(o) if now_ms < o.opened_at_ms + grace_ms => {
                behind.saturating_sub(self.left_waiting)
            }
            Some(_) => self.seen_recently.min(behind),
        }
    }
}

/// Who leaves the line: before opening a fan is known by join number only (the draw places
/// them at opening), after opening by admission index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leaving {
    Seq(u64),
    Index(u64),
}

/// What a leave did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Left {
    /// The fan is out of the line (or gave their admission back).
    Left,
    /// Nothing to leave: their turn came and went.
    Nothing,
    /// The line opened meanwhile: ask again by index.
    Opened,
}

/// Result of a join.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Joined {
    /// A new join number; `pre_queue` when the sale had not opened yet.
    Seq { seq: u64, pre_queue: bool },
    /// The reserved block of join numbers is used up (or was lost): reserve more, then retry.
    NeedsReservation,
}

/// One pacer tick, computed by a node from the state it read.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Advance {
    /// The `last_tick_ms` the node read: the tick applies only if it is still current.
    pub expected_tick_ms: i64,
    pub now_ms: i64,
    /// Fans to admit.
    pub admit: u64,
    /// Credit to carry.
    pub credit: f64,
    /// A waiting fan last seen before this is a no-show and is skipped.
    pub alive_after_ms: i64,
    /// Indexes at or below this are never skipped (the pre-queue, just after opening).
    pub protect_through: u64,
    /// When the admissions granted now run out, ms.
    pub admitted_until_ms: i64,
    /// An admission granted now and not fetched by then is a no-show's, ms: it is taken back
    /// (the fan is skipped) and frees its place.
    pub fetch_by_ms: i64,
    /// Weight of this tick in the smoothed rate.
    pub smoothing: f64,
    /// Most places one tick may walk past (admitted plus skipped).
    pub max_walk: u64,
}

/// What a tick did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Advanced {
    /// False when another node ticked first (nothing was changed).
    pub ticked: bool,
    pub admitted: u64,
    pub skipped: u64,
    pub serving: u64,
}

/// What the line knows of one index at or below the serving counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Turn {
    /// Admitted; the admission runs until this time, ms.
    Admitted { until_ms: i64 },
    /// Skipped as a no-show.
    Skipped,
    /// No record (lost with a Redis wipe).
    Unknown,
}

/// Who holds an event's ownership lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lease {
    /// The caller took it just now (it was free).
    Taken,
    /// Someone holds it: their holder string (the caller's own, if it is still theirs).
    Held(String),
}

/// The shared state of every event's line.
#[async_trait]
pub trait LineStore: Send + Sync + 'static {
    /// Checks the store answers (for `/readyz`).
    async fn ping(&self) -> Result<(), LineError>;
    /// Hands out the next join number, atomically across nodes, within the reserved block; a
    /// fan joining after opening counts as seen at `now_ms` (so no pacer skips them before
    /// their first poll's sighting is flushed).
    async fn join(&self, event: Uuid, now_ms: i64) -> Result<Joined, LineError>;
    /// Reads the line (dropping admissions that ran out by `now_ms`), counting the waiting
    /// fans seen at or after `alive_after_ms`.
    async fn state(
        &self,
        event: Uuid,
        now_ms: i64,
        alive_after_ms: i64,
    ) -> Result<LineState, LineError>;
    /// Opens the line once: the pre-queue is everyone who joined so far. Returns the opening
    /// that stands (an earlier node's, if it opened first).
    async fn open(&self, event: Uuid, seed: &str, now_ms: i64) -> Result<Opening, LineError>;
    /// Applies one tick if no other tick came in between.
    async fn advance(&self, event: Uuid, tick: &Advance) -> Result<Advanced, LineError>;
    /// Records that waiting fans were seen (index, ms), in one batch.
    async fn touch(&self, seen: &[(Uuid, u64, i64)]) -> Result<(), LineError>;
    /// What became of an index whose turn came. An admission fetched for the first time
    /// counts as an active shopper from now on (until then it was only pending).
    async fn turn(&self, event: Uuid, index: u64) -> Result<Turn, LineError>;
    /// An admitted shopper finished (ordered or released): they no longer count as active.
    async fn finished(&self, event: Uuid, index: u64) -> Result<(), LineError>;
    /// A fan leaves the line: a waiting fan is skipped when their turn comes (and no longer
    /// counts as waiting); an admitted one gives their admission back.
    async fn leave(&self, event: Uuid, who: Leaving) -> Result<Left, LineError>;
    /// Takes the join numbers of the fans who left before the line opened (once: the room
    /// turns them into indexes by the draw).
    async fn take_left_before_opening(&self, event: Uuid) -> Result<Vec<u64>, LineError>;
    /// Marks the fans who left before opening as left at the indexes the draw gave them (in
    /// one step; they were counted when they left).
    async fn place_left(&self, event: Uuid, indexes: &[u64]) -> Result<(), LineError>;
    /// Asks every node's pacer to slow to `factor` until `until_ms`.
    async fn throttle(&self, event: Uuid, factor: f64, until_ms: i64) -> Result<(), LineError>;
    /// Raises the line's counters to at least these marks (after a reservation or a wipe).
    async fn restore(&self, event: Uuid, marks: &Marks) -> Result<(), LineError>;
    /// Claims a one-time id (a proof-of-work challenge) from `now_ms` until `expires_ms`: true
    /// the first time, on any node, false ever after while it lasts.
    async fn claim_once(
        &self,
        event: Uuid,
        id: &str,
        now_ms: i64,
        expires_ms: i64,
    ) -> Result<bool, LineError>;
    /// Gives a claimed id back (the join it paid for failed, so nothing was bought).
    async fn release_once(&self, event: Uuid, id: &str) -> Result<(), LineError>;

    /// Takes an event's ownership lease for `holder` for `ttl_ms` if it is free; else tells
    /// who holds it. Only for line stores several nodes share.
    async fn lease(&self, event: Uuid, holder: &str, ttl_ms: u64) -> Result<Lease, LineError>;
    /// Extends the lease by `ttl_ms` if `holder` still holds it; `false` when it does not.
    async fn renew(&self, event: Uuid, holder: &str, ttl_ms: u64) -> Result<bool, LineError>;
    /// Gives the lease up if `holder` holds it, with what it published (a node shutting down
    /// hands over at once, and nobody reads its last counts as current).
    async fn give_up(&self, event: Uuid, holder: &str) -> Result<(), LineError>;
    /// Publishes what the event's owner knows (counts, rules) for every node to read, for
    /// `ttl_ms`.
    async fn publish(&self, event: Uuid, published: &str, ttl_ms: u64) -> Result<(), LineError>;
    /// What the owners of these events last published (`None` where nothing is, or it
    /// expired), in the order asked.
    async fn published(&self, events: &[Uuid]) -> Result<Vec<Option<String>>, LineError>;
}
