//! `GET /api/events`: the journal's live changes as server-sent events, only those the account may see.
//!
//! Each event is `event: tx`, `id: <journal version>`, `data: <TxView as JSON>`. A client resumes with
//! `Last-Event-ID` (browsers send it when they reconnect) or `?since=<version>`; it then gets every change
//! after that version, in order, before the live ones. Nothing is lost between a page load and the
//! stream's start, or while a browser was offline.
//!
//! Live rows come from the journal's feed (`Journal::start_feed`), which reads each change once and
//! writes its event once for all streams; a stream queries the database itself only to catch up (at its
//! start, or when it fell behind), and sends every event it has at hand in one write, which streams in
//! the same state share. Streams end when the server stops (`Journal::stop_streams`), so that it can, and
//! when their session ends: at once when this server ended it (logout, password changed, account
//! disabled: `Db::ended_sessions`), and otherwise (expiry, or the command line on the same database) at
//! the next check (`SessionPolicy::recheck_every`, a minute at most). The browser then reconnects, is
//! refused like any request without a session, and its page sends the person to the login.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use db::{Db, Scope, SessionEnded};
use domain::{Account, GeranceId, TxId, UserId};
use serde::Deserialize;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

use super::AppState;
use super::auth::{SessionHash, session_holds};
use crate::auth::session::SessionPolicy;
use crate::feed::ChangedRow;

#[derive(Deserialize)]
pub struct Since {
    since: Option<i64>,
    /// `?alerts`: only the alerts' changes (the header's count on pages without a live journal).
    alerts: Option<String>,
}

/// Changes read from the database per query (catching up).
const BATCH: i64 = 200;

/// Within how long every stream checks its session after the server may have missed sessions ended
/// elsewhere (another instance's, while this one's connection to the database was broken).
const MISSED_SPREAD: Duration = Duration::from_secs(5);

/// How long a stream stays silent before a `ping` event is sent (the browser watches for it:
/// `app::live`).
const KEEP_ALIVE: Duration = Duration::from_secs(20);

struct Feed {
    db: Db,
    scope: Scope,
    /// The last version sent.
    since: i64,
    /// Every gérance's changed rows, from the journal's feed.
    rows: broadcast::Receiver<Arc<Vec<ChangedRow>>>,
    catching_up: bool,
    /// Only alerts: no journal rows.
    alerts_only: bool,
    /// The gérances whose alerts changed (`None`: the server's own).
    alerts: broadcast::Receiver<Vec<Option<GeranceId>>>,
    /// True once the server stops.
    stopping: watch::Receiver<bool>,
    /// When the stream last wrote (a keep-alive is due `KEEP_ALIVE` later).
    wrote: Instant,
    session: Session,
}

/// The session a stream was opened with, which it must not outlive.
struct Session {
    hash: SessionHash,
    account: UserId,
    policy: SessionPolicy,
    /// Sessions this server ended.
    ended: broadcast::Receiver<SessionEnded>,
    /// When to ask the database whether the session still holds.
    check: Instant,
}

impl Session {
    /// Whether an ended session is this stream's.
    fn is_mine(&self, ended: &SessionEnded) -> bool {
        match ended {
            SessionEnded::Session(hash) => hash[..] == self.hash.0,
            SessionEnded::Account(id) => *id == self.account,
            SessionEnded::Missed => false,
        }
    }
}

/// What a stream waiting for the feed was woken by.
enum Woken {
    Rows(Result<Arc<Vec<ChangedRow>>, broadcast::error::RecvError>),
    Alerts(Result<Vec<Option<GeranceId>>, broadcast::error::RecvError>),
    Stopping,
    Ended(Result<SessionEnded, broadcast::error::RecvError>),
    Time,
}

