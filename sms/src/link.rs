//! The link: one task that owns the modem. It (re)opens the device with backoff, initialises the modem,
//! sends what it is asked to, hands every incoming SMS and status report to its consumer and deletes it
//! from the SIM only when the consumer says it is stored, sweeps the SIM at every start, and watches the
//! modem's health (a modem that stops answering is reopened).
//!
//! Nothing is lost when the device disappears: messages stay on the SIM until deleted, and a send that
//! cannot be done is answered [`SendError::Unavailable`] at once, for the caller's outbox to retry.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::at::Urc;
use crate::modem::{Health, Modem, ModemError, ModemInfo, Timeouts};
use crate::pdu::{StatusReport, Submit};

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

#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// The SIM's PIN, if it asks for one. Never logged.
    pub pin: Option<String>,
    /// USSD code that answers the prepaid balance (e.g. `*130#`), asked with every health check.
    pub ussd_balance_code: Option<String>,
    pub health_every: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    pub timeouts: Timeouts,
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self {
            pin: None,
            ussd_balance_code: None,
            health_every: Duration::from_secs(60),
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            timeouts: Timeouts::default(),
        }
    }
}

/// What the link tells its consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The modem is initialised and ready.
    Up(ModemInfo),
    /// The device failed; the link retries after `retry_in`.
    Down {
        error: String,
        retry_in: Duration,
    },
    /// An SMS or status report, raw. When it is on the SIM (`index`), store it, then
    /// [`Handle::delete`] it; until then it is offered again after every restart.
    Incoming {
        index: Option<u32>,
        pdu: Vec<u8>,
    },
    Health(Health),
    /// The network's answer to the balance code.
    Credit(String),
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
    Ussd { code: String, reply: oneshot::Sender<Result<String, SendError>> },
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

    /// Asks the network by USSD.
    pub async fn ussd(&self, code: &str) -> Result<String, SendError> {
        let code = code.to_owned();
        self.ask(|reply| Request::Ussd { code, reply }).await
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
    loop {
        let started = Instant::now();
        let error = match connector.connect().await {
            Ok(io) => {
                let mut modem = Modem::new(io, config.timeouts);
                match session(&mut modem, &config, &mut requests, &events).await {
                    Ok(()) => return,
                    Err(e) => e.to_string(),
                }
            }
            Err(e) => format!("cannot open the device: {e}"),
        };
        if started.elapsed() > config.backoff_max {
            backoff = config.backoff_min;
        }
        tracing::warn!(error, retry_in = ?backoff, "modem link down");
        if events.send(Event::Down { error: error.clone(), retry_in: backoff }).await.is_err() {
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

fn refuse(request: Request, error: &str) {
    let e = || SendError::Unavailable(error.to_owned());
    match request {
        Request::Send { reply, .. } => drop(reply.send(Err(e()))),
        Request::Delete { reply, .. } => drop(reply.send(Err(e()))),
        Request::Ussd { reply, .. } => drop(reply.send(Err(e()))),
    }
}

/// One connection's life. `Ok` when every handle is gone; `Err` when the device must be reopened.
async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    modem: &mut Modem<S>,
    config: &LinkConfig,
    requests: &mut mpsc::Receiver<Request>,
    events: &mpsc::Sender<Event>,
) -> Result<(), ModemError> {
    let info = modem.init(config.pin.as_deref()).await?;
    tracing::info!(?info, "modem ready");
    emit(events, Event::Up(info)).await?;
    // Whatever arrived while we were away.
    for stored in modem.list().await? {
        emit(events, Event::Incoming { index: Some(stored.index), pdu: stored.pdu }).await?;
    }
    let mut health = tokio::time::interval(config.health_every);
    loop {
        tokio::select! {
            request = requests.recv() => match request {
                None => return Ok(()),
                Some(request) => serve(modem, request).await?,
            },
            urc = modem.next_urc() => {
                let urc = urc?;
                on_urc(modem, urc, events).await?;
            }
            _ = health.tick() => {
                emit(events, Event::Health(modem.health().await?)).await?;
                if let Some(code) = &config.ussd_balance_code {
                    match modem.ussd(code).await {
                        Ok(text) => emit(events, Event::Credit(text)).await?,
                        Err(e) if e.is_fatal() => return Err(e),
                        Err(e) => tracing::warn!(error = %e, "balance request failed"),
                    }
                }
            }
        }
    }
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    modem: &mut Modem<S>,
    request: Request,
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
            let (result, fatal) = answer(modem.delete(index).await);
            let _ = reply.send(result);
            fatal
        }
        Request::Ussd { code, reply } => {
            let (result, fatal) = answer(modem.ussd(&code).await);
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
) -> Result<(), ModemError> {
    match urc {
        Urc::NewMessage { index, .. } | Urc::NewReport { index, .. } => {
            if let Some(stored) = modem.read(index).await? {
                emit(events, Event::Incoming { index: Some(index), pdu: stored.pdu }).await?;
            }
        }
        Urc::Report { pdu } | Urc::Message { pdu } => {
            emit(events, Event::Incoming { index: None, pdu }).await?
        }
        Urc::Registration(registration) => {
            tracing::info!(?registration, "registration changed");
        }
        Urc::Ussd(_) | Urc::Other(_) => {}
    }
    Ok(())
}

async fn emit(events: &mpsc::Sender<Event>, event: Event) -> Result<(), ModemError> {
    // No consumer left: stop like a closed device would, the task ends with its handles.
    events.send(event).await.map_err(|_| ModemError::Closed)
}

/// Matches status reports to the messages they report on, by message reference and recipient (the
/// reference alone wraps every 256 messages). Pure; the caller persists what it needs.
#[derive(Debug)]
pub struct ReportMatcher<K> {
    sent: HashMap<(u8, String), (K, Instant)>,
    keep: Duration,
}

impl<K: Clone> ReportMatcher<K> {
    /// Forgets a sent message after `keep` (a report later than that matches nothing).
    pub fn new(keep: Duration) -> Self {
        Self { sent: HashMap::new(), keep }
    }

    /// Records that the message `key` went to `recipient` with reference `reference`.
    pub fn sent(&mut self, reference: u8, recipient: &str, key: K) {
        let now = Instant::now();
        self.sent.retain(|_, (_, at)| now.duration_since(*at) < self.keep);
        self.sent.insert((reference, digits(recipient)), (key, now));
    }

    /// The message this report is about, if we sent it.
    pub fn matched(&mut self, report: &StatusReport) -> Option<K> {
        let key = (report.reference, digits(&report.recipient.value));
        let (k, at) = self.sent.get(&key)?;
        (at.elapsed() < self.keep).then(|| k.clone())
    }
}

/// The last 9 digits: `+41791234567`, `0791234567` and `41791234567` are the same subscriber.
fn digits(number: &str) -> String {
    let d: String = number.chars().filter(char::is_ascii_digit).collect();
    d[d.len().saturating_sub(9)..].to_owned()
}
