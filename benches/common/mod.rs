//! What both benches share: a scratch Postgres database, and reporting repeated runs.

use sqlx::{Connection, Executor, PgConnection};
use uuid::Uuid;

/// A database of its own (`fg_bench_<uuid>`) on the server at an admin URL; `remove` drops it.
pub struct ScratchDb {
    admin: PgConnection,
    /// The database's name, unique to this run.
    pub name: String,
    /// Its URL: the admin URL with the database name swapped.
    pub url: String,
}

impl ScratchDb {
    pub async fn create(admin_url: &str) -> ScratchDb {
        let name = format!("fg_bench_{}", Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(admin_url).await.expect("connecting");
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .expect("creating the bench database");
        let base = admin_url
            .rsplit_once('/')
            .map(|(b, _)| b)
            .unwrap_or(admin_url);
        let url = format!("{base}/{name}");
        ScratchDb { admin, name, url }
    }

    /// Drops the database, ending any connection still on it (best effort).
    pub async fn remove(mut self) {
        self.admin
            .execute(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE {} WITH (FORCE)",
                self.name
            )))
            .await
            .ok();
    }
}

/// The median of repeated runs (sorts them in place).
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Runs as a list for the report: "1200, 1350, 1280".
pub fn runs(values: &[f64]) -> String {
    values
        .iter()
        .map(|v| format!("{v:.0}"))
        .collect::<Vec<_>>()
        .join(", ")
}
