//! Releasing a hold: its places are free at once, and the shopper stops counting against the
//! event's `max_active`.

use uuid::Uuid;

use super::{Sale, SaleError};
use crate::inventory::actor::ReleaseHold;
use crate::room::token::Claims;

/// Releases one of the admitted caller's holds.
pub async fn release(
    sale: &Sale,
    event: Uuid,
    admission: &Claims,
    hold_id: Uuid,
) -> Result<(), SaleError> {
    sale.actor(event)
        .await?
        .ask(ReleaseHold {
            session: admission.session.clone(),
            hold_id,
        })
        .await??;
    finished_shopping(sale, event, admission.seq);
    Ok(())
}

/// The shopper ordered or released: they stop counting against `max_active`, so the pacer can
/// admit the next fan. Done in the background: the fan's answer does not wait for it.
pub(crate) fn finished_shopping(sale: &Sale, event: Uuid, index: u64) {
    let room = sale.room.clone();
    actix_web::rt::spawn(async move {
        if let Err(e) = room.finished(event, index).await {
            tracing::warn!(%event, error = %e, "could not mark a shopper finished");
        }
    });
}
