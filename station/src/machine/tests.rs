use super::*;
use crate::protocol::{Secret, parse};

const STATION: u32 = 17;

fn secret() -> Secret {
    Secret::from_bytes([42; 32])
}

fn station() -> Station {
    let provisioning =
        Provisioning { station: STATION, server_number: "+41790000000".into(), secret: secret() };
    Station::new(Config { provisioning, max_amount: 50_000, firmware: "sim-1".into() }, Nv::default())
}

/// The server's side: signs messages to the station and verifies its answers.
struct Server {
    sent: u32,
    window: ReplayWindow,
}

impl Server {
    fn new() -> Self {
        Self { sent: 0, window: ReplayWindow::default() }
    }

    fn sign(&mut self, body: Body) -> String {
        self.sent += 1;
        Message { station: STATION, counter: self.sent, body }.encode(&secret())
    }

    fn read(&mut self, texts: &[String]) -> Vec<Body> {
        texts
            .iter()
            .map(|t| {
                let m = parse(t).unwrap().verify(&secret(), Direction::ToServer).unwrap();
                self.window.accept(m.counter).unwrap();
                m.body
            })
            .collect()
    }
}

fn top_up(tx: u64, key: u16, amount: u32) -> Body {
    Body::TopUp { tx, key, amount }
}

/// Presents the key and, when the station asks, writes it, like the shell does.
fn present(st: &mut Station, key: &mut KeyMemory, number: u16, now: u64) -> Vec<String> {
    let fx = st.present_key(number, *key, now);
    let mut sms = fx.sms;
    if let Some(write) = fx.write_key {
        *key = write;
        sms.extend(st.key_written(number, now).sms);
    }
    sms
}

#[test]
fn a_top_up_is_confirmed_then_loaded_when_the_key_is_presented() {
    let (mut st, mut server) = (station(), Server::new());
    let fx = st.receive_sms("+41790000000", &server.sign(top_up(226, 34586, 1000)), 0);
    assert!(fx.save);
    assert_eq!(server.read(&fx.sms), vec![Body::Received { tx: 226 }]);

    let mut key = KeyMemory { balance: 4000, stamp: 0 };
    let sms = present(&mut st, &mut key, 34586, 1_000);
    assert_eq!(key.balance, 5000);
    assert_eq!(server.read(&sms), vec![Body::Reloaded { tx: 226, key: 34586, amount: 1000, balance: 5000 }]);
    let lines = |now| st.screen(now).lines().clone();
    assert_eq!(lines(1_000), ["ORION SYSTEM", "N° de clé 34586", "SOLDE SUR LA CLE", "** Fr. 40.00 **"]);
    assert_eq!(lines(6_000)[3], "+ Fr. 10.00");
    assert_eq!(lines(11_000), ["ORION SYSTEM", "N° de clé 34586", "SOLDE SUR LA CLE", "** Fr. 50.00 **"]);
    assert_eq!(lines(16_000), Screen::idle().0);
    let records = st.nv().logger.records();
    assert_eq!(records.len(), 1);
    assert_eq!(
        (records[0].tx, records[0].key, records[0].amount, records[0].balance),
        (226, 34586, 1000, 5000)
    );

    // Presented again: nothing more to load.
    assert!(present(&mut st, &mut key, 34586, 30_000).is_empty());
    assert_eq!(key.balance, 5000);
}

#[test]
fn a_retransmitted_top_up_is_acknowledged_again_but_loaded_once() {
    let (mut st, mut server) = (station(), Server::new());
    for _ in 0..3 {
        let fx = st.receive_sms("+41790000000", &server.sign(top_up(1, 7, 500)), 0);
        assert_eq!(server.read(&fx.sms), vec![Body::Received { tx: 1 }]);
    }
    let mut key = KeyMemory::default();
    present(&mut st, &mut key, 7, 0);
    assert_eq!(key.balance, 500);
    let fx = st.receive_sms("+41790000000", &server.sign(top_up(1, 7, 500)), 0);
    assert_eq!(server.read(&fx.sms), vec![Body::Reloaded { tx: 1, key: 7, amount: 500, balance: 500 }]);
    present(&mut st, &mut key, 7, 20_000);
    assert_eq!(key.balance, 500);
}

#[test]
fn replayed_forged_and_altered_messages_change_nothing_and_get_no_answer() {
    let (mut st, mut server) = (station(), Server::new());
    let genuine = server.sign(top_up(5, 9, 100));
    st.receive_sms("+41790000000", &genuine, 0);
    let before = st.nv().clone();

    let forged = Message { station: STATION, counter: 99, body: top_up(6, 9, 10_000) }
        .encode(&Secret::from_bytes([1; 32]));
    let altered = genuine.replace("amt=100", "amt=900");
    let other_station = Message { station: 18, counter: 50, body: top_up(7, 9, 100) }.encode(&secret());
    for text in [genuine.as_str(), &forged, &altered, &other_station, "hello", ""] {
        let fx = st.receive_sms("+41791111111", text, 0);
        assert!(fx.sms.is_empty(), "answered {text}");
        assert!(matches!(fx.events.as_slice(), [Event::Rejected { .. }]), "{text}: {:?}", fx.events);
    }
    assert_eq!(st.nv().pending, before.pending);
    assert_eq!(st.nv().rejected, 6);
}

