//! The `recharge` command line, run as a real process on a fresh database.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_recharge");

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        Self { dir: tempfile::tempdir().unwrap() }
    }

    fn db_url(&self) -> String {
        format!("sqlite://{}", self.dir.path().join("data/recharge.db").display())
    }

    fn run(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = Command::new(BIN)
            .args(args)
            .env("RECHARGE_DATABASE_URL", self.db_url())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    }

    fn ok(&self, args: &[&str], stdin: &str) -> String {
        let out = self.run(args, stdin);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs a command that must fail, and returns its one-line error.
    fn fails(&self, args: &[&str], stdin: &str) -> String {
        let out = self.run(args, stdin);
        assert_eq!(out.status.code(), Some(1), "{args:?} should fail");
        let err = String::from_utf8(out.stderr).unwrap();
        let lines: Vec<_> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "one line: {err}");
        assert!(lines[0].starts_with("error: "), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        lines[0].to_owned()
    }
}

#[test]
fn gerances_and_accounts_are_created_listed_and_checked() {
    let env = Env::new();
    assert!(env.ok(&["gerance", "add", "Gérance test"], "").contains("Gérance test"));
    assert!(env.dir.path().join("data/recharge.db").exists(), "the database and its directory are created");
    assert!(env.fails(&["gerance", "add", "Gérance test"], "").contains("already exists"));

    env.ok(
        &["user", "add", "--email", "Admin@Test.ch", "--role", "admin", "--gerance", "Gérance test"],
        "a long password\n",
    );
    env.ok(&["user", "add", "--email", "op@recharge.ch", "--role", "operator"], "another long password\n");
    let list = env.ok(&["user", "list"], "");
    assert!(list.contains("admin@test.ch") && list.contains("Gérance test"), "{list}");
    assert!(list.contains("op@recharge.ch") && list.contains("operator"), "{list}");
    assert!(!list.contains("argon2") && !list.contains("long password"), "no secret in listings: {list}");

    let e =
        env.fails(&["user", "add", "--email", "ADMIN@test.ch", "--role", "operator"], "a long password\n");
    assert!(e.contains("already exists"), "{e}");
    let e = env.fails(&["user", "add", "--email", "x@test.ch", "--role", "admin"], "a long password\n");
    assert!(e.contains("--gerance"), "{e}");
    let e = env.fails(
        &["user", "add", "--email", "x@test.ch", "--role", "admin", "--gerance", "Nope"],
        "a long password\n",
    );
    assert!(e.contains("no gérance named"), "{e}");
    let e = env.fails(&["user", "add", "--email", "x@test.ch", "--role", "root"], "a long password\n");
    assert!(e.contains("operator"), "{e}");
    let e = env.fails(&["user", "add", "--email", "x@test.ch", "--role", "operator"], "short\n");
    assert!(e.contains("at least 10"), "{e}");
    let e =
        env.fails(&["user", "add", "--email", "not-an-address", "--role", "operator"], "a long password\n");
    assert!(e.contains("e-mail"), "{e}");

    assert!(
        env.ok(&["user", "passwd", "--email", "op@recharge.ch"], "a brand new password\n")
            .contains("sessions")
    );
    assert!(
        env.fails(&["user", "passwd", "--email", "nobody@recharge.ch"], "a brand new password\n")
            .contains("no account")
    );
}

#[test]
fn a_corrupt_database_is_refused_in_one_line_and_left_untouched() {
    let env = Env::new();
    let path = env.dir.path().join("data/recharge.db");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let garbage = b"definitely not sqlite, but some bytes someone might care about\n".repeat(100);
    std::fs::write(&path, &garbage).unwrap();
    let e = env.fails(&["user", "list"], "");
    assert!(e.contains("cannot open the database"), "{e}");
    let e = env.fails(&["serve", "--addr", "127.0.0.1:0"], "");
    assert!(e.contains("cannot open the database"), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), garbage);
}

#[test]
fn a_port_in_use_is_a_one_line_error() {
    let env = Env::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let e = env.fails(&["serve", "--addr", &addr, "--no-demo"], "");
    assert!(e.contains(&format!("cannot listen on {addr}")), "{e}");
}

