//! `GET /api/events`: the journal's live changes as server-sent events, only those the account may see.
//!
//! Each event is `event: tx`, `id: <journal version>`, `data: <TxView as JSON>`. A client resumes with
//! `Last-Event-ID` (browsers send it when they reconnect) or `?since=<version>`; it then gets every change
//! after that version, in order, before the live ones. Nothing is lost between a page load and the
//! stream's start, or while a browser was offline.
//!
//! Live rows come from the journal's feed (`Journal::start_feed`), which reads each change once and
//! writes its event once for all streams; a stream queries the database itself only to catch up (at its
//! start, or when it fell behind), and sends every event it has at hand in one write.

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
use tokio::sync::broadcast;

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
    };
    let stream = futures::stream::unfold(feed, |mut feed| async move {
        // Every row there is to send now (up to a batch) goes out in one write.
        let mut out: Vec<Bytes> = Vec::new();
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
                out.push(row.frame);
                if out.len() < BATCH as usize {
                    continue;
                }
                return Some((concat(out), feed));
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
                return Some((concat(out), feed));
            }
            match tokio::time::timeout(KEEP_ALIVE, feed.rows.recv()).await {
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

/// The events as one buffer; a single one as it is (shared, not copied).
fn concat(mut frames: Vec<Bytes>) -> Bytes {
    if frames.len() == 1 { frames.swap_remove(0) } else { Bytes::from(frames.concat()) }
}
