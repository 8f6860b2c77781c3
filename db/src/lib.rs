//! Recharge's database layer: the only place in the product that speaks SQL.
//!
//! Everything above it (HTTP handlers, server functions, the command line) calls the methods of [`Db`] with
//! domain types and gets domain types back. The statements use `$n` placeholders, standard SQL and values
//! computed in Rust (no `datetime('now')`), so that a PostgreSQL backend can run the same statements.

mod accounts;
mod alerts;
mod audit;
mod columns;
mod demo;
mod gauges;
mod inbox;
mod journal;
mod keys;
pub mod lease;
mod listen;
pub mod maintenance;
mod modem;
mod outbox;
mod paging;
mod payments;
pub mod sealing;
mod secrets;
mod sessions;
mod sql;
mod statements;
mod stations;
mod throttle;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{AnyPool, Connection};

pub use accounts::{GeranceOverview, NewUser, UserAuth, UserSummary};
pub use alerts::{AlertChanges, AlertId, AlertPrefs, AlertRecord, MailContent, MailJob};
pub use audit::{AuditAction, AuditEntry};
pub use demo::{DemoAction, WaitingDemoAction};
pub use gauges::ServiceGauges;
pub use inbox::{StationEffect, VerifiedMessage};
pub use journal::{DueTx, JournalFilter, JournalSort, JournalView, NewTopUp, TopUpError, TxRecord};
pub use keys::{KeyRecord, KeyRow, LastTopUp};
pub use outbox::{OutMessage, Reported, Scheduled};
pub use paging::GeneratedTx;
pub use payments::{
    ApproveError, Import, ImportMeta, ImportRefused, ImportSummary, PaymentRecord, PaymentState,
};
pub use secrets::Rotation;
pub use sessions::{SessionEnded, SessionRecord};
pub use statements::StatementsOf;
pub use stations::{NewStation, Scope, StationEdit, StationLink, StationRecord};
pub use throttle::ThrottleRecord;

/// What can go wrong in the database layer, in terms the callers can act on.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// A uniqueness rule was broken (an e-mail or a name already taken).
    #[error("already exists")]
    Conflict,
    /// A referenced row does not exist.
    #[error("not found")]
    NotFound,
    /// The database file cannot be used: not a database, damaged, or from a newer version.
    #[error("the database cannot be opened: {0}")]
    Unusable(String),
    /// The database server did not answer (down, unreachable): trying again later may work.
    #[error("the database server cannot be reached: {0}")]
    Unreachable(String),
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
}

pub type Result<T, E = DbError> = std::result::Result<T, E>;

impl DbError {
    /// The database server did not answer, or lost the connection, or is shutting down or starting:
    /// nothing is wrong with the request, and the same request may work in a moment (a 503, not a 500).
    pub fn is_unavailable(&self) -> bool {
        match self {
            DbError::Unreachable(_) => true,
            DbError::Sqlx(e) => match e {
                sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed => true,
                // PostgreSQL's classes 08 (connection exception) and 57P (operator intervention: shut
                // down, starting, cannot connect now).
                sqlx::Error::Database(db) => {
                    db.code().is_some_and(|code| code.starts_with("08") || code.starts_with("57P"))
                }
                _ => false,
            },
            _ => false,
        }
    }
}

/// The migrations in `migrations/`, compiled into the binary.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");
/// Their PostgreSQL twins in `migrations/postgres/`: same numbers, same schema.
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// Which database server a [`Db`] speaks to: the statements are the same, a few settings are not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A file, the embedded default: one writer at a time by SQLite's own lock.
    Sqlite,
    /// A server shared by several instances: one writer at a time by an advisory lock (`write_txn`).
    Postgres,
}