#[test]
fn the_first_start_creates_demo_accounts_that_can_log_in() {
    let env = Env::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = Command::new(BIN)
        .args(["serve", "--addr", &addr, "--demo-dir"])
        .arg(env.dir.path().join("demo"))
        .env("RECHARGE_DATABASE_URL", env.db_url())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut accounts = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if line.starts_with("Recharge is running") {
            break;
        }
        let words: Vec<_> = line.split_whitespace().collect();
        if words.len() == 3 && words[1].contains('@') {
            accounts.push((words[1].to_owned(), words[2].to_owned()));
        }
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    for (email, password) in &accounts {
        let r = runtime
            .block_on(
                client
                    .post(format!("http://{addr}/login"))
                    .form(&[("email", email), ("password", password)])
                    .send(),
            )
            .unwrap();
        assert_eq!(r.headers()["location"], "/", "{email} logs in with the printed password");
    }
    // Stop the server by its process id, as an operator would, and check that it shuts down cleanly.
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let status = wait_timeout(&mut child, Duration::from_secs(10));
    assert_eq!(accounts.len(), 2, "an operator and an admin: {accounts:?}");
    assert!(status.is_some_and(|s| s.success()), "clean shutdown on SIGTERM: {status:?}");

    // The passwords are shown once only.
    let again =
        Command::new(BIN).args(["user", "list"]).env("RECHARGE_DATABASE_URL", env.db_url()).output().unwrap();
    let out = String::from_utf8(again.stdout).unwrap();
    assert!(accounts.iter().all(|(e, p)| out.contains(e.as_str()) && !out.contains(p.as_str())), "{out}");
}

fn wait_timeout(child: &mut std::process::Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    None
}

