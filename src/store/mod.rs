//! Durable storage of events and orders: one trait, a Postgres and a SQLite implementation.
//!
//! The inventory actors decide who gets which item; this seam only makes their decisions
//! durable and answers questions about them afterwards. Orders arrive in batches from the
//! committer (group commit), and the database's unique indexes are the last line of defence
//! for "no oversell" and "idempotent orders" (`docs/architecture.md`) should two actors for one
//! event ever run at once.

pub mod outbox;
pub mod postgres;
pub mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::event::EventSpec;
use crate::domain::item::ItemId;
use crate::domain::line::{Marks, Opening};
use crate::domain::order::{Item, NewOrder, Order, OrderStatus};

/// Name of the unique index that keeps an item in at most one live order.
pub const ITEM_SOLD_ONCE: &str = "order_items_sold_once";
/// Name of the unique constraint that makes an idempotency key one order.
pub const IDEMPOTENCY_KEY: &str = "orders_idempotency_key";

/// What went wrong talking to the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or timed out: the caller answers 503 and retries later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A named unique constraint refused a write (see [`ITEM_SOLD_ONCE`], [`IDEMPOTENCY_KEY`]).
    #[error("constraint {0} refused the write")]
    Conflict(String),
    /// A stored row cannot be read back (corrupt JSON, unknown status): a bug or tampering.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The event's ownership moved on: a commit made under an older epoch is refused whole.
    #[error("the event has a newer owner: this node may no longer commit its orders")]
    Fenced,
    /// Anything else the driver reports; logged, answered 500.
    #[error("database error: {0}")]
    Other(String),
}

/// The ownership a group commit is made under: it commits only while the event's
/// `owner_epoch` in the database is still `epoch` (see [`OrderStore::take_ownership`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fence {
    pub event: Uuid,
    pub epoch: i64,
}

/// What an event has sold, counted in the database (for reads when no actor runs here).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SoldCounts {
    /// Items sold per tier id.
    pub per_tier: Vec<(String, u64)>,
    pub orders: u64,
    pub revenue_cents: i64,
}

impl From<sqlx::Error> for StoreError {
    /// The one place driver errors become store errors: connection trouble is `Unavailable`,
    /// a named unique violation is `Conflict`, and the rest is `Other`.
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                // SQLite names no constraint; its message lists the columns instead.
                let name = db.constraint().map(str::to_string).unwrap_or_else(|| {
                    if db.message().contains("order_items") {
                        ITEM_SOLD_ONCE.to_string()
                    } else if db.message().contains("idempotency_key") {
                        IDEMPOTENCY_KEY.to_string()
                    } else {
                        db.message().to_string()
                    }
                });
                StoreError::Conflict(name)
            }
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Protocol(_) => StoreError::Unavailable(e.to_string()),
            // "database is locked" and friends: busy, not broken.
            sqlx::Error::Database(db) if db.code().as_deref() == Some("5") => {
                StoreError::Unavailable(e.to_string())
            }
            _ => StoreError::Other(e.to_string()),
        }
    }
}

/// An event as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventRecord {
    pub id: Uuid,
    pub spec: EventSpec,
    pub paused: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub use crate::domain::order::CommitOutcome;
pub use outbox::{MailCounts, MailOutbox, OutboxTotals};

/// What an actor needs to rebuild its event after a restart.
#[derive(Clone, Debug, Default)]
pub struct EventSales {
    /// Every confirmed order, with its items.
    pub orders: Vec<StoredOrder>,
}

/// An order with the data that makes it idempotent.
#[derive(Clone, Debug)]
pub struct StoredOrder {
    pub order: Order,
    pub idempotency_key: String,
    pub request_hash: String,
}

/// Connections kept for the committer out of `max_connections` (a quarter, at least two):
/// however many reads pile up, an order commit never waits behind them for a connection.
pub fn commit_connections(max_connections: u32) -> u32 {
    (max_connections / 4).max(2)
}

/// Which database backend a URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatabaseKind {
    Postgres,
    Sqlite,
}

/// Names the backend of a database URL, or `None` for an unsupported one.
pub fn database_kind(url: &str) -> Option<DatabaseKind> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Some(DatabaseKind::Postgres)
    } else if url.starts_with("sqlite:") {
        Some(DatabaseKind::Sqlite)
    } else {
        None
    }
}

