//! Live updates at scale: `--streams` journal event streams (real HTTP connections on loopback) open on
//! the real `recharge` server, then a burst of `--topups` top-ups through its HTTP interface; for every
//! stream and top-up, the time from the request that changed the state to the stream receiving the
//! change (p50 / p99), and the server's resident memory (idle, with the streams open, peak). Every stream
//! must receive every top-up: a missing one fails the run.
//!
//! With `--postgres URL` the database is a new one on that PostgreSQL server (`scripts/test-postgres`)
//! and `--instances N` servers share it, the streams spread over them in turn and the top-ups made
//! through the first: the others hear of each change from the database (`LISTEN`/`NOTIFY`), and the
//! figures are given per instance.
//!
//! ```sh
//! cargo bench -p server --bench live                              # 10,000 streams, 50 top-ups
//! cargo bench -p server --bench live -- --streams 200 --topups 10  # the small version CI runs
//! cargo bench -p server --bench live -- --postgres URL --instances 2
//! ```

use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncWriteExt, Interest};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

mod support;

const PASSWORD: &str = "live benchmark password";

struct Options {
    streams: usize,
    topups: usize,
    postgres: Option<String>,
    instances: usize,
}

fn options() -> Options {
    let mut o = Options { streams: 10_000, topups: 50, postgres: None, instances: 1 };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--streams" => o.streams = value().parse().expect("--streams N"),
            "--topups" => o.topups = value().parse().expect("--topups N"),
            "--postgres" => o.postgres = Some(value()),
            "--instances" => o.instances = value().parse().expect("--instances N"),
            "--bench" => {}
            other => panic!("unknown option {other}"),
        }
    }
    assert!(o.instances == 1 || o.postgres.is_some(), "several instances share a PostgreSQL database");
    o
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

/// A transaction's first arrival on a stream: when the kernel received the segment that completed it
/// (`SO_TIMESTAMPNS`: the client's network stack, as a browser on its own machine would get it), and
/// when this generator read it (later when the generator, which shares the cores with the server, was
/// not running).
struct Arrival {
    id: i64,
    received: SystemTime,
    read: SystemTime,
}

