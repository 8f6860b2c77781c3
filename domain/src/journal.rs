//! A top-up's life: its statuses, what a station's answer does to it, and when it is sent again. Pure.

use std::fmt;
use std::str::FromStr;

use crate::{Amount, KeyNumber, StationId, Timestamp, TxId};

/// Where a transaction stands. The journal shows Sent → Confirmed → Reloaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum TxStatus {
    /// Accepted, waiting for the modem.
    Queued,
    /// The SMS left the modem; no answer from the station yet.
    Sent,
    /// The station stored it (it answered `RECEIVED`).
    Confirmed,
    /// Written onto the key.
    Reloaded,
    /// Will not be loaded: refused by the station, or no answer after every attempt.
    Failed,
    /// An administrator asked to cancel; the station has not agreed yet.
    Cancelling,
    /// The station agreed: it will never load it.
    Cancelled,
}

impl TxStatus {
    pub const ALL: [TxStatus; 7] = [
        TxStatus::Queued,
        TxStatus::Sent,
        TxStatus::Confirmed,
        TxStatus::Reloaded,
        TxStatus::Failed,
        TxStatus::Cancelling,
        TxStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TxStatus::Queued => "queued",
            TxStatus::Sent => "sent",
            TxStatus::Confirmed => "confirmed",
            TxStatus::Reloaded => "reloaded",
            TxStatus::Failed => "failed",
            TxStatus::Cancelling => "cancelling",
            TxStatus::Cancelled => "cancelled",
        }
    }

    /// Whether an administrator may still cancel it.
    pub fn cancellable(self) -> bool {
        matches!(self, TxStatus::Queued | TxStatus::Sent | TxStatus::Confirmed)
    }

    /// Whether it loaded or may still load: not failed, not cancelled nor being cancelled.
    pub fn may_load(self) -> bool {
        !matches!(self, TxStatus::Failed | TxStatus::Cancelling | TxStatus::Cancelled)
    }
}

impl fmt::Display for TxStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TxStatus {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|t| t.as_str() == s).ok_or(())
    }
}

/// Why a top-up failed, or what went wrong last while it waits. Stored and sent by its code
/// ([`Reason::as_str`]); every screen translates each one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// No answer from the station after every attempt.
    NoAnswer,
    /// The server's SIM has no credit: nothing leaves until it is topped up.
    SimCredit,
    /// The network refused the message.
    ModemRefused,
    /// The station's number cannot be dialled.
    InvalidPhone,
    /// The station refused: above its limit.
    StationLimit,
    /// The station refused: an amount it cannot take.
    StationAmount,
    /// The station's memory is full (it takes it later).
    StationFull,
    /// The station refused: too old.
    StationExpired,
    /// Cancelled before it reached the key.
    Cancelled,
}

impl Reason {
    pub const ALL: [Reason; 9] = [
        Reason::NoAnswer,
        Reason::SimCredit,
        Reason::ModemRefused,
        Reason::InvalidPhone,
        Reason::StationLimit,
        Reason::StationAmount,
        Reason::StationFull,
        Reason::StationExpired,
        Reason::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::NoAnswer => "no_answer",
            Reason::SimCredit => "sim_credit",
            Reason::ModemRefused => "modem_refused",
            Reason::InvalidPhone => "invalid_phone",
            Reason::StationLimit => "station_limit",
            Reason::StationAmount => "station_amount",
            Reason::StationFull => "station_full",
            Reason::StationExpired => "station_expired",
            Reason::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Reason {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|r| r.as_str() == s).ok_or(())
    }
}

/// The column the journal is sorted by (the transaction number breaks ties).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JournalSort {
    #[default]
    Number,
    Date,
    Station,
    Key,
    Amount,
    Status,
}

impl JournalSort {
    pub const ALL: [JournalSort; 6] = [
        JournalSort::Number,
        JournalSort::Date,
        JournalSort::Station,
        JournalSort::Key,
        JournalSort::Amount,
        JournalSort::Status,
    ];

    /// As the journal's URL names it (`sort=amount`).
    pub fn as_str(self) -> &'static str {
        match self {
            JournalSort::Number => "number",
            JournalSort::Date => "date",
            JournalSort::Station => "station",
            JournalSort::Key => "key",
            JournalSort::Amount => "amount",
            JournalSort::Status => "status",
        }
    }

    /// Whether a first click on its header sorts newest (largest) first.
    pub fn descending_first(self) -> bool {
        matches!(self, JournalSort::Number | JournalSort::Date)
    }
}

impl fmt::Display for JournalSort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JournalSort {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|c| c.as_str() == s).ok_or(())
    }
}

