//! Alerts: what can go wrong before a tenant notices, when it is so, and what to say about it.
//!
//! The server gathers the facts (the modem's state, the stations' reports, the journal, the payments)
//! into [`Facts`]; [`evaluate`] says which conditions hold now ([`Raised`]) and which stations to ask
//! for their state first. The database layer compares that with the alerts it keeps: a condition that
//! starts opens an alert (and its mails), one that ends clears it. Everything here is pure.

mod credit;
pub mod words;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::journal::Reason;
use crate::{Amount, GeranceId, KeyNumber, PaymentId, StationId, Timestamp, TxId};

pub use credit::ussd_credit;

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// The kinds of alert. Server-level ones (the modem, the outbox) go to operators only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    ModemCredit,
    ModemCreditUnread,
    ModemDown,
    OutboxStale,
    StationCredit,
    StationSilent,
    StationSignal,
    TopUpFailed,
    CancelUnconfirmed,
    PaymentsWaiting,
    BlockedKeyPayment,
}

impl Kind {
    pub const ALL: [Kind; 11] = [
        Kind::ModemCredit,
        Kind::ModemCreditUnread,
        Kind::ModemDown,
        Kind::OutboxStale,
        Kind::StationCredit,
        Kind::StationSilent,
        Kind::StationSignal,
        Kind::TopUpFailed,
        Kind::CancelUnconfirmed,
        Kind::PaymentsWaiting,
        Kind::BlockedKeyPayment,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::ModemCredit => "modem_credit",
            Kind::ModemCreditUnread => "modem_credit_unread",
            Kind::ModemDown => "modem_down",
            Kind::OutboxStale => "outbox_stale",
            Kind::StationCredit => "station_credit",
            Kind::StationSilent => "station_silent",
            Kind::StationSignal => "station_signal",
            Kind::TopUpFailed => "top_up_failed",
            Kind::CancelUnconfirmed => "cancel_unconfirmed",
            Kind::PaymentsWaiting => "payments_waiting",
            Kind::BlockedKeyPayment => "blocked_key_payment",
        }
    }

    /// An event rather than a state: a failed top-up stays failed, so its alert ends when a person
    /// acknowledges it. Every other alert ends when its condition does.
    pub fn ends_by_itself(self) -> bool {
        self != Kind::TopUpFailed
    }

    /// About the server's own modem and outbox: for operators only.
    pub fn server_level(self) -> bool {
        matches!(self, Kind::ModemCredit | Kind::ModemCreditUnread | Kind::ModemDown | Kind::OutboxStale)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|k| k.as_str() == s).ok_or(())
    }
}

/// A condition that holds, with the facts its message gives. Stored as JSON with its alert (the facts
/// as they were when it was last seen), so that a mail sent later says what was seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Condition {
    /// The server modem's SIM credit (Rappen) is below the threshold.
    ModemCredit {
        credit: i64,
        threshold: i64,
    },
    /// The network answered the balance code, but no amount could be read from its answer.
    ModemCreditUnread {
        answer: String,
    },
    /// The modem has been disconnected since then.
    ModemDown {
        since: Timestamp,
        error: Option<String>,
    },
    /// The oldest message waiting to leave was queued then; `waiting` messages in all.
    OutboxStale {
        oldest: Timestamp,
        waiting: i64,
    },
    StationCredit {
        station: StationId,
        name: String,
        credit: i64,
        threshold: i64,
    },
    /// Not heard from since `heard` (never, when `None`), though asked for its state.
    StationSilent {
        station: StationId,
        name: String,
        heard: Option<Timestamp>,
    },
    /// The signal it reports has been below the threshold since `since`.
    StationSignal {
        station: StationId,
        name: String,
        dbm: i64,
        threshold: i64,
        since: Timestamp,
    },
    TopUpFailed {
        tx: TxId,
        station: StationId,
        name: String,
        key: KeyNumber,
        amount: Amount,
        reason: Option<Reason>,
    },
    /// A cancellation asked for then that the station has not confirmed.
    CancelUnconfirmed {
        tx: TxId,
        station: StationId,
        name: String,
        key: KeyNumber,
        since: Timestamp,
    },
    /// `count` payment exceptions wait for a decision, the oldest since `oldest`.
    PaymentsWaiting {
        count: i64,
        oldest: Timestamp,
    },
    /// A payment arrived for a key that is blocked.
    BlockedKeyPayment {
        payment: PaymentId,
        station: StationId,
        name: String,
        key: KeyNumber,
        rappen: i64,
    },
}

