//! The modem task: the one owner of the modem link. Each turn it (1) turns due transactions into signed
//! messages in the outbox, (2) hands the outbox to the modem in order, (3) stores, verifies and applies
//! what stations answer. Every decision is committed to the database before it is acted on, so a server
//! killed at any point resumes here on restart: nothing lost, nothing loaded twice (stations apply a
//! transaction once, whatever arrives twice).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use db::{Db, DueTx, OutMessage, Scheduled, StationEffect, StationLink};
use domain::journal::{self, Answer, Reason as FailReason, RetryPolicy};
use domain::{KeyNumber, PhoneNumber, StationId, Timestamp, TxId};
use sms::link::{Event, Handle, SendError, SimPin};
use sms::modem::SimProblem;
use sms::pdu::{self, Address, AddressKind, Incoming, Submit, UserData, ValidityPeriod, decode_incoming};
use station::protocol::{self, Body, Direction, Message, Reason, ReplayWindow, Secret};
use tokio::sync::mpsc;

use crate::feed::Journal;

pub struct TaskState {
    pub db: Db,
    pub link: Handle,
    pub journal: Journal,
    pub policy: RetryPolicy,
    pub status: super::ModemStatus,
    /// The configured SIM PIN: when the SIM refuses it, its hash is kept so that no restart enters it
    /// again.
    pub pin: Option<SimPin>,
    /// The refusal of this PIN is in the database already.
    pub pin_refusal_kept: AtomicBool,
    /// While this instance owns the modem (`crate::lease`).
    pub hold: crate::lease::Hold,
}

/// While the modem lease is not renewed, look again this often.
const LEASE_WAIT: Duration = Duration::from_millis(250);
/// While the modem is away, look again this often.
const UNAVAILABLE_RETRY: Duration = Duration::from_secs(2);
/// While the network refuses for want of credit, try the oldest message again this often (each try is
/// one refused `AT+CMGS`; someone has to top the SIM up).
const NO_CREDIT_RETRY: Duration = Duration::from_secs(30);

pub(super) async fn run(state: TaskState, mut events: mpsc::Receiver<Event>) {
    // What was received but not processed before a crash.
    match state.db.unprocessed_incoming().await {
        Ok(rows) => {
            for (id, hex) in rows {
                apply_incoming(&state, id, &hex).await;
            }
        }
        Err(e) => tracing::error!(error = %e, "cannot read the inbox"),
    }
    loop {
        let mut wait = Duration::from_secs(60);
        if let Err(e) = schedule_due(&state).await {
            tracing::error!(error = %e, "scheduling top-ups failed");
            wait = UNAVAILABLE_RETRY;
        }
        match send_pending(&state, &mut events).await {
            Ok(None) => {}
            Ok(Some(later)) => wait = wait.min(later),
            Err(Stop) => return,
        }
        if let Ok(Some(next)) = state.db.next_attempt_at().await {
            let until_next = (next.millis() - Timestamp::now().millis()).max(0) as u64;
            wait = wait.min(Duration::from_millis(until_next));
        }
        tokio::select! {
            _ = state.journal.woken() => {}
            _ = tokio::time::sleep(wait) => {}
            event = events.recv() => match event {
                None => return,
                Some(event) => on_event(&state, event).await,
            },
        }
    }
}

/// The link is gone for good (the server is stopping).
struct Stop;

/// Queues the next message of every due transaction, with its new schedule, in one commit each.
#[tracing::instrument(name = "schedule", skip_all)]
async fn schedule_due(state: &TaskState) -> db::Result<()> {
    let now = Timestamp::now();
    for due in state.db.due_transactions(now, 100).await? {
        let attempts = u32::try_from(due.attempts).unwrap_or(u32::MAX);
        let Some(next) = journal::next_send(due.status, attempts, &state.policy) else { continue };
        let (Some(station), Some(tx)) = (due.station_id.protocol(), due.id.protocol()) else {
            // Registration refuses such numbers: only a database changed by hand can hold one.
            tracing::error!(station = %due.station_id, tx = %due.id, "a number the station protocol cannot carry");
            continue;
        };
        let body = match next.message {
            journal::Message::TopUp => top_up(tx, &due),
            journal::Message::Cancel => Body::Cancel { tx },
        };
        let schedule = Scheduled {
            next_attempt_at: Some(now.plus_millis(next.wait_ms)),
            count_attempt: next.count_attempt,
            fail: next.fail,
        };
        state
            .db
            .queue_message(due.station_id, Some(due.id), schedule, now, |counter, link| {
                sign(station, link, counter, body)
            })
            .await?;
    }
    Ok(())
}

