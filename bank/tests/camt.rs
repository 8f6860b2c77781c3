//! The camt reader on the fixtures (written for these tests from the ISO 20022 schemas, and checked
//! against them in CI by `scripts/check-fixtures`) and on files that must be refused.

use std::io::Cursor;

use bank::{CamtError, CamtReader, Item, Message};
use domain::payment::{BankTransaction, Direction};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn read_all(bytes: &[u8]) -> Result<(String, Vec<Item>), CamtError> {
    let mut reader = CamtReader::new(Cursor::new(bytes))?;
    let mut items = Vec::new();
    while let Some(item) = reader.next()? {
        items.push(item);
    }
    Ok((reader.format().to_string(), items))
}

fn transactions(items: &[Item]) -> Vec<BankTransaction> {
    items
        .iter()
        .filter_map(|i| match i {
            Item::Transaction(t) => Some(t.clone()),
            Item::Account(_) => None,
        })
        .collect()
}

#[test]
fn a_notification_gives_every_transaction_of_its_entries() {
    for (file, version, prefix) in
        [("camt054_v08.xml", "camt.054.001.08", "CH8"), ("camt054_v04.xml", "camt.054.001.04", "CH4")]
    {
        let (format, items) = read_all(&fixture(file)).unwrap();
        assert_eq!(format, version);
        let Item::Account(account) = &items[0] else { panic!("{file}: the account comes first") };
        assert_eq!(account.as_str(), "CH4431999123000889012");
        let txs = transactions(&items);
        // Three in the batched entry, one per other entry (the last without details).
        assert_eq!(txs.len(), 9, "{file}");
        let refs: Vec<String> = txs.iter().map(|t| t.bank_ref.clone()).collect();
        let want: Vec<String> = ["T1", "T2", "T3", "T4", "T5", "T6", "T7", "T8", "E7"]
            .iter()
            .map(|r| format!("{prefix}{r}"))
            .collect();
        assert_eq!(refs, want, "{file}");

        let t1 = &txs[0];
        assert_eq!((t1.direction, t1.amount_minor, t1.currency.as_str()), (Direction::Credit, 2_000, "CHF"));
        assert_eq!(t1.reference.as_deref(), Some("000000000000000000001345868"));
        assert_eq!(t1.debtor_name.as_deref(), Some("Anna Keller"));
        assert_eq!(t1.debtor_iban.as_deref(), Some("CH5604835012345678009"));
        assert_eq!(t1.booking_date.unwrap().iso(), "2026-11-30");
        assert!(t1.booked && !t1.reversal);
        // The QR-bill's message arrives as additional remittance information.
        assert_eq!(txs[1].text.as_deref(), Some("Waschküche Dezember"));
        assert_eq!(txs[3].text.as_deref(), Some("Clé 34586 buanderie"));
        assert_eq!(txs[3].reference, None);
        assert_eq!(txs[4].direction, Direction::Debit);
        assert!(txs[5].reversal);
        assert_eq!(
            (txs[6].currency.as_str(), txs[6].debtor_iban.as_deref()),
            ("EUR", Some("DE89370400440532013000"))
        );
        // Escaped characters are read as what they stand for.
        assert_eq!(txs[7].debtor_name.as_deref(), Some("Régie & Cie"));
        // An entry without details: its own amount, reference and additional information.
        assert_eq!((txs[8].amount_minor, txs[8].text.as_deref()), (4_000, Some("Gutschrift ohne Details")));
    }
}

#[test]
fn both_versions_say_the_same() {
    let strip = |mut t: BankTransaction| {
        t.bank_ref = t.bank_ref[3..].to_owned();
        t
    };
    let v4: Vec<_> =
        transactions(&read_all(&fixture("camt054_v04.xml")).unwrap().1).into_iter().map(strip).collect();
    let v8: Vec<_> =
        transactions(&read_all(&fixture("camt054_v08.xml")).unwrap().1).into_iter().map(strip).collect();
    assert_eq!(v4, v8);
}

#[test]
fn a_statement_repeats_the_notification_s_bank_references() {
    for (statement, notification) in
        [("camt053_v08.xml", "camt054_v08.xml"), ("camt053_v04.xml", "camt054_v04.xml")]
    {
        let mut reader = CamtReader::new(Cursor::new(fixture(statement))).unwrap();
        assert_eq!(reader.format().message, Message::Statement);
        let mut items = Vec::new();
        while let Some(item) = reader.next().unwrap() {
            items.push(item);
        }
        assert!(reader.message_id().unwrap().starts_with("RCH-053"));
        let in_statement = transactions(&items);
        let in_notification = transactions(&read_all(&fixture(notification)).unwrap().1);
        assert_eq!(in_statement[..in_notification.len()], in_notification[..]);
        assert_eq!(in_statement.len(), in_notification.len() + 1);
        assert_eq!(in_statement.last().unwrap().text.as_deref(), Some("chiave 7"));
    }
}

const HEAD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

fn notification(body: &str) -> String {
    format!(
        r#"{HEAD}<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08"><BkToCstmrDbtCdtNtfctn>
<GrpHdr><MsgId>M</MsgId><CreDtTm>2026-12-01T10:00:00</CreDtTm></GrpHdr>
<Ntfctn><Id>N</Id><Acct><Id><IBAN>CH4431999123000889012</IBAN></Id></Acct>{body}</Ntfctn>
</BkToCstmrDbtCdtNtfctn></Document>"#
    )
}

