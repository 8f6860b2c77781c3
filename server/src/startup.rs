//! Putting the server together: database, demo data, listener, router, background sweeps.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use db::Db;
use domain::{Email, GeranceName, Role, Timestamp};
use leptos::config::{Env, LeptosOptions};
use tokio::net::TcpListener;

use crate::auth::password;
use crate::auth::session::SessionPolicy;
use crate::auth::throttle::ThrottlePolicy;
use crate::config::ServeArgs;
use crate::feed::Journal;
use crate::http;
use crate::metrics::Metrics;
use crate::sms::{self, ModemStatus, demo::Demo};
use ::sms::link::{LinkConfig, SerialDevice};
use domain::journal::RetryPolicy;
use std::path::PathBuf;
use tokio::task::JoinHandle;

/// The base name of the site's files: `pkg/recharge.js`, `.wasm`, `.css`.
pub const OUTPUT_NAME: &str = "recharge";

/// Everything the server needs to run.
#[derive(Debug, Clone)]
pub struct Settings {
    pub addr: SocketAddr,
    pub database_url: String,
    /// How to open it besides its URL: the station secrets' key file.
    pub database: db::DbOptions,
    pub secure_cookies: bool,
    /// Whose forwarding headers are believed.
    pub trusted_proxies: http::client::TrustedProxies,
    /// Where Prometheus metrics are served, if anywhere.
    pub metrics_addr: Option<SocketAddr>,
    pub sessions: SessionPolicy,
    pub account_throttle: ThrottlePolicy,
    pub client_throttle: ThrottlePolicy,
    pub demo: bool,
    pub leptos: LeptosOptions,
    pub modem: Option<ModemSettings>,
    pub demo_dir: PathBuf,
    pub retry: RetryPolicy,
    /// What each connection may hold, and how many there may be.
    pub limits: http::Limits,
    /// Alert thresholds, checks and mail.
    pub alerts: crate::alerts::AlertSettings,
}

/// A real modem on a serial port.
#[derive(Clone)]
pub struct ModemSettings {
    pub device: PathBuf,
    pub baud: u32,
    pub pin: Option<::sms::link::SimPin>,
    pub ussd_balance_code: Option<String>,
    /// The SIM's own number, written into stations' provisioning strings.
    pub number: Option<domain::PhoneNumber>,
    /// How often the modem's signal, registration and credit are asked.
    pub health_every: Duration,
}

impl std::fmt::Debug for ModemSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the PIN.
        f.debug_struct("ModemSettings")
            .field("device", &self.device)
            .field("baud", &self.baud)
            .finish_non_exhaustive()
    }
}

