//! What a redirect tells the page it lands on, in the page's query string (`/login?error=credentials`):
//! written by the server, read by the page, both through these types so that neither side can name a
//! notice the other does not know.

/// A notice as it travels in a query string: one parameter, and for a throttle its wait.
pub trait QueryNotice: Copy {
    /// The query parameter that carries it, as `(name, value)`.
    fn param(self) -> (&'static str, &'static str);

    /// A throttle's wait in seconds, carried as `retry`.
    fn wait(self) -> Option<u64> {
        None
    }

    /// The query string (without `?`).
    fn to_query(self) -> String {
        let (name, value) = self.param();
        match self.wait() {
            Some(wait) => format!("{name}={value}&retry={wait}"),
            None => format!("{name}={value}"),
        }
    }
}

/// What the login page says: why the last login failed, or why the person is on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginNotice {
    /// Wrong e-mail or password (never which of the two).
    Credentials,
    /// Too many failures: try again after this many seconds.
    Throttled { retry_secs: u64 },
    /// The form was not a login form (missing or oversized fields).
    Invalid,
    /// The server could not check the password now.
    Unavailable,
    /// The session ended (expired, or ended elsewhere).
    Expired,
    /// The person logged out.
    LoggedOut,
}

impl LoginNotice {
    pub const ALL: [Self; 6] = [
        Self::Credentials,
        Self::Throttled { retry_secs: 60 },
        Self::Invalid,
        Self::Unavailable,
        Self::Expired,
        Self::LoggedOut,
    ];

    /// Reads it back from a query's parameters; a wait that cannot be read is a minute.
    pub fn from_query<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Option<Self> {
        let error = match get("error") {
            Some("credentials") => Some(Self::Credentials),
            Some("throttled") => Some(Self::Throttled { retry_secs: retry(get("retry")) }),
            Some("invalid") => Some(Self::Invalid),
            Some("unavailable") => Some(Self::Unavailable),
            _ => None,
        };
        error.or(match get("reason") {
            Some("expired") => Some(Self::Expired),
            Some("logged-out") => Some(Self::LoggedOut),
            _ => None,
        })
    }

    /// Whether it reports a failure (as opposed to information).
    pub fn is_error(self) -> bool {
        !matches!(self, Self::Expired | Self::LoggedOut)
    }
}

/// What the account page says after a password change was posted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordNotice {
    Changed,
    /// The form was not a password form.
    Invalid,
    /// The new password and its confirmation differ.
    Mismatch,
    /// Shorter than `NewPassword::MIN_CHARS`.
    Short,
    /// Longer than `NewPassword::MAX_CHARS`.
    Long,
    /// The current password is wrong.
    Current,
    Throttled {
        retry_secs: u64,
    },
    Unavailable,
}

impl PasswordNotice {
    pub const ALL: [Self; 8] = [
        Self::Changed,
        Self::Invalid,
        Self::Mismatch,
        Self::Short,
        Self::Long,
        Self::Current,
        Self::Throttled { retry_secs: 60 },
        Self::Unavailable,
    ];

    /// Reads it back; an `error` this version does not know is shown as an invalid form.
    pub fn from_query<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Option<Self> {
        if get("password") == Some("changed") {
            return Some(Self::Changed);
        }
        Some(match get("error")? {
            "mismatch" => Self::Mismatch,
            "short" => Self::Short,
            "long" => Self::Long,
            "current" => Self::Current,
            "throttled" => Self::Throttled { retry_secs: retry(get("retry")) },
            "unavailable" => Self::Unavailable,
            _ => Self::Invalid,
        })
    }

    pub fn is_error(self) -> bool {
        self != Self::Changed
    }
}

/// What a page says when a form that creates a secret was posted without script (the secret, shown
/// only in the answer, would have been lost: nothing was created).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageNotice {
    NeedsScript,
}

impl PageNotice {
    pub fn from_query<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Option<Self> {
        (get("error") == Some("script")).then_some(Self::NeedsScript)
    }
}

impl QueryNotice for LoginNotice {
    fn param(self) -> (&'static str, &'static str) {
        match self {
            Self::Credentials => ("error", "credentials"),
            Self::Throttled { .. } => ("error", "throttled"),
            Self::Invalid => ("error", "invalid"),
            Self::Unavailable => ("error", "unavailable"),
            Self::Expired => ("reason", "expired"),
            Self::LoggedOut => ("reason", "logged-out"),
        }
    }

