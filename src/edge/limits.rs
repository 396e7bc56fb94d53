//! Keyed rate limits (governor GCRA) with bounded memory.
//!
//! One [`KeyedLimit`] per route and key kind (client address or session). Its map holds one
//! small state per key; a periodic sweep drops keys whose state is back to fresh, and a hard
//! ceiling on the number of keys bounds memory even under a flood of millions of distinct
//! addresses inside one sweep period: past the ceiling the map is swept at once, and if the
//! flood still fills it, it starts over empty (those keys regain a fresh quota, which costs a
//! few requests, never memory).

use parking_lot::RwLock;
use std::hash::Hash;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};

/// How many checks pass between two looks at the map's size.
const SIZE_CHECK_EVERY: u64 = 256;

/// A rate: `count` requests per `period`, with bursts of up to `burst`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub count: NonZeroU32,
    pub period: Duration,
    pub burst: NonZeroU32,
}

impl Rate {
    fn quota(&self) -> Quota {
        // count ≥ 1, so the replenish interval is period / count ≥ 1 ns unless period is 0,
        // which parsing refuses.
        let interval = (self.period / self.count.get()).max(Duration::from_nanos(1));
        Quota::with_period(interval)
            .expect("a non-zero interval")
            .allow_burst(self.burst)
    }
}

/// A setting for one limit: a rate, or `off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit(pub Option<Rate>);

impl FromStr for Limit {
    type Err = String;

    /// `off`, or `COUNT/UNIT[:BURST]` with UNIT `s`, `min` or `h` (`120/min:30`). Without a
    /// burst, the burst is the count.
    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("off") || text == "0" {
            return Ok(Limit(None));
        }
        let usage = || format!("{text:?}: expected off or COUNT/UNIT[:BURST], as 120/min:30");
        let (rate, burst) = match text.split_once(':') {
            Some((rate, burst)) => (rate, Some(burst)),
            None => (text, None),
        };
        let (count, unit) = rate.split_once('/').ok_or_else(usage)?;
        let count: NonZeroU32 = count.trim().parse().map_err(|_| usage())?;
        let period = match unit.trim() {
            "s" | "sec" => Duration::from_secs(1),
            "m" | "min" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            _ => return Err(usage()),
        };
        let burst = match burst {
            Some(b) => b.trim().parse().map_err(|_| usage())?,
            None => count,
        };
        Ok(Limit(Some(Rate {
            count,
            period,
            burst,
        })))
    }
}

type Limiter<K, C> = RateLimiter<K, DashMapStateStore<K>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// One rate limit keyed by `K`, its memory bounded by `max_keys`.
pub struct KeyedLimit<K: Hash + Eq + Clone, C: Clock = DefaultClock> {
    quota: Quota,
    clock: C,
    limiter: RwLock<Limiter<K, C>>,
    max_keys: usize,
    checks: AtomicU64,
}

impl<K: Hash + Eq + Clone> KeyedLimit<K, DefaultClock> {
    /// A limit on the wall clock.
    pub fn new(rate: Rate, max_keys: usize) -> Self {
        Self::with_clock(rate, max_keys, DefaultClock::default())
    }
}

impl<K: Hash + Eq + Clone, C: Clock + Clone> KeyedLimit<K, C> {
    /// A limit on a given clock (tests use governor's fake clock).
    pub fn with_clock(rate: Rate, max_keys: usize, clock: C) -> Self {
        let quota = rate.quota();
        KeyedLimit {
            limiter: RwLock::new(Self::fresh(quota, &clock)),
            quota,
            clock,
            max_keys: max_keys.max(1),
            checks: AtomicU64::new(0),
        }
    }

    fn fresh(quota: Quota, clock: &C) -> Limiter<K, C> {
        RateLimiter::new(quota, DashMapStateStore::default(), clock.clone())
    }

    /// `Ok` when `key` may go on; else how long until it may.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SIZE_CHECK_EVERY == 0 {
            self.bound();
        }
        let limiter = self.limiter.read();
        limiter
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Keeps the map under its ceiling: sweep, and start over if the sweep was not enough.
    fn bound(&self) {
        if self.len() <= self.max_keys {
            return;
        }
        self.sweep();
        if self.len() > self.max_keys {
            let mut limiter = self.limiter.write();
            *limiter = Self::fresh(self.quota, &self.clock);
            metrics::counter!("rate_limiter_resets_total").increment(1);
        }
    }

    /// Drops keys whose state is back to fresh, and gives their memory back.
    pub fn sweep(&self) {
        let limiter = self.limiter.read();
        limiter.retain_recent();
        limiter.shrink_to_fit();
    }

    /// Keys held now.
    pub fn len(&self) -> usize {
        self.limiter.read().len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;
    use std::net::{IpAddr, Ipv4Addr};

    fn rate(text: &str) -> Rate {
        text.parse::<Limit>().unwrap().0.unwrap()
    }

    #[test]
    fn limits_parse_with_units_and_bursts() {
        let r = rate("120/min:30");
        assert_eq!(
            (r.count.get(), r.period, r.burst.get()),
            (120, Duration::from_secs(60), 30)
        );
        assert_eq!(rate("5/s").burst.get(), 5);
        assert_eq!("off".parse::<Limit>().unwrap(), Limit(None));
        assert_eq!("0".parse::<Limit>().unwrap(), Limit(None));
        for bad in ["", "10", "10/day", "x/s", "0/s", "10/s:0", "10/s:x", "-1/s"] {
            assert!(bad.parse::<Limit>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn a_key_gets_its_burst_then_waits_for_the_rate() {
        let clock = FakeRelativeClock::default();
        let limit = KeyedLimit::with_clock(rate("60/min:3"), 100, clock.clone());
        for _ in 0..3 {
            assert!(limit.check(&"a").is_ok());
        }
        let wait = limit.check(&"a").unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert!(limit.check(&"b").is_ok(), "keys are independent");
        clock.advance(Duration::from_secs(1));
        assert!(limit.check(&"a").is_ok());
        assert!(limit.check(&"a").is_err());
    }

    #[test]
    fn memory_stays_bounded_under_a_million_distinct_addresses() {
        let clock = FakeRelativeClock::default();
        let max_keys = 50_000;
        let limit = KeyedLimit::with_clock(rate("60/min:10"), max_keys, clock.clone());
        let mut most = 0;
        for i in 0..1_000_000u32 {
            let addr = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
            assert!(limit.check(&addr).is_ok(), "a new address has its burst");
            if i % 1000 == 0 {
                clock.advance(Duration::from_millis(1));
                most = most.max(limit.len());
            }
        }
        assert!(
            most <= max_keys + SIZE_CHECK_EVERY as usize,
            "held {most} keys, ceiling {max_keys}"
        );
        // Once the burst's worth of time has passed, the periodic sweep empties the map.
        clock.advance(Duration::from_secs(11));
        limit.sweep();
        assert_eq!(limit.len(), 0);
    }
}