/// Queues a signed STATUS request: the station answers with a heartbeat (its live facts).
/// `false` when the station was asked less than `STATUS_REQUEST_INTERVAL_MS` ago: nothing is queued.
pub async fn queue_status_request(db: &Db, station: StationId) -> db::Result<bool> {
    let now = Timestamp::now();
    let not_since = now.plus_millis(-STATUS_REQUEST_INTERVAL_MS);
    let number = station.protocol().ok_or(db::DbError::NotFound)?;
    let queued = db
        .queue_status_request(station, now, not_since, |counter, link| {
            sign(number, link, counter, Body::Status)
        })
        .await?;
    Ok(queued.is_some())
}

/// How often a station may be asked for its state. Each request is an SMS paid from the server's SIM
/// credit, and a station answers within about a minute: asking again sooner tells nothing new, and a
/// button pressed in a loop must not drain the credit that top-ups need.
pub const STATUS_REQUEST_INTERVAL_MS: i64 = 60_000;

fn top_up(tx: u64, due: &DueTx) -> Body {
    // At most `Amount::MAX_RAPPEN`, well within 32 bits.
    let amount = u32::try_from(due.amount.rappen()).unwrap_or(u32::MAX);
    Body::TopUp { tx, key: due.key.0, amount }
}

/// Signs `body` for station number `station` (its protocol number) with its secret.
fn sign(station: u32, link: &StationLink, counter: u32, body: Body) -> String {
    Message { station, counter, body }.encode(&Secret::from_bytes(link.secret))
}

/// Hands the outbox to the modem, oldest first. `Ok(Some(wait))` when the rest must wait (the modem is
/// away, the SIM has no credit): the messages stay in the outbox, in order.
#[tracing::instrument(name = "send", skip_all)]
async fn send_pending(
    state: &TaskState,
    events: &mut mpsc::Receiver<Event>,
) -> Result<Option<Duration>, Stop> {
    let pending = match state.db.pending_messages(50).await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the outbox");
            return Ok(Some(UNAVAILABLE_RETRY));
        }
    };
    for message in pending {
        let Some(submit) = submit(&message) else {
            record(
                state.db.message_refused(message.id, "invalid phone number", FailReason::InvalidPhone).await,
            );
            continue;
        };
        // Another instance may own the modem by now (this one was frozen, or cut off from the
        // database): nothing is handed to it until the lease is renewed; the lease's task stops this
        // one if it was lost.
        if !state.hold.holds() {
            tracing::warn!("the modem lease is not renewed: sending waits");
            return Ok(Some(LEASE_WAIT));
        }
        // While the modem works, keep taking what it reports (it must never wait for us).
        let send = state.link.send(&submit);
        tokio::pin!(send);
        let result = loop {
            tokio::select! {
                result = &mut send => break result,
                event = events.recv() => match event {
                    None => return Err(Stop),
                    Some(event) => on_event(state, event).await,
                },
            }
        };
        let now = Timestamp::now();
        match result {
            Ok(reference) => record(state.db.message_sent(message.id, reference, now).await),
            // +CMS ERROR 8 (operator determined barring) is what a prepaid SIM without credit gets: nothing
            // can leave until it is topped up, so the outbox waits, and the journal says why.
            Err(SendError::Refused { message: error, cms: Some(8) }) => {
                tracing::warn!(error, "the SIM has no credit; the outbox waits");
                record(state.db.message_waiting(message.id, FailReason::SimCredit).await);
                return Ok(Some(NO_CREDIT_RETRY));
            }
            Err(SendError::Refused { message: error, .. }) => {
                tracing::warn!(error, "the network refused an SMS");
                record(state.db.message_refused(message.id, &error, FailReason::ModemRefused).await);
            }
            Err(SendError::Unavailable(error)) => {
                tracing::warn!(error, "modem unavailable; the outbox waits");
                return Ok(Some(UNAVAILABLE_RETRY));
            }
        }
    }
    Ok(None)
}

fn submit(message: &OutMessage) -> Option<Submit> {
    Some(Submit {
        reference: 0,
        destination: Address::parse(message.phone.as_str()).ok()?,
        reject_duplicates: false,
        status_report_request: true,
        validity: Some(ValidityPeriod::at_most_minutes(24 * 60)),
        user_data: UserData::text(&message.text),
    })
}