/// Durable events and orders, and the mail outbox their commits write to.
#[async_trait]
pub trait OrderStore: MailOutbox + Send + Sync + 'static {
    /// Checks the database answers (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Stores a new event.
    async fn insert_event(&self, event: &EventRecord) -> Result<(), StoreError>;
    /// Replaces an event's spec and pause flag.
    async fn update_event(&self, event: &EventRecord) -> Result<(), StoreError>;
    /// One event, or `None`.
    async fn get_event(&self, id: Uuid) -> Result<Option<EventRecord>, StoreError>;
    /// Every event, oldest first.
    async fn list_events(&self) -> Result<Vec<EventRecord>, StoreError>;

    /// Writes a batch of orders in one transaction, each with its confirmation mail in the
    /// outbox, skipping orders whose idempotency key is taken; if an item is already sold (two actors at once), falls back to one transaction per
    /// order so only the offenders fail. Returns one outcome per order, in order. Under a
    /// `fence`, the whole batch is refused with [`StoreError::Fenced`] once the event's owner
    /// epoch is no longer the fence's (checked in the same statement or transaction).
    async fn commit_orders(
        &self,
        orders: &[NewOrder],
        fence: Option<Fence>,
    ) -> Result<Vec<CommitOutcome>, StoreError>;
    /// Takes over an event: increments its owner epoch and returns the new one (`None`: no
    /// such event). Waits for commits under the old epoch in flight, and fences later ones.
    async fn take_ownership(&self, event_id: Uuid) -> Result<Option<i64>, StoreError>;
    /// What an event has sold (confirmed orders only).
    async fn sold_counts(&self, event_id: Uuid) -> Result<SoldCounts, StoreError>;
    /// The confirmed orders of an event (actor rebuild).
    async fn load_sales(&self, event_id: Uuid) -> Result<EventSales, StoreError>;
    /// The orders of an event stored under these idempotency keys, with their request
    /// hashes (any status): how a commit whose answer was lost finds what it wrote.
    async fn orders_by_keys(
        &self,
        event_id: Uuid,
        keys: &[String],
    ) -> Result<Vec<StoredOrder>, StoreError>;
    /// One order with its items.
    async fn get_order(&self, order_id: Uuid) -> Result<Option<Order>, StoreError>;
    /// Orders of an event with id greater than `after`, oldest first, at most `limit`; with
    /// `search`, only those whose name, email, order id or an item id contains it (any case).
    async fn list_orders(
        &self,
        event_id: Uuid,
        after: Option<Uuid>,
        limit: u32,
        search: Option<&str>,
    ) -> Result<Vec<Order>, StoreError>;
    /// Reserves the next `block` join numbers of an event's line: returns the ceiling before
    /// and after. Join numbers at or below the old ceiling may have been handed out already.
    async fn reserve_seqs(&self, event_id: Uuid, block: u64) -> Result<(u64, u64), StoreError>;
    /// The durable marks of an event's line.
    async fn line_marks(&self, event_id: Uuid) -> Result<Marks, StoreError>;
    /// Raises the saved serving counter (never lowers it).
    async fn save_serving(&self, event_id: Uuid, serving: u64) -> Result<(), StoreError>;
    /// Records that the line store received its first block of join numbers.
    async fn mark_line_initialized(&self, event_id: Uuid) -> Result<(), StoreError>;
    /// Keeps the opening draw (the first one saved stands).
    async fn save_opening(&self, event_id: Uuid, opening: &Opening) -> Result<(), StoreError>;

    /// Marks an order cancelled, frees its items and puts its cancellation mail in the outbox
    /// (one transaction; nothing when it was already cancelled). Returns the order as it now stands and
    /// whether this call changed it (`false`: it was already cancelled), or `None` if unknown.
    async fn cancel_order(
        &self,
        order_id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<Option<(Order, bool)>, StoreError>;
}

