//! The driver and the link against the emulator, through real pseudo-terminals opened with tokio-serial,
//! with the fault knobs on: slow sends, loss, duplication, credit running out, a PIN, a modem that hangs,
//! a device unplugged and plugged back.

use std::path::Path;
use std::time::Duration;

use sms::emulator::{Knobs, Network, pty::Port};
use sms::link::{self, Connector, Event, LinkConfig, SendError, SerialDevice, SimPin};
use sms::modem::SimProblem;
use sms::modem::{Modem, Timeouts};
use sms::pdu::{Address, Incoming, Submit, UserData, decode_incoming};
use tokio::sync::mpsc;
use tokio::time::timeout;

const SERVER: &str = "+41790000001";
const STATION: &str = "+41790000002";

fn submit(to: &str, text: &str) -> Submit {
    Submit {
        reference: 0,
        destination: Address::parse(to).unwrap(),
        reject_duplicates: false,
        status_report_request: true,
        validity: None,
        user_data: UserData::text(text),
    }
}

fn quick() -> LinkConfig {
    LinkConfig {
        health_every: Duration::from_secs(3600),
        backoff_min: Duration::from_millis(100),
        backoff_max: Duration::from_millis(400),
        timeouts: Timeouts {
            command: Duration::from_secs(2),
            prompt: Duration::from_secs(2),
            send: Duration::from_secs(10),
            ussd: Duration::from_secs(2),
        },
        ..LinkConfig::default()
    }
}

fn device(path: &Path) -> SerialDevice {
    SerialDevice { path: path.to_owned(), baud: 115_200 }
}

async fn next(events: &mut mpsc::Receiver<Event>) -> Event {
    timeout(Duration::from_secs(15), events.recv()).await.expect("an event in time").expect("link running")
}

async fn until_up(events: &mut mpsc::Receiver<Event>) {
    loop {
        if let Event::Up(_) = next(events).await {
            return;
        }
    }
}

/// The next incoming message or report, decoded, with its SIM index.
async fn incoming(events: &mut mpsc::Receiver<Event>) -> (Option<u32>, Incoming) {
    loop {
        if let Event::Incoming { index, pdu } = next(events).await {
            return (index, decode_incoming(&pdu).unwrap().message);
        }
    }
}

fn text(message: &Incoming) -> &str {
    match message {
        Incoming::Deliver(d) => &d.user_data.text,
        Incoming::StatusReport(_) => panic!("a report, not a message"),
    }
}

