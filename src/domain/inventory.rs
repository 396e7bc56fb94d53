//! One event's inventory as a plain state machine: which item is free, held or sold, the
//! holds and their expiry, the orders and their idempotency keys.
//!
//! The `InventoryActor` owns one `Inventory` and feeds it one message at a time, which is the
//! whole of "no oversell" on the fast path: no two calls ever interleave, so no item can be
//! handed out twice. Keeping the rules here, free of actors, I/O and clocks (time is always an
//! argument), lets a property test drive random sequences against a simple model.
//!
//! An order goes through two steps: [`Inventory::begin_order`] marks the hold as committing
//! and returns the order to write; the committer writes it; [`Inventory::finish_order`] then
//! marks the items sold, or puts them back in the hold if the write failed.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::event::{EventSpec, GaTier, SeatingBlock};
use super::item::ItemId;
use super::order::{Buyer, CommitOutcome, Item, NewOrder, Order, OrderStatus, Settled};
pub use super::seatmap::SeatState;

/// How long an expired hold is remembered, so ordering it answers 410 rather than 404.
pub const EXPIRED_HOLD_MEMORY_SECS: i64 = 3_600;
/// Most expired holds remembered at once (oldest forgotten first).
pub const EXPIRED_HOLD_MEMORY_MAX: usize = 100_000;
/// Marks an item sold by another writer (split brain): never offered again by this actor.
pub const SOLD_ELSEWHERE: Uuid = Uuid::nil();

/// State of one sellable place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Free,
    Held(Uuid),
    Sold(Uuid),
}

/// Where an item lives: group (tier or seating block) and index inside it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct SlotRef {
    group: usize,
    index: usize,
}

#[derive(Clone, Debug)]
enum GroupKind {
    Seats {
        section: String,
        rows: u32,
        seats_per_row: u32,
    },
    Ga {
        name: String,
    },
}

/// A GA tier or a seating block, with the state of each of its places.
#[derive(Clone, Debug)]
struct Group {
    kind: GroupKind,
    tier: String,
    price_cents: i64,
    slots: Vec<Slot>,
    /// GA only: free places, lowest number first (so capacity can shrink from the top).
    free: BTreeSet<usize>,
    held: u32,
    sold: u32,
}

impl Group {
    fn seats(block: &SeatingBlock) -> Group {
        Group {
            kind: GroupKind::Seats {
                section: block.section.clone(),
                rows: block.rows,
                seats_per_row: block.seats_per_row,
            },
            tier: block.tier.clone(),
            price_cents: block.price_cents,
            // Bounded by EventSpec::validate (MAX_ITEMS_PER_EVENT).
            slots: vec![Slot::Free; block.seat_count() as usize],
            free: BTreeSet::new(),
            held: 0,
            sold: 0,
        }
    }

    fn ga(tier: &GaTier) -> Group {
        let capacity = tier.capacity as usize;
        Group {
            kind: GroupKind::Ga {
                name: tier.name.clone(),
            },
            tier: tier.id.clone(),
            price_cents: tier.price_cents,
            slots: vec![Slot::Free; capacity],
            free: (0..capacity).collect(),
            held: 0,
            sold: 0,
        }
    }

    fn is_ga(&self) -> bool {
        matches!(self.kind, GroupKind::Ga { .. })
    }

    fn item_id(&self, index: usize) -> ItemId {
        // Indexes are below the group's size, itself bounded far inside u32 by validation.
        match &self.kind {
            GroupKind::Seats {
                section,
                seats_per_row,
                ..
            } => ItemId::Seat {
                section: section.clone(),
                row: (index / *seats_per_row as usize) as u32 + 1,
                seat: (index % *seats_per_row as usize) as u32 + 1,
            },
            GroupKind::Ga { .. } => ItemId::Ga {
                tier: self.tier.clone(),
                number: index as u32 + 1,
            },
        }
    }

    fn set(&mut self, index: usize, slot: Slot) {
        let old = std::mem::replace(&mut self.slots[index], slot);
        match old {
            Slot::Free => {
                self.free.remove(&index);
            }
            Slot::Held(_) => self.held -= 1,
            Slot::Sold(_) => self.sold -= 1,
        }
        match slot {
            Slot::Free => {
                if self.is_ga() {
                    self.free.insert(index);
                }
            }
            Slot::Held(_) => self.held += 1,
            Slot::Sold(_) => self.sold += 1,
        }
    }

    fn capacity(&self) -> u32 {
        // Bounded by MAX_ITEMS_PER_EVENT, far below u32::MAX.
        self.slots.len() as u32
    }
}

/// What a fan asks to hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HoldRequest {
    /// These items (seat ids, or specific GA places).
    Items(Vec<String>),
    /// Any `quantity` places of a GA tier.
    Quantity { tier: String, quantity: i64 },
    /// The best `quantity` free seats (of `tier`, if given): blocks in the event's order, rows
    /// from the first, seats from the middle of a row out; side by side in one row when
    /// `together`.
    Best {
        quantity: i64,
        tier: Option<String>,
        together: bool,
    },
}

/// Why the shop refused a call (mapped to the contract's statuses by the web layer).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ShopError {
    /// 422: against a rule (unknown id, over the limit, key reused with another body).
    #[error("{0}")]
    Invalid(String),
    /// 409: some items are not free (ids, or the tier id for a GA quantity).
    #[error("some of the requested places are not available")]
    Unavailable(Vec<String>),
    /// 409: the sale is not open (scheduled, paused, closed).
    #[error("{0}")]
    SaleNotOpen(String),
    /// 404: no such hold for this fan.
    #[error("hold not found")]
    HoldNotFound,
    /// 404: no such order.
    #[error("order not found")]
    OrderNotFound,
    /// 410: the hold's time ran out.
    #[error("hold expired")]
    HoldExpired,
}

/// A hold as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct HoldView {
    pub hold_id: Uuid,
    pub items: Vec<Item>,
    pub total_cents: i64,
    pub expires_at: DateTime<Utc>,
}

/// One tier's counts, as `GET /api/v1/events/{id}` shows them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TierCounts {
    pub id: String,
    pub name: String,
    pub price_cents: i64,
    pub capacity: u32,
    pub sold: u32,
    pub held: u32,
    pub available: u32,
    pub seated: bool,
}

impl TierCounts {
    /// Adds up groups (GA tiers and seating blocks, in the event's order) by tier: the first
    /// group of a tier names it and says whether it is seated; its price is the lowest.
    pub fn tally(groups: impl Iterator<Item = TierCounts>) -> Vec<TierCounts> {
        let mut tiers: Vec<TierCounts> = Vec::new();
        for g in groups {
            match tiers.iter_mut().find(|t| t.id == g.id) {
                Some(t) => {
                    t.capacity += g.capacity;
                    t.sold += g.sold;
                    t.held += g.held;
                    t.available += g.available;
                    t.price_cents = t.price_cents.min(g.price_cents);
                }
                None => tiers.push(g),
            }
        }
        tiers
    }