impl Settings {
    pub fn from_args(args: ServeArgs, database_url: String) -> anyhow::Result<Self> {
        // The names match `[[workspace.metadata.leptos]]` in Cargo.toml; they are set here rather than read
        // from cargo-leptos's environment so that the binary runs on its own.
        let leptos = LeptosOptions::builder()
            .output_name(OUTPUT_NAME)
            .site_root(args.site_root.to_string_lossy().into_owned())
            .site_pkg_dir("pkg")
            .site_addr(args.addr)
            .env(if cfg!(debug_assertions) { Env::DEV } else { Env::PROD })
            .build();
        Ok(Self {
            addr: args.addr,
            database_url,
            database: db::DbOptions::default(),
            secure_cookies: args.secure_cookies,
            trusted_proxies: http::client::TrustedProxies::new(args.trusted_proxies),
            metrics_addr: args.metrics_addr,
            sessions: SessionPolicy { idle: args.session_idle, lifetime: args.session_lifetime },
            account_throttle: ThrottlePolicy::PER_ACCOUNT,
            client_throttle: ThrottlePolicy::PER_CLIENT,
            demo: !args.no_demo,
            leptos,
            modem: args.modem.map(|device| ModemSettings {
                device,
                baud: args.modem_baud,
                pin: args.modem_pin,
                ussd_balance_code: args.ussd_balance_code,
                number: args.server_number,
                health_every: args.modem_check_every,
            }),
            demo_dir: args.demo_dir,
            retry: RetryPolicy {
                first_delay_ms: args.retry_after.as_millis() as i64,
                max_delay_ms: args.retry_max.max(args.retry_after).as_millis() as i64,
                max_attempts: args.max_attempts,
                confirmed_recheck_ms: args.recheck_after.as_millis() as i64,
            },
            limits: http::Limits::from_system(),
            alerts: crate::alerts::AlertSettings {
                server: domain::alert::ServerThresholds {
                    modem_credit: args.alert_sim_credit,
                    modem_down_ms: millis(args.alert_modem_down),
                    outbox_age_ms: millis(args.alert_outbox_age),
                    status_grace_ms: millis(args.alert_status_grace),
                    weak_for_ms: millis(args.alert_weak_signal_for),
                },
                defaults: domain::alert::GeranceThresholds {
                    station_credit: args.alert_station_credit,
                    silent_ms: millis(args.alert_station_silent),
                    weak_signal_dbm: args.alert_weak_signal,
                    cancel_wait_ms: millis(args.alert_cancel_wait),
                    payments_wait_ms: millis(args.alert_payments_wait),
                },
                check_every: args.alert_check_every,
                mail: match (args.smtp_url, args.mail_from) {
                    (Some(smtp), Some(from)) => Some(crate::alerts::MailSettings {
                        smtp: crate::config::SmtpUrl::parse(&smtp)
                            .map_err(|e| anyhow::anyhow!("--smtp-url: {e}"))?,
                        from,
                        first_retry: Duration::from_secs(30),
                    }),
                    (Some(_), None) => {
                        anyhow::bail!("--mail-from is needed with --smtp-url: the alert mails' sender")
                    }
                    (None, _) => None,
                },
                public_url: args.public_url.unwrap_or_else(|| format!("http://{}", args.addr)),
            },
        })
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A server bound to its port, ready to run.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    db: Db,
    sessions: SessionPolicy,
    tasks: Vec<JoinHandle<()>>,
    demo: DemoSlot,
    journal: Journal,
    limits: http::Limits,
    metrics_addr: Option<SocketAddr>,
    /// The modem lease: this instance drives the modem only while it holds it (`crate::lease`).
    leasing: crate::lease::Leasing,
}

/// The simulated stations, in the instance that owns the modem while it does (`None` elsewhere, and with
/// a real modem).
#[derive(Clone, Default)]
pub struct DemoSlot(Arc<std::sync::RwLock<Option<Arc<Demo>>>>);

impl DemoSlot {
    pub fn get(&self) -> Option<Arc<Demo>> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set(&self, demo: Option<Arc<Demo>>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = demo;
    }
}

/// What the instance that owns the modem runs: the link and the modem task on the modem (or the demo's
/// network, with its simulated stations), and the alert checks, which read the modem's facts.
struct Owner {
    settings: Arc<Settings>,
    db: Db,
    journal: Journal,
    status: ModemStatus,
    demo: DemoSlot,
}

impl Owner {
    async fn start(self: Arc<Self>, hold: crate::lease::Hold) -> anyhow::Result<crate::lease::Duties> {
        let (db, journal, status) = (self.db.clone(), self.journal.clone(), self.status.clone());
        let retry = self.settings.retry;
        let mut answering = None;
        let (link_task, modem_task) = match &self.settings.modem {
            Some(modem) => {
                let device = SerialDevice { path: modem.device.clone(), baud: modem.baud };
                let config = LinkConfig {
                    pin: modem.pin.clone(),
                    pin_refused: sms::pin_was_refused(&db, modem.pin.as_ref()).await,
                    ussd_balance_code: modem.ussd_balance_code.clone(),
                    health_every: modem.health_every,
                    ..LinkConfig::default()
                };
                sms::start(device, config, db, journal.clone(), retry, status.clone(), hold)
            }
            None => {
                let (demo, modem) = Demo::start(&db, self.settings.demo_dir.clone())
                    .await
                    .context("starting the simulated stations")?;
                let demo = Arc::new(demo);
                self.demo.set(Some(demo.clone()));
                // What people do at the stations through the other instances.
                answering = Some(tokio::spawn(demo.answer_actions(db.clone())));
                sms::start(modem, LinkConfig::default(), db, journal.clone(), retry, status.clone(), hold)
            }
        };
        let mut tasks = vec![link_task, modem_task];
        tasks.extend(answering);
        tasks.extend(crate::alerts::start(self.db.clone(), journal, status, self.settings.alerts.clone()));
        // The simulated stations go with the duties.
        let demo = self.demo.clone();
        Ok(crate::lease::Duties { tasks, on_stop: Some(Box::new(move || demo.set(None))) })
    }
}

impl Application {
    /// Opens the database, creates the demo data if it is empty, and binds the port (0 picks a free one).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let db = Db::open_with(&settings.database_url, &settings.database).await?;
        let listener = TcpListener::bind(settings.addr)
            .await
            .with_context(|| format!("cannot listen on {}", settings.addr))?;
        if settings.demo {
            seed_demo(&db).await?;
        }
        password::warm_up();
        let settings = Arc::new(settings);
        let journal = Journal::new(db.clone());
        let status = ModemStatus::default();
        let demo = DemoSlot::default();
        let owner = Arc::new(Owner {
            settings: settings.clone(),
            db: db.clone(),
            journal: journal.clone(),
            status: status.clone(),
            demo: demo.clone(),
        });
        let duties: crate::lease::StartDuties = Arc::new(move |hold| Box::pin(owner.clone().start(hold)));
        let leasing = crate::lease::start(db.clone(), status.clone(), duties).await?;
        let sessions = settings.sessions;
        let limits = settings.limits;
        let metrics = Arc::new(Metrics::new(leasing.ownership().handovers()));
        let mut metrics_addr = None;
        let metrics_task = match settings.metrics_addr {
            Some(addr) => {
                let listener = TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr} for metrics"))?;
                metrics_addr = listener.local_addr().ok();
                let sources = crate::metrics::Sources {
                    db: db.clone(),
                    journal: journal.clone(),
                    modem: status.clone(),
                    owner: leasing.ownership(),
                    silent_ms: settings.alerts.defaults.silent_ms,
                };
                let router = crate::metrics::router(metrics.clone(), sources);
                Some(tokio::spawn(async move {
                    if let Err(e) = http::serve(listener, router, limits, std::future::pending()).await {
                        tracing::error!(error = %e, "serving metrics failed");
                    }
                }))
            }
            None => None,
        };
        let state = http::AppState::new(
            db.clone(),
            settings,
            journal.clone(),
            demo.clone(),
            status,
            leasing.ownership(),
            metrics,
        );
        let router = http::router(state);
        let feed = journal.start_feed();
        let mut tasks = vec![feed];
        tasks.extend(db.follow_others());
        tasks.extend(metrics_task);
        Ok(Self { listener, router, db, sessions, tasks, demo, journal, limits, metrics_addr, leasing })
    }

    /// Wakes the modem task; publishes journal changes.
    pub fn journal(&self) -> Journal {
        self.journal.clone()
    }

    /// The simulated stations, when running without a modem, in the instance that owns the modem.
    pub fn demo(&self) -> Option<Arc<Demo>> {
        self.demo.get()
    }

    /// Whether this instance owns the modem, and who it is.
    pub fn ownership(&self) -> crate::lease::Ownership {
        self.leasing.ownership()
    }

    /// Where the metrics are served, once bound (`--metrics-addr`).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// Serves until `shutdown` completes, then lets running requests finish and closes the database.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let sweeper = tokio::spawn(sweep_forever(self.db.clone(), self.sessions));
        // Event streams are served by the listener itself, the rest by hyper.
        let journal = self.journal.clone();
        let shutdown = async move {
            shutdown.await;
            journal.stop_streams();
        };
        let served = http::serve(self.listener, self.router, self.limits, shutdown).await;
        sweeper.abort();
        for task in &self.tasks {
            task.abort();
        }
        self.leasing.stop().await;
        self.db.close().await;
        served.context("serving HTTP")
    }
}

