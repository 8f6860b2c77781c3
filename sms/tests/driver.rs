//! The driver against scripted modems that answer as real devices do: echo left on, unsolicited codes in
//! the middle of an answer, verbose errors, Telit's `+CMGR` layout, a PDU echoed back, silence.

use std::time::Duration;

use sms::at::{Registration, Urc};
use sms::modem::{Modem, ModemError, Timeouts};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

/// A fake modem: for each command line it receives (up to `\r` or Ctrl-Z), the next scripted answer.
fn scripted(script: Vec<(&'static str, &'static str)>) -> Modem<DuplexStream> {
    let (ours, mut theirs) = tokio::io::duplex(8192);
    tokio::spawn(async move {
        let mut pending = Vec::new();
        let mut script = script.into_iter();
        let mut buf = [0u8; 512];
        loop {
            let Ok(n) = theirs.read(&mut buf).await else { return };
            if n == 0 {
                return;
            }
            pending.extend_from_slice(&buf[..n]);
            while let Some(end) = pending.iter().position(|&b| b == b'\r' || b == 0x1a) {
                let line: Vec<u8> = pending.drain(..=end).collect();
                let line = String::from_utf8_lossy(&line).trim_matches(['\r', '\x1a', '\x1b']).to_owned();
                if line.is_empty() {
                    continue;
                }
                let Some((expected, answer)) = script.next() else { return };
                assert_eq!(line, expected, "the driver sent an unexpected command");
                if theirs.write_all(answer.as_bytes()).await.is_err() {
                    return;
                }
            }
        }
    });
    Modem::new(ours, Timeouts { command: Duration::from_millis(500), ..Timeouts::default() })
}

/// The answers `init` needs before the commands under test, with echo on as after power-on.
fn init_script() -> Vec<(&'static str, &'static str)> {
    vec![
        ("AT", "AT\r\r\nOK\r\n"),
        ("ATE0", "ATE0\r\r\nOK\r\n"),
        ("AT+CMEE=1", "\r\nOK\r\n"),
        ("AT+CPIN?", "\r\n+CPIN: READY\r\n\r\nOK\r\n"),
        ("AT+CMGF=0", "\r\nOK\r\n"),
        // A modem without direct status reports: the driver falls back to stored ones.
        ("AT+CNMI=2,1,0,1,0", "\r\n+CMS ERROR: 303\r\n"),
        ("AT+CNMI=2,1,0,2,0", "\r\nOK\r\n"),
        ("AT+CREG=1", "\r\nOK\r\n"),
        ("AT+CGMI", "\r\n+CGMI: \"Telit\"\r\n\r\nOK\r\n"),
        ("AT+CGMM", "\r\nHE910\r\n\r\nOK\r\n"),
        ("AT+CGMR", "\r\n12.00.024\r\n\r\nOK\r\n"),
        ("AT+CGSN", "\r\n356000000000001\r\n\r\nOK\r\n"),
    ]
}

fn with_init(rest: Vec<(&'static str, &'static str)>) -> Modem<DuplexStream> {
    let mut script = init_script();
    script.extend(rest);
    scripted(script)
}

#[tokio::test]
async fn identity_echo_and_urcs_in_the_middle_of_answers() {
    let mut modem = with_init(vec![
        ("AT+CSQ", "AT+CSQ\r\r\n+CMTI: \"SM\",2\r\n\r\n+CSQ: 20,99\r\n\r\n+CREG: 5\r\nOK\r\n"),
        ("AT+CREG?", "\r\n+CREG: 1,1\r\n\r\nOK\r\n"),
        ("AT+COPS?", "\r\n+COPS: 0,0,\"Swisscom\",2\r\n\r\nOK\r\n"),
    ]);
    let info = modem.init(None).await.unwrap();
    assert_eq!(
        (info.manufacturer.as_str(), info.model.as_str(), info.imei.as_str()),
        ("Telit", "HE910", "356000000000001")
    );
    let health = modem.health().await.unwrap();
    assert_eq!(health.signal_dbm, Some(-73));
    assert_eq!(health.registration, Some(Registration::Home));
    assert_eq!(health.operator.as_deref(), Some("Swisscom"));
    assert_eq!(modem.pending_urcs(), 2, "the URCs were kept, not taken for answers");
    assert_eq!(modem.next_urc().await.unwrap(), Urc::NewMessage { storage: "SM".into(), index: 2 });
    assert_eq!(modem.next_urc().await.unwrap(), Urc::Registration(Registration::Roaming));
}

