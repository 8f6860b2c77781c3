//! The fault campaign: top-ups through the real `recharge` server (a child process), its modem task on an
//! emulated modem behind a pseudo-terminal, the emulated GSM network and simulated stations, while faults
//! are injected at seeded random times: SMS loss, duplication, reordering, copies held back for "hours"
//! (delivered only at the end), `+CMS ERROR` answers, a modem that hangs, one unplugged and plugged back,
//! the SIM's credit running out and topped up, the server killed with SIGKILL and restarted, stations'
//! power cut, tenants presenting keys at random, administrators cancelling, and a stream of forged,
//! altered, replayed and reflected messages to the stations and the server.
//!
//! Then the faults stop, the held messages arrive, the tenants present their keys until nothing is left
//! to load, and the verdict checks:
//! - every top-up accepted over HTTP is in the journal exactly once, and ended: reloaded, failed or
//!   cancelled;
//! - every reloaded top-up is in its station's data logger exactly once, with its key, amount and the
//!   balance the journal shows; no failed or cancelled one is;
//! - on every key, the balance equals the sum of its reloaded top-ups in the journal and the sum of its
//!   loads in the data loggers, to the Rappen (so no forged or replayed message loaded anything).
//!
//! It prints its seed and one verdict line; the same seed gives the same faults (thread timing may still
//! interleave them differently).
//!
//! With `--postgres URL --instances N`, the campaign runs on a new database on that PostgreSQL server
//! with N servers sharing it and the modem's pseudo-terminal: each is killed and restarted at random,
//! the administrators' requests go to whichever runs, and the modem passes from one to another by its
//! lease. The verdict is the same.
//!
//! ```sh
//! cargo bench -p server --bench chaos                          # 10,000 top-ups, 25 stations
//! cargo bench -p server --bench chaos -- --topups 300 --seed 7  # the small version CI runs
//! cargo bench -p server --bench chaos -- --topups 2000 --postgres URL --instances 2
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use db::{Db, Scope};
use domain::journal::TxStatus;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use sms::emulator::{Knobs, Network, pty::Port};
use station::machine::Config;
use station::protocol::{Body, Message, Provisioning, Secret};
use station::sim::{Keys, SimulatedStation, StationSpec};
use tokio::sync::{Mutex, watch};

mod support;

const PASSWORD: &str = "chaos campaign password";
const SERVER_NUMBER: &str = "+41790000001";
/// Keys per station; every key belongs to one station.
const KEYS_PER_STATION: usize = 6;

struct Options {
    seed: u64,
    topups: usize,
    stations: usize,
    /// Top-ups accepted per second while the faults run.
    rate: f64,
    /// How long the quiet end may take before the run is declared stuck.
    settle: Duration,
    /// The PostgreSQL server to run on (a new database on it), instead of a SQLite file.
    postgres: Option<String>,
    /// Servers sharing the database.
    instances: usize,
}

fn options() -> Options {
    let mut o = Options {
        seed: 0,
        topups: 10_000,
        stations: 0,
        rate: 20.0,
        settle: Duration::from_secs(300),
        postgres: None,
        instances: 1,
    };
    let mut seed = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--seed" => seed = Some(value().parse().expect("--seed N")),
            "--topups" => o.topups = value().parse().expect("--topups N"),
            "--stations" => o.stations = value().parse().expect("--stations N"),
            "--rate" => o.rate = value().parse().expect("--rate top-ups per second"),
            "--settle" => o.settle = Duration::from_secs(value().parse().expect("--settle seconds")),
            "--postgres" => o.postgres = Some(value()),
            "--instances" => o.instances = value().parse().expect("--instances N"),
            "--bench" => {}
            other => panic!("unknown option {other}"),
        }
    }
    o.seed = seed.unwrap_or_else(rand::random);
    if o.stations == 0 {
        // A data logger holds 512 loads: keep every station's share below it so the check sees them all.
        o.stations = o.topups.div_ceil(400).max(3);
    }
    assert!(
        o.instances >= 1 && (o.instances == 1 || o.postgres.is_some()),
        "several instances need --postgres"
    );
    o
}

