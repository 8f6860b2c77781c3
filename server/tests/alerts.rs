//! Alerts through the real server, the emulated GSM network and a real mail server on loopback (Debian's
//! python3-aiosmtpd, `support/smtp_sink.py`): each condition raised through the emulator — a station
//! powered off, a failed top-up, the modem SIM's credit run down, the modem unplugged — mails the right
//! people once, in their language, and mails them again when it clears; another gérance gets nothing.
//! The mail server away delays mails, never a top-up; a refused recipient is said on the alert.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{TestApp, spawn_with};
use db::{NewStation, NewTopUp, Scope};
use domain::alert::Kind;
use domain::journal::TxStatus;
use domain::{Amount, GeranceId, KeyNumber, PhoneNumber, Role, StationId, Timestamp};
use server::alerts::{AlertSettings, MailSettings};
use server::config::SmtpUrl;
use server::startup::ModemSettings;
use sms::emulator::{Network, pty::Port};

/// The mail server, stopped when dropped.
struct Sink {
    child: Option<Child>,
    dir: PathBuf,
}

impl Sink {
    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    }

    fn start(port: u16, dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/smtp_sink.py");
        // Debian's Python, which has Debian's aiosmtpd (a python3 earlier on the PATH may not).
        let mut child = Command::new("/usr/bin/python3")
            .arg(script)
            .arg(port.to_string())
            .arg(dir)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3-aiosmtpd (apt-get install python3-aiosmtpd)");
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "the mail server did not start");
        Self { child: Some(child), dir: dir.to_owned() }
    }

    fn url(port: u16) -> SmtpUrl {
        SmtpUrl::parse(&format!("smtp://127.0.0.1:{port}")).unwrap()
    }

    /// The mails received so far: recipient → the texts of their mails, in order.
    fn mails(&self) -> BTreeMap<String, Vec<String>> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        files.sort();
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for f in files {
            let name = f.file_stem().unwrap().to_string_lossy().into_owned();
            let to = name.split_once('-').unwrap().1.to_owned();
            out.entry(to).or_default().push(decoded(&std::fs::read(&f).unwrap()));
        }
        out
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A mail's subject and plain text, decoded from the encodings lettre chose (RFC 2047 words,
/// quoted-printable or base64 bodies), by Python's own mail parser: an independent reader.
fn decoded(raw: &[u8]) -> String {
    let program = "import sys, email, email.policy\n\
                   m = email.message_from_bytes(sys.stdin.buffer.read(), policy=email.policy.default)\n\
                   print(m['subject']); print(m.get_body(('plain',)).get_content())\n\
                   print('HTML' if m.get_body(('html',)) is not None else 'NO HTML')";
    let mut child = Command::new("/usr/bin/python3")
        .args(["-c", program])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), raw).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

fn fast_alerts(s: &mut AlertSettings, smtp: Option<u16>) {
    s.check_every = Duration::from_millis(200);
    s.server.status_grace_ms = 1_500;
    s.server.modem_down_ms = 1_000;
    s.defaults.silent_ms = 2_000;
    s.public_url = "https://recharge.example.ch".into();
    s.mail = smtp.map(|port| MailSettings {
        smtp: Sink::url(port),
        from: "Recharge <alertes@recharge.example.ch>".parse().unwrap(),
        first_retry: Duration::from_millis(300),
    });
}

async fn add_station(app: &TestApp, gerance: GeranceId, phone: &str) -> StationId {
    let secret: [u8; 32] = rand::random();
    let new = NewStation {
        gerance_id: gerance,
        name: phone,
        place: "Sion",
        phone: &PhoneNumber::parse(phone).unwrap(),
        secret: &secret,
        max_amount: Amount::from_rappen(50_000).unwrap(),
    };
    let id = app.db.create_station(new, Timestamp::now()).await.unwrap();
    if let Some(demo) = &app.demo {
        demo.sync(&app.db).await.unwrap();
    }
    id
}

