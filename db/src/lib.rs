//! Recharge's database layer: the only place in the product that speaks SQL.
//!
//! Everything above it (HTTP handlers, server functions, the command line) calls the methods of [`Db`] with
//! domain types and gets domain types back. The statements use `$n` placeholders, standard SQL and values
//! computed in Rust (no `datetime('now')`), so that a PostgreSQL backend can run the same statements.

mod accounts;
mod alerts;
mod audit;
mod columns;
mod gauges;
mod inbox;
mod journal;
mod keys;
pub mod maintenance;
mod modem;
mod outbox;
mod paging;
mod payments;
pub mod sealing;
mod secrets;
mod sessions;
mod statements;
mod stations;
mod throttle;

use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub use accounts::{GeranceOverview, NewUser, UserAuth, UserSummary};
pub use alerts::{AlertChanges, AlertId, AlertPrefs, AlertRecord, MailContent, MailJob};
pub use audit::{AuditAction, AuditEntry};
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
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
}

pub type Result<T, E = DbError> = std::result::Result<T, E>;

/// The migrations in `migrations/`, compiled into the binary.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// A handle on the database: cheap to clone, shared by every request and task.
#[derive(Clone, Debug)]
pub struct Db {
    pool: SqlitePool,
    /// The one connection every write goes through (`write_txn`, and single statements that write):
    /// writers wait their turn here, in order, and never meet SQLite's busy handler, which sleeps up to
    /// 100 ms at a time however soon the lock frees (tens to hundreds of milliseconds added to a top-up
    /// while the modem task writes; a second or more for a statement outside the queue). `pool` reads.
    writer: SqlitePool,
    /// Sessions this process ended (`Db::ended_sessions`).
    ended: tokio::sync::broadcast::Sender<SessionEnded>,
    /// Journal versions this process committed (`Db::journal_changes`).
    versions: tokio::sync::broadcast::Sender<i64>,
    /// The gérances whose alerts this process changed (`Db::alert_changes`).
    alert_changes: tokio::sync::broadcast::Sender<Vec<Option<domain::GeranceId>>>,
    /// The keys that seal station secrets (`secrets`).
    secrets: std::sync::Arc<secrets::Secrets>,
    /// Held until the database is closed: a restore waits for nobody to have the file open
    /// (`maintenance`).
    lock: std::sync::Arc<std::sync::Mutex<Option<maintenance::DbLock>>>,
}

/// How to open a database besides its URL.
#[derive(Debug, Clone, Default)]
pub struct DbOptions {
    /// The file with the key that seals station secrets; `secrets.key` beside the database file when
    /// not given.
    pub secrets_key_file: Option<std::path::PathBuf>,
}

/// Makes the database file and its WAL companions readable and writable by their owner only: they hold
/// accounts, sessions and station secrets. A file created world-readable by an earlier version is
/// corrected too.
fn owner_only(file: &std::path::Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if file.as_os_str().is_empty() || file.to_string_lossy().starts_with(':') {
        return Ok(()); // in memory
    }
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
    pub async fn open_with(url: &str, db_options: &DbOptions) -> Result<Self> {
        // Only the scheme is repeated in a message: the rest of a URL may hold a password.
        if !url.starts_with("sqlite:") {
            let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
            return Err(DbError::Unusable(format!(
                "the database URL's scheme \"{scheme}\" is not one this version serves: give sqlite://PATH"
            )));
        }
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| DbError::Unusable(format!("invalid database URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5))
            // Reads through memory-mapped pages (the OS page cache) instead of a read() per page: the
            // journal's index walks at a million rows take half the time.
            .pragma("mmap_size", "268435456");
        // A first start creates the file's directory (`./data/`) too, the owner's alone.
        let file = options.get_filename().to_path_buf();
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| DbError::Unusable(format!("cannot create {}: {e}", dir.display())))?;
        }
        let in_memory = file.as_os_str().is_empty() || file.to_string_lossy().starts_with(':');
        let lock = if in_memory { None } else { Some(maintenance::DbLock::shared(&file)?) };
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options.clone())
            .await
            .map_err(|e| DbError::Unusable(e.to_string()))?;
        // Reading the schema is the first thing that touches the file's content: a damaged or foreign
        // file fails here, before any write.
        sqlx::query("SELECT COUNT(*) FROM sqlite_master")
            .fetch_one(&pool)
            .await
            .map_err(|e| DbError::Unusable(e.to_string()))?;
        refuse_newer_schema(&pool).await?;
        MIGRATOR.run(&pool).await.map_err(|e| DbError::Unusable(e.to_string()))?;
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            // A write transaction is short; a long wait means something is stuck.
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await
            .map_err(|e| DbError::Unusable(e.to_string()))?;
        owner_only(&file)?;
        let key_file = match &db_options.secrets_key_file {
            Some(path) => Some(path.clone()),
            None if in_memory => None,
            None => Some(file.with_file_name("secrets.key")),
        };
        let secrets = secrets::Secrets::load(&pool, key_file).await?;
        let db = Self {
            pool,
            writer,
            ended: tokio::sync::broadcast::Sender::new(64),
            versions: tokio::sync::broadcast::Sender::new(1024),
            alert_changes: tokio::sync::broadcast::Sender::new(64),
            secrets: std::sync::Arc::new(secrets),
            lock: std::sync::Arc::new(std::sync::Mutex::new(lock)),
        };
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

    /// A transaction that will write, on the writer connection (so in-process writers queue in order):
    /// it takes SQLite's write lock at once (waiting for another process's under the busy timeout), so
    /// two writers never deadlock upgrading from a read. The one SQLite-specific statement of the layer;
    /// PostgreSQL's plain `BEGIN` does the same job there.
    pub(crate) async fn write_txn(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
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

/// A database migrated by a newer version of Recharge is refused with that said, before anything is
/// written (sqlx would only say that a migration is missing).
async fn refuse_newer_schema(pool: &SqlitePool) -> Result<()> {
    let migrated: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_one(pool)
    .await?;
    if migrated == 0 {
        return Ok(());
    }
    let applied: Option<i64> = sqlx::query_scalar(maintenance::APPLIED_SCHEMA).fetch_one(pool).await?;
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

#[cfg(test)]
pub(crate) mod testing {
    use super::Db;

    /// A fresh database in its own temporary directory, deleted with the returned guard.
    pub async fn fresh() -> (Db, tempfile::TempDir) {
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
}

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
