//! The database's side of sealed station secrets (`sealing`): which key file, loading it when the
//! database opens, sealing what is still in clear, and rotating the key.

use std::path::{Path, PathBuf};
use std::sync::RwLock;

use sqlx::{AnyPool, Row};

use crate::sealing::{self, Keyring, SealError, SealingKey, Stored, hex};
use crate::{Db, DbError, Result};

/// The keys of one database, and the file they come from (`None` for a database in memory, whose key
/// lives as long as the process).
#[derive(Debug)]
pub(crate) struct Secrets {
    ring: RwLock<Keyring>,
    key_file: Option<PathBuf>,
}

/// What a rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// Station secrets sealed again.
    pub resealed: usize,
    pub old_key: String,
    pub new_key: String,
    pub key_file: PathBuf,
}

fn unusable(e: impl std::fmt::Display) -> DbError {
    DbError::Unusable(e.to_string())
}

fn read(path: &Path) -> Result<Option<SealingKey>> {
    match sealing::read_key_file(path) {
        Ok(None) => Ok(None),
        Ok(Some(Ok(key))) => Ok(Some(key)),
        Ok(Some(Err(e))) => Err(unusable(format!("the key file {}: {e}", path.display()))),
        Err(e) => Err(unusable(format!("cannot read the key file {}: {e}", path.display()))),
    }
}

/// Every stored secret's id and bytes.
async fn stored_secrets(pool: &AnyPool) -> Result<Vec<(i64, Vec<u8>)>> {
    let rows = sqlx::query("SELECT id, secret FROM stations ORDER BY id").fetch_all(pool).await?;
    rows.iter().map(|r| Ok((r.try_get("id")?, r.try_get("secret")?))).collect()
}

impl Secrets {
    /// The keys for the database read through `pool`, from `key_file`: created there when the database
    /// holds no sealed secret yet; a rotation that was interrupted is finished or undone, whichever the
    /// database shows happened. Refused (nothing written) when a secret is sealed with a key no file
    /// holds.
    pub(crate) async fn load(pool: &AnyPool, key_file: Option<PathBuf>) -> Result<Self> {
        let stored = stored_secrets(pool).await?;
        let sealed_ids: Vec<[u8; 4]> = stored
            .iter()
            .filter_map(|(_, s)| match Stored::of(s) {
                Ok(Stored::Sealed(id)) => Some(id),
                _ => None,
            })
            .collect();
        let Some(path) = key_file else {
            if !sealed_ids.is_empty() {
                return Err(unusable("this database's station secrets are sealed, and no key file is given"));
            }
            return Ok(Self { ring: RwLock::new(Keyring::new(SealingKey::generate())), key_file: None });
        };
        let next_path = sealing::next_key_file(&path);
        let (current, next) = (read(&path)?, read(&next_path)?);
        let uses = |key: &SealingKey| sealed_ids.contains(&key.id());
        let current = match (current, next) {
            // A rotation committed its secrets under the next key, then stopped before moving the file.
            (_, Some(next)) if uses(&next) => {
                sealing::promote_next_key(&path).map_err(unusable)?;
                next
            }
            // It stopped before its commit: the next key sealed nothing.
            (Some(current), Some(_)) => {
                std::fs::remove_file(&next_path).map_err(unusable)?;
                current
            }
            (None, Some(next)) if sealed_ids.is_empty() => {
                sealing::promote_next_key(&path).map_err(unusable)?;
                next
            }
            (Some(current), None) => current,
            (None, _) if !sealed_ids.is_empty() => {
                return Err(unusable(format!(
                    "this database's station secrets are sealed with key {}, and its key file {} is \
                     missing: restore it (or give --secrets-key-file)",
                    hex(&sealed_ids[0]),
                    path.display()
                )));
            }
            (None, _) => {
                let key = SealingKey::generate();
                sealing::write_key_file(&path, &key)
                    .map_err(|e| unusable(format!("cannot write the key file {}: {e}", path.display())))?;
                tracing::info!(key = key.id_hex(), file = %path.display(), "created the station secrets' key");
                key
            }
        };
        let ring = Keyring::new(current);
        if let Some(id) = sealed_ids.iter().find(|id| !ring.holds(**id)) {
            return Err(unusable(format!(
                "a station secret is sealed with key {}, but the key file {} holds key {}",
                hex(id),
                path.display(),
                ring.current().id_hex()
            )));
        }
        Ok(Self { ring: RwLock::new(ring), key_file: Some(path) })
    }

