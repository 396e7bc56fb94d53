//! The `InventoryActor`: one per event, the single owner of that event's inventory.
//!
//! actix runs an actor's handlers one at a time, so the [`Inventory`] inside never sees two
//! calls interleave: that is how two fans can never be handed the same seat, without a
//! database lock. The actor never waits on the database itself: an order is handed to the
//! event's committer, and the fan's request waits on a oneshot channel that the actor answers
//! when the committer reports back ([`CommitDone`]). Every request waiting for one key's order
//! (retries, double clicks) is answered from the same commit.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::committer::{CommitJob, Verdicts};
use crate::clock::Clock;
use crate::domain::event::EventSpec;
use crate::domain::inventory::{
    HoldRequest, HoldView, Inventory, OrderStart, SaleState, SalesTotals, SeatStatus, ShopError,
    TierCounts,
};
use crate::domain::order::{Buyer, CommitOutcome, Order, Settled};

/// How often expired holds are swept, so their items are free without waiting for a request.
pub const EXPIRY_SWEEP: Duration = Duration::from_millis(500);

/// Why an order could not be answered with an order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OrderFailure {
    /// The shop's rules refused it.
    Shop(ShopError),
    /// The committer's queue is full: 503, retry.
    Busy,
    /// The database refused or could not be reached: 503, nothing written.
    Backend,
    /// The event has a newer owner on another node: 503, nothing written; a retry reaches
    /// the new owner.
    Moved,
}

/// The answer to an order: the order and whether this request created it (201) or replayed it
/// (200).
pub type OrderReply = Result<(Arc<Order>, bool), OrderFailure>;

/// What a `PlaceOrder` returns at once: an answer, or a channel the answer will arrive on.
pub enum OrderTicket {
    Ready(OrderReply),
    Wait(oneshot::Receiver<OrderReply>),
}

/// The actor.
pub struct InventoryActor {
    inventory: Inventory,
    committer: mpsc::Sender<CommitJob>,
    /// Requests waiting for the commit of an idempotency key's order.
    waiters: HashMap<String, Vec<oneshot::Sender<OrderReply>>>,
    clock: Arc<dyn Clock>,
    mailbox_capacity: usize,
}

impl InventoryActor {
    /// An actor over a rebuilt inventory, handing orders to `committer`.
    pub fn new(
        inventory: Inventory,
        committer: mpsc::Sender<CommitJob>,
        clock: Arc<dyn Clock>,
        mailbox_capacity: usize,
    ) -> Self {
        InventoryActor {
            inventory,
            committer,
            waiters: HashMap::new(),
            clock,
            mailbox_capacity,
        }
    }

    /// Answers every request waiting on `key`: the first (the one that started the commit)
    /// with `reply`, the others (retries that arrived meanwhile) as replays.
    fn answer(&mut self, key: &str, reply: OrderReply) {
        let waiters = self.waiters.remove(key).unwrap_or_default();
        for (i, waiter) in waiters.into_iter().enumerate() {
            let reply = match &reply {
                Ok((order, created)) => Ok((order.clone(), *created && i == 0)),
                Err(e) => Err(e.clone()),
            };
            // A waiter that went away (client hung up) needs no answer.
            let _ = waiter.send(reply);
        }
    }
}

impl Actor for InventoryActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.mailbox_capacity);
        ctx.run_interval(EXPIRY_SWEEP, |actor, _| {
            let expired = actor.inventory.expire(actor.clock.now());
            if expired > 0 {
                metrics::counter!("holds_total", "outcome" => "expired").increment(expired as u64);
            }
        });
        metrics::gauge!("inventory_actors").increment(1.0);
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        metrics::gauge!("inventory_actors").decrement(1.0);
    }
}

/// Hold items for an admitted session.
#[derive(Message)]
#[rtype(result = "Result<HoldView, ShopError>")]
pub struct PlaceHold {
    pub session: String,
    pub request: HoldRequest,
}

impl Handler<PlaceHold> for InventoryActor {
    type Result = Result<HoldView, ShopError>;

