use super::*;
use crate::Language;

const NOW: Timestamp = Timestamp(1_800_000_000_000);

fn ago(ms: i64) -> Timestamp {
    NOW.plus_millis(-ms)
}

fn station(id: i64) -> StationFacts {
    StationFacts {
        id: StationId(id),
        gerance: GeranceId(1),
        name: format!("Station {id}"),
        created_at: ago(30 * DAY),
        heard_at: Some(ago(HOUR)),
        signal_dbm: Some(-70),
        sim_credit: Some(2_000),
        asked_at: None,
        weak_since: None,
        reported_silent: false,
    }
}

fn facts() -> Facts {
    Facts { now: NOW, ..Facts::default() }
}

fn kinds(e: &Evaluation) -> Vec<Kind> {
    e.raised.iter().map(|r| r.condition.kind()).collect()
}

#[test]
fn a_healthy_system_raises_nothing() {
    let mut f = facts();
    f.modem = Some(ModemFacts {
        connected: true,
        since: Some(ago(DAY)),
        error: None,
        credit_answer: Some("Votre crédit est de CHF 12.50".into()),
    });
    f.outbox = Some((ago(MINUTE), 1));
    f.stations = vec![station(1), station(2)];
    assert_eq!(evaluate(&f), Evaluation::default());
}

#[test]
fn the_modem_credit_below_the_threshold_or_unreadable() {
    let mut f = facts();
    f.modem = Some(ModemFacts {
        connected: true,
        since: None,
        error: None,
        credit_answer: Some("Ihr Guthaben beträgt 4.95 CHF".into()),
    });
    let e = evaluate(&f);
    assert_eq!(
        e.raised,
        vec![Raised { gerance: None, condition: Condition::ModemCredit { credit: 495, threshold: 500 } }]
    );
    f.modem.as_mut().unwrap().credit_answer = Some("Service indisponible".into());
    assert_eq!(kinds(&evaluate(&f)), vec![Kind::ModemCreditUnread]);
    f.modem.as_mut().unwrap().credit_answer = Some("Votre crédit est de CHF 5.00".into());
    assert!(evaluate(&f).raised.is_empty(), "at the threshold is not below it");
}

#[test]
fn the_modem_down_only_after_its_threshold() {
    let mut f = facts();
    f.modem =
        Some(ModemFacts { connected: false, since: Some(ago(4 * MINUTE)), error: None, credit_answer: None });
    assert!(evaluate(&f).raised.is_empty());
    f.modem.as_mut().unwrap().since = Some(ago(6 * MINUTE));
    assert_eq!(kinds(&evaluate(&f)), vec![Kind::ModemDown]);
}

#[test]
fn the_outbox_waiting_too_long() {
    let mut f = facts();
    f.outbox = Some((ago(16 * MINUTE), 3));
    assert_eq!(
        evaluate(&f).raised[0].condition,
        Condition::OutboxStale { oldest: ago(16 * MINUTE), waiting: 3 }
    );
}

#[test]
fn a_silent_station_is_asked_first_and_reported_only_after_the_grace() {
    let mut f = facts();
    let mut s = station(7);
    s.heard_at = Some(ago(26 * HOUR));
    f.stations = vec![s.clone()];
    // Past the threshold, never asked: ask, do not report yet.
    let e = evaluate(&f);
    assert_eq!((e.ask.clone(), e.raised.len()), (vec![StationId(7)], 0));
    // Asked five minutes ago: wait.
    s.asked_at = Some(ago(5 * MINUTE));
    f.stations = vec![s.clone()];
    let e = evaluate(&f);
    assert!(e.ask.is_empty() && e.raised.is_empty(), "{e:?}");
    // Asked, and no answer within the grace: report, without asking again.
    s.asked_at = Some(ago(11 * MINUTE));
    f.stations = vec![s.clone()];
    let e = evaluate(&f);
    assert!(e.ask.is_empty());
    assert_eq!(kinds(&e), vec![Kind::StationSilent]);
    // A question older than its last message does not count: ask again.
    s.asked_at = Some(ago(30 * HOUR));
    f.stations = vec![s.clone()];
    let e = evaluate(&f);
    assert_eq!((e.ask, e.raised.len()), (vec![StationId(7)], 0));
    // Still silent six hours after the question: asked again, and still reported meanwhile.
    s.heard_at = Some(ago(40 * HOUR));
    s.asked_at = Some(ago(7 * HOUR));
    s.reported_silent = true;
    f.stations = vec![s.clone()];
    let e = evaluate(&f);
    assert_eq!((e.ask.clone(), kinds(&e)), (vec![StationId(7)], vec![Kind::StationSilent]));
    s.asked_at = Some(ago(MINUTE));
    f.stations = vec![s];
    assert_eq!(kinds(&evaluate(&f)), vec![Kind::StationSilent], "a fresh question does not clear it");
}

