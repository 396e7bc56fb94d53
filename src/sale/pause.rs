//! Pausing and resuming a sale: admission and shopping stop, the line keeps its order.

use uuid::Uuid;

use super::edit_event::change;
use super::list_events::EventView;
use super::{Sale, SaleError};

/// Pauses (`true`) or resumes (`false`) an event's sale.
pub async fn pause(sale: &Sale, id: Uuid, paused: bool) -> Result<EventView, SaleError> {
    change(sale, id, |record| record.paused = paused).await
}
