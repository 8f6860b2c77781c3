//! A GSM network emulator: emulated modems, each with a phone number and a SIM, that speak the AT dialect
//! of `modem` (and enough of the rest for Gammu), and a network that routes SMS between them with delivery
//! reports, prepaid credit, and fault knobs: latency, reordering, loss, duplication, error answers, a modem
//! that hangs, one that is unplugged ([`pty::Port`]).
//!
//! Each modem runs its dialect over any byte stream: an in-memory pipe, or a pseudo-terminal whose slave
//! side is a real device path that `tokio-serial` and third-party clients open like a USB modem.

mod dialect;
pub mod pty;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rand::{Rng, SeedableRng, rngs::StdRng};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::pdu::{self, Address, Deliver, StatusReport, Submit, Timestamp};

/// The service centre the emulated network stamps on messages.
pub const SERVICE_CENTRE: &str = "+41794999000";
/// Messages a SIM holds.
pub const SIM_SLOTS: u32 = 30;
/// `+CMS ERROR` when the prepaid credit is too low (operator determined barring, TS 24.011 cause 8).
pub const CMS_NO_CREDIT: u16 = 8;
/// `+CMS ERROR` the error knob answers with (unknown error).
pub const CMS_FAILURE: u16 = 500;

/// Fault knobs of the whole network. Rates are probabilities per message, 0.0–1.0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Knobs {
    /// Time from `AT+CMGS` to delivery.
    pub latency: Duration,
    /// Extra random delay up to this, per copy: messages overtake each other.
    pub jitter: Duration,
    pub loss: f64,
    pub duplication: f64,
    /// A copy held back until [`Network::release_held`]: a delay of hours, whatever the clock says.
    pub hold: f64,
    /// `AT+CMGS` answered with `+CMS ERROR: 500` (nothing sent).
    pub error: f64,
    /// How long a modem takes to answer `AT+CMGS` (real ones: seconds).
    pub send_time: Duration,
    /// Rappen a message costs a prepaid SIM.
    pub cost: u32,
}

impl Default for Knobs {
    fn default() -> Self {
        Self {
            latency: Duration::from_millis(20),
            jitter: Duration::ZERO,
            loss: 0.0,
            duplication: 0.0,
            hold: 0.0,
            error: 0.0,
            send_time: Duration::ZERO,
            cost: 10,
        }
    }
}

/// Counts of what the network did, for tests and the simulator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub submitted: u64,
    pub delivered: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub refused: u64,
    pub held: u64,
}

/// A message as it crossed the network, for replaying it later (what an eavesdropper could record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overheard {
    pub from: String,
    pub to: String,
    pub text: String,
    /// When the modem took it (the PDU after `AT+CMGS`).
    pub at: std::time::Instant,
}

/// Messages [`Network::overheard`] keeps, newest last.
const OVERHEARD: usize = 2000;

#[derive(Clone)]
pub struct Network {
    inner: Arc<Mutex<Net>>,
}

struct Net {
    knobs: Knobs,
    rng: StdRng,
    modems: HashMap<String, Arc<Mutex<Sim>>>,
    stats: Stats,
    /// The time zone of the service centre's time stamps (quarters of an hour east of UTC).
    clock_offset_quarters: i8,
    /// Copies held back by the `hold` knob: destination and message.
    held: Vec<(String, Deliver)>,
    overheard: std::collections::VecDeque<Overheard>,
}

/// One subscriber: the SIM's storage and the modem's settings, which survive unplugging.
pub(crate) struct Sim {
    pub(crate) number: String,
    pub(crate) credit: Option<u32>,
    pub(crate) pin: Option<String>,
    pub(crate) unlocked: bool,
    pub(crate) storage: BTreeMap<u32, (u8, Vec<u8>)>,
    pub(crate) next_reference: u8,
    pub(crate) hung: bool,
    pub(crate) signal_rssi: u8,
    /// `AT+CNMI` `<mt>` and `<ds>`: announce new messages with `+CMTI`; route reports as `+CDS` (1) or
    /// store them with `+CDSI` (2).
    pub(crate) cnmi_mt: u8,
    pub(crate) cnmi_ds: u8,
    /// Where unsolicited codes go while a client is connected.
    pub(crate) urc: Option<mpsc::UnboundedSender<Vec<u8>>>,
    /// Wrong PINs entered since the last right one; the third locks the SIM (it then asks for its PUK).
    pub(crate) wrong_pins: u32,
    /// Every `AT+CPIN=<pin>` the SIM was given.
    pub(crate) pin_entries: u32,
    /// The network never answers USSD.
    pub(crate) ussd_silent: bool,
    /// What the modem writes after a stored message's hex when it lists or reads it, per slot (a stray
    /// character, as some firmwares add); gone with the message.
    pub(crate) garble: BTreeMap<u32, String>,
}

