//! Live updates at scale: `--streams` journal event streams (real HTTP connections on loopback) open on
//! the real `recharge` server, then a burst of `--topups` top-ups through its HTTP interface; for every
//! stream and top-up, the time from the request that changed the state to the stream receiving the
//! change (p50 / p99), and the server's resident memory (idle, with the streams open, peak). Every stream
//! must receive every top-up: a missing one fails the run.
//!
//! ```sh
//! cargo bench -p server --bench live                              # 10,000 streams, 50 top-ups
//! cargo bench -p server --bench live -- --streams 200 --topups 10  # the small version CI runs
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

mod support;

const PASSWORD: &str = "live benchmark password";

struct Options {
    streams: usize,
    topups: usize,
}

fn options() -> Options {
    let mut o = Options { streams: 10_000, topups: 50 };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--streams" => o.streams = value().parse().expect("--streams N"),
            "--topups" => o.topups = value().parse().expect("--topups N"),
            "--bench" => {}
            other => panic!("unknown option {other}"),
        }
    }
    o
}

fn cli(dir: &std::path::Path, args: &[&str], stdin: &str) {
    support::cli(&format!("sqlite://{}", dir.join("live.db").display()), args, stdin);
}

/// CPU time (user + system) a process has used, in seconds.
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// Opens an event stream and records, for each transaction number, when it first arrived.
async fn stream(
    addr: String,
    cookie: String,
    connected: Arc<Semaphore>,
    seen: Arc<Mutex<HashMap<i64, Vec<Instant>>>>,
    permit: tokio::sync::OwnedSemaphorePermit,
) {
    let mut socket = TcpStream::connect(&addr).await.expect("connect");
    let request = format!(
        "GET /api/events HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\nAccept: text/event-stream\r\n\r\n"
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut reader = BufReader::new(socket);
    let mut line = String::new();
    reader.read_line(&mut line).await.unwrap();
    assert!(line.starts_with("HTTP/1.1 200"), "event stream refused: {line}");
    drop(permit);
    connected.add_permits(1);
    let mut mine: Vec<i64> = Vec::new();
    loop {
        line.clear();
        match reader.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        // Chunked body: data lines arrive whole; the transaction number is the JSON's first field.
        if let Some(rest) = line.strip_prefix("data: {\"id\":") {
            let at = Instant::now();
            let id: i64 = rest.split(',').next().and_then(|n| n.parse().ok()).unwrap_or(-1);
            if !mine.contains(&id) {
                mine.push(id);
                seen.lock().unwrap().entry(id).or_default().push(at);
            }
        }
    }
}

#[tokio::main]
async fn main() {
    let o = options();
    let dir = tempfile::tempdir().unwrap();
    cli(dir.path(), &["gerance", "add", "Gérance Live"], "");
    cli(
        dir.path(),
        &["user", "add", "--email", "op@live.ch", "--role", "operator"],
        &format!("{PASSWORD}\n"),
    );
    cli(
        dir.path(),
        &[
            "station",
            "add",
            "--gerance",
            "Gérance Live",
            "--name",
            "Station",
            "--place",
            "Sion",
            "--phone",
            "+41790000101",
        ],
        "",
    );
    let database = format!("sqlite://{}", dir.path().join("live.db").display());
    let mut command = support::serve(&database, dir.path(), "warn");
    command.args(["--retry-after", "1h", "--demo-dir"]).arg(dir.path().join("demo"));
    let (mut server, addr) = support::spawn_server(command).await;
    let pid = server.id().unwrap();
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let cookie = support::login(&http, &addr, "op@live.ch", PASSWORD).await;
    let idle = support::memory(pid);

    // Open the streams, at most 256 connecting at once.
    let started = Instant::now();
    let seen: Arc<Mutex<HashMap<i64, Vec<Instant>>>> = Arc::default();
    let connecting = Arc::new(Semaphore::new(256));
    let connected = Arc::new(Semaphore::new(0));
    for _ in 0..o.streams {
        let permit = connecting.clone().acquire_owned().await.unwrap();
        tokio::spawn(stream(addr.clone(), cookie.clone(), connected.clone(), seen.clone(), permit));
    }
    let all = connected.acquire_many(o.streams as u32).await.unwrap();
    all.forget();
    let open = support::memory(pid);
    println!("{} streams open in {:.1} s", o.streams, started.elapsed().as_secs_f64());

    // The burst: top-ups one after the other, as fast as the server takes them.
    let (server_cpu, own_cpu, burst) = (cpu_seconds(&pid.to_string()), cpu_seconds("self"), Instant::now());
    let mut sent = HashMap::new();
    for i in 0..o.topups {
        let t0 = Instant::now();
        let token = format!("live-benchmark-{i:08}");
        let id = support::top_up(&http, &addr, &cookie, 1, 1000 + i, "10.00", &token).await;
        sent.insert(id, t0);
    }
    // Wait until every stream got every top-up, or 60 s.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let complete = {
            let seen = seen.lock().unwrap();
            sent.keys().all(|id| seen.get(id).is_some_and(|v| v.len() >= o.streams))
        };
        if complete || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, peak) = support::memory(pid);
    let burst = burst.elapsed().as_secs_f64();
    let (server_cpu, own_cpu) = (cpu_seconds(&pid.to_string()) - server_cpu, cpu_seconds("self") - own_cpu);
    let mut latencies: Vec<f64> = Vec::new();
    let mut missing = 0;
    for (id, t0) in &sent {
        let arrivals = seen.lock().unwrap().get(id).cloned().unwrap_or_default();
        missing += o.streams - arrivals.len().min(o.streams);
        latencies.extend(arrivals.iter().map(|at| at.duration_since(*t0).as_secs_f64() * 1000.0));
    }
    latencies.sort_by(f64::total_cmp);
    let p = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{} top-ups × {} streams: {} deliveries, latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        o.topups,
        o.streams,
        latencies.len(),
        p(0.5),
        p(0.99),
        p(1.0)
    );
    println!(
        "server memory: idle {:.1} MB, with the streams open {:.1} MB, peak {:.1} MB",
        idle.0, open.0, peak
    );
    println!(
        "burst to last delivery {burst:.2} s; CPU used meanwhile: server {server_cpu:.2} s, this load generator \
         {own_cpu:.2} s (of {:.2} s available on {} cores)",
        burst * std::thread::available_parallelism().map_or(1, |n| n.get()) as f64,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let _ = server.kill().await;
    assert_eq!(missing, 0, "{missing} deliveries never arrived");
}
