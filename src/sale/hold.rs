//! Holding places: the seat map an admitted fan picks from, and the hold itself, decided by the
//! event's inventory actor one request at a time (so no place is ever handed out twice).

use std::sync::Arc;

use uuid::Uuid;

use super::{Sale, SaleError};
use crate::domain::inventory::Availability;
use crate::domain::inventory::{HoldRequest, HoldView, SeatStatus, TierCounts};
use crate::inventory::actor::{GetAvailability, GetSeats, PlaceHold};
use crate::room::token::Claims;

/// Every reserved seat's status and the tiers' counts.
pub async fn seat_map(
    sale: &Sale,
    event: Uuid,
) -> Result<(Vec<SeatStatus>, Vec<TierCounts>), SaleError> {
    Ok(sale.actor(event).await?.ask(GetSeats).await?)
}

/// The seats' states, compactly (what a fan's live map refreshes every few seconds).
pub async fn availability(sale: &Sale, event: Uuid) -> Result<Arc<Availability>, SaleError> {
    Ok(sale.actor(event).await?.ask(GetAvailability).await?)
}

/// Holds places for the admitted caller, all or nothing.
pub async fn hold(
    sale: &Sale,
    event: Uuid,
    admission: &Claims,
    request: HoldRequest,
) -> Result<HoldView, SaleError> {
    Ok(sale
        .actor(event)
        .await?
        .ask(PlaceHold {
            session: admission.session.clone(),
            request,
        })
        .await??)
}