/// A journal row as the browser gets it (pages, progress, the event stream, exports). Times are UTC ms.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TxView {
    pub id: TxId,
    pub station_id: StationId,
    /// As the original shows it: `Station Hérémence, Gérance test, Hérémence`.
    pub station: String,
    pub key: KeyNumber,
    pub amount: Amount,
    pub status: TxStatus,
    pub created_at: i64,
    pub sent_at: Option<i64>,
    pub confirmed_at: Option<i64>,
    pub reloaded_at: Option<i64>,
    pub ended_at: Option<i64>,
    /// The key's balance after the load.
    pub balance_rappen: Option<i64>,
    /// Why it failed, or what went wrong last.
    pub reason: Option<Reason>,
    /// The journal version of its last change (the event stream's id).
    pub version: i64,
    /// The step times as shown (Europe/Zurich), formatted on the server: the browser needs no time
    /// zone database. Created, Sent, Confirmed, Reloaded.
    pub shown_times: [Option<String>; 4],
    /// When the network reported its message delivered to the station's SIM (while it waited for the
    /// station's answer), as shown.
    pub shown_delivered: Option<String>,
    /// The e-mail of the account that entered it (`None`: the command line).
    pub sent_by: Option<String>,
    /// The payment it was paid with, when it came from a bank file (a link to it).
    pub payment: Option<crate::PaymentId>,
}

/// What a delivery report (TS 23.040 TP-Status) says of a message sent to a station.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// 0x00–0x1F: on the station's SIM.
    Delivered,
    /// 0x20–0x3F: the service centre is still trying.
    Pending,
    /// 0x40 and above: the service centre gave up.
    Failed,
}

impl Delivery {
    pub fn from_tp_status(status: u8) -> Self {
        match status {
            0x00..=0x1F => Delivery::Delivered,
            0x20..=0x3F => Delivery::Pending,
            _ => Delivery::Failed,
        }
    }
}

/// What a delivery report on a transaction's latest message changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportEffect {
    /// Show that the station's SIM has the top-up (it waits for the station's answer).
    pub delivered: bool,
    /// Send again now rather than after the wait for an answer: no answer can come to a message that
    /// never arrived.
    pub resend_now: bool,
}

/// What a delivery report does to a transaction in `status`. Pure.
pub fn after_report(status: TxStatus, delivery: Delivery) -> ReportEffect {
    use TxStatus::*;
    match (delivery, status) {
        (Delivery::Delivered, Sent) => ReportEffect { delivered: true, resend_now: false },
        // The top-up did not arrive: sent again now, which counts as an attempt, so a number that
        // never takes one fails after the policy's attempts instead of after all their waits.
        // Cancellations keep their own pace: they are sent again for long after the attempts, and a
        // network that refuses at once would turn "now" into a loop.
        (Delivery::Failed, Queued | Sent) => ReportEffect { delivered: false, resend_now: true },
        _ => ReportEffect::default(),
    }
}

/// What a station said about a transaction (already verified).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Received,
    Reloaded {
        key: KeyNumber,
        amount: i64,
        balance: i64,
    },
    /// Refused for good (`limit`, `amount`, `expired`), or `cancelled` before it arrived.
    Refused {
        cancelled: bool,
        retry_later: bool,
    },
    Cancelled,
}

/// The status a transaction moves to when its station answers, if any.
pub fn after_answer(status: TxStatus, answer: Answer) -> Option<TxStatus> {
    use TxStatus::*;
    let next = match answer {
        Answer::Received => match status {
            Queued | Sent | Failed => Confirmed,
            _ => return None,
        },
        // The truth from the key wins over everything we believed, even a failure.
        Answer::Reloaded { .. } => Reloaded,
        Answer::Refused { retry_later: true, .. } => return None,
        // A failed top-up is cancelled at the station too: that keeps it failed (and now surely unloaded).
        Answer::Refused { cancelled: true, .. } | Answer::Cancelled if status == Failed => return None,
        Answer::Refused { cancelled: true, .. } | Answer::Cancelled => Cancelled,
        Answer::Refused { .. } => Failed,
    };
    (next != status && status != Reloaded).then_some(next)
}

/// What a station's answer changes on a transaction, for the database layer to store as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnswerChange {
    pub status: TxStatus,
    /// Set where not set yet (a repeated answer keeps the first time).
    pub confirmed_at: Option<Timestamp>,
    /// Set where not set yet.
    pub reloaded_at: Option<Timestamp>,
    /// Set.
    pub ended_at: Option<Timestamp>,
    /// The key's balance, when the answer gives it.
    pub balance_rappen: Option<i64>,
    /// `None`: unchanged; `Some(None)`: cleared; `Some(Some(r))`: set.
    pub reason: Option<Option<Reason>>,
    /// `None`: unchanged; `Some(None)`: nothing more to send; `Some(Some(t))`: due then.
    pub next_attempt_at: Option<Option<Timestamp>>,
}

