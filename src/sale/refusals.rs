//! Requests refused per event (rate limits, missing admissions, bad proof of work), for the
//! organizer's stats. The same refusals go to `/metrics` without the event label, so its
//! cardinality stays bounded.

use std::collections::HashMap;

use parking_lot::Mutex;
use serde::Serialize;
use uuid::Uuid;

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

/// Why a request of an event was refused.
#[derive(Clone, Copy, Debug)]
pub enum Refused {
    /// Over a rate limit (the web layer counts the metric with every rate-limit refusal).
    RateLimited,
    /// A shop call without a valid admission.
    NotAdmitted,
    /// A join with a missing or bad proof of work.
    Pow,
}

impl Refusals {
    /// Counts a refusal: in `/metrics` always, per event only for events that exist (`known`),
    /// so made-up ids in paths grow nothing.
    pub(crate) fn count(&self, event: Uuid, why: Refused, known: bool) {
        let (metric, count): (_, fn(&mut Counts)) = match why {
            Refused::RateLimited => (None, |c| c.rate_limited += 1),
            Refused::NotAdmitted => (Some("not_admitted"), |c| c.not_admitted += 1),
            Refused::Pow => (Some("pow"), |c| c.pow += 1),
        };
        if let Some(reason) = metric {
            metrics::counter!("requests_rejected_total", "reason" => reason).increment(1);
        }
        if known {
            count(self.counts.lock().entry(event).or_default());
        }
    }

    /// The counts of one event.
    pub fn get(&self, event: Uuid) -> Counts {
        self.counts.lock().get(&event).copied().unwrap_or_default()
    }
}
