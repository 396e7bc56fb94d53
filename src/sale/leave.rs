//! A fan leaves the line: their place is skipped when their turn comes and stops counting as
//! waiting at once (in the stats and in the waits of the fans behind); an admitted fan gives
//! their admission back, so the pacer admits the next fan sooner.

use uuid::Uuid;

use super::{Sale, SaleError};
use crate::room::token::Claims;

/// Takes the fan of a verified ticket out of the line. True when they were in it (false:
/// their turn had come and gone); leaving twice is harmless.
pub async fn leave(sale: &Sale, event: Uuid, ticket: &Claims) -> Result<bool, SaleError> {
    sale.known_event(event).await?;
    Ok(sale.room.leave(ticket).await?)
}
