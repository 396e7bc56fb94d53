//! Logs and metrics: the tracing subscriber, the Prometheus recorder, and the HTTP middleware
//! that counts and times every request by route pattern and status.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::HttpMessage;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Latency buckets in seconds: fine below 10 ms where status polls live, coarse above.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// How often the recorder drains its histogram buffers.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Installs the log subscriber once (reads `RUST_LOG`, default `info`).
pub fn init_logs(default_filter: &str) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    // A second call (several test apps in one process) finds a subscriber installed: fine.
    let _ = tracing_subscriber::fmt().with_env_filter(filter).try_init();
}

/// The process-wide Prometheus recorder, installed on first use. Several apps in one process
/// (tests) share it, as they share the process.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                // The buckets are a non-empty constant: this cannot fail.
                .expect("latency buckets are valid")
                .build_recorder();
            let handle = recorder.handle();
            // Only fails if another recorder is installed, which only this function does.
            let _ = metrics::set_global_recorder(recorder);
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || loop {
                    std::thread::sleep(UPKEEP_INTERVAL);
                    upkeep.run_upkeep();
                })
                .ok();
            describe_metrics();
            handle
        })
        .clone()
}

/// The kinds of metrics this node exports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Every metric this node exports, with its help text. `/metrics` shows a metric once it has
/// been recorded; this list is the whole set (dashboards and alerts may name only these).
pub const METRICS: &[(Kind, &str, &str)] = &[
    (Kind::Counter, "http_requests_total", "HTTP requests by route, method and status"),
    (Kind::Histogram, "http_request_duration_seconds", "HTTP request latency by route, method and status"),
    (Kind::Counter, "holds_total", "Holds by outcome"),
    (Kind::Counter, "orders_total", "Orders by outcome (confirmed, recovered: stored by an attempt whose answer was lost, key_taken, item_taken, fenced, failed, busy)"),
    (Kind::Histogram, "order_batch_size", "Orders per group commit"),
    (Kind::Histogram, "order_commit_duration_seconds", "Time of one group commit transaction"),
    (Kind::Gauge, "inventory_actors", "Inventory actors running on this node"),
    (Kind::Counter, "line_admitted_total", "Fans admitted from the line (this node's ticks)"),
    (Kind::Counter, "line_skipped_total", "No-shows skipped by the pacer (this node's ticks)"),
    (Kind::Counter, "pacer_throttled_ticks_total", "Pacer ticks slowed by a saturated shop"),
    (Kind::Gauge, "line_waiting", "Fans really waiting in an event's line (not left, polling within the liveness grace)"),
    (Kind::Counter, "line_left_total", "Fans who left a line themselves"),
    (Kind::Gauge, "line_serving", "An event's serving counter"),
    (Kind::Gauge, "line_last_seq", "Last join number issued for an event"),
    (Kind::Gauge, "line_active_shoppers", "Admitted shoppers still active, per event"),
    (Kind::Gauge, "line_admissions_unfetched", "Admissions granted whose fans have not fetched them yet, per event"),
    (Kind::Gauge, "long_polls_parked", "Status requests held open on this node, waiting for a change"),
    (Kind::Counter, "long_polls_refused_total", "Long polls answered at once because this node held its most"),
    (Kind::Gauge, "line_admission_rate_per_minute", "Measured (smoothed) admissions per minute, per event"),
    (Kind::Counter, "requests_rejected_total", "Requests refused at the edge or the shop, by reason (rate_limited, pow, not_admitted, overloaded, client_inflight, cross_site, timeout, actor_busy)"),
    (Kind::Gauge, "rate_limiter_keys", "Keys (addresses, sessions) held by this node's rate limiters"),
    (Kind::Counter, "rate_limiter_resets_total", "Rate limiters emptied because a flood of distinct keys filled them"),
    (Kind::Gauge, "http_requests_in_flight", "Requests being served by this node"),
    (Kind::Gauge, "owned_events", "Events this node owns (their inventory actors run here)"),
    (Kind::Counter, "lease_takeovers_total", "Events this node took over (a free or expired ownership lease)"),
    (Kind::Counter, "forwarded_requests_total", "Calls forwarded to the node owning their event, by outcome (relayed, unreachable, second_hop)"),
    (Kind::Counter, "fenced_commits_total", "Group commits refused because the event has a newer owner"),
    (Kind::Gauge, "event_sold", "Places sold, per event (set by the event's owner each tick)"),
    (Kind::Gauge, "event_held", "Places held, per event"),
    (Kind::Gauge, "event_available", "Places free, per event"),
    (Kind::Gauge, "event_admission_limit_per_minute", "The organizer's admission rate, per event"),
    (Kind::Gauge, "event_selling", "1 while an event's sale is open (not scheduled, paused or closed), per event"),
    (Kind::Gauge, "inventory_actor_inflight", "Requests sent to an event's inventory actor and not yet answered (its mailbox)"),
    (Kind::Gauge, "node_ready", "1 when this node's database and line store both answer (checked every 10 s), else 0"),
    (Kind::Counter, "mail_sent_total", "Order e-mails the mail server accepted (or written as files), this node"),
    (Kind::Counter, "mail_failed_total", "Order e-mail attempts that failed, by reason (unreachable, timeout, deferred: a 4xx, rejected: a 5xx, address, tls, file, database, message, other)"),
    (Kind::Gauge, "mail_parked", "Order e-mails parked for the organizer (every event)"),
    (Kind::Gauge, "mail_outbox_due", "Order e-mails due and not yet sent (every event)"),
    (Kind::Gauge, "mail_outbox_oldest_due_seconds", "How long the longest-waiting due e-mail has been due"),
];

