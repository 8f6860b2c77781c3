//! Accounts: who may log in, and on behalf of which property manager.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{GeranceId, ParseError, UserId};

/// An e-mail address, normalised to lower case so that comparisons ignore case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl TryFrom<String> for Email {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, ParseError> {
        Self::parse(&s)
    }
}

impl From<Email> for String {
    fn from(e: Email) -> String {
        e.0
    }
}

impl Email {
    /// The longest address SMTP allows (RFC 5321 path limit).
    pub const MAX_CHARS: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let trimmed = raw.trim();
        if trimmed.is_empty()
            || trimmed.chars().count() > Self::MAX_CHARS
            || trimmed.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(ParseError::InvalidEmail);
        }
        let (local, domain) = trimmed.rsplit_once('@').ok_or(ParseError::InvalidEmail)?;
        let domain_ok = !domain.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && !domain.contains('@');
        if local.is_empty() || local.contains('@') || !domain_ok {
            return Err(ParseError::InvalidEmail);
        }
        Ok(Self(trimmed.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    /// The company that installs and runs stations: sees and manages every property manager.
    Operator,
    /// An administrator of one property manager (gérance): sees and acts on that gérance only.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl FromStr for Role {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "operator" => Ok(Role::Operator),
            "admin" => Ok(Role::Admin),
            _ => Err(ParseError::InvalidRole),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A password chosen for an account, long enough to resist guessing (NIST SP 800-63B: length over rules).
#[derive(Clone, PartialEq, Eq)]
pub struct NewPassword(String);

impl NewPassword {
    pub const MIN_CHARS: usize = 10;
    /// Bounds the work of hashing, so a huge password cannot be used to exhaust the server.
    pub const MAX_CHARS: usize = 256;

    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let n = raw.chars().count();
        if n < Self::MIN_CHARS {
            Err(ParseError::PasswordTooShort)
        } else if n > Self::MAX_CHARS {
            Err(ParseError::PasswordTooLong)
        } else {
            Ok(Self(raw.to_owned()))
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword(..)")
    }
}

/// The name of a property manager (gérance) or owner, as shown in the journal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct GeranceName(String);

impl TryFrom<String> for GeranceName {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, ParseError> {
        Self::parse(&s)
    }
}

impl From<GeranceName> for String {
    fn from(n: GeranceName) -> String {
        n.0
    }
}

impl GeranceName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let trimmed = raw.trim();
        let n = trimmed.chars().count();
        if n == 0 || n > Self::MAX_CHARS || trimmed.chars().any(char::is_control) {
            return Err(ParseError::InvalidName);
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for GeranceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A property manager (gérance) or owner: the unit of ownership of stations and transactions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gerance {
    pub id: GeranceId,
    pub name: GeranceName,
}

/// An account as the server knows it once a session is verified: who is acting, and on what they may act.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: UserId,
    pub email: Email,
    pub role: Role,
    /// The gérance an admin belongs to; `None` for an operator.
    pub gerance: Option<Gerance>,
    /// The language the person chose last, as a locale code (`fr`, `de`, `en`, `it`).
    pub locale: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_case_insensitive_and_trimmed() {
        let a = Email::parse("  Admin@Gerance-Test.CH ").unwrap();
        assert_eq!(a.as_str(), "admin@gerance-test.ch");
        assert_eq!(a, Email::parse("admin@gerance-test.ch").unwrap());
    }

    #[test]
    fn email_rejects_malformed_addresses() {
        for bad in [
            "", "admin", "@x.ch", "a@", "a@ch", "a@.ch", "a@x.ch.", "a b@x.ch", "a@x..ch", "a@b@x.ch",
            "a\n@x.ch",
        ] {
            assert_eq!(Email::parse(bad), Err(ParseError::InvalidEmail), "{bad:?}");
        }
        let long = format!("{}@x.ch", "a".repeat(250));
        assert_eq!(Email::parse(&long), Err(ParseError::InvalidEmail));
    }

    #[test]
    fn role_round_trips() {
        for r in [Role::Operator, Role::Admin] {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert_eq!("Admin".parse::<Role>(), Ok(Role::Admin));
        assert_eq!("root".parse::<Role>(), Err(ParseError::InvalidRole));
    }

    #[test]
    fn password_length_is_bounded_and_hidden_from_debug() {
        assert_eq!(NewPassword::parse("short"), Err(ParseError::PasswordTooShort));
        assert_eq!(NewPassword::parse(&"x".repeat(257)), Err(ParseError::PasswordTooLong));
        let p = NewPassword::parse("correct horse battery").unwrap();
        assert_eq!(p.expose(), "correct horse battery");
        assert!(!format!("{p:?}").contains("horse"));
    }

    #[test]
    fn gerance_name_is_trimmed_and_bounded() {
        assert_eq!(GeranceName::parse(" Gérance test ").unwrap().as_str(), "Gérance test");
        assert_eq!(GeranceName::parse("   "), Err(ParseError::InvalidName));
        assert_eq!(GeranceName::parse(&"é".repeat(101)), Err(ParseError::InvalidName));
    }
}
