//! The Postgres order store: the production backend.
//!
//! A batch of orders is one statement (two inserts joined by a CTE) inserting every row at
//! once from client-side arrays (`unnest`), which is what makes group commit fast: one round
//! trip and one fsync for hundreds of orders (measured in `docs/architecture.md`).

use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{AssertSqlSafe, Row};
use uuid::Uuid;

use super::outbox;
use super::{
    orders_from_rows, parse_spec, sales_from_rows, spec_json, CommitOutcome, EventRecord,
    EventSales, Fence, OrderStore, SoldCounts, StoreError, StoredOrder, ITEM_SOLD_ONCE,
};
use crate::domain::line::{Marks, Opening};
use crate::domain::order::{NewOrder, Order};

/// How long a request waits for a pooled connection before the database counts as unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Events and orders in Postgres.
pub struct PostgresStore {
    /// Everything but order commits.
    pool: PgPool,
    /// Order commits (and the look-up after a failed one) only.
    commits: PgPool,
}

impl PostgresStore {
    /// Connects and runs the migrations.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options: PgConnectOptions = url
            .parse()
            .map_err(|e: sqlx::Error| StoreError::Other(format!("DATABASE_URL: {e}")))?;
        let reserved = super::commit_connections(max_connections);
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.saturating_sub(reserved).max(2))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
            .await?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::Other(format!("migrations: {e}")))?;
        let commits = PgPoolOptions::new()
            .max_connections(reserved)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with(options);
        Ok(PostgresStore { pool, commits })
    }

    /// The connection pool (benchmarks use it to run the naive design side by side).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

fn event_from_row(row: &PgRow) -> Result<EventRecord, StoreError> {
    Ok(EventRecord {
        id: row.try_get("id")?,
        spec: parse_spec(row.try_get::<&str, _>("spec")?)?,
        paused: row.try_get("paused")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

const ORDER_COLUMNS: &str =
    "o.id::text AS id, o.event_id::text AS event_id, o.total_cents, o.status, o.name, o.email, \
     o.created_at, o.session, i.item_id, i.tier, i.price_cents";

/// Inserts orders and their items from arrays; returns the ids actually inserted (orders whose
/// idempotency key was taken are skipped, and so are their items), or `Fenced` when the
/// event's owner epoch is no longer the fence's.
async fn insert_orders<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    orders: &[NewOrder],
    fence: Option<Fence>,
) -> Result<HashSet<Uuid>, StoreError> {
    let n = orders.len();
    let (mut ids, mut events, mut keys, mut hashes) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut names, mut emails, mut totals, mut times, mut sessions) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut item_orders, mut item_events, mut item_ids, mut item_tiers, mut item_prices) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for new in orders {
        let o = &new.order;
        ids.push(o.order_id);
        events.push(o.event_id);
        keys.push(new.idempotency_key.as_str());
        hashes.push(new.request_hash.as_str());
        names.push(o.name.as_str());
        emails.push(o.email.as_str());
        totals.push(o.total_cents);
        times.push(o.created_at);
        sessions.push(o.session.as_str());
        for item in &o.items {
            item_orders.push(o.order_id);
            item_events.push(o.event_id);
            item_ids.push(item.id.to_string());
            item_tiers.push(item.tier.as_str());
            item_prices.push(item.price_cents);
        }
    }
    // One statement, so one round trip and one implicit transaction: the fence row is locked
    // FOR SHARE (a takeover's epoch bump waits for this commit, and a commit after the bump
    // sees the new epoch and inserts nothing), the orders insert skips taken idempotency
    // keys, and the items and outbox inserts keep only the rows of inserted orders: a
    // committed order has its confirmation mail waiting, a skipped or failed one has none.
    let (current, inserted): (bool, Vec<Uuid>) = sqlx::query_as(
        "WITH g AS (SELECT 1 FROM events WHERE id = $15 AND owner_epoch = $16 FOR SHARE), \
         o AS ( \
             INSERT INTO orders (id, event_id, idempotency_key, request_hash, name, email, \
                 total_cents, status, created_at, session) \
             SELECT id, event_id, key, hash, name, email, total, 'confirmed', at, session \
             FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], \
                         $6::text[], $7::int8[], $8::timestamptz[], $9::text[]) \
                  AS u(id, event_id, key, hash, name, email, total, at, session) \
             WHERE $15::uuid IS NULL OR EXISTS (SELECT 1 FROM g) \
             ON CONFLICT (event_id, idempotency_key) DO NOTHING \
             RETURNING id, event_id, email, created_at), \
         i AS ( \
             INSERT INTO order_items (order_id, event_id, item_id, tier, price_cents) \
             SELECT order_id, event_id, item_id, tier, price_cents \
             FROM unnest($10::uuid[], $11::uuid[], $12::text[], $13::text[], $14::int8[]) \
                  AS u(order_id, event_id, item_id, tier, price_cents) \
             WHERE order_id IN (SELECT id FROM o)), \
         m AS ( \
             INSERT INTO outbox (id, event_id, order_id, kind, recipient, next_attempt_at, \
                 created_at) \
             SELECT id, event_id, id, 'order_confirmed', email, created_at, created_at FROM o) \
         SELECT ($15::uuid IS NULL OR EXISTS (SELECT 1 FROM g)), \
                COALESCE(ARRAY(SELECT id FROM o), '{}'::uuid[])",
    )
    .bind(&ids)
    .bind(&events)
    .bind(&keys)
    .bind(&hashes)
    .bind(&names)
    .bind(&emails)
    .bind(&totals)
    .bind(&times)
    .bind(&sessions)
    .bind(&item_orders)
    .bind(&item_events)
    .bind(&item_ids)
    .bind(&item_tiers)
    .bind(&item_prices)
    .bind(fence.map(|f| f.event))
    .bind(fence.map(|f| f.epoch))
    .fetch_one(executor)
    .await?;
    if !current {
        return Err(StoreError::Fenced);
    }
    Ok(inserted.into_iter().collect())
}

