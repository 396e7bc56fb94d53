//! The state one rehearsal shares between its simulated fans and bots, the monitor and the
//! report: the event, the clock, the arrival times, and what each fan went through.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::audit::SeenOrder;
use crate::record::Recorder;

/// How a fan's visit ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Admitted, held and ordered: got tickets.
    Bought,
    /// The event sold out before or while the fan shopped.
    SoldOut,
    /// The fan's turn lapsed (`expired`).
    Expired,
    /// Could not join the line.
    JoinFailed,
    /// Admitted but the hold or order failed for another reason.
    ShopFailed,
    /// Still waiting when the run's time was up.
    OutOfTime,
}

/// What one fan went through; times are seconds since the start of the run.
#[derive(Clone, Debug, Serialize)]
pub struct FanRecord {
    pub fan: usize,
    /// Planned arrival, seconds from opening (negative: pre-queue).
    pub arrival: f64,
    /// The join's answer said `pre_queue`.
    pub prequeue: bool,
    pub join_number: Option<u64>,
    pub join_sent: Option<f64>,
    pub join_done: Option<f64>,
    /// Send time of the last answer that said "not admitted yet".
    pub admit_lo: Option<f64>,
    /// Receive time of the first answer that carried an admission.
    pub admit_hi: Option<f64>,
    pub ordered_at: Option<f64>,
    /// Seconds from the server admitting the fan to the fan hearing of it.
    pub learned_after: Option<f64>,
    pub items: u32,
    pub polls: u32,
    pub outcome: Outcome,
    /// The refusal behind a failure, when there was one.
    pub detail: Option<String>,
}

impl FanRecord {
    /// A fan who has not arrived yet.
    pub fn new(fan: usize, arrival: f64) -> Self {
        FanRecord {
            fan,
            arrival,
            prequeue: false,
            join_number: None,
            join_sent: None,
            join_done: None,
            admit_lo: None,
            admit_hi: None,
            ordered_at: None,
            learned_after: None,
            items: 0,
            polls: 0,
            outcome: Outcome::OutOfTime,
            detail: None,
        }
    }
}

/// What the bots achieved, and how often they were refused.
#[derive(Clone, Debug, Default, Serialize)]
pub struct BotTally {
    pub requests: u64,
    /// Answers by status (0: no answer).
    pub statuses: std::collections::BTreeMap<u16, u64>,
    /// Places in the line bots obtained (a join without proof of work, when none is asked).
    pub tickets: u64,
    /// Admissions bots obtained by polling a ticket.
    pub admissions: u64,
    /// Holds bots placed with an admission, and the items in them.
    pub holds: u64,
    pub items_held: u64,
}

impl BotTally {
    /// Requests answered with a refusal (4xx, 5xx) or not at all.
    pub fn refused(&self) -> u64 {
        self.statuses
            .iter()
            .filter(|(s, _)| !(200..300).contains(*s))
            .map(|(_, n)| n)
            .sum()
    }
}

/// How fans pick what to buy.
#[derive(Clone, Debug)]
pub enum Shop {
    /// General-admission tiers with places: `{"tier", "quantity"}`.
    Tiers(Vec<String>),
    /// Reserved seating only: pick free seats from the seat map, or ask for the best
    /// available.
    Seats {
        blocks: Vec<crate::seats::Block>,
        mode: crate::seats::MapMode,
        /// Share of fans who ask for the best available.
        best_share: f64,
        /// Mean seconds a fan looks at the map before picking.
        think_secs: f64,
    },
}

/// Numbers the progress bar shows while the run goes on.
#[derive(Default)]
pub struct Live {
    pub joined: AtomicU64,
    pub admitted: AtomicU64,
    pub bought: AtomicU64,
    pub fans_done: AtomicU64,
    pub bots_done: AtomicU64,
}