impl Condition {
    pub fn kind(&self) -> Kind {
        match self {
            Condition::ModemCredit { .. } => Kind::ModemCredit,
            Condition::ModemCreditUnread { .. } => Kind::ModemCreditUnread,
            Condition::ModemDown { .. } => Kind::ModemDown,
            Condition::OutboxStale { .. } => Kind::OutboxStale,
            Condition::StationCredit { .. } => Kind::StationCredit,
            Condition::StationSilent { .. } => Kind::StationSilent,
            Condition::StationSignal { .. } => Kind::StationSignal,
            Condition::TopUpFailed { .. } => Kind::TopUpFailed,
            Condition::CancelUnconfirmed { .. } => Kind::CancelUnconfirmed,
            Condition::PaymentsWaiting { .. } => Kind::PaymentsWaiting,
            Condition::BlockedKeyPayment { .. } => Kind::BlockedKeyPayment,
        }
    }

    /// The station it is about, if any.
    pub fn station(&self) -> Option<StationId> {
        match self {
            Condition::StationCredit { station, .. }
            | Condition::StationSilent { station, .. }
            | Condition::StationSignal { station, .. }
            | Condition::TopUpFailed { station, .. }
            | Condition::CancelUnconfirmed { station, .. }
            | Condition::BlockedKeyPayment { station, .. } => Some(*station),
            _ => None,
        }
    }

    /// What it is about, within its kind and gérance: at most one alert of a kind is open per subject.
    pub fn subject(&self, gerance: Option<GeranceId>) -> String {
        match self {
            Condition::TopUpFailed { tx, .. } | Condition::CancelUnconfirmed { tx, .. } => format!("t{tx}"),
            Condition::BlockedKeyPayment { payment, .. } => format!("p{payment}"),
            Condition::PaymentsWaiting { .. } => gerance.map_or_else(String::new, |g| format!("g{g}")),
            _ => self.station().map_or_else(String::new, |s| format!("s{s}")),
        }
    }

    /// The page it is best looked at on, as a path of the site.
    pub fn page(&self) -> String {
        match self {
            Condition::ModemCredit { .. }
            | Condition::ModemCreditUnread { .. }
            | Condition::ModemDown { .. }
            | Condition::OutboxStale { .. }
            | Condition::StationCredit { .. }
            | Condition::StationSilent { .. }
            | Condition::StationSignal { .. } => "/stations".into(),
            Condition::TopUpFailed { station, key, .. }
            | Condition::CancelUnconfirmed { station, key, .. } => {
                format!("/transactions?station={station}&key={}", key.0)
            }
            Condition::PaymentsWaiting { .. } => "/payments".into(),
            Condition::BlockedKeyPayment { payment, .. } => {
                format!("/payments?payment={payment}#p-{payment}")
            }
        }
    }
}

/// A condition that holds, and whose it is: a gérance's (its accounts and the operators get it) or the
/// server's (`gerance: None`, operators only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Raised {
    pub gerance: Option<GeranceId>,
    pub condition: Condition,
}

impl Raised {
    pub fn subject(&self) -> String {
        self.condition.subject(self.gerance)
    }
}

/// The server's thresholds, set by the operator (flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerThresholds {
    /// The modem SIM's credit below this (Rappen).
    pub modem_credit: i64,
    /// The modem disconnected for longer than this (ms).
    pub modem_down_ms: i64,
    /// The oldest unsent message older than this (ms).
    pub outbox_age_ms: i64,
    /// A silent station is asked for its state; it is reported silent if no answer came this long after
    /// the question (ms).
    pub status_grace_ms: i64,
    /// A station's signal weak for this long (ms).
    pub weak_for_ms: i64,
}