    fn ring(&self) -> Keyring {
        self.ring.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Reads the key file again (another process may have rotated the key) and makes its key current.
    fn reload(&self) -> Result<Keyring> {
        let Some(path) = &self.key_file else { return Ok(self.ring()) };
        let mut ring = self.ring.write().unwrap_or_else(|e| e.into_inner());
        for file in [sealing::next_key_file(path), path.clone()] {
            if let Some(key) = read(&file)? {
                ring.make_current(key);
            }
        }
        Ok(ring.clone())
    }
}

impl Db {
    /// Seals a new station secret with the current key (as its file holds it now).
    pub(crate) fn seal_secret(&self, secret: &[u8; 32]) -> Result<Vec<u8>> {
        Ok(self.secrets.reload()?.current().seal(secret))
    }

    /// A stored station secret in clear. A key this process does not know sends it to the key file
    /// again, once: another process may have rotated it.
    pub(crate) fn open_secret(&self, stored: &[u8]) -> Result<[u8; 32]> {
        match self.secrets.ring().open(stored) {
            Err(SealError::UnknownKey(_)) => self.secrets.reload()?.open(stored).map_err(unusable),
            other => other.map_err(unusable),
        }
    }

    /// Seals again with `new` every secret sealed otherwise, in one database transaction.
    async fn reseal(&self, old: &Keyring, new: &SealingKey) -> Result<usize> {
        let mut tx = self.write_txn().await?;
        let rows = sqlx::query("SELECT id, secret FROM stations").fetch_all(&mut *tx).await?;
        let mut resealed = 0;
        for row in rows {
            let (id, stored): (i64, Vec<u8>) = (row.try_get("id")?, row.try_get("secret")?);
            if Stored::of(&stored) == Ok(Stored::Sealed(new.id())) {
                continue;
            }
            let secret = old.open(&stored).map_err(unusable)?;
            sqlx::query("UPDATE stations SET secret = $2 WHERE id = $1")
                .bind(id)
                .bind(new.seal(&secret))
                .execute(&mut *tx)
                .await?;
            resealed += 1;
        }
        tx.commit().await?;
        Ok(resealed)
    }

    /// The id of the key new station secrets are sealed with.
    pub fn secrets_key_id(&self) -> String {
        self.secrets.ring().current().id_hex()
    }

    /// Seals every station secret still stored in clear (from before secrets were sealed), in one
    /// database transaction. Returns how many.
    pub(crate) async fn seal_plain_secrets(&self) -> Result<usize> {
        let ring = self.secrets.ring();
        let mut tx = self.write_txn().await?;
        let rows = sqlx::query("SELECT id, secret FROM stations").fetch_all(&mut *tx).await?;
        let mut sealed = 0;
        for row in rows {
            let (id, stored): (i64, Vec<u8>) = (row.try_get("id")?, row.try_get("secret")?);
            if let Ok(Stored::Plain(secret)) = Stored::of(&stored) {
                sqlx::query("UPDATE stations SET secret = $2 WHERE id = $1")
                    .bind(id)
                    .bind(ring.current().seal(&secret))
                    .execute(&mut *tx)
                    .await?;
                sealed += 1;
            }
        }
        tx.commit().await?;
        Ok(sealed)
    }

    /// Replaces the key that seals the station secrets: a new key is written beside the key file
    /// (`secrets.key.new`), every secret is sealed again with it in one database transaction, and then
    /// the new file takes the old one's place. Interrupted anywhere, the next opening of the database
    /// finishes or undoes it, and no secret is lost.
    pub async fn rotate_secrets_key(&self) -> Result<Rotation> {
        let Some(path) = self.secrets.key_file.clone() else {
            return Err(unusable("a database in memory has no key file to rotate"));
        };
        let old = self.secrets.reload()?;
        let new = SealingKey::generate();
        let next = sealing::next_key_file(&path);
        sealing::write_key_file(&next, &new)
            .map_err(|e| unusable(format!("cannot write {}: {e}", next.display())))?;
        let mut resealed = self.reseal(&old, &new).await?;
        sealing::promote_next_key(&path).map_err(unusable)?;
        // A station another process created meanwhile, with the old key it had read, is sealed again
        // too: the file now holds the new key, so that does not go on.
        loop {
            match self.reseal(&old, &new).await? {
                0 => break,
                n => resealed += n,
            }
        }
        self.secrets.reload()?;
        Ok(Rotation { resealed, old_key: old.current().id_hex(), new_key: new.id_hex(), key_file: path })
    }
}

#[cfg(test)]
mod tests {
    use domain::{GeranceName, StationId, Timestamp};

