//! Running the server as a service: health and readiness probes, the client's address behind a trusted
//! proxy (and not otherwise), request ids, and a backup taken while top-ups flow, restored, resumed.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{TestApp, spawn_with};
use db::Scope;
use domain::journal::TxStatus;
use domain::{KeyNumber, StationId, TxId};
use reqwest::StatusCode;
use serde_json::Value;
use server::auth::throttle::ThrottlePolicy;

const BIN: &str = env!("CARGO_BIN_EXE_recharge");

/// Runs `recharge ARGS` on the database at `url`, as an operator would.
fn recharge(args: &[&str], url: &str) -> std::process::Output {
    Command::new(BIN).args(args).env("RECHARGE_DATABASE_URL", url).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn probes_answer_without_a_session_and_say_what_they_found() {
    let app = spawn_with(|_| {}).await;
    let r = app.get("/healthz", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get("set-cookie").is_none());
    assert_eq!(r.text().await.unwrap(), "ok\n");

    let r = app.get("/readyz", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let ready: Value = r.json().await.unwrap();
    assert_eq!(ready["ready"], true);
    assert_eq!(ready["database"], "ok");
    assert_eq!(ready["schema"], ready["schema_known"]);
    assert!(ready["schema"].as_i64().unwrap() >= 12, "{ready}");
    assert_eq!(ready["modem_owner"], true);

    // Probes sent all at once are all answered (they share one reading of the database a second).
    let probes: Vec<_> = (0..200).map(|_| tokio::spawn(app.client.get(app.url("/readyz")).send())).collect();
    for probe in probes {
        assert_eq!(probe.await.unwrap().unwrap().status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn every_answer_names_its_request_and_only_a_trusted_proxy_names_it_for_us() {
    let app = spawn_with(|_| {}).await;
    let r =
        app.client.get(app.url("/login")).header("x-request-id", "chosen-by-a-client").send().await.unwrap();
    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id.len(), 16, "{id}");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
    let again = app.get("/login", None).await;
    assert_ne!(again.headers()["x-request-id"].to_str().unwrap(), id, "each request its own");

    let behind = spawn_with(|s| s.trusted_proxies = proxies("127.0.0.1")).await;
    let r =
        behind.client.get(behind.url("/login")).header("x-request-id", "nginx-4f2a9c").send().await.unwrap();
    assert_eq!(r.headers()["x-request-id"], "nginx-4f2a9c");
}

fn proxies(list: &str) -> server::http::client::TrustedProxies {
    server::http::client::TrustedProxies::new(
        list.split(',').map(|n| server::http::client::parse_net(n).unwrap()).collect(),
    )
}

/// Three free failures per client, then a long wait.
fn strict_client_throttle(s: &mut server::startup::Settings) {
    s.client_throttle = ThrottlePolicy {
        free_failures: 3,
        base_delay: Duration::from_secs(60),
        lock_after: 10,
        lock_for: Duration::from_secs(60),
        window: Duration::from_secs(60),
    };
}

async fn guess(app: &TestApp, n: usize, forwarded_for: &str) -> String {
    let r = app
        .client
        .post(app.url("/login"))
        .header("x-forwarded-for", forwarded_for)
        .form(&[("email", format!("nobody{n}@recharge.ch").as_str()), ("password", "guess"), ("next", "")])
        .send()
        .await
        .unwrap();
    common::location(&r)
}

#[tokio::test]
async fn a_forged_forwarded_for_from_an_untrusted_client_changes_nothing() {
    let app = spawn_with(strict_client_throttle).await;
    // Each guess claims another address: they are all this one client's.
    for n in 0..3 {
        assert_eq!(guess(&app, n, &format!("198.51.100.{n}")).await, "/login?error=credentials");
    }
    assert!(guess(&app, 9, "198.51.100.99").await.starts_with("/login?error=throttled"));
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_is_counted_apart() {
    let app = spawn_with(|s| {
        strict_client_throttle(s);
        s.trusted_proxies = proxies("127.0.0.1/32");
    })
    .await;
    for n in 0..3 {
        // What a client writes left of the proxy's own entry is not believed.
        assert_eq!(guess(&app, n, &format!("10.0.0.{n}, 198.51.100.7")).await, "/login?error=credentials");
    }
    assert!(guess(&app, 9, "198.51.100.7").await.starts_with("/login?error=throttled"));
    // Another client behind the same proxy is not held back by the first one's guesses.
    assert_eq!(guess(&app, 10, "198.51.100.8").await, "/login?error=credentials");
}

async fn top_up(app: &TestApp, cookie: &str, station: StationId, key: u16, token: &str) -> TxId {
    // The same key and amount again and again: the person confirmed they mean it (`repeat`).
    let body = format!("station={station}&key={key}&amount=1.00&token={token}&repeat=1");
    let r = app.post_api("/api/topup", Some(cookie), &body).await;
    assert_eq!(r.status(), StatusCode::OK);
    let answer: Value = r.json().await.unwrap();
    TxId(answer["Created"]["id"].as_i64().unwrap_or_else(|| panic!("{answer}")))
}

/// Waits until every one of `ids` is at least confirmed by its station.
async fn all_confirmed(db: &db::Db, ids: &[TxId]) {
    for _ in 0..300 {
        let mut done = true;
        for id in ids {
            let tx = db.transaction(Scope::All, *id).await.unwrap().unwrap_or_else(|| panic!("{id} missing"));
            done &= matches!(tx.status, TxStatus::Confirmed | TxStatus::Reloaded);
        }
        if done {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("not all confirmed: {ids:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_top_ups_flow_restores_whole_and_the_stations_apply_nothing_twice() {
    if common::on_postgres_server() {
        // `recharge backup` and `restore` copy a SQLite file; PostgreSQL's own tools do it there.
        return;
    }
    let app = spawn_with(|_| {}).await;
    let (cookie, station) = common::admin_with_station(&app).await;
    let url = app.settings().database_url.clone();
    let key = KeyNumber(4711);
    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("recharge-backup.db");
    let backup = backup.to_str().unwrap();

    // Top-ups before, during and after the backup, each to be loaded onto the same key.
    let mut before = Vec::new();
    for n in 0..10 {
        before.push(top_up(&app, &cookie, station, key.0, &format!("before-{n:012}")).await);
    }
    let backing_up = {
        let (url, backup) = (url.clone(), backup.to_owned());
        tokio::task::spawn_blocking(move || recharge(&["backup", "--out", &backup], &url))
    };
    let mut meanwhile = Vec::new();
    for n in 0..10 {
        meanwhile.push(top_up(&app, &cookie, station, key.0, &format!("during-{n:012}")).await);
    }
    let out = backing_up.await.unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.contains("and checked"), "{said}");
    assert!(said.contains("key file"), "the backup reminds of the secrets' key: {said}");
    let mut after = Vec::new();
    for n in 0..5 {
        after.push(top_up(&app, &cookie, station, key.0, &format!("after-{n:012}")).await);
    }
    let everything: Vec<TxId> = before.iter().chain(&meanwhile).chain(&after).copied().collect();
    all_confirmed(&app.db, &everything).await;

    // A second backup to the same name is refused, the first one untouched.
    let again = recharge(&["backup", "--out", backup], &url);
    assert!(!again.status.success());
    assert!(text(&again.stderr).contains("exists already"));

    // Restoring while the server runs is refused: it would replace the file under it.
    let busy = recharge(&["restore", "--from", backup], &url);
    assert!(!busy.status.success());
    assert!(text(&busy.stderr).contains("stop it first"), "{}", text(&busy.stderr));

    // The server is stopped and the backup restored; the stations keep what they applied.
    let app = app
        .restart_after(|s| {
            let out = recharge(&["restore", "--from", backup], &s.database_url);
            assert!(out.status.success(), "{}", text(&out.stderr));
            assert!(text(&out.stdout).contains("is kept as"));
        })
        .await;

    // Every top-up committed before the backup began is there, and ends confirmed: those sent after
    // the backup was made are sent again, and their station recognises them.
    all_confirmed(&app.db, &before).await;
    let kept = app.db.changes_since(Scope::All, 0, 1000).await.unwrap();
    assert!(kept.len() >= before.len() && kept.len() <= before.len() + meanwhile.len(), "{}", kept.len());
    assert!(after.iter().all(|id| kept.iter().all(|tx| tx.id != *id)), "made after the backup: not in it");

    // A top-up entered after the restore gets a number no station has seen, and is loaded.
    let cookie = app.login("a@example.ch").await;
    let fresh = top_up(&app, &cookie, station, key.0, "after-restore-0001").await;
    assert!(everything.iter().all(|id| id.get() < fresh.get()), "{fresh} after {everything:?}");
    all_confirmed(&app.db, &[fresh]).await;
    let demo = app.demo.as_ref().unwrap();
    demo.present_key(station, key).await.unwrap();
    // Each top-up the station received loaded once: 26 francs, not one more.
    let loaded = everything.len() as u32 + 1;
    for _ in 0..100 {
        if demo.balance(key) >= loaded * 100 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(demo.balance(key), loaded * 100);
}

#[tokio::test]
async fn backup_and_restore_refuse_what_they_cannot_do_and_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], url: &str| {
        let out = recharge(args, url);
        assert!(!out.status.success(), "{args:?} succeeded");
        text(&out.stderr)
    };
    let pg = run(&["backup", "--out", "x.db"], "postgres://localhost/recharge");
    assert!(pg.contains("pg_dump"), "{pg}");
    // Not a database at all.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, b"this is not a database, whatever its name").unwrap();
    let url = format!("sqlite://{}", dir.path().join("recharge.db").display());
    let said = run(&["restore", "--from", junk.to_str().unwrap()], &url);
    assert!(said.contains("junk.db"), "{said}");
    assert!(!dir.path().join("recharge.db").exists(), "nothing was put in place");
    let missing = run(&["restore", "--from", dir.path().join("nowhere.db").to_str().unwrap()], &url);
    assert!(missing.contains("nowhere.db"), "{missing}");
}

#[test]
fn a_database_url_of_another_kind_is_refused_without_repeating_it() {
    let out = recharge(&["user", "list"], "mysql://admin:hunter2@db.example.ch/recharge");
    assert!(!out.status.success());
    let said = text(&out.stderr);
    assert!(said.contains("\"mysql\"") && said.contains("sqlite://"), "{said}");
    assert!(!said.contains("hunter2"), "{said}");
}

/// The value of the sample `name` (with its labels as written, e.g. `{status="sent"}`), if present.
fn sample(metrics: &str, name: &str) -> Option<f64> {
    metrics.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_apart_and_follow_what_happens() {
    let app = spawn_with(|s| s.metrics_addr = Some("127.0.0.1:0".parse().unwrap())).await;
    let metrics_url = format!("http://{}/metrics", app.metrics_addr.unwrap());
    // Not on the site itself.
    assert_eq!(app.get("/metrics", None).await.status(), StatusCode::SEE_OTHER);

    let (cookie, station) = common::admin_with_station(&app).await;
    app.post_login("a@example.ch", "wrong password").await;
    let id = top_up(&app, &cookie, station, 4711, "metrics-0000000001").await;
    all_confirmed(&app.db, &[id]).await;
    let _stream = app.client.get(app.url("/api/events")).header("cookie", &cookie).send().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await; // past the one reading a second

    let r = app.client.get(&metrics_url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("application/openmetrics-text"));
    let text = r.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    let confirmed = sample(&text, "recharge_topups{status=\"confirmed\"}").unwrap_or(0.0)
        + sample(&text, "recharge_topups{status=\"reloaded\"}").unwrap_or(0.0);
    assert_eq!(confirmed, 1.0, "{text}");
    assert_eq!(sample(&text, "recharge_logins_total{outcome=\"success\"}"), Some(1.0), "{text}");
    assert_eq!(sample(&text, "recharge_logins_total{outcome=\"failed\"}"), Some(1.0), "{text}");
    assert_eq!(sample(&text, "recharge_modem_connected"), Some(1.0), "{text}");
    assert_eq!(sample(&text, "recharge_modem_owner"), Some(1.0), "{text}");
    assert_eq!(sample(&text, "recharge_modem_lease_taken_total"), Some(1.0), "at its start: {text}");
    assert_eq!(sample(&text, "recharge_modem_lease_lost_total"), Some(0.0), "{text}");
    assert_eq!(sample(&text, "recharge_stations"), Some(1.0), "{text}");
    assert_eq!(sample(&text, "recharge_stations_silent"), Some(0.0), "{text}");
    assert_eq!(sample(&text, "recharge_outbox_waiting"), Some(0.0), "{text}");
    assert!(sample(&text, "recharge_event_streams_open").unwrap() >= 1.0, "{text}");
    // Requests by route pattern, never by the path asked for.
    assert_eq!(
        sample(&text, "recharge_http_requests_total{route=\"/api/topup\",method=\"POST\",status=\"200\"}"),
        Some(1.0),
        "{text}"
    );
    // (A path of letters: a number could turn up in a duration's digits.)
    app.get("/no/such/page/unheard-of", None).await;
    // Methods a client makes up are counted, under one label.
    for invented in ["PROBE1", "PROBE2"] {
        let method = reqwest::Method::from_bytes(invented.as_bytes()).unwrap();
        app.client.request(method, app.url("/login")).send().await.unwrap();
    }
    let text = app.client.get(&metrics_url).send().await.unwrap().text().await.unwrap();
    assert!(!text.contains("unheard-of"), "{text}");
    assert!(!text.contains("PROBE"), "{text}");
    let invented: f64 = text
        .lines()
        .filter(|l| l.starts_with("recharge_http_requests_total{") && l.contains("method=\"other\""))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum();
    assert_eq!(invented, 2.0, "{text}");
    assert!(text.contains("recharge_http_request_duration_seconds_bucket{"), "{text}");
    let pool = if common::on_postgres_server() { "shared" } else { "write" };
    assert!(text.contains(&format!("recharge_db_connections{{pool=\"{pool}\",state=\"idle\"}}")), "{text}");
}

#[tokio::test]
async fn a_second_instance_serves_without_the_modem_and_takes_it_over_when_the_owner_stops() {
    let first = spawn_with(|_| {}).await;
    assert!(first.owner.owns(), "a lone instance drives the modem from its start");
    assert!(first.demo.is_some(), "and simulates the stations");
    let second = first.second_instance().await;
    assert!(!second.owner.owns() && second.demo.is_none(), "one modem owner");
    let ready = |app: &TestApp| {
        let (client, url) = (app.client.clone(), app.url("/readyz"));
        async move {
            let r = client.get(url).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK, "both instances serve");
            r.json::<serde_json::Value>().await.unwrap()["modem_owner"].as_bool().unwrap()
        }
    };
    assert!(ready(&first).await);
    assert!(!ready(&second).await);
    // Still one owner a few renewals later.
    tokio::time::sleep(server::lease::STALE + Duration::from_secs(1)).await;
    assert!(first.owner.owns() && !second.owner.owns());

    // A clean stop lets go of the lease: the other instance takes the modem at its next look.
    let stopped = std::time::Instant::now();
    let mut owner = second.owner.clone();
    let _files = first.stop_keeping_files().await;
    tokio::time::timeout(Duration::from_secs(5), owner.owned()).await.expect("taken over");
    assert!(stopped.elapsed() < Duration::from_secs(3), "{:?}", stopped.elapsed());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(ready(&second).await, "/readyz says so");
    assert_eq!(second.owner.handovers().taken.get(), 1);
    assert_eq!(second.owner.handovers().lost.get(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_database_cut_off_requests_are_answered_503_another_instance_drives_the_modem_and_nothing_is_lost()
 {
    let Some(server) = db::test_support::postgres_server() else {
        // A SQLite file is not reached over a network; a PostgreSQL server is, and may go away.
        return;
    };
    let direct = db::test_support::fresh_postgres(&server).await.unwrap();
    let (rest, name) = direct.rsplit_once('/').unwrap();
    let address = rest.rsplit_once('@').map_or(rest, |(_, a)| a).to_owned();
    let link = common::Link::to(address.clone()).await;
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("secrets.key");
    let through_link = format!("postgres://postgres@127.0.0.1:{}/{name}", link.port);
    let (url, file) = (through_link.clone(), key_file.clone());
    // The first instance reaches the database through the link; the second directly.
    let first = spawn_with(move |s| {
        s.database_url = url;
        s.database.secrets_key_file = Some(file);
    })
    .await;
    let (cookie, station) = common::admin_with_station(&first).await;
    let mut second_settings = first.settings().clone();
    second_settings.database_url = direct.clone();
    let second = first.second_instance_with(second_settings).await;
    assert!(first.owner.owns() && !second.owner.owns());
    let db = db::Db::open_with(&direct, &first.settings().database).await.unwrap();
    let before = top_up(&first, &cookie, station, 34586, "before-the-cut-0001").await;
    all_confirmed(&db, &[before]).await;
    // Made just before the cut: not confirmed yet, perhaps not even sent.
    let pending = top_up(&first, &cookie, station, 34587, "just-before-the-cut-0001").await;

    link.cut();
    // The cut-off instance answers what it cannot do with 503, a delay and a sentence people read.
    let r = first.get("/api/session", Some(&cookie)).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers()["retry-after"], "5");
    assert!(r.text().await.unwrap().contains("momentanément indisponible"), "in French by default");
    let page = first
        .client
        .get(first.url("/transactions"))
        .header("cookie", &cookie)
        .header("accept", "text/html")
        .header("accept-language", "de-CH,de;q=0.9")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
    let page = page.text().await.unwrap();
    assert!(
        page.contains("vorübergehend nicht verfügbar") && page.contains("http-equiv=\"refresh\""),
        "{page}"
    );
    let body = format!("station={station}&key=34588&amount=1.00&token=during-the-cut-0001");
    assert_eq!(
        first.post_api("/api/topup", Some(&cookie), &body).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(first.get("/healthz", None).await.status(), StatusCode::OK, "the process itself answers");
    // The instance that still reaches the database takes the modem over within ten seconds, and the
    // top-up made before the cut goes on there.
    let mut owner = second.owner.clone();
    let started = std::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(10), owner.owned())
        .await
        .expect("taken over within ten seconds");
    assert!(!first.owner.owns(), "the cut-off instance let go of the modem");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "not before its hold ran out: {:?}",
        started.elapsed()
    );
    all_confirmed(&db, &[pending]).await;
    let during = top_up(&second, &cookie, station, 34589, "on-the-other-instance-0001").await;
    all_confirmed(&db, &[during]).await;

    // The network is back: the first instance serves again, and does not take the modem back.
    link.mend();
    let mut back = false;
    for _ in 0..100 {
        if first.get("/api/session", Some(&cookie)).await.status() == StatusCode::NO_CONTENT {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "the first instance serves again");
    let after = top_up(&first, &cookie, station, 34590, "after-the-cut-0001").await;
    all_confirmed(&db, &[after]).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(second.owner.owns() && !first.owner.owns(), "one owner, the one that took over");
    // Counted for the monitoring: the first took the lease once and lost it once, the second took it.
    assert_eq!((first.owner.handovers().taken.get(), first.owner.handovers().lost.get()), (1, 1));
    assert_eq!((second.owner.handovers().taken.get(), second.owner.handovers().lost.get()), (1, 0));
    // Each top-up once in the journal, each confirmed.
    let journal = db.changes_since(Scope::All, 0, 100).await.unwrap();
    assert_eq!(journal.len(), 4, "{journal:?}");
    drop(second);
    drop(link);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_the_demo_the_simulated_stations_answer_through_an_instance_that_does_not_simulate_them() {
    let first = spawn_with(|_| {}).await;
    let (cookie, station) = common::admin_with_station(&first).await;
    let second = first.second_instance().await;
    assert!(second.demo.is_none(), "the stations are simulated by the modem's owner only");
    let simulated = first.demo.clone().unwrap();
    // (Made through the owner: on SQLite, another instance's top-up waits for the modem task's next look.)
    let id = top_up(&first, &cookie, station, 34586, "demo-elsewhere-0000001").await;
    all_confirmed(&first.db, &[id]).await;
    let displays = |app: &TestApp| {
        let (app_client, url, cookie) = (app.client.clone(), app.url("/api/station_screens"), cookie.clone());
        async move {
            let r = app_client.post(url).header("cookie", cookie).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            let all: Value = r.json().await.unwrap();
            all.as_array()
                .unwrap()
                .iter()
                .find(|s| s["id"] == station.get())
                .cloned()
                .expect("the station shown")
        }
    };
    assert_eq!(displays(&second).await["on"], true);

    // A key presented through the instance that does not simulate the stations: the display after it,
    // and the top-up loaded.
    let r = second.post_api("/api/present_key", Some(&cookie), &format!("station={station}&key=34586")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let lines: Vec<String> = r.json().await.unwrap();
    assert_eq!(lines[1], "N° de clé 34586", "{lines:?}");
    for _ in 0..100 {
        if first.db.transaction(Scope::All, id).await.unwrap().unwrap().status == TxStatus::Reloaded {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(first.db.transaction(Scope::All, id).await.unwrap().unwrap().status, TxStatus::Reloaded);
    assert_eq!(simulated.balance(KeyNumber(34586)), 100);

    // Powered off and on again through it.
    let power = |on: bool| {
        let body = format!("station={station}&on={on}");
        let second = &second;
        let cookie = &cookie;
        async move { second.post_api("/api/station_power", Some(cookie), &body).await }
    };
    assert_eq!(power(false).await.status(), StatusCode::OK);
    assert!(simulated.is_off(station).await);
    assert_eq!(displays(&second).await["on"], false);
    assert_eq!(power(true).await.status(), StatusCode::OK);
    assert_eq!(displays(&second).await["on"], true);

    // A station registered through it is simulated by the owner at once, not at its next start.
    first.add_user("op@recharge.ch", domain::Role::Operator, None).await;
    let op = second.login("op@recharge.ch").await;
    let gerance = first.db.station(Scope::All, station).await.unwrap().unwrap().gerance.id;
    let body = format!("gerance={gerance}&name=Buanderie&place=Sion&phone=%2B41790000102&max=200");
    let r = second.post_api("/api/save_station", Some(&op), &body).await;
    let saved: Value = r.json().await.unwrap();
    let new = StationId(saved["Created"]["id"].as_i64().unwrap_or_else(|| panic!("{saved}")));
    let mut shown = false;
    for _ in 0..50 {
        if simulated.screen(new).await.is_some() {
            shown = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(shown, "the new station is simulated");
}

#[tokio::test]
async fn an_action_nobody_simulates_is_given_up_after_a_few_seconds_and_never_done_later() {
    // No instance holds the modem lease (all stopped, or the database away for them): whoever asks the
    // simulated stations is answered "not now", and the action is withdrawn so that the instance that
    // takes the modem over later does not present a key long after the person gave up.
    let dir = tempfile::tempdir().unwrap();
    let url = match db::test_support::postgres_server() {
        Some(server) => db::test_support::fresh_postgres(&server).await.unwrap(),
        None => format!("sqlite://{}", dir.path().join("test.db").display()),
    };
    let options =
        db::DbOptions { secrets_key_file: Some(dir.path().join("secrets.key")), ..Default::default() };
    let db = db::Db::open_with(&url, &options).await.unwrap();
    let asked = std::time::Instant::now();
    let answer = server::sms::demo::ask(&db, db::DemoAction::Screens).await;
    assert_eq!(answer, Err(app::api::ssr::SimulatorSilent));
    assert!(asked.elapsed() >= Duration::from_secs(5), "{:?}", asked.elapsed());
    assert!(db.waiting_demo_actions(10).await.unwrap().is_empty(), "withdrawn");
}