fn outcomes(orders: &[NewOrder], inserted: &HashSet<Uuid>) -> Vec<CommitOutcome> {
    orders
        .iter()
        .map(|o| {
            if inserted.contains(&o.order.order_id) {
                CommitOutcome::Committed
            } else {
                CommitOutcome::KeyTaken
            }
        })
        .collect()
}

#[async_trait]
impl OrderStore for PostgresStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn insert_event(&self, event: &EventRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO events (id, spec, paused, created_at, updated_at) \
             VALUES ($1, $2::jsonb, $3, $4, $5)",
        )
        .bind(event.id)
        .bind(spec_json(&event.spec))
        .bind(event.paused)
        .bind(event.created_at)
        .bind(event.updated_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn update_event(&self, event: &EventRecord) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE events SET spec = $2::jsonb, paused = $3, updated_at = $4 WHERE id = $1",
        )
        .bind(event.id)
        .bind(spec_json(&event.spec))
        .bind(event.paused)
        .bind(event.updated_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn get_event(&self, id: Uuid) -> Result<Option<EventRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT id, spec::text AS spec, paused, created_at, updated_at FROM events WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(event_from_row).transpose()
    }

    async fn list_events(&self) -> Result<Vec<EventRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, spec::text AS spec, paused, created_at, updated_at FROM events \
             ORDER BY created_at, id",
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
        match insert_orders(&self.commits, orders, fence).await {
            Ok(inserted) => return Ok(outcomes(orders, &inserted)),
            Err(StoreError::Conflict(name)) if name == ITEM_SOLD_ONCE => {}
            Err(e) => return Err(e),
        }
        // Some item is already sold by another writer: find which orders, one at a time.
        let mut result = Vec::with_capacity(orders.len());
        for order in orders {
            match insert_orders(&self.commits, std::slice::from_ref(order), fence).await {
                Ok(inserted) => result.extend(outcomes(std::slice::from_ref(order), &inserted)),
                Err(StoreError::Conflict(name)) if name == ITEM_SOLD_ONCE => {
                    result.push(CommitOutcome::ItemTaken)
                }
                Err(e) => return Err(e),
            }
        }
        Ok(result)
    }

    async fn take_ownership(&self, event_id: Uuid) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "UPDATE events SET owner_epoch = owner_epoch + 1 WHERE id = $1 RETURNING owner_epoch",
        )
        .bind(event_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn sold_counts(&self, event_id: Uuid) -> Result<SoldCounts, StoreError> {
        let rows = sqlx::query(super::SOLD_COUNTS_SQL)
            .bind(event_id)
            .fetch_all(&self.pool)
            .await?;
        super::sold_counts_from_rows(&rows)
    }

    async fn load_sales(&self, event_id: Uuid) -> Result<EventSales, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {ORDER_COLUMNS}, o.idempotency_key, o.request_hash \
             FROM orders o LEFT JOIN order_items i ON i.order_id = o.id \
             WHERE o.event_id = $1 AND o.status = 'confirmed' ORDER BY o.id, i.item_id"
        )))
        .bind(event_id)
        .fetch_all(&self.pool)
        .await?;
        sales_from_rows(&rows)
    }

    async fn orders_by_keys(
        &self,
        event_id: Uuid,
        keys: &[String],
    ) -> Result<Vec<StoredOrder>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {ORDER_COLUMNS}, o.idempotency_key, o.request_hash \
             FROM orders o LEFT JOIN order_items i ON i.order_id = o.id \
             WHERE o.event_id = $1 AND o.idempotency_key = ANY($2) ORDER BY o.id, i.item_id"
        )))
        .bind(event_id)
        .bind(keys)
        .fetch_all(&self.commits)
        .await?;
        Ok(sales_from_rows(&rows)?.orders)
    }

    async fn get_order(&self, order_id: Uuid) -> Result<Option<Order>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {ORDER_COLUMNS} FROM orders o LEFT JOIN order_items i ON i.order_id = o.id \
             WHERE o.id = $1 ORDER BY i.item_id"
        )))
        .bind(order_id)
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
        let search_sql = super::search_condition("$4", "s.id::text");
        let rows = sqlx::query(AssertSqlSafe(format!(
            "WITH page AS (SELECT * FROM orders s WHERE event_id = $1 AND id > $2 \
                           AND ($4::text IS NULL {search_sql}) ORDER BY id LIMIT $3) \
             SELECT {ORDER_COLUMNS} FROM page o LEFT JOIN order_items i ON i.order_id = o.id \
             ORDER BY o.id, i.item_id"
        )))
        .bind(event_id)
        .bind(after.unwrap_or(Uuid::nil()))
        .bind(i64::from(limit))
        .bind(super::contains_pattern(search, str::to_lowercase))
        .fetch_all(&self.pool)
        .await?;
        orders_from_rows(&rows)
    }

    async fn reserve_seqs(&self, event_id: Uuid, block: u64) -> Result<(u64, u64), StoreError> {
        let after: i64 = sqlx::query_scalar(
            "INSERT INTO line_marks (event_id, seq_ceiling) VALUES ($1, $2) \
             ON CONFLICT (event_id) DO UPDATE SET seq_ceiling = line_marks.seq_ceiling + $2 \
             RETURNING seq_ceiling",
        )
        .bind(event_id)
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
             WHERE event_id = $1",
        )
        .bind(event_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            None => Marks::default(),
            Some(row) => super::marks_from_row(&row)?,
        })
    }

    async fn save_serving(&self, event_id: Uuid, serving: u64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO line_marks (event_id, serving) VALUES ($1, $2) \
             ON CONFLICT (event_id) DO UPDATE SET serving = GREATEST(line_marks.serving, $2)",
        )
        .bind(event_id)
        .bind(super::as_i64(serving))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn mark_line_initialized(&self, event_id: Uuid) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO line_marks (event_id, initialized) VALUES ($1, TRUE) \
             ON CONFLICT (event_id) DO UPDATE SET initialized = TRUE",
        )
        .bind(event_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn save_opening(&self, event_id: Uuid, opening: &Opening) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO line_marks (event_id, prequeue_size, seed, opened_at_ms) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (event_id) DO UPDATE SET \
             prequeue_size = COALESCE(line_marks.prequeue_size, $2), \
             seed = COALESCE(line_marks.seed, $3), \
             opened_at_ms = COALESCE(line_marks.opened_at_ms, $4)",
        )
        .bind(event_id)
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
        let mut tx = self.pool.begin().await?;
        let changed = sqlx::query(
            "UPDATE orders SET status = 'cancelled', cancelled_at = $2 \
             WHERE id = $1 AND status = 'confirmed'",
        )
        .bind(order_id)
        .bind(at)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if changed {
            sqlx::query("UPDATE order_items SET cancelled = TRUE WHERE order_id = $1")
                .bind(order_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(AssertSqlSafe(outbox::enqueue_sql()))
                .bind(order_id)
                .bind(Uuid::now_v7())
                .bind(at)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(self.get_order(order_id).await?.map(|o| (o, changed)))
    }
}

// Postgres binds ids as UUIDs, and claims skip rows another node is claiming.
outbox::impl_mail_outbox!(PostgresStore, |id: Uuid| id, "FOR UPDATE SKIP LOCKED");
