//! A top-up sent through the AT driver on a pseudo-terminal reaches a simulated station over the emulated
//! network, is confirmed, and after a key presentation the reloaded report comes back and verifies.
//! Forged, altered and replayed messages are ignored; a power cut loses nothing.

use std::time::Duration;

use sms::emulator::{Network, pty::Port};
use sms::link::{self, Event, Handle, LinkConfig, SerialDevice};
use sms::pdu::{Address, Incoming, Submit, UserData, decode_incoming};
use station::machine::Config;
use station::protocol::{Body, Direction, Message, Provisioning, ReplayWindow, Secret, parse};
use station::sim::{Keys, Report, SimulatedStation, StationSpec};
use tokio::sync::mpsc;
use tokio::time::timeout;

const SERVER: &str = "+41790000001";
const STATION: &str = "+41790000101";

fn secret() -> Secret {
    Secret::from_bytes([9; 32])
}

fn spec(nv_file: Option<std::path::PathBuf>) -> StationSpec {
    StationSpec {
        config: Config {
            provisioning: Provisioning { station: 1, server_number: SERVER.into(), secret: secret() },
            max_amount: 50_000,
            firmware: "sim-1".into(),
        },
        number: STATION.into(),
        nv_file,
    }
}

/// The server's side of the protocol over a real link.
struct Server {
    link: Handle,
    events: mpsc::Receiver<Event>,
    sent: u32,
    window: ReplayWindow,
}

impl Server {
    async fn start(network: &Network, dir: &std::path::Path) -> (Self, Port) {
        let port = Port::plug(network.add_modem(SERVER, None), dir.join("ttyUSB0")).unwrap();
        let config = LinkConfig { health_every: Duration::from_secs(3600), ..LinkConfig::default() };
        let (link, mut events, _task) =
            link::spawn(SerialDevice { path: port.path().to_owned(), baud: 115_200 }, config);
        loop {
            if let Event::Up(_) = timeout(Duration::from_secs(10), events.recv()).await.unwrap().unwrap() {
                break;
            }
        }
        (Self { link, events, sent: 0, window: ReplayWindow::default() }, port)
    }

    fn sign(&mut self, body: Body) -> String {
        self.sent += 1;
        Message { station: 1, counter: self.sent, body }.encode(&secret())
    }

    async fn send_text(&self, text: &str) {
        let submit = Submit {
            reference: 0,
            destination: Address::parse(STATION).unwrap(),
            reject_duplicates: false,
            status_report_request: true,
            validity: None,
            user_data: UserData::text(text),
        };
        self.link.send(&submit).await.unwrap();
    }

    /// The next verified station message other than a heartbeat (a station sends one when it boots);
    /// unverifiable ones fail the test.
    async fn receive(&mut self) -> Body {
        loop {
            let event = timeout(Duration::from_secs(10), self.events.recv())
                .await
                .expect("a message in time")
                .unwrap();
            let Event::Incoming { index, pdu } = event else { continue };
            let Incoming::Deliver(deliver) = decode_incoming(&pdu).unwrap().message else { continue };
            if let Some(index) = index {
                self.link.delete(index).await.unwrap();
            }
            let message =
                parse(&deliver.user_data.text).unwrap().verify(&secret(), Direction::ToServer).unwrap();
            self.window.accept(message.counter).unwrap();
            if !matches!(message.body, Body::Heartbeat { .. }) {
                return message.body;
            }
        }
    }

    /// Nothing but status reports for a while.
    async fn silence(&mut self) {
        let quiet = tokio::time::Instant::now() + Duration::from_millis(700);
        while let Ok(Some(event)) = tokio::time::timeout_at(quiet, self.events.recv()).await {
            if let Event::Incoming { pdu, .. } = event
                && let Incoming::Deliver(d) = decode_incoming(&pdu).unwrap().message
            {
                panic!("the station answered {}", d.user_data.text);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_top_up_travels_to_the_station_and_comes_back_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    let network = Network::new(11);
    let (mut server, _port) = Server::start(&network, dir.path()).await;
    let station = SimulatedStation::start(&network, spec(None), Keys::default()).await.unwrap();
    let mut reports = station.subscribe();

    let top_up = server.sign(Body::TopUp { tx: 226, key: 34586, amount: 1000 });
    server.send_text(&top_up).await;
    assert_eq!(server.receive().await, Body::Received { tx: 226 });

    station.present_key(34586).await;
    assert_eq!(server.receive().await, Body::Reloaded { tx: 226, key: 34586, amount: 1000, balance: 1000 });
    assert_eq!(station.keys().read(34586).balance, 1000);
    assert_eq!(station.screen().lines()[1], "N° de clé 34586");
    assert_eq!(station.nv().logger.records().len(), 1);

    // A replay of the genuine top-up, an altered copy, a forgery and a station message reflected back.
    let altered = top_up.replace("amt=1000", "amt=9000");
    let forged = Message { station: 1, counter: 99, body: Body::TopUp { tx: 227, key: 34586, amount: 5000 } }
        .encode(&Secret::from_bytes([1; 32]));
    let reflected = Message { station: 1, counter: 50, body: Body::Received { tx: 226 } }.encode(&secret());
    for text in [&top_up, &altered, &forged, &reflected] {
        network.inject("+41795550000", STATION, text).unwrap();
    }
    server.silence().await;
    let mut rejected = 0;
    while let Ok(report) = reports.try_recv() {
        if let Report::Event(station::machine::Event::Rejected { .. }) = report {
            rejected += 1;
        }
    }
    assert_eq!(rejected, 4);
    station.present_key(34586).await;
    assert_eq!(station.keys().read(34586).balance, 1000, "nothing more was loaded");
    assert_eq!(station.nv().rejected, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_power_cut_keeps_what_the_station_confirmed() {
    let dir = tempfile::tempdir().unwrap();
    let network = Network::new(12);
    let (mut server, _port) = Server::start(&network, dir.path()).await;
    let keys = Keys::in_file(dir.path().join("keys.json")).unwrap();
    let mut station =
        SimulatedStation::start(&network, spec(Some(dir.path().join("nv.json"))), keys).await.unwrap();

    let top_up = server.sign(Body::TopUp { tx: 5, key: 7, amount: 2500 });
    server.send_text(&top_up).await;
    assert_eq!(server.receive().await, Body::Received { tx: 5 });

    station.power_cut().await.unwrap();
    // The retransmission after the cut is acknowledged again, not stored twice.
    let again = server.sign(Body::TopUp { tx: 5, key: 7, amount: 2500 });
    server.send_text(&again).await;
    assert_eq!(server.receive().await, Body::Received { tx: 5 });
    station.present_key(7).await;
    assert_eq!(server.receive().await, Body::Reloaded { tx: 5, key: 7, amount: 2500, balance: 2500 });

    // Restarted from its file by a new process: the load is remembered.
    drop(station);
    let keys = Keys::in_file(dir.path().join("keys.json")).unwrap();
    assert_eq!(keys.read(7).balance, 2500);
    let station = SimulatedStation::start(&Network::new(0), spec(Some(dir.path().join("nv.json"))), keys)
        .await
        .unwrap();
    assert_eq!(station.nv().logger.records().len(), 1);
    station.present_key(7).await;
    assert_eq!(station.keys().read(7).balance, 2500);
}
