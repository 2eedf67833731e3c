//! Instants as the audit log writes them: RFC 3339 in UTC with
//! milliseconds (`2026-12-05T02:10:07.123Z`), and back.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use segdb_storage_format::date::{civil_from_day, day_from_civil};

/// Milliseconds since the Unix epoch of `t` (0 before it).
pub fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis() as i64
}

/// `ms` (since the epoch) as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn format_ms(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rest = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_day(days as i32);
    let (h, min, s, milli) = (
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1000 % 60,
        rest % 1000,
    );
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{milli:03}Z")
}

/// Parses an RFC 3339 instant (`2026-12-05T02:10:07Z`, with optional
/// fractional seconds and a `Z` or `±HH:MM` offset) or a day
/// (`2026-12-05`, its midnight UTC) into ms since the epoch.
pub fn parse(text: &str) -> Option<i64> {
    let t = text.trim();
    if t.len() == 10 {
        let day = segdb_storage_format::date::parse_iso_day(t)?;
        return Some(i64::from(day) * 86_400_000);
    }
    let (date, time) = t.split_once(['T', 't', ' '])?;
    let day = segdb_storage_format::date::parse_iso_day(date)?;
    let (clock, offset_ms) = if let Some(c) = time.strip_suffix(['Z', 'z']) {
        (c, 0)
    } else {
        let at = time.rfind(['+', '-'])?;
        let (c, off) = time.split_at(at);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (oh, om) = off[1..].split_once(':')?;
        let (oh, om): (i64, i64) = (two_digits(oh)?, two_digits(om)?);
        if oh > 23 || om > 59 {
            return None;
        }
        (c, sign * (oh * 60 + om) * 60_000)
    };
    let (hms, frac) = match clock.split_once('.') {
        Some((a, f)) => (a, Some(f)),
        None => (clock, None),
    };
    let mut parts = hms.split(':');
    let h = two_digits(parts.next()?)?;
    let m = two_digits(parts.next()?)?;
    let s = two_digits(parts.next()?)?;
    if parts.next().is_some() || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let milli = match frac {
        None => 0,
        Some(f) if !f.is_empty() && f.len() <= 9 && f.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{f:0<3}")[..3].parse::<i64>().ok()?
        }
        Some(_) => return None,
    };
    let days = i64::from(day);
    Some(days * 86_400_000 + ((h * 60 + m) * 60 + s) * 1000 + milli - offset_ms)
}

fn two_digits(s: &str) -> Option<i64> {
    (s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// The day of `year-month-day` as ms since the epoch (for tests).
#[doc(hidden)]
pub fn day_ms(year: i32, month: u32, day: u32) -> Option<i64> {
    day_from_civil(year, month, day).map(|d| i64::from(d) * 86_400_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_format_and_parse_back() {
        let ms = day_ms(2026, 12, 5).unwrap() + 2 * 3_600_000 + 10 * 60_000 + 7_123;
        assert_eq!(format_ms(ms), "2026-12-05T02:10:07.123Z");
        assert_eq!(parse("2026-12-05T02:10:07.123Z"), Some(ms));
        assert_eq!(parse("2026-12-05T03:10:07.123+01:00"), Some(ms));
        assert_eq!(parse("2026-12-05T02:10:07Z"), Some(ms - 123));
        assert_eq!(parse("2026-12-05"), day_ms(2026, 12, 5));
        for bad in [
            "",
            "yesterday",
            "2026-12-05T25:00:00Z",
            "2026-13-01",
            "2026-12-05T02:10Z",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