/// The campaign's database: a SQLite file, or a new database on a PostgreSQL server, with the key file
/// that seals its station secrets.
struct Database {
    url: String,
    key_file: PathBuf,
}

impl Database {
    fn cli(&self, args: &[&str], stdin: &str) -> String {
        support::cli_with(&self.url, &[("RECHARGE_SECRETS_KEY_FILE", self.key_file.as_path())], args, stdin)
    }

    async fn open(&self) -> Db {
        let options = db::DbOptions { secrets_key_file: Some(self.key_file.clone()), ..Default::default() };
        Db::open_with(&self.url, &options).await.unwrap()
    }
}

/// The real servers, each started and killed as a whole process; all on the same database and modem.
struct Servers {
    dir: PathBuf,
    database: Arc<Database>,
    children: Vec<Option<tokio::process::Child>>,
    /// Where each listens while it runs.
    addrs: watch::Sender<Vec<Option<String>>>,
    starts: u32,
}

impl Servers {
    async fn start(&mut self, i: usize) {
        let log =
            std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("server.log")).unwrap();
        let mut command = support::serve(&self.database.url, &self.dir, "warn");
        command
            .args([
                "--retry-after",
                "1s",
                "--retry-max",
                "10s",
                "--max-attempts",
                "6",
                "--recheck-after",
                "1m",
            ])
            .args(["--server-number", SERVER_NUMBER])
            .arg("--modem")
            .arg(self.dir.join("ttyUSB0"))
            .env("RECHARGE_SECRETS_KEY_FILE", &self.database.key_file)
            .stderr(log);
        let (child, addr) = support::spawn_server(command).await;
        self.children[i] = Some(child);
        self.starts += 1;
        self.addrs.send_modify(|addrs| addrs[i] = Some(addr));
    }

    /// SIGKILL: no shutdown, no flushing, whatever it was doing.
    async fn kill(&mut self, i: usize) {
        self.addrs.send_modify(|addrs| addrs[i] = None);
        if let Some(mut child) = self.children[i].take() {
            let _ = child.kill().await;
        }
    }

    fn running(&self) -> Vec<usize> {
        (0..self.children.len()).filter(|i| self.children[*i].is_some()).collect()
    }

    async fn start_stopped(&mut self) {
        for i in 0..self.children.len() {
            if self.children[i].is_none() {
                self.start(i).await;
            }
        }
    }

    async fn kill_all(&mut self) {
        for i in 0..self.children.len() {
            self.kill(i).await;
        }
    }
}

/// What the campaign asked for and what it knows came of it.
#[derive(Default)]
struct Ledger {
    /// Top-ups the server acknowledged (created, or "already sent" when a retry followed a crash).
    accepted: usize,
    /// Top-ups the server asked about (the same key and amount within hours) and was told to send.
    repeats_confirmed: usize,
    /// Ids of those whose answer we got, with their station and key.
    known: HashMap<i64, (usize, u16)>,
    cancels_requested: usize,
}

struct Shared {
    /// Where each server listens while it runs; requests go to them in turn.
    addrs: watch::Receiver<Vec<Option<String>>>,
    turn: std::sync::atomic::AtomicUsize,
    http: reqwest::Client,
    cookie: String,
    stations: Vec<Arc<Mutex<SimulatedStation>>>,
    keys_of: Vec<Vec<u16>>,
    ledger: std::sync::Mutex<Ledger>,
}