/// The gauges an event's owner sets per event: a node that stops owning an event sets them to
/// 0, so across nodes the owner's value is the greatest (dashboards take `max by (event)`).
pub const EVENT_GAUGES: &[&str] = &[
    "line_waiting",
    "line_serving",
    "line_last_seq",
    "line_active_shoppers",
    "line_admissions_unfetched",
    "line_admission_rate_per_minute",
    "event_sold",
    "event_held",
    "event_available",
    "event_admission_limit_per_minute",
    "event_selling",
    "inventory_actor_inflight",
];

/// Zeroes an event's gauges on this node (it no longer owns the event).
pub fn forget_event(event: uuid::Uuid) {
    let label = event.to_string();
    for &name in EVENT_GAUGES {
        metrics::gauge!(name, "event" => label.clone()).set(0.0);
    }
}

fn describe_metrics() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    for &(kind, name, help) in METRICS {
        match kind {
            Kind::Counter => describe_counter!(name, help),
            Kind::Gauge => describe_gauge!(name, help),
            // Latencies are in seconds, as their names say.
            Kind::Histogram if name.ends_with("_seconds") => {
                describe_histogram!(name, Unit::Seconds, help)
            }
            Kind::Histogram => describe_histogram!(name, help),
        }
    }
}

/// Marks a request that no route matched (set by the fallback handlers), so it is counted
/// under `unmatched` rather than its path.
pub const UNMATCHED: FixedLabel = FixedLabel("unmatched");

/// A route label fixed by whoever answered the request (the fallback handlers, the edge),
/// so requests that matched no route are counted under it rather than their raw path.
#[derive(Clone, Copy, Debug)]
pub struct FixedLabel(pub &'static str);

/// The route pattern of a routed request (`/api/v1/events/{id}/queue`). Read after routing,
/// `match_pattern` follows the matched resource's indices in the resource map (no regex
/// matching again); a request no resource matched is `unmatched` (the fallbacks and the edge
/// set their own label first), so a made-up path never becomes a label.
fn route_label(req: &actix_web::HttpRequest) -> String {
    if let Some(FixedLabel(label)) = req.extensions().get::<FixedLabel>() {
        return (*label).into();
    }
    req.match_pattern()
        .unwrap_or_else(|| UNMATCHED.0.to_string())
}

/// The method as a label: the standard methods by name, anything else `other` (a client can
/// send any token as a method; made-up ones must not grow the label set).
pub fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}

/// Middleware: counts and times each request under its route pattern (`/api/v1/events/{id}`,
/// never the raw path, so label cardinality stays bounded).
pub async fn record_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = method_label(req.method());
    let response = next.call(req).await;
    let (status, route) = match &response {
        Ok(r) => (r.status().as_u16(), route_label(r.request())),
        Err(e) => (e.as_response_error().status_code().as_u16(), "error".into()),
    };
    let labels = [
        ("route", route),
        ("method", method.to_string()),
        ("status", status.to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}
