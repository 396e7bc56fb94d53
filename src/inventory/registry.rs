//! The registry: event id → that event's actor on this node.
//!
//! An actor starts on first use, after rebuilding its inventory from the database (every
//! confirmed order's items are sold again, every idempotency key known again), so a restarted
//! node serves exactly what was committed before (no lost order, `docs/architecture.md`). Concurrent first uses of one
//! event share one start. Each handle counts the requests it has in flight and refuses more
//! than the actor's bound with `Busy` (a 503 with Retry-After) instead of queueing without
//! limit (everything is bounded).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use actix::prelude::*;
use tokio::sync::{mpsc, OnceCell};
use uuid::Uuid;

use super::actor::{CommitDone, InventoryActor};
use super::committer::{self, BatchSettings, CommitLatency};
use crate::clock::Clock;
use crate::domain::inventory::Inventory;
use crate::store::{Fence, OrderStore, StoreError};

/// Bounds and batching of the shop.
#[derive(Clone, Copy, Debug)]
pub struct ShopSettings {
    /// Most requests in flight to one actor; more are answered 503.
    pub actor_inflight_limit: usize,
    /// Most orders queued for one event's committer; more are answered 503.
    pub commit_queue: usize,
    /// How the committer groups orders.
    pub batch: BatchSettings,
}

/// Why an actor could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// Too many requests in flight for this event.
    #[error("the event's shop is saturated")]
    Busy,
    /// The actor stopped (its node is shutting down).
    #[error("the event's shop stopped")]
    Stopped,
    /// The event does not exist.
    #[error("event not found")]
    UnknownEvent,
    /// Rebuilding the actor needed the database, which failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A bounded way to talk to one event's actor.
#[derive(Clone)]
pub struct InventoryHandle {
    addr: Addr<InventoryActor>,
    inflight: Arc<AtomicUsize>,
    limit: usize,
    latency: CommitLatency,
}

/// Decrements the in-flight count when a request finishes, however it finishes.
struct InflightGuard(Arc<AtomicUsize>);

impl Drop for InflightGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl InventoryHandle {
    /// Sends a message and waits for the answer, or refuses at once when the actor already
    /// has `limit` requests in flight.
    pub async fn ask<M>(&self, msg: M) -> Result<M::Result, InventoryError>
    where
        M: Message + Send + 'static,
        M::Result: Send,
        InventoryActor: Handler<M>,
    {
        let before = self.inflight.fetch_add(1, Ordering::AcqRel);
        let _guard = InflightGuard(self.inflight.clone());
        if before >= self.limit {
            metrics::counter!("requests_rejected_total", "reason" => "actor_busy").increment(1);
            return Err(InventoryError::Busy);
        }
        self.addr
            .send(msg)
            .await
            .map_err(|_| InventoryError::Stopped)
    }

    /// Requests in flight to this actor now (a saturation signal).
    pub fn inflight(&self) -> usize {
        self.inflight.load(Ordering::Acquire)
    }

    /// Most requests in flight before `Busy`.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// How long the last commit took, and how long ago it finished (a saturation signal).
    pub fn last_commit(&self) -> Option<(std::time::Duration, std::time::Duration)> {
        let last = *self.latency.lock();
        last.map(|(took, at)| (took, at.elapsed()))
    }
}

/// Event id → actor, for this node.
pub struct Registry {
    store: Arc<dyn OrderStore>,
    clock: Arc<dyn Clock>,
    settings: ShopSettings,
    actors: Mutex<HashMap<Uuid, Arc<OnceCell<InventoryHandle>>>>,
    edits: tokio::sync::Mutex<()>,
}

impl Registry {
    /// An empty registry.
    pub fn new(store: Arc<dyn OrderStore>, clock: Arc<dyn Clock>, settings: ShopSettings) -> Self {
        Registry {
            store,
            clock,
            settings,
            actors: Mutex::new(HashMap::new()),
            edits: tokio::sync::Mutex::new(()),
        }
    }

    /// Held while an event's spec or pause flag is checked, saved and applied, so two edits
    /// never interleave between the check and the save.
    pub fn edit_lock(&self) -> &tokio::sync::Mutex<()> {
        &self.edits
    }

