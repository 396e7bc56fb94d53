//! When each fan arrives, relative to the opening of the sale.
//!
//! A flash crowd is not one shape: fans who read the announcement sit in the pre-queue
//! before opening, a notification push brings most of them within a second or two of it, a
//! slower spread of newsletter readers ramps up after. The load test draws every fan's
//! arrival time up front from one of these patterns (seeded, so a run can be repeated), and
//! each fan sleeps until its time comes.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// How fans arrive.
#[derive(Clone, Copy, Debug, PartialEq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pattern {
    /// Everyone within `--arrival-secs` of opening, uniformly.
    Opening,
    /// Arrivals ramp up linearly over `--arrival-secs` after opening (the arrival rate grows
    /// from zero, so most fans come late in the window).
    Ramp,
    /// A share of the fans (`--prequeue-share`) joins during `--prequeue-secs` before
    /// opening; the rest arrive at opening as with `opening`.
    Prequeue,
}

/// The shape of the arrivals of one run.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Arrivals {
    pub pattern: Pattern,
    /// Window after opening in which post-opening fans arrive, seconds.
    pub window_secs: f64,
    /// How long before opening the pre-queue fans arrive, seconds.
    pub prequeue_secs: f64,
    /// Share of fans in the pre-queue (only with `Pattern::Prequeue`).
    pub prequeue_share: f64,
}

/// Pre-queue fans stop arriving this long before opening, so a small clock difference
/// between generator and server cannot move them after it.
pub const PREQUEUE_MARGIN_SECS: f64 = 0.5;
/// Post-opening fans of the pre-queue pattern start this long after opening: the server opens
/// the line on its first pacer tick after `sale_opens_at`, and a fan joining in between would
/// still be drawn with the pre-queue.
pub const OPENING_MARGIN_SECS: f64 = 1.0;

impl Arrivals {
    /// Seconds before opening the first fan arrives (0 without a pre-queue).
    pub fn lead_secs(&self) -> f64 {
        match self.pattern {
            Pattern::Prequeue => self.prequeue_secs,
            _ => 0.0,
        }
    }

    /// Arrival offsets of `fans` fans in seconds from opening (negative: before it), in fan
    /// order. Fans are shuffled into the slots so fan numbers say nothing about arrival.
    pub fn offsets(&self, fans: usize, seed: u64) -> Vec<f64> {
        let mut rng = StdRng::seed_from_u64(seed);
        let window = self.window_secs.max(0.0);
        let mut out: Vec<f64> = match self.pattern {
            Pattern::Opening => (0..fans).map(|_| rng.random::<f64>() * window).collect(),
            // Cumulative arrivals grow as t²: inverse transform of a linear density.
            Pattern::Ramp => (0..fans)
                .map(|_| window * rng.random::<f64>().sqrt())
                .collect(),
            Pattern::Prequeue => {
                let share = self.prequeue_share.clamp(0.0, 1.0);
                let early = (fans as f64 * share).round() as usize;
                let before = (self.prequeue_secs - PREQUEUE_MARGIN_SECS).max(0.0);
                (0..fans)
                    .map(|i| {
                        if i < early {
                            -self.prequeue_secs + rng.random::<f64>() * before
                        } else {
                            OPENING_MARGIN_SECS + rng.random::<f64>() * window
                        }
                    })
                    .collect()
            }
        };
        // Fisher–Yates, so early and late fans are spread over fan numbers.
        for i in (1..out.len()).rev() {
            let j = rng.random_range(0..=i);
            out.swap(i, j);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrivals(pattern: Pattern) -> Arrivals {
        Arrivals {
            pattern,
            window_secs: 10.0,
            prequeue_secs: 20.0,
            prequeue_share: 0.25,
        }
    }

    #[test]
    fn opening_arrivals_fall_in_the_window() {
        let offsets = arrivals(Pattern::Opening).offsets(1000, 1);
        assert_eq!(offsets.len(), 1000);
        assert!(offsets.iter().all(|&t| (0.0..10.0).contains(&t)));
    }

    #[test]
    fn ramp_puts_more_fans_late_in_the_window() {
        let offsets = arrivals(Pattern::Ramp).offsets(10_000, 2);
        assert!(offsets.iter().all(|&t| (0.0..=10.0).contains(&t)));
        let first_half = offsets.iter().filter(|&&t| t < 5.0).count();
        // Linear density: a quarter of the arrivals in the first half of the window.
        assert!((2_200..2_800).contains(&first_half), "{first_half}");
    }

    #[test]
    fn prequeue_share_arrives_before_opening_and_the_rest_after() {
        let offsets = arrivals(Pattern::Prequeue).offsets(1000, 3);
        let early: Vec<_> = offsets.iter().filter(|&&t| t < 0.0).collect();
        assert_eq!(early.len(), 250);
        assert!(early
            .iter()
            .all(|&&t| (-20.0..=-PREQUEUE_MARGIN_SECS).contains(&t)));
        assert!(offsets
            .iter()
            .filter(|&&t| t >= 0.0)
            .all(|&t| t >= OPENING_MARGIN_SECS));
        // Shuffled: pre-queue fans are not simply the first fan numbers.
        assert!(offsets[..250].iter().any(|&t| t > 0.0));
    }

    #[test]
    fn same_seed_same_arrivals() {
        let a = arrivals(Pattern::Ramp).offsets(100, 7);
        let b = arrivals(Pattern::Ramp).offsets(100, 7);
        assert_eq!(a, b);
    }
}
