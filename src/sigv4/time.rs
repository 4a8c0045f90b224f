//! The signing timestamp: `SystemTime` to the `X-Amz-Date` form `20150830T123600Z`,
//! without a date library (Howard Hinnant's days-to-civil algorithm).
//!
//! This module only formats a time it is given; it never reads the clock.

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

use super::SignError;

thread_local! {
    /// The last (seconds since the epoch, formatted) pair [`AmzDate::new`] made on this
    /// thread. `u64::MAX` seconds is never formatted (it is past year 9999).
    static LAST: Cell<(u64, [u8; 16])> = const { Cell::new((u64::MAX, [0; 16])) };
}

/// A formatted signing time: `YYYYMMDDTHHMMSSZ`, all ASCII.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AmzDate([u8; 16]);

impl AmzDate {
    /// Formats `time` (UTC). Times before 1970 or after 9999 cannot be signed.
    pub(crate) fn new(time: SystemTime) -> Result<Self, SignError> {
        let secs = time
            .duration_since(UNIX_EPOCH)
            .map_err(|_| SignError::InvalidTime)?
            .as_secs();
        // A busy signer formats the same second many times over: reuse this
        // thread's last result.
        let (last_secs, last) = LAST.with(Cell::get);
        if last_secs == secs {
            return Ok(Self(last));
        }
        let date = Self::format(secs)?;
        LAST.with(|c| c.set((secs, date.0)));
        Ok(date)
    }

    /// Formats `secs` since the epoch.
    fn format(secs: u64) -> Result<Self, SignError> {
        let days = secs / 86_400;
        let rem = secs % 86_400;
        let (y, m, d) = civil_from_days(days);
        if y > 9999 {
            return Err(SignError::InvalidTime);
        }
        let (hh, mm, ss) = (rem / 3600, rem / 60 % 60, rem % 60);
        let [y0, y1] = two_digits(y / 100);
        let [y2, y3] = two_digits(y % 100);
        let [m0, m1] = two_digits(m);
        let [d0, d1] = two_digits(d);
        let [h0, h1] = two_digits(hh);
        let [i0, i1] = two_digits(mm);
        let [s0, s1] = two_digits(ss);
        Ok(Self([
            y0, y1, y2, y3, m0, m1, d0, d1, b'T', h0, h1, i0, i1, s0, s1, b'Z',
        ]))
    }

    /// `20150830T123600Z`.
    pub(crate) fn full(&self) -> &str {
        // Invariant: every byte was written from ASCII digits, 'T' or 'Z'.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// `20150830`.
    pub(crate) fn date(&self) -> &str {
        &self.full()[..8]
    }

    /// `20150830T123600Z` as bytes (no UTF-8 check).
    pub(crate) fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// `20150830` as bytes.
    pub(crate) fn date_bytes(&self) -> &[u8] {
        &self.0[..8]
    }
}

/// `v` (below 100) as two decimal digits; one table lookup instead of a division
/// per digit (this runs once per signature).
fn two_digits(v: u64) -> [u8; 2] {
    const TABLE: [[u8; 2]; 100] = {
        let mut t = [[0u8; 2]; 100];
        let mut i = 0;
        while i < 100 {
            // Both quotients are below 10: no truncation.
            t[i] = [b'0' + (i / 10) as u8, b'0' + (i % 10) as u8];
            i += 1;
        }
        t
    };
    // Callers pass values below 100 (year / 100 is below 100 for years up to 9999,
    // checked before); anything else would be a bug, shown as `??` rather than a panic.
    TABLE.get(v as usize).copied().unwrap_or([b'?'; 2])
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Parses `20150830T123600Z` or `2015-08-30T12:36:00Z` (as in the suite's
/// `context.json`) into a `SystemTime`. Used by the CLI and tests.
pub fn parse_timestamp(s: &str) -> Option<SystemTime> {
    let digits: Vec<u8> = s.bytes().filter(|b| !matches!(b, b'-' | b':')).collect();
    if digits.len() != 16 || digits[8] != b'T' || digits[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u64> {
        digits[r].iter().try_fold(0u64, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u64::from(c - b'0'))
        })
    };
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, se) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1970..=9999).contains(&y)
        || !(1..=12).contains(&mo)
        || d == 0
        || d > days_in_month(y, mo)
        || h > 23
        || mi > 59
        || se > 60
    {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    Some(UNIX_EPOCH + std::time::Duration::from_secs(days * 86_400 + h * 3600 + mi * 60 + se))
}

fn days_in_month(y: u64, m: u64) -> u64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// (year, month, day) to days since 1970-01-01; `y >= 1970`.
fn days_from_civil(y: u64, m: u64, d: u64) -> u64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests: a panic is the failure report.
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_suite_time() {
        let t = UNIX_EPOCH + Duration::from_secs(1_440_938_160);
        let d = AmzDate::new(t).unwrap();
        assert_eq!(d.full(), "20150830T123600Z");
        assert_eq!(d.date(), "20150830");
    }

    #[test]
    fn per_thread_reuse_is_per_second() {
        let t = UNIX_EPOCH + Duration::from_secs(1_440_938_160);
        assert_eq!(AmzDate::new(t).unwrap().full(), "20150830T123600Z");
        // Same second (sub-second part differs): the reused value is still right.
        let same = t + Duration::from_millis(999);
        assert_eq!(AmzDate::new(same).unwrap().full(), "20150830T123600Z");
        let next = t + Duration::from_secs(1);
        assert_eq!(AmzDate::new(next).unwrap().full(), "20150830T123601Z");
        assert_eq!(AmzDate::new(t).unwrap().full(), "20150830T123600Z");
    }

    #[test]
    fn formats_epoch_and_leap_day() {
        assert_eq!(AmzDate::new(UNIX_EPOCH).unwrap().full(), "19700101T000000Z");
        let t = parse_timestamp("20240229T235959Z").unwrap();
        assert_eq!(AmzDate::new(t).unwrap().full(), "20240229T235959Z");
    }

    #[test]
    fn parse_round_trips_every_day_for_years() {
        let mut t = parse_timestamp("1999-12-25T01:02:03Z").unwrap();
        for _ in 0..4000 {
            let s = AmzDate::new(t).unwrap();
            assert_eq!(parse_timestamp(s.full()), Some(t));
            t += Duration::from_secs(86_400 + 7);
        }
    }

    #[test]
    fn rejects_bad_timestamps() {
        for bad in [
            "",
            "2015-08-30",
            "20150230T000000Z",
            "20151330T000000Z",
            "2015083OT123600Z",
            "19690101T000000Z",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
        assert!(AmzDate::new(UNIX_EPOCH - Duration::from_secs(1)).is_err());
    }
}