/// The station's modem, driven by our own driver over an in-memory pipe.
async fn station_modem(network: &Network) -> Modem<tokio::io::DuplexStream> {
    station_modem_with(network, STATION).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_both_ways_with_reports_and_deletion_only_when_stored() {
    let dir = tempfile::tempdir().unwrap();
    let network = Network::new(7);
    network.set_knobs(Knobs { send_time: Duration::from_millis(1500), ..Knobs::default() });
    let port = Port::plug(network.add_modem(SERVER, Some(1_000)), dir.path().join("ttyUSB0")).unwrap();
    let mut station = station_modem(&network).await;
    let (handle, mut events, _task) = link::spawn(device(port.path()), quick());
    until_up(&mut events).await;

    // Server to station, slow like a real AT+CMGS, with a status report that names it.
    let reference =
        handle.send(&submit(STATION, "RC1 TOPUP s=1 n=1 tx=226 key=34586 amt=1000")).await.unwrap();
    let urc = timeout(Duration::from_secs(5), station.next_urc()).await.unwrap().unwrap();
    let sms::at::Urc::NewMessage { index, .. } = urc else { panic!("{urc:?}") };
    let stored = station.read(index).await.unwrap().unwrap();
    assert_eq!(
        text(&decode_incoming(stored.pdu.as_ref().unwrap()).unwrap().message),
        "RC1 TOPUP s=1 n=1 tx=226 key=34586 amt=1000"
    );
    let (report_index, report) = incoming(&mut events).await;
    assert_eq!(report_index, None, "routed directly with +CDS");
    let Incoming::StatusReport(report) = report else { panic!("{report:?}") };
    assert!(report.delivered());
    assert_eq!((report.reference, report.recipient.to_string()), (reference, STATION.to_owned()));

    // Station to server: offered with its index, still on the SIM until the consumer deletes it.
    let (pdu, len) = submit(SERVER, "RC1 RECEIVED s=1 n=1 tx=226").encode().unwrap();
    station.send_pdu(&pdu, len).await.unwrap();
    let (index, message) = incoming(&mut events).await;
    assert_eq!(text(&message), "RC1 RECEIVED s=1 n=1 tx=226");
    assert_eq!(port.modem().stored(), 1);
    handle.delete(index.unwrap()).await.unwrap();
    assert_eq!(port.modem().stored(), 0);
    assert_eq!(port.modem().credit(), Some(990));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_arrived_while_away_is_offered_at_start_and_again_until_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let network = Network::new(1);
    let port = Port::plug(network.add_modem(SERVER, None), dir.path().join("ttyUSB0")).unwrap();
    network.inject(STATION, SERVER, "first").unwrap();
    network.inject(STATION, SERVER, "second").unwrap();

    let (handle, mut events, task) = link::spawn(device(port.path()), quick());
    until_up(&mut events).await;
    assert_eq!(text(&incoming(&mut events).await.1), "first");
    let (index, second) = incoming(&mut events).await;
    assert_eq!(text(&second), "second");
    handle.delete(index.unwrap()).await.unwrap();
    drop(handle);
    timeout(Duration::from_secs(5), task).await.unwrap().unwrap();

    // The server restarts: "first" was never confirmed stored, so it is offered again.
    let (_handle, mut events, _task) = link::spawn(device(port.path()), quick());
    until_up(&mut events).await;
    assert_eq!(text(&incoming(&mut events).await.1), "first");
    assert_eq!(port.modem().stored(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unplugged_modem_is_reopened_with_backoff_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let network = Network::new(3);
    let mut port = Port::plug(network.add_modem(SERVER, None), dir.path().join("ttyUSB0")).unwrap();
    let mut station = station_modem(&network).await;
    let (handle, mut events, _task) = link::spawn(device(port.path()), quick());
    until_up(&mut events).await;

    port.unplug();
    // Health is hourly here: the next send notices the device is gone (or the read fails first).
    let result = handle.send(&submit(STATION, "lost?")).await;
    assert!(matches!(result, Err(SendError::Unavailable(_))), "{result:?}");
    loop {
        if let Event::Down { .. } = next(&mut events).await {
            break;
        }
    }
    assert!(matches!(handle.send(&submit(STATION, "later")).await, Err(SendError::Unavailable(_))));
    // A reply arrives while the server's modem is unplugged: it waits on the SIM.
    let (pdu, len) = submit(SERVER, "sent while unplugged").encode().unwrap();
    station.send_pdu(&pdu, len).await.unwrap();

    port.replug().unwrap();
    until_up(&mut events).await;
    assert_eq!(text(&incoming(&mut events).await.1), "sent while unplugged");
    handle.send(&submit(STATION, "after replug")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_modem_times_out_and_answers_again_after_a_power_cycle() {
    let dir = tempfile::tempdir().unwrap();
    let network = Network::new(4);
    let mut port = Port::plug(network.add_modem(SERVER, None), dir.path().join("ttyUSB0")).unwrap();
    let (handle, mut events, _task) = link::spawn(device(port.path()), quick());
    until_up(&mut events).await;

    port.modem().set_hung(true);
    let result = handle.send(&submit(STATION, "into the void")).await;
    assert!(matches!(result, Err(SendError::Unavailable(ref e)) if e.contains("in time")), "{result:?}");
    port.replug().unwrap();
    until_up(&mut events).await;
    handle.send(&submit(STATION, "answered")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepaid_credit_runs_out_and_the_balance_is_read_by_ussd() {
    let dir = tempfile::tempdir().unwrap();
    let network = Network::new(5);
    let port = Port::plug(network.add_modem(SERVER, Some(20)), dir.path().join("ttyUSB0")).unwrap();
    network.add_modem(STATION, None);
    let config = LinkConfig {
        ussd_balance_code: Some("*130#".into()),
        health_every: Duration::from_millis(300),
        ..quick()
    };
    let (handle, mut events, _task) = link::spawn(device(port.path()), config);
    until_up(&mut events).await;

    handle.send(&submit(STATION, "one")).await.unwrap();
    handle.send(&submit(STATION, "two")).await.unwrap();
    let refused = handle.send(&submit(STATION, "three")).await;
    assert!(matches!(refused, Err(SendError::Refused { cms: Some(8), .. })), "{refused:?}");
    loop {
        if let Event::Credit(text) = next(&mut events).await
            && text == "Votre credit est de CHF 0.00"
        {
            break;
        }
    }
    port.modem().set_credit(Some(500));
    handle.send(&submit(STATION, "three, after topping up the SIM")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sim_pin_is_entered_and_a_missing_one_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let network = Network::new(6);
    let modem = network.add_modem(SERVER, None);
    modem.set_pin(Some("4321"));
    let port = Port::plug(modem, dir.path().join("ttyUSB0")).unwrap();

    let (_handle, mut events, task) = link::spawn(device(port.path()), quick());
    let Event::Down { error, .. } = next(&mut events).await else { panic!("up without a PIN") };
    assert!(error.contains("PIN"), "{error}");
    task.abort();

    let config = LinkConfig { pin: Some(SimPin::new("4321")), ..quick() };
    let (_handle, mut events, _task) = link::spawn(device(port.path()), config);
    until_up(&mut events).await;
}

/// The next `Down` event's SIM problem, and its error text.
async fn down(events: &mut mpsc::Receiver<Event>) -> (Option<SimProblem>, String) {
    loop {
        match next(events).await {
            Event::Down { sim, error, .. } => return (sim, error),
            Event::Up(_) => panic!("up"),
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_pin_is_never_entered_again_and_a_locked_sim_asks_for_its_puk() {
    let dir = tempfile::tempdir().unwrap();
    let network = Network::new(16);
    let modem = network.add_modem(SERVER, None);
    modem.set_pin(Some("4321"));
    let port = Port::plug(modem, dir.path().join("ttyUSB0")).unwrap();
    let wrong = || LinkConfig { pin: Some(SimPin::new("1111")), ..quick() };

    // Refused once, then the link goes on reconnecting without entering it (a SIM locks after three).
    let (_handle, mut events, task) = link::spawn(device(port.path()), wrong());
    let (sim, error) = down(&mut events).await;
    assert_eq!(sim, Some(SimProblem::PinRefused));
    assert!(error.contains("refused") && !error.contains("1111"), "{error}");
    for _ in 0..3 {
        assert_eq!(down(&mut events).await.0, Some(SimProblem::PinRefused));
    }
    assert_eq!(port.modem().pin_entries(), 1);
    task.abort();

    // After a restart that knows it was refused (the server keeps that), still not entered.
    let (_handle, mut events, task) =
        link::spawn(device(port.path()), LinkConfig { pin_refused: true, ..wrong() });
    assert_eq!(down(&mut events).await.0, Some(SimProblem::PinRefused));
    assert_eq!(port.modem().pin_entries(), 1);
    task.abort();

    // Two more wrong PINs (other restarts that forgot) lock the SIM: it asks for its PUK, and no PIN is
    // entered at all.
    for _ in 0..2 {
        let (_handle, mut events, task) = link::spawn(device(port.path()), wrong());
        down(&mut events).await;
        task.abort();
    }
    let entries = port.modem().pin_entries();
    let config = LinkConfig { pin: Some(SimPin::new("4321")), ..quick() };
    let (_handle, mut events, _task) = link::spawn(device(port.path()), config);
    let (sim, error) = down(&mut events).await;
    assert_eq!(sim, Some(SimProblem::PukRequired), "{error}");
    assert!(error.contains("PUK"), "{error}");
    assert_eq!(port.modem().pin_entries(), entries);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_balance_code_without_answer_delays_nothing_and_is_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let network = Network::new(17);
    let port = Port::plug(network.add_modem(SERVER, None), dir.path().join("ttyUSB0")).unwrap();
    let mut station = station_modem(&network).await;
    port.modem().set_ussd_silent(true);
    // Asked at once (the first health check), never answered; `quick` gives up after 2 s.
    let config = LinkConfig { ussd_balance_code: Some("*130#".into()), ..quick() };
    let (handle, mut events, _task) = link::spawn(device(port.path()), config);
    until_up(&mut events).await;

    let sent = timeout(Duration::from_millis(1500), handle.send(&submit(STATION, "not held up"))).await;
    assert!(matches!(sent, Ok(Ok(_))), "a send while the balance question waits: {sent:?}");
    let urc = timeout(Duration::from_secs(5), station.next_urc()).await.unwrap().unwrap();
    assert!(matches!(urc, sms::at::Urc::NewMessage { .. }), "{urc:?}");
    loop {
        match next(&mut events).await {
            Event::CreditUnanswered(why) => {
                assert!(why.contains("no answer"), "{why}");
                break;
            }
            Event::Down { error, .. } => panic!("the link went down: {error}"),
            _ => {}
        }
    }
    handle.send(&submit(STATION, "still up")).await.unwrap();
}

/// Incoming messages and unreadable entries, in arrival order, until `n` of them.
async fn offers(events: &mut mpsc::Receiver<Event>, n: usize) -> Vec<Result<(u32, String), (u32, String)>> {
    let mut out = Vec::new();
    while out.len() < n {
        match next(events).await {
            Event::Incoming { index, pdu } => {
                out.push(Ok((index.unwrap(), text(&decode_incoming(&pdu).unwrap().message).to_owned())))
            }
            Event::Unreadable { index, line, .. } => out.push(Err((index, line))),
            _ => {}
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_the_driver_cannot_read_is_handed_over_raw_and_the_link_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let network = Network::new(18);
    let port = Port::plug(network.add_modem(SERVER, None), dir.path().join("ttyUSB0")).unwrap();
    for text in ["stray quote", "corrupt", "fine"] {
        network.inject(STATION, SERVER, text).unwrap();
    }
    // Slot 0 gets a stray `"` after its hex (reads), slot 1 a letter inside the line (cannot).
    port.modem().garble(0, "\"");
    port.modem().garble(1, "X0");
    let (handle, mut events, _task) = link::spawn(device(port.path()), quick());
    until_up(&mut events).await;
    let listed = offers(&mut events, 3).await;
    assert_eq!(listed[0], Ok((0, "stray quote".into())));
    let Err((1, ref line)) = listed[1] else { panic!("{listed:?}") };
    assert!(line.ends_with("X0"), "{line}");
    assert_eq!(listed[2], Ok((2, "fine".into())));
    for slot in [0, 1, 2] {
        handle.delete(slot).await.unwrap();
    }
    assert_eq!(port.modem().stored(), 0);

    // The same on a message announced with +CMTI and read with +CMGR.
    port.modem().garble(0, "Z");
    network.inject(STATION, SERVER, "read after its announcement").unwrap();
    let Err((0, line)) = offers(&mut events, 1).await.remove(0) else { panic!("readable?") };
    assert!(line.ends_with('Z'));
    handle.delete(0).await.unwrap();
    network.inject(STATION, SERVER, "next").unwrap();
    assert_eq!(offers(&mut events, 1).await, vec![Ok((0, "next".into()))]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_is_read_once_per_arrival_however_often_it_is_announced() {
    let dir = tempfile::tempdir().unwrap();
    let network = Network::new(19);
    let port = Port::plug(network.add_modem(SERVER, None), dir.path().join("ttyUSB0")).unwrap();
    network.inject(STATION, SERVER, "waited on the SIM").unwrap();

    // A restart: the sweep lists slot 0, and an announcement of the same slot arrives around it.
    let (handle, mut events, _task) = link::spawn(device(port.path()), quick());
    until_up(&mut events).await;
    port.modem().announce(0);
    assert_eq!(offers(&mut events, 1).await, vec![Ok((0, "waited on the SIM".into()))]);
    port.modem().announce(0);
    let again = timeout(Duration::from_millis(800), offers(&mut events, 1)).await;
    assert!(again.is_err(), "offered twice: {again:?}");

    // Once deleted, the slot's next message is a new arrival, offered once.
    handle.delete(0).await.unwrap();
    network.inject(STATION, SERVER, "newer, same slot").unwrap();
    assert_eq!(offers(&mut events, 1).await, vec![Ok((0, "newer, same slot".into()))]);
    assert_eq!(port.modem().slots(), vec![0], "still there until its consumer deletes it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backoff_starts_short_again_after_a_session_that_worked() {
    let dir = tempfile::tempdir().unwrap();
    let network = Network::new(20);
    let mut port = Port::plug(network.add_modem(SERVER, None), dir.path().join("ttyUSB0")).unwrap();
    let (handle, mut events, _task) = link::spawn(device(port.path()), quick());
    until_up(&mut events).await;
    let retry = |e: Event| match e {
        Event::Down { retry_in, .. } => Some(retry_in),
        _ => None,
    };
    port.unplug();
    let _ = handle.send(&submit(STATION, "notices")).await;
    let mut waits = Vec::new();
    while waits.len() < 3 {
        if let Some(wait) = retry(next(&mut events).await) {
            waits.push(wait);
        }
    }
    assert_eq!(waits.last(), Some(&Duration::from_millis(400)), "{waits:?}");
    port.replug().unwrap();
    until_up(&mut events).await;
    port.unplug();
    let _ = handle.send(&submit(STATION, "notices again")).await;
    loop {
        if let Some(wait) = retry(next(&mut events).await) {
            assert_eq!(wait, Duration::from_millis(100));
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_messages_vanish_and_duplicated_ones_arrive_twice() {
    let network = Network::new(8);
    let mut server = station_modem_with(&network, SERVER).await;
    let mut station = station_modem(&network).await;

    network.set_knobs(Knobs { loss: 1.0, ..Knobs::default() });
    let (pdu, len) = submit(STATION, "lost").encode().unwrap();
    server.send_pdu(&pdu, len).await.unwrap();
    assert!(
        timeout(Duration::from_millis(500), station.next_urc()).await.is_err(),
        "nothing arrives, no report"
    );

    network.set_knobs(Knobs { duplication: 1.0, ..Knobs::default() });
    let (pdu, len) = submit(STATION, "twice").encode().unwrap();
    server.send_pdu(&pdu, len).await.unwrap();
    for _ in 0..2 {
        let urc = timeout(Duration::from_secs(2), station.next_urc()).await.unwrap().unwrap();
        assert!(matches!(urc, sms::at::Urc::NewMessage { .. }), "{urc:?}");
    }
    assert_eq!(network.stats().lost, 1);
    assert_eq!(network.stats().duplicated, 1);
}

/// A modem with SIM number `number`, driven by our own driver over an in-memory pipe.
async fn station_modem_with(network: &Network, number: &str) -> Modem<tokio::io::DuplexStream> {
    let pipe = Connector::connect(&mut network.add_modem(number, None)).await.unwrap();
    let mut modem = Modem::new(pipe, quick().timeouts);
    modem.init(None).await.unwrap();
    modem
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jitter_reorders_messages_and_stored_reports_come_as_cdsi() {
    let network = Network::new(9);
    let mut server = station_modem_with(&network, SERVER).await;
    let mut station = station_modem(&network).await;
    // Reports stored on the SIM and announced with +CDSI, as modems without +CDS routing do.
    server.command("AT+CNMI=2,1,0,2,0").await.unwrap();
    network.set_knobs(Knobs {
        latency: Duration::from_millis(10),
        jitter: Duration::from_millis(400),
        ..Knobs::default()
    });
    for i in 0..8 {
        let (pdu, len) = submit(STATION, &format!("message {i}")).encode().unwrap();
        server.send_pdu(&pdu, len).await.unwrap();
    }
    let mut order = Vec::new();
    while order.len() < 8 {
        let urc = timeout(Duration::from_secs(3), station.next_urc()).await.unwrap().unwrap();
        let sms::at::Urc::NewMessage { index, .. } = urc else { continue };
        let stored = station.read(index).await.unwrap().unwrap();
        order.push(text(&decode_incoming(stored.pdu.as_ref().unwrap()).unwrap().message).to_owned());
    }
    let sent: Vec<String> = (0..8).map(|i| format!("message {i}")).collect();
    assert_ne!(order, sent, "with this seed the jitter reorders them");
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(sorted, sent, "each exactly once");

    let mut reports = 0;
    while reports < 8 {
        let urc = timeout(Duration::from_secs(3), server.next_urc()).await.unwrap().unwrap();
        let sms::at::Urc::NewReport { index, .. } = urc else { continue };
        let stored = server.read(index).await.unwrap().unwrap();
        assert!(
            matches!(decode_incoming(stored.pdu.as_ref().unwrap()).unwrap().message, Incoming::StatusReport(ref r) if r.delivered())
        );
        server.delete(index).await.unwrap();
        reports += 1;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_gate_closes_the_device_and_nothing_is_asked_of_the_modem_until_it_opens() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let dir = tempfile::tempdir().unwrap();
    let network = Network::new(21);
    let port = Port::plug(network.add_modem(SERVER, None), dir.path().join("ttyUSB0")).unwrap();
    network.add_modem(STATION, None);
    let open = Arc::new(AtomicBool::new(true));
    let gate = {
        let open = open.clone();
        link::Gate::new(move || open.load(Ordering::SeqCst))
    };
    let config = LinkConfig { health_every: Duration::from_millis(200), gate, ..quick() };
    let (handle, mut events, _task) = link::spawn(device(port.path()), config);
    until_up(&mut events).await;

    // Another process may drive the modem now: the link lets go of the device at once, though nothing
    // else happens, and touches nothing — no health check, no message read, no send.
    open.store(false, Ordering::SeqCst);
    let (_, error) = down(&mut events).await;
    assert!(error.contains("not this process's"), "{error}");
    network.inject(STATION, SERVER, "while closed").unwrap();
    let quiet = timeout(Duration::from_millis(1500), events.recv()).await;
    assert!(quiet.is_err(), "nothing from the modem while the gate is closed: {quiet:?}");
    assert_eq!(port.modem().stored(), 1, "the message stays on the SIM");
    let refused = handle.send(&submit(STATION, "not now")).await;
    assert!(matches!(refused, Err(SendError::Unavailable(_))), "{refused:?}");

    // Open again: the device is opened anew, and the message left on the SIM is read at start.
    open.store(true, Ordering::SeqCst);
    until_up(&mut events).await;
    loop {
        if let Event::Incoming { index: Some(index), .. } = next(&mut events).await {
            handle.delete(index).await.unwrap();
            break;
        }
    }
    assert_eq!(port.modem().stored(), 0);
}
