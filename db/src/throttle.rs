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

const UPSERT: &str = "INSERT INTO login_throttle (subject, failures, first_failure_at, last_failure_at)
     VALUES ($1, $2, $3, $4)
     ON CONFLICT (subject) DO UPDATE SET failures = excluded.failures,
         first_failure_at = excluded.first_failure_at, last_failure_at = excluded.last_failure_at";

fn read_record(r: &sqlx::any::AnyRow) -> Result<ThrottleRecord> {
    Ok(ThrottleRecord {
        failures: u32::try_from(r.try_get::<i64, _>("failures")?).unwrap_or(u32::MAX),
        first_failure_at: Timestamp(r.try_get("first_failure_at")?),
        last_failure_at: Timestamp(r.try_get("last_failure_at")?),
    })
}

impl Db {
    pub async fn throttle(&self, subject: &str) -> Result<Option<ThrottleRecord>> {
        let row = sqlx::query(
            "SELECT failures, first_failure_at, last_failure_at FROM login_throttle WHERE subject = $1",
        )
        .bind(subject)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| read_record(&r)).transpose()
    }

    /// Reads the records of `subjects` and writes what `decide` makes of them (`Some`: kept, `None`:
    /// cleared), in one write transaction: attempts made at once, through any instance, are counted one
    /// after another, each seeing the others' counts — the database decides, not a lock of one process.
    /// `decide` may refuse instead (`Err`): nothing is written, and its refusal is returned.
    pub async fn throttle_attempt<const N: usize, W>(
        &self,
        subjects: [&str; N],
        decide: impl FnOnce([Option<ThrottleRecord>; N]) -> std::result::Result<[Option<ThrottleRecord>; N], W>,
    ) -> Result<std::result::Result<(), W>> {
        let mut tx = self.write_txn().await?;
        let mut records = [None; N];
        for (record, subject) in records.iter_mut().zip(subjects) {
            let row = sqlx::query(
                "SELECT failures, first_failure_at, last_failure_at FROM login_throttle WHERE subject = $1",
            )
            .bind(subject)
            .fetch_optional(&mut *tx)
            .await?;
            *record = row.map(|r| read_record(&r)).transpose()?;
        }
        let decided = match decide(records) {
            Ok(decided) => decided,
            Err(refused) => return Ok(Err(refused)),
        };
        for (record, subject) in decided.into_iter().zip(subjects) {
            match record {
                Some(record) => {
                    sqlx::query(UPSERT)
                        .bind(subject)
                        .bind(i64::from(record.failures))
                        .bind(record.first_failure_at.millis())
                        .bind(record.last_failure_at.millis())
                        .execute(&mut *tx)
                        .await?;
                }
                None => {
                    sqlx::query("DELETE FROM login_throttle WHERE subject = $1")
                        .bind(subject)
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(Ok(()))
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
    async fn records_are_upserted_cleared_and_swept() {
        let (db, _dir) = fresh().await;
        assert_eq!(db.throttle("email:a@b.ch").await.unwrap(), None);
        let r = ThrottleRecord { failures: 1, first_failure_at: Timestamp(5), last_failure_at: Timestamp(5) };
        db.throttle_attempt(["email:a@b.ch"], |_| Ok::<_, ()>([Some(r)])).await.unwrap().unwrap();
        let r2 = ThrottleRecord { failures: 2, last_failure_at: Timestamp(9), ..r };
        db.throttle_attempt(["email:a@b.ch"], |[old]| {
            assert_eq!(old, Some(r), "the record as last written");
            Ok::<_, ()>([Some(r2)])
        })
        .await
        .unwrap()
        .unwrap();
        assert_eq!(db.throttle("email:a@b.ch").await.unwrap(), Some(r2));
        assert_eq!(db.sweep_throttle(Timestamp(9)).await.unwrap(), 0, "not older than the cut");
        assert_eq!(db.sweep_throttle(Timestamp(10)).await.unwrap(), 1);
        assert_eq!(db.throttle("email:a@b.ch").await.unwrap(), None);
    }

    #[tokio::test]
    async fn attempts_at_once_are_each_counted_and_a_refusal_writes_nothing() {
        let (db, _dir) = fresh().await;
        let count = |records: [Option<ThrottleRecord>; 2]| {
            Ok::<_, ()>(records.map(|r| {
                Some(ThrottleRecord {
                    failures: r.map_or(0, |r| r.failures) + 1,
                    first_failure_at: Timestamp(1),
                    last_failure_at: Timestamp(2),
                })
            }))
        };
        let mut attempts = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let db = db.clone();
            attempts
                .spawn(async move { db.throttle_attempt(["email:a@b.ch", "client:10.0.0.1"], count).await });
        }
        while let Some(done) = attempts.join_next().await {
            done.unwrap().unwrap().unwrap();
        }
        assert_eq!(db.throttle("email:a@b.ch").await.unwrap().unwrap().failures, 20, "none lost");
        assert_eq!(db.throttle("client:10.0.0.1").await.unwrap().unwrap().failures, 20);
        // Refused: nothing changes. Cleared and kept in one go.
        assert_eq!(db.throttle_attempt(["email:a@b.ch"], |_| Err("wait")).await.unwrap(), Err("wait"));
        assert_eq!(db.throttle("email:a@b.ch").await.unwrap().unwrap().failures, 20);
        db.throttle_attempt(["email:a@b.ch", "client:10.0.0.1"], |[_, c]| {
            Ok::<_, ()>([None, c.map(|c| ThrottleRecord { failures: c.failures - 1, ..c })])
        })
        .await
        .unwrap()
        .unwrap();
        assert_eq!(db.throttle("email:a@b.ch").await.unwrap(), None);
        assert_eq!(db.throttle("client:10.0.0.1").await.unwrap().unwrap().failures, 19);
    }
}