fn record(result: db::Result<Option<i64>>) {
    if let Err(e) = result {
        tracing::error!(error = %e, "recording a send failed");
    }
}

#[tracing::instrument(name = "modem_event", skip_all)]
async fn on_event(state: &TaskState, event: Event) {
    state.status.observe(&event);
    match event {
        Event::Up(info) => {
            tracing::info!(model = info.model, "modem up");
            if state.pin_refusal_kept.swap(false, Ordering::Relaxed)
                && let Err(e) = state.db.clear_pin_refused().await
            {
                tracing::error!(error = %e, "cannot forget the refused SIM PIN");
            }
        }
        Event::Down { error, retry_in, sim } => {
            tracing::warn!(error, ?retry_in, "modem down");
            if sim == Some(SimProblem::PinRefused) {
                keep_pin_refusal(state).await;
            }
        }
        Event::Health(health) => tracing::debug!(?health, "modem health"),
        Event::Credit(text) => tracing::info!(text, "SIM credit"),
        Event::CreditUnanswered(why) => tracing::warn!(why, "SIM credit unknown"),
        Event::Incoming { index, pdu } => {
            // Stored raw first; only then may it leave the SIM.
            let hex = pdu::to_hex(&pdu);
            let id = match state.db.store_incoming(&hex, Timestamp::now()).await {
                Ok(id) => id,
                Err(e) => {
                    tracing::error!(error = %e, "cannot store a received SMS; it stays on the SIM");
                    return;
                }
            };
            if let Some(index) = index {
                delete_from_sim(state, index).await;
            }
            apply_incoming(state, id, &hex).await;
        }
        Event::Unreadable { index, line, error } => {
            // Kept as it came (for the record and the modem card's count), then off the SIM: one message
            // the driver cannot read must not stay there to be offered at every connection.
            match state.db.store_unreadable(&line, Timestamp::now()).await {
                Ok(id) => {
                    tracing::warn!(id, error, "stored a message the modem wrote unreadably");
                    delete_from_sim(state, index).await;
                }
                Err(e) => tracing::error!(error = %e, "cannot store an unreadable SMS; it stays on the SIM"),
            }
        }
    }
}

async fn delete_from_sim(state: &TaskState, index: u32) {
    if let Err(e) = state.link.delete(index).await {
        tracing::warn!(error = %e, "could not delete a stored SMS from the SIM; it will be offered again");
    }
}

/// Keeps the refused PIN's hash, once per refusal.
async fn keep_pin_refusal(state: &TaskState) {
    let Some(pin) = &state.pin else { return };
    if state.pin_refusal_kept.load(Ordering::Relaxed) {
        return;
    }
    let kept = match crate::auth::password::hash(pin.expose().to_owned()).await {
        Ok(hash) => state.db.record_pin_refused(&hash, Timestamp::now()).await.map_err(anyhow::Error::from),
        Err(e) => Err(e),
    };
    match kept {
        Ok(()) => {
            state.pin_refusal_kept.store(true, Ordering::Relaxed);
            tracing::error!(
                "the SIM refused the configured PIN: it will not be entered again until --modem-pin changes"
            );
        }
        Err(e) => tracing::error!(error = %e, "cannot keep the SIM's refusal of the PIN"),
    }
}

/// Whether the SIM refused `pin` before (its hash is kept): then it must not be entered again.
pub async fn pin_was_refused(db: &Db, pin: Option<&SimPin>) -> bool {
    let Some(pin) = pin else { return false };
    match db.refused_pin_hash().await {
        Ok(None) => false,
        // Checked like a password; when the check cannot run, do not risk the SIM's last tries.
        Ok(Some(hash)) => {
            crate::auth::password::verify(pin.expose().to_owned(), Some(hash)).await.unwrap_or(true)
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot read whether the SIM refused its PIN; not entering it");
            true
        }
    }
}

/// Verifies and applies a stored incoming message, recording the verdict.
pub async fn apply_incoming(state: &TaskState, id: i64, hex: &str) {
    if let Err(e) = try_apply(state, id, hex).await {
        tracing::error!(error = %e, id, "processing a received SMS failed; retried at the next start");
    }
}

