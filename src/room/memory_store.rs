//! The in-process line store: the embedded default when no Redis is configured.
//!
//! It keeps what Redis would keep, behind one mutex, and does each operation the way the
//! Redis scripts do, so the room behaves the same on both. It serves one node only, which is
//! all `cargo run` needs; its join numbers survive a restart through the reservations the
//! room keeps in the database.

use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap, HashSet};

use async_trait::async_trait;
use uuid::Uuid;

use super::{
    Advance, Advanced, Joined, Lease, Leaving, Left, LineError, LineState, LineStore, Marks,
    Opening, Turn,
};

#[derive(Default)]
struct Line {
    state: LineState,
    throttle_until_ms: i64,
    /// Waiting fans' last sighting by index (and by time, to count and forget by time).
    seen: HashMap<u64, i64>,
    seen_by_time: BTreeMap<(i64, u64), ()>,
    /// Waiting indexes whose fans left.
    left: HashSet<u64>,
    /// Join numbers of the fans who left before opening.
    left_seq: HashSet<u64>,
    /// Admitted indexes and when their admission runs out.
    admitted: HashMap<u64, i64>,
    /// Active shoppers by index → until (a sorted copy makes expiry cheap).
    active: BTreeMap<(i64, u64), ()>,
    active_until: HashMap<u64, i64>,
    /// Admissions not fetched yet, by deadline → index (and index → deadline).
    pending: BTreeMap<(i64, u64), ()>,
    pending_by: HashMap<u64, i64>,
    skipped: HashSet<u64>,
}

impl Line {
    fn see(&mut self, index: u64, at: i64) {
        let last = self.seen.entry(index).or_insert(at);
        self.seen_by_time.remove(&(*last, index));
        *last = (*last).max(at);
        self.seen_by_time.insert((*last, index), ());
    }

    fn unsee(&mut self, index: u64) -> Option<i64> {
        let at = self.seen.remove(&index)?;
        self.seen_by_time.remove(&(at, index));
        Some(at)
    }

    /// Forgets sightings older than `after`.
    fn forget_seen_before(&mut self, after: i64) {
        while let Some((&(at, index), _)) = self.seen_by_time.iter().next() {
            if at >= after {
                break;
            }
            self.seen_by_time.remove(&(at, index));
            self.seen.remove(&index);
        }
    }

    fn drop_expired(&mut self, now_ms: i64) {
        while let Some((&(until, index), _)) = self.active.iter().next() {
            if until > now_ms {
                break;
            }
            self.active.remove(&(until, index));
            self.active_until.remove(&index);
        }
    }
}

/// Every event's line, in memory.
#[derive(Default)]
pub struct MemoryLineStore {
    lines: Mutex<HashMap<Uuid, Line>>,
    /// One-time ids claimed, with their expiry (ms); swept as it grows.
    claimed: Mutex<Claimed>,
    /// What each event's owner published, with when it expires.
    published: Mutex<HashMap<Uuid, (String, std::time::Instant)>>,
    /// Ownership leases: holder and expiry (a single node takes them only in tests).
    leases: Mutex<HashMap<Uuid, (String, std::time::Instant)>>,
}

/// Claimed ids kept before expired ones are swept out.
const CLAIMED_SWEEP_AT: usize = 4096;

/// One-time ids with their expiry. The next sweep waits until the map has doubled since the
/// last one, so while many ids are still live a claim does not scan them all each time
/// (sweeping stays amortized O(1) per claim).
struct Claimed {
    ids: HashMap<(Uuid, String), i64>,
    sweep_at: usize,
}

impl Default for Claimed {
    fn default() -> Self {
        Claimed {
            ids: HashMap::new(),
            sweep_at: CLAIMED_SWEEP_AT,
        }
    }
}

