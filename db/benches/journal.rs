//! The journal at operator scale: server time of the journal's pages and totals on a seeded database of
//! `--rows` transactions over `--stations` stations and `--gerances` gérances, ours ([`Db::journal_page`])
//! next to the naive `OFFSET`/`COUNT(*)` form ([`Db::journal_page_naive`]) in the same run, with the
//! database's query plans. Every case also checks that both forms return the same rows and total. With
//! `--postgres URL` (a server where the role may create databases, as `scripts/test-postgres start`
//! prints), the same cases on the same generated journal run on PostgreSQL too, after SQLite.
//!
//! ```sh
//! cargo bench -p db --bench journal                       # 1,000,000 rows, 20 runs a case
//! cargo bench -p db --bench journal -- --rows 20000 --runs 2   # the small version CI runs
//! ```
//! Ours runs `--runs` times a case, the naive form `--naive-runs` times (3; it takes seconds at depth).
//! Options: `--rows N --stations N --gerances N --seed N --runs N --db PATH` (reuse a generated file:
//! generating a million rows takes a minute and a half), `--plans` (print the query plans), `--only TEXT`
//! (the cases whose name contains it), `--postgres URL`.

use std::time::{Duration, Instant};

use db::{Db, GeneratedTx, JournalFilter, JournalSort, JournalView, NewStation, Scope};
use domain::journal::TxStatus;
use domain::{Amount, GeranceId, GeranceName, KeyNumber, PhoneNumber, StationId, Timestamp};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

struct Options {
    rows: usize,
    stations: usize,
    gerances: usize,
    seed: u64,
    runs: usize,
    db: Option<String>,
    plans: bool,
    only: Option<String>,
    naive_runs: usize,
    postgres: Option<String>,
}

fn options() -> Options {
    let mut o = Options {
        rows: 1_000_000,
        stations: 500,
        gerances: 20,
        seed: 42,
        runs: 20,
        db: None,
        plans: false,
        only: None,
        naive_runs: 3,
        postgres: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--rows" => o.rows = value().parse().expect("--rows N"),
            "--stations" => o.stations = value().parse().expect("--stations N"),
            "--gerances" => o.gerances = value().parse().expect("--gerances N"),
            "--seed" => o.seed = value().parse().expect("--seed N"),
            "--runs" => o.runs = value().parse().expect("--runs N"),
            "--db" => o.db = Some(value()),
            "--plans" => o.plans = true,
            "--only" => o.only = Some(value()),
            "--naive-runs" => o.naive_runs = value().parse().expect("--naive-runs N"),
            "--postgres" => o.postgres = Some(value()),
            // cargo bench passes --bench to every bench binary.
            "--bench" => {}
            other => panic!("unknown option {other}"),
        }
    }
    o
}

const DAY_MS: i64 = 24 * 3600 * 1000;
/// The generated journal ends here (2026-11-27 UTC), three years long.
const END_MS: i64 = 1_795_737_600_000;
const SPAN_MS: i64 = 3 * 365 * DAY_MS;