impl Shared {
    /// Posts a server function until a server answers it; the body of the answer.
    async fn call(&self, endpoint: &str, body: String) -> String {
        loop {
            let addr = {
                let addrs = self.addrs.borrow();
                let running: Vec<&String> = addrs.iter().flatten().collect();
                let turn = self.turn.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                (!running.is_empty()).then(|| running[turn % running.len()].clone())
            };
            if let Some(addr) = addr {
                let sent = self
                    .http
                    .post(format!("http://{addr}/api/{endpoint}"))
                    .header("cookie", &self.cookie)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body.clone())
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await;
                if let Ok(response) = sent
                    && response.status().is_success()
                    && let Ok(text) = response.text().await
                {
                    return text;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The administrators: `n` top-ups at about `rate` per second, each retried with its form token until the
/// server acknowledges it; one in twenty cancelled a little later.
async fn administrators(shared: Arc<Shared>, n: usize, rate: f64, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut to_cancel: Vec<(Instant, i64)> = Vec::new();
    for i in 0..n {
        let station = rng.gen_range(0..shared.stations.len());
        let key = *shared.keys_of[station].choose(&mut rng).unwrap();
        let rappen: u32 = rng.gen_range(1..=10_000);
        let body = format!(
            "station={}&key={key}&amount={}.{:02}&token=chaos-{seed:x}-{i:08}",
            station + 1,
            rappen / 100,
            rappen % 100
        );
        let mut text = shared.call("topup", body.clone()).await;
        // The same key and amount at the same station within hours: the server asks first; these
        // administrators mean every top-up they send, and answer with the same form.
        if text.contains("\"Repeat\"") {
            shared.ledger.lock().unwrap().repeats_confirmed += 1;
            text = shared.call("topup", format!("{body}&repeat=1")).await;
        }
        let id = text.split("\"id\":").nth(1).and_then(|s| s.split(',').next()).and_then(|n| n.parse().ok());
        {
            let mut ledger = shared.ledger.lock().unwrap();
            match id {
                Some(id) => {
                    ledger.known.insert(id, (station, key));
                }
                None => assert!(text.contains("AlreadySent"), "top-up refused: {text}"),
            }
            ledger.accepted += 1;
        }
        if let Some(id) = id
            && rng.gen_bool(0.05)
        {
            to_cancel.push((Instant::now() + Duration::from_millis(rng.gen_range(0..5_000)), id));
        }
        let now = Instant::now();
        let (due, later): (Vec<_>, Vec<_>) = to_cancel.into_iter().partition(|(at, _)| *at <= now);
        to_cancel = later;
        for (_, id) in due {
            shared.call("cancel", format!("id={id}")).await;
            shared.ledger.lock().unwrap().cancels_requested += 1;
        }
        tokio::time::sleep(Duration::from_secs_f64(rng.gen_range(0.0..2.0) / rate)).await;
    }
    for (at, id) in to_cancel {
        tokio::time::sleep_until(at.into()).await;
        shared.call("cancel", format!("id={id}")).await;
        shared.ledger.lock().unwrap().cancels_requested += 1;
    }
}

/// Tenants: every few hundred milliseconds someone presents one of a station's keys.
async fn tenants(shared: Arc<Shared>, seed: u64, stop: watch::Receiver<bool>) {
    let mut rng = StdRng::seed_from_u64(seed);
    while !*stop.borrow() {
        let station = rng.gen_range(0..shared.stations.len());
        let key = *shared.keys_of[station].choose(&mut rng).unwrap();
        shared.stations[station].lock().await.present_key(key).await;
        tokio::time::sleep(Duration::from_millis(rng.gen_range(0..400))).await;
    }
}

/// Counts of what the campaign injected.
#[derive(Debug, Default)]
struct Injected {
    kills: u32,
    unplugs: u32,
    hangs: u32,
    credit_outs: u32,
    power_cuts: u32,
    knob_changes: u32,
    forged: u32,
    altered: u32,
    replayed: u32,
    reflected: u32,
}

/// One hostile message, of a random kind, to a station or the server.
fn attack(
    rng: &mut StdRng,
    network: &Network,
    stations: &[(String, u32)],
    keys_of: &[Vec<u16>],
    n: &mut Injected,
) {
    let heard = network.overheard();
    let pick = rng.gen_range(0..4);
    if pick == 0 || heard.is_empty() {
        // Forged: well-formed, signed with a secret that is not the station's.
        let s = rng.gen_range(0..stations.len());
        let (number, id) = &stations[s];
        let mut wrong = [0u8; 32];
        rng.fill(&mut wrong);
        let key = *keys_of[s].choose(rng).unwrap();
        let counter = rng.gen_range(1..1_000_000);
        let tx = rng.gen_range(1..20_000);
        let secret = Secret::from_bytes(wrong);
        if rng.gen_bool(0.5) {
            let body = Body::TopUp { tx, key, amount: rng.gen_range(1..50_000) };
            let text = Message { station: *id, counter, body }.encode(&secret);
            let _ = network.inject(SERVER_NUMBER, number, &text);
        } else {
            let body = Body::Reloaded {
                tx,
                key,
                amount: rng.gen_range(1..50_000),
                balance: rng.gen_range(1..90_000),
            };
            let text = Message { station: *id, counter, body }.encode(&secret);
            let _ = network.inject(number, SERVER_NUMBER, &text);
        }
        n.forged += 1;
        return;
    }
    let genuine = heard.choose(rng).unwrap();
    match pick {
        1 => {
            // Altered: one character of a genuine message changed.
            let mut chars: Vec<char> = genuine.text.chars().collect();
            let at = rng.gen_range(4..chars.len().max(5) - 1);
            let c = chars[at];
            chars[at] = if c.is_ascii_digit() { char::from(b'0' + (c as u8 - b'0' + 1) % 10) } else { '7' };
            let text: String = chars.into_iter().collect();
            let _ = network.inject(&genuine.from, &genuine.to, &text);
            n.altered += 1;
        }
        2 => {
            // Replayed: the same message again, later.
            let _ = network.inject(&genuine.from, &genuine.to, &genuine.text);
            n.replayed += 1;
        }
        _ => {
            // Reflected: sent back to where it came from, as if from its addressee.
            let _ = network.inject(&genuine.to, &genuine.from, &genuine.text);
            n.reflected += 1;
        }
    }
}

#[tokio::main]
async fn main() {
    let o = options();
    println!("chaos: seed {} — {} top-ups, {} stations, {}/s", o.seed, o.topups, o.stations, o.rate);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let database = Arc::new(Database {
        url: match &o.postgres {
            Some(server) => db::test_support::fresh_postgres(server).await.expect("a database on the server"),
            None => format!("sqlite://{}", path.join("chaos.db").display()),
        },
        key_file: path.join("secrets.key"),
    });
    let cli = |args: &[&str], stdin: &str| database.cli(args, stdin);
    cli(&["gerance", "add", "Gérance Chaos"], "");
    cli(&["user", "add", "--email", "op@chaos.ch", "--role", "operator"], &format!("{PASSWORD}\n"));

    // The network, the server's modem on a pseudo-terminal, the stations with their keys.
    let network = Network::new(o.seed.wrapping_add(3));
    let mut port = Port::plug(network.add_modem(SERVER_NUMBER, None), path.join("ttyUSB0")).unwrap();
    let keys = Keys::default();
    let mut rng = StdRng::seed_from_u64(o.seed);
    let mut all_keys: Vec<u16> = (0..=u16::MAX).collect();
    all_keys.shuffle(&mut rng);
    let mut stations = Vec::new();
    let mut numbers = Vec::new();
    let mut keys_of = Vec::new();
    for s in 1..=o.stations {
        let phone = format!("+417900{:05}", 100 + s);
        let name = format!("Station {s}");
        let out = cli(
            &[
                "station",
                "add",
                "--gerance",
                "Gérance Chaos",
                "--name",
                &name,
                "--place",
                "Sion",
                "--phone",
                &phone,
            ],
            "",
        );
        let out = out.replace("+SERVERNUMBER", SERVER_NUMBER);
        let line = out.lines().map(str::trim).find(|l| l.starts_with("RC1-PROV:"));
        let provisioning = Provisioning::parse(line.expect("a provisioning string")).unwrap();
        numbers.push((phone.clone(), provisioning.station));
        let spec = StationSpec {
            config: Config { provisioning, max_amount: 50_000, firmware: "chaos".into() },
            number: phone,
            nv_file: Some(path.join(format!("station-{s}.json"))),
        };
        stations
            .push(Arc::new(Mutex::new(SimulatedStation::start(&network, spec, keys.clone()).await.unwrap())));
        keys_of.push(all_keys.drain(..KEYS_PER_STATION).collect::<Vec<u16>>());
    }

    let (addr_tx, addr_rx) = watch::channel(vec![None; o.instances]);
    let mut servers = Servers {
        dir: path.clone(),
        database: database.clone(),
        children: (0..o.instances).map(|_| None).collect(),
        addrs: addr_tx,
        starts: 0,
    };
    servers.start_stopped().await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let addr = addr_rx.borrow()[0].clone().unwrap();
    let cookie = support::login(&http, &addr, "op@chaos.ch", PASSWORD).await;
    let shared = Arc::new(Shared {
        addrs: addr_rx,
        turn: Default::default(),
        http,
        cookie,
        stations: stations.clone(),
        keys_of: keys_of.clone(),
        ledger: Default::default(),
    });

    // The faults, while the administrators and tenants go on.
    let started = Instant::now();
    let admins = tokio::spawn(administrators(shared.clone(), o.topups, o.rate, o.seed.wrapping_add(1)));
    let (stop_tenants, stop) = watch::channel(false);
    let tenants_task = tokio::spawn(tenants(shared.clone(), o.seed.wrapping_add(2), stop));
    let mut n = Injected::default();
    let mut server_back: Vec<Option<Instant>> = vec![None; o.instances];
    let (mut modem_back, mut credit_back): (Option<Instant>, Option<Instant>) = (None, None);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    while !admins.is_finished() {
        tick.tick().await;
        let now = Instant::now();
        for (i, back) in server_back.iter_mut().enumerate() {
            if back.is_some_and(|t| t <= now) {
                *back = None;
                servers.start(i).await;
            }
        }
        if modem_back.is_some_and(|t| t <= now) {
            modem_back = None;
            port.replug().unwrap();
        }
        if credit_back.is_some_and(|t| t <= now) {
            credit_back = None;
            port.modem().set_credit(None);
        }
        let ms = |rng: &mut StdRng, lo: u64, hi: u64| now + Duration::from_millis(rng.gen_range(lo..hi));
        let running = servers.running();
        if !running.is_empty() && rng.gen_bool(0.012) {
            // Any of them: the modem's owner or another.
            let i = *running.choose(&mut rng).unwrap();
            servers.kill(i).await;
            server_back[i] = Some(ms(&mut rng, 0, 2_000));
            n.kills += 1;
        }
        if modem_back.is_none() && rng.gen_bool(0.008) {
            if rng.gen_bool(0.5) {
                port.unplug();
                n.unplugs += 1;
            } else {
                port.modem().set_hung(true);
                n.hangs += 1;
            }
            // Plugged back (power-cycled) after a while: a hung modem only answers after that.
            modem_back = Some(ms(&mut rng, 500, 15_000));
        }
        if credit_back.is_none() && rng.gen_bool(0.005) {
            port.modem().set_credit(Some(rng.gen_range(0..30)));
            credit_back = Some(ms(&mut rng, 1_000, 20_000));
            n.credit_outs += 1;
        }
        if rng.gen_bool(0.02) {
            let station = stations.choose(&mut rng).unwrap().clone();
            station.lock().await.power_cut().await.unwrap();
            n.power_cuts += 1;
        }
        if rng.gen_bool(0.02) {
            // Now and then a storm: half the messages lost.
            let worst = if rng.gen_bool(0.2) { 0.5 } else { 0.2 };
            network.set_knobs(Knobs {
                latency: Duration::from_millis(rng.gen_range(10..300)),
                jitter: Duration::from_millis(rng.gen_range(0..5_000)),
                loss: rng.gen_range(0.0..worst),
                duplication: rng.gen_range(0.0..0.1),
                hold: rng.gen_range(0.0..0.03),
                error: rng.gen_range(0.0..0.05),
                ..Knobs::default()
            });
            n.knob_changes += 1;
        }
        if rng.gen_bool(0.05) {
            attack(&mut rng, &network, &numbers, &keys_of, &mut n);
        }
    }
    admins.await.unwrap();
    let faulty = started.elapsed();

    // The quiet end: everything back, the held copies arrive "hours" late, keys presented until done.
    network.set_knobs(Knobs::default());
    port.modem().set_credit(None);
    if !port.is_plugged() || modem_back.is_some() {
        port.replug().unwrap();
    }
    servers.start_stopped().await;
    stop_tenants.send(true).unwrap();
    tenants_task.await.unwrap();
    let released = network.release_held();
    let db = database.open().await;
    let deadline = Instant::now() + o.settle;
    let mut journal;
    let mut still = String::new();
    loop {
        journal = read_journal(&db).await;
        let mut open_keys: Vec<(usize, u16)> = Vec::new();
        for (s, station) in stations.iter().enumerate() {
            let nv = station.lock().await.nv();
            for p in nv.pending.values() {
                open_keys.push((s, p.key));
            }
            for key in nv.loading.keys() {
                open_keys.push((s, *key));
            }
        }
        let unended = journal.values().filter(|t| !ended(t.status)).count();
        // Quiet: nothing left to load, and the server has nothing more to send (every failed top-up's
        // cancellation answered by its station).
        let quiet = unended == 0
            && open_keys.is_empty()
            && db.next_attempt_at().await.unwrap().is_none()
            && db.outbox_length().await.unwrap() == 0;
        if quiet || Instant::now() > deadline {
            if !quiet {
                still = format!(
                    "not quiet after {} s: {unended} top-ups not ended, {} keys with something to load, \
                     {} messages in the outbox",
                    o.settle.as_secs(),
                    open_keys.len(),
                    db.outbox_length().await.unwrap()
                );
            }
            break;
        }
        open_keys.sort_unstable();
        open_keys.dedup();
        for (s, key) in open_keys {
            stations[s].lock().await.present_key(key).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let total = started.elapsed();

    // The verdict.
    let mut failures: Vec<String> = Vec::new();
    if !still.is_empty() {
        failures.push(still);
    }
    let ledger = std::mem::take(&mut *shared.ledger.lock().unwrap());
    if journal.len() != ledger.accepted {
        failures.push(format!("{} top-ups accepted, {} in the journal", ledger.accepted, journal.len()));
    }
    for (id, (station, key)) in &ledger.known {
        match journal.get(id) {
            None => failures.push(format!("top-up {id} accepted but not in the journal")),
            Some(t) if t.station_id != station_id(*station) || t.key.0 != *key => {
                failures.push(format!("top-up {id} changed station or key"))
            }
            Some(_) => {}
        }
    }
    let mut by_status: BTreeMap<&str, usize> = BTreeMap::new();
    for t in journal.values() {
        *by_status.entry(t.status.as_str()).or_default() += 1;
        if !ended(t.status) {
            failures.push(format!(
                "top-up {} still {} after {} s of quiet",
                t.id,
                t.status,
                o.settle.as_secs()
            ));
        }
    }
    let mut logged: HashMap<u32, Vec<(usize, station::logger::Record)>> = HashMap::new();
    let mut station_rejected = 0;
    for (s, station) in stations.iter().enumerate() {
        let nv = station.lock().await.nv();
        station_rejected += nv.rejected;
        if nv.logger.written() as usize > station::logger::RECORDS {
            failures.push(format!(
                "station {} logged {} loads, more than its logger keeps",
                s + 1,
                nv.logger.written()
            ));
        }
        for record in nv.logger.records() {
            logged.entry(record.tx).or_default().push((s, record));
        }
    }
    let mut journal_sums: HashMap<u16, i64> = HashMap::new();
    let mut logger_sums: HashMap<u16, i64> = HashMap::new();
    for records in logged.values() {
        for (_, r) in records {
            *logger_sums.entry(r.key).or_default() += i64::from(r.amount);
        }
    }
    for t in journal.values() {
        let records = u32::try_from(t.id.get())
            .ok()
            .and_then(|id| logged.get(&id))
            .map(Vec::as_slice)
            .unwrap_or_default();
        if t.status == TxStatus::Reloaded {
            *journal_sums.entry(t.key.0).or_default() += t.amount.rappen();
            match records {
                [(s, r)]
                    if station_id(*s) == t.station_id
                        && r.key == t.key.0
                        && i64::from(r.amount) == t.amount.rappen()
                        && Some(i64::from(r.balance)) == t.balance_rappen => {}
                [] => failures
                    .push(format!("top-up {} reloaded in the journal, not in its station's logger", t.id)),
                more => failures.push(format!("top-up {} logged {} times: {more:?}", t.id, more.len())),
            }
        } else if !records.is_empty() {
            failures.push(format!("top-up {} is {} but its station loaded it: {records:?}", t.id, t.status));
        }
    }
    for (key, memory) in keys.all() {
        let (j, l) =
            (journal_sums.get(&key).copied().unwrap_or(0), logger_sums.get(&key).copied().unwrap_or(0));
        if i64::from(memory.balance) != j || j != l {
            failures.push(format!("key {key}: balance {} Rappen, journal {j}, loggers {l}", memory.balance));
        }
    }
    let refused_by_server =
        db.list_stations(Scope::All).await.unwrap().iter().map(|s| s.rejected).sum::<i64>();
    let loaded: i64 = keys.all().values().map(|m| i64::from(m.balance)).sum();
    let stats = network.stats();
    println!(
        "faults for {:.0} s, quiet end {:.0} s: {} server starts ({} SIGKILL) over {} instance(s) on {}, {} unplugs, \
         {} hangs, {} credit outs, {} power cuts, {} knob changes",
        faulty.as_secs_f64(),
        (total - faulty).as_secs_f64(),
        servers.starts,
        n.kills,
        o.instances,
        if o.postgres.is_some() { "PostgreSQL" } else { "SQLite" },
        n.unplugs,
        n.hangs,
        n.credit_outs,
        n.power_cuts,
        n.knob_changes
    );
    if o.instances > 1 {
        // Each instance says so in its log (at the warn level the campaign keeps) when it takes over while
        // running (one that takes it as it starts says so at the info level).
        let log = std::fs::read_to_string(path.join("server.log")).unwrap_or_default();
        println!("modem taken over by a running instance: {}", log.matches("took the modem over").count());
    }
    println!(
        "network: {} SMS submitted, {} lost, {} duplicated, {} held back ({released} delivered at the end), {} refused",
        stats.submitted, stats.lost, stats.duplicated, stats.held, stats.refused
    );
    println!(
        "attacks: {} forged, {} altered, {} replayed, {} reflected; refused by the stations {station_rejected}, \
         by the server {refused_by_server} (both also refuse the network's own duplicates)",
        n.forged, n.altered, n.replayed, n.reflected
    );
    println!(
        "journal: {} top-ups {:?}, {} cancellations asked, {} repeats confirmed; {:.2} CHF on {} keys",
        journal.len(),
        by_status,
        ledger.cancels_requested,
        ledger.repeats_confirmed,
        loaded as f64 / 100.0,
        keys.all().len()
    );
    servers.kill_all().await;
    if failures.is_empty() {
        println!(
            "chaos seed {}: PASS — {} top-ups, each reloaded exactly once or ended unloaded; keys, journal and \
             data loggers agree to the Rappen",
            o.seed, ledger.accepted
        );
    } else {
        let kept = dir.keep();
        for f in failures.iter().take(20) {
            println!("  {f}");
        }
        println!(
            "chaos seed {}: FAIL — {} problems (first above); database, station memory and server log kept in {}",
            o.seed,
            failures.len(),
            kept.display()
        );
        std::process::exit(1);
    }
}

fn ended(status: TxStatus) -> bool {
    matches!(status, TxStatus::Reloaded | TxStatus::Failed | TxStatus::Cancelled)
}

/// The database's id of the campaign's station at `index` (stations are registered in order, from 1).
fn station_id(index: usize) -> domain::StationId {
    domain::StationId(i64::try_from(index).expect("a few stations") + 1)
}

async fn read_journal(db: &Db) -> BTreeMap<i64, db::TxRecord> {
    let mut all = BTreeMap::new();
    let mut version = 0;
    loop {
        let rows = db.changes_since(Scope::All, version, 1000).await.unwrap();
        let Some(last) = rows.last() else { return all };
        version = last.version;
        for row in rows {
            all.insert(row.id.get(), row);
        }
    }
}