/// What an answer does to a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerEffect {
    /// It moves to another status.
    Change(AnswerChange),
    /// It stays failed, and the station has dropped it: its cancellation is not sent again.
    SettleFailure,
    /// Nothing changes (a repeated or late answer).
    Nothing,
}

/// What `answer` (with the failure `reason` it gives, if any) does to a transaction in `status`, at
/// `now`; a top-up that becomes Confirmed is asked about again at `recheck_at`. Pure.
pub fn answer_effect(
    status: TxStatus,
    answer: Answer,
    reason: Option<Reason>,
    now: Timestamp,
    recheck_at: Timestamp,
) -> AnswerEffect {
    use TxStatus::*;
    let Some(next) = after_answer(status, answer) else {
        return if status == Failed && settles_failure(answer) {
            AnswerEffect::SettleFailure
        } else {
            AnswerEffect::Nothing
        };
    };
    let ends = matches!(next, Reloaded | Failed | Cancelled);
    AnswerEffect::Change(AnswerChange {
        status: next,
        confirmed_at: (next == Confirmed).then_some(now),
        reloaded_at: (next == Reloaded).then_some(now),
        ended_at: ends.then_some(now),
        balance_rappen: match answer {
            Answer::Reloaded { balance, .. } => Some(balance),
            _ => None,
        },
        reason: match next {
            // The key has it: whatever went wrong before no longer matters.
            Reloaded => Some(None),
            Failed | Cancelled => reason.map(Some),
            _ => None,
        },
        next_attempt_at: match next {
            Confirmed => Some(Some(recheck_at)),
            _ if ends => Some(None),
            _ => None,
        },
    })
}

/// Whether a station's answer about a *failed* top-up shows that it can never be loaded there, so its
/// cancellation need not be sent again. (A `RELOADED` moves it to Reloaded, a `RECEIVED` to Confirmed.)
pub fn settles_failure(answer: Answer) -> bool {
    matches!(answer, Answer::Cancelled | Answer::Refused { retry_later: false, .. })
}

/// What a due transaction sends next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message {
    TopUp,
    Cancel,
}

/// The next send of a due transaction, and what it does to the transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextSend {
    pub message: Message,
    /// How long to wait for the station's answer before it is due again, in ms.
    pub wait_ms: i64,
    /// It counts as an attempt (a recheck of a confirmed top-up does not).
    pub count_attempt: bool,
    /// The transaction fails with it, for this reason.
    pub fail: Option<Reason>,
}

/// What a transaction in `status`, sent `attempts` times so far, sends now that it is due; `None` when
/// it has nothing to send. Pure: the modem task stores the result before anything leaves.
pub fn next_send(status: TxStatus, attempts: u32, policy: &RetryPolicy) -> Option<NextSend> {
    use TxStatus::*;
    let send =
        |message, wait_ms, count_attempt, fail| Some(NextSend { message, wait_ms, count_attempt, fail });
    match status {
        // No answer after every attempt: failed. The station is told to drop it, in case the top-up
        // reaches it later, until it answers.
        Queued | Sent if policy.exhausted(attempts) => {
            send(Message::Cancel, policy.cancel_delay(attempts + 1), true, Some(Reason::NoAnswer))
        }
        // Failed, and the station has not said it dropped it: a lost cancellation would let the key load
        // it later, unseen if that report were lost too. Sent again until the station answers (it answers
        // `RELOADED` if the key was faster, and that wins).
        Failed => send(Message::Cancel, policy.cancel_delay(attempts + 1), true, None),
        Queued | Sent => send(Message::TopUp, policy.delay_after(attempts + 1), true, None),
        // Confirmed long ago and never reported loaded: ask again (a lost report is answered again).
        Confirmed => send(Message::TopUp, policy.confirmed_recheck_ms, false, None),
        Cancelling => {
            send(Message::Cancel, policy.delay_after((attempts + 1).min(policy.max_attempts)), true, None)
        }
        // Nothing to send for the others; they are not due.
        Reloaded | Cancelled => None,
    }
}

