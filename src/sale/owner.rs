//! One owner per event: which node sells an event, and how a node becomes its owner.
//!
//! An event's inventory lives in the memory of exactly one node, its owner. With a shared line
//! store (Redis) a node owns an event while it holds the event's lease there (`SET NX PX`,
//! renewed by the holder every third of `LEASE_MS`, holding the node's id and `NODE_URL`).
//! Taking an event over increments its owner epoch in the database, and every group commit of
//! the new owner's actor is fenced by that epoch, so an owner that lost its lease (paused,
//! partitioned, slow) can never commit again; when it notices (a renewal that fails, a fenced
//! commit, a lease that lapsed), it stops its actor. A node that is not the owner forwards the
//! calls that need the inventory to the owner's `NODE_URL` (see `web::forward`); with no owner
//! at all, it takes the lease itself.
//!
//! With the in-process line store the node is alone: it owns every event, with no lease and
//! no fencing.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use uuid::Uuid;

use super::{Sale, SaleError, BUSY_RETRY_AFTER_SECS};
use crate::inventory::InventoryHandle;
use crate::room::Lease;
use crate::shutdown::Signal;

/// Share of the lease a node trusts its own renewal for: it stops serving well before the
/// lease could have expired in Redis (clocks and round trips differ a little).
const TRUSTED_SHARE: f64 = 0.75;
/// How long a node believes another node owns an event without asking again.
const ELSEWHERE_MEMORY: Duration = Duration::from_secs(1);

/// Whether this node shares its line with others.
#[derive(Clone, Debug)]
pub enum Mode {
    /// The only node (in-process line): it owns every event, no lease, no fencing.
    Alone,
    /// One of several nodes sharing a line store.
    Shared {
        /// This node's id (random per process) and advertised URL, as stored in a lease.
        holder: String,
        /// How long a lease lasts unless renewed.
        lease: Duration,
    },
}

/// Where an event is sold.
#[derive(Clone, Debug)]
pub enum Location {
    /// Here: this node owns it (its actor is running).
    Here,
    /// On the node at this URL.
    There(String),
}

/// A lease this node holds.
#[derive(Clone, Copy, Debug)]
struct Held {
    /// Until when this node trusts its lease (renewal time + a share of the lease).
    trusted_until: Instant,
}

/// This node's view of who owns what.
pub struct Ownership {
    mode: Mode,
    held: Mutex<HashMap<Uuid, Held>>,
    elsewhere: Mutex<HashMap<Uuid, (String, Instant)>>,
    taking: Mutex<HashMap<Uuid, std::sync::Arc<tokio::sync::Mutex<()>>>>,
}

impl Ownership {
    /// Ownership in `mode`.
    pub fn new(mode: Mode) -> Self {
        Ownership {
            mode,
            held: Mutex::default(),
            elsewhere: Mutex::default(),
            taking: Mutex::default(),
        }
    }

    /// Whether this node is the only one.
    pub fn alone(&self) -> bool {
        matches!(self.mode, Mode::Alone)
    }

    fn trusted(&self, event: Uuid) -> bool {
        match self.mode {
            Mode::Alone => true,
            Mode::Shared { .. } => self
                .held
                .lock()
                .get(&event)
                .is_some_and(|h| h.trusted_until > Instant::now()),
        }
    }

    fn trust(&self, event: Uuid, since: Instant, lease: Duration) {
        let trusted_until = since + lease.mul_f64(TRUSTED_SHARE);
        self.held.lock().insert(event, Held { trusted_until });
    }

    /// The events whose lease this node holds (all of its actors' events when alone).
    fn held(&self) -> Vec<Uuid> {
        self.held.lock().keys().copied().collect()
    }
}

/// The URL part of a lease holder string (`<node id> <url>`).
fn url_of(holder: &str) -> &str {
    holder.split_once(' ').map_or(holder, |(_, url)| url)
}

/// The event's actor on this node, if this node owns the event now (never starts one).
pub(crate) fn owned_actor(sale: &Sale, event: Uuid) -> Option<InventoryHandle> {
    let handle = sale.registry.running(event)?;
    sale.ownership.trusted(event).then_some(handle)
}

/// The event's actor, for an operation that needs the inventory: this node's if it owns the
/// event, started here if nobody does; `503` (retry shortly) if another node does, which the
/// web layer's forwarding avoids by sending such calls to the owner.
pub(crate) async fn actor(sale: &Sale, event: Uuid) -> Result<InventoryHandle, SaleError> {
    match locate(sale, event).await? {
        Location::Here => owned_actor(sale, event).ok_or_else(moving),
        Location::There(_) => Err(moving()),
    }
}

fn moving() -> SaleError {
    SaleError::Busy(
        "this event is served by another node; retry shortly".into(),
        BUSY_RETRY_AFTER_SECS,
    )
}

