//! Admitting fans: the pacer loop every node runs, and the published draw of the pre-queue.
//!
//! Each tick flushes the buffered sightings of waiting fans, then for every event with line
//! traffic on this node reads the event's rules from its inventory actor (sale state, rate,
//! limits, and whether the shop is saturated) and runs one `Room::tick`, which admits the next
//! fans in line. Ticks from several nodes are safe: the line store applies only one per moment
//! (see `LineStore::advance`).
//!
//! Backpressure: when the event's actor has many requests in flight or its last commits were
//! slow, the shop is saturated; the node then asks every pacer to admit at a fraction of the
//! rate for a short while, so fans wait in the cheap line instead of failing in the shop, and
//! the rate recovers by itself once the shop drains.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::facts::Published;
use super::{owner, Sale, SaleError};
use crate::inventory::actor::{GetSnapshot, Snapshot};
use crate::inventory::InventoryHandle;
use crate::room::line::Rules;
use crate::room::pacing::PREQUEUE_METHOD;
use crate::shutdown::Signal;

/// Share of the rate admitted while the shop is saturated.
pub const SATURATED_THROTTLE: f64 = 0.25;
/// How long one saturation report slows every node's pacer.
pub const THROTTLE_HOLD: Duration = Duration::from_secs(2);
/// Ticks a publication outlives (an owner that stops publishing is gone: nodes then take
/// the event over rather than read stale counts).
pub const PUBLISHED_TICKS: u32 = 8;
/// How recent a slow commit must be to count as saturation.
pub const COMMIT_SIGNAL_MAX_AGE: Duration = Duration::from_secs(5);

/// What counts as a saturated shop.
#[derive(Clone, Copy, Debug)]
pub struct Saturation {
    /// Requests in flight to the actor, as a share of its limit.
    pub inflight_share: f64,
    /// A commit slower than this.
    pub slow_commit: Duration,
}

/// The rules of an event from its actor's snapshot.
pub fn rules_of(snap: &Snapshot, shop_throttle: f64) -> Rules {
    Rules {
        rate_per_minute: snap.spec.admission.rate_per_minute,
        max_active: snap.spec.admission.max_active,
        admission_ttl_secs: snap.spec.admission.admission_ttl_secs,
        sale: snap.state,
        opens_at: snap.spec.sale_opens_at,
        shop_throttle,
        pow_bits: snap.spec.pow_difficulty_bits,
    }
}

/// 1.0, or [`SATURATED_THROTTLE`] when the shop behind `handle` is saturated.
fn shop_throttle(handle: &InventoryHandle, saturation: &Saturation) -> f64 {
    let busy = handle.inflight() as f64 >= handle.limit() as f64 * saturation.inflight_share;
    let slow = handle
        .last_commit()
        .is_some_and(|(took, age)| took >= saturation.slow_commit && age <= COMMIT_SIGNAL_MAX_AGE);
    if busy || slow {
        SATURATED_THROTTLE
    } else {
        1.0
    }
}

/// Runs the pacer, one round every tick, until the node stops.
pub async fn run(sale: Arc<Sale>, mut stop: Signal) {
    let mut interval = tokio::time::interval(sale.settings.tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => tick(&sale).await,
            _ = stop.stopped() => return,
        }
    }
}

/// One round: flush sightings, then for every event this node owns, publish its counts and
/// rules for the other nodes and tick its line.
async fn tick(sale: &Sale) {
    if let Err(e) = sale.room.flush_liveness().await {
        tracing::warn!(error = %e, "flushing liveness failed");
    }
    let owned = owner::owned(sale);
    // Lines fans wait on here (long polls) but another node moves: look once a tick.
    for event in sale.room.watched() {
        if !owned.contains(&event) {
            sale.refresh_watched(event).await;
        }
    }
    for event in owned {
        let Some(handle) = owner::owned_actor(sale, event) else {
            continue;
        };
        let Ok(snap) = handle.ask(GetSnapshot).await else {
            continue;
        };
        publish(sale, event, &snap).await;
        let throttle = shop_throttle(&handle, &sale.settings.saturation);
        let rules = rules_of(&snap, throttle);
        report(event, &snap, &rules, handle.inflight());
        sale.room.set_rules(event, rules);
        if throttle < 1.0 {
            metrics::counter!("pacer_throttled_ticks_total").increment(1);
            if let Err(e) = sale.room.throttle(event, throttle, THROTTLE_HOLD).await {
                tracing::warn!(%event, error = %e, "throttle failed");
            }
        }
        if let Err(e) = sale.room.tick(event, &rules).await {
            tracing::warn!(%event, error = %e, "pacer tick failed");
        }
    }
}

/// Sets the event's shop gauges (the line's are set by the room's tick).
fn report(event: Uuid, snap: &Snapshot, rules: &Rules, inflight: usize) {
    let label = event.to_string();
    let totals = &snap.totals;
    metrics::gauge!("event_sold", "event" => label.clone()).set(totals.sold as f64);
    metrics::gauge!("event_held", "event" => label.clone()).set(totals.held as f64);
    metrics::gauge!("event_available", "event" => label.clone()).set(totals.available as f64);
    metrics::gauge!("event_admission_limit_per_minute", "event" => label.clone())
        .set(f64::from(rules.rate_per_minute));
    metrics::gauge!("event_selling", "event" => label.clone())
        .set(f64::from(u8::from(rules.sale_open())));
    metrics::gauge!("inventory_actor_inflight", "event" => label).set(inflight as f64);
}

/// Publishes what the owner knows of an event for the other nodes' reads and polls (with the
/// in-process line there are no other nodes: nothing to publish).
async fn publish(sale: &Sale, event: Uuid, snap: &Snapshot) {
    if sale.ownership.alone() {
        return;
    }
    // Plain numbers and strings: serializing cannot fail.
    let text = serde_json::to_string(&Published::of(snap)).unwrap_or_default();
    let ttl = (sale.settings.tick * PUBLISHED_TICKS).as_millis() as u64;
    if let Err(e) = sale.room.store().publish(event, &text, ttl).await {
        tracing::warn!(%event, error = %e, "publishing the event's counts failed");
    }
}

/// The pre-queue's draw, as `GET …/fairness` publishes it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Fairness {
    pub event_id: Uuid,
    pub opened_at: Option<DateTime<Utc>>,
    pub pre_queue_size: u64,
    pub seed: String,
    pub algorithm: &'static str,
    pub method: &'static str,
}

/// The pre-queue draw, once the line opened.
pub async fn fairness(sale: &Sale, event: Uuid) -> Result<Fairness, SaleError> {
    sale.rules(event).await?;
    let opening = sale.room.opening(event).await?.ok_or_else(|| {
        SaleError::SaleNotOpen("the line has not opened yet; the seed is drawn at opening".into())
    })?;
    Ok(Fairness {
        event_id: event,
        opened_at: Utc.timestamp_millis_opt(opening.opened_at_ms).single(),
        pre_queue_size: opening.prequeue_size,
        seed: opening.seed,
        algorithm: "HMAC-SHA256",
        method: PREQUEUE_METHOD,
    })
}