    use super::*;
    use crate::sealing::SEALED_LEN;
    use crate::{DbOptions, NewStation};

    const SECRET: [u8; 32] = [0x5a; 32];

    /// Where a test's database is, with its key file at `dir/secrets.key`: a SQLite file beside it (the
    /// default place), or a new database on the tests' PostgreSQL server (the key file given).
    async fn target(dir: &tempfile::TempDir) -> (String, DbOptions) {
        match crate::test_support::postgres_server() {
            Some(server) => (
                crate::test_support::fresh_postgres(&server).await.unwrap(),
                DbOptions { secrets_key_file: Some(dir.path().join("secrets.key")), ..DbOptions::default() },
            ),
            None => (format!("sqlite://{}", dir.path().join("r.db").display()), DbOptions::default()),
        }
    }

    async fn with_station(url: &str, opts: &DbOptions) -> (Db, StationId) {
        let db = Db::open_with(url, opts).await.unwrap();
        let g = db.create_gerance(&GeranceName::parse("G").unwrap(), Timestamp(1)).await.unwrap();
        let new = NewStation {
            gerance_id: g.id,
            name: "S",
            place: "P",
            phone: &crate::testing::phone("+41790000101"),
            secret: &SECRET,
            max_amount: crate::testing::rappen(1),
        };
        let id = db.create_station(new, Timestamp(1)).await.unwrap();
        (db, id)
    }

