//! Everything on one machine: with no modem configured, the server's modem is an emulated one on an
//! in-process GSM network, and every station in the database is simulated on it, so that a top-up goes
//! all the way to Reloaded without hardware. Only in this mode can a person "present a key" from the UI.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use app::api::ssr::{Displays, SimulatorSilent};
use db::{Db, DemoAction};
use domain::{KeyNumber, StationId, Timestamp};
use sms::emulator::{EmulatedModem, Network};
use station::lcd::Screen;
use station::machine::Config;
use station::protocol::{Provisioning, Secret};
use station::sim::{Keys, SimulatedStation, StationSpec};
use tokio::sync::Mutex;

/// How often the simulating instance looks for actions other instances asked.
const ACTIONS_LOOK: Duration = Duration::from_millis(100);
/// An action older than this is not done (its asker gave up long ago); done ones are forgotten after it.
const ACTION_STALE: Duration = Duration::from_secs(60);
/// How long an instance waits for the simulating one to answer, and how often it looks.
const ASK_WITHIN: Duration = Duration::from_secs(5);
const ASK_LOOK: Duration = Duration::from_millis(50);

/// Asks the instance that simulates the stations (the modem lease's holder) to do `action`, through the
/// database: its outcome (JSON, `None` when the station is not simulated), or `Err` when nobody answered
/// in time (no instance holds the lease, or the database is away) — then it is never done.
pub async fn ask(db: &Db, action: DemoAction) -> Result<Option<String>, SimulatorSilent> {
    let id = db.queue_demo_action(action, Timestamp::now()).await.map_err(|e| {
        tracing::warn!(error = %e, "demo: cannot ask the simulated stations");
        SimulatorSilent
    })?;
    let mut deadline = tokio::time::Instant::now() + ASK_WITHIN;
    let mut withdrawing = true;
    loop {
        tokio::time::sleep(ASK_LOOK).await;
        match db.demo_action_outcome(id).await {
            Ok(Some(outcome)) => return Ok(outcome),
            Ok(None) if tokio::time::Instant::now() < deadline => {}
            // Withdrawn, unless taken meanwhile: then it is being done, and its outcome is waited for.
            Ok(None) if withdrawing => match db.withdraw_demo_action(id).await {
                Ok(true) => return Err(SimulatorSilent),
                Ok(false) => {
                    withdrawing = false;
                    deadline += ASK_WITHIN;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "demo: cannot withdraw an action");
                    return Err(SimulatorSilent);
                }
            },
            Ok(None) => return Err(SimulatorSilent),
            Err(e) => {
                tracing::warn!(error = %e, "demo: cannot read an action's outcome");
                return Err(SimulatorSilent);
            }
        }
    }
}

/// The emulated server modem's number.
pub const SERVER_NUMBER: &str = "+41790000001";

pub struct Demo {
    network: Network,
    dir: PathBuf,
    keys: Keys,
    stations: Mutex<HashMap<StationId, SimulatedStation>>,
    /// Stations powered off: not simulated until powered on.
    off: Mutex<std::collections::HashSet<StationId>>,
}

impl Demo {
    /// The network, its server modem, and a simulated station for every station in the database. Their
    /// memory and the keys' balances are kept in `dir`.
    pub async fn start(db: &Db, dir: PathBuf) -> anyhow::Result<(Self, EmulatedModem)> {
        std::fs::create_dir_all(&dir)?;
        let seed =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let network = Network::new(seed);
        let modem = network.add_modem(SERVER_NUMBER, None);
        let keys = Keys::in_file(dir.join("keys.json"))?;
        let demo = Self { network, dir, keys, stations: Mutex::new(HashMap::new()), off: Mutex::default() };
        demo.sync(db).await?;
        Ok((demo, modem))
    }

    /// Simulates the stations of the database that are not simulated yet (after one is created).
    pub async fn sync(&self, db: &Db) -> anyhow::Result<()> {
        let mut stations = self.stations.lock().await;
        let off = self.off.lock().await.clone();
        for link in db.station_links().await? {
            if stations.contains_key(&link.id) || off.contains(&link.id) {
                continue;
            }
            let spec = StationSpec {
                config: Config {
                    provisioning: Provisioning {
                        station: link
                            .id
                            .protocol()
                            .ok_or_else(|| anyhow::anyhow!("station {} beyond the protocol", link.id))?,
                        server_number: SERVER_NUMBER.into(),
                        secret: Secret::from_bytes(link.secret),
                    },
                    max_amount: u32::try_from(link.max_amount.rappen()).unwrap_or(u32::MAX),
                    firmware: format!("sim-{}", env!("CARGO_PKG_VERSION")),
                },
                number: link.phone.to_string(),
                nv_file: Some(self.dir.join(format!("station-{}.json", link.id))),
            };
            stations.insert(link.id, SimulatedStation::start(&self.network, spec, self.keys.clone()).await?);
        }
        Ok(())
    }

    /// Simulates station `id` anew after an operator changed it (its number, its maximum), with the same
    /// memory, or for the first time after it was created.
    pub async fn restart(&self, db: &Db, id: StationId) -> anyhow::Result<()> {
        // Dropping it stops it; its memory file stays.
        self.stations.lock().await.remove(&id);
        self.sync(db).await
    }