impl MemoryLineStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn with_line<T>(&self, event: Uuid, f: impl FnOnce(&mut Line) -> T) -> T {
        // A panic while holding this lock leaves plain counters, still consistent: recover it.
        let mut lines = self.lines.lock();
        f(lines.entry(event).or_default())
    }
}

#[async_trait]
impl LineStore for MemoryLineStore {
    async fn ping(&self) -> Result<(), LineError> {
        Ok(())
    }

    async fn join(&self, event: Uuid, now_ms: i64) -> Result<Joined, LineError> {
        Ok(self.with_line(event, |line| {
            let s = &mut line.state;
            if s.last_seq >= s.ceiling {
                return Joined::NeedsReservation;
            }
            s.last_seq += 1;
            let (seq, pre_queue) = (s.last_seq, s.opening.is_none());
            if !pre_queue {
                line.see(seq, now_ms);
            }
            Joined::Seq { seq, pre_queue }
        }))
    }

    async fn state(
        &self,
        event: Uuid,
        now_ms: i64,
        alive_after_ms: i64,
    ) -> Result<LineState, LineError> {
        Ok(self.with_line(event, |line| {
            line.drop_expired(now_ms);
            let mut state = line.state.clone();
            state.active = line.active.len() as u64;
            state.pending = line.pending.len() as u64;
            state.seen_recently = line.seen_by_time.range((alive_after_ms, 0)..).count() as u64;
            state.left_waiting = line.left.len() as u64;
            state.left_before_opening = line.left_seq.len() as u64;
            state.throttle = if line.throttle_until_ms > now_ms {
                line.state.throttle
            } else {
                1.0
            };
            state
        }))
    }

    async fn open(&self, event: Uuid, seed: &str, now_ms: i64) -> Result<Opening, LineError> {
        Ok(self.with_line(event, |line| {
            let s = &mut line.state;
            s.opening
                .get_or_insert_with(|| Opening {
                    prequeue_size: s.last_seq,
                    seed: seed.to_string(),
                    opened_at_ms: now_ms,
                })
                .clone()
        }))
    }

    async fn advance(&self, event: Uuid, tick: &Advance) -> Result<Advanced, LineError> {
        Ok(self.with_line(event, |line| {
            if line.state.last_tick_ms != tick.expected_tick_ms {
                return Advanced {
                    serving: line.state.serving,
                    ..Advanced::default()
                };
            }
            let (mut admitted, mut skipped, mut walked) = (0, 0, 0);
            // Admissions nobody fetched in time: taken back, their fans skipped as no-shows.
            while let Some((&(by, index), _)) = line.pending.iter().next() {
                if by > tick.now_ms {
                    break;
                }
                line.pending.remove(&(by, index));
                line.pending_by.remove(&index);
                line.admitted.remove(&index);
                line.skipped.insert(index);
                skipped += 1;
            }
            line.forget_seen_before(tick.alive_after_ms);
            let mut serving = line.state.serving;
            while admitted < tick.admit && serving < line.state.last_seq && walked < tick.max_walk {
                let index = serving + 1;
                let seen = line.unsee(index);
                if line.left.remove(&index) {
                    // Counted when they left.
                    line.skipped.insert(index);
                } else if index <= tick.protect_through || seen.is_some() {
                    line.admitted.insert(index, tick.admitted_until_ms);
                    line.pending.insert((tick.fetch_by_ms, index), ());
                    line.pending_by.insert(index, tick.fetch_by_ms);
                    admitted += 1;
                } else {
                    line.skipped.insert(index);
                    skipped += 1;
                }
                serving = index;
                walked += 1;
            }
            let s = &mut line.state;
            let elapsed = tick.now_ms - s.last_tick_ms;
            if s.last_tick_ms > 0 && elapsed > 0 {
                let sample = admitted as f64 * 60_000.0 / elapsed as f64;
                s.rate_per_minute += (sample - s.rate_per_minute) * tick.smoothing;
            }
            s.serving = serving;
            s.last_tick_ms = tick.now_ms;
            s.credit = tick.credit;
            s.admitted_total += admitted;
            s.skipped_total += skipped;
            Advanced {
                ticked: true,
                admitted,
                skipped,
                serving,
            }
        }))
    }

