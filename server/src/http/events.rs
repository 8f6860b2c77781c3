//! `GET /api/events`: the journal's live changes as server-sent events, only those the account may see.
//!
//! Each event is `event: tx`, `id: <journal version>`, `data: <TxView as JSON>`. A client resumes with
//! `Last-Event-ID` (browsers send it when they reconnect) or `?since=<version>`; it then gets every change
//! after that version, in order, before the live ones. Nothing is lost between a page load and the
//! stream's start, or while a browser was offline.
//!
//! Live rows come from the journal's feed (`Journal::start_feed`), which reads each change once and
//! writes its event once for all streams; a stream queries the database itself only to catch up (at its
//! start, or when it fell behind), and sends every event it has at hand in one write. Streams end when
//! the server stops (`Journal::stop_streams`), so that it can.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use db::{Db, Scope};
use domain::Account;
use serde::Deserialize;
use tokio::sync::{broadcast, watch};

use super::AppState;
use crate::sms::ChangedRow;

#[derive(Deserialize)]
pub struct Since {
    since: Option<i64>,
}

/// Changes read from the database per query (catching up).
const BATCH: i64 = 200;

/// How long a stream stays silent before a comment line is sent.
const KEEP_ALIVE: Duration = Duration::from_secs(20);

struct Feed {
    db: Db,
    scope: Scope,
    /// The last version sent.
    since: i64,
    /// Every gérance's changed rows, from the journal's feed.
    rows: broadcast::Receiver<Arc<Vec<ChangedRow>>>,
    /// Read from the database but not sent yet: the client is catching up.
    ready: VecDeque<ChangedRow>,
    /// Rows from the feed not looked at yet, and where in it.
    live: Option<(Arc<Vec<ChangedRow>>, usize)>,
    catching_up: bool,
    /// True once the server stops.
    stopping: watch::Receiver<bool>,
}

pub async fn events(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    headers: HeaderMap,
    Query(query): Query<Since>,
) -> impl IntoResponse {
    // Subscribed before catching up: what changes meanwhile arrives either way (and is sent once, in
    // version order).
    let rows = state.journal.subscribe_rows();
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
        ready: VecDeque::new(),
        live: None,
        catching_up: true,
        stopping: state.journal.stopping(),
    };
    let stream = futures::stream::unfold(feed, |mut feed| async move {
        // Every row there is to send now (up to a batch) goes out in one write.
        let mut out: Vec<ChangedRow> = Vec::new();
        loop {
            let next = feed.ready.pop_front().or_else(|| {
                let (batch, at) = feed.live.as_mut()?;
                let row = batch.get(*at).cloned();
                *at += 1;
                if row.is_none() {
                    feed.live = None;
                }
                row
            });
            if let Some(row) = next {
                if row.version <= feed.since || !feed.scope.allows(row.gerance_id) {
                    continue;
                }
                feed.since = row.version;
                out.push(row);
                if out.len() < BATCH as usize {
                    continue;
                }
                return Some((write_out(out), feed));
            }
            if feed.live.is_some() {
                continue;
            }
            if feed.catching_up {
                // From the database, in this scope, until nothing older than the feed is missing.
                match feed.db.changes_since(feed.scope, feed.since, BATCH).await {
                    Ok(rows) if !rows.is_empty() => {
                        feed.ready.extend(rows.iter().map(ChangedRow::from));
                        continue;
                    }
                    Ok(_) => feed.catching_up = false,
                    Err(e) => {
                        tracing::warn!(error = %e, "event stream: reading changes failed");
                        return None;
                    }
                }
            }
            if !out.is_empty() {
                // What the feed published meanwhile goes into the same write: a stream that fell
                // behind catches up in fewer, larger writes.
                match feed.rows.try_recv() {
                    Ok(rows) => {
                        feed.live = Some((rows, 0));
                        continue;
                    }
                    Err(broadcast::error::TryRecvError::Lagged(_)) => {
                        feed.catching_up = true;
                        continue;
                    }
                    Err(_) => return Some((write_out(out), feed)),
                }
            }
            let received = tokio::select! {
                received = tokio::time::timeout(KEEP_ALIVE, feed.rows.recv()) => received,
                _ = feed.stopping.wait_for(|stopping| *stopping) => return None,
            };
            match received {
                Ok(Ok(rows)) => feed.live = Some((rows, 0)),
                // Too slow to follow the feed: catch up from the database again.
                Ok(Err(broadcast::error::RecvError::Lagged(_))) => feed.catching_up = true,
                Ok(Err(broadcast::error::RecvError::Closed)) => return None,
                // A comment now and then keeps proxies from closing a quiet stream.
                Err(_) => return Some((Bytes::from_static(b":\n\n"), feed)),
            }
        }
    });
    let stream = futures::StreamExt::map(stream, Ok::<_, Infallible>);
    (
        [(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-cache")],
        Body::from_stream(stream),
    )
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
    let mut order: Vec<(i64, usize)> = rows.iter().enumerate().map(|(at, row)| (row.id, at)).collect();
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
    use super::*;

    fn row(id: i64, version: i64) -> ChangedRow {
        ChangedRow { id, version, gerance_id: 1, frame: format!("id: {version}\ndata: {id}\n\n").into() }
    }

    #[test]
    fn a_write_sends_each_row_once_in_its_latest_state_in_version_order() {
        let out = write_out(vec![row(7, 10), row(8, 11), row(7, 12), row(9, 13), row(8, 14)]);
        assert_eq!(&out[..], b"id: 12\ndata: 7\n\nid: 13\ndata: 9\n\nid: 14\ndata: 8\n\n");
        assert_eq!(&write_out(vec![row(7, 10)])[..], b"id: 10\ndata: 7\n\n");
        assert_eq!(&write_out(vec![row(7, 10), row(8, 11)])[..], b"id: 10\ndata: 7\n\nid: 11\ndata: 8\n\n");
    }
}