    /// An event's tiers from its spec and what the database says is sold per tier, with
    /// nothing held (what a node shows of an event whose inventory lives nowhere).
    pub fn from_spec(spec: &EventSpec, sold: &[(String, u64)]) -> Vec<TierCounts> {
        let ga = spec.tiers.iter().map(|t| TierCounts {
            id: t.id.clone(),
            name: t.name.clone(),
            price_cents: t.price_cents,
            capacity: t.capacity,
            sold: 0,
            held: 0,
            available: t.capacity,
            seated: false,
        });
        let seats = spec.seating.iter().map(|b| {
            // Validation bounds every block far inside u32.
            let capacity = b.seat_count() as u32;
            TierCounts {
                id: b.tier.clone(),
                name: b.tier.clone(),
                price_cents: b.price_cents,
                capacity,
                sold: 0,
                held: 0,
                available: capacity,
                seated: true,
            }
        });
        let mut tiers = Self::tally(ga.chain(seats));
        for t in &mut tiers {
            let n = sold
                .iter()
                .find(|(id, _)| *id == t.id)
                .map_or(0, |(_, n)| *n);
            t.sold = u32::try_from(n).unwrap_or(u32::MAX).min(t.capacity);
            t.available = t.capacity - t.sold;
        }
        tiers
    }
}

impl SalesTotals {
    /// Totals over tiers, with the orders' count and revenue.
    pub fn of(tiers: &[TierCounts], orders: u64, revenue_cents: i64) -> SalesTotals {
        let mut totals = SalesTotals {
            orders,
            revenue_cents,
            ..SalesTotals::default()
        };
        for t in tiers {
            totals.sold += u64::from(t.sold);
            totals.held += u64::from(t.held);
            totals.available += u64::from(t.available);
        }
        totals
    }
}

impl From<Slot> for SeatState {
    fn from(slot: Slot) -> Self {
        match slot {
            Slot::Free => SeatState::Free,
            Slot::Held(_) => SeatState::Held,
            Slot::Sold(_) => SeatState::Sold,
        }
    }
}

/// The seats' states as fans' pages refresh them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Availability {
    /// Goes up with every change of any place's state: a client holding this version has
    /// the current states.
    pub version: u64,
    /// The layout these states follow (see `layout_version`): the event's `seating` blocks in
    /// order, rows from 1, seats from 1.
    pub layout: String,
    /// `2bit-base64`: two bits per seat (0 free, 1 held, 2 sold), four seats per byte, the
    /// first seat in the lowest bits, base64.
    #[schema(example = "2bit-base64")]
    pub encoding: &'static str,
    /// Seats encoded.
    pub count: usize,
    pub seats: String,
    /// The tiers' counts (general admission included).
    pub tiers: Vec<TierCounts>,
}

/// One reserved seat's status for the seat map.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SeatStatus {
    pub id: ItemId,
    pub tier: String,
    pub status: SeatState,
}

/// Where an event's sale stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SaleState {
    Scheduled,
    OnSale,
    Paused,
    SoldOut,
    Closed,
}

impl SaleState {
    /// Where a sale of `spec` stands at `now`, paused or not, with `available` places left.
    pub fn of(spec: &EventSpec, paused: bool, available: u64, now: DateTime<Utc>) -> SaleState {
        if spec.sale_closed_at(now) {
            SaleState::Closed
        } else if paused {
            SaleState::Paused
        } else if !spec.sale_open_at(now) {
            SaleState::Scheduled
        } else if available == 0 {
            SaleState::SoldOut
        } else {
            SaleState::OnSale
        }
    }

    /// The word the API shows.
    pub fn as_str(self) -> &'static str {
        match self {
            SaleState::Scheduled => "scheduled",
            SaleState::OnSale => "on_sale",
            SaleState::Paused => "paused",
            SaleState::SoldOut => "sold_out",
            SaleState::Closed => "closed",
        }
    }
}

impl std::fmt::Display for SaleState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Totals for the organizer's stats.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SalesTotals {
    pub sold: u64,
    pub held: u64,
    pub available: u64,
    pub orders: u64,
    pub revenue_cents: i64,
}

#[derive(Clone, Debug)]
struct Hold {
    session: String,
    items: Vec<SlotRef>,
    expires_at: DateTime<Utc>,
    /// The idempotency key of the order being committed, if any.
    committing: Option<String>,
}

#[derive(Clone, Debug)]
enum KeyState {
    Pending,
    Committed(Uuid),
}

#[derive(Clone, Debug)]
struct KeyEntry {
    request_hash: String,
    state: KeyState,
}

/// What `begin_order` decided.
#[derive(Clone, Debug)]
pub enum OrderStart {
    /// The key already made this order: answer 200 with it.
    Replay(Arc<Order>),
    /// The key's order is being committed now: wait for it.
    InFlight,
    /// Write this order, then call `finish_order`.
    Commit(Box<NewOrder>),
}

/// One event's inventory.
#[derive(Clone, Debug)]
pub struct Inventory {
    event_id: Uuid,
    spec: EventSpec,
    paused: bool,
    groups: Vec<Group>,
    sections: HashMap<String, usize>,
    ga_tiers: HashMap<String, usize>,
    holds: HashMap<Uuid, Hold>,
    expired: HashMap<Uuid, DateTime<Utc>>,
    expired_order: VecDeque<(Uuid, DateTime<Utc>)>,
    /// Items each admission session holds or bought (one admission buys at most
    /// `max_per_order`).
    session_items: HashMap<String, u32>,
    orders: HashMap<Uuid, Arc<Order>>,
    keys: HashMap<String, KeyEntry>,
    confirmed_orders: u64,
    revenue_cents: i64,
    /// When this inventory started serving (rebuilt from the database): a hold created
    /// before then lived in another inventory (a node that stopped serving the event) and is
    /// gone, its places free again.
    serving_since: Option<DateTime<Utc>>,
    /// Goes up with every change of a place's state (and of the layout); random at start.
    version: u64,
    /// The seat map's states as last encoded, for the version they were encoded at.
    availability: Option<Arc<Availability>>,
    /// The seating layout's version (a hash of the blocks), as of the spec.
    layout: String,
}

/// A new hold's id: time-ordered (UUID v7) at `now`, so an inventory can tell a hold made
/// before it started serving (gone with its node: 410) from one that never existed (404).
fn new_hold_id(now: DateTime<Utc>) -> Uuid {
    let ts = uuid::Timestamp::from_unix(
        uuid::NoContext,
        now.timestamp().max(0) as u64,
        now.timestamp_subsec_nanos(),
    );
    Uuid::new_v7(ts)
}

/// When a hold id was made, if it is one of ours (time-ordered).
fn hold_made_at(hold_id: Uuid) -> Option<DateTime<Utc>> {
    let (secs, nanos) = hold_id.get_timestamp()?.to_unix();
    DateTime::from_timestamp(i64::try_from(secs).ok()?, nanos)
}