/// Settings of the simulated crowd.
#[derive(Clone, Debug)]
pub struct Crowd {
    pub fans: usize,
    pub bots: usize,
    /// Most places a fan tries to buy (each fan picks 1..=this).
    pub tickets_per_fan: u32,
    /// Requests each bot sends.
    pub bot_requests: u32,
    /// Average pause between a bot's requests.
    pub bot_pause: Duration,
    /// Distinct addresses the bots share.
    pub bot_addresses: usize,
    /// Send `X-Forwarded-For` with simulated client addresses.
    pub spoof_addresses: bool,
    /// Seed of every random choice.
    pub seed: u64,
}

/// The state of one rehearsal.
pub struct Run {
    /// The HTTP client every fan and bot shares (one connection pool, no cookies).
    pub http: reqwest::Client,
    /// Requests in flight at once, and so connections open: a CDN in front of the server
    /// keeps a bounded pool of connections to it, whatever the crowd does.
    pub connections: tokio::sync::Semaphore,
    pub event_id: String,
    pub pow_bits: u8,
    pub max_per_order: u32,
    pub shop: Shop,
    pub crowd: Crowd,
    /// Arrival of each fan, seconds from `opening`.
    pub arrivals: Vec<f64>,
    /// Seconds after opening in which the crowd (and the bots) arrive.
    pub arrival_window_secs: f64,
    pub opening: Instant,
    pub deadline: Instant,
    /// Distinguishes this run's idempotency keys from any other run's.
    pub run_id: String,
    pub rec: Recorder,
    pub live: Live,
    pub next_fan: AtomicUsize,
    pub next_bot: AtomicUsize,
    pub fans: Mutex<Vec<FanRecord>>,
    pub seen_orders: Mutex<Vec<SeenOrder>>,
    pub bots: Mutex<BotTally>,
    pub seats: crate::seats::SeatTally,
}

impl Run {
    /// Whether the run's time is up.
    pub fn out_of_time(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// Seconds after opening in which the crowd arrives.
    pub fn arrivals_window_secs(&self) -> f64 {
        self.arrival_window_secs.max(0.1)
    }

    /// Seconds since the start of the run, now.
    pub fn now(&self) -> f64 {
        self.rec.secs(Instant::now())
    }

    /// Files a finished fan's record.
    pub fn finish_fan(&self, record: FanRecord) {
        if record.outcome == Outcome::Bought {
            self.live.bought.fetch_add(1, Ordering::Relaxed);
        }
        self.live.fans_done.fetch_add(1, Ordering::Relaxed);
        self.fans
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(record);
    }

    /// Sleeps until `at`, or until the run's time is up, whichever comes first.
    pub async fn sleep_until(&self, at: Instant) {
        tokio::time::sleep_until(at.min(self.deadline).into()).await;
    }

    /// Sleeps for `d`, cut short at the deadline.
    pub async fn sleep(&self, d: Duration) {
        self.sleep_until(Instant::now() + d).await;
    }
}

/// The simulated client address of fan `n`: one per fan, as a CDN would forward them.
pub fn fan_address(n: usize) -> String {
    let n = n + 1;
    format!("10.{}.{}.{}", (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff)
}

/// The address bot `n` sends from: bots share a few (a botnet behind a few exits).
pub fn bot_address(n: usize, addresses: usize) -> String {
    // 198.51.100.0/24 is TEST-NET-2, never a real fan.
    format!("198.51.100.{}", 1 + n % addresses.clamp(1, 254))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fans_get_distinct_addresses() {
        let all: std::collections::HashSet<_> = (0..70_000).map(fan_address).collect();
        assert_eq!(all.len(), 70_000);
        assert_eq!(fan_address(0), "10.0.0.1");
    }

    #[test]
    fn bots_share_a_few_addresses() {
        let all: std::collections::HashSet<_> = (0..5000).map(|n| bot_address(n, 4)).collect();
        assert_eq!(all.len(), 4);
    }

    #[test]
    fn refusals_are_every_non_2xx_answer() {
        let tally = BotTally {
            statuses: [(201, 2), (429, 5), (403, 3), (0, 1)].into_iter().collect(),
            ..BotTally::default()
        };
        assert_eq!(tally.refused(), 9);
    }
}