impl Default for ServerThresholds {
    fn default() -> Self {
        Self {
            modem_credit: 500,
            modem_down_ms: 5 * MINUTE,
            outbox_age_ms: 15 * MINUTE,
            status_grace_ms: 10 * MINUTE,
            weak_for_ms: DAY,
        }
    }
}

/// A gérance's thresholds for its stations and payments (its own, or the operator's defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeranceThresholds {
    /// A station SIM's credit below this (Rappen).
    pub station_credit: i64,
    /// A station not heard from for longer than this (ms). Stations report once a day by themselves.
    pub silent_ms: i64,
    /// A signal below this (dBm).
    pub weak_signal_dbm: i64,
    /// A cancellation unconfirmed for longer than this (ms).
    pub cancel_wait_ms: i64,
    /// A payment exception undecided for longer than this (ms).
    pub payments_wait_ms: i64,
}

impl Default for GeranceThresholds {
    fn default() -> Self {
        Self {
            station_credit: 500,
            silent_ms: 25 * HOUR,
            weak_signal_dbm: -105,
            cancel_wait_ms: DAY,
            payments_wait_ms: DAY,
        }
    }
}

/// A threshold that makes no sense, with the bounds it must keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum ThresholdError {
    #[error("a credit threshold must be an amount in CHF from 0.00 to 500.00")]
    Credit,
    #[error("a duration must be from {min} to {max} minutes", min = .0.min_minutes(), max = .0.max_minutes())]
    Duration(DurationBounds),
    #[error("the signal threshold must be a whole number of dBm from -113 to -51")]
    Signal,
}

/// Which duration a [`ThresholdError::Duration`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DurationBounds {
    /// A minute to a day: the modem, the outbox, the status question's grace.
    Short,
    /// A minute to 30 days: the stations' silence, the waits for cancellations and payments.
    Long,
}

impl DurationBounds {
    fn min_minutes(self) -> i64 {
        1
    }
    fn max_minutes(self) -> i64 {
        match self {
            DurationBounds::Short => 24 * 60,
            DurationBounds::Long => 30 * 24 * 60,
        }
    }
    /// `ms` if it is within these bounds.
    pub fn check(self, ms: i64) -> Result<i64, ThresholdError> {
        if (self.min_minutes() * MINUTE..=self.max_minutes() * MINUTE).contains(&ms) {
            Ok(ms)
        } else {
            Err(ThresholdError::Duration(self))
        }
    }
}

/// The most a credit threshold may be: no prepaid SIM holds more.
pub const MAX_CREDIT_THRESHOLD: i64 = 50_000;

/// A credit threshold as people write it, in CHF: `5`, `5.00`, `5,5`, `CHF 5.00`.
pub fn parse_credit_threshold(text: &str) -> Result<i64, ThresholdError> {
    let trimmed = text.trim();
    let trimmed = trimmed.strip_prefix("CHF").unwrap_or(trimmed).trim();
    let (francs, cents) = match trimmed.split_once(['.', ',']) {
        Some((f, c)) => (f, c),
        None => (trimmed, ""),
    };
    if francs.is_empty()
        || francs.len() > 6
        || cents.len() > 2
        || !francs.bytes().all(|b| b.is_ascii_digit())
        || !cents.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(ThresholdError::Credit);
    }
    let francs: i64 = francs.parse().map_err(|_| ThresholdError::Credit)?;
    let cents: i64 = match cents.len() {
        0 => 0,
        1 => cents.parse::<i64>().map_err(|_| ThresholdError::Credit)? * 10,
        _ => cents.parse().map_err(|_| ThresholdError::Credit)?,
    };
    let rappen = francs * 100 + cents;
    if rappen > MAX_CREDIT_THRESHOLD {
        return Err(ThresholdError::Credit);
    }
    Ok(rappen)
}

/// A signal threshold in dBm: the range a GSM modem reports (`+CSQ` 0 to 31).
pub fn check_signal_threshold(dbm: i64) -> Result<i64, ThresholdError> {
    if (-113..=-51).contains(&dbm) { Ok(dbm) } else { Err(ThresholdError::Signal) }
}

