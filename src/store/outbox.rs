//! The mail outbox in the database: what the senders and the organizer ask of it.
//!
//! Rows are written by the order commit and the cancel themselves (`commit_orders`,
//! `cancel_order`: same statement or transaction), never here, so a mail exists exactly when
//! its order (or cancel) does. This seam claims due rows for a sender (a lease, so two senders
//! never hold one row at once, and a dead one's claim runs out), records each attempt's
//! outcome in one `UPDATE`, and answers the organizer. The SQL is the same on both backends
//! (ids and counts are cast to text and `BIGINT`, parameters are `$N`); only the claim differs,
//! by Postgres's `FOR UPDATE SKIP LOCKED`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{OrderRow, StoreError};
use crate::domain::mail::{MailKind, MailOutcome, MailState, Notification};

/// An event's mails that are not sent, by state (the console's dashboard).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MailCounts {
    pub pending: u64,
    pub parked: u64,
}

/// The whole outbox at a glance (the metrics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutboxTotals {
    /// Pending rows whose time has come.
    pub due: u64,
    /// When the longest-waiting due row came due.
    pub oldest_due: Option<DateTime<Utc>>,
    pub parked: u64,
}

/// The outbox as the senders and the organizer see it.
#[async_trait]
pub trait MailOutbox: Send + Sync + 'static {
    /// Claims up to `limit` pending rows due at `now` that nobody holds, oldest due first,
    /// for this sender until `until`; returns them. Rows another sender is claiming at the
    /// same moment are skipped, not waited for.
    async fn claim_mail(
        &self,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Notification>, StoreError>;
    /// Records an attempt on a pending row: sent, due again later, or parked (one `UPDATE`;
    /// the claim ends). A row no longer pending is left alone.
    async fn record_mail(&self, id: Uuid, outcome: &MailOutcome) -> Result<(), StoreError>;
    /// One row, or `None`.
    async fn notification(&self, id: Uuid) -> Result<Option<Notification>, StoreError>;
    /// An event's rows with id greater than `after`, oldest first, at most `limit`, only in
    /// `state` when given.
    async fn list_notifications(
        &self,
        event_id: Uuid,
        state: Option<MailState>,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Notification>, StoreError>;
    /// Makes a parked or pending row due at `now`, its attempts counted afresh; returns it as
    /// it now stands, or `None` when there is no such row or it was sent.
    async fn retry_notification(
        &self,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<Notification>, StoreError>;
    /// Adds a row `id` for an order, due at `now`, telling it as it stands (confirmed or
    /// cancelled); `None` when there is no such order.
    async fn resend(
        &self,
        order_id: Uuid,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<Notification>, StoreError>;
    /// An event's pending and parked counts.
    async fn mail_counts(&self, event_id: Uuid) -> Result<MailCounts, StoreError>;
    /// Due and parked rows of every event, at `now`.
    async fn outbox_totals(&self, now: DateTime<Utc>) -> Result<OutboxTotals, StoreError>;
}

/// The columns every outbox query returns, readable alike on both backends.
const COLUMNS: &str = "CAST(id AS TEXT) AS id, CAST(event_id AS TEXT) AS event_id, \
     CAST(order_id AS TEXT) AS order_id, kind, recipient, state, \
     CAST(attempts AS BIGINT) AS attempts, last_error, next_attempt_at, sent_at, created_at";

/// The claim (`$1` now, `$2` the lease's end, `$3` the most rows); `lock` is what the
/// backend adds to the inner select (`FOR UPDATE SKIP LOCKED` on Postgres: rows locked by a
/// concurrent claim are skipped; SQLite has one writer, so the statement alone is atomic).
pub(crate) fn claim_sql(lock: &str) -> String {
    format!(
        "UPDATE outbox SET claimed_until = $2 WHERE id IN ( \
             SELECT id FROM outbox WHERE state = 'pending' AND next_attempt_at <= $1 \
             AND (claimed_until IS NULL OR claimed_until < $1) \
             ORDER BY next_attempt_at LIMIT $3 {lock}) \
         RETURNING {COLUMNS}"
    )
}

/// An attempt's outcome (`$1` id, `$2` state, `$3` error or NULL to keep the last one, `$4`
/// next attempt or NULL to keep it, `$5` sent at).
pub(crate) const RECORD_SQL: &str = "UPDATE outbox SET state = $2, attempts = attempts + 1, \
     last_error = COALESCE($3, last_error), next_attempt_at = COALESCE($4, next_attempt_at), \
     sent_at = $5, claimed_until = NULL WHERE id = $1 AND state = 'pending'";

/// One row (`$1` id).
pub(crate) fn get_sql() -> String {
    format!("SELECT {COLUMNS} FROM outbox WHERE id = $1")
}

/// A page of an event's rows (`$1` event, `$2` cursor, `$3` limit), in `state` when given.
/// The state is written into the statement, not bound, so the planner can read pending and
/// parked rows through their partial indexes (there is no index per event: it would cost the
/// order commit a third index write per order); sent rows are read in id order.
pub(crate) fn list_sql(state: Option<MailState>) -> String {
    let state = match state {
        Some(state) => format!("AND state = '{}'", state.as_str()),
        None => String::new(),
    };
    format!(
        "SELECT {COLUMNS} FROM outbox WHERE event_id = $1 {state} AND id > $2 \
         ORDER BY id LIMIT $3"
    )
}

/// A parked or pending row due again (`$1` id, `$2` now). A pending row being sent keeps its
/// claim, so no other sender takes it meanwhile.
pub(crate) fn retry_sql() -> String {
    format!(
        "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = $2 \
         WHERE id = $1 AND state IN ('pending', 'parked') RETURNING {COLUMNS}"
    )
}

/// A new row for an order as it stands (`$1` order, `$2` new id, `$3` now); the cancel
/// writes its row with the same statement.
pub(crate) fn enqueue_sql() -> String {
    format!(
        "INSERT INTO outbox (id, event_id, order_id, kind, recipient, next_attempt_at, created_at) \
         SELECT $2, event_id, id, CASE status WHEN 'cancelled' THEN 'order_cancelled' \
                ELSE 'order_confirmed' END, email, $3, $3 \
         FROM orders WHERE id = $1 RETURNING {COLUMNS}"
    )
}

/// An event's unsent rows by state (`$1` event): one count per state, so each reads its
/// partial index (`state IN (…)` implies neither, and sent rows are most of the table).
pub(crate) const COUNTS_SQL: &str = "SELECT \
     (SELECT COUNT(*) FROM outbox WHERE state = 'pending' AND event_id = $1) AS pending, \
     (SELECT COUNT(*) FROM outbox WHERE state = 'parked' AND event_id = $1) AS parked";

/// Due and parked rows of the whole outbox (`$1` now): one pass over the due range.
pub(crate) const TOTALS_SQL: &str = "SELECT COUNT(*) AS due, MIN(next_attempt_at) AS oldest_due, \
     (SELECT COUNT(*) FROM outbox WHERE state = 'parked') AS parked \
     FROM outbox WHERE state = 'pending' AND next_attempt_at <= $1";

/// The parameters of [`RECORD_SQL`] for an outcome.
pub(crate) struct RecordParams<'a> {
    pub state: &'static str,
    /// The error to keep, or `None` to keep the last one.
    pub error: Option<&'a str>,
    /// The next attempt, or `None` to leave it.
    pub next: Option<DateTime<Utc>>,
    pub sent: Option<DateTime<Utc>>,
}

impl<'a> RecordParams<'a> {
    pub(crate) fn of(outcome: &'a MailOutcome) -> Self {
        let (state, error, next, sent) = match outcome {
            MailOutcome::Sent { at } => (MailState::Sent, None, None, Some(*at)),
            MailOutcome::Retry { error, at } => {
                (MailState::Pending, Some(error.as_str()), Some(*at), None)
            }
            MailOutcome::Parked { error } => (MailState::Parked, Some(error.as_str()), None, None),
        };
        RecordParams {
            state: state.as_str(),
            error,
            next,
            sent,
        }
    }
}

/// Reads a row of [`COLUMNS`].
pub(crate) fn notification_from_row(row: &impl OrderRow) -> Result<Notification, StoreError> {
    let kind = row.text("kind")?;
    let state = row.text("state")?;
    Ok(Notification {
        id: row.uuid("id")?,
        event_id: row.uuid("event_id")?,
        order_id: row.uuid("order_id")?,
        kind: MailKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("mail kind {kind:?}")))?,
        recipient: row.text("recipient")?,
        state: MailState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("mail state {state:?}")))?,
        attempts: u32::try_from(row.int("attempts")?.max(0)).unwrap_or(u32::MAX),
        last_error: row.maybe_text("last_error")?,
        next_attempt_at: row.time("next_attempt_at")?,
        sent_at: row.maybe_time("sent_at")?,
        created_at: row.time("created_at")?,
    })
}