/// Gérances, stations and transactions, all from `seed`: mostly reloaded, a few failed, cancelled or
/// still on their way; each station with its own few hundred keys; times increasing with the number.
async fn generate(db: &Db, o: &Options) {
    let mut rng = StdRng::seed_from_u64(o.seed);
    let now = Timestamp(END_MS - SPAN_MS);
    let mut gerances = Vec::new();
    for g in 0..o.gerances {
        let name = GeranceName::parse(&format!("Gérance {g:02}")).unwrap();
        gerances.push(db.create_gerance(&name, now).await.unwrap().id);
    }
    let mut stations = Vec::new();
    for s in 0..o.stations {
        let gerance_id = gerances[s % gerances.len()];
        let new = NewStation {
            gerance_id,
            name: &format!("Station {s:03}"),
            place: &format!("Lieu {s:03}"),
            phone: &PhoneNumber::parse(&format!("+4179{:07}", 1_000_000 + s)).unwrap(),
            secret: &[7; 32],
            max_amount: Amount::from_rappen(50_000).unwrap(),
        };
        stations.push((db.create_station(new, now).await.unwrap(), gerance_id));
    }
    let step = SPAN_MS / o.rows.max(1) as i64;
    let mut batch = Vec::with_capacity(50_000);
    for i in 0..o.rows {
        let (station_id, gerance_id) = stations[rng.gen_range(0..stations.len())];
        let created_at = END_MS - SPAN_MS + i as i64 * step + rng.gen_range(0..step.max(1));
        let status = match rng.gen_range(0..1000) {
            0..=929 => TxStatus::Reloaded,
            930..=949 => TxStatus::Failed,
            950..=964 => TxStatus::Cancelled,
            965..=979 => TxStatus::Confirmed,
            980..=989 => TxStatus::Sent,
            990..=995 => TxStatus::Queued,
            _ => TxStatus::Cancelling,
        };
        let later = |minutes: i64| Some(created_at + minutes * 60_000);
        let loaded = status == TxStatus::Reloaded;
        batch.push(GeneratedTx {
            gerance_id,
            station_id,
            key: KeyNumber(station_keys(station_id).wrapping_add(rng.gen_range(0..300))),
            amount: Amount::from_rappen(
                [1_000, 2_000, 5_000, 10_000, 20_000][rng.gen_range(0..5)] + rng.gen_range(0..100) * 5,
            )
            .unwrap(),
            status,
            created_at,
            sent_at: (status != TxStatus::Queued).then_some(created_at + 2_000),
            confirmed_at: matches!(status, TxStatus::Confirmed | TxStatus::Reloaded)
                .then_some(created_at + 9_000),
            reloaded_at: if loaded { later(rng.gen_range(5..5_000)) } else { None },
            ended_at: if matches!(status, TxStatus::Failed | TxStatus::Cancelled) { later(60) } else { None },
        });
        if batch.len() == batch.capacity() {
            db.insert_generated_transactions(&batch).await.unwrap();
            batch.clear();
        }
    }
    db.insert_generated_transactions(&batch).await.unwrap();
    db.settle_after_bulk_load().await.unwrap();
}

struct Case {
    name: String,
    scope: Scope,
    filter: JournalFilter,
    sort: JournalSort,
    descending: bool,
    /// Which page: 0 first, 1 middle, 2 last.
    at: u8,
}

impl Case {
    fn view(&self) -> JournalView<'_> {
        JournalView { scope: self.scope, filter: &self.filter, sort: self.sort, descending: self.descending }
    }
}

/// Where a station's keys start: stations share the key range, each from its own point.
fn station_keys(station: StationId) -> u16 {
    let low = u16::try_from(station.get() & 0xFFFF).unwrap();
    low.wrapping_mul(131)
}

fn cases(first_gerance: GeranceId, first_station: StationId) -> Vec<Case> {
    let all = JournalFilter::default;
    let mut cases = Vec::new();
    let mut add = |name: String, scope, filter, sort, descending, at| {
        cases.push(Case { name, scope, filter, sort, descending, at })
    };
    let pages = [(0, "first"), (1, "middle"), (2, "last")];
    for sort in JournalSort::ALL {
        let label = sort.as_str();
        for descending in [true, false] {
            for (at, page) in pages {
                let dir = if descending { "desc" } else { "asc" };
                add(
                    format!("operator, sort {label} {dir}, {page} page"),
                    Scope::All,
                    all(),
                    sort,
                    descending,
                    at,
                );
            }
        }
    }
    for (at, page) in pages {
        let scope = Scope::Gerance(first_gerance);
        add(format!("admin, default sort, {page} page"), scope, all(), JournalSort::Number, true, at);
    }
    let month = JournalFilter {
        from: Some(Timestamp(END_MS - 40 * DAY_MS)),
        until: Some(Timestamp(END_MS - 10 * DAY_MS)),
        ..all()
    };
    let filters = [
        ("station", JournalFilter { station: Some(first_station), ..all() }),
        ("key", JournalFilter { key: Some(KeyNumber(station_keys(first_station).wrapping_add(7))), ..all() }),
        ("status failed", JournalFilter { status: Some(TxStatus::Failed), ..all() }),
        ("status reloaded", JournalFilter { status: Some(TxStatus::Reloaded), ..all() }),
        ("a month", month.clone()),
    ];
    for (label, filter) in filters {
        for (at, page) in [(0, "first"), (2, "last")] {
            let name = format!("operator, filter {label}, {page} page");
            add(name, Scope::All, filter.clone(), JournalSort::Number, true, at);
        }
    }
    let reloaded = JournalFilter { status: Some(TxStatus::Reloaded), ..all() };
    for (at, page) in pages {
        let name = format!("operator, reloaded sorted by amount, {page} page");
        add(name, Scope::All, reloaded.clone(), JournalSort::Amount, true, at);
    }
    let combined = JournalFilter {
        status: Some(TxStatus::Reloaded),
        from: Some(Timestamp(END_MS - 100 * DAY_MS)),
        until: Some(Timestamp(END_MS)),
        ..all()
    };
    for (at, page) in pages {
        let name = format!("admin, reloaded in 100 days sorted by amount, {page} page");
        add(name, Scope::Gerance(first_gerance), combined.clone(), JournalSort::Amount, false, at);
    }
    cases
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let o = options();
    let dir = tempfile::tempdir().unwrap();
    let path = o.db.clone().unwrap_or_else(|| dir.path().join("journal.db").display().to_string());
    let fresh = !std::path::Path::new(&path).exists();
    let db = Db::open(&format!("sqlite://{path}")).await.unwrap();
    println!("SQLite");
    measure(&db, &o, fresh).await;
    if let Some(server) = &o.postgres {
        let url = db::test_support::fresh_postgres(server).await.unwrap();
        let options = db::DbOptions {
            secrets_key_file: Some(dir.path().join("postgres-secrets.key")),
            ..db::DbOptions::default()
        };
        let db = Db::open_with(&url, &options).await.unwrap();
        println!("\nPostgreSQL");
        measure(&db, &o, true).await;
    }
}

