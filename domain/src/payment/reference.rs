//! Payment references: the Swiss QR reference (QRR) and the international creditor reference (SCOR,
//! ISO 11649), and the one fixed reference every key has so that a tenant can reuse a slip or a
//! standing order (`KeyReference`, documented in docs/payments.md).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::PaymentError;
use super::iban::{Iban, mod97};
use crate::{KeyNumber, StationId};

/// A QR reference: 27 digits, the last a check digit computed with the recursive modulo 10 of the
/// Swiss payment slips. Shown as the payment part prints it: `21 00000 00003 13947 14300 09017`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct QrReference(String);

/// The recursive modulo 10 check digit of a string of digits.
fn mod10_recursive(digits: &[u8]) -> u8 {
    const TABLE: [u8; 10] = [0, 9, 4, 6, 8, 2, 7, 1, 3, 5];
    let carry = digits.iter().fold(0u8, |carry, d| TABLE[usize::from((carry + (d - b'0')) % 10)]);
    (10 - carry) % 10
}

impl QrReference {
    pub fn parse(raw: &str) -> Result<Self, PaymentError> {
        let compact: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
        let b = compact.as_bytes();
        if b.len() != 27 || !b.iter().all(u8::is_ascii_digit) {
            return Err(PaymentError::InvalidReference);
        }
        if mod10_recursive(&b[..26]) != b[26] - b'0' {
            return Err(PaymentError::ReferenceCheckDigit);
        }
        Ok(Self(compact))
    }

    /// The reference for 26 digits of content, with its check digit.
    fn from_payload(payload: &str) -> Self {
        debug_assert!(payload.len() == 26 && payload.bytes().all(|b| b.is_ascii_digit()));
        let check = mod10_recursive(payload.as_bytes());
        Self(format!("{payload}{check}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for QrReference {
    /// Two digits, then groups of five, as the QR-bill's payment part prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0[..2])?;
        for chunk in self.0.as_bytes()[2..].chunks(5) {
            f.write_str(" ")?;
            f.write_str(std::str::from_utf8(chunk).map_err(|_| fmt::Error)?)?;
        }
        Ok(())
    }
}

impl TryFrom<String> for QrReference {
    type Error = PaymentError;
    fn try_from(s: String) -> Result<Self, PaymentError> {
        Self::parse(&s)
    }
}

impl From<QrReference> for String {
    fn from(r: QrReference) -> String {
        r.0
    }
}

/// A creditor reference (ISO 11649): `RF`, two check digits, 1 to 21 letters and digits; the whole
/// read with its first four characters moved to the end is 1 modulo 97. Kept in capitals without
/// spaces, shown in groups of four (`RF18 5390 0754 7034`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CreditorReference(String);

impl CreditorReference {
    pub fn parse(raw: &str) -> Result<Self, PaymentError> {
        let compact: String =
            raw.chars().filter(|c| !c.is_whitespace()).map(|c| c.to_ascii_uppercase()).collect();
        let b = compact.as_bytes();
        if !(5..=25).contains(&b.len())
            || &b[..2] != b"RF"
            || !b[2..4].iter().all(u8::is_ascii_digit)
            || !b[4..].iter().all(u8::is_ascii_alphanumeric)
        {
            return Err(PaymentError::InvalidReference);
        }
        if mod97(b[4..].iter().chain(&b[..4]).copied()) != 1 {
            return Err(PaymentError::ReferenceCheckDigit);
        }
        Ok(Self(compact))
    }

    /// `RF` and the check digits for a body of 1–21 capitals and digits.
    fn from_body(body: &str) -> Self {
        debug_assert!((1..=21).contains(&body.len()));
        let rem = mod97(body.bytes().chain(*b"RF00"));
        Self(format!("RF{:02}{body}", 98 - rem))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn body(&self) -> &str {
        &self.0[4..]
    }
}

impl fmt::Display for CreditorReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        super::iban::group_by_four(&self.0, f)
    }
}

impl TryFrom<String> for CreditorReference {
    type Error = PaymentError;
    fn try_from(s: String) -> Result<Self, PaymentError> {
        Self::parse(&s)
    }
}

impl From<CreditorReference> for String {
    fn from(r: CreditorReference) -> String {
        r.0
    }
}

/// A structured payment reference, as a QR-bill carries it and a bank file reports it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Reference {
    Qrr(QrReference),
    Scor(CreditorReference),
}

impl Reference {
    /// A reference as a bank file or a person gives it: `RF…` is a creditor reference, 27 digits a QR
    /// reference; anything else is not a structured reference.
    pub fn parse(raw: &str) -> Result<Self, PaymentError> {
        let trimmed = raw.trim_start();
        if trimmed.len() >= 2 && trimmed[..2].eq_ignore_ascii_case("RF") {
            CreditorReference::parse(raw).map(Reference::Scor)
        } else {
            QrReference::parse(raw).map(Reference::Qrr)
        }
    }