impl Inventory {
    /// Sets one place's state (every change goes through here, so the version counts it).
    fn set_slot(&mut self, slot: SlotRef, state: Slot) {
        self.groups[slot.group].set(slot.index, state);
        self.version += 1;
    }

    /// A fresh inventory for a valid spec: everything free.
    pub fn new(event_id: Uuid, spec: EventSpec, paused: bool) -> Inventory {
        let mut inventory = Inventory {
            event_id,
            spec: spec.clone(),
            paused,
            groups: Vec::new(),
            sections: HashMap::new(),
            ga_tiers: HashMap::new(),
            holds: HashMap::new(),
            expired: HashMap::new(),
            expired_order: VecDeque::new(),
            session_items: HashMap::new(),
            orders: HashMap::new(),
            keys: HashMap::new(),
            confirmed_orders: 0,
            revenue_cents: 0,
            serving_since: None,
            // Starts at a random multiple of 2^20 (below 2^53: exact in JSON): a version names
            // the states of this inventory, not those of another actor for the event (after a
            // takeover).
            version: u64::from(rand::random::<u32>()) << 20,
            availability: None,
            layout: super::seatmap::layout_version(&spec.seating),
        };
        inventory.add_groups(&spec);
        inventory
    }

    fn add_groups(&mut self, spec: &EventSpec) {
        for tier in &spec.tiers {
            if !self.ga_tiers.contains_key(&tier.id) {
                self.ga_tiers.insert(tier.id.clone(), self.groups.len());
                self.groups.push(Group::ga(tier));
            }
        }
        for block in &spec.seating {
            if !self.sections.contains_key(&block.section) {
                self.sections
                    .insert(block.section.clone(), self.groups.len());
                self.groups.push(Group::seats(block));
            }
        }
    }

    /// Marks the items of stored confirmed orders sold and counts them against their buyers'
    /// allowance (rebuild after a restart or a takeover, which serves from `now` on).
    pub fn restore(
        &mut self,
        orders: impl IntoIterator<Item = (Order, String, String)>,
        now: DateTime<Utc>,
    ) {
        self.serving_since = Some(now);
        for (order, key, request_hash) in orders {
            *self.session_items.entry(order.session.clone()).or_insert(0) +=
                order.items.len() as u32;
            for item in &order.items {
                if let Some(slot) = self.locate_id(&item.id) {
                    self.set_slot(slot, Slot::Sold(order.order_id));
                }
            }
            self.keys.insert(
                key,
                KeyEntry {
                    request_hash,
                    state: KeyState::Committed(order.order_id),
                },
            );
            self.confirmed_orders += 1;
            self.revenue_cents += order.total_cents;
            self.orders.insert(order.order_id, Arc::new(order));
        }
    }

    /// The event this inventory sells.
    pub fn event_id(&self) -> Uuid {
        self.event_id
    }

    /// The event's spec as it stands.
    pub fn spec(&self) -> &EventSpec {
        &self.spec
    }

    /// Whether the organizer paused the sale.
    pub fn paused(&self) -> bool {
        self.paused
    }

    /// Pauses or resumes the sale.
    pub fn set_paused(&mut self, paused: bool) {
        self.paused = paused;
    }

    fn locate(&self, id: &str) -> Option<SlotRef> {
        self.locate_id(&ItemId::parse(id).ok()?)
    }

    fn locate_id(&self, id: &ItemId) -> Option<SlotRef> {
        let (group, index) = match id {
            ItemId::Seat { section, row, seat } => {
                let (row, seat) = (*row, *seat);
                let group = *self.sections.get(section)?;
                let GroupKind::Seats {
                    rows,
                    seats_per_row,
                    ..
                } = self.groups[group].kind
                else {
                    return None;
                };
                if row > rows || seat > seats_per_row {
                    return None;
                }
                (
                    group,
                    (row - 1) as usize * seats_per_row as usize + (seat - 1) as usize,
                )
            }
            ItemId::Ga { tier, number } => {
                let group = *self.ga_tiers.get(tier)?;
                (group, *number as usize - 1)
            }
        };
        (index < self.groups[group].slots.len()).then_some(SlotRef { group, index })
    }

    fn item(&self, slot: SlotRef) -> Item {
        let group = &self.groups[slot.group];
        Item {
            id: group.item_id(slot.index),
            tier: group.tier.clone(),
            price_cents: group.price_cents,
        }
    }

    /// Where the sale stands at `now`.
    pub fn state(&self, now: DateTime<Utc>) -> SaleState {
        SaleState::of(&self.spec, self.paused, self.totals().available, now)
    }

    fn check_open(&self, now: DateTime<Utc>) -> Result<(), ShopError> {
        match self.state(now) {
            SaleState::OnSale | SaleState::SoldOut => Ok(()),
            SaleState::Scheduled => {
                Err(ShopError::SaleNotOpen("the sale has not opened yet".into()))
            }
            SaleState::Paused => Err(ShopError::SaleNotOpen("the sale is paused".into())),
            SaleState::Closed => Err(ShopError::SaleNotOpen("the sale has closed".into())),
        }
    }

    /// Holds items for an admitted session, all or nothing.
    pub fn hold(
        &mut self,
        session: &str,
        request: &HoldRequest,
        now: DateTime<Utc>,
    ) -> Result<HoldView, ShopError> {
        self.check_open(now)?;
        let max = self.spec.max_per_order;
        let slots = match request {
            HoldRequest::Items(ids) => self.resolve_items(ids, max)?,
            HoldRequest::Quantity { tier, quantity } => {
                self.resolve_quantity(tier, *quantity, max)?
            }
            HoldRequest::Best {
                quantity,
                tier,
                together,
            } => self.resolve_best(*quantity, tier.as_deref(), *together, max)?,
        };
        let already = self.session_items.get(session).copied().unwrap_or(0);
        if already as usize + slots.len() > max as usize {
            return Err(ShopError::Invalid(format!(
                "one admission buys at most {max} places ({already} already held or bought)"
            )));
        }
        let hold_id = new_hold_id(now);
        for slot in &slots {
            self.set_slot(*slot, Slot::Held(hold_id));
        }
        *self.session_items.entry(session.to_string()).or_insert(0) += slots.len() as u32;
        let expires_at = now + Duration::seconds(i64::from(self.spec.hold_ttl_secs));
        let view = self.view(hold_id, &slots, expires_at);
        self.holds.insert(
            hold_id,
            Hold {
                session: session.to_string(),
                items: slots,
                expires_at,
                committing: None,
            },
        );
        Ok(view)
    }

    fn view(&self, hold_id: Uuid, slots: &[SlotRef], expires_at: DateTime<Utc>) -> HoldView {
        let items: Vec<Item> = slots.iter().map(|s| self.item(*s)).collect();
        HoldView {
            hold_id,
            total_cents: items.iter().map(|i| i.price_cents).sum(),
            items,
            expires_at,
        }
    }

