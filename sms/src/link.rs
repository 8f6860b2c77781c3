//! The link: one task that owns the modem. It (re)opens the device with backoff, initialises the modem,
//! sends what it is asked to, hands every incoming SMS and status report to its consumer and deletes it
//! from the SIM only when the consumer says it is stored, sweeps the SIM at every start, and watches the
//! modem's health (a modem that stops answering is reopened).
//!
//! Nothing is lost when the device disappears: messages stay on the SIM until deleted, and a send that
//! cannot be done is answered [`SendError::Unavailable`] at once, for the caller's outbox to retry.
//!
//! It touches the device only while its [`Gate`] is open: a process that may have lost the right to
//! drive the modem (another took it over) closes the device at its next step instead of writing to it.

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::at::{Stored, Urc};
use crate::modem::{Health, Modem, ModemError, ModemInfo, SimProblem, Timeouts};
use crate::pdu::Submit;

/// Opens the byte stream to the modem.
pub trait Connector: Send + 'static {
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    fn connect(&mut self) -> impl Future<Output = io::Result<Self::Io>> + Send;
}

/// A serial device: a USB modem's `/dev/ttyUSB0`, `/dev/serial/by-id/…`, or an emulator's pseudo-terminal.
#[derive(Debug, Clone)]
pub struct SerialDevice {
    pub path: PathBuf,
    pub baud: u32,
}

impl Connector for SerialDevice {
    type Io = tokio_serial::SerialStream;

    async fn connect(&mut self) -> io::Result<Self::Io> {
        use tokio_serial::SerialPortBuilderExt;
        let path = self.path.to_string_lossy().into_owned();
        Ok(tokio_serial::new(path, self.baud).timeout(Duration::from_secs(1)).open_native_async()?)
    }
}

/// A SIM's PIN. Its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct SimPin(String);

impl SimPin {
    pub fn new(pin: impl Into<String>) -> Self {
        Self(pin.into())
    }

    /// The digits, for the one command that enters them.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SimPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SimPin(<redacted>)")
    }
}

#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// The SIM's PIN, if it asks for one. Never logged.
    pub pin: Option<SimPin>,
    /// The SIM refused this PIN before (the caller keeps that across restarts): it is not entered
    /// again, since a SIM locks itself after three wrong ones.
    pub pin_refused: bool,
    /// USSD code that answers the prepaid balance (e.g. `*130#`), asked with every health check. The
    /// question never holds up anything else: the answer is taken when it comes, and a question left
    /// unanswered for `timeouts.ussd` is cancelled and asked again at the next check.
    pub ussd_balance_code: Option<String>,
    pub health_every: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    pub timeouts: Timeouts,
    /// Whether the link may use the device now (always, unless told otherwise).
    pub gate: Gate,
}

/// Asked before the link opens the device and before each thing it does with it: while it says no,
/// the device is closed and requests are answered [`SendError::Unavailable`].
#[derive(Clone)]
pub struct Gate(Arc<dyn Fn() -> bool + Send + Sync>);

impl Gate {
    pub fn new(open: impl Fn() -> bool + Send + Sync + 'static) -> Self {
        Self(Arc::new(open))
    }

    pub fn is_open(&self) -> bool {
        (self.0)()
    }
}

impl Default for Gate {
    fn default() -> Self {
        Self::new(|| true)
    }
}

impl fmt::Debug for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Gate({})", if self.is_open() { "open" } else { "closed" })
    }
}

/// What a link that finds its gate closed says.
const GATE_CLOSED: &str = "the modem is not this process's to drive now";

/// How often a closed gate is looked at again.
const GATE_LOOK: Duration = Duration::from_millis(100);

impl Default for LinkConfig {
    fn default() -> Self {
        Self {
            pin: None,
            pin_refused: false,
            ussd_balance_code: None,
            health_every: Duration::from_secs(60),
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            timeouts: Timeouts::default(),
            gate: Gate::default(),
        }
    }
}