/// The key of the PostgreSQL advisory lock every write transaction takes ("RCHG").
const WRITE_LOCK: i64 = 0x5243_4847;
/// A handle on the database: cheap to clone, shared by every request and task.
#[derive(Clone, Debug)]
pub struct Db {
    backend: Backend,
    pool: AnyPool,
    /// The one connection every write goes through (`write_txn`, and single statements that write):
    /// writers wait their turn here, in order, and never meet SQLite's busy handler, which sleeps up to
    /// 100 ms at a time however soon the lock frees (tens to hundreds of milliseconds added to a top-up
    /// while the modem task writes; a second or more for a statement outside the queue). `pool` reads.
    /// On PostgreSQL, the same pool: writers queue on the advisory lock instead.
    writer: AnyPool,
    /// Sessions this process ended (`Db::ended_sessions`).
    ended: tokio::sync::broadcast::Sender<SessionEnded>,
    /// Journal versions committed, by this process or (on PostgreSQL) another (`Db::journal_changes`).
    versions: tokio::sync::broadcast::Sender<i64>,
    /// The newest version told, so that each is told once.
    told: std::sync::Arc<std::sync::atomic::AtomicI64>,
    /// The gérances whose alerts this process changed (`Db::alert_changes`).
    alert_changes: tokio::sync::broadcast::Sender<Vec<Option<domain::GeranceId>>>,
    /// The keys that seal station secrets (`secrets`).
    secrets: std::sync::Arc<secrets::Secrets>,
    /// Held until the database is closed: a restore waits for nobody to have the file open
    /// (`maintenance`).
    lock: std::sync::Arc<std::sync::Mutex<Option<maintenance::DbLock>>>,
    /// On PostgreSQL, where the changes of other instances are listened for (`Db::follow_others`).
    listen: Option<listen::ListenPool>,
    /// Other instances' changes that may give the modem work (`Db::changed_elsewhere`).
    elsewhere: tokio::sync::broadcast::Sender<()>,
}

/// How to open a database besides its URL.
#[derive(Debug, Clone, Default)]
pub struct DbOptions {
    /// The file with the key that seals station secrets; `secrets.key` beside the database file when
    /// not given.
    pub secrets_key_file: Option<std::path::PathBuf>,
    /// How long to wait for a PostgreSQL server that does not answer; [`POSTGRES_WAIT`] when not given.
    pub database_wait: Option<Duration>,
}