impl Network {
    /// A network whose random faults follow `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Net {
                knobs: Knobs::default(),
                rng: StdRng::seed_from_u64(seed),
                modems: HashMap::new(),
                stats: Stats::default(),
                clock_offset_quarters: 4,
                held: Vec::new(),
                overheard: std::collections::VecDeque::new(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Net> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn knobs(&self) -> Knobs {
        self.lock().knobs
    }

    pub fn set_knobs(&self, knobs: Knobs) {
        self.lock().knobs = knobs;
    }

    pub fn stats(&self) -> Stats {
        self.lock().stats
    }

    /// Delivers every copy the `hold` knob held back, as if hours had passed. Returns how many.
    pub fn release_held(&self) -> usize {
        let held = std::mem::take(&mut self.lock().held);
        for (to, deliver) in &held {
            self.store(to, deliver);
        }
        held.len()
    }

    /// The last messages submitted to the network (up to 2,000), oldest first.
    pub fn overheard(&self) -> Vec<Overheard> {
        self.lock().overheard.iter().cloned().collect()
    }

    /// A modem with SIM number `number` (E.164, `+41…`) and prepaid `credit` in Rappen (`None`: a
    /// subscription without limit).
    pub fn add_modem(&self, number: &str, credit: Option<u32>) -> EmulatedModem {
        let sim = Arc::new(Mutex::new(Sim {
            number: number.to_owned(),
            credit,
            pin: None,
            unlocked: true,
            storage: BTreeMap::new(),
            next_reference: 0,
            hung: false,
            signal_rssi: 21,
            cnmi_mt: 0,
            cnmi_ds: 0,
            urc: None,
            wrong_pins: 0,
            pin_entries: 0,
            ussd_silent: false,
            garble: BTreeMap::new(),
        }));
        self.lock().modems.insert(number.to_owned(), sim.clone());
        EmulatedModem { network: self.clone(), sim }
    }

    /// The subscriber with number `number`, if there is one.
    pub fn modem(&self, number: &str) -> Option<EmulatedModem> {
        let sim = self.lock().modems.get(number).cloned()?;
        Some(EmulatedModem { network: self.clone(), sim })
    }

    /// Delivers a text to `to` as if `from` had sent it from anywhere (forged senders included).
    pub fn inject(&self, from: &str, to: &str, text: &str) -> Result<(), pdu::PduError> {
        let deliver = Deliver {
            originator: Address::parse(from)?,
            more_messages: false,
            status_report_indication: false,
            pid: 0,
            timestamp: self.now(),
            user_data: pdu::UserData::text(text),
        };
        self.store(to, &deliver);
        Ok(())
    }

    fn now(&self) -> Timestamp {
        let secs =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        Timestamp::from_unix_seconds(secs as i64, self.lock().clock_offset_quarters)
    }

    /// `AT+CMGS` from `sender`: checks the SIM's credit, takes the message, schedules its delivery (and
    /// report). Returns the message reference or a `+CMS ERROR` code.
    fn submit(&self, sender: &Arc<Mutex<Sim>>, pdu_bytes: &[u8]) -> Result<u8, u16> {
        let Ok(pdu::Pdu { message: submit, .. }) = Submit::decode(pdu_bytes) else { return Err(304) };
        let mut net = self.lock();
        let knobs = net.knobs;
        let mut sim = lock(sender);
        if sim.credit.is_some_and(|c| c < knobs.cost) {
            net.stats.refused += 1;
            return Err(CMS_NO_CREDIT);
        }
        if net.rng.gen_bool(knobs.error.clamp(0.0, 1.0)) {
            net.stats.refused += 1;
            return Err(CMS_FAILURE);
        }
        if let Some(c) = sim.credit.as_mut() {
            *c -= knobs.cost;
        }
        let reference = sim.next_reference;
        sim.next_reference = sim.next_reference.wrapping_add(1);
        let from = sim.number.clone();
        drop(sim);
        net.stats.submitted += 1;
        if net.overheard.len() == OVERHEARD {
            net.overheard.pop_front();
        }
        net.overheard.push_back(Overheard {
            from: from.clone(),
            to: submit.destination.to_string(),
            text: submit.user_data.text.clone(),
            at: std::time::Instant::now(),
        });
        if net.rng.gen_bool(knobs.loss.clamp(0.0, 1.0)) {
            net.stats.lost += 1;
            return Ok(reference);
        }
        let copies = if net.rng.gen_bool(knobs.duplication.clamp(0.0, 1.0)) {
            net.stats.duplicated += 1;
            2
        } else {
            1
        };
        let submitted = {
            drop(net);
            self.now()
        };
        for copy in 0..copies {
            let (jitter, hold) = {
                let mut net = self.lock();
                let hold = net.rng.gen_bool(knobs.hold.clamp(0.0, 1.0));
                net.stats.held += u64::from(hold);
                (knobs.jitter.mul_f64(net.rng.r#gen::<f64>()), hold)
            };
            let delay = knobs.latency + jitter;
            let network = self.clone();
            let (from, submit, sender) = (from.clone(), submit.clone(), sender.clone());
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let deliver = Deliver {
                    originator: Address::parse(&from)
                        .unwrap_or(Address { kind: pdu::AddressKind::Unknown, value: "0".into() }),
                    more_messages: false,
                    status_report_indication: submit.status_report_request,
                    pid: 0,
                    timestamp: network.now(),
                    user_data: submit.user_data.clone(),
                };
                if hold {
                    // No report either: the network itself does not know yet.
                    network.lock().held.push((submit.destination.to_string(), deliver));
                    return;
                }
                let delivered = network.store(&submit.destination.to_string(), &deliver);
                if submit.status_report_request && copy == 0 {
                    let report = StatusReport {
                        reference,
                        recipient: submit.destination.clone(),
                        submitted: Some(submitted),
                        discharged: Some(network.now()),
                        // Delivered, or permanent error "SME busy / unknown subscriber" (0x41 incompatible).
                        status: if delivered { 0x00 } else { 0x41 },
                    };
                    network.report(&sender, &report);
                }
            });
        }
        Ok(reference)
    }

    /// Puts a message on `to`'s SIM and announces it. False if there is no such subscriber.
    fn store(&self, to: &str, deliver: &Deliver) -> bool {
        let Some(sim) = self.lock().modems.get(to).cloned() else { return false };
        let Ok(bytes) = deliver.encode(&Address::parse(SERVICE_CENTRE).expect("valid")) else { return false };
        self.lock().stats.delivered += 1;
        let mut sim = lock(&sim);
        // A full SIM takes nothing more: the message fails (and its report says so).
        let Some(index) = (0..SIM_SLOTS).find(|i| !sim.storage.contains_key(i)) else { return false };
        sim.storage.insert(index, (0, bytes));
        if sim.cnmi_mt > 0 {
            sim.urc(format!("\r\n+CMTI: \"SM\",{index}\r\n"));
        }
        true
    }

    fn report(&self, sender: &Arc<Mutex<Sim>>, report: &StatusReport) {
        let Ok(bytes) = report.encode(&Address::parse(SERVICE_CENTRE).expect("valid")) else { return };
        let mut sim = lock(sender);
        match sim.cnmi_ds {
            1 => {
                let len = bytes.len() - 1 - usize::from(bytes[0]);
                sim.urc(format!("\r\n+CDS: {len}\r\n{}\r\n", pdu::to_hex(&bytes)));
            }
            2 => {
                if let Some(index) = (0..SIM_SLOTS).find(|i| !sim.storage.contains_key(i)) {
                    sim.storage.insert(index, (0, bytes));
                    sim.urc(format!("\r\n+CDSI: \"SM\",{index}\r\n"));
                }
            }
            _ => {}
        }
    }
}

impl Sim {
    fn urc(&mut self, text: String) {
        if self.hung {
            return;
        }
        if let Some(tx) = &self.urc
            && tx.send(text.into_bytes()).is_err()
        {
            self.urc = None;
        }
    }
}

pub(crate) fn lock(sim: &Arc<Mutex<Sim>>) -> MutexGuard<'_, Sim> {
    sim.lock().unwrap_or_else(|e| e.into_inner())
}

