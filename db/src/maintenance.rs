//! Keeping the database: its schema's version (for readiness, and to refuse a database migrated by a
//! newer version), a checked backup while the server runs, and a restore.
//!
//! A database file is opened under a shared lock on `<file>.lock` by every process that uses it (the
//! server and each command); a restore takes it exclusively, so it never replaces a file under a running
//! server, and nothing opens a file while it is being replaced.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

use crate::{Db, DbError, MIGRATOR, Result};

/// The newest migration applied to a database (NULL before any).
pub(crate) const APPLIED_SCHEMA: &str = "SELECT MAX(version) FROM _sqlx_migrations WHERE success";

/// What a database migrated by a newer binary is, said alike wherever one is met.
pub(crate) fn newer_schema(applied: i64) -> String {
    format!(
        "migrated by a newer version of Recharge (schema {applied}; this version knows up to {})",
        known_schema()
    )
}

/// The newest migration this binary knows.
pub fn known_schema() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

/// Which migrations a database has, against those this binary knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaState {
    /// The newest migration applied to the database (0 if none).
    pub applied: i64,
    /// The newest this binary knows.
    pub known: i64,
}

impl SchemaState {
    pub fn current(&self) -> bool {
        self.applied == self.known
    }
}

/// What a backup holds, read back from the copy itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    pub file: PathBuf,
    pub bytes: u64,
    pub schema: i64,
    /// Top-ups in it.
    pub topups: i64,
    /// Accounts and gérances in it: a copy of an empty database is worth knowing about.
    pub users: i64,
}

/// A restore done: the report of the copy now in place, and where the database it replaced was kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreReport {
    pub restored: BackupReport,
    pub replaced: Option<PathBuf>,
}

impl Db {
    /// The database's migrations against this binary's: one small query, which is also how readiness
    /// finds the database reachable.
    pub async fn schema_state(&self) -> Result<SchemaState> {
        let applied: Option<i64> = sqlx::query_scalar(APPLIED_SCHEMA).fetch_one(&self.pool).await?;
        Ok(SchemaState { applied: applied.unwrap_or(0), known: known_schema() })
    }

    /// Writes a consistent copy of the database to `out` while it serves (SQLite's `VACUUM INTO` reads
    /// one snapshot; writers go on), then opens the copy and checks it (`PRAGMA integrity_check`) before
    /// it takes its name: a file at `out` is always a whole, checked backup. An existing `out` is
    /// refused, never overwritten.
    pub async fn backup_to(&self, out: &Path) -> Result<BackupReport> {
        if self.backend == crate::Backend::Postgres {
            return Err(DbError::Unusable(
                "recharge backup copies a SQLite file; for PostgreSQL use pg_dump or a base backup \
                 (docs/operations.md)"
                    .to_owned(),
            ));
        }
        let exists = || DbError::Unusable(format!("{} exists already: give a new file name", out.display()));
        if out.exists() {
            return Err(exists());
        }
        // A name of its own: two backups at once never write into one file.
        let partial =
            with_suffix(out, &format!(".partial-{}-{:08x}", std::process::id(), rand::random::<u32>()));
        let made = async {
            sqlx::query("VACUUM INTO $1")
                .bind(partial.to_string_lossy().into_owned())
                .execute(&self.pool)
                .await
                .map_err(|e| DbError::Unusable(format!("cannot write {}: {e}", partial.display())))?;
            let checked = check_file(&partial).await?;
            File::open(&partial).and_then(|f| f.sync_all()).map_err(io_error(&partial))?;
            // A link takes the name only if it is free (a rename would replace a backup made meanwhile);
            // where links are not possible (some network shares), the rename.
            match std::fs::hard_link(&partial, out) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(exists()),
                Err(_) if out.exists() => return Err(exists()),
                Err(_) => std::fs::rename(&partial, out).map_err(io_error(out))?,
            }
            sync_dir(out)?;
            Ok(checked)
        }
        .await;
        let _ = std::fs::remove_file(&partial);
        Ok(BackupReport { file: out.to_path_buf(), ..made? })
    }
}