/// Reads rows of [`COLUMNS`].
pub(crate) fn notifications_from_rows<R: OrderRow>(
    rows: &[R],
) -> Result<Vec<Notification>, StoreError> {
    rows.iter().map(notification_from_row).collect()
}

/// Reads the row of [`COUNTS_SQL`].
pub(crate) fn counts_from_row(row: &impl OrderRow) -> Result<MailCounts, StoreError> {
    Ok(MailCounts {
        pending: row.int("pending")?.max(0) as u64,
        parked: row.int("parked")?.max(0) as u64,
    })
}

/// Reads the row of [`TOTALS_SQL`].
pub(crate) fn totals_from_row(row: &impl OrderRow) -> Result<OutboxTotals, StoreError> {
    Ok(OutboxTotals {
        due: row.int("due")?.max(0) as u64,
        oldest_due: row.maybe_time("oldest_due")?,
        parked: row.int("parked")?.max(0) as u64,
    })
}

/// Implements [`MailOutbox`] for a store with a `pool` field: `$id` turns a `Uuid` into what
/// the backend binds for an id column, `$lock` is the claim's row locking (see
/// [`claim_sql`]). The SQL and the row reading are shared; only the binding differs.
macro_rules! impl_mail_outbox {
    ($store:ty, $id:expr, $lock:expr) => {
        #[async_trait::async_trait]
        impl $crate::store::outbox::MailOutbox for $store {
            async fn claim_mail(
                &self,
                now: chrono::DateTime<chrono::Utc>,
                until: chrono::DateTime<chrono::Utc>,
                limit: u32,
            ) -> Result<Vec<$crate::domain::mail::Notification>, StoreError> {
                let rows = sqlx::query(sqlx::AssertSqlSafe(outbox::claim_sql($lock)))
                    .bind(now)
                    .bind(until)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                outbox::notifications_from_rows(&rows)
            }

            async fn record_mail(
                &self,
                id: Uuid,
                outcome: &$crate::domain::mail::MailOutcome,
            ) -> Result<(), StoreError> {
                let params = outbox::RecordParams::of(outcome);
                sqlx::query(outbox::RECORD_SQL)
                    .bind(($id)(id))
                    .bind(params.state)
                    .bind(params.error)
                    .bind(params.next)
                    .bind(params.sent)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn notification(
                &self,
                id: Uuid,
            ) -> Result<Option<$crate::domain::mail::Notification>, StoreError> {
                let row = sqlx::query(sqlx::AssertSqlSafe(outbox::get_sql()))
                    .bind(($id)(id))
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(outbox::notification_from_row).transpose()
            }

            async fn list_notifications(
                &self,
                event_id: Uuid,
                state: Option<$crate::domain::mail::MailState>,
                after: Option<Uuid>,
                limit: u32,
            ) -> Result<Vec<$crate::domain::mail::Notification>, StoreError> {
                let rows = sqlx::query(sqlx::AssertSqlSafe(outbox::list_sql(state)))
                    .bind(($id)(event_id))
                    .bind(($id)(after.unwrap_or(Uuid::nil())))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                outbox::notifications_from_rows(&rows)
            }

            async fn retry_notification(
                &self,
                id: Uuid,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<Option<$crate::domain::mail::Notification>, StoreError> {
                let row = sqlx::query(sqlx::AssertSqlSafe(outbox::retry_sql()))
                    .bind(($id)(id))
                    .bind(now)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(outbox::notification_from_row).transpose()
            }

            async fn resend(
                &self,
                order_id: Uuid,
                id: Uuid,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<Option<$crate::domain::mail::Notification>, StoreError> {
                let row = sqlx::query(sqlx::AssertSqlSafe(outbox::enqueue_sql()))
                    .bind(($id)(order_id))
                    .bind(($id)(id))
                    .bind(now)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(outbox::notification_from_row).transpose()
            }

            async fn mail_counts(&self, event_id: Uuid) -> Result<outbox::MailCounts, StoreError> {
                let row = sqlx::query(outbox::COUNTS_SQL)
                    .bind(($id)(event_id))
                    .fetch_one(&self.pool)
                    .await?;
                outbox::counts_from_row(&row)
            }

            async fn outbox_totals(
                &self,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<outbox::OutboxTotals, StoreError> {
                let row = sqlx::query(outbox::TOTALS_SQL)
                    .bind(now)
                    .fetch_one(&self.pool)
                    .await?;
                outbox::totals_from_row(&row)
            }
        }
    };
}
pub(crate) use impl_mail_outbox;
