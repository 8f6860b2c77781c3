//! Keys and money: a key number is what the station reads from an iButton, an amount is whole Rappen.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ParseError;

/// A tenant's key number, 0–65535, shown with five digits as the stations and the journal do (`02524`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct KeyNumber(pub u16);

impl KeyNumber {
    /// Parses decimal digits; leading zeros are accepted, signs and anything else are not.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let s = raw.trim();
        if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseError::InvalidKeyNumber);
        }
        s.parse::<u16>().map(KeyNumber).map_err(|_| ParseError::InvalidKeyNumber)
    }
}

impl From<KeyNumber> for i64 {
    fn from(key: KeyNumber) -> i64 {
        i64::from(key.0)
    }
}

impl fmt::Display for KeyNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:05}", self.0)
    }
}

/// An amount of money in Rappen (1 CHF = 100 Rappen). Never a floating-point number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct Amount(i64);

impl TryFrom<i64> for Amount {
    type Error = ParseError;
    fn try_from(rappen: i64) -> Result<Self, ParseError> {
        Self::from_rappen(rappen)
    }
}

impl From<Amount> for i64 {
    fn from(amount: Amount) -> i64 {
        amount.0
    }
}

impl Amount {
    /// Larger amounts are refused at parse time: nobody tops up a laundry key with a million francs.
    pub const MAX_RAPPEN: i64 = 100_000_000;

    /// A positive amount of Rappen.
    pub fn from_rappen(rappen: i64) -> Result<Self, ParseError> {
        if rappen <= 0 || rappen > Self::MAX_RAPPEN {
            Err(ParseError::InvalidAmount)
        } else {
            Ok(Self(rappen))
        }
    }

    /// Parses francs as typed by a person: `10`, `10.5`, `10.50` or `10,50`, and thousands as Swiss
    /// people group them (`1'000`, `1'000.50`, also with the typographic `’`); more than zero, at most
    /// two decimals, no sign, no exponent.
    pub fn parse_chf(raw: &str) -> Result<Self, ParseError> {
        let s = raw.trim();
        let (grouped, cents) = match s.find(['.', ',']) {
            Some(i) => (&s[..i], &s[i + 1..]),
            None => (s, ""),
        };
        let ungrouped = ungroup_thousands(grouped).ok_or(ParseError::InvalidAmount)?;
        let francs = ungrouped.as_str();
        let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
        if francs.is_empty()
            || francs.len() > 9
            || !digits(francs)
            || cents.len() > 2
            || !digits(cents)
            || (s.len() > grouped.len() && cents.is_empty())
        {
            return Err(ParseError::InvalidAmount);
        }
        let francs: i64 = francs.parse().map_err(|_| ParseError::InvalidAmount)?;
        let cents: i64 = match cents.len() {
            0 => 0,
            1 => cents.parse::<i64>().map_err(|_| ParseError::InvalidAmount)? * 10,
            _ => cents.parse().map_err(|_| ParseError::InvalidAmount)?,
        };
        Self::from_rappen(francs * 100 + cents)
    }

    pub fn rappen(self) -> i64 {
        self.0
    }
}

/// The digits of francs written with thousands separators (`1'000'000`), or as they are without any;
/// `None` when a group is not three digits (`1'00`, `'100`).
fn ungroup_thousands(francs: &str) -> Option<String> {
    let groups: Vec<&str> = francs.split(['\'', '’']).collect();
    let [first, rest @ ..] = groups.as_slice() else { return None };
    let well_formed =
        rest.is_empty() || ((1..=3).contains(&first.len()) && rest.iter().all(|g| g.len() == 3));
    well_formed.then(|| groups.concat())
}

/// Swiss notation: `5.00 CHF`, `1'250.00 CHF`.
impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        chf(self.0, f)
    }
}

/// A sum of amounts in Rappen, zero or more (a view's total reloaded): unbounded by one top-up's
/// maximum, shown like an amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct Total(i64);

impl Total {
    pub const ZERO: Total = Total(0);

    pub fn from_rappen(rappen: i64) -> Result<Self, ParseError> {
        if rappen < 0 { Err(ParseError::InvalidAmount) } else { Ok(Self(rappen)) }
    }

    pub fn rappen(self) -> i64 {
        self.0
    }

    /// With `amount` added (saturating: a sum of real top-ups cannot come near `i64::MAX`).
    pub fn plus(self, amount: Amount) -> Self {
        Self(self.0.saturating_add(amount.rappen()))
    }
}