/// Opens a database file read-only and checks it whole: SQLite's integrity check, a Recharge schema no
/// newer than this binary's, and what it holds.
pub async fn check_file(file: &Path) -> Result<BackupReport> {
    let options = SqliteConnectOptions::new().filename(file).read_only(true).create_if_missing(false);
    let mut conn = SqliteConnection::connect_with(&options)
        .await
        .map_err(|e| DbError::Unusable(format!("cannot open {}: {e}", file.display())))?;
    let checked = check_connection(&mut conn, file).await;
    let _ = conn.close().await;
    let (schema, topups, users) = checked?;
    let bytes = std::fs::metadata(file).map_err(io_error(file))?.len();
    Ok(BackupReport { file: file.to_path_buf(), bytes, schema, topups, users })
}

async fn check_connection(conn: &mut SqliteConnection, file: &Path) -> Result<(i64, i64, i64)> {
    let unusable = |why: String| DbError::Unusable(format!("{} {why}", file.display()));
    let problems: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| unusable(format!("is not a readable SQLite database: {e}")))?;
    if problems != ["ok"] {
        let first: Vec<&str> = problems.iter().take(3).map(String::as_str).collect();
        return Err(unusable(format!("is damaged: {}", first.join("; "))));
    }
    let schema: Option<i64> = sqlx::query_scalar(APPLIED_SCHEMA)
        .fetch_one(&mut *conn)
        .await
        .map_err(|_| unusable("is not a Recharge database (it has no migrations)".to_owned()))?;
    let schema = schema.unwrap_or(0);
    if schema > known_schema() {
        return Err(unusable(format!("was {}: use that version", newer_schema(schema))));
    }
    let topups: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM transactions").fetch_one(&mut *conn).await?;
    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(&mut *conn).await?;
    Ok((schema, topups, users))
}

/// Puts the backup `from` in place of the SQLite database at `url`.
///
/// The backup is checked first; then the database's lock is taken exclusively (refused while a server
/// or a command has it open); the database being replaced is kept beside it as
/// `<file>.before-restore-<UTC time>` (whole: its write-ahead log folded in first), never deleted; the
/// copy is written under a temporary name, synced, and renamed into place.
pub async fn restore(from: &Path, url: &str) -> Result<RestoreReport> {
    let target = sqlite_file(url)?;
    let checked = check_file(from).await?;
    let lock = DbLock::exclusive(&target)?;
    let replaced = if target.exists() {
        fold_wal(&target).await?;
        let stamp = domain::Timestamp::now().utc_compact();
        let kept = with_suffix(&target, &format!(".before-restore-{stamp}"));
        std::fs::rename(&target, &kept).map_err(io_error(&kept))?;
        for companion in ["-wal", "-shm"] {
            remove_if_there(&with_suffix(&target, companion))?;
        }
        Some(kept)
    } else {
        None
    };
    let restoring = with_suffix(&target, ".restoring");
    remove_if_there(&restoring)?;
    std::fs::copy(from, &restoring).map_err(io_error(&restoring))?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&restoring, std::fs::Permissions::from_mode(0o600))
            .map_err(io_error(&restoring))?;
    }
    move_past_the_backup(&restoring).await?;
    File::open(&restoring).and_then(|f| f.sync_all()).map_err(io_error(&restoring))?;
    std::fs::rename(&restoring, &target).map_err(io_error(&target))?;
    sync_dir(&target)?;
    drop(lock);
    Ok(RestoreReport { restored: BackupReport { file: target, ..checked }, replaced })
}

/// How far a restore moves the journal's numbers and the counters of messages to stations past those
/// in the backup: more than could have been given out between a backup and its restore.
pub const RESTORE_MARGIN: i64 = 1_000_000;

