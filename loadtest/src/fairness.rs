//! The fairness figure: does admission order follow join order?
//!
//! A client cannot see the moment the server admits a fan. It sees windows: the server made
//! its decision somewhere between sending a poll and receiving its answer, so a fan was
//! admitted after the *send* time of its last poll that said "waiting" (the join's answer
//! counts as one) and no later than the *receive* time of its first poll that said
//! "admitted". Each fan's admission is therefore an interval `(lo, hi]`.
//!
//! For two fans A and B with A's join number below B's, the pair is
//! - **concordant** when A's interval ends before B's begins (`hi_A ≤ lo_B`): A was
//!   provably admitted first;
//! - **discordant** when B's interval ends before A's begins (`hi_B ≤ lo_A`): B was provably
//!   admitted first, a FIFO violation any client could prove;
//! - **tied** otherwise: the windows overlap and no client could tell the order.
//!
//! The figure is Kendall's τ over the pairs whose order could be told,
//! `τ = (C − D) / (C + D)` (ties drop out of both; with one variable never tied this is
//! Goodman–Kruskal's γ). It is 1.0 exactly when no pair was observed out of join order, and
//! −1.0 for a line served in reverse. It is not 1.0 by construction: a server that admitted
//! out of order would produce discordant pairs whenever the disorder is wider than the
//! polling windows. `decided_share` says how many pairs could be told apart at all, which is
//! the resolution the polling gave. The same machinery checks join numbers against the
//! clients' join windows (a later join must not get a lower number).
//!
//! Counting is O(n log n) with two Fenwick trees, so 50,000 fans (1.25 billion pairs) take
//! milliseconds.

use serde::Serialize;

/// One fan's key (join number) and the window in which the observed event happened.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Observed {
    /// Join number: the order the fan should be served in.
    pub key: u64,
    /// Latest time the event had provably not happened yet.
    pub lo: f64,
    /// Earliest time the event had provably happened.
    pub hi: f64,
}

/// Kendall's τ over decidable pairs, with the counts behind it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Tau {
    pub fans: u64,
    pub pairs: u64,
    pub concordant: u64,
    pub discordant: u64,
    pub tied: u64,
    /// `(C − D) / (C + D)`; `None` when no pair could be ordered.
    pub tau: Option<f64>,
    /// `(C + D) / pairs`: the share of pairs the observation windows could order.
    pub decided_share: Option<f64>,
}

impl Tau {
    fn from_counts(fans: u64, concordant: u64, discordant: u64) -> Tau {
        let pairs = fans * fans.saturating_sub(1) / 2;
        let decided = concordant + discordant;
        Tau {
            fans,
            pairs,
            concordant,
            discordant,
            tied: pairs - decided,
            tau: (decided > 0).then(|| (concordant as f64 - discordant as f64) / decided as f64),
            decided_share: (pairs > 0).then(|| decided as f64 / pairs as f64),
        }
    }
}

/// Fenwick tree of counts over `n` slots.
struct Fenwick(Vec<u64>);

impl Fenwick {
    fn new(n: usize) -> Self {
        Fenwick(vec![0; n + 1])
    }
    fn add(&mut self, slot: usize) {
        let mut i = slot + 1;
        while i < self.0.len() {
            self.0[i] += 1;
            i += i & i.wrapping_neg();
        }
    }
    /// Count in slots `0..end`.
    fn prefix(&self, end: usize) -> u64 {
        let mut i = end;
        let mut sum = 0;
        while i > 0 {
            sum += self.0[i];
            i -= i & i.wrapping_neg();
        }
        sum
    }
}

fn sorted(values: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    v
}

/// Number of values in `sorted` that are `<= x`.
fn count_le(sorted: &[f64], x: f64) -> usize {
    sorted.partition_point(|&v| v <= x)
}

/// Number of values in `sorted` that are `< x`.
fn count_lt(sorted: &[f64], x: f64) -> usize {
    sorted.partition_point(|&v| v < x)
}