#[test]
fn stations_are_registered_with_a_provisioning_string_shown_once() {
    let env = Env::new();
    env.ok(&["gerance", "add", "Gérance test"], "");
    let add = |phone: &str, max: &str| {
        vec![
            "station",
            "add",
            "--gerance",
            "Gérance test",
            "--name",
            "Station Hérémence",
            "--place",
            "Hérémence",
            "--phone",
            phone,
            "--max",
            max,
            "--server-number",
            "+41 79 000 00 01",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>()
    };
    let args = add("079 000 01 01", "250.00");
    let out = env.ok(&args.iter().map(String::as_str).collect::<Vec<_>>(), "");
    let provisioning = out.lines().find_map(|l| l.trim().strip_prefix("RC1-PROV:")).expect(&out);
    let parsed = station::protocol::Provisioning::parse(&format!("RC1-PROV:{provisioning}")).unwrap();
    assert_eq!((parsed.station, parsed.server_number.as_str()), (1, "+41790000001"));

    let listed = env.ok(&["station", "list"], "");
    assert!(
        listed.contains("Station Hérémence")
            && listed.contains("+41790000101")
            && listed.contains("250.00 CHF"),
        "{listed}"
    );
    assert!(!listed.contains(&parsed.secret.to_hex()), "the secret is not listed");

    let again = add("+41790000101", "10");
    assert!(env.fails(&again.iter().map(String::as_str).collect::<Vec<_>>(), "").contains("already exists"));
    let bad_phone = add("12345", "10");
    assert!(
        env.fails(&bad_phone.iter().map(String::as_str).collect::<Vec<_>>(), "").contains("international")
    );
    let bad_max = add("+41790000102", "0");
    assert!(env.fails(&bad_max.iter().map(String::as_str).collect::<Vec<_>>(), "").contains("--max"));

    // The secret is sealed in the database file; the key beside it (or where the operator says) opens it.
    let secret = parsed.secret.to_hex();
    let secret =
        (0..32).map(|i| u8::from_str_radix(&secret[2 * i..2 * i + 2], 16).unwrap()).collect::<Vec<_>>();
    let in_clear = |file: &str| {
        let bytes = std::fs::read(env.dir.path().join("data").join(file)).unwrap_or_default();
        bytes.windows(32).any(|w| w == secret)
    };
    assert!(!in_clear("recharge.db") && !in_clear("recharge.db-wal"));
    let key = env.dir.path().join("data/secrets.key");
    let before = std::fs::read_to_string(&key).unwrap();
    let rotated = env.ok(&["secrets", "rotate"], "");
    assert!(rotated.contains("Sealed 1 station secret(s)"), "{rotated}");
    assert_ne!(std::fs::read_to_string(&key).unwrap(), before);
    // Moved away, the key is missed in one line; named, it is found.
    let moved = env.dir.path().join("elsewhere.key");
    std::fs::rename(&key, &moved).unwrap();
    assert!(env.fails(&["station", "list"], "").contains("secrets.key is missing"));
    let listed = env.ok(&["--secrets-key-file", moved.to_str().unwrap(), "station", "list"], "");
    assert!(listed.contains("Station Hérémence"));
}

fn fixture(name: &str) -> String {
    format!("{}/../bank/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn a_gerance_s_account_gives_each_key_its_reference_and_bank_files_come_in() {
    let env = Env::new();
    env.ok(&["gerance", "add", "Gérance Exemple"], "");
    let added = env.ok(
        &[
            "station",
            "add",
            "--gerance",
            "Gérance Exemple",
            "--name",
            "Buanderie",
            "--place",
            "Sion",
            "--phone",
            "+41790000301",
            "--max",
            "200",
        ],
        "",
    );
    assert!(added.contains("Created station 1"), "{added}");
    let e = env.fails(&["key", "reference", "--station", "1", "--key", "34586"], "");
    assert!(e.contains("no account set"), "{e}");

    // A QR reference on an ordinary IBAN, a bad check digit, a missing town: each said.
    let e = env.fails(
        &[
            "gerance",
            "creditor",
            "Gérance Exemple",
            "--iban",
            "CH58 0079 1123 0008 8901 2",
            "--name",
            "Gérance Exemple SA",
            "--street",
            "Rue du Lac",
            "--building",
            "12",
            "--postcode",
            "1950",
            "--town",
            "Sion",
            "--qrr-prefix",
            "123456",
        ],
        "",
    );
    assert!(e.contains("QR-IBAN"), "{e}");
    let e = env.fails(
        &[
            "gerance",
            "creditor",
            "Gérance Exemple",
            "--iban",
            "CH44 3199 9123 0008 8901 3",
            "--name",
            "G",
            "--street",
            "R",
            "--postcode",
            "1950",
        ],
        "",
    );
    assert!(e.contains("check digits") && e.contains("--town"), "{e}");

    let set = env.ok(
        &[
            "gerance",
            "creditor",
            "Gérance Exemple",
            "--iban",
            "CH44 3199 9123 0008 8901 2",
            "--name",
            "Gérance Exemple SA",
            "--street",
            "Rue du Lac",
            "--building",
            "12",
            "--postcode",
            "1950",
            "--town",
            "Sion",
        ],
        "",
    );
    assert!(set.contains("QR-IBAN") && set.contains("automatic mode: off"), "{set}");
    assert!(env.ok(&["gerance", "creditor", "Gérance Exemple"], "").contains("CH44 3199 9123 0008 8901 2"));
    // The reference the fixtures carry for station 1, key 34586.
    let reference = env.ok(&["key", "reference", "--station", "1", "--key", "34586"], "");
    assert_eq!(reference.trim(), "00 00000 00000 00000 00013 45868");

    let imported = env.ok(&["payments", "import", &fixture("camt054_v08.xml")], "");
    assert_eq!(
        imported.trim(),
        "new 9, duplicates 0, proposals 2, exceptions 3, suggestions 1, listed 3, approved 0"
    );
    let again =
        env.ok(&["payments", "import", &fixture("camt054_v04.xml"), "--gerance", "Gérance Exemple"], "");
    assert!(
        again.starts_with("new 9, duplicates 0"),
        "another version's file, other bank references: {again}"
    );
    let overlap = env.ok(&["payments", "import", &fixture("camt053_v08.xml")], "");
    assert!(overlap.starts_with("new 1, duplicates 9, proposals 1,"), "{overlap}");

    // Refused files: not bank files, or another gérance's account; nothing kept.
    let dir = env.dir.path();
    let other = dir.join("other.xml");
    std::fs::write(
        &other,
        std::fs::read_to_string(fixture("camt054_v08.xml"))
            .unwrap()
            .replace("CH4431999123000889012", "CH5800791123000889012"),
    )
    .unwrap();
    let e = env.fails(&["payments", "import", other.to_str().unwrap()], "");
    assert!(e.contains("CH58 0079 1123 0008 8901 2") && e.contains("no gérance"), "{e}");
    let e = env.fails(&["payments", "import", other.to_str().unwrap(), "--gerance", "Gérance Exemple"], "");
    assert!(e.contains("not this gérance's"), "{e}");
    let dtd = dir.join("dtd.xml");
    std::fs::write(&dtd, "<?xml version=\"1.0\"?><!DOCTYPE d [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><Document>&x;</Document>").unwrap();
    let e = env.fails(&["payments", "import", dtd.to_str().unwrap()], "");
    assert!(e.contains("document type"), "{e}");
    let big = dir.join("big.xml");
    std::fs::write(&big, vec![b' '; 10 * 1024 * 1024 + 1]).unwrap();
    let e = env.fails(&["payments", "import", big.to_str().unwrap()], "");
    assert!(e.contains("10 MB"), "{e}");
    let again = env.ok(&["payments", "import", &fixture("camt053_v08.xml")], "");
    assert!(again.starts_with("new 0, duplicates 10,"), "the refused files left nothing: {again}");

    // The year's statements: the payments matched to keys, a PDF and a CSV per key and all in one.
    let out = dir.join("statements");
    let e = env.fails(
        &["statement", "--gerance", "Gérance Exemple", "--year", "2025", "--out", out.to_str().unwrap()],
        "",
    );
    assert!(e.contains("no key of Gérance Exemple had a payment or a top-up in 2025"), "{e}");
    let e = env.fails(
        &["statement", "--gerance", "Gérance Exemple", "--year", "26", "--out", out.to_str().unwrap()],
        "",
    );
    assert!(e.contains("--year"), "{e}");
    let written = env.ok(
        &["statement", "--gerance", "Gérance Exemple", "--year", "2026", "--out", out.to_str().unwrap()],
        "",
    );
    assert!(written.contains("statements for 2026 written"), "{written}");
    let mut files: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|f| f.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert!(files.contains(&"statement-2026-station-1-key-34586.pdf".to_owned()), "{files:?}");
    assert!(
        files.contains(&"statements-2026.csv".to_owned())
            && files.contains(&"statements-2026.pdf".to_owned())
    );
    let csv = std::fs::read_to_string(out.join("statement-2026-station-1-key-34586.csv")).unwrap();
    let lines: Vec<&str> = csv.trim_start_matches('\u{feff}').lines().collect();
    assert_eq!(lines[0], "Station;Clé;Titulaire;Date;Opération;Montant (CHF);Frais (CHF);Solde (CHF)");
    assert!(
        lines[1..]
            .iter()
            .all(|l| l.starts_with("Buanderie;34586;;30.11.2026;Paiement reçu, recharge en attente;")),
        "{csv}"
    );
    let pdf = std::fs::read(out.join("statements-2026.pdf")).unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
}

#[test]
fn keys_are_registered_by_hand_and_by_list_and_get_their_qr_bills() {
    let env = Env::new();
    env.ok(&["gerance", "add", "Gérance Exemple"], "");
    let station = [
        "station",
        "add",
        "--gerance",
        "Gérance Exemple",
        "--name",
        "Buanderie",
        "--place",
        "Sion",
        "--phone",
        "+41790000301",
        "--max",
        "200",
    ];
    env.ok(&station, "");
    let dir = env.dir.path();
    let pdf = dir.join("bill.pdf");
    let out = pdf.to_str().unwrap();
    let e = env.fails(&["key", "qr-bill", "--station", "1", "--key", "34586", "--out", out], "");
    assert!(e.contains("no account set"), "{e}");
    env.ok(
        &[
            "gerance",
            "creditor",
            "Gérance Exemple",
            "--iban",
            "CH58 0079 1123 0008 8901 2",
            "--name",
            "Gérance Exemple SA",
            "--street",
            "Rue du Lac",
            "--building",
            "12",
            "--postcode",
            "1950",
            "--town",
            "Sion",
        ],
        "",
    );
    let e = env.fails(&["key", "qr-bill", "--station", "1", "--out", out], "");
    assert!(e.contains("no active key"), "{e}");

    // By hand: a holder, then a state; fields left out are kept.
    env.ok(
        &["key", "set", "--station", "1", "--key", "34586", "--holder", "Anne Dupont", "--language", "de"],
        "",
    );
    let set = env
        .ok(&["key", "set", "--station", "1", "--key", "34586", "--flat", "3.2", "--state", "blocked"], "");
    assert!(set.contains("blocked"), "{set}");
    let e = env.fails(&["key", "set", "--station", "1", "--key", "1", "--language", "rm"], "");
    assert!(e.contains("language"), "{e}");
    let e = env.fails(&["key", "set", "--station", "9", "--key", "1"], "");
    assert!(e.contains("no station 9"), "{e}");

    // A list with bad rows is refused whole, each row named.
    let list = dir.join("keys.csv");
    std::fs::write(&list, "Clé;Titulaire;Logement;Langue\n12;Hans Müller;1.1;de\n70000;X;;\n13;Y;;rm\n")
        .unwrap();
    let e = env.fails(&["key", "import", "--station", "1", list.to_str().unwrap()], "");
    assert!(e.contains("2 bad rows") && e.contains("line 3") && e.contains("line 4: language"), "{e}");
    assert!(!env.ok(&["key", "list", "--station", "1"], "").contains("Hans"), "nothing of it was kept");
    std::fs::write(&list, "Clé;Titulaire;Logement;Langue\n12;Hans Müller;1.1;de\n13;Lucia Rossi;1.2;it\n")
        .unwrap();
    assert!(
        env.ok(&["key", "import", "--station", "1", list.to_str().unwrap()], "").contains("2 keys saved")
    );
    let listed = env.ok(&["key", "list", "--station", "1"], "");
    assert_eq!(
        listed.lines().collect::<Vec<_>>(),
        [
            "00012\tactive\tHans Müller\t1.1\tde",
            "00013\tactive\tLucia Rossi\t1.2\tit",
            "34586\tblocked\tAnne Dupont\t3.2\tde",
        ]
    );
    assert_eq!(env.ok(&["key", "list", "--station", "1", "--search", "ross"], "").lines().count(), 1);

    // One key's bill, and the station's: a page per active key (the blocked one has none).
    let one = env.ok(&["key", "qr-bill", "--station", "1", "--key", "34586", "--out", out], "");
    assert!(one.contains("bytes"), "{one}");
    let bytes = std::fs::read(&pdf).unwrap();
    assert!(bytes.starts_with(b"%PDF-") && bytes.len() < 30_000, "{} bytes", bytes.len());
    env.ok(&["key", "qr-bill", "--station", "1", "--out", out], "");
    let all = String::from_utf8_lossy(&std::fs::read(&pdf).unwrap()).into_owned();
    assert!(all.contains("/Count 2"), "two active keys, two pages");
}

#[test]
fn alert_thresholds_and_a_mail_server_that_make_no_sense_are_refused_with_a_message() {
    let env = Env::new();
    let refused = |args: &[&str]| {
        let out = env.run(args, "");
        assert!(!out.status.success(), "{args:?} should fail");
        String::from_utf8(out.stderr).unwrap()
    };
    let err = refused(&["serve", "--alert-sim-credit", "-5"]);
    assert!(err.contains("from 0.00 to 500.00"), "{err}");
    let err = refused(&["serve", "--alert-station-credit", "100000"]);
    assert!(err.contains("from 0.00 to 500.00"), "{err}");
    let err = refused(&["serve", "--alert-modem-down", "0s"]);
    assert!(err.contains("from 1 to 1440 minutes"), "{err}");
    let err = refused(&["serve", "--alert-weak-signal", "-200"]);
    assert!(err.contains("-113 to -51"), "{err}");
    let err =
        refused(&["serve", "--smtp-url", "ftp://mailer:topsecret@mail.example.ch", "--mail-from", "a@b.ch"]);
    assert!(err.contains("smtp://host:port"), "{err}");
    assert!(!err.contains("topsecret"), "the password is not echoed: {err}");
    let err = refused(&["serve", "--smtp-url", "smtp://127.0.0.1:2525"]);
    assert!(err.contains("--mail-from is needed"), "{err}");
}

#[test]
fn a_postgresql_server_that_does_not_answer_is_waited_for_then_said_with_a_status_to_retry_on() {
    let env = Env::new();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("postgres://recharge:s3cret-word@127.0.0.1:{closed}/recharge");
    let key = env.dir.path().join("secrets.key");
    let key = key.to_str().unwrap();
    let started = std::time::Instant::now();
    let out =
        env.run(&["serve", "--database-url", &url, "--secrets-key-file", key, "--database-wait", "2s"], "");
    let err = String::from_utf8(out.stderr).unwrap();
    // EX_TEMPFAIL: a supervisor starts it again later.
    assert_eq!(out.status.code(), Some(75), "{err}");
    assert!(started.elapsed() >= Duration::from_secs(2), "waited for it");
    let last = err.lines().rfind(|l| l.starts_with("error: ")).unwrap_or_default();
    assert!(last.contains("cannot be reached") && last.contains("in 2 s"), "{err}");
    assert!(!err.contains("s3cret-word"), "the password is never shown: {err}");
    // Without the key file, refused before any connection is tried.
    let err = env.fails(&["serve", "--database-url", &url], "");
    assert!(err.contains("--secrets-key-file") && !err.contains("s3cret-word"), "{err}");
}
