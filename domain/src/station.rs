//! What an operator types to register or change a station, checked once for the UI and the CLI alike.

use serde::{Deserialize, Serialize};

use crate::{Amount, PhoneNumber};

/// A field of the station form that was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StationField {
    /// 1 to 80 characters.
    Name,
    /// 1 to 80 characters.
    Place,
    /// International, like +41 79 123 45 67.
    Phone,
    /// More than zero, in CHF with at most two decimals.
    Max,
}

/// A station's name, place, SIM number and largest single top-up, all valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StationFields {
    pub name: String,
    pub place: String,
    pub phone: PhoneNumber,
    pub max: Amount,
}

impl StationFields {
    pub const MAX_CHARS: usize = 80;

    /// Every refused field at once, so that a form can mark them all.
    pub fn parse(name: &str, place: &str, phone: &str, max: &str) -> Result<Self, Vec<StationField>> {
        let text = |s: &str| {
            let s = s.trim();
            (!s.is_empty() && s.chars().count() <= Self::MAX_CHARS && !s.chars().any(char::is_control))
                .then(|| s.to_owned())
        };
        let mut refused = Vec::new();
        let name = text(name).ok_or(StationField::Name).map_err(|f| refused.push(f)).ok();
        let place = text(place).ok_or(StationField::Place).map_err(|f| refused.push(f)).ok();
        let phone = PhoneNumber::parse(phone).map_err(|_| refused.push(StationField::Phone)).ok();
        let max = Amount::parse_chf(max).map_err(|_| refused.push(StationField::Max)).ok();
        match (name, place, phone, max) {
            (Some(name), Some(place), Some(phone), Some(max)) => Ok(Self { name, place, phone, max }),
            _ => Err(refused),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_good_station() {
        let s = StationFields::parse(" Station Sion ", "Sion", "079 123 45 67", "200").unwrap();
        assert_eq!(s.name, "Station Sion");
        assert_eq!(s.phone.as_str(), "+41791234567");
        assert_eq!(s.max.rappen(), 20_000);
    }

    #[test]
    fn every_bad_field_is_named() {
        assert_eq!(
            StationFields::parse("", &"x".repeat(81), "123", "0").unwrap_err(),
            vec![StationField::Name, StationField::Place, StationField::Phone, StationField::Max]
        );
        assert_eq!(
            StationFields::parse("a\u{7}b", "Sion", "+41791234567", "10.001").unwrap_err(),
            vec![StationField::Name, StationField::Max]
        );
    }
}