/// What the link tells its consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The modem is initialised and ready.
    Up(ModemInfo),
    /// The device failed; the link retries after `retry_in`. `sim` when the SIM is why: the operator
    /// must act (a refused PIN is not entered again, see [`LinkConfig::pin_refused`]).
    Down {
        error: String,
        retry_in: Duration,
        sim: Option<SimProblem>,
    },
    /// An SMS or status report, raw. When it is on the SIM (`index`), store it, then
    /// [`Handle::delete`] it; until then it is offered again after every restart. Each arrival is
    /// offered once per connection, however many times the modem announces it.
    Incoming {
        index: Option<u32>,
        pdu: Vec<u8>,
    },
    /// A stored message whose PDU the modem wrote so that it cannot be read: what was there instead.
    /// Like [`Event::Incoming`]: store it (for the record), then delete it, and the link goes on.
    Unreadable {
        index: u32,
        line: String,
        error: String,
    },
    Health(Health),
    /// The network's answer to the balance code.
    Credit(String),
    /// The balance code got no usable answer (none in time, or an error): asked again at the next check.
    CreditUnanswered(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The network or the SIM refused this message: the modem's answer, and its `+CMS ERROR` number
    /// when it gave one (8, operator determined barring, is what a prepaid SIM without credit gets).
    #[error("refused: {message}")]
    Refused { message: String, cms: Option<u16> },
    /// The modem is not there or not answering; try again later.
    #[error("modem unavailable: {0}")]
    Unavailable(String),
}

enum Request {
    Send { pdu: Vec<u8>, tpdu_len: usize, reply: oneshot::Sender<Result<u8, SendError>> },
    Delete { index: u32, reply: oneshot::Sender<Result<(), SendError>> },
}

/// Talks to the link task. Cheap to clone; the task stops when every handle is dropped.
#[derive(Clone)]
pub struct Handle {
    tx: mpsc::Sender<Request>,
}

impl Handle {
    /// Sends `submit`; returns the message reference its status report will carry.
    pub async fn send(&self, submit: &Submit) -> Result<u8, SendError> {
        let (pdu, tpdu_len) =
            submit.encode().map_err(|e| SendError::Refused { message: e.to_string(), cms: None })?;
        self.ask(|reply| Request::Send { pdu, tpdu_len, reply }).await
    }

    /// Deletes the message at `index` from the SIM, once it is stored elsewhere.
    pub async fn delete(&self, index: u32) -> Result<(), SendError> {
        self.ask(|reply| Request::Delete { index, reply }).await
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, SendError>>) -> Request,
    ) -> Result<T, SendError> {
        let (reply, answer) = oneshot::channel();
        let gone = || SendError::Unavailable("the link task stopped".into());
        self.tx.send(make(reply)).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

/// Starts the link task on `connector`.
pub fn spawn<C: Connector>(
    connector: C,
    config: LinkConfig,
) -> (Handle, mpsc::Receiver<Event>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(64);
    let (events_tx, events) = mpsc::channel(256);
    let task = tokio::spawn(run(connector, config, rx, events_tx));
    (Handle { tx }, events, task)
}

async fn run<C: Connector>(
    mut connector: C,
    config: LinkConfig,
    mut requests: mpsc::Receiver<Request>,
    events: mpsc::Sender<Event>,
) {
    let mut backoff = config.backoff_min;
    let mut pin_refused = config.pin_refused;
    loop {
        if !config.gate.is_open() && !wait_for_gate(&config.gate, &mut requests).await {
            return;
        }
        let mut worked = false;
        let pin = if pin_refused { None } else { config.pin.as_ref() };
        let error = match connector.connect().await {
            Ok(io) => {
                let mut modem = Modem::new(io, config.timeouts);
                match session(&mut modem, &config, pin, &mut requests, &events, &mut worked).await {
                    Ok(()) => return,
                    Err(e) => e,
                }
            }
            Err(e) => ModemError::Io(io::Error::new(e.kind(), format!("cannot open the device: {e}"))),
        };
        // A session that got the modem ready worked: the next wait starts short again.
        if worked {
            backoff = config.backoff_min;
        }
        let sim = match error {
            ModemError::Sim(SimProblem::PinRefused) => {
                pin_refused = true;
                Some(SimProblem::PinRefused)
            }
            // Not entered because it was refused before: say that, not "none configured".
            ModemError::Sim(SimProblem::PinMissing) if pin_refused && config.pin.is_some() => {
                Some(SimProblem::PinRefused)
            }
            ModemError::Sim(ref problem) => Some(problem.clone()),
            _ => None,
        };
        let error = match &sim {
            Some(problem) => problem.to_string(),
            None => error.to_string(),
        };
        tracing::warn!(error, retry_in = ?backoff, "modem link down");
        let down = Event::Down { error: error.clone(), retry_in: backoff, sim };
        if events.send(down).await.is_err() {
            return;
        }
        // While waiting, answer at once: callers keep their outbox and retry.
        let until = Instant::now() + backoff;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(until) => break,
                request = requests.recv() => match request {
                    None => return,
                    Some(request) => refuse(request, &error),
                },
            }
        }
        backoff = (backoff * 2).min(config.backoff_max);
    }
}