    fn resolve_items(&self, ids: &[String], max: u32) -> Result<Vec<SlotRef>, ShopError> {
        if ids.is_empty() {
            return Err(ShopError::Invalid(
                "seats must name at least one seat".into(),
            ));
        }
        if ids.len() > max as usize {
            return Err(ShopError::Invalid(format!(
                "at most {max} places per order"
            )));
        }
        let mut slots = Vec::with_capacity(ids.len());
        let mut unknown = Vec::new();
        for id in ids {
            match self.locate(id) {
                Some(slot) => slots.push(slot),
                None => unknown.push(id.chars().take(80).collect::<String>()),
            }
        }
        if !unknown.is_empty() {
            return Err(ShopError::Invalid(format!(
                "unknown seat ids: {}",
                unknown.join(", ")
            )));
        }
        let mut sorted = slots.clone();
        sorted.sort();
        sorted.dedup();
        if sorted.len() != slots.len() {
            return Err(ShopError::Invalid("a seat is named twice".into()));
        }
        let taken: Vec<String> = slots
            .iter()
            .filter(|s| self.groups[s.group].slots[s.index] != Slot::Free)
            .map(|s| self.groups[s.group].item_id(s.index).to_string())
            .collect();
        if !taken.is_empty() {
            return Err(ShopError::Unavailable(taken));
        }
        Ok(slots)
    }

    fn resolve_quantity(
        &self,
        tier: &str,
        quantity: i64,
        max: u32,
    ) -> Result<Vec<SlotRef>, ShopError> {
        let Some(&group) = self.ga_tiers.get(tier) else {
            let seated = self.groups.iter().any(|g| !g.is_ga() && g.tier == tier);
            return Err(ShopError::Invalid(if seated {
                format!("tier {tier:?} is reserved seating: name the seats")
            } else {
                format!(
                    "unknown tier {:?}",
                    tier.chars().take(40).collect::<String>()
                )
            }));
        };
        if quantity <= 0 {
            return Err(ShopError::Invalid("quantity must be at least 1".into()));
        }
        if quantity > i64::from(max) {
            return Err(ShopError::Invalid(format!(
                "at most {max} places per order"
            )));
        }
        let free = &self.groups[group].free;
        if (free.len() as i64) < quantity {
            return Err(ShopError::Unavailable(vec![tier.to_string()]));
        }
        Ok(free
            .iter()
            .take(quantity as usize)
            .map(|&index| SlotRef { group, index })
            .collect())
    }

    /// The best free seats for a request (see [`HoldRequest::Best`]), all of them or none.
    fn resolve_best(
        &self,
        quantity: i64,
        tier: Option<&str>,
        together: bool,
        max: u32,
    ) -> Result<Vec<SlotRef>, ShopError> {
        if quantity <= 0 {
            return Err(ShopError::Invalid("quantity must be at least 1".into()));
        }
        if quantity > i64::from(max) {
            return Err(ShopError::Invalid(format!(
                "at most {max} places per order"
            )));
        }
        let quantity = quantity as usize;
        let blocks: Vec<(usize, usize, usize)> = self
            .groups
            .iter()
            .enumerate()
            .filter(|(_, g)| tier.is_none_or(|t| g.tier == t))
            .filter_map(|(group, g)| match g.kind {
                GroupKind::Seats {
                    rows,
                    seats_per_row,
                    ..
                } => Some((group, rows as usize, seats_per_row as usize)),
                GroupKind::Ga { .. } => None,
            })
            .collect();
        if blocks.is_empty() {
            let ga = tier.is_some_and(|t| self.ga_tiers.contains_key(t));
            return Err(ShopError::Invalid(match (tier, ga) {
                (Some(t), true) => format!("tier {t:?} is general admission: ask a quantity"),
                (Some(t), false) => format!(
                    "unknown seated tier {:?}",
                    t.chars().take(40).collect::<String>()
                ),
                (None, _) => "this event has no reserved seats".into(),
            }));
        }
        let mut picked = Vec::with_capacity(quantity);
        for (group, rows, per_row) in blocks {
            let slots = &self.groups[group].slots;
            for row in 0..rows {
                let seats = &slots[row * per_row..(row + 1) * per_row];
                if together {
                    let free: Vec<bool> = seats.iter().map(|s| *s == Slot::Free).collect();
                    if let Some(start) = super::seatmap::best_run(&free, quantity) {
                        return Ok((start..start + quantity)
                            .map(|seat| SlotRef {
                                group,
                                index: row * per_row + seat,
                            })
                            .collect());
                    }
                    continue;
                }
                for seat in super::seatmap::middle_out(per_row) {
                    if seats[seat] == Slot::Free {
                        picked.push(SlotRef {
                            group,
                            index: row * per_row + seat,
                        });
                        if picked.len() == quantity {
                            return Ok(picked);
                        }
                    }
                }
            }
        }
        Err(ShopError::Unavailable(Vec::new()))
    }

    /// The seats' states, encoded for fans' pages (re-encoded only when something changed).
    pub fn availability(&mut self) -> Arc<Availability> {
        if let Some(cached) = &self.availability {
            if cached.version == self.version {
                return cached.clone();
            }
        }
        let states = self
            .groups
            .iter()
            .filter(|g| !g.is_ga())
            .flat_map(|g| g.slots.iter().map(|s| SeatState::from(*s)));
        let (seats, count) = super::seatmap::encode(states);
        let fresh = Arc::new(Availability {
            version: self.version,
            layout: self.layout.clone(),
            encoding: "2bit-base64",
            count,
            seats,
            tiers: self.tier_counts(),
        });
        self.availability = Some(fresh.clone());
        fresh
    }

    /// Releases a hold of this session at once.
    pub fn release(&mut self, session: &str, hold_id: Uuid) -> Result<(), ShopError> {
        let hold = match self.holds.get(&hold_id) {
            Some(h) if h.session == session => h,
            _ if self.expired.contains_key(&hold_id) || self.held_before_serving(hold_id) => {
                return Err(ShopError::HoldExpired)
            }
            _ => return Err(ShopError::HoldNotFound),
        };
        if hold.committing.is_some() {
            return Err(ShopError::Unavailable(Vec::new()));
        }
        self.free_hold(hold_id);
        Ok(())
    }

    /// Whether an unknown hold id is one made before this inventory started serving.
    fn held_before_serving(&self, hold_id: Uuid) -> bool {
        match (self.serving_since, hold_made_at(hold_id)) {
            (Some(since), Some(made)) => made < since && !self.holds.contains_key(&hold_id),
            _ => false,
        }
    }

    /// Removes a hold and frees its items.
    fn free_hold(&mut self, hold_id: Uuid) {
        if let Some(hold) = self.holds.remove(&hold_id) {
            for slot in &hold.items {
                self.set_slot(*slot, Slot::Free);
            }
            self.uncount_session(&hold.session, hold.items.len());
        }
    }

