//! `loadtest`: rehearses a Floodgate on-sale against any deployment, over the public HTTP
//! API only (`docs/api.md`), and audits the result.
//!
//! An organizer creates an event (or names one with `--event`); fans arrive in a chosen
//! pattern, wait in the line as the waiting-room page does, and buy when admitted; bots
//! flood the same endpoints without following the rules. Goose runs the fans and bots as
//! users and writes its own report; this crate adds what goose has no place for: per-fan
//! state across the waiting room, HDR latency histograms corrected with each sender's own
//! pace, queue-length sampling, the fairness figure and the audit through the organizer
//! API. It exits 1 when the audit finds an oversell, a lost order or unfair admission, and
//! 2 when it could not run (bad flags, unreachable target, refused token).

mod api;
mod arrival;
mod audit;
mod bot;
mod chart;
mod fairness;
mod fan;
mod http;
mod monitor;
mod record;
mod report;
mod run;
mod seats;
mod server_metrics;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{ArgAction, Parser, ValueEnum};
use goose::config::GooseConfiguration;
use goose::prelude::*;
use rand::Rng;

use crate::api::{EventView, Organizer};
use crate::arrival::{Arrivals, Pattern};
use crate::fairness::{across, kendall, Observed};
use crate::record::Recorder;
use crate::report::{Bots, Fairness, Fans, Sale, Summary};
use crate::run::{Crowd, FanRecord, Live, Outcome, Run, Shop};

/// Ready-made sizes; any flag given explicitly wins over its profile's value.
#[derive(Clone, Copy, Debug, PartialEq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
enum Profile {
    /// A few hundred fans, for a first look (about half a minute).
    Quick,
    /// The run `scripts/test-extra` makes against each backend.
    Small,
    /// The on-sale the README reports: 50,000 fans, 5,000 bots, 20,000 items.
    Full,
    /// An arena of 20,000 reserved seats (ten sections of 40 rows × 50): 8,000 fans pick
    /// seats on the map or ask for the best available.
    Arena,
}

/// A profile's values for the flags not given.
struct Defaults {
    fans: usize,
    bots: usize,
    items: u64,
    arrival: Pattern,
    arrival_secs: f64,
    prequeue_secs: f64,
    prequeue_share: f64,
    tickets_per_fan: u32,
    admission_rate: u32,
    max_active: u32,
    pow_bits: u8,
    bot_requests: u32,
    bot_pause_ms: u64,
    max_secs: u64,
}

impl Profile {
    fn defaults(self) -> Defaults {
        match self {
            Profile::Quick => Defaults {
                fans: 200,
                bots: 20,
                items: 100,
                arrival: Pattern::Opening,
                arrival_secs: 2.0,
                prequeue_secs: 10.0,
                prequeue_share: 0.3,
                tickets_per_fan: 2,
                admission_rate: 1200,
                max_active: 200,
                pow_bits: 8,
                bot_requests: 20,
                bot_pause_ms: 200,
                max_secs: 60,
            },
            // Pre-queue and later arrivals both get places, so both fairness figures mean
            // something, in well under a minute.
            Profile::Small => Defaults {
                fans: 300,
                bots: 30,
                items: 150,
                arrival: Pattern::Prequeue,
                arrival_secs: 2.0,
                prequeue_secs: 4.0,
                prequeue_share: 0.2,
                tickets_per_fan: 2,
                admission_rate: 1800,
                max_active: 300,
                pow_bits: 8,
                bot_requests: 15,
                bot_pause_ms: 200,
                max_secs: 45,
            },
            // 5 % in the pre-queue take about a third of the places; later arrivals buy the
            // rest over about a minute of admissions, long enough to judge FIFO among them.
            // About as many places asked for as there are seats, in a couple of minutes.
            Profile::Arena => Defaults {
                fans: 8_000,
                bots: 200,
                items: 20_000,
                arrival: Pattern::Opening,
                arrival_secs: 20.0,
                prequeue_secs: 0.0,
                prequeue_share: 0.0,
                tickets_per_fan: 4,
                admission_rate: 6000,
                max_active: 1500,
                pow_bits: 0,
                bot_requests: 20,
                bot_pause_ms: 500,
                max_secs: 300,
            },
            Profile::Full => Defaults {
                fans: 50_000,
                bots: 5_000,
                items: 20_000,
                arrival: Pattern::Prequeue,
                arrival_secs: 20.0,
                prequeue_secs: 20.0,
                prequeue_share: 0.05,
                tickets_per_fan: 4,
                admission_rate: 6000,
                max_active: 2000,
                pow_bits: 10,
                bot_requests: 30,
                bot_pause_ms: 500,
                max_secs: 900,
            },
        }
    }
}

