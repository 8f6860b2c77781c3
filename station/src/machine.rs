//! The station's logic as a pure state machine: inputs (an SMS, a key presented, a key written, the clock)
//! in, effects (SMS to send, a key to write, state to save) out. No I/O, so the same core can run on the
//! board and in the simulator.
//!
//! The contract with the shell that runs it, which makes a power cut at any point safe:
//! 1. after every call, when [`Effects::save`] is set, write [`Station::nv`] to non-volatile memory
//!    *before* anything else;
//! 2. then write [`Effects::write_key`] onto the key, and when that succeeded call [`Station::key_written`]
//!    (and apply its effects the same way);
//! 3. then send [`Effects::sms`], in order, to the server's number (never to the sender of what came in:
//!    senders can be forged).
//!
//! Loading a key is a two-step commit. The station first saves its intent (which top-ups, the new
//! balance, and a stamp), then writes balance and stamp onto the key in one write. If the power fails in
//! between, the next presentation of that key shows whether the write happened (the key carries the stamp)
//! and the station finishes or redoes the load: nothing is loaded twice or lost.

use std::collections::BTreeMap;

use crate::lcd::{Presentation, Screen};
use crate::logger::{self, DataLogger, Record};
use crate::protocol::{self, Body, Direction, Message, ProtocolError, Provisioning, Reason, ReplayWindow};

/// How many top-ups a station holds before it refuses more (`full`).
pub const MAX_PENDING: usize = 256;
/// How many finished transactions it remembers to answer retransmissions; older ones are `expired`.
pub const REMEMBERED: usize = 1024;
/// A heartbeat at least this often (ms).
pub const HEARTBEAT_MS: u64 = 24 * 3600 * 1000;

/// What the station is configured with at installation.
#[derive(Debug, Clone)]
pub struct Config {
    pub provisioning: Provisioning,
    /// The largest single top-up it accepts, in Rappen.
    pub max_amount: u32,
    pub firmware: String,
}

/// The memory of a key (iButton) as far as the station is concerned: its balance and the stamp of the
/// last write, written together in one operation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeyMemory {
    pub balance: u32,
    pub stamp: u64,
}

/// A verified top-up waiting for its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Pending {
    pub key: u16,
    pub amount: u32,
    pub received_at: u64,
}

/// How a transaction ended at this station.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Outcome {
    Loaded { key: u16, amount: u32, balance: u32 },
    Cancelled,
    Refused(Reason),
}

/// A load whose key write may or may not have happened.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Load {
    pub stamp: u64,
    /// Transactions, amounts, and the balance after each, in order.
    pub steps: Vec<(u64, u32, u32)>,
    pub balance: u32,
}

/// Everything that must survive a power cut.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Nv {
    /// Counter of the last message the station sent.
    pub sent: u32,
    /// Counters accepted from the server.
    pub window: ReplayWindow,
    pub pending: BTreeMap<u64, Pending>,
    pub outcomes: BTreeMap<u64, Outcome>,
    /// Transactions at or below this one that are neither pending nor remembered are `expired`.
    pub floor: u64,
    /// Loads started but not known to be written, by key.
    pub loading: BTreeMap<u16, Load>,
    /// Key writes done by this station; the low half of every stamp.
    pub writes: u32,
    pub logger: DataLogger,
    /// Messages that failed verification.
    pub rejected: u64,
    pub last_heartbeat: u64,
}

/// Facts about the station's modem, reported in heartbeats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Health {
    pub signal_dbm: Option<i16>,
    pub credit_rappen: Option<u32>,
}

/// What happened, for the station's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A message failed verification: no answer was sent.
    Rejected {
        from: String,
        reason: ProtocolError,
    },
    Stored {
        tx: u64,
        key: u16,
        amount: u32,
    },
    /// A retransmission of something already known: answered again, nothing applied.
    Repeated {
        tx: u64,
    },
    Loaded {
        tx: u64,
        key: u16,
        amount: u32,
        balance: u32,
    },
    Cancelled {
        tx: u64,
    },
    Refused {
        tx: u64,
        reason: Reason,
    },
}

/// What the shell must do after a call, in this order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effects {
    /// Save [`Station::nv`] first.
    pub save: bool,
    /// Write this onto the presented key, then call [`Station::key_written`].
    pub write_key: Option<KeyMemory>,
    /// Texts to send to the server's number.
    pub sms: Vec<String>,
    pub events: Vec<Event>,
}

#[derive(Debug, Clone)]
pub struct Station {
    config: Config,
    nv: Nv,
    presentation: Option<Presentation>,
    health: Health,
}

