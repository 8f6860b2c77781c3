//! What the benchmarks that run the real `recharge` binary share.
// Each benchmark uses a part of it.
#![allow(dead_code)]

use std::process::Stdio;

/// Runs a `recharge` subcommand on the database at `database_url`, with `stdin` as its input; its output.
pub fn cli(database_url: &str, args: &[&str], stdin: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_recharge"))
        .env("RECHARGE_DATABASE_URL", database_url)
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

/// Reads the server's standard output until it says where it listens: `127.0.0.1:port`.
pub async fn listening_on(
    out: &mut tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
) -> String {
    loop {
        let line = out.next_line().await.unwrap().expect("the server says where it listens");
        if let Some(url) = line.strip_prefix("Recharge is running on http://") {
            return url.trim().to_owned();
        }
    }
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

/// Resident and peak memory of a process, in MB.
pub fn memory(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}