fn entry(amount: &str) -> String {
    format!(
        r#"<Ntry><Amt Ccy="CHF">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>
<BookgDt><Dt>2026-12-01</Dt></BookgDt><AcctSvcrRef>R</AcctSvcrRef><BkTxCd/></Ntry>"#
    )
}

#[test]
fn a_minimal_notification_reads() {
    let (_, items) = read_all(notification(&entry("12.35")).as_bytes()).unwrap();
    let txs = transactions(&items);
    assert_eq!((txs[0].bank_ref.as_str(), txs[0].amount_minor), ("R", 1_235));
}

#[test]
fn dangerous_or_broken_files_are_refused_with_what_was_found() {
    let laughs = format!(
        r#"{HEAD}<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">]><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08">&lol2;</Document>"#
    );
    assert_eq!(read_all(laughs.as_bytes()).unwrap_err(), CamtError::Doctype);
    let xxe =
        format!(r#"{HEAD}<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><Document>&x;</Document>"#);
    assert_eq!(read_all(xxe.as_bytes()).unwrap_err(), CamtError::Doctype);
    // An entity used without a declaration is not expanded either.
    let undeclared = notification(&entry("1.00").replace("<AcctSvcrRef>R", "<AcctSvcrRef>&x;"));
    assert_eq!(read_all(undeclared.as_bytes()).unwrap_err(), CamtError::Entity("x".into()));

    let other = format!(r#"{HEAD}<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.052.001.08"/>"#);
    let err = read_all(other.as_bytes()).unwrap_err();
    assert_eq!(err, CamtError::Version { found: "camt.052.001.08".into() });
    assert!(err.to_string().contains("camt.052.001.08"), "{err}");
    let old = notification("").replace("camt.054.001.08", "camt.054.001.02");
    assert_eq!(read_all(old.as_bytes()).unwrap_err(), CamtError::Version { found: "camt.054.001.02".into() });
    let pain = format!(r#"{HEAD}<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"/>"#);
    assert!(matches!(read_all(pain.as_bytes()).unwrap_err(), CamtError::Version { .. }));
    let html = "<html><body>not a bank file</body></html>";
    let err = read_all(html.as_bytes()).unwrap_err();
    assert!(err.to_string().contains("<html>"), "{err}");
    assert_eq!(read_all(b"").unwrap_err(), CamtError::Empty);
    let latin1 = notification("").replace("UTF-8", "ISO-8859-1");
    assert_eq!(read_all(latin1.as_bytes()).unwrap_err(), CamtError::Encoding("ISO-8859-1".into()));

    let text = notification(&entry("1.00"));
    for cut in [text.len() / 3, text.len() / 2, text.len() - 20] {
        assert!(
            matches!(read_all(&text.as_bytes()[..cut]), Err(CamtError::Malformed { .. })),
            "cut at {cut}"
        );
    }
    let mismatched = notification(&entry("1.00")).replace("</Ntry>", "</Ntr>");
    assert!(matches!(read_all(mismatched.as_bytes()), Err(CamtError::Malformed { .. })));
    let deep = notification(&format!("{}{}", "<X>".repeat(40), "</X>".repeat(40)));
    assert!(matches!(read_all(deep.as_bytes()), Err(CamtError::TooDeep(_))));
    let long = notification(
        &entry("1.00").replace("<AcctSvcrRef>R", &format!("<AcctSvcrRef>{}", "R".repeat(5_000))),
    );
    assert_eq!(read_all(long.as_bytes()).unwrap_err(), CamtError::TooLong("AcctSvcrRef".into()));
}

#[test]
fn amounts_and_fields_a_bank_would_not_write_are_refused() {
    for bad in ["-5.00", "1.005", "1e3", "", "12,50"] {
        let err = read_all(notification(&entry(bad)).as_bytes()).unwrap_err();
        assert_eq!(err, CamtError::Amount { entry: 1, found: bad.into() }, "{bad:?}");
    }
    let no_iban = notification(&entry("1.00"))
        .replace("<IBAN>CH4431999123000889012</IBAN>", "<Othr><Id>12345</Id></Othr>");
    assert_eq!(read_all(no_iban.as_bytes()).unwrap_err(), CamtError::NoIban("N".into()));
    let bad_iban = notification(&entry("1.00")).replace("CH4431999123000889012", "CH4431999123000889013");
    assert_eq!(
        read_all(bad_iban.as_bytes()).unwrap_err(),
        CamtError::BadIban("CH4431999123000889013".into())
    );
    let no_direction = notification(&entry("1.00")).replace("<CdtDbtInd>CRDT</CdtDbtInd>", "");
    assert!(matches!(read_all(no_direction.as_bytes()), Err(CamtError::Missing { entry: 1, .. })));
    let bad_date = notification(&entry("1.00")).replace("2026-12-01</Dt>", "2026-13-01</Dt>");
    assert!(matches!(read_all(bad_date.as_bytes()), Err(CamtError::Invalid { entry: 1, .. })));
}
