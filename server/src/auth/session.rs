//! Session tokens and their lifetime.
//!
//! A token is 256 random bits, given to the browser once in a cookie; the database keeps only its SHA-256,
//! so a leaked copy of the database does not let anyone in.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::Timestamp;
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};

/// A new random token, as it goes into the cookie.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What the database stores for a token.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// How long sessions live.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    /// A session unused for this long ends.
    pub idle: Duration,
    /// A session ends this long after login, used or not.
    pub lifetime: Duration,
}

/// What to do with a session found in the database.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Valid; `touch` says whether to record the activity now (recorded at most once a minute, so that
    /// browsing does not turn every request into a write).
    Valid {
        touch: bool,
    },
    Expired,
}

impl SessionPolicy {
    pub fn expires_at(&self, created: Timestamp) -> Timestamp {
        created.plus_millis(millis(self.lifetime))
    }

    /// Sessions last used before this instant are idle-expired.
    pub fn idle_cutoff(&self, now: Timestamp) -> Timestamp {
        now.plus_millis(-millis(self.idle))
    }

    /// How often something kept open with a session (an event stream) checks that the session still
    /// holds: every minute, or twice per idle time when sessions idle out sooner.
    pub fn recheck_every(&self) -> Duration {
        Duration::from_secs(60).min(self.idle / 2)
    }

    pub fn judge(&self, last_seen: Timestamp, expires_at: Timestamp, now: Timestamp) -> Verdict {
        if now >= expires_at || last_seen <= self.idle_cutoff(now) {
            Verdict::Expired
        } else {
            Verdict::Valid { touch: now.millis() - last_seen.millis() >= 60_000 }
        }
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: SessionPolicy =
        SessionPolicy { idle: Duration::from_secs(3600), lifetime: Duration::from_secs(12 * 3600) };

    #[test]
    fn tokens_are_random_256_bit_and_hashed() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 32);
        assert_eq!(token_hash(&a), token_hash(&a));
        assert_ne!(token_hash(&a), token_hash(&b));
    }

    #[test]
    fn a_session_ends_after_idling_or_at_its_absolute_expiry() {
        let login = Timestamp(1_000_000_000);
        let expires = POLICY.expires_at(login);
        let min = 60_000;
        assert_eq!(POLICY.judge(login, expires, login.plus_millis(30 * min)), Verdict::Valid { touch: true });
        assert_eq!(POLICY.judge(login, expires, login.plus_millis(20_000)), Verdict::Valid { touch: false });
        assert_eq!(POLICY.judge(login, expires, login.plus_millis(60 * min)), Verdict::Expired);
        // Used every half hour, it still ends twelve hours after login.
        let recent = login.plus_millis(12 * 60 * min - 10 * min);
        assert_eq!(POLICY.judge(recent, expires, login.plus_millis(12 * 60 * min)), Verdict::Expired);
    }
}