/// After a backup was made, the server went on: it gave top-ups numbers and signed messages to stations
/// with counters that the backup does not hold, and that stations may have seen. Reused, a new top-up
/// would be taken by its station for one it already knows (answered with the old outcome, not loaded),
/// and a message would be refused as a replay. So the restored copy gives numbers and counters from well
/// past the backup's. Top-ups in the backup that were sent meanwhile are sent again under their own
/// number: the station knows them and applies nothing twice.
async fn move_past_the_backup(file: &Path) -> Result<()> {
    let options = SqliteConnectOptions::new().filename(file).create_if_missing(false);
    let mut conn = SqliteConnection::connect_with(&options)
        .await
        .map_err(|e| DbError::Unusable(format!("cannot open {}: {e}", file.display())))?;
    let moved = async {
        let mut tx = conn.begin().await?;
        sqlx::query(
            "INSERT INTO counters (name, value)
             VALUES ('tx_floor', COALESCE((SELECT MAX(id) FROM transactions), 0) + $1)
             ON CONFLICT (name) DO UPDATE SET value = MAX(counters.value, excluded.value)",
        )
        .bind(RESTORE_MARGIN)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE stations SET sent_counter = sent_counter + $1")
            .bind(RESTORE_MARGIN)
            .execute(&mut *tx)
            .await?;
        // Whoever held the modem lease when the backup was made does not hold it now (nobody has the
        // file open during a restore): the next server takes it at once. A backup from before the
        // lease existed gets it when migrated.
        let leased: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'modem_lease'",
        )
        .fetch_one(&mut *tx)
        .await?;
        if leased > 0 {
            sqlx::query("UPDATE modem_lease SET holder = NULL, holder_at = NULL, beat = beat + 1")
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    }
    .await;
    let _ = conn.close().await;
    moved.map_err(|e| DbError::Unusable(format!("cannot prepare {}: {e}", file.display())))
}

/// The file of a SQLite database URL; other databases are refused with the way to back them up.
pub fn sqlite_file(url: &str) -> Result<PathBuf> {
    if !url.starts_with("sqlite:") {
        return Err(DbError::Unusable(
            "backup and restore here are for SQLite databases; for PostgreSQL use pg_dump and pg_restore \
             (docs/operations.md)"
                .to_owned(),
        ));
    }
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|e| DbError::Unusable(format!("invalid database URL: {e}")))?;
    let file = options.get_filename().to_path_buf();
    if file.as_os_str().is_empty() || file.to_string_lossy().starts_with(':') {
        return Err(DbError::Unusable("an in-memory database has nothing to back up or restore".to_owned()));
    }
    Ok(file)
}

/// The lock every process using a database file holds (see the module's text).
#[derive(Debug)]
pub(crate) struct DbLock(#[allow(dead_code)] File);

impl DbLock {
    fn file(db: &Path) -> Result<File> {
        let path = with_suffix(db, ".lock");
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io_error(&path))
    }

    /// Shared: any number of servers and commands at once.
    pub(crate) fn shared(db: &Path) -> Result<Self> {
        let file = Self::file(db)?;
        match file.try_lock_shared() {
            Ok(()) => Ok(Self(file)),
            Err(std::fs::TryLockError::WouldBlock) => Err(DbError::Unusable(format!(
                "{} is being restored; try again when the restore is done",
                db.display()
            ))),
            Err(std::fs::TryLockError::Error(e)) => Err(io_error(db)(e)),
        }
    }

    /// Exclusive: nobody else has the database open.
    fn exclusive(db: &Path) -> Result<Self> {
        let file = Self::file(db)?;
        match file.try_lock() {
            Ok(()) => Ok(Self(file)),
            Err(std::fs::TryLockError::WouldBlock) => Err(DbError::Unusable(format!(
                "{} is in use by a running server or command: stop it first (e.g. systemctl stop recharge)",
                db.display()
            ))),
            Err(std::fs::TryLockError::Error(e)) => Err(io_error(db)(e)),
        }
    }
}

