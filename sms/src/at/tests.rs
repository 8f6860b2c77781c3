//! Modem output as real devices send it. Answers marked "gammu" are recorded answers of real phones and
//! modems from Gammu's test suite (`tests/at-sms/NN.dump` in gammu/gammu).

use proptest::prelude::*;

use super::*;
use crate::pdu::{Incoming, decode_incoming};

fn tokens(bytes: &[u8]) -> Vec<Token> {
    let mut r = LineReader::default();
    r.push(bytes);
    std::iter::from_fn(|| r.next_token()).collect()
}

fn lines(tokens: &[Token]) -> Vec<String> {
    tokens
        .iter()
        .filter_map(|t| match t {
            Token::Line(l) => Some(l.clone()),
            Token::Prompt => None,
        })
        .collect()
}

#[test]
fn lines_prompts_and_line_ends_of_every_kind() {
    let t = tokens(b"\r\nOK\r\n\r\n> \nATE0\r\rOK\n+CMTI: \"SM\",3\r\n");
    assert_eq!(
        t,
        vec![
            Token::Line("OK".into()),
            Token::Prompt,
            Token::Line("ATE0".into()),
            Token::Line("OK".into()),
            Token::Line("+CMTI: \"SM\",3".into())
        ]
    );
}

#[test]
fn a_line_split_across_reads_is_whole_once_its_end_arrives() {
    let mut r = LineReader::default();
    r.push(b"\r\n+CSQ: 1");
    assert_eq!(r.next_token(), None);
    r.push(b"8,99\r");
    assert_eq!(r.next_token(), Some(Token::Line("+CSQ: 18,99".into())));
    r.push(b"\n");
    assert_eq!(r.next_token(), None);
    assert_eq!(r.buffered(), 0);
}

#[test]
fn final_result_codes_numeric_and_verbose() {
    assert_eq!(final_code("OK"), Some(Final::Ok));
    assert_eq!(final_code("ERROR"), Some(Final::Error));
    assert_eq!(
        final_code("+CMS ERROR: 500"),
        Some(Final::Cms(ErrorCode { code: Some(500), text: "500".into() }))
    );
    assert_eq!(
        final_code("+CME ERROR: SIM PIN required"),
        Some(Final::Cme(ErrorCode { code: Some(11), text: "SIM PIN required".into() }))
    );
    assert_eq!(
        final_code("+CME ERROR: 11"),
        Some(Final::Cme(ErrorCode { code: Some(11), text: "11".into() }))
    );
    assert_eq!(final_code("+CMGS: 12"), None);
}

#[test]
fn unsolicited_codes_depend_on_the_command_in_progress() {
    assert_eq!(
        unsolicited("+CMTI: \"SM\",3", Some("AT+CSQ")),
        Some(Ok(Urc::NewMessage { storage: "SM".into(), index: 3 }))
    );
    assert_eq!(
        unsolicited("+CDSI: \"SR\",0", None),
        Some(Ok(Urc::NewReport { storage: "SR".into(), index: 0 }))
    );
    assert_eq!(unsolicited("+CDS: 25", None), Some(Err(PduUrc::Report)));
    assert_eq!(unsolicited("+CMT: ,24", None), Some(Err(PduUrc::Message)));
    assert_eq!(unsolicited("+CREG: 1", None), Some(Ok(Urc::Registration(Registration::Home))));
    assert_eq!(unsolicited("+CREG: 0,1", Some("AT+CREG?")), None, "the answer, not a URC");
    assert_eq!(unsolicited("^RSSI: 18", Some("AT+CMGS=23")), Some(Ok(Urc::Other("^RSSI: 18".into()))));
    assert_eq!(unsolicited("+CSQ: 18,99", Some("AT+CSQ")), None);
    assert_eq!(unsolicited("+CPIN: READY", Some("AT+CPIN?")), None);
    assert_eq!(unsolicited("+CPIN: READY", None), Some(Ok(Urc::Other("+CPIN: READY".into()))));
}

#[test]
fn information_responses() {
    let l = |s: &str| vec![s.to_owned()];
    assert_eq!(parse_cmgs(&l("+CMGS: 12")), Some(12));
    assert_eq!(parse_csq(&l("+CSQ: 21,99")), Some(Some(-71)));
    assert_eq!(parse_csq(&l("+CSQ: 99,99")), Some(None));
    assert_eq!(parse_creg(&l("+CREG: 2,5,\"1A2B\",\"0C3D\",2")), Some(Registration::Roaming));
    assert_eq!(parse_cops(&l("+COPS: 0,0,\"Swisscom\",2")), Some("Swisscom".into()));
    assert_eq!(parse_cops(&l("+COPS: 0")), None);
    assert_eq!(parse_cpin(&l("+CPIN: SIM PIN")), Some("SIM PIN".into()));
}

