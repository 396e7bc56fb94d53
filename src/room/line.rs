//! The room: joining, a fan's status, and the pacer tick, over a [`LineStore`].
//!
//! A status poll costs no store round trip while the fan waits: each node keeps every event's
//! line state for at most `snapshot_max_age` (the pacer refreshes it on every tick), and the
//! fan's "still here" is buffered and written in one batch per tick. Only a fan whose turn has
//! come costs one lookup (was I admitted, or skipped as a no-show?).
//!
//! Join numbers are reserved in the database in blocks before the line store may hand them
//! out, and the serving counter and the opening draw are saved as they change, so a line store
//! that loses its data (a Redis wipe, a restart of the in-process store) resumes above every
//! number it ever issued.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use rand::RngCore;
use serde::Serialize;
use uuid::Uuid;

use super::pacing::{self, eta_secs, prequeue_ranks};

/// Spread of the poll intervals the room tells fans (a share, ±), so pages opened together do
/// not poll together.
const POLL_JITTER: f64 = 0.2;

/// Milliseconds until a fan `position` places from the front is admitted, at
/// `rate_per_minute`.
fn eta_ms(position: u64, rate_per_minute: f64) -> u64 {
    if rate_per_minute <= 0.0 {
        return 0;
    }
    (position as f64 * 60_000.0 / rate_per_minute).ceil() as u64
}
use super::token::{Claims, TokenKind, TokenSigner};
use super::{
    Advance, Joined, Leaving, Left, LineError, LineState, LineStore, Marks, Opening, Turn,
};
use crate::clock::Clock;
use crate::domain::inventory::SaleState;
use crate::store::{OrderStore, StoreError};

/// How long a queue ticket stays valid: long enough to outlast any line.
pub const TICKET_TTL_HOURS: i64 = 48;
/// Most places one tick may walk past (admitted plus skipped), to bound a script's run time.
pub const MAX_WALK_PER_TICK: u64 = 5_000;
/// How often an empty line's durable marks are looked up (to tell new from wiped).
const RESTORE_CHECK_INTERVAL: Duration = Duration::from_secs(2);
/// Bytes of a pre-queue draw seed.
const SEED_BYTES: usize = 32;

/// Knobs of the room.
#[derive(Clone, Copy, Debug)]
pub struct RoomSettings {
    /// How often the pacer ticks.
    pub tick: Duration,
    /// Oldest line state a status poll may answer from.
    pub snapshot_max_age: Duration,
    /// A waiting fan not seen for this long is skipped when their turn comes.
    pub liveness_grace: Duration,
    /// Join numbers reserved in the database at a time.
    pub seq_block: u64,
    /// Most fans waiting in one event's line; joins beyond it get 503.
    pub line_limit: u64,
    /// An admission its fan has not fetched within this is taken back (a no-show).
    pub fetch_grace: Duration,
}

/// What the room needs to know of an event, from its spec and the shop.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rules {
    pub rate_per_minute: u32,
    pub max_active: u32,
    pub admission_ttl_secs: u32,
    pub sale: SaleState,
    pub opens_at: Option<DateTime<Utc>>,
    /// 1.0 normally; lower while the shop reports saturation.
    pub shop_throttle: f64,
    /// Leading zero bits a join's proof of work needs (0: none).
    pub pow_bits: u8,
}

impl Rules {
    /// Whether the sale is open (on sale, or sold out for now).
    pub fn sale_open(&self) -> bool {
        matches!(self.sale, SaleState::OnSale | SaleState::SoldOut)
    }
}

/// Where a fan stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FanState {
    PreQueue,
    Waiting,
    Admitted,
    Expired,
}

impl FanState {
    /// The state's name, as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            FanState::PreQueue => "pre_queue",
            FanState::Waiting => "waiting",
            FanState::Admitted => "admitted",
            FanState::Expired => "expired",
        }
    }
}

