//! A fan's place in the line: where they stand, how long they may wait, and their admission
//! once their turn has come.

use uuid::Uuid;

use super::{Sale, SaleError};
use crate::room::line::Status;
use crate::room::token::Claims;

/// The status of a verified ticket of `event`; `token` is its signed form, echoed back.
pub async fn status(
    sale: &Sale,
    event: Uuid,
    ticket: &Claims,
    token: String,
) -> Result<Status, SaleError> {
    let rules = sale.rules(event).await?;
    Ok(sale.room.status(ticket, token, &rules).await?)
}