/// Opens an event stream and returns every transaction's first arrival. Lean on purpose: the generator
/// shares the machine's cores with the server, so it reads raw bytes into one buffer, finds events with
/// `memchr` and counts arrivals in an atomic, with no lock between streams.
async fn stream(
    addr: String,
    cookie: String,
    connected: Arc<Semaphore>,
    arrived: Arc<AtomicUsize>,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> Vec<Arrival> {
    let mut socket = TcpStream::connect(&addr).await.expect("connect");
    timestamp_arrivals(&socket);
    let request = format!(
        "GET /api/events HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\nAccept: text/event-stream\r\n\r\n"
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut buffer: Vec<u8> = Vec::with_capacity(4096);
    let head_end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        assert!(read(&socket, &mut buffer).await.unwrap().0 > 0, "the server closed the stream");
    };
    assert!(
        buffer.starts_with(b"HTTP/1.1 200"),
        "event stream refused: {}",
        String::from_utf8_lossy(&buffer)
    );
    buffer.drain(..head_end);
    drop(permit);
    connected.add_permits(1);
    let mut mine: Vec<Arrival> = Vec::new();
    let events = memchr::memmem::Finder::new(b"data: {\"id\":");
    let mut received = SystemTime::now();
    loop {
        // Whole lines are looked at; a line cut by a read waits for the next one (and counts as
        // received with it). The transaction number is the JSON's first field (a JSON string cannot
        // hold the pattern: its quotes are escaped).
        if let Some(end) = memchr::memrchr(b'\n', &buffer) {
            let read = SystemTime::now();
            for at in events.find_iter(&buffer[..end]) {
                let rest = &buffer[at + events.needle().len()..end];
                let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
                let id = std::str::from_utf8(&rest[..digits]).ok().and_then(|d| d.parse().ok()).unwrap_or(-1);
                if !mine.iter().any(|seen| seen.id == id) {
                    mine.push(Arrival { id, received, read });
                    arrived.fetch_add(1, Ordering::Relaxed);
                }
            }
            buffer.drain(..=end);
        }
        match read(&socket, &mut buffer).await {
            Ok((0, _)) | Err(_) => return mine,
            Ok((_, stamp)) => received = stamp.unwrap_or_else(SystemTime::now),
        }
    }
}

/// Asks the kernel to tell, with every read, when the last segment read was received.
fn timestamp_arrivals(socket: &TcpStream) {
    let on: libc::c_int = 1;
    // SAFETY: a valid socket descriptor and an option value of the size given.
    let done = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(done, 0, "SO_TIMESTAMPNS: {}", std::io::Error::last_os_error());
}

/// Reads what is there onto the end of `buffer`, with the kernel's receive time of the last segment
/// read (`recvmsg` with `SCM_TIMESTAMPNS`).
async fn read(socket: &TcpStream, buffer: &mut Vec<u8>) -> std::io::Result<(usize, Option<SystemTime>)> {
    buffer.reserve(4096);
    loop {
        socket.readable().await?;
        let read = socket.try_io(Interest::READABLE, || {
            let spare = buffer.spare_capacity_mut();
            let mut data = libc::iovec { iov_base: spare.as_mut_ptr().cast(), iov_len: spare.len() };
            let mut control = [0u64; 8];
            // SAFETY: zeroed is a valid msghdr; every pointer set below outlives the call.
            let mut message: libc::msghdr = unsafe { std::mem::zeroed() };
            message.msg_iov = &mut data;
            message.msg_iovlen = 1;
            message.msg_control = control.as_mut_ptr().cast();
            message.msg_controllen = std::mem::size_of_val(&control);
            // SAFETY: a valid socket descriptor and message.
            let n = unsafe { libc::recvmsg(socket.as_raw_fd(), &mut message, 0) };
            if n < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let mut stamp = None;
            // SAFETY: the control messages the kernel wrote into `control`, walked with its macros.
            unsafe {
                let mut header = libc::CMSG_FIRSTHDR(&message);
                while !header.is_null() {
                    if (*header).cmsg_level == libc::SOL_SOCKET
                        && (*header).cmsg_type == libc::SCM_TIMESTAMPNS
                    {
                        let time: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(header).cast());
                        stamp = Some(UNIX_EPOCH + Duration::new(time.tv_sec as u64, time.tv_nsec as u32));
                    }
                    header = libc::CMSG_NXTHDR(&message, header);
                }
            }
            Ok((n as usize, stamp))
        });
        match read {
            Ok((n, stamp)) => {
                // SAFETY: the kernel wrote `n` bytes into the spare capacity.
                unsafe { buffer.set_len(buffer.len() + n) };
                return Ok((n, stamp));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}

#[tokio::main]
async fn main() {
    let o = options();
    let dir = tempfile::tempdir().unwrap();
    let database = match &o.postgres {
        Some(server) => db::test_support::fresh_postgres(server).await.expect("a database on the server"),
        None => format!("sqlite://{}", dir.path().join("live.db").display()),
    };
    let key_file = dir.path().join("secrets.key");
    let env = [("RECHARGE_SECRETS_KEY_FILE", key_file.as_path())];
    let cli = |args: &[&str], stdin: &str| {
        support::cli_with(&database, &env, args, stdin);
    };
    cli(&["gerance", "add", "Gérance Live"], "");
    cli(&["user", "add", "--email", "op@live.ch", "--role", "operator"], &format!("{PASSWORD}\n"));
    cli(
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
    let mut servers = Vec::new();
    for _ in 0..o.instances {
        let mut command = support::serve(&database, dir.path(), "warn");
        command.args(["--retry-after", "1h", "--demo-dir"]).arg(dir.path().join("demo")).envs(env);
        let (server, addr) = support::spawn_server(command).await;
        let pid = server.id().unwrap();
        servers.push((server, addr, pid));
    }
    let (addr, pid) = (servers[0].1.clone(), servers[0].2);
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let cookie = support::login(&http, &addr, "op@live.ch", PASSWORD).await;
    let idle: Vec<(f64, f64)> = servers.iter().map(|s| support::memory(s.2)).collect();

    // Open the streams, at most 256 connecting at once, on a runtime of their own: the top-ups below
    // are sent, and timed, from this one. With several instances, each gets every n-th stream.
    let started = Instant::now();
    let arrived = Arc::new(AtomicUsize::new(0));
    let readers = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("stream-readers")
        .enable_all()
        .build()
        .unwrap();
    let mut streams = Vec::with_capacity(o.streams);
    let connecting = Arc::new(Semaphore::new(256));
    let connected = Arc::new(Semaphore::new(0));
    for n in 0..o.streams {
        let permit = connecting.clone().acquire_owned().await.unwrap();
        let instance = n % servers.len();
        let to = servers[instance].1.clone();
        let stream = readers.spawn(stream(to, cookie.clone(), connected.clone(), arrived.clone(), permit));
        streams.push((instance, stream));
    }
    // A stream that failed says why on stderr; the run then stops here rather than wait forever.
    let all = tokio::time::timeout(Duration::from_secs(120), connected.acquire_many(o.streams as u32))
        .await
        .expect("every stream opens within 2 minutes")
        .unwrap();
    all.forget();
    let open: Vec<(f64, f64)> = servers.iter().map(|s| support::memory(s.2)).collect();
    println!(
        "{} streams open in {:.1} s, on {} instance(s) of the server on {}",
        o.streams,
        started.elapsed().as_secs_f64(),
        servers.len(),
        if o.postgres.is_some() { "PostgreSQL" } else { "SQLite" }
    );

    // The burst: top-ups one after the other, as fast as the server takes them.
    let (server_cpu, own_cpu, burst) = (cpu_seconds(&pid.to_string()), cpu_seconds("self"), Instant::now());
    let (server_threads, own_threads) = (scheduled(pid), scheduled(std::process::id()));
    let mut sent = HashMap::new();
    let mut answered: Vec<f64> = Vec::new();
    for i in 0..o.topups {
        let (t0, sent_at) = (Instant::now(), SystemTime::now());
        let token = format!("live-benchmark-{i:08}");
        let id = support::top_up(&http, &addr, &cookie, 1, 1000 + i, "10.00", &token).await;
        answered.push(t0.elapsed().as_secs_f64() * 1000.0);
        sent.insert(id, sent_at);
    }
    let submitted = burst.elapsed().as_secs_f64();
    // Wait until every stream got every top-up, or 60 s.
    let deadline = Instant::now() + Duration::from_secs(60);
    while arrived.load(Ordering::Relaxed) < o.streams * o.topups && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let peak: Vec<f64> = servers.iter().map(|s| support::memory(s.2).1).collect();
    let burst = burst.elapsed().as_secs_f64();
    let (server_cpu, own_cpu) = (cpu_seconds(&pid.to_string()) - server_cpu, cpu_seconds("self") - own_cpu);
    let threads = [
        ("server", server_threads, scheduled(pid)),
        ("generator", own_threads, scheduled(std::process::id())),
    ];
    // Stopping the servers ends the streams, which hand over what they saw.
    for (server, ..) in &mut servers {
        let _ = server.kill().await;
    }
    // From just before the request to the kernel's receipt on the stream, and to the generator's read,
    // per instance.
    let mut received: Vec<Vec<f64>> = vec![Vec::new(); servers.len()];
    let mut read: Vec<Vec<f64>> = vec![Vec::new(); servers.len()];
    // How many writes brought a stream its top-ups, and the time between two of them: a round.
    let (mut writes, mut rounds): (Vec<usize>, Vec<f64>) = (Vec::new(), Vec::new());
    let mut missing = 0;
    for (instance, stream) in streams {
        let mine = stream.await.unwrap();
        missing += sent.keys().filter(|id| !mine.iter().any(|seen| seen.id == **id)).count();
        for arrival in &mine {
            if let Some(t0) = sent.get(&arrival.id) {
                let since =
                    |at: SystemTime| at.duration_since(*t0).unwrap_or_default().as_secs_f64() * 1000.0;
                received[instance].push(since(arrival.received));
                read[instance].push(since(arrival.read));
            }
        }
        let mut times: Vec<SystemTime> =
            mine.iter().filter(|a| sent.contains_key(&a.id)).map(|a| a.received).collect();
        times.sort();
        times.dedup();
        writes.push(times.len());
        rounds.extend(
            times.windows(2).map(|w| w[1].duration_since(w[0]).unwrap_or_default().as_secs_f64() * 1000.0),
        );
    }
    readers.shutdown_background();
    for instance in 0..servers.len() {
        let on = match (servers.len(), instance) {
            (1, _) => String::new(),
            (_, 0) => " (instance 1, which made the changes)".to_owned(),
            (_, n) => format!(" (instance {}, told by the database)", n + 1),
        };
        for (what, latencies) in
            [("received", &mut received[instance]), ("read by the generator", &mut read[instance])]
        {
            println!(
                "{} top-ups × {} streams{on}: {} deliveries, {what}: {}",
                o.topups,
                o.streams.div_ceil(servers.len()),
                latencies.len(),
                percentiles(latencies, " ms")
            );
        }
    }
    writes.sort_unstable();
    println!(
        "writes per stream: median {}, max {}; time between two writes to a stream: {}",
        writes.get(writes.len() / 2).unwrap_or(&0),
        writes.last().unwrap_or(&0),
        percentiles(&mut rounds, " ms")
    );
    println!(
        "top-up requests answered in {}; all {} sent within {submitted:.2} s",
        percentiles(&mut answered, " ms"),
        o.topups
    );
    for (n, ((idle, open), peak)) in idle.iter().zip(&open).zip(&peak).enumerate() {
        println!(
            "server{} memory: idle {:.1} MB, with the streams open {:.1} MB, peak {:.1} MB",
            if servers.len() > 1 { format!(" {}", n + 1) } else { String::new() },
            idle.0,
            open.0,
            peak
        );
    }
    println!(
        "burst to last delivery {burst:.2} s; CPU used meanwhile: server{} {server_cpu:.2} s, this load generator \
         {own_cpu:.2} s (of {:.2} s available on {} cores)",
        if servers.len() > 1 { " 1" } else { "" },
        burst * std::thread::available_parallelism().map_or(1, |n| n.get()) as f64,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    // Threads that ran during the burst: how long, and how long they were ready to run but waited for
    // a core (`/proc/<pid>/task/<tid>/schedstat`).
    for (process, before, after) in threads {
        let busy: Vec<String> = after
            .iter()
            .filter_map(|(tid, name, ran, waited)| {
                let (_, _, ran0, waited0) = before.iter().find(|(t, ..)| t == tid)?;
                let ran = ran - ran0;
                (ran >= 5.0).then(|| format!("{name} ran {ran:.0} ms, waited {:.0} ms", waited - waited0))
            })
            .collect();
        println!("{process} threads: {}", busy.join("; "));
    }
    assert_eq!(missing, 0, "{missing} deliveries never arrived");
}

/// p50, p99 and max of `values` (sorted here).
fn percentiles(values: &mut [f64], unit: &str) -> String {
    if values.is_empty() {
        return "none".to_owned();
    }
    values.sort_by(f64::total_cmp);
    let p = |q: f64| values[((values.len() as f64 - 1.0) * q).round() as usize];
    format!("p50 {:.1}{unit}, p99 {:.1}{unit}, max {:.1}{unit}", p(0.5), p(0.99), p(1.0))
}

/// Every thread of a process: its id, its name, and how long it has run and waited to run, in ms.
fn scheduled(pid: u32) -> Vec<(String, String, f64, f64)> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return Vec::new() };
    tasks
        .flatten()
        .filter_map(|task| {
            let name = std::fs::read_to_string(task.path().join("comm")).ok()?.trim().to_owned();
            let stat = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
            let mut fields = stat.split_whitespace().map(|f| f.parse::<f64>().unwrap_or(0.0) / 1e6);
            Some((task.file_name().to_string_lossy().into_owned(), name, fields.next()?, fields.next()?))
        })
        .collect()
}
