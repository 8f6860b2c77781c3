//! The `recharge` subcommands. Each opens the database itself, so they work while the server runs.

use std::io::{BufRead, IsTerminal};

use anyhow::{Context, anyhow, bail};
use db::{Db, DbError, DbOptions, NewUser};
use domain::{Email, GeranceName, NewPassword, Role, Timestamp};

use crate::auth::password;
use crate::config::{
    Cli, Command, GeranceCommand, KeyCommand, PaymentsCommand, SecretsCommand, ServeArgs, StationCommand,
    UserCommand, normalize_database_url,
};
use crate::startup::{Application, Settings};

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let database_url = normalize_database_url(&cli.database_url);
    let options =
        DbOptions { secrets_key_file: cli.secrets_key_file, database_wait: Some(cli.database_wait) };
    match cli.command {
        None => serve(ServeArgs::from_env()?, database_url, options).await,
        Some(Command::Serve(args)) => serve(args, database_url, options).await,
        Some(Command::Gerance(cmd)) => gerance(cmd, &open(&database_url, &options).await?).await,
        Some(Command::User(cmd)) => user(cmd, &open(&database_url, &options).await?).await,
        Some(Command::Station(cmd)) => station(cmd, &open(&database_url, &options).await?).await,
        Some(Command::Key(cmd)) => key(cmd, &open(&database_url, &options).await?).await,
        Some(Command::Statement(args)) => statement(args, &open(&database_url, &options).await?).await,
        Some(Command::Payments(cmd)) => payments(cmd, &open(&database_url, &options).await?).await,
        Some(Command::Backup { out }) => {
            db::maintenance::sqlite_file(&database_url)?;
            let db = open(&database_url, &options).await?;
            let report = db.backup_to(&out).await?;
            println!(
                "Backed up to {} and checked: {} top-up(s), {} account(s), schema {}, {} bytes.",
                report.file.display(),
                report.topups,
                report.users,
                report.schema,
                report.bytes
            );
            println!(
                "Its station secrets are sealed with the key file: keep a copy of that apart from backups."
            );
            Ok(())
        }
        Some(Command::Restore { from }) => {
            let report = db::maintenance::restore(&from, &database_url).await?;
            let r = &report.restored;
            println!(
                "Restored {} to {}: {} top-up(s), {} account(s), schema {}.",
                from.display(),
                r.file.display(),
                r.topups,
                r.users,
                r.schema
            );
            if let Some(kept) = &report.replaced {
                println!("The database it replaced is kept as {}.", kept.display());
            }
            println!("Start the server: it migrates the copy if need be and resumes from it.");
            Ok(())
        }
        Some(Command::Secrets(SecretsCommand::Rotate)) => {
            let rotation = open(&database_url, &options).await?.rotate_secrets_key().await?;
            println!(
                "Sealed {} station secret(s) with the new key {} (was {}), now in {}.",
                rotation.resealed,
                rotation.new_key,
                rotation.old_key,
                rotation.key_file.display()
            );
            Ok(())
        }
    }
}

async fn station(cmd: StationCommand, db: &Db) -> anyhow::Result<()> {
    match cmd {
        StationCommand::Add { gerance, name, place, phone, max, server_number } => {
            let gerance_name = GeranceName::parse(&gerance)?;
            let g = db
                .gerance_by_name(&gerance_name)
                .await?
                .ok_or_else(|| anyhow!("no gérance named \"{gerance}\""))?;
            let fields =
                domain::station::StationFields::parse(&name, &place, &phone, &max).map_err(|refused| {
                    let why: Vec<&str> = refused
                        .iter()
                        .map(|f| match f {
                            domain::station::StationField::Name => "the name has 1 to 80 characters",
                            domain::station::StationField::Place => "the place has 1 to 80 characters",
                            domain::station::StationField::Phone => {
                                "the phone number must be international, like +41 79 123 45 67"
                            }
                            domain::station::StationField::Max => {
                                "--max must be more than zero, in CHF with at most two decimals"
                            }
                        })
                        .collect();
                    anyhow!("{}", why.join("; "))
                })?;
            let station = crate::stations::register(db, g.id, &fields, server_number.as_ref()).await?;
            let (id, name, place, phone) = (station.id, &fields.name, &fields.place, &fields.phone);
            println!("Created station {id} \"{name}\" ({}, {place}, {phone}).", g.name);
            println!("Provisioning string for the station (it holds the secret and is not shown again):");
            println!("  {}", station.provisioning);
            if !station.server_number_known {
                println!("  (replace +SERVERNUMBER with the server modem's number, or give --server-number)");
            }
        }
        StationCommand::List => {
            for s in db.list_stations(db::Scope::All).await? {
                println!(
                    "{:>5}  {:<24} {:<20} {:<14} {}  max {}",
                    s.id, s.name, s.place, s.phone, s.gerance.name, s.max_amount
                );
            }
        }
    }
    Ok(())
}