/// One emulated modem with its SIM. Cheap to clone; all clones are the same modem.
#[derive(Clone)]
pub struct EmulatedModem {
    network: Network,
    sim: Arc<Mutex<Sim>>,
}

impl EmulatedModem {
    pub fn number(&self) -> String {
        lock(&self.sim).number.clone()
    }

    /// Requires `pin` before SIM commands (`None`: no PIN).
    pub fn set_pin(&self, pin: Option<&str>) {
        let mut sim = lock(&self.sim);
        sim.pin = pin.map(str::to_owned);
        sim.unlocked = pin.is_none();
    }

    /// `AT+CPIN=<pin>` commands the SIM was given so far, right or wrong.
    pub fn pin_entries(&self) -> u32 {
        lock(&self.sim).pin_entries
    }

    /// The network leaves USSD requests unanswered (no `+CUSD`), as some do for an unknown code.
    pub fn set_ussd_silent(&self, silent: bool) {
        lock(&self.sim).ussd_silent = silent;
    }

    /// Makes the modem write `suffix` after the hex of the message in `slot` whenever it shows it, as
    /// firmwares that add a stray character do.
    pub fn garble(&self, slot: u32, suffix: &str) {
        lock(&self.sim).garble.insert(slot, suffix.to_owned());
    }