/// Rehearse a Floodgate on-sale over its public HTTP API and audit the result.
#[derive(Parser, Debug)]
#[command(name = "loadtest", version, about, long_about = None)]
struct Args {
    /// Base URL of the deployment, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    target: String,
    /// The server's ORGANIZER_TOKEN (or set LOADTEST_ORGANIZER_TOKEN).
    #[arg(long, env = "LOADTEST_ORGANIZER_TOKEN", hide_env_values = true)]
    organizer_token: String,
    /// Sizes and pacing to start from.
    #[arg(long, value_enum, default_value = "quick")]
    profile: Profile,
    /// Fans in the crowd.
    #[arg(long)]
    fans: Option<usize>,
    /// Bots flooding the endpoints.
    #[arg(long)]
    bots: Option<usize>,
    /// Items (GA places) of the event to create.
    #[arg(long)]
    items: Option<u64>,
    /// Rehearse an existing event instead of creating one.
    #[arg(long)]
    event: Option<String>,
    /// Create an arena of reserved seats (ten sections of 40 rows × 50) instead of a GA tier
    /// (the `arena` profile's default).
    #[arg(long)]
    arena: bool,
    /// At a seated event: whether fans' seat maps refresh (live) or not (stale).
    #[arg(long, value_enum, default_value = "live")]
    seat_map: seats::MapMode,
    /// At a seated event: share of fans who ask for the best available seats (0–1).
    #[arg(long, default_value_t = 0.25)]
    best_available_share: f64,
    /// At a seated event: mean seconds a fan looks at the map before picking.
    #[arg(long, default_value_t = 4.0)]
    think_secs: f64,
    /// Where report.json, report.html and goose-report.html go.
    #[arg(long, default_value = "loadtest-report")]
    report: PathBuf,
    /// How fans arrive.
    #[arg(long, value_enum)]
    arrival: Option<Pattern>,
    /// Seconds after opening in which fans arrive.
    #[arg(long)]
    arrival_secs: Option<f64>,
    /// With `--arrival prequeue`: seconds before opening in which the pre-queue fans join.
    #[arg(long)]
    prequeue_secs: Option<f64>,
    /// With `--arrival prequeue`: share of fans in the pre-queue (0–1).
    #[arg(long)]
    prequeue_share: Option<f64>,
    /// Most places one fan tries to buy (each picks 1..=this, capped by max_per_order).
    #[arg(long)]
    tickets_per_fan: Option<u32>,
    /// Admission rate of the created event, per minute.
    #[arg(long)]
    admission_rate: Option<u32>,
    /// Most admitted shoppers active at once, for the created event.
    #[arg(long)]
    max_active: Option<u32>,
    /// Proof-of-work difficulty of the created event (0–26; 0 turns it off).
    #[arg(long)]
    pow_bits: Option<u8>,
    /// Requests each bot sends.
    #[arg(long)]
    bot_requests: Option<u32>,
    /// Mean pause between a bot's requests, milliseconds (refusals are retried at once).
    #[arg(long)]
    bot_pause_ms: Option<u64>,
    /// Client addresses the bots share.
    #[arg(long, default_value_t = 4)]
    bot_addresses: usize,
    /// Send X-Forwarded-For with one simulated address per fan and a few shared by the bots,
    /// as a CDN in front would. The server must trust the generator (TRUSTED_PROXIES) and not
    /// exempt it (RATE_LIMIT_EXEMPT=none), or every request looks like one exempt client.
    #[arg(long, action = ArgAction::Set, default_value_t = true)]
    spoof_addresses: bool,
    /// Stop everyone this many seconds after opening.
    #[arg(long)]
    max_secs: Option<u64>,
    /// The least Kendall τ accepted for post-opening arrivals (1.0: no pair provably out
    /// of join order).
    #[arg(long, default_value_t = 1.0)]
    min_tau: f64,
    /// The latest an admitted fan may hear of its admission, seconds after the server granted
    /// it: fans near the front wait on a long poll, which hears it within a pacer tick, and
    /// fans further back are told to poll no later than their turn is expected; past this the
    /// run fails.
    #[arg(long, default_value_t = 5.0)]
    max_learn_secs: f64,
    /// Users goose starts per second (they then sleep until their arrival time).
    #[arg(long)]
    launch_rate: Option<usize>,
    /// Requests in flight at once (connections to the server), as a CDN's pool to the origin.
    #[arg(long, default_value_t = 512)]
    connections: usize,
    /// Stats sampling interval, milliseconds.
    #[arg(long, default_value_t = 1000)]
    sample_ms: u64,
    /// Seed of every random choice (random when absent).
    #[arg(long)]
    seed: Option<u64>,
    /// No progress bar (for CI logs).
    #[arg(long)]
    no_progress: bool,
    /// Do not write goose's own HTML report.
    #[arg(long)]
    no_goose_report: bool,
}