    /// Powers station `id` off: it stops answering (what is sent to it waits in its SIM) until it is
    /// powered on. `false` if it is not simulated.
    pub async fn power_off(&self, id: StationId) -> bool {
        let mut stations = self.stations.lock().await;
        let Some(station) = stations.remove(&id) else { return false };
        drop(station);
        self.off.lock().await.insert(id);
        true
    }

    /// Powers station `id` on again, with its memory: it reads what arrived meanwhile.
    pub async fn power_on(&self, db: &Db, id: StationId) -> anyhow::Result<()> {
        self.off.lock().await.remove(&id);
        self.sync(db).await
    }

    /// Whether station `id` is powered off.
    pub async fn is_off(&self, id: StationId) -> bool {
        self.off.lock().await.contains(&id)
    }

    /// The display of station `id`, if it is simulated.
    pub async fn screen(&self, id: StationId) -> Option<Screen> {
        self.stations.lock().await.get(&id).map(SimulatedStation::screen)
    }

    /// A person presents `key` at station `id`; the display after it.
    pub async fn present_key(&self, id: StationId, key: KeyNumber) -> Option<Screen> {
        let stations = self.stations.lock().await;
        let station = stations.get(&id)?;
        station.present_key(key.0).await;
        Some(station.screen())
    }

    /// Every simulated station's display, and `None` for those powered off.
    pub async fn displays(&self) -> Displays {
        let mut all: Displays = self
            .stations
            .lock()
            .await
            .iter()
            .map(|(id, s)| (*id, Some(s.screen().lines().clone())))
            .collect();
        all.extend(self.off.lock().await.iter().map(|id| (*id, None)));
        all
    }

    /// Does what other instances asked of the simulated stations (`db::DemoAction`), as long as this
    /// instance simulates them (a duty of the modem lease's holder).
    pub async fn answer_actions(self: Arc<Self>, db: Db) {
        let mut swept = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(ACTIONS_LOOK).await;
            let waiting = match db.waiting_demo_actions(20).await {
                Ok(waiting) => waiting,
                Err(e) => {
                    tracing::warn!(error = %e, "demo: cannot read the actions asked");
                    continue;
                }
            };
            for waiting in waiting {
                match db.take_demo_action(waiting.id, Timestamp::now()).await {
                    Ok(true) => {}
                    // Withdrawn by its asker meanwhile.
                    Ok(false) => continue,
                    Err(e) => {
                        tracing::warn!(error = %e, "demo: cannot take an action");
                        break;
                    }
                }
                let now = Timestamp::now();
                // Long given up by whoever asked (by this machine's clock, with a wide margin for
                // another's): never done late.
                let stale = now.millis() - waiting.created_at.millis() > ACTION_STALE.as_millis() as i64;
                let outcome = match waiting.action {
                    Some(action) if !stale => self.act(&db, action).await,
                    _ => None,
                };
                if let Err(e) = db.finish_demo_action(waiting.id, outcome.as_deref(), Timestamp::now()).await
                {
                    tracing::warn!(error = %e, "demo: cannot answer an action");
                }
            }
            if swept.elapsed() > ACTION_STALE {
                swept = tokio::time::Instant::now();
                let _ = db
                    .sweep_demo_actions(Timestamp::now().plus_millis(-(ACTION_STALE.as_millis() as i64)))
                    .await;
            }
        }
    }

    /// One action; its outcome as JSON (`None`: the station is not simulated).
    async fn act(&self, db: &Db, action: DemoAction) -> Option<String> {
        match action {
            DemoAction::Present(id, key) => {
                let screen = self.present_key(id, key).await?;
                serde_json::to_string(screen.lines()).ok()
            }
            DemoAction::Power(id, on) => {
                let done = if on { self.power_on(db, id).await.is_ok() } else { self.power_off(id).await };
                serde_json::to_string(&done).ok()
            }
            DemoAction::Restart(id) => {
                if let Err(e) = self.restart(db, id).await {
                    tracing::error!(error = %e, station = %id, "cannot simulate the station");
                }
                None
            }
            DemoAction::Screens => {
                let all: Vec<(StationId, Option<[String; 4]>)> = self.displays().await.into_iter().collect();
                serde_json::to_string(&all).ok()
            }
        }
    }

    /// The records in station `id`'s data logger.
    pub async fn logger(&self, id: StationId) -> Option<Vec<station::logger::Record>> {
        self.stations.lock().await.get(&id).map(|s| s.nv().logger.records())
    }

    /// Station `id`'s non-volatile memory: what it stored, loaded, cancelled.
    pub async fn memory(&self, id: StationId) -> Option<station::machine::Nv> {
        self.stations.lock().await.get(&id).map(SimulatedStation::nv)
    }

    /// The balance on a key.
    pub fn balance(&self, key: KeyNumber) -> u32 {
        self.keys.read(key.0).balance
    }

    pub fn network(&self) -> &Network {
        &self.network
    }
}
