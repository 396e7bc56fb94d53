//! Creating an event: the organizer's spec, checked against every rule, stored.

use uuid::Uuid;

use super::list_events::{self, EventView};
use super::{Sale, SaleError};
use crate::domain::event::EventSpec;
use crate::store::EventRecord;

/// Validates and stores a new event; returns it as it is shown.
pub async fn create_event(sale: &Sale, spec: EventSpec) -> Result<EventView, SaleError> {
    spec.validate().map_err(|e| SaleError::Invalid(e.0))?;
    let now = sale.clock.now();
    let record = EventRecord {
        id: Uuid::now_v7(),
        spec,
        paused: false,
        created_at: now,
        updated_at: now,
    };
    sale.store.insert_event(&record).await?;
    tracing::info!(event = %record.id, name = %record.spec.name, "event created");
    list_events::event(sale, record.id).await
}