    async fn stored(db: &Db, id: StationId) -> Vec<u8> {
        sqlx::query_scalar("SELECT secret FROM stations WHERE id = $1")
            .bind(id.get())
            .fetch_one(&db.pool)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_secret_is_sealed_in_the_file_and_opens_for_the_modem_task() {
        let dir = tempfile::tempdir().unwrap();
        let (url, opts) = target(&dir).await;
        let (db, id) = with_station(&url, &opts).await;
        assert_eq!(db.station_link(id).await.unwrap().unwrap().secret, SECRET);
        let raw = stored(&db, id).await;
        assert_eq!((raw.len(), &raw[1..5]), (SEALED_LEN, &hex_id(&db)[..]));
        db.close().await;
        // In the file too, not only through the database layer (a PostgreSQL server's files are its own).
        for file in ["r.db", "r.db-wal"].iter().filter(|_| url.starts_with("sqlite:")) {
            let bytes = std::fs::read(dir.path().join(file)).unwrap_or_default();
            assert!(!bytes.windows(32).any(|w| w == SECRET), "{file} holds the secret in clear");
        }
        use std::os::unix::fs::PermissionsExt;
        let key = std::fs::metadata(dir.path().join("secrets.key")).unwrap();
        assert_eq!(key.permissions().mode() & 0o777, 0o600);
    }

    fn hex_id(db: &Db) -> Vec<u8> {
        let id = db.secrets_key_id();
        (0..4).map(|i| u8::from_str_radix(&id[2 * i..2 * i + 2], 16).unwrap()).collect()
    }

    #[tokio::test]
    async fn secrets_in_clear_from_before_are_sealed_when_the_database_opens() {
        let dir = tempfile::tempdir().unwrap();
        let (url, opts) = target(&dir).await;
        let (db, id) = with_station(&url, &opts).await;
        sqlx::query("UPDATE stations SET secret = $1").bind(&SECRET[..]).execute(&db.writer).await.unwrap();
        db.close().await;
        // In the file, not even in a free page (a PostgreSQL server's files are its own).
        let on_file = url.starts_with("sqlite:");
        let in_clear = || {
            let bytes = std::fs::read(dir.path().join("r.db")).unwrap();
            bytes.windows(32).any(|w| w == SECRET)
        };
        assert!(!on_file || in_clear(), "as an earlier version left it");
        let db = Db::open_with(&url, &opts).await.unwrap();
        assert_eq!(stored(&db, id).await.len(), SEALED_LEN);
        assert_eq!(db.station_link(id).await.unwrap().unwrap().secret, SECRET);
        db.close().await;
        assert!(!on_file || !in_clear(), "not even in a free page");
    }

    #[tokio::test]
    async fn without_its_key_a_sealed_database_is_refused_and_no_key_is_made_up() {
        let dir = tempfile::tempdir().unwrap();
        let (url, opts) = target(&dir).await;
        let (db, _) = with_station(&url, &opts).await;
        let id = db.secrets_key_id();
        db.close().await;
        let key = dir.path().join("secrets.key");
        std::fs::rename(&key, dir.path().join("elsewhere.key")).unwrap();
        let e = Db::open_with(&url, &opts).await.unwrap_err().to_string();
        assert!(e.contains(&id) && e.contains("missing"), "{e}");
        assert!(!key.exists());
        // Named where it is, it opens.
        let elsewhere =
            DbOptions { secrets_key_file: Some(dir.path().join("elsewhere.key")), ..DbOptions::default() };
        Db::open_with(&url, &elsewhere).await.unwrap();
        // Another key: refused too, with both ids.
        sealing::write_key_file(&key, &SealingKey::generate()).unwrap();
        let e = Db::open_with(&url, &opts).await.unwrap_err().to_string();
        assert!(e.contains(&id) && e.contains("holds key"), "{e}");
    }

    #[tokio::test]
    async fn a_rotation_seals_every_secret_again_and_a_running_server_follows_it() {
        let dir = tempfile::tempdir().unwrap();
        let (url, opts) = target(&dir).await;
        let (server, id) = with_station(&url, &opts).await;
        let old = server.secrets_key_id();
        // The command line, in another process, while the server runs.
        let cli = Db::open_with(&url, &opts).await.unwrap();
        let rotation = cli.rotate_secrets_key().await.unwrap();
        assert_eq!((rotation.resealed, rotation.old_key.as_str()), (1, old.as_str()));
        assert_ne!(rotation.new_key, old);
        assert_eq!(stored(&cli, id).await[1..5], hex_id(&cli)[..]);
        assert!(!sealing::next_key_file(&rotation.key_file).exists());
        // The server meets a key it does not know, reads the file again, and signs on.
        assert_eq!(server.station_link(id).await.unwrap().unwrap().secret, SECRET);
        assert_eq!(server.secrets_key_id(), rotation.new_key);
        server.close().await;
        cli.close().await;
        let db = Db::open_with(&url, &opts).await.unwrap();
        assert_eq!(db.station_link(id).await.unwrap().unwrap().secret, SECRET);
    }

    #[tokio::test]
    async fn a_rotation_interrupted_anywhere_is_finished_or_undone_at_the_next_opening() {
        let dir = tempfile::tempdir().unwrap();
        let (url, opts) = target(&dir).await;
        let key = dir.path().join("secrets.key");
        let (db, id) = with_station(&url, &opts).await;
        let old = std::fs::read_to_string(&key).unwrap();
        // Stopped before its commit: a next key that sealed nothing.
        sealing::write_key_file(&sealing::next_key_file(&key), &SealingKey::generate()).unwrap();
        db.close().await;
        let db = Db::open_with(&url, &opts).await.unwrap();
        assert!(!sealing::next_key_file(&key).exists(), "undone");
        assert_eq!(std::fs::read_to_string(&key).unwrap(), old);
        // Stopped after its commit, before the file moved: the database shows which key it used.
        let rotation = db.rotate_secrets_key().await.unwrap();
        db.close().await;
        std::fs::rename(&key, sealing::next_key_file(&key)).unwrap();
        std::fs::write(&key, &old).unwrap();
        let db = Db::open_with(&url, &opts).await.unwrap();
        assert_eq!(db.secrets_key_id(), rotation.new_key, "finished");
        assert!(!sealing::next_key_file(&key).exists());
        assert_eq!(db.station_link(id).await.unwrap().unwrap().secret, SECRET);
    }
}
