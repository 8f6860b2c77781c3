//! `GET /api/events`: the journal's live changes as server-sent events, only those the account may see.
//!
//! Each event is `event: tx`, `id: <journal version>`, `data: <TxView as JSON>`. A client resumes with
//! `Last-Event-ID` (browsers send it when they reconnect) or `?since=<version>`; it then gets every change
//! after that version, in order, before the live ones. Nothing is lost between a page load and the
//! stream's start, or while a browser was offline.
//!
//! Live rows come from the journal's feed (`Journal::start_feed`), which reads each change once for all
//! streams; a stream queries the database itself only to catch up (at its start, or when it fell behind).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use db::{Db, Scope};
use domain::Account;
use futures::Stream;
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
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
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
                let event = Event::default().event("tx").id(row.version.to_string()).data(&*row.json);
                return Some((Ok(event), feed));
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
            match feed.rows.recv().await {
                Ok(rows) => feed.live = Some((rows, 0)),
                // Too slow to follow the feed: catch up from the database again.
                Err(broadcast::error::RecvError::Lagged(_)) => feed.catching_up = true,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(20)))
}