impl std::fmt::Display for FanState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A fan's status, as `GET …/queue` shows it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Status {
    pub ticket: String,
    pub state: FanState,
    /// The fan's join number (their place in join order; the draw reorders the pre-queue).
    pub join_number: u64,
    pub position: u64,
    pub ahead: u64,
    pub eta_secs: u64,
    /// The event's sale state (the line holds while `paused`).
    pub sale_state: SaleState,
    /// When to ask again, ms: when the fan will be near the front (jittered, never past the
    /// soonest their turn may come); `0` near the front or the opening, where a long poll
    /// (`?wait=N`) hears the change at once.
    pub poll_after_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admission: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admission_expires_at: Option<DateTime<Utc>>,
    /// When the pacer admitted the fan (so a client can tell how late it heard).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admitted_at: Option<DateTime<Utc>>,
}

/// Numbers of one event's line for the organizer.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct LineStats {
    /// Fans really waiting (see [`LineState::waiting`]).
    pub waiting: u64,
    /// Fans who left the line themselves.
    pub left_total: u64,
    pub admitted_total: u64,
    pub skipped_total: u64,
    pub active_shoppers: u64,
    /// Admissions granted whose fans have not fetched them yet.
    pub admissions_unfetched: u64,
    pub admission_rate_per_minute: f64,
    pub serving: u64,
    pub last_seq: u64,
}

