//! The event stream over raw HTTP/1.1, as browsers and proxies open it: on a connection of its own (the
//! listener serves it) and on a connection that carried another request before (hyper serves it). Both answer
//! the same, with the same checks; a stream whose client went away is dropped; the server stops with
//! streams open; a stream ends with its session.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{TestApp, admin_with_station, spawn_with};
use domain::{Role, StationId};
use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(15);

async fn top_up(app: &TestApp, cookie: &str, station: StationId, key: u16, token: &str) -> i64 {
    let body = format!("station={station}&key={key}&amount=5.00&token={token}");
    let r = app.post_api("/api/topup", Some(cookie), &body).await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json::<Value>().await.unwrap()["Created"]["id"].as_i64().unwrap()
}

fn events_request(app: &TestApp, cookie: Option<&str>) -> String {
    let cookie = cookie.map(|c| format!("Cookie: {c}\r\n")).unwrap_or_default();
    format!("GET /api/events HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n{cookie}\r\n", app.addr)
}

/// A response's status and header fields (names lower-cased), read up to its empty line.
async fn response_head(reader: &mut BufReader<TcpStream>) -> (u16, HashMap<String, String>) {
    let mut line = String::new();
    tokio::time::timeout(WAIT, reader.read_line(&mut line)).await.unwrap().unwrap();
    let status = line.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status line");
    let mut fields = HashMap::new();
    loop {
        line.clear();
        tokio::time::timeout(WAIT, reader.read_line(&mut line)).await.unwrap().unwrap();
        let Some((name, value)) = line.trim_end().split_once(':') else { break };
        fields.insert(name.to_ascii_lowercase(), value.trim().to_owned());
    }
    (status, fields)
}