#[test]
fn a_station_never_heard_counts_from_its_creation() {
    let mut f = facts();
    let mut s = station(3);
    s.heard_at = None;
    s.created_at = ago(HOUR);
    f.stations = vec![s.clone()];
    assert!(evaluate(&f).ask.is_empty());
    s.created_at = ago(30 * HOUR);
    s.asked_at = Some(ago(HOUR));
    f.stations = vec![s];
    assert_eq!(
        evaluate(&f).raised[0].condition,
        Condition::StationSilent { station: StationId(3), name: "Station 3".into(), heard: None }
    );
}

#[test]
fn station_thresholds_are_the_gerances_own() {
    let mut f = facts();
    let mut s = station(1);
    s.sim_credit = Some(900);
    f.stations = vec![s];
    assert!(evaluate(&f).raised.is_empty(), "above the default 5.00");
    f.thresholds =
        vec![(GeranceId(1), GeranceThresholds { station_credit: 1_000, ..GeranceThresholds::default() })];
    assert_eq!(evaluate(&f).raised[0].gerance, Some(GeranceId(1)));
    f.thresholds =
        vec![(GeranceId(2), GeranceThresholds { station_credit: 1_000, ..GeranceThresholds::default() })];
    assert!(evaluate(&f).raised.is_empty(), "another gérance's thresholds do not apply");
}

#[test]
fn a_weak_signal_is_watched_and_reported_after_a_day() {
    let mut f = facts();
    let mut s = station(4);
    s.signal_dbm = Some(-109);
    f.stations = vec![s.clone()];
    let e = evaluate(&f);
    assert_eq!((e.weak.clone(), e.raised.len()), (vec![StationId(4)], 0));
    s.weak_since = Some(ago(23 * HOUR));
    f.stations = vec![s.clone()];
    assert!(evaluate(&f).raised.is_empty());
    s.weak_since = Some(ago(DAY));
    f.stations = vec![s.clone()];
    assert_eq!(kinds(&evaluate(&f)), vec![Kind::StationSignal]);
    s.signal_dbm = Some(-90);
    f.stations = vec![s];
    let e = evaluate(&f);
    assert!(e.weak.is_empty() && e.raised.is_empty());
}

#[test]
fn top_ups_cancellations_and_payments() {
    let mut f = facts();
    f.failed = vec![FailedTopUp {
        tx: TxId(5),
        gerance: GeranceId(2),
        station: StationId(9),
        name: "Sion".into(),
        key: KeyNumber(42),
        amount: Amount::from_rappen(2_000).unwrap(),
        reason: Some(Reason::NoAnswer),
    }];
    let cancelling = |since| Cancelling {
        tx: TxId(6),
        gerance: GeranceId(2),
        station: StationId(9),
        name: "Sion".into(),
        key: KeyNumber(42),
        since,
    };
    f.cancelling = vec![cancelling(ago(23 * HOUR)), Cancelling { tx: TxId(8), ..cancelling(ago(DAY + 1)) }];
    f.exceptions = vec![
        Exceptions { gerance: GeranceId(2), count: 2, oldest: ago(2 * DAY) },
        Exceptions { gerance: GeranceId(3), count: 1, oldest: ago(HOUR) },
    ];
    f.blocked = vec![BlockedPayment {
        payment: PaymentId(11),
        gerance: GeranceId(2),
        station: StationId(9),
        name: "Sion".into(),
        key: KeyNumber(42),
        rappen: 5_000,
    }];
    let e = evaluate(&f);
    assert_eq!(
        kinds(&e),
        vec![Kind::TopUpFailed, Kind::CancelUnconfirmed, Kind::PaymentsWaiting, Kind::BlockedKeyPayment]
    );
    let subjects: Vec<String> = e.raised.iter().map(Raised::subject).collect();
    assert_eq!(subjects, ["t5", "t8", "g2", "p11"]);
    assert!(e.raised.iter().all(|r| r.gerance == Some(GeranceId(2))));
}

