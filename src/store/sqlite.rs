//! The SQLite order store: the embedded default, one file, no server.
//!
//! SQLite has one writer at a time, so group commit matters even more here: a batch is one
//! transaction and one fsync. Each order in a batch gets a savepoint, so an item already sold by
//! another writer fails only its own order. WAL mode with `synchronous = FULL` keeps a
//! committed order on disk across a power cut (no lost order).

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Acquire, AssertSqlSafe, Row, Sqlite, Transaction};
use uuid::Uuid;

use super::outbox;
use super::{
    orders_from_rows, parse_spec, sales_from_rows, spec_json, CommitOutcome, EventRecord,
    EventSales, Fence, OrderStore, SoldCounts, StoreError, StoredOrder, ITEM_SOLD_ONCE,
};
use crate::domain::line::{Marks, Opening};
use crate::domain::order::{NewOrder, Order};

/// How long a writer waits for SQLite's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a request waits for a pooled connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Events and orders in a SQLite file.
pub struct SqliteStore {
    /// Everything but order commits.
    pool: SqlitePool,
    /// Order commits (and the look-up after a failed one) only.
    commits: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating when missing) the file and runs the migrations.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Other(format!("DATABASE_URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        if let Some(dir) = options.get_filename().parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| StoreError::Other(format!("creating {}: {e}", dir.display())))?;
            }
        }
        let reserved = super::commit_connections(max_connections).min(4);
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.saturating_sub(reserved).clamp(1, 8))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
            .await?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::Other(format!("migrations: {e}")))?;
        let commits = SqlitePoolOptions::new()
            .max_connections(reserved)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with(options);
        Ok(SqliteStore { pool, commits })
    }
}

