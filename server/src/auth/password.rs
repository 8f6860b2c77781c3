//! Password hashing with Argon2id at OWASP's recommended parameters (m = 19 MiB, t = 2, p = 1).
//!
//! Hashing is deliberately slow, so it runs on the blocking thread pool, never on the async runtime, and
//! at most one per core at a time: each takes 19 MiB while it runs, so without a bound a hundred parallel
//! logins took 2.8 GB (and the allocator kept it). A check waits briefly for its turn, then gives up.

use std::sync::LazyLock;
use std::time::Duration;

use tokio::sync::Semaphore;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

fn hasher() -> Argon2<'static> {
    // The parameters are constants that `Params::new` accepts; a failure here is a programming error.
    let params = Params::new(19_456, 2, 1, None).expect("valid Argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes running at once: one per core.
static TURNS: LazyLock<Semaphore> =
    LazyLock::new(|| Semaphore::new(std::thread::available_parallelism().map_or(1, |n| n.get())));

/// How long a password check waits for its turn before the attempt is refused as [`Busy`].
pub const WAIT_FOR_TURN: Duration = Duration::from_secs(3);

/// Too many password checks at once: this one was not made.
#[derive(Debug, thiserror::Error)]
#[error("too many password checks at once")]
pub struct Busy;

/// A hash of a password nobody knows, verified when the e-mail is unknown so that an unknown e-mail and a
/// wrong password take the same time.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| hash_blocking("no account has this password"));

fn hash_blocking(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .expect("Argon2 hashing with valid parameters")
        .to_string()
}

/// Hashes a password for storage (PHC string format, parameters and salt included).
pub async fn hash(password: String) -> anyhow::Result<String> {
    let _turn = TURNS.acquire().await?;
    Ok(tokio::task::spawn_blocking(move || hash_blocking(&password)).await?)
}

/// Checks a password against a stored hash, or against a dummy hash when there is no account, so that both
/// cases cost the same. Returns `true` only for a stored hash that matches; [`Busy`] when its turn did
/// not come within [`WAIT_FOR_TURN`].
pub async fn verify(password: String, stored: Option<String>) -> Result<bool, Busy> {
    verify_in_turn(&TURNS, WAIT_FOR_TURN, password, stored).await
}

async fn verify_in_turn(
    turns: &Semaphore,
    wait: Duration,
    password: String,
    stored: Option<String>,
) -> Result<bool, Busy> {
    let _turn = match tokio::time::timeout(wait, turns.acquire()).await {
        Ok(Ok(turn)) => turn,
        Err(_) | Ok(Err(_)) => return Err(Busy),
    };
    Ok(tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| DUMMY_HASH.clone());
        let ok = match PasswordHash::new(&hash) {
            Ok(parsed) => hasher().verify_password(password.as_bytes(), &parsed).is_ok(),
            Err(_) => false,
        };
        ok && known
    })
    .await
    .unwrap_or(false))
}

/// Computes the dummy hash ahead of the first login, so the first unknown e-mail is not slower than the rest.
pub fn warm_up() {
    LazyLock::force(&DUMMY_HASH);
}

/// 16 characters from an alphabet without look-alikes (no 0/O, 1/l/I): about 93 bits.
pub fn generate() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    (0..16).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let h = hash("correct horse battery".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("correct horse battery".into(), Some(h.clone())).await.unwrap());
        assert!(!verify("Correct horse battery".into(), Some(h)).await.unwrap());
    }

    #[tokio::test]
    async fn a_check_waits_for_its_turn_and_then_gives_up() {
        let turns = Semaphore::new(1);
        let wait = Duration::from_millis(200);
        let h = hash("correct horse battery".into()).await.unwrap();
        let held = turns.acquire().await.unwrap();
        let check = verify_in_turn(&turns, wait, "correct horse battery".into(), Some(h.clone()));
        assert!(check.await.is_err(), "no turn came: not checked");
        // A turn that comes within the wait is taken.
        let check = verify_in_turn(&turns, wait, "correct horse battery".into(), Some(h));
        let release = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            drop(held);
        };
        let (checked, ()) = tokio::join!(check, release);
        assert!(checked.unwrap());
    }

    #[tokio::test]
    async fn no_account_never_verifies() {
        assert!(!verify("no account has this password".into(), None).await.unwrap());
        assert!(!verify("x".into(), Some("not a hash".into())).await.unwrap());
    }
}
