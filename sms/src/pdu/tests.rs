//! Published and independently produced vectors, and properties over arbitrary input.

use proptest::prelude::*;

use super::*;

fn hex(s: &str) -> Vec<u8> {
    from_hex(s).unwrap()
}

/// The SMS-SUBMIT of every PDU tutorial: "hellohello" to +46708251358, relative validity 0xAA (4 days).
const HELLO_SUBMIT: &str = "0011000B916407281553F80000AA0AE8329BFD4697D9EC37";

/// The matching SMS-DELIVER: from 27838890001 via centre +27381000015, 1999-03-29 15:16:59 UTC+2.
const HELLO_DELIVER: &str = "07917283010010F5040BC87238880900F10000993092516195800AE8329BFD4697D9EC37";

/// A 3-part UCS2 message as python-gsmmodem-new 0.13 `encodeSmsSubmitPdu` produces it (status report
/// requested, 8-bit reference 0), to +41791234567.
const THREE_PART_UCS2: [&str; 3] = [
    "0061000B911497214365F700088C05000300030100520065006300680061007200670065003A0020006C006100200063006C00E90020003300340035003800360020006100200072006500E70075002000350030002E003000300020004300480046002020140020005300630068006C00FC007300730065006C002000610075006600670065006C006100640065006E00202713002E00200052",
    "0061000B911497214365F700088C0500030003020065006300680061007200670065003A0020006C006100200063006C00E90020003300340035003800360020006100200072006500E70075002000350030002E003000300020004300480046002020140020005300630068006C00FC007300730065006C002000610075006600670065006C006100640065006E00202713002E002000520065",
    "0061000B911497214365F7000862050003000303006300680061007200670065003A0020006C006100200063006C00E90020003300340035003800360020006100200072006500E70075002000350030002E003000300020004300480046002020140020005300630068006C00FC0073",
];
const THREE_PART_TEXT: &str = "Recharge: la clé 34586 a reçu 50.00 CHF — Schlüssel aufgeladen ✓. Recharge: la clé 34586 a reçu 50.00 CHF — Schlüssel aufgeladen ✓. Recharge: la clé 34586 a reçu 50.00 CHF — Schlüs";

#[test]
fn the_reference_submit_encodes_byte_for_byte() {
    let submit = Submit {
        reference: 0,
        destination: Address::parse("+46708251358").unwrap(),
        reject_duplicates: false,
        status_report_request: false,
        validity: Some(ValidityPeriod(0xAA)),
        user_data: UserData::text("hellohello"),
    };
    let (bytes, tpdu_len) = submit.encode().unwrap();
    assert_eq!(to_hex(&bytes), HELLO_SUBMIT);
    assert_eq!(tpdu_len, 23);
    assert_eq!(Submit::decode(&bytes).unwrap().message, submit);
    assert_eq!(ValidityPeriod(0xAA).minutes(), 4 * 24 * 60);
}

#[test]
fn the_reference_deliver_decodes() {
    let pdu = decode_incoming(&hex(HELLO_DELIVER)).unwrap();
    assert_eq!(pdu.service_centre.unwrap().to_string(), "+27381000015");
    let Incoming::Deliver(d) = pdu.message else { panic!("a DELIVER") };
    assert_eq!(d.originator.value, "27838890001");
    assert_eq!(d.user_data.text, "hellohello");
    assert_eq!(d.timestamp.unix_seconds(), 922_713_419);
    // And it encodes back to the same bytes.
    let sc = Address::parse("+27381000015").unwrap();
    let mut again = d.clone();
    again.originator.kind = AddressKind::Unknown;
    let bytes = again.encode(&sc).unwrap();
    assert_eq!(decode_incoming(&bytes).unwrap().message, Incoming::Deliver(again));
}

#[test]
fn a_three_part_ucs2_message_matches_an_independent_encoder_and_reassembles() {
    let parts = split(THREE_PART_TEXT, 0).unwrap();
    assert_eq!(parts.len(), 3);
    for (ud, expected) in parts.iter().zip(THREE_PART_UCS2) {
        let submit = Submit {
            reference: 0,
            destination: Address::parse("+41791234567").unwrap(),
            reject_duplicates: false,
            status_report_request: true,
            validity: None,
            user_data: ud.clone(),
        };
        assert_eq!(to_hex(&submit.encode().unwrap().0), expected);
    }
    let mut r = Reassembler::default();
    let mut whole = None;
    for hex_pdu in THREE_PART_UCS2.iter().rev() {
        let submit = Submit::decode(&hex(hex_pdu)).unwrap().message;
        whole = r.push("+41791234567", &submit.user_data, 0).or(whole);
    }
    assert_eq!(whole.as_deref(), Some(THREE_PART_TEXT));
}

#[test]
fn status_reports_round_trip_and_classify() {
    // Checked with python-gsmmodem-new 0.13 `decodeSmsPdu`: SMS-STATUS-REPORT, reference 0x2A,
    // +41791234567, received 2026-11-27 13:12:54 UTC+1, delivered 3 s later.
    const REPORT: &str = "07911497941902F0062A0B911497214365F7621172312145406211723121754000";
    let pdu = decode_incoming(&hex(REPORT)).unwrap();
    assert_eq!(pdu.service_centre.as_ref().unwrap().to_string(), "+41794991200");
    let Incoming::StatusReport(s) = &pdu.message else { panic!("a STATUS-REPORT") };
    assert_eq!((s.reference, s.recipient.to_string(), s.status), (0x2A, "+41791234567".into(), 0));
    assert!(s.delivered() && !s.pending() && !s.failed());
    assert_eq!(s.encode(pdu.service_centre.as_ref().unwrap()).unwrap(), hex(REPORT));
    let failed = StatusReport { status: 0x41, ..s.clone() };
    assert!(failed.failed());
}

