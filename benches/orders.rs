//! Orders per second on Postgres: Floodgate's inventory actor + group committer, against the
//! naive design a user would write first (one transaction per order: decrement a hot counter
//! row and insert the order), with the same 64 concurrent clients on one event, in one run.
//!
//! Run: `FLOODGATE_BENCH_POSTGRES_URL=postgres://user@127.0.0.1:5432/postgres cargo bench --bench orders`
//! (creates and drops its own database). `BENCH_SECS` sets each run's length (default 5),
//! `BENCH_ROUNDS` the interleaved rounds (default 3, medians reported), `BENCH_CLIENTS` the
//! concurrency (default 64), `COMMIT_CONCURRENCY` the committer's batches in flight (default 1).

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use floodgate::clock::SystemClock;
use floodgate::domain::event::{AdmissionSettings, EventSpec, GaTier};
use floodgate::domain::inventory::HoldRequest;
use floodgate::domain::order::Buyer;
use floodgate::inventory::actor::{OrderTicket, PlaceHold, PlaceOrder};
use floodgate::inventory::committer::BatchSettings;
use floodgate::inventory::{Registry, ShopSettings};
use floodgate::store::postgres::PostgresStore;
use floodgate::store::{EventRecord, OrderStore};
use sqlx::Executor;
use uuid::Uuid;

use common::{median, runs, ScratchDb};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("orders bench: skipped (run it with cargo bench --bench orders)");
        return;
    }
    let Ok(admin) = std::env::var("FLOODGATE_BENCH_POSTGRES_URL") else {
        eprintln!("set FLOODGATE_BENCH_POSTGRES_URL to a Postgres server URL (see the file's doc)");
        std::process::exit(2);
    };
    let secs = env_or("BENCH_SECS", 5);
    // Install the metrics recorder first: the committer's batch figures are read from it.
    floodgate::telemetry::metrics_handle();
    let clients = env_or("BENCH_CLIENTS", 64) as usize;
    actix::System::new().block_on(async move {
        let db = ScratchDb::create(&admin).await;
        let url = db.url.clone();
        let duration = Duration::from_secs(secs);

        // Interleaved rounds, medians compared: this machine is shared and drifts.
        let rounds = env_or("BENCH_ROUNDS", 3) as usize;
        let (mut naives, mut actors) = (Vec::new(), Vec::new());
        let (mut batches, mut commit_ms) = (0.0, 0.0);
        for round in 0..rounds {
            naives.push(naive(&url, clients, duration, round == 0).await);
            let (rate, batch, commit) = floodgate_path(&url, clients, duration).await;
            actors.push(rate);
            (batches, commit_ms) = (batch, commit);
        }
        println!(
            "naive runs: {}   actor runs: {}",
            runs(&naives),
            runs(&actors)
        );
        let (naive, actor) = (median(&mut naives), median(&mut actors));

        println!();
        println!("orders/s on Postgres, {clients} clients, {secs} s per design, one event");
        println!("  naive (UPDATE remaining-1 + INSERT per tx): {naive:>10.0}");
        println!("  actor + group commit:                       {actor:>10.0}");
        println!(
            "  ratio:                                      {:>10.1}x",
            actor / naive
        );
        println!("  mean batch: {batches:.1} orders, mean commit: {commit_ms:.2} ms (all rounds)");
        db.remove().await;
    });
}

/// Runs `clients` loops of `work` for `duration` on a client runtime of its own thread (as
/// HTTP workers would be), so the clients do not compete with the actor's thread; returns
/// the completed operations and how many that is per second.
async fn drive<F, Fut>(clients: usize, duration: Duration, work: F) -> (u64, f64)
where
    F: Fn(usize, u64) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send + 'static,
{
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let (finished_tx, finished_rx) = tokio::sync::oneshot::channel();
    let (d, s) = (done.clone(), stop.clone());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("client runtime");
        runtime.block_on(async move {
            let mut tasks = Vec::new();
            for client in 0..clients {
                let (done, stop, work) = (d.clone(), s.clone(), work.clone());
                tasks.push(tokio::spawn(async move {
                    let mut n = 0;
                    while !stop.load(Ordering::Relaxed) {
                        if work(client, n).await {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        n += 1;
                    }
                }));
            }
            for task in tasks {
                task.await.ok();
            }
        });
        let _ = finished_tx.send(());
    });
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let _ = finished_rx.await;
    let done = done.load(Ordering::Relaxed);
    (done, done as f64 / started.elapsed().as_secs_f64())
}

