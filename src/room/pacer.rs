//! The pacer loop every node runs: each tick it flushes the buffered sightings of waiting
//! fans, then for every event with line traffic on this node reads the event's rules from its
//! inventory actor (sale state, rate, limits, and whether the shop is saturated) and runs one
//! [`Room::tick`]. Ticks from several nodes are safe: the line store applies only one per
//! moment (see `LineStore::advance`).
//!
//! Backpressure: when the event's actor has many requests in flight or its last commits were
//! slow, the shop is saturated; the node then asks every pacer to admit at a fraction of the
//! rate for a short while, so fans wait in the cheap line instead of failing in the shop, and
//! the rate recovers by itself once the shop drains.

use std::sync::Arc;
use std::time::Duration;

use super::line::{Room, Rules};
use crate::inventory::actor::{GetSnapshot, Snapshot};
use crate::inventory::{InventoryHandle, Registry};

/// Share of the rate admitted while the shop is saturated.
pub const SATURATED_THROTTLE: f64 = 0.25;
/// How long one saturation report slows every node's pacer.
pub const THROTTLE_HOLD: Duration = Duration::from_secs(2);
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
pub fn rules(snap: &Snapshot, shop_throttle: f64) -> Rules {
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
pub fn shop_throttle(handle: &InventoryHandle, saturation: &Saturation) -> f64 {
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

/// Runs forever, one round every `tick`.
pub async fn run(room: Arc<Room>, registry: Arc<Registry>, tick: Duration, saturation: Saturation) {
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if let Err(e) = room.flush_liveness().await {
            tracing::warn!(error = %e, "flushing liveness failed");
        }
        for event in room.events() {
            let Ok(handle) = registry.get(event).await else {
                continue;
            };
            let Ok(snap) = handle.ask(GetSnapshot).await else {
                continue;
            };
            let throttle = shop_throttle(&handle, &saturation);
            let rules = rules(&snap, throttle);
            room.set_rules(event, rules);
            if throttle < 1.0 {
                metrics::counter!("pacer_throttled_ticks_total").increment(1);
                if let Err(e) = room.throttle(event, throttle, THROTTLE_HOLD).await {
                    tracing::warn!(%event, error = %e, "throttle failed");
                }
            }
            if let Err(e) = room.tick(event, &rules).await {
                tracing::warn!(%event, error = %e, "pacer tick failed");
            }
        }
    }
}