/// A database URL as it may be shown: without the user and password a server URL may carry
/// (`postgres://recharge:secret@db/recharge` → `postgres://…@db/recharge`).
fn shown_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
            match authority.rsplit_once('@') {
                Some((_, host)) => format!("{scheme}://…@{host}/{path}"),
                None => url.to_owned(),
            }
        }
        None => url.to_owned(),
    }
}

async fn open(url: &str, options: &DbOptions) -> anyhow::Result<Db> {
    Db::open_with(url, options).await.with_context(|| format!("cannot open the database {}", shown_url(url)))
}

async fn serve(args: ServeArgs, database_url: String, options: DbOptions) -> anyhow::Result<()> {
    let mut settings = Settings::from_args(args, database_url.clone())?;
    settings.database = options;
    let app = Application::build(settings).await.map_err(|e| match e.downcast_ref::<DbError>() {
        Some(_) => e.context(format!("cannot open the database {}", shown_url(&database_url))),
        None => e,
    })?;
    let addr = app.local_addr();
    tracing::info!("serving on http://{addr}");
    if let Some(metrics) = app.metrics_addr() {
        tracing::info!("metrics on http://{metrics}/metrics");
    }
    println!("Recharge is running on http://{addr}");
    app.run_until(shutdown_signal()).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}

