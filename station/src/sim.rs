//! The simulated station: the pure [`Station`] core with an I/O shell around it, as on the real board. It
//! talks AT (through the `sms` driver) to its own emulated modem on a [`Network`], keeps its non-volatile
//! memory in a file, and reads and writes simulated keys.
//!
//! The shell keeps the core's contract: state saved before a key is written or an SMS is sent, a received
//! SMS deleted from the SIM only after the state that reflects it is saved.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sms::at::Urc;
use sms::emulator::{EmulatedModem, Network};
use sms::link::Connector;
use sms::modem::{Modem, Timeouts};
use sms::pdu::{Address, Incoming, Submit, UserData, decode_incoming};
use tokio::io::DuplexStream;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::lcd::Screen;
use crate::machine::{Config, Effects, Event, Health, KeyMemory, Nv, Station};

/// The keys (iButtons) tenants carry: shared by every station of a simulation, optionally kept in a file.
#[derive(Clone, Default)]
pub struct Keys {
    keys: Arc<Mutex<BTreeMap<u16, KeyMemory>>>,
    file: Option<Arc<PathBuf>>,
}

impl Keys {
    /// Keys kept in `file` (read if it exists).
    pub fn in_file(file: PathBuf) -> anyhow::Result<Self> {
        let keys = match std::fs::read(&file) {
            Ok(bytes) => serde_json::from_slice(&bytes)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(e.into()),
        };
        Ok(Self { keys: Arc::new(Mutex::new(keys)), file: Some(Arc::new(file)) })
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<u16, KeyMemory>> {
        self.keys.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn read(&self, key: u16) -> KeyMemory {
        self.lock().get(&key).copied().unwrap_or_default()
    }

    pub fn all(&self) -> BTreeMap<u16, KeyMemory> {
        self.lock().clone()
    }

    fn write(&self, key: u16, memory: KeyMemory) -> std::io::Result<()> {
        let mut keys = self.lock();
        keys.insert(key, memory);
        match &self.file {
            Some(file) => save_atomically(file, &serde_json::to_vec_pretty(&*keys).expect("serialisable")),
            None => Ok(()),
        }
    }
}

/// Reads a simulated station's display.
#[derive(Clone)]
pub struct Display(Arc<Mutex<Station>>);

impl Display {
    pub fn screen(&self) -> Screen {
        lock(&self.0).screen(now_ms())
    }
}

/// What a simulated station is.
#[derive(Debug, Clone)]
pub struct StationSpec {
    pub config: Config,
    /// Its SIM's phone number.
    pub number: String,
    /// Where its non-volatile memory lives (`None`: in memory only).
    pub nv_file: Option<PathBuf>,
}

/// What a simulated station reports, for a display or a test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    Event(Event),
    /// An SMS it sent to the server.
    Sent(String),
    /// Its modem refused to send (no credit, hung…); the server asks again.
    SendFailed(String),
}

enum Command {
    Present { key: u16, reply: oneshot::Sender<()> },
}

/// A running simulated station.
pub struct SimulatedStation {
    spec: StationSpec,
    station: Arc<Mutex<Station>>,
    /// The last saved non-volatile memory: what survives a power cut.
    saved: Arc<Mutex<Nv>>,
    modem: EmulatedModem,
    keys: Keys,
    reports: broadcast::Sender<Report>,
    commands: mpsc::Sender<Command>,
    task: JoinHandle<()>,
}

impl SimulatedStation {
    /// Powers the station on: its modem joins `network`, its memory is read from its file.
    pub async fn start(network: &Network, spec: StationSpec, keys: Keys) -> anyhow::Result<Self> {
        let nv = match &spec.nv_file {
            Some(file) => match std::fs::read(file) {
                Ok(bytes) => serde_json::from_slice(&bytes)?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Nv::default(),
                Err(e) => return Err(e.into()),
            },
            None => Nv::default(),
        };
        // A station started again keeps its SIM, with what arrived while it was off.
        let modem = network.modem(&spec.number).unwrap_or_else(|| network.add_modem(&spec.number, None));
        let (reports, _) = broadcast::channel(256);
        let saved = Arc::new(Mutex::new(nv.clone()));
        let station = Arc::new(Mutex::new(Station::new(spec.config.clone(), nv)));
        let (commands, task) = boot(&spec, &station, &saved, &modem, &keys, &reports).await?;
        Ok(Self { spec, station, saved, modem, keys, reports, commands, task })
    }

