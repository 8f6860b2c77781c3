//! Recharge's domain types.
//!
//! Every value that crosses a boundary (a form, the command line, the database, an SMS) is parsed into one
//! of these types once, at the edge; past that point an invalid value cannot exist. Nothing here does I/O,
//! so the same types compile for the server and for the browser.

mod account;
pub mod alert;
mod ids;
pub mod journal;
pub mod key;
mod language;
mod money;
pub mod notice;
pub mod payment;
mod phone;
pub mod statement;
pub mod station;
mod time;
pub mod topup;

pub use account::{Account, Email, Gerance, GeranceName, NewPassword, Role};
pub use ids::{GeranceId, ImportId, PaymentId, StationId, TxId, UserId};
pub use language::Language;
pub use money::{Amount, KeyNumber, Total};
pub use phone::PhoneNumber;
pub use time::{Age, Timestamp};

/// Why a value given from outside was refused. The variants are stable so that the UI can translate them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum ParseError {
    #[error("the e-mail address is not valid")]
    InvalidEmail,
    #[error("the role must be 'operator' or 'admin'")]
    InvalidRole,
    #[error("the password must have at least {min} characters", min = NewPassword::MIN_CHARS)]
    PasswordTooShort,
    #[error("the password must have at most {max} characters", max = NewPassword::MAX_CHARS)]
    PasswordTooLong,
    #[error("the name must have between 1 and {max} characters", max = GeranceName::MAX_CHARS)]
    InvalidName,
    #[error("the key number must be a whole number from 0 to 65535")]
    InvalidKeyNumber,
    #[error("the amount must be more than zero, in CHF with at most two decimals")]
    InvalidAmount,
    #[error("the phone number must be international, like +41 79 123 45 67")]
    InvalidPhone,
    #[error("the language must be fr, de, it or en")]
    InvalidLanguage,
}