/// Opens the database a URL names and brings its schema up to date.
pub async fn connect(url: &str, max_connections: u32) -> Result<Arc<dyn OrderStore>, StoreError> {
    match database_kind(url) {
        Some(DatabaseKind::Postgres) => Ok(Arc::new(
            postgres::PostgresStore::connect(url, max_connections).await?,
        )),
        Some(DatabaseKind::Sqlite) => Ok(Arc::new(
            sqlite::SqliteStore::connect(url, max_connections).await?,
        )),
        None => Err(StoreError::Other(format!(
            "unsupported database URL {url:?}"
        ))),
    }
}

/// The column reads that order rows need, so both backends share one row mapping. Ids are
/// read as text (Postgres selects `id::text`).
pub(crate) trait OrderRow {
    fn text(&self, column: &str) -> Result<String, StoreError>;
    fn maybe_text(&self, column: &str) -> Result<Option<String>, StoreError>;
    fn int(&self, column: &str) -> Result<i64, StoreError>;
    fn time(&self, column: &str) -> Result<DateTime<Utc>, StoreError>;
    fn maybe_time(&self, column: &str) -> Result<Option<DateTime<Utc>>, StoreError>;

    fn uuid(&self, column: &str) -> Result<Uuid, StoreError> {
        let text = self.text(column)?;
        Uuid::parse_str(&text).map_err(|e| StoreError::Corrupt(format!("{column} {text:?}: {e}")))
    }
}

/// Every sqlx row whose database decodes the four column types reads as an order row.
impl<R> OrderRow for R
where
    R: sqlx::Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> DateTime<Utc>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn text(&self, column: &str) -> Result<String, StoreError> {
        Ok(self.try_get(column)?)
    }
    fn maybe_text(&self, column: &str) -> Result<Option<String>, StoreError> {
        Ok(self.try_get(column)?)
    }
    fn int(&self, column: &str) -> Result<i64, StoreError> {
        Ok(self.try_get(column)?)
    }
    fn time(&self, column: &str) -> Result<DateTime<Utc>, StoreError> {
        Ok(self.try_get(column)?)
    }
    fn maybe_time(&self, column: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(self.try_get(column)?)
    }
}

/// Reads one row of the orders ⟕ order_items join that every order query selects
/// (`ORDER_COLUMNS` of each backend).
fn order_from_row(row: &impl OrderRow) -> Result<(Order, Option<Item>), StoreError> {
    let status = row.text("status")?;
    let order = Order {
        order_id: row.uuid("id")?,
        event_id: row.uuid("event_id")?,
        items: Vec::new(),
        total_cents: row.int("total_cents")?,
        status: OrderStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("order status {status:?}")))?,
        name: row.text("name")?,
        email: row.text("email")?,
        created_at: row.time("created_at")?,
        session: row.text("session")?,
    };
    let item = match row.maybe_text("item_id")? {
        Some(id) => Some(Item {
            id: ItemId::parse(&id).map_err(|e| StoreError::Corrupt(format!("item_id: {e}")))?,
            tier: row.text("tier")?,
            price_cents: row.int("price_cents")?,
        }),
        None => None,
    };
    Ok((order, item))
}

/// Orders from join rows sorted by order id.
pub(crate) fn orders_from_rows<R: OrderRow>(rows: &[R]) -> Result<Vec<Order>, StoreError> {
    let rows = rows
        .iter()
        .map(order_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(group_items(rows))
}

/// An actor's rebuild data from join rows that also select `idempotency_key` and
/// `request_hash`, sorted by order id.
pub(crate) fn sales_from_rows<R: OrderRow>(rows: &[R]) -> Result<EventSales, StoreError> {
    let mut keys: Vec<(Uuid, String, String)> = Vec::new();
    for row in rows {
        let id = row.uuid("id")?;
        if keys.last().map(|(last, _, _)| *last) != Some(id) {
            keys.push((id, row.text("idempotency_key")?, row.text("request_hash")?));
        }
    }
    Ok(EventSales {
        orders: orders_from_rows(rows)?
            .into_iter()
            .zip(keys)
            .map(|(order, (_, idempotency_key, request_hash))| StoredOrder {
                order,
                idempotency_key,
                request_hash,
            })
            .collect(),
    })
}

/// Groups `(order, item)` rows, sorted by order, into orders.
fn group_items(rows: impl IntoIterator<Item = (Order, Option<Item>)>) -> Vec<Order> {
    let mut orders: Vec<Order> = Vec::new();
    for (order, item) in rows {
        match orders.last_mut() {
            Some(last) if last.order_id == order.order_id => last.items.extend(item),
            _ => {
                let mut order = order;
                order.items.extend(item);
                orders.push(order);
            }
        }
    }
    orders
}

fn parse_spec(text: &str) -> Result<EventSpec, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("event spec: {e}")))
}

