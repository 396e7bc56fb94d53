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

/// Admissions granted but not yet fetched by their fans that the pacer allows beyond
/// `max_active`: one second of the admission rate (at least one fan). Shoppers at once never
/// exceed `max_active` + this.
pub fn unfetched_allowance(rate_per_minute: u32) -> u64 {
    (u64::from(rate_per_minute) / 60).max(1)
}

/// Where the shop stands for a tick: shoppers who have their admission (`active`), and
/// admissions granted but not yet fetched by their fans (`pending`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Shoppers {
    pub active: u64,
    pub pending: u64,
}

/// How many fans a tick may admit: the rate's share of the elapsed time (capped at
/// [`MAX_CREDIT_MS`]) scaled by `throttle` (1.0 normally, lower while the shop is saturated),
/// plus the carried credit; never more than the free `max_active` slots of fans who have their
/// admission, and never so many that active and unfetched admissions together pass
/// `max_active` + [`unfetched_allowance`]. An admission counts against `max_active` only once
/// its fan has it: one not yet fetched occupies no shopper's place.
pub fn budget(
    rate_per_minute: u32,
    elapsed_ms: u64,
    credit: f64,
    shoppers: Shoppers,
    max_active: u32,
    throttle: f64,
) -> Budget {
    let elapsed = elapsed_ms.min(MAX_CREDIT_MS) as f64;
    let earned = f64::from(rate_per_minute) * elapsed / 60_000.0 * throttle.clamp(0.0, 1.0);
    // Credit never exceeds one second's worth (or one fan), so idle time is not banked.
    let cap = (f64::from(rate_per_minute) / 60.0).max(1.0);
    let total = (credit + earned).min(cap);
    let free_slots = u64::from(max_active).saturating_sub(shoppers.active);
    let bound = u64::from(max_active) + unfetched_allowance(rate_per_minute);
    let room = bound.saturating_sub(shoppers.active + shoppers.pending);
    let admit = (total.floor() as u64).min(free_slots).min(room);
    Budget {
        admit,
        credit: (total - admit as f64).max(0.0),
    }
}

/// Weight of the newest sample in the smoothed admission rate, for a tick of `elapsed_ms`.
pub fn smoothing(elapsed_ms: u64) -> f64 {
    1.0 - (-(elapsed_ms as f64) / RATE_SMOOTHING_MS).exp()
}

/// A fan whose turn is expected sooner than this, in ms, waits on a long poll instead of
/// polling: the server answers the moment their state changes.
pub const NEAR_FRONT_MS: u64 = 5_000;
/// Longest a waiting fan is told to wait before polling again, ms (well inside the liveness
/// grace, so a polling fan is never taken for a no-show).
pub const MAX_POLL_AFTER_MS: u64 = 15_000;
/// Shortest interval a polling fan is told, ms.
pub const MIN_POLL_AFTER_MS: u64 = 1_000;
/// When a fan expecting their turn (or the opening) in `expected_ms` should ask again, ms:
/// when it will be [`NEAR_FRONT_MS`] away (then a long poll hears it at once), spread by
/// `jitter` (a share, ±), between [`MIN_POLL_AFTER_MS`] and [`MAX_POLL_AFTER_MS`], and never
/// past the expected moment. `0` when it is nearer than [`NEAR_FRONT_MS`] already: ask again
/// at once, on a long poll.
pub fn poll_after_ms(expected_ms: u64, jitter: f64) -> u64 {
    if expected_ms < NEAR_FRONT_MS {
        return 0;
    }
    let base = (expected_ms - NEAR_FRONT_MS) as f64 * (1.0 + jitter.clamp(-0.5, 0.5));
    (base as u64).clamp(MIN_POLL_AFTER_MS, expected_ms.min(MAX_POLL_AFTER_MS))
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

    fn shoppers(active: u64) -> Shoppers {
        Shoppers { active, pending: 0 }
    }

    #[test]
    fn the_budget_follows_the_rate_and_carries_fractions() {
        // 600/min over 250 ms is 2.5 fans: admit 2, carry 0.5, then 3 on the next tick.
        let first = budget(600, 250, 0.0, shoppers(0), 1000, 1.0);
        assert_eq!(first.admit, 2);
        let second = budget(600, 250, first.credit, shoppers(0), 1000, 1.0);
        assert_eq!(second.admit, 3);
        assert!(second.credit.abs() < 1e-9);
    }

    #[test]
    fn the_budget_never_exceeds_free_active_slots_nor_banks_idle_time() {
        assert_eq!(budget(6000, 1000, 0.0, shoppers(95), 100, 1.0).admit, 5);
        assert_eq!(budget(6000, 1000, 0.0, shoppers(100), 100, 1.0).admit, 0);
        assert_eq!(
            budget(6000, 3_600_000, 0.0, shoppers(0), 100_000, 1.0).admit,
            100
        );
        assert_eq!(budget(60, 3_600_000, 0.0, shoppers(0), 100, 1.0).admit, 1);
    }

    #[test]
    fn unfetched_admissions_take_no_shoppers_place_within_one_second_of_the_rate() {
        // 6000/min: 100 a second may wait unfetched beyond max_active.
        let waiting = |active, pending| Shoppers { active, pending };
        assert_eq!(budget(6000, 1000, 0.0, waiting(0, 50), 100, 1.0).admit, 100);
        assert_eq!(
            budget(6000, 1000, 0.0, waiting(60, 100), 100, 1.0).admit,
            40
        );
        assert_eq!(budget(6000, 1000, 0.0, waiting(0, 200), 100, 1.0).admit, 0);
        assert_eq!(budget(6000, 1000, 0.0, waiting(100, 0), 100, 1.0).admit, 0);
        assert_eq!(unfetched_allowance(30), 1);
    }

    #[test]
    fn throttling_slows_admission() {
        assert_eq!(budget(6000, 1000, 0.0, shoppers(0), 1000, 0.25).admit, 25);
        assert_eq!(budget(6000, 1000, 0.0, shoppers(0), 1000, 0.0).admit, 0);
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
    fn fans_come_back_when_near_the_front_and_wait_there() {
        assert_eq!(poll_after_ms(4_999, 0.0), 0, "near the front: a long poll");
        assert_eq!(poll_after_ms(12_000, 0.0), 7_000);
        assert_eq!(poll_after_ms(6_000, 0.0), MIN_POLL_AFTER_MS);
        assert_eq!(poll_after_ms(600_000, 0.0), MAX_POLL_AFTER_MS);
        for jitter in [-0.2, 0.0, 0.2] {
            for expected in [5_000, 6_000, 20_000, 40_000, 1_000_000] {
                let after = poll_after_ms(expected, jitter);
                assert!(
                    after >= MIN_POLL_AFTER_MS && after <= expected,
                    "{expected} {jitter}"
                );
                assert!(after <= MAX_POLL_AFTER_MS);
            }
        }
    }

    #[test]
    fn eta_uses_the_rate() {
        assert_eq!(eta_secs(100, 600.0), 10);
        assert_eq!(eta_secs(1, 600.0), 1);
        assert_eq!(eta_secs(5, 0.0), 0);
    }
}
