//! Several instances on one PostgreSQL database: what another instance commits reaches this one's event
//! streams and modem task. Triggers (migration 0013) `NOTIFY` at commit — the journal's version, an ended
//! session's hash, the gérances whose alerts changed, a message queued, the lease's beat — and [`Db::follow_others`]
//! listens and hands each to the same channels this process's own writes use. Notifications are not
//! kept while nobody listens, so after every (re)connection the listener tells its receivers to read the
//! database again: the journal's current version (the feed reads what is newer than what it has), every
//! session to be checked, every gérance's alerts to be counted.

use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use tokio::task::JoinHandle;

use crate::sessions::SessionEnded;
use crate::{Db, DbError, Result};

/// The channels listened to.
const JOURNAL: &str = "recharge_journal";
const SESSIONS: &str = "recharge_sessions";
const ALERTS: &str = "recharge_alerts";
const LEASE: &str = "recharge_lease";
const OUTBOX: &str = "recharge_outbox";

/// The lease's holder renews every second, and each renewal is told: hearing nothing for this long, the
/// connection is taken for dead (a network that drops packets says nothing) and made again.
const SILENCE: Duration = Duration::from_secs(15);
/// Between two attempts to connect again.
const RETRY: Duration = Duration::from_secs(1);

/// The listener's own connection to the server (one, made when first needed).
#[derive(Clone)]
pub(crate) struct ListenPool(PgPool);

impl ListenPool {
    pub(crate) fn new(url: &str) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .max_lifetime(None)
            .idle_timeout(None)
            .acquire_timeout(Duration::from_secs(10))
            .connect_lazy(url)
            .map_err(|e| DbError::Unusable(format!("invalid database URL: {e}")))?;
        Ok(Self(pool))
    }
}

impl std::fmt::Debug for ListenPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the URL's password.
        f.write_str("ListenPool")
    }
}

impl Db {
    /// On PostgreSQL, starts listening for other instances' changes (nothing to do on SQLite, where one
    /// process serves a file). Runs until aborted.
    pub fn follow_others(&self) -> Option<JoinHandle<()>> {
        let pool = self.listen.clone()?.0;
        let db = self.clone();
        Some(tokio::spawn(async move {
            loop {
                let mut listener = match listen(&pool).await {
                    Ok(listener) => listener,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot listen for other instances' changes; trying again");
                        tokio::time::sleep(RETRY).await;
                        continue;
                    }
                };
                db.read_again().await;
                loop {
                    match tokio::time::timeout(SILENCE, listener.try_recv()).await {
                        Ok(Ok(Some(n))) => db.forward(n.channel(), n.payload()).await,
                        // Connected again by the listener itself: what came meanwhile is lost.
                        Ok(Ok(None)) => {
                            tracing::info!("listening again for other instances' changes");
                            db.read_again().await;
                        }
                        Ok(Err(e)) => {
                            tracing::warn!(error = %e, "lost the connection that listens for other instances");
                            break;
                        }
                        Err(_) => {
                            tracing::warn!("no word from the database for {SILENCE:?}: listening anew");
                            break;
                        }
                    }
                }
                drop(listener);
                tokio::time::sleep(RETRY).await;
            }
        }))
    }

    /// Hands a notification to the receivers this process's own writes tell.
    async fn forward(&self, channel: &str, payload: &str) {
        match channel {
            JOURNAL => {
                if let Ok(version) = payload.parse() {
                    self.tell_changed(Some(version));
                }
            }
            SESSIONS => {
                if let Some(hash) = from_hex(payload) {
                    self.tell_ended(SessionEnded::Session(hash));
                }
            }
            OUTBOX => {
                let _ = self.queued.send(());
            }
            ALERTS if payload == "*" => self.tell_every_alert().await,
            ALERTS => {
                let gerances = payload
                    .split(',')
                    .filter_map(|g| match g {
                        "-" => Some(None),
                        g => g.parse().ok().map(|g| Some(domain::GeranceId(g))),
                    })
                    .collect();
                let _ = self.alert_changes.send(gerances);
            }
            _ => {}
        }
    }

    /// After a (re)connection: whatever was told meanwhile is read from the database instead.
    async fn read_again(&self) {
        match self.journal_version().await {
            // Sent even when told already: what came between may not have been.
            Ok(version) => {
                let _ = self.versions.send(version);
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the journal's version"),
        }
        self.tell_ended(SessionEnded::Missed);
        self.tell_every_alert().await;
        let _ = self.queued.send(());
    }

    /// Messages queued for the modem by other instances (on PostgreSQL): the modem task looks now.
    pub fn queued_elsewhere(&self) -> tokio::sync::broadcast::Receiver<()> {
        self.queued.subscribe()
    }

    async fn tell_every_alert(&self) {
        match sqlx::query_scalar::<_, i64>("SELECT id FROM gerances").fetch_all(&self.pool).await {
            Ok(ids) => {
                let mut all: Vec<_> = ids.into_iter().map(|g| Some(domain::GeranceId(g))).collect();
                all.push(None);
                let _ = self.alert_changes.send(all);
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the gérances"),
        }
    }
}

async fn listen(pool: &PgPool) -> Result<PgListener> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen_all([JOURNAL, SESSIONS, ALERTS, LEASE, OUTBOX]).await?;
    Ok(listener)
}

/// The bytes of PostgreSQL's `encode(…, 'hex')`.
fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ended_sessions_hash_is_read_back_from_its_hex_form() {
        assert_eq!(from_hex("00ff10"), Some(vec![0, 255, 16]));
        assert_eq!(from_hex("0"), None);
        assert_eq!(from_hex("zz"), None);
        assert_eq!(from_hex("é0"), None);
    }
}
