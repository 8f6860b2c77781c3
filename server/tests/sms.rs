//! The outbox and the modem task against the GSM network emulator and simulated stations: the happy path,
//! the fault knobs, a server restart mid-flight, and a real pseudo-terminal modem unplugged or hung.
//! Every top-up ends Reloaded exactly once or failed with a reason, and the stations' data loggers, the
//! keys and the journal agree to the Rappen.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{TestApp, spawn_with};
use db::{NewStation, NewTopUp, Scope, TxRecord};
use domain::journal::{Reason, TxStatus};
use domain::{Amount, GeranceId, KeyNumber, PhoneNumber, StationId, Timestamp, TxId};
use server::startup::ModemSettings;
use sms::emulator::{Knobs, Network, pty::Port};
use station::machine::Config;
use station::protocol::{Provisioning, Secret};
use station::sim::{Keys, SimulatedStation, StationSpec};

async fn add_station(app: &TestApp, gerance: GeranceId, name: &str, phone: &str) -> (StationId, [u8; 32]) {
    let secret: [u8; 32] = rand::random();
    let new = NewStation {
        gerance_id: gerance,
        name,
        place: "Hérémence",
        phone: &PhoneNumber::parse(phone).unwrap(),
        secret: &secret,
        max_amount: Amount::from_rappen(50_000).unwrap(),
    };
    let id = app.db.create_station(new, Timestamp::now()).await.unwrap();
    if let Some(demo) = &app.demo {
        demo.sync(&app.db).await.unwrap();
    }
    (id, secret)
}

async fn top_up(app: &TestApp, station: StationId, key: u16, amount: i64) -> TxRecord {
    let token = format!("{station}-{key}-{amount}-{}", rand::random::<u64>());
    let new = NewTopUp {
        station_id: station,
        key: KeyNumber(key),
        amount: Amount::from_rappen(amount).unwrap(),
        user_id: None,
        request_token: &token,
        unless_same_since: None,
    };
    let tx = app.db.create_top_up(Scope::All, new, Timestamp::now()).await.unwrap().unwrap();
    app.journal.wake();
    tx
}

