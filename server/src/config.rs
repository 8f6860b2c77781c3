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
    /// Database to use, e.g. sqlite://data/recharge.db (a file path is accepted too).
    #[arg(long, global = true, env = "RECHARGE_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,

    /// The file holding the key that seals the station secrets in the database (64 hexadecimal digits,
    /// readable by its owner only). Without it: secrets.key beside the database file, created on first
    /// start. Keep it out of the database's backups: the two together give the secrets.
    #[arg(long, global = true, env = "RECHARGE_SECRETS_KEY_FILE")]
    pub secrets_key_file: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

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