/// The settings after profile defaults are applied.
#[derive(Clone, Debug, serde::Serialize)]
struct Settings {
    profile: Profile,
    fans: usize,
    bots: usize,
    items: u64,
    arrivals: Arrivals,
    tickets_per_fan: u32,
    admission_rate: u32,
    max_active: u32,
    pow_bits: u8,
    bot_requests: u32,
    bot_pause_ms: u64,
    bot_addresses: usize,
    spoof_addresses: bool,
    connections: usize,
    max_secs: u64,
    min_tau: f64,
    max_learn_secs: f64,
    launch_rate: usize,
    seed: u64,
}

impl Args {
    fn settings(&self) -> Result<Settings> {
        let p = self.profile.defaults();
        let fans = self.fans.unwrap_or(p.fans);
        let s = Settings {
            profile: self.profile,
            fans,
            bots: self.bots.unwrap_or(p.bots),
            items: self.items.unwrap_or(p.items),
            arrivals: Arrivals {
                pattern: self.arrival.unwrap_or(p.arrival),
                window_secs: self.arrival_secs.unwrap_or(p.arrival_secs),
                prequeue_secs: self.prequeue_secs.unwrap_or(p.prequeue_secs),
                prequeue_share: self.prequeue_share.unwrap_or(p.prequeue_share),
            },
            tickets_per_fan: self.tickets_per_fan.unwrap_or(p.tickets_per_fan),
            admission_rate: self.admission_rate.unwrap_or(p.admission_rate),
            max_active: self.max_active.unwrap_or(p.max_active),
            pow_bits: self.pow_bits.unwrap_or(p.pow_bits),
            bot_requests: self.bot_requests.unwrap_or(p.bot_requests),
            bot_pause_ms: self.bot_pause_ms.unwrap_or(p.bot_pause_ms),
            bot_addresses: self.bot_addresses,
            spoof_addresses: self.spoof_addresses,
            connections: self.connections,
            max_secs: self.max_secs.unwrap_or(p.max_secs),
            min_tau: self.min_tau,
            max_learn_secs: self.max_learn_secs,
            launch_rate: self.launch_rate.unwrap_or(10_000),
            seed: self.seed.unwrap_or_else(|| rand::rng().random()),
        };
        if s.fans == 0 {
            bail!("--fans must be at least 1");
        }
        if self.event.is_none() && s.items == 0 {
            bail!("--items must be at least 1");
        }
        if s.pow_bits > 26 {
            bail!("--pow-bits must be 0 to 26 (the server's range)");
        }
        if !(0.0..=1.0).contains(&s.arrivals.prequeue_share) {
            bail!("--prequeue-share must be between 0 and 1");
        }
        if s.arrivals.window_secs < 0.0 || s.arrivals.prequeue_secs < 0.0 {
            bail!("--arrival-secs and --prequeue-secs must not be negative");
        }
        if s.tickets_per_fan == 0 || s.admission_rate == 0 || s.max_active == 0 {
            bail!("--tickets-per-fan, --admission-rate and --max-active must be at least 1");
        }
        if s.launch_rate == 0 || s.bot_addresses == 0 || s.max_secs == 0 || self.connections == 0 {
            bail!(
                "--launch-rate, --bot-addresses, --max-secs and --connections must be at least 1"
            );
        }
        if !self.target.starts_with("http://") && !self.target.starts_with("https://") {
            bail!(
                "--target must be an http:// or https:// URL, not {:?}",
                self.target
            );
        }
        Ok(s)
    }
}

