//! Requests refused per event (rate limits, missing admissions, bad proof of work), for the
//! organizer's stats. The same refusals go to `/metrics` without the event label, so its
//! cardinality stays bounded.

use std::collections::HashMap;

use parking_lot::Mutex;
use serde::Serialize;
use uuid::Uuid;

/// Most events whose refusals are counted (the map's bound).
const MAX_COUNTED_EVENTS: usize = 10_000;

/// Refusals counted per event.
#[derive(Default)]
pub struct Refusals {
    counts: Mutex<HashMap<Uuid, Counts>>,
}

/// Requests refused for one event.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Counts {
    pub rate_limited: u64,
    pub not_admitted: u64,
    pub pow: u64,
}

impl Refusals {
    fn bump(&self, event: Uuid, f: impl FnOnce(&mut Counts)) {
        let mut counts = self.counts.lock();
        // Refusals name events from the path, real or not: past the bound, only events
        // already counted are, so made-up ids cannot grow the map.
        if counts.len() >= MAX_COUNTED_EVENTS && !counts.contains_key(&event) {
            return;
        }
        f(counts.entry(event).or_default());
    }

    /// Counts a shop call refused for want of a valid admission.
    pub fn not_admitted(&self, event: Uuid) {
        metrics::counter!("requests_rejected_total", "reason" => "not_admitted").increment(1);
        self.bump(event, |r| r.not_admitted += 1);
    }

    /// Counts a request refused by a rate limit, for this event (the web layer counts the
    /// metric with every rate-limit refusal, event or not).
    pub fn rate_limited(&self, event: Uuid) {
        self.bump(event, |r| r.rate_limited += 1);
    }

    /// Counts a join refused for a missing or bad proof of work.
    pub fn pow_refused(&self, event: Uuid) {
        metrics::counter!("requests_rejected_total", "reason" => "pow").increment(1);
        self.bump(event, |r| r.pow += 1);
    }

    /// The counts of one event.
    pub fn get(&self, event: Uuid) -> Counts {
        self.counts.lock().get(&event).copied().unwrap_or_default()
    }
}