    /// A tenant presents `key`: the display shows it and pending credit is written onto it.
    pub async fn present_key(&self, key: u16) {
        let (reply, done) = oneshot::channel();
        if self.commands.send(Command::Present { key, reply }).await.is_ok() {
            let _ = done.await;
        }
    }

    /// The display now.
    pub fn screen(&self) -> Screen {
        lock(&self.station).screen(now_ms())
    }

    /// A handle that reads the display, for a task that shows it as it changes.
    pub fn display(&self) -> Display {
        Display(self.station.clone())
    }

    pub fn nv(&self) -> Nv {
        lock(&self.station).nv().clone()
    }

    pub fn number(&self) -> &str {
        &self.spec.number
    }

    pub fn station_id(&self) -> u32 {
        self.spec.config.provisioning.station
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    pub fn modem(&self) -> &EmulatedModem {
        &self.modem
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Report> {
        self.reports.subscribe()
    }

    /// Cuts the power and turns it back on: whatever was not saved is gone, the modem restarts.
    pub async fn power_cut(&mut self) -> anyhow::Result<()> {
        self.task.abort();
        let nv = lock(&self.saved).clone();
        *lock(&self.station) = Station::new(self.spec.config.clone(), nv);
        self.modem.power_cycle();
        let (commands, task) =
            boot(&self.spec, &self.station, &self.saved, &self.modem, &self.keys, &self.reports).await?;
        self.commands = commands;
        self.task = task;
        Ok(())
    }
}

impl Drop for SimulatedStation {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn boot(
    spec: &StationSpec,
    station: &Arc<Mutex<Station>>,
    saved: &Arc<Mutex<Nv>>,
    modem: &EmulatedModem,
    keys: &Keys,
    reports: &broadcast::Sender<Report>,
) -> anyhow::Result<(mpsc::Sender<Command>, JoinHandle<()>)> {
    // The modem serves the pipe until the shell drops its end (a power cut aborts the shell).
    let pipe = Connector::connect(&mut modem.clone()).await?;
    let mut driver = Modem::new(pipe, Timeouts::default());
    driver.init(None).await?;
    let (commands, rx) = mpsc::channel(16);
    let shell = Shell {
        station: station.clone(),
        saved: saved.clone(),
        nv_file: spec.nv_file.clone(),
        server: spec.config.provisioning.server_number.clone(),
        keys: keys.clone(),
        reports: reports.clone(),
        driver,
        sim: modem.clone(),
    };
    Ok((commands, tokio::spawn(shell.run(rx))))
}

struct Shell {
    station: Arc<Mutex<Station>>,
    saved: Arc<Mutex<Nv>>,
    nv_file: Option<PathBuf>,
    server: String,
    keys: Keys,
    reports: broadcast::Sender<Report>,
    driver: Modem<DuplexStream>,
    /// The emulated SIM, whose credit the station reports (a real station reads it with the
    /// operator's balance code).
    sim: EmulatedModem,
}

impl Shell {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        // Messages that arrived while the station was off.
        if let Ok(stored) = self.driver.list().await {
            for message in stored {
                self.on_sms(message.index, message.pdu.as_deref().unwrap_or_default()).await;
            }
        }
        let mut clock = tokio::time::interval(Duration::from_secs(1));
        let mut health_due = tokio::time::Instant::now();
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    None => return,
                    Some(Command::Present { key, reply }) => {
                        self.present(key).await;
                        let _ = reply.send(());
                    }
                },
                urc = self.driver.next_urc() => match urc {
                    Ok(Urc::NewMessage { index, .. }) => {
                        if let Ok(Some(stored)) = self.driver.read(index).await {
                            self.on_sms(index, stored.pdu.as_deref().unwrap_or_default()).await;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "station modem gone");
                        return;
                    }
                },
                _ = clock.tick() => {
                    if tokio::time::Instant::now() >= health_due {
                        health_due += Duration::from_secs(600);
                        self.read_health().await;
                    }
                    let fx = lock(&self.station).tick(now_ms());
                    self.apply(fx, None).await;
                }
            }
        }
    }

