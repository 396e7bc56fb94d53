//! What the run measures while it runs: per-endpoint latency (HDR histograms, raw and
//! corrected for coordinated omission), answers by status, requests per second, and latency
//! percentiles per time window for the charts.
//!
//! Goose keeps its own request metrics for its report, but they are rounded buckets, not
//! HDR histograms, and its coordinated-omission mitigation follows the cadence of a user's
//! loop through a scenario, which a fan (one long pass: join, wait, shop) does not have.
//! Here each request is recorded with the interval its sender meant to keep (a fan's
//! planned poll interval, a bot's pace): when an answer takes longer than that, the
//! requests the sender would have sent meanwhile are added as `hdrhistogram` does in
//! `record_correct`, which is the standard correction.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

/// Highest latency a histogram tracks, microseconds (longer ones are clamped to it).
const MAX_LATENCY_US: u64 = 600_000_000;
/// Significant figures of the whole-run histograms.
const SIGFIG: u8 = 3;
/// Significant figures of the per-window histograms (charts need less).
const WINDOW_SIGFIG: u8 = 2;

fn histogram(sigfig: u8) -> Histogram<u64> {
    // The bounds are constants known to be valid.
    Histogram::new_with_bounds(1, MAX_LATENCY_US, sigfig).expect("valid histogram bounds")
}

/// Everything measured for one endpoint.
struct Endpoint {
    raw: Histogram<u64>,
    corrected: Histogram<u64>,
    /// Answers by status code; 0 counts requests that got no answer.
    statuses: BTreeMap<u16, u64>,
    /// Requests completed in each second since the start.
    per_second: Vec<u64>,
    /// Latencies per chart window.
    windows: Vec<Histogram<u64>>,
}

impl Endpoint {
    fn new() -> Self {
        Endpoint {
            raw: histogram(SIGFIG),
            corrected: histogram(SIGFIG),
            statuses: BTreeMap::new(),
            per_second: Vec::new(),
            windows: Vec::new(),
        }
    }
}

/// Latency percentiles of one histogram, in milliseconds.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl Percentiles {
    /// The percentiles of `h` (microseconds).
    pub fn of(h: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        Percentiles {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
            mean_ms: h.mean() / 1000.0,
        }
    }
}

/// The summary of one endpoint at the end of the run.
#[derive(Clone, Debug, Serialize)]
pub struct EndpointSummary {
    pub name: String,
    pub requests: u64,
    /// Requests per second over the seconds the endpoint was in use.
    pub mean_rps: f64,
    pub peak_rps: u64,
    pub statuses: BTreeMap<u16, u64>,
    pub latency: Percentiles,
    /// The same, corrected for coordinated omission.
    pub latency_corrected: Percentiles,
    /// Requests per second, one value per second since the start.
    pub per_second: Vec<u64>,
    /// p50 and p99 per chart window (ms); `None` where the window saw no request.
    pub window_p50_ms: Vec<Option<f64>>,
    pub window_p99_ms: Vec<Option<f64>>,
}

/// The run's measurements, shared by every simulated fan and bot.
pub struct Recorder {
    t0: Instant,
    window: Duration,
    endpoints: Mutex<BTreeMap<&'static str, Endpoint>>,
}

impl Recorder {
    /// A recorder whose clock starts at `t0`, with chart windows of `window`.
    pub fn new(t0: Instant, window: Duration) -> Self {
        Recorder {
            t0,
            window: window.max(Duration::from_millis(100)),
            endpoints: Mutex::new(BTreeMap::new()),
        }
    }