    fn uncount_session(&mut self, session: &str, n: usize) {
        if let Some(count) = self.session_items.get_mut(session) {
            *count = count.saturating_sub(n as u32);
            if *count == 0 {
                self.session_items.remove(session);
            }
        }
    }

    /// Frees every hold whose time ran out by `now` (not those being committed). Returns how
    /// many holds expired.
    pub fn expire(&mut self, now: DateTime<Utc>) -> usize {
        let due: Vec<Uuid> = self
            .holds
            .iter()
            .filter(|(_, h)| h.committing.is_none() && h.expires_at <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in &due {
            self.free_hold(*id);
            self.remember_expired(*id, now);
        }
        let horizon = now - Duration::seconds(EXPIRED_HOLD_MEMORY_SECS);
        while let Some(&(id, at)) = self.expired_order.front() {
            if at > horizon && self.expired_order.len() <= EXPIRED_HOLD_MEMORY_MAX {
                break;
            }
            self.expired_order.pop_front();
            self.expired.remove(&id);
        }
        due.len()
    }

    fn remember_expired(&mut self, id: Uuid, now: DateTime<Utc>) {
        self.expired.insert(id, now);
        self.expired_order.push_back((id, now));
    }

    /// Starts ordering a hold under an idempotency key (see the module doc).
    pub fn begin_order(
        &mut self,
        session: &str,
        hold_id: Uuid,
        key: &str,
        request_hash: &str,
        buyer: &Buyer,
        now: DateTime<Utc>,
    ) -> Result<OrderStart, ShopError> {
        if let Some(entry) = self.keys.get(key) {
            if entry.request_hash != request_hash {
                return Err(ShopError::Invalid(
                    "this Idempotency-Key was already used for a different request".into(),
                ));
            }
            return Ok(match entry.state {
                KeyState::Pending => OrderStart::InFlight,
                // A committed key always has its order in the map (both set together).
                KeyState::Committed(id) => match self.orders.get(&id) {
                    Some(order) => OrderStart::Replay(order.clone()),
                    None => return Err(ShopError::OrderNotFound),
                },
            });
        }
        self.check_open(now)?;
        let hold = match self.holds.get(&hold_id) {
            Some(h) if h.session == session => h,
            _ if self.expired.contains_key(&hold_id) || self.held_before_serving(hold_id) => {
                return Err(ShopError::HoldExpired)
            }
            _ => return Err(ShopError::HoldNotFound),
        };
        if hold.committing.is_some() {
            let ids = hold
                .items
                .iter()
                .map(|s| self.item(*s).id.to_string())
                .collect();
            return Err(ShopError::Unavailable(ids));
        }
        if hold.expires_at <= now {
            self.free_hold(hold_id);
            self.remember_expired(hold_id, now);
            return Err(ShopError::HoldExpired);
        }
        let items: Vec<Item> = hold.items.iter().map(|s| self.item(*s)).collect();
        let order = Order {
            order_id: Uuid::now_v7(),
            event_id: self.event_id,
            total_cents: items.iter().map(|i| i.price_cents).sum(),
            items,
            status: OrderStatus::Confirmed,
            name: buyer.name.clone(),
            email: buyer.email.clone(),
            // Microseconds: what Postgres keeps, so a replay after a restart reads the same.
            created_at: now.trunc_subsecs(6),
            session: session.to_string(),
        };
        if let Some(hold) = self.holds.get_mut(&hold_id) {
            hold.committing = Some(key.to_string());
        }
        self.keys.insert(
            key.to_string(),
            KeyEntry {
                request_hash: request_hash.to_string(),
                state: KeyState::Pending,
            },
        );
        Ok(OrderStart::Commit(Box::new(NewOrder {
            order,
            idempotency_key: key.to_string(),
            request_hash: request_hash.to_string(),
        })))
    }

    /// Applies the committer's verdict on an order started by `begin_order`. `Failed` means
    /// the write failed (database down): the items go back to the hold and the key is
    /// forgotten, so a retry with the same key starts afresh. `Stored` means the key's order
    /// was already in the database for this very request: its items are sold, and it is the
    /// answer.
    pub fn finish_order(
        &mut self,
        hold_id: Uuid,
        order: Order,
        key: &str,
        settled: Settled,
    ) -> Result<Arc<Order>, ShopError> {
        match settled {
            Settled::Outcome(CommitOutcome::Committed) => Ok(self.sold(hold_id, order, key, false)),
            Settled::Stored(stored) => Ok(self.sold(hold_id, stored, key, true)),
            Settled::Outcome(CommitOutcome::ItemTaken) => {
                // Another writer sold these items (two actors at once): never offer them again.
                self.keys.remove(key);
                let ids: Vec<String> = order.items.iter().map(|i| i.id.to_string()).collect();
                if let Some(hold) = self.holds.remove(&hold_id) {
                    for slot in &hold.items {
                        self.set_slot(*slot, Slot::Sold(SOLD_ELSEWHERE));
                    }
                    self.uncount_session(&hold.session, hold.items.len());
                }
                Err(ShopError::Unavailable(ids))
            }
            settled @ (Settled::Outcome(CommitOutcome::KeyTaken | CommitOutcome::Fenced)
            | Settled::Failed) => {
                self.keys.remove(key);
                if let Some(hold) = self.holds.get_mut(&hold_id) {
                    hold.committing = None;
                }
                Err(ShopError::Invalid(match settled {
                    Settled::Failed => "the order could not be saved".into(),
                    _ => "this Idempotency-Key was already used for a different order".into(),
                }))
            }
        }
    }

    /// Marks a hold's items sold to `order` (the order written for it), and records the
    /// order. An order stored by an earlier attempt (`stored`) is trusted for its items.
    fn sold(&mut self, hold_id: Uuid, order: Order, key: &str, stored: bool) -> Arc<Order> {
        if let Some(hold) = self.holds.remove(&hold_id) {
            let mark = if stored {
                Slot::Free
            } else {
                Slot::Sold(order.order_id)
            };
            for slot in &hold.items {
                self.set_slot(*slot, mark);
            }
        }
        if stored {
            for item in &order.items {
                if let Some(slot) = self.locate_id(&item.id) {
                    self.set_slot(slot, Slot::Sold(order.order_id));
                }
            }
        }
        self.confirmed_orders += 1;
        self.revenue_cents += order.total_cents;
        let order = Arc::new(order);
        self.orders.insert(order.order_id, order.clone());
        if let Some(entry) = self.keys.get_mut(key) {
            entry.state = KeyState::Committed(order.order_id);
        }
        order
    }

    /// Frees the items of a cancelled order. `false` when the order is unknown here.
    pub fn cancel_order(&mut self, order_id: Uuid, cancelled: Order) -> bool {
        let Some(order) = self.orders.get(&order_id).cloned() else {
            return false;
        };
        if order.status == OrderStatus::Confirmed {
            for item in &order.items {
                if let Some(slot) = self.locate_id(&item.id) {
                    if self.groups[slot.group].slots[slot.index] == Slot::Sold(order_id) {
                        self.set_slot(slot, Slot::Free);
                    }
                }
            }
            self.confirmed_orders -= 1;
            self.revenue_cents -= order.total_cents;
            self.uncount_session(&order.session, order.items.len());
        }
        self.orders.insert(order_id, Arc::new(cancelled));
        true
    }

    /// Adopts a patched spec: prices and names change, tiers and blocks may be added, GA
    /// capacity may grow, or shrink while the places it drops are free.
    pub fn apply_spec(&mut self, spec: EventSpec) -> Result<(), ShopError> {
        self.check_spec(&spec)?;
        // Prices, blocks or capacities may change: the seat map's layout and states with them.
        self.version += 1;
        for tier in &spec.tiers {
            if let Some(&group) = self.ga_tiers.get(&tier.id) {
                let g = &mut self.groups[group];
                g.price_cents = tier.price_cents;
                g.kind = GroupKind::Ga {
                    name: tier.name.clone(),
                };
                let new_cap = tier.capacity as usize;
                let old_cap = g.slots.len();
                if new_cap > old_cap {
                    g.slots.resize(new_cap, Slot::Free);
                    g.free.extend(old_cap..new_cap);
                } else {
                    g.slots.truncate(new_cap);
                    g.free.retain(|&i| i < new_cap);
                }
            }
        }
        for block in &spec.seating {
            if let Some(&group) = self.sections.get(&block.section) {
                self.groups[group].price_cents = block.price_cents;
            }
        }
        self.add_groups(&spec);
        self.layout = super::seatmap::layout_version(&spec.seating);
        self.spec = spec;
        Ok(())
    }

    /// Checks that a patched spec keeps every existing item (see `apply_spec`), changing nothing.
    pub fn check_spec(&self, spec: &EventSpec) -> Result<(), ShopError> {
        for (id, &group) in &self.ga_tiers {
            let Some(tier) = spec.tiers.iter().find(|t| &t.id == id) else {
                return Err(ShopError::Invalid(format!("tier {id:?} cannot be removed")));
            };
            let g = &self.groups[group];
            let new_cap = tier.capacity as usize;
            if new_cap < g.slots.len() && g.slots[new_cap..].iter().any(|s| *s != Slot::Free) {
                return Err(ShopError::Invalid(format!(
                    "tier {id:?}: capacity cannot drop below places sold or held ({} sold, {} held)",
                    g.sold, g.held
                )));
            }
        }
        for (section, &group) in &self.sections {
            let Some(block) = spec.seating.iter().find(|b| &b.section == section) else {
                return Err(ShopError::Invalid(format!(
                    "section {section:?} cannot be removed"
                )));
            };
            let g = &self.groups[group];
            let GroupKind::Seats {
                rows,
                seats_per_row,
                ..
            } = g.kind
            else {
                continue;
            };
            if block.rows != rows || block.seats_per_row != seats_per_row || block.tier != g.tier {
                return Err(ShopError::Invalid(format!(
                    "section {section:?}: rows, seats and tier cannot change once created"
                )));
            }
        }
        Ok(())
    }

    /// Counts per tier (seating blocks add up under their tier), in spec order.
    pub fn tier_counts(&self) -> Vec<TierCounts> {
        TierCounts::tally(self.groups.iter().map(|g| TierCounts {
            id: g.tier.clone(),
            name: match &g.kind {
                GroupKind::Ga { name } => name.clone(),
                GroupKind::Seats { .. } => g.tier.clone(),
            },
            price_cents: g.price_cents,
            capacity: g.capacity(),
            sold: g.sold,
            held: g.held,
            available: g.capacity() - g.held - g.sold,
            seated: !g.is_ga(),
        }))
    }

    /// Totals over every tier.
    pub fn totals(&self) -> SalesTotals {
        let mut totals = SalesTotals {
            orders: self.confirmed_orders,
            revenue_cents: self.revenue_cents,
            ..SalesTotals::default()
        };
        for g in &self.groups {
            totals.sold += u64::from(g.sold);
            totals.held += u64::from(g.held);
            totals.available += u64::from(g.capacity() - g.held - g.sold);
        }
        totals
    }

    /// Every reserved seat with its status, section by section, row by row.
    pub fn seats(&self) -> Vec<SeatStatus> {
        let mut seats = Vec::new();
        for g in self.groups.iter().filter(|g| !g.is_ga()) {
            for (index, slot) in g.slots.iter().enumerate() {
                seats.push(SeatStatus {
                    id: g.item_id(index),
                    tier: g.tier.clone(),
                    status: SeatState::from(*slot),
                });
            }
        }
        seats
    }

    /// Number of holds open now.
    pub fn open_holds(&self) -> usize {
        self.holds.len()
    }

    /// Items held or bought by one admission session.
    pub fn session_items(&self, session: &str) -> u32 {
        self.session_items.get(session).copied().unwrap_or(0)
    }

    /// A confirmed or cancelled order this actor knows.
    pub fn order(&self, order_id: Uuid) -> Option<Arc<Order>> {
        self.orders.get(&order_id).cloned()
    }

    /// The status of one item by id (`None`: no such item): for tests and audits.
    pub fn item_status(&self, id: &str) -> Option<SeatState> {
        let slot = self.locate(id)?;
        Some(self.groups[slot.group].slots[slot.index].into())
    }
}

#[cfg(test)]
mod tests {
    //! Random sequences of hold / release / expire / order / cancel against a simple model: a
    //! map from item id to its state, changed only by the operations the inventory accepted.