    fn wait(self) -> Option<u64> {
        match self {
            Self::Throttled { retry_secs } => Some(retry_secs),
            _ => None,
        }
    }
}

impl QueryNotice for PasswordNotice {
    fn param(self) -> (&'static str, &'static str) {
        match self {
            Self::Changed => ("password", "changed"),
            Self::Invalid => ("error", "invalid"),
            Self::Mismatch => ("error", "mismatch"),
            Self::Short => ("error", "short"),
            Self::Long => ("error", "long"),
            Self::Current => ("error", "current"),
            Self::Throttled { .. } => ("error", "throttled"),
            Self::Unavailable => ("error", "unavailable"),
        }
    }

    fn wait(self) -> Option<u64> {
        match self {
            Self::Throttled { retry_secs } => Some(retry_secs),
            _ => None,
        }
    }
}

impl QueryNotice for PageNotice {
    fn param(self) -> (&'static str, &'static str) {
        match self {
            Self::NeedsScript => ("error", "script"),
        }
    }
}

/// What the payments pages say after a form: a file taken in (its import's number, whose counts the
/// page reads), a decision made, or why nothing was done (with what was found, when there is a value to
/// show).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentsNotice {
    Imported { import: i64 },
    Approved { count: u32 },
    SetAside,
    Saved,
    Problem(PaymentsProblem),
}

/// Why a payments form did nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentsProblem {
    /// No file chosen, or a form that is not ours.
    Invalid,
    TooLarge,
    Malformed,
    Doctype,
    Entity,
    Encoding,
    /// Not a camt.053/054 document (`found`: its root).
    NotCamt,
    /// Another message or version (`found`: its name).
    Version,
    NoIban,
    /// An entry the file describes in a way no bank does (`found`: the entry and field).
    BadEntry,
    /// The file's account is not the gérance's (`found`: the account).
    WrongAccount,
    /// The file's account is no gérance's (`found`: the account).
    UnknownAccount,
    /// The gérance has no account set yet.
    NoCreditor,
    /// The payment's top-up is already in the journal.
    AlreadyApproved,
    /// The payment no longer waits for a decision.
    NotOpen,
    NoKey,
    KeyBlocked,
    KeyRetired,
    AboveMaximum,
    NothingToLoad,
    UnknownStation,
    /// The key number typed is not one.
    Key,
    /// A reason must be given to set a payment aside.
    Reason,
    /// The creditor form has problems (the page shows which).
    Creditor,
    /// The account is another gérance's.
    AccountTaken,
    /// Too many files being taken in at once: try again.
    Busy,
    Unavailable,
}

impl PaymentsProblem {
    pub const ALL: [Self; 27] = [
        Self::Invalid,
        Self::TooLarge,
        Self::Malformed,
        Self::Doctype,
        Self::Entity,
        Self::Encoding,
        Self::NotCamt,
        Self::Version,
        Self::NoIban,
        Self::BadEntry,
        Self::WrongAccount,
        Self::UnknownAccount,
        Self::NoCreditor,
        Self::AlreadyApproved,
        Self::NotOpen,
        Self::NoKey,
        Self::KeyBlocked,
        Self::KeyRetired,
        Self::AboveMaximum,
        Self::NothingToLoad,
        Self::UnknownStation,
        Self::Key,
        Self::Reason,
        Self::Creditor,
        Self::AccountTaken,
        Self::Busy,
        Self::Unavailable,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Self::Invalid => "invalid",
            Self::TooLarge => "too-large",
            Self::Malformed => "malformed",
            Self::Doctype => "doctype",
            Self::Entity => "entity",
            Self::Encoding => "encoding",
            Self::NotCamt => "not-camt",
            Self::Version => "version",
            Self::NoIban => "no-iban",
            Self::BadEntry => "bad-entry",
            Self::WrongAccount => "wrong-account",
            Self::UnknownAccount => "unknown-account",
            Self::NoCreditor => "no-creditor",
            Self::AlreadyApproved => "already",
            Self::NotOpen => "not-open",
            Self::NoKey => "no-key",
            Self::KeyBlocked => "key-blocked",
            Self::KeyRetired => "key-retired",
            Self::AboveMaximum => "maximum",
            Self::NothingToLoad => "nothing",
            Self::UnknownStation => "station",
            Self::Key => "key",
            Self::Reason => "reason",
            Self::Creditor => "creditor",
            Self::AccountTaken => "account-taken",
            Self::Busy => "busy",
            Self::Unavailable => "unavailable",
        }
    }
}