#[test]
fn recorded_cmgr_answers_of_real_devices_decode() {
    // gammu 22.dump: a part of a concatenated SMS-DELIVER; 12.dump: an SMS-DELIVER, both with an empty
    // alpha field; 36.dump: a status report.
    for (answer, kind) in [
        (
            "+CMGR: 1,,78\r\n0791246020099990400C91247042972767000070107031107440A005000301020182E8B71A040FDBD96516881E5E83DA65907D5C968741EEF49AFC06B9CBEFB53C4C66B34061771AE42EEBDDE1799AED4EB34161D0BA0E7F93D3F63A483D2FB74161771AE42ED7E7EE3A3BCC0285C720FABB5D07B5DF6390BB3C1FA3C3FA32FBAD4BB940D43219342F83C6E8FC9C1E6E83E0F2F0F86D0FD3416150FBAD77874169903B0CA2BF41\r\nOK\r\n",
            "part",
        ),
        (
            "+CMGR: 1,,30\r\n0791261229064012040C912622192340800000700191218253820CE130681C5E97E12072190D\r\nOK\r\n",
            "deliver",
        ),
        (
            "+CMGR: 3,,29\r\n07912658050000F006010D91265817373754F501010161705382010101617083820000\r\nOK\r\n",
            "report",
        ),
    ] {
        let t = tokens(answer.as_bytes());
        let stored = parse_cmgr(1, &lines(&t)).unwrap();
        let decoded = decode_incoming(stored.pdu.as_ref().unwrap()).unwrap().message;
        match (kind, decoded) {
            ("deliver", Incoming::Deliver(d)) => assert!(!d.user_data.text.is_empty()),
            ("part", Incoming::Deliver(d)) => {
                let part = d.user_data.concat().unwrap();
                assert_eq!((part.total, part.sequence), (2, 1));
            }
            ("report", Incoming::StatusReport(r)) => {
                assert_eq!(r.reference, 1);
                assert!(r.delivered());
            }
            (kind, other) => panic!("{kind}: {other:?}"),
        }
    }
}

#[test]
fn telits_cmgr_with_an_empty_alpha_and_a_blank_line_before_the_pdu() {
    let answer = "\r\n+CMGR: 0,,30\r\n\r\n0791261229064012040C912622192340800000700191218253820CE130681C5E97E12072190D\r\n\r\nOK\r\n";
    let stored = parse_cmgr(4, &lines(&tokens(answer.as_bytes()))).unwrap();
    assert_eq!((stored.index, stored.status), (4, 0));
    assert!(matches!(decode_incoming(stored.pdu.as_ref().unwrap()).unwrap().message, Incoming::Deliver(_)));
    assert_eq!(parse_cmgr(5, &["+CMGR: 0,,0".to_owned()]), None, "an empty slot");
    assert_eq!(parse_cmgr(5, &[]), None);
    let garbage = parse_cmgr(5, &["+CMGR: 0,,30".to_owned(), "zz".to_owned()]).unwrap();
    assert_eq!(garbage.pdu.unwrap_err().line, "zz", "kept as it came");
}

#[test]
fn a_pdu_line_with_a_stray_character_after_the_hex_reads() {
    // gammu 04.dump: a real device's +CMGR answer whose PDU line ends with a `"`.
    let answer = "+CMGR: 1,,156\r\n07914487200030230406D04F59040000601191806243009F4F990E947DD741EEF71D840EDBCBA0FCBB2E0751CB783A28E8CED3D3ED3268068381AA4B10BD8CA7CF412650AC2904BDCD2072981E06D1DFA0FABC0CA2A3D373509B8E7681A4E576B92D2ECB41F43788FE86B7EA7010280603BDE5A0F65B5E0689CBE6B7BC0C8ADD6232980D447F83CE653A28FFAECB416679B90C0AB3D9EF7BD83D2E83DC653C1DD4A6A301\"\r\nOK\r\n";
    let stored = parse_cmgr(5, &lines(&tokens(answer.as_bytes()))).unwrap();
    let Incoming::Deliver(d) = decode_incoming(stored.pdu.as_ref().unwrap()).unwrap().message else {
        panic!("an SMS-DELIVER")
    };
    assert_eq!(d.user_data.text.chars().count(), 159);
    assert_eq!(pdu_line("0011,").unwrap(), vec![0x00, 0x11]);
    for broken in ["", "\"", "0011Z", "001", "00 11"] {
        assert!(pdu_line(broken).is_err(), "{broken:?}");
    }
}

#[test]
fn a_listing_goes_on_past_an_entry_it_cannot_read() {
    let answer = "+CMGL: 1,1,,30\r\n0791261229064012040C912622192340800000700191218253820CE130681C5E97E12072190D\r\n\
        +CMGL: 2,1,,30\r\n0791261229064012040C91262219234080000070019121825382X0CE130681C5E97E12072190D\r\n\
        +CMGL: 3,1,,30\r\n\
        +CMGL: x,1,,30\r\n0791\r\n\
        +CMGL: 4,3,,29\r\n07912658050000F006010D91265817373754F501010161705382010101617083820000\"\r\nOK\r\n";
    let stored = parse_cmgl(&lines(&tokens(answer.as_bytes())));
    let read: Vec<(u32, bool)> = stored.iter().map(|s| (s.index, s.pdu.is_ok())).collect();
    assert_eq!(read, vec![(1, true), (2, false), (3, false), (4, true)], "no index: nothing to do with it");
    assert!(stored[1].pdu.as_ref().unwrap_err().line.contains("382X0CE"));
}

