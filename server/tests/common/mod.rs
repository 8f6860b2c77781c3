//! Starting the real server on port 0 with a fresh database, and talking to it over HTTP.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use db::{Db, NewUser};
use domain::journal::RetryPolicy;
use domain::{Email, GeranceId, GeranceName, Role, Timestamp, UserId};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Response, StatusCode};
use server::auth::password;
use server::auth::session::SessionPolicy;
use server::auth::throttle::ThrottlePolicy;
use server::feed::Journal;
use server::sms::demo::Demo;
use server::startup::{Application, Settings};
use std::sync::Arc;
use tokio::sync::oneshot;

pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestApp {
    pub addr: SocketAddr,
    /// Where the metrics are served, when the settings asked for them.
    pub metrics_addr: Option<SocketAddr>,
    pub db: Db,
    pub journal: Journal,
    pub demo: Option<Arc<Demo>>,
    /// Whether this instance owns the modem.
    pub owner: server::lease::Ownership,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    running: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    settings: Settings,
    _dir: tempfile::TempDir,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Settings a test may change before the server starts.
pub fn settings(dir: &tempfile::TempDir) -> Settings {
    // The static files as cargo-leptos copies them into the site: the repository's `public/`.
    let leptos = leptos::config::LeptosOptions::builder()
        .output_name("recharge")
        .site_root(concat!(env!("CARGO_MANIFEST_DIR"), "/../public"))
        .build();
    Settings {
        addr: "127.0.0.1:0".parse().unwrap(),
        database_url: format!("sqlite://{}", dir.path().join("recharge.db").display()),
        database: db::DbOptions::default(),
        secure_cookies: false,
        trusted_proxies: server::http::client::TrustedProxies::default(),
        metrics_addr: None,
        sessions: SessionPolicy { idle: Duration::from_secs(3600), lifetime: Duration::from_secs(12 * 3600) },
        account_throttle: ThrottlePolicy::PER_ACCOUNT,
        client_throttle: ThrottlePolicy::PER_CLIENT,
        demo: false,
        leptos,
        modem: None,
        demo_dir: dir.path().join("demo"),
        retry: RetryPolicy {
            first_delay_ms: 300,
            max_delay_ms: 1_000,
            max_attempts: 12,
            confirmed_recheck_ms: 2_000,
        },
        limits: server::http::Limits::from_system(),
        alerts: server::alerts::AlertSettings::default(),
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_with(|_| {}).await
}

pub async fn spawn_with(change: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&dir);
    change(&mut s);
    on_postgres(&mut s, &dir).await;
    start(s, dir).await
}

/// With `RECHARGE_TEST_POSTGRES` set (`scripts/test-postgres`), a test's database is a new one on that
/// PostgreSQL server, its station secrets' key in the test's directory; a test that chose its own
/// database keeps it.
async fn on_postgres(s: &mut Settings, dir: &tempfile::TempDir) {
    let Some(server) = db::test_support::postgres_server() else { return };
    if s.database_url != settings(dir).database_url {
        return;
    }
    s.database_url = db::test_support::fresh_postgres(&server).await.expect("a test database");
    s.database.secrets_key_file.get_or_insert_with(|| dir.path().join("secrets.key"));
}

/// Whether the tests run on PostgreSQL (for the few that are about a SQLite file).
pub fn on_postgres_server() -> bool {
    db::test_support::postgres_server().is_some()
}

async fn start(s: Settings, dir: tempfile::TempDir) -> TestApp {
    let app = Application::build(s.clone()).await.expect("server starts");
    let addr = app.local_addr();
    let metrics_addr = app.metrics_addr();
    let (journal, demo, owner) = (app.journal(), app.demo(), app.ownership());
    let (stop, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let db = Db::open_with(&s.database_url, &s.database).await.unwrap();
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    TestApp {
        addr,
        metrics_addr,
        db,
        journal,
        demo,
        owner,
        client,
        stop: Some(stop),
        running: Some(running),
        settings: s,
        _dir: dir,
    }
}

impl TestApp {
    /// Stops the server (its tasks are aborted wherever they are, as in a crash) and starts a new one on
    /// the same database and demo directory.
    pub async fn restart(self) -> TestApp {
        self.restart_after(|_| {}).await
    }

    /// [`TestApp::restart`], running `between` while the server is stopped and the database closed.
    pub async fn restart_after(self, between: impl FnOnce(&Settings)) -> TestApp {
        let settings = self.settings.clone();
        let dir = self.stop_keeping_files().await;
        between(&settings);
        start(settings, dir).await
    }

    /// Stops the server cleanly (running requests finish, the modem lease is let go) and keeps its
    /// files, for another instance to go on with.
    pub async fn stop_keeping_files(mut self) -> tempfile::TempDir {
        self.demo = None;
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(running) = self.running.take() {
            running.await.unwrap().unwrap();
        }
        self.db.close().await;
        std::mem::replace(&mut self._dir, tempfile::tempdir().unwrap())
    }

    /// Another instance on the same database and demo directory (as a second `recharge serve` behind
    /// the same proxy), on its own port.
    pub async fn second_instance(&self) -> TestApp {
        self.second_instance_with(self.settings.clone()).await
    }

    /// [`TestApp::second_instance`] with settings of its own (another way to the database).
    pub async fn second_instance_with(&self, settings: Settings) -> TestApp {
        start(settings, tempfile::tempdir().unwrap()).await
    }

    /// What the server was started with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn add_gerance(&self, name: &str) -> GeranceId {
        self.db.create_gerance(&GeranceName::parse(name).unwrap(), Timestamp::now()).await.unwrap().id
    }

    pub async fn add_user(&self, email: &str, role: Role, gerance_id: Option<GeranceId>) -> UserId {
        let hash = password::hash(PASSWORD.into()).await.unwrap();
        let email = Email::parse(email).unwrap();
        let new = NewUser { email: &email, password_hash: &hash, role, gerance_id };
        self.db.create_user(new, Timestamp::now()).await.unwrap()
    }

    pub async fn post_login(&self, email: &str, password: &str) -> Response {
        self.client
            .post(self.url("/login"))
            .form(&[("email", email), ("password", password), ("next", "")])
            .send()
            .await
            .unwrap()
    }

    /// Logs in and returns the `Cookie` header value that carries the session.
    pub async fn login(&self, email: &str) -> String {
        let r = self.post_login(email, PASSWORD).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&r), "/");
        session_cookie(&r).expect("a session cookie")
    }

    pub async fn get(&self, path: &str, cookie: Option<&str>) -> Response {
        let mut req = self.client.get(self.url(path));
        if let Some(c) = cookie {
            req = req.header(COOKIE, c);
        }
        req.send().await.unwrap()
    }

    /// Posts a form as a browser does without script (it asks for a page) from the page `referer`; the
    /// address it is sent to, which must be a redirect.
    pub async fn post_without_script(&self, path: &str, referer: &str, cookie: &str, body: &str) -> String {
        let r = self
            .client
            .post(self.url(path))
            .header(COOKIE, cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
            .header("referer", self.url(referer))
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        assert!(r.status().is_redirection(), "{path}: {}", r.status());
        location(&r)
    }

    pub async fn post_api(&self, path: &str, cookie: Option<&str>, body: &str) -> Response {
        let mut req = self
            .client
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned());
        if let Some(c) = cookie {
            req = req.header(COOKIE, c);
        }
        req.send().await.unwrap()
    }
}

