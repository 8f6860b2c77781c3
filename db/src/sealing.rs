//! Station secrets at rest. The server needs each station's secret in clear to sign what it sends, so it
//! cannot keep only a hash; instead the database holds every secret sealed (XChaCha20-Poly1305) with a
//! key kept outside it, in a file of its own (`secrets.key` beside the database unless the operator
//! names another, `--secrets-key-file`). A copy of the database file alone (a backup, a disk image)
//! holds no secret a station would believe.
//!
//! A sealed secret is `1 | key id (4) | nonce (24) | ciphertext and tag (48)`: the key id (the first
//! bytes of the key's SHA-256) says which key sealed it, so that a rotation interrupted at any point
//! leaves every secret readable with one of the key files on disk.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use sha2::{Digest, Sha256};

const VERSION: u8 = 1;
const AAD: &[u8] = b"recharge station secret v1";
/// The length of a sealed secret.
pub const SEALED_LEN: usize = 1 + 4 + 24 + 32 + 16;
/// A secret stored before secrets were sealed: 32 bytes as they are.
const PLAIN_LEN: usize = 32;

/// A key that seals station secrets. Its `Debug` shows only its id.
#[derive(Clone)]
pub struct SealingKey {
    key: [u8; 32],
    id: [u8; 4],
}

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealingKey({})", self.id_hex())
    }
}

/// What can be wrong with a key or a sealed secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("a key file holds 64 hexadecimal digits (32 bytes)")]
    KeyFormat,
    #[error("sealed with key {0}, which no key file holds")]
    UnknownKey(String),
    #[error("a sealed secret does not open: altered, or not ours")]
    Corrupt,
}

impl SealingKey {
    /// A new key from the operating system's random source.
    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        Self::from_bytes(key)
    }

    pub fn from_bytes(key: [u8; 32]) -> Self {
        let digest = Sha256::digest(key);
        Self { key, id: [digest[0], digest[1], digest[2], digest[3]] }
    }

    /// The key as its file holds it: 64 hexadecimal digits (surrounding white space ignored).
    pub fn parse(text: &str) -> Result<Self, SealError> {
        let text = text.trim();
        if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(SealError::KeyFormat);
        }
        let mut key = [0u8; 32];
        for (i, byte) in key.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| SealError::KeyFormat)?;
        }
        Ok(Self::from_bytes(key))
    }

    fn to_text(&self) -> String {
        let mut text: String = self.key.iter().map(|b| format!("{b:02x}")).collect();
        text.push('\n');
        text
    }

    pub fn id(&self) -> [u8; 4] {
        self.id
    }

    /// The key's id, as sealed secrets and messages name it.
    pub fn id_hex(&self) -> String {
        self.id.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Seals a station secret under this key, with a fresh random nonce.
    pub fn seal(&self, secret: &[u8; 32]) -> Vec<u8> {
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let cipher = XChaCha20Poly1305::new((&self.key).into());
        let sealed = cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: secret, aad: AAD })
            .expect("32 bytes always encrypt");
        let mut out = Vec::with_capacity(SEALED_LEN);
        out.push(VERSION);
        out.extend_from_slice(&self.id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }
}

/// A secret as the database holds it.
#[derive(Debug, PartialEq, Eq)]
pub enum Stored {
    /// Sealed with the key whose id this is.
    Sealed([u8; 4]),
    /// In clear, as before secrets were sealed: sealed when the database is opened.
    Plain([u8; 32]),
}

impl Stored {
    pub fn of(bytes: &[u8]) -> Result<Self, SealError> {
        match bytes.len() {
            SEALED_LEN if bytes[0] == VERSION => Ok(Stored::Sealed([bytes[1], bytes[2], bytes[3], bytes[4]])),
            PLAIN_LEN => Ok(Stored::Plain(bytes.try_into().expect("32 bytes"))),
            _ => Err(SealError::Corrupt),
        }
    }
}

/// The keys secrets may be sealed with: the current one (new secrets are sealed with it) and, after an
/// interrupted rotation, the other.
#[derive(Debug, Clone)]
pub struct Keyring {
    current: SealingKey,
    others: Vec<SealingKey>,
}

impl Keyring {
    pub fn new(current: SealingKey) -> Self {
        Self { current, others: Vec::new() }
    }

    pub fn current(&self) -> &SealingKey {
        &self.current
    }

    fn find(&self, id: [u8; 4]) -> Option<&SealingKey> {
        std::iter::once(&self.current).chain(&self.others).find(|k| k.id == id)
    }