    /// The reference type's code in a QR-bill and in a bank file: `QRR` or `SCOR`.
    pub fn kind(&self) -> &'static str {
        match self {
            Reference::Qrr(_) => "QRR",
            Reference::Scor(_) => "SCOR",
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Reference::Qrr(r) => r.as_str(),
            Reference::Scor(r) => r.as_str(),
        }
    }

    /// Whether an account takes this kind of reference: a QR-IBAN takes QR references only, an
    /// ordinary IBAN creditor references only.
    pub fn fits(&self, account: &Iban) -> Result<(), PaymentError> {
        match (self, account.is_qr_iban()) {
            (Reference::Qrr(_), true) | (Reference::Scor(_), false) => Ok(()),
            (Reference::Qrr(_), false) => Err(PaymentError::QrrNeedsQrIban),
            (Reference::Scor(_), true) => Err(PaymentError::QrIbanNeedsQrr),
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Qrr(r) => r.fmt(f),
            Reference::Scor(r) => r.fmt(f),
        }
    }
}

/// The digits a bank may require at the start of every QR reference on its QR-IBAN (a customer id it
/// assigns); none by default. At most 10 digits, so that any station id still fits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct QrrPrefix(String);

impl QrrPrefix {
    pub const MAX_DIGITS: usize = 10;

    pub fn parse(raw: &str) -> Result<Self, PaymentError> {
        let compact: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
        if compact.len() > Self::MAX_DIGITS || !compact.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PaymentError::InvalidQrrPrefix);
        }
        Ok(Self(compact))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for QrrPrefix {
    type Error = PaymentError;
    fn try_from(s: String) -> Result<Self, PaymentError> {
        Self::parse(&s)
    }
}

impl From<QrrPrefix> for String {
    fn from(p: QrrPrefix) -> String {
        p.0
    }
}

/// The fixed reference of a key: its station and number, in the form its gérance's account takes.
///
/// - On a QR-IBAN, a QR reference: the bank's prefix (if any), zeros, the station id, the key number in
///   five digits, the check digit. Station 7, key 34586, no prefix: `00 00000 00000 00000 00073 45866`.
/// - On an ordinary IBAN, a creditor reference whose body is the station id, `K` and the key number in
///   five digits: station 7, key 34586: `RF87 7K34 586`.
///
/// Reading a reference back gives the station and key only when it has this form (and the prefix); a
/// reference of another invoice of the gérance's reads as no key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KeyReference {
    pub station: StationId,
    pub key: KeyNumber,
}

impl KeyReference {
    /// The reference for this key on `account`. `None` for a station id no reference can carry (never
    /// for an id the database hands out: they are positive and far below 10^11).
    pub fn encode(self, account: &Iban, prefix: &QrrPrefix) -> Option<Reference> {
        let station = u64::try_from(self.station.get()).ok().filter(|s| *s > 0)?.to_string();
        if account.is_qr_iban() {
            let tail = format!("{station}{:05}", self.key.0);
            let fill = 26usize.checked_sub(prefix.0.len() + tail.len())?;
            let payload = format!("{}{}{tail}", prefix.0, "0".repeat(fill));
            Some(Reference::Qrr(QrReference::from_payload(&payload)))
        } else {
            let body = format!("{station}K{:05}", self.key.0);
            (body.len() <= 21).then(|| Reference::Scor(CreditorReference::from_body(&body)))
        }
    }