/// Reads lines until the `data:` of a `tx` event for transaction `id` (chunk-size lines of a chunked
/// body are skipped: they are not `data:` lines).
async fn wait_for_transaction(reader: &mut BufReader<TcpStream>, id: i64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut line = String::new();
    loop {
        line.clear();
        let read = tokio::time::timeout_at(deadline, reader.read_line(&mut line)).await;
        let n = read.expect("the transaction's event arrives").unwrap();
        assert!(n > 0, "the stream ended before the transaction's event");
        if let Some(data) = line.trim_end().strip_prefix("data: ") {
            let tx: Value = serde_json::from_str(data).unwrap();
            if tx["id"] == id {
                return;
            }
        }
    }
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_on_its_own_connection_is_checked_and_answered_like_any_request() {
    let app = spawn_with(|_| {}).await;
    let (cookie, station) = admin_with_station(&app).await;

    // Without a session: refused, with the security headers every response carries.
    let mut refused = BufReader::new(TcpStream::connect(app.addr).await.unwrap());
    refused.get_mut().write_all(events_request(&app, None).as_bytes()).await.unwrap();
    let (status, fields) = response_head(&mut refused).await;
    assert_eq!(status, 401);
    assert_eq!(fields["x-content-type-options"], "nosniff");
    assert_eq!(fields["connection"], "close");
    let mut rest = Vec::new();
    tokio::time::timeout(WAIT, refused.read_to_end(&mut rest)).await.unwrap().unwrap();

    // With one: the stream, delimited by the connection's end rather than chunked.
    let mut stream = BufReader::new(TcpStream::connect(app.addr).await.unwrap());
    stream.get_mut().write_all(events_request(&app, Some(&cookie)).as_bytes()).await.unwrap();
    let (status, fields) = response_head(&mut stream).await;
    assert_eq!(status, 200);
    assert_eq!(fields["content-type"], "text/event-stream");
    assert_eq!(fields["cache-control"], "no-cache");
    assert_eq!(fields["x-content-type-options"], "nosniff");
    assert_eq!(fields["connection"], "close");
    assert!(!fields.contains_key("transfer-encoding"));
    let id = top_up(&app, &cookie, station, 34586, "token-raw-stream-0123456789").await;
    wait_for_transaction(&mut stream, id).await;

    // A malformed head gets 400 and the connection closes.
    let mut bad = BufReader::new(TcpStream::connect(app.addr).await.unwrap());
    bad.get_mut().write_all(b"GET /api/events HTTP/1.1\r\nContent-Length: 9\r\n\r\n").await.unwrap();
    assert_eq!(response_head(&mut bad).await.0, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_after_another_request_on_the_same_connection_gets_the_same_events() {
    let app = spawn_with(|_| {}).await;
    let (cookie, station) = admin_with_station(&app).await;
    let mut connection = BufReader::new(TcpStream::connect(app.addr).await.unwrap());
    let page = format!("GET /manifest.webmanifest HTTP/1.1\r\nHost: {}\r\n\r\n", app.addr);
    connection.get_mut().write_all(page.as_bytes()).await.unwrap();
    let (status, fields) = response_head(&mut connection).await;
    assert_eq!(status, 200);
    let length: usize = fields["content-length"].parse().unwrap();
    let mut body = vec![0; length];
    connection.read_exact(&mut body).await.unwrap();

    // The same connection, kept alive: hyper serves the stream, chunked.
    connection.get_mut().write_all(events_request(&app, Some(&cookie)).as_bytes()).await.unwrap();
    let (status, fields) = response_head(&mut connection).await;
    assert_eq!(status, 200);
    assert_eq!(fields["content-type"], "text/event-stream");
    assert_eq!(fields["transfer-encoding"], "chunked");
    let id = top_up(&app, &cookie, station, 34587, "token-kept-alive-0123456789").await;
    wait_for_transaction(&mut connection, id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_whose_client_left_is_dropped_and_the_server_stops_with_streams_open() {
    let app = spawn_with(|_| {}).await;
    let (cookie, _) = admin_with_station(&app).await;
    let open = || async {
        let mut stream = BufReader::new(TcpStream::connect(app.addr).await.unwrap());
        stream.get_mut().write_all(events_request(&app, Some(&cookie)).as_bytes()).await.unwrap();
        assert_eq!(response_head(&mut stream).await.0, 200);
        stream
    };
    let journal = app.journal.clone();
    let (first, second) = (open().await, open().await);
    wait_until("both streams follow the journal", || journal.open_streams() == 2).await;
    drop(first);
    wait_until("the stream of the client that left is dropped", || journal.open_streams() == 1).await;

    // Stopping the server ends the open streams (the restart would wait for them otherwise), the one on
    // a connection of its own and one served by hyper after another request.
    let mut kept_alive = BufReader::new(TcpStream::connect(app.addr).await.unwrap());
    let file = format!("GET /manifest.webmanifest HTTP/1.1\r\nHost: {}\r\n\r\n", app.addr);
    kept_alive.get_mut().write_all(file.as_bytes()).await.unwrap();
    let (_, fields) = response_head(&mut kept_alive).await;
    let mut body = vec![0; fields["content-length"].parse().unwrap()];
    kept_alive.read_exact(&mut body).await.unwrap();
    kept_alive.get_mut().write_all(events_request(&app, Some(&cookie)).as_bytes()).await.unwrap();
    assert_eq!(response_head(&mut kept_alive).await.0, 200);
    wait_until("both streams follow the journal", || journal.open_streams() == 2).await;
    let mut second = second;
    let restarted = tokio::time::timeout(WAIT, app.restart()).await.expect("the server stops");
    let mut rest = Vec::new();
    tokio::time::timeout(WAIT, second.read_to_end(&mut rest)).await.unwrap().unwrap();
    tokio::time::timeout(WAIT, kept_alive.read_to_end(&mut rest)).await.unwrap().unwrap();
    drop(restarted);
}

/// Opens a stream with `cookie` and reads its response head (200).
async fn open_stream(app: &TestApp, cookie: &str) -> BufReader<TcpStream> {
    let mut stream = BufReader::new(TcpStream::connect(app.addr).await.unwrap());
    stream.get_mut().write_all(events_request(app, Some(cookie)).as_bytes()).await.unwrap();
    assert_eq!(response_head(&mut stream).await.0, 200);
    stream
}

/// Reads a stream to its end: the server closed it.
async fn ends(stream: &mut BufReader<TcpStream>, why: &str) {
    let mut rest = Vec::new();
    let read = tokio::time::timeout(WAIT, stream.read_to_end(&mut rest)).await;
    read.unwrap_or_else(|_| panic!("the stream ends: {why}")).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_ends_as_soon_as_its_session_is_ended_on_the_server() {
    let app = spawn_with(|_| {}).await;
    let (first, station) = admin_with_station(&app).await;
    let second = app.login("a@example.ch").await;
    app.add_user("op@example.ch", Role::Operator, None).await;
    let operator = app.login("op@example.ch").await;
    let journal = app.journal.clone();
    let mut by_first = open_stream(&app, &first).await;
    let mut by_second = open_stream(&app, &second).await;
    let mut by_operator = open_stream(&app, &operator).await;
    wait_until("three streams follow the journal", || journal.open_streams() == 3).await;

    // Logged out: that session's stream ends (long before the minute of the periodic check), the same
    // account's other session goes on.
    let r = app.client.post(app.url("/logout")).header("cookie", &first).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    ends(&mut by_first, "logged out").await;
    let id = top_up(&app, &second, station, 34588, "token-after-logout-0123456789").await;
    wait_for_transaction(&mut by_second, id).await;

    // The operator disables the account: its remaining stream ends, and a new one is refused.
    let email = domain::Email::parse("a@example.ch").unwrap();
    let admin = app.db.user_auth_by_email(&email).await.unwrap().unwrap().account.id;
    let r = app.post_api("/api/set_disabled", Some(&operator), &format!("id={admin}&disabled=true")).await;
    assert_eq!(r.status(), StatusCode::OK);
    ends(&mut by_second, "account disabled").await;
    let mut again = BufReader::new(TcpStream::connect(app.addr).await.unwrap());
    again.get_mut().write_all(events_request(&app, Some(&second)).as_bytes()).await.unwrap();
    assert_eq!(response_head(&mut again).await.0, 401);

    // The operator's stream was not concerned.
    wait_until("only the operator's stream is left", || journal.open_streams() == 1).await;
    let id = top_up(&app, &operator, station, 34589, "token-operator-stream-0123456789").await;
    wait_for_transaction(&mut by_operator, id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_ends_when_its_session_expires_while_it_is_open() {
    // Sessions idle out after 2 s here, so streams check theirs every second.
    let app = spawn_with(|s| s.sessions.idle = Duration::from_secs(2)).await;
    let (cookie, _) = admin_with_station(&app).await;
    let mut stream = open_stream(&app, &cookie).await;
    // An open stream is not activity: left alone, the session idles out, and the stream with it.
    ends(&mut stream, "session expired").await;
    assert_eq!(app.get("/api/session", Some(&cookie)).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_top_up_and_its_cancellation_reach_an_open_journal_while_the_modem_task_is_held_up() {
    // A real modem that hangs: the modem task waits in a send for its prompt (5 s) and writes nothing
    // meanwhile, so only the database layer can tell the stream of what the page does.
    let dir = tempfile::tempdir().unwrap();
    let network = sms::emulator::Network::new(41);
    let port =
        sms::emulator::pty::Port::plug(network.add_modem("+41790000001", None), dir.path().join("tty"))
            .unwrap();
    let device = port.path().to_owned();
    let app = spawn_with(move |s| {
        s.modem = Some(server::startup::ModemSettings {
            device,
            baud: 115_200,
            pin: None,
            ussd_balance_code: None,
            number: None,
            health_every: std::time::Duration::from_secs(60),
        });
    })
    .await;
    let (cookie, station) = admin_with_station(&app).await;
    let mut stream = BufReader::new(TcpStream::connect(app.addr).await.unwrap());
    stream.get_mut().write_all(events_request(&app, Some(&cookie)).as_bytes()).await.unwrap();
    assert_eq!(response_head(&mut stream).await.0, 200);
    port.modem().set_hung(true);
    let first = top_up(&app, &cookie, station, 1, "token-held-up-first-0123456789").await;
    wait_for_transaction(&mut stream, first).await;
    // Its send has started by now; the task waits for the modem.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let quick = Duration::from_secs(2);
    let id = top_up(&app, &cookie, station, 34586, "token-held-up-0123456789").await;
    wait_for_status(&mut stream, id, "Queued", quick).await;
    let r = app.post_api("/api/cancel", Some(&cookie), &format!("id={id}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    wait_for_status(&mut stream, id, "Cancelling", quick).await;
}

/// Reads events until transaction `id` arrives with `status`, within `within`.
async fn wait_for_status(reader: &mut BufReader<TcpStream>, id: i64, status: &str, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    let mut line = String::new();
    loop {
        line.clear();
        let read = tokio::time::timeout_at(deadline, reader.read_line(&mut line)).await;
        let n = read.unwrap_or_else(|_| panic!("transaction {id} never arrived {status}")).unwrap();
        assert!(n > 0, "the stream ended");
        if let Some(data) = line.trim_end().strip_prefix("data: ") {
            let tx: Value = serde_json::from_str(data).unwrap();
            if tx["id"] == id && tx["status"] == status {
                return;
            }
        }
    }
}

/// Reads lines until `event: alerts`; `false` when none comes within `within`.
async fn alerts_event(reader: &mut BufReader<TcpStream>, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    let mut line = String::new();
    loop {
        line.clear();
        match tokio::time::timeout_at(deadline, reader.read_line(&mut line)).await {
            Err(_) => return false,
            Ok(read) => assert!(read.unwrap() > 0, "the stream ended"),
        }
        if line.trim_end() == "event: alerts" {
            return true;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_reaches_the_streams_of_its_gerance_and_the_operators_and_no_other() {
    let app = spawn_with(|s| {
        s.alerts.check_every = Duration::from_millis(100);
        s.alerts.defaults.silent_ms = 500;
        s.alerts.server.status_grace_ms = 300;
    })
    .await;
    let (cookie_a, station) = admin_with_station(&app).await;
    let b = app.add_gerance("Gérance B").await;
    app.add_user("b@example.ch", Role::Admin, Some(b)).await;
    app.add_user("op@example.ch", Role::Operator, None).await;
    let (cookie_b, cookie_op) = (app.login("b@example.ch").await, app.login("op@example.ch").await);
    let only_alerts = |cookie: &str| {
        format!("GET /api/events?alerts HTTP/1.1\r\nHost: {}\r\nCookie: {cookie}\r\n\r\n", app.addr)
    };
    let mut streams = Vec::new();
    for cookie in [&cookie_a, &cookie_b, &cookie_op] {
        let mut stream = BufReader::new(TcpStream::connect(app.addr).await.unwrap());
        stream.get_mut().write_all(only_alerts(cookie).as_bytes()).await.unwrap();
        assert_eq!(response_head(&mut stream).await.0, 200);
        streams.push(stream);
    }
    // The station powered off: asked for its state, silent, reported.
    app.demo.as_ref().unwrap().power_off(station).await;
    assert!(alerts_event(&mut streams[0], WAIT).await, "A's admin is told");
    assert!(alerts_event(&mut streams[2], WAIT).await, "the operator is told");
    assert!(!alerts_event(&mut streams[1], Duration::from_millis(500)).await, "B's admin is not");
    assert_eq!(app.db.unacknowledged_alerts(db::Scope::Gerance(b)).await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_one_instance_commits_reaches_the_streams_of_another_and_the_modem_of_its_owner() {
    if !common::on_postgres_server() {
        // Instances tell each other through PostgreSQL's notifications; a SQLite file has one serving
        // instance (a second one only waits for the modem).
        return;
    }
    let owner = spawn_with(|_| {}).await;
    let (cookie, station) = admin_with_station(&owner).await;
    let other = owner.second_instance().await;
    assert!(owner.owner.owns() && !other.owner.owns());
    let mut on_other = open_stream(&other, &cookie).await;
    let mut on_owner = open_stream(&owner, &cookie).await;

    // Made through the instance without the modem: its stream, the owner's stream, and the owner's modem
    // task (woken by the notification, not by its minute's timer) all see it, on to Confirmed.
    let id = top_up(&other, &cookie, station, 34590, "token-other-instance-0123456789").await;
    let quick = Duration::from_secs(10);
    wait_for_status(&mut on_owner, id, "Confirmed", quick).await;
    wait_for_status(&mut on_other, id, "Confirmed", quick).await;
    // Made through the owner: seen by the other's stream.
    let id = top_up(&owner, &cookie, station, 34591, "token-owner-instance-0123456789").await;
    wait_for_status(&mut on_other, id, "Confirmed", quick).await;

    // Logged out through one instance: the stream held by the other ends with the session.
    let r = owner.client.post(owner.url("/logout")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    ends(&mut on_other, "logged out on the other instance").await;
    drop(other);
}