/// Makes the database file and its WAL companions readable and writable by their owner only: they hold
/// accounts, sessions and station secrets. A file created world-readable by an earlier version is
/// corrected too.
fn owner_only(file: &std::path::Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for suffix in ["", "-wal", "-shm"] {
        let path = std::path::PathBuf::from(format!("{}{suffix}", file.display()));
        match std::fs::metadata(&path) {
            Ok(meta) if meta.permissions().mode() & 0o077 != 0 => {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| DbError::Unusable(format!("cannot restrict {}: {e}", path.display())))?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// The URL of the file for the `Any` driver, which parses it as a URL (a relative path's first part
/// would be taken for a host name): absolute, every byte but the plainest percent-encoded.
fn any_sqlite_url(file: &std::path::Path) -> Result<String> {
    use std::os::unix::ffi::OsStrExt;
    let absolute = std::fs::canonicalize(file)
        .map_err(|e| DbError::Unusable(format!("cannot find {}: {e}", file.display())))?;
    let mut url = String::from("sqlite://");
    for &byte in absolute.as_os_str().as_bytes() {
        if byte.is_ascii_alphanumeric() || b"/._-".contains(&byte) {
            url.push(char::from(byte));
        } else {
            url.push_str(&format!("%{byte:02X}"));
        }
    }
    Ok(url)
}

impl Db {
    /// Opens (creating it if missing) and migrates the database at `url`, such as `sqlite://data/recharge.db`.
    ///
    /// A file that is not a SQLite database, or was migrated by a newer version, is refused without being
    /// modified.
    pub async fn open(url: &str) -> Result<Self> {
        Self::open_with(url, &DbOptions::default()).await
    }

    /// [`Db::open`], with the station secrets' key file given (`DbOptions`). The key file is created on
    /// first use; secrets stored in clear by an earlier version are sealed.
    ///
    /// `sqlite://PATH` opens (creating it) a file; `postgres://…` a PostgreSQL database, which needs the
    /// key file given (there is no directory of its own to keep one beside).
    pub async fn open_with(url: &str, db_options: &DbOptions) -> Result<Self> {
        sqlx::any::install_default_drivers();
        if url.starts_with("sqlite:") {
            Self::open_sqlite(url, db_options).await
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Self::open_postgres(url, db_options).await
        } else {
            // Only the scheme is repeated in a message: the rest of a URL may hold a password.
            let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
            Err(DbError::Unusable(format!(
                "the database URL's scheme \"{scheme}\" is not one this version serves: give sqlite://PATH \
                 or postgres://USER@HOST/DATABASE"
            )))
        }
    }

    async fn open_sqlite(url: &str, db_options: &DbOptions) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| DbError::Unusable(format!("invalid database URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        // A first start creates the file's directory (`./data/`) too, the owner's alone.
        let file = options.get_filename().to_path_buf();
        let in_memory = file.as_os_str().is_empty() || file.to_string_lossy().starts_with(':');
        if in_memory {
            return Err(DbError::Unusable("an in-memory database keeps nothing: give sqlite://PATH".into()));
        }
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| DbError::Unusable(format!("cannot create {}: {e}", dir.display())))?;
        }
        let lock = maintenance::DbLock::shared(&file)?;
        // One connection of SQLite's own creates the file in WAL mode (kept in the file), checks it and
        // migrates it; the pools then connect through the `Any` driver, which takes only a URL.
        {
            let mut first = sqlx::SqliteConnection::connect_with(&options)
                .await
                .map_err(|e| DbError::Unusable(e.to_string()))?;
            // Reading the schema is the first thing that touches the file's content: a damaged or foreign
            // file fails here, before any write.
            sqlx::query("SELECT COUNT(*) FROM sqlite_master")
                .fetch_one(&mut first)
                .await
                .map_err(|e| DbError::Unusable(e.to_string()))?;
            let migrated: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
            )
            .fetch_one(&mut first)
            .await?;
            if migrated > 0 {
                let applied: Option<i64> =
                    sqlx::query_scalar(maintenance::APPLIED_SCHEMA).fetch_one(&mut first).await?;
                refuse_newer_schema(applied)?;
            }
            MIGRATOR.run(&mut first).await.map_err(|e| DbError::Unusable(e.to_string()))?;
            first.close().await?;
        }
        // The same settings on every pooled connection (sqlx's defaults: foreign keys on, a 5 s busy
        // timeout). Reads through memory-mapped pages (the OS page cache) instead of a read() per page:
        // the journal's index walks at a million rows take half the time.
        let any_url = any_sqlite_url(&file)?;
        let pool_options = |max: u32| {
            AnyPoolOptions::new().max_connections(max).after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::query("PRAGMA mmap_size = 268435456").execute(&mut *conn).await?;
                    sqlx::query("PRAGMA synchronous = FULL").execute(&mut *conn).await?;
                    Ok(())
                })
            })
        };
        let pool = pool_options(8).connect(&any_url).await.map_err(|e| DbError::Unusable(e.to_string()))?;
        let writer = pool_options(1)
            // A write transaction is short; a long wait means something is stuck.
            .acquire_timeout(Duration::from_secs(30))
            .connect(&any_url)
            .await
            .map_err(|e| DbError::Unusable(e.to_string()))?;
        owner_only(&file)?;
        let key_file =
            Some(db_options.secrets_key_file.clone().unwrap_or_else(|| file.with_file_name("secrets.key")));
        let db = Self::assemble(Backend::Sqlite, pool, writer, key_file, Some(lock)).await?;
        let sealed = db.seal_plain_secrets().await?;
        if sealed > 0 {
            // The pages that held them in clear are rewritten too (free pages and the WAL keep old
            // content otherwise). Once, when a database from before sealed secrets is first opened.
            sqlx::query("VACUUM").execute(&db.writer).await?;
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&db.writer).await?;
            tracing::info!(sealed, "sealed station secrets stored in clear");
        }
        Ok(db)
    }

    async fn open_postgres(url: &str, db_options: &DbOptions) -> Result<Self> {
        let Some(key_file) = db_options.secrets_key_file.clone() else {
            return Err(DbError::Unusable(
                "a PostgreSQL database needs --secrets-key-file: the key that seals station secrets is \
                 kept apart from the database"
                    .into(),
            ));
        };
        // Every connection of this handle under one name of its own: its changes come back to it as
        // notifications, and it must know them from other instances'.
        let me = listen::application_name();
        let url = &listen::with_application_name(url, &me);
        let pool = connect_postgres(url, db_options.database_wait.unwrap_or(POSTGRES_WAIT)).await?;
        let migrated: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM information_schema.tables
             WHERE table_schema = current_schema() AND table_name = '_sqlx_migrations'",
        )
        .fetch_one(&pool)
        .await?;
        if migrated > 0 {
            let applied: Option<i64> =
                sqlx::query_scalar(maintenance::APPLIED_SCHEMA).fetch_one(&pool).await?;
            refuse_newer_schema(applied)?;
        }
        // sqlx takes an advisory lock while it migrates: instances starting together migrate once.
        POSTGRES_MIGRATOR.run(&pool).await.map_err(|e| DbError::Unusable(e.to_string()))?;
        let mut db = Self::assemble(Backend::Postgres, pool.clone(), pool, Some(key_file), None).await?;
        db.listen = Some(listen::ListenPool::new(url, me)?);
        db.seal_plain_secrets().await?;
        Ok(db)
    }

    async fn assemble(
        backend: Backend,
        pool: AnyPool,
        writer: AnyPool,
        key_file: Option<std::path::PathBuf>,
        lock: Option<maintenance::DbLock>,
    ) -> Result<Self> {
        let secrets = secrets::Secrets::load(&pool, key_file).await?;
        Ok(Self {
            backend,
            pool,
            writer,
            ended: tokio::sync::broadcast::Sender::new(64),
            versions: tokio::sync::broadcast::Sender::new(1024),
            told: std::sync::Arc::default(),
            alert_changes: tokio::sync::broadcast::Sender::new(64),
            secrets: std::sync::Arc::new(secrets),
            lock: std::sync::Arc::new(std::sync::Mutex::new(lock)),
            listen: None,
            elsewhere: tokio::sync::broadcast::Sender::new(16),
        })
    }

    /// The database server this handle speaks to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A transaction that will write. On SQLite, on the writer connection (so in-process writers queue in
    /// order), taking SQLite's write lock at once (waiting for another process's under the busy
    /// timeout), so two writers never deadlock upgrading from a read. On PostgreSQL, holding an advisory
    /// lock until it ends: writers of every instance take turns as on SQLite, so the checks made before a
    /// write (a repeated top-up, the login throttle, a payment approved once) see every earlier write.
    pub(crate) async fn write_txn(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        match self.backend {
            Backend::Sqlite => Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?),
            Backend::Postgres => {
                let mut tx = self.writer.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(WRITE_LOCK).execute(&mut *tx).await?;
                Ok(tx)
            }
        }
    }

    /// Closes every connection, waiting for them to be returned.
    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
        if let Ok(mut lock) = self.lock.lock() {
            lock.take();
        }
    }
}

