//! `station-sim`: a GSM network with the server's modem on a pseudo-terminal and simulated recharge
//! stations, driven from the keyboard. Point the server (or Gammu, minicom…) at the printed device path.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use rand::RngCore;
use sms::emulator::{Knobs, Network, pty::Port};
use station::lcd::{Screen, francs};
use station::machine::{Config, Event};
use station::protocol::{Body, Message, Provisioning, Secret};
use station::sim::{Keys, Report, SimulatedStation, StationSpec};
use tokio::io::{AsyncBufReadExt, BufReader};

#[derive(Parser)]
#[command(version, about = "Simulated recharge stations on an emulated GSM network")]
struct Cli {
    /// Where the stations' memory, the keys and the provisioning are kept (created if missing).
    #[arg(long, default_value = "data/station-sim")]
    dir: PathBuf,
    /// How many stations (numbered 1, 2, …; SIM numbers +41790000101, +41790000102, …).
    #[arg(long, default_value_t = 2)]
    stations: u32,
    /// The phone number of the server's modem.
    #[arg(long, default_value = "+41790000001")]
    server_number: String,
    /// Prepaid credit of the server's SIM, in Rappen (none: a subscription).
    #[arg(long)]
    server_credit: Option<u32>,
    /// The largest top-up a station accepts, in Rappen.
    #[arg(long, default_value_t = 50_000)]
    max_amount: u32,
    /// Seed of the network's random faults.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Provisioned {
    stations: Vec<String>,
    /// Counter of the messages `send` signs as the server (kept above anything a test server uses).
    counter: u32,
}