/// Where `event` is sold now. Takes the lease and starts the actor here when nobody owns the
/// event (after a takeover the actor rebuilds from the database before it serves).
pub async fn locate(sale: &Sale, event: Uuid) -> Result<Location, SaleError> {
    if owned_actor(sale, event).is_some() {
        return Ok(Location::Here);
    }
    let own = &sale.ownership;
    let (holder, lease) = match &own.mode {
        Mode::Alone => {
            sale.registry.get(event, None).await?;
            return Ok(Location::Here);
        }
        Mode::Shared { holder, lease } => (holder.clone(), *lease),
    };
    if let Some((url, until)) = own.elsewhere.lock().get(&event) {
        if *until > Instant::now() {
            return Ok(Location::There(url.clone()));
        }
    }
    // One takeover attempt at a time per event on this node.
    let gate = own.taking.lock().entry(event).or_default().clone();
    let _taking = gate.lock().await;
    if owned_actor(sale, event).is_some() {
        return Ok(Location::Here);
    }
    let asked = Instant::now();
    let line = sale.room.store();
    let lease_ms = lease.as_millis() as u64;
    let renewed = match line.lease(event, &holder, lease_ms).await? {
        Lease::Taken => false,
        // Still ours (our trust lapsed, say after a slow renewal): renew and carry on.
        Lease::Held(current) if current == holder => {
            if !line.renew(event, &holder, lease_ms).await? {
                return Err(moving());
            }
            true
        }
        // It expired between two commands: free again; the caller retries shortly.
        Lease::Held(current) if current.is_empty() => return Err(moving()),
        Lease::Held(current) => {
            // Another node owns it: anything of ours is stale.
            drop_event(sale, event);
            let url = url_of(&current).to_string();
            own.elsewhere
                .lock()
                .insert(event, (url.clone(), Instant::now() + ELSEWHERE_MEMORY));
            return Ok(Location::There(url));
        }
    };
    if renewed && sale.registry.running(event).is_some() {
        // Our lease never lapsed in the line store: the actor and its epoch still stand.
        own.trust(event, asked, lease);
        return Ok(Location::Here);
    }
    // A takeover (from another node, or from our own lapsed lease): whatever ran here may
    // be stale. Fence the previous owner, then rebuild from what the database holds.
    sale.registry.stop(event);
    let Some(epoch) = sale.store.take_ownership(event).await? else {
        let _ = line.give_up(event, &holder).await;
        return Err(SaleError::NotFound("event"));
    };
    metrics::counter!("lease_takeovers_total").increment(1);
    tracing::info!(%event, epoch, "took over the event");
    if let Err(e) = sale.registry.get(event, Some(epoch)).await {
        let _ = line.give_up(event, &holder).await;
        return Err(e.into());
    }
    own.trust(event, asked, lease);
    own.elsewhere.lock().remove(&event);
    report_owned(sale);
    Ok(Location::Here)
}

/// Forgets an event this node no longer owns, and stops its actor.
fn drop_event(sale: &Sale, event: Uuid) {
    let had = sale.ownership.held.lock().remove(&event).is_some();
    if had || sale.registry.running(event).is_some() {
        tracing::warn!(%event, "lost the event's lease: stopping this node's actor");
        sale.registry.stop(event);
    }
    crate::telemetry::forget_event(event);
    report_owned(sale);
}

fn report_owned(sale: &Sale) {
    metrics::gauge!("owned_events").set(sale.registry.events().len() as f64);
}

/// The events this node owns now (their actors run here under a trusted lease).
pub(crate) fn owned(sale: &Sale) -> Vec<Uuid> {
    sale.registry
        .events()
        .into_iter()
        .filter(|e| sale.ownership.trusted(*e))
        .collect()
}

/// Renews this node's leases every third of the lease until the node stops; an event whose
/// lease could not be renewed is given up here (its actor stops). On stopping, the leases are
/// given up, so another node takes over at once rather than when they expire.
pub async fn keep_leases(sale: std::sync::Arc<Sale>, mut stop: Signal) {
    let (holder, lease) = match &sale.ownership.mode {
        Mode::Alone => return,
        Mode::Shared { holder, lease } => (holder.clone(), *lease),
    };
    let mut every = tokio::time::interval(lease / 3);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stop.stopped() => return,
        }
        let line = sale.room.store();
        for event in sale.ownership.held() {
            let asked = Instant::now();
            match line.renew(event, &holder, lease.as_millis() as u64).await {
                Ok(true) if sale.registry.running(event).is_some() => {
                    sale.ownership.trust(event, asked, lease)
                }
                // Our actor stopped (fenced, or shut down): let another node have the event.
                Ok(true) => {
                    let _ = line.give_up(event, &holder).await;
                    drop_event(&sale, event);
                }
                Ok(false) => drop_event(&sale, event),
                // Redis did not answer: the trust runs out by itself if this goes on.
                Err(e) => tracing::warn!(%event, error = %e, "lease renewal failed"),
            }
        }
    }
}

/// Gives up every lease this node holds (it is stopping), so other nodes take its events over
/// at once instead of when the leases expire.
pub async fn give_up_all(sale: &Sale) {
    let Mode::Shared { holder, .. } = &sale.ownership.mode else {
        return;
    };
    for event in sale.ownership.held() {
        sale.ownership.held.lock().remove(&event);
        crate::telemetry::forget_event(event);
        let line = sale.room.store();
        // One retry: the first call may find the shared connection gone with the workers.
        if line.give_up(event, holder).await.is_err() {
            let _ = line.give_up(event, holder).await;
        }
    }
    report_owned(sale);
}
