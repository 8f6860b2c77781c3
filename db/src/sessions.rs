//! Login sessions, stored by the hash of their token.

use domain::{Account, Timestamp, UserId};
use sqlx::Row;

use crate::accounts::account_from_row;
use crate::{Db, Result};

/// A session this process ended, as told to whoever holds something opened with it (an event stream):
/// sessions deleted otherwise (past their expiry, or by another process on the same database) are found
/// by asking [`Db::session`] again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionEnded {
    /// One session, by the hash of its token (logout, or found expired).
    Session(Vec<u8>),
    /// Every session of an account (password changed, account disabled).
    Account(UserId),
    /// Some may have ended unseen (told by another instance while this one was not listening): every
    /// stream checks its own in the database.
    Missed,
}

/// A session and the account it belongs to.
#[derive(Debug)]
pub struct SessionRecord {
    pub account: Account,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub expires_at: Timestamp,
}

impl Db {
    pub async fn create_session(
        &self,
        token_hash: &[u8],
        user_id: UserId,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, created_at, last_seen_at, expires_at)
             VALUES ($1, $2, $3, $3, $4)",
        )
        .bind(token_hash)
        .bind(user_id.get())
        .bind(now.millis())
        .bind(expires_at.millis())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    pub async fn session(&self, token_hash: &[u8]) -> Result<Option<SessionRecord>> {
        let row = sqlx::query(
            "SELECT u.id, u.email, u.role, u.locale, u.gerance_id, g.name AS gerance_name,
                    s.created_at AS s_created, s.last_seen_at, s.expires_at
             FROM sessions s
             JOIN users u ON u.id = s.user_id
             LEFT JOIN gerances g ON g.id = u.gerance_id
             WHERE s.token_hash = $1 AND u.disabled_at IS NULL",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(SessionRecord {
                account: account_from_row(&r)?,
                created_at: Timestamp(r.try_get("s_created")?),
                last_seen_at: Timestamp(r.try_get("last_seen_at")?),
                expires_at: Timestamp(r.try_get("expires_at")?),
            })
        })
        .transpose()
    }

    pub async fn touch_session(&self, token_hash: &[u8], now: Timestamp) -> Result<()> {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2")
            .bind(now.millis())
            .bind(token_hash)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    pub async fn delete_session(&self, token_hash: &[u8]) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.writer)
            .await?;
        self.tell_ended(SessionEnded::Session(token_hash.to_vec()));
        Ok(())
    }

    /// Sessions ended from now on by this process, once each is committed. A receiver that falls behind
    /// gets `Lagged` and should check its session in the database.
    pub fn ended_sessions(&self) -> tokio::sync::broadcast::Receiver<SessionEnded> {
        self.ended.subscribe()
    }

    pub(crate) fn tell_ended(&self, ended: SessionEnded) {
        // No receiver (no stream open) is not an error.
        let _ = self.ended.send(ended);
    }

    /// Deletes the sessions past their absolute expiry or idle since before `idle_cutoff`.
    pub async fn delete_expired_sessions(&self, now: Timestamp, idle_cutoff: Timestamp) -> Result<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $2")
            .bind(now.millis())
            .bind(idle_cutoff.millis())
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use domain::{Email, Role};

    use crate::NewUser;
    use crate::testing::fresh;

    use super::*;

    async fn operator(db: &Db) -> (Email, UserId) {
        let e = Email::parse("op@x.ch").unwrap();
        let new = NewUser { email: &e, password_hash: "h", role: Role::Operator, gerance_id: None };
        let id = db.create_user(new, Timestamp(0)).await.unwrap();
        (e, id)
    }

    #[tokio::test]
    async fn sessions_are_found_by_hash_and_end_with_a_password_change() {
        let (db, _dir) = fresh().await;
        let (e, id) = operator(&db).await;
        db.create_session(b"hash-1", id, Timestamp(10), Timestamp(1000)).await.unwrap();
        db.create_session(b"hash-2", id, Timestamp(10), Timestamp(1000)).await.unwrap();
        let s = db.session(b"hash-1").await.unwrap().unwrap();
        assert_eq!((s.account.email, s.last_seen_at, s.expires_at), (e, Timestamp(10), Timestamp(1000)));
        db.touch_session(b"hash-1", Timestamp(20)).await.unwrap();
        assert_eq!(db.session(b"hash-1").await.unwrap().unwrap().last_seen_at, Timestamp(20));
        db.set_password(id, "h2", Timestamp(30)).await.unwrap();
        assert!(db.session(b"hash-1").await.unwrap().is_none());
        assert!(db.session(b"hash-2").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn ending_sessions_is_told_once_committed() {
        let (db, _dir) = fresh().await;
        let (_, id) = operator(&db).await;
        let mut ended = db.ended_sessions();
        db.create_session(b"hash-1", id, Timestamp(10), Timestamp(1000)).await.unwrap();
        db.touch_session(b"hash-1", Timestamp(20)).await.unwrap();
        db.set_disabled(id, false, Timestamp(25)).await.unwrap();
        assert!(ended.try_recv().is_err(), "nothing ended yet");
        db.delete_session(b"hash-1").await.unwrap();
        assert_eq!(ended.try_recv().unwrap(), SessionEnded::Session(b"hash-1".to_vec()));
        db.set_password(id, "h2", Timestamp(30)).await.unwrap();
        assert_eq!(ended.try_recv().unwrap(), SessionEnded::Account(id));
        db.set_disabled(id, true, Timestamp(40)).await.unwrap();
        assert_eq!(ended.try_recv().unwrap(), SessionEnded::Account(id));
        // A change that failed ends nothing.
        assert!(db.set_password(UserId(id.get() + 1), "h3", Timestamp(50)).await.is_err());
        assert!(ended.try_recv().is_err());
    }

    #[tokio::test]
    async fn expired_and_idle_sessions_are_swept() {
        let (db, _dir) = fresh().await;
        let (_, id) = operator(&db).await;
        db.create_session(b"old", id, Timestamp(0), Timestamp(50)).await.unwrap();
        db.create_session(b"idle", id, Timestamp(10), Timestamp(1000)).await.unwrap();
        db.create_session(b"live", id, Timestamp(90), Timestamp(1000)).await.unwrap();
        assert_eq!(db.delete_expired_sessions(Timestamp(100), Timestamp(20)).await.unwrap(), 2);
        assert!(db.session(b"live").await.unwrap().is_some());
    }
}