    /// Seconds since the start of the run.
    pub fn secs(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.t0).as_secs_f64()
    }

    /// Records one request to `endpoint` that took `latency` and ended at `done`, answered
    /// with `status` (`None`: no answer). `interval` is the pace its sender meant to keep.
    pub fn record(
        &self,
        endpoint: &'static str,
        done: Instant,
        latency: Duration,
        status: Option<u16>,
        interval: Option<Duration>,
    ) {
        let us = (latency.as_micros() as u64).clamp(1, MAX_LATENCY_US);
        let since = done.saturating_duration_since(self.t0);
        let second = since.as_secs() as usize;
        let window = (since.as_secs_f64() / self.window.as_secs_f64()) as usize;
        let mut endpoints = self.endpoints.lock().unwrap_or_else(|p| p.into_inner());
        let e = endpoints.entry(endpoint).or_insert_with(Endpoint::new);
        e.raw.saturating_record(us);
        match interval {
            Some(interval) if interval.as_micros() > 0 => {
                // Only fails for values out of range, and `us` is clamped into it.
                let _ = e
                    .corrected
                    .record_correct(us, (interval.as_micros() as u64).max(1));
            }
            _ => e.corrected.saturating_record(us),
        }
        *e.statuses.entry(status.unwrap_or(0)).or_default() += 1;
        if e.per_second.len() <= second {
            e.per_second.resize(second + 1, 0);
        }
        e.per_second[second] += 1;
        while e.windows.len() <= window {
            e.windows.push(histogram(WINDOW_SIGFIG));
        }
        e.windows[window].saturating_record(us);
    }

    /// Requests recorded so far, all endpoints.
    pub fn total_requests(&self) -> u64 {
        let endpoints = self.endpoints.lock().unwrap_or_else(|p| p.into_inner());
        endpoints.values().map(|e| e.raw.len()).sum()
    }

    /// Requests completed in second `second`, all endpoints.
    pub fn requests_in_second(&self, second: usize) -> u64 {
        let endpoints = self.endpoints.lock().unwrap_or_else(|p| p.into_inner());
        endpoints
            .values()
            .map(|e| e.per_second.get(second).copied().unwrap_or(0))
            .sum()
    }

    /// The summary of every endpoint, in a fixed order (fans' endpoints first).
    pub fn summaries(&self) -> Vec<EndpointSummary> {
        let endpoints = self.endpoints.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<EndpointSummary> = endpoints
            .iter()
            .map(|(name, e)| {
                let active = e.per_second.iter().filter(|&&n| n > 0).count().max(1);
                let quantile = |h: &Histogram<u64>, q: f64| {
                    (!h.is_empty()).then(|| h.value_at_quantile(q) as f64 / 1000.0)
                };
                EndpointSummary {
                    name: (*name).to_owned(),
                    requests: e.raw.len(),
                    mean_rps: e.raw.len() as f64 / active as f64,
                    peak_rps: e.per_second.iter().copied().max().unwrap_or(0),
                    statuses: e.statuses.clone(),
                    latency: Percentiles::of(&e.raw),
                    latency_corrected: Percentiles::of(&e.corrected),
                    per_second: e.per_second.clone(),
                    window_p50_ms: e.windows.iter().map(|h| quantile(h, 0.5)).collect(),
                    window_p99_ms: e.windows.iter().map(|h| quantile(h, 0.99)).collect(),
                }
            })
            .collect();
        out.sort_by_key(|s| (endpoint_rank(&s.name), s.name.clone()));
        out
    }
}

/// Display order: the fan's path through the sale, then the bots'.
fn endpoint_rank(name: &str) -> usize {
    const ORDER: [&str; 9] = [
        "challenge",
        "join",
        "status",
        "seats",
        "hold",
        "order",
        "bot join",
        "bot status",
        "bot hold",
    ];
    ORDER.iter().position(|n| *n == name).unwrap_or(ORDER.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correction_adds_the_requests_a_stalled_sender_missed() {
        let t0 = Instant::now();
        let rec = Recorder::new(t0, Duration::from_secs(1));
        // One poll stalls for 10 s while its fan meant to poll every second.
        rec.record(
            "status",
            t0 + Duration::from_secs(10),
            Duration::from_secs(10),
            Some(200),
            Some(Duration::from_secs(1)),
        );
        let s = &rec.summaries()[0];
        assert_eq!(s.latency.count, 1);
        assert_eq!(s.latency_corrected.count, 10);
        assert!(s.latency_corrected.p50_ms < s.latency.p50_ms);
        assert_eq!(s.statuses[&200], 1);
        assert_eq!(s.per_second[10], 1);
    }

    #[test]
    fn endpoints_are_listed_in_flow_order() {
        let t0 = Instant::now();
        let rec = Recorder::new(t0, Duration::from_secs(1));
        for name in ["order", "bot join", "join", "status"] {
            rec.record(name, t0, Duration::from_millis(1), None, None);
        }
        let names: Vec<_> = rec.summaries().into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["join", "status", "order", "bot join"]);
        assert_eq!(rec.total_requests(), 4);
    }
}