impl ServerThresholds {
    /// Every value within its bounds.
    pub fn check(self) -> Result<Self, ThresholdError> {
        if !(0..=MAX_CREDIT_THRESHOLD).contains(&self.modem_credit) {
            return Err(ThresholdError::Credit);
        }
        DurationBounds::Short.check(self.modem_down_ms)?;
        DurationBounds::Short.check(self.outbox_age_ms)?;
        DurationBounds::Short.check(self.status_grace_ms)?;
        DurationBounds::Long.check(self.weak_for_ms)?;
        Ok(self)
    }
}

impl GeranceThresholds {
    /// Every value within its bounds.
    pub fn check(self) -> Result<Self, ThresholdError> {
        if !(0..=MAX_CREDIT_THRESHOLD).contains(&self.station_credit) {
            return Err(ThresholdError::Credit);
        }
        DurationBounds::Long.check(self.silent_ms)?;
        check_signal_threshold(self.weak_signal_dbm)?;
        DurationBounds::Long.check(self.cancel_wait_ms)?;
        DurationBounds::Long.check(self.payments_wait_ms)?;
        Ok(self)
    }
}

/// What the server's modem last told about itself; `None` in [`Facts`] where this process does not
/// drive a modem.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModemFacts {
    pub connected: bool,
    /// Since when it is connected, or disconnected.
    pub since: Option<Timestamp>,
    pub error: Option<String>,
    /// The network's last answer to the balance code.
    pub credit_answer: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StationFacts {
    pub id: StationId,
    pub gerance: GeranceId,
    pub name: String,
    pub created_at: Timestamp,
    pub heard_at: Option<Timestamp>,
    pub signal_dbm: Option<i64>,
    pub sim_credit: Option<i64>,
    /// The last STATUS question sent (queued) to it.
    pub asked_at: Option<Timestamp>,
    /// Since when its signal has been seen weak (kept by the server between checks).
    pub weak_since: Option<Timestamp>,
    /// It is reported silent already (its alert is open): asking it again does not clear that.
    pub reported_silent: bool,
}

/// A failed top-up no alert was raised for yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedTopUp {
    pub tx: TxId,
    pub gerance: GeranceId,
    pub station: StationId,
    pub name: String,
    pub key: KeyNumber,
    pub amount: Amount,
    pub reason: Option<Reason>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cancelling {
    pub tx: TxId,
    pub gerance: GeranceId,
    pub station: StationId,
    pub name: String,
    pub key: KeyNumber,
    pub since: Timestamp,
}

/// A gérance's undecided payment exceptions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exceptions {
    pub gerance: GeranceId,
    pub count: i64,
    pub oldest: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockedPayment {
    pub payment: PaymentId,
    pub gerance: GeranceId,
    pub station: StationId,
    pub name: String,
    pub key: KeyNumber,
    pub rappen: i64,
}

/// Everything the conditions are decided on, read at `now`.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub now: Timestamp,
    pub server: ServerThresholds,
    /// Each gérance's thresholds; the default ones for a gérance not listed.
    pub thresholds: Vec<(GeranceId, GeranceThresholds)>,
    pub default_thresholds: GeranceThresholds,
    pub modem: Option<ModemFacts>,
    /// The oldest unsent message's time, and how many wait.
    pub outbox: Option<(Timestamp, i64)>,
    pub stations: Vec<StationFacts>,
    pub failed: Vec<FailedTopUp>,
    pub cancelling: Vec<Cancelling>,
    pub exceptions: Vec<Exceptions>,
    pub blocked: Vec<BlockedPayment>,
}

impl Facts {
    fn thresholds(&self, gerance: GeranceId) -> GeranceThresholds {
        self.thresholds.iter().find(|(g, _)| *g == gerance).map_or(self.default_thresholds, |(_, t)| *t)
    }
}

/// What holds now, and what to do before it can be said.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evaluation {
    pub raised: Vec<Raised>,
    /// Stations silent past their threshold to ask for their state (a STATUS message) before they are
    /// reported silent.
    pub ask: Vec<StationId>,
    /// Stations whose signal is weak now (the server keeps since when), and those whose is not.
    pub weak: Vec<StationId>,
}

