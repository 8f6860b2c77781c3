//! Top-ups through the server functions and the live event stream, as a browser uses them: validation
//! on the server, one transaction per form, and no gérance seeing another's stations, transactions or
//! events.

mod common;

use std::time::Duration;

use common::{TestApp, spawn_with};
use db::NewStation;
use domain::{Amount, KeyNumber, PhoneNumber, Role, StationId, Timestamp};
use reqwest::StatusCode;
use reqwest::header::COOKIE;
use serde_json::{Value, json};

async fn gerance_with_admin(app: &TestApp, name: &str, email: &str, phone: &str) -> (String, StationId) {
    let gerance = app.add_gerance(name).await;
    app.add_user(email, Role::Admin, Some(gerance)).await;
    let new = NewStation {
        gerance_id: gerance,
        name: "Station",
        place: "Sion",
        phone: &PhoneNumber::parse(phone).unwrap(),
        secret: &[3; 32],
        max_amount: Amount::from_rappen(50_000).unwrap(),
    };
    let station = app.db.create_station(new, Timestamp::now()).await.unwrap();
    app.demo.as_ref().unwrap().sync(&app.db).await.unwrap();
    (app.login(email).await, station)
}

async fn top_up(
    app: &TestApp,
    cookie: &str,
    station: StationId,
    key: &str,
    amount: &str,
    token: &str,
) -> Value {
    let body = format!("station={station}&key={key}&amount={amount}&token={token}");
    let r = app.post_api("/api/topup", Some(cookie), &body).await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

/// Reads server-sent events until `count` `tx` events arrived or `wait` passed.
async fn read_events(response: &mut reqwest::Response, count: usize, wait: Duration) -> Vec<(i64, Value)> {
    let mut events = Vec::new();
    let mut buffer = String::new();
    let deadline = tokio::time::Instant::now() + wait;
    while events.len() < count {
        let Ok(chunk) = tokio::time::timeout_at(deadline, response.chunk()).await else { break };
        let Some(chunk) = chunk.unwrap() else { break };
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let field = |name: &str| block.lines().find_map(|l| l.strip_prefix(name)).map(str::trim);
            if field("event:") == Some("tx") {
                let id = field("id:").unwrap().parse().unwrap();
                events.push((id, serde_json::from_str(field("data:").unwrap()).unwrap()));
            }
        }
    }
    events
}