    use super::*;
    use crate::domain::event::{AdmissionSettings, GaTier, SeatingBlock};
    use proptest::prelude::*;
    use std::collections::{HashMap, HashSet};

    const SEATS: [&str; 6] = ["A-1-1", "A-1-2", "A-1-3", "A-2-1", "A-2-2", "A-2-3"];
    const GA: u32 = 4;
    const MAX: u32 = 4;

    fn spec() -> EventSpec {
        EventSpec {
            name: "Model".into(),
            venue: "Hall".into(),
            starts_at: DateTime::<Utc>::MAX_UTC,
            sale_opens_at: None,
            max_per_order: MAX,
            hold_ttl_secs: 60,
            admission: AdmissionSettings::default(),
            pow_difficulty_bits: 0,
            tiers: vec![GaTier {
                id: "floor".into(),
                name: "Floor".into(),
                price_cents: 100,
                capacity: GA,
            }],
            seating: vec![SeatingBlock {
                section: "A".into(),
                rows: 2,
                seats_per_row: 3,
                tier: "lower".into(),
                price_cents: 250,
            }],
        }
    }

    #[derive(Clone, Debug)]
    enum Op {
        HoldSeats(usize, Vec<usize>),
        HoldGa(usize, i64),
        HoldBest(usize, i64, bool),
        Release(usize, usize),
        Wait(i64),
        Order(usize, bool),
        Cancel(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..3usize, prop::collection::vec(0..SEATS.len(), 0..5))
                .prop_map(|(s, v)| Op::HoldSeats(s, v)),
            (0..3usize, -1..6i64).prop_map(|(s, q)| Op::HoldGa(s, q)),
            (0..3usize, 0..5i64, any::<bool>()).prop_map(|(s, q, t)| Op::HoldBest(s, q, t)),
            (0..3usize, 0..8usize).prop_map(|(s, h)| Op::Release(s, h)),
            (1..90i64).prop_map(Op::Wait),
            (0..8usize, any::<bool>()).prop_map(|(h, ok)| Op::Order(h, ok)),
            (0..8usize).prop_map(Op::Cancel),
        ]
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Model {
        Free,
        Held(Uuid),
        Sold(Uuid),
    }

