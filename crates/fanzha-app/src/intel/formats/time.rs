//! Timestamps in intel files: RFC 3339 (`2025-01-31T08:00:00Z`,
//! `2025-01-31T16:00:00.123+08:00`) and bare dates (`2025-01-31`,
//! `2025/01/31`).
//!
//! A bare date is a day in China Standard Time (UTC+8), the time zone of the
//! people who type them: as a start (`valid_from`) it means 00:00 of that day,
//! as an end (`valid_until`, 有效期至) it means the end of that day, i.e.
//! 00:00 of the next day. Exports always write full RFC 3339 timestamps in UTC
//! with milliseconds, so an export re-imports to the same instant.

use fanzha_core::Timestamp;
use fanzha_core::time::Date;

/// The offset of bare dates, in minutes east of UTC.
pub const DATE_OFFSET_MINUTES: i64 = 8 * 60;

const DAY_MS: i64 = 86_400_000;

/// Which end of a bare date is meant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DayEdge {
    Start,
    End,
}

/// Parses an RFC 3339 timestamp (also with a space instead of `T`, or a
/// `+0800` offset). Fractions beyond milliseconds are cut.
pub fn parse_rfc3339(s: &str) -> Option<Timestamp> {
    let b = s.trim().as_bytes();
    if b.len() < 20 {
        return None;
    }
    let date = parse_ymd(b.get(..10)?, b'-')?;
    if !matches!(b.get(10)?, b'T' | b't' | b' ') {
        return None;
    }
    let hh = two(b, 11)?;
    let mm = two(b, 14)?;
    let ss = two(b, 17)?;
    if b.get(13) != Some(&b':') || b.get(16) != Some(&b':') || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let mut i = 19;
    let mut ms = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            if i - start < 3 {
                ms = ms * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        let digits = i - start;
        if digits == 0 || digits > 12 {
            return None;
        }
        for _ in digits..3 {
            ms *= 10;
        }
    }
    let offset_min = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') => {
            let rest = b.get(i + 1..)?;
            let (oh, om) = match rest.len() {
                5 if rest[2] == b':' => (two(rest, 0)?, two(rest, 3)?),
                4 => (two(rest, 0)?, two(rest, 2)?),
                _ => return None,
            };
            if oh > 23 || om > 59 {
                return None;
            }
            let m = i64::from(oh) * 60 + i64::from(om);
            if *sign == b'-' { -m } else { m }
        }
        _ => return None,
    };
    // A leap second is folded into the second before it.
    let ss = ss.min(59);
    let secs = date.days_since_epoch() * 86_400 + i64::from(hh) * 3600 + i64::from(mm) * 60 + i64::from(ss)
        - offset_min * 60;
    Some(Timestamp(secs * 1000 + ms))
}

/// Parses a bare date (`YYYY-MM-DD` or `YYYY/MM/DD`) or an RFC 3339 timestamp.
pub fn parse_date_or_time(s: &str, edge: DayEdge) -> Option<Timestamp> {
    let t = s.trim();
    if t.len() == 10 {
        let b = t.as_bytes();
        let sep = *b.get(4)?;
        if !matches!(sep, b'-' | b'/') {
            return None;
        }
        let d = parse_ymd(b, sep)?;
        let start = d.days_since_epoch() * DAY_MS - DATE_OFFSET_MINUTES * 60_000;
        return Some(Timestamp(match edge {
            DayEdge::Start => start,
            DayEdge::End => start + DAY_MS,
        }));
    }
    parse_rfc3339(t)
}

/// `2025-01-31T08:00:00.000Z`.
pub fn format_rfc3339_millis(ts: Timestamp) -> String {
    let ms = ts.0.rem_euclid(1000);
    let secs = ts.0.div_euclid(1000);
    let day_secs = secs.rem_euclid(86_400);
    let date = Date::from_timestamp(ts);
    format!(
        "{date}T{:02}:{:02}:{:02}.{ms:03}Z",
        day_secs / 3600,
        (day_secs / 60) % 60,
        day_secs % 60
    )
}

fn parse_ymd(b: &[u8], sep: u8) -> Option<Date> {
    if b.len() != 10 || b[4] != sep || b[7] != sep {
        return None;
    }
    let year = digits(b.get(..4)?)?;
    let month = two(b, 5)?;
    let day = two(b, 8)?;
    if year == 0 {
        return None;
    }
    Date::new(year as i32, month, day)
}

fn two(b: &[u8], at: usize) -> Option<u8> {
    let d = digits(b.get(at..at + 2)?)?;
    u8::try_from(d).ok()
}

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_forms() {
        let t = parse_rfc3339("2025-01-31T08:00:00Z").unwrap();
        assert_eq!(format_rfc3339_millis(t), "2025-01-31T08:00:00.000Z");
        assert_eq!(
            parse_rfc3339("2025-01-31T16:00:00.123456+08:00"),
            Some(Timestamp(t.0 + 123))
        );
        assert_eq!(parse_rfc3339("2025-01-31 16:00:00+0800"), Some(t));
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59.999Z"), Some(Timestamp(-1)));
        for bad in [
            "2025-02-30T00:00:00Z",
            "2025-01-31T24:00:00Z",
            "2025-01-31T08:00:00",
            "2025-01-31T08:00:00.Z",
            "x",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn bare_dates_are_china_days() {
        let start = parse_date_or_time("2025-01-31", DayEdge::Start).unwrap();
        assert_eq!(format_rfc3339_millis(start), "2025-01-30T16:00:00.000Z");
        let end = parse_date_or_time("2025/01/31", DayEdge::End).unwrap();
        assert_eq!(format_rfc3339_millis(end), "2025-01-31T16:00:00.000Z");
        assert_eq!(parse_date_or_time("2025-13-01", DayEdge::Start), None);
    }

    #[test]
    fn format_round_trips() {
        for ms in [0i64, 1, 999, 1_700_000_000_123, -86_400_001, 253_402_300_799_999] {
            let s = format_rfc3339_millis(Timestamp(ms));
            assert_eq!(parse_rfc3339(&s), Some(Timestamp(ms)), "{s}");
        }
    }
}
