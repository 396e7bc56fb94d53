//! Reading events: one as `GET /api/v1/events/{id}` shows it, or every event.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::{Sale, SaleError};
use crate::domain::event::{AdmissionSettings, SeatingBlock};
use crate::domain::inventory::{SaleState, TierCounts};
use crate::inventory::actor::{GetSnapshot, Snapshot};

/// An event as it is shown: the spec plus id, state and tier counts.
#[derive(Clone, Debug, Serialize)]
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
    /// Builds the view from an actor snapshot.
    pub fn new(id: Uuid, snap: Snapshot) -> Self {
        let spec = snap.spec;
        EventView {
            id,
            name: spec.name,
            venue: spec.venue,
            starts_at: spec.starts_at,
            sale_opens_at: spec.sale_opens_at,
            max_per_order: spec.max_per_order,
            hold_ttl_secs: spec.hold_ttl_secs,
            admission: spec.admission,
            pow_difficulty_bits: spec.pow_difficulty_bits,
            state: snap.state,
            tiers: snap.tiers,
            seating: spec.seating,
        }
    }
}

/// One event as of now.
pub async fn event(sale: &Sale, id: Uuid) -> Result<EventView, SaleError> {
    let snap = sale.actor(id).await?.ask(GetSnapshot).await?;
    Ok(EventView::new(id, snap))
}

/// Every event, oldest first.
pub async fn events(sale: &Sale) -> Result<Vec<EventView>, SaleError> {
    let mut events = Vec::new();
    for record in sale.store.list_events().await? {
        events.push(event(sale, record.id).await?);
    }
    Ok(events)
}
