//! Annual statements at scale: `--keys` keys (1,000 by default) on 10 stations, each with a holder in
//! one of the four languages, a year of top-ups (one a month, with the balance reported) and a year of
//! payments (one a month, taken in from a camt.054 through `server::payments::import`, left as
//! proposals). Prints the time to read every statement (`server::keys::statements`, what the CLI and
//! the page call), to draw them as one PDF, to draw a PDF and a CSV per key (what `recharge statement`
//! writes besides), and the sizes.
//!
//! ```sh
//! cargo bench -p server --bench statements                  # 1,000 keys
//! cargo bench -p server --bench statements -- --keys 100    # the small version CI runs
//! ```

use std::time::Instant;

use db::{Db, GeneratedTx, KeyRow, NewStation, Scope, StatementsOf};
use domain::journal::TxStatus;
use domain::key::{Holder, HolderInput};
use domain::payment::{Creditor, CreditorInput, Iban, KeyReference, QrrPrefix};
use domain::statement::Year;
use domain::{Amount, GeranceName, KeyNumber, PhoneNumber, StationId, Timestamp};

const IBAN: &str = "CH4431999123000889012";
const STATIONS: usize = 10;

fn keys_option() -> usize {
    let mut keys = 1_000;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--keys" => keys = args.next().and_then(|v| v.parse().ok()).expect("--keys N"),
            "--bench" => {}
            other => panic!("unknown option {other}"),
        }
    }
    keys
}

/// A camt.054.001.08 with one credit a month for every key, each with its key's QR reference.
fn camt054(keys: &[(StationId, KeyNumber)]) -> Vec<u8> {
    let iban = Iban::parse_swiss(IBAN).unwrap();
    let mut xml = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08">
<BkToCstmrDbtCdtNtfctn><GrpHdr><MsgId>STATEMENTS</MsgId><CreDtTm>2026-12-01T22:00:00</CreDtTm></GrpHdr>
<Ntfctn><Id>STATEMENTS-1</Id><Acct><Id><IBAN>{IBAN}</IBAN></Id></Acct>
"#
    );
    for month in 1..=12 {
        for (n, &(station, key)) in keys.iter().enumerate() {
            let reference = KeyReference { station, key }.encode(&iban, &QrrPrefix::default()).unwrap();
            xml.push_str(&format!(
                r#"<Ntry><Amt Ccy="CHF">20.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>
<BookgDt><Dt>2026-{month:02}-05</Dt></BookgDt><ValDt><Dt>2026-{month:02}-05</Dt></ValDt><AcctSvcrRef>M{month}-K{n}</AcctSvcrRef>
<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>VCOM</SubFmlyCd></Fmly></Domn></BkTxCd>
<NtryDtls><TxDtls><Refs><AcctSvcrRef>M{month}-T{n}</AcctSvcrRef></Refs><Amt Ccy="CHF">20.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>
<RltdPties><Dbtr><Pty><Nm>Locataire {n}</Nm></Pty></Dbtr></RltdPties>
<RmtInf><Strd><CdtrRefInf><Tp><CdOrPrtry><Prtry>QRR</Prtry></CdOrPrtry></Tp><Ref>{}</Ref></CdtrRefInf></Strd></RmtInf></TxDtls></NtryDtls></Ntry>
"#,
                reference.as_str()
            ));
        }
    }
    xml.push_str("</Ntfctn></BkToCstmrDbtCdtNtfctn></Document>\n");
    xml.into_bytes()
}

