//! Service-centre time stamps (TS 23.040 §9.2.3.11): local time of the centre and its offset from UTC.

use super::{PduError, Reader};

/// A time stamp as the network sends it: the centre's local time and its offset in quarters of an hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timestamp {
    pub year: u16,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    /// Offset from UTC in quarters of an hour (+8 is UTC+2, Swiss summer time).
    pub offset_quarters: i8,
}

impl Timestamp {
    /// The instant in seconds since the Unix epoch (UTC).
    pub fn unix_seconds(&self) -> i64 {
        let days = days_from_civil(i64::from(self.year), i64::from(self.month), i64::from(self.day));
        let local = days * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second);
        local - i64::from(self.offset_quarters) * 15 * 60
    }

    /// The time stamp of a UTC instant, shown with the given offset.
    pub fn from_unix_seconds(secs: i64, offset_quarters: i8) -> Self {
        let local = secs + i64::from(offset_quarters) * 15 * 60;
        let (days, rem) = (local.div_euclid(86_400), local.rem_euclid(86_400));
        let (y, m, d) = civil_from_days(days);
        Self {
            year: y as u16,
            month: m as u8,
            day: d as u8,
            hour: (rem / 3600) as u8,
            minute: (rem / 60 % 60) as u8,
            second: (rem % 60) as u8,
            offset_quarters,
        }
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, PduError> {
        Self::from_octets(r.take(7)?)
    }

    /// The time stamp in these seven octets (semi-octets, time zone last).
    pub(crate) fn from_octets(b: &[u8]) -> Result<Self, PduError> {
        let b: &[u8; 7] = b.try_into().map_err(|_| PduError::Truncated)?;
        let bcd = |x: u8| -> Result<u8, PduError> {
            let (lo, hi) = (x & 0x0F, x >> 4);
            if lo > 9 || hi > 9 { Err(PduError::InvalidTimestamp) } else { Ok(lo * 10 + hi) }
        };
        let yy = bcd(b[0])?;
        let t = Self {
            // Two-digit years: 90–99 are the 1990s (the earliest GSM networks), the rest this century.
            year: if yy >= 90 { 1900 + u16::from(yy) } else { 2000 + u16::from(yy) },
            month: bcd(b[1])?,
            day: bcd(b[2])?,
            hour: bcd(b[3])?,
            minute: bcd(b[4])?,
            second: bcd(b[5])?,
            offset_quarters: {
                let (lo, hi) = (b[6] & 0x07, b[6] >> 4);
                if hi > 9 {
                    return Err(PduError::InvalidTimestamp);
                }
                let q = (lo * 10 + hi) as i8;
                if b[6] & 0x08 != 0 { -q } else { q }
            },
        };
        let valid = (1..=12).contains(&t.month)
            && (1..=31).contains(&t.day)
            && t.hour < 24
            && t.minute < 60
            && t.second < 60
            && t.offset_quarters.abs() <= 56;
        if valid { Ok(t) } else { Err(PduError::InvalidTimestamp) }
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        let swap = |v: u8| (v % 10) << 4 | (v / 10);
        out.push(swap((self.year % 100) as u8));
        out.extend([self.month, self.day, self.hour, self.minute, self.second].map(swap));
        let q = self.offset_quarters.unsigned_abs();
        let sign = if self.offset_quarters < 0 { 0x08 } else { 0 };
        out.push((q % 10) << 4 | (q / 10) | sign);
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swiss_winter_and_summer_offsets_round_trip() {
        for (secs, q) in [(1_611_508_691, 4), (1_625_133_600, 8), (946_684_800, -20), (1_700_000_000, 0)] {
            let t = Timestamp::from_unix_seconds(secs, q);
            let mut v = Vec::new();
            t.encode(&mut v);
            let back = Timestamp::decode(&mut Reader::new(&v)).unwrap();
            assert_eq!(back, t);
            assert_eq!(back.unix_seconds(), secs);
        }
    }

    #[test]
    fn the_reference_time_stamp_decodes() {
        // 99-03-29 15:16:59, UTC+2 (the time stamp of the well-known "hellohello" SMS-DELIVER).
        let t = Timestamp::decode(&mut Reader::new(&[0x99, 0x30, 0x92, 0x51, 0x61, 0x95, 0x80])).unwrap();
        assert_eq!((t.year, t.month, t.day, t.hour, t.minute, t.second), (1999, 3, 29, 15, 16, 59));
        assert_eq!(t.offset_quarters, 8);
        assert_eq!(t.unix_seconds(), 922_713_419);
    }

    #[test]
    fn nonsense_is_refused() {
        assert!(Timestamp::decode(&mut Reader::new(&[0x99, 0x30, 0x92, 0x51, 0x61, 0x9F, 0x80])).is_err());
        assert!(Timestamp::decode(&mut Reader::new(&[0x99, 0x00, 0x92, 0x51, 0x61, 0x95, 0x80])).is_err());
        assert!(Timestamp::decode(&mut Reader::new(&[0x99])).is_err());
    }
}