#[tracing::instrument(name = "apply", skip(state, hex))]
async fn try_apply(state: &TaskState, id: i64, hex: &str) -> db::Result<()> {
    let db = &state.db;
    let decoded = pdu::from_hex(hex).ok().and_then(|bytes| decode_incoming(&bytes).ok());
    let deliver = match decoded.map(|p| p.message) {
        None => return db.incoming_verdict(id, "undecodable", None, None, None).await,
        Some(Incoming::StatusReport(report)) => {
            let recipient = &report.recipient;
            let international = recipient.kind == AddressKind::International;
            match PhoneNumber::from_network(international, &recipient.value) {
                Some(phone) => {
                    let reported = db
                        .message_reported(report.reference, &phone, report.status, Timestamp::now())
                        .await?;
                    if reported.resend_now {
                        tracing::info!(station = %phone, status = report.status, "not delivered; sent again now");
                        state.journal.wake();
                    }
                }
                None => tracing::warn!(recipient = %recipient, "a status report on no phone number"),
            }
            return db.incoming_verdict(id, "report", None, None, None).await;
        }
        Some(Incoming::Deliver(deliver)) => deliver,
    };
    let sender = deliver.originator.to_string();
    let text = deliver.user_data.text;
    let reject =
        |verdict: String, station: Option<StationId>| reject(db, id, &sender, &text, verdict, station);
    let unverified = match protocol::parse(&text) {
        Ok(u) => u,
        Err(e) => return reject(e.to_string(), None).await,
    };
    let Some(link) = db.station_link(StationId::from_protocol(unverified.station)).await? else {
        return reject("unknown station".into(), None).await;
    };
    let message = match unverified.verify(&Secret::from_bytes(link.secret), Direction::ToServer) {
        Ok(m) => m,
        Err(e) => return reject(e.to_string(), Some(link.id)).await,
    };
    let before = ReplayWindow { highest: link.heard_highest as u32, seen: link.heard_window as u64 };
    let mut after = before;
    if let Err(e) = after.accept(message.counter) {
        return reject(e.to_string(), Some(link.id)).await;
    }
    let effect = match message.body {
        Body::Received { tx } => answer(tx, Answer::Received, None),
        Body::Reloaded { tx, key, amount, balance } => answer(
            tx,
            Answer::Reloaded { key: KeyNumber(key), amount: i64::from(amount), balance: i64::from(balance) },
            None,
        ),
        Body::Refused { tx, reason } => answer(
            tx,
            Answer::Refused { cancelled: reason == Reason::Cancelled, retry_later: reason == Reason::Full },
            Some(refusal(reason)),
        ),
        Body::Cancelled { tx } => answer(tx, Answer::Cancelled, None),
        Body::Heartbeat { pending, signal, credit, firmware } => StationEffect::Heartbeat {
            pending: i64::from(pending),
            signal_dbm: signal.map(i64::from),
            sim_credit_rappen: credit.map(i64::from),
            firmware,
        },
        Body::TopUp { .. } | Body::Cancel { .. } | Body::Status => {
            unreachable!("verify checks the direction")
        }
    };
    let now = Timestamp::now();
    let message = db::VerifiedMessage {
        in_id: id,
        station_id: link.id,
        window_before: (i64::from(before.highest), before.seen as i64),
        window_after: (i64::from(after.highest), after.seen as i64),
        sender: &sender,
        text: &text,
        effect: &effect,
    };
    db.apply_station_message(message, now, now.plus_millis(state.policy.confirmed_recheck_ms)).await?;
    Ok(())
}

/// A message that does not verify changes nothing and gets no answer: counted, logged, kept for audit.
async fn reject(
    db: &Db,
    id: i64,
    sender: &str,
    text: &str,
    verdict: String,
    station: Option<StationId>,
) -> db::Result<()> {
    tracing::warn!(
        sender,
        station = station.map(StationId::get),
        verdict,
        "ignored an SMS that does not verify"
    );
    if let Some(station) = station {
        db.count_rejected(station).await?;
    }
    db.incoming_verdict(id, &format!("rejected: {verdict}"), Some(sender), Some(text), station).await
}

fn answer(tx: u64, answer: Answer, reason: Option<FailReason>) -> StationEffect {
    // A number past the database's range names no transaction: -1 is none either, and the answer is
    // recorded as about an unknown transaction.
    StationEffect::Answer { tx: TxId::from_protocol(tx).unwrap_or(TxId(-1)), answer, reason }
}

fn refusal(reason: Reason) -> FailReason {
    match reason {
        Reason::Limit => FailReason::StationLimit,
        Reason::Amount => FailReason::StationAmount,
        Reason::Full => FailReason::StationFull,
        Reason::Cancelled => FailReason::Cancelled,
        Reason::Expired => FailReason::StationExpired,
    }
}