#[tokio::main]
async fn main() {
    let count = keys_option();
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&format!("sqlite://{}", dir.path().join("statements.db").display())).await.unwrap();
    let now = Timestamp::now();
    let gerance = db.create_gerance(&GeranceName::parse("Gérance bench").unwrap(), now).await.unwrap();
    let mut stations = Vec::new();
    for n in 0..STATIONS {
        let (name, phone) = (format!("Station {n:02}"), format!("+4179200{n:04}"));
        let new = NewStation {
            gerance_id: gerance.id,
            name: &name,
            place: "Sion",
            phone: &PhoneNumber::parse(&phone).unwrap(),
            secret: &[9; 32],
            max_amount: Amount::from_rappen(50_000).unwrap(),
        };
        stations.push(db.create_station(new, now).await.unwrap());
    }
    let creditor = Creditor::parse(&CreditorInput {
        iban: IBAN.into(),
        name: "Gérance bench SA".into(),
        street: "Rue du Lac".into(),
        building: "1".into(),
        postcode: "1950".into(),
        town: "Sion".into(),
        country: "CH".into(),
        ..CreditorInput::default()
    })
    .unwrap();
    db.set_creditor(gerance.id, &creditor, None, now).await.unwrap();

    let keys: Vec<(StationId, KeyNumber)> =
        (0..count).map(|n| (stations[n % STATIONS], KeyNumber(1_000 + n as u16))).collect();
    let languages = ["fr", "de", "it", "en"];
    for (s, station) in stations.iter().enumerate() {
        let rows: Vec<KeyRow> = keys
            .iter()
            .enumerate()
            .filter(|(_, (st, _))| st == station)
            .map(|(n, &(_, key))| KeyRow {
                key,
                holder: Holder::parse(&HolderInput {
                    name: format!("Locataire {n} Müller-Dupont"),
                    flat: format!("{}.{}", n % 7, s),
                    language: languages[n % 4].into(),
                    ..HolderInput::default()
                })
                .unwrap(),
                state: None,
            })
            .collect();
        db.import_keys(Scope::All, *station, &rows, "bench.csv", None, now).await.unwrap();
    }
    let year = Year::parse("2026").unwrap();
    let (start, _) = year.bounds();
    let month = 30 * 86_400_000_i64;
    let topups: Vec<GeneratedTx> = (0..12)
        .flat_map(|m| {
            keys.iter().map(move |&(station, key)| {
                let at = start.millis() + m * month + 3_600_000;
                GeneratedTx {
                    gerance_id: gerance.id,
                    station_id: station,
                    key,
                    amount: Amount::from_rappen(2_000).unwrap(),
                    status: TxStatus::Reloaded,
                    created_at: at - 600_000,
                    sent_at: Some(at - 500_000),
                    confirmed_at: Some(at - 400_000),
                    reloaded_at: Some(at),
                    ended_at: Some(at),
                }
            })
        })
        .collect::<Vec<_>>();
    db.insert_generated_transactions(&topups).await.unwrap();
    let file = camt054(&keys);
    let summary = server::payments::import(&db, Some(gerance.id), None, "bench.xml", &file).await.unwrap();
    assert_eq!(summary.proposals as usize, keys.len() * 12);

    let started = Instant::now();
    let of = StatementsOf { gerance: gerance.id, station: None, key: None };
    let found = server::keys::statements(&db, Scope::All, of, year).await.unwrap();
    let read = started.elapsed();
    assert_eq!(found.items.len(), keys.len());
    assert!(found.items.iter().all(|s| s.entries.len() == 24));

    let started = Instant::now();
    let all = paper::statements(&found.items, &found.issuer, "04.12.2026").unwrap();
    let one_pdf = started.elapsed();

    let started = Instant::now();
    let mut bytes = 0;
    for s in &found.items {
        let one = std::slice::from_ref(s);
        bytes += paper::statements(one, &found.issuer, "04.12.2026").unwrap().len();
        bytes += paper::statements_csv(one, s.holder.language.unwrap_or_default()).len();
    }
    let per_key = started.elapsed();
    println!("{count} keys, 24 lines each (12 payments, 12 top-ups), 10 stations");
    println!("read the statements:              {:>8.0} ms", read.as_secs_f64() * 1e3);
    println!(
        "one PDF with all of them:         {:>8.0} ms  {:>8} KB",
        one_pdf.as_secs_f64() * 1e3,
        all.len() / 1024
    );
    println!(
        "a PDF and a CSV per key:          {:>8.0} ms  {:>8} KB in all",
        per_key.as_secs_f64() * 1e3,
        bytes / 1024
    );
    println!(
        "read + one PDF:                   {:>8.0} ms (target: 1,000 keys under 10 s)",
        (read + one_pdf).as_secs_f64() * 1e3
    );
}