    /// The event's actor, started (and rebuilt from the database) on first use. `epoch` is
    /// the ownership the actor sells under: its commits are fenced by it (`None`: the node is
    /// the only one, nothing to fence).
    pub async fn get(
        &self,
        event: Uuid,
        epoch: Option<i64>,
    ) -> Result<InventoryHandle, InventoryError> {
        let cell = {
            let mut actors = self.actors.lock();
            let stale = actors
                .get(&event)
                .and_then(|cell| cell.get())
                .is_some_and(|handle| !handle.addr.connected());
            if stale {
                actors.remove(&event);
            }
            actors.entry(event).or_default().clone()
        };
        let started = cell
            .get_or_try_init(|| self.start(event, epoch))
            .await
            .cloned();
        if started.is_err() {
            // An unknown event (or a failed start) must not leave its empty cell behind: ids
            // come from request paths, so failed lookups would grow the map without bound.
            let mut actors = self.actors.lock();
            if actors
                .get(&event)
                .is_some_and(|c| Arc::ptr_eq(c, &cell) && c.get().is_none())
            {
                actors.remove(&event);
            }
        }
        started
    }

    /// Events with an actor slot on this node (running or starting).
    pub fn len(&self) -> usize {
        self.actors.lock().len()
    }

    /// Whether no actor runs or starts on this node.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stops every actor on this node (the node is shutting down) and forgets them.
    pub fn stop_all(&self) {
        let actors: Vec<_> = self.actors.lock().drain().collect();
        for (_, cell) in actors {
            if let Some(handle) = cell.get() {
                handle.addr.do_send(super::actor::Stop);
            }
        }
    }

    /// Stops one event's actor here (the node lost the event's ownership) and forgets it.
    pub fn stop(&self, event: Uuid) {
        if let Some(cell) = self.actors.lock().remove(&event) {
            if let Some(handle) = cell.get() {
                handle.addr.do_send(super::actor::Stop);
            }
        }
    }

    /// The event's actor if it runs on this node already (never starts one).
    pub fn running(&self, event: Uuid) -> Option<InventoryHandle> {
        let actors = self.actors.lock();
        actors
            .get(&event)
            .and_then(|cell| cell.get())
            .filter(|handle| handle.addr.connected())
            .cloned()
    }

    /// The events whose actor runs on this node.
    pub fn events(&self) -> Vec<Uuid> {
        let actors = self.actors.lock();
        actors
            .iter()
            .filter(|(_, cell)| cell.get().is_some_and(|h| h.addr.connected()))
            .map(|(event, _)| *event)
            .collect()
    }

    async fn start(
        &self,
        event: Uuid,
        epoch: Option<i64>,
    ) -> Result<InventoryHandle, InventoryError> {
        let record = self
            .store
            .get_event(event)
            .await?
            .ok_or(InventoryError::UnknownEvent)?;
        let sales = self.store.load_sales(event).await?;
        let mut inventory = Inventory::new(event, record.spec, record.paused);
        inventory.restore(
            sales
                .orders
                .into_iter()
                .map(|s| (s.order, s.idempotency_key, s.request_hash)),
            self.clock.now(),
        );
        let (queue, jobs) = mpsc::channel(self.settings.commit_queue);
        let actor = InventoryActor::new(
            inventory,
            queue,
            self.clock.clone(),
            self.settings.actor_inflight_limit + 16,
        );
        let addr = actor.start();
        let latency = CommitLatency::default();
        let actor = addr.clone();
        actix::spawn(committer::run(
            self.store.clone(),
            jobs,
            // do_send ignores the mailbox bound on purpose: a verdict is never dropped.
            move |results| actor.do_send(CommitDone { results }),
            self.settings.batch,
            epoch.map(|epoch| Fence { event, epoch }),
            latency.clone(),
        ));
        tracing::info!(%event, "inventory actor started");
        Ok(InventoryHandle {
            addr,
            inflight: Arc::new(AtomicUsize::new(0)),
            limit: self.settings.actor_inflight_limit,
            latency,
        })
    }
}