async fn measure(db: &Db, o: &Options, fresh: bool) {
    if fresh {
        let started = Instant::now();
        generate(db, o).await;
        println!(
            "generated {} transactions, {} stations, {} gérances (seed {}) in {:.1} s",
            o.rows,
            o.stations,
            o.gerances,
            o.seed,
            started.elapsed().as_secs_f64()
        );
    }
    let gerance = db.list_gerances().await.unwrap()[0].id;
    let station = db.list_stations(Scope::Gerance(gerance)).await.unwrap()[0].id;
    let size = 25;
    println!(
        "page size {size}, {} runs a case ({} of the naive form), times in ms (p50 / p95)",
        o.runs,
        o.runs.min(o.naive_runs)
    );
    println!("{:<62} {:>9} {:>17} {:>17} {:>7}", "case", "total", "ours", "naive", "ratio");
    let mut worst: f64 = 0.0;
    for case in cases(gerance, station) {
        if o.only.as_ref().is_some_and(|only| !case.name.contains(only.as_str())) {
            continue;
        }
        let total = db.journal_total(case.scope, &case.filter).await.unwrap();
        let offset = match case.at {
            0 => 0,
            1 => (total / 2 / size) * size,
            _ => ((total - 1).max(0) / size) * size,
        };
        let (mut ours, mut naive) = (Vec::new(), Vec::new());
        for run in 0..o.runs {
            let t = Instant::now();
            let fast = db.journal_page(case.view(), offset, size).await.unwrap();
            ours.push(t.elapsed());
            // The baseline takes seconds at depth: a few runs of it say enough.
            if run < o.naive_runs.max(1) {
                let t = Instant::now();
                let slow = db.journal_page_naive(case.view(), offset, size).await.unwrap();
                naive.push(t.elapsed());
                assert_eq!(fast, slow, "{}: the fast form differs from the naive one", case.name);
            }
        }
        ours.sort();
        naive.sort();
        let (o50, o95, n50, n95) = (
            percentile(&ours, 0.5),
            percentile(&ours, 0.95),
            percentile(&naive, 0.5),
            percentile(&naive, 0.95),
        );
        worst = worst.max(o95);
        println!(
            "{:<62} {:>9} {:>8.2} /{:>7.2} {:>8.2} /{:>7.2} {:>6.1}×",
            case.name,
            total,
            o50,
            o95,
            n50,
            n95,
            n50 / o50.max(0.001)
        );
        if o.plans {
            for plan in db.journal_plans(case.view()).await.unwrap() {
                println!("    {plan}");
            }
        }
    }
    println!("worst p95 of ours: {worst:.2} ms; every case returned the same rows and total both ways");
}
