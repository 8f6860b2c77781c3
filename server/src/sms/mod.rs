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

    /// The facts as the lease carries them to the instances that do not own the modem.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&SharedFacts::from(self.get())).expect("serialisable")
    }

    /// Takes the facts the modem's owner wrote (an instance that does not own it). Unreadable ones (a
    /// newer version's) are left aside.
    pub fn set_from_json(&self, json: &str) {
        match serde_json::from_str::<SharedFacts>(json) {
            Ok(shared) => *self.0.lock().unwrap_or_else(|e| e.into_inner()) = shared.into(),
            Err(e) => tracing::debug!(error = %e, "the modem owner's facts are not readable here"),
        }
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

/// Starts the link on `connector` and the modem task that owns it, acting while `hold` holds.
pub fn start<C: Connector>(
    connector: C,
    mut config: LinkConfig,
    db: Db,
    journal: Journal,
    policy: RetryPolicy,
    status: ModemStatus,
    hold: crate::lease::Hold,
) -> (JoinHandle<()>, JoinHandle<()>) {
    // The device itself is touched only under the hold: a process that resumes after another took the
    // modem over closes it rather than ask the modem anything (the sends are checked by the task too).
    config.gate = {
        let hold = hold.clone();
        link::Gate::new(move || hold.holds())
    };
    let pin = config.pin.clone();
    let pin_refusal_kept = std::sync::atomic::AtomicBool::new(config.pin_refused);
    let (handle, events, link_task) = link::spawn(connector, config);
    let state = TaskState { db, link: handle, journal, policy, status, pin, pin_refusal_kept, hold };
    (link_task, tokio::spawn(task::run(state, events)))
}

/// [`ModemFacts`] as they travel between instances (in the modem lease's row).
#[derive(serde::Serialize, serde::Deserialize)]
struct SharedFacts {
    connected: bool,
    since: Option<Timestamp>,
    model: Option<String>,
    error: Option<String>,
    signal_dbm: Option<i16>,
    registered: Option<bool>,
    operator: Option<String>,
    credit: Option<String>,
    credit_at: Option<Timestamp>,
    credit_unanswered_at: Option<Timestamp>,
    /// `pin_missing`, `pin_invalid`, `pin_refused`, `puk_required` or `not_ready`, with `sim_says`.
    sim: Option<String>,
    sim_says: Option<String>,
}

impl From<ModemFacts> for SharedFacts {
    fn from(f: ModemFacts) -> Self {
        use sms::modem::SimProblem as Sim;
        let (sim, sim_says) = match f.sim {
            None => (None, None),
            Some(Sim::PinMissing) => (Some("pin_missing"), None),
            Some(Sim::PinInvalid) => (Some("pin_invalid"), None),
            Some(Sim::PinRefused) => (Some("pin_refused"), None),
            Some(Sim::PukRequired) => (Some("puk_required"), None),
            Some(Sim::NotReady(says)) => (Some("not_ready"), Some(says)),
        };
        Self {
            connected: f.connected,
            since: f.since,
            model: f.model,
            error: f.error,
            signal_dbm: f.signal_dbm,
            registered: f.registered,
            operator: f.operator,
            credit: f.credit,
            credit_at: f.credit_at,
            credit_unanswered_at: f.credit_unanswered_at,
            sim: sim.map(str::to_owned),
            sim_says,
        }
    }
}

impl From<SharedFacts> for ModemFacts {
    fn from(s: SharedFacts) -> Self {
        use sms::modem::SimProblem as Sim;
        let sim = match s.sim.as_deref() {
            Some("pin_missing") => Some(Sim::PinMissing),
            Some("pin_invalid") => Some(Sim::PinInvalid),
            Some("pin_refused") => Some(Sim::PinRefused),
            Some("puk_required") => Some(Sim::PukRequired),
            Some(_) => Some(Sim::NotReady(s.sim_says.unwrap_or_default())),
            None => None,
        };
        Self {
            connected: s.connected,
            since: s.since,
            model: s.model,
            error: s.error,
            signal_dbm: s.signal_dbm,
            registered: s.registered,
            operator: s.operator,
            credit: s.credit,
            credit_at: s.credit_at,
            credit_unanswered_at: s.credit_unanswered_at,
            sim,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_modems_facts_reach_another_instance_as_they_were() {
        let status = ModemStatus::default();
        {
            let mut f = status.0.lock().unwrap();
            f.connected = false;
            f.since = Some(Timestamp(1_700_000_000_000));
            f.error = Some("no answer".into());
            f.signal_dbm = Some(-87);
            f.credit = Some("Votre solde est de CHF 4.20".into());
            f.sim = Some(sms::modem::SimProblem::NotReady("+CPIN: PH-NET PIN".into()));
        }
        let elsewhere = ModemStatus::default();
        elsewhere.set_from_json(&status.to_json());
        assert_eq!(elsewhere.get(), status.get());
        // Something unreadable changes nothing.
        elsewhere.set_from_json("{\"connected\": \"perhaps\"}");
        assert_eq!(elsewhere.get(), status.get());
    }
}