/// Folds a database's write-ahead log into the file itself, so that the file alone is the whole
/// database.
async fn fold_wal(file: &Path) -> Result<()> {
    let options = SqliteConnectOptions::new().filename(file).create_if_missing(false);
    let mut conn = SqliteConnection::connect_with(&options)
        .await
        .map_err(|e| DbError::Unusable(format!("cannot open {}: {e}", file.display())))?;
    let folded = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut conn).await;
    let _ = conn.close().await;
    folded.map(drop).map_err(|e| DbError::Unusable(format!("cannot fold the log of {}: {e}", file.display())))
}

fn with_suffix(file: &Path, suffix: &str) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn remove_if_there(file: &Path) -> Result<()> {
    match std::fs::remove_file(file) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error(file)(e)),
    }
}

/// A rename is durable once the directory holding it is synced.
fn sync_dir(file: &Path) -> Result<()> {
    let dir = file.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_error(dir))
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> DbError + '_ {
    move |e| DbError::Unusable(format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{fresh_at, fresh_sqlite};

    async fn migrated_by_a_newer_version(db: &Db) {
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
             VALUES (9999, 'from the future', TRUE, $1, 0)",
        )
        .bind(vec![0_u8])
        .execute(&db.writer)
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn a_database_migrated_by_a_newer_version_is_refused_and_said_so() {
        let (db, dir, url, options) = fresh_at().await;
        assert!(db.schema_state().await.unwrap().current());
        migrated_by_a_newer_version(&db).await;
        let state = db.schema_state().await.unwrap();
        assert_eq!((state.applied, state.current()), (9999, false));
        db.close().await;
        let refused = Db::open_with(&url, &options).await.unwrap_err().to_string();
        assert!(refused.contains("newer version of Recharge (schema 9999"), "{refused}");
        if db.backend() == crate::Backend::Postgres {
            return;
        }
        let refused = check_file(&dir.path().join("test.db")).await.unwrap_err().to_string();
        assert!(
            refused.contains("test.db was migrated by a newer version of Recharge (schema 9999"),
            "{refused}"
        );
    }

    #[tokio::test]
    async fn a_backup_is_checked_and_never_overwrites() {
        // Backups here are of SQLite files (PostgreSQL has its own tools).
        let (db, dir) = fresh_sqlite().await;
        let out = dir.path().join("copy.db");
        let report = db.backup_to(&out).await.unwrap();
        assert_eq!((report.schema, report.topups), (known_schema(), 0));
        assert!(report.bytes > 0);
        let again = db.backup_to(&out).await.unwrap_err().to_string();
        assert!(again.contains("exists already"), "{again}");
        // Two at once to one new name: one is made, the other refused, nothing left behind.
        let both = dir.path().join("both.db");
        let (a, b) = tokio::join!(db.backup_to(&both), db.backup_to(&both));
        assert!(a.is_ok() != b.is_ok(), "{a:?} {b:?}");
        assert!(a.or(b).is_ok_and(|r| r.file == both));
        check_file(&both).await.unwrap();
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("partial"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
        // A damaged copy is found out.
        let mut bytes = std::fs::read(&out).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle..middle + 4096].fill(0xA5);
        std::fs::write(&out, bytes).unwrap();
        assert!(check_file(&out).await.is_err());
    }

    #[tokio::test]
    async fn a_restore_waits_for_the_database_to_be_closed_and_keeps_what_it_replaces() {
        let (db, dir) = fresh_sqlite().await;
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        let backup = dir.path().join("backup.db");
        db.backup_to(&backup).await.unwrap();
        let busy = restore(&backup, &url).await.unwrap_err().to_string();
        assert!(busy.contains("stop it first"), "{busy}");
        db.close().await;
        let done = restore(&backup, &url).await.unwrap();
        let kept = done.replaced.unwrap();
        assert!(kept.to_string_lossy().contains("test.db.before-restore-"), "{}", kept.display());
        check_file(&kept).await.unwrap();
        // Numbers and counters start past the backup's.
        let db = Db::open(&url).await.unwrap();
        let floor: i64 = sqlx::query_scalar("SELECT value FROM counters WHERE name = 'tx_floor'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(floor, RESTORE_MARGIN);
    }
}