/// τ of one group: every pair within `fans`. Windows must be open (`lo < hi`), as a request's
/// send time always precedes its answer.
pub fn kendall(fans: &[Observed]) -> Tau {
    let mut by_key = fans.to_vec();
    by_key.sort_by_key(|f| f.key);
    let his = sorted(by_key.iter().map(|f| f.hi));
    let los = sorted(by_key.iter().map(|f| f.lo));
    let mut hi_tree = Fenwick::new(his.len());
    let mut lo_tree = Fenwick::new(los.len());
    let (mut concordant, mut discordant) = (0u64, 0u64);
    for (inserted, b) in by_key.iter().enumerate() {
        // Earlier-key fans provably served before b: hi_a <= lo_b.
        concordant += hi_tree.prefix(count_le(&his, b.lo));
        // Earlier-key fans provably served after b: lo_a >= hi_b.
        discordant += inserted as u64 - lo_tree.prefix(count_lt(&los, b.hi));
        hi_tree.add(count_lt(&his, b.hi));
        lo_tree.add(count_lt(&los, b.lo));
    }
    Tau::from_counts(by_key.len() as u64, concordant, discordant)
}

/// Pairs across two groups where every fan of `first` should be served before every fan of
/// `then` (the pre-queue before later arrivals), whatever their keys.
pub fn across(first: &[Observed], then: &[Observed]) -> (u64, u64) {
    let first_his = sorted(first.iter().map(|f| f.hi));
    let first_los = sorted(first.iter().map(|f| f.lo));
    let (mut concordant, mut discordant) = (0u64, 0u64);
    for b in then {
        concordant += count_le(&first_his, b.lo) as u64;
        discordant += (first_los.len() - count_lt(&first_los, b.hi)) as u64;
    }
    (concordant, discordant)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute(fans: &[Observed]) -> Tau {
        let (mut c, mut d) = (0, 0);
        for a in fans {
            for b in fans {
                if a.key < b.key {
                    if a.hi <= b.lo {
                        c += 1;
                    } else if b.hi <= a.lo {
                        d += 1;
                    }
                }
            }
        }
        Tau::from_counts(fans.len() as u64, c, d)
    }

    fn fan(key: u64, lo: f64, hi: f64) -> Observed {
        Observed { key, lo, hi }
    }

    #[test]
    fn perfect_fifo_is_one_even_with_ties() {
        // Admitted in join order, windows of 1.5 s overlapping their neighbours'.
        let fans: Vec<_> = (0..100)
            .map(|i| fan(i, i as f64 * 0.1, i as f64 * 0.1 + 1.5))
            .collect();
        let tau = kendall(&fans);
        assert_eq!(tau.tau, Some(1.0));
        assert_eq!(tau.discordant, 0);
        assert!(tau.tied > 0);
        assert_eq!(tau, brute(&fans));
    }

    #[test]
    fn reverse_order_is_minus_one() {
        let fans: Vec<_> = (0..50)
            .map(|i| fan(i, 100.0 - i as f64, 100.5 - i as f64))
            .collect();
        assert_eq!(kendall(&fans).tau, Some(-1.0));
    }

    #[test]
    fn one_provable_inversion_is_counted() {
        let fans = vec![
            fan(1, 0.0, 1.0),
            fan(2, 5.0, 6.0), // admitted after 3
            fan(3, 2.0, 3.0),
        ];
        let tau = kendall(&fans);
        assert_eq!((tau.concordant, tau.discordant, tau.tied), (2, 1, 0));
        assert!((tau.tau.unwrap() - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn touching_windows_are_ordered_and_overlapping_ones_tie() {
        // a's window ends exactly where b's begins: a was admitted no later than b's lo.
        let tau = kendall(&[fan(1, 0.0, 1.0), fan(2, 1.0, 2.0)]);
        assert_eq!((tau.concordant, tau.tied), (1, 0));
        let tau = kendall(&[fan(1, 0.0, 1.5), fan(2, 1.0, 2.0)]);
        assert_eq!((tau.concordant, tau.discordant, tau.tied), (0, 0, 1));
        assert_eq!(tau.tau, None);
    }

    #[test]
    fn fenwick_count_matches_brute_force_on_random_windows() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        for _ in 0..50 {
            let n = rng.random_range(0..80);
            let fans: Vec<_> = (0..n)
                .map(|i| {
                    let lo = (rng.random_range(0..40) as f64) / 4.0;
                    fan(i, lo, lo + rng.random_range(1..8) as f64 / 4.0)
                })
                .collect();
            assert_eq!(kendall(&fans), brute(&fans));
        }
    }

    #[test]
    fn prequeue_goes_before_later_arrivals() {
        let pre = vec![fan(5, 0.0, 1.0), fan(9, 0.5, 2.0)];
        let post = vec![fan(10, 2.0, 3.0), fan(11, 1.5, 2.5)];
        assert_eq!(across(&pre, &post), (3, 0));
        let late_pre = vec![fan(5, 4.0, 5.0)];
        assert_eq!(across(&late_pre, &post), (0, 2));
    }
}
