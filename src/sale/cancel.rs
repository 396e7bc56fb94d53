//! Cancelling an order: its places go back on sale and to the buyer's allowance. Repeating it
//! changes nothing.

use uuid::Uuid;

use super::{Sale, SaleError};
use crate::domain::order::Order;
use crate::inventory::actor::OrderCancelled;

/// The event an order belongs to (cancels are routed to its owner).
pub async fn event_of(sale: &Sale, order_id: Uuid) -> Result<Uuid, SaleError> {
    Ok(super::order::find(sale, order_id).await?.event_id)
}

/// Cancels an order (if it is not already) and gives its items back to the event's shop.
pub async fn cancel(sale: &Sale, order_id: Uuid) -> Result<Order, SaleError> {
    let (order, changed) = sale
        .store
        .cancel_order(order_id, sale.clock.now())
        .await?
        .ok_or(SaleError::NotFound("order"))?;
    if changed {
        tracing::info!(order = %order.order_id, event = %order.event_id, "order cancelled");
        metrics::counter!("orders_total", "outcome" => "cancelled").increment(1);
        // The web layer sends cancels to the event's owner; with no owner anywhere, the next
        // one rebuilds from the database, which has the cancel.
        if let Some(actor) = super::owner::owned_actor(sale, order.event_id) {
            actor
                .ask(OrderCancelled {
                    order: order.clone(),
                })
                .await?;
        }
    }
    Ok(order)
}
