//! Intake: how many top-ups per second the real `recharge` server accepts through its HTTP interface
//! (`POST /api/topup`, each committed to the database before the answer, the modem task turning them into
//! signed messages meanwhile on an emulated modem behind a pseudo-terminal), with 1, 16 and 64 clients at
//! once; the request time (p50 / p99); the server's memory idle, at its peak and after; its cold start
//! (process start to the first page served) on a fresh database and on one holding every top-up.
//! Every accepted top-up must be in the journal once: a missing or extra one fails the run.
//!
//! ```sh
//! cargo bench -p server --bench intake                                  # 20,000 top-ups per round
//! cargo bench -p server --bench intake -- --topups 500 --clients 1,16    # the small version CI runs
//! ```

use std::path::Path;
use std::time::{Duration, Instant};

use db::{Db, Scope};
use sms::emulator::{Knobs, Network, pty::Port};

mod support;

const PASSWORD: &str = "intake benchmark password";
const STATIONS: usize = 20;

struct Options {
    topups: usize,
    clients: Vec<usize>,
}

fn options() -> Options {
    let mut o = Options { topups: 20_000, clients: vec![1, 16, 64] };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--topups" => o.topups = value().parse().expect("--topups N"),
            "--clients" => {
                o.clients = value().split(',').map(|c| c.parse().expect("--clients 1,16,64")).collect()
            }
            "--bench" => {}
            other => panic!("unknown option {other}"),
        }
    }
    o
}

fn database_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("intake.db").display())
}

/// Starts the server; its process, address, and the time from spawning it to the first page served.
async fn start(dir: &Path, http: &reqwest::Client) -> (tokio::process::Child, String, Duration) {
    let t0 = Instant::now();
    let mut command = support::serve(&database_url(dir), dir, "warn");
    command.args(["--server-number", "+41790000001", "--modem"]).arg(dir.join("ttyUSB0"));
    let (child, addr) = support::spawn_server(command).await;
    loop {
        let page = http.get(format!("http://{addr}/login")).send().await;
        if page.is_ok_and(|p| p.status().is_success()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    (child, addr, t0.elapsed())
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}

#[tokio::main]
async fn main() {
    let o = options();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    let url = database_url(path);
    support::cli(&url, &["gerance", "add", "Gérance Intake"], "");
    support::cli(
        &url,
        &["user", "add", "--email", "op@intake.ch", "--role", "operator"],
        &format!("{PASSWORD}\n"),
    );
    for s in 1..=STATIONS {
        let (name, phone) = (format!("Station {s}"), format!("+417900{:05}", 100 + s));
        let args = ["station", "add", "--gerance", "Gérance Intake", "--name", &name, "--place", "Sion"];
        support::cli(&url, &[&args[..], &["--phone", &phone]].concat(), "");
    }
    // The server's modem and the stations' numbers on an emulated network (the stations do not answer:
    // this measures intake, not the round trip).
    let network = Network::new(1);
    network.set_knobs(Knobs::default());
    for s in 1..=STATIONS {
        network.add_modem(&format!("+417900{:05}", 100 + s), None);
    }
    let _port = Port::plug(network.add_modem("+41790000001", None), path.join("ttyUSB0")).unwrap();

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    let (mut server, addr, fresh_start) = start(path, &http).await;
    println!(
        "cold start, new database (accounts and stations only): {:.0} ms to the first page",
        fresh_start.as_secs_f64() * 1000.0
    );
    let pid = server.id().unwrap();
    let cookie = support::login(&http, &addr, "op@intake.ch", PASSWORD).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (idle, _) = support::memory(pid);
    println!("memory idle: {idle:.1} MB");

    let mut accepted = 0usize;
    for (round, &clients) in o.clients.iter().enumerate() {
        let per_client = o.topups / clients;
        let started = Instant::now();
        let mut tasks = Vec::new();
        for c in 0..clients {
            let (http, addr, cookie) = (http.clone(), addr.clone(), cookie.clone());
            tasks.push(tokio::spawn(async move {
                let mut times = Vec::with_capacity(per_client);
                for i in 0..per_client {
                    let station = (c + i) % STATIONS + 1;
                    let token = format!("intake-{round}-{c:04}-{i:08}");
                    let t0 = Instant::now();
                    support::top_up(&http, &addr, &cookie, station, (c * 7919 + i) % 65536, "20.00", &token)
                        .await;
                    times.push(t0.elapsed().as_secs_f64() * 1000.0);
                }
                times
            }));
        }
        let mut times: Vec<f64> = Vec::new();
        for t in tasks {
            times.extend(t.await.unwrap());
        }
        let elapsed = started.elapsed().as_secs_f64();
        accepted += times.len();
        times.sort_by(f64::total_cmp);
        println!(
            "{clients:>3} clients: {} top-ups in {elapsed:.2} s = {:.0} per second; request p50 {:.2} ms, p99 {:.2} ms",
            times.len(),
            times.len() as f64 / elapsed,
            percentile(&times, 0.5),
            percentile(&times, 0.99)
        );
    }
    let (after, peak) = support::memory(pid);
    println!("memory: peak {peak:.1} MB, after the load {after:.1} MB");

    let db = Db::open(&url).await.unwrap();
    let journal = db.journal_total(Scope::All, &db::JournalFilter::default()).await.unwrap();
    let outbox = db.outbox_length().await.unwrap();
    println!("journal: {journal} top-ups; outbox: {outbox} messages still waiting for the modem");
    server.kill().await.unwrap();
    db.close().await;

    let (mut server, _, restart) = start(path, &http).await;
    println!(
        "cold start, database with {journal} top-ups: {:.0} ms to the first page",
        restart.as_secs_f64() * 1000.0
    );
    server.kill().await.unwrap();
    assert_eq!(journal as usize, accepted, "every accepted top-up is in the journal once");
}
