//! The run's results: one summary (also written as JSON for machines), a table on the
//! terminal, and a self-contained HTML page with inline SVG charts.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use serde::Serialize;

use crate::api::Stats;
use crate::audit::Audit;
use crate::chart::{line_chart, Series, PALETTE};
use crate::fairness::Tau;
use crate::monitor::Sample;
use crate::record::{EndpointSummary, Percentiles};
use crate::run::{BotTally, FanRecord, Outcome};
use crate::server_metrics::ServerLatency;

/// Times of the fans' journeys, in seconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Journey {
    pub count: u64,
    pub p50_s: f64,
    pub p90_s: f64,
    pub p99_s: f64,
    pub max_s: f64,
}

impl Journey {
    /// Percentiles of `secs`.
    pub fn of(secs: impl Iterator<Item = f64>) -> Journey {
        let Ok(mut h) = Histogram::<u64>::new_with_bounds(1, 3_600_000, 3) else {
            return Journey::default();
        };
        for s in secs {
            h.saturating_record((s * 1000.0).max(1.0) as u64);
        }
        if h.is_empty() {
            return Journey::default();
        }
        let p = Percentiles::of(&h);
        // `Percentiles::of` reads microseconds into milliseconds; fed milliseconds, it gives
        // seconds.
        Journey {
            count: p.count,
            p50_s: p.p50_ms,
            p90_s: p.p90_ms,
            p99_s: p.p99_ms,
            max_s: p.max_ms,
        }
    }
}

/// What happened to the fans.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Fans {
    pub fans: usize,
    pub joined: usize,
    pub prequeue: usize,
    pub admitted: usize,
    pub outcomes: BTreeMap<Outcome, usize>,
    pub items_bought: u64,
    pub polls: u64,
    pub join_to_admission: Journey,
    pub join_to_order: Journey,
    /// From the server admitting a fan to the fan hearing of it.
    pub admission_to_heard: Journey,
    /// Status requests (polls and long polls) per fan per minute spent waiting.
    pub polls_per_waiting_minute: Option<f64>,
    /// The most common refusals behind failures, with counts.
    pub failure_details: BTreeMap<String, usize>,
}

impl Fans {
    /// Sums up the fans' records.
    pub fn of(records: &[FanRecord], fans: usize) -> Fans {
        let mut out = Fans {
            fans,
            ..Fans::default()
        };
        for r in records {
            out.joined += usize::from(r.join_done.is_some());
            out.prequeue += usize::from(r.prequeue);
            out.admitted += usize::from(r.admit_hi.is_some());
            *out.outcomes.entry(r.outcome).or_default() += 1;
            out.items_bought += u64::from(r.items);
            out.polls += u64::from(r.polls);
            if r.outcome != Outcome::Bought {
                if let Some(d) = &r.detail {
                    *out.failure_details.entry(d.clone()).or_default() += 1;
                }
            }
        }
        // Pre-queue fans cannot be admitted before opening: their wait is counted from
        // their join all the same, as the fan lives it.
        out.join_to_admission = Journey::of(
            records
                .iter()
                .filter_map(|r| Some(r.admit_hi? - r.join_sent?)),
        );
        out.join_to_order = Journey::of(
            records
                .iter()
                .filter_map(|r| Some(r.ordered_at? - r.join_sent?)),
        );
        out.admission_to_heard = Journey::of(records.iter().filter_map(|r| r.learned_after));
        // Waiting ends with the admission, or with the fan's last answer of any kind.
        let waited: f64 = records
            .iter()
            .filter_map(|r| Some(r.admit_hi.or(r.admit_lo)? - r.join_done?))
            .map(|s| s.max(0.0))
            .sum();
        // Every fan's polls over every fan's minutes of waiting: per fan per minute.
        out.polls_per_waiting_minute = (waited > 0.0).then(|| out.polls as f64 / (waited / 60.0));
        out
    }
}

