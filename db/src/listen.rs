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

/// The listener's own connection to the server (one, made when first needed), and the application name
/// this handle's connections give the server, by which its own changes are known.
#[derive(Clone)]
pub(crate) struct ListenPool {
    pool: PgPool,
    me: String,
}

/// A name for the connections of one handle on a PostgreSQL database, unique among the instances that
/// share it: the triggers' notifications carry it (`current_setting('application_name')`), and
/// `pg_stat_activity` shows it.
pub(crate) fn application_name() -> String {
    format!("recharge-{:016x}", rand::random::<u64>())
}

/// `url` with `application_name` set to `name` (after any the URL gave: the last one counts).
pub(crate) fn with_application_name(url: &str, name: &str) -> String {
    let (url, fragment) = url.split_once('#').map_or((url, None), |(u, f)| (u, Some(f)));
    let joined = if url.contains('?') {
        format!("{url}&application_name={name}")
    } else {
        format!("{url}?application_name={name}")
    };
    match fragment {
        Some(f) => format!("{joined}#{f}"),
        None => joined,
    }
}

impl ListenPool {
    pub(crate) fn new(url: &str, me: String) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .max_lifetime(None)
            .idle_timeout(None)
            .acquire_timeout(Duration::from_secs(10))
            .connect_lazy(url)
            .map_err(|e| DbError::Unusable(format!("invalid database URL: {e}")))?;
        Ok(Self { pool, me })
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
        let pool = self.listen.clone()?.pool;
        let db = self.clone();
        Some(tokio::spawn(async move {
            let mut reconnected = false;
            loop {
                let mut listener = match listen(&pool).await {
                    Ok(listener) => listener,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot listen for other instances' changes; trying again");
                        tokio::time::sleep(RETRY).await;
                        continue;
                    }
                };
                db.read_again(reconnected).await;
                reconnected = true;
                loop {
                    match tokio::time::timeout(SILENCE, listener.try_recv()).await {
                        Ok(Ok(Some(n))) => db.forward(n.channel(), n.payload()).await,
                        // Connected again by the listener itself: what came meanwhile is lost.
                        Ok(Ok(None)) => {
                            tracing::info!("listening again for other instances' changes");
                            db.read_again(true).await;
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
                let (version, by) = payload.split_once(' ').unwrap_or((payload, ""));
                if let Ok(version) = version.parse() {
                    self.tell_changed(Some(version));
                }
                // Another instance's change: the modem task, if it runs here, may have work.
                if !self.is_mine(by) {
                    let _ = self.elsewhere.send(());
                }
            }
            SESSIONS => {
                if let Some(hash) = from_hex(payload) {
                    self.tell_ended(SessionEnded::Session(hash));
                }
            }
            OUTBOX if !self.is_mine(payload) => {
                let _ = self.elsewhere.send(());
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

    /// Whether a change was made by this handle's connections (their application name).
    fn is_mine(&self, by: &str) -> bool {
        self.listen.as_ref().is_some_and(|l| l.me == by)
    }

    /// After a (re)connection: whatever was told meanwhile is read from the database instead. After a
    /// reconnection the modem task looks too (at the first connection it has just started and looked).
    async fn read_again(&self, reconnected: bool) {
        match self.journal_version().await {
            // Sent even when told already: what came between may not have been.
            Ok(version) => {
                let _ = self.versions.send(version);
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the journal's version"),
        }
        self.tell_ended(SessionEnded::Missed);
        self.tell_every_alert().await;
        if reconnected {
            let _ = self.elsewhere.send(());
        }
    }

    /// Another instance changed the journal or queued a message for the modem (on PostgreSQL): the
    /// modem task, if it runs here, looks now. (This process's own changes wake it where they are made.)
    pub fn changed_elsewhere(&self) -> tokio::sync::broadcast::Receiver<()> {
        self.elsewhere.subscribe()
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
    fn the_application_name_is_added_to_any_url() {
        assert_eq!(with_application_name("postgres://h/db", "r-1"), "postgres://h/db?application_name=r-1");
        assert_eq!(
            with_application_name("postgres://h/db?sslmode=require", "r-1"),
            "postgres://h/db?sslmode=require&application_name=r-1"
        );
    }

    #[test]
    fn an_ended_sessions_hash_is_read_back_from_its_hex_form() {
        assert_eq!(from_hex("00ff10"), Some(vec![0, 255, 16]));
        assert_eq!(from_hex("0"), None);
        assert_eq!(from_hex("zz"), None);
        assert_eq!(from_hex("é0"), None);
    }
}