async fn wait_for(app: &TestApp, id: TxId, status: TxStatus) -> TxRecord {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let tx = app.db.transaction(Scope::All, id).await.unwrap().unwrap();
        if tx.status == status {
            return tx;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "transaction {id} stuck at {:?} ({:?})",
            tx.status,
            tx.reason
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_top_up_goes_sent_confirmed_reloaded_through_the_emulated_network() {
    let app = spawn_with(|_| {}).await;
    let gerance = app.add_gerance("Gérance test").await;
    let (station, _) = add_station(&app, gerance, "Station Hérémence", "+41790000101").await;
    let mut changes = app.journal.subscribe();

    let tx = top_up(&app, station, 34586, 1000).await;
    assert_eq!(tx.status, TxStatus::Queued);
    let confirmed = wait_for(&app, tx.id, TxStatus::Confirmed).await;
    assert!(confirmed.sent_at.is_some() && confirmed.confirmed_at.is_some());

    let demo = app.demo.clone().unwrap();
    let screen = demo.present_key(station, KeyNumber(34586)).await.unwrap();
    assert_eq!(screen.lines()[1], "N° de clé 34586");
    let reloaded = wait_for(&app, tx.id, TxStatus::Reloaded).await;
    assert_eq!(reloaded.balance_rappen, Some(1000));
    assert_eq!(demo.balance(KeyNumber(34586)), 1000);
    assert_eq!(demo.logger(station).await.unwrap().len(), 1);

    // Every change was published, in order.
    let mut versions = Vec::new();
    while let Ok(v) = changes.try_recv() {
        versions.push(v);
    }
    assert!(versions.len() >= 3 && versions.windows(2).all(|w| w[0] < w[1]), "{versions:?}");
    assert_eq!(*versions.last().unwrap(), reloaded.version);
}

/// Presents every key at every station until each top-up is reloaded or failed, then checks that the
/// journal, the keys and the data loggers agree.
async fn settle_and_check(app: &TestApp, stations: &[StationId], txs: &[TxRecord]) {
    let demo = app.demo.clone().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let mut open = Vec::new();
        for tx in txs {
            let now = app.db.transaction(Scope::All, tx.id).await.unwrap().unwrap();
            if !matches!(now.status, TxStatus::Reloaded | TxStatus::Failed) {
                demo.present_key(now.station_id, now.key).await;
                open.push(now);
            }
        }
        if open.is_empty() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never settled: {open:#?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let mut journal_per_key: HashMap<KeyNumber, i64> = HashMap::new();
    let mut reloaded = 0;
    for tx in txs {
        let now = app.db.transaction(Scope::All, tx.id).await.unwrap().unwrap();
        match now.status {
            TxStatus::Reloaded => {
                *journal_per_key.entry(now.key).or_default() += now.amount.rappen();
                reloaded += 1;
            }
            _ => assert!(now.reason.is_some(), "failed without a reason: {now:?}"),
        }
    }
    let mut logged = Vec::new();
    for station in stations {
        logged.extend(demo.logger(*station).await.unwrap());
    }
    assert_eq!(logged.len(), reloaded, "each reloaded top-up is in a data logger exactly once");
    let mut logged_tx: Vec<u32> = logged.iter().map(|r| r.tx).collect();
    logged_tx.sort();
    logged_tx.dedup();
    assert_eq!(logged_tx.len(), reloaded, "nothing loaded twice");
    for (key, sum) in journal_per_key {
        assert_eq!(i64::from(demo.balance(key)), sum, "key {key}: journal and key agree to the Rappen");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loss_duplicates_reordering_and_errors_lose_nothing_and_load_nothing_twice() {
    let app = spawn_with(|_| {}).await;
    let gerance = app.add_gerance("Gérance test").await;
    let (a, _) = add_station(&app, gerance, "A", "+41790000101").await;
    let (b, _) = add_station(&app, gerance, "B", "+41790000102").await;
    app.demo.as_ref().unwrap().network().set_knobs(Knobs {
        latency: Duration::from_millis(20),
        jitter: Duration::from_millis(300),
        loss: 0.2,
        duplication: 0.2,
        error: 0.1,
        ..Knobs::default()
    });
    let mut txs = Vec::new();
    for i in 0..12u16 {
        txs.push(top_up(&app, if i % 2 == 0 { a } else { b }, 100 + i % 4, 100 * i64::from(i + 1)).await);
    }
    settle_and_check(&app, &[a, b], &txs).await;
    let stats = app.demo.as_ref().unwrap().network().stats();
    assert!(
        stats.lost > 0 && stats.duplicated > 0 && stats.refused > 0,
        "the knobs did something: {stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restarted_mid_flight_resumes_where_it_stopped() {
    let app = spawn_with(|_| {}).await;
    let gerance = app.add_gerance("Gérance test").await;
    let (a, _) = add_station(&app, gerance, "A", "+41790000101").await;
    let mut txs = Vec::new();
    for i in 0..6u16 {
        txs.push(top_up(&app, a, 7, 500 + i64::from(i)).await);
        // Stopped at a different point of the flow each time round.
        tokio::time::sleep(Duration::from_millis(15 * u64::from(i))).await;
    }
    let app = app.restart().await;
    app.journal.wake();
    settle_and_check(&app, &[a], &txs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_serial_modem_unplugged_or_hung_delays_top_ups_without_losing_them() {
    let dir = tempfile::tempdir().unwrap();
    let network = Network::new(3);
    let mut port = Port::plug(network.add_modem("+41790000001", None), dir.path().join("ttyUSB0")).unwrap();
    let device = port.path().to_owned();
    let app = spawn_with(move |s| {
        s.modem = Some(ModemSettings {
            device,
            baud: 115_200,
            pin: None,
            ussd_balance_code: None,
            number: None,
            health_every: std::time::Duration::from_secs(60),
        });
    })
    .await;
    assert!(app.demo.is_none(), "a real modem: no simulated stations in the server");
    let gerance = app.add_gerance("Gérance test").await;
    let (id, secret) = add_station(&app, gerance, "A", "+41790000101").await;
    let spec = StationSpec {
        config: Config {
            provisioning: Provisioning {
                station: id.protocol().unwrap(),
                server_number: "+41790000001".into(),
                secret: Secret::from_bytes(secret),
            },
            max_amount: 50_000,
            firmware: "test".into(),
        },
        number: "+41790000101".into(),
        nv_file: None,
    };
    let station = SimulatedStation::start(&network, spec, Keys::default()).await.unwrap();

    port.unplug();
    let tx = top_up(&app, id, 1, 1000).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(app.db.transaction(Scope::All, tx.id).await.unwrap().unwrap().status, TxStatus::Queued);
    port.replug().unwrap();
    wait_for(&app, tx.id, TxStatus::Confirmed).await;

    port.modem().set_hung(true);
    let tx2 = top_up(&app, id, 1, 2000).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(app.db.transaction(Scope::All, tx2.id).await.unwrap().unwrap().status, TxStatus::Queued);
    port.replug().unwrap();
    wait_for(&app, tx2.id, TxStatus::Confirmed).await;

    station.present_key(1).await;
    wait_for(&app, tx.id, TxStatus::Reloaded).await;
    let last = wait_for(&app, tx2.id, TxStatus::Reloaded).await;
    assert_eq!(last.balance_rappen, Some(3000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_top_up_is_never_loaded_and_a_loaded_one_cannot_be_cancelled() {
    let app = spawn_with(|_| {}).await;
    let gerance = app.add_gerance("Gérance test").await;
    let (station, _) = add_station(&app, gerance, "A", "+41790000101").await;
    let demo = app.demo.clone().unwrap();

    let tx = top_up(&app, station, 42, 700).await;
    wait_for(&app, tx.id, TxStatus::Confirmed).await;
    assert!(app.db.request_cancel(Scope::Gerance(gerance), tx.id, None, Timestamp::now()).await.unwrap());
    app.journal.wake();
    let cancelled = wait_for(&app, tx.id, TxStatus::Cancelled).await;
    assert!(cancelled.ended_at.is_some());
    demo.present_key(station, KeyNumber(42)).await;
    assert_eq!(demo.balance(KeyNumber(42)), 0, "the station dropped it");
    assert!(demo.logger(station).await.unwrap().is_empty());

    let loaded = top_up(&app, station, 42, 300).await;
    wait_for(&app, loaded.id, TxStatus::Confirmed).await;
    demo.present_key(station, KeyNumber(42)).await;
    wait_for(&app, loaded.id, TxStatus::Reloaded).await;
    assert!(
        !app.db.request_cancel(Scope::Gerance(gerance), loaded.id, None, Timestamp::now()).await.unwrap()
    );
    assert!(
        !app.db
            .request_cancel(Scope::Gerance(GeranceId(gerance.get() + 99)), tx.id, None, Timestamp::now())
            .await
            .unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_top_up_is_cancelled_at_its_station_once_the_network_works_again() {
    let app = spawn_with(|s| s.retry.max_attempts = 3).await;
    let gerance = app.add_gerance("Gérance test").await;
    let (station, _) = add_station(&app, gerance, "A", "+41790000101").await;
    let demo = app.demo.clone().unwrap();
    let network = demo.network().clone();

    // Every message lost: three sends, no answer, failed; its first cancellation is lost too.
    network.set_knobs(Knobs { loss: 1.0, ..Knobs::default() });
    let tx = top_up(&app, station, 42, 700).await;
    let failed = wait_for(&app, tx.id, TxStatus::Failed).await;
    assert_eq!(failed.reason, Some(Reason::NoAnswer));
    network.set_knobs(Knobs::default());

    // The cancellation goes out again until the station has it: a late copy can never load.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let memory = demo.memory(station).await.unwrap();
        if memory.outcomes.get(&tx.id.protocol().unwrap()) == Some(&station::machine::Outcome::Cancelled) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the station never heard of the cancellation");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Its answer ends the resending; the journal still says failed, and the key gets nothing.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while app.db.next_attempt_at().await.unwrap().is_some() {
        assert!(tokio::time::Instant::now() < deadline, "cancellations still scheduled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(app.db.transaction(Scope::All, tx.id).await.unwrap().unwrap().status, TxStatus::Failed);
    demo.present_key(station, KeyNumber(42)).await;
    assert_eq!(demo.balance(KeyNumber(42)), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sim_out_of_credit_delays_top_ups_without_failing_them() {
    let app = spawn_with(|s| s.retry.max_attempts = 2).await;
    let gerance = app.add_gerance("Gérance test").await;
    let (station, _) = add_station(&app, gerance, "A", "+41790000101").await;
    let demo = app.demo.clone().unwrap();
    let server_modem = demo.network().modem(server::sms::demo::SERVER_NUMBER).unwrap();
    server_modem.set_credit(Some(0));

    let tx = top_up(&app, station, 42, 700).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while demo.network().stats().refused == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the modem was never asked");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Far longer than its two attempts would take (300 ms, then 600 ms): it waits, one message in the
    // outbox, and the journal says why. A wake tries once more (the test's own, and on PostgreSQL the
    // notification of the top-up made through the test's database handle, another instance as far as
    // the server can tell); nothing else does while the SIM is empty.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let settled = demo.network().stats().refused;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(demo.network().stats().refused, settled, "nothing tried again while nothing happens");
    let waiting = app.db.transaction(Scope::All, tx.id).await.unwrap().unwrap();
    assert_eq!(waiting.status, TxStatus::Queued, "not failed: it never left");
    assert_eq!(waiting.reason, Some(Reason::SimCredit));
    assert_eq!(app.db.outbox_length().await.unwrap(), 1, "no copies piled up");
    assert!(settled <= 3, "the modem is not hammered while the SIM is empty: {settled} refused");

    // Someone tops the SIM up; the next try sends it.
    server_modem.set_credit(None);
    app.journal.wake();
    wait_for(&app, tx.id, TxStatus::Confirmed).await;
    let sent = app.db.transaction(Scope::All, tx.id).await.unwrap().unwrap();
    assert_eq!(sent.reason, None, "the SIM credit is no longer why it waits");
    demo.present_key(station, KeyNumber(42)).await;
    wait_for(&app, tx.id, TxStatus::Reloaded).await;
    assert_eq!(demo.balance(KeyNumber(42)), 700);
}