    /// Announces the message in `slot` again (`+CMTI`), as a modem does that buffered an announcement
    /// across a reconnection.
    pub fn announce(&self, slot: u32) {
        lock(&self.sim).urc(format!("\r\n+CMTI: \"SM\",{slot}\r\n"));
    }

    /// The occupied slots of the SIM.
    pub fn slots(&self) -> Vec<u32> {
        lock(&self.sim).storage.keys().copied().collect()
    }

    /// A hung modem reads everything and answers nothing, until it is power-cycled ([`pty::Port::replug`]).
    pub fn set_hung(&self, hung: bool) {
        lock(&self.sim).hung = hung;
    }

    pub fn credit(&self) -> Option<u32> {
        lock(&self.sim).credit
    }

    pub fn set_credit(&self, credit: Option<u32>) {
        lock(&self.sim).credit = credit;
    }

    /// `+CSQ` RSSI, 0–31 (99 unknown).
    pub fn set_signal(&self, rssi: u8) {
        lock(&self.sim).signal_rssi = rssi;
    }

    /// Messages on the SIM (received messages and stored reports).
    pub fn stored(&self) -> usize {
        lock(&self.sim).storage.len()
    }

    /// Power cycle: settings back to their defaults, the PIN asked again; stored messages stay (on the SIM).
    pub fn power_cycle(&self) {
        let mut sim = lock(&self.sim);
        sim.hung = false;
        sim.unlocked = sim.pin.is_none();
        sim.cnmi_mt = 0;
        sim.cnmi_ds = 0;
        sim.urc = None;
    }

    /// Speaks the modem's AT dialect over `io` until the other side closes it.
    pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(&self, mut io: S) -> std::io::Result<()> {
        let (tx, mut urcs) = mpsc::unbounded_channel();
        lock(&self.sim).urc = Some(tx);
        let mut dialect = dialect::Dialect::default();
        let mut buf = [0u8; 1024];
        loop {
            tokio::select! {
                read = io.read(&mut buf) => {
                    let n = read?;
                    if n == 0 {
                        return Ok(());
                    }
                    for reply in dialect.input(&buf[..n], self) {
                        if !reply.delay.is_zero() {
                            tokio::time::sleep(reply.delay).await;
                        }
                        io.write_all(&reply.bytes).await?;
                    }
                    io.flush().await?;
                }
                Some(bytes) = urcs.recv() => {
                    io.write_all(&bytes).await?;
                    io.flush().await?;
                }
            }
        }
    }
}

/// The link can run on an emulated modem in the same process: each connection is a fresh in-memory pipe.
impl crate::link::Connector for EmulatedModem {
    type Io = tokio::io::DuplexStream;

    async fn connect(&mut self) -> std::io::Result<Self::Io> {
        let (ours, theirs) = tokio::io::duplex(8192);
        let modem = self.clone();
        tokio::spawn(async move {
            let _ = modem.serve(theirs).await;
        });
        Ok(ours)
    }
}
