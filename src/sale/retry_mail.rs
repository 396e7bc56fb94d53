//! Retrying a mail: a parked one (or a pending one) is due again now, its attempts counted
//! afresh, with the same `Message-ID`. A sent mail is not sent twice this way: resend the
//! order's mail instead.

use uuid::Uuid;

use super::notifications::NotificationView;
use super::{Sale, SaleError};

/// Makes the mail `id` due again.
pub async fn retry(sale: &Sale, id: Uuid) -> Result<NotificationView, SaleError> {
    let sent = || {
        SaleError::Invalid(
            "this mail was sent; resend the order's mail (POST /api/v1/orders/{id}/resend) to send it again".into(),
        )
    };
    // One statement in the usual case; only a refused retry asks why (no such mail, or sent).
    let Some(row) = sale.store.retry_notification(id, sale.clock.now()).await? else {
        return Err(match sale.store.notification(id).await? {
            None => SaleError::NotFound("notification"),
            Some(_) => sent(),
        });
    };
    tracing::info!(mail = %row.id, order = %row.order_id, "mail retried by the organizer");
    Ok(row.into())
}