/// A silent station is asked again this often while it stays silent.
pub const ASK_AGAIN_MS: i64 = 6 * HOUR;

/// The conditions that hold, from `facts`.
pub fn evaluate(facts: &Facts) -> Evaluation {
    let now = facts.now;
    let server = facts.server;
    let mut out = Evaluation::default();
    let mut raise =
        |gerance: Option<GeranceId>, condition: Condition| out.raised.push(Raised { gerance, condition });
    if let Some(modem) = &facts.modem {
        if !modem.connected
            && let Some(since) = modem.since
            && now.millis() - since.millis() > server.modem_down_ms
        {
            raise(None, Condition::ModemDown { since, error: modem.error.clone() });
        }
        if let Some(answer) = &modem.credit_answer {
            match ussd_credit(answer) {
                Some(credit) if credit < server.modem_credit => {
                    raise(None, Condition::ModemCredit { credit, threshold: server.modem_credit })
                }
                Some(_) => {}
                None => raise(None, Condition::ModemCreditUnread { answer: answer.clone() }),
            }
        }
    }
    if let Some((oldest, waiting)) = facts.outbox
        && now.millis() - oldest.millis() > server.outbox_age_ms
    {
        raise(None, Condition::OutboxStale { oldest, waiting });
    }
    let mut ask = Vec::new();
    let mut weak = Vec::new();
    for s in &facts.stations {
        let t = facts.thresholds(s.gerance);
        let g = Some(s.gerance);
        if let Some(credit) = s.sim_credit
            && credit < t.station_credit
        {
            raise(
                g,
                Condition::StationCredit {
                    station: s.id,
                    name: s.name.clone(),
                    credit,
                    threshold: t.station_credit,
                },
            );
        }
        let heard = s.heard_at.unwrap_or(s.created_at);
        let silent_for = now.millis() - heard.millis();
        if silent_for > t.silent_ms {
            let asked_since = s.asked_at.filter(|a| *a > heard);
            if asked_since.is_none_or(|a| now.millis() - a.millis() >= ASK_AGAIN_MS) {
                ask.push(s.id);
            }
            let unanswered = asked_since
                .is_some_and(|a| now.millis() - a.millis() >= server.status_grace_ms || s.reported_silent);
            if unanswered {
                raise(g, Condition::StationSilent { station: s.id, name: s.name.clone(), heard: s.heard_at });
            }
        }
        if let Some(dbm) = s.signal_dbm
            && dbm < t.weak_signal_dbm
        {
            weak.push(s.id);
            if let Some(since) = s.weak_since
                && now.millis() - since.millis() >= server.weak_for_ms
            {
                raise(
                    g,
                    Condition::StationSignal {
                        station: s.id,
                        name: s.name.clone(),
                        dbm,
                        threshold: t.weak_signal_dbm,
                        since,
                    },
                );
            }
        }
    }
    for f in &facts.failed {
        raise(
            Some(f.gerance),
            Condition::TopUpFailed {
                tx: f.tx,
                station: f.station,
                name: f.name.clone(),
                key: f.key,
                amount: f.amount,
                reason: f.reason,
            },
        );
    }
    for c in &facts.cancelling {
        if now.millis() - c.since.millis() > facts.thresholds(c.gerance).cancel_wait_ms {
            raise(
                Some(c.gerance),
                Condition::CancelUnconfirmed {
                    tx: c.tx,
                    station: c.station,
                    name: c.name.clone(),
                    key: c.key,
                    since: c.since,
                },
            );
        }
    }
    for e in &facts.exceptions {
        if e.count > 0 && now.millis() - e.oldest.millis() > facts.thresholds(e.gerance).payments_wait_ms {
            raise(Some(e.gerance), Condition::PaymentsWaiting { count: e.count, oldest: e.oldest });
        }
    }
    for b in &facts.blocked {
        raise(
            Some(b.gerance),
            Condition::BlockedKeyPayment {
                payment: b.payment,
                station: b.station,
                name: b.name.clone(),
                key: b.key,
                rappen: b.rappen,
            },
        );
    }
    out.ask = ask;
    out.weak = weak;
    out
}

#[cfg(test)]
mod tests;