impl Station {
    /// A station starting from its saved state (or `Nv::default()` when new).
    pub fn new(config: Config, nv: Nv) -> Self {
        Self { config, nv, presentation: None, health: Health::default() }
    }

    pub fn nv(&self) -> &Nv {
        &self.nv
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn set_health(&mut self, health: Health) {
        self.health = health;
    }

    /// The display at `now` (ms).
    pub fn screen(&self, now: u64) -> Screen {
        self.presentation.as_ref().and_then(|p| p.screen_at(now)).cloned().unwrap_or_else(Screen::idle)
    }

    /// An SMS arrived from `from` (which proves nothing).
    pub fn receive_sms(&mut self, from: &str, text: &str, now: u64) -> Effects {
        let mut fx = Effects { save: true, ..Effects::default() };
        let message = match self.verify(text) {
            Ok(message) => message,
            Err(reason) => {
                self.nv.rejected += 1;
                fx.events.push(Event::Rejected { from: from.to_owned(), reason });
                return fx;
            }
        };
        match message.body {
            Body::TopUp { tx, key, amount } => self.top_up(tx, key, amount, now, &mut fx),
            Body::Cancel { tx } => self.cancel(tx, &mut fx),
            Body::Status => {
                let heartbeat = self.heartbeat();
                self.send(heartbeat, &mut fx);
            }
            _ => unreachable!("verify accepts only messages to the station"),
        }
        fx
    }

    fn verify(&mut self, text: &str) -> Result<Message, ProtocolError> {
        let unverified = protocol::parse(text)?;
        if unverified.station != self.config.provisioning.station {
            return Err(ProtocolError::UnknownStation);
        }
        let message = unverified.verify(&self.config.provisioning.secret, Direction::ToStation)?;
        self.nv.window.accept(message.counter)?;
        Ok(message)
    }

    fn top_up(&mut self, tx: u64, key: u16, amount: u32, now: u64, fx: &mut Effects) {
        if self.nv.pending.contains_key(&tx) {
            fx.events.push(Event::Repeated { tx });
            return self.send(Body::Received { tx }, fx);
        }
        if let Some(outcome) = self.nv.outcomes.get(&tx).copied() {
            fx.events.push(Event::Repeated { tx });
            return self.send(outcome_message(tx, outcome), fx);
        }
        let refusal = if tx <= self.nv.floor {
            Some(Reason::Expired)
        } else if amount == 0 {
            Some(Reason::Amount)
        } else if amount > self.config.max_amount.min(logger::MAX_VALUE) {
            Some(Reason::Limit)
        } else if self.nv.pending.len() >= MAX_PENDING {
            Some(Reason::Full)
        } else {
            None
        };
        if let Some(reason) = refusal {
            // A full store may have room later: that refusal is not final.
            if !matches!(reason, Reason::Full | Reason::Expired) {
                self.remember(tx, Outcome::Refused(reason));
            }
            fx.events.push(Event::Refused { tx, reason });
            return self.send(Body::Refused { tx, reason }, fx);
        }
        self.nv.pending.insert(tx, Pending { key, amount, received_at: now });
        fx.events.push(Event::Stored { tx, key, amount });
        self.send(Body::Received { tx }, fx);
    }

    fn cancel(&mut self, tx: u64, fx: &mut Effects) {
        let loading = self.nv.loading.values().any(|l| l.steps.iter().any(|s| s.0 == tx));
        if let Some(outcome) = self.nv.outcomes.get(&tx).copied() {
            fx.events.push(Event::Repeated { tx });
            return self.send(outcome_message(tx, outcome), fx);
        }
        if loading {
            // Possibly on the key already: the presentation will tell; the reloaded report follows.
            fx.events.push(Event::Repeated { tx });
            return self.send(Body::Received { tx }, fx);
        }
        if self.nv.pending.remove(&tx).is_none() && tx <= self.nv.floor {
            fx.events.push(Event::Refused { tx, reason: Reason::Expired });
            return self.send(Body::Refused { tx, reason: Reason::Expired }, fx);
        }
        // Pending or never seen: either way it will never load here (a late top-up finds the outcome).
        self.remember(tx, Outcome::Cancelled);
        fx.events.push(Event::Cancelled { tx });
        self.send(Body::Cancelled { tx }, fx);
    }

    /// A key is presented; `memory` is what the reader read from it.
    pub fn present_key(&mut self, key: u16, memory: KeyMemory, now: u64) -> Effects {
        let mut fx = Effects::default();
        if let Some(load) = self.nv.loading.get(&key).cloned() {
            if memory.stamp == load.stamp {
                // The last write reached the key before the power failed: finish that load.
                let done = self.finish(key, load, now, &mut fx);
                self.show(key, done.0, done.1, now);
                return fx;
            }
            // The write never happened: its top-ups are pending again and load below.
            self.nv.loading.remove(&key);
            for (tx, amount, _) in load.steps {
                self.nv.pending.insert(tx, Pending { key, amount, received_at: now });
            }
            fx.save = true;
        }
        let mut balance = memory.balance;
        let mut steps = Vec::new();
        for (&tx, p) in self.nv.pending.iter().filter(|(_, p)| p.key == key) {
            match balance.checked_add(p.amount).filter(|b| *b <= logger::MAX_VALUE) {
                Some(after) => {
                    balance = after;
                    steps.push((tx, p.amount, after));
                }
                None => break,
            }
        }
        if steps.is_empty() {
            self.show(key, memory.balance, 0, now);
            return fx;
        }
        self.nv.writes = self.nv.writes.wrapping_add(1);
        let stamp = (u64::from(self.config.provisioning.station) << 32) | u64::from(self.nv.writes);
        for (tx, _, _) in &steps {
            self.nv.pending.remove(tx);
        }
        self.nv.loading.insert(key, Load { stamp, steps, balance });
        self.show(key, memory.balance, balance - memory.balance, now);
        fx.save = true;
        fx.write_key = Some(KeyMemory { balance, stamp });
        fx
    }

    /// The write that [`Self::present_key`] asked for is on the key.
    pub fn key_written(&mut self, key: u16, now: u64) -> Effects {
        let mut fx = Effects::default();
        if let Some(load) = self.nv.loading.get(&key).cloned() {
            self.finish(key, load, now, &mut fx);
        }
        fx
    }

    fn finish(&mut self, key: u16, load: Load, now: u64, fx: &mut Effects) -> (u32, u32) {
        self.nv.loading.remove(&key);
        let before = load.steps.first().map_or(load.balance, |s| s.2 - s.1);
        for (tx, amount, balance) in load.steps {
            self.nv.logger.push(Record { time: (now / 1000) as u32, tx: tx as u32, key, amount, balance });
            self.remember(tx, Outcome::Loaded { key, amount, balance });
            fx.events.push(Event::Loaded { tx, key, amount, balance });
            self.send(Body::Reloaded { tx, key, amount, balance }, fx);
        }
        fx.save = true;
        (before, load.balance - before)
    }

    fn show(&mut self, key: u16, before: u32, loading: u32, now: u64) {
        let mut frames = vec![(0, Screen::balance(key, before))];
        if loading > 0 {
            frames.push((5_000, Screen::loading(key, loading)));
            frames.push((10_000, Screen::balance(key, before + loading)));
        }
        self.presentation = Some(Presentation { started: now, frames });
    }

    /// The clock: sends the daily heartbeat when it is due.
    pub fn tick(&mut self, now: u64) -> Effects {
        let mut fx = Effects::default();
        if now >= self.nv.last_heartbeat.saturating_add(HEARTBEAT_MS) {
            self.nv.last_heartbeat = now;
            let heartbeat = self.heartbeat();
            self.send(heartbeat, &mut fx);
            fx.save = true;
        }
        fx
    }

    fn heartbeat(&self) -> Body {
        Body::Heartbeat {
            pending: (self.nv.pending.len() + self.nv.loading.values().map(|l| l.steps.len()).sum::<usize>())
                as u32,
            signal: self.health.signal_dbm,
            credit: self.health.credit_rappen,
            firmware: self.config.firmware.clone(),
        }
    }

    fn remember(&mut self, tx: u64, outcome: Outcome) {
        self.nv.outcomes.insert(tx, outcome);
        while self.nv.outcomes.len() > REMEMBERED {
            if let Some((oldest, _)) = self.nv.outcomes.pop_first() {
                self.nv.floor = self.nv.floor.max(oldest);
            }
        }
    }

    fn send(&mut self, body: Body, fx: &mut Effects) {
        self.nv.sent += 1;
        let message = Message { station: self.config.provisioning.station, counter: self.nv.sent, body };
        fx.sms.push(message.encode(&self.config.provisioning.secret));
        fx.save = true;
    }
}

fn outcome_message(tx: u64, outcome: Outcome) -> Body {
    match outcome {
        Outcome::Loaded { key, amount, balance } => Body::Reloaded { tx, key, amount, balance },
        Outcome::Cancelled => Body::Cancelled { tx },
        Outcome::Refused(reason) => Body::Refused { tx, reason },
    }
}

#[cfg(test)]
mod tests;