/// The naive design: every order is its own transaction on a hot counter row.
async fn naive(url: &str, clients: usize, duration: Duration, create: bool) -> f64 {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(clients as u32)
        .connect(url)
        .await
        .expect("pool");
    if create {
        pool.execute(
            "CREATE TABLE naive_tiers (id INT PRIMARY KEY, remaining INT NOT NULL); \
         CREATE TABLE naive_orders (id UUID PRIMARY KEY, tier INT NOT NULL, name TEXT NOT NULL, \
             email TEXT NOT NULL, total_cents BIGINT NOT NULL, created_at TIMESTAMPTZ NOT NULL); \
         INSERT INTO naive_tiers VALUES (1, 100000000);",
        )
        .await
        .expect("naive schema");
    }
    drive(clients, duration, move |_, _| {
        let pool = pool.clone();
        async move {
            let mut tx = pool.begin().await.expect("begin");
            let left: Option<i32> = sqlx::query_scalar(
                "UPDATE naive_tiers SET remaining = remaining - 1 WHERE id = 1 AND remaining > 0 \
                 RETURNING remaining",
            )
            .fetch_optional(&mut *tx)
            .await
            .expect("update");
            if left.is_none() {
                return false;
            }
            sqlx::query(
                "INSERT INTO naive_orders VALUES ($1, 1, 'Fan', 'fan@example.com', 5000, $2)",
            )
            .bind(Uuid::now_v7())
            .bind(Utc::now())
            .execute(&mut *tx)
            .await
            .expect("insert");
            tx.commit().await.expect("commit");
            true
        }
    })
    .await
    .1
}

/// Floodgate's path: hold one GA place through the actor, then order it through the committer.
async fn floodgate_path(url: &str, clients: usize, duration: Duration) -> (f64, f64, f64) {
    let store: Arc<dyn OrderStore> = Arc::new(PostgresStore::connect(url, 8).await.expect("store"));
    let now = Utc::now();
    let event = Uuid::now_v7();
    store
        .insert_event(&EventRecord {
            id: event,
            spec: EventSpec {
                name: "Bench".into(),
                venue: "Bench Hall".into(),
                starts_at: now + chrono::Duration::days(1),
                sale_opens_at: None,
                max_per_order: 6,
                hold_ttl_secs: 600,
                admission: AdmissionSettings::default(),
                pow_difficulty_bits: 0,
                tiers: vec![GaTier {
                    id: "floor".into(),
                    name: "Floor".into(),
                    price_cents: 5000,
                    capacity: 250_000,
                }],
                seating: vec![],
            },
            paused: false,
            created_at: now,
            updated_at: now,
        })
        .await
        .expect("event");
    let registry = Arc::new(Registry::new(
        store.clone(),
        Arc::new(SystemClock),
        ShopSettings {
            actor_inflight_limit: 100_000,
            commit_queue: 100_000,
            batch: BatchSettings {
                max_batch: 512,
                linger: Duration::ZERO,
                slowdown: Duration::ZERO,
                concurrency: env_or("COMMIT_CONCURRENCY", 1) as usize,
            },
        },
    ));
    let actor = registry.get(event, None).await.expect("actor");
    let buyer = Buyer::parse("Fan", "fan@example.com").expect("buyer");
    let (confirmed, rate) = drive(clients, duration, move |client, n| {
        let (actor, buyer) = (actor.clone(), buyer.clone());
        async move {
            let session = format!("c{client}-{n}");
            let Ok(Ok(hold)) = actor
                .ask(PlaceHold {
                    session: session.clone(),
                    request: HoldRequest::Quantity {
                        tier: "floor".into(),
                        quantity: 1,
                    },
                })
                .await
            else {
                return false;
            };
            let ticket = actor
                .ask(PlaceOrder {
                    session,
                    hold_id: hold.hold_id,
                    key: format!("c{client}-{n}"),
                    request_hash: "bench".into(),
                    buyer,
                })
                .await
                .expect("order");
            let reply = match ticket {
                OrderTicket::Ready(reply) => reply,
                OrderTicket::Wait(rx) => rx.await.expect("answer"),
            };
            reply.is_ok()
        }
    })
    .await;
    // Sanity check: every order the actor confirmed is in the database, and nothing else is.
    let sold = store.load_sales(event).await.expect("sales").orders.len() as u64;
    println!("actor round: {confirmed} orders confirmed, {sold} in the database");
    if sold != confirmed {
        eprintln!(
            "WARNING: the actor confirmed {confirmed} orders but the database holds {sold}: \
             this round's figures are not to be trusted"
        );
    }
    let (batch, commit_ms) = batch_figures();
    (rate, batch, commit_ms)
}

/// Mean batch size and commit time, from the committer's metrics.
fn batch_figures() -> (f64, f64) {
    let text = floodgate::telemetry::metrics_handle().render();
    let value = |name: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    };
    let batches = value("order_batch_size_count");
    (
        value("order_batch_size_sum") / batches,
        value("order_commit_duration_seconds_sum") / value("order_commit_duration_seconds_count")
            * 1000.0,
    )
}