    async fn touch(&self, seen: &[(Uuid, u64, i64)]) -> Result<(), LineError> {
        let mut lines = self.lines.lock();
        for &(event, index, at) in seen {
            let line = lines.entry(event).or_default();
            if index > line.state.serving {
                line.see(index, at);
            }
        }
        Ok(())
    }

    async fn turn(&self, event: Uuid, index: u64) -> Result<Turn, LineError> {
        Ok(self.with_line(event, |line| {
            if let Some(&until_ms) = line.admitted.get(&index) {
                // Fetched for the first time: from pending to the active shoppers.
                if let Some(by) = line.pending_by.remove(&index) {
                    line.pending.remove(&(by, index));
                    line.active.insert((until_ms, index), ());
                    line.active_until.insert(index, until_ms);
                }
                Turn::Admitted { until_ms }
            } else if line.skipped.contains(&index) {
                Turn::Skipped
            } else {
                Turn::Unknown
            }
        }))
    }

    async fn finished(&self, event: Uuid, index: u64) -> Result<(), LineError> {
        self.with_line(event, |line| {
            if let Some(until) = line.active_until.remove(&index) {
                line.active.remove(&(until, index));
            }
        });
        Ok(())
    }

    async fn leave(&self, event: Uuid, who: Leaving) -> Result<Left, LineError> {
        Ok(self.with_line(event, |line| match who {
            Leaving::Seq(_) if line.state.opening.is_some() => Left::Opened,
            Leaving::Seq(seq) => {
                if line.left_seq.insert(seq) {
                    line.state.left_total += 1;
                }
                Left::Left
            }
            Leaving::Index(index) if index > line.state.serving => {
                line.unsee(index);
                if line.left.insert(index) {
                    line.state.left_total += 1;
                }
                Left::Left
            }
            Leaving::Index(index) => {
                if line.admitted.remove(&index).is_none() {
                    return Left::Nothing;
                }
                if let Some(by) = line.pending_by.remove(&index) {
                    line.pending.remove(&(by, index));
                }
                if let Some(until) = line.active_until.remove(&index) {
                    line.active.remove(&(until, index));
                }
                line.skipped.insert(index);
                line.state.left_total += 1;
                Left::Left
            }
        }))
    }

    async fn take_left_before_opening(&self, event: Uuid) -> Result<Vec<u64>, LineError> {
        Ok(self.with_line(event, |line| line.left_seq.drain().collect()))
    }

    async fn place_left(&self, event: Uuid, indexes: &[u64]) -> Result<(), LineError> {
        self.with_line(event, |line| {
            for &index in indexes {
                line.unsee(index);
                line.left.insert(index);
            }
        });
        Ok(())
    }

    async fn throttle(&self, event: Uuid, factor: f64, until_ms: i64) -> Result<(), LineError> {
        self.with_line(event, |line| {
            line.state.throttle = factor;
            line.throttle_until_ms = until_ms;
        });
        Ok(())
    }

    async fn claim_once(
        &self,
        event: Uuid,
        id: &str,
        now_ms: i64,
        expires_ms: i64,
    ) -> Result<bool, LineError> {
        let mut claimed = self.claimed.lock();
        if claimed.ids.len() >= claimed.sweep_at {
            claimed.ids.retain(|_, until| *until > now_ms);
            claimed.sweep_at = (2 * claimed.ids.len()).max(CLAIMED_SWEEP_AT);
        }
        let key = (event, id.to_string());
        if claimed.ids.get(&key).is_some_and(|until| *until > now_ms) {
            return Ok(false);
        }
        claimed.ids.insert(key, expires_ms);
        Ok(true)
    }