impl TryFrom<i64> for Total {
    type Error = ParseError;
    fn try_from(rappen: i64) -> Result<Self, ParseError> {
        Self::from_rappen(rappen)
    }
}

impl From<Total> for i64 {
    fn from(total: Total) -> i64 {
        total.0
    }
}

impl fmt::Display for Total {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        chf(self.0, f)
    }
}

/// Rappen as Swiss people write francs: `1'234.50 CHF`.
fn chf(rappen: i64, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let francs = (rappen / 100).to_string();
    let mut grouped = String::with_capacity(francs.len() + francs.len() / 3);
    for (i, c) in francs.chars().enumerate() {
        if i > 0 && (francs.len() - i).is_multiple_of(3) {
            grouped.push('\'');
        }
        grouped.push(c);
    }
    write!(f, "{grouped}.{:02} CHF", rappen % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_total_is_zero_or_more_and_shown_like_an_amount() {
        assert_eq!(Total::ZERO.to_string(), "0.00 CHF");
        let big = Total::from_rappen(12_345_678_905).unwrap();
        assert_eq!(big.to_string(), "123'456'789.05 CHF");
        assert_eq!(Total::ZERO.plus(Amount::from_rappen(1050).unwrap()).to_string(), "10.50 CHF");
        assert!(Total::from_rappen(-1).is_err());
    }

    #[test]
    fn key_numbers_show_five_digits_and_accept_leading_zeros() {
        assert_eq!(KeyNumber::parse("2524").unwrap().to_string(), "02524");
        assert_eq!(KeyNumber::parse("02524").unwrap(), KeyNumber(2524));
        assert_eq!(KeyNumber::parse("0").unwrap().to_string(), "00000");
        assert_eq!(KeyNumber::parse("65535").unwrap(), KeyNumber(65535));
    }

    #[test]
    fn key_numbers_out_of_range_or_not_decimal_are_refused() {
        for bad in ["65536", "-1", "abc", "", "+5", "1.0", "99999999999"] {
            assert_eq!(KeyNumber::parse(bad), Err(ParseError::InvalidKeyNumber), "{bad:?}");
        }
    }

    #[test]
    fn amounts_parse_to_whole_rappen() {
        assert_eq!(Amount::parse_chf("10.00").unwrap().rappen(), 1000);
        assert_eq!(Amount::parse_chf("10").unwrap().rappen(), 1000);
        assert_eq!(Amount::parse_chf("10.5").unwrap().rappen(), 1050);
        assert_eq!(Amount::parse_chf("0,05").unwrap().rappen(), 5);
    }

    #[test]
    fn amounts_accept_swiss_thousands() {
        assert_eq!(Amount::parse_chf("1'000").unwrap().rappen(), 100_000);
        assert_eq!(Amount::parse_chf("1'000.50").unwrap().rappen(), 100_050);
        assert_eq!(Amount::parse_chf("1’000,50").unwrap().rappen(), 100_050);
        assert_eq!(Amount::parse_chf("999'999.99").unwrap().rappen(), 99_999_999);
        // What the amount shows is read back as the same amount.
        let shown = Amount::from_rappen(12_345_678).unwrap().to_string();
        assert_eq!(Amount::parse_chf(shown.trim_end_matches(" CHF")).unwrap().rappen(), 12_345_678);
    }

    #[test]
    fn bad_amounts_are_refused() {
        for bad in [
            "0",
            "0.00",
            "-5",
            "10.001",
            "1e9",
            "abc",
            "",
            ".5",
            "10.",
            "1000000000",
            "1'00",
            "'100",
            "1''000",
            "1'0000",
            "1000'000",
            "1'000'",
            "10'5.00",
            "1'000.5'0",
        ] {
            assert_eq!(Amount::parse_chf(bad), Err(ParseError::InvalidAmount), "{bad:?}");
        }
    }

    #[test]
    fn amounts_show_in_swiss_notation() {
        assert_eq!(Amount::from_rappen(500).unwrap().to_string(), "5.00 CHF");
        assert_eq!(Amount::from_rappen(7).unwrap().to_string(), "0.07 CHF");
        assert_eq!(Amount::from_rappen(125_050).unwrap().to_string(), "1'250.50 CHF");
        assert_eq!(Amount::from_rappen(100_000_000).unwrap().to_string(), "1'000'000.00 CHF");
    }
}