/// The event the organizer creates for a rehearsal.
fn event_spec(
    s: &Settings,
    opens_at: Option<chrono::DateTime<chrono::Utc>>,
    arena: bool,
) -> serde_json::Value {
    let now = chrono::Utc::now();
    let (tiers, seating) = if arena {
        let blocks: Vec<serde_json::Value> = (b'A'..=b'J')
            .enumerate()
            .map(|(i, s)| {
                serde_json::json!({
                    "section": (s as char).to_string(), "rows": 40, "seats_per_row": 50,
                    "tier": if i < 4 { "lower" } else { "upper" },
                    "price_cents": if i < 4 { 12000 } else { 6500 },
                })
            })
            .collect();
        (serde_json::json!([]), serde_json::Value::Array(blocks))
    } else {
        (
            serde_json::json!([{"id": "floor", "name": "Floor (standing)", "price_cents": 5900, "capacity": s.items}]),
            serde_json::json!([]),
        )
    };
    serde_json::json!({
        "name": format!("Load test {}", now.format("%Y-%m-%d %H:%M:%S")),
        "venue": "Rehearsal Hall",
        "starts_at": (now + chrono::Duration::days(30)).to_rfc3339(),
        "sale_opens_at": opens_at.map(|t| t.to_rfc3339()),
        "max_per_order": s.tickets_per_fan.max(1),
        "hold_ttl_secs": 120,
        "admission": {
            "rate_per_minute": s.admission_rate,
            "max_active": s.max_active,
            "admission_ttl_secs": 300,
        },
        "pow_difficulty_bits": s.pow_bits,
        "tiers": tiers,
        "seating": seating,
    })
}

/// What fans can buy at this event.
fn shop_of(event: &EventView, args: &Args) -> Result<Shop> {
    let ga: Vec<String> = event
        .tiers
        .iter()
        .filter(|t| !t.seated && t.capacity > 0)
        .map(|t| t.id.clone())
        .collect();
    if !ga.is_empty() {
        return Ok(Shop::Tiers(ga));
    }
    if event.tiers.iter().any(|t| t.seated) {
        return Ok(Shop::Seats {
            blocks: event.seating.clone(),
            mode: args.seat_map,
            best_share: args.best_available_share.clamp(0.0, 1.0),
            think_secs: args.think_secs.max(0.0),
        });
    }
    bail!("event {} has nothing to sell", event.id)
}

