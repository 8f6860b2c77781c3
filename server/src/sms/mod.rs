//! The server's side of the SMS link: the modem task (outbox, inbox, retries) and, when no modem is
//! configured, the demo network of simulated stations.

pub mod demo;
mod task;

use std::sync::{Arc, Mutex};

use db::{Db, TxRecord};
use domain::Timestamp;
use domain::journal::RetryPolicy;
use sms::link::{self, Connector, LinkConfig};
use tokio::sync::{Notify, broadcast, watch};
use tokio::task::JoinHandle;

pub use task::{TaskState, apply_incoming, pin_was_refused, queue_status_request};

/// A new station's protocol secret: 32 bytes from the operating system's random source.
pub fn new_station_secret() -> [u8; 32] {
    let mut secret = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
    secret
}

/// Wakes the modem task and tells everyone which journal versions changed; its feed reads the changed
/// rows once for every event stream.
#[derive(Clone)]
pub struct Journal {
    wake: Arc<Notify>,
    changes: broadcast::Sender<i64>,
    rows: broadcast::Sender<Arc<Vec<ChangedRow>>>,
    /// Set when the server stops: event streams end (they would keep it from stopping otherwise).
    stopping: Arc<watch::Sender<bool>>,
}

/// A changed journal row as event streams send it: its server-sent event written once, for every stream.
#[derive(Debug, Clone)]
pub struct ChangedRow {
    /// The transaction's number.
    pub id: i64,
    pub version: i64,
    pub gerance_id: i64,
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

impl Default for Journal {
    fn default() -> Self {
        Self {
            wake: Arc::new(Notify::new()),
            changes: broadcast::channel(1024).0,
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

    /// A transaction changed and now has `version`.
    pub fn changed(&self, version: i64) {
        let _ = self.changes.send(version);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<i64> {
        self.changes.subscribe()
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
    pub fn start_feed(&self, db: Db) -> JoinHandle<()> {
        let journal = self.clone();
        let mut changes = self.subscribe();
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
                match changes.recv().await {
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
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

/// What the modem last told about itself, for the operators' page. Kept in memory only: it is the
/// present state of a device, rebuilt within a health interval after a restart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModemFacts {
    pub connected: bool,
    /// Since when it is connected, or disconnected.
    pub since: Option<Timestamp>,
    pub model: Option<String>,
    /// Why it is disconnected.
    pub error: Option<String>,
    pub signal_dbm: Option<i16>,
    pub registered: Option<bool>,
    pub operator: Option<String>,
    /// The network's last answer to the balance code, as it came.
    pub credit: Option<String>,
    pub credit_at: Option<Timestamp>,
    /// The balance code's last question got no usable answer, at this time (cleared by an answer).
    pub credit_unanswered_at: Option<Timestamp>,
    /// Why the SIM is not ready, when it is the reason the modem is down.
    pub sim: Option<sms::modem::SimProblem>,
}

#[derive(Clone, Default)]
pub struct ModemStatus(Arc<Mutex<ModemFacts>>);

impl ModemStatus {
    pub fn get(&self) -> ModemFacts {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Takes in what the link reports.
    pub fn observe(&self, event: &link::Event) {
        let now = Timestamp::now();
        let mut facts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            link::Event::Up(info) => {
                facts.connected = true;
                facts.since = Some(now);
                facts.model = Some(format!("{} {}", info.manufacturer, info.model).trim().to_owned());
                facts.error = None;
                facts.sim = None;
            }
            link::Event::Down { error, sim, .. } => {
                if facts.connected || facts.since.is_none() {
                    facts.since = Some(now);
                }
                facts.connected = false;
                facts.error = Some(error.clone());
                facts.sim = sim.clone();
            }
            link::Event::Health(health) => {
                facts.signal_dbm = health.signal_dbm;
                facts.registered = health
                    .registration
                    .map(|r| matches!(r, sms::at::Registration::Home | sms::at::Registration::Roaming));
                facts.operator = health.operator.clone();
            }
            link::Event::Credit(text) => {
                facts.credit = Some(text.clone());
                facts.credit_at = Some(now);
                facts.credit_unanswered_at = None;
            }
            link::Event::CreditUnanswered(_) => facts.credit_unanswered_at = Some(now),
            link::Event::Incoming { .. } | link::Event::Unreadable { .. } => {}
        }
    }
}

/// Starts the link on `connector` and the modem task that owns it.
pub fn start<C: Connector>(
    connector: C,
    config: LinkConfig,
    db: Db,
    journal: Journal,
    policy: RetryPolicy,
    status: ModemStatus,
) -> (JoinHandle<()>, JoinHandle<()>) {
    let pin = config.pin.clone();
    let pin_refusal_kept = std::sync::atomic::AtomicBool::new(config.pin_refused);
    let (handle, events, link_task) = link::spawn(connector, config);
    let state = TaskState { db, link: handle, journal, policy, status, pin, pin_refusal_kept };
    (link_task, tokio::spawn(task::run(state, events)))
}
