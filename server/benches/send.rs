//! Send latency and throughput against Debian's `gammu-smsd`, side by side in one run, on the same
//! emulated modem dialect behind a pseudo-terminal (zero network latency):
//! - **latency**: ours from the top-up request (`POST /api/topup`) to the `AT+CMGS` PDU on the modem;
//!   gammu-smsd's (files backend, default settings, and a variant tuned for speed) from its outbox file
//!   appearing to the `AT+CMGS` PDU on the modem;
//! - **drain**: a queue of `--queue` messages, from the daemon's start to the last `AT+CMGS`;
//! - **at the modem's limit**: the same with a realistic modem (`--send-time`, 3 s per `AT+CMGS`):
//!   each side's time per message beyond the modem's own.
//!
//! Every message must reach the modem: a missing one fails the run.
//!
//! ```sh
//! cargo bench -p server --bench send                      # the full run (about 15 minutes)
//! cargo bench -p server --bench send -- --small           # the small version CI runs
//! ```

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use sms::emulator::{Knobs, Network, pty::Port};

mod support;

const PASSWORD: &str = "send benchmark password";
const STATION: &str = "+41790000101";

struct Options {
    samples: usize,
    default_samples: usize,
    queue: usize,
    slow_queue: usize,
    send_time: Duration,
}

fn options() -> Options {
    let mut o = Options {
        samples: 200,
        default_samples: 200,
        queue: 1_000,
        slow_queue: 20,
        send_time: Duration::from_secs(3),
    };
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--small" => {
                o = Options {
                    samples: 20,
                    default_samples: 5,
                    queue: 50,
                    slow_queue: 3,
                    send_time: Duration::from_millis(500),
                }
            }
            "--bench" => {}
            other => panic!("unknown option {other} (only --small)"),
        }
    }
    o
}

/// Messages the modems have taken so far (one side runs at a time).
fn taken(network: &Network) -> u64 {
    network.stats().submitted
}