#[test]
fn thresholds_that_make_no_sense_are_refused() {
    assert_eq!(parse_credit_threshold("5.00"), Ok(500));
    assert_eq!(parse_credit_threshold(" CHF 5,5 "), Ok(550));
    assert_eq!(parse_credit_threshold("0"), Ok(0));
    assert_eq!(parse_credit_threshold("500"), Ok(50_000));
    for bad in ["-5", "500.01", "1e3", "", "5.001", "abc", "99999999999"] {
        assert_eq!(parse_credit_threshold(bad), Err(ThresholdError::Credit), "{bad}");
    }
    assert_eq!(check_signal_threshold(-120), Err(ThresholdError::Signal));
    assert_eq!(check_signal_threshold(-100), Ok(-100));
    let t = GeranceThresholds { silent_ms: 31 * DAY, ..GeranceThresholds::default() };
    assert_eq!(t.check(), Err(ThresholdError::Duration(DurationBounds::Long)));
    let s = ServerThresholds { modem_down_ms: -1, ..ServerThresholds::default() };
    assert_eq!(s.check(), Err(ThresholdError::Duration(DurationBounds::Short)));
    assert!(ServerThresholds::default().check().is_ok() && GeranceThresholds::default().check().is_ok());
    assert_eq!(
        ThresholdError::Duration(DurationBounds::Short).to_string(),
        "a duration must be from 1 to 1440 minutes"
    );
}

#[test]
fn every_condition_reads_in_every_language() {
    let conditions = [
        Condition::ModemCredit { credit: -120, threshold: 500 },
        Condition::ModemCreditUnread { answer: "Code inconnu".into() },
        Condition::ModemDown { since: NOW, error: Some("no such device".into()) },
        Condition::OutboxStale { oldest: NOW, waiting: 4 },
        Condition::StationCredit { station: StationId(1), name: "Sion".into(), credit: 300, threshold: 500 },
        Condition::StationSilent { station: StationId(1), name: "Sion".into(), heard: None },
        Condition::StationSignal {
            station: StationId(1),
            name: "Sion".into(),
            dbm: -109,
            threshold: -105,
            since: NOW,
        },
        Condition::TopUpFailed {
            tx: TxId(3),
            station: StationId(1),
            name: "Sion".into(),
            key: KeyNumber(7),
            amount: Amount::from_rappen(1_000).unwrap(),
            reason: Some(Reason::StationFull),
        },
        Condition::CancelUnconfirmed {
            tx: TxId(3),
            station: StationId(1),
            name: "Sion".into(),
            key: KeyNumber(7),
            since: NOW,
        },
        Condition::PaymentsWaiting { count: 2, oldest: NOW },
        Condition::BlockedKeyPayment {
            payment: PaymentId(4),
            station: StationId(1),
            name: "Sion".into(),
            key: KeyNumber(7),
            rappen: 2_500,
        },
    ];
    for c in &conditions {
        let mut seen = std::collections::HashSet::new();
        for l in Language::ALL {
            let (t, d) = (words::title(c, l), words::detail(c, l));
            assert!(!t.is_empty() && !d.is_empty(), "{c:?} {l}");
            assert!(seen.insert(t.clone()), "{c:?}: the same title in two languages: {t}");
        }
        assert!(c.page().starts_with('/'));
        // Stored as JSON and read back the same.
        let json = serde_json::to_string(c).unwrap();
        assert_eq!(&serde_json::from_str::<Condition>(&json).unwrap(), c);
        assert!(json.contains(&format!("\"kind\":\"{}\"", c.kind())), "{json}");
    }
    assert_eq!(words::title(&conditions[0], Language::En), "Modem SIM credit low: CHF -1.20");
    assert_eq!(
        words::title(&conditions[7], Language::Fr),
        "Recharge N° 3 échouée : clé 00007, 10.00 CHF, Sion"
    );
}
