//! The live journal's feed: the database layer tells which journal versions it committed; the feed
//! reads the changed rows once and hands them, each written as its server-sent event once, to every
//! event stream (`http::events`), which keeps those of its own scope. With many open journals this is one
//! query per change instead of one per stream. [`Journal`] also wakes the modem task when something was
//! queued for it.

use std::sync::Arc;

use db::{Db, TxRecord};
use domain::{GeranceId, TxId};
use tokio::sync::{Notify, broadcast, watch};
use tokio::task::JoinHandle;

/// Wakes the modem task, and feeds the event streams: after each change the database layer tells
/// (`Db::journal_changes`), its feed reads the changed rows once for every stream.
#[derive(Clone)]
pub struct Journal {
    db: Db,
    wake: Arc<Notify>,
    rows: broadcast::Sender<Arc<Vec<ChangedRow>>>,
    /// Set when the server stops: event streams end (they would keep it from stopping otherwise).
    stopping: Arc<watch::Sender<bool>>,
}

/// A changed journal row as event streams send it: its server-sent event written once, for every stream.
#[derive(Debug, Clone)]
pub struct ChangedRow {
    /// The transaction's number.
    pub id: TxId,
    pub version: i64,
    pub gerance_id: GeranceId,
    /// `event: tx`, `id: <version>`, `data: <TxView in JSON>` and the blank line that ends the event:
    /// shared by every stream that sends it (cloning `Bytes` copies nothing).
    pub frame: axum::body::Bytes,
}

impl From<&TxRecord> for ChangedRow {
    fn from(tx: &TxRecord) -> Self {
        // Compact JSON holds no line break (those in strings are escaped), so it is one `data:` line.
        let json = serde_json::to_string(&tx.view()).expect("serialisable");
        Self {
            id: tx.id,
            version: tx.version,
            gerance_id: tx.gerance_id,
            frame: format!("event: tx\nid: {}\ndata: {json}\n\n", tx.version).into(),
        }
    }
}

impl Journal {
    pub fn new(db: Db) -> Self {
        Self {
            db,
            wake: Arc::new(Notify::new()),
            rows: broadcast::channel(256).0,
            stopping: Arc::new(watch::channel(false).0),
        }
    }
}

/// Rows read by the feed per query.
const FEED_BATCH: i64 = 500;

impl Journal {
    /// Something was queued: the modem task looks at the outbox now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Completes when [`Journal::wake`] was called (since the last time it completed).
    pub async fn woken(&self) {
        self.wake.notified().await
    }

    /// The journal's versions as the database layer commits them.
    pub fn subscribe(&self) -> broadcast::Receiver<i64> {
        self.db.journal_changes()
    }

    /// The changed rows (every gérance's, in version order) as the feed reads them.
    pub fn subscribe_rows(&self) -> broadcast::Receiver<Arc<Vec<ChangedRow>>> {
        self.rows.subscribe()
    }

    /// The server is stopping: every event stream ends.
    pub fn stop_streams(&self) {
        self.stopping.send_replace(true);
    }

    /// Becomes true when the server stops.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stopping.subscribe()
    }

    /// How many event streams follow the feed now.
    pub fn open_streams(&self) -> usize {
        self.rows.receiver_count()
    }

    /// Starts the feed: after each change it reads what changed since it last looked, once, and hands the
    /// rows to every event stream, which keeps those of its own scope. With many open journals this is one
    /// query per change instead of one per stream.
    pub fn start_feed(&self) -> JoinHandle<()> {
        let journal = self.clone();
        let db = self.db.clone();
        let mut changes = self.subscribe();
        let mut elsewhere = db.changed_elsewhere();
        tokio::spawn(async move {
            let mut last = loop {
                match db.journal_version().await {
                    Ok(v) => break v,
                    Err(e) => {
                        tracing::error!(error = %e, "journal feed: cannot read the version");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                }
            };
            loop {
                tokio::select! {
                    change = changes.recv() => match change {
                        // Told twice (by this process and by the database's notification), or read
                        // already: nothing to read.
                        Ok(version) if version <= last => continue,
                        Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                    // Another instance made a top-up, asked for a cancellation or queued a message: the
                    // modem task, if it runs here, takes it now. (This process's own changes wake it
                    // where they are made; the modem task's own must not wake it again.)
                    _ = elsewhere.recv() => {
                        journal.wake();
                        continue;
                    }
                }
                loop {
                    match db.changes_since(db::Scope::All, last, FEED_BATCH).await {
                        Ok(rows) if rows.is_empty() => break,
                        Ok(rows) => {
                            last = rows.last().map_or(last, |r| r.version);
                            let _ = journal.rows.send(Arc::new(rows.iter().map(ChangedRow::from).collect()));
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "journal feed: reading changes failed");
                            break;
                        }
                    }
                }
            }
        })
    }
}