/// How long `Db::open` waits by default for a PostgreSQL server that does not answer (starting,
/// restarting, the network back in a moment) before giving up with [`DbError::Unreachable`].
pub const POSTGRES_WAIT: Duration = Duration::from_secs(30);

/// The pool of a PostgreSQL database, its first connection made: tried again while the server does not
/// answer, up to `wait`; a refusal (a wrong password, no such database) is final at once.
async fn connect_postgres(url: &str, wait: Duration) -> Result<AnyPool> {
    // A request waits at most a few seconds for a connection: with the server away it is answered
    // "unavailable, retry" (503) rather than held for half a minute.
    let pool = AnyPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy(url)
        .map_err(|e| DbError::Unusable(format!("invalid database URL: {e}")))?;
    // sqlx's pool tries again by itself while the server does not answer; a refusal ends it at once.
    // Its messages name the host and the user, never the password.
    match tokio::time::timeout(wait, pool.acquire()).await {
        Ok(Ok(_first)) => Ok(pool),
        Ok(Err(e @ (sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Tls(_)))) => {
            Err(DbError::Unreachable(e.to_string()))
        }
        Ok(Err(e)) => Err(DbError::Unusable(format!("the PostgreSQL server refused: {e}"))),
        Err(_) => {
            Err(DbError::Unreachable(format!("no answer from the PostgreSQL server in {} s", wait.as_secs())))
        }
    }
}

