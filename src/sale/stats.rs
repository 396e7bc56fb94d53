//! The organizer's live numbers for one event: its line, its sales (in all and per tier) and
//! the requests refused for it.

use serde::Serialize;
use uuid::Uuid;

use super::list_events::EventView;
use super::{Sale, SaleError};
use crate::domain::inventory::{SaleState, TierCounts};
use crate::inventory::actor::{GetSnapshot, Snapshot};

/// An event's live numbers.
#[derive(Clone, Debug, Serialize)]
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
    pub state: SaleState,
    pub tiers: Vec<TierCounts>,
}

/// The live numbers of one event.
pub async fn stats(sale: &Sale, event: Uuid) -> Result<Stats, SaleError> {
    let snap = sale.actor(event).await?.ask(GetSnapshot).await?;
    stats_of(sale, event, &snap).await
}

/// What the organizer's dashboard shows: the event, its numbers and whether it is paused, from
/// one look at the event's actor.
pub struct Dashboard {
    pub event: EventView,
    pub stats: Stats,
    pub paused: bool,
}

/// The dashboard of one event.
pub async fn dashboard(sale: &Sale, event: Uuid) -> Result<Dashboard, SaleError> {
    let snap = sale.actor(event).await?.ask(GetSnapshot).await?;
    let stats = stats_of(sale, event, &snap).await?;
    Ok(Dashboard {
        paused: snap.paused,
        event: EventView::new(event, snap),
        stats,
    })
}

async fn stats_of(sale: &Sale, event: Uuid, snap: &Snapshot) -> Result<Stats, SaleError> {
    sale.rules(event).await?;
    let line = sale.room.stats(event).await?;
    let refusals = sale.refusals.get(event);
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
        state: snap.state,
        tiers: snap.tiers.clone(),
    })
}
