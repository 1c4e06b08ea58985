//! Reading PostgreSQL values out of the text SQLite stores, as PostgreSQL's input functions read it:
//! booleans (`boolin`), UUIDs (`uuid_in`), ISO-8601 dates and date-times with zones, times of day,
//! and intervals as PostgreSQL and DuckDB print them. Used by [`crate::sqlite::convert`] and by type
//! inference ([`crate::migrate::infer`]), which calls [`scan_datetime`] for every value it looks at.

use crate::postgres::codec::conversion::{days_from_civil, MICROS_PER_DAY};

/// `boolin`'s words for true and false, any case, around whitespace.
pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "t" | "true" | "y" | "yes" | "on" | "1" => Some(true),
        "f" | "false" | "n" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// 36-character hyphenated or 32-digit UUID text (any case, optional braces).
pub fn parse_uuid(s: &str) -> Option<[u8; 16]> {
    // The common case first: exactly `8-4-4-4-12` hex digits, nothing around them.
    if let Some(u) = uuid_hyphenated(s.as_bytes()) {
        return Some(u);
    }
    parse_uuid_any(s)
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` exactly (either case), without branches per digit.
fn uuid_hyphenated(b: &[u8]) -> Option<[u8; 16]> {
    const fn table() -> [u8; 256] {
        let mut t = [0x80u8; 256];
        let mut c = 0;
        while c < 256 {
            t[c] = match c as u8 {
                d @ b'0'..=b'9' => d - b'0',
                d @ b'a'..=b'f' => d - b'a' + 10,
                d @ b'A'..=b'F' => d - b'A' + 10,
                _ => 0x80,
            };
            c += 1;
        }
        t
    }
    static HEX_VALUE: [u8; 256] = table();
    const AT: [usize; 16] = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
    let b: &[u8; 36] = b.try_into().ok()?;
    if b[8] != b'-' || b[13] != b'-' || b[18] != b'-' || b[23] != b'-' {
        return None;
    }
    let mut out = [0u8; 16];
    let mut bad = 0u8;
    for (o, &p) in out.iter_mut().zip(AT.iter()) {
        let (h, l) = (HEX_VALUE[b[p] as usize], HEX_VALUE[b[p + 1] as usize]);
        bad |= h | l;
        *o = (h << 4) | l;
    }
    (bad & 0x80 == 0).then_some(out)
}

/// Every form `uuid_in` takes: hyphenated or 32 digits, in braces or not, around whitespace.
fn parse_uuid_any(s: &str) -> Option<[u8; 16]> {
    let t = s.trim();
    let t = t
        .strip_prefix('{')
        .and_then(|x| x.strip_suffix('}'))
        .unwrap_or(t);
    let b = t.as_bytes();
    match b.len() {
        36 => {
            if b[8] != b'-' || b[13] != b'-' || b[18] != b'-' || b[23] != b'-' {
                return None;
            }
        }
        32 => {}
        _ => return None,
    }
    let mut out = [0u8; 16];
    let mut k = 0;
    let mut hi: Option<u8> = None;
    for (i, &c) in b.iter().enumerate() {
        if b.len() == 36 && matches!(i, 8 | 13 | 18 | 23) {
            continue;
        }
        let v = hex_val(c)?;
        match hi.take() {
            None => hi = Some(v),
            Some(h) => {
                out[k] = (h << 4) | v;
                k += 1;
            }
        }
    }
    (k == 16).then_some(out)
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// `Some(true)` for `infinity`, `Some(false)` for `-infinity`.
pub(crate) fn special_infinity(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "infinity" | "+infinity" => Some(true),
        "-infinity" => Some(false),
        _ => None,
    }
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 {
                29
            } else {
                28
            }
        }
    }
}

/// An ISO-8601 date or date-time as text holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTimeText {
    /// Days since 1970-01-01.
    pub days: i64,
    /// Microseconds since midnight (0 for a date alone).
    pub micros: i64,
    pub has_time: bool,
    /// Zone offset in seconds east of UTC, when written (`Z` = 0).
    pub offset: Option<i32>,
}

/// Why text is not a date/time (no allocation: inference calls this for every value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateTimeError {
    /// Not of the form `YYYY-MM-DD[ HH:MM[:SS[.f]]][zone]`.
    Format,
    /// The form is right but the day does not exist (`2026-02-30`).
    Calendar,
}

/// Parse `YYYY-MM-DD`, optionally followed by ` ` or `T` and `HH:MM[:SS[.fraction]]`, optionally
/// followed by a zone (`Z`, `UTC`, `±HH`, `±HHMM`, `±HH:MM[:SS]`). Fractions beyond microseconds
/// are rounded (half to even, as PostgreSQL).
pub fn parse_datetime(s: &str) -> std::result::Result<DateTimeText, String> {
    scan_datetime(s).map_err(|e| match e {
        DateTimeError::Format => format!(
            "not an ISO-8601 date/time (YYYY-MM-DD[ HH:MM:SS[.ffffff]][+HH:MM]): {:?}",
            s.trim()
        ),
        DateTimeError::Calendar => format!("{:?} is not a valid calendar date", s.trim()),
    })
}

/// [`parse_datetime`] without building an error message.
pub fn scan_datetime(s: &str) -> std::result::Result<DateTimeText, DateTimeError> {
    use DateTimeError::{Calendar, Format};
    let t = s.trim();
    let b = t.as_bytes();
    let mut i = 0;
    let year_len = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if !(4..=6).contains(&year_len) {
        return Err(Format);
    }
    let year: i64 = t[..year_len].parse().map_err(|_| Format)?;
    i += year_len;
    let num = |i: &mut usize, min: usize, max: usize| -> Option<u32> {
        let n = b[*i..]
            .iter()
            .take(max)
            .take_while(|c| c.is_ascii_digit())
            .count();
        if n < min {
            return None;
        }
        let v = t[*i..*i + n].parse().ok()?;
        *i += n;
        Some(v)
    };
    if b.get(i) != Some(&b'-') {
        return Err(Format);
    }
    i += 1;
    let month = num(&mut i, 1, 2).ok_or(Format)?;
    if b.get(i) != Some(&b'-') {
        return Err(Format);
    }
    i += 1;
    let day = num(&mut i, 1, 2).ok_or(Format)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err(Calendar);
    }
    let days = days_from_civil(year, month, day);
    if i == b.len() {
        return Ok(DateTimeText {
            days,
            micros: 0,
            has_time: false,
            offset: None,
        });
    }
    match b[i] {
        b' ' | b'T' | b't' => i += 1,
        _ => return Err(Format),
    }
    let (micros, used) = parse_clock(&t[i..]).ok_or(Format)?;
    i += used;
    let rest = t[i..].trim_start();
    let offset = if rest.is_empty() {
        None
    } else {
        Some(parse_zone(rest).ok_or(Format)?)
    };
    Ok(DateTimeText {
        days,
        micros,
        has_time: true,
        offset,
    })
}

/// `HH:MM[:SS[.fraction]]` at the start of `s`: (microseconds since midnight, bytes used).
/// `24:00:00` is allowed (as in PostgreSQL).
fn parse_clock(s: &str) -> Option<(i64, usize)> {
    let b = s.as_bytes();
    let two = |i: usize| -> Option<i64> {
        let d = b.get(i..i + 2)?;
        if d.iter().all(u8::is_ascii_digit) {
            Some(i64::from(d[0] - b'0') * 10 + i64::from(d[1] - b'0'))
        } else {
            None
        }
    };
    let h = two(0)?;
    if b.get(2) != Some(&b':') {
        return None;
    }
    let m = two(3)?;
    let mut i = 5;
    let mut sec = 0;
    let mut frac = 0i64;
    if b.get(i) == Some(&b':') {
        sec = two(i + 1)?;
        i += 3;
        if b.get(i) == Some(&b'.') || b.get(i) == Some(&b',') {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i == start {
                return None;
            }
            frac = round_fraction_to_micros(&s[start..i]);
        }
    }
    if m > 59 || sec > 59 || h > 24 || (h == 24 && (m > 0 || sec > 0 || frac > 0)) {
        return None;
    }
    Some((((h * 60 + m) * 60 + sec) * 1_000_000 + frac, i))
}

/// Digits after the point -> microseconds, rounding half to even past the sixth digit.
fn round_fraction_to_micros(digits: &str) -> i64 {
    let d = digits.as_bytes();
    let mut micros = 0i64;
    for k in 0..6 {
        micros = micros * 10 + d.get(k).map_or(0, |c| i64::from(c - b'0'));
    }
    if d.len() > 6 {
        let next = d[6] - b'0';
        let rest_nonzero = d[7..].iter().any(|&c| c != b'0');
        if next > 5 || (next == 5 && (rest_nonzero || micros % 2 == 1)) {
            micros += 1;
        }
    }
    micros
}

/// A zone suffix: `Z`, `UTC`, `GMT`, `±HH`, `±HHMM`, `±HH:MM`, `±HH:MM:SS` -> seconds east of UTC.
fn parse_zone(z: &str) -> Option<i32> {
    let z = z.trim();
    if z.eq_ignore_ascii_case("z") || z.eq_ignore_ascii_case("utc") || z.eq_ignore_ascii_case("gmt")
    {
        return Some(0);
    }
    let b = z.as_bytes();
    let sign = match b.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits: Vec<u8> = b[1..].iter().copied().filter(|&c| c != b':').collect();
    if !digits.iter().all(u8::is_ascii_digit) || b[1..].iter().filter(|&&c| c == b':').count() > 2 {
        return None;
    }
    let n = |k: usize| i32::from(digits[k] - b'0') * 10 + i32::from(digits[k + 1] - b'0');
    let (h, m, s) = match digits.len() {
        1 => (i32::from(digits[0] - b'0'), 0, 0),
        2 => (n(0), 0, 0),
        4 => (n(0), n(2), 0),
        6 => (n(0), n(2), n(4)),
        _ => return None,
    };
    if h > 15 || m > 59 || s > 59 {
        return None;
    }
    Some(sign * (h * 3600 + m * 60 + s))
}

/// `HH:MM[:SS[.f]]` with an optional zone (only when `with_zone`).
pub(crate) fn parse_time(
    s: &str,
    with_zone: bool,
) -> std::result::Result<(i64, Option<i32>), String> {
    let t = s.trim();
    let bad = || {
        format!(
            "not a time of day (HH:MM[:SS[.ffffff]]{}): {t:?}",
            if with_zone { "[+HH:MM]" } else { "" }
        )
    };
    let (micros, used) = parse_clock(t).ok_or_else(bad)?;
    let rest = t[used..].trim_start();
    if rest.is_empty() {
        return Ok((micros, None));
    }
    if !with_zone {
        return Err(bad());
    }
    Ok((micros, Some(parse_zone(rest).ok_or_else(bad)?)))
}

/// Parse interval text as PostgreSQL and DuckDB print it: `1 year 2 mons 3 days 04:05:06.5`,
/// `3 months`, `-1 days -02:00:00`, `00:00:01.5`, `2 weeks`, `1.5 hours`, `... ago`. Returns
/// (months, days, microseconds).
pub fn parse_interval(s: &str) -> std::result::Result<(i32, i32, i64), String> {
    let t = s.trim();
    let bad = |why: &str| format!("not an interval ({why}): {t:?}");
    let mut months: f64 = 0.0;
    let mut days: f64 = 0.0;
    let mut micros: i128 = 0;
    let mut tokens = t.split_whitespace().peekable();
    let mut any = false;
    let mut ago = false;
    let t0 = tokens.peek().copied();
    if t0 == Some("@") {
        tokens.next();
    }
    while let Some(tok) = tokens.next() {
        if tok.eq_ignore_ascii_case("ago") {
            ago = true;
            continue;
        }
        if tok.contains(':') {
            let (neg, body) = match tok.as_bytes()[0] {
                b'-' => (true, &tok[1..]),
                b'+' => (false, &tok[1..]),
                _ => (false, tok),
            };
            let parts: Vec<&str> = body.split(':').collect();
            if parts.len() < 2 || parts.len() > 3 {
                return Err(bad("time part must be H:MM[:SS]"));
            }
            let h: i128 = parts[0].parse().map_err(|_| bad("hours"))?;
            let m: i128 = parts[1].parse().map_err(|_| bad("minutes"))?;
            let (sec, frac) = match parts.get(2) {
                Some(p) => {
                    let (a, f) = p.split_once('.').unwrap_or((p, ""));
                    let sec: i128 = a.parse().map_err(|_| bad("seconds"))?;
                    if !f.bytes().all(|c| c.is_ascii_digit()) {
                        return Err(bad("seconds"));
                    }
                    (sec, i128::from(round_fraction_to_micros(f)))
                }
                None => (0, 0),
            };
            if m > 59 || sec > 59 {
                return Err(bad("minutes and seconds must be below 60"));
            }
            let total = ((h * 60 + m) * 60 + sec) * 1_000_000 + frac;
            micros += if neg { -total } else { total };
            any = true;
            continue;
        }
        // A number, then its unit (separate token, or attached: `3d`).
        let split = tok
            .find(|c: char| c.is_ascii_alphabetic())
            .unwrap_or(tok.len());
        let (num_text, unit_attached) = tok.split_at(split);
        let unit = if unit_attached.is_empty() {
            tokens
                .next()
                .ok_or_else(|| bad("a number without a unit"))?
        } else {
            unit_attached
        };
        let n: f64 = num_text.parse().map_err(|_| bad("expected a number"))?;
        let exact = num_text.parse::<i128>().ok();
        let unit_l = unit.to_ascii_lowercase();
        let per_micros: Option<i128> = match unit_l.as_str() {
            "microsecond" | "microseconds" | "us" | "usec" | "usecs" => Some(1),
            "millisecond" | "milliseconds" | "ms" | "msec" | "msecs" => Some(1_000),
            "second" | "seconds" | "sec" | "secs" | "s" => Some(1_000_000),
            "minute" | "minutes" | "min" | "mins" | "m" => Some(60_000_000),
            "hour" | "hours" | "hr" | "hrs" | "h" => Some(3_600_000_000),
            _ => None,
        };
        if let Some(per) = per_micros {
            micros += match exact {
                Some(k) => k * per,
                None => (n * per as f64).round() as i128,
            };
        } else {
            match unit_l.as_str() {
                "day" | "days" | "d" => days += n,
                "week" | "weeks" | "w" => days += n * 7.0,
                "month" | "months" | "mon" | "mons" => months += n,
                "year" | "years" | "y" | "yr" | "yrs" => months += n * 12.0,
                "decade" | "decades" => months += n * 120.0,
                "century" | "centuries" => months += n * 1200.0,
                "millennium" | "millennia" | "millenniums" => months += n * 12000.0,
                _ => return Err(bad(&format!("unknown unit {unit:?}"))),
            }
        }
        any = true;
    }
    if !any {
        return Err(bad("empty"));
    }
    // Fractions cascade down as PostgreSQL does: a month is 30 days, a day 24 hours.
    let whole_months = months.trunc();
    days += (months - whole_months) * 30.0;
    let whole_days = days.trunc();
    micros += ((days - whole_days) * MICROS_PER_DAY as f64).round() as i128;
    let sign: i128 = if ago { -1 } else { 1 };
    let months =
        i32::try_from(sign as i64 * whole_months as i64).map_err(|_| bad("out of range"))?;
    let days = i32::try_from(sign as i64 * whole_days as i64).map_err(|_| bad("out of range"))?;
    let micros = i64::try_from(sign * micros).map_err(|_| bad("out of range"))?;
    Ok((months, days, micros))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_as_postgres_and_duckdb_print_them() {
        let iv = |s: &str| parse_interval(s).unwrap();
        assert_eq!(iv("1 day 02:00:00"), (0, 1, 7_200_000_000));
        assert_eq!(iv("3 months"), (3, 0, 0));
        assert_eq!(iv("00:00:01.5"), (0, 0, 1_500_000));
        assert_eq!(
            iv("1 year 2 mons 3 days 04:05:06.789"),
            (14, 3, 14_706_789_000)
        );
        assert_eq!(iv("-1 days -02:00:00"), (0, -1, -7_200_000_000));
        assert_eq!(iv("2 weeks"), (0, 14, 0));
        assert_eq!(iv("1.5 days"), (0, 1, 43_200_000_000));
        assert_eq!(iv("1 day ago"), (0, -1, 0));
        assert_eq!(iv("90 minutes"), (0, 0, 5_400_000_000));
        assert_eq!(iv("-00:00:01.5"), (0, 0, -1_500_000));
        assert!(parse_interval("soon").is_err());
        assert!(parse_interval("3").is_err());
    }

    #[test]
    fn uuid_fast_path_agrees() {
        let forms = [
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1g",
            "a0eebc99-9c0b-4ef8-bb6d_6bb9bd380a11",
            "a0eebc999c0b4ef8bb6d6bb9bd380a11",
            "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}",
            " a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11 ",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1",
            "g0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1é",
            "",
        ];
        for f in forms {
            assert_eq!(parse_uuid(f), parse_uuid_any(f), "{f}");
            if let Some(u) = uuid_hyphenated(f.as_bytes()) {
                assert_eq!(Some(u), parse_uuid_any(f), "{f}");
            }
        }
        assert!(parse_uuid("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11").is_some());
    }
}
