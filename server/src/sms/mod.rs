//! The server's side of the SMS link: the modem task (outbox, inbox, retries) and, when no modem is
//! configured, the demo network of simulated stations.

pub mod demo;
mod task;

use std::sync::{Arc, Mutex};

use db::Db;

use crate::feed::Journal;
use domain::Timestamp;
use domain::journal::RetryPolicy;
use sms::link::{self, Connector, LinkConfig};
use tokio::task::JoinHandle;

pub use task::{TaskState, apply_incoming, pin_was_refused, queue_status_request};

/// A new station's protocol secret: 32 bytes from the operating system's random source.
pub fn new_station_secret() -> [u8; 32] {
    let mut secret = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
    secret
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
