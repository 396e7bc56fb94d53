//! The organizer's live numbers for one event, and the per-event refusal counters behind them.

use std::collections::HashMap;
use std::sync::Mutex;

use actix_web::{web, HttpResponse};
use serde::Serialize;
use uuid::Uuid;

use super::inventory;
use crate::domain::inventory::TierCounts;
use crate::inventory::actor::{GetSnapshot, Snapshot};
use crate::web::auth::Organizer;
use crate::web::error::ApiError;
use crate::web::State;

/// Most events whose refusals are counted (the map's bound).
const MAX_COUNTED_EVENTS: usize = 10_000;

/// Refusals counted per event, for the stats endpoint (the same counts go to `/metrics`
/// without the event label, to keep its cardinality bounded).
#[derive(Default)]
pub struct EventCounters {
    counts: Mutex<HashMap<Uuid, Refusals>>,
}

/// Requests refused for one event.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Refusals {
    pub rate_limited: u64,
    pub not_admitted: u64,
    pub pow: u64,
}

impl EventCounters {
    fn bump(&self, event: Uuid, f: impl FnOnce(&mut Refusals)) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        // Refusals name events from the path, real or not: past the bound, only events
        // already counted are, so made-up ids cannot grow the map.
        if counts.len() >= MAX_COUNTED_EVENTS && !counts.contains_key(&event) {
            return;
        }
        f(counts.entry(event).or_default());
    }

    /// Counts a shop call refused for want of a valid admission.
    pub fn not_admitted(&self, event: Uuid) {
        metrics::counter!("requests_rejected_total", "reason" => "not_admitted").increment(1);
        self.bump(event, |r| r.not_admitted += 1);
    }

    /// Counts a request refused by a rate limit, for this event (`auth::rate_limited` counts
    /// the metric).
    pub fn rate_limited(&self, event: Uuid) {
        self.bump(event, |r| r.rate_limited += 1);
    }

    /// Counts a join refused for a missing or bad proof of work.
    pub fn pow_refused(&self, event: Uuid) {
        metrics::counter!("requests_rejected_total", "reason" => "pow").increment(1);
        self.bump(event, |r| r.pow += 1);
    }

    /// The counts of one event.
    pub fn get(&self, event: Uuid) -> Refusals {
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.get(&event).copied().unwrap_or_default()
    }
}

/// An event's live numbers: its line, its sales (in all and per tier) and its refusals.
#[derive(Serialize)]
pub struct Stats {
    pub waiting: u64,
    pub admitted_total: u64,
    pub active_shoppers: u64,
    pub admission_rate_per_minute: f64,
    pub skipped_no_shows: u64,
    pub serving: u64,
    pub last_seq: u64,
    pub sold: u64,
    pub held: u64,
    pub available: u64,
    pub orders: u64,
    pub revenue_cents: i64,
    pub open_holds: usize,
    pub rejected_rate_limited: u64,
    pub rejected_not_admitted: u64,
    pub rejected_pow: u64,
    pub state: &'static str,
    pub tiers: Vec<TierCounts>,
}

/// `GET /api/v1/events/{id}/stats`
pub async fn stats(
    _: Organizer,
    state: State,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(event_stats(&state, path.into_inner()).await?))
}

/// The live numbers of one event.
pub async fn event_stats(state: &State, event: Uuid) -> Result<Stats, ApiError> {
    let snap = inventory(state, event).await?.ask(GetSnapshot).await?;
    stats_of(state, event, &snap).await
}

/// The live numbers of one event whose actor snapshot the caller already has.
pub async fn stats_of(state: &State, event: Uuid, snap: &Snapshot) -> Result<Stats, ApiError> {
    crate::web::api::queue::rules(state, event).await?;
    let line = state.room.stats(event).await?;
    let refusals = state.counters.get(event);
    Ok(Stats {
        waiting: line.waiting,
        admitted_total: line.admitted_total,
        active_shoppers: line.active_shoppers,
        admission_rate_per_minute: line.admission_rate_per_minute,
        skipped_no_shows: line.skipped_total,
        serving: line.serving,
        last_seq: line.last_seq,
        sold: snap.totals.sold,
        held: snap.totals.held,
        available: snap.totals.available,
        orders: snap.totals.orders,
        revenue_cents: snap.totals.revenue_cents,
        open_holds: snap.open_holds,
        rejected_rate_limited: refusals.rate_limited,
        rejected_not_admitted: refusals.not_admitted,
        rejected_pow: refusals.pow,
        state: snap.state.as_str(),
        tiers: snap.tiers.clone(),
    })
}
