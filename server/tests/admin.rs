//! Operators manage gérances, accounts and stations through the server functions the *Administration*
//! and *Stations* pages call; administrators see their own stations' live facts and nothing of the rest.

mod common;

use std::time::Duration;

use common::{PASSWORD, TestApp, location, spawn_app};
use domain::{KeyNumber, Role, StationId};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn call(app: &TestApp, cookie: &str, path: &str, body: &str) -> Value {
    let r = app.post_api(path, Some(cookie), body).await;
    assert_eq!(r.status(), StatusCode::OK, "{path} {body}");
    r.json().await.unwrap()
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs.iter().map(|(k, v)| format!("{k}={}", url_encode(v))).collect::<Vec<_>>().join("&")
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Polls the stations page until `ready` holds for station `id` (the simulated station answers by SMS).
async fn wait_for_station(
    app: &TestApp,
    cookie: &str,
    id: StationId,
    ready: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let page = call(app, cookie, "/api/stations", "").await;
        let station = page["stations"].as_array().unwrap().iter().find(|s| s["id"] == id.get()).cloned();
        if let Some(s) = station.filter(&ready) {
            return s;
        }
        assert!(tokio::time::Instant::now() < deadline, "station {id} never got there: {page}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_sets_up_a_gerance_its_admin_and_a_station_that_works() {
    let app = spawn_app().await;
    app.add_user("op@recharge.ch", Role::Operator, None).await;
    let op = app.login("op@recharge.ch").await;

    // The gérance.
    let created = call(&app, &op, "/api/create_gerance", "name=G%C3%A9rance+Valais").await;
    let gerance = created["Created"]["id"].as_i64().expect("created");
    assert_eq!(created["Created"]["name"], "Gérance Valais");
    assert_eq!(call(&app, &op, "/api/create_gerance", "name=G%C3%A9rance+Valais").await, json!("NameTaken"));
    assert_eq!(call(&app, &op, "/api/create_gerance", "name=+").await, json!("InvalidName"));

    // Its administrator, with a generated first password shown once.
    let g = gerance.to_string();
    let body = form(&[("email", "Chef@Valais.ch"), ("role", "admin"), ("gerance", &g)]);
    let created = call(&app, &op, "/api/create_account", &body).await;
    let password = created["Created"]["password"].as_str().expect("created").to_owned();
    assert_eq!(created["Created"]["email"], "chef@valais.ch");
    assert!(password.len() >= 16);
    let again = call(&app, &op, "/api/create_account", &body).await;
    assert_eq!(again, json!({ "Invalid": ["EmailTaken"] }));
    let bad = call(&app, &op, "/api/create_account", &form(&[("email", "nope"), ("role", "admin")])).await;
    assert_eq!(bad, json!({ "Invalid": ["Email", "Gerance"] }));
    let bad = call(&app, &op, "/api/create_account", &form(&[("email", "x@y.ch"), ("role", "boss")])).await;
    assert_eq!(bad, json!({ "Invalid": ["Role"] }));

    // A station: every bad field named at once, then a good one with its provisioning string.
    let station_form = |name: &str, phone: &str, max: &str| {
        form(&[("gerance", &g), ("name", name), ("place", "Hérémence"), ("phone", phone), ("max", max)])
    };
    let bad = call(&app, &op, "/api/save_station", &station_form("", "123", "0")).await;
    assert_eq!(bad, json!({ "Invalid": [{ "Field": "Name" }, { "Field": "Phone" }, { "Field": "Max" }] }));
    let body =
        form(&[("gerance", "999"), ("name", "S"), ("place", "P"), ("phone", "+41790000200"), ("max", "5")]);
    assert_eq!(call(&app, &op, "/api/save_station", &body).await, json!({ "Invalid": ["Gerance"] }));
    let created =
        call(&app, &op, "/api/save_station", &station_form("Station Hérémence", "079 000 02 01", "200"))
            .await;
    let created = &created["Created"];
    let station = StationId(created["id"].as_i64().expect("created"));
    assert_eq!(created["server_number_known"], true);
    let provisioning =
        station::protocol::Provisioning::parse(created["provisioning"].as_str().unwrap()).unwrap();
    assert_eq!(StationId::from_protocol(provisioning.station), station);
    assert_eq!(provisioning.server_number, server::sms::demo::SERVER_NUMBER);
    let link = app.db.station_link(station).await.unwrap().unwrap();
    assert_eq!(provisioning.secret, station::protocol::Secret::from_bytes(link.secret));
    assert_eq!(link.phone.as_str(), "+41790000201");
    assert_eq!(link.max_amount.rappen(), 20_000);
    let dup =
        call(&app, &op, "/api/save_station", &station_form("Station Hérémence", "+41790000201", "1")).await;
    assert_eq!(dup, json!({ "Invalid": ["NameTaken", "PhoneTaken"] }));

    // The stations page never shows the secret again.
    let page = app.post_api("/api/stations", Some(&op), "").await.text().await.unwrap();
    assert!(!page.contains(&provisioning.secret.to_hex()));
    assert!(page.contains("\"modem\""), "operators see the modem: {page}");

    // The new admin logs in with the generated password and works with the new station at once: it is
    // simulated in the demo, and its live facts arrive.
    let r = app.post_login("chef@valais.ch", &password).await;
    assert_eq!(location(&r), "/");
    let admin = common::session_cookie(&r).unwrap();
    let page = call(&app, &admin, "/api/stations", "").await;
    assert_eq!(page["admin"], Value::Null, "an admin does not manage");
    assert_eq!(page["stations"].as_array().unwrap().len(), 1);
    assert_eq!(page["stations"][0]["name"], "Station Hérémence");

    let reloaded = |token: &'static str, amount: &'static str| {
        let (app, admin) = (&app, &admin);
        async move {
            let body = format!("station={station}&key=34586&amount={amount}&token={token}");
            let topup = call(app, admin, "/api/topup", &body).await;
            let tx = topup["Created"]["id"].as_i64().expect("created");
            let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
            loop {
                app.demo.as_ref().unwrap().present_key(station, KeyNumber(34586)).await;
                let now = call(app, admin, "/api/transaction", &format!("id={tx}")).await;
                if now["status"] == "Reloaded" {
                    return now["balance_rappen"].as_i64().unwrap();
                }
                assert!(tokio::time::Instant::now() < deadline, "never reloaded: {now}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    assert_eq!(reloaded("abcdef0123456789abc1", "12.50").await, 1250);
    wait_for_station(&app, &admin, station, |s| !s["last_heard"].is_null()).await;

    // The station gets a new SIM: the operator changes its number, and top-ups follow it.
    let body = form(&[
        ("id", &station.to_string()),
        ("name", "Station Hérémence"),
        ("place", "Hérémence"),
        ("phone", "+41 79 000 02 09"),
        ("max", "200"),
    ]);
    assert_eq!(call(&app, &op, "/api/save_station", &body).await, json!({ "Updated": { "id": station } }));
    assert_eq!(reloaded("abcdef0123456789abc2", "1.50").await, 1400);

    // Asked for its state, the station answers with a heartbeat.
    assert_eq!(call(&app, &admin, "/api/station_status", &format!("id={station}")).await, json!("Sent"));
    // Asked again at once: nothing more is sent (each request is an SMS paid from the server's SIM).
    let outbox = app.db.outbox_length().await.unwrap();
    assert_eq!(call(&app, &admin, "/api/station_status", &format!("id={station}")).await, json!("Recently"));
    assert!(app.db.outbox_length().await.unwrap() <= outbox);
    let facts =
        wait_for_station(&app, &admin, station, |s| s["pending"] == 0 && !s["firmware"].is_null()).await;
    assert!(facts["firmware"].as_str().unwrap().starts_with("sim-"), "{facts}");
    assert_eq!(facts["reported"], "Now", "the station's own count comes with its age");
    assert_eq!(facts["waiting_for_key"], 0);

    // A top-up the station confirmed, its key not presented yet: the journal's count says so at once,
    // apart from what the station said in its last report.
    let body = format!("station={station}&key=4040&amount=2.00&token=abcdef0123456789abc3");
    call(&app, &admin, "/api/topup", &body).await["Created"]["id"].as_i64().expect("created");
    wait_for_station(&app, &admin, station, |s| s["waiting_for_key"] == 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_operators_administer_and_admins_see_only_their_stations() {
    let app = spawn_app().await;
    app.add_user("op@recharge.ch", Role::Operator, None).await;
    let a = app.add_gerance("Gérance A").await;
    let b = app.add_gerance("Gérance B").await;
    app.add_user("a@a.ch", Role::Admin, Some(a)).await;
    let b_admin = app.add_user("b@b.ch", Role::Admin, Some(b)).await;
    let op = app.login("op@recharge.ch").await;
    let admin_a = app.login("a@a.ch").await;

    let add = |gerance: domain::GeranceId, name: &'static str, phone: &'static str| {
        let body = form(&[
            ("gerance", &gerance.to_string()),
            ("name", name),
            ("place", "Sion"),
            ("phone", phone),
            ("max", "100"),
        ]);
        let (app, op) = (&app, &op);
        async move {
            StationId(call(app, op, "/api/save_station", &body).await["Created"]["id"].as_i64().unwrap())
        }
    };
    let station_a = add(a, "Station A", "+41790000301").await;
    let station_b = add(b, "Station B", "+41790000302").await;

    // An admin calls every operator function: 403, nothing changes.
    let b_id = b_admin.to_string();
    for (path, body) in [
        ("/api/admin", String::new()),
        ("/api/create_gerance", "name=Mine".to_owned()),
        ("/api/create_account", form(&[("email", "me@a.ch"), ("role", "operator")])),
        ("/api/reset_password", format!("id={b_id}")),
        ("/api/set_disabled", format!("id={b_id}&disabled=true")),
        (
            "/api/save_station",
            form(&[
                ("gerance", &a.to_string()),
                ("name", "X"),
                ("place", "Y"),
                ("phone", "+41790000303"),
                ("max", "1"),
            ]),
        ),
        (
            "/api/save_station",
            form(&[
                ("id", &station_b.to_string()),
                ("name", "Mine"),
                ("place", "Y"),
                ("phone", "+41790000302"),
                ("max", "1"),
            ]),
        ),
    ] {
        let r = app.post_api(path, Some(&admin_a), &body).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(app.db.list_gerances().await.unwrap().len(), 2);
    assert_eq!(app.db.list_users().await.unwrap().len(), 3);
    assert_eq!(app.db.station(db::Scope::All, station_b).await.unwrap().unwrap().name, "Station B");

    // An admin sees its own station only and cannot ask another's for its state.
    let page = call(&app, &admin_a, "/api/stations", "").await;
    let ids: Vec<StationId> =
        page["stations"].as_array().unwrap().iter().map(|s| StationId(s["id"].as_i64().unwrap())).collect();
    assert_eq!(ids, vec![station_a]);
    let asked = call(&app, &admin_a, "/api/station_status", &format!("id={station_b}")).await;
    assert_eq!(asked, json!("NoStation"));
    assert_eq!(app.db.outbox_length().await.unwrap(), 0, "nothing was sent to B's station");
    // Without a session: 401.
    assert_eq!(app.post_api("/api/stations", None, "").await.status(), StatusCode::UNAUTHORIZED);

    // The operator sees both, and the administration page counts what hangs from each gérance.
    let page = call(&app, &op, "/api/stations", "").await;
    assert_eq!(page["stations"].as_array().unwrap().len(), 2);
    let admin = call(&app, &op, "/api/admin", "").await;
    let gerances = admin["gerances"].as_array().unwrap();
    assert_eq!(gerances[0]["name"], "Gérance A");
    assert_eq!((gerances[0]["stations"].as_i64(), gerances[0]["accounts"].as_i64()), (Some(1), Some(1)));

    // Editing keeps the gérance and checks like creating.
    let edit = |name: &str, phone: &str| {
        form(&[
            ("id", &station_a.to_string()),
            ("gerance", &b.to_string()),
            ("name", name),
            ("place", "Sion"),
            ("phone", phone),
            ("max", "250.50"),
        ])
    };
    assert_eq!(
        call(&app, &op, "/api/save_station", &edit("Station A", "+41790000302")).await,
        json!({ "Invalid": ["PhoneTaken"] })
    );
    assert_eq!(
        call(&app, &op, "/api/save_station", &edit("Station Alpha", "+41790000301")).await,
        json!({ "Updated": { "id": station_a } })
    );
    let changed = app.db.station(db::Scope::All, station_a).await.unwrap().unwrap();
    assert_eq!(
        (changed.name.as_str(), changed.gerance.id, changed.max_amount.rappen()),
        ("Station Alpha", a, 25_050)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_and_resetting_accounts_end_their_sessions() {
    let app = spawn_app().await;
    let op_id = app.add_user("op@recharge.ch", Role::Operator, None).await;
    let g = app.add_gerance("Gérance A").await;
    let admin_id = app.add_user("a@a.ch", Role::Admin, Some(g)).await;
    let op = app.login("op@recharge.ch").await;
    let admin = app.login("a@a.ch").await;
    let signed_in = |cookie: String| {
        let app = &app;
        async move { app.post_api("/api/account", Some(&cookie), "").await.status() == StatusCode::OK }
    };
    assert!(signed_in(admin.clone()).await);

    // Disabled: its session is gone and the right password no longer opens one.
    let body = format!("id={admin_id}&disabled=true");
    assert_eq!(call(&app, &op, "/api/set_disabled", &body).await, json!(true));
    assert!(!signed_in(admin.clone()).await);
    assert_ne!(location(&app.post_login("a@a.ch", PASSWORD).await), "/");
    let listed = call(&app, &op, "/api/admin", "").await;
    let row = listed["accounts"].as_array().unwrap().iter().find(|a| a["email"] == "a@a.ch").unwrap().clone();
    assert_eq!(row["disabled"], true);

    // Not oneself.
    assert_eq!(
        call(&app, &op, "/api/set_disabled", &format!("id={op_id}&disabled=true")).await,
        json!(false)
    );
    assert!(signed_in(op.clone()).await);

    // Enabled again, then a new password: the old one and the sessions it opened stop working.
    assert_eq!(
        call(&app, &op, "/api/set_disabled", &format!("id={admin_id}&disabled=false")).await,
        json!(true)
    );
    let admin = app.login("a@a.ch").await;
    let password = call(&app, &op, "/api/reset_password", &format!("id={admin_id}")).await;
    let password = password.as_str().unwrap();
    assert!(!signed_in(admin).await);
    assert_ne!(location(&app.post_login("a@a.ch", PASSWORD).await), "/");
    assert_eq!(location(&app.post_login("a@a.ch", password).await), "/");
}