    async fn release_once(&self, event: Uuid, id: &str) -> Result<(), LineError> {
        let mut claimed = self.claimed.lock();
        claimed.ids.remove(&(event, id.to_string()));
        Ok(())
    }

    async fn lease(&self, event: Uuid, holder: &str, ttl_ms: u64) -> Result<Lease, LineError> {
        let now = std::time::Instant::now();
        let mut leases = self.leases.lock();
        match leases.get(&event) {
            Some((other, until)) if *until > now => Ok(Lease::Held(other.clone())),
            _ => {
                let until = now + std::time::Duration::from_millis(ttl_ms);
                leases.insert(event, (holder.to_string(), until));
                Ok(Lease::Taken)
            }
        }
    }

    async fn renew(&self, event: Uuid, holder: &str, ttl_ms: u64) -> Result<bool, LineError> {
        let now = std::time::Instant::now();
        let mut leases = self.leases.lock();
        match leases.get_mut(&event) {
            Some((mine, until)) if mine == holder && *until > now => {
                *until = now + std::time::Duration::from_millis(ttl_ms);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn give_up(&self, event: Uuid, holder: &str) -> Result<(), LineError> {
        let mut leases = self.leases.lock();
        if leases.get(&event).is_some_and(|(mine, _)| mine == holder) {
            leases.remove(&event);
            self.published.lock().remove(&event);
        }
        Ok(())
    }

    async fn publish(&self, event: Uuid, published: &str, ttl_ms: u64) -> Result<(), LineError> {
        let until = std::time::Instant::now() + std::time::Duration::from_millis(ttl_ms);
        self.published
            .lock()
            .insert(event, (published.to_string(), until));
        Ok(())
    }

    async fn published(&self, events: &[Uuid]) -> Result<Vec<Option<String>>, LineError> {
        let now = std::time::Instant::now();
        let published = self.published.lock();
        Ok(events
            .iter()
            .map(|e| {
                published
                    .get(e)
                    .filter(|(_, until)| *until > now)
                    .map(|(text, _)| text.clone())
            })
            .collect())
    }

    async fn restore(&self, event: Uuid, marks: &Marks) -> Result<(), LineError> {
        self.with_line(event, |line| {
            let s = &mut line.state;
            // See the Redis store's RESTORE: only a line that lost its ceiling skips ahead.
            if s.ceiling == 0 {
                s.last_seq = s.last_seq.max(marks.seq_floor);
            }
            s.ceiling = s.ceiling.max(marks.ceiling);
            s.serving = s.serving.max(marks.serving);
            if s.opening.is_none() {
                s.opening = marks.opening.clone();
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn claims_are_once_and_expired_ones_are_swept_without_losing_live_ones() {
        let store = MemoryLineStore::new();
        let event = Uuid::nil();
        // Expired by t=1000.
        for i in 0..CLAIMED_SWEEP_AT {
            assert!(store
                .claim_once(event, &format!("old{i}"), 0, 500)
                .await
                .unwrap());
        }
        // Live until t=10_000: the first of these sweeps the expired ones.
        for i in 0..CLAIMED_SWEEP_AT {
            assert!(store
                .claim_once(event, &format!("new{i}"), 1000, 10_000)
                .await
                .unwrap());
        }
        let (len, sweep_at) = {
            let c = store.claimed.lock();
            (c.ids.len(), c.sweep_at)
        };
        assert_eq!(len, CLAIMED_SWEEP_AT, "only the live claims remain");
        assert!(sweep_at >= CLAIMED_SWEEP_AT);
        for i in [0, CLAIMED_SWEEP_AT - 1] {
            let id = format!("new{i}");
            assert!(
                !store.claim_once(event, &id, 2000, 10_000).await.unwrap(),
                "claimed once"
            );
        }
        store.release_once(event, "new0").await.unwrap();
        assert!(
            store.claim_once(event, "new0", 2000, 10_000).await.unwrap(),
            "released"
        );
    }
}