    /// Whether a secret sealed with key `id` opens with this ring.
    pub fn holds(&self, id: [u8; 4]) -> bool {
        self.find(id).is_some()
    }

    /// Makes `key` the current key; the one it replaces still opens what it sealed.
    pub fn make_current(&mut self, key: SealingKey) {
        if key.id == self.current.id {
            return;
        }
        self.others.retain(|k| k.id != key.id);
        let old = std::mem::replace(&mut self.current, key);
        self.others.push(old);
    }

    /// The secret in `stored` (sealed, or in clear from before secrets were sealed).
    pub fn open(&self, stored: &[u8]) -> Result<[u8; 32], SealError> {
        let id = match Stored::of(stored)? {
            Stored::Plain(secret) => return Ok(secret),
            Stored::Sealed(id) => id,
        };
        let key = self.find(id).ok_or_else(|| SealError::UnknownKey(hex(&id)))?;
        let cipher = XChaCha20Poly1305::new((&key.key).into());
        let secret = cipher
            .decrypt(XNonce::from_slice(&stored[5..29]), Payload { msg: &stored[29..], aad: AAD })
            .map_err(|_| SealError::Corrupt)?;
        secret.try_into().map_err(|_| SealError::Corrupt)
    }
}

pub(crate) fn hex(id: &[u8; 4]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where a rotation writes the next key before the database uses it.
pub fn next_key_file(key_file: &Path) -> PathBuf {
    let mut name = key_file.as_os_str().to_owned();
    name.push(".new");
    PathBuf::from(name)
}

/// Reads a key file; `None` if there is none.
pub fn read_key_file(path: &Path) -> std::io::Result<Option<Result<SealingKey, SealError>>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(SealingKey::parse(&text))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes `key` to `path`, its owner's alone, all or nothing: a temporary file, flushed to the disk, then
/// renamed over `path`, and the directory flushed.
pub fn write_key_file(path: &Path, key: &SealingKey) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = next_key_file(path).into_os_string();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut file =
        std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
    file.write_all(key.to_text().as_bytes())?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

/// Moves a rotation's next key into place (`path.new` over `path`), durably.
pub fn promote_next_key(path: &Path) -> std::io::Result<()> {
    std::fs::rename(next_key_file(path), path)?;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_with_its_key_only() {
        let (a, b) = (SealingKey::generate(), SealingKey::generate());
        let secret = [7u8; 32];
        let sealed = a.seal(&secret);
        assert_eq!(sealed.len(), SEALED_LEN);
        assert!(!sealed.windows(32).any(|w| w == secret), "not in clear");
        assert_ne!(a.seal(&secret), sealed, "a fresh nonce each time");
        assert_eq!(Keyring::new(a.clone()).open(&sealed), Ok(secret));
        assert_eq!(Keyring::new(b.clone()).open(&sealed), Err(SealError::UnknownKey(a.id_hex())));
        let both = Keyring { current: b, others: vec![a.clone()] };
        assert_eq!(both.open(&sealed), Ok(secret), "a key left by an interrupted rotation");
        let mut altered = sealed.clone();
        altered[40] ^= 1;
        assert_eq!(Keyring::new(a.clone()).open(&altered), Err(SealError::Corrupt));
        assert_eq!(Keyring::new(a).open(&[1, 2, 3]), Err(SealError::Corrupt));
    }

    #[test]
    fn a_secret_in_clear_from_before_reads_as_it_is() {
        let key = SealingKey::generate();
        assert_eq!(Keyring::new(key).open(&[9u8; 32]), Ok([9u8; 32]));
        assert_eq!(Stored::of(&[9u8; 32]), Ok(Stored::Plain([9u8; 32])));
    }

    #[test]
    fn key_files_round_trip_and_bad_ones_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.key");
        assert!(read_key_file(&path).unwrap().is_none());
        let key = SealingKey::generate();
        write_key_file(&path, &key).unwrap();
        let read = read_key_file(&path).unwrap().unwrap().unwrap();
        assert_eq!(read.id_hex(), key.id_hex());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(format!("{key:?}"), format!("SealingKey({})", key.id_hex()), "never the key");
        for bad in ["", "00", &"g".repeat(64), &"0".repeat(63)] {
            assert_eq!(SealingKey::parse(bad).unwrap_err(), SealError::KeyFormat, "{bad:?}");
        }
    }
}