    fn status(m: Model) -> SeatState {
        match m {
            Model::Free => SeatState::Free,
            Model::Held(_) => SeatState::Held,
            Model::Sold(_) => SeatState::Sold,
        }
    }

    struct World {
        inv: Inventory,
        model: HashMap<String, Model>,
        holds: Vec<(Uuid, usize, DateTime<Utc>)>,
        orders: Vec<Order>,
        now: DateTime<Utc>,
        keys: usize,
        /// The seat map's version and states at the last check.
        last_map: Option<(u64, Vec<SeatState>)>,
    }

    impl World {
        fn new() -> World {
            let mut model: HashMap<String, Model> =
                SEATS.iter().map(|s| (s.to_string(), Model::Free)).collect();
            for n in 1..=GA {
                model.insert(format!("floor#{n}"), Model::Free);
            }
            World {
                inv: Inventory::new(Uuid::nil(), spec(), false),
                model,
                holds: Vec::new(),
                orders: Vec::new(),
                now: Utc::now(),
                keys: 0,
                last_map: None,
            }
        }

        fn session_count(&self, session: usize) -> usize {
            let held = self
                .holds
                .iter()
                .filter(|(_, s, _)| *s == session)
                .map(|(id, _, _)| {
                    self.model
                        .values()
                        .filter(|m| **m == Model::Held(*id))
                        .count()
                })
                .sum::<usize>();
            let bought = self
                .orders
                .iter()
                .filter(|o| o.session == session.to_string() && o.status == OrderStatus::Confirmed)
                .map(|o| o.items.len())
                .sum::<usize>();
            held + bought
        }

        fn accept_hold(&mut self, session: usize, result: Result<HoldView, ShopError>) {
            if let Ok(view) = result {
                for item in &view.items {
                    assert_eq!(
                        self.model[&item.id.to_string()],
                        Model::Free,
                        "{} handed out twice",
                        item.id
                    );
                    self.model
                        .insert(item.id.to_string(), Model::Held(view.hold_id));
                }
                self.holds.push((view.hold_id, session, view.expires_at));
            }
        }

        fn apply(&mut self, op: Op) {
            match op {
                Op::HoldSeats(session, picks) => {
                    let ids: Vec<String> = picks.iter().map(|&i| SEATS[i].to_string()).collect();
                    let mut unique = ids.clone();
                    unique.sort();
                    unique.dedup();
                    let all_free = ids.iter().all(|id| self.model[id] == Model::Free);
                    let fits = self.session_count(session) + ids.len() <= MAX as usize;
                    let expect_ok =
                        !ids.is_empty() && unique.len() == ids.len() && all_free && fits;
                    let result = self.inv.hold(
                        &session.to_string(),
                        &HoldRequest::Items(ids.clone()),
                        self.now,
                    );
                    assert_eq!(result.is_ok(), expect_ok, "{ids:?}: {result:?}");
                    if let Err(ShopError::Unavailable(taken)) = &result {
                        for id in taken {
                            assert_ne!(self.model[id], Model::Free, "{id} reported taken but free");
                        }
                    }
                    self.accept_hold(session, result);
                }
                Op::HoldGa(session, quantity) => {
                    let free = (1..=GA)
                        .filter(|n| self.model[&format!("floor#{n}")] == Model::Free)
                        .count() as i64;
                    let fits = self.session_count(session) as i64 + quantity <= i64::from(MAX);
                    let expect_ok = quantity >= 1 && quantity <= free && fits;
                    let result = self.inv.hold(
                        &session.to_string(),
                        &HoldRequest::Quantity {
                            tier: "floor".into(),
                            quantity,
                        },
                        self.now,
                    );
                    assert_eq!(
                        result.is_ok(),
                        expect_ok,
                        "quantity {quantity}, free {free}: {result:?}"
                    );
                    if let Ok(view) = &result {
                        assert_eq!(view.items.len() as i64, quantity);
                    }
                    self.accept_hold(session, result);
                }
                Op::HoldBest(session, quantity, together) => {
                    let free: Vec<&str> = SEATS
                        .iter()
                        .copied()
                        .filter(|id| self.model[*id] == Model::Free)
                        .collect();
                    // Rows of three: a run of `quantity` free seats side by side in one row.
                    let run = ["A-1", "A-2"].iter().any(|row| {
                        (1..=3i64).any(|start| {
                            start + quantity - 1 <= 3
                                && (start..start + quantity)
                                    .all(|n| self.model[&format!("{row}-{n}")] == Model::Free)
                        })
                    });
                    let fits = self.session_count(session) as i64 + quantity <= i64::from(MAX);
                    let enough = if together {
                        run
                    } else {
                        free.len() as i64 >= quantity
                    };
                    let expect_ok = quantity >= 1 && fits && enough;
                    let result = self.inv.hold(
                        &session.to_string(),
                        &HoldRequest::Best {
                            quantity,
                            tier: None,
                            together,
                        },
                        self.now,
                    );
                    assert_eq!(
                        result.is_ok(),
                        expect_ok,
                        "best {quantity} together {together}, free {free:?}: {result:?}"
                    );
                    if let Ok(view) = &result {
                        assert_eq!(view.items.len() as i64, quantity);
                        if together {
                            let rows: HashSet<String> = view
                                .items
                                .iter()
                                .map(|i| i.id.to_string().rsplit_once('-').unwrap().0.to_string())
                                .collect();
                            assert_eq!(rows.len(), 1, "split across rows: {view:?}");
                            let mut numbers: Vec<u32> = view
                                .items
                                .iter()
                                .map(|i| {
                                    i.id.to_string()
                                        .rsplit_once('-')
                                        .unwrap()
                                        .1
                                        .parse()
                                        .unwrap()
                                })
                                .collect();
                            numbers.sort();
                            assert!(
                                numbers.windows(2).all(|w| w[1] == w[0] + 1),
                                "not side by side: {view:?}"
                            );
                        }
                    }
                    self.accept_hold(session, result);
                }
                Op::Release(session, pick) => {
                    let Some(&(hold, owner, _)) = self.holds.get(pick) else {
                        return;
                    };
                    let result = self.inv.release(&session.to_string(), hold);
                    let live = self.model.values().any(|m| *m == Model::Held(hold));
                    assert_eq!(result.is_ok(), live && owner == session, "{result:?}");
                    if result.is_ok() {
                        self.free_hold(hold);
                    }
                }
                Op::Wait(secs) => {
                    self.now += Duration::seconds(secs);
                    self.inv.expire(self.now);
                    for (hold, _, expires) in self.holds.clone() {
                        if expires <= self.now {
                            self.free_hold(hold);
                        }
                    }
                }
                Op::Order(pick, commits) => {
                    let Some(&(hold, owner, expires)) = self.holds.get(pick) else {
                        return;
                    };
                    self.keys += 1;
                    let key = format!("k{}", self.keys);
                    let buyer = Buyer::parse("Fan", "fan@example.com").unwrap();
                    let live = self.model.values().any(|m| *m == Model::Held(hold));
                    let start =
                        self.inv
                            .begin_order(&owner.to_string(), hold, &key, "h", &buyer, self.now);
                    match start {
                        Ok(OrderStart::Commit(new)) => {
                            assert!(live && expires > self.now);
                            let outcome = if commits {
                                Settled::Outcome(CommitOutcome::Committed)
                            } else {
                                Settled::Failed
                            };
                            let result =
                                self.inv
                                    .finish_order(hold, new.order.clone(), &key, outcome);
                            assert_eq!(result.is_ok(), commits);
                            if let Ok(order) = result {
                                for item in &order.items {
                                    assert_eq!(self.model[&item.id.to_string()], Model::Held(hold));
                                    self.model
                                        .insert(item.id.to_string(), Model::Sold(order.order_id));
                                }
                                self.orders.push((*order).clone());
                            }
                        }
                        Ok(other) => panic!("a fresh key replayed: {other:?}"),
                        Err(ShopError::HoldExpired) | Err(ShopError::HoldNotFound) => {
                            if live && expires <= self.now {
                                self.free_hold(hold);
                            } else {
                                assert!(!live, "live hold refused");
                            }
                        }
                        Err(e) => panic!("unexpected {e:?}"),
                    }
                }
                Op::Cancel(pick) => {
                    let Some(order) = self.orders.get(pick).cloned() else {
                        return;
                    };
                    let mut cancelled = order.clone();
                    cancelled.status = OrderStatus::Cancelled;
                    assert!(self.inv.cancel_order(order.order_id, cancelled.clone()));
                    if order.status == OrderStatus::Confirmed {
                        for item in &order.items {
                            self.model.insert(item.id.to_string(), Model::Free);
                        }
                    }
                    self.orders[pick] = cancelled;
                }
            }
        }