#[tokio::test]
async fn a_send_with_its_pdu_echoed_and_a_report_routed_in_between() {
    let pdu = "0011000B916407281553F80000AA0AE8329BFD4697D9EC37";
    let mut modem = with_init(vec![
        ("AT+CMGS=23", "AT+CMGS=23\r\r\n> "),
        (pdu, "0011000B916407281553F80000AA0AE8329BFD4697D9EC37\x1a\r\n+CMGS: 77\r\n\r\nOK\r\n"),
        (
            "AT+CMGR=3",
            "\r\n+CMGR: 0,,30\r\n\r\n0791261229064012040C912622192340800000700191218253820CE130681C5E97E12072190D\r\n\r\nOK\r\n",
        ),
        (
            "AT+CMGD=3",
            "\r\n+CDS: 25\r\n07912658050000F006010D91265817373754F501010161705382010101617083820000\r\n\r\nOK\r\n",
        ),
    ]);
    modem.init(None).await.unwrap();
    let bytes = sms::pdu::from_hex(pdu).unwrap();
    assert_eq!(modem.send_pdu(&bytes, 23).await.unwrap(), 77);
    let stored = modem.read(3).await.unwrap().unwrap();
    assert_eq!(stored.status, 0);
    modem.delete(3).await.unwrap();
    let Urc::Report { pdu } = modem.next_urc().await.unwrap() else { panic!("no report") };
    assert!(matches!(sms::pdu::decode_incoming(&pdu).unwrap().message, sms::pdu::Incoming::StatusReport(_)));
}

#[tokio::test]
async fn errors_numeric_and_verbose_and_a_modem_that_goes_silent() {
    let mut modem = with_init(vec![
        ("AT+CMGS=23", "\r\n+CMS ERROR: Network timeout\r\n"),
        ("AT+CMGR=9", "\r\n+CMS ERROR: 321\r\n"),
        ("AT+CMGD=9", "\r\n+CME ERROR: 10\r\n"),
        ("AT+CSQ", ""),
    ]);
    modem.init(None).await.unwrap();
    let e = modem.send_pdu(&[0; 24], 23).await.unwrap_err();
    assert!(matches!(e, ModemError::Cms { ref error, .. } if error.code == Some(31)), "{e}");
    assert!(modem.read(9).await.unwrap().is_none(), "321: an empty slot");
    let e = modem.delete(9).await.unwrap_err();
    assert!(matches!(e, ModemError::Cme { ref error, .. } if error.code == Some(10)), "{e}");
    let e = modem.health().await.unwrap_err();
    assert!(matches!(e, ModemError::Timeout(_)) && e.is_fatal(), "{e}");
}

#[tokio::test]
async fn a_sim_pin_is_entered_but_never_shown_in_errors() {
    let mut script = init_script();
    script[3] = ("AT+CPIN?", "\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n");
    script.insert(4, ("AT+CPIN=\"0000\"", "\r\n+CME ERROR: 16\r\n"));
    let mut modem = scripted(script);
    let e = modem.init(Some("0000")).await.unwrap_err();
    assert!(!e.to_string().contains("0000"), "{e}");
    assert!(matches!(e, ModemError::Sim(sms::modem::SimProblem::PinRefused)), "{e}");

    // A modem that does not answer the PIN in time: the error names the command, not the PIN.
    let mut script = init_script();
    script[3] = ("AT+CPIN?", "\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n");
    script.insert(4, ("AT+CPIN=\"0000\"", ""));
    let mut modem = scripted(script);
    let e = modem.init(Some("0000")).await.unwrap_err();
    assert!(!e.to_string().contains("0000"), "{e}");
    assert!(e.to_string().contains("AT+CPIN=<pin>"), "{e}");
}