    /// The key a reference names, if it is a key reference of this form.
    pub fn decode(reference: &Reference, prefix: &QrrPrefix) -> Option<Self> {
        let (station, key) = match reference {
            Reference::Qrr(r) => {
                let payload = r.as_str()[..26].strip_prefix(prefix.as_str())?;
                let (station, key) = payload.split_at(payload.len() - 5);
                (station.trim_start_matches('0'), key)
            }
            Reference::Scor(r) => {
                let (station, key) = r.body().split_once('K')?;
                if station.starts_with('0') || key.len() != 5 {
                    return None;
                }
                (station, key)
            }
        };
        if station.is_empty() || !station.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let station = station.parse::<i64>().ok()?;
        let key = key.bytes().all(|b| b.is_ascii_digit()).then(|| key.parse::<u16>().ok())??;
        Some(Self { station: StationId(station), key: KeyNumber(key) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Published examples: the QR reference of the SIX Implementation Guidelines for the QR-bill
    // (v2.3, examples in the appendix) and the creditor reference of ISO 11649's annex.
    #[test]
    fn published_references_are_valid() {
        let qrr = QrReference::parse("210000000003139471430009017").unwrap();
        assert_eq!(qrr.to_string(), "21 00000 00003 13947 14300 09017");
        assert_eq!(QrReference::parse("21 00000 00003 13947 14300 09017").unwrap(), qrr);
        let scor = CreditorReference::parse("RF18539007547034").unwrap();
        assert_eq!(scor.to_string(), "RF18 5390 0754 7034");
        assert_eq!(CreditorReference::parse("rf18 5390 0754 7034").unwrap(), scor);
        assert_eq!(Reference::parse("RF18539007547034").unwrap().kind(), "SCOR");
        assert_eq!(Reference::parse("210000000003139471430009017").unwrap().kind(), "QRR");
        // The check digit of every other last digit is wrong.
        for last in (0..10).filter(|d| *d != 7) {
            let bad = format!("21000000000313947143000901{last}");
            assert_eq!(QrReference::parse(&bad), Err(PaymentError::ReferenceCheckDigit), "{bad}");
        }
        assert_eq!(CreditorReference::parse("RF19539007547034"), Err(PaymentError::ReferenceCheckDigit));
        assert_eq!(CreditorReference::parse("RF18539007547035"), Err(PaymentError::ReferenceCheckDigit));
        for bad in [
            "",
            "RF",
            "RF18",
            "RF18-5390",
            "12345",
            "2100000000031394714300090170",
            "RF18 5390 0754 7034 5390 0754 70",
        ] {
            assert_eq!(Reference::parse(bad), Err(PaymentError::InvalidReference), "{bad:?}");
        }
    }

    #[test]
    fn an_account_takes_its_kind_of_reference_only() {
        let qr_iban = Iban::parse_swiss("CH4431999123000889012").unwrap();
        let iban = Iban::parse_swiss("CH5800791123000889012").unwrap();
        let qrr = Reference::parse("210000000003139471430009017").unwrap();
        let scor = Reference::parse("RF18539007547034").unwrap();
        assert_eq!(qrr.fits(&qr_iban), Ok(()));
        assert_eq!(scor.fits(&iban), Ok(()));
        assert_eq!(qrr.fits(&iban), Err(PaymentError::QrrNeedsQrIban));
        assert_eq!(scor.fits(&qr_iban), Err(PaymentError::QrIbanNeedsQrr));
    }

    #[test]
    fn a_key_reference_reads_back_as_its_key() {
        let qr_iban = Iban::parse_swiss("CH4431999123000889012").unwrap();
        let iban = Iban::parse_swiss("CH5800791123000889012").unwrap();
        let none = QrrPrefix::default();
        let bank = QrrPrefix::parse("123456").unwrap();
        let key = KeyReference { station: StationId(7), key: KeyNumber(34586) };
        let qrr = key.encode(&qr_iban, &none).unwrap();
        assert_eq!(qrr.to_string(), "00 00000 00000 00000 00073 45866");
        assert_eq!(QrReference::parse(qrr.as_str()).map(Reference::Qrr), Ok(qrr.clone()));
        let scor = key.encode(&iban, &none).unwrap();
        assert_eq!(scor.as_str(), "RF877K34586");
        assert_eq!(CreditorReference::parse(scor.as_str()).map(Reference::Scor), Ok(scor.clone()));
        let prefixed = key.encode(&qr_iban, &bank).unwrap();
        assert!(prefixed.as_str().starts_with("123456"));
        for (reference, prefix) in [(&qrr, &none), (&scor, &none), (&prefixed, &bank)] {
            assert_eq!(KeyReference::decode(reference, prefix), Some(key), "{reference}");
        }
        // Without the bank's prefix a reference is another invoice's.
        assert_eq!(KeyReference::decode(&qrr, &bank), None);
        // Extremes: key 0 and 65535, a station id of ten digits.
        for key in [
            KeyReference { station: StationId(1), key: KeyNumber(0) },
            KeyReference { station: StationId(9_999_999_999), key: KeyNumber(65535) },
        ] {
            for account in [&qr_iban, &iban] {
                let reference = key.encode(account, &bank).unwrap();
                assert_eq!(KeyReference::decode(&reference, &bank), Some(key), "{reference}");
            }
        }
    }

    #[test]
    fn other_references_name_no_key() {
        let none = QrrPrefix::default();
        // The guidelines' example reads as station 21000000000313, key 94714 only if a station had that
        // id: the matching rules look the station up; here the form alone is checked.
        let scor = Reference::parse("RF18539007547034").unwrap();
        assert_eq!(KeyReference::decode(&scor, &none), None);
        let zero_station = Reference::Qrr(QrReference::from_payload("00000000000000000000012345"));
        assert_eq!(KeyReference::decode(&zero_station, &none), None);
        let big_key = Reference::Scor(CreditorReference::from_body("7K99999"));
        assert_eq!(KeyReference::decode(&big_key, &none), None);
        let leading_zero = Reference::Scor(CreditorReference::from_body("07K00001"));
        assert_eq!(KeyReference::decode(&leading_zero, &none), None);
        assert!(QrrPrefix::parse("12345678901").is_err());
        assert!(QrrPrefix::parse("12a").is_err());
    }
}
