//! Password hashing with Argon2id at OWASP's recommended parameters (m = 19 MiB, t = 2, p = 1).
//!
//! Hashing is deliberately slow, so it runs on threads of its own, one per core, never on the async
//! runtime, and each thread reuses one 19 MiB work area for every hash. Without a bound a hundred
//! parallel logins took 2.8 GB, and the allocator kept it: a 19 MiB area freed on one of the blocking
//! pool's many threads stayed in that thread's arena. Now the memory is the threads' areas, allocated
//! once. A check waits briefly for a free thread, then gives up ([`Busy`]).
//!
//! Hashes are PHC strings (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`), written and read with the
//! `password-hash` types the `argon2` crate uses itself, so they are the same as its `hash_password`
//! makes and checks (a test holds both ways).

use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use tokio::sync::{Semaphore, oneshot};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

fn params() -> Params {
    // The parameters are constants that `Params::new` accepts; a failure here is a programming error.
    Params::new(19_456, 2, 1, None).expect("valid Argon2 parameters")
}

/// A job for a hashing thread, given the thread's work area.
type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

/// The hashing threads, one per core, and the turns to use them.
struct Hashers {
    jobs: std_mpsc::Sender<Job>,
    turns: Semaphore,
}

static HASHERS: LazyLock<Hashers> = LazyLock::new(|| {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (jobs, queue) = std_mpsc::channel::<Job>();
    let queue = Arc::new(Mutex::new(queue));
    for n in 0..threads {
        let queue = queue.clone();
        let spawned = std::thread::Builder::new().name(format!("password-{n}")).spawn(move || {
            let mut area = Vec::new();
            loop {
                let job = match queue.lock() {
                    Ok(queue) => queue.recv(),
                    Err(_) => return,
                };
                match job {
                    Ok(job) => job(&mut area),
                    Err(_) => return,
                }
            }
        });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start a password thread");
        }
    }
    Hashers { jobs, turns: Semaphore::new(threads) }
});

/// Runs `work` on a hashing thread once `turns` gives a turn.
async fn on_hasher<T: Send + 'static>(
    turns: &Semaphore,
    wait: Option<Duration>,
    work: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
) -> Result<T, Busy> {
    let turn = match wait {
        Some(wait) => tokio::time::timeout(wait, turns.acquire()).await.map_err(|_| Busy)?,
        None => turns.acquire().await,
    };
    let _turn = turn.map_err(|_| Busy)?;
    let (done, result) = oneshot::channel();
    let job: Job = Box::new(move |area| {
        let _ = done.send(work(area));
    });
    HASHERS.jobs.send(job).map_err(|_| Busy)?;
    result.await.map_err(|_| Busy)
}

/// How long a password check waits for its turn before the attempt is refused as [`Busy`].
pub const WAIT_FOR_TURN: Duration = Duration::from_secs(3);

/// Too many password checks at once: this one was not made.
#[derive(Debug, thiserror::Error)]
#[error("too many password checks at once")]
pub struct Busy;

/// A hash of a password nobody knows, verified when the e-mail is unknown so that an unknown e-mail and a
/// wrong password take the same time.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| hash_with("no account has this password", &mut Vec::new()).expect("Argon2 hashing"));

/// The raw Argon2 output of `password` with `salt` under `params`, in `area` (grown once to the size
/// the parameters need, then reused).
fn raw_hash(
    password: &[u8],
    salt: &[u8],
    params: Params,
    area: &mut Vec<Block>,
) -> Result<Vec<u8>, argon2::Error> {
    let mut out = vec![0u8; params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)];
    if area.len() < params.block_count() {
        area.resize(params.block_count(), Block::default());
    }
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params).hash_password_into_with_memory(
        password,
        salt,
        &mut out,
        &mut area[..],
    )?;
    Ok(out)
}

