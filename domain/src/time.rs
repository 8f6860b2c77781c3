//! Time: stored as UTC milliseconds since the Unix epoch, shown in Europe/Zurich.

use std::fmt;

use chrono::{DateTime, Utc};
use chrono_tz::Europe::Zurich;
use serde::{Deserialize, Serialize};

/// An instant, in UTC milliseconds since 1970-01-01. Integers compare and index the same way in every
/// database, which timestamp strings do not.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn now() -> Self {
        Self(Utc::now().timestamp_millis())
    }

    pub fn millis(self) -> i64 {
        self.0
    }

    pub fn plus_millis(self, ms: i64) -> Self {
        Self(self.0.saturating_add(ms))
    }

    /// The start of a day in Zurich (`2021-01-24`, as a date input sends it), as an instant.
    pub fn zurich_day_start(date: &str) -> Option<Self> {
        use chrono::{NaiveDate, TimeZone};
        let day = NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d").ok()?;
        let local = Zurich.from_local_datetime(&day.and_hms_opt(0, 0, 0)?).earliest()?;
        Some(Self(local.with_timezone(&Utc).timestamp_millis()))
    }

    /// The instant in UTC, to the second, for a file name: `20261204T150102Z`.
    pub fn utc_compact(self) -> String {
        DateTime::<Utc>::from_timestamp_millis(self.0)
            .map_or_else(|| self.0.to_string(), |t| t.format("%Y%m%dT%H%M%SZ").to_string())
    }

    /// Swiss notation in Zurich local time, daylight saving included: `24.01.2021 18:18:11`.
    pub fn zurich(self) -> ZurichTime {
        ZurichTime(self)
    }
}

/// How long ago something happened, as people say it: in minutes within the hour, in hours within
/// two days, in days after that.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Age {
    /// Less than a minute.
    Now,
    Minutes(i64),
    Hours(i64),
    Days(i64),
}

impl Age {
    pub fn between(then: Timestamp, now: Timestamp) -> Self {
        let minutes = (now.0 - then.0).max(0) / 60_000;
        match minutes {
            0 => Age::Now,
            1..60 => Age::Minutes(minutes),
            60..2_880 => Age::Hours(minutes / 60),
            _ => Age::Days(minutes / 1_440),
        }
    }
}

/// A [`Timestamp`] displayed in Europe/Zurich.
pub struct ZurichTime(Timestamp);

impl fmt::Display for ZurichTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match DateTime::<Utc>::from_timestamp_millis(self.0.0) {
            Some(utc) => write!(f, "{}", utc.with_timezone(&Zurich).format("%d.%m.%Y %H:%M:%S")),
            None => f.write_str("—"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_as_people_say_them() {
        let ago = |minutes: i64| Age::between(Timestamp(0), Timestamp(minutes * 60_000 + 59_999));
        assert_eq!(ago(0), Age::Now);
        assert_eq!(ago(59), Age::Minutes(59));
        assert_eq!(ago(60), Age::Hours(1));
        assert_eq!(ago(47 * 60 + 59), Age::Hours(47));
        assert_eq!(ago(48 * 60), Age::Days(2));
        assert_eq!(Age::between(Timestamp(10), Timestamp(0)), Age::Now, "a clock behind is not the future");
    }

    #[test]
    fn winter_time_is_utc_plus_one() {
        // 2021-01-24 17:18:11 UTC, the journal's first example row.
        assert_eq!(Timestamp(1_611_508_691_000).zurich().to_string(), "24.01.2021 18:18:11");
    }

    #[test]
    fn a_day_starts_at_midnight_in_zurich() {
        assert_eq!(Timestamp::zurich_day_start("2021-01-24"), Some(Timestamp(1_611_442_800_000)));
        assert_eq!(Timestamp::zurich_day_start("2021-07-01"), Some(Timestamp(1_625_090_400_000)));
        assert_eq!(Timestamp::zurich_day_start("24.01.2021"), None);
    }

    #[test]
    fn summer_time_is_utc_plus_two() {
        // 2021-07-01 10:00:00 UTC
        assert_eq!(Timestamp(1_625_133_600_000).zurich().to_string(), "01.07.2021 12:00:00");
    }
}
