use proptest::prelude::*;

use super::*;

fn secret() -> Secret {
    Secret::from_bytes(std::array::from_fn(|i| i as u8))
}

fn every_kind() -> Vec<Body> {
    vec![
        Body::TopUp { tx: 226, key: 34586, amount: 1000 },
        Body::Cancel { tx: 226 },
        Body::Status,
        Body::Received { tx: 226 },
        Body::Reloaded { tx: u64::MAX, key: u16::MAX, amount: u32::MAX, balance: u32::MAX },
        Body::Refused { tx: 7, reason: Reason::Limit },
        Body::Cancelled { tx: 0 },
        Body::Heartbeat { pending: 3, signal: Some(-71), credit: None, firmware: "1.0.0".into() },
        Body::Heartbeat { pending: 0, signal: None, credit: Some(420), firmware: "sim-1".into() },
        Body::Heartbeat {
            pending: u32::MAX,
            signal: Some(i16::MIN),
            credit: Some(u32::MAX),
            firmware: "a".repeat(16),
        },
    ]
}

#[test]
fn every_message_round_trips_and_fits_one_sms() {
    for body in every_kind() {
        let message = Message { station: u32::MAX, counter: u32::MAX, body };
        let text = message.encode(&secret());
        assert!(text.len() <= MAX_LEN, "{text} is {} characters", text.len());
        assert!(text.bytes().all(|b| (b' '..=b'~').contains(&b)), "{text}");
        let direction = message.body.direction();
        assert_eq!(parse(&text).unwrap().verify(&secret(), direction).unwrap(), message);
    }
}

#[test]
fn another_secret_does_not_verify() {
    let text = Message { station: 1, counter: 1, body: Body::Status }.encode(&secret());
    let other = Secret::from_bytes([7; 32]);
    assert_eq!(parse(&text).unwrap().verify(&other, Direction::ToStation), Err(ProtocolError::Mac));
}

#[test]
fn every_altered_character_is_detected() {
    let text = Message { station: 17, counter: 42, body: Body::TopUp { tx: 226, key: 34586, amount: 1000 } }
        .encode(&secret());
    for i in 0..text.len() {
        for replacement in ['0', '1', '9', 'a', 'f', 'Z', ' ', '='] {
            let mut altered = text.clone().into_bytes();
            if altered[i] == replacement as u8 {
                continue;
            }
            altered[i] = replacement as u8;
            let altered = String::from_utf8(altered).unwrap();
            let verdict = parse(&altered).and_then(|u| u.verify(&secret(), Direction::ToStation));
            assert!(verdict.is_err(), "{altered} was accepted");
        }
    }
}

#[test]
fn a_station_message_reflected_to_a_station_is_refused() {
    let text = Message { station: 17, counter: 5, body: Body::Received { tx: 226 } }.encode(&secret());
    assert_eq!(parse(&text).unwrap().verify(&secret(), Direction::ToStation), Err(ProtocolError::Direction));
}

#[test]
fn a_tag_made_with_the_other_direction_label_does_not_verify() {
    // An attacker who could make a station sign "TOPUP" text with its own label gets nothing.
    let message = Message { station: 17, counter: 5, body: Body::TopUp { tx: 1, key: 1, amount: 1 } };
    let wrong = tag(&secret(), Direction::ToServer, &message.signed_text());
    let text = format!("{} m={}", message.signed_text(), encode_hex(&wrong));
    assert_eq!(parse(&text).unwrap().verify(&secret(), Direction::ToStation), Err(ProtocolError::Mac));
}

#[test]
fn non_canonical_spellings_are_refused() {
    let good = Message { station: 17, counter: 42, body: Body::TopUp { tx: 226, key: 34586, amount: 1000 } }
        .encode(&secret());
    let (signed, tag) = good.rsplit_once(" m=").unwrap();
    for bad in [
        signed.replace("key=34586", "key=034586"),
        signed.replace("tx=226", "tx=+226"),
        signed.replace(" s=17", "  s=17"),
        signed.replace("RC1", "rc1"),
        signed.replace("key=34586", "key=65536"),
        format!("{signed} x=1"),
    ] {
        assert!(parse(&format!("{bad} m={tag}")).is_err(), "{bad}");
    }
    assert!(parse(&format!("{signed} m={}", tag.to_uppercase())).is_err());
    assert!(parse(&format!("{signed} m={}", &tag[..30])).is_err());
}

#[test]
fn the_replay_window_accepts_each_counter_once_in_any_order() {
    let mut w = ReplayWindow::default();
    assert_eq!(w.accept(0), Err(ProtocolError::Replay));
    for n in [5, 3, 4, 10, 1, 2] {
        w.accept(n).unwrap();
    }
    for n in [5, 3, 4, 10, 1, 2] {
        assert_eq!(w.accept(n), Err(ProtocolError::Replay), "{n}");
    }
    w.accept(6).unwrap();
    w.accept(200).unwrap();
    assert_eq!(w.accept(200 - REPLAY_WINDOW), Err(ProtocolError::Replay), "too old");
    w.accept(200 - REPLAY_WINDOW + 1).unwrap();
    w.accept(u32::MAX).unwrap();
    assert_eq!(w.accept(u32::MAX), Err(ProtocolError::Replay));
}

#[test]
fn provisioning_strings_round_trip_and_reject_garbage() {
    let p = Provisioning { station: 17, server_number: "+41791234567".into(), secret: secret() };
    let s = p.encode();
    assert_eq!(Provisioning::parse(&s).unwrap(), p);
    for bad in [
        s.replace("+41", "041"),
        s.replace(":17:", ":x:"),
        format!("{s}:extra"),
        s[..s.len() - 1].to_owned(),
        s.replace("RC1-PROV", "RC2-PROV"),
    ] {
        assert!(Provisioning::parse(&bad).is_err(), "{bad}");
    }
    assert!(!format!("{p:?}").contains(&secret().to_hex()), "Debug must not show the secret");
}

proptest! {
    #[test]
    fn parsing_never_panics(text in ".{0,200}") {
        let _ = parse(&text);
    }

    #[test]
    fn parsing_printable_garbage_near_the_grammar_never_panics(
        text in "RC1 (TOPUP|CANCEL|STATUS|RECEIVED|RELOADED|REFUSED|CANCELLED|HEARTBEAT)( [a-z]{1,7}=[-0-9a-z.]{0,12}){0,6} m=[0-9a-f]{0,40}"
    ) {
        let _ = parse(&text).map(|u| u.verify(&secret(), Direction::ToServer));
    }

    #[test]
    fn top_ups_round_trip(station: u32, counter: u32, tx: u64, key: u16, amount: u32) {
        let message = Message { station, counter, body: Body::TopUp { tx, key, amount } };
        let text = message.encode(&secret());
        prop_assert!(text.len() <= MAX_LEN);
        prop_assert_eq!(parse(&text).unwrap().verify(&secret(), Direction::ToStation).unwrap(), message);
    }

    #[test]
    fn the_window_never_accepts_a_counter_twice(counters in proptest::collection::vec(1u32..300, 0..200)) {
        let mut w = ReplayWindow::default();
        let mut accepted = std::collections::HashSet::new();
        for n in counters {
            if w.accept(n).is_ok() {
                prop_assert!(accepted.insert(n), "{} accepted twice", n);
            }
        }
    }
}
