//! Several instances on one PostgreSQL database: what another instance commits reaches this one's event
//! streams and modem task. Triggers (migration 0013) `NOTIFY` at commit — the journal's version, an ended
//! session's hash, the gérances whose alerts changed, a message queued, the lease's beat — and [`Db::follow_others`]
//! listens and hands each to the same channels this process's own writes use. Notifications are not
//! kept while nobody listens, so after every (re)connection the listener tells its receivers to read the
//! database again: the journal's current version (the feed reads what is newer than what it has), every
//! session to be checked, the alerts of the gérances whose alerts are not as last read to be counted.

use std::collections::HashMap;
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
            let mut seen = AlertsSeen::default();
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
                if reconnected {
                    tracing::info!("listening again for other instances' changes");
                }
                db.read_again(reconnected, &mut seen).await;
                reconnected = true;
                loop {
                    match tokio::time::timeout(SILENCE, listener.try_recv()).await {
                        Ok(Ok(Some(n))) => db.forward(n.channel(), n.payload(), &mut seen).await,
                        // The connection is gone (the listener would make it again on the next call, but
                        // the database is read again only once listening again: a new one here).
                        Ok(Ok(None)) => {
                            tracing::warn!("lost the connection that listens for other instances");
                            break;
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
    async fn forward(&self, channel: &str, payload: &str, seen: &mut AlertsSeen) {
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
            ALERTS if payload == "*" => {
                seen.0.clear();
                self.tell_every_alert().await;
            }
            ALERTS => {
                let gerances: Vec<_> = payload
                    .split(',')
                    .filter_map(|g| match g {
                        "-" => Some(None),
                        g => g.parse().ok().map(|g| Some(domain::GeranceId(g))),
                    })
                    .collect();
                for g in &gerances {
                    seen.0.remove(g);
                }
                let _ = self.alert_changes.send(gerances);
            }
            _ => {}
        }
    }

    /// Whether a change was made by this handle's connections (their application name).
    fn is_mine(&self, by: &str) -> bool {
        self.listen.as_ref().is_some_and(|l| l.me == by)
    }

    /// After a (re)connection: whatever was told meanwhile is read from the database instead — the
    /// journal's version, every session to be checked (each stream checks its own within a few seconds),
    /// the alerts of the gérances whose alerts differ from when they were last read. After a
    /// reconnection the modem task looks too (at the first connection it has just started and looked).
    async fn read_again(&self, reconnected: bool, seen: &mut AlertsSeen) {
        match self.journal_version().await {
            // Sent even when told already: what came between may not have been.
            Ok(version) => {
                let _ = self.versions.send(version);
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the journal's version"),
        }
        self.tell_ended(SessionEnded::Missed);
        match self.alerts_digests().await {
            Ok(now) => {
                let changed = seen.changed(now);
                if !changed.is_empty() {
                    let _ = self.alert_changes.send(changed);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the alerts; every page counts its own again");
                seen.0.clear();
                self.tell_every_alert().await;
            }
        }
        if reconnected {
            let _ = self.elsewhere.send(());
        }
    }

    /// Each gérance's alerts (`None`: the server's own) as a digest of every field a page shows.
    async fn alerts_digests(&self) -> Result<HashMap<Option<domain::GeranceId>, String>> {
        let rows: Vec<(Option<i64>, String)> = sqlx::query_as(
            "SELECT gerance_id, md5(string_agg(concat_ws('|', id, detail, cleared_at, acknowledged_by,
                    acknowledged_at, mail_problem), E'\\n' ORDER BY id))
             FROM alerts GROUP BY gerance_id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(g, digest)| (g.map(domain::GeranceId), digest)).collect())
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

/// The gérances' alerts as last read (by digest), less those told changed since: after a reconnection,
/// only the gérances whose alerts are not known to be as they were are told — not every page of every
/// gérance at once.
#[derive(Default)]
struct AlertsSeen(HashMap<Option<domain::GeranceId>, String>);

impl AlertsSeen {
    /// The gérances whose digest is not the one kept (or that had alerts and have none), keeping `now`.
    fn changed(&mut self, now: HashMap<Option<domain::GeranceId>, String>) -> Vec<Option<domain::GeranceId>> {
        let mut changed: Vec<_> =
            now.iter().filter(|(g, digest)| self.0.get(*g) != Some(*digest)).map(|(g, _)| *g).collect();
        changed.extend(self.0.keys().filter(|g| !now.contains_key(*g)));
        changed.sort_unstable();
        self.0 = now;
        changed
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
    use std::time::Duration;

    use domain::{GeranceId, KeyNumber, Timestamp};

    use super::*;
    use crate::testing::{gerance_with_station, low_credit, rappen, user};
    use crate::{NewTopUp, Scope};

    /// Every message of `rx` that comes within `within` of the last.
    async fn gather<T: Clone>(rx: &mut tokio::sync::broadcast::Receiver<T>, within: Duration) -> Vec<T> {
        let mut got = Vec::new();
        while let Ok(Ok(v)) = tokio::time::timeout(within, rx.recv()).await {
            got.push(v);
        }
        got
    }

    #[tokio::test]
    async fn what_another_instance_did_while_the_listening_connection_was_cut_is_read_again() {
        if crate::test_support::postgres_server().is_none() {
            // Instances tell each other through PostgreSQL's notifications; a SQLite file is one
            // machine's, served by one instance.
            return;
        }
        let (here, _dir, url, options) = crate::testing::fresh_at().await;
        let elsewhere = Db::open_with(&url, &options).await.unwrap();
        let (a, sa) = gerance_with_station(&elsewhere, "Gérance A", "+41790000101").await;
        let (b, sb) = gerance_with_station(&elsewhere, "Gérance B", "+41790000102").await;
        elsewhere
            .sync_alerts(&[low_credit(a, sa, 300), low_credit(b, sb, 300)], &[], Timestamp(2), false)
            .await
            .unwrap();
        let user = user(&elsewhere, "a@example.ch", domain::Role::Operator, None).await;
        elsewhere.create_session(b"hash-1", user, Timestamp(1), Timestamp(i64::MAX)).await.unwrap();
        let mut told = here.journal_changes();
        let mut ended = here.ended_sessions();
        let mut alerts = here.alert_changes();
        let listening = here.follow_others().expect("a listener on PostgreSQL");
        let within = Duration::from_secs(10);
        assert_eq!(tokio::time::timeout(within, ended.recv()).await.unwrap().unwrap(), SessionEnded::Missed);
        let first = gather(&mut alerts, Duration::from_millis(500)).await.concat();
        assert_eq!(first, [Some(a), Some(b)], "at the first connection, every gérance that has alerts");
        while told.try_recv().is_ok() {}

        // The listening connection is cut (a database restart, a proxy between, an operator's
        // pg_terminate_backend); meanwhile another instance makes a top-up, ends a session and changes
        // gérance A's alert. Notifications are not kept for a listener that is not there.
        let me = &here.listen.as_ref().unwrap().me;
        let cut: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE application_name = $1 AND query LIKE 'LISTEN%') AS cut",
        )
        .bind(me)
        .fetch_one(&elsewhere.pool)
        .await
        .unwrap();
        assert_eq!(cut, 1, "the one listening connection of this handle");
        let new = NewTopUp {
            station_id: sa,
            key: KeyNumber(34586),
            amount: rappen(1000),
            user_id: None,
            request_token: "t-1",
            unless_same_since: None,
        };
        let tx = elsewhere.create_top_up(Scope::All, new, Timestamp(3)).await.unwrap().unwrap();
        elsewhere.delete_session(b"hash-1").await.unwrap();
        elsewhere
            .sync_alerts(&[low_credit(a, sa, 250), low_credit(b, sb, 300)], &[], Timestamp(4), false)
            .await
            .unwrap();

        // Listening again, it reads the database: the journal's version reaches the top-up's, every stream
        // is told to check its session, and only gérance A's pages count their alerts again.
        let reached =
            tokio::time::timeout(within, async { while told.recv().await.unwrap() < tx.version {} });
        reached.await.expect("the top-up's version, read again");
        let after = gather(&mut ended, Duration::from_millis(500)).await;
        assert!(after.contains(&SessionEnded::Missed), "every stream checks its session: {after:?}");
        let again = gather(&mut alerts, Duration::from_millis(500)).await.concat();
        assert!(again.contains(&Some(a)), "gérance A's alert changed: {again:?}");
        assert!(!again.contains(&Some(b)), "gérance B's did not: {again:?}");
        listening.abort();
    }

    #[test]
    fn the_application_name_is_added_to_any_url() {
        assert_eq!(with_application_name("postgres://h/db", "r-1"), "postgres://h/db?application_name=r-1");
        assert_eq!(
            with_application_name("postgres://h/db?sslmode=require", "r-1"),
            "postgres://h/db?sslmode=require&application_name=r-1"
        );
    }

    #[test]
    fn after_a_reconnection_only_gerances_whose_alerts_differ_or_were_told_are_told_again() {
        let digests = |d: &[(Option<i64>, &str)]| -> HashMap<_, _> {
            d.iter().map(|(g, v)| (g.map(GeranceId), (*v).to_owned())).collect()
        };
        let mut seen = AlertsSeen::default();
        assert_eq!(seen.changed(digests(&[(Some(1), "x"), (None, "y")])), [None, Some(GeranceId(1))]);
        assert_eq!(seen.changed(digests(&[(Some(1), "x"), (None, "y")])), [], "nothing changed");
        // Told live meanwhile: told again (it may have changed after the notification was lost).
        seen.0.remove(&Some(GeranceId(1)));
        assert_eq!(
            seen.changed(digests(&[(Some(1), "x"), (Some(2), "z")])),
            [None, Some(GeranceId(1)), Some(GeranceId(2))],
            "the server's own alerts gone, gérance 2's new"
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
