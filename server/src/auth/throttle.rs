//! Slowing down, then refusing, password guessing.
//!
//! Failed logins are counted per e-mail (whether or not the account exists, so the answer reveals nothing)
//! and per client address. Past a few free failures, each further attempt must wait twice as long as the
//! previous one; past a limit, the subject is locked for a while. Failures are forgotten once the subject
//! has been quiet for the window.

use std::time::Duration;

use db::ThrottleRecord;
use domain::Timestamp;

#[derive(Debug, Clone, Copy)]
pub struct ThrottlePolicy {
    /// Failures allowed without any wait.
    pub free_failures: u32,
    /// The wait after the first failure past the free ones; it doubles with each further failure.
    pub base_delay: Duration,
    /// From this many failures on, the subject is locked for `lock_for`.
    pub lock_after: u32,
    pub lock_for: Duration,
    /// Failures older than this (since the last one) are forgotten.
    pub window: Duration,
}

impl ThrottlePolicy {
    /// For one e-mail address: a person who mistypes a few times is not bothered.
    pub const PER_ACCOUNT: Self = Self {
        free_failures: 3,
        base_delay: Duration::from_secs(1),
        lock_after: 10,
        lock_for: Duration::from_secs(15 * 60),
        window: Duration::from_secs(15 * 60),
    };

    /// For one client address, which may be a whole office behind one public address.
    pub const PER_CLIENT: Self = Self {
        free_failures: 10,
        base_delay: Duration::from_secs(1),
        lock_after: 50,
        lock_for: Duration::from_secs(15 * 60),
        window: Duration::from_secs(15 * 60),
    };

    fn is_current(&self, record: &ThrottleRecord, now: Timestamp) -> bool {
        now.millis() - record.last_failure_at.millis() < millis(self.window)
    }

    /// How long the subject must still wait before an attempt is even checked; `None` when it may try now.
    pub fn wait(&self, record: Option<ThrottleRecord>, now: Timestamp) -> Option<Duration> {
        let record = record.filter(|r| self.is_current(r, now))?;
        if record.failures < self.free_failures {
            return None;
        }
        let delay = if record.failures >= self.lock_after {
            self.lock_for
        } else {
            let doublings = (record.failures - self.free_failures).min(20);
            self.base_delay.saturating_mul(1 << doublings).min(self.lock_for)
        };
        let until = record.last_failure_at.millis().saturating_add(millis(delay));
        (now.millis() < until).then(|| Duration::from_millis((until - now.millis()) as u64))
    }

    /// The record after one more failure.
    pub fn after_failure(&self, record: Option<ThrottleRecord>, now: Timestamp) -> ThrottleRecord {
        match record.filter(|r| self.is_current(r, now)) {
            Some(r) => ThrottleRecord { failures: r.failures.saturating_add(1), last_failure_at: now, ..r },
            None => ThrottleRecord { failures: 1, first_failure_at: now, last_failure_at: now },
        }
    }
}

impl ThrottlePolicy {
    /// The record once an attempt counted ahead of its check turned out right: one failure fewer, or
    /// none left (`None`).
    pub fn forgive_one(&self, record: Option<ThrottleRecord>) -> Option<ThrottleRecord> {
        record.filter(|r| r.failures > 1).map(|r| ThrottleRecord { failures: r.failures - 1, ..r })
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: ThrottlePolicy = ThrottlePolicy::PER_ACCOUNT;

    fn after(n: u32, at: Timestamp) -> Option<ThrottleRecord> {
        (0..n).fold(None, |r, _| Some(P.after_failure(r, at)))
    }

    #[test]
    fn the_first_failures_are_free() {
        let t = Timestamp(1_000_000);
        assert_eq!(P.wait(None, t), None);
        assert_eq!(P.wait(after(2, t), t), None);
    }

    #[test]
    fn then_each_attempt_waits_twice_as_long() {
        let t = Timestamp(1_000_000);
        assert_eq!(P.wait(after(3, t), t), Some(Duration::from_secs(1)));
        assert_eq!(P.wait(after(4, t), t), Some(Duration::from_secs(2)));
        assert_eq!(P.wait(after(6, t), t), Some(Duration::from_secs(8)));
        assert_eq!(P.wait(after(6, t), t.plus_millis(8_000)), None);
    }

    #[test]
    fn then_the_account_is_locked_for_a_while() {
        let t = Timestamp(1_000_000);
        assert_eq!(P.wait(after(10, t), t.plus_millis(60_000)), Some(Duration::from_secs(14 * 60)));
        assert_eq!(P.wait(after(10, t), t.plus_millis(15 * 60_000)), None);
    }

    #[test]
    fn an_attempt_counted_ahead_and_then_right_is_forgiven() {
        let t = Timestamp(1_000_000);
        assert_eq!(P.forgive_one(after(1, t)), None);
        assert_eq!(P.forgive_one(after(4, t)).map(|r| r.failures), Some(3));
        assert_eq!(P.forgive_one(None), None);
    }

    #[test]
    fn failures_are_forgotten_after_a_quiet_window() {
        let t = Timestamp(1_000_000);
        let later = t.plus_millis(16 * 60_000);
        assert_eq!(P.after_failure(after(9, t), later).failures, 1);
        assert_eq!(P.after_failure(after(9, t), t.plus_millis(1_000)).failures, 10);
    }
}