/// A gérance with one station and its administrator, logged in: the session cookie and the station. In
/// the demo the station is simulated too.
pub async fn admin_with_station(app: &TestApp) -> (String, domain::StationId) {
    let gerance = app.add_gerance("Gérance A").await;
    app.add_user("a@example.ch", Role::Admin, Some(gerance)).await;
    let new = db::NewStation {
        gerance_id: gerance,
        name: "Station",
        place: "Sion",
        phone: &domain::PhoneNumber::parse("+41790000101").unwrap(),
        secret: &[3; 32],
        max_amount: domain::Amount::from_rappen(50_000).unwrap(),
    };
    let station = app.db.create_station(new, Timestamp::now()).await.unwrap();
    if let Some(demo) = &app.demo {
        demo.sync(&app.db).await.unwrap();
    }
    (app.login("a@example.ch").await, station)
}

pub fn location(r: &Response) -> String {
    r.headers().get(LOCATION).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

/// The `name=value` of the session cookie set by a response, if any (and not a removal).
pub fn session_cookie(r: &Response) -> Option<String> {
    r.headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|c| c.starts_with("recharge_session=") && !c.starts_with("recharge_session=;"))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

pub fn set_cookies(r: &Response) -> Vec<String> {
    r.headers().get_all(SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_owned()).collect()
}

/// A TCP path between a server and its database that a test cuts and mends: the network to the database
/// lost (every connection dropped, new ones closed at once) and back.
pub struct Link {
    pub port: u16,
    cut: Arc<std::sync::atomic::AtomicBool>,
    open: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    accepting: tokio::task::JoinHandle<()>,
}

impl Link {
    /// A path to `target` (`host:port`) on a port of its own.
    pub async fn to(target: String) -> Link {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let open = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (is_cut, conns) = (cut.clone(), open.clone());
        let accepting = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if is_cut.load(std::sync::atomic::Ordering::SeqCst) {
                    continue;
                }
                let target = target.clone();
                conns.lock().unwrap().push(tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                }));
            }
        });
        Link { port, cut, open, accepting }
    }

    /// Drops every connection through it, and closes new ones at once.
    pub fn cut(&self) {
        self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
        for conn in self.open.lock().unwrap().drain(..) {
            conn.abort();
        }
    }

    pub fn mend(&self) {
        self.cut.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.accepting.abort();
        self.cut();
    }
}
