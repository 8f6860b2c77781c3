//! What the benchmarks that run the real `recharge` binary share.
// Each benchmark uses a part of it.
#![allow(dead_code)]

use std::process::Stdio;

/// Runs a `recharge` subcommand on the database at `database_url`, with `stdin` as its input; its output.
pub fn cli(database_url: &str, args: &[&str], stdin: &str) -> String {
    cli_with(database_url, &[], args, stdin)
}

/// [`cli`] with more environment settings (`RECHARGE_SECRETS_KEY_FILE` for a PostgreSQL database).
pub fn cli_with(database_url: &str, env: &[(&str, &std::path::Path)], args: &[&str], stdin: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_recharge"))
        .env("RECHARGE_DATABASE_URL", database_url)
        .envs(env.iter().copied())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "recharge {args:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// `recharge serve` on a free loopback port, without the demonstration network, on the database at
/// `database_url`, with `site` as its site root and `RUST_LOG=log`; killed when dropped. More arguments
/// and settings go on the returned command, which [`spawn_server`] starts.
pub fn serve(database_url: &str, site: &std::path::Path, log: &str) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_recharge"));
    command
        .args(["serve", "--addr", "127.0.0.1:0", "--no-demo"])
        .env("RECHARGE_DATABASE_URL", database_url)
        .env("RUST_LOG", log)
        .env("LEPTOS_SITE_ROOT", site)
        .kill_on_drop(true);
    command
}

/// Starts the server of `command` (from [`serve`]); its process and address (`127.0.0.1:port`) once it
/// listens. The rest of its standard output is read and dropped.
pub async fn spawn_server(mut command: tokio::process::Command) -> (tokio::process::Child, String) {
    use tokio::io::AsyncBufReadExt;
    let mut child = command.stdout(Stdio::piped()).spawn().unwrap();
    let mut out = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = out.next_line().await.unwrap().expect("the server says where it listens");
        if let Some(url) = line.strip_prefix("Recharge is running on http://") {
            break url.trim().to_owned();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = out.next_line().await {} });
    (child, addr)
}

/// Enters a top-up as the top-up form does (`POST /api/topup`, `amount` in francs, the form's one-time
/// `token`) with the session `cookie`; the new transaction's number. A refusal fails the run.
pub async fn top_up(
    http: &reqwest::Client,
    addr: &str,
    cookie: &str,
    station: usize,
    key: usize,
    amount: &str,
    token: &str,
) -> i64 {
    let post = |body: String| async move {
        http.post(format!("http://{addr}/api/topup"))
            .header("cookie", cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let body = format!("station={station}&key={key}&amount={amount}&token={token}");
    let mut text = post(body.clone()).await;
    // The same key and amount again within hours: the server asks first, and the administrator sends it
    // anyway, as a person who meant it does.
    if text.contains("\"Repeat\"") {
        text = post(format!("{body}&repeat=1")).await;
    }
    text.contains("\"Created\"")
        .then(|| text.split("\"id\":").nth(1)?.split([',', '}']).next()?.trim().parse().ok())
        .flatten()
        .unwrap_or_else(|| panic!("top-up refused: {text}"))
}

/// Logs in through the login form; the `session=…` cookie to send with every request.
pub async fn login(http: &reqwest::Client, addr: &str, email: &str, password: &str) -> String {
    let login = http
        .post(format!("http://{addr}/login"))
        .form(&[("email", email), ("password", password), ("next", "")])
        .send()
        .await
        .unwrap();
    login
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.contains("session"))
        .and_then(|c| c.split(';').next())
        .expect("logged in")
        .to_owned()
}

/// Fields of a process's `/proc/<pid>/status`, each in MB (0 when missing).
fn status_mb<const N: usize>(pid: u32, names: [&str; N]) -> [f64; N] {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    names.map(|name| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    })
}

/// Resident and peak memory of a process, in MB.
pub fn memory(pid: u32) -> (f64, f64) {
    let [rss, peak] = status_mb(pid, ["VmRSS:", "VmHWM:"]);
    (rss, peak)
}

/// Anonymous (heap, stacks) and file-backed (the database's memory-mapped pages, the binary) resident
/// memory of a process, in MB: a database read through `mmap` counts in the second, and the OS can
/// take it back at any time.
pub fn memory_parts(pid: u32) -> (f64, f64) {
    let [anon, file] = status_mb(pid, ["RssAnon:", "RssFile:"]);
    (anon, file)
}
