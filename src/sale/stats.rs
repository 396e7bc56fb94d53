//! The organizer's live numbers for one event: its line, its sales (in all and per tier) and
//! the requests refused for it.

use serde::Serialize;
use uuid::Uuid;

use super::facts;
use super::list_events::EventView;
use super::{Sale, SaleError};
use crate::domain::inventory::{SaleState, TierCounts};

/// An event's live numbers.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Stats {
    pub waiting: u64,
    pub admitted_total: u64,
    pub active_shoppers: u64,
    pub admissions_unfetched: u64,
    pub admission_rate_per_minute: f64,
    pub skipped_no_shows: u64,
    /// Fans who left the line themselves (`DELETE …/queue`).
    pub left_line: u64,
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

/// The live numbers of one event (any node answers; none starts an actor for it).
pub async fn stats(sale: &Sale, event: Uuid) -> Result<Stats, SaleError> {
    Ok(dashboard(sale, event).await?.stats)
}

/// What the organizer's dashboard shows: the event, its numbers and whether it is paused.
pub struct Dashboard {
    pub event: EventView,
    pub stats: Stats,
    pub paused: bool,
}

/// The dashboard of one event.
pub async fn dashboard(sale: &Sale, event: Uuid) -> Result<Dashboard, SaleError> {
    let record = facts::record(sale, event).await?;
    let published = facts::published(sale, &[event]).await?.remove(0);
    let counts = facts::counts(sale, &record, published).await?;
    let line = sale.room.stats(event).await?;
    let refusals = sale.refusals_of(event);
    let view = EventView::of(&record, &counts, sale.clock.now());
    Ok(Dashboard {
        paused: counts.paused,
        stats: Stats {
            waiting: line.waiting,
            admitted_total: line.admitted_total,
            active_shoppers: line.active_shoppers,
            admissions_unfetched: line.admissions_unfetched,
            admission_rate_per_minute: line.admission_rate_per_minute,
            skipped_no_shows: line.skipped_total,
            left_line: line.left_total,
            serving: line.serving,
            last_seq: line.last_seq,
            sold: counts.totals.sold,
            held: counts.totals.held,
            available: counts.totals.available,
            orders: counts.totals.orders,
            revenue_cents: counts.totals.revenue_cents,
            open_holds: counts.open_holds,
            rejected_rate_limited: refusals.rate_limited,
            rejected_not_admitted: refusals.not_admitted,
            rejected_pow: refusals.pow,
            state: view.state,
            tiers: counts.tiers,
        },
        event: view,
    })
}