pub async fn events(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    Extension(hash): Extension<SessionHash>,
    headers: HeaderMap,
    Query(query): Query<Since>,
) -> impl IntoResponse {
    // Subscribed before catching up: what changes meanwhile arrives either way (and is sent once, in
    // version order).
    let rows = state.journal.subscribe_rows();
    let ended = state.db.ended_sessions();
    let last_event =
        headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok());
    let since = match last_event.or(query.since) {
        Some(v) => v,
        None => state.db.journal_version().await.unwrap_or(0),
    };
    let feed = Feed {
        db: state.db.clone(),
        scope: Scope::of(&account),
        since: since.max(0),
        rows,
        catching_up: query.alerts.is_none(),
        alerts_only: query.alerts.is_some(),
        alerts: state.db.alert_changes(),
        stopping: state.journal.stopping(),
        wrote: Instant::now(),
        session: Session {
            hash,
            account: account.id,
            policy: state.settings.sessions,
            ended,
            // The first check somewhere in the second half of the period: streams reopened together
            // (every browser after a restart) do not then check together every minute.
            check: Instant::now()
                + state.settings.sessions.recheck_every().mul_f64(0.5 + rand::random::<f64>() / 2.0),
        },
    };
    let stream = futures::stream::unfold(feed, |mut feed| async move {
        loop {
            if feed.catching_up {
                // From the database, in this scope, until nothing older than the feed is missing.
                match feed.db.changes_since(feed.scope, feed.since, BATCH).await {
                    Ok(rows) if !rows.is_empty() => {
                        let rows: Vec<ChangedRow> = rows.iter().map(ChangedRow::from).collect();
                        feed.since = rows.last().map_or(feed.since, |row| row.version);
                        feed.wrote = Instant::now();
                        return Some((write_out(rows), feed));
                    }
                    Ok(_) => feed.catching_up = false,
                    Err(e) => {
                        tracing::warn!(error = %e, "event stream: reading changes failed");
                        return None;
                    }
                }
            }
            let keep_alive = feed.wrote + KEEP_ALIVE;
            let woken = tokio::select! {
                rows = feed.rows.recv(), if !feed.alerts_only => Woken::Rows(rows),
                alerts = feed.alerts.recv() => Woken::Alerts(alerts),
                _ = feed.stopping.wait_for(|stopping| *stopping) => Woken::Stopping,
                ended = feed.session.ended.recv() => Woken::Ended(ended),
                () = tokio::time::sleep_until(keep_alive.min(feed.session.check)) => Woken::Time,
            };
            let mut batches = match woken {
                Woken::Rows(Ok(rows)) => vec![rows],
                // Too slow to follow the feed: catch up from the database again.
                Woken::Rows(Err(broadcast::error::RecvError::Lagged(_))) => {
                    feed.catching_up = true;
                    continue;
                }
                Woken::Rows(Err(broadcast::error::RecvError::Closed)) | Woken::Stopping => return None,
                // The page reads its count again; a lagged stream is told too (it may have missed one).
                Woken::Alerts(Ok(gerances)) if !alerts_concern(feed.scope, &gerances) => continue,
                Woken::Alerts(Ok(_)) | Woken::Alerts(Err(broadcast::error::RecvError::Lagged(_))) => {
                    feed.wrote = Instant::now();
                    return Some((Bytes::from_static(b"event: alerts\ndata: 1\n\n"), feed));
                }
                Woken::Alerts(Err(broadcast::error::RecvError::Closed)) => return None,
                Woken::Ended(Ok(ended)) if feed.session.is_mine(&ended) => {
                    tracing::debug!("event stream ended with its session");
                    return None;
                }
                Woken::Ended(Ok(SessionEnded::Session(_) | SessionEnded::Account(_))) => continue,
                // Missed some: ask the database, each stream at its own moment within a few seconds (all
                // are told at once).
                Woken::Ended(Ok(SessionEnded::Missed) | Err(broadcast::error::RecvError::Lagged(_))) => {
                    let soon = Instant::now() + MISSED_SPREAD.mul_f64(rand::random::<f64>());
                    feed.session.check = feed.session.check.min(soon);
                    continue;
                }
                Woken::Ended(Err(broadcast::error::RecvError::Closed)) => return None,
                Woken::Time if Instant::now() >= feed.session.check => {
                    let s = &feed.session;
                    if !session_holds(&feed.db, &s.policy, &s.hash, feed.scope).await {
                        tracing::debug!("event stream ended: its session no longer holds");
                        return None;
                    }
                    feed.session.check = Instant::now() + s.policy.recheck_every();
                    continue;
                }
                // A ping now and then keeps proxies from closing a quiet stream, and tells the page that
                // the stream is alive: one that hears nothing for three of them opens a new one.
                Woken::Time => {
                    feed.wrote = Instant::now();
                    return Some((Bytes::from_static(b"event: ping\ndata: 1\n\n"), feed));
                }
            };
            // What the feed published meanwhile goes into the same write: a stream that fell behind
            // catches up in fewer, larger writes.
            loop {
                match feed.rows.try_recv() {
                    Ok(rows) => batches.push(rows),
                    Err(broadcast::error::TryRecvError::Lagged(_)) => {
                        feed.catching_up = true;
                        break;
                    }
                    Err(_) => break,
                }
            }
            if feed.catching_up {
                continue;
            }
            let (write, since) = live_write(feed.scope, feed.since, &batches);
            feed.since = since;
            if let Some(write) = write {
                feed.wrote = Instant::now();
                return Some((write, feed));
            }
        }
    });
    let stream = futures::StreamExt::map(stream, Ok::<_, Infallible>);
    (
        [(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-cache")],
        Body::from_stream(stream),
    )
}

/// A live write: what a stream that sent everything in `scope` up to version `since` sends of the feed's
/// `batches`, and its version after it. Every stream woken by the same batches computes the same write,
/// so the last one computed on this thread is kept and shared: a burst is written for 10,000 streams
/// once, not 10,000 times.
///
/// The write depends only on `scope`, `since` and the last version of the batches: a stream that
/// follows the feed without lagging holds every batch with a row newer than `since` in its scope.
/// Whether a change of these gérances' alerts (`None`: the server's own, operators only) is seen in
/// `scope`.
fn alerts_concern(scope: Scope, gerances: &[Option<GeranceId>]) -> bool {
    match scope {
        Scope::All => !gerances.is_empty(),
        Scope::Gerance(mine) => gerances.contains(&Some(mine)),
    }
}

fn live_write(scope: Scope, since: i64, batches: &[Arc<Vec<ChangedRow>>]) -> (Option<Bytes>, i64) {
    type Key = (Scope, i64, i64);
    thread_local! {
        static LAST: std::cell::RefCell<Option<(Key, Option<Bytes>, i64)>> = const { std::cell::RefCell::new(None) };
    }
    let until = batches.iter().rev().find_map(|batch| batch.last()).map_or(since, |row| row.version);
    let key = (scope, since, until);
    LAST.with_borrow_mut(|last| {
        if let Some((seen, write, after)) = last.as_ref()
            && *seen == key
        {
            return (write.clone(), *after);
        }
        let rows: Vec<ChangedRow> = batches
            .iter()
            .flat_map(|batch| batch.iter())
            .filter(|row| row.version > since && scope.allows(row.gerance_id))
            .cloned()
            .collect();
        let after = rows.last().map_or(since, |row| row.version);
        let write = (!rows.is_empty()).then(|| write_out(rows));
        *last = Some((key, write.clone(), after));
        (write, after)
    })
}

/// The events of one write as one buffer. A row that appears again later in the same write (a stream
/// that fell behind took several of the feed's batches at once) is sent only in its later state: the
/// client would show the earlier one for no time at all, and resuming after the write's last id
/// misses nothing. A single event goes as it is (shared, not copied).
fn write_out(mut rows: Vec<ChangedRow>) -> Bytes {
    if rows.len() == 1 {
        return rows.swap_remove(0).frame;
    }
    // Rows by number, then position: of equal numbers, all but the last are superseded.
    let mut order: Vec<(TxId, usize)> = rows.iter().enumerate().map(|(at, row)| (row.id, at)).collect();
    order.sort_unstable();
    let mut superseded = vec![false; rows.len()];
    for pair in order.windows(2) {
        if pair[0].0 == pair[1].0 {
            superseded[pair[0].1] = true;
        }
    }
    let kept = || rows.iter().zip(&superseded).filter(|(_, gone)| !**gone).map(|(row, _)| &row.frame);
    let mut buffer = Vec::with_capacity(kept().map(Bytes::len).sum());
    for frame in kept() {
        buffer.extend_from_slice(frame);
    }
    Bytes::from(buffer)
}

#[cfg(test)]
mod tests {
    use domain::GeranceId;

    use super::*;

    fn row(id: i64, version: i64) -> ChangedRow {
        of(1, id, version)
    }

    fn of(gerance_id: i64, id: i64, version: i64) -> ChangedRow {
        ChangedRow {
            id: TxId(id),
            version,
            gerance_id: GeranceId(gerance_id),
            frame: format!("id: {version}\ndata: {id}\n\n").into(),
        }
    }

    #[test]
    fn a_live_write_holds_the_newer_rows_of_its_scope_and_is_shared_by_streams_in_the_same_state() {
        let batches =
            [Arc::new(vec![of(1, 7, 10), of(2, 8, 11)]), Arc::new(vec![of(1, 7, 12), of(2, 9, 13)])];
        let (first, since) = live_write(Scope::Gerance(GeranceId(2)), 9, &batches);
        let first = first.expect("gérance 2 changed");
        assert_eq!((&first[..], since), (&b"id: 11\ndata: 8\n\nid: 13\ndata: 9\n\n"[..], 13));
        // A stream in the same state gets the same write, not one built again (two rows are copied
        // into one buffer, so an equal pointer means the buffer was shared).
        let (again, since) = live_write(Scope::Gerance(GeranceId(2)), 9, &batches);
        assert_eq!((again.map(|w| w.as_ptr()), since), (Some(first.as_ptr()), 13));
        // Another gérance in the same state: its own rows.
        let (other, since) = live_write(Scope::Gerance(GeranceId(1)), 9, &batches);
        assert_eq!((other.as_deref(), since), (Some(&b"id: 12\ndata: 7\n\n"[..]), 12));
        // A stream that already sent some of them, and one that sent all: only what is newer.
        let (all, since) = live_write(Scope::All, 11, &batches);
        assert_eq!((all.as_deref(), since), (Some(&b"id: 12\ndata: 7\n\nid: 13\ndata: 9\n\n"[..]), 13));
        assert_eq!(live_write(Scope::Gerance(GeranceId(1)), 12, &batches), (None, 12));
        // Nothing in its scope: nothing written, its version stays.
        assert_eq!(live_write(Scope::Gerance(GeranceId(3)), 9, &batches), (None, 9));
    }

    #[test]
    fn a_write_sends_each_row_once_in_its_latest_state_in_version_order() {
        let out = write_out(vec![row(7, 10), row(8, 11), row(7, 12), row(9, 13), row(8, 14)]);
        assert_eq!(&out[..], b"id: 12\ndata: 7\n\nid: 13\ndata: 9\n\nid: 14\ndata: 8\n\n");
        assert_eq!(&write_out(vec![row(7, 10)])[..], b"id: 10\ndata: 7\n\n");
        assert_eq!(&write_out(vec![row(7, 10), row(8, 11)])[..], b"id: 10\ndata: 7\n\nid: 11\ndata: 8\n\n");
    }
}
