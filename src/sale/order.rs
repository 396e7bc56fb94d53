//! Ordering a hold under an idempotency key, and reading an order back.
//!
//! The actor marks the hold committing and hands the order to the event's committer; the answer
//! comes after the commit, so a confirmed order is in the database. Every request for one key
//! (retries, double clicks, several connections) gets the same order.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::release::finished_shopping;
use super::{Sale, SaleError, BUSY_RETRY_AFTER_SECS};
use crate::domain::order::{Buyer, Order};
use crate::inventory::actor::{OrderFailure, OrderTicket, PlaceOrder};
use crate::room::token::{Claims, TokenKind};

/// An order of one hold.
pub struct OrderRequest {
    pub event: Uuid,
    pub hold_id: Uuid,
    /// The client's `Idempotency-Key`.
    pub key: String,
    pub buyer: Buyer,
}

/// Fingerprint of what an idempotency key promises: this hold, this buyer.
fn request_hash(hold_id: Uuid, buyer: &Buyer) -> String {
    let mut hash = Sha256::new();
    for part in [hold_id.to_string().as_str(), &buyer.name, &buyer.email] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    hex::encode(hash.finalize())
}

/// Orders the admitted caller's hold. Returns the order and whether this request created it
/// (`false`: a replay of the key's order).
pub async fn order(
    sale: &Sale,
    admission: &Claims,
    request: OrderRequest,
) -> Result<(Arc<Order>, bool), SaleError> {
    let OrderRequest {
        event,
        hold_id,
        key,
        buyer,
    } = request;
    let ticket = sale
        .actor(event)
        .await?
        .ask(PlaceOrder {
            session: admission.session.clone(),
            hold_id,
            request_hash: request_hash(hold_id, &buyer),
            key,
            buyer,
        })
        .await?;
    let reply = match ticket {
        OrderTicket::Ready(reply) => reply,
        // The actor always answers a waiter; a dropped sender means it stopped mid-commit.
        OrderTicket::Wait(rx) => rx.await.unwrap_or(Err(OrderFailure::Busy)),
    };
    match reply {
        Ok((order, created)) => {
            // Also on a replay: the first answer may never have reached the fan (harmless
            // twice).
            finished_shopping(sale, event, admission.seq);
            Ok((order, created))
        }
        Err(OrderFailure::Shop(e)) => Err(e.into()),
        Err(OrderFailure::Busy) => Err(SaleError::Busy(
            "orders are queueing up; retry with the same Idempotency-Key".into(),
            BUSY_RETRY_AFTER_SECS,
        )),
        Err(OrderFailure::Backend) => Err(SaleError::Backend(
            "the order could not be committed".into(),
        )),
        Err(OrderFailure::Moved) => Err(SaleError::Busy(
            "this event moved to another node; retry with the same Idempotency-Key".into(),
            BUSY_RETRY_AFTER_SECS,
        )),
    }
}

/// One order, as stored.
pub async fn find(sale: &Sale, order_id: Uuid) -> Result<Order, SaleError> {
    sale.store
        .get_order(order_id)
        .await?
        .ok_or(SaleError::NotFound("order"))
}

/// Whether `key` (an order link's `?k=`, sent in the order's mails) opens `order`.
pub fn opened_by_key(sale: &Sale, order: &Order, key: Option<&str>) -> bool {
    key.is_some_and(|key| sale.signer.is_order_key(order.order_id, key))
}

/// Whether `admission` (a token the caller presented) is the one that bought `order`. An
/// expired admission still reads its own order: the confirmation outlives the shopping.
pub fn bought_with(sale: &Sale, order: &Order, admission: Option<&str>) -> bool {
    let Some(token) = admission else {
        return false;
    };
    match sale.signer.open(token) {
        Ok(claims) => {
            claims.kind == TokenKind::Admission
                && claims.event == order.event_id
                && claims.session == order.session
        }
        Err(_) => false,
    }
}
