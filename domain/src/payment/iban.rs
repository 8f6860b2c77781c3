//! Account numbers: IBANs (ISO 13616), checked with their mod-97 check digits, and the Swiss QR-IBAN.
//!
//! Written here rather than taken from a crate: Recharge needs the check digits, the Swiss and
//! Liechtenstein form (21 characters) and the QR-IBAN's institution id, a few lines each, in code that
//! also runs in the browser; a general IBAN crate's country registry would add size to every page that
//! checks a creditor form.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::PaymentError;

/// An IBAN with valid check digits, kept without spaces and in capitals (`CH4431999123000889012`),
/// shown in groups of four (`CH44 3199 9123 0008 8901 2`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Iban(String);

impl Iban {
    /// Any country's IBAN (a debtor's, as a bank file names it): two letters, two check digits, up to 30
    /// letters and digits, mod 97 = 1. Spaces are ignored, small letters read as capitals.
    pub fn parse(raw: &str) -> Result<Self, PaymentError> {
        let compact: String =
            raw.chars().filter(|c| !c.is_whitespace()).map(|c| c.to_ascii_uppercase()).collect();
        let b = compact.as_bytes();
        let well_formed = (15..=34).contains(&b.len())
            && b[..2].iter().all(u8::is_ascii_uppercase)
            && b[2..4].iter().all(u8::is_ascii_digit)
            && b[4..].iter().all(u8::is_ascii_alphanumeric);
        if !well_formed {
            return Err(PaymentError::InvalidIban);
        }
        if mod97(b[4..].iter().chain(&b[..4]).copied()) != 1 {
            return Err(PaymentError::IbanCheckDigits);
        }
        Ok(Self(compact))
    }

    /// An account a gérance can be credited on: a Swiss or Liechtenstein IBAN (21 characters).
    pub fn parse_swiss(raw: &str) -> Result<Self, PaymentError> {
        let iban = Self::parse(raw)?;
        if !matches!(iban.country(), "CH" | "LI") || iban.0.len() != 21 {
            return Err(PaymentError::IbanNotSwiss);
        }
        Ok(iban)
    }

    pub fn country(&self) -> &str {
        &self.0[..2]
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A QR-IBAN: a Swiss or Liechtenstein IBAN whose institution id (characters 5–9) is 30000–31999.
    /// It takes QR references (QRR) only; an ordinary IBAN takes creditor references (SCOR) or none.
    pub fn is_qr_iban(&self) -> bool {
        matches!(self.country(), "CH" | "LI")
            && self.0.len() == 21
            && self.0[4..9].parse::<u32>().is_ok_and(|iid| (30000..=31999).contains(&iid))
    }
}

/// The remainder modulo 97 of a string of digits and letters read as ISO 7064 does (A = 10 … Z = 35);
/// shared by IBANs and creditor references.
pub(super) fn mod97(chars: impl Iterator<Item = u8>) -> u32 {
    chars.fold(0u32, |acc, c| match c {
        b'0'..=b'9' => (acc * 10 + u32::from(c - b'0')) % 97,
        _ => (acc * 100 + u32::from(c.to_ascii_uppercase() - b'A' + 10)) % 97,
    })
}

impl TryFrom<String> for Iban {
    type Error = PaymentError;
    fn try_from(s: String) -> Result<Self, PaymentError> {
        Self::parse(&s)
    }
}

impl From<Iban> for String {
    fn from(iban: Iban) -> String {
        iban.0
    }
}

impl fmt::Display for Iban {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        group_by_four(&self.0, f)
    }
}

pub(super) fn group_by_four(s: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    for (i, chunk) in s.as_bytes().chunks(4).enumerate() {
        if i > 0 {
            f.write_str(" ")?;
        }
        // Only ASCII gets here (checked at parse time).
        f.write_str(std::str::from_utf8(chunk).map_err(|_| fmt::Error)?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // IBANs from the SIX Implementation Guidelines for the QR-bill (examples) and the ISO 13616 /
    // SWIFT IBAN registry's examples.
    #[test]
    fn published_ibans_are_valid() {
        let qr = Iban::parse_swiss("CH44 3199 9123 0008 8901 2").unwrap();
        assert!(qr.is_qr_iban());
        assert_eq!(qr.to_string(), "CH44 3199 9123 0008 8901 2");
        let ordinary = Iban::parse_swiss("CH58 0079 1123 0008 8901 2").unwrap();
        assert!(!ordinary.is_qr_iban());
        let registry_ch = Iban::parse_swiss("CH9300762011623852957").unwrap();
        assert!(!registry_ch.is_qr_iban());
        assert!(Iban::parse_swiss("LI21 0881 0000 2324 013A A").is_ok());
        // Foreign IBANs are IBANs (a debtor's), but not an account for a gérance.
        let de = Iban::parse("DE89 3704 0044 0532 0130 00").unwrap();
        assert_eq!(de.country(), "DE");
        assert_eq!(Iban::parse_swiss("DE89370400440532013000"), Err(PaymentError::IbanNotSwiss));
        assert_eq!(Iban::parse("gb82 west 1234 5698 7654 32").unwrap().as_str(), "GB82WEST12345698765432");
    }

    #[test]
    fn a_wrong_check_digit_or_form_is_refused() {
        assert_eq!(Iban::parse("CH44 3199 9123 0008 8901 3"), Err(PaymentError::IbanCheckDigits));
        assert_eq!(Iban::parse("CH45 3199 9123 0008 8901 2"), Err(PaymentError::IbanCheckDigits));
        for bad in ["", "CH", "1234567890123456", "CH44-3199-9123-0008-8901-2", "CHXX31999123000889012"] {
            assert_eq!(Iban::parse(bad), Err(PaymentError::InvalidIban), "{bad:?}");
        }
    }

    #[test]
    fn the_qr_iban_range_is_30000_to_31999() {
        // Institution ids at both ends of the range and just outside, each with its own check digits.
        for (iid, qr) in [(29999, false), (30000, true), (31999, true), (32000, false)] {
            let bban = format!("{iid:05}123000889012");
            let rem = mod97(bban.bytes().chain(*b"CH00"));
            let iban = format!("CH{:02}{bban}", 98 - rem);
            assert_eq!(Iban::parse_swiss(&iban).unwrap().is_qr_iban(), qr, "{iban}");
        }
    }
}