/// Deletes expired sessions and stale throttle records every few minutes. Expiry is enforced on every
/// request regardless; this only keeps the tables small.
async fn sweep_forever(db: Db, sessions: SessionPolicy) {
    let mut tick = tokio::time::interval(Duration::from_secs(300));
    loop {
        tick.tick().await;
        let now = Timestamp::now();
        if let Err(e) = db.delete_expired_sessions(now, sessions.idle_cutoff(now)).await {
            tracing::warn!(error = %e, "sweeping sessions failed");
        }
        if let Err(e) = db.sweep_throttle(now.plus_millis(-24 * 3600 * 1000)).await {
            tracing::warn!(error = %e, "sweeping login throttle failed");
        }
    }
}

/// On a first start with an empty database, creates a demo gérance with an operator and an administrator,
/// and prints their passwords once: they are stored only as hashes.
async fn seed_demo(db: &Db) -> anyhow::Result<()> {
    if db.count_users().await? > 0 {
        return Ok(());
    }
    let now = Timestamp::now();
    let gerance = match db.gerance_by_name(&GeranceName::parse("Gérance test")?).await? {
        Some(g) => g,
        None => db.create_gerance(&GeranceName::parse("Gérance test")?, now).await?,
    };
    let accounts = [
        ("operator@demo.recharge.ch", Role::Operator, None),
        ("admin@demo.recharge.ch", Role::Admin, Some(gerance.id)),
    ];
    println!("Empty database: created the demo gérance \"{}\" and these accounts.", gerance.name);
    println!("Write the passwords down now; they are not shown again.");
    for (email, role, gerance_id) in accounts {
        let password = password::generate();
        let hash = password::hash(password.clone()).await?;
        let email = Email::parse(email)?;
        db.create_user(db::NewUser { email: &email, password_hash: &hash, role, gerance_id }, now).await?;
        println!("  {:<9} {:<28} {}", role.as_str(), email.as_str(), password);
    }
    let stations = [
        ("Station Hérémence", "Hérémence", "+41790000101"),
        ("Station Sion", "Sion", "+41790000102"),
        ("Station Martigny", "Martigny", "+41790000103"),
    ];
    for (name, place, phone) in stations {
        let secret = sms::new_station_secret();
        let new = db::NewStation {
            gerance_id: gerance.id,
            name,
            place,
            phone: &domain::PhoneNumber::parse(phone)?,
            secret: &secret,
            max_amount: domain::Amount::from_rappen(50_000)?,
        };
        match db.create_station(new, now).await {
            Ok(_) | Err(db::DbError::Conflict) => {}
            Err(e) => return Err(e.into()),
        }
    }
    println!("  and the simulated stations {}.", stations.map(|s| s.0).join(", "));
    Ok(())
}
