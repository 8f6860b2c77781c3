//! What a gérance keeps from each payment before the rest is loaded: a fixed part and a share, in
//! whole Rappen (never floating point).

use serde::{Deserialize, Serialize};

use super::PaymentError;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Fee {
    /// Rappen taken from every payment.
    pub fixed_rappen: i64,
    /// Hundredths of a percent of the payment (250 = 2.5 %), rounded half up to the Rappen.
    pub basis_points: u32,
}

impl Fee {
    pub const NONE: Fee = Fee { fixed_rappen: 0, basis_points: 0 };
    /// A fixed fee above 100 CHF per payment is a typing error, not a tariff.
    pub const MAX_FIXED_RAPPEN: i64 = 10_000;
    /// At most half of a payment.
    pub const MAX_BASIS_POINTS: u32 = 5_000;

    /// From the settings form: francs (`0.50`, empty for none) and a percentage (`2.5`, empty for none).
    pub fn parse(fixed_chf: &str, percent: &str) -> Result<Self, PaymentError> {
        let fixed_rappen = match fixed_chf.trim() {
            "" => 0,
            s => decimal_hundredths(s).ok_or(PaymentError::InvalidFee)?,
        };
        let basis_points = match percent.trim().trim_end_matches('%').trim() {
            "" => 0,
            s => decimal_hundredths(s).ok_or(PaymentError::InvalidFee)?,
        };
        let basis_points = u32::try_from(basis_points).map_err(|_| PaymentError::InvalidFee)?;
        Self::new(fixed_rappen, basis_points)
    }

    pub fn new(fixed_rappen: i64, basis_points: u32) -> Result<Self, PaymentError> {
        if !(0..=Self::MAX_FIXED_RAPPEN).contains(&fixed_rappen) || basis_points > Self::MAX_BASIS_POINTS {
            return Err(PaymentError::InvalidFee);
        }
        Ok(Self { fixed_rappen, basis_points })
    }

    /// The fee on a payment of `gross` Rappen (never more than the payment).
    pub fn on(self, gross: i64) -> i64 {
        let share = (i128::from(gross) * i128::from(self.basis_points) + 5_000) / 10_000;
        let share = i64::try_from(share).unwrap_or(i64::MAX);
        self.fixed_rappen.saturating_add(share).min(gross.max(0))
    }

    pub fn is_none(self) -> bool {
        self == Self::NONE
    }
}

/// `12`, `12.5`, `12.50` or `12,50` as hundredths (1250); at most two decimals, no sign.
fn decimal_hundredths(s: &str) -> Option<i64> {
    let (whole, frac) = s.split_once(['.', ',']).unwrap_or((s, ""));
    if whole.is_empty() || whole.len() > 6 || frac.len() > 2 {
        return None;
    }
    if !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if s.len() > whole.len() && frac.is_empty() {
        return None;
    }
    let frac = format!("{frac:0<2}");
    Some(whole.parse::<i64>().ok()? * 100 + frac.parse::<i64>().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fees_are_whole_rappen_rounded_half_up() {
        let fee = Fee::parse("0.50", "2.5").unwrap();
        assert_eq!(fee, Fee { fixed_rappen: 50, basis_points: 250 });
        // 2.5 % of 50.00 CHF = 1.25 CHF, plus 0.50.
        assert_eq!(fee.on(5_000), 175);
        // 2.5 % of 0.10 CHF = 0.25 Rappen → 0; of 0.20 CHF = 0.5 Rappen → 1 (half up).
        assert_eq!(Fee::new(0, 250).unwrap().on(10), 0);
        assert_eq!(Fee::new(0, 250).unwrap().on(20), 1);
        // Never more than the payment itself.
        assert_eq!(Fee::new(100, 0).unwrap().on(30), 30);
        assert_eq!(Fee::parse("", "").unwrap(), Fee::NONE);
        assert_eq!(Fee::parse("1", "3 %").unwrap(), Fee { fixed_rappen: 100, basis_points: 300 });
    }

    #[test]
    fn senseless_fees_are_refused() {
        for (fixed, percent) in [
            ("-1", ""),
            ("", "-2"),
            ("101", ""),
            ("", "50.01"),
            ("1.001", ""),
            ("abc", ""),
            ("", "1e2"),
            ("1.", ""),
        ] {
            assert_eq!(Fee::parse(fixed, percent), Err(PaymentError::InvalidFee), "{fixed:?} {percent:?}");
        }
    }
}