#[test]
fn a_cmgl_listing() {
    let answer = "+CMGL: 1,1,,30\r\n0791261229064012040C912622192340800000700191218253820CE130681C5E97E12072190D\r\n+CMGL: 4,3,,29\r\n07912658050000F006010D91265817373754F501010161705382010101617083820000\r\nOK\r\n";
    let stored = parse_cmgl(&lines(&tokens(answer.as_bytes())));
    assert_eq!(stored.iter().map(|s| (s.index, s.status)).collect::<Vec<_>>(), vec![(1, 1), (4, 3)]);
}

#[test]
fn ussd_answers_plain_packed_and_ucs2() {
    // Plain text (AT+CSCS="GSM"), as most modems answer.
    let plain = parse_cusd("0,\"Votre solde est de CHF 12.50\",15").unwrap();
    assert_eq!((plain.status, plain.text.as_deref()), (0, Some("Votre solde est de CHF 12.50")));
    // Huawei sticks answer with the packed 7-bit octets in hex.
    let packed = crate::pdu::gsm7::pack(&crate::pdu::gsm7::encode("Solde: CHF 4.20").unwrap(), 0);
    let huawei = parse_cusd(&format!("0,\"{}\",15", crate::pdu::to_hex(&packed))).unwrap();
    assert_eq!(huawei.text.as_deref(), Some("Solde: CHF 4.20"));
    // UCS2 (DCS 72) in hex.
    let ucs2: String = "Guthaben: 3.00 CHF ✓".encode_utf16().map(|u| format!("{u:04X}")).collect();
    assert_eq!(
        parse_cusd(&format!("0,\"{ucs2}\",72")).unwrap().text.as_deref(),
        Some("Guthaben: 3.00 CHF ✓")
    );
    assert_eq!(parse_cusd("4").unwrap(), Ussd { status: 4, text: None });
    // gammu at-ussd/issue377-HE910-D.dump, a Telit HE910's answer: DCS 17 (0x11), UCS2 after the
    // language ("ar", two packed 7-bit characters), then a U+0000 and the rest of the modem's buffer.
    let telit = parse_cusd("2,\"613906310635064A062F06430020003100300037002E003900330020062F002E0644060C06270644063506440627062D064A0629002000200032003000310038002D00310031002D003000390000FFFF60B16260EEEEFFFFFFFFFFFFFFFFFFFF60B16260EEEEFFFFFFFFFFFFFFFFFFFF60B16260EEEEFFFF00A962600000000000000000EE000000000000000000000068B5626058655F60\",17").unwrap();
    assert_eq!(telit.text.as_deref(), Some("رصيدك 107.93 د.ل،الصلاحية  2018-11-09"));
    // gammu at-ussd/issue109-E3276.dump, a Huawei E3276: UCS2 (DCS 72), Russian.
    let huawei = parse_cusd("0,\"0414043B044F00200441043F044004300432043A04380020043E002004310430043B0430043D044104350020043D04300431043504400438044204350020002A0031003000350023002E002004230441043B0443043304300020043104350441043F043B04300442043D0430002E\",72").unwrap();
    assert!(huawei.text.unwrap().starts_with("Для справки о балансе"));
    assert_eq!(parse_cusd("x"), None);
}

proptest! {
    #[test]
    fn the_reader_never_panics_and_never_loses_a_whole_line(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..16)) {
        let mut r = LineReader::default();
        for chunk in &chunks {
            r.push(chunk);
            while let Some(token) = r.next_token() {
                if let Token::Line(line) = token {
                    prop_assert!(!line.is_empty() && line.len() <= MAX_LINE * 3);
                    let _ = final_code(&line);
                    let _ = unsolicited(&line, None);
                    let _ = unsolicited(&line, Some("AT+CREG?"));
                    let _ = parse_cmgl(std::slice::from_ref(&line));
                    let _ = parse_cmgr(0, &[line.clone(), line.clone()]);
                    let _ = parse_cusd(&line);
                    let _ = parse_csq(std::slice::from_ref(&line));
                }
            }
        }
    }

    #[test]
    fn any_line_cut_anywhere_comes_out_whole(line in "[ -~]{1,80}", cut in 0usize..80) {
        let line = line.trim_start_matches('>').to_owned();
        prop_assume!(!line.is_empty());
        let bytes = format!("\r\n{line}\r\n").into_bytes();
        let cut = cut.min(bytes.len());
        let mut r = LineReader::default();
        r.push(&bytes[..cut]);
        let mut got: Vec<Token> = std::iter::from_fn(|| r.next_token()).collect();
        r.push(&bytes[cut..]);
        got.extend(std::iter::from_fn(|| r.next_token()));
        prop_assert_eq!(got, vec![Token::Line(line)]);
    }
}