/// The bots' results.
#[derive(Clone, Debug, Serialize)]
pub struct Bots {
    pub bots: usize,
    #[serde(flatten)]
    pub tally: BotTally,
    pub refused: u64,
    /// Share of bot requests refused.
    pub blocked_share: f64,
}

/// How fast the event sold out against what the admission rate allows.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Sale {
    pub capacity: u64,
    pub rate_per_minute: u32,
    /// Seconds since the start of the run at which the sale opened.
    pub opened_at: f64,
    /// Seconds since the start at which the last place was sold, if it was.
    pub sold_out_at: Option<f64>,
    pub sold_out_after_secs: Option<f64>,
    /// Orders that took the capacity.
    pub orders_to_sell_out: u64,
    /// Orders ÷ admissions per second: the fastest the line could have sold out.
    pub rate_implied_secs: Option<f64>,
    /// Sold out within the implied time plus 10 %.
    pub within_target: Option<bool>,
    /// When the first fan learned of an admission, and placed the first order, seconds
    /// after opening: where the time before the first sale goes.
    pub first_admission_after_secs: Option<f64>,
    pub first_order_after_secs: Option<f64>,
}

/// The fairness figures.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Fairness {
    /// Fans who joined after opening: the FIFO promise.
    pub post_opening: Tau,
    /// Pre-queue fans among themselves: drawn at random on purpose, τ near 0 expected.
    pub prequeue: Tau,
    /// Pre-queue fans before later arrivals: (provably before, provably after).
    pub prequeue_before_later: (u64, u64),
    /// Join numbers against the clients' join windows (a later join must get a higher number).
    pub join_numbers: Tau,
    /// The least τ the run accepts for post-opening arrivals.
    pub min_tau: f64,
}

/// Everything a run produced.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub target: String,
    pub event_id: String,
    pub settings: serde_json::Value,
    pub started_at: String,
    pub duration_secs: f64,
    pub total_requests: u64,
    pub mean_rps: f64,
    pub endpoints: Vec<EndpointSummary>,
    pub fans: Fans,
    pub bots: Bots,
    pub sale: Sale,
    pub fairness: Fairness,
    pub audit: Audit,
    pub final_stats: Option<Stats>,
    /// The server's own latency per route (`/metrics`), fans and bots together.
    pub server_latency: Vec<ServerLatency>,
    pub chart_window_secs: f64,
    pub samples: Vec<Sample>,
    /// At a seated event: seat holds from the map and best available, and their 409s.
    pub seats: Option<crate::seats::SeatFigures>,
    /// Why the run failed; empty when it passed.
    pub failures: Vec<String>,
    /// Noteworthy things that are not failures.
    pub notes: Vec<String>,
}

fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn tau_text(t: &Tau) -> String {
    match (t.tau, t.decided_share) {
        (Some(tau), Some(share)) => format!(
            "{tau:.4} over {} fans ({} pairs ordered, {:.1}% of pairs; {} discordant)",
            t.fans,
            t.concordant + t.discordant,
            share * 100.0,
            t.discordant
        ),
        _ => format!("n/a ({} fans, no pair could be ordered)", t.fans),
    }
}

