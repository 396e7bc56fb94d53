//! The sender: one background task per node that drains the outbox.
//!
//! It claims due rows for a lease, at most twice `MAIL_CONCURRENCY` at a time, and sends each
//! in a task of its own behind a semaphore of `MAIL_CONCURRENCY` permits (the pool's size is
//! not a bound on sends in flight; the semaphore is). It claims again once fewer than
//! `MAIL_CONCURRENCY` claimed rows are left, so a claimed row waits at most one send before
//! its own starts: the lease, three send timeouts, outlasts both with room to record the
//! outcome. When nothing is due it looks again after `MAIL_POLL_MS`. Every outcome is one
//! `UPDATE`; a row whose outcome could not be recorded (the database went away) keeps its claim
//! until the lease runs out and is then sent again: at least once, never lost.
//!
//! While the mail server cannot be reached (no connection, a timeout, a failed TLS handshake),
//! the node stops claiming batches: it claims one row at a time, every `MAIL_BACKOFF_BASE_MS`,
//! as a probe, and goes back to batches as soon as the server answers. So an outage neither
//! churns the database with failing rows beside the order commits, nor spends every mail's
//! attempts (a long outage would otherwise park them all); the other rows wait, their attempts
//! untouched, and go when the server is back.
//!
//! On shutdown it stops claiming and gives the sends in flight one send timeout to finish.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use uuid::Uuid;

use super::message::{self, reason, Undelivered};
use super::transport::Transport;
use super::MailSettings;
use crate::clock::Clock;
use crate::domain::mail::{after_failure, Failure, MailOutcome, Notification};
use crate::room::token::TokenSigner;
use crate::shutdown::Signal;
use crate::store::{EventRecord, OrderStore, StoreError};

/// Claimed rows per permit: one sending, one waiting.
const CLAIM_PER_PERMIT: usize = 2;
/// A claim's lease, in send timeouts: a wait for a permit, the send, and the bookkeeping.
const LEASE_SEND_TIMEOUTS: u32 = 3;
/// How often the outbox gauges are refreshed.
const GAUGE_INTERVAL: Duration = Duration::from_secs(10);
/// How long to wait before claiming again after the database failed a claim.
const CLAIM_FAILED_PAUSE: Duration = Duration::from_secs(1);

/// Everything a node's sender needs.
pub struct Sender {
    store: Arc<dyn OrderStore>,
    clock: Arc<dyn Clock>,
    signer: TokenSigner,
    transport: Transport,
    settings: MailSettings,
    /// Where the links in mails point (`PUBLIC_URL`, or this node's address).
    site: String,
    permits: Arc<Semaphore>,
    /// Whether the mail server answered the last attempt that reached for it (false: probe).
    reachable: AtomicBool,
}

impl Sender {
    /// A sender over these parts. Builds the transport, so it must run inside the runtime
    /// that will send.
    pub fn new(
        store: Arc<dyn OrderStore>,
        clock: Arc<dyn Clock>,
        signer: TokenSigner,
        settings: MailSettings,
        site: String,
    ) -> Result<Self, String> {
        let concurrency = settings.concurrency.max(1);
        let transport = Transport::new(&settings.delivery, concurrency, settings.send_timeout)?;
        Ok(Sender {
            store,
            clock,
            signer,
            transport,
            permits: Arc::new(Semaphore::new(concurrency)),
            reachable: AtomicBool::new(true),
            site: site.trim_end_matches('/').to_string(),
            settings,
        })
    }

    /// The link to an order's page, with the key that opens it anywhere.
    fn order_link(&self, order: Uuid) -> String {
        format!(
            "{}/orders/{order}?k={}",
            self.site,
            self.signer.order_key(order)
        )
    }

