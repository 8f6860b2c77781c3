//! The journal export at operator scale: `GET /transactions.csv` of every transaction, through the real
//! `recharge` server, on a database holding `--rows` of them (an operator's year and more). Prints the
//! time to the first byte and to the last, the file's size, and the server's anonymous memory (heap:
//! what the export holds) before, at its peak and after, with its file-backed memory (the database's
//! memory-mapped pages, which the OS reclaims at will) beside, for exports sorted by number and by
//! amount. Every row must be in the file once, in order:
//! a missing, extra or misplaced row fails the run.
//!
//! ```sh
//! cargo bench -p server --bench export                     # a million rows
//! cargo bench -p server --bench export -- --rows 50000     # the small version CI runs
//! ```

use std::time::Instant;

use db::{Db, GeneratedTx, NewStation, NewUser, Scope};
use domain::journal::TxStatus;
use domain::{Amount, Email, GeranceName, KeyNumber, PhoneNumber, Role, Timestamp};

mod support;

const PASSWORD: &str = "export benchmark password";

fn rows_option() -> usize {
    let mut rows = 1_000_000;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--rows" => rows = args.next().and_then(|v| v.parse().ok()).expect("--rows N"),
            "--bench" => {}
            other => panic!("unknown option {other}"),
        }
    }
    rows
}

#[tokio::main]
async fn main() {
    let rows = rows_option();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("export.db").display());
    {
        let db = Db::open(&url).await.unwrap();
        let now = Timestamp::now();
        let gerance = db.create_gerance(&GeranceName::parse("Gérance export").unwrap(), now).await.unwrap();
        let hash = server::auth::password::hash(PASSWORD.into()).await.unwrap();
        let email = Email::parse("ops@export.ch").unwrap();
        db.create_user(
            NewUser { email: &email, password_hash: &hash, role: Role::Operator, gerance_id: None },
            now,
        )
        .await
        .unwrap();
        let mut stations = Vec::new();
        for n in 0..20 {
            let name = format!("Station {n:02}");
            let phone = format!("+4179000{n:04}");
            let new = NewStation {
                gerance_id: gerance.id,
                name: &name,
                place: "Sion",
                phone: &PhoneNumber::parse(&phone).unwrap(),
                secret: &[7; 32],
                max_amount: Amount::from_rappen(50_000).unwrap(),
            };
            stations.push(db.create_station(new, now).await.unwrap());
        }
        let t = Instant::now();
        for start in (0..rows).step_by(100_000) {
            let chunk: Vec<GeneratedTx> = (start..(start + 100_000).min(rows))
                .map(|i| GeneratedTx {
                    gerance_id: gerance.id,
                    station_id: stations[i % stations.len()],
                    key: KeyNumber(u16::try_from(i * 7 % 65_536).unwrap()),
                    amount: Amount::from_rappen(100 + (i as i64 * 37 % 49_900)).unwrap(),
                    status: TxStatus::Reloaded,
                    created_at: 1_700_000_000_000 + i as i64 * 30_000,
                    sent_at: None,
                    confirmed_at: None,
                    reloaded_at: None,
                    ended_at: None,
                })
                .collect();
            db.insert_generated_transactions(&chunk).await.unwrap();
        }
        println!("{rows} transactions generated in {:.1?}", t.elapsed());
        assert_eq!(db.journal_total(Scope::All, &db::JournalFilter::default()).await.unwrap(), rows as i64);
        db.close().await;
    }
    let (child, addr) = support::spawn_server(support::serve(&url, dir.path(), "warn")).await;
    let pid = child.id().unwrap();
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let cookie = support::login(&http, &addr, "ops@export.ch", PASSWORD).await;
    println!(
        "{:<22} {:>10} {:>10} {:>10} {:>12} {:>22}",
        "export", "first byte", "last byte", "rows/s", "size", "heap MB before/peak/after, mapped"
    );
    for (label, query, order) in [
        ("by number, descending", "", Order::IdDesc),
        ("by amount, ascending", "?sort=amount&dir=asc", Order::AmountAsc),
    ] {
        let before = support::memory_parts(pid).0;
        let t = Instant::now();
        let mut response = http
            .get(format!("http://{addr}/transactions.csv{query}"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{label}");
        let first = t.elapsed();
        let mut checker = Checker::new(order);
        let mut peak: f64 = 0.0;
        let mut n = 0usize;
        while let Some(chunk) = response.chunk().await.unwrap() {
            checker.feed(&chunk);
            n += 1;
            if n.is_multiple_of(64) {
                peak = peak.max(support::memory_parts(pid).0);
            }
        }
        let last = t.elapsed();
        let (lines, bytes) = checker.finish();
        assert_eq!(lines, rows, "{label}: every row once");
        let (after, mapped) = support::memory_parts(pid);
        println!(
            "{label:<22} {:>8.0} ms {:>8.2} s {:>10.0} {:>9.1} MB {:>9.0} / {:.0} / {:.0}, {mapped:.0}",
            first.as_secs_f64() * 1e3,
            last.as_secs_f64(),
            rows as f64 / last.as_secs_f64(),
            bytes as f64 / 1e6,
            before,
            peak.max(after),
            after
        );
    }
    drop(child);
}

#[derive(Clone, Copy)]
enum Order {
    IdDesc,
    AmountAsc,
}

/// Reads the file as it arrives: counts its rows and checks their order.
struct Checker {
    order: Order,
    partial: Vec<u8>,
    header: bool,
    lines: usize,
    bytes: usize,
    last: Option<(i64, i64)>,
}

impl Checker {
    fn new(order: Order) -> Self {
        Self { order, partial: Vec::new(), header: true, lines: 0, bytes: 0, last: None }
    }

    fn feed(&mut self, chunk: &[u8]) {
        self.bytes += chunk.len();
        self.partial.extend_from_slice(chunk);
        while let Some(end) = self.partial.windows(2).position(|w| w == b"\r\n") {
            let line: Vec<u8> = self.partial.drain(..end + 2).collect();
            if std::mem::take(&mut self.header) {
                continue;
            }
            let text = std::str::from_utf8(&line).unwrap();
            let fields: Vec<&str> = text.trim_end().split(';').collect();
            let id: i64 = fields[0].parse().unwrap();
            let amount: i64 = fields[4].replace('.', "").parse().unwrap();
            let now = match self.order {
                Order::IdDesc => (-id, 0),
                Order::AmountAsc => (amount, id),
            };
            if let Some(last) = self.last {
                assert!(last < now, "out of order: {last:?} then {now:?}");
            }
            self.last = Some(now);
            self.lines += 1;
        }
    }

    fn finish(self) -> (usize, usize) {
        assert!(self.partial.is_empty(), "the file ends with a whole line");
        (self.lines, self.bytes)
    }
}