/// Waits until the modems have taken `n` messages in all (at most `limit`); when the `n`th was taken.
async fn until_taken(network: &Network, n: u64, limit: Duration) -> Instant {
    let deadline = Instant::now() + limit;
    loop {
        let count = taken(network);
        if count >= n {
            let heard = network.overheard();
            return heard[heard.len() - 1 - (count - n) as usize].at;
        }
        assert!(Instant::now() < deadline, "only {count} of {n} messages reached the modem");
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
}

fn summary(name: &str, mut ms: Vec<f64>) -> f64 {
    ms.sort_by(f64::total_cmp);
    let p = |q: f64| ms[((ms.len() as f64 - 1.0) * q).round() as usize];
    println!("  {name:<28} p50 {:>9.2} ms   p99 {:>9.2} ms   ({} messages)", p(0.5), p(0.99), ms.len());
    p(0.99)
}

/// Our server, its modem on `port`'s device.
struct Ours {
    dir: PathBuf,
    http: reqwest::Client,
    child: Option<tokio::process::Child>,
    addr: String,
    cookie: String,
    serial: usize,
}

impl Ours {
    async fn setup(dir: &Path) -> Self {
        let url = format!("sqlite://{}", dir.join("send.db").display());
        support::cli(&url, &["gerance", "add", "Gérance Send"], "");
        support::cli(
            &url,
            &["user", "add", "--email", "op@send.ch", "--role", "operator"],
            &format!("{PASSWORD}\n"),
        );
        let args = ["station", "add", "--gerance", "Gérance Send", "--name", "Station", "--place", "Sion"];
        support::cli(&url, &[&args[..], &["--phone", STATION]].concat(), "");
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self { dir: dir.to_owned(), http, child: None, addr: String::new(), cookie: String::new(), serial: 0 }
    }

    async fn start(&mut self) {
        let database = format!("sqlite://{}", self.dir.join("send.db").display());
        let mut command = support::serve(&database, &self.dir, "error");
        command.args(["--retry-after", "1h", "--server-number", "+41790000001", "--modem"]);
        command.arg(self.dir.join("ttyOurs"));
        let (child, addr) = support::spawn_server(command).await;
        self.addr = addr;
        self.child = Some(child);
        if self.cookie.is_empty() {
            self.cookie = support::login(&self.http, &self.addr, "op@send.ch", PASSWORD).await;
        }
    }

    async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    async fn top_up(&mut self) {
        self.serial += 1;
        let token = format!("send-benchmark-{:08}", self.serial);
        support::top_up(&self.http, &self.addr, &self.cookie, 1, 34586, "20.00", &token).await;
    }
}

/// gammu-smsd with the files backend.
struct Gammu {
    dir: PathBuf,
    child: Option<tokio::process::Child>,
    serial: usize,
}

impl Gammu {
    fn setup(dir: &Path, tuned: bool) -> Self {
        let dir = dir.join(if tuned { "gammu-tuned" } else { "gammu-default" });
        for sub in ["inbox", "outbox", "sent", "error", "tmp"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let mut config = format!(
            "[gammu]\ndevice = {}\nconnection = at\n\n[smsd]\nservice = files\ninboxpath = {d}/inbox/\n\
             outboxpath = {d}/outbox/\nsentsmspath = {d}/sent/\nerrorsmspath = {d}/error/\nlogfile = {d}/smsd.log\n",
            dir.parent().unwrap().join("ttyGammu").display(),
            d = dir.display()
        );
        if tuned {
            // As fast as it goes: no pause between outbox scans, no periodic phone checks.
            config.push_str(
                "CommTimeout = 0\nLoopSleep = 0\nStatusFrequency = 0\nReceiveFrequency = 3600\nCheckSecurity = 0\n\
                 CheckBattery = 0\nCheckSignal = 0\nCheckNetwork = 0\n",
            );
        }
        std::fs::write(dir.join("smsdrc"), config).unwrap();
        Self { dir, child: None, serial: 0 }
    }

    fn start(&mut self) {
        let child = tokio::process::Command::new("gammu-smsd")
            .arg("-c")
            .arg(self.dir.join("smsdrc"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect(
                "gammu-smsd is not installed: apt-get install gammu-smsd (scripts/install-tools does it)",
            );
        self.child = Some(child);
    }

    async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// A message in the outbox, written whole then renamed in (gammu-smsd never reads half a file).
    fn queue(&mut self) {
        self.serial += 1;
        let text = format!(
            "RC1 TOPUP s=1 n={} tx={} key=34586 amt=2000 m=0123456789abcdef0123456789abcdef",
            self.serial, self.serial
        );
        let tmp = self.dir.join("tmp").join("message");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(
            &tmp,
            self.dir.join("outbox").join(format!("OUTA_{STATION}_{:06}.txtd", self.serial)),
        )
        .unwrap();
    }
}

#[tokio::main]
async fn main() {
    let o = options();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    let network = Network::new(1);
    network.add_modem(STATION, None);
    // Two identical emulated modems: one for us, one for gammu-smsd.
    let mut ours_port = Port::plug(network.add_modem("+41790000001", None), path.join("ttyOurs")).unwrap();
    let mut gammu_port = Port::plug(network.add_modem("+41790000002", None), path.join("ttyGammu")).unwrap();
    let zero = Knobs { latency: Duration::ZERO, ..Knobs::default() };
    network.set_knobs(zero);

    println!("1. Latency, one message at a time");
    let mut ours = Ours::setup(path).await;
    ours.start().await;
    ours.top_up().await;
    until_taken(&network, 1, Duration::from_secs(30)).await;
    let mut ms = Vec::new();
    for _ in 0..o.samples {
        let n = taken(&network);
        let t0 = Instant::now();
        ours.top_up().await;
        let at = until_taken(&network, n + 1, Duration::from_secs(10)).await;
        ms.push(at.duration_since(t0).as_secs_f64() * 1000.0);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ours_p99 = summary("recharge", ms);
    ours.stop().await;

    let mut gammu_p99 = Vec::new();
    for (tuned, samples) in [(false, o.default_samples), (true, o.samples)] {
        let mut gammu = Gammu::setup(path, tuned);
        gammu_port.replug().unwrap();
        gammu.start();
        let before = taken(&network);
        gammu.queue();
        until_taken(&network, before + 1, Duration::from_secs(90)).await;
        let mut ms = Vec::new();
        for _ in 0..samples {
            let n = taken(&network);
            let t0 = Instant::now();
            gammu.queue();
            let at = until_taken(&network, n + 1, Duration::from_secs(90)).await;
            ms.push(at.duration_since(t0).as_secs_f64() * 1000.0);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        gammu_p99.push(summary(if tuned { "gammu-smsd tuned" } else { "gammu-smsd default settings" }, ms));
        gammu.stop().await;
    }
    println!(
        "  p99 ratio: gammu-smsd default / recharge {:.0}×, tuned / recharge {:.0}×",
        gammu_p99[0] / ours_p99,
        gammu_p99[1] / ours_p99
    );

    for (label, queue, send_time) in [
        ("2. Drain a queue, instant modem", o.queue, Duration::ZERO),
        ("3. Drain a queue at the modem's limit", o.slow_queue, o.send_time),
    ] {
        println!("{label}: {queue} messages, {} ms per AT+CMGS", send_time.as_millis());
        network.set_knobs(Knobs { send_time, ..zero });
        let physical = send_time.as_secs_f64() * queue as f64;

        // Ours: the top-ups are accepted while the server has no modem, then it starts with one.
        ours_port.unplug();
        ours.start().await;
        for _ in 0..queue {
            ours.top_up().await;
        }
        ours.stop().await;
        ours_port.replug().unwrap();
        let before = taken(&network);
        let t0 = Instant::now();
        ours.start().await;
        let last = until_taken(&network, before + queue as u64, Duration::from_secs(3_600)).await;
        let ours_s = last.duration_since(t0).as_secs_f64() + send_time.as_secs_f64();
        ours.stop().await;
        report("recharge", queue, ours_s, physical, &network, send_time);

        for tuned in [false, true] {
            let mut gammu = Gammu::setup(path, tuned);
            gammu.serial = 1_000_000 * (usize::from(tuned) + 1);
            for _ in 0..queue {
                gammu.queue();
            }
            gammu_port.replug().unwrap();
            let before = taken(&network);
            let t0 = Instant::now();
            gammu.start();
            let last = until_taken(&network, before + queue as u64, Duration::from_secs(3_600)).await;
            gammu.stop().await;
            report(
                if tuned { "gammu-smsd tuned" } else { "gammu-smsd default settings" },
                queue,
                last.duration_since(t0).as_secs_f64() + send_time.as_secs_f64(),
                physical,
                &network,
                send_time,
            );
        }
    }
}

/// A drain: from the daemon's start until the modem finished the last message; the rate; and, message by
/// message, the time between two `AT+CMGS` beyond the modem's own (`send_time`): the daemon's overhead.
fn report(name: &str, queue: usize, seconds: f64, physical: f64, network: &Network, send_time: Duration) {
    let heard = network.overheard();
    let drained = &heard[heard.len() - queue..];
    let mut gaps: Vec<f64> = drained
        .windows(2)
        .map(|w| (w[1].at.duration_since(w[0].at).as_secs_f64() - send_time.as_secs_f64()) * 1000.0)
        .collect();
    gaps.sort_by(f64::total_cmp);
    let p = |q: f64| gaps[((gaps.len() as f64 - 1.0) * q).round() as usize];
    let share = if send_time.is_zero() {
        String::new()
    } else {
        format!(
            " = {:.2}% of the modem's {} ms",
            p(0.5) / send_time.as_secs_f64() / 10.0,
            send_time.as_millis()
        )
    };
    println!(
        "  {name:<28} {seconds:>8.2} s ({physical:.0} s the modem's own) = {:>6.1} messages/s; between two \
         messages beyond the modem's time: p50 {:.1} ms{share}, p99 {:.1} ms",
        queue as f64 / seconds,
        p(0.5),
        p(0.99)
    );
}
