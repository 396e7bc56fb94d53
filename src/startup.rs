//! Builds the whole application from settings: stores, room, registry, HTTP server.
//!
//! `Application::build` binds the listener before returning, so its address is known (tests
//! bind port 0 and read the real port back) and the server runs when awaited.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer};
use tracing_actix_web::TracingLogger;
use uuid::Uuid;

use crate::clock::{Clock, SystemClock};
use crate::config::Settings;
use crate::domain::event::demo_event;
use crate::edge::Edge;
use crate::inventory::committer::BatchSettings;
use crate::inventory::{Registry, ShopSettings};
use crate::mail;
use crate::room::line::{Room, RoomSettings};
use crate::room::memory_store::MemoryLineStore;
use crate::room::redis_store::RedisLineStore;
use crate::room::token::TokenSigner;
use crate::room::{LineError, LineStore};
use crate::sale::admit::Saturation;
use crate::sale::{self, owner, Sale, SaleSettings};
use crate::shutdown::{Shutdown, Signal};
use crate::store::{self, EventRecord, OrderStore, StoreError};
use crate::telemetry;
use crate::web::{self, AppState};

/// How often rate limiters drop keys that are back to a fresh state.
const LIMITER_SWEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);
/// Seconds in-flight requests get to finish after SIGTERM/SIGINT.
const SHUTDOWN_GRACE_SECS: u64 = 10;