/// Why a join or status failed.
#[derive(Debug, thiserror::Error)]
pub enum RoomError {
    #[error(transparent)]
    Line(#[from] LineError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The line is at its limit.
    #[error("the line is full")]
    Full,
}

/// An opening and the ranks its draw gives (`rank[seq - 1]`).
type Draw = (Opening, Arc<Vec<u32>>);

#[derive(Clone)]
struct Cached {
    state: Arc<LineState>,
    at: DateTime<Utc>,
}

/// The waiting room of every event.
pub struct Room {
    line: Arc<dyn LineStore>,
    store: Arc<dyn OrderStore>,
    signer: TokenSigner,
    clock: Arc<dyn Clock>,
    settings: RoomSettings,
    lines: Mutex<HashMap<Uuid, Cached>>,
    /// Each event's rules, and when they were set (they are trusted for `snapshot_max_age`).
    rules: Mutex<HashMap<Uuid, (Rules, std::time::Instant)>>,
    ranks: Mutex<HashMap<Uuid, Draw>>,
    /// Waiting fans seen since the last flush: (event, index) → ms.
    seen: Mutex<HashMap<(Uuid, u64), i64>>,
    reservations: Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>,
    /// When each empty line's marks were last looked up.
    restore_checked: Mutex<HashMap<Uuid, DateTime<Utc>>>,
    /// Wakes the fans waiting on a long poll for an event: bumped whenever this node sees the
    /// event's line or rules change.
    changes: Mutex<HashMap<Uuid, tokio::sync::watch::Sender<u64>>>,
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_ms(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

impl Room {
    /// A room over a line store, keeping its durable marks in `store`.
    pub fn new(
        line: Arc<dyn LineStore>,
        store: Arc<dyn OrderStore>,
        signer: TokenSigner,
        clock: Arc<dyn Clock>,
        settings: RoomSettings,
    ) -> Self {
        Room {
            line,
            store,
            signer,
            clock,
            settings,
            lines: Mutex::default(),
            rules: Mutex::default(),
            ranks: Mutex::default(),
            seen: Mutex::default(),
            reservations: Mutex::default(),
            restore_checked: Mutex::default(),
            changes: Mutex::default(),
        }
    }

    /// Changes of an event's line as this node sees them (a long poll waits on it).
    pub fn watch(&self, event: Uuid) -> tokio::sync::watch::Receiver<u64> {
        self.changes
            .lock()
            .entry(event)
            .or_insert_with(|| tokio::sync::watch::channel(0).0)
            .subscribe()
    }

    /// The events somebody on this node waits on, for the node to keep their lines fresh.
    pub fn watched(&self) -> Vec<Uuid> {
        let mut changes = self.changes.lock();
        changes.retain(|_, sender| sender.receiver_count() > 0);
        changes.keys().copied().collect()
    }

    /// Wakes the fans waiting on an event's line, to look at it again.
    fn changed(&self, event: Uuid) {
        if let Some(sender) = self.changes.lock().get(&event) {
            sender.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// Reads an event's line from the line store now, and wakes its waiting fans if it moved.
    pub async fn refresh_now(&self, event: Uuid) -> Result<(), LineError> {
        self.refresh(event, self.clock.now()).await.map(|_| ())
    }

    /// Whether an empty line's durable marks are due for a look (and notes the look).
    fn restore_check_due(&self, event: Uuid, now: DateTime<Utc>) -> bool {
        let every = chrono::Duration::from_std(RESTORE_CHECK_INTERVAL).unwrap_or_default();
        let mut checked = self.restore_checked.lock();
        match checked.get(&event) {
            Some(at) if now - *at < every => false,
            _ => {
                checked.insert(event, now);
                true
            }
        }
    }

    fn reservation_lock(&self, event: Uuid) -> Arc<tokio::sync::Mutex<()>> {
        self.reservations.lock().entry(event).or_default().clone()
    }

    fn grace_ms(&self) -> i64 {
        self.settings.liveness_grace.as_millis() as i64
    }

    /// How long a waiting fan counts as present after their last poll.
    pub fn liveness_grace(&self) -> Duration {
        self.settings.liveness_grace
    }

    /// Oldest line state (and rules) a node answers from.
    pub fn snapshot_max_age(&self) -> Duration {
        self.settings.snapshot_max_age
    }

    /// The line store (for readiness checks).
    pub fn store(&self) -> &Arc<dyn LineStore> {
        &self.line
    }

    /// The rules last set for an event on this node, while fresh.
    pub fn rules(&self, event: Uuid) -> Option<Rules> {
        self.rules
            .lock()
            .get(&event)
            .filter(|(_, at)| at.elapsed() <= self.settings.snapshot_max_age)
            .map(|(rules, _)| *rules)
    }

    /// Sets an event's rules (from its spec and the shop's state); a change of the sale's
    /// state wakes the event's waiting fans.
    pub fn set_rules(&self, event: Uuid, rules: Rules) {
        let before = self
            .rules
            .lock()
            .insert(event, (rules, std::time::Instant::now()));
        if before.is_some_and(|(b, _)| b.sale != rules.sale) {
            self.changed(event);
        }
    }

    /// The line state, from this node's snapshot when it is fresh enough.
    async fn line_state(&self, event: Uuid) -> Result<Arc<LineState>, LineError> {
        let now = self.clock.now();
        let max_age =
            chrono::Duration::from_std(self.settings.snapshot_max_age).unwrap_or_default();
        if let Some(cached) = self.lines.lock().get(&event) {
            if now - cached.at <= max_age {
                return Ok(cached.state.clone());
            }
        }
        self.refresh(event, now).await
    }

    async fn refresh(&self, event: Uuid, now: DateTime<Utc>) -> Result<Arc<LineState>, LineError> {
        let state = Arc::new(
            self.line
                .state(event, ms(now), ms(now) - self.grace_ms())
                .await?,
        );
        let before = self.lines.lock().insert(
            event,
            Cached {
                state: state.clone(),
                at: now,
            },
        );
        let moved = before
            .is_none_or(|b| b.state.serving != state.serving || b.state.opening != state.opening);
        if moved {
            self.changed(event);
        }
        Ok(state)
    }

    /// Joins the line: a new place and ticket, or the caller's own when `current` holds the
    /// claims of their ticket, already verified for this event (`Room::ticket`). Returns the
    /// ticket's claims and whether the place is new.
    pub async fn join(
        &self,
        event: Uuid,
        current: Option<Claims>,
        rules: &Rules,
    ) -> Result<(Claims, bool), RoomError> {
        let now = self.clock.now();
        if let Some(claims) = current {
            return Ok((claims, false));
        }
        let mut state = self.line_state(event).await?;
        if state.opening.is_none() && rules.sale_open() {
            // The sale is open: the pre-queue closes now, before this fan takes a number, so
            // everyone joining from here on keeps join order.
            self.open(event).await?;
            state = self.refresh(event, now).await?;
        }
        if state.last_seq.saturating_sub(state.serving) >= self.settings.line_limit {
            return Err(RoomError::Full);
        }
        let mut attempts = 0;
        let seq = loop {
            match self.line.join(event, ms(now)).await? {
                Joined::Seq { seq, .. } => break seq,
                Joined::NeedsReservation if attempts < 3 => {
                    attempts += 1;
                    // One reservation at a time per event on this node; whoever waited tries
                    // the line again first (the block may be there by now).
                    let guard = self.reservation_lock(event);
                    let _held = guard.lock().await;
                    if let Joined::Seq { seq, .. } = self.line.join(event, ms(now)).await? {
                        break seq;
                    }
                    self.reserve(event).await?;
                }
                Joined::NeedsReservation => {
                    return Err(RoomError::Line(LineError::Unavailable(
                        "could not reserve join numbers".into(),
                    )))
                }
            }
        };
        let mut session = [0u8; 16];
        rand::rng().fill_bytes(&mut session);
        let claims = Claims {
            kind: TokenKind::Queue,
            event,
            session: hex::encode(session),
            seq,
            issued_at: now.timestamp(),
            expires_at: (now + chrono::Duration::hours(TICKET_TTL_HOURS)).timestamp(),
        };
        Ok((claims, true))
    }

    /// Reserves a block of join numbers in the database and raises the line to it; restores
    /// the serving counter and the opening draw if the line lost them.
    async fn reserve(&self, event: Uuid) -> Result<(), RoomError> {
        let (floor, ceiling) = self
            .store
            .reserve_seqs(event, self.settings.seq_block)
            .await?;
        let marks = self.store.line_marks(event).await?;
        self.line
            .restore(
                event,
                &Marks {
                    // Before the first block reached the line store nothing was handed out: a
                    // missing ceiling then means "not yet", not "lost" (another node's first
                    // reservation may still be on its way).
                    seq_floor: if marks.initialized { floor } else { 0 },
                    ceiling,
                    serving: marks.serving,
                    opening: marks.opening,
                    initialized: marks.initialized,
                },
            )
            .await?;
        if !marks.initialized {
            self.store.mark_line_initialized(event).await?;
        }
        Ok(())
    }

    /// Verifies a ticket of this event.
    pub fn ticket(&self, event: Uuid, token: &str) -> Option<Claims> {
        self.signer
            .verify(token, TokenKind::Queue, event, self.clock.now())
            .ok()
    }

    fn saw(&self, event: Uuid, index: u64, now: DateTime<Utc>) {
        self.seen.lock().insert((event, index), ms(now));
    }

    /// A fan's admission index: their rank in the draw if they joined before opening, else
    /// their join number.
    fn index(&self, event: Uuid, seq: u64, opening: &Opening) -> u64 {
        if seq > opening.prequeue_size {
            return seq;
        }
        let ranks = {
            let cache = self.ranks.lock();
            cache
                .get(&event)
                .filter(|(o, _)| o == opening)
                .map(|(_, r)| r.clone())
        };
        let ranks = ranks.unwrap_or_else(|| {
            let seed =
                hex::decode(&opening.seed).unwrap_or_else(|_| opening.seed.clone().into_bytes());
            let ranks = Arc::new(prequeue_ranks(&seed, opening.prequeue_size));
            self.ranks
                .lock()
                .insert(event, (opening.clone(), ranks.clone()));
            ranks
        });
        ranks
            .get((seq - 1) as usize)
            .map_or(seq, |&rank| u64::from(rank))
    }

    /// A fan's status; a fan whose turn came gets their admission token.
    /// `token` is the signed form of `ticket`, echoed back (polls never re-sign).
    pub async fn status(
        &self,
        ticket: &Claims,
        token: String,
        rules: &Rules,
    ) -> Result<Status, LineError> {
        let now = self.clock.now();
        let event = ticket.event;
        let line = self.line_state(event).await?;
        let rate = if line.rate_per_minute >= 1.0 {
            line.rate_per_minute
        } else {
            f64::from(rules.rate_per_minute)
        };
        let mut status = Status {
            ticket: token,
            state: FanState::Waiting,
            join_number: ticket.seq,
            position: 0,
            ahead: 0,
            eta_secs: 0,
            sale_state: rules.sale,
            poll_after_ms: 0,
            admission: None,
            admission_expires_at: None,
            admitted_at: None,
        };
        let jitter = rand::random_range(-POLL_JITTER..=POLL_JITTER);
        if rules.sale == SaleState::Closed {
            status.state = FanState::Expired;
            return Ok(status);
        }
        let Some(opening) = &line.opening else {
            // Before opening: provisional place by join order; the draw decides at opening.
            status.state = FanState::PreQueue;
            status.position = ticket.seq;
            status.ahead = ticket.seq - 1;
            let until_open_ms = rules
                .opens_at
                .map_or(0, |t| (t - now).num_milliseconds().max(0) as u64);
            status.eta_secs = until_open_ms / 1000 + eta_secs(ticket.seq, rate);
            status.poll_after_ms = pacing::poll_after_ms(until_open_ms, jitter);
            return Ok(status);
        };
        let index = self.index(event, ticket.seq, opening);
        if index > line.serving {
            self.saw(event, index, now);
            status.position = index - line.serving;
            status.ahead = status.position - 1;
            // Fans who left or stopped polling ahead are skipped, not served: the wait is
            // that of the share of the places ahead still taken (a snapshot older than the
            // fan's own join knows nothing of the line behind it: no share then).
            let behind = line.last_seq.saturating_sub(line.serving);
            let live = if index > line.last_seq || behind == 0 {
                1.0
            } else {
                line.waiting(ms(now), self.grace_ms()).min(behind) as f64 / behind as f64
            };
            let turns = ((status.position as f64 * live).ceil() as u64).max(1);
            status.eta_secs = eta_secs(turns, rate);
            // A paused line does not move: poll slowly (a resume wakes long polls anyway).
            // Otherwise poll by the soonest the turn may come: the line moves at most at the
            // organizer's rate (the measured one lags a speed-up), skipping no-shows aside.
            let fastest = rate.max(f64::from(rules.rate_per_minute));
            status.poll_after_ms = if rules.sale == SaleState::Paused {
                pacing::MAX_POLL_AFTER_MS
            } else {
                pacing::poll_after_ms(eta_ms(turns, fastest), jitter)
            };
            return Ok(status);
        }
        let until_ms = match self.line.turn(event, index).await? {
            Turn::Admitted { until_ms } => until_ms,
            Turn::Skipped => {
                status.state = FanState::Expired;
                return Ok(status);
            }
            // Admitted before the line lost its data: honour it from now.
            Turn::Unknown => ms(now) + i64::from(rules.admission_ttl_secs) * 1000,
        };
        if until_ms <= ms(now) {
            status.state = FanState::Expired;
            return Ok(status);
        }
        let admission = Claims {
            kind: TokenKind::Admission,
            seq: index,
            issued_at: now.timestamp(),
            expires_at: until_ms.div_euclid(1000),
            ..ticket.clone()
        };
        status.state = FanState::Admitted;
        status.admission = Some(self.signer.sign(&admission));
        status.admission_expires_at = Some(from_ms(until_ms));
        let admitted_ms = (until_ms - i64::from(rules.admission_ttl_secs) * 1000).min(ms(now));
        status.admitted_at = Some(from_ms(admitted_ms));
        Ok(status)
    }

    /// A fan leaves the line with their ticket: a waiting fan is skipped when their turn comes
    /// and stops counting as waiting at once; an admitted one gives the admission back. True
    /// when the fan was in the line (false: their turn came and went already).
    pub async fn leave(&self, ticket: &Claims) -> Result<bool, LineError> {
        let event = ticket.event;
        let mut line = self.refresh(event, self.clock.now()).await?;
        for _ in 0..2 {
            let who = match &line.opening {
                None => Leaving::Seq(ticket.seq),
                Some(opening) => Leaving::Index(self.index(event, ticket.seq, opening)),
            };
            match self.line.leave(event, who).await? {
                Left::Left => {
                    metrics::counter!("line_left_total").increment(1);
                    // This node's numbers show it at once.
                    self.refresh(event, self.clock.now()).await?;
                    return Ok(true);
                }
                Left::Nothing => return Ok(false),
                // Opened between the read and the leave: place the fan by the draw.
                Left::Opened => line = self.refresh(event, self.clock.now()).await?,
            }
        }
        Err(LineError::Unavailable(
            "the line kept changing; try again".into(),
        ))
    }

    /// An admitted shopper ordered or released: they stop counting as active.
    pub async fn finished(&self, event: Uuid, index: u64) -> Result<(), LineError> {
        self.line.finished(event, index).await
    }

    /// The line's numbers for the organizer.
    pub async fn stats(&self, event: Uuid) -> Result<LineStats, LineError> {
        let line = self.line_state(event).await?;
        Ok(LineStats {
            waiting: line.waiting(ms(self.clock.now()), self.grace_ms()),
            left_total: line.left_total,
            admitted_total: line.admitted_total,
            skipped_total: line.skipped_total,
            active_shoppers: line.active,
            admissions_unfetched: line.pending,
            admission_rate_per_minute: line.rate_per_minute,
            serving: line.serving,
            last_seq: line.last_seq,
        })
    }

    /// The opening draw, once the line opened (for the fairness endpoint).
    pub async fn opening(&self, event: Uuid) -> Result<Option<Opening>, RoomError> {
        if let Some(opening) = &self.line_state(event).await?.opening {
            return Ok(Some(opening.clone()));
        }
        Ok(self.store.line_marks(event).await?.opening)
    }

    /// Writes the buffered sightings of waiting fans in one batch.
    pub async fn flush_liveness(&self) -> Result<(), LineError> {
        let batch: Vec<(Uuid, u64, i64)> = {
            let mut seen = self.seen.lock();
            seen.drain().map(|((e, i), t)| (e, i, t)).collect()
        };
        self.line.touch(&batch).await
    }

    /// One pacer tick for an event: opens the line when the sale opens, admits the budget
    /// of fans, and saves the serving counter. Returns how many were admitted.
    pub async fn tick(&self, event: Uuid, rules: &Rules) -> Result<u64, RoomError> {
        let now = self.clock.now();
        let mut line = self.refresh(event, now).await?;
        // An empty line is either new or lost (Redis wiped): the database tells which. Asked
        // at most every RESTORE_CHECK_INTERVAL per event, not on every tick of an idle event.
        let marks_lost =
            line.ceiling == 0 && line.last_seq == 0 && self.restore_check_due(event, now);
        if marks_lost {
            let marks = self.store.line_marks(event).await?;
            if marks.initialized {
                // The line store lost this event (Redis wiped or restarted empty): restore.
                tracing::warn!(%event, "line state lost; restoring from the database");
                self.line.restore(event, &marks).await?;
                line = self.refresh(event, now).await?;
            }
        }
        // Sold out keeps the line moving: held places may come back when holds expire, and an
        // admitted fan learns at once (409) rather than waiting for nothing.
        let selling = rules.sale_open();
        if line.opening.is_none() && selling {
            self.open(event).await?;
            line = self.refresh(event, now).await?;
        }
        if !selling || line.serving >= line.last_seq {
            report(event, &line, line.waiting(ms(now), self.grace_ms()));
            return Ok(0);
        }
        let tick_ms = self.settings.tick.as_millis() as i64;
        let elapsed = if line.last_tick_ms == 0 {
            tick_ms
        } else {
            (ms(now) - line.last_tick_ms).max(0)
        } as u64;
        let budget = pacing::budget(
            rules.rate_per_minute,
            elapsed,
            line.credit,
            pacing::Shoppers {
                active: line.active,
                pending: line.pending,
            },
            rules.max_active,
            line.throttle.min(rules.shop_throttle),
        );
        let grace = self.grace_ms();
        let protect_through = match &line.opening {
            Some(o) if ms(now) < o.opened_at_ms + grace => o.prequeue_size,
            _ => 0,
        };
        let advanced = self
            .line
            .advance(
                event,
                &Advance {
                    expected_tick_ms: line.last_tick_ms,
                    now_ms: ms(now),
                    admit: budget.admit,
                    credit: budget.credit,
                    alive_after_ms: ms(now) - grace,
                    protect_through,
                    admitted_until_ms: ms(now) + i64::from(rules.admission_ttl_secs) * 1000,
                    fetch_by_ms: ms(now) + self.settings.fetch_grace.as_millis() as i64,
                    smoothing: pacing::smoothing(elapsed),
                    max_walk: MAX_WALK_PER_TICK,
                },
            )
            .await?;
        if let Some(cached) = self.lines.lock().get_mut(&event) {
            Arc::make_mut(&mut cached.state).serving = cached.state.serving.max(advanced.serving);
        }
        if advanced.serving > line.serving {
            self.changed(event);
        }
        tracing::debug!(%event, ?budget, ?advanced, "pacer tick");
        let mut after = (*line).clone();
        after.serving = advanced.serving.max(line.serving);
        report(event, &after, after.waiting(ms(now), grace));
        if advanced.ticked {
            metrics::counter!("line_admitted_total").increment(advanced.admitted);
            metrics::counter!("line_skipped_total").increment(advanced.skipped);
            if advanced.serving > line.serving {
                self.store.save_serving(event, advanced.serving).await?;
            }
        }
        Ok(advanced.admitted)
    }

    /// Opens the line: draws the pre-queue seed (the first node's draw stands) and keeps it.
    async fn open(&self, event: Uuid) -> Result<Opening, RoomError> {
        let mut seed = [0u8; SEED_BYTES];
        rand::rng().fill_bytes(&mut seed);
        let opening = self
            .line
            .open(event, &hex::encode(seed), ms(self.clock.now()))
            .await?;
        self.store.save_opening(event, &opening).await?;
        // Fans who left the pre-queue are placed by the draw now, and skipped when their turn
        // comes. (Should this node stop between the two steps, they count as no-shows.)
        let left: Vec<u64> = self
            .line
            .take_left_before_opening(event)
            .await?
            .into_iter()
            .map(|seq| self.index(event, seq, &opening))
            .collect();
        self.line.place_left(event, &left).await?;
        tracing::info!(%event, pre_queue = opening.prequeue_size, "line opened");
        Ok(opening)
    }

    /// Asks every node to slow this event's admissions while the shop is saturated.
    pub async fn throttle(
        &self,
        event: Uuid,
        factor: f64,
        for_how_long: Duration,
    ) -> Result<(), LineError> {
        let until = ms(self.clock.now()) + for_how_long.as_millis() as i64;
        self.line.throttle(event, factor, until).await
    }
}

/// Sets an event's line gauges (every tick, so they follow an idle or pre-queue line too).
fn report(event: Uuid, line: &LineState, waiting: u64) {
    let label = event.to_string();
    metrics::gauge!("line_waiting", "event" => label.clone()).set(waiting as f64);
    metrics::gauge!("line_serving", "event" => label.clone()).set(line.serving as f64);
    metrics::gauge!("line_last_seq", "event" => label.clone()).set(line.last_seq as f64);
    metrics::gauge!("line_active_shoppers", "event" => label.clone()).set(line.active as f64);
    metrics::gauge!("line_admissions_unfetched", "event" => label.clone()).set(line.pending as f64);
    metrics::gauge!("line_admission_rate_per_minute", "event" => label).set(line.rate_per_minute);
}
