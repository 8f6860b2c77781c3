//! The demo across instances: the simulated stations run in the instance holding the modem lease, and
//! another instance asks it for what a person does at a station through `demo_actions` (migration 0014).
//! The asking instance queues an action and reads its outcome when the holder has written it; the holder
//! takes the waiting actions in order, each before doing it. An action not taken in time is withdrawn by
//! its asker, so it is never done after the person was told it could not be (a key presented minutes
//! after the person gave up would surprise); one taken is waited for.

use domain::{KeyNumber, StationId, Timestamp};
use sqlx::Row;

use crate::{Db, DbError, Result};

/// What a person does at a simulated station, asked of the instance that simulates them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemoAction {
    /// Presents a key at the station; the outcome is its display after.
    Present(StationId, KeyNumber),
    /// Powers the station on or off.
    Power(StationId, bool),
    /// Simulates the station anew as it is saved now (created or changed through another instance).
    Restart(StationId),
    /// Every simulated station's display, and the stations powered off.
    Screens,
}

impl DemoAction {
    fn columns(self) -> (Option<i64>, &'static str, Option<i64>) {
        match self {
            Self::Present(s, key) => (Some(s.get()), "present", Some(i64::from(key.0))),
            Self::Power(s, true) => (Some(s.get()), "power_on", None),
            Self::Power(s, false) => (Some(s.get()), "power_off", None),
            Self::Restart(s) => (Some(s.get()), "restart", None),
            Self::Screens => (None, "screens", None),
        }
    }

    fn from_columns(station: Option<i64>, action: &str, key: Option<i64>) -> Option<Self> {
        let station = station.map(StationId);
        Some(match (action, station) {
            ("present", Some(s)) => Self::Present(s, KeyNumber(u16::try_from(key?).ok()?)),
            ("power_on", Some(s)) => Self::Power(s, true),
            ("power_off", Some(s)) => Self::Power(s, false),
            ("restart", Some(s)) => Self::Restart(s),
            ("screens", None) => Self::Screens,
            _ => return None,
        })
    }
}

/// An action waiting for the instance that simulates the stations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingDemoAction {
    pub id: i64,
    /// `None` when the row cannot be read as an action (it is then answered with no outcome).
    pub action: Option<DemoAction>,
    pub created_at: Timestamp,
}

