//! What the server keeps about its modem across restarts: the SIM PIN its SIM refused.

use domain::Timestamp;

use crate::{Db, Result};

impl Db {
    /// The hash of the PIN the SIM refused, if it refused one since it last took one.
    pub async fn refused_pin_hash(&self) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT pin_hash FROM sim_pin_refused WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?)
    }

    /// The SIM refused the PIN with this hash: it is not entered again while it is the configured one.
    pub async fn record_pin_refused(&self, pin_hash: &str, now: Timestamp) -> Result<()> {
        sqlx::query(
            "INSERT INTO sim_pin_refused (id, pin_hash, refused_at) VALUES (1, $1, $2)
             ON CONFLICT (id) DO UPDATE SET pin_hash = excluded.pin_hash, refused_at = excluded.refused_at",
        )
        .bind(pin_hash)
        .bind(now.millis())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// The SIM is unlocked: no refused PIN to remember.
    pub async fn clear_pin_refused(&self) -> Result<()> {
        sqlx::query("DELETE FROM sim_pin_refused").execute(&self.writer).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::fresh;

    #[tokio::test]
    async fn a_refused_pin_is_remembered_until_cleared() {
        let (db, _dir) = fresh().await;
        assert_eq!(db.refused_pin_hash().await.unwrap(), None);
        db.record_pin_refused("$argon2id$first", Timestamp(1)).await.unwrap();
        db.record_pin_refused("$argon2id$second", Timestamp(2)).await.unwrap();
        assert_eq!(db.refused_pin_hash().await.unwrap().as_deref(), Some("$argon2id$second"));
        db.clear_pin_refused().await.unwrap();
        assert_eq!(db.refused_pin_hash().await.unwrap(), None);
    }
}