    /// The signal and the SIM's credit as they are now, for the next report.
    async fn read_health(&mut self) {
        if let Ok(health) = self.driver.health().await {
            let credit_rappen = self.sim.credit();
            lock(&self.station).set_health(Health { signal_dbm: health.signal_dbm, credit_rappen });
        }
    }

    async fn on_sms(&mut self, index: u32, pdu: &[u8]) {
        // What it reports in answer (a heartbeat asked by STATUS) is what it measures now.
        self.read_health().await;
        let fx = match decode_incoming(pdu) {
            Ok(p) => match p.message {
                Incoming::Deliver(d) => {
                    let from = d.originator.to_string();
                    Some(lock(&self.station).receive_sms(&from, &d.user_data.text, now_ms()))
                }
                Incoming::StatusReport(_) => None,
            },
            Err(e) => {
                tracing::warn!(error = %e, "undecodable SMS on the station's SIM");
                None
            }
        };
        if let Some(fx) = fx {
            // Saved first: the SMS leaves the SIM only once its effect is in memory that survives.
            self.apply(fx, Some(index)).await;
        } else {
            let _ = self.driver.delete(index).await;
        }
    }

    async fn present(&mut self, key: u16) {
        let memory = self.keys.read(key);
        let fx = lock(&self.station).present_key(key, memory, now_ms());
        let write = fx.write_key;
        if !self.apply(fx, None).await {
            return;
        }
        if let Some(write) = write {
            if let Err(e) = self.keys.write(key, write) {
                tracing::warn!(error = %e, "key write failed");
                return;
            }
            let fx = lock(&self.station).key_written(key, now_ms());
            self.apply(fx, None).await;
        }
    }

    /// Saves, deletes the SMS that caused this, sends. False if the state could not be saved (then nothing
    /// else happens: the SMS stays on the SIM and is processed again).
    async fn apply(&mut self, fx: Effects, delete: Option<u32>) -> bool {
        if fx.save {
            let nv = lock(&self.station).nv().clone();
            if let Some(file) = &self.nv_file
                && let Err(e) = save_atomically(file, &serde_json::to_vec(&nv).expect("serialisable"))
            {
                tracing::error!(error = %e, "cannot save the station's memory");
                return false;
            }
            *lock(&self.saved) = nv;
        }
        if let Some(index) = delete {
            let _ = self.driver.delete(index).await;
        }
        for event in fx.events {
            let _ = self.reports.send(Report::Event(event));
        }
        for text in fx.sms {
            let Ok(destination) = Address::parse(&self.server) else { continue };
            let submit = Submit {
                reference: 0,
                destination,
                reject_duplicates: false,
                status_report_request: false,
                validity: None,
                user_data: UserData::text(&text),
            };
            let sent = match submit.encode() {
                Ok((pdu, len)) => self.driver.send_pdu(&pdu, len).await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            let _ = self.reports.send(match sent {
                Ok(_) => Report::Sent(text),
                Err(e) => Report::SendFailed(e),
            });
        }
        true
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Write to a temporary file, sync, rename: the file holds the old or the new state, never half of one.
fn save_atomically(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}