        fn free_hold(&mut self, hold: Uuid) {
            for m in self.model.values_mut() {
                if *m == Model::Held(hold) {
                    *m = Model::Free;
                }
            }
        }

        fn check(&mut self) {
            for (id, m) in &self.model {
                assert_eq!(self.inv.item_status(id), Some(status(*m)), "{id}");
            }
            // The seat map's encoding is exactly the seats' states, and a new one has a new
            // version.
            let availability = self.inv.availability();
            let decoded =
                crate::domain::seatmap::decode(&availability.seats, availability.count).unwrap();
            let states: Vec<SeatState> = self.inv.seats().iter().map(|s| s.status).collect();
            assert_eq!(decoded, states);
            if let Some((version, before)) = &self.last_map {
                if *before != states {
                    assert_ne!(
                        *version, availability.version,
                        "states changed, version did not"
                    );
                }
            }
            self.last_map = Some((availability.version, states));
            let totals = self.inv.totals();
            let count = |s: &str| {
                self.model
                    .values()
                    .filter(|m| status(**m).as_str() == s)
                    .count() as u64
            };
            assert_eq!(totals.sold, count("sold"));
            assert_eq!(totals.held, count("held"));
            assert_eq!(totals.available, count("free"));
            let live: Vec<&Order> = self
                .orders
                .iter()
                .filter(|o| o.status == OrderStatus::Confirmed)
                .collect();
            assert_eq!(totals.orders, live.len() as u64);
            assert_eq!(
                totals.revenue_cents,
                live.iter().map(|o| o.total_cents).sum::<i64>()
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn random_operations_agree_with_the_model(ops in prop::collection::vec(op(), 1..60)) {
            let mut world = World::new();
            for op in ops {
                world.apply(op);
                world.check();
            }
        }
    }

    /// An inventory with seat A-1-1 held by session `s` and its order begun under key `k`
    /// with request hash `hash`: the inventory, the hold, the order started, the buyer, now.
    fn order_begun(hash: &str) -> (Inventory, HoldView, Box<NewOrder>, Buyer, DateTime<Utc>) {
        let mut inv = Inventory::new(Uuid::nil(), spec(), false);
        let now = Utc::now();
        let buyer = Buyer::parse("Fan", "fan@example.com").unwrap();
        let hold = inv
            .hold("s", &HoldRequest::Items(vec!["A-1-1".into()]), now)
            .unwrap();
        let OrderStart::Commit(new) = inv
            .begin_order("s", hold.hold_id, "k", hash, &buyer, now)
            .unwrap()
        else {
            panic!("expected a commit")
        };
        (inv, hold, new, buyer, now)
    }

    #[test]
    fn a_replayed_key_returns_the_first_order_and_another_body_is_refused() {
        let (mut inv, hold, new, buyer, now) = order_begun("h1");
        assert!(matches!(
            inv.begin_order("s", hold.hold_id, "k", "h1", &buyer, now),
            Ok(OrderStart::InFlight)
        ));
        let order = inv
            .finish_order(
                hold.hold_id,
                new.order,
                "k",
                Settled::Outcome(CommitOutcome::Committed),
            )
            .unwrap();
        match inv.begin_order("s", hold.hold_id, "k", "h1", &buyer, now) {
            Ok(OrderStart::Replay(again)) => assert_eq!(again, order),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            inv.begin_order("s", hold.hold_id, "k", "h2", &buyer, now),
            Err(ShopError::Invalid(_))
        ));
    }

    #[test]
    fn an_item_sold_by_another_writer_is_never_offered_again() {
        let (mut inv, hold, new, _, now) = order_begun("h");
        let result = inv.finish_order(
            hold.hold_id,
            new.order,
            "k",
            Settled::Outcome(CommitOutcome::ItemTaken),
        );
        assert_eq!(result, Err(ShopError::Unavailable(vec!["A-1-1".into()])));
        assert_eq!(inv.item_status("A-1-1"), Some(SeatState::Sold));
        assert!(inv
            .hold("t", &HoldRequest::Items(vec!["A-1-1".into()]), now)
            .is_err());
    }
}
