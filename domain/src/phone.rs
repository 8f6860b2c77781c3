//! Phone numbers of station SIMs, stored in international (E.164) form.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ParseError;

/// `+41791234567`: a `+`, then 8 to 15 digits, the first not 0.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Accepts what people type: `+41 79 123 45 67`, `0041 79 123 45 67`, or a Swiss national number
    /// `079 123 45 67` (taken as +41). Spaces, dots, dashes and slashes are ignored.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let compact: String = raw.chars().filter(|c| !matches!(c, ' ' | '.' | '-' | '/')).collect();
        let digits = if let Some(rest) = compact.strip_prefix('+') {
            rest.to_owned()
        } else if let Some(rest) = compact.strip_prefix("00") {
            rest.to_owned()
        } else if let Some(rest) = compact.strip_prefix('0') {
            format!("41{rest}")
        } else {
            return Err(ParseError::InvalidPhone);
        };
        let valid = (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if valid { Ok(Self(format!("+{digits}"))) } else { Err(ParseError::InvalidPhone) }
    }

    /// The number an SMS address names, in the one form numbers are compared in. `international` when
    /// the address says it carries its country code (type of number 1); otherwise a leading 0 is the
    /// Swiss trunk prefix (`0791234567`, `0041791234567`) and anything else already starts with a country
    /// code (`41791234567`, as some networks write a report's recipient). `None` for what is not a
    /// phone number (a sender name, too few digits).
    pub fn from_network(international: bool, digits: &str) -> Option<Self> {
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let raw =
            if international || !digits.starts_with('0') { format!("+{digits}") } else { digits.to_owned() };
        Self::parse(&raw).ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// As people write it: a Swiss number in the groups of the national plan (`+41 79 000 01 01`), any
    /// other with its country code apart (`+49 15123456789`: other plans group differently).
    pub fn shown(&self) -> String {
        let digits = &self.0[1..];
        match digits.strip_prefix("41") {
            Some(n) if n.len() == 9 => format!("+41 {} {} {} {}", &n[..2], &n[2..5], &n[5..7], &n[7..]),
            _ => {
                let code = country_code_len(digits);
                format!("+{} {}", &digits[..code], &digits[code..])
            }
        }
    }
}

/// The length of the country code a number starts with (ITU-T E.164 Annex: the one-digit codes 1 and 7,
/// the two-digit codes of zones 2–9 listed below, three digits otherwise).
fn country_code_len(digits: &str) -> usize {
    const TWO_DIGITS: [&str; 42] = [
        "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46", "47", "48",
        "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63", "64", "65", "66", "81",
        "82", "84", "86", "90", "91", "92", "93", "94",
    ];
    if digits.starts_with('1') || digits.starts_with('7') {
        1
    } else if TWO_DIGITS.iter().any(|c| digits.starts_with(c))
        || digits.starts_with("95")
        || digits.starts_with("98")
    {
        2
    } else {
        3
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_shown_as_people_write_them() {
        let shown = |raw| PhoneNumber::parse(raw).unwrap().shown();
        assert_eq!(shown("0790000101"), "+41 79 000 01 01");
        assert_eq!(shown("+41 21 312 34 56"), "+41 21 312 34 56");
        assert_eq!(shown("+4915123456789"), "+49 15123456789");
        assert_eq!(shown("+423 234 56 78"), "+423 2345678");
        assert_eq!(shown("+12025550123"), "+1 2025550123");
        // What is shown is read back as the same number.
        for raw in ["0790000101", "+4915123456789", "+4232345678"] {
            let number = PhoneNumber::parse(raw).unwrap();
            assert_eq!(PhoneNumber::parse(&number.shown()), Ok(number));
        }
    }

    #[test]
    fn numbers_as_people_type_them() {
        for (raw, e164) in [
            ("+41 79 123 45 67", "+41791234567"),
            ("0041 79 123 45 67", "+41791234567"),
            ("079/123.45.67", "+41791234567"),
            ("+49 170 1234567", "+491701234567"),
        ] {
            assert_eq!(PhoneNumber::parse(raw).unwrap().as_str(), e164);
        }
        for bad in ["", "+", "79 123 45 67", "+41 79 abc", "+0 123 456 789", "+1234567", "+1234567890123456"]
        {
            assert_eq!(PhoneNumber::parse(bad), Err(ParseError::InvalidPhone), "{bad:?}");
        }
    }

    #[test]
    fn a_number_as_the_network_names_it_compares_in_one_form() {
        let e164 = Some(PhoneNumber("+41791234567".into()));
        assert_eq!(PhoneNumber::from_network(true, "41791234567"), e164);
        assert_eq!(PhoneNumber::from_network(false, "0791234567"), e164, "national");
        assert_eq!(PhoneNumber::from_network(false, "0041791234567"), e164, "international access code");
        assert_eq!(PhoneNumber::from_network(false, "41791234567"), e164, "unknown type, country code");
        assert_eq!(PhoneNumber::from_network(true, "Swisscom"), None);
        assert_eq!(PhoneNumber::from_network(true, "1234"), None);
    }
}