async fn open_events(app: &TestApp, cookie: &str, last_event_id: Option<i64>) -> reqwest::Response {
    let mut req = app.client.get(app.url("/api/events?since=0")).header(COOKIE, cookie);
    if let Some(id) = last_event_id {
        req = req.header("Last-Event-ID", id.to_string());
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_checks_everything_and_records_a_form_once() {
    let app = spawn_with(|_| {}).await;
    let (a, station_a) = gerance_with_admin(&app, "Gérance A", "a@example.ch", "+41790000101").await;
    let (_, station_b) = gerance_with_admin(&app, "Gérance B", "b@example.ch", "+41790000102").await;
    let token = "0123456789abcdef0123";

    for (key, amount, problem) in [
        ("65536", "10.00", json!(["Key"])),
        ("-1", "10.00", json!(["Key"])),
        ("abc", "10.00", json!(["Key"])),
        ("34586", "0", json!(["Amount"])),
        ("34586", "-5", json!(["Amount"])),
        ("34586", "10.001", json!(["Amount"])),
        ("34586", "1e9", json!(["Amount"])),
        ("34586", "500.01", json!([{ "AboveMaximum": 50000 }])),
    ] {
        let answer = top_up(&app, &a, station_a, key, amount, token).await;
        assert_eq!(answer, json!({ "Invalid": problem }), "{key} {amount}");
    }
    let answer = top_up(&app, &a, station_b, "34586", "10.00", token).await;
    assert_eq!(answer, json!({ "Invalid": ["NoStation"] }), "another gérance's station");

    let created = top_up(&app, &a, station_a, "034586", "10.00", token).await;
    assert_eq!(created["Created"]["key"], 34586);
    assert_eq!(created["Created"]["amount"], 1000);
    assert_eq!(created["Created"]["station"], "Station, Gérance A, Sion");
    // The same form again (a double click, or sent again after its answer was lost): nothing new is
    // recorded, and the answer is the first one's receipt.
    let again = top_up(&app, &a, station_a, "034586", "10.00", token).await;
    assert_eq!(again["Created"]["id"], created["Created"]["id"], "a double click records nothing twice");
    assert_eq!(app.db.changes_since(db::Scope::All, 0, 100).await.unwrap().len(), 1);
    // Swiss thousands are read as Swiss people write them.
    let grouped = top_up(&app, &a, station_a, "1", "1'000", "0123456789abcdef0124").await;
    assert_eq!(grouped, json!({ "Invalid": [{ "AboveMaximum": 50000 }] }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_top_up_within_hours_asks_first_and_is_recorded_only_when_confirmed() {
    let app = spawn_with(|_| {}).await;
    let (a, station) = gerance_with_admin(&app, "Gérance A", "a@example.ch", "+41790000101").await;
    let (b, station_b) = gerance_with_admin(&app, "Gérance B", "b@example.ch", "+41790000102").await;
    let first = top_up(&app, &a, station, "2524", "20.00", "token-repeat-000001").await;
    let first_id = first["Created"]["id"].clone();

    // Another form, the same key, amount and station: nothing recorded, the first one named.
    let asked = top_up(&app, &a, station, "02524", "20", "token-repeat-000002").await;
    assert_eq!(asked["Repeat"]["id"], first_id, "{asked}");
    assert_eq!(app.db.changes_since(db::Scope::All, 0, 100).await.unwrap().len(), 1);
    // Another amount, another key, or another gérance's station: no question.
    let other = top_up(&app, &a, station, "2524", "25.00", "token-repeat-000003").await;
    assert!(other["Created"].is_object(), "{other}");
    let other = top_up(&app, &a, station, "2525", "20.00", "token-repeat-000004").await;
    assert!(other["Created"].is_object(), "{other}");
    let elsewhere = top_up(&app, &b, station_b, "2524", "20.00", "token-repeat-000005").await;
    assert!(elsewhere["Created"].is_object(), "{elsewhere}");

    // Confirmed: recorded.
    let body = "station={station}&key=2524&amount=20.00&token=token-repeat-000002&repeat=1"
        .replace("{station}", &station.to_string());
    let r = app.post_api("/api/topup", Some(&a), &body).await;
    let confirmed: Value = r.json().await.unwrap();
    assert!(confirmed["Created"].is_object(), "{confirmed}");
    assert_ne!(confirmed["Created"]["id"], first_id);

    // Without script, the question comes back as a page that names the first and asks again.
    let body = format!("station={station}&key=2524&amount=20.00&token=token-repeat-000006");
    let location = app.post_without_script("/api/topup", "/recharge", &a, &body).await;
    assert!(location.starts_with("/recharge?repeat="), "{location}");
    let page = app.get(&location, Some(&a)).await.text().await.unwrap();
    assert!(page.contains("data-testid=\"repeat\""), "the page asks: {page}");
    assert!(page.contains("name=\"repeat\""), "and its form answers yes when sent again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_forms_sent_at_once_record_one_top_up_and_the_others_ask() {
    let app = spawn_with(|_| {}).await;
    let (a, station) = gerance_with_admin(&app, "Gérance A", "a@example.ch", "+41790000101").await;
    // Two people (or two tabs) send the same top-up at the same moment, each from its own form.
    let forms: Vec<_> = (0..6)
        .map(|i| {
            let request = app
                .client
                .post(app.url("/api/topup"))
                .header("content-type", "application/x-www-form-urlencoded")
                .header(COOKIE, a.clone())
                .body(format!("station={station}&key=4711&amount=30.00&token=token-race-{i:010}"));
            tokio::spawn(async move { request.send().await.unwrap().json::<Value>().await.unwrap() })
        })
        .collect();
    let mut created = Vec::new();
    let mut asked = Vec::new();
    for form in forms {
        let answer = form.await.unwrap();
        match (answer.get("Created"), answer.get("Repeat")) {
            (Some(tx), None) => created.push(tx["id"].clone()),
            (None, Some(first)) => asked.push(first["id"].clone()),
            _ => panic!("{answer}"),
        }
    }
    assert_eq!(created.len(), 1, "one recorded: {created:?}");
    assert!(asked.iter().all(|id| *id == created[0]), "the others name it: {asked:?}");
    assert_eq!(app.db.changes_since(db::Scope::All, 0, 100).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_gerance_receives_only_its_own_live_events_and_resumes_after_the_last() {
    let app = spawn_with(|_| {}).await;
    let (a, station_a) = gerance_with_admin(&app, "Gérance A", "a@example.ch", "+41790000101").await;
    let (b, _) = gerance_with_admin(&app, "Gérance B", "b@example.ch", "+41790000102").await;
    assert_eq!(app.get("/api/events", None).await.status(), StatusCode::UNAUTHORIZED);

    let mut stream_a = open_events(&app, &a, None).await;
    let mut stream_b = open_events(&app, &b, None).await;
    let created = top_up(&app, &a, station_a, "7", "5.00", "token-for-the-events-test").await;
    let id = created["Created"]["id"].as_i64().unwrap();

    // Every change of A's transaction arrives live, in order; a row is sent in its state at reading
    // time, so quick successive changes may arrive as one (the steps' times are all in it).
    let mut events = Vec::new();
    while !events.last().is_some_and(|(_, tx): &(i64, Value)| tx["status"] == "Confirmed") {
        let more = read_events(&mut stream_a, 1, Duration::from_secs(15)).await;
        assert!(!more.is_empty(), "no Confirmed event; got {events:?}");
        events.extend(more);
    }
    assert!(events.iter().all(|(_, tx)| tx["id"] == id));
    assert!(events.windows(2).all(|w| w[0].0 < w[1].0), "ids increase");
    let (last_version, last) = events.last().unwrap().clone();
    assert!(last["sent_at"].is_i64() && last["confirmed_at"].is_i64());
    assert!(
        read_events(&mut stream_b, 1, Duration::from_millis(500)).await.is_empty(),
        "B sees nothing of A"
    );

    // A browser that lost the connection before the last change gets it on reconnecting.
    let mut resumed = open_events(&app, &a, Some(last_version - 1)).await;
    let missed = read_events(&mut resumed, 1, Duration::from_secs(5)).await;
    assert_eq!(missed.iter().map(|(v, _)| *v).collect::<Vec<_>>(), vec![last_version]);
    let mut up_to_date = open_events(&app, &a, Some(last_version)).await;
    assert!(read_events(&mut up_to_date, 1, Duration::from_millis(300)).await.is_empty());

    // B cannot read A's transaction by its number either.
    let r = app.post_api("/api/transaction", Some(&b), &format!("id={id}")).await;
    assert_eq!(r.json::<Value>().await.unwrap(), Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_journal_pages_filters_and_exports_only_ones_own_rows() {
    let app = spawn_with(|_| {}).await;
    let (a, station_a) = gerance_with_admin(&app, "Gérance A", "a@example.ch", "+41790000101").await;
    let (b, station_b) = gerance_with_admin(&app, "Gérance B", "b@example.ch", "+41790000102").await;
    for i in 0..7 {
        top_up(&app, &a, station_a, &(100 + i).to_string(), "1.50", &format!("token-a-{i}-0123456789")).await;
    }
    top_up(&app, &b, station_b, "999", "2.00", "token-b-0123456789").await;

    let page = |cookie: &str, query: String| {
        let cookie = cookie.to_owned();
        let app = &app;
        async move {
            let r = app.post_api("/api/journal", Some(&cookie), &query).await;
            assert_eq!(r.status(), StatusCode::OK);
            r.json::<Value>().await.unwrap()
        }
    };
    let params = |page: u32, size: u32, sort: &str, desc: bool, key: Option<u16>| {
        let key = key.map(|k| format!("&params[key]={k}")).unwrap_or_default();
        format!("params[page]={page}&params[size]={size}&params[sort]={sort}&params[desc]={desc}{key}")
    };
    let filtered_by = |extra: &str| format!("{}{extra}", params(1, 100, "number", true, None));
    let first = page(&a, params(1, 10, "key", false, None)).await;
    assert_eq!(first["total"], 7, "only A's rows");
    let keys: Vec<i64> =
        first["rows"].as_array().unwrap().iter().map(|r| r["key"].as_i64().unwrap()).collect();
    assert_eq!(keys, (100..107).collect::<Vec<_>>());
    let second = page(&a, params(2, 10, "number", true, None)).await;
    assert!(second["rows"].as_array().unwrap().is_empty());
    let filtered = page(&a, params(1, 25, "number", true, Some(103))).await;
    assert_eq!(filtered["total"], 1);
    assert_eq!(
        page(&b, params(1, 25, "number", true, Some(103))).await["total"],
        0,
        "B cannot filter its way to A"
    );

    // Station, status and date range (Zurich days, both ends included).
    assert_eq!(page(&a, filtered_by(&format!("&params[station]={station_a}"))).await["total"], 7);
    assert_eq!(page(&a, filtered_by(&format!("&params[station]={station_b}"))).await["total"], 0);
    // The Zurich day the rows were created on, as the journal shows it (`dd.mm.yyyy HH:MM:SS`).
    let shown = first["rows"][0]["shown_times"][0].as_str().unwrap().to_owned();
    let today = format!("{}-{}-{}", &shown[6..10], &shown[3..5], &shown[0..2]);
    assert_eq!(page(&a, filtered_by(&format!("&params[from]={today}&params[to]={today}"))).await["total"], 7);
    assert_eq!(page(&a, filtered_by("&params[to]=2020-01-01")).await["total"], 0);
    assert_eq!(page(&a, filtered_by("&params[from]=2999-01-01")).await["total"], 0);
    let total = |status: &'static str| page(&a, filtered_by(&format!("&params[status]={status}")));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while total("Confirmed").await["total"] != 7 {
        assert!(tokio::time::Instant::now() < deadline, "the stations confirm all seven");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(total("Queued").await["total"], 0);
    assert_eq!(total("Reloaded").await["total"], 0);

    let csv = app.get("/transactions.csv?sort=key&dir=asc", Some(&a)).await;
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.trim_end().split("\r\n").collect();
    assert_eq!(
        lines[0],
        "\u{feff}N°;Date;Station;Numéro de clé;Montant (CHF);Statut;Solde (CHF);Rechargée le;Saisie par"
    );
    assert_eq!(lines.len(), 8);
    assert!(lines[1].contains(";Station, Gérance A, Sion;00100;1.50;"), "{}", lines[1]);
    assert!(!text.contains("Gérance B"));
    let anonymous = app.get("/transactions.csv", None).await;
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER, "to the login page");
}

/// Posts the top-up form as a browser does without script, from the top-up page.
async fn post_form_without_script(app: &TestApp, cookie: &str, body: &str) -> String {
    app.post_without_script("/api/topup", "/recharge", cookie, body).await
}

#[tokio::test]
async fn a_top_up_posted_without_script_answers_with_its_receipt_and_never_twice() {
    let app = spawn_with(|_| {}).await;
    let (a, station) = gerance_with_admin(&app, "Gérance A", "a@example.ch", "+41790000101").await;
    let token = "fedcba9876543210fedc";
    let form = format!("station={station}&key=34586&amount=12.50&token={token}");

    let answer = post_form_without_script(&app, &a, &form).await;
    let rows = app.db.changes_since(db::Scope::All, 0, 100).await.unwrap();
    assert_eq!(rows.len(), 1);
    let id = rows[0].id;
    assert_eq!(answer, format!("/recharge?sent={id}"));
    let r = app.get(&answer, Some(&a)).await;
    let csp = r.headers()["content-security-policy"].to_str().unwrap().to_owned();
    let page = r.text().await.unwrap().replace("<!>", "");
    for nonce in page.split("nonce=\"").skip(1).map(|rest| rest.split('"').next().unwrap()) {
        assert!(
            csp.contains(&format!("'nonce-{nonce}'")),
            "a script's nonce {nonce} is not the policy's: {csp}"
        );
    }
    assert!(page.contains(&format!("Transaction N° {id}")), "{page}");
    assert!(page.contains("34586") && page.contains("12.50"), "{page}");
    assert!(page.contains(r#"data-testid="progress""#), "{page}");

    // The same form sent again (back, then send): the first one's receipt, nothing recorded twice.
    let again = post_form_without_script(&app, &a, &form).await;
    assert_eq!(again, format!("/recharge?sent={id}"));
    assert_eq!(app.db.changes_since(db::Scope::All, 0, 100).await.unwrap().len(), 1);

    // A wrong field: the form again, with the problem and what was typed.
    let wrong = format!("station={station}&key=70000&amount=12.50&token=0011223344556677");
    let answer = post_form_without_script(&app, &a, &wrong).await;
    assert!(answer.starts_with("/recharge?problem=key&"), "{answer}");
    let page = app.get(&answer, Some(&a)).await.text().await.unwrap();
    assert!(page.contains("Le numéro de clé est un nombre entier de 0 à 65535."), "{page}");
    assert!(page.contains(r#"value="70000""#) && page.contains(r#"value="12.50""#), "{page}");
    assert!(!page.contains(r#"data-testid="progress""#), "{page}");
    assert_eq!(app.db.changes_since(db::Scope::All, 0, 100).await.unwrap().len(), 1);

    // Another gérance's transaction number in the address shows nothing of it.
    let (b, _) = gerance_with_admin(&app, "Gérance B", "b@example.ch", "+41790000102").await;
    let page = app.get(&format!("/recharge?sent={id}"), Some(&b)).await.text().await.unwrap();
    assert!(!page.contains(&format!("Transaction N° {id}")) && !page.contains("34586"), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_of_more_rows_than_sqlite_binds_is_whole_in_order_and_in_the_account_s_language() {
    let app = spawn_with(|_| {}).await;
    let (a, station_a) = gerance_with_admin(&app, "Gérance A", "a@example.ch", "+41790000101").await;
    let (_, station_b) = gerance_with_admin(&app, "Gérance B", "b@example.ch", "+41790000102").await;
    let ga = app.db.station(db::Scope::All, station_a).await.unwrap().unwrap().gerance.id;
    let gb = app.db.station(db::Scope::All, station_b).await.unwrap().unwrap().gerance.id;
    // 40,000 rows for A (past SQLite's 32,766 bound parameters) and 100 for B, interleaved.
    let rows: Vec<db::GeneratedTx> = (0..40_100i64)
        .map(|i| {
            let (gerance_id, station_id) = if i % 401 == 400 { (gb, station_b) } else { (ga, station_a) };
            db::GeneratedTx {
                gerance_id,
                station_id,
                key: KeyNumber(u16::try_from(i % 65_536).unwrap()),
                amount: Amount::from_rappen(100 + i).unwrap(),
                status: domain::journal::TxStatus::Reloaded,
                created_at: 1_700_000_000_000 + i * 1_000,
                sent_at: None,
                confirmed_at: None,
                reloaded_at: None,
                ended_at: None,
            }
        })
        .collect();
    app.db.insert_generated_transactions(&rows).await.unwrap();

    let csv = app.get("/transactions.csv?sort=amount&dir=desc", Some(&a)).await;
    assert_eq!(csv.status(), StatusCode::OK);
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.trim_end().split("\r\n").collect();
    assert_eq!(lines.len(), 1 + 40_000, "every row of A, and only A's");
    assert!(!text.contains("Gérance B"));
    let amounts: Vec<f64> =
        lines[1..].iter().map(|l| l.split(';').nth(4).unwrap().parse().unwrap()).collect();
    assert!(amounts.windows(2).all(|w| w[0] > w[1]), "sorted by amount, descending");

    // In the account's language: header and statuses.
    let id = app
        .db
        .user_auth_by_email(&domain::Email::parse("a@example.ch").unwrap())
        .await
        .unwrap()
        .unwrap()
        .account
        .id;
    app.db.set_locale(id, "de").await.unwrap();
    let text = app.get("/transactions.csv?key=5", Some(&a)).await.text().await.unwrap();
    let mut lines = text.trim_end().split("\r\n");
    assert_eq!(
        lines.next().unwrap(),
        "\u{feff}Nr.;Datum;Station;Schlüsselnummer;Betrag (CHF);Status;Saldo (CHF);Aufgeladen am;Erfasst von"
    );
    assert!(lines.next().unwrap().contains(";Aufgeladen;"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_a_form_and_the_cross_site_check_hold_whichever_instance_answers() {
    // Two `recharge serve` behind one proxy, on the same database: any request may land on either.
    let first = spawn_with(|_| {}).await;
    let (a, station) = gerance_with_admin(&first, "Gérance A", "a@example.ch", "+41790000101").await;
    let second = first.second_instance().await;
    assert_eq!(
        second.post_api("/api/account", Some(&a), "").await.status(),
        StatusCode::OK,
        "logged in on both"
    );

    // One form (one token), sent through both at the same moment — a double click split by the proxy:
    // one top-up, and both answers are its receipt.
    for round in 0..4 {
        let key = 4711 + round;
        let body = format!("station={station}&key={key}&amount=3.00&token=token-split-{round:010}");
        let send = |app: &TestApp| {
            let request = app
                .client
                .post(app.url("/api/topup"))
                .header("content-type", "application/x-www-form-urlencoded")
                .header(COOKIE, a.clone())
                .body(body.clone());
            tokio::spawn(async move { request.send().await.unwrap().json::<Value>().await.unwrap() })
        };
        let (one, two) = (send(&first), send(&second));
        let (one, two) = (one.await.unwrap(), two.await.unwrap());
        let id = one["Created"]["id"].clone();
        assert!(id.is_i64(), "{one}");
        assert_eq!(two["Created"]["id"], id, "round {round}: {two}");
    }
    assert_eq!(first.db.changes_since(db::Scope::All, 0, 100).await.unwrap().len(), 4);

    // A cross-site post is refused by either; a logout through the second ends the session on both.
    for app in [&first, &second] {
        let r = app
            .client
            .post(app.url("/logout"))
            .header(COOKIE, &a)
            .header("origin", "https://evil.example")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
    assert_eq!(first.post_api("/api/account", Some(&a), "").await.status(), StatusCode::OK);
    let r = second.client.post(second.url("/logout")).header(COOKIE, &a).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    for app in [&first, &second] {
        assert_eq!(app.post_api("/api/account", Some(&a), "").await.status(), StatusCode::UNAUTHORIZED);
    }
}
