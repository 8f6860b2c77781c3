//! What the metrics read when scraped: a few aggregates, each from a small table or an index.

use domain::Timestamp;

use crate::{Db, Result};

/// The database's side of the service's health.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceGauges {
    /// Top-ups by status (`queued`, `sent`, …), from the journal's kept counts.
    pub topups: Vec<(String, i64)>,
    pub outbox_waiting: i64,
    pub outbox_oldest: Option<Timestamp>,
    pub stations: i64,
    /// Stations last heard from (or, never heard, registered) before the cutoff.
    pub stations_silent: i64,
}

impl Db {
    pub async fn service_gauges(&self, silent_before: Timestamp) -> Result<ServiceGauges> {
        let topups: Vec<(String, i64)> = sqlx::query_as(
            "SELECT status, CAST(SUM(n) AS BIGINT) FROM journal_counts GROUP BY status ORDER BY status",
        )
        .fetch_all(&self.pool)
        .await?;
        let (outbox_waiting, oldest): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), MIN(created_at) FROM sms_out WHERE sent_at IS NULL AND error IS NULL",
        )
        .fetch_one(&self.pool)
        .await?;
        let (stations, silent): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), CAST(SUM(CASE WHEN COALESCE(last_heard_at, created_at) < $1 THEN 1 ELSE 0 END) AS BIGINT)
             FROM stations",
        )
        .bind(silent_before.millis())
        .fetch_one(&self.pool)
        .await?;
        Ok(ServiceGauges {
            topups,
            outbox_waiting,
            outbox_oldest: oldest.map(Timestamp),
            stations,
            stations_silent: silent.unwrap_or(0),
        })
    }

    /// Each connection pool's size and idle connections: (`read`, size, idle), (`write`, size, idle) on
    /// SQLite; (`shared`, size, idle) on PostgreSQL, where reads and writes share one pool.
    pub fn pool_use(&self) -> Vec<(&'static str, u32, u32)> {
        let idle = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        match self.backend {
            crate::Backend::Sqlite => vec![
                ("read", self.pool.size(), idle(self.pool.num_idle())),
                ("write", self.writer.size(), idle(self.writer.num_idle())),
            ],
            crate::Backend::Postgres => vec![("shared", self.pool.size(), idle(self.pool.num_idle()))],
        }
    }
}
