//! The command line and its environment twins: one `clap` definition is the whole configuration surface.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// The default database: a SQLite file under `./data/`, created on first start.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/recharge.db";

#[derive(Debug, Parser)]
#[command(name = "recharge", version, about = "Remote top-up of prepaid iButton keys by SMS.")]
pub struct Cli {
    /// Database to use, e.g. sqlite://data/recharge.db (a file path is accepted too), or
    /// postgres://USER:PASSWORD@HOST/DATABASE (then --secrets-key-file is needed).
    #[arg(long, global = true, env = "RECHARGE_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,

    /// The file holding the key that seals the station secrets in the database (64 hexadecimal digits,
    /// readable by its owner only). Without it: secrets.key beside the database file, created on first
    /// start. Keep it out of the database's backups: the two together give the secrets.
    #[arg(long, global = true, env = "RECHARGE_SECRETS_KEY_FILE")]
    pub secrets_key_file: Option<PathBuf>,

    /// How long to wait for a PostgreSQL server that does not answer at start (restarting, the network
    /// coming back) before giving up with exit status 75.
    #[arg(long, global = true, env = "RECHARGE_DATABASE_WAIT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub database_wait: std::time::Duration,

    /// How log lines are written to standard error: `text` for people, `json` (one object per line,
    /// with the request's span) for log collectors.
    #[arg(long, global = true, env = "RECHARGE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

// Parsed once from the command line: the size of its largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the web application (the default).
    Serve(ServeArgs),
    /// Manage property managers (gérances).
    #[command(subcommand)]
    Gerance(GeranceCommand),
    /// Manage the accounts that log in.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage the recharge stations.
    #[command(subcommand)]
    Station(StationCommand),
    /// Manage the key that seals the station secrets.
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Keys: the registry, their payment references and QR-bills.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Write the annual statements of a gérance's keys (every key with a payment or a top-up in the
    /// year): a PDF and a CSV per key, in its holder's language, and all of them in one PDF and one CSV.
    Statement(StatementArgs),
    /// Payments: take bank files (camt.053, camt.054) in.
    #[command(subcommand)]
    Payments(PaymentsCommand),
    /// Copy the SQLite database to a new file while the server runs, and check the copy before saying
    /// it is done. The station secrets in it are sealed with the key file: keep that apart, and safe.
    Backup {
        /// The file to write (refused if it exists).
        #[arg(long)]
        out: PathBuf,
    },
    /// Put a backup in place of the SQLite database, after checking it. The server must be stopped;
    /// the database replaced is kept beside it (`…before-restore-<time>`).
    Restore {
        /// The backup to restore.
        #[arg(long)]
        from: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct StatementArgs {
    #[arg(long)]
    pub gerance: String,
    /// The calendar year, in Zurich.
    #[arg(long)]
    pub year: String,
    /// The directory to write into (created if need be).
    #[arg(long)]
    pub out: PathBuf,
    /// Only this station's keys.
    #[arg(long)]
    pub station: Option<i64>,
    /// Only this key (with --station).
    #[arg(long, requires = "station")]
    pub key: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Print a key's fixed payment reference, as its QR-bill carries it (its gérance's account must be
    /// set: `recharge gerance creditor`).
    Reference {
        /// The station's number.
        #[arg(long)]
        station: i64,
        /// The key's number, 0 to 65535.
        #[arg(long)]
        key: String,
    },
    /// Write the QR-bill of one key, or of every active key of the station (a page each), as a PDF.
    QrBill {
        #[arg(long)]
        station: i64,
        /// One key; without it, every active key of the station's registry.
        #[arg(long)]
        key: Option<String>,
        /// The PDF file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// List the keys of a station's registry: number, state, holder, flat, language.
    List {
        #[arg(long)]
        station: i64,
        /// Only keys whose number, holder, flat or e-mail contains this.
        #[arg(long, default_value = "")]
        search: String,
    },
    /// Register a key by hand, or change its holder or state. The holder's fields given replace the
    /// stored ones; those left out are kept.
    Set {
        #[arg(long)]
        station: i64,
        #[arg(long)]
        key: String,
        /// The holder's name ("" to clear).
        #[arg(long)]
        holder: Option<String>,
        /// The flat or apartment ("" to clear).
        #[arg(long)]
        flat: Option<String>,
        #[arg(long)]
        email: Option<String>,
        /// The language of the holder's papers: fr, de, it or en.
        #[arg(long)]
        language: Option<String>,
        #[arg(long)]
        note: Option<String>,
        /// active, blocked (gets no top-up until active again) or retired.
        #[arg(long)]
        state: Option<String>,
    },
    /// Register or update the keys of a CSV list (docs/payments.md, "Key lists"): all rows or none.
    Import {
        #[arg(long)]
        station: i64,
        /// The CSV file: a header naming the columns, then a key per line.
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum PaymentsCommand {
    /// Take a bank file in (ISO 20022 camt.054 or camt.053, versions .04 and .08); prints
    /// `new N, duplicates D, proposals P, exceptions E` and the rest on one line. Nothing is kept of a
    /// file that is refused.
    Import {
        /// The file.
        file: std::path::PathBuf,
        /// The gérance it is for; by default the one whose account the file names.
        #[arg(long)]
        gerance: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Seal every station secret with a new key, which replaces the key file; safe while the server
    /// runs (it reads the file again), and finished or undone at the next start if interrupted.
    Rotate,
}

#[derive(Debug, Subcommand)]
pub enum StationCommand {
    /// Register a station; prints its provisioning string (with its secret) once.
    Add {
        /// The gérance it belongs to.
        #[arg(long)]
        gerance: String,
        /// Its name, e.g. "Station Hérémence".
        #[arg(long)]
        name: String,
        /// Where it is, e.g. "Hérémence".
        #[arg(long)]
        place: String,
        /// Its SIM's phone number, international: +41 79 123 45 67.
        #[arg(long)]
        phone: String,
        /// The largest single top-up, in CHF.
        #[arg(long, default_value = "500.00")]
        max: String,
        /// The server modem's number, for the provisioning string (as `serve --server-number`).
        #[arg(long, env = "RECHARGE_SERVER_NUMBER", value_parser = |s: &str| domain::PhoneNumber::parse(s).map_err(|e| e.to_string()))]
        server_number: Option<domain::PhoneNumber>,
    },
    /// List the stations.
    List,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address and port to listen on.
    #[arg(long, env = "RECHARGE_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,

    /// Mark cookies `Secure` (and send HSTS): set this whenever the site is reached over HTTPS.
    #[arg(long, env = "RECHARGE_SECURE_COOKIES")]
    pub secure_cookies: bool,

    /// A reverse proxy in front of the server (an address or a network, e.g. 127.0.0.1 or 10.0.0.0/8;
    /// repeat or separate by commas): only requests from these have their `Forwarded` /
    /// `X-Forwarded-For` and `X-Request-Id` believed, for the login throttle and the logs. Without it,
    /// every client is the address it connects from.
    #[arg(long = "trusted-proxy", env = "RECHARGE_TRUSTED_PROXY", value_delimiter = ',', value_parser = crate::http::client::parse_net)]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// Serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9100): off without it. Give an
    /// address only the monitoring can reach; the metrics are not behind a login.
    #[arg(long, env = "RECHARGE_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,

    /// A session unused for this long ends (e.g. 30m, 1h).
    #[arg(long, env = "RECHARGE_SESSION_IDLE", default_value = "1h", value_parser = humantime::parse_duration)]
    pub session_idle: Duration,

    /// A session ends this long after login, whatever happens (e.g. 12h).
    #[arg(long, env = "RECHARGE_SESSION_LIFETIME", default_value = "12h", value_parser = humantime::parse_duration)]
    pub session_lifetime: Duration,

    /// Do not create the demo gérance and accounts in an empty database.
    #[arg(long, env = "RECHARGE_NO_DEMO")]
    pub no_demo: bool,

    /// Directory of the built site (`pkg/`, icons, manifest); cargo-leptos writes it to target/site.
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,

    /// The GSM modem's serial device, e.g. /dev/ttyUSB0. Without it, the server runs the GSM network
    /// emulator with simulated stations (the demo).
    #[arg(long, env = "RECHARGE_MODEM")]
    pub modem: Option<PathBuf>,

    /// The modem's speed in baud.
    #[arg(long, env = "RECHARGE_MODEM_BAUD", default_value_t = 115_200)]
    pub modem_baud: u32,

    /// The SIM's PIN, if it asks for one (prefer the environment variable: arguments are visible to
    /// other users of the machine).
    #[arg(long, env = "RECHARGE_MODEM_PIN", hide_env_values = true, value_parser = |s: &str| Ok::<_, String>(sms::link::SimPin::new(s)))]
    pub modem_pin: Option<sms::link::SimPin>,

    /// USSD code that answers the prepaid SIM's balance, e.g. *130# (asked every health check).
    #[arg(long, env = "RECHARGE_USSD_BALANCE_CODE")]
    pub ussd_balance_code: Option<String>,

    /// How often the modem is asked for its signal, its registration and (with --ussd-balance-code)
    /// its SIM's credit.
    #[arg(long, env = "RECHARGE_MODEM_CHECK_EVERY", default_value = "1m", value_parser = parse_check_every)]
    pub modem_check_every: Duration,

    /// The modem SIM's own number, written into new stations' provisioning strings (the stations answer
    /// only this number), e.g. +41 79 123 45 67.
    #[arg(long, env = "RECHARGE_SERVER_NUMBER", value_parser = |s: &str| domain::PhoneNumber::parse(s).map_err(|e| e.to_string()))]
    pub server_number: Option<domain::PhoneNumber>,

    /// Where the simulated stations keep their memory and the keys their balances (demo only).
    #[arg(long, env = "RECHARGE_DEMO_DIR", default_value = "data/demo")]
    pub demo_dir: PathBuf,

    /// Wait this long for a station's answer after the first send; doubled after each further send.
    #[arg(long, env = "RECHARGE_RETRY_AFTER", default_value = "1m", value_parser = humantime::parse_duration)]
    pub retry_after: Duration,

    /// The longest wait between two sends of the same top-up or cancellation.
    #[arg(long, env = "RECHARGE_RETRY_MAX", default_value = "30m", value_parser = humantime::parse_duration)]
    pub retry_max: Duration,

    /// Sends of a top-up without an answer before it fails.
    #[arg(long, env = "RECHARGE_MAX_ATTEMPTS", default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub max_attempts: u32,

    /// Ask a station again about a top-up it confirmed but has not reported loaded after this long (its
    /// report may have been lost; the station answers again).
    #[arg(long, env = "RECHARGE_RECHECK_AFTER", default_value = "24h", value_parser = humantime::parse_duration)]
    pub recheck_after: Duration,

    /// The mail server alerts are sent through: smtp://host:25 (plain, on a trusted network),
    /// smtp://user:password@host:587?tls=required (STARTTLS), smtps://user:password@host:465 (TLS).
    /// Without it, alerts are only shown in the app. Prefer the environment variable: it holds a password.
    /// (Read as text here and checked when the server starts: a refused value is never echoed.)
    #[arg(long, env = "RECHARGE_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,

    /// The sender of the alert mails, e.g. "Recharge <alertes@example.ch>".
    #[arg(long, env = "RECHARGE_MAIL_FROM", requires = "smtp_url", value_parser = parse_mailbox)]
    pub mail_from: Option<lettre::message::Mailbox>,

    /// The address people reach the application at, for the links in mails, e.g.
    /// https://recharge.example.ch (without it: http:// and the listening address).
    #[arg(long, env = "RECHARGE_PUBLIC_URL", value_parser = parse_public_url)]
    pub public_url: Option<String>,

    /// Alert when the modem's SIM credit is below this, in CHF.
    #[arg(long, env = "RECHARGE_ALERT_SIM_CREDIT", default_value = "5.00", allow_hyphen_values = true, value_parser = parse_chf)]
    pub alert_sim_credit: i64,

    /// Alert when the modem has been disconnected for longer than this.
    #[arg(long, env = "RECHARGE_ALERT_MODEM_DOWN", default_value = "5m", value_parser = parse_short)]
    pub alert_modem_down: Duration,

    /// Alert when the oldest message waiting to be sent is older than this.
    #[arg(long, env = "RECHARGE_ALERT_OUTBOX_AGE", default_value = "15m", value_parser = parse_short)]
    pub alert_outbox_age: Duration,

    /// A station silent past its threshold is asked for its state; it is reported silent when it has
    /// not answered after this long.
    #[arg(long, env = "RECHARGE_ALERT_STATUS_GRACE", default_value = "10m", value_parser = parse_short)]
    pub alert_status_grace: Duration,

    /// Alert when a station's signal has been weak for this long.
    #[arg(long, env = "RECHARGE_ALERT_WEAK_SIGNAL_FOR", default_value = "24h", value_parser = parse_long)]
    pub alert_weak_signal_for: Duration,

    /// For gérances that did not set their own: alert when a station's SIM credit is below this, in CHF.
    #[arg(long, env = "RECHARGE_ALERT_STATION_CREDIT", default_value = "5.00", allow_hyphen_values = true, value_parser = parse_chf)]
    pub alert_station_credit: i64,

    /// For gérances that did not set their own: alert when a station has not been heard from for
    /// longer than this (stations report once a day by themselves).
    #[arg(long, env = "RECHARGE_ALERT_STATION_SILENT", default_value = "25h", value_parser = parse_long)]
    pub alert_station_silent: Duration,

    /// For gérances that did not set their own: a station's signal below this is weak, in dBm.
    #[arg(long, env = "RECHARGE_ALERT_WEAK_SIGNAL", default_value_t = -105, allow_negative_numbers = true,
          value_parser = parse_dbm)]
    pub alert_weak_signal: i64,

    /// For gérances that did not set their own: alert when a cancellation is unconfirmed after this long.
    #[arg(long, env = "RECHARGE_ALERT_CANCEL_WAIT", default_value = "24h", value_parser = parse_long)]
    pub alert_cancel_wait: Duration,

    /// For gérances that did not set their own: alert when a payment exception waits longer than this.
    #[arg(long, env = "RECHARGE_ALERT_PAYMENTS_WAIT", default_value = "24h", value_parser = parse_long)]
    pub alert_payments_wait: Duration,

    /// How often the alert conditions are checked.
    #[arg(long, env = "RECHARGE_ALERT_CHECK_EVERY", default_value = "1m", value_parser = parse_check_every)]
    pub alert_check_every: Duration,
}

/// The mail server's address, with its password if it has one: never shown (`Debug` hides it).
#[derive(Clone)]
pub struct SmtpUrl(String);

impl SmtpUrl {
    pub fn parse(s: &str) -> Result<Self, String> {
        let scheme = s.split_once("://").map(|(scheme, _)| scheme);
        if !matches!(scheme, Some("smtp" | "smtps")) {
            return Err("the mail server must be smtp://host:port or smtps://user:password@host:port".into());
        }
        // lettre reads it the same way when the mailer starts; refused here, it never starts wrong.
        lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(s)
            .map_err(|e| format!("the mail server's address cannot be used: {e}"))?;
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SmtpUrl(…)")
    }
}

fn parse_mailbox(s: &str) -> Result<lettre::message::Mailbox, String> {
    s.parse().map_err(|e| format!("not a mail address: {e}"))
}

fn parse_public_url(s: &str) -> Result<String, String> {
    let s = s.trim().trim_end_matches('/');
    if !(s.starts_with("https://") || s.starts_with("http://")) || s.contains(['?', '#', ' ']) {
        return Err("the public address must be like https://recharge.example.ch".into());
    }
    Ok(s.to_owned())
}

fn parse_chf(s: &str) -> Result<i64, String> {
    domain::alert::parse_credit_threshold(s).map_err(|e| e.to_string())
}

fn parse_dbm(s: &str) -> Result<i64, String> {
    let dbm: i64 = s.trim().parse().map_err(|_| domain::alert::ThresholdError::Signal.to_string())?;
    domain::alert::check_signal_threshold(dbm).map_err(|e| e.to_string())
}

fn parse_bounded(s: &str, bounds: domain::alert::DurationBounds) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    bounds.check(ms).map(|_| d).map_err(|e| e.to_string())
}

fn parse_short(s: &str) -> Result<Duration, String> {
    parse_bounded(s, domain::alert::DurationBounds::Short)
}

fn parse_long(s: &str) -> Result<Duration, String> {
    parse_bounded(s, domain::alert::DurationBounds::Long)
}

fn parse_check_every(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    if d < Duration::from_millis(100) || d > Duration::from_secs(3600) {
        return Err("the alerts must be checked at least once an hour and at most ten times a second".into());
    }
    Ok(d)
}

impl ServeArgs {
    /// The settings `recharge` uses when started without a subcommand (flags come from the environment).
    pub fn from_env() -> Result<Self, clap::Error> {
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            args: ServeArgs,
        }
        Only::try_parse_from(["recharge"]).map(|o| o.args)
    }
}

// Parsed once from the command line: the size of its largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum GeranceCommand {
    /// Create a gérance.
    Add {
        /// Its name as shown in the journal, e.g. "Gérance test".
        name: String,
    },
    /// Set the account tenants pay into and the address its QR-bills print; without --iban, show them.
    Creditor {
        /// The gérance.
        #[arg(value_name = "NAME")]
        gerance: String,
        /// A Swiss or Liechtenstein IBAN; a QR-IBAN (institution id 30000–31999) gets QR references, an
        /// ordinary IBAN creditor references (RF).
        #[arg(long)]
        iban: Option<String>,
        /// The creditor's name as the QR-bill prints it.
        #[arg(long = "name", requires = "iban")]
        creditor_name: Option<String>,
        #[arg(long, requires = "iban")]
        street: Option<String>,
        #[arg(long, requires = "iban", default_value = "")]
        building: String,
        #[arg(long, requires = "iban")]
        postcode: Option<String>,
        #[arg(long, requires = "iban")]
        town: Option<String>,
        /// Two letters (ISO 3166-1).
        #[arg(long, requires = "iban", default_value = "CH")]
        country: String,
        /// Digits the bank wants at the start of every QR reference (a QR-IBAN only).
        #[arg(long, default_value = "")]
        qrr_prefix: String,
        /// The amount printed on the QR-bills, in CHF; left open when not given.
        #[arg(long, default_value = "")]
        bill_amount: String,
        /// Kept from every payment, in CHF.
        #[arg(long, default_value = "")]
        fee: String,
        /// Kept from every payment, in percent.
        #[arg(long, default_value = "")]
        fee_percent: String,
        /// Approve proposals with a key reference up to this amount (CHF) at import; off when not given.
        #[arg(long, default_value = "")]
        auto_approve: String,
    },
    /// List the gérances.
    List,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account; the password is read from standard input (or asked for on a terminal).
    Add {
        #[arg(long)]
        email: String,
        /// operator (sees everything) or admin (sees one gérance).
        #[arg(long)]
        role: String,
        /// The gérance of an admin.
        #[arg(long)]
        gerance: Option<String>,
    },
    /// List the accounts.
    List,
    /// Set a new password (read like `user add`) and end all of the account's sessions.
    Passwd {
        #[arg(long)]
        email: String,
    },
}

/// Accepts a bare file path where a URL is expected, as people type them.
pub fn normalize_database_url(raw: &str) -> String {
    if raw.contains("://") || raw.starts_with("sqlite:") { raw.to_owned() } else { format!("sqlite://{raw}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn every_setting_has_its_environment_twin() {
        use clap::CommandFactory;
        let cli = Cli::command();
        let serve = cli.find_subcommand("serve").expect("a serve command");
        let station =
            cli.find_subcommand("station").and_then(|s| s.find_subcommand("add")).expect("station add");
        let settings =
            serve.get_arguments().chain(station.get_arguments().filter(|a| a.get_id() == "server_number"));
        for arg in settings.filter(|a| a.get_long().is_some() && a.get_id() != "help") {
            let env = arg.get_env().map(|e| e.to_string_lossy().into_owned());
            assert!(
                env.as_deref().is_some_and(|e| e.starts_with("RECHARGE_") || e.starts_with("LEPTOS_")),
                "--{} has no environment twin",
                arg.get_long().unwrap()
            );
        }
        let number = station.get_arguments().find(|a| a.get_id() == "server_number").unwrap();
        assert_eq!(number.get_env().unwrap(), "RECHARGE_SERVER_NUMBER");
    }

    #[test]
    fn bare_paths_become_sqlite_urls() {
        assert_eq!(normalize_database_url("data/x.db"), "sqlite://data/x.db");
        assert_eq!(normalize_database_url("sqlite://data/x.db"), "sqlite://data/x.db");
    }
}