/// A database migrated by a newer version of Recharge is refused with that said, before anything is
/// written (sqlx would only say that a migration is missing).
fn refuse_newer_schema(applied: Option<i64>) -> Result<()> {
    match applied {
        Some(applied) if applied > maintenance::known_schema() => Err(DbError::Unusable(format!(
            "this database was {}: run that version, or restore a backup made with this one",
            maintenance::newer_schema(applied)
        ))),
        _ => Ok(()),
    }
}

/// Maps a unique-constraint violation to [`DbError::Conflict`] and a foreign-key one to [`DbError::NotFound`].
fn classify(e: sqlx::Error) -> DbError {
    if let sqlx::Error::Database(db) = &e {
        if db.is_unique_violation() {
            return DbError::Conflict;
        }
        if db.is_foreign_key_violation() {
            return DbError::NotFound;
        }
    }
    DbError::Sqlx(e)
}

/// Fresh databases for tests, of this crate and of the server: on the PostgreSQL server whose URL
/// `RECHARGE_TEST_POSTGRES` gives (as `scripts/test-postgres start` prints it), SQLite files otherwise.
pub mod test_support {
    use sqlx::Connection;

    /// The URL of the PostgreSQL server the tests run on, when they run on one.
    pub fn postgres_server() -> Option<String> {
        std::env::var("RECHARGE_TEST_POSTGRES").ok().filter(|url| !url.is_empty())
    }

    /// Creates an empty database of a new name on the server at `server_url` (a URL ending in
    /// `/DATABASE` that can create databases) and returns its URL.
    pub async fn fresh_postgres(server_url: &str) -> crate::Result<String> {
        let name = format!("recharge_test_{:016x}", rand::random::<u64>());
        let mut conn = sqlx::PgConnection::connect(server_url).await?;
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await?;
        conn.close().await?;
        let base = server_url.rsplit_once('/').map_or(server_url, |(base, _)| base);
        Ok(format!("{base}/{name}"))
    }
}

#[cfg(test)]
pub(crate) mod testing {
    use super::{Db, DbOptions};

    /// A fresh database, with its key file in a temporary directory deleted with the returned guard: a
    /// SQLite file there, or a new database on the PostgreSQL server the tests are given.
    pub async fn fresh() -> (Db, tempfile::TempDir) {
        let (db, dir, _, _) = fresh_at().await;
        (db, dir)
    }

    /// [`fresh`], with how to open it again.
    pub async fn fresh_at() -> (Db, tempfile::TempDir, String, DbOptions) {
        let dir = tempfile::tempdir().unwrap();
        let (url, options) = match super::test_support::postgres_server() {
            Some(server) => (
                super::test_support::fresh_postgres(&server).await.unwrap(),
                DbOptions { secrets_key_file: Some(dir.path().join("secrets.key")), ..DbOptions::default() },
            ),
            None => (format!("sqlite://{}", dir.path().join("test.db").display()), DbOptions::default()),
        };
        (Db::open_with(&url, &options).await.unwrap(), dir, url, options)
    }

    /// A fresh SQLite database, whichever database the tests are given: for the tests of what only a
    /// file has (its backups, its permissions).
    pub async fn fresh_sqlite() -> (Db, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        (Db::open(&url).await.unwrap(), dir)
    }

    pub fn phone(number: &str) -> domain::PhoneNumber {
        domain::PhoneNumber::parse(number).unwrap()
    }

    pub fn rappen(rappen: i64) -> domain::Amount {
        domain::Amount::from_rappen(rappen).unwrap()
    }