/// When to send a top-up or a cancellation again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Delay after the first attempt, in ms; doubled after each one…
    pub first_delay_ms: i64,
    /// …up to this.
    pub max_delay_ms: i64,
    /// Attempts before an unconfirmed top-up fails.
    pub max_attempts: u32,
    /// A confirmed top-up is asked about again this often (a lost `RELOADED` is answered again).
    pub confirmed_recheck_ms: i64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            first_delay_ms: 60_000,
            max_delay_ms: 30 * 60_000,
            max_attempts: 6,
            confirmed_recheck_ms: 24 * 3600 * 1000,
        }
    }
}

impl RetryPolicy {
    /// How long to wait for an answer after attempt number `attempts` (1 = the first send).
    pub fn delay_after(&self, attempts: u32) -> i64 {
        self.first_delay_ms.saturating_mul(1 << attempts.saturating_sub(1).min(20)).min(self.max_delay_ms)
    }

    /// Whether a top-up sent `attempts` times without an answer has failed.
    pub fn exhausted(&self, attempts: u32) -> bool {
        attempts >= self.max_attempts
    }

    /// When to send the cancellation of a failed top-up again, after attempt number `attempts` (counting
    /// the top-up's own sends): as the top-up's retries for as many sends again, then as often as a
    /// confirmed top-up is asked about (a station silent that long is out of order, and its operator
    /// sees it).
    pub fn cancel_delay(&self, attempts: u32) -> i64 {
        if attempts < self.max_attempts.saturating_mul(2) {
            self.delay_after(attempts)
        } else {
            self.confirmed_recheck_ms
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TxStatus::*;

    #[test]
    fn the_happy_path_and_late_or_repeated_answers() {
        assert_eq!(after_answer(Sent, Answer::Received), Some(Confirmed));
        assert_eq!(after_answer(Queued, Answer::Received), Some(Confirmed), "answer before our Sent");
        assert_eq!(after_answer(Confirmed, Answer::Received), None, "a repeated confirmation");
        let reloaded = Answer::Reloaded { key: KeyNumber(1), amount: 100, balance: 100 };
        assert_eq!(after_answer(Confirmed, reloaded), Some(Reloaded));
        assert_eq!(after_answer(Reloaded, reloaded), None);
        assert_eq!(after_answer(Reloaded, Answer::Received), None, "late confirmation after the load");
        assert_eq!(after_answer(Failed, reloaded), Some(Reloaded), "the key's truth wins");
        assert_eq!(after_answer(Cancelling, reloaded), Some(Reloaded), "too late to cancel");
    }

    #[test]
    fn refusals_and_cancellations() {
        let refused = Answer::Refused { cancelled: false, retry_later: false };
        assert_eq!(after_answer(Sent, refused), Some(Failed));
        assert_eq!(after_answer(Sent, Answer::Refused { cancelled: false, retry_later: true }), None);
        assert_eq!(after_answer(Cancelling, Answer::Cancelled), Some(Cancelled));
        assert_eq!(after_answer(Reloaded, Answer::Cancelled), None);
        assert_eq!(after_answer(Failed, Answer::Cancelled), None, "stays failed");
        assert!(settles_failure(Answer::Cancelled) && settles_failure(refused));
        assert!(settles_failure(Answer::Refused { cancelled: true, retry_later: false }));
        assert!(
            !settles_failure(Answer::Refused { cancelled: false, retry_later: true }),
            "full: may load later"
        );
        assert!(!settles_failure(Answer::Received), "stored: it may still load");
        assert!(Confirmed.cancellable() && !Reloaded.cancellable() && !Cancelling.cancellable());
        assert!(TxStatus::ALL.iter().all(|s| s.as_str().parse::<TxStatus>() == Ok(*s)));
    }

    #[test]
    fn delivery_reports_show_arrival_and_bring_a_lost_message_forward() {
        assert_eq!(Delivery::from_tp_status(0x00), Delivery::Delivered);
        assert_eq!(Delivery::from_tp_status(0x21), Delivery::Pending);
        assert_eq!(Delivery::from_tp_status(0x41), Delivery::Failed);
        assert_eq!(Delivery::from_tp_status(0x62), Delivery::Failed, "temporary, no more tries");
        let delivered = ReportEffect { delivered: true, resend_now: false };
        assert_eq!(after_report(Sent, Delivery::Delivered), delivered);
        assert_eq!(after_report(Confirmed, Delivery::Delivered), ReportEffect::default(), "answered already");
        assert_eq!(after_report(Sent, Delivery::Pending), ReportEffect::default());
        for waiting in [Queued, Sent] {
            assert!(after_report(waiting, Delivery::Failed).resend_now, "{waiting}");
        }
        for other in [Confirmed, Reloaded, Cancelled, Cancelling, Failed] {
            assert_eq!(after_report(other, Delivery::Failed), ReportEffect::default(), "{other}");
        }
        for settled in [Confirmed, Reloaded, Cancelled] {
            assert_eq!(after_report(settled, Delivery::Failed), ReportEffect::default(), "{settled}");
        }
    }

    #[test]
    fn what_an_answer_changes_on_the_transaction() {
        let (now, later) = (Timestamp(1_000), Timestamp(9_000));
        let AnswerEffect::Change(c) = answer_effect(Sent, Answer::Received, None, now, later) else {
            panic!()
        };
        assert_eq!((c.status, c.confirmed_at, c.ended_at), (Confirmed, Some(now), None));
        assert_eq!((c.reason, c.next_attempt_at), (None, Some(Some(later))), "asked again later");
        let reloaded = Answer::Reloaded { key: KeyNumber(1), amount: 100, balance: 700 };
        let AnswerEffect::Change(c) = answer_effect(Failed, reloaded, None, now, later) else { panic!() };
        assert_eq!(
            (c.status, c.reloaded_at, c.ended_at, c.balance_rappen),
            (Reloaded, Some(now), Some(now), Some(700))
        );
        assert_eq!(
            (c.reason, c.next_attempt_at),
            (Some(None), Some(None)),
            "the earlier failure no longer holds"
        );
        let refused = Answer::Refused { cancelled: false, retry_later: false };
        let AnswerEffect::Change(c) = answer_effect(Sent, refused, Some(Reason::StationLimit), now, later)
        else {
            panic!()
        };
        assert_eq!(
            (c.status, c.reason, c.next_attempt_at),
            (Failed, Some(Some(Reason::StationLimit)), Some(None))
        );
        assert_eq!(answer_effect(Failed, Answer::Cancelled, None, now, later), AnswerEffect::SettleFailure);
        assert_eq!(answer_effect(Confirmed, Answer::Received, None, now, later), AnswerEffect::Nothing);
        let full = Answer::Refused { cancelled: false, retry_later: true };
        assert_eq!(
            answer_effect(Failed, full, Some(Reason::StationFull), now, later),
            AnswerEffect::Nothing,
            "may load later"
        );
    }

    #[test]
    fn what_a_due_transaction_sends() {
        let p = RetryPolicy {
            first_delay_ms: 1000,
            max_delay_ms: 5000,
            max_attempts: 3,
            confirmed_recheck_ms: 86_400_000,
        };
        let first = next_send(Queued, 0, &p).unwrap();
        assert_eq!(
            (first.message, first.wait_ms, first.count_attempt, first.fail),
            (Message::TopUp, 1000, true, None)
        );
        assert_eq!(next_send(Sent, 2, &p).unwrap().wait_ms, 4000);
        let failing = next_send(Sent, 3, &p).unwrap();
        assert_eq!((failing.message, failing.fail), (Message::Cancel, Some(Reason::NoAnswer)));
        let recheck = next_send(Confirmed, 1, &p).unwrap();
        assert_eq!(
            (recheck.message, recheck.wait_ms, recheck.count_attempt),
            (Message::TopUp, 86_400_000, false)
        );
        assert_eq!(next_send(Failed, 4, &p).unwrap().message, Message::Cancel);
        assert_eq!(next_send(Cancelling, 9, &p).unwrap().wait_ms, 4000, "at the last attempt's pace");
        assert_eq!(next_send(Reloaded, 1, &p), None);
        assert_eq!(next_send(Cancelled, 1, &p), None);
        assert!(Reason::ALL.iter().all(|r| r.as_str().parse::<Reason>() == Ok(*r)));
        assert!(JournalSort::ALL.iter().all(|c| c.as_str().parse::<JournalSort>() == Ok(*c)));
        assert_eq!("nonsense".parse::<JournalSort>(), Err(()));
    }

    #[test]
    fn retries_grow_then_stop() {
        let p = RetryPolicy {
            first_delay_ms: 1000,
            max_delay_ms: 5000,
            max_attempts: 4,
            confirmed_recheck_ms: 0,
        };
        let delays: Vec<_> = (1..=4).map(|a| p.delay_after(a)).collect();
        assert_eq!(delays, vec![1000, 2000, 4000, 5000]);
        assert!(!p.exhausted(3) && p.exhausted(4));
        // Failed at 4 sends; its cancellation follows the same curve for 4 more, then slows down.
        let p = RetryPolicy { confirmed_recheck_ms: 86_400_000, ..p };
        let cancels: Vec<_> = (5..=9).map(|a| p.cancel_delay(a)).collect();
        assert_eq!(cancels, vec![5000, 5000, 5000, 86_400_000, 86_400_000]);
    }
}