async fn eventually<T>(what: &str, secs: u64, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn open_kinds(app: &TestApp, scope: Scope) -> Vec<Kind> {
    let mut kinds: Vec<Kind> = app
        .db
        .alerts(scope, Timestamp(i64::MAX), 100)
        .await
        .unwrap()
        .iter()
        .map(|a| a.condition.kind())
        .collect();
    kinds.sort();
    kinds
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_station_powered_off_and_a_failed_top_up_mail_their_gerance_and_the_operators_once_in_their_language()
 {
    let tmp = tempfile::tempdir().unwrap();
    let port = Sink::free_port();
    let sink = Sink::start(port, &tmp.path().join("mail"));
    let app = spawn_with(|s| {
        fast_alerts(&mut s.alerts, Some(port));
        s.retry.max_attempts = 2;
    })
    .await;
    let a = app.add_gerance("Gérance A").await;
    let b = app.add_gerance("Gérance B").await;
    let anna = app.add_user("anna@a.example.ch", Role::Admin, Some(a)).await;
    app.db.set_locale(anna, "de").await.unwrap();
    app.add_user("bruno@b.example.ch", Role::Admin, Some(b)).await;
    app.add_user("olivia@op.example.ch", Role::Operator, None).await;
    let quiet = app.add_user("quiet@a.example.ch", Role::Admin, Some(a)).await;
    app.db.set_alert_prefs(quiet, db::AlertPrefs { mails: false, digest: false }).await.unwrap();
    let demo = app.demo.clone().unwrap();
    let station_a = add_station(&app, a, "+41790000201").await;
    let station_b = add_station(&app, b, "+41790000202").await;
    assert!(demo.power_off(station_a).await);

    // A top-up to the station that is off: no answer, failed after its two sends.
    let token = "t-1";
    let new = NewTopUp {
        station_id: station_a,
        key: KeyNumber(42),
        amount: Amount::from_rappen(2_000).unwrap(),
        user_id: None,
        request_token: token,
        unless_same_since: None,
    };
    let tx = app.db.create_top_up(Scope::All, new, Timestamp::now()).await.unwrap().unwrap();
    app.journal.wake();

    // Station A is asked for its state first, then reported silent; B answers the question and is not.
    let kinds = eventually("station A reported silent and its top-up failed", 40, async || {
        let kinds = open_kinds(&app, Scope::Gerance(a)).await;
        (kinds == [Kind::StationSilent, Kind::TopUpFailed]).then_some(kinds)
    })
    .await;
    assert_eq!(kinds.len(), 2);
    assert_eq!(app.db.transaction(Scope::All, tx.id).await.unwrap().unwrap().status, TxStatus::Failed);
    assert!(open_kinds(&app, Scope::Gerance(b)).await.is_empty(), "B answered its status question");
    let b_heard = app.db.station(Scope::All, station_b).await.unwrap().unwrap();
    assert!(b_heard.last_heard_at.is_some(), "B was asked and answered");

    let mails = eventually("two mails each for Anna and Olivia", 20, async || {
        let m = sink.mails();
        (m.get("anna@a.example.ch").map_or(0, Vec::len) == 2
            && m.get("olivia@op.example.ch").map_or(0, Vec::len) == 2)
            .then_some(m)
    })
    .await;
    assert_eq!(
        mails.keys().collect::<Vec<_>>(),
        ["anna@a.example.ch", "olivia@op.example.ch"],
        "B and the quiet one get nothing"
    );
    let anna_mails = mails["anna@a.example.ch"].join("\n");
    assert!(anna_mails.contains("[Recharge] Alarm: +41790000201 antwortet nicht mehr"), "{anna_mails}");
    assert!(anna_mails.contains("Aufladung Nr. "), "{anna_mails}");
    assert!(anna_mails.contains("Die Station hat nicht geantwortet."), "{anna_mails}");
    assert!(anna_mails.contains("https://recharge.example.ch/stations"), "{anna_mails}");
    assert!(anna_mails.contains("HTML"), "plain text and HTML: {anna_mails}");
    let olivia_mails = mails["olivia@op.example.ch"].join("\n");
    assert!(olivia_mails.contains("[Recharge] Alerte : +41790000201 ne répond plus"), "{olivia_mails}");

    // Checked again and again: no second mail.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(sink.mails().values().map(Vec::len).sum::<usize>(), 4);

    // Powered on: it reads the question that waited in its SIM, answers, and the alert clears.
    demo.power_on(&app.db, station_a).await.unwrap();
    let mails = eventually("the clearing mails", 40, async || {
        let m = sink.mails();
        (m.get("anna@a.example.ch").map_or(0, Vec::len) == 3
            && m.get("olivia@op.example.ch").map_or(0, Vec::len) == 3)
            .then_some(m)
    })
    .await;
    assert!(mails["anna@a.example.ch"][2].contains("[Recharge] Behoben: +41790000201 antwortet nicht mehr"));
    assert!(mails["olivia@op.example.ch"][2].contains("[Recharge] Résolu : +41790000201 ne répond plus"));
    // The failed top-up stays until someone has seen it.
    assert_eq!(open_kinds(&app, Scope::Gerance(a)).await, [Kind::TopUpFailed]);
    assert_eq!(app.db.unacknowledged_alerts(Scope::Gerance(a)).await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_modem_credit_run_down_and_the_modem_unplugged_go_to_operators_only() {
    let tmp = tempfile::tempdir().unwrap();
    let port = Sink::free_port();
    let sink = Sink::start(port, &tmp.path().join("mail"));
    let network = Network::new(7);
    let modem = network.add_modem("+41790000001", Some(2_000));
    let mut plug = Port::plug(modem.clone(), tmp.path().join("ttyUSB0")).unwrap();
    let device = plug.path().to_owned();
    let app = spawn_with(move |s| {
        fast_alerts(&mut s.alerts, Some(port));
        s.alerts.server.outbox_age_ms = 1_000;
        // The station added below is not simulated: it is not to be reported silent here.
        s.alerts.defaults.silent_ms = 3_600_000;
        s.modem = Some(ModemSettings {
            device,
            baud: 115_200,
            pin: None,
            ussd_balance_code: Some("*130#".into()),
            number: None,
            health_every: Duration::from_millis(300),
        });
    })
    .await;
    let a = app.add_gerance("Gérance A").await;
    app.add_user("anna@a.example.ch", Role::Admin, Some(a)).await;
    let olivia = app.add_user("olivia@op.example.ch", Role::Operator, None).await;
    app.db.set_locale(olivia, "en").await.unwrap();

    // 20.00 CHF: nothing. Run down to 3.00 CHF with the emulator's knob: the operators are told.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(open_kinds(&app, Scope::All).await.is_empty());
    modem.set_credit(Some(300));
    eventually("the credit alert", 20, async || {
        (open_kinds(&app, Scope::All).await == [Kind::ModemCredit]).then_some(())
    })
    .await;
    let mail = eventually("its mail", 20, async || sink.mails().get("olivia@op.example.ch").cloned()).await;
    assert!(mail[0].contains("[Recharge] Alert: Modem SIM credit low: CHF 3.00"), "{mail:?}");
    assert!(mail[0].contains("Below the threshold of CHF 5.00"), "{mail:?}");
    // Topped up: cleared.
    modem.set_credit(Some(5_000));
    eventually("the credit cleared", 20, async || {
        open_kinds(&app, Scope::All).await.is_empty().then_some(())
    })
    .await;

    // Unplugged for longer than the threshold, with a message waiting to leave (a station asked for
    // its state): both said, and both clear once it is back and the message has left.
    plug.unplug();
    let station = add_station(&app, a, "+41790000501").await;
    assert!(server::sms::queue_status_request(&app.db, station).await.unwrap());
    app.journal.wake();
    eventually("the modem and outbox alerts", 20, async || {
        (open_kinds(&app, Scope::All).await == [Kind::ModemDown, Kind::OutboxStale]).then_some(())
    })
    .await;
    plug.replug().unwrap();
    eventually("the modem alerts cleared", 30, async || {
        open_kinds(&app, Scope::All).await.is_empty().then_some(())
    })
    .await;
    let mails = eventually("six mails", 20, async || {
        let m = sink.mails();
        (m.get("olivia@op.example.ch").map_or(0, Vec::len) == 6).then_some(m)
    })
    .await;
    let subjects: Vec<&str> =
        mails["olivia@op.example.ch"][2..].iter().map(|m| m.lines().next().unwrap()).collect();
    for subject in [
        "[Recharge] Alert: GSM modem disconnected",
        "[Recharge] Resolved: GSM modem disconnected",
        "[Recharge] Alert: 1 SMS waiting to be sent",
        "[Recharge] Resolved: 1 SMS waiting to be sent",
    ] {
        assert!(subjects.contains(&subject), "{subject} in {subjects:?}");
    }
    assert!(!mails.contains_key("anna@a.example.ch"), "the server's own alerts are the operators'");
    assert_eq!(app.db.alerts(Scope::Gerance(a), Timestamp(0), 10).await.unwrap(), []);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_server_away_delays_mails_not_top_ups_and_a_refused_recipient_is_said_on_the_alert() {
    let tmp = tempfile::tempdir().unwrap();
    let port = Sink::free_port();
    let app = spawn_with(|s| fast_alerts(&mut s.alerts, Some(port))).await;
    let a = app.add_gerance("Gérance A").await;
    app.add_user("anna@a.example.ch", Role::Admin, Some(a)).await;
    app.add_user("refused@a.example.ch", Role::Admin, Some(a)).await;
    let demo = app.demo.clone().unwrap();
    let station = add_station(&app, a, "+41790000301").await;
    let other = add_station(&app, a, "+41790000302").await;
    demo.power_off(station).await;

    // No mail server: the alert opens, its mails wait.
    eventually("the alert", 30, async || {
        (open_kinds(&app, Scope::All).await == [Kind::StationSilent]).then_some(())
    })
    .await;
    eventually("a failed try", 10, async || {
        let waiting: i64 = app.db.mails_waiting().await.unwrap();
        (waiting == 2).then_some(())
    })
    .await;
    // Meanwhile a top-up at the other station goes all the way.
    let new = NewTopUp {
        station_id: other,
        key: KeyNumber(7),
        amount: Amount::from_rappen(1_000).unwrap(),
        user_id: None,
        request_token: "t-2",
        unless_same_since: None,
    };
    let tx = app.db.create_top_up(Scope::All, new, Timestamp::now()).await.unwrap().unwrap();
    app.journal.wake();
    eventually("the top-up confirmed", 20, async || {
        let t = app.db.transaction(Scope::All, tx.id).await.unwrap().unwrap();
        (t.status == TxStatus::Confirmed).then_some(())
    })
    .await;

    // The mail server comes: Anna's mail arrives, the refused recipient is said on the alert.
    let sink = Sink::start(port, &tmp.path().join("mail"));
    let mails = eventually("Anna's mail", 30, async || sink.mails().get("anna@a.example.ch").cloned()).await;
    assert_eq!(mails.len(), 1);
    let alert = eventually("the refusal on the alert", 10, async || {
        let alerts = app.db.alerts(Scope::Gerance(a), Timestamp(0), 10).await.unwrap();
        alerts.into_iter().find(|a| a.mail_problem.is_some())
    })
    .await;
    let problem = alert.mail_problem.unwrap();
    assert!(problem.starts_with("refused@a.example.ch: ") && problem.contains("550"), "{problem}");
    assert_eq!(sink.mails().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_alerts_page_and_its_forms_are_each_gerances_own() {
    let app = spawn_with(|_| {}).await;
    let a = app.add_gerance("Gérance A").await;
    let b = app.add_gerance("Gérance B").await;
    app.add_user("anna@a.example.ch", Role::Admin, Some(a)).await;
    let bruno_id = app.add_user("bruno@b.example.ch", Role::Admin, Some(b)).await;
    app.add_user("olivia@op.example.ch", Role::Operator, None).await;
    let station = add_station(&app, a, "+41790000401").await;
    let raised = domain::alert::Raised {
        gerance: Some(a),
        condition: domain::alert::Condition::StationCredit {
            station,
            name: "Buanderie".into(),
            credit: 120,
            threshold: 500,
        },
    };
    app.db.sync_alerts(&[raised], &[], Timestamp::now(), false).await.unwrap();
    let (anna, bruno, olivia) = (
        app.login("anna@a.example.ch").await,
        app.login("bruno@b.example.ch").await,
        app.login("olivia@op.example.ch").await,
    );
    let page = |cookie: &str| {
        let cookie = cookie.to_owned();
        let app = &app;
        async move { app.get("/alerts", Some(&cookie)).await.text().await.unwrap() }
    };
    assert!(page(&anna).await.contains("Buanderie : crédit SIM bas (CHF 1.20)"));
    assert!(page(&olivia).await.contains("Buanderie : crédit SIM bas (CHF 1.20)"));
    assert!(!page(&bruno).await.contains("Buanderie"), "another gérance's alert is not shown");
    let id = app.db.alerts(Scope::All, Timestamp(0), 10).await.unwrap()[0].id.0;

    // A neighbour cannot acknowledge it; its own gérance can.
    let ack = format!("id={id}");
    assert_eq!(app.post_without_script("/alerts/ack", "/alerts", &bruno, &ack).await, "/alerts?error=gone");
    assert_eq!(app.db.unacknowledged_alerts(Scope::Gerance(a)).await.unwrap(), 1);
    assert_eq!(app.post_without_script("/alerts/ack", "/alerts", &anna, &ack).await, "/alerts?done=ack");
    assert_eq!(app.db.unacknowledged_alerts(Scope::Gerance(a)).await.unwrap(), 0);
    assert!(page(&olivia).await.contains("Vue par anna@a.example.ch"));

    // Thresholds: an administrator's own, checked; not the operator's (theirs are flags).
    let form = |credit: &str| {
        format!(
            "station_credit={credit}&silent_hours=2&weak_signal_dbm=-100&cancel_hours=12&payments_hours=48"
        )
    };
    let post = |cookie: &str, body: String| {
        let cookie = cookie.to_owned();
        let app = &app;
        async move { app.post_without_script("/alerts/thresholds", "/alerts", &cookie, &body).await }
    };
    assert_eq!(post(&anna, form("-3")).await, "/alerts?error=credit");
    assert_eq!(post(&anna, form("600")).await, "/alerts?error=credit");
    assert_eq!(
        post(&anna, form("7.5").replace("silent_hours=2", "silent_hours=0")).await,
        "/alerts?error=duration"
    );
    assert_eq!(post(&anna, form("7.5").replace("-100", "-20")).await, "/alerts?error=signal");
    assert_eq!(post(&olivia, form("7.5")).await, "/alerts?error=forbidden");
    assert_eq!(app.db.gerance_thresholds(a).await.unwrap(), None);
    assert_eq!(post(&anna, form("7.5")).await, "/alerts?done=thresholds");
    let th = app.db.gerance_thresholds(a).await.unwrap().unwrap();
    assert_eq!((th.station_credit, th.silent_ms, th.weak_signal_dbm), (750, 2 * 3_600_000, -100));
    assert_eq!(app.db.gerance_thresholds(b).await.unwrap(), None);

    // One's own choice of mails.
    assert_eq!(
        app.post_without_script("/alerts/mails", "/alerts", &bruno, "digest=on").await,
        "/alerts?done=mails"
    );
    assert_eq!(app.db.alert_prefs(bruno_id).await.unwrap(), db::AlertPrefs { mails: false, digest: true });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_station_s_report_of_low_credit_and_weak_signal_is_told_once_even_across_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let port = Sink::free_port();
    let sink = Sink::start(port, &tmp.path().join("mail"));
    let app = spawn_with(|s| {
        fast_alerts(&mut s.alerts, Some(port));
        s.alerts.defaults.silent_ms = 3_600_000;
        s.alerts.server.weak_for_ms = 1_000;
    })
    .await;
    let a = app.add_gerance("Gérance A").await;
    let anna = app.add_user("anna@a.example.ch", Role::Admin, Some(a)).await;
    app.db.set_locale(anna, "it").await.unwrap();
    let station = add_station(&app, a, "+41790000601").await;
    // The station's SIM runs low and its antenna is knocked (the emulator's knobs); asked for its state,
    // it reports both (its answer itself costs 10 Rappen: 2.40 CHF left).
    let sim = app.demo.as_ref().unwrap().network().modem("+41790000601").unwrap();
    sim.set_credit(Some(250));
    sim.set_signal(2);
    assert!(server::sms::queue_status_request(&app.db, station).await.unwrap());
    app.journal.wake();
    eventually("the credit alert, then the signal's once it lasted", 20, async || {
        (open_kinds(&app, Scope::All).await == [Kind::StationCredit, Kind::StationSignal]).then_some(())
    })
    .await;
    let mails = eventually("Anna's two mails", 20, async || {
        sink.mails().get("anna@a.example.ch").filter(|m| m.len() == 2).cloned()
    })
    .await;
    let all = mails.join("\n");
    // 2.50 CHF, or a few answers' worth less: the station reads its credit before it answers, and
    // whether an earlier answer (to the alert check's own question) was paid first depends on their order.
    assert!(all.contains("[Recharge] Allarme: +41790000601: credito SIM basso (CHF 2."), "{all}");
    assert!(all.contains("[Recharge] Allarme: +41790000601: segnale GSM debole (-109 dBm)"), "{all}");

    // Restarted (its tasks stopped wherever they were): the same alerts, no mail again.
    let before = app.db.alerts(Scope::All, Timestamp(0), 10).await.unwrap();
    let app = app.restart().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = app.db.alerts(Scope::All, Timestamp(0), 10).await.unwrap();
    let ids = |alerts: &[db::AlertRecord]| alerts.iter().map(|a| a.id).collect::<Vec<_>>();
    assert_eq!(ids(&before), ids(&after));
    assert!(after.iter().all(|a| a.cleared_at.is_none()));
    assert_eq!(sink.mails()["anna@a.example.ch"].len(), 2);
    assert_eq!(app.db.mails_waiting().await.unwrap(), 0);
}