impl PaymentsNotice {
    pub fn from_query<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Option<Self> {
        if let Some(import) = get("imported").and_then(|i| i.parse().ok()) {
            return Some(Self::Imported { import });
        }
        if let Some(count) = get("approved").and_then(|n| n.parse().ok()) {
            return Some(Self::Approved { count });
        }
        if get("done") == Some("aside") {
            return Some(Self::SetAside);
        }
        if get("done") == Some("saved") {
            return Some(Self::Saved);
        }
        let code = get("error")?;
        Some(Self::Problem(
            PaymentsProblem::ALL.into_iter().find(|p| p.code() == code).unwrap_or(PaymentsProblem::Invalid),
        ))
    }

    /// The query string (without `?`); `found`, when given, is added percent-encoded by the caller.
    pub fn to_query(self) -> String {
        match self {
            Self::Imported { import } => format!("imported={import}"),
            Self::Approved { count } => format!("approved={count}"),
            Self::SetAside => "done=aside".into(),
            Self::Saved => "done=saved".into(),
            Self::Problem(p) => format!("error={}", p.code()),
        }
    }

    pub fn is_error(self) -> bool {
        matches!(self, Self::Problem(_))
    }
}

/// A throttle's wait in seconds, between one second and a day; a minute when it cannot be read.
fn retry(raw: Option<&str>) -> u64 {
    raw.and_then(|r| r.parse().ok()).unwrap_or(60).clamp(1, 86_400)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The parameters of `query` (`a=b&c=d`), as a page reads them.
    fn reader<'a>(query: &'a str) -> impl Fn(&str) -> Option<&'a str> {
        move |name| {
            query.split('&').find_map(|pair| pair.split_once('=').filter(|(n, _)| *n == name).map(|(_, v)| v))
        }
    }

    #[test]
    fn every_notice_reads_back_as_itself() {
        for notice in LoginNotice::ALL {
            assert_eq!(LoginNotice::from_query(reader(&notice.to_query())), Some(notice), "{notice:?}");
        }
        for notice in PasswordNotice::ALL {
            assert_eq!(PasswordNotice::from_query(reader(&notice.to_query())), Some(notice), "{notice:?}");
        }
        let script = PageNotice::NeedsScript;
        assert_eq!(PageNotice::from_query(reader(&script.to_query())), Some(script));
        let mut payments = vec![
            PaymentsNotice::Imported { import: 12 },
            PaymentsNotice::Approved { count: 3 },
            PaymentsNotice::SetAside,
            PaymentsNotice::Saved,
        ];
        payments.extend(PaymentsProblem::ALL.map(PaymentsNotice::Problem));
        for notice in payments {
            assert_eq!(PaymentsNotice::from_query(reader(&notice.to_query())), Some(notice), "{notice:?}");
        }
    }

    #[test]
    fn a_throttle_keeps_its_wait_within_a_day() {
        let throttled = LoginNotice::Throttled { retry_secs: 17 };
        assert_eq!(throttled.to_query(), "error=throttled&retry=17");
        assert_eq!(LoginNotice::from_query(reader(&throttled.to_query())), Some(throttled));
        let read = |q| LoginNotice::from_query(reader(q));
        assert_eq!(read("error=throttled&retry=0"), Some(LoginNotice::Throttled { retry_secs: 1 }));
        assert_eq!(read("error=throttled&retry=x"), Some(LoginNotice::Throttled { retry_secs: 60 }));
        assert_eq!(read("error=throttled&retry=999999"), Some(LoginNotice::Throttled { retry_secs: 86_400 }));
    }

    #[test]
    fn unknown_or_missing_notices_say_nothing_or_the_least() {
        assert_eq!(LoginNotice::from_query(reader("error=whatever")), None);
        assert_eq!(LoginNotice::from_query(reader("next=/x")), None);
        assert_eq!(PasswordNotice::from_query(reader("")), None);
        assert_eq!(PasswordNotice::from_query(reader("error=whatever")), Some(PasswordNotice::Invalid));
        assert_eq!(PageNotice::from_query(reader("error=other")), None);
    }
}