    fn handle(&mut self, msg: PlaceHold, _: &mut Self::Context) -> Self::Result {
        let result = self
            .inventory
            .hold(&msg.session, &msg.request, self.clock.now());
        let outcome = match &result {
            Ok(_) => "held",
            Err(ShopError::Unavailable(_)) => "unavailable",
            Err(_) => "refused",
        };
        metrics::counter!("holds_total", "outcome" => outcome).increment(1);
        result
    }
}

/// Release a hold.
#[derive(Message)]
#[rtype(result = "Result<(), ShopError>")]
pub struct ReleaseHold {
    pub session: String,
    pub hold_id: Uuid,
}

impl Handler<ReleaseHold> for InventoryActor {
    type Result = Result<(), ShopError>;

    fn handle(&mut self, msg: ReleaseHold, _: &mut Self::Context) -> Self::Result {
        let result = self.inventory.release(&msg.session, msg.hold_id);
        if result.is_ok() {
            metrics::counter!("holds_total", "outcome" => "released").increment(1);
        }
        result
    }
}

/// Order a hold under an idempotency key.
#[derive(Message)]
#[rtype(result = "OrderTicket")]
pub struct PlaceOrder {
    pub session: String,
    pub hold_id: Uuid,
    pub key: String,
    pub request_hash: String,
    pub buyer: Buyer,
}

impl Handler<PlaceOrder> for InventoryActor {
    type Result = MessageResult<PlaceOrder>;

    fn handle(&mut self, msg: PlaceOrder, _: &mut Self::Context) -> Self::Result {
        let now = self.clock.now();
        let start = self.inventory.begin_order(
            &msg.session,
            msg.hold_id,
            &msg.key,
            &msg.request_hash,
            &msg.buyer,
            now,
        );
        let ticket = match start {
            Err(e) => OrderTicket::Ready(Err(OrderFailure::Shop(e))),
            Ok(OrderStart::Replay(order)) => OrderTicket::Ready(Ok((order, false))),
            Ok(OrderStart::InFlight) => {
                let (tx, rx) = oneshot::channel();
                self.waiters.entry(msg.key).or_default().push(tx);
                OrderTicket::Wait(rx)
            }
            Ok(OrderStart::Commit(new)) => {
                let order = new.order.clone();
                match self.committer.try_send(CommitJob {
                    hold_id: msg.hold_id,
                    order: *new,
                }) {
                    Ok(()) => {
                        let (tx, rx) = oneshot::channel();
                        self.waiters.entry(msg.key).or_default().push(tx);
                        OrderTicket::Wait(rx)
                    }
                    Err(_) => {
                        // Queue full (or committer gone): undo, so the hold stays the fan's.
                        let _ = self.inventory.finish_order(
                            msg.hold_id,
                            order,
                            &msg.key,
                            Settled::Failed,
                        );
                        metrics::counter!("orders_total", "outcome" => "busy").increment(1);
                        OrderTicket::Ready(Err(OrderFailure::Busy))
                    }
                }
            }
        };
        MessageResult(ticket)
    }
}

/// The committer's verdict on a batch.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CommitDone {
    /// Each order with its hold and outcome (`None`: the write failed).
    pub results: Verdicts,
}

impl Handler<CommitDone> for InventoryActor {
    type Result = ();

    fn handle(&mut self, msg: CommitDone, ctx: &mut Self::Context) {
        let mut fenced = false;
        for (hold_id, order, key, settled) in msg.results {
            let label = match &settled {
                Settled::Outcome(CommitOutcome::Committed) => "confirmed",
                Settled::Outcome(CommitOutcome::KeyTaken) => "key_taken",
                Settled::Outcome(CommitOutcome::ItemTaken) => "item_taken",
                Settled::Outcome(CommitOutcome::Fenced) => "fenced",
                Settled::Stored(_) => "recovered",
                Settled::Failed => "failed",
            };
            metrics::counter!("orders_total", "outcome" => label).increment(1);
            let this_fenced = settled == Settled::Outcome(CommitOutcome::Fenced);
            let failed = settled == Settled::Failed;
            // A stored order is a replay: the fan is answered 200, not 201.
            let created = !matches!(settled, Settled::Stored(_));
            fenced |= this_fenced;
            let reply = match self.inventory.finish_order(hold_id, order, &key, settled) {
                Ok(order) => Ok((order, created)),
                Err(_) if this_fenced => Err(OrderFailure::Moved),
                Err(_) if failed => Err(OrderFailure::Backend),
                Err(e) => Err(OrderFailure::Shop(e)),
            };
            self.answer(&key, reply);
        }
        if fenced {
            // Another node owns the event now: this inventory is stale, never serve it again.
            tracing::warn!(event = %self.inventory.event_id(), "fenced: stopping this node's actor");
            ctx.stop();
        }
    }
}

