//! Bank files at scale: a camt.054 of `--txs` transactions in batched entries (100 per entry, each
//! with its key's QR reference) taken in through `server::payments::import` — the code behind the
//! upload and `recharge payments import` — into a fresh database with 20 stations. Prints the time to
//! take it in (every transaction a proposal) and to take it in again (nothing new), and the most heap
//! the import holds beyond the file's own bytes, for a tenth of the file and for the whole: the reader
//! streams, so that figure must not grow with the file.
//!
//! ```sh
//! cargo bench -p server --bench payments                    # 10,000 transactions
//! cargo bench -p server --bench payments -- --txs 1000      # the small version CI runs
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use db::{Db, NewStation};
use domain::payment::{Creditor, CreditorInput, KeyReference, QrrPrefix};
use domain::{Amount, GeranceName, KeyNumber, PhoneNumber, StationId, Timestamp};

/// Counts the heap the benchmark's Rust code holds (SQLite's own page cache is not counted: it is the
/// database's, bounded by its settings).
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size > layout.size() {
                let now =
                    LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size - layout.size();
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const IBAN: &str = "CH4431999123000889012";
const PER_ENTRY: usize = 100;

fn txs_option() -> usize {
    let mut txs = 10_000;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--txs" => txs = args.next().and_then(|v| v.parse().ok()).expect("--txs N"),
            "--bench" => {}
            other => panic!("unknown option {other}"),
        }
    }
    txs
}

/// A camt.054.001.08 as a Swiss bank writes a day of QR-bill credits: batched entries of 100.
fn camt054(txs: usize, tag: &str, stations: &[StationId]) -> Vec<u8> {
    let iban = domain::payment::Iban::parse_swiss(IBAN).unwrap();
    let mut xml = String::with_capacity(txs * 1_200);
    xml.push_str(&format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08">
<BkToCstmrDbtCdtNtfctn><GrpHdr><MsgId>BENCH-{tag}</MsgId><CreDtTm>2026-12-01T22:00:00</CreDtTm></GrpHdr>
<Ntfctn><Id>BENCH-{tag}-1</Id><Acct><Id><IBAN>{IBAN}</IBAN></Id></Acct>
"#
    ));
    for (e, chunk) in (0..txs).collect::<Vec<_>>().chunks(PER_ENTRY).enumerate() {
        let total = chunk.len() * 2_000;
        xml.push_str(&format!(
            r#"<Ntry><Amt Ccy="CHF">{}.{:02}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>
<BookgDt><Dt>2026-12-01</Dt></BookgDt><ValDt><Dt>2026-12-01</Dt></ValDt><AcctSvcrRef>{tag}-E{e}</AcctSvcrRef>
<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>VCOM</SubFmlyCd></Fmly></Domn></BkTxCd>
<NtryDtls><Btch><NbOfTxs>{}</NbOfTxs></Btch>
"#,
            total / 100,
            total % 100,
            chunk.len()
        ));
        for &n in chunk {
            let key =
                KeyReference { station: stations[n % stations.len()], key: KeyNumber((n % 65_536) as u16) };
            let reference = key.encode(&iban, &QrrPrefix::default()).unwrap();
            xml.push_str(&format!(
                r#"<TxDtls><Refs><AcctSvcrRef>{tag}-T{n}</AcctSvcrRef><EndToEndId>NOTPROVIDED</EndToEndId></Refs>
<Amt Ccy="CHF">20.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>
<RltdPties><Dbtr><Pty><Nm>Locataire {n}</Nm></Pty></Dbtr><DbtrAcct><Id><IBAN>CH9300762011623852957</IBAN></Id></DbtrAcct></RltdPties>
<RmtInf><Strd><CdtrRefInf><Tp><CdOrPrtry><Prtry>QRR</Prtry></CdOrPrtry></Tp><Ref>{}</Ref></CdtrRefInf></Strd></RmtInf></TxDtls>
"#,
                reference.as_str()
            ));
        }
        xml.push_str("</NtryDtls></Ntry>\n");
    }
    xml.push_str("</Ntfctn></BkToCstmrDbtCdtNtfctn></Document>\n");
    xml.into_bytes()
}

#[tokio::main]
async fn main() {
    let txs = txs_option();
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&format!("sqlite://{}", dir.path().join("payments.db").display())).await.unwrap();
    let now = Timestamp::now();
    let gerance = db.create_gerance(&GeranceName::parse("Gérance bench").unwrap(), now).await.unwrap();
    let mut stations = Vec::new();
    for n in 0..20 {
        let (name, phone) = (format!("Station {n:02}"), format!("+4179100{n:04}"));
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

    println!("camt.054.001.08, batched entries of {PER_ENTRY}, every transaction a key's QR reference");
    println!(
        "{:>8} {:>10} {:>10} {:>12} {:>14} {:>22}",
        "txs", "file", "read only", "import", "import again", "heap beyond the file"
    );
    let tenth = (txs / 10).max(PER_ENTRY);
    for (size, tag) in [(tenth, "A"), (txs, "B")] {
        let file = camt054(size, tag, &stations);
        // The reader alone, for comparison.
        let started = Instant::now();
        let mut reader = bank::CamtReader::new(std::io::Cursor::new(&file[..])).unwrap();
        let mut items = 0;
        while reader.next().unwrap().is_some() {
            items += 1;
        }
        let parse = started.elapsed();
        assert_eq!(items, size + 1, "the account and every transaction");
        let before = LIVE.load(Ordering::Relaxed);
        PEAK.store(before, Ordering::Relaxed);
        let started = Instant::now();
        let first = server::payments::import(&db, Some(gerance.id), None, "bench.xml", &file).await.unwrap();
        let import = started.elapsed();
        let heap = PEAK.load(Ordering::Relaxed).saturating_sub(before);
        assert_eq!((first.new, first.proposals, first.exceptions), (size as i64, size as i64, 0), "{first}");
        let started = Instant::now();
        let again = server::payments::import(&db, Some(gerance.id), None, "bench.xml", &file).await.unwrap();
        let reimport = started.elapsed();
        assert_eq!((again.new, again.duplicates), (0, size as i64), "{again}");
        println!(
            "{:>8} {:>8.1}MB {:>8.0}ms {:>10.0}ms {:>12.0}ms {:>20.1}KB",
            size,
            file.len() as f64 / 1e6,
            parse.as_secs_f64() * 1e3,
            import.as_secs_f64() * 1e3,
            reimport.as_secs_f64() * 1e3,
            heap as f64 / 1e3
        );
    }
    db.close().await;
}