/// Why the application could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("line store: {0}")]
    Line(#[from] LineError),
    #[error("the client that forwards calls between nodes: {0}")]
    Forwarder(String),
    #[error("the mail sender: {0}")]
    Mail(String),
    #[error("listening on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A built application, bound and ready to run.
pub struct Application {
    addr: SocketAddr,
    server: Server,
    state: actix_web::web::Data<AppState>,
    stopper: Stopper,
}

/// Stops a node completely: the HTTP server (in-flight requests finish first), then its
/// background tasks and its inventory actors.
#[derive(Clone)]
pub struct Stopper {
    server: ServerHandle,
    shutdown: Arc<Shutdown>,
    sale: Arc<Sale>,
}

impl Stopper {
    /// Stops the server (gracefully: in-flight requests get `SHUTDOWN_GRACE_SECS`), then the
    /// pacer, the limiter sweep and every actor, and hands this node's events over.
    pub async fn stop(&self, graceful: bool) {
        self.server.stop(graceful).await;
        self.background().await;
    }

    /// Stops the background tasks and the actors, and gives up this node's leases so another
    /// node takes its events over at once (the server has stopped).
    async fn background(&self) {
        self.shutdown.stop();
        self.sale.stop_actors();
        sale::owner::give_up_all(&self.sale).await;
    }
}

impl Application {
    /// Builds the application on the wall clock.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// Builds the application on a given clock (tests move time by hand).
    pub async fn build_with_clock(
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StartupError> {
        let store =
            store::connect(&settings.database_url, settings.database_max_connections).await?;
        let line: Arc<dyn LineStore> = match &settings.redis_url {
            Some(url) => Arc::new(RedisLineStore::new(url, &settings.redis_prefix)?),
            None => Arc::new(MemoryLineStore::new()),
        };
        // Check Redis now (and open the node's own connection, which the pacer uses; each HTTP
        // worker opens its own on first use). A node that starts while Redis is down
        // connects later, on first use.
        if let Err(e) = line.ping().await {
            tracing::warn!(error = %e, "the line store does not answer yet");
        }
        if settings.seed_demo {
            seed_demo(store.as_ref(), clock.as_ref()).await?;
        }
        let registry = Arc::new(Registry::new(
            store.clone(),
            clock.clone(),
            ShopSettings {
                actor_inflight_limit: settings.actor_inflight_limit,
                commit_queue: settings.commit_queue,
                batch: BatchSettings {
                    max_batch: settings.commit_max_batch.max(1),
                    linger: settings.commit_linger,
                    slowdown: settings.commit_slowdown,
                    concurrency: settings.commit_concurrency,
                },
            },
        ));
        let signer = TokenSigner::new(&settings.secret_key);
        let room = Arc::new(Room::new(
            line,
            store.clone(),
            signer.clone(),
            clock.clone(),
            RoomSettings {
                tick: settings.room_tick,
                snapshot_max_age: settings.snapshot_max_age,
                liveness_grace: settings.liveness_grace,
                seq_block: settings.seq_block,
                line_limit: settings.line_limit,
                fetch_grace: settings.fetch_grace,
            },
        ));
        let listener =
            TcpListener::bind(settings.bind_addr).map_err(|source| StartupError::Bind {
                addr: settings.bind_addr,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| StartupError::Bind {
            addr: settings.bind_addr,
            source,
        })?;
        let ownership = match &settings.redis_url {
            None => owner::Mode::Alone,
            Some(_) => owner::Mode::Shared {
                holder: format!("{} {}", Uuid::new_v4().simple(), node_url(&settings, addr)),
                lease: settings.lease,
            },
        };
        let sale = Arc::new(Sale::new(
            store,
            room,
            registry,
            signer,
            clock,
            SaleSettings {
                pow_challenge_ttl: settings.edge.pow_challenge_ttl,
                tick: settings.room_tick,
                saturation: Saturation {
                    inflight_share: 0.5,
                    slow_commit: settings.slow_commit,
                },
                long_poll_max: settings.long_poll_max,
            },
            ownership,
        ));
        let shutdown = Arc::new(Shutdown::new());
        actix_web::rt::spawn(sale::admit::run(sale.clone(), shutdown.signal()));
        // Order e-mails leave from the outbox, on every node, whatever the HTTP side does.
        let mailer = mail::Sender::new(
            sale.store().clone(),
            sale.clock.clone(),
            sale.signer().clone(),
            settings.mail.clone(),
            settings
                .edge
                .public_url
                .clone()
                .unwrap_or_else(|| node_url(&settings, addr)),
        )
        .map_err(StartupError::Mail)?;
        actix_web::rt::spawn(mail::run(Arc::new(mailer), shutdown.signal()));
        let state = actix_web::web::Data::new(AppState {
            sale: sale.clone(),
            edge: Edge::new(&settings.edge),
            metrics: telemetry::metrics_handle(),
            forwarder: web::forward::client()
                .map_err(|e| StartupError::Forwarder(e.to_string()))?,
            settings: settings.clone(),
        });
        actix_web::rt::spawn(sweep_limits(state.clone(), shutdown.signal()));
        actix_web::rt::spawn(report_readiness(state.clone(), shutdown.signal()));
        actix_web::rt::spawn(sale::owner::keep_leases(sale.clone(), shutdown.signal()));
        let app_state = state.clone();
        let static_dir = settings.static_dir.clone();
        web::compress::hash_assets(&static_dir);
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .wrap(from_fn(web::canonical::canonical_ids))
                // Bodies under a kilobyte go out as they are; the rest in brotli or gzip.
                .wrap(from_fn(web::compress::mark_small))
                .wrap(actix_web::middleware::Compress::default())
                .wrap(from_fn(web::compress::unmark_small))
                .wrap(from_fn(web::guard::guard))
                .wrap(from_fn(telemetry::record_request))
                .wrap(TracingLogger::default())
                .wrap(from_fn(web::security_headers))
                .configure(web::routes)
                .service(web::pages::static_files(&static_dir))
                .default_service(web::pages::default_page())
        })
        .shutdown_timeout(SHUTDOWN_GRACE_SECS)
        // The binary drains on SIGTERM and SIGINT alike (actix would stop at once on SIGINT):
        // see `drain_on_signals`.
        .disable_signals()
        .client_request_timeout(settings.client_header_timeout)
        .keep_alive(settings.client_header_timeout);
        if settings.workers > 0 {
            server = server.workers(settings.workers);
        }
        let server = server
            .listen(listener)
            .map_err(|source| StartupError::Bind { addr, source })?
            .run();
        let stopper = Stopper {
            server: server.handle(),
            shutdown,
            sale,
        };
        Ok(Application {
            addr,
            server,
            state,
            stopper,
        })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle that stops the whole node.
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    /// The shared state (tests reach the sale's parts through it).
    pub fn state(&self) -> actix_web::web::Data<AppState> {
        self.state.clone()
    }

    /// Serves until stopped (SIGTERM/SIGINT, or the stopper), then stops the background tasks.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        self.stopper.background().await;
        served
    }
}

/// Stops the node gracefully on the first SIGTERM or SIGINT (Ctrl-C): no new connections,
/// in-flight requests get `SHUTDOWN_GRACE_SECS`, then the background tasks stop and the
/// node's events are handed over. A second signal stops at once.
pub async fn drain_on_signals(stopper: Stopper) {
    signal().await;
    tracing::info!(
        grace_secs = SHUTDOWN_GRACE_SECS,
        "stopping: draining in-flight requests (signal again to stop at once)"
    );
    let graceful = stopper.clone();
    actix_web::rt::spawn(async move { graceful.stop(true).await });
    signal().await;
    tracing::warn!("second signal: stopping at once");
    stopper.stop(false).await;
}

/// The next SIGTERM or SIGINT.
async fn signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            tracing::warn!("cannot listen for signals; stop the process with the stopper");
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Every few seconds: forget rate-limit keys that are back to fresh, report the in-flight count
/// and the sale's gauges.
async fn sweep_limits(state: actix_web::web::Data<AppState>, mut stop: Signal) {
    let mut every = tokio::time::interval(LIMITER_SWEEP_INTERVAL);
    loop {
        tokio::select! {
            _ = every.tick() => {
                state.edge.sweep();
                metrics::gauge!("http_requests_in_flight").set(state.edge.inflight() as f64);
                state.sale.report_gauges();
            }
            _ = stop.stopped() => return,
        }
    }
}

/// Every few seconds: whether the backends answer (`node_ready`), on its own task so a backend
/// that is slow to answer delays neither the sweep nor the node's stop.
async fn report_readiness(state: actix_web::web::Data<AppState>, mut stop: Signal) {
    let mut every = tokio::time::interval(LIMITER_SWEEP_INTERVAL);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stop.stopped() => return,
        }
        tokio::select! {
            ready = state.sale.ready(state.settings.ready_timeout) => {
                let up = ready.database && ready.line;
                metrics::gauge!("node_ready").set(f64::from(u8::from(up)));
            }
            _ = stop.stopped() => return,
        }
    }
}

/// The URL other nodes reach this one at: `NODE_URL`, else the address it listens on (an
/// unspecified address, `0.0.0.0`, is reached on loopback: set `NODE_URL` for nodes on
/// several hosts).
fn node_url(settings: &Settings, addr: SocketAddr) -> String {
    if let Some(url) = &settings.node_url {
        return url.clone();
    }
    let mut reach = addr;
    if addr.ip().is_unspecified() {
        tracing::warn!("NODE_URL is not set and the node listens on every address: other nodes are told to reach it on loopback");
        reach.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    format!("http://{reach}")
}

/// Creates the demo event when the database has no events yet; returns its id if created.
pub async fn seed_demo(
    store: &dyn OrderStore,
    clock: &dyn Clock,
) -> Result<Option<Uuid>, StoreError> {
    if !store.list_events().await?.is_empty() {
        return Ok(None);
    }
    let now = clock.now();
    let record = EventRecord {
        id: Uuid::now_v7(),
        spec: demo_event(now),
        paused: false,
        created_at: now,
        updated_at: now,
    };
    store.insert_event(&record).await?;
    tracing::info!(event = %record.id, "demo event created");
    Ok(Some(record.id))
}
