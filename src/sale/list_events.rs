//! Reading events: one as `GET /api/v1/events/{id}` shows it, or every event. Reads are answered
//! by any node from the stored events and the counts their owners publish (`facts`).

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::facts::{self, Counts};
use super::{Sale, SaleError};
use crate::domain::event::{AdmissionSettings, SeatingBlock};
use crate::domain::inventory::{SaleState, TierCounts};
use crate::store::EventRecord;

/// An event as it is shown: the spec plus id, state and tier counts.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct EventView {
    pub id: Uuid,
    pub name: String,
    pub venue: String,
    pub starts_at: DateTime<Utc>,
    pub sale_opens_at: Option<DateTime<Utc>>,
    pub max_per_order: u32,
    pub hold_ttl_secs: u32,
    pub admission: AdmissionSettings,
    pub pow_difficulty_bits: u8,
    pub state: SaleState,
    pub tiers: Vec<TierCounts>,
    pub seating: Vec<SeatingBlock>,
}

impl EventView {
    /// The view of a stored event with its counts, at `now`.
    pub fn of(record: &EventRecord, counts: &Counts, now: DateTime<Utc>) -> Self {
        let spec = record.spec.clone();
        EventView {
            id: record.id,
            state: counts.state(record, now),
            name: spec.name,
            venue: spec.venue,
            starts_at: spec.starts_at,
            sale_opens_at: spec.sale_opens_at,
            max_per_order: spec.max_per_order,
            hold_ttl_secs: spec.hold_ttl_secs,
            admission: spec.admission,
            pow_difficulty_bits: spec.pow_difficulty_bits,
            tiers: counts.tiers.clone(),
            seating: spec.seating,
        }
    }
}

/// One event as of now (any node answers; none starts an actor for it).
pub async fn event(sale: &Sale, id: Uuid) -> Result<EventView, SaleError> {
    let record = facts::record(sale, id).await?;
    let published = facts::published(sale, &[id]).await?.remove(0);
    let counts = facts::counts(sale, &record, published).await?;
    Ok(EventView::of(&record, &counts, sale.clock.now()))
}

/// Every event, oldest first.
pub async fn events(sale: &Sale) -> Result<Vec<EventView>, SaleError> {
    let records = sale.store.list_events().await?;
    let ids: Vec<Uuid> = records.iter().map(|r| r.id).collect();
    let published = facts::published(sale, &ids).await?;
    let now = sale.clock.now();
    let mut events = Vec::with_capacity(records.len());
    for (record, published) in records.iter().zip(published) {
        let counts = facts::counts(sale, record, published).await?;
        events.push(EventView::of(record, &counts, now));
    }
    Ok(events)
}