impl Summary {
    /// Whether the audit passed.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// The terminal table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\nFloodgate load test: {} · event {} · {:.1} s · {} requests ({:.0}/s)",
            self.target, self.event_id, self.duration_secs, self.total_requests, self.mean_rps
        );
        let _ = writeln!(
            out,
            "\n{:<11} {:>8} {:>7} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9}  answers",
            "endpoint",
            "requests",
            "mean/s",
            "peak/s",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "p99.9",
            "max ms",
            "p99 corr"
        );
        for e in &self.endpoints {
            let answers = answers(&e.statuses, ":", " ");
            let _ = writeln!(
                out,
                "{:<11} {:>8} {:>7.0} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9}  {}",
                e.name,
                e.requests,
                e.mean_rps,
                e.peak_rps,
                ms(e.latency.p50_ms),
                ms(e.latency.p90_ms),
                ms(e.latency.p99_ms),
                ms(e.latency.p999_ms),
                ms(e.latency.max_ms),
                ms(e.latency_corrected.p99_ms),
                answers
            );
        }
        if !self.server_latency.is_empty() {
            let bound = |v: Option<f64>| v.map_or("> 10 s".to_owned(), |ms| format!("≤ {ms} ms"));
            let _ = writeln!(
                out,
                "\nthe server's own timing (/metrics, fans and bots together):"
            );
            for l in &self.server_latency {
                let _ = writeln!(
                    out,
                    "  {:<6} {:<42} {:>8} requests, p50 {}, p99 {}",
                    l.method,
                    l.route,
                    l.requests,
                    bound(l.p50_under_ms),
                    bound(l.p99_under_ms)
                );
            }
        }
        let f = &self.fans;
        let outcome = |o: Outcome| f.outcomes.get(&o).copied().unwrap_or(0);
        let _ = writeln!(
            out,
            "\nfans {}: joined {} ({} in the pre-queue), admitted {}, bought {} ({} items), sold out {}, expired {}, join failed {}, shop failed {}, out of time {}",
            f.fans, f.joined, f.prequeue, f.admitted, outcome(Outcome::Bought), f.items_bought,
            outcome(Outcome::SoldOut), outcome(Outcome::Expired), outcome(Outcome::JoinFailed),
            outcome(Outcome::ShopFailed), outcome(Outcome::OutOfTime)
        );
        let j = |x: &Journey| {
            format!(
                "p50 {:.1} s, p90 {:.1} s, p99 {:.1} s, max {:.1} s (n={})",
                x.p50_s, x.p90_s, x.p99_s, x.max_s, x.count
            )
        };
        let _ = writeln!(out, "join → admission: {}", j(&f.join_to_admission));
        let _ = writeln!(
            out,
            "admission → fan heard it: {}; status requests per fan per waiting minute: {}",
            j(&f.admission_to_heard),
            f.polls_per_waiting_minute
                .map_or("—".into(), |v| format!("{v:.1}"))
        );
        let _ = writeln!(out, "join → order:     {}", j(&f.join_to_order));
        if let Some(s) = &self.seats {
            let _ = writeln!(
                out,
                "seat holds ({} map): from the map {}, answered 409 {} ({}); best available {}, answered 409 {}; picks the page found taken before holding {}",
                match s.mode {
                    Some(crate::seats::MapMode::Live) => "live",
                    Some(crate::seats::MapMode::Stale) => "stale",
                    None => "—",
                },
                s.map_holds,
                s.map_conflicts,
                s.map_conflict_share
                    .map_or("—".into(), |v| format!("{:.1}%", v * 100.0)),
                s.best_holds,
                s.best_conflicts,
                s.caught_before_holding
            );
        }
        let b = &self.bots;
        let _ = writeln!(
            out,
            "bots {}: {} requests, {} refused ({:.1}%), places obtained {}, admissions {}, holds {} ({} items)",
            b.bots, b.tally.requests, b.refused, b.blocked_share * 100.0, b.tally.tickets,
            b.tally.admissions, b.tally.holds, b.tally.items_held
        );
        let s = &self.sale;
        let _ = writeln!(
            out,
            "sale: capacity {}, {} orders took it; sold out {} after opening; the admission rate ({}/min) implies {}{}",
            s.capacity,
            s.orders_to_sell_out,
            s.sold_out_after_secs.map_or("—".into(), |v| format!("{v:.1} s")),
            s.rate_per_minute,
            s.rate_implied_secs.map_or("—".into(), |v| format!("{v:.1} s")),
            match s.within_target {
                Some(true) => " (within +10%)",
                Some(false) => " (NOT within +10%)",
                None => "",
            }
        );
        let _ = writeln!(
            out,
            "first admission seen {} after opening, first order {}",
            s.first_admission_after_secs
                .map_or("—".into(), |v| format!("{v:.1} s")),
            s.first_order_after_secs
                .map_or("—".into(), |v| format!("{v:.1} s")),
        );
        let fa = &self.fairness;
        let _ = writeln!(
            out,
            "fairness, post-opening arrivals: τ = {}",
            tau_text(&fa.post_opening)
        );
        if fa.prequeue.fans > 0 {
            let _ = writeln!(
                out,
                "pre-queue (random draw, τ≈0 expected): τ = {}",
                tau_text(&fa.prequeue)
            );
            let _ = writeln!(
                out,
                "pre-queue before later arrivals: {} pairs provably in order, {} provably not",
                fa.prequeue_before_later.0, fa.prequeue_before_later.1
            );
        }
        let _ = writeln!(
            out,
            "join numbers vs join times: {} provable inversions",
            fa.join_numbers.discordant
        );
        let a = &self.audit;
        let _ = writeln!(
            out,
            "audit: {} orders listed ({} confirmed), {} items sold of {}; items in two orders {}; 201s checked {}, lost {}, changed {}; orders no fan saw {}",
            a.orders_listed, a.orders_confirmed, a.items_sold, a.capacity, a.items_sold_twice.len(),
            a.acknowledged_checked, a.lost_orders.len(), a.changed_orders.len(), a.unacknowledged_orders
        );
        for n in &self.notes {
            let _ = writeln!(out, "note: {n}");
        }
        if self.passed() {
            let _ = writeln!(
                out,
                "\nRESULT: PASS (no oversell, no lost order, fair admission)"
            );
        } else {
            let _ = writeln!(out, "\nRESULT: FAIL");
            for f in &self.failures {
                let _ = writeln!(out, "  - {f}");
            }
        }
        out
    }

    /// Writes `report.json` and `report.html` into `dir`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let json = serde_json::to_string_pretty(self).context("serializing the summary")?;
        std::fs::write(dir.join("report.json"), json)
            .with_context(|| format!("writing {}", dir.join("report.json").display()))?;
        std::fs::write(dir.join("report.html"), self.html())
            .with_context(|| format!("writing {}", dir.join("report.html").display()))?;
        Ok(())
    }

    fn charts(&self) -> Vec<String> {
        let window = self.chart_window_secs;
        let mut markers = vec![(self.sale.opened_at, "opening")];
        if let Some(t) = self.sale.sold_out_at {
            markers.push((t, "sold out"));
        }
        let markers = &markers;
        let fan_endpoints: Vec<&EndpointSummary> = self.endpoints.iter().collect();
        let throughput: Vec<Series> = fan_endpoints
            .iter()
            .enumerate()
            .map(|(i, e)| Series {
                name: e.name.clone(),
                color: PALETTE[i % PALETTE.len()],
                points: e
                    .per_second
                    .iter()
                    .enumerate()
                    .map(|(s, n)| (s as f64 + 0.5, Some(*n as f64)))
                    .collect(),
            })
            .collect();
        let latency = |pick: fn(&EndpointSummary) -> &Vec<Option<f64>>| -> Vec<Series> {
            fan_endpoints
                .iter()
                .enumerate()
                .map(|(i, e)| Series {
                    name: e.name.clone(),
                    color: PALETTE[i % PALETTE.len()],
                    points: pick(e)
                        .iter()
                        .enumerate()
                        .map(|(w, v)| ((w as f64 + 0.5) * window, *v))
                        .collect(),
                })
                .collect()
        };
        let sample_series = |name: &str, color, f: fn(&Sample) -> f64| Series {
            name: name.to_owned(),
            color,
            points: self.samples.iter().map(|s| (s.t, Some(f(s)))).collect(),
        };
        vec![
            line_chart(
                "Throughput by endpoint",
                "requests per second",
                &throughput,
                markers,
            ),
            line_chart(
                &format!("p50 latency by endpoint ({window:.1} s windows)"),
                "milliseconds",
                &latency(|e| &e.window_p50_ms),
                markers,
            ),
            line_chart(
                &format!("p99 latency by endpoint ({window:.1} s windows)"),
                "milliseconds",
                &latency(|e| &e.window_p99_ms),
                markers,
            ),
            line_chart(
                "Queue length over time (stats: waiting)",
                "fans",
                &[
                    sample_series("waiting", PALETTE[0], |s| s.stats.waiting as f64),
                    sample_series("active shoppers", PALETTE[3], |s| {
                        s.stats.active_shoppers as f64
                    }),
                ],
                markers,
            ),
            line_chart(
                "Inventory over time",
                "items",
                &[
                    sample_series("sold", PALETTE[2], |s| s.stats.sold as f64),
                    sample_series("held", PALETTE[1], |s| s.stats.held as f64),
                    sample_series("available", PALETTE[4], |s| s.stats.available as f64),
                ],
                markers,
            ),
        ]
    }

    fn html(&self) -> String {
        let esc = crate::chart::escape;
        let mut h = String::new();
        let _ = write!(
            h,
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Floodgate load test {}</title>\
             <style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}}\
             table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}\
             th{{background:#f4f4f4}}td:first-child,th:first-child{{text-align:left}}.pass{{color:#1a7f37}}.fail{{color:#c62828}}\
             pre{{background:#f6f8fa;padding:1em;overflow:auto;white-space:pre-wrap}}</style></head><body>",
            esc(&self.event_id)
        );
        let verdict = if self.passed() {
            "<h1 class=\"pass\">PASS</h1>".to_owned()
        } else {
            let items: String = self
                .failures
                .iter()
                .map(|f| format!("<li>{}</li>", esc(f)))
                .collect();
            format!("<h1 class=\"fail\">FAIL</h1><ul>{items}</ul>")
        };
        let _ = write!(
            h,
            "<p>Floodgate load test against <code>{}</code>, event <code>{}</code>, started {} UTC, {:.1} s, {} requests.</p>{verdict}",
            esc(&self.target),
            esc(&self.event_id),
            esc(&self.started_at),
            self.duration_secs,
            self.total_requests
        );
        h.push_str("<h2>Latency and throughput by endpoint</h2><table><tr><th>endpoint</th><th>requests</th><th>mean/s</th><th>peak/s</th><th>p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>p99.9 ms</th><th>max ms</th><th>p99 ms, CO-corrected</th><th>answers</th></tr>");
        for e in &self.endpoints {
            let answers = answers(&e.statuses, ": ", ", ");
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{:.0}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&e.name), e.requests, e.mean_rps, e.peak_rps, ms(e.latency.p50_ms), ms(e.latency.p90_ms),
                ms(e.latency.p99_ms), ms(e.latency.p999_ms), ms(e.latency.max_ms), ms(e.latency_corrected.p99_ms),
                answers
            );
        }
        h.push_str("</table>");
        for chart in self.charts() {
            h.push_str("<div>");
            h.push_str(&chart);
            h.push_str("</div>");
        }
        let _ = write!(h, "<h2>Summary</h2><pre>{}</pre>", esc(&self.table()));
        let _ = write!(
            h,
            "<h2>Settings</h2><pre>{}</pre><p>Goose's own report, if written, is <a href=\"goose-report.html\">goose-report.html</a>; all figures are in <a href=\"report.json\">report.json</a>.</p></body></html>",
            esc(&serde_json::to_string_pretty(&self.settings).unwrap_or_default())
        );
        h
    }
}

/// An endpoint's answers by status (`201:7974 409:1976`; `none` for no answer).
fn answers(statuses: &std::collections::BTreeMap<u16, u64>, pair: &str, sep: &str) -> String {
    statuses
        .iter()
        .map(|(s, n)| match s {
            0 => format!("none{pair}{n}"),
            s => format!("{s}{pair}{n}"),
        })
        .collect::<Vec<_>>()
        .join(sep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journeys_are_in_seconds() {
        let j = Journey::of([1.0, 2.0, 3.0, 4.0].into_iter());
        assert_eq!(j.count, 4);
        assert!((j.p50_s - 2.0).abs() < 0.01, "{}", j.p50_s);
        assert!((j.max_s - 4.0).abs() < 0.01);
    }
}
