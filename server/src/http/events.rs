//! `GET /api/events`: the journal's live changes as server-sent events, only those the account may see.
//!
//! Each event is `event: tx`, `id: <journal version>`, `data: <TxView as JSON>`. A client resumes with
//! `Last-Event-ID` (browsers send it when they reconnect) or `?since=<version>`; it then gets every change
//! after that version, in order, before the live ones. Nothing is lost between a page load and the
//! stream's start, or while a browser was offline.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::Extension;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use db::{Db, Scope, TxRecord};
use domain::Account;
use futures::Stream;
use serde::Deserialize;
use tokio::sync::broadcast;

use super::AppState;

#[derive(Deserialize)]
pub struct Since {
    since: Option<i64>,
}

/// Changes read from the database per query.
const BATCH: i64 = 200;

struct Feed {
    db: Db,
    scope: Scope,
    since: i64,
    changes: broadcast::Receiver<i64>,
    ready: VecDeque<TxRecord>,
}

pub async fn events(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    headers: HeaderMap,
    Query(query): Query<Since>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    // Subscribed before reading: a change committed meanwhile is seen either way.
    let changes = state.journal.subscribe();
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
        changes,
        ready: VecDeque::new(),
    };
    let stream = futures::stream::unfold(feed, |mut feed| async move {
        loop {
            if let Some(tx) = feed.ready.pop_front() {
                feed.since = tx.version;
                let data = serde_json::to_string(&tx.view()).expect("serialisable");
                let event = Event::default().event("tx").id(tx.version.to_string()).data(data);
                return Some((Ok(event), feed));
            }
            match feed.db.changes_since(feed.scope, feed.since, BATCH).await {
                Ok(rows) if !rows.is_empty() => {
                    feed.ready.extend(rows);
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "event stream: reading changes failed");
                    return None;
                }
            }
            // Nothing new in this scope: wait for the next change anywhere, then look again.
            match feed.changes.recv().await {
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(20)))
}
