//! The modem lease: which instance drives the modem (or the demo's network) when several serve one
//! database. One row (`modem_lease`, migration 0013); the decisions — when to take it, how long a holder
//! may act on it — are the server's (`server::lease`), these are only its reads and compare-and-set
//! writes.

use domain::Timestamp;

use crate::{Db, Result};

/// An instance as the lease names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// As people read it: host and process id.
    pub name: String,
    /// Where it runs (boot id, PID namespace, PID), to tell that a holder on this machine died.
    pub place: String,
}

/// The lease as it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// `None` when let go.
    pub holder: Option<Instance>,
    /// Counts takeovers: a holder acts only in the epoch it took.
    pub epoch: i64,
    /// Counts renewals within the epoch: it moves while the holder lives.
    pub beat: i64,
    pub renewed_at: Timestamp,
    /// The modem's facts as the holder last wrote them (JSON).
    pub facts: Option<String>,
}

impl Db {
    /// The lease as it stands.
    pub async fn modem_lease(&self) -> Result<Lease> {
        let (holder, place, epoch, beat, renewed_at, facts): (
            Option<String>,
            Option<String>,
            i64,
            i64,
            i64,
            Option<String>,
        ) = sqlx::query_as(
            "SELECT holder, holder_at, epoch, beat, renewed_at, facts FROM modem_lease WHERE id = 1",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(Lease {
            holder: holder.map(|name| Instance { name, place: place.unwrap_or_default() }),
            epoch,
            beat,
            renewed_at: Timestamp(renewed_at),
            facts,
        })
    }

    /// Takes the lease for `me` if it still stands as `seen` (the same epoch and beat): the new epoch, or
    /// `None` when it moved meanwhile (its holder renewed it, or another instance took it first). A write
    /// transaction, so it is ordered with every other write of every instance.
    pub async fn take_modem_lease(&self, me: &Instance, seen: &Lease, now: Timestamp) -> Result<Option<i64>> {
        let mut tx = self.write_txn().await?;
        let taken = sqlx::query(
            "UPDATE modem_lease SET holder = $1, holder_at = $2, epoch = epoch + 1, beat = 0, \
             renewed_at = $3, facts = NULL WHERE id = 1 AND epoch = $4 AND beat = $5",
        )
        .bind(&me.name)
        .bind(&me.place)
        .bind(now.millis())
        .bind(seen.epoch)
        .bind(seen.beat)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok((taken == 1).then_some(seen.epoch + 1))
    }

    /// Renews `me`'s lease of `epoch`, with the modem's facts: `false` when it is no longer `me`'s (taken
    /// over, or let go). One statement, outside the write queue: a long write elsewhere does not hold a
    /// renewal back on PostgreSQL.
    pub async fn renew_modem_lease(
        &self,
        me: &Instance,
        epoch: i64,
        facts: Option<&str>,
        now: Timestamp,
    ) -> Result<bool> {
        let renewed = sqlx::query(
            "UPDATE modem_lease SET beat = beat + 1, renewed_at = $1, facts = $2 \
             WHERE id = 1 AND epoch = $3 AND holder = $4 AND holder_at = $5",
        )
        .bind(now.millis())
        .bind(facts)
        .bind(epoch)
        .bind(&me.name)
        .bind(&me.place)
        .execute(&self.writer)
        .await?
        .rows_affected();
        Ok(renewed == 1)
    }

    /// Lets go of `me`'s lease of `epoch` (a clean stop): another instance takes it at once.
    pub async fn release_modem_lease(&self, me: &Instance, epoch: i64, now: Timestamp) -> Result<()> {
        sqlx::query(
            "UPDATE modem_lease SET holder = NULL, holder_at = NULL, beat = beat + 1, renewed_at = $1 \
             WHERE id = 1 AND epoch = $2 AND holder = $3 AND holder_at = $4",
        )
        .bind(now.millis())
        .bind(epoch)
        .bind(&me.name)
        .bind(&me.place)
        .execute(&self.writer)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::fresh;

    fn instance(n: u32) -> Instance {
        Instance { name: format!("host-{n}"), place: format!("boot/ns/{n}") }
    }

    #[tokio::test]
    async fn a_lease_is_taken_only_as_seen_and_renewed_only_by_its_holder_in_its_epoch() {
        let (db, _dir) = fresh().await;
        let (a, b) = (instance(1), instance(2));
        let free = db.modem_lease().await.unwrap();
        assert_eq!(free.holder, None, "nobody holds it in a new database");

        let epoch = db.take_modem_lease(&a, &free, Timestamp(10)).await.unwrap().expect("taken");
        // B saw the same free lease, but it moved: B does not get it.
        assert_eq!(db.take_modem_lease(&b, &free, Timestamp(11)).await.unwrap(), None);
        let held = db.modem_lease().await.unwrap();
        assert_eq!(held.holder, Some(a.clone()));
        assert_eq!(held.epoch, epoch);

        assert!(db.renew_modem_lease(&a, epoch, Some("{\"connected\":true}"), Timestamp(20)).await.unwrap());
        assert!(!db.renew_modem_lease(&b, epoch, None, Timestamp(20)).await.unwrap(), "not B's");
        let renewed = db.modem_lease().await.unwrap();
        assert_eq!(renewed.beat, held.beat + 1);
        assert_eq!(renewed.facts.as_deref(), Some("{\"connected\":true}"));
        // B saw the earlier beat: its takeover fails; on what it sees now, it succeeds.
        assert_eq!(db.take_modem_lease(&b, &held, Timestamp(30)).await.unwrap(), None);
        let epoch_b = db.take_modem_lease(&b, &renewed, Timestamp(31)).await.unwrap().expect("taken over");
        assert_eq!(epoch_b, epoch + 1);
        // A comes back: its renewal and its release change nothing.
        assert!(!db.renew_modem_lease(&a, epoch, None, Timestamp(40)).await.unwrap());
        db.release_modem_lease(&a, epoch, Timestamp(41)).await.unwrap();
        let after = db.modem_lease().await.unwrap();
        assert_eq!((after.holder, after.epoch, after.facts), (Some(b.clone()), epoch_b, None));

        db.release_modem_lease(&b, epoch_b, Timestamp(50)).await.unwrap();
        assert_eq!(db.modem_lease().await.unwrap().holder, None, "let go");
    }
}