/// Everything the event page and stats need, in one look.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub spec: EventSpec,
    pub paused: bool,
    pub state: SaleState,
    pub tiers: Vec<TierCounts>,
    pub totals: SalesTotals,
    pub open_holds: usize,
}

/// Ask for a [`Snapshot`].
#[derive(Message)]
#[rtype(result = "Snapshot")]
pub struct GetSnapshot;

impl Handler<GetSnapshot> for InventoryActor {
    type Result = MessageResult<GetSnapshot>;

    fn handle(&mut self, _: GetSnapshot, _: &mut Self::Context) -> Self::Result {
        let inv = &self.inventory;
        MessageResult(Snapshot {
            spec: inv.spec().clone(),
            paused: inv.paused(),
            state: inv.state(self.clock.now()),
            tiers: inv.tier_counts(),
            totals: inv.totals(),
            open_holds: inv.open_holds(),
        })
    }
}

/// Ask for every reserved seat's status.
#[derive(Message)]
#[rtype(result = "(Vec<SeatStatus>, Vec<TierCounts>)")]
pub struct GetSeats;

impl Handler<GetSeats> for InventoryActor {
    type Result = MessageResult<GetSeats>;

    fn handle(&mut self, _: GetSeats, _: &mut Self::Context) -> Self::Result {
        MessageResult((self.inventory.seats(), self.inventory.tier_counts()))
    }
}

/// Ask for the seats' states, encoded (cached per version by the inventory).
#[derive(Message)]
#[rtype(result = "std::sync::Arc<crate::domain::inventory::Availability>")]
pub struct GetAvailability;

impl Handler<GetAvailability> for InventoryActor {
    type Result = MessageResult<GetAvailability>;

    fn handle(&mut self, _: GetAvailability, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.inventory.availability())
    }
}

/// Check a patched spec against the inventory, changing nothing (before it is saved).
#[derive(Message)]
#[rtype(result = "Result<(), ShopError>")]
pub struct CheckSpec {
    pub spec: EventSpec,
}

impl Handler<CheckSpec> for InventoryActor {
    type Result = Result<(), ShopError>;

    fn handle(&mut self, msg: CheckSpec, _: &mut Self::Context) -> Self::Result {
        self.inventory.check_spec(&msg.spec)
    }
}

/// Adopt a spec the database already holds.
#[derive(Message)]
#[rtype(result = "Result<(), ShopError>")]
pub struct ApplySpec {
    pub spec: EventSpec,
    pub paused: bool,
}

impl Handler<ApplySpec> for InventoryActor {
    type Result = Result<(), ShopError>;

    fn handle(&mut self, msg: ApplySpec, _: &mut Self::Context) -> Self::Result {
        self.inventory.set_paused(msg.paused);
        self.inventory.apply_spec(msg.spec)
    }
}

/// An order was cancelled in the database: free its items.
#[derive(Message)]
#[rtype(result = "()")]
pub struct OrderCancelled {
    pub order: Order,
}

impl Handler<OrderCancelled> for InventoryActor {
    type Result = ();

    fn handle(&mut self, msg: OrderCancelled, _: &mut Self::Context) {
        self.inventory.cancel_order(msg.order.order_id, msg.order);
    }
}

/// Stop the actor (its node is shutting down): its hold sweeper stops with it, and its
/// committer finishes what is queued and ends.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Stop;

impl Handler<Stop> for InventoryActor {
    type Result = ();

    fn handle(&mut self, _: Stop, ctx: &mut Self::Context) {
        ctx.stop();
    }
}