fn spec_json(spec: &EventSpec) -> String {
    // EventSpec holds only strings, numbers and times: serializing cannot fail.
    serde_json::to_string(spec).expect("event spec serializes")
}

/// A `LIKE … ESCAPE '\\'` pattern matching text that contains `search`, lower-cased by
/// `lower` as the database's own `lower()` does (Postgres: all of Unicode; SQLite: ASCII
/// only, so `É` must stay `É` to match), with the pattern's own wildcards escaped so a `%`
/// in a search is just a percent sign.
fn contains_pattern(search: Option<&str>, lower: fn(&str) -> String) -> Option<String> {
    search.map(|s| {
        let mut pattern = String::with_capacity(s.len() + 2);
        pattern.push('%');
        for c in lower(s).chars() {
            if matches!(c, '\\' | '%' | '_') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('%');
        pattern
    })
}

/// The condition of an order search on `orders s`: `param` holds a [`contains_pattern`],
/// `id_text` is the order id as text in the backend's dialect.
fn search_condition(param: &str, id_text: &str) -> String {
    format!(
        "OR lower(s.name) LIKE {param} ESCAPE '\\' OR lower(s.email) LIKE {param} ESCAPE '\\' \
         OR {id_text} LIKE {param} ESCAPE '\\' OR EXISTS (SELECT 1 FROM order_items f \
         WHERE f.order_id = s.id AND lower(f.item_id) LIKE {param} ESCAPE '\\')"
    )
}

/// Items sold per tier (`kind` 'tier') and the confirmed orders' count and revenue (`kind`
/// 'orders', tier empty), in one query, on either backend (`$1`: the event id).
const SOLD_COUNTS_SQL: &str =
    "SELECT 'tier' AS kind, tier, COUNT(*) AS n, CAST(0 AS BIGINT) AS cents \
     FROM order_items WHERE event_id = $1 AND NOT cancelled GROUP BY tier \
     UNION ALL SELECT 'orders', '', COUNT(*), CAST(COALESCE(SUM(total_cents), 0) AS BIGINT) \
     FROM orders WHERE event_id = $1 AND status = 'confirmed'";

/// Reads the rows of [`SOLD_COUNTS_SQL`].
fn sold_counts_from_rows<R: OrderRow>(rows: &[R]) -> Result<SoldCounts, StoreError> {
    let mut counts = SoldCounts::default();
    for row in rows {
        let n = row.int("n")?.max(0) as u64;
        if row.text("kind")? == "tier" {
            counts.per_tier.push((row.text("tier")?, n));
        } else {
            counts.orders = n;
            counts.revenue_cents = row.int("cents")?;
        }
    }
    Ok(counts)
}

fn as_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Reads a `line_marks` row (`seq_ceiling, serving, prequeue_size, seed, opened_at_ms,
/// initialized`), on either backend.
fn marks_from_row<R>(row: &R) -> Result<Marks, StoreError>
where
    R: sqlx::Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let ceiling: i64 = row.try_get("seq_ceiling")?;
    let serving: i64 = row.try_get("serving")?;
    let size: Option<i64> = row.try_get("prequeue_size")?;
    let seed: Option<String> = row.try_get("seed")?;
    let opened: Option<i64> = row.try_get("opened_at_ms")?;
    let initialized: bool = row.try_get("initialized")?;
    Ok(Marks {
        // Every reserved number may have been handed out. (Whether that holds yet, before
        // the line store got its first block, is the room's call: see `Room::reserve`.)
        seq_floor: ceiling.max(0) as u64,
        initialized,
        ceiling: ceiling.max(0) as u64,
        serving: serving.max(0) as u64,
        opening: match (size, seed, opened) {
            (Some(size), Some(seed), Some(opened_at_ms)) => Some(Opening {
                prequeue_size: size.max(0) as u64,
                seed,
                opened_at_ms,
            }),
            _ => None,
        },
    })
}