impl Db {
    /// Queues `action` for the instance that simulates the stations; its id, to read the outcome.
    pub async fn queue_demo_action(&self, action: DemoAction, now: Timestamp) -> Result<i64> {
        let (station, name, key) = action.columns();
        let mut tx = self.write_txn().await?;
        let id = sqlx::query_scalar(
            "INSERT INTO demo_actions (station_id, action, key_number, created_at) VALUES ($1, $2, $3, $4)
             RETURNING id",
        )
        .bind(station)
        .bind(name)
        .bind(key)
        .bind(now.millis())
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The outcome of action `id` once done (`Some(None)`: done without an outcome), `None` while it waits.
    pub async fn demo_action_outcome(&self, id: i64) -> Result<Option<Option<String>>> {
        let row = sqlx::query("SELECT done_at, outcome FROM demo_actions WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(DbError::NotFound)?;
        let done: Option<i64> = row.try_get("done_at")?;
        Ok(done.map(|_| row.try_get("outcome")).transpose()?)
    }

    /// Withdraws action `id` if nobody took it yet: true if it will never be done.
    pub async fn withdraw_demo_action(&self, id: i64) -> Result<bool> {
        let mut tx = self.write_txn().await?;
        let gone = sqlx::query("DELETE FROM demo_actions WHERE id = $1 AND taken_at IS NULL")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(gone.rows_affected() == 1)
    }

    /// The actions waiting, oldest first, at most `limit`.
    pub async fn waiting_demo_actions(&self, limit: i64) -> Result<Vec<WaitingDemoAction>> {
        let rows = sqlx::query(
            "SELECT id, station_id, action, key_number, created_at FROM demo_actions WHERE taken_at IS NULL
             ORDER BY id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let action: String = r.try_get("action")?;
                Ok(WaitingDemoAction {
                    id: r.try_get("id")?,
                    action: DemoAction::from_columns(
                        r.try_get("station_id")?,
                        &action,
                        r.try_get("key_number")?,
                    ),
                    created_at: Timestamp(r.try_get("created_at")?),
                })
            })
            .collect()
    }

    /// Takes action `id` to do it: false if its asker withdrew it (or it was taken) meanwhile. Once taken
    /// it is no longer withdrawn: its asker waits for the outcome.
    pub async fn take_demo_action(&self, id: i64, now: Timestamp) -> Result<bool> {
        let mut tx = self.write_txn().await?;
        let taken = sqlx::query("UPDATE demo_actions SET taken_at = $2 WHERE id = $1 AND taken_at IS NULL")
            .bind(id)
            .bind(now.millis())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(taken.rows_affected() == 1)
    }

    /// Writes the outcome of action `id`, taken before.
    pub async fn finish_demo_action(&self, id: i64, outcome: Option<&str>, now: Timestamp) -> Result<()> {
        let mut tx = self.write_txn().await?;
        sqlx::query("UPDATE demo_actions SET done_at = $2, outcome = $3 WHERE id = $1 AND done_at IS NULL")
            .bind(id)
            .bind(now.millis())
            .bind(outcome)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Forgets the actions done before `before` (their askers read them long ago), and those taken
    /// before it and never done (their taker stopped meanwhile).
    pub async fn sweep_demo_actions(&self, before: Timestamp) -> Result<u64> {
        let mut tx = self.write_txn().await?;
        let gone =
            sqlx::query("DELETE FROM demo_actions WHERE done_at < $1 OR (done_at IS NULL AND taken_at < $1)")
                .bind(before.millis())
                .execute(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(gone.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{fresh, gerance_with_station};

    #[tokio::test]
    async fn an_action_is_queued_taken_once_in_order_and_answered_and_a_withdrawn_one_is_never_taken() {
        let (db, _dir) = fresh().await;
        let (_, s) = gerance_with_station(&db, "G", "+41790000101").await;
        let present =
            db.queue_demo_action(DemoAction::Present(s, KeyNumber(65535)), Timestamp(10)).await.unwrap();
        let screens = db.queue_demo_action(DemoAction::Screens, Timestamp(11)).await.unwrap();
        let off = db.queue_demo_action(DemoAction::Power(s, false), Timestamp(12)).await.unwrap();
        assert_eq!(db.demo_action_outcome(present).await.unwrap(), None, "waiting");

        let waiting = db.waiting_demo_actions(10).await.unwrap();
        let actions: Vec<_> = waiting.iter().map(|w| (w.id, w.action, w.created_at)).collect();
        assert_eq!(
            actions,
            [
                (present, Some(DemoAction::Present(s, KeyNumber(65535))), Timestamp(10)),
                (screens, Some(DemoAction::Screens), Timestamp(11)),
                (off, Some(DemoAction::Power(s, false)), Timestamp(12)),
            ]
        );
        assert!(db.take_demo_action(present, Timestamp(19)).await.unwrap());
        assert!(!db.take_demo_action(present, Timestamp(19)).await.unwrap(), "taken once");
        assert!(!db.withdraw_demo_action(present).await.unwrap(), "taken: its asker waits for it");
        assert_eq!(db.demo_action_outcome(present).await.unwrap(), None, "taken, not done yet");
        db.finish_demo_action(present, Some("[\"a\"]"), Timestamp(20)).await.unwrap();
        assert_eq!(db.demo_action_outcome(present).await.unwrap(), Some(Some("[\"a\"]".into())));
        assert!(db.take_demo_action(screens, Timestamp(21)).await.unwrap());
        db.finish_demo_action(screens, None, Timestamp(22)).await.unwrap();
        assert_eq!(db.demo_action_outcome(screens).await.unwrap(), Some(None), "done without an outcome");

        // Given up by its asker before it was taken: never taken, so never done.
        assert!(db.withdraw_demo_action(off).await.unwrap());
        assert!(!db.take_demo_action(off, Timestamp(23)).await.unwrap());
        assert!(db.waiting_demo_actions(10).await.unwrap().is_empty());

        assert_eq!(db.sweep_demo_actions(Timestamp(22)).await.unwrap(), 1);
        assert_eq!(db.demo_action_outcome(screens).await.unwrap(), Some(None));
        assert!(matches!(db.demo_action_outcome(present).await, Err(DbError::NotFound)));
    }
}