    /// A new gérance `name` with one station ("Buanderie", Sion, up to CHF 200.00 a top-up) at `number`.
    pub async fn gerance_with_station(
        db: &Db,
        name: &str,
        number: &str,
    ) -> (domain::GeranceId, domain::StationId) {
        let g = db
            .create_gerance(&domain::GeranceName::parse(name).unwrap(), domain::Timestamp(1))
            .await
            .unwrap();
        let new = crate::NewStation {
            gerance_id: g.id,
            name: "Buanderie",
            place: "Sion",
            phone: &phone(number),
            secret: &[7; 32],
            max_amount: rappen(20_000),
        };
        (g.id, db.create_station(new, domain::Timestamp(1)).await.unwrap())
    }

    /// Station `s`'s credit of `credit` Rappen, below the CHF 5.00 threshold.
    pub fn low_credit(g: domain::GeranceId, s: domain::StationId, credit: i64) -> domain::alert::Raised {
        let condition = domain::alert::Condition::StationCredit {
            station: s,
            name: "Buanderie".into(),
            credit,
            threshold: 500,
        };
        domain::alert::Raised { gerance: Some(g), condition }
    }

    /// A new account.
    pub async fn user(
        db: &Db,
        email: &str,
        role: domain::Role,
        gerance: Option<domain::GeranceId>,
    ) -> domain::UserId {
        let email = domain::Email::parse(email).unwrap();
        let new = crate::NewUser { email: &email, password_hash: "x", role, gerance_id: gerance };
        db.create_user(new, domain::Timestamp(1)).await.unwrap()
    }
}

/// What only a SQLite file has (its bytes, its permissions, its path): these run on SQLite whichever
/// database the other tests are given.
#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_file_that_is_not_a_database_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("corrupt.db");
        let garbage =
            b"this is certainly not a SQLite database, it is a text file of some length.".repeat(20);
        std::fs::write(&path, &garbage).unwrap();
        let err = Db::open(&format!("sqlite://{}", path.display())).await.unwrap_err();
        assert!(matches!(err, DbError::Unusable(_)), "{err:?}");
        assert_eq!(std::fs::read(&path).unwrap(), garbage);
    }

    #[tokio::test]
    async fn the_database_and_its_directory_are_the_owner_s_alone() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let file = data.join("recharge.db");
        let db = Db::open(&format!("sqlite://{}", file.display())).await.unwrap();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&file) & 0o077, 0, "{:o}", mode(&file));
        db.close().await;
        // A file an earlier version left world-readable is corrected when opened.
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let db = Db::open(&format!("sqlite://{}", file.display())).await.unwrap();
        assert_eq!(mode(&file), 0o600);
        db.close().await;
    }

    #[tokio::test]
    async fn a_path_with_spaces_signs_and_accents_is_the_file_it_names() {
        let dir = tempfile::tempdir().unwrap();
        let odd = dir.path().join("Gérance n°1 #a");
        let file = odd.join("r.db");
        let db = Db::open(&format!("sqlite://{}", file.display())).await.unwrap();
        db.create_gerance(&domain::GeranceName::parse("G").unwrap(), domain::Timestamp(1)).await.unwrap();
        db.close().await;
        assert!(file.exists(), "{}", file.display());
        // Nothing written under another name (a path decoded wrongly would make another file).
        let names = |d: &std::path::Path| -> Vec<String> {
            std::fs::read_dir(d)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(names(dir.path()), ["Gérance n°1 #a"]);
        let known = ["r.db", "r.db-wal", "r.db-shm", "r.db.lock", "secrets.key"];
        assert!(names(&odd).iter().all(|n| known.contains(&n.as_str())), "{:?}", names(&odd));
        let db = Db::open(&format!("sqlite://{}", file.display())).await.unwrap();
        assert_eq!(db.list_gerances().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn reopening_keeps_the_data() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("r.db").display());
        let db = Db::open(&url).await.unwrap();
        db.create_gerance(&domain::GeranceName::parse("Gérance test").unwrap(), domain::Timestamp(1))
            .await
            .unwrap();
        db.close().await;
        let db = Db::open(&url).await.unwrap();
        assert_eq!(db.list_gerances().await.unwrap().len(), 1);
    }
}
