//! The server's side of the SMS link: the modem task (outbox, inbox, retries) and, when no modem is
//! configured, the demo network of simulated stations.

pub mod demo;
mod task;

use std::sync::Arc;

use db::Db;
use domain::journal::RetryPolicy;
use sms::link::{self, Connector, LinkConfig};
use tokio::sync::{Notify, broadcast};
use tokio::task::JoinHandle;

pub use task::{TaskState, apply_incoming};

/// A new station's protocol secret: 32 bytes from the operating system's random source.
pub fn new_station_secret() -> [u8; 32] {
    let mut secret = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
    secret
}

/// Wakes the modem task and tells everyone which journal versions changed.
#[derive(Clone)]
pub struct Journal {
    wake: Arc<Notify>,
    changes: broadcast::Sender<i64>,
}

impl Default for Journal {
    fn default() -> Self {
        Self { wake: Arc::new(Notify::new()), changes: broadcast::channel(1024).0 }
    }
}

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
}

/// Starts the link on `connector` and the modem task that owns it.
pub fn start<C: Connector>(
    connector: C,
    config: LinkConfig,
    db: Db,
    journal: Journal,
    policy: RetryPolicy,
) -> (JoinHandle<()>, JoinHandle<()>) {
    let (handle, events, link_task) = link::spawn(connector, config);
    let state = TaskState { db, link: handle, journal, policy };
    (link_task, tokio::spawn(task::run(state, events)))
}