const HELP: &str = "\
commands:
  present <station> <key>          a tenant presents a key (0-65535); the display shows it for 15 s
  lcd [<station>]                  the display(s) now
  send <station> <key> <CHF>       sign a top-up as the server would and deliver it (no server needed)
  keys                             balances of the keys
  log <station>                    the station's data logger
  power-cut <station>              cut the power and restart from non-volatile memory
  unplug | replug                  pull the server's modem out, plug it back
  knobs [latency=200ms jitter=1s loss=0.1 dup=0.1 error=0.1 send=3s cost=10]
  credit <rappen>                  top up the server's SIM
  quit";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Err(e) = run(cli).await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if cli.stations == 0 || cli.stations > 99 {
        bail!("--stations must be 1 to 99");
    }
    std::fs::create_dir_all(&cli.dir).with_context(|| format!("cannot create {}", cli.dir.display()))?;
    let mut provisioned = provision(&cli)?;
    let network = Network::new(cli.seed);
    let mut port =
        Port::plug(network.add_modem(&cli.server_number, cli.server_credit), cli.dir.join("ttyRecharge"))
            .context("cannot create the server modem's pseudo-terminal")?;
    let keys = Keys::in_file(cli.dir.join("keys.json"))?;
    let mut stations = Vec::new();
    for (i, prov) in provisioned.stations.iter().enumerate() {
        let provisioning = Provisioning::parse(prov)?;
        let spec = StationSpec {
            config: Config {
                provisioning,
                max_amount: cli.max_amount,
                firmware: env!("CARGO_PKG_VERSION").into(),
            },
            number: format!("+417900001{:02}", i + 1),
            nv_file: Some(cli.dir.join(format!("station-{}.json", i + 1))),
        };
        let station = SimulatedStation::start(&network, spec, keys.clone()).await?;
        watch(&station);
        stations.push(station);
    }

    println!("Server modem ({}) on {}", cli.server_number, port.path().display());
    println!("  e.g. recharge serve --modem {}", port.path().display());
    for s in &stations {
        let prov = &provisioned.stations[s.station_id() as usize - 1];
        println!("Station {} on {}: {prov}", s.station_id(), s.number());
    }
    println!("{HELP}");

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        print!("> ");
        std::io::stdout().flush()?;
        let Some(line) = lines.next_line().await? else { break };
        let words: Vec<&str> = line.split_whitespace().collect();
        let result = match words.as_slice() {
            [] => Ok(()),
            ["quit" | "exit"] => break,
            ["help"] => {
                println!("{HELP}");
                Ok(())
            }
            ["present", n, key] => match (station(&stations, n), parse_key(key)) {
                (Ok(s), Ok(key)) => {
                    s.present_key(key).await;
                    show_presentation(s);
                    Ok(())
                }
                (Err(e), _) | (_, Err(e)) => Err(e),
            },
            ["lcd"] => {
                stations.iter().for_each(|s| print_screen(s.station_id(), &s.screen()));
                Ok(())
            }
            ["lcd", n] => station(&stations, n).map(|s| print_screen(s.station_id(), &s.screen())),
            ["send", n, key, chf] => match (station(&stations, n), parse_key(key), parse_chf(chf)) {
                (Ok(s), Ok(key), Ok(amount)) => {
                    provisioned.counter += 1;
                    save_provisioned(&cli.dir, &provisioned)?;
                    let prov = Provisioning::parse(&provisioned.stations[s.station_id() as usize - 1])?;
                    let tx = u64::from(provisioned.counter);
                    let text = Message {
                        station: s.station_id(),
                        counter: provisioned.counter,
                        body: Body::TopUp { tx, key, amount },
                    }
                    .encode(&prov.secret);
                    network.inject(&cli.server_number, s.number(), &text).map_err(|e| anyhow::anyhow!("{e}"))
                }
                (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => Err(e),
            },
            ["keys"] => {
                for (key, memory) in keys.all() {
                    println!("  key {key:05}: {} CHF", francs(memory.balance));
                }
                Ok(())
            }
            ["log", n] => station(&stations, n).map(|s| {
                for r in s.nv().logger.records() {
                    println!(
                        "  {}  tx {}  key {:05}  +{} CHF  -> {} CHF",
                        zurich(r.time),
                        r.tx,
                        r.key,
                        francs(r.amount),
                        francs(r.balance)
                    );
                }
            }),
            ["power-cut", n] => match n.parse::<usize>().ok().filter(|i| (1..=stations.len()).contains(i)) {
                Some(i) => {
                    stations[i - 1].power_cut().await?;
                    println!("  station {i} restarted from its memory");
                    Ok(())
                }
                None => Err(anyhow::anyhow!("no station {n}")),
            },
            ["unplug"] => {
                port.unplug();
                Ok(())
            }
            ["replug"] => port.replug().map_err(Into::into),
            ["knobs", settings @ ..] => set_knobs(&network, settings),
            ["credit", rappen] => match rappen.parse() {
                Ok(r) => {
                    port.modem().set_credit(Some(r));
                    Ok(())
                }
                Err(_) => Err(anyhow::anyhow!("credit is a number of Rappen")),
            },
            _ => Err(anyhow::anyhow!("unknown command; type help")),
        };
        if let Err(e) = result {
            println!("  {e}");
        }
    }
    Ok(())
}

/// Reads the stations' provisioning from the directory, creating secrets for new stations.
fn provision(cli: &Cli) -> anyhow::Result<Provisioned> {
    let file = cli.dir.join("stations.json");
    let mut provisioned: Provisioned = match std::fs::read(&file) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes).with_context(|| format!("{} is damaged", file.display()))?
        }
        Err(_) => Provisioned { stations: Vec::new(), counter: 1_000_000 },
    };
    while provisioned.stations.len() < cli.stations as usize {
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        let station = provisioned.stations.len() as u32 + 1;
        let prov = Provisioning {
            station,
            server_number: cli.server_number.clone(),
            secret: Secret::from_bytes(secret),
        };
        provisioned.stations.push(prov.encode());
    }
    provisioned.stations.truncate(cli.stations as usize);
    save_provisioned(&cli.dir, &provisioned)?;
    Ok(provisioned)
}

fn save_provisioned(dir: &Path, provisioned: &Provisioned) -> anyhow::Result<()> {
    let file = dir.join("stations.json");
    std::fs::write(&file, serde_json::to_vec_pretty(provisioned)?)?;
    // Secrets: readable by the owner only.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))?;
    Ok(())
}

