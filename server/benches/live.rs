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
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
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

/// Opens an event stream and returns, for each transaction number, when it first arrived (at the read
/// that brought it). Lean on purpose: the generator shares the machine's cores with the server, so it
/// reads raw bytes into one buffer and counts arrivals in an atomic, with no lock between streams.
async fn stream(
    addr: String,
    cookie: String,
    connected: Arc<Semaphore>,
    arrived: Arc<AtomicUsize>,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> Vec<(i64, Instant)> {
    let mut socket = TcpStream::connect(&addr).await.expect("connect");
    let request = format!(
        "GET /api/events HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\nAccept: text/event-stream\r\n\r\n"
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut buffer: Vec<u8> = Vec::with_capacity(4096);
    let head_end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        assert!(socket.read_buf(&mut buffer).await.unwrap() > 0, "the server closed the stream");
    };
    assert!(
        buffer.starts_with(b"HTTP/1.1 200"),
        "event stream refused: {}",
        String::from_utf8_lossy(&buffer)
    );
    buffer.drain(..head_end);
    drop(permit);
    connected.add_permits(1);
    let mut mine: Vec<(i64, Instant)> = Vec::new();
    loop {
        // Whole lines are looked at; a line cut by a read waits for the next one.
        let mut start = 0;
        while let Some(length) = buffer[start..].iter().position(|b| *b == b'\n') {
            // The transaction number is the JSON's first field.
            if let Some(rest) = buffer[start..start + length].strip_prefix(b"data: {\"id\":") {
                let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
                let id = std::str::from_utf8(&rest[..digits]).ok().and_then(|d| d.parse().ok()).unwrap_or(-1);
                if !mine.iter().any(|(seen, _)| *seen == id) {
                    mine.push((id, Instant::now()));
                    arrived.fetch_add(1, Ordering::Relaxed);
                }
            }
            start += length + 1;
        }
        buffer.drain(..start);
        match socket.read_buf(&mut buffer).await {
            Ok(0) | Err(_) => return mine,
            Ok(_) => {}
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
    let arrived = Arc::new(AtomicUsize::new(0));
    let mut streams = Vec::with_capacity(o.streams);
    let connecting = Arc::new(Semaphore::new(256));
    let connected = Arc::new(Semaphore::new(0));
    for _ in 0..o.streams {
        let permit = connecting.clone().acquire_owned().await.unwrap();
        streams.push(tokio::spawn(stream(
            addr.clone(),
            cookie.clone(),
            connected.clone(),
            arrived.clone(),
            permit,
        )));
    }
    let all = connected.acquire_many(o.streams as u32).await.unwrap();
    all.forget();
    let open = support::memory(pid);
    println!("{} streams open in {:.1} s", o.streams, started.elapsed().as_secs_f64());

    // The burst: top-ups one after the other, as fast as the server takes them.
    let (server_cpu, own_cpu, burst) = (cpu_seconds(&pid.to_string()), cpu_seconds("self"), Instant::now());
    let mut sent = HashMap::new();
    let mut answered: Vec<f64> = Vec::new();
    for i in 0..o.topups {
        let t0 = Instant::now();
        let token = format!("live-benchmark-{i:08}");
        let id = support::top_up(&http, &addr, &cookie, 1, 1000 + i, "10.00", &token).await;
        answered.push(t0.elapsed().as_secs_f64() * 1000.0);
        sent.insert(id, t0);
    }
    let submitted = burst.elapsed().as_secs_f64();
    // Wait until every stream got every top-up, or 60 s.
    let deadline = Instant::now() + Duration::from_secs(60);
    while arrived.load(Ordering::Relaxed) < o.streams * o.topups && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (_, peak) = support::memory(pid);
    let burst = burst.elapsed().as_secs_f64();
    let (server_cpu, own_cpu) = (cpu_seconds(&pid.to_string()) - server_cpu, cpu_seconds("self") - own_cpu);
    // Stopping the server ends the streams, which hand over what they saw.
    let _ = server.kill().await;
    let mut latencies: Vec<f64> = Vec::new();
    let mut missing = 0;
    for stream in streams {
        let mine = stream.await.unwrap();
        missing += sent.keys().filter(|id| !mine.iter().any(|(seen, _)| seen == *id)).count();
        latencies.extend(mine.iter().filter_map(|(id, at)| {
            sent.get(id).map(|t0: &Instant| at.duration_since(*t0).as_secs_f64() * 1000.0)
        }));
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
    answered.sort_by(f64::total_cmp);
    let q = |q: f64| answered[((answered.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "top-up requests answered in p50 {:.1} ms, p99 {:.1} ms; all {} sent within {:.2} s",
        q(0.5),
        q(0.99),
        o.topups,
        submitted
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
    assert_eq!(missing, 0, "{missing} deliveries never arrived");
}