#[test]
fn octets_a_modem_pads_after_the_user_data_are_ignored() {
    // gammu tests/at-sms/39.dump, a real device's SMS-DELIVER: 53 septets of user data, then 30 octets
    // the modem padded on.
    const PADDED: &str = "07914336120011F10404A14949000021807001253040356C76B81D268741F0B29C9C268741E4B20EB49AD16CB19BAD368BD96EA0B71B04BBBD603810284C078162315D2CE70289EBFAE1AC0CB2BFF52C10FC2D0799C3F6B71CC46687DB6550980D8AC962";
    let Incoming::Deliver(d) = decode_incoming(&hex(PADDED)).unwrap().message else { panic!("a DELIVER") };
    assert!(d.user_data.text.starts_with("llamada perdida de: "), "{}", d.user_data.text);
    assert_eq!(d.user_data.text.chars().count(), 53);
    // What the decoder still refuses: user data shorter than its length says.
    assert_eq!(decode_incoming(&hex(&PADDED[..60])).unwrap_err(), PduError::Truncated);
}

#[test]
fn a_status_report_with_an_impossible_time_zone_still_gives_its_reference_and_status() {
    // gammu tests/at-sms/36.dump, a real device's status report, with both time zone octets set to FF as
    // networks that leave the field unset write it (hi nibble 15: not a digit).
    const REPORT: &str = "07912658050000F006010D91265817373754F501010161705382010101617083820000";
    let odd = format!("{}FF{}FF{}", &REPORT[..50], &REPORT[52..64], &REPORT[66..]);
    assert_eq!(odd.len(), REPORT.len());
    for (pdu, stamped) in [(REPORT, true), (odd.as_str(), false)] {
        let Incoming::StatusReport(r) = decode_incoming(&hex(pdu)).unwrap().message else {
            panic!("a report")
        };
        assert_eq!((r.reference, r.status, r.recipient.to_string()), (1, 0, "+6285717373455".into()));
        assert_eq!((r.submitted.is_some(), r.discharged.is_some()), (stamped, stamped), "{pdu}");
    }
}

#[test]
fn seven_bit_text_after_a_header_is_aligned() {
    let parts = split(&"Zürich [5.00 CHF] ".repeat(12), 0x1234).unwrap();
    assert!(parts.len() > 1);
    for ud in &parts {
        let submit = Submit {
            reference: 9,
            destination: Address::parse("0791234567").unwrap(),
            reject_duplicates: true,
            status_report_request: true,
            validity: Some(ValidityPeriod::at_most_minutes(24 * 60)),
            user_data: ud.clone(),
        };
        let (bytes, _) = submit.encode().unwrap();
        assert_eq!(Submit::decode(&bytes).unwrap().message, submit);
    }
}

#[test]
fn malformed_pdus_are_errors() {
    assert_eq!(decode_incoming(&[]), Err(PduError::Truncated));
    assert_eq!(
        Submit::decode(&hex(&HELLO_SUBMIT[..HELLO_SUBMIT.len() - 2])).unwrap_err(),
        PduError::Truncated
    );
    assert_eq!(Submit::decode(&hex(&format!("{HELLO_SUBMIT}00"))).unwrap_err(), PduError::TrailingBytes);
    assert_eq!(decode_incoming(&hex(HELLO_SUBMIT)).unwrap_err(), PduError::UnexpectedType(1));
    assert_eq!(from_hex("0G"), Err(PduError::InvalidHex));
    assert_eq!(from_hex("123"), Err(PduError::InvalidHex));
}

#[test]
fn validity_periods_cover_their_range() {
    assert_eq!(ValidityPeriod::at_most_minutes(5).minutes(), 5);
    assert_eq!(ValidityPeriod::at_most_minutes(60).minutes(), 60);
    assert_eq!(ValidityPeriod::at_most_minutes(24 * 60).minutes(), 24 * 60);
    assert_eq!(ValidityPeriod::at_most_minutes(7 * 24 * 60).minutes(), 7 * 24 * 60);
    assert_eq!(ValidityPeriod::at_most_minutes(u32::MAX).0, 255);
}

/// 2,000 cases in every `cargo test`; `PROPTEST_CASES` sets more for a longer fuzzing run.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(2000)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn any_bytes_decode_to_a_value_or_an_error(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode_incoming(&bytes);
        let _ = Submit::decode(&bytes);
    }

    #[test]
    fn any_text_survives_split_encode_decode_reassemble(text in "\\PC{0,400}", reference in any::<u16>()) {
        let parts = split(&text, reference).unwrap();
        let mut r = Reassembler::default();
        let mut whole = None;
        for ud in &parts {
            let submit = Submit {
                reference: 1,
                destination: Address::parse("+41791234567").unwrap(),
                reject_duplicates: false,
                status_report_request: true,
                validity: None,
                user_data: ud.clone(),
            };
            let (bytes, _) = submit.encode().unwrap();
            let back = Submit::decode(&bytes).unwrap().message;
            whole = r.push("x", &back.user_data, 0).or(whole);
        }
        prop_assert_eq!(whole, Some(text));
    }
}
