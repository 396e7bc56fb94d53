//! The pacer's arithmetic and the pre-queue draw, as pure functions of their inputs.
//!
//! Every node computes a tick's budget from the shared line state with [`budget`]; the line
//! store then applies it atomically, and only if no other node ticked in between (the store
//! compares the tick time it was given with the one it holds). So the rules live here once,
//! for Redis and for the in-process store alike, and tests drive them with a simulated clock.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Longest stretch of time one tick may credit, so a pacer that was idle (or paused) does not
/// release a burst when it wakes.
pub const MAX_CREDIT_MS: u64 = 1_000;
/// How quickly the measured admission rate follows the real one (time constant, ms).
pub const RATE_SMOOTHING_MS: f64 = 10_000.0;

/// What one tick may admit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Budget {
    /// Fans to admit now.
    pub admit: u64,
    /// Fractional admissions carried to the next tick.
    pub credit: f64,
}

/// How many fans a tick may admit: the rate's share of the elapsed time (capped at
/// [`MAX_CREDIT_MS`]) scaled by `throttle` (1.0 normally, lower while the shop is saturated),
/// plus the carried credit, but never more than the free active slots.
pub fn budget(
    rate_per_minute: u32,
    elapsed_ms: u64,
    credit: f64,
    active: u64,
    max_active: u32,
    throttle: f64,
) -> Budget {
    let elapsed = elapsed_ms.min(MAX_CREDIT_MS) as f64;
    let earned = f64::from(rate_per_minute) * elapsed / 60_000.0 * throttle.clamp(0.0, 1.0);
    // Credit never exceeds one second's worth (or one fan), so idle time is not banked.
    let cap = (f64::from(rate_per_minute) / 60.0).max(1.0);
    let total = (credit + earned).min(cap);
    let free_slots = u64::from(max_active).saturating_sub(active);
    let admit = (total.floor() as u64).min(free_slots);
    Budget {
        admit,
        credit: (total - admit as f64).max(0.0),
    }
}

/// Weight of the newest sample in the smoothed admission rate, for a tick of `elapsed_ms`.
pub fn smoothing(elapsed_ms: u64) -> f64 {
    1.0 - (-(elapsed_ms as f64) / RATE_SMOOTHING_MS).exp()
}

/// Seconds until a fan `position` places from the front is admitted, at `rate_per_minute`.
pub fn eta_secs(position: u64, rate_per_minute: f64) -> u64 {
    if rate_per_minute <= 0.0 {
        return 0;
    }
    (position as f64 * 60.0 / rate_per_minute).ceil() as u64
}

/// The published draw of the pre-queue: fans `1..=size` (their join numbers) sorted by
/// `HMAC-SHA256(key = seed, message = decimal seq)`, ties by seq. Returns `rank[seq - 1]`,
/// each fan's admission rank from 1. Anyone holding the seed can recompute it.
pub fn prequeue_ranks(seed: &[u8], size: u64) -> Vec<u32> {
    let mut order: Vec<([u8; 32], u64)> = (1..=size)
        .map(|seq| {
            // HMAC takes keys of any length: new_from_slice cannot fail.
            let mut mac = Hmac::<Sha256>::new_from_slice(seed).expect("any key length");
            mac.update(seq.to_string().as_bytes());
            (mac.finalize().into_bytes().into(), seq)
        })
        .collect();
    order.sort_unstable();
    let mut ranks = vec![0u32; size as usize];
    for (rank, (_, seq)) in order.iter().enumerate() {
        ranks[(*seq - 1) as usize] = rank as u32 + 1;
    }
    ranks
}

/// How the draw works, in words, for the fairness endpoint.
pub const PREQUEUE_METHOD: &str = "Fans who joined before the sale opened got join numbers \
1..pre_queue_size. At opening a random 32-byte seed was drawn; each join number n is ranked by \
HMAC-SHA256(key = seed bytes, message = n as a decimal string), ascending (ties by n). Rank r \
is admitted r-th, before everyone who joined after opening, who keep their join order.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_follows_the_rate_and_carries_fractions() {
        // 600/min over 250 ms is 2.5 fans: admit 2, carry 0.5, then 3 on the next tick.
        let first = budget(600, 250, 0.0, 0, 1000, 1.0);
        assert_eq!(first.admit, 2);
        let second = budget(600, 250, first.credit, 0, 1000, 1.0);
        assert_eq!(second.admit, 3);
        assert!(second.credit.abs() < 1e-9);
    }

    #[test]
    fn the_budget_never_exceeds_free_active_slots_nor_banks_idle_time() {
        assert_eq!(budget(6000, 1000, 0.0, 95, 100, 1.0).admit, 5);
        assert_eq!(budget(6000, 1000, 0.0, 100, 100, 1.0).admit, 0);
        assert_eq!(budget(6000, 3_600_000, 0.0, 0, 100_000, 1.0).admit, 100);
        assert_eq!(budget(60, 3_600_000, 0.0, 0, 100, 1.0).admit, 1);
    }

    #[test]
    fn throttling_slows_admission() {
        assert_eq!(budget(6000, 1000, 0.0, 0, 1000, 0.25).admit, 25);
        assert_eq!(budget(6000, 1000, 0.0, 0, 1000, 0.0).admit, 0);
    }

    #[test]
    fn the_draw_is_a_permutation_reproducible_from_the_seed() {
        let ranks = prequeue_ranks(b"seed", 1000);
        let mut sorted = ranks.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (1..=1000).collect::<Vec<u32>>());
        assert_eq!(prequeue_ranks(b"seed", 1000), ranks);
        assert_ne!(prequeue_ranks(b"other", 1000), ranks);
        assert!(prequeue_ranks(b"seed", 0).is_empty());
    }

    #[test]
    fn eta_uses_the_rate() {
        assert_eq!(eta_secs(100, 600.0), 10);
        assert_eq!(eta_secs(1, 600.0), 1);
        assert_eq!(eta_secs(5, 0.0), 0);
    }
}