fn hash_with(password: &str, area: &mut Vec<Block>) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; 64];
    let raw = raw_hash(password.as_bytes(), salt.decode_b64(&mut salt_bytes)?, params(), area)
        .map_err(|e| anyhow::anyhow!("Argon2: {e}"))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params())?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&raw)?),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches the PHC string `stored` (Argon2id only; anything else does not match).
fn matches(password: &str, stored: &str, area: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else { return false };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else { return false };
    let argon2id = Algorithm::try_from(parsed.algorithm) == Ok(Algorithm::Argon2id);
    let version = parsed.version.map_or(Ok(Version::V0x13), Version::try_from) == Ok(Version::V0x13);
    let Ok(params) = Params::try_from(&parsed) else { return false };
    // Bounded by what this server writes: a stored hash cannot make a check take more memory or time.
    let ours = self::params();
    let bounded = params.m_cost() <= ours.m_cost()
        && params.t_cost() <= ours.t_cost()
        && params.p_cost() <= ours.p_cost();
    if !argon2id || !version || !bounded {
        return false;
    }
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else { return false };
    match raw_hash(password.as_bytes(), salt, params, area) {
        // `Output`'s comparison takes the same time wherever the bytes differ.
        Ok(raw) => Output::new(&raw).is_ok_and(|computed| computed == expected),
        Err(_) => false,
    }
}

/// Hashes a password for storage (PHC string format, parameters and salt included).
pub async fn hash(password: String) -> anyhow::Result<String> {
    on_hasher(&HASHERS.turns, None, move |area| hash_with(&password, area)).await?
}

/// Checks a password against a stored hash, or against a dummy hash when there is no account, so that both
/// cases cost the same. Returns `true` only for a stored hash that matches; [`Busy`] when its turn did
/// not come within [`WAIT_FOR_TURN`].
pub async fn verify(password: String, stored: Option<String>) -> Result<bool, Busy> {
    verify_in_turn(&HASHERS.turns, WAIT_FOR_TURN, password, stored).await
}

async fn verify_in_turn(
    turns: &Semaphore,
    wait: Duration,
    password: String,
    stored: Option<String>,
) -> Result<bool, Busy> {
    on_hasher(turns, Some(wait), move |area| {
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| DUMMY_HASH.clone());
        matches(&password, &hash, area) && known
    })
    .await
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
    async fn hashes_are_the_argon2_crate_s_own_both_ways() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, params());
        let salt = SaltString::generate(&mut OsRng);
        let made_by_the_crate = theirs.hash_password(b"correct horse battery", &salt).unwrap().to_string();
        assert!(verify("correct horse battery".into(), Some(made_by_the_crate.clone())).await.unwrap());
        assert!(!verify("correct horse batterY".into(), Some(made_by_the_crate)).await.unwrap());
        let ours = hash("correct horse battery".into()).await.unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(theirs.verify_password(b"correct horse battery", &parsed).is_ok());
        assert!(theirs.verify_password(b"correct horse batterY", &parsed).is_err());
    }

    #[tokio::test]
    async fn a_stored_hash_cannot_ask_for_more_memory_or_another_algorithm() {
        use argon2::password_hash::PasswordHasher;
        let salt = SaltString::generate(&mut OsRng);
        let heavier = Params::new(65_536, 2, 1, None).unwrap();
        let heavy = Argon2::new(Algorithm::Argon2id, Version::V0x13, heavier);
        let stored = heavy.hash_password(b"pw", &salt).unwrap().to_string();
        assert!(!verify("pw".into(), Some(stored)).await.unwrap());
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, params());
        let stored = argon2i.hash_password(b"pw", &salt).unwrap().to_string();
        assert!(!verify("pw".into(), Some(stored)).await.unwrap());
    }

    #[tokio::test]
    async fn no_account_never_verifies() {
        assert!(!verify("no account has this password".into(), None).await.unwrap());
        assert!(!verify("x".into(), Some("not a hash".into())).await.unwrap());
    }
}
