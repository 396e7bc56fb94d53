//! Resending an order's mail: a new outbox row for the order, telling it as it stands
//! (confirmed or cancelled), with a `Message-ID` of its own.

use uuid::Uuid;

use super::notifications::NotificationView;
use super::{Sale, SaleError};

/// Queues the order's mail again.
pub async fn resend(sale: &Sale, order: Uuid) -> Result<NotificationView, SaleError> {
    let row = sale
        .store
        .resend(order, Uuid::now_v7(), sale.clock.now())
        .await?
        .ok_or(SaleError::NotFound("order"))?;
    tracing::info!(mail = %row.id, order = %order, "order mail resent by the organizer");
    Ok(row.into())
}
