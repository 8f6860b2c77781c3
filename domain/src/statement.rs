//! A key's annual statement: what was paid for it and what it was loaded with in one calendar year in
//! Zurich, with the totals and the balances its station reported. Rendering it (PDF, CSV) is the
//! `paper` crate's; the year's bounds, the order of the lines and the sums are here.

use chrono::{Datelike, TimeZone};
use chrono_tz::Europe::Zurich;
use serde::{Deserialize, Serialize};

use crate::key::Holder;
use crate::payment::Day;
use crate::{Amount, KeyNumber, StationId, Timestamp, Total};

/// A calendar year as the gérance's accountant means it: 1 January 00:00 to 31 December 24:00 in
/// Zurich, daylight saving included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Year(i32);

impl Year {
    /// Years a statement can be asked for: from the first QR-bills to far enough ahead.
    pub fn parse(raw: &str) -> Option<Self> {
        raw.trim().parse::<i32>().ok().filter(|y| (2020..=2100).contains(y)).map(Self)
    }

    /// The year now is in, in Zurich.
    pub fn of(t: Timestamp) -> Self {
        let utc = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(t.millis()).unwrap_or_default();
        Self(utc.with_timezone(&Zurich).year())
    }

    pub fn get(self) -> i32 {
        self.0
    }

    /// Its first instant and the first instant of the next year, in UTC.
    pub fn bounds(self) -> (Timestamp, Timestamp) {
        let start = |y: i32| {
            Zurich
                .with_ymd_and_hms(y, 1, 1, 0, 0, 0)
                .earliest()
                .map_or(Timestamp(0), |t| Timestamp(t.timestamp_millis()))
        };
        (start(self.0), start(self.0 + 1))
    }

    /// Its days as a bank file writes them: `2026-01-01` up to, not including, `2027-01-01`.
    pub fn days(self) -> (String, String) {
        (format!("{:04}-01-01", self.0), format!("{:04}-01-01", self.0 + 1))
    }
}

impl std::fmt::Display for Year {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// One line of a statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Entry {
    /// A credit for the key on the gérance's account, on the day the bank booked it; `loaded` false
    /// while it waits for approval.
    Payment { day: Day, amount: Amount, fee_rappen: i64, debtor: Option<String>, loaded: bool },
    /// A top-up the station loaded onto the key, with the balance it reported then.
    TopUp { at: Timestamp, amount: Amount, balance_rappen: Option<i64> },
}

impl Entry {
    /// The Zurich calendar day the line belongs to, `YYYY-MM-DD` (sorts as text).
    pub fn day(&self) -> String {
        match self {
            Self::Payment { day, .. } => day.iso(),
            Self::TopUp { at, .. } => {
                let utc =
                    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(at.millis()).unwrap_or_default();
                utc.with_timezone(&Zurich).format("%Y-%m-%d").to_string()
            }
        }
    }

    /// `04.12.2026`.
    pub fn day_shown(&self) -> String {
        let iso = self.day();
        Day::parse(&iso).map_or(iso, |d| d.to_string())
    }
}

/// One key's year.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    pub year: Year,
    pub station: StationId,
    pub station_name: String,
    pub key: KeyNumber,
    pub holder: Holder,
    /// By day; on one day, payments before the top-ups they paid for.
    pub entries: Vec<Entry>,
}

impl Statement {
    pub fn new(year: Year, station: StationId, station_name: String, key: KeyNumber, holder: Holder) -> Self {
        Self { year, station, station_name, key, holder, entries: Vec::new() }
    }

    /// Puts the lines in their order (stable: the order given stays within a day and kind).
    pub fn sort(&mut self) {
        self.entries.sort_by_key(|e| {
            let (kind, at) = match e {
                Entry::Payment { .. } => (0, 0),
                Entry::TopUp { at, .. } => (1, at.millis()),
            };
            (e.day(), kind, at)
        });
    }

    /// Paid in the year, fees included.
    pub fn paid(&self) -> Total {
        self.sum(|e| match e {
            Entry::Payment { amount, .. } => amount.rappen(),
            Entry::TopUp { .. } => 0,
        })
    }

    /// Kept as fees.
    pub fn fees(&self) -> Total {
        self.sum(|e| match e {
            Entry::Payment { fee_rappen, .. } => *fee_rappen,
            Entry::TopUp { .. } => 0,
        })
    }

    /// Loaded onto the key in the year.
    pub fn loaded(&self) -> Total {
        self.sum(|e| match e {
            Entry::TopUp { amount, .. } => amount.rappen(),
            Entry::Payment { .. } => 0,
        })
    }

    /// The last balance the station reported in the year, and its day.
    pub fn last_balance(&self) -> Option<(String, i64)> {
        self.entries.iter().rev().find_map(|e| match e {
            Entry::TopUp { balance_rappen: Some(b), .. } => Some((e.day_shown(), *b)),
            _ => None,
        })
    }

    fn sum(&self, of: impl Fn(&Entry) -> i64) -> Total {
        let rappen = self.entries.iter().map(of).sum();
        Total::from_rappen(rappen).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_year_is_zurich_s_and_crosses_midnight_utc() {
        let (start, end) = Year(2026).bounds();
        // 1 January 2026 00:00 in Zurich is 31 December 2025 23:00 UTC (winter time, UTC+1).
        assert_eq!(start, Timestamp(1_767_222_000_000));
        assert_eq!(end, Timestamp(1_798_758_000_000));
        assert_eq!(Year::of(Timestamp(1_767_222_000_000 - 1)), Year(2025));
        assert_eq!(Year::of(start), Year(2026));
        assert_eq!(Year(2026).days(), ("2026-01-01".to_owned(), "2027-01-01".to_owned()));
        assert_eq!(Year::parse(" 2026 "), Some(Year(2026)));
        assert_eq!(Year::parse("1999"), None);
        assert_eq!(Year::parse("20x6"), None);
    }

    #[test]
    fn lines_are_ordered_and_summed_in_rappen() {
        let a = |r| Amount::from_rappen(r).unwrap();
        let mut s =
            Statement::new(Year(2026), StationId(1), "Buanderie".into(), KeyNumber(7), Holder::default());
        // 31 December 2026, 23:30 in Zurich is still 2026 there (22:30 UTC).
        let late = Timestamp(1_798_756_200_000);
        s.entries = vec![
            Entry::TopUp { at: late, amount: a(1_950), balance_rappen: Some(4_200) },
            Entry::Payment {
                day: Day::parse("2026-12-31").unwrap(),
                amount: a(2_000),
                fee_rappen: 50,
                debtor: None,
                loaded: true,
            },
            Entry::Payment {
                day: Day::parse("2026-03-02").unwrap(),
                amount: a(1_000),
                fee_rappen: 0,
                debtor: None,
                loaded: true,
            },
            Entry::TopUp { at: Timestamp(1_772_442_000_000), amount: a(1_000), balance_rappen: Some(2_250) },
        ];
        s.sort();
        let days: Vec<String> = s.entries.iter().map(Entry::day_shown).collect();
        assert_eq!(days, ["02.03.2026", "02.03.2026", "31.12.2026", "31.12.2026"]);
        assert!(matches!(s.entries[0], Entry::Payment { .. }) && matches!(s.entries[1], Entry::TopUp { .. }));
        assert_eq!((s.paid().rappen(), s.fees().rappen(), s.loaded().rappen()), (3_000, 50, 2_950));
        assert_eq!(s.last_balance(), Some(("31.12.2026".to_owned(), 4_200)));
    }
}