    fn lease(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.settings.send_timeout * LEASE_SEND_TIMEOUTS)
            .unwrap_or(chrono::Duration::MAX)
    }

    /// Claims up to `limit` due rows, each with its event (or why it has none: a database
    /// error is transient, a missing event permanent).
    async fn claim(&self, limit: usize) -> Result<Vec<(Notification, EventOf)>, StoreError> {
        let now = self.clock.now();
        let until = now.checked_add_signed(self.lease()).unwrap_or(now);
        let limit = u32::try_from(limit).unwrap_or(u32::MAX);
        let rows = self.store.claim_mail(now, until, limit).await?;
        // One read per event, not per mail.
        let mut events: HashMap<Uuid, EventOf> = HashMap::new();
        let mut claimed = Vec::with_capacity(rows.len());
        for row in rows {
            let event = match events.get(&row.event_id) {
                Some(event) => event.clone(),
                None => {
                    let event = match self.store.get_event(row.event_id).await {
                        Ok(Some(event)) => Ok(Arc::new(event)),
                        Ok(None) => Err(missing("event")),
                        Err(e) => Err(database(e)),
                    };
                    events.insert(row.event_id, event.clone());
                    event
                }
            };
            claimed.push((row, event));
        }
        Ok(claimed)
    }

    /// One attempt at one claimed row, recorded.
    async fn attempt(&self, row: Notification, event: EventOf) {
        let sent = self.send(&row, event).await;
        self.heard_from_server(&sent);
        let outcome = match sent {
            Ok(()) => {
                metrics::counter!("mail_sent_total").increment(1);
                MailOutcome::Sent {
                    at: self.clock.now(),
                }
            }
            Err(failed) => {
                metrics::counter!("mail_failed_total", "reason" => failed.reason).increment(1);
                let outcome = after_failure(
                    row.attempts,
                    failed.failure,
                    failed.detail,
                    self.settings.max_attempts,
                    self.settings.backoff,
                    self.clock.now(),
                    rand::random::<f64>(),
                );
                match &outcome {
                    MailOutcome::Parked { error } => tracing::warn!(
                        mail = %row.id, order = %row.order_id, %error, "mail parked"
                    ),
                    MailOutcome::Retry { error, at } => tracing::info!(
                        mail = %row.id, order = %row.order_id, %error, retry_at = %at,
                        "mail not sent; trying again later"
                    ),
                    MailOutcome::Sent { .. } => {}
                }
                outcome
            }
        };
        if let Err(e) = self.store.record_mail(row.id, &outcome).await {
            // The claim stands until its lease runs out; then the row is sent again.
            tracing::warn!(mail = %row.id, error = %e, ?outcome, "recording a mail's outcome failed");
        }
    }

    /// Notes whether the mail server answered: a delivery or a reply (`4xx`, `5xx`) says it
    /// is there, no connection or no answer that it is not; other failures say nothing.
    fn heard_from_server(&self, sent: &Result<(), Undelivered>) {
        let reachable = match sent {
            Ok(()) => true,
            Err(failed) if failed.server_unreachable() => false,
            Err(failed) if failed.server_replied() => true,
            Err(_) => return,
        };
        if self.reachable.swap(reachable, Ordering::Relaxed) != reachable {
            if reachable {
                tracing::info!("the mail server answers again: sending every due mail");
            } else {
                tracing::warn!(
                    "the mail server cannot be reached: probing with one mail at a time"
                );
            }
        }
    }

    /// Builds and delivers the mail of `row`.
    async fn send(&self, row: &Notification, event: EventOf) -> Result<(), Undelivered> {
        let event = event?;
        let order = self
            .store
            .get_order(row.order_id)
            .await
            .map_err(database)?
            .ok_or_else(|| missing("order"))?;
        let view = message::view(row.kind, &order, &event, self.order_link(order.order_id));
        let mail = message::compose(row, &view, &self.settings.from)?;
        self.transport
            .deliver(row.id, &mail, self.settings.send_timeout)
            .await
    }

    /// Sets the outbox gauges from the database.
    async fn gauges(&self) {
        let now = self.clock.now();
        match self.store.outbox_totals(now).await {
            Ok(totals) => {
                metrics::gauge!("mail_outbox_due").set(totals.due as f64);
                metrics::gauge!("mail_parked").set(totals.parked as f64);
                let oldest = totals
                    .oldest_due
                    .map(|t| (now - t).num_milliseconds().max(0) as f64 / 1000.0)
                    .unwrap_or(0.0);
                metrics::gauge!("mail_outbox_oldest_due_seconds").set(oldest);
            }
            Err(e) => tracing::warn!(error = %e, "reading the outbox totals failed"),
        }
    }
}