/// Until the gate opens, answers every request at once without touching the device. False when every
/// handle is gone.
async fn wait_for_gate(gate: &Gate, requests: &mut mpsc::Receiver<Request>) -> bool {
    tracing::info!("modem link closed: {GATE_CLOSED}");
    while !gate.is_open() {
        tokio::select! {
            () = tokio::time::sleep(GATE_LOOK) => {}
            request = requests.recv() => match request {
                None => return false,
                Some(request) => refuse(request, GATE_CLOSED),
            },
        }
    }
    true
}

fn refuse(request: Request, error: &str) {
    let e = || SendError::Unavailable(error.to_owned());
    match request {
        Request::Send { reply, .. } => drop(reply.send(Err(e()))),
        Request::Delete { reply, .. } => drop(reply.send(Err(e()))),
    }
}

/// One connection's life. `Ok` when every handle is gone; `Err` when the device must be reopened.
/// `worked` becomes true once the modem is ready.
async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    modem: &mut Modem<S>,
    config: &LinkConfig,
    pin: Option<&SimPin>,
    requests: &mut mpsc::Receiver<Request>,
    events: &mpsc::Sender<Event>,
    worked: &mut bool,
) -> Result<(), ModemError> {
    let info = modem.init(pin.map(SimPin::expose)).await?;
    *worked = true;
    tracing::info!(?info, "modem ready");
    emit(events, Event::Up(info)).await?;
    // Whatever arrived while we were away. The announcements queued meanwhile of the slots listed are
    // covered by the listing: read again, they would offer the same message twice.
    let listed = modem.list().await?;
    modem.forget_announcements(|index| listed.iter().any(|s| s.index == index));
    let mut offered = HashSet::new();
    for stored in listed {
        offer(events, &mut offered, stored).await?;
    }
    let mut health = tokio::time::interval(config.health_every);
    // When the balance question now on its way is given up.
    let mut balance_deadline: Option<Instant> = None;
    let closed = || ModemError::Io(io::Error::other(GATE_CLOSED));
    // A gate that closes while nothing happens closes the device soon after too.
    let mut gate_look = tokio::time::interval(GATE_LOOK);
    gate_look.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let balance_wait = balance_deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        // Whatever woke the link, it looks at the gate before it writes to the device.
        tokio::select! {
            request = requests.recv() => match request {
                None => return Ok(()),
                Some(request) if !config.gate.is_open() => {
                    refuse(request, GATE_CLOSED);
                    return Err(closed());
                }
                Some(request) => serve(modem, request, &mut offered).await?,
            },
            urc = modem.next_urc() => {
                let urc = urc?;
                if !config.gate.is_open() {
                    // Left on the SIM: whoever drives the modem next reads it when it starts.
                    return Err(closed());
                }
                on_urc(modem, urc, events, &mut offered, &mut balance_deadline).await?;
            }
            _ = gate_look.tick() => if !config.gate.is_open() {
                return Err(closed());
            },
            _ = health.tick() => {
                if !config.gate.is_open() {
                    return Err(closed());
                }
                emit(events, Event::Health(modem.health().await?)).await?;
                if let Some(code) = &config.ussd_balance_code
                    && balance_deadline.is_none()
                {
                    match modem.ussd_start(code).await {
                        Ok(()) => balance_deadline = Some(Instant::now() + config.timeouts.ussd),
                        Err(e) if e.is_fatal() => return Err(e),
                        Err(e) => {
                            tracing::warn!(error = %e, "balance request refused");
                            emit(events, Event::CreditUnanswered(e.to_string())).await?;
                        }
                    }
                }
            }
            _ = tokio::time::sleep_until(balance_wait), if balance_deadline.is_some() => {
                if !config.gate.is_open() {
                    return Err(closed());
                }
                balance_deadline = None;
                tracing::warn!(after = ?config.timeouts.ussd, "no answer to the balance code; cancelled, asked again later");
                match modem.ussd_cancel().await {
                    Err(e) if e.is_fatal() => return Err(e),
                    _ => {}
                }
                emit(events, Event::CreditUnanswered("no answer from the network".into())).await?;
            }
        }
    }
}

