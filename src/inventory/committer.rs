//! The committer: writes one event's orders to the database in groups.
//!
//! Orders queue on a bounded channel. The committer takes everything queued (up to
//! `max_batch`), optionally lingers up to `linger` for more, writes the batch in one
//! transaction, and reports each order's outcome to the actor, which answers the waiting
//! requests. While one batch commits the next one gathers, so under load batches grow by
//! themselves and the cost of a commit (a round trip and an fsync) is shared by hundreds of
//! orders; at low load a lone order is written at once, with no added latency. Up to
//! `concurrency` batches commit at once, so a batch need not wait for the previous one's
//! fsync; the actor has already decided every order, so their commit order does not matter.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::domain::order::{CommitOutcome, NewOrder, Order, Settled};
use crate::store::{Fence, OrderStore, StoreError};

/// One order waiting to be written, with the hold it came from.
pub struct CommitJob {
    pub hold_id: Uuid,
    pub order: NewOrder,
}

/// How the committer groups orders.
#[derive(Clone, Copy, Debug)]
pub struct BatchSettings {
    /// Most orders in one transaction.
    pub max_batch: usize,
    /// How long to wait for more orders once one is queued (zero: take what is there).
    pub linger: Duration,
    /// Extra delay before each commit: only for tests of backpressure (a slow database).
    pub slowdown: Duration,
    /// Batches committing at once (each on its own connection).
    pub concurrency: usize,
}

/// The last commit's duration and when it finished: the shop's saturation signal.
pub type CommitLatency = Arc<parking_lot::Mutex<Option<(Duration, Instant)>>>;

/// What became of each order of a batch: its hold, the order, its key, and what was settled.
pub type Verdicts = Vec<(Uuid, Order, String, Settled)>;

/// How often a failed batch's keys are looked up before the batch counts as not written.
const LOOKUP_ATTEMPTS: u32 = 3;

/// Runs until the actor's side of the channel closes and every commit has reported; each
/// batch's verdicts go to `report` (the actor's mailbox).
pub async fn run(
    store: Arc<dyn OrderStore>,
    mut queue: mpsc::Receiver<CommitJob>,
    report: impl Fn(Verdicts),
    settings: BatchSettings,
    fence: Option<Fence>,
    latency: CommitLatency,
) {
    let mut inflight = FuturesUnordered::new();
    let mut open = true;
    while open || !inflight.is_empty() {
        tokio::select! {
            first = queue.recv(), if open && inflight.len() < settings.concurrency.max(1) => {
                match first {
                    Some(first) => {
                        let batch = gather(first, &mut queue, &settings).await;
                        inflight.push(commit(store.clone(), batch, settings, fence, latency.clone()));
                    }
                    None => open = false,
                }
            }
            Some(results) = inflight.next() => {
                report(results);
            }
        }
    }
}

/// Everything queued behind `first` (up to `max_batch`), waiting up to `linger` for more.
async fn gather(
    first: CommitJob,
    queue: &mut mpsc::Receiver<CommitJob>,
    settings: &BatchSettings,
) -> Vec<CommitJob> {
    let mut batch = Vec::with_capacity(settings.max_batch);
    batch.push(first);
    let deadline = tokio::time::Instant::now() + settings.linger;
    while batch.len() < settings.max_batch {
        match queue.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) if settings.linger.is_zero() => break,
            Err(_) => match tokio::time::timeout_at(deadline, queue.recv()).await {
                Ok(Some(job)) => batch.push(job),
                _ => break,
            },
        }
    }
    batch
}

/// Writes one batch; returns each order with its hold and how it settled.
async fn commit(
    store: Arc<dyn OrderStore>,
    batch: Vec<CommitJob>,
    settings: BatchSettings,
    fence: Option<Fence>,
    latency: CommitLatency,
) -> Verdicts {
    let started = Instant::now();
    if !settings.slowdown.is_zero() {
        tokio::time::sleep(settings.slowdown).await;
    }
    let orders: Vec<NewOrder> = batch.iter().map(|job| job.order.clone()).collect();
    let outcomes = store.commit_orders(&orders, fence).await;
    let took = started.elapsed();
    *latency.lock() = Some((took, Instant::now()));
    metrics::histogram!("order_commit_duration_seconds").record(took.as_secs_f64());
    metrics::histogram!("order_batch_size").record(orders.len() as f64);
    let settled: Vec<Settled> = match outcomes {
        Ok(outcomes) => {
            // A taken key may be this very request's, stored by an earlier attempt whose
            // answer was lost: look it up.
            let taken: Vec<usize> = (0..outcomes.len())
                .filter(|&i| outcomes[i] == CommitOutcome::KeyTaken)
                .collect();
            let mut settled: Vec<Settled> = outcomes.into_iter().map(Settled::Outcome).collect();
            look_up(&store, &orders, &taken, &mut settled).await;
            settled
        }
        Err(StoreError::Fenced) => {
            tracing::warn!(
                orders = orders.len(),
                "group commit fenced: the event has a new owner"
            );
            metrics::counter!("fenced_commits_total").increment(1);
            vec![Settled::Outcome(CommitOutcome::Fenced); orders.len()]
        }
        Err(e) => {
            // The commit may have gone through with its answer lost: what the database holds
            // under the batch's keys decides.
            tracing::warn!(error = %e, orders = orders.len(), "group commit failed; looking up its keys");
            let all: Vec<usize> = (0..orders.len()).collect();
            let mut settled = vec![Settled::Failed; orders.len()];
            look_up(&store, &orders, &all, &mut settled).await;
            settled
        }
    };
    batch
        .into_iter()
        .zip(settled)
        .map(|(job, settled)| {
            (
                job.hold_id,
                job.order.order,
                job.order.idempotency_key,
                settled,
            )
        })
        .collect()
}

/// Settles `orders[which]` by what the database holds under their keys: `Committed` when it
/// is this very order, `Stored` when another attempt stored it for the same request,
/// `KeyTaken` when the key holds another request's order. An entry with nothing stored under
/// its key, or every entry when the database cannot be asked, keeps what `settled` says.
async fn look_up(
    store: &Arc<dyn OrderStore>,
    orders: &[NewOrder],
    which: &[usize],
    settled: &mut [Settled],
) {
    let Some(first) = which.first() else {
        return;
    };
    let event = orders[*first].order.event_id;
    let keys: Vec<String> = which
        .iter()
        .map(|&i| orders[i].idempotency_key.clone())
        .collect();
    let mut found = None;
    for attempt in 0..LOOKUP_ATTEMPTS {
        match store.orders_by_keys(event, &keys).await {
            Ok(stored) => {
                found = Some(stored);
                break;
            }
            Err(e) => {
                tracing::warn!(error = %e, attempt, "looking up a failed batch's keys failed");
                if attempt + 1 < LOOKUP_ATTEMPTS {
                    tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                }
            }
        }
    }
    let Some(stored) = found else {
        return;
    };
    for &i in which {
        let mine = &orders[i];
        let Some(s) = stored
            .iter()
            .find(|s| s.idempotency_key == mine.idempotency_key)
        else {
            continue;
        };
        settled[i] = if s.order.order_id == mine.order.order_id {
            Settled::Outcome(CommitOutcome::Committed)
        } else if s.request_hash == mine.request_hash {
            Settled::Stored(s.order.clone())
        } else {
            Settled::Outcome(CommitOutcome::KeyTaken)
        };
    }
}