fn station<'a>(stations: &'a [SimulatedStation], n: &str) -> anyhow::Result<&'a SimulatedStation> {
    n.parse::<usize>()
        .ok()
        .and_then(|i| i.checked_sub(1))
        .and_then(|i| stations.get(i))
        .ok_or_else(|| anyhow::anyhow!("no station {n} (1 to {})", stations.len()))
}

fn parse_key(s: &str) -> anyhow::Result<u16> {
    domain::KeyNumber::parse(s)
        .map(|k| k.0)
        .map_err(|_| anyhow::anyhow!("a key number is 0 to 65535, not {s}"))
}

fn parse_chf(s: &str) -> anyhow::Result<u32> {
    let amount = domain::Amount::parse_chf(s).map_err(|_| anyhow::anyhow!("an amount is like 10.00"))?;
    Ok(u32::try_from(amount.rappen())?)
}

fn set_knobs(network: &Network, settings: &[&str]) -> anyhow::Result<()> {
    let mut knobs: Knobs = network.knobs();
    for setting in settings {
        let (name, value) =
            setting.split_once('=').ok_or_else(|| anyhow::anyhow!("{setting}: name=value"))?;
        let rate = || {
            value
                .parse::<f64>()
                .ok()
                .filter(|r| (0.0..=1.0).contains(r))
                .ok_or_else(|| anyhow::anyhow!("{name}: 0 to 1"))
        };
        let time =
            || humantime::parse_duration(value).map_err(|_| anyhow::anyhow!("{name}: like 200ms or 3s"));
        match name {
            "latency" => knobs.latency = time()?,
            "jitter" => knobs.jitter = time()?,
            "send" => knobs.send_time = time()?,
            "loss" => knobs.loss = rate()?,
            "dup" => knobs.duplication = rate()?,
            "error" => knobs.error = rate()?,
            "cost" => knobs.cost = value.parse()?,
            _ => bail!("unknown knob {name}"),
        }
    }
    network.set_knobs(knobs);
    println!("  {knobs:?}");
    Ok(())
}

/// Prints what a station does as it happens.
fn watch(station: &SimulatedStation) {
    let mut reports = station.subscribe();
    let id = station.station_id();
    tokio::spawn(async move {
        while let Ok(report) = reports.recv().await {
            let line = match report {
                Report::Event(Event::Rejected { from, reason }) => {
                    format!("ignored a message from {from}: {reason}")
                }
                Report::Event(Event::Stored { tx, key, amount }) => {
                    format!("stored top-up {tx}: key {key:05}, {} CHF", francs(amount))
                }
                Report::Event(Event::Loaded { tx, key, amount, balance }) => {
                    format!(
                        "loaded top-up {tx} onto key {key:05}: +{} CHF, now {} CHF",
                        francs(amount),
                        francs(balance)
                    )
                }
                Report::Event(event) => format!("{event:?}"),
                Report::Sent(text) => format!("-> {text}"),
                Report::SendFailed(error) => format!("could not send: {error}"),
            };
            println!("\r[station {id}] {line}");
        }
    });
}

/// The display now, then as it changes: the amount loading at 5 s, the new balance at 10 s, idle at 15 s.
fn show_presentation(station: &SimulatedStation) {
    let id = station.station_id();
    let display = station.display();
    print_screen(id, &display.screen());
    tokio::spawn(async move {
        let mut last = display.screen();
        for _ in 0..16 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let now = display.screen();
            if now != last {
                print!("\r");
                print_screen(id, &now);
                last = now;
            }
        }
    });
}

/// Unix seconds as Swiss local time.
fn zurich(secs: u32) -> String {
    domain::Timestamp(i64::from(secs) * 1000).zurich().to_string()
}

fn print_screen(id: u32, screen: &Screen) {
    println!("  station {id}");
    println!("  +----------------+");
    for line in screen.lines() {
        let pad = 16usize.saturating_sub(line.chars().count());
        println!("  |{line}{}|", " ".repeat(pad));
    }
    println!("  +----------------+");
}