#[test]
fn late_and_out_of_order_messages_are_accepted_once() {
    let (mut st, mut server) = (station(), Server::new());
    let first = server.sign(top_up(1, 1, 100));
    let second = server.sign(top_up(2, 1, 200));
    assert_eq!(server.read(&st.receive_sms("", &second, 0).sms), vec![Body::Received { tx: 2 }]);
    assert_eq!(server.read(&st.receive_sms("", &first, 0).sms), vec![Body::Received { tx: 1 }]);
    assert!(st.receive_sms("", &first, 0).sms.is_empty(), "a replay is silent");
    let mut key = KeyMemory::default();
    let bodies = server.read(&present(&mut st, &mut key, 1, 0));
    assert_eq!(
        bodies,
        vec![
            Body::Reloaded { tx: 1, key: 1, amount: 100, balance: 100 },
            Body::Reloaded { tx: 2, key: 1, amount: 200, balance: 300 }
        ]
    );
}

#[test]
fn cancel_before_loading_wins_and_a_late_top_up_is_refused() {
    let (mut st, mut server) = (station(), Server::new());
    let late = server.sign(top_up(3, 4, 700));
    assert_eq!(
        {
            let t = server.sign(Body::Cancel { tx: 3 });
            server.read(&st.receive_sms("", &t, 0).sms)
        },
        vec![Body::Cancelled { tx: 3 }]
    );
    assert_eq!(
        server.read(&st.receive_sms("", &late, 0).sms),
        vec![Body::Cancelled { tx: 3 }],
        "a top-up arriving after its cancellation is never stored"
    );
    let mut key = KeyMemory::default();
    present(&mut st, &mut key, 4, 0);
    assert_eq!(key.balance, 0);

    // Cancelling what is already loaded reports the load.
    st.receive_sms("", &server.sign(top_up(8, 4, 100)), 0);
    present(&mut st, &mut key, 4, 20_000);
    assert_eq!(
        {
            let t = server.sign(Body::Cancel { tx: 8 });
            server.read(&st.receive_sms("", &t, 0).sms)
        },
        vec![Body::Reloaded { tx: 8, key: 4, amount: 100, balance: 100 }]
    );
}

#[test]
fn amounts_outside_the_limits_are_refused_for_good() {
    let (mut st, mut server) = (station(), Server::new());
    let fx = st.receive_sms("", &server.sign(top_up(1, 1, 50_001)), 0);
    assert_eq!(server.read(&fx.sms), vec![Body::Refused { tx: 1, reason: Reason::Limit }]);
    let fx = st.receive_sms("", &server.sign(top_up(2, 1, 0)), 0);
    assert_eq!(server.read(&fx.sms), vec![Body::Refused { tx: 2, reason: Reason::Amount }]);
    let fx = st.receive_sms("", &server.sign(top_up(1, 1, 50_001)), 0);
    assert_eq!(server.read(&fx.sms), vec![Body::Refused { tx: 1, reason: Reason::Limit }]);
    assert!(st.nv().pending.is_empty());
}

#[test]
fn a_power_cut_during_a_load_neither_loses_nor_doubles_it() {
    let (mut st, mut server) = (station(), Server::new());
    st.receive_sms("", &server.sign(top_up(1, 2, 1000)), 0);

    // Cut after the intent was saved, before the key was written: the next presentation loads it.
    let mut key = KeyMemory { balance: 300, stamp: 0 };
    let fx = st.present_key(2, key, 0);
    assert!(fx.save && fx.write_key.is_some());
    let mut rebooted = Station::new(st.config().clone(), st.nv().clone());
    let sms = present(&mut rebooted, &mut key, 2, 10_000);
    assert_eq!(key.balance, 1300);
    assert_eq!(server.read(&sms), vec![Body::Reloaded { tx: 1, key: 2, amount: 1000, balance: 1300 }]);

    // Cut after the key was written, before the station knew: the next presentation finishes it.
    rebooted.receive_sms("", &server.sign(top_up(2, 2, 500)), 0);
    let fx = rebooted.present_key(2, key, 20_000);
    key = fx.write_key.unwrap();
    let mut again = Station::new(rebooted.config().clone(), rebooted.nv().clone());
    let sms = present(&mut again, &mut key, 2, 40_000);
    assert_eq!(key.balance, 1800, "loaded exactly once");
    assert_eq!(server.read(&sms), vec![Body::Reloaded { tx: 2, key: 2, amount: 500, balance: 1800 }]);
    assert_eq!(again.nv().logger.records().len(), 2);
    assert!(present(&mut again, &mut key, 2, 60_000).is_empty());
    assert_eq!(key.balance, 1800);
}

#[test]
fn status_and_the_daily_heartbeat_report_pending_signal_credit_and_firmware() {
    let (mut st, mut server) = (station(), Server::new());
    st.set_health(Health { signal_dbm: Some(-75), credit_rappen: Some(1250) });
    st.receive_sms("", &server.sign(top_up(1, 2, 1000)), 0);
    let expected =
        Body::Heartbeat { pending: 1, signal: Some(-75), credit: Some(1250), firmware: "sim-1".into() };
    assert_eq!(
        {
            let t = server.sign(Body::Status);
            server.read(&st.receive_sms("", &t, 0).sms)
        },
        vec![expected.clone()]
    );
    assert_eq!(server.read(&st.tick(HEARTBEAT_MS).sms), vec![expected]);
    assert!(st.tick(HEARTBEAT_MS + 1000).sms.is_empty());
}
