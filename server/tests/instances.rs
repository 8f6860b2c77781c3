//! Several `recharge serve` processes on one database: exactly one drives the modem (here the demo's
//! network), and another takes it over within ten seconds when it dies or freezes — and a frozen owner
//! that comes back does not drive it again. Real processes, killed and stopped with signals, on a fresh
//! database: a SQLite file, or a new database on `RECHARGE_TEST_POSTGRES`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_recharge");

struct Instance {
    child: Child,
    base: String,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `recharge serve` on a free port with the shared database and demo directory, and waits until
/// it says where it runs.
fn serve(url: &str, dir: &std::path::Path) -> Instance {
    let mut child = Command::new(BIN)
        .args(["serve", "--addr", "127.0.0.1:0"])
        .env("RECHARGE_DATABASE_URL", url)
        .env("RECHARGE_SECRETS_KEY_FILE", dir.join("secrets.key"))
        .env("RECHARGE_DEMO_DIR", dir.join("demo"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines.next().expect("the server says where it runs").unwrap();
        if let Some(url) = line.strip_prefix("Recharge is running on ") {
            break url.trim().to_owned();
        }
    };
    // The rest of its output is not read; a thread keeps the pipe from filling.
    std::thread::spawn(move || for _ in lines {});
    Instance { child, base }
}

/// `/readyz`'s `modem_owner`, or `None` when it does not answer.
async fn owns(instance: &Instance) -> Option<bool> {
    let r = reqwest::Client::new()
        .get(format!("{}/readyz", instance.base))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?;
    let ready: serde_json::Value = r.json().await.ok()?;
    ready["modem_owner"].as_bool()
}

/// How long until `instance` says it owns the modem (or `None` past `limit`).
async fn until_owner(instance: &Instance, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if owns(instance).await == Some(true) {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

fn signal(instance: &Instance, signal: &str) {
    let done = Command::new("kill").args([signal, &instance.child.id().to_string()]).status().unwrap();
    assert!(done.success(), "kill {signal}");
}

async fn database(dir: &std::path::Path) -> String {
    match db::test_support::postgres_server() {
        Some(server) => db::test_support::fresh_postgres(&server).await.expect("a test database"),
        None => format!("sqlite://{}", dir.join("recharge.db").display()),
    }
}

#[tokio::test]
async fn one_instance_drives_the_modem_and_another_takes_it_over_within_ten_seconds_when_it_dies_or_freezes()
{
    let dir = tempfile::tempdir().unwrap();
    let url = database(dir.path()).await;
    let a = serve(&url, dir.path());
    assert!(until_owner(&a, Duration::from_secs(5)).await.is_some(), "the first instance drives the modem");
    let b = serve(&url, dir.path());
    // Several renewals later, still one owner.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!((owns(&a).await, owns(&b).await), (Some(true), Some(false)));

    // A frozen owner (a stopped process: alive, renewing nothing) is taken over within ten seconds…
    signal(&a, "-STOP");
    let took = until_owner(&b, Duration::from_secs(10)).await.expect("taken over within ten seconds");
    assert!(took >= Duration::from_secs(3), "not before the frozen owner's hold ran out: {took:?}");
    // …and when it comes back, it finds the lease taken and does not drive the modem again.
    signal(&a, "-CONT");
    tokio::time::sleep(Duration::from_secs(3)).await;
    for _ in 0..4 {
        assert_eq!(
            (owns(&a).await, owns(&b).await),
            (Some(false), Some(true)),
            "one owner after the old one came back"
        );
        tokio::time::sleep(Duration::from_millis(700)).await;
    }

    // A killed owner on this machine is seen dead at once.
    signal(&b, "-KILL");
    let took = until_owner(&a, Duration::from_secs(10)).await.expect("taken over within ten seconds");
    assert!(took < Duration::from_secs(4), "a dead process is not waited out: {took:?}");
    drop(b);
    drop(a);
}
