//! The server with a modem on a real pseudo-terminal, facing what real modems and networks do: delivery
//! reports (delivered, and failed), a message the modem writes so that it cannot be read, a SIM that
//! refuses its PIN.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{TestApp, spawn_with};
use db::{NewStation, NewTopUp, Scope, TxRecord};
use domain::journal::{Reason, TxStatus};
use domain::{Amount, GeranceId, KeyNumber, PhoneNumber, Role, StationId, Timestamp, TxId};
use server::startup::ModemSettings;
use sms::emulator::{Network, pty::Port};
use sms::link::SimPin;

const SERVER_NUMBER: &str = "+41790000001";

fn modem(device: PathBuf, pin: Option<&str>) -> ModemSettings {
    ModemSettings {
        device,
        baud: 115_200,
        pin: pin.map(SimPin::new),
        ussd_balance_code: None,
        number: None,
        health_every: std::time::Duration::from_secs(60),
    }
}

async fn add_station(app: &TestApp, gerance: GeranceId, phone: &str) -> StationId {
    let secret: [u8; 32] = rand::random();
    let new = NewStation {
        gerance_id: gerance,
        name: phone,
        place: "Hérémence",
        phone: &PhoneNumber::parse(phone).unwrap(),
        secret: &secret,
        max_amount: Amount::from_rappen(50_000).unwrap(),
    };
    app.db.create_station(new, Timestamp::now()).await.unwrap()
}

async fn top_up(app: &TestApp, station: StationId, key: u16) -> TxRecord {
    let token = format!("{station}-{key}-{}", rand::random::<u64>());
    let new = NewTopUp {
        station_id: station,
        key: KeyNumber(key),
        amount: Amount::from_rappen(1000).unwrap(),
        user_id: None,
        request_token: &token,
        unless_same_since: None,
    };
    let tx = app.db.create_top_up(Scope::All, new, Timestamp::now()).await.unwrap().unwrap();
    app.journal.wake();
    tx
}

/// Waits until `done` holds for the transaction.
async fn until(app: &TestApp, id: TxId, what: &str, done: impl Fn(&TxRecord) -> bool) -> TxRecord {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let tx = app.db.transaction(Scope::All, id).await.unwrap().unwrap();
        if done(&tx) {
            return tx;
        }
        assert!(tokio::time::Instant::now() < deadline, "transaction {id} never {what}: {tx:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_reports_show_arrival_and_a_message_that_cannot_arrive_is_sent_again_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let network = Network::new(31);
    let port = Port::plug(network.add_modem(SERVER_NUMBER, None), dir.path().join("ttyUSB0")).unwrap();
    let device = port.path().to_owned();
    let app = spawn_with(move |s| {
        s.modem = Some(modem(device, None));
        // Without the reports, a second send would wait ten minutes.
        s.retry.first_delay_ms = 600_000;
        s.retry.max_delay_ms = 600_000;
        s.retry.max_attempts = 3;
    })
    .await;
    let gerance = app.add_gerance("Gérance test").await;
    // A station whose SIM takes messages but which never answers, and a number no SIM has.
    network.add_modem("+41790000101", None);
    let silent = add_station(&app, gerance, "+41790000101").await;
    let absent = add_station(&app, gerance, "+41790000102").await;
    let mut rows = app.journal.subscribe_rows();

    let delivered = top_up(&app, silent, 1).await;
    let lost = top_up(&app, absent, 2).await;
    let row = until(&app, delivered.id, "delivered", |t| t.delivered_at.is_some()).await;
    assert_eq!(row.status, TxStatus::Sent, "delivered, still waiting for the station's answer");
    assert!(row.view().shown_delivered.is_some());
    // The change reached the live feed like any other.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    'feed: loop {
        let batch = tokio::time::timeout_at(deadline, rows.recv()).await.expect("published").unwrap();
        for changed in batch.iter() {
            if changed.id == delivered.id && changed.version == row.version {
                break 'feed;
            }
        }
    }

    // Each failed report sends it again at once: three attempts in seconds, not twenty minutes.
    let failed = until(&app, lost.id, "failed", |t| t.status == TxStatus::Failed).await;
    // Three sends, then the cancellation that fails it.
    assert_eq!((failed.attempts, failed.reason), (4, Some(Reason::NoAnswer)));
    assert_eq!(failed.delivered_at, None);
    assert_eq!(app.db.transaction(Scope::All, delivered.id).await.unwrap().unwrap().attempts, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_the_modem_writes_unreadably_is_kept_counted_and_deleted_and_top_ups_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let network = Network::new(32);
    let server_modem = network.add_modem(SERVER_NUMBER, None);
    let port = Port::plug(server_modem.clone(), dir.path().join("ttyUSB0")).unwrap();
    // Waiting on the SIM before the server starts: one the firmware garbles, one with a stray quote.
    network.inject("+41790000101", SERVER_NUMBER, "RC1 garbled beyond reading").unwrap();
    network.inject("+41790000101", SERVER_NUMBER, "RC1 a stray quote").unwrap();
    server_modem.garble(0, "Z0");
    server_modem.garble(1, "\"");
    let device = port.path().to_owned();
    let app = spawn_with(move |s| s.modem = Some(modem(device, None))).await;
    let gerance = app.add_gerance("Gérance test").await;
    network.add_modem("+41790000101", None);
    let station = add_station(&app, gerance, "+41790000101").await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !server_modem.slots().is_empty() || app.db.unreadable_count().await.unwrap() != 1 {
        assert!(tokio::time::Instant::now() < deadline, "still on the SIM: {:?}", server_modem.slots());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The link is up and stays up: a top-up leaves.
    let tx = top_up(&app, station, 7).await;
    until(&app, tx.id, "sent", |t| t.status == TxStatus::Sent).await;
}

#[test]
fn a_refused_pin_is_kept_across_restarts_and_shown_to_the_operator() {
    // The operators' stations page, rendered by an unoptimised build, needs more than tokio's default
    // 2 MiB of stack per worker.
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_stack_size(8 << 20)
        .enable_all()
        .build()
        .unwrap()
        .block_on(refused_pin());
}

async fn refused_pin() {
    let dir = tempfile::tempdir().unwrap();
    let network = Network::new(33);
    let sim = network.add_modem(SERVER_NUMBER, None);
    sim.set_pin(Some("4321"));
    let port = Port::plug(sim.clone(), dir.path().join("ttyUSB0")).unwrap();
    let device = port.path().to_owned();
    let app = spawn_with(move |s| s.modem = Some(modem(device, Some("1111")))).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while app.db.refused_pin_hash().await.unwrap().is_none() {
        assert!(tokio::time::Instant::now() < deadline, "the refusal was never kept");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!app.db.refused_pin_hash().await.unwrap().unwrap().contains("1111"));
    app.add_user("ops@recharge.ch", Role::Operator, None).await;
    let cookie = app.login("ops@recharge.ch").await;
    let page = app.get("/stations", Some(&cookie)).await.text().await.unwrap();
    assert!(page.contains("a refusé le code PIN configuré"), "{page}");
    assert!(!page.contains("1111"));

    // Restarted with the same setting (by a supervisor, say): the PIN is still not entered.
    let app = app.restart().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(sim.pin_entries(), 1, "one wrong PIN in all");
    drop(app);
}
