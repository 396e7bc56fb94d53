//! The server's own view of the same requests, from `GET /metrics` (Prometheus text,
//! `http_request_duration_seconds` by route and method), scraped before and after the run.
//!
//! Client-side latency includes everything between the generator and the handler: socket
//! queues, the server's accept loop, and, when the generator shares the machine, the
//! generator's own scheduling. Setting the server's figures beside the client's says where
//! the time goes. The histogram's buckets are coarse, so a percentile is reported as the
//! bucket bound it falls under ("≤ 5 ms"). The server counts fans and bots together.

use std::collections::BTreeMap;

use serde::Serialize;

const METRIC: &str = "http_request_duration_seconds_bucket{";

/// Cumulative bucket counts per (route, method), keyed by the bucket's bound in seconds
/// (stored as its bit pattern so the map sorts; bounds are positive).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Histograms(BTreeMap<(String, String), BTreeMap<u64, u64>>);

fn label<'a>(labels: &'a str, name: &str) -> Option<&'a str> {
    let start = labels.find(&format!("{name}=\""))? + name.len() + 2;
    let end = labels[start..].find('"')? + start;
    Some(&labels[start..end])
}

impl Histograms {
    /// Parses the duration histograms out of a `/metrics` answer, summing over statuses.
    pub fn parse(text: &str) -> Histograms {
        let mut out: BTreeMap<(String, String), BTreeMap<u64, u64>> = BTreeMap::new();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix(METRIC) else {
                continue;
            };
            let Some((labels, value)) = rest.rsplit_once('}') else {
                continue;
            };
            let (Some(route), Some(method), Some(le)) = (
                label(labels, "route"),
                label(labels, "method"),
                label(labels, "le"),
            ) else {
                continue;
            };
            let bound = if le == "+Inf" {
                f64::INFINITY
            } else {
                match le.parse::<f64>() {
                    Ok(b) => b,
                    Err(_) => continue,
                }
            };
            let Ok(count) = value.trim().parse::<f64>() else {
                continue;
            };
            *out.entry((route.to_owned(), method.to_owned()))
                .or_default()
                .entry(bound.to_bits())
                .or_default() += count as u64;
        }
        Histograms(out)
    }

    /// What was added since `before`.
    pub fn since(&self, before: &Histograms) -> Histograms {
        let mut out = self.0.clone();
        for (key, buckets) in &mut out {
            if let Some(old) = before.0.get(key) {
                for (bound, count) in buckets.iter_mut() {
                    *count = count.saturating_sub(old.get(bound).copied().unwrap_or(0));
                }
            }
        }
        Histograms(out)
    }

    /// The summary of one route and method, if the server saw it.
    pub fn latency(&self, route: &str, method: &str) -> Option<ServerLatency> {
        let buckets = self.0.get(&(route.to_owned(), method.to_owned()))?;
        let total = buckets.values().copied().max().unwrap_or(0);
        if total == 0 {
            return None;
        }
        let under = |q: f64| {
            buckets
                .iter()
                .find(|(_, &c)| c as f64 >= q * total as f64)
                .map(|(b, _)| f64::from_bits(*b) * 1000.0)
                .filter(|ms| ms.is_finite())
        };
        Some(ServerLatency {
            route: route.to_owned(),
            method: method.to_owned(),
            requests: total,
            p50_under_ms: under(0.5),
            p99_under_ms: under(0.99),
        })
    }
}

/// The server's latency for one route, fans and bots together.
#[derive(Clone, Debug, Serialize)]
pub struct ServerLatency {
    pub route: String,
    pub method: String,
    pub requests: u64,
    /// Bucket bound the median falls under; `None` when above the last finite bound.
    pub p50_under_ms: Option<f64>,
    pub p99_under_ms: Option<f64>,
}

/// The routes behind the load test's endpoints, in report order.
pub const ROUTES: [(&str, &str, &str); 6] = [
    ("challenge", "/api/v1/events/{id}/challenge", "GET"),
    ("join", "/api/v1/events/{id}/queue", "POST"),
    ("status", "/api/v1/events/{id}/queue", "GET"),
    ("seats", "/api/v1/events/{id}/seats", "GET"),
    ("hold", "/api/v1/events/{id}/holds", "POST"),
    ("order", "/api/v1/events/{id}/holds/{hold_id}/order", "POST"),
];

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = r#"# HELP http_request_duration_seconds x
http_request_duration_seconds_bucket{route="/q",method="GET",status="200",le="0.001"} 10
http_request_duration_seconds_bucket{route="/q",method="GET",status="200",le="0.005"} 10
http_request_duration_seconds_bucket{route="/q",method="GET",status="200",le="+Inf"} 10
"#;
    const AFTER: &str = r#"http_request_duration_seconds_bucket{route="/q",method="GET",status="200",le="0.001"} 60
http_request_duration_seconds_bucket{route="/q",method="GET",status="200",le="0.005"} 108
http_request_duration_seconds_bucket{route="/q",method="GET",status="200",le="+Inf"} 110
http_request_duration_seconds_bucket{route="/q",method="GET",status="429",le="0.001"} 0
http_request_duration_seconds_bucket{route="/q",method="GET",status="429",le="0.005"} 0
http_request_duration_seconds_bucket{route="/q",method="GET",status="429",le="+Inf"} 0
http_request_duration_seconds_count{route="/q",method="GET",status="200"} 110
"#;

    #[test]
    fn percentiles_are_bucket_bounds_of_the_run_alone() {
        let run = Histograms::parse(AFTER).since(&Histograms::parse(BEFORE));
        let l = run.latency("/q", "GET").unwrap();
        assert_eq!(l.requests, 100);
        assert_eq!(l.p50_under_ms, Some(1.0));
        assert_eq!(l.p99_under_ms, None, "2 of 100 above the last finite bound");
        assert!(run.latency("/q", "POST").is_none());
    }

    #[test]
    fn statuses_are_summed() {
        let h = Histograms::parse(AFTER);
        assert_eq!(h.latency("/q", "GET").unwrap().requests, 110);
    }
}
