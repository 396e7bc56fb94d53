//! The committer: writes one event's orders to the database in groups.
//!
//! Orders queue on a bounded channel. The committer takes everything queued (up to
//! `max_batch`), optionally lingers up to `linger` for more, writes the batch in one
//! transaction, and reports each order's outcome to the actor, which answers the waiting
//! requests. While one batch commits the next one gathers, so under load batches grow by
//! themselves and the cost of a commit (a round trip and an fsync) is shared by hundreds of
//! orders; at low load a lone order is written at once, with no added latency.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::Addr;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::actor::{CommitDone, InventoryActor};
use crate::domain::order::NewOrder;
use crate::store::OrderStore;

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
}

/// The last commit's duration and when it finished: the shop's saturation signal.
pub type CommitLatency = Arc<std::sync::Mutex<Option<(Duration, Instant)>>>;

/// Runs until the actor's side of the channel closes.
pub async fn run(
    store: Arc<dyn OrderStore>,
    mut queue: mpsc::Receiver<CommitJob>,
    actor: Addr<InventoryActor>,
    settings: BatchSettings,
    latency: CommitLatency,
) {
    let mut batch: Vec<CommitJob> = Vec::with_capacity(settings.max_batch);
    while let Some(first) = queue.recv().await {
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
        let started = Instant::now();
        if !settings.slowdown.is_zero() {
            tokio::time::sleep(settings.slowdown).await;
        }
        let orders: Vec<NewOrder> = batch.iter().map(|job| job.order.clone()).collect();
        let outcomes = store.commit_orders(&orders).await;
        let took = started.elapsed();
        *latency.lock().unwrap_or_else(|p| p.into_inner()) = Some((took, Instant::now()));
        metrics::histogram!("order_commit_duration_seconds").record(took.as_secs_f64());
        metrics::histogram!("order_batch_size").record(orders.len() as f64);
        let outcomes: Vec<_> = match outcomes {
            Ok(outcomes) => outcomes.into_iter().map(Some).collect(),
            Err(e) => {
                tracing::warn!(error = %e, orders = orders.len(), "group commit failed");
                vec![None; orders.len()]
            }
        };
        let results = batch
            .drain(..)
            .zip(outcomes)
            .map(|(job, outcome)| {
                (
                    job.hold_id,
                    job.order.order,
                    job.order.idempotency_key,
                    outcome,
                )
            })
            .collect();
        // do_send ignores the mailbox bound on purpose: a verdict must never be dropped.
        actor.do_send(CommitDone { results });
    }
}
