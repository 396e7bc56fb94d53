//! Orders per second on Postgres: Floodgate's inventory actor + group committer, against the
//! naive design a user would write first (one transaction per order: decrement a hot counter
//! row and insert the order), with the same 64 concurrent clients on one event, in one run.
//!
//! Every order Floodgate commits also writes its confirmation mail's outbox row in the same
//! statement, so the ratio includes the outbox. Then the mails those orders queued are sent to
//! a local mail server (Debian's aiosmtpd, as in the tests) by the node's sender for one run's
//! length: mails per second, side by side with bare SMTP sends of the same mail at the same
//! concurrency (no outbox: no claim, no order read, no outcome written).
//!
//! Run: `FLOODGATE_BENCH_POSTGRES_URL=postgres://user@127.0.0.1:5432/postgres cargo bench --bench orders`
//! (creates and drops its own database). `BENCH_SECS` sets each run's length (default 5),
//! `BENCH_ROUNDS` the interleaved rounds (default 3, medians reported), `BENCH_CLIENTS` the
//! concurrency (default 64), `COMMIT_CONCURRENCY` the committer's batches in flight (default 1),
//! `MAIL_CONCURRENCY` the sender's mails in flight (default 8), `FLOODGATE_BENCH_PYTHON` the
//! Python with aiosmtpd (default `/usr/bin/python3`; without it the mail part is skipped).

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
        match mail_throughput(&url, duration).await {
            Some((outbox, bare)) => {
                println!();
                println!("mails/s to a local aiosmtpd, {secs} s each");
                println!("  sender (claim, read the order, render, send, record): {outbox:>8.0}");
                println!("  bare SMTP sends of the same mail:                     {bare:>8.0}");
                println!(
                    "  sender / bare:                                        {:>8.2}",
                    outbox / bare
                );
            }
            None => println!("mail sender: skipped (no aiosmtpd; see the file's doc)"),
        }
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

/// A local mail server (aiosmtpd with the tests' handler) on a free port; killed on drop.
struct MailServer(std::process::Child, u16, std::path::PathBuf);

impl MailServer {
    fn start() -> Option<MailServer> {
        let python =
            std::env::var("FLOODGATE_BENCH_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".into());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let dir = std::env::temp_dir().join(format!("floodgate-bench-mail-{}", Uuid::new_v4()));
        let child = std::process::Command::new(python)
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "rulemailbox.RuleMailbox"])
            .arg(&dir)
            .env(
                "PYTHONPATH",
                concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mail"),
            )
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let server = MailServer(child, port, dir);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(server);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }
}

impl Drop for MailServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_dir_all(&self.2);
    }
}

/// Mails per second for `duration`: the sender draining the outbox the actor rounds filled,
/// then bare SMTP sends of one such mail at the same concurrency.
async fn mail_throughput(url: &str, duration: Duration) -> Option<(f64, f64)> {
    use floodgate::domain::mail::Backoff;
    use floodgate::mail::{self, Delivery, MailSettings};
    use floodgate::shutdown::Shutdown;

    let server = MailServer::start()?;
    let store = PostgresStore::connect(url, 8).await.expect("store");
    let pool = store.pool().clone();
    let settings = MailSettings {
        delivery: Delivery::Smtp(format!("smtp://127.0.0.1:{}", server.1)),
        from: mail::parse_from("Bench <bench@floodgate.test>").expect("from"),
        max_attempts: 8,
        concurrency: env_or("MAIL_CONCURRENCY", 8) as usize,
        backoff: Backoff {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(60),
        },
        send_timeout: Duration::from_secs(30),
        poll: Duration::from_millis(100),
    };
    let sent = || {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM outbox WHERE state = 'sent'")
                .fetch_one(&pool)
                .await
                .expect("count")
        }
    };
    let store: Arc<dyn OrderStore> = Arc::new(store);
    let sender = mail::Sender::new(
        store.clone(),
        Arc::new(SystemClock),
        floodgate::room::token::TokenSigner::new(b"bench secret key"),
        settings.clone(),
        "http://127.0.0.1:8080".into(),
    )
    .expect("sender");
    let shutdown = Shutdown::new();
    let before = sent().await;
    let started = Instant::now();
    let running = actix::spawn(mail::run(Arc::new(sender), shutdown.signal()));
    tokio::time::sleep(duration).await;
    let outbox = (sent().await - before) as f64 / started.elapsed().as_secs_f64();
    shutdown.stop();
    let _ = running.await;

    // The same mail, composed and sent with no outbox around it.
    let row = store
        .claim_mail(Utc::now(), Utc::now() + chrono::Duration::hours(1), 1)
        .await
        .expect("a queued mail")
        .pop()?;
    let order = store.get_order(row.order_id).await.ok()??;
    let event = store.get_event(row.event_id).await.ok()??;
    let view = mail::message::view(row.kind, &order, &event, "http://127.0.0.1:8080/x".into());
    let message = mail::message::compose(&row, &view, &settings.from).expect("message");
    let transport = Arc::new(
        mail::transport::Transport::new(
            &settings.delivery,
            settings.concurrency,
            settings.send_timeout,
        )
        .expect("transport"),
    );
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut senders = Vec::new();
    for _ in 0..settings.concurrency {
        let (transport, message, done, stop) = (
            transport.clone(),
            message.clone(),
            done.clone(),
            stop.clone(),
        );
        let row_id = row.id;
        senders.push(actix::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if transport
                    .deliver(row_id, &message, Duration::from_secs(30))
                    .await
                    .is_ok()
                {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let bare = done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    for sender in senders {
        let _ = sender.await;
    }
    drop(server);
    Some((outbox, bare))
}