/// Hands a stored message to the consumer, unless it was offered on this connection and not deleted
/// since (the modem announced it again, or the listing had it).
async fn offer(
    events: &mpsc::Sender<Event>,
    offered: &mut HashSet<u32>,
    stored: Stored,
) -> Result<(), ModemError> {
    if !offered.insert(stored.index) {
        tracing::debug!(index = stored.index, "already offered; not read twice");
        return Ok(());
    }
    let event = match stored.pdu {
        Ok(pdu) => Event::Incoming { index: Some(stored.index), pdu },
        Err(unreadable) => {
            tracing::warn!(
                index = stored.index,
                line = unreadable.line,
                error = %unreadable.error,
                "a message on the SIM cannot be read; handed over as it came"
            );
            Event::Unreadable {
                index: stored.index,
                line: unreadable.line,
                error: unreadable.error.to_string(),
            }
        }
    };
    emit(events, event).await
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    modem: &mut Modem<S>,
    request: Request,
    offered: &mut HashSet<u32>,
) -> Result<(), ModemError> {
    fn answer<T>(result: Result<T, ModemError>) -> (Result<T, SendError>, Option<ModemError>) {
        match result {
            Ok(v) => (Ok(v), None),
            Err(e) if e.is_fatal() => (Err(SendError::Unavailable(e.to_string())), Some(e)),
            Err(e) => {
                let cms = match &e {
                    ModemError::Cms { error, .. } => error.code,
                    _ => None,
                };
                (Err(SendError::Refused { message: e.to_string(), cms }), None)
            }
        }
    }
    let fatal = match request {
        Request::Send { pdu, tpdu_len, reply } => {
            let (result, fatal) = answer(modem.send_pdu(&pdu, tpdu_len).await);
            let _ = reply.send(result);
            fatal
        }
        Request::Delete { index, reply } => {
            let deleted = modem.delete(index).await;
            if deleted.is_ok() {
                // The slot is free: what arrives in it next is a new message.
                offered.remove(&index);
            }
            let (result, fatal) = answer(deleted);
            let _ = reply.send(result);
            fatal
        }
    };
    fatal.map_or(Ok(()), Err)
}

async fn on_urc<S: AsyncRead + AsyncWrite + Unpin>(
    modem: &mut Modem<S>,
    urc: Urc,
    events: &mpsc::Sender<Event>,
    offered: &mut HashSet<u32>,
    balance_deadline: &mut Option<Instant>,
) -> Result<(), ModemError> {
    match urc {
        Urc::NewMessage { index, .. } | Urc::NewReport { index, .. } => {
            if offered.contains(&index) {
                tracing::debug!(index, "announced again; offered already");
            } else if let Some(stored) = modem.read(index).await? {
                offer(events, offered, stored).await?;
            }
        }
        Urc::Report { pdu } | Urc::Message { pdu } => {
            emit(events, Event::Incoming { index: None, pdu }).await?
        }
        Urc::Registration(registration) => {
            tracing::info!(?registration, "registration changed");
        }
        Urc::Ussd(answer) => {
            *balance_deadline = None;
            // 1: the network waits for a reply we will not give; end its session.
            if answer.status == 1 {
                match modem.ussd_cancel().await {
                    Err(e) if e.is_fatal() => return Err(e),
                    _ => {}
                }
            }
            let event = match answer.text {
                Some(text) => Event::Credit(text),
                None => Event::CreditUnanswered(format!("USSD status {} without text", answer.status)),
            };
            emit(events, event).await?;
        }
        Urc::Other(_) => {}
    }
    Ok(())
}

async fn emit(events: &mpsc::Sender<Event>, event: Event) -> Result<(), ModemError> {
    // No consumer left: stop like a closed device would, the task ends with its handles.
    events.send(event).await.map_err(|_| ModemError::Closed)
}