async fn gerance(cmd: GeranceCommand, db: &Db) -> anyhow::Result<()> {
    match cmd {
        GeranceCommand::Add { name } => {
            let name = GeranceName::parse(&name)?;
            match db.create_gerance(&name, Timestamp::now()).await {
                Ok(g) => println!("Created gérance {} \"{}\".", g.id, g.name),
                Err(DbError::Conflict) => bail!("a gérance named \"{name}\" already exists"),
                Err(e) => return Err(e.into()),
            }
        }
        GeranceCommand::List => {
            for g in db.list_gerances().await? {
                println!("{:>5}  {}", g.id, g.name);
            }
        }
        GeranceCommand::Creditor {
            gerance,
            iban,
            creditor_name,
            street,
            building,
            postcode,
            town,
            country,
            qrr_prefix,
            bill_amount,
            fee,
            fee_percent,
            auto_approve,
        } => {
            let g = gerance_named(db, &gerance).await?;
            let Some(iban) = iban else {
                match db.creditor(g.id).await? {
                    Some(c) => print_creditor(&g.name, &c),
                    None => println!("{}: no account set.", g.name),
                }
                return Ok(());
            };
            let input = domain::payment::CreditorInput {
                iban,
                name: creditor_name.unwrap_or_default(),
                street: street.unwrap_or_default(),
                building,
                postcode: postcode.unwrap_or_default(),
                town: town.unwrap_or_default(),
                country,
                qrr_prefix,
                bill_amount,
                fee_fixed: fee,
                fee_percent,
                auto_approve,
            };
            let creditor = domain::payment::Creditor::parse(&input).map_err(|refused| {
                let why: Vec<String> = refused.iter().map(creditor_problem).collect();
                anyhow!("{}", why.join("; "))
            })?;
            match db.set_creditor(g.id, &creditor, None, Timestamp::now()).await {
                Ok(()) => print_creditor(&g.name, &creditor),
                Err(DbError::Conflict) => bail!("the account {} is already another gérance's", creditor.iban),
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

async fn gerance_named(db: &Db, name: &str) -> anyhow::Result<domain::Gerance> {
    let parsed = GeranceName::parse(name)?;
    db.gerance_by_name(&parsed).await?.ok_or_else(|| anyhow!("there is no gérance named \"{name}\""))
}

fn print_creditor(gerance: &GeranceName, c: &domain::payment::Creditor) {
    let kind = if c.iban.is_qr_iban() { "QR-IBAN: QR references" } else { "IBAN: creditor references (RF)" };
    println!("{gerance}: account {} ({kind})", c.iban);
    println!("  {}, {} {}, {} {}, {}", c.name, c.street, c.building, c.postcode, c.town, c.country);
    if !c.qrr_prefix.as_str().is_empty() {
        println!("  QR references start with {}", c.qrr_prefix.as_str());
    }
    println!("  bills: {}", c.bill_amount.map_or("amount left open".to_owned(), |a| a.to_string()));
    if !c.fee.is_none() {
        let bp = c.fee.basis_points;
        println!(
            "  fee: {}.{:02} CHF + {}.{:02} % per payment",
            c.fee.fixed_rappen / 100,
            c.fee.fixed_rappen % 100,
            bp / 100,
            bp % 100
        );
    }
    match c.auto_approve {
        Some(limit) => println!("  automatic mode: key references up to {limit} are approved at import"),
        None => println!("  automatic mode: off (every proposal waits for a person)"),
    }
}

fn creditor_problem(field: &domain::payment::CreditorField) -> String {
    use domain::payment::CreditorField as F;
    match field {
        F::Iban(e) | F::QrrPrefix(e) => e.to_string(),
        F::Name => "--name has 1 to 70 characters".into(),
        F::Street => "--street has 1 to 70 characters".into(),
        F::Building => "--building has at most 16 characters".into(),
        F::Postcode => "--postcode has 1 to 16 characters".into(),
        F::Town => "--town has 1 to 35 characters".into(),
        F::Country => "--country is two letters, like CH".into(),
        F::BillAmount => "--bill-amount must be more than zero, in CHF with at most two decimals".into(),
        F::Fee => {
            "the fee must be 0 to 100.00 CHF (--fee) and 0 to 50 % (--fee-percent), with at most two decimals"
                .into()
        }
        F::AutoApprove => "--auto-approve must be more than zero, in CHF with at most two decimals".into(),
    }
}

async fn key(cmd: KeyCommand, db: &Db) -> anyhow::Result<()> {
    match cmd {
        KeyCommand::Reference { station, key } => {
            let key = domain::KeyNumber::parse(&key)?;
            let s = db
                .station(db::Scope::All, domain::StationId(station))
                .await?
                .ok_or_else(|| anyhow!("there is no station {station}"))?;
            let creditor = db.creditor(s.gerance.id).await?.ok_or_else(|| {
                anyhow!(
                    "{} has no account set yet (recharge gerance creditor \"{}\" --iban …)",
                    s.gerance.name,
                    s.gerance.name
                )
            })?;
            let reference = domain::payment::KeyReference { station: s.id, key }
                .encode(&creditor.iban, &creditor.qrr_prefix)
                .ok_or_else(|| anyhow!("station {station} cannot be carried by a reference"))?;
            println!("{reference}");
        }
        KeyCommand::QrBill { station, key, out } => {
            let key = key.as_deref().map(domain::KeyNumber::parse).transpose()?;
            let pdf = crate::keys::qr_bills(db, db::Scope::All, domain::StationId(station), key)
                .await
                .map_err(|e| match e {
                    crate::keys::BillError::NoStation => anyhow!("there is no station {station}"),
                    crate::keys::BillError::NoAccount => anyhow!(
                        "the station's gérance has no account set yet (recharge gerance creditor NAME --iban …)"
                    ),
                    e => anyhow!(e),
                })?;
            std::fs::write(&out, &pdf).with_context(|| format!("cannot write {}", out.display()))?;
            println!("{}: {} bytes", out.display(), pdf.len());
        }
        KeyCommand::List { station, search } => {
            let keys = db
                .station_keys(db::Scope::All, domain::StationId(station), &search, u32::from(u16::MAX) + 1)
                .await?
                .ok_or_else(|| anyhow!("there is no station {station}"))?;
            for k in keys {
                let h = &k.holder;
                println!(
                    "{:05}\t{}\t{}\t{}\t{}",
                    k.key.0,
                    k.state.as_str(),
                    h.name.as_deref().unwrap_or("-"),
                    h.flat.as_deref().unwrap_or("-"),
                    h.language.map_or("-", domain::Language::code)
                );
            }
        }
        KeyCommand::Set { station, key, holder, flat, email, language, note, state } => {
            let (station, key) = (domain::StationId(station), domain::KeyNumber::parse(&key)?);
            let known = db.key(db::Scope::All, station, key).await?;
            let mut input = known.as_ref().map(|k| k.holder.input()).unwrap_or_default();
            for (given, field) in [
                (holder, &mut input.name),
                (flat, &mut input.flat),
                (email, &mut input.email),
                (language, &mut input.language),
                (note, &mut input.note),
            ] {
                if let Some(given) = given {
                    *field = given;
                }
            }
            let holder = domain::key::Holder::parse(&input).map_err(|bad| {
                let bad: Vec<&str> = bad.iter().map(|f| f.code()).collect();
                anyhow!(
                    "refused: {} (names and flats up to 70 characters, language fr, de, it or en)",
                    bad.join(", ")
                )
            })?;
            if !db.save_key(db::Scope::All, station, key, &holder, None, Timestamp::now()).await? {
                bail!("there is no station {station}");
            }
            if let Some(state) = state {
                let state: domain::payment::KeyState =
                    state.parse().map_err(|_| anyhow!("--state must be active, blocked or retired"))?;
                db.set_key_state(db::Scope::All, station, key, state, None, Timestamp::now()).await?;
            }
            let k = db
                .key(db::Scope::All, station, key)
                .await?
                .ok_or_else(|| anyhow!("the key was not saved"))?;
            println!("{:05} at station {station}: {}", k.key.0, k.state.as_str());
        }
        KeyCommand::Import { station, file } => {
            let size =
                std::fs::metadata(&file).with_context(|| format!("cannot read {}", file.display()))?.len();
            if size > crate::keys::MAX_LIST_BYTES as u64 {
                bail!("{} is larger than 1 MB", file.display());
            }
            let bytes = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let rows = match crate::keys::parse_list(&bytes) {
                Ok(rows) => rows,
                Err(crate::keys::ListError::Rows(problems)) => {
                    let each: Vec<String> =
                        problems.iter().map(|(line, p)| format!("line {line}: {p}")).collect();
                    bail!("nothing was imported, {} bad rows: {}", problems.len(), each.join("; "));
                }
                Err(e) => bail!("{e}: nothing was imported"),
            };
            let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let station = domain::StationId(station);
            if !db.import_keys(db::Scope::All, station, &rows, &name, None, Timestamp::now()).await? {
                bail!("there is no station {station}");
            }
            println!("{} keys saved at station {station}", rows.len());
        }
    }
    Ok(())
}

async fn statement(args: crate::config::StatementArgs, db: &Db) -> anyhow::Result<()> {
    let gerance = gerance_named(db, &args.gerance).await?;
    let year = domain::statement::Year::parse(&args.year)
        .ok_or_else(|| anyhow!("--year must be a year from 2020 to 2100, like 2026"))?;
    let key = args.key.as_deref().map(domain::KeyNumber::parse).transpose()?;
    let station = args.station.map(domain::StationId);
    if let Some(s) = station
        && db.station(db::Scope::Gerance(gerance.id), s).await?.is_none()
    {
        bail!("{} has no station {s}", gerance.name);
    }
    let of = db::StatementsOf { gerance: gerance.id, station, key };
    let found = crate::keys::statements(db, db::Scope::All, of, year).await.map_err(|e| anyhow!(e))?;
    if found.items.is_empty() {
        bail!("no key of {} had a payment or a top-up in {year}: no statement written", gerance.name);
    }
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let made = crate::keys::today();
    let write = |name: String, bytes: &[u8]| {
        let path = args.out.join(name);
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))
    };
    for s in &found.items {
        let one = std::slice::from_ref(s);
        let language = s.holder.language.unwrap_or_default();
        let name = format!("statement-{year}-station-{}-key-{:05}", s.station, s.key.0);
        write(format!("{name}.pdf"), &paper::statements(one, &found.issuer, &made)?)?;
        write(format!("{name}.csv"), paper::statements_csv(one, language).as_bytes())?;
    }
    write(format!("statements-{year}.pdf"), &paper::statements(&found.items, &found.issuer, &made)?)?;
    write(
        format!("statements-{year}.csv"),
        paper::statements_csv(&found.items, domain::Language::Fr).as_bytes(),
    )?;
    println!(
        "{} statements for {year} written to {} (a PDF and a CSV per key, statements-{year}.pdf and .csv with all)",
        found.items.len(),
        args.out.display()
    );
    Ok(())
}

async fn payments(cmd: PaymentsCommand, db: &Db) -> anyhow::Result<()> {
    match cmd {
        PaymentsCommand::Import { file, gerance } => {
            let gerance = match gerance {
                Some(name) => Some(gerance_named(db, &name).await?.id),
                None => None,
            };
            let size =
                std::fs::metadata(&file).with_context(|| format!("cannot read {}", file.display()))?.len();
            if size > crate::payments::MAX_FILE_BYTES as u64 {
                bail!("{} is larger than 10 MB: not a bank file of one account", file.display());
            }
            let bytes = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let name = file
                .file_name()
                .map_or_else(|| file.display().to_string(), |n| n.to_string_lossy().into_owned());
            let summary = crate::payments::import(db, gerance, None, &name, &bytes)
                .await
                .with_context(|| format!("{} was not taken in", file.display()))?;
            println!("{summary}");
        }
    }
    Ok(())
}

async fn user(cmd: UserCommand, db: &Db) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Add { email, role, gerance } => {
            let email = Email::parse(&email).map_err(|e| anyhow!("{email:?}: {e}"))?;
            let role: Role = role.parse()?;
            let gerance_id = match (role, gerance) {
                (Role::Operator, None) => None,
                (Role::Operator, Some(_)) => bail!("an operator sees every gérance: leave out --gerance"),
                (Role::Admin, None) => bail!("an admin belongs to one gérance: give --gerance NAME"),
                (Role::Admin, Some(name)) => {
                    let name = GeranceName::parse(&name)?;
                    let g = db.gerance_by_name(&name).await?.ok_or_else(|| {
                        anyhow!(
                            "there is no gérance named \"{name}\" (create it with: recharge gerance add NAME)"
                        )
                    })?;
                    Some(g.id)
                }
            };
            let password = read_new_password()?;
            let hash = password::hash(password.expose().to_owned()).await?;
            let new = NewUser { email: &email, password_hash: &hash, role, gerance_id };
            match db.create_user(new, Timestamp::now()).await {
                Ok(id) => println!("Created {role} account {id} for {email}."),
                Err(DbError::Conflict) => bail!("an account with the e-mail {email} already exists"),
                Err(e) => return Err(e.into()),
            }
        }
        UserCommand::List => {
            println!("{:<5} {:<32} {:<9} {:<24} CREATED (Europe/Zurich)", "ID", "E-MAIL", "ROLE", "GÉRANCE");
            for u in db.list_users().await? {
                let a = &u.account;
                let gerance = a.gerance.as_ref().map(|g| g.name.to_string()).unwrap_or_else(|| "—".into());
                println!(
                    "{:<5} {:<32} {:<9} {:<24} {}{}",
                    a.id,
                    a.email,
                    a.role,
                    gerance,
                    u.created_at.zurich(),
                    if u.disabled { "  disabled" } else { "" }
                );
            }
        }
        UserCommand::Passwd { email } => {
            let email = Email::parse(&email).map_err(|e| anyhow!("{email:?}: {e}"))?;
            let account = db
                .user_auth_by_email(&email)
                .await?
                .ok_or_else(|| anyhow!("there is no account with the e-mail {email}"))?
                .account;
            let password = read_new_password()?;
            let hash = password::hash(password.expose().to_owned()).await?;
            db.set_password(account.id, &hash, Timestamp::now()).await?;
            println!("Changed the password of {email}; all of its sessions have ended.");
        }
    }
    Ok(())
}

/// Reads a password from the terminal (asked twice, not echoed) or from the first line of standard input,
/// never from the command line, where other users and the shell history would see it.
fn read_new_password() -> anyhow::Result<NewPassword> {
    let raw = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("New password: ")?;
        let again = rpassword::prompt_password("Again: ")?;
        if first != again {
            bail!("the two passwords differ");
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).context("reading the password from standard input")?;
        line.trim_end_matches(['\n', '\r']).to_owned()
    };
    Ok(NewPassword::parse(&raw)?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_database_url_is_shown_without_its_credentials() {
        use super::shown_url;
        assert_eq!(shown_url("postgres://recharge:s3cret@db:5432/recharge"), "postgres://…@db:5432/recharge");
        assert_eq!(shown_url("postgres://u:p@ss@db/x"), "postgres://…@db/x");
        assert_eq!(shown_url("sqlite://data/recharge.db"), "sqlite://data/recharge.db");
        assert_eq!(
            shown_url("sqlite:///var/lib/recharge/recharge.db"),
            "sqlite:///var/lib/recharge/recharge.db"
        );
    }
}
