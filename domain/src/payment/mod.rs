//! Money coming in: the gérance's account and the references on its payment slips, what a bank file
//! reports, and the rules that turn a credit into a top-up proposal, a suggestion or an exception.

mod creditor;
mod fee;
mod iban;
mod matching;
mod qr_bill;
mod reference;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use creditor::{Creditor, CreditorField, CreditorInput, qr_bill_text};
pub use fee::Fee;
pub use iban::Iban;
pub use matching::{Exception, KeyState, Listed, Outcome, Registry, TopUpFor, keys_named, match_credit};
pub use qr_bill::{Address, BillWords, QrBill, amount_on_bill};
pub use reference::{CreditorReference, KeyReference, QrReference, QrrPrefix, Reference};

/// Why an account, a reference or a fee was refused; stable, so that the UI can translate it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum PaymentError {
    #[error("the IBAN is not valid: two letters, two check digits and up to 30 letters and digits")]
    InvalidIban,
    #[error("the IBAN's check digits are wrong: a character is mistyped")]
    IbanCheckDigits,
    #[error("the account must be a Swiss or Liechtenstein IBAN (CH or LI, 21 characters)")]
    IbanNotSwiss,
    #[error("the reference is neither a QR reference (27 digits) nor a creditor reference (RF…)")]
    InvalidReference,
    #[error("the reference's check digit is wrong")]
    ReferenceCheckDigit,
    #[error("a QR reference (QRR) needs a QR-IBAN (institution id 30000–31999); this is an ordinary IBAN")]
    QrrNeedsQrIban,
    #[error("a QR-IBAN takes QR references (QRR) only, not creditor references (SCOR)")]
    QrIbanNeedsQrr,
    #[error("the bank's reference prefix must be at most 10 digits")]
    InvalidQrrPrefix,
    #[error("the fee must be 0 to 100.00 CHF per payment and 0 to 50 % of it, with at most two decimals")]
    InvalidFee,
}

/// Which way money moved on the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Direction {
    Credit,
    Debit,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Credit => "CRDT",
            Direction::Debit => "DBIT",
        }
    }
}

/// An ISO 4217 currency code: three capital letters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Currency(String);

impl Currency {
    pub fn parse(raw: &str) -> Option<Self> {
        (raw.len() == 3 && raw.bytes().all(|b| b.is_ascii_uppercase())).then(|| Self(raw.to_owned()))
    }

    pub fn chf() -> Self {
        Self("CHF".to_owned())
    }

    pub fn is_chf(&self) -> bool {
        self.0 == "CHF"
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A calendar day as a bank file gives it (booking and value dates), `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Day(chrono::NaiveDate);

impl Day {
    /// `2026-12-04`, or the date of `2026-12-04T10:15:00+01:00` (the day the bank wrote).
    pub fn parse(raw: &str) -> Option<Self> {
        let date = raw.trim().get(..10)?;
        chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").ok().map(Self)
    }

    pub fn iso(self) -> String {
        self.0.format("%Y-%m-%d").to_string()
    }

    pub fn year(self) -> i32 {
        use chrono::Datelike;
        self.0.year()
    }
}

impl TryFrom<String> for Day {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s).ok_or(s)
    }
}

impl From<Day> for String {
    fn from(day: Day) -> String {
        day.iso()
    }
}

/// Swiss notation: `04.12.2026`.
impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%d.%m.%Y"))
    }
}

/// One movement on the account as a bank file reports it: a transaction inside an entry, or an entry
/// without transaction details. Amounts in hundredths of the currency (Rappen for CHF).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankTransaction {
    /// The bank's reference for the transaction: the same movement in another file (a camt.053 after
    /// the camt.054) has the same one, so a second import adds nothing.
    pub bank_ref: String,
    pub direction: Direction,
    /// The entry undoes an earlier one (`RvslInd`).
    pub reversal: bool,
    /// The bank booked it (status `BOOK`); pending and information-only entries are not money yet.
    pub booked: bool,
    pub amount_minor: i64,
    pub currency: Currency,
    pub booking_date: Option<Day>,
    pub value_date: Option<Day>,
    /// The structured reference exactly as the file gives it, checked by the matching rules.
    pub reference: Option<String>,
    /// The unstructured remittance text (and the QR-bill's additional information), joined.
    pub text: Option<String>,
    pub debtor_name: Option<String>,
    pub debtor_iban: Option<String>,
}
