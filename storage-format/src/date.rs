//! Calendar days as day numbers since 1970-01-01 (UTC), with ISO-8601
//! (`YYYY-MM-DD`) conversion. Howard Hinnant's civil-date algorithms.

/// A day number: days since 1970-01-01.
pub type Day = i32;

/// The day number of a proleptic Gregorian date, or `None` if the month or
/// day is out of range.
pub fn day_from_civil(year: i32, month: u32, day: u32) -> Option<Day> {
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    i32::try_from(era * 146_097 + doe - 719_468).ok()
}

/// The (year, month, day) of a day number.
pub fn civil_from_day(day: Day) -> (i32, u32, u32) {
    let z = i64::from(day) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = (yoe + era * 400 + i64::from(m <= 2)) as i32;
    (y, m, d)
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// Parses `YYYY-MM-DD` (exactly; four-digit year) into a day number.
pub fn parse_iso_day(s: &str) -> Option<Day> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let mut v = 0u32;
        for &c in &b[r] {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u32::from(c - b'0');
        }
        Some(v)
    };
    day_from_civil(num(0..4)? as i32, num(5..7)?, num(8..10)?)
}

/// Formats a day number as `YYYY-MM-DD`.
pub fn format_iso_day(day: Day) -> String {
    let (y, m, d) = civil_from_day(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Today's day number on the system clock (UTC).
pub fn today() -> Day {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    (secs / 86_400) as Day
}

/// `HH:MM` as minutes after midnight.
pub fn parse_hh_mm(text: &str) -> Option<u32> {
    let b = text.as_bytes();
    if b.len() != 5 || b[2] != b':' {
        return None;
    }
    let h: u32 = digits(&text[0..2])?;
    let m: u32 = digits(&text[3..5])?;
    (h < 24 && m < 60).then_some(h * 60 + m)
}

fn digits(s: &str) -> Option<u32> {
    s.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| s.parse().ok())?
}

/// An RFC 3339 time (`2026-12-24T09:00:00Z`, `…T09:00:00.5+01:00`) as
/// seconds since 1970-01-01 UTC; on error, the byte span at fault.
pub fn parse_rfc3339(text: &str) -> Result<i64, (usize, usize)> {
    let b = text.as_bytes();
    let bad = |s: usize, e: usize| Err((s.min(text.len()), e.min(text.len())));
    if b.len() < 20 {
        return bad(0, text.len());
    }
    let sep = |i: usize, c: &[u8]| c.contains(&b[i]);
    if !sep(4, b"-") || !sep(7, b"-") || !sep(10, b"Tt ") || !sep(13, b":") || !sep(16, b":") {
        return bad(0, 19);
    }
    let num = |s: usize, e: usize| text.get(s..e).and_then(digits);
    let (Some(y), Some(mo), Some(d)) = (num(0, 4), num(5, 7), num(8, 10)) else {
        return bad(0, 10);
    };
    let Some(day) = day_from_civil(y as i32, mo, d) else {
        return bad(0, 10);
    };
    let (Some(h), Some(mi), Some(s)) = (num(11, 13), num(14, 16), num(17, 19)) else {
        return bad(11, 19);
    };
    if h > 23 || mi > 59 || s > 60 {
        return bad(11, 19);
    }
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        let start = i;
        i += 1;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start + 1 {
            return bad(start, i);
        }
    }
    let offset_secs: i64 = match &text[i..] {
        "Z" | "z" => 0,
        tz if tz.len() == 6 && (tz.starts_with('+') || tz.starts_with('-')) => {
            let Some(m) = parse_hh_mm(&tz[1..]) else {
                return bad(i, text.len());
            };
            let secs = i64::from(m) * 60;
            if tz.starts_with('-') {
                -secs
            } else {
                secs
            }
        }
        _ => return bad(i, text.len()),
    };
    let secs = i64::from(day) * 86_400 + i64::from(h * 3600 + mi * 60 + s.min(59));
    Ok(secs - offset_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_days() {
        assert_eq!(day_from_civil(1970, 1, 1), Some(0));
        assert_eq!(parse_iso_day("2026-11-22"), Some(20_779));
        assert_eq!(format_iso_day(20_779), "2026-11-22");
        assert_eq!(parse_iso_day("2026-10-24"), Some(20_750));
        assert_eq!(
            parse_iso_day("2024-02-29").map(format_iso_day).as_deref(),
            Some("2024-02-29")
        );
        assert_eq!(parse_iso_day("2026-02-29"), None);
        assert_eq!(parse_iso_day("2026-13-01"), None);
        assert_eq!(parse_iso_day("2026-1-01"), None);
        assert_eq!(parse_iso_day("1969-12-31"), Some(-1));
    }

    #[test]
    fn round_trip_every_day_of_four_centuries() {
        for d in -150_000..150_000 {
            let (y, m, dd) = civil_from_day(d);
            assert_eq!(day_from_civil(y, m, dd), Some(d));
        }
    }
}