/// Idle connections are dropped after this long, before the server's keep-alive timeout
/// (`CLIENT_HEADER_TIMEOUT_MS`, 5 s by default) closes them: a request sent on a connection
/// the server is closing at that moment fails without an answer, which would count against
/// the server for the generator's own doing.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(3);
/// Longest a fan's request may take before it counts as unanswered.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The client the crowd shares. Goose's client builder cannot set pool limits, so the fans
/// and bots get this one (`GooseUser::client` is public) and goose still records every request.
fn crowd_client(connections: usize) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .pool_max_idle_per_host(connections)
        .tcp_nodelay(true)
        .timeout(REQUEST_TIMEOUT)
        // Goose turns on reqwest's gzip; the server sends plain bodies, and asking for gzip
        // would only add a header to every request.
        .gzip(false)
        .user_agent(concat!("floodgate-loadtest/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("building the crowd's HTTP client")
}

fn goose_configuration(
    target: &str,
    users: usize,
    rate: usize,
    report: Option<String>,
) -> GooseConfiguration {
    let mut c = GooseConfiguration::default();
    c.host = Some(target.to_owned());
    c.users = Some(users);
    c.increase_rate = Some(rate.to_string());
    // Each fan and bot runs its scenario once; the run ends when all are done.
    c.iterations = Some(1);
    c.no_print_metrics = true;
    c.quiet = 1;
    if let Some(path) = report {
        c.report_file = vec![path];
    }
    // Goose's mitigation follows each user's loop through its scenario; a fan makes one
    // pass, so it has nothing to work with. The run's own histograms correct instead.
    c.co_mitigation = Some(GooseCoordinatedOmissionMitigation::Disabled);
    c
}

async fn rehearse(args: Args) -> Result<Summary> {
    let settings = args.settings()?;
    let organizer = Organizer::new(&args.target, &args.organizer_token)?;
    organizer.check_reachable().await?;
    let users = settings.fans + settings.bots;
    // Time for goose to start every user, plus a margin, before the first arrival.
    let launch = Duration::from_secs_f64(users as f64 / settings.launch_rate as f64 + 1.0);
    let lead = Duration::from_secs_f64(settings.arrivals.lead_secs());
    let t0 = Instant::now();
    let mut opening = t0 + launch + lead;

    let event = match &args.event {
        Some(id) => {
            let event = organizer
                .event(id)
                .await
                .with_context(|| format!("rehearsing event {id}"))?;
            // Also proves the token works before any load is sent.
            organizer.stats(id).await?;
            if let Some(opens) = event.sale_opens_at {
                let until = (opens - chrono::Utc::now()).to_std().unwrap_or_default();
                opening = opening.max(Instant::now() + until);
            }
            event
        }
        None => {
            let opens_at = (settings.arrivals.pattern == Pattern::Prequeue).then(|| {
                chrono::Utc::now()
                    + chrono::Duration::from_std(opening - Instant::now()).unwrap_or_default()
            });
            organizer
                .create_event(&event_spec(
                    &settings,
                    opens_at,
                    args.arena || settings.profile == Profile::Arena,
                ))
                .await?
        }
    };
    if matches!(event.state.as_str(), "closed" | "sold_out") {
        bail!("event {} is {}: nothing to rehearse", event.id, event.state);
    }
    let shop = shop_of(&event, &args)?;
    let window = Duration::from_secs_f64(
        ((settings.max_secs as f64 + lead.as_secs_f64()) / 150.0).clamp(1.0, 10.0),
    );
    let run = Arc::new(Run {
        http: crowd_client(args.connections)?,
        connections: tokio::sync::Semaphore::new(args.connections),
        event_id: event.id.clone(),
        pow_bits: event.pow_difficulty_bits,
        max_per_order: event.max_per_order,
        shop,
        crowd: Crowd {
            fans: settings.fans,
            bots: settings.bots,
            tickets_per_fan: settings.tickets_per_fan,
            bot_requests: settings.bot_requests,
            bot_pause: Duration::from_millis(settings.bot_pause_ms),
            bot_addresses: settings.bot_addresses,
            spoof_addresses: settings.spoof_addresses,
            seed: settings.seed,
        },
        arrivals: settings.arrivals.offsets(settings.fans, settings.seed),
        arrival_window_secs: settings.arrivals.window_secs,
        opening,
        deadline: opening + Duration::from_secs(settings.max_secs),
        run_id: format!("lt{:016x}", rand::rng().random::<u64>()),
        rec: Recorder::new(t0, window),
        live: Live::default(),
        next_fan: AtomicUsize::new(0),
        next_bot: AtomicUsize::new(0),
        fans: Mutex::new(Vec::new()),
        seen_orders: Mutex::new(Vec::new()),
        bots: Mutex::new(Default::default()),
        seats: Default::default(),
    });
    eprintln!(
        "event {} ({}): {} fans, {} bots, {} items, arrival {:?}, admission {}/min, proof of work {} bits; opening in {:.1} s",
        event.id,
        event.name,
        settings.fans,
        settings.bots,
        event.tiers.iter().map(|t| t.capacity).sum::<u64>(),
        settings.arrivals.pattern,
        event.admission.rate_per_minute,
        event.pow_difficulty_bits,
        opening.saturating_duration_since(Instant::now()).as_secs_f64()
    );

    std::fs::create_dir_all(&args.report)
        .with_context(|| format!("creating the report directory {}", args.report.display()))?;
    let goose_report = (!args.no_goose_report).then(|| {
        args.report
            .join("goose-report.html")
            .to_string_lossy()
            .into_owned()
    });
    let mut attack = GooseAttack::initialize_with_config(goose_configuration(
        &args.target,
        users,
        settings.launch_rate,
        goose_report,
    ))?
    .set_scheduler(GooseScheduler::RoundRobin)
    // Fans and bots replace goose's client with the shared crowd client; a builder without
    // cookies only keeps goose from building one per user.
    .set_client_builder_without_cookies(goose::client::GooseClientBuilder::new().without_cookies())?
    .register_scenario(fan::scenario(&run, settings.fans)?);
    if settings.bots > 0 {
        attack = attack.register_scenario(bot::scenario(&run, settings.bots)?);
    }

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let monitor = tokio::spawn(monitor::watch(
        run.clone(),
        organizer.clone(),
        Duration::from_millis(args.sample_ms.max(100)),
        !args.no_progress,
        stop_rx,
    ));
    let metrics_before = organizer
        .metrics()
        .await
        .map(|t| server_metrics::Histograms::parse(&t));
    let started_at = chrono::Utc::now();
    let goose_result = attack.execute().await;
    let _ = stop_tx.send(true);
    let mut samples = monitor.await.unwrap_or_default();
    goose_result.context("goose could not run the load")?;
    let duration = run.now();

    // The audit, through the organizer API.
    let final_stats = organizer.stats(&run.event_id).await.ok();
    if let Some(stats) = &final_stats {
        samples.push(monitor::Sample {
            t: duration,
            stats: stats.clone(),
        });
    }
    let server_latency: Vec<server_metrics::ServerLatency> =
        match (metrics_before, organizer.metrics().await) {
            (Some(before), Some(after)) => {
                let run_only = server_metrics::Histograms::parse(&after).since(&before);
                server_metrics::ROUTES
                    .iter()
                    .filter_map(|(_, route, method)| run_only.latency(route, method))
                    .collect()
            }
            _ => Vec::new(),
        };
    let event_after = organizer.event(&run.event_id).await?;
    let listed = organizer.orders(&run.event_id).await?;
    let seen = run
        .seen_orders
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let audit = audit::check(&event_after.capacity(), &listed, &seen);

    let records = run.fans.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let fairness = fairness_of(&records, settings.min_tau);
    let fans = Fans::of(&records, settings.fans);
    let tally = run.bots.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let refused = tally.refused();
    let bots = Bots {
        bots: settings.bots,
        blocked_share: if tally.requests > 0 {
            refused as f64 / tally.requests as f64
        } else {
            0.0
        },
        refused,
        tally,
    };
    let sale = sale_of(&records, &samples, &event_after, run.rec.secs(run.opening));

    let mut failures = Vec::new();
    let mut notes = Vec::new();
    if audit.oversold() {
        failures.push(format!(
            "oversell: {} items sold of {}, {} items in two orders, tiers over capacity {:?}",
            audit.items_sold,
            audit.capacity,
            audit.items_sold_twice.len(),
            audit.oversold_tiers
        ));
    }
    if audit.lost() {
        failures.push(format!(
            "lost orders: {} confirmed to fans but missing, {} listed with other items (e.g. {:?})",
            audit.lost_orders.len(),
            audit.changed_orders.len(),
            audit
                .lost_orders
                .iter()
                .chain(&audit.changed_orders)
                .take(3)
                .collect::<Vec<_>>()
        ));
    }
    if let Some(tau) = fairness.post_opening.tau {
        if tau < settings.min_tau {
            failures.push(format!(
                "unfair admission: τ = {tau:.4} for post-opening arrivals (< {}), {} pairs provably out of join order",
                settings.min_tau, fairness.post_opening.discordant
            ));
        }
    }
    if fairness.prequeue_before_later.1 > 0 {
        failures.push(format!(
            "unfair admission: {} pairs where a later arrival was provably admitted before a pre-queue fan",
            fairness.prequeue_before_later.1
        ));
    }
    if fans.admission_to_heard.count > 0 && fans.admission_to_heard.max_s > settings.max_learn_secs
    {
        failures.push(format!(
            "an admitted fan heard of its admission {:.1} s after it (bound {} s; p99 {:.2} s)",
            fans.admission_to_heard.max_s, settings.max_learn_secs, fans.admission_to_heard.p99_s
        ));
    }
    if fairness.join_numbers.discordant > 0 {
        notes.push(format!(
            "{} pairs of fans got join numbers against the order their joins provably happened in",
            fairness.join_numbers.discordant
        ));
    }
    // A sale that never ran is a failure too, or a broken join or shop would pass the audit
    // with nothing to audit. Only for events this run created: an existing event may
    // already be sold out.
    if args.event.is_none() && fans.fans > 0 {
        if fans.admitted == 0 {
            failures.push("no fan was admitted: the line or the pacer did not work".into());
        } else if fans.items_bought == 0 {
            failures.push("admitted fans bought nothing: the shop did not work".into());
        }
    } else if fans.admitted == 0 {
        notes.push("no fan was admitted: nothing to judge fairness or sales by".into());
    }
    if let Some(stats) = &final_stats {
        if stats.sold != audit.items_sold {
            notes.push(format!(
                "stats say {} sold, the order list {}",
                stats.sold, audit.items_sold
            ));
        }
        if bots.bots > 0 && bots.refused == 0 {
            notes.push("no bot request was refused: is the generator exempt from rate limits (RATE_LIMIT_EXEMPT), or not trusted as a proxy (TRUSTED_PROXIES)?".into());
        }
    }
    if audit.unacknowledged_orders > 0 {
        notes.push(format!(
            "{} confirmed orders were never acknowledged to a fan of this run (lost answers, or orders from before the run)",
            audit.unacknowledged_orders
        ));
    }

    let endpoints = run.rec.summaries();
    let total_requests = run.rec.total_requests();
    Ok(Summary {
        target: args.target.clone(),
        event_id: run.event_id.clone(),
        settings: serde_json::to_value(&settings).unwrap_or_default(),
        started_at: started_at.format("%Y-%m-%d %H:%M:%S").to_string(),
        duration_secs: duration,
        total_requests,
        mean_rps: total_requests as f64 / duration.max(0.001),
        endpoints,
        fans,
        bots,
        sale,
        fairness,
        audit,
        final_stats,
        server_latency,
        chart_window_secs: window.as_secs_f64(),
        samples,
        seats: match &run.shop {
            Shop::Seats { mode, .. } => Some(run.seats.figures(Some(*mode))),
            Shop::Tiers(_) => None,
        },
        failures,
        notes,
    })
}

/// The fairness figures from the fans' records.
fn fairness_of(records: &[FanRecord], min_tau: f64) -> Fairness {
    let admitted = |pre: bool| -> Vec<Observed> {
        records
            .iter()
            .filter(|r| r.prequeue == pre)
            .filter_map(|r| {
                Some(Observed {
                    key: r.join_number?,
                    lo: r.admit_lo?,
                    hi: r.admit_hi?,
                })
            })
            .collect()
    };
    let post = admitted(false);
    let pre = admitted(true);
    let joins: Vec<Observed> = records
        .iter()
        .filter(|r| !r.prequeue)
        .filter_map(|r| {
            Some(Observed {
                key: r.join_number?,
                lo: r.join_sent?,
                hi: r.join_done?,
            })
        })
        .collect();
    Fairness {
        post_opening: kendall(&post),
        prequeue: kendall(&pre),
        prequeue_before_later: across(&pre, &post),
        join_numbers: kendall(&joins),
        min_tau,
    }
}

/// Sell-out time against the time the admission rate implies.
fn sale_of(
    records: &[FanRecord],
    samples: &[monitor::Sample],
    event: &EventView,
    opened_at: f64,
) -> Sale {
    let capacity: u64 = event.tiers.iter().map(|t| t.capacity).sum();
    let rate = event.admission.rate_per_minute;
    let mut orders: Vec<(f64, u32)> = records
        .iter()
        .filter(|r| r.outcome == Outcome::Bought)
        .filter_map(|r| Some((r.ordered_at?, r.items)))
        .collect();
    orders.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut sold = 0u64;
    let mut sold_out_at = None;
    let mut orders_to_sell_out = 0u64;
    for (i, (t, items)) in orders.iter().enumerate() {
        sold += u64::from(*items);
        if sold >= capacity {
            sold_out_at = Some(*t);
            orders_to_sell_out = i as u64 + 1;
            break;
        }
    }
    if sold_out_at.is_none() {
        // Sold out without the fans' orders alone (bots' holds, earlier orders): the first
        // sample that saw it.
        sold_out_at = samples
            .iter()
            .find(|s| s.stats.state == "sold_out")
            .map(|s| s.t);
        orders_to_sell_out = orders.len() as u64;
    }
    let implied = (rate > 0 && orders_to_sell_out > 0)
        .then(|| orders_to_sell_out as f64 / (f64::from(rate) / 60.0));
    let after = sold_out_at.map(|t| t - opened_at);
    let first = |f: fn(&FanRecord) -> Option<f64>| {
        records
            .iter()
            .filter_map(f)
            .min_by(f64::total_cmp)
            .map(|t| t - opened_at)
    };
    Sale {
        first_admission_after_secs: first(|r| r.admit_hi),
        first_order_after_secs: first(|r| r.ordered_at),
        capacity,
        rate_per_minute: rate,
        opened_at,
        sold_out_at,
        sold_out_after_secs: after,
        orders_to_sell_out,
        rate_implied_secs: implied,
        within_target: match (after, implied) {
            (Some(a), Some(i)) => Some(a <= i * 1.1),
            _ => None,
        },
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    // Goose logs every request that got no answer as a warning; those are counted in the
    // report (answers "none"), so only errors reach the terminal. Goose's own logger then
    // finds one installed and leaves it.
    let _ = simplelog::SimpleLogger::init(log::LevelFilter::Error, simplelog::Config::default());
    let report_dir = args.report.clone();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("loadtest: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(rehearse(args)) {
        Ok(summary) => {
            print!("{}", summary.table());
            if let Err(e) = summary.write(&report_dir) {
                // The run happened: a failed audit still says so (1) without its report.
                eprintln!("loadtest: {e:#}");
                return ExitCode::from(if summary.passed() { 2 } else { 1 });
            }
            println!(
                "reports: {0}/report.html, {0}/report.json",
                report_dir.display()
            );
            if summary.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("loadtest: {e:#}");
            ExitCode::from(2)
        }
    }
}