fn event_from_row(row: &SqliteRow) -> Result<EventRecord, StoreError> {
    Ok(EventRecord {
        id: super::OrderRow::uuid(row, "id")?,
        spec: parse_spec(row.try_get::<&str, _>("spec")?)?,
        paused: row.try_get("paused")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

const ORDER_COLUMNS: &str = "o.id, o.event_id, o.total_cents, o.status, o.name, o.email, \
     o.created_at, o.session, i.item_id, i.tier, i.price_cents";

/// Inserts one order and its items; `KeyTaken` when its idempotency key is already used.
async fn insert_order(
    tx: &mut Transaction<'_, Sqlite>,
    new: &NewOrder,
) -> Result<CommitOutcome, StoreError> {
    let o = &new.order;
    let id = o.order_id.to_string();
    let event_id = o.event_id.to_string();
    let inserted = sqlx::query(
        "INSERT INTO orders (id, event_id, idempotency_key, request_hash, name, email, \
             total_cents, status, created_at, session) \
         VALUES (?, ?, ?, ?, ?, ?, ?, 'confirmed', ?, ?) \
         ON CONFLICT (event_id, idempotency_key) DO NOTHING",
    )
    .bind(&id)
    .bind(&event_id)
    .bind(&new.idempotency_key)
    .bind(&new.request_hash)
    .bind(&o.name)
    .bind(&o.email)
    .bind(o.total_cents)
    .bind(o.created_at)
    .bind(&o.session)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(CommitOutcome::KeyTaken);
    }
    for item in &o.items {
        sqlx::query(
            "INSERT INTO order_items (order_id, event_id, item_id, tier, price_cents) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&id)
        .bind(&event_id)
        .bind(item.id.to_string())
        .bind(&item.tier)
        .bind(item.price_cents)
        .execute(&mut **tx)
        .await?;
    }
    // Its confirmation mail, in the same transaction (and savepoint) as the order; the row
    // takes the order's id (see migrations/postgres/0005_outbox.sql).
    sqlx::query(
        "INSERT INTO outbox (id, event_id, order_id, kind, recipient, next_attempt_at, \
             created_at) \
         VALUES (?, ?, ?, 'order_confirmed', ?, ?, ?)",
    )
    .bind(&id)
    .bind(&event_id)
    .bind(&id)
    .bind(&o.email)
    .bind(o.created_at)
    .bind(o.created_at)
    .execute(&mut **tx)
    .await?;
    Ok(CommitOutcome::Committed)
}

#[async_trait]
impl OrderStore for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn insert_event(&self, event: &EventRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO events (id, spec, paused, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(event.id.to_string())
        .bind(spec_json(&event.spec))
        .bind(event.paused)
        .bind(event.created_at)
        .bind(event.updated_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn update_event(&self, event: &EventRecord) -> Result<(), StoreError> {
        sqlx::query("UPDATE events SET spec = ?, paused = ?, updated_at = ? WHERE id = ?")
            .bind(spec_json(&event.spec))
            .bind(event.paused)
            .bind(event.updated_at)
            .bind(event.id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn get_event(&self, id: Uuid) -> Result<Option<EventRecord>, StoreError> {
        let row =
            sqlx::query("SELECT id, spec, paused, created_at, updated_at FROM events WHERE id = ?")
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await?;
        row.as_ref().map(event_from_row).transpose()
    }

    async fn list_events(&self) -> Result<Vec<EventRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, spec, paused, created_at, updated_at FROM events ORDER BY created_at, id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(event_from_row).collect()
    }

    async fn commit_orders(
        &self,
        orders: &[NewOrder],
        fence: Option<Fence>,
    ) -> Result<Vec<CommitOutcome>, StoreError> {
        let mut tx = self.commits.begin().await?;
        if let Some(fence) = fence {
            // SQLite has one writer at a time: the epoch read here stands until the commit.
            let epoch: Option<i64> =
                sqlx::query_scalar("SELECT owner_epoch FROM events WHERE id = ?")
                    .bind(fence.event.to_string())
                    .fetch_optional(&mut *tx)
                    .await?;
            if epoch != Some(fence.epoch) {
                return Err(StoreError::Fenced);
            }
        }
        let mut result = Vec::with_capacity(orders.len());
        for order in orders {
            // A savepoint per order: an item sold by another writer fails only this order.
            let mut savepoint = tx.begin().await?;
            match insert_order(&mut savepoint, order).await {
                Ok(outcome) => {
                    savepoint.commit().await?;
                    result.push(outcome);
                }
                Err(StoreError::Conflict(name)) if name == ITEM_SOLD_ONCE => {
                    savepoint.rollback().await?;
                    result.push(CommitOutcome::ItemTaken);
                }
                Err(e) => return Err(e),
            }
        }
        tx.commit().await?;
        Ok(result)
    }

    async fn take_ownership(&self, event_id: Uuid) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "UPDATE events SET owner_epoch = owner_epoch + 1 WHERE id = ? RETURNING owner_epoch",
        )
        .bind(event_id.to_string())
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn sold_counts(&self, event_id: Uuid) -> Result<SoldCounts, StoreError> {
        // SQLite reads `$1` as a named parameter: both uses take the one value bound.
        let rows = sqlx::query(super::SOLD_COUNTS_SQL)
            .bind(event_id.to_string())
            .fetch_all(&self.pool)
            .await?;
        super::sold_counts_from_rows(&rows)
    }

    async fn load_sales(&self, event_id: Uuid) -> Result<EventSales, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {ORDER_COLUMNS}, o.idempotency_key, o.request_hash \
             FROM orders o LEFT JOIN order_items i ON i.order_id = o.id \
             WHERE o.event_id = ? AND o.status = 'confirmed' ORDER BY o.id, i.item_id"
        )))
        .bind(event_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        sales_from_rows(&rows)
    }

    async fn orders_by_keys(
        &self,
        event_id: Uuid,
        keys: &[String],
    ) -> Result<Vec<StoredOrder>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let marks = vec!["?"; keys.len()].join(", ");
        let sql = format!(
            "SELECT {ORDER_COLUMNS}, o.idempotency_key, o.request_hash \
             FROM orders o LEFT JOIN order_items i ON i.order_id = o.id \
             WHERE o.event_id = ? AND o.idempotency_key IN ({marks}) ORDER BY o.id, i.item_id"
        );
        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(event_id.to_string());
        for key in keys {
            query = query.bind(key.as_str());
        }
        let rows = query.fetch_all(&self.commits).await?;
        Ok(sales_from_rows(&rows)?.orders)
    }

    async fn get_order(&self, order_id: Uuid) -> Result<Option<Order>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {ORDER_COLUMNS} FROM orders o LEFT JOIN order_items i ON i.order_id = o.id \
             WHERE o.id = ? ORDER BY i.item_id"
        )))
        .bind(order_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        Ok(orders_from_rows(&rows)?.into_iter().next())
    }

    async fn list_orders(
        &self,
        event_id: Uuid,
        after: Option<Uuid>,
        limit: u32,
        search: Option<&str>,
    ) -> Result<Vec<Order>, StoreError> {
        let search_sql = super::search_condition("?4", "s.id");
        let rows = sqlx::query(AssertSqlSafe(format!(
            "WITH page AS (SELECT * FROM orders s WHERE event_id = ?1 AND id > ?2 \
                           AND (?4 IS NULL {search_sql}) ORDER BY id LIMIT ?3) \
             SELECT {ORDER_COLUMNS} FROM page o LEFT JOIN order_items i ON i.order_id = o.id \
             ORDER BY o.id, i.item_id"
        )))
        .bind(event_id.to_string())
        .bind(after.unwrap_or(Uuid::nil()).to_string())
        .bind(i64::from(limit))
        .bind(super::contains_pattern(search, str::to_ascii_lowercase))
        .fetch_all(&self.pool)
        .await?;
        orders_from_rows(&rows)
    }

    async fn reserve_seqs(&self, event_id: Uuid, block: u64) -> Result<(u64, u64), StoreError> {
        let after: i64 = sqlx::query_scalar(
            "INSERT INTO line_marks (event_id, seq_ceiling) VALUES (?1, ?2) \
             ON CONFLICT (event_id) DO UPDATE SET seq_ceiling = line_marks.seq_ceiling + ?2 \
             RETURNING seq_ceiling",
        )
        .bind(event_id.to_string())
        .bind(super::as_i64(block))
        .fetch_one(&self.pool)
        .await?;
        let after = after.max(0) as u64;
        Ok((after.saturating_sub(block), after))
    }

    async fn line_marks(&self, event_id: Uuid) -> Result<Marks, StoreError> {
        let row = sqlx::query(
            "SELECT seq_ceiling, serving, prequeue_size, seed, opened_at_ms, initialized \
             FROM line_marks \
             WHERE event_id = ?1",
        )
        .bind(event_id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            None => Marks::default(),
            Some(row) => super::marks_from_row(&row)?,
        })
    }

    async fn save_serving(&self, event_id: Uuid, serving: u64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO line_marks (event_id, serving) VALUES (?1, ?2) \
             ON CONFLICT (event_id) DO UPDATE SET serving = MAX(line_marks.serving, ?2)",
        )
        .bind(event_id.to_string())
        .bind(super::as_i64(serving))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn mark_line_initialized(&self, event_id: Uuid) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO line_marks (event_id, initialized) VALUES (?1, 1) \
             ON CONFLICT (event_id) DO UPDATE SET initialized = 1",
        )
        .bind(event_id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn save_opening(&self, event_id: Uuid, opening: &Opening) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO line_marks (event_id, prequeue_size, seed, opened_at_ms) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (event_id) DO UPDATE SET \
             prequeue_size = COALESCE(line_marks.prequeue_size, ?2), \
             seed = COALESCE(line_marks.seed, ?3), \
             opened_at_ms = COALESCE(line_marks.opened_at_ms, ?4)",
        )
        .bind(event_id.to_string())
        .bind(super::as_i64(opening.prequeue_size))
        .bind(&opening.seed)
        .bind(opening.opened_at_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn cancel_order(
        &self,
        order_id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<Option<(Order, bool)>, StoreError> {
        let id = order_id.to_string();
        let mut tx = self.pool.begin().await?;
        let changed = sqlx::query(
            "UPDATE orders SET status = 'cancelled', cancelled_at = ? \
             WHERE id = ? AND status = 'confirmed'",
        )
        .bind(at)
        .bind(&id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if changed {
            sqlx::query("UPDATE order_items SET cancelled = 1 WHERE order_id = ?")
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(AssertSqlSafe(outbox::enqueue_sql()))
                .bind(&id)
                .bind(Uuid::now_v7().to_string())
                .bind(at)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(self.get_order(order_id).await?.map(|o| (o, changed)))
    }
}

// SQLite keeps ids as text; it has one writer, so a claim needs no row locks.
outbox::impl_mail_outbox!(SqliteStore, |id: Uuid| id.to_string(), "");