/// A claimed row's event, or why its mail cannot be built.
type EventOf = Result<Arc<EventRecord>, Undelivered>;

/// A mail whose order or event is not stored: there is nothing to tell (a bug, or a restored
/// backup), so it is parked.
fn missing(what: &str) -> Undelivered {
    Undelivered::permanent(
        reason::MESSAGE,
        format!("the mail's {what} is not in the database"),
    )
}

/// The database failed while a mail was being built: worth trying again.
fn database(e: StoreError) -> Undelivered {
    Undelivered {
        failure: Failure::Transient,
        reason: reason::DATABASE,
        detail: e.to_string(),
    }
}

/// Drains the outbox until `stop`.
pub async fn run(sender: Arc<Sender>, mut stop: Signal) {
    // Every series exists from the start, at 0: a rate over a series that appears only with
    // its first failure misses that failure.
    metrics::counter!("mail_sent_total").increment(0);
    for reason in reason::ALL {
        metrics::counter!("mail_failed_total", "reason" => reason).increment(0);
    }
    let concurrency = sender.settings.concurrency.max(1);
    let mut sending: JoinSet<()> = JoinSet::new();
    let mut gauges = tokio::time::interval(GAUGE_INTERVAL);
    gauges.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        while sending.try_join_next().is_some() {}
        // With a full claim more rows may be due: look again as soon as a send finishes.
        // Otherwise after the poll interval (or a pause, when the database failed).
        // While the server cannot be reached: one probe at a time, one per backoff base.
        let reachable = sender.reachable.load(Ordering::Relaxed);
        let mut pause = Some(if reachable {
            sender.settings.poll
        } else {
            sender.settings.backoff.base.max(sender.settings.poll)
        });
        if sending.len() < concurrency && (reachable || sending.is_empty()) {
            let want = if reachable {
                concurrency * CLAIM_PER_PERMIT - sending.len()
            } else {
                1
            };
            match sender.claim(want).await {
                Ok(rows) => {
                    if reachable && rows.len() == want {
                        pause = None;
                    }
                    for (row, event) in rows {
                        let (sender, permits) = (sender.clone(), sender.permits.clone());
                        sending.spawn(async move {
                            // The semaphore is never closed: acquiring fails only if it were.
                            let Ok(_permit) = permits.acquire_owned().await else {
                                return;
                            };
                            sender.attempt(row, event).await;
                        });
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "claiming due mails failed");
                    pause = Some(CLAIM_FAILED_PAUSE);
                }
            }
        } else if reachable {
            pause = None;
        }
        tokio::select! {
            _ = stop.stopped() => break,
            _ = gauges.tick() => sender.gauges().await,
            Some(_) = sending.join_next(), if pause.is_none() && !sending.is_empty() => {}
            _ = tokio::time::sleep(pause.unwrap_or_default()), if pause.is_some() => {}
        }
    }
    // Sends in flight get one send timeout to finish; rows not finished keep their claim
    // until its lease runs out, and are sent then (by this node after a restart, or another).
    let drain = async { while sending.join_next().await.is_some() {} };
    if tokio::time::timeout(sender.settings.send_timeout, drain)
        .await
        .is_err()
    {
        tracing::warn!(
            left = sending.len(),
            "mails still sending at shutdown; they are sent again once their claim runs out"
        );
        sending.abort_all();
    }
}
