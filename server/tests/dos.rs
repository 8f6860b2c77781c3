//! What an anonymous client can hold: connections, file descriptors, time, password checks. Each attack
//! runs with a bounded number of connections on loopback against the real server.

mod common;

use std::time::Duration;

use common::*;
use server::http::Limits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Open file descriptors of this process (the server runs in it).
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

/// Waits up to `within` for the open file descriptors to fall to `at_most`; returns the last count.
async fn fds_fall_to(at_most: usize, within: Duration) -> usize {
    let until = tokio::time::Instant::now() + within;
    loop {
        let now = open_fds();
        if now <= at_most || tokio::time::Instant::now() >= until {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether the server closes `socket` within `within` (a read ends, or fails, without an answer).
async fn closed_within(socket: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let until = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(until, socket.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

fn short_limits() -> Limits {
    Limits { head: Duration::from_secs(1), idle: Duration::from_secs(2), ..Limits::from_system() }
}

async fn login_page_answers(app: &TestApp) {
    let r = tokio::time::timeout(Duration::from_secs(10), app.client.get(app.url("/login")).send())
        .await
        .expect("GET /login answers")
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK);
}

#[tokio::test]
async fn connections_closed_after_one_byte_are_let_go_at_once() {
    let app = spawn_app().await;
    login_page_answers(&app).await;
    let before = open_fds();
    for first in [&b"G"[..], b"GET /api/ev", b"GET /login"] {
        let mut sockets = Vec::new();
        for _ in 0..200 {
            let mut s = TcpStream::connect(app.addr).await.unwrap();
            s.write_all(first).await.unwrap();
            sockets.push(s);
        }
        drop(sockets);
        // Well before the head deadline (10 s): a closed peer ends its connection at once.
        let after = fds_fall_to(before + 5, Duration::from_secs(3)).await;
        assert!(after <= before + 5, "after {first:?}: {before} fds before, {after} after closing 200");
    }
    login_page_answers(&app).await;
}

#[tokio::test]
async fn a_head_dripped_slowly_is_cut_at_the_deadline() {
    let app = spawn_with(|s| s.limits = short_limits()).await;
    for start in [&b"GET /login HTTP/1.1\r\n"[..], b"GET /api/events HTTP/1.1\r\n", b"G"] {
        let mut s = TcpStream::connect(app.addr).await.unwrap();
        s.write_all(start).await.unwrap();
        let drip = async {
            // A header byte every 300 ms: always something new, never the end of the head.
            for _ in 0..30 {
                tokio::time::sleep(Duration::from_millis(300)).await;
                if s.write_all(b"X").await.is_err() {
                    return;
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(3), drip).await;
        assert!(closed_within(&mut s, Duration::from_secs(2)).await, "{start:?}: still open after 3 s");
    }
    login_page_answers(&app).await;
}

#[tokio::test]
async fn quiet_and_kept_alive_connections_are_closed() {
    let app = spawn_with(|s| s.limits = short_limits()).await;
    // Nothing sent at all.
    let mut quiet = TcpStream::connect(app.addr).await.unwrap();
    assert!(closed_within(&mut quiet, Duration::from_secs(3)).await, "a silent connection stays");
    // A request answered, then nothing: the wait for the next head has the same deadline.
    let mut kept = TcpStream::connect(app.addr).await.unwrap();
    kept.write_all(b"GET /login HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut answer = vec![0u8; 64 * 1024];
    let n = kept.read(&mut answer).await.unwrap();
    assert!(answer[..n].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer[..n]));
    assert!(closed_within(&mut kept, Duration::from_secs(4)).await, "a kept-alive connection stays");
    // A body announced and never sent: the idle limit.
    let mut body = TcpStream::connect(app.addr).await.unwrap();
    body.write_all(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nemail=")
        .await
        .unwrap();
    assert!(closed_within(&mut body, Duration::from_secs(5)).await, "a stalled body stays");
}

#[tokio::test]
async fn connections_beyond_the_limit_are_closed_and_the_server_recovers() {
    let app = spawn_with(|s| s.limits = Limits { connections: 20, ..Limits::from_system() }).await;
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(TcpStream::connect(app.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut one_more = TcpStream::connect(app.addr).await.unwrap();
    assert!(closed_within(&mut one_more, Duration::from_secs(2)).await, "the 21st connection was kept");
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    login_page_answers(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_logins_from_one_address_are_counted_before_they_are_checked_whichever_instance_gets_them() {
    let app = spawn_app().await;
    // Two instances on one database, as behind a proxy: the database counts, not either process.
    let other = app.second_instance().await;
    let mut attempts = tokio::task::JoinSet::new();
    for i in 0..100 {
        let client = app.client.clone();
        let url = if i % 2 == 0 { app.url("/login") } else { other.url("/login") };
        attempts.spawn(async move {
            let email = format!("guess{i}@example.ch");
            let form = [("email", email.as_str()), ("password", "wrong password"), ("next", "")];
            let r = client.post(url).form(&form).send().await.unwrap();
            location(&r)
        });
    }
    let (mut checked, mut throttled, mut other) = (0, 0, Vec::new());
    while let Some(answer) = attempts.join_next().await {
        let answer = answer.unwrap();
        if answer.contains("error=credentials") {
            checked += 1;
        } else if answer.contains("error=throttled") || answer.contains("error=unavailable") {
            throttled += 1;
        } else {
            other.push(answer);
        }
    }
    assert!(other.is_empty(), "{other:?}");
    // The address's free failures are checked; every other attempt is refused before its hash.
    let free = server::auth::throttle::ThrottlePolicy::PER_CLIENT.free_failures;
    assert!(checked <= free, "{checked} of 100 parallel attempts were checked (free: {free})");
    assert_eq!(checked + throttled, 100);
}
