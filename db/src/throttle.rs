//! Counters of failed logins, per subject; the policy that reads them lives in the server.

use domain::Timestamp;
use sqlx::Row;

use crate::{Db, Result};

/// Failed logins of one subject since `first_failure_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleRecord {
    pub failures: u32,
    pub first_failure_at: Timestamp,
    pub last_failure_at: Timestamp,
}

impl Db {
    pub async fn throttle(&self, subject: &str) -> Result<Option<ThrottleRecord>> {
        let row = sqlx::query(
            "SELECT failures, first_failure_at, last_failure_at FROM login_throttle WHERE subject = $1",
        )
        .bind(subject)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(ThrottleRecord {
                failures: u32::try_from(r.try_get::<i64, _>("failures")?).unwrap_or(u32::MAX),
                first_failure_at: Timestamp(r.try_get("first_failure_at")?),
                last_failure_at: Timestamp(r.try_get("last_failure_at")?),
            })
        })
        .transpose()
    }

    pub async fn put_throttle(&self, subject: &str, record: ThrottleRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO login_throttle (subject, failures, first_failure_at, last_failure_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (subject) DO UPDATE SET failures = excluded.failures,
                 first_failure_at = excluded.first_failure_at, last_failure_at = excluded.last_failure_at",
        )
        .bind(subject)
        .bind(i64::from(record.failures))
        .bind(record.first_failure_at.millis())
        .bind(record.last_failure_at.millis())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    pub async fn clear_throttle(&self, subject: &str) -> Result<()> {
        sqlx::query("DELETE FROM login_throttle WHERE subject = $1")
            .bind(subject)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Forgets failures older than `before`, so the table does not grow with every address ever seen.
    pub async fn sweep_throttle(&self, before: Timestamp) -> Result<u64> {
        let done = sqlx::query("DELETE FROM login_throttle WHERE last_failure_at < $1")
            .bind(before.millis())
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::fresh;

    #[tokio::test]
    async fn records_are_upserted_and_cleared() {
        let (db, _dir) = fresh().await;
        assert_eq!(db.throttle("email:a@b.ch").await.unwrap(), None);
        let r = ThrottleRecord { failures: 1, first_failure_at: Timestamp(5), last_failure_at: Timestamp(5) };
        db.put_throttle("email:a@b.ch", r).await.unwrap();
        let r2 = ThrottleRecord { failures: 2, last_failure_at: Timestamp(9), ..r };
        db.put_throttle("email:a@b.ch", r2).await.unwrap();
        assert_eq!(db.throttle("email:a@b.ch").await.unwrap(), Some(r2));
        assert_eq!(db.sweep_throttle(Timestamp(9)).await.unwrap(), 0);
        db.clear_throttle("email:a@b.ch").await.unwrap();
        assert_eq!(db.throttle("email:a@b.ch").await.unwrap(), None);
    }
}
