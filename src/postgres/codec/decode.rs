//! Byte parsing of PostgreSQL's binary value formats (what the `*_send` functions in
//! `src/backend/utils/adt/` write) into DuckDB's physical values: fixed widths, NUMERIC, dates and
//! times, intervals, UTF-8, length-prefixed fields. The counterpart of DuckDB's postgres extension
//! `postgres_binary_parser.hpp`; [`crate::postgres::copy_out`] drives it value by value.

use super::conversion::{
    civil_from_days, MICROS_PER_DAY, NUMERIC_DSCALE_MASK, NUMERIC_NAN, NUMERIC_NEG, NUMERIC_NINF,
    NUMERIC_PINF, NUMERIC_POS, PG_EPOCH_DAYS, PG_EPOCH_MICROS,
};
use crate::error::{Error, Result};
use crate::types::batch::DuckInterval;
use crate::types::DuckType;

/// DuckDB's earliest finite timestamp, 290309-12-22 (BC) 00:00:00; its latest is `i64::MAX - 1`.
const DUCK_MIN_TIMESTAMP: i64 = -9_223_372_022_400_000_000;
/// DuckDB's `dtime_tz_t`: 40 bits of micros above 24 bits of biased offset; offsets within ±15:59:59.
const TIMETZ_OFFSET_BITS: u32 = 24;
const TIMETZ_MAX_OFFSET: i32 = 16 * 60 * 60 - 1;

const HINT_VARCHAR: &str = "; read the column as VARCHAR (cast it to text) to keep such values";

/// 10^0 ..= 10^38.
const POW10: [i128; 39] = {
    let mut t = [1i128; 39];
    let mut i = 1;
    while i < 39 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// A numeric value as `numeric_send` writes it.
pub(crate) struct PgNumeric<'a> {
    weight: i16,
    sign: u16,
    dscale: u16,
    /// Base-10000 digits, big-endian u16 each, all checked to be < 10000.
    digits: &'a [u8],
}

impl<'a> PgNumeric<'a> {
    pub(crate) fn parse(v: &'a [u8], column: &str) -> Result<PgNumeric<'a>> {
        let err = |reason: String| decode_error(column, "numeric", reason);
        let head = v
            .get(..8)
            .ok_or_else(|| err(format!("{} bytes, too short for a numeric", v.len())))?;
        let ndigits = i16::from_be_bytes([head[0], head[1]]);
        let weight = i16::from_be_bytes([head[2], head[3]]);
        let sign = u16::from_be_bytes([head[4], head[5]]);
        let dscale = u16::from_be_bytes([head[6], head[7]]);
        let ndigits =
            usize::try_from(ndigits).map_err(|_| err(format!("negative digit count {ndigits}")))?;
        if v.len() != 8 + 2 * ndigits {
            return Err(err(format!(
                "{} bytes for {ndigits} digits (expected {})",
                v.len(),
                8 + 2 * ndigits
            )));
        }
        if !matches!(
            sign,
            NUMERIC_POS | NUMERIC_NEG | NUMERIC_NAN | NUMERIC_PINF | NUMERIC_NINF
        ) {
            return Err(err(format!("unknown sign 0x{sign:04x}")));
        }
        if dscale & !NUMERIC_DSCALE_MASK != 0 {
            return Err(err(format!("display scale {dscale} out of range")));
        }
        let digits = &v[8..];
        if digits
            .chunks_exact(2)
            .any(|d| u16::from_be_bytes([d[0], d[1]]) >= 10_000)
        {
            return Err(err("a base-10000 digit is 10000 or more".into()));
        }
        Ok(PgNumeric {
            weight,
            sign,
            dscale,
            digits,
        })
    }

    fn ndigits(&self) -> usize {
        self.digits.len() / 2
    }

    /// Digit `i` (0 = the one of weight `weight`); zero outside the stored digits.
    fn digit(&self, i: i64) -> u16 {
        usize::try_from(i)
            .ok()
            .and_then(|i| self.digits.get(2 * i..2 * i + 2))
            .map_or(0, |d| u16::from_be_bytes([d[0], d[1]]))
    }

    /// The value times 10^scale, exactly, if |that| < 10^width.
    pub(crate) fn to_decimal(&self, width: u8, scale: u8, column: &str) -> Result<i128> {
        let unrepresentable = |hint: &str| self.unrepresentable(width, scale, column, hint);
        match self.sign {
            NUMERIC_POS | NUMERIC_NEG => {}
            _ => return Err(unrepresentable(HINT_VARCHAR)),
        }
        let too_big = || unrepresentable(HINT_VARCHAR);
        let too_precise = || {
            unrepresentable(&format!(
                " (it has more than {scale} decimal places){HINT_VARCHAR}"
            ))
        };
        let scale_exp = i32::from(scale);
        // `acc` counts units of 10^unit_exp; group i is worth digit * 10^(4 * (weight - i)).
        let mut acc: i128 = 0;
        let mut exp = 4 * i32::from(self.weight);
        let mut unit_exp = exp + 4;
        for i in 0..self.ndigits() {
            let d = self.digit(i as i64);
            if exp >= -scale_exp {
                acc = acc
                    .checked_mul(10_000)
                    .and_then(|a| a.checked_add(i128::from(d)))
                    .ok_or_else(too_big)?;
                unit_exp = exp;
            } else if exp + 4 > -scale_exp {
                // Only the leading (exp + 4 + scale) decimal digits of this group are within the scale.
                // (u16 arithmetic: this runs for every value of a numeric(p, 2) column.)
                let dropped = (-scale_exp - exp) as usize;
                let divisor = [1u16, 10, 100, 1000][dropped];
                if !d.is_multiple_of(divisor) {
                    return Err(too_precise());
                }
                acc = acc
                    .checked_mul(POW10[4 - dropped])
                    .and_then(|a| a.checked_add(i128::from(d / divisor)))
                    .ok_or_else(too_big)?;
                unit_exp = -scale_exp;
            } else if d != 0 {
                return Err(too_precise());
            }
            exp -= 4;
        }
        if acc != 0 {
            let shift = usize::try_from(unit_exp + scale_exp).map_err(|_| too_precise())?;
            acc = POW10
                .get(shift)
                .and_then(|p| acc.checked_mul(*p))
                .ok_or_else(too_big)?;
        }
        if acc >= POW10[usize::from(width.min(38))] {
            return Err(too_big());
        }
        Ok(if self.sign == NUMERIC_NEG { -acc } else { acc })
    }

    #[cold]
    #[inline(never)]
    fn unrepresentable(&self, width: u8, scale: u8, column: &str, hint: &str) -> Error {
        Error::Unrepresentable {
            column: column.to_string(),
            value: self.text(),
            duck_type: DuckType::Decimal { width, scale }.to_string(),
            hint: hint.to_string(),
        }
    }

    /// PostgreSQL's text form (`numeric_out`): `NaN`, `Infinity`, `-Infinity`, or the digits with
    /// exactly `dscale` decimal places.
    pub(crate) fn write_text(&self, out: &mut Vec<u8>) {
        match self.sign {
            NUMERIC_NAN => return out.extend_from_slice(b"NaN"),
            NUMERIC_PINF => return out.extend_from_slice(b"Infinity"),
            NUMERIC_NINF => return out.extend_from_slice(b"-Infinity"),
            NUMERIC_NEG => out.push(b'-'),
            _ => {}
        }
        let weight = i64::from(self.weight);
        if weight < 0 {
            out.push(b'0');
        } else {
            for i in 0..=weight {
                let d = self.digit(i);
                if i == 0 {
                    write_u16(out, d);
                } else {
                    write_4_digits(out, d, 4);
                }
            }
        }
        let mut left = usize::from(self.dscale);
        if left > 0 {
            out.push(b'.');
            let mut i = weight + 1;
            while left > 0 {
                let take = left.min(4);
                write_4_digits(out, self.digit(i), take);
                left -= take;
                i += 1;
            }
        }
    }

    fn text(&self) -> String {
        let mut out = Vec::new();
        self.write_text(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// `d` (< 10000) without leading zeros.
fn write_u16(out: &mut Vec<u8>, d: u16) {
    if d >= 10 {
        write_u16(out, d / 10);
    }
    out.push(b'0' + (d % 10) as u8);
}

/// The first `take` of the 4 zero-padded decimal digits of `d` (< 10000).
fn write_4_digits(out: &mut Vec<u8>, d: u16, take: usize) {
    let all = [
        b'0' + (d / 1000 % 10) as u8,
        b'0' + (d / 100 % 10) as u8,
        b'0' + (d / 10 % 10) as u8,
        b'0' + (d % 10) as u8,
    ];
    out.extend_from_slice(&all[..take.min(4)]);
}

/// PostgreSQL days since 2000-01-01 -> DuckDB days since 1970-01-01, keeping ±infinity.
pub(crate) fn date_to_duck(pg: i32, column: &str) -> Result<i32> {
    match pg {
        i32::MAX => return Ok(i32::MAX),
        i32::MIN => return Ok(-i32::MAX),
        _ => {}
    }
    match pg.checked_add(PG_EPOCH_DAYS) {
        Some(days) if days > -i32::MAX && days < i32::MAX => Ok(days),
        _ => Err(date_out_of_range(pg, column)),
    }
}

#[cold]
#[inline(never)]
fn date_out_of_range(pg: i32, column: &str) -> Error {
    Error::Unrepresentable {
        column: column.to_string(),
        value: format_pg_date(i64::from(pg)),
        duck_type: DuckType::Date.to_string(),
        hint: String::new(),
    }
}

/// PostgreSQL µs since 2000-01-01 -> DuckDB µs since 1970-01-01, keeping ±infinity.
pub(crate) fn timestamp_to_duck(pg: i64, tz: bool, column: &str) -> Result<i64> {
    match pg {
        i64::MAX => return Ok(i64::MAX),
        i64::MIN => return Ok(-i64::MAX),
        _ => {}
    }
    match pg.checked_add(PG_EPOCH_MICROS) {
        Some(micros) if (DUCK_MIN_TIMESTAMP..i64::MAX).contains(&micros) => Ok(micros),
        _ => Err(timestamp_out_of_range(pg, tz, column)),
    }
}

#[cold]
#[inline(never)]
fn timestamp_out_of_range(pg: i64, tz: bool, column: &str) -> Error {
    Error::Unrepresentable {
        column: column.to_string(),
        value: format_pg_timestamp(pg, tz),
        duck_type: if tz {
            DuckType::TimestampTz
        } else {
            DuckType::Timestamp
        }
        .to_string(),
        hint: String::new(),
    }
}

/// µs since midnight, 00:00:00 through 24:00:00 as in both systems.
pub(crate) fn time_of_day(micros: i64, column: &str, pg_type: &str) -> Result<i64> {
    if (0..=MICROS_PER_DAY).contains(&micros) {
        Ok(micros)
    } else {
        Err(decode_error(
            column,
            pg_type,
            format!("time of day {micros} µs is outside 00:00:00..24:00:00"),
        ))
    }
}

/// PostgreSQL timetz (i64 µs, i32 zone in seconds west of UTC) -> DuckDB `dtime_tz_t` bits.
pub(crate) fn timetz_to_duck(raw: [u8; 12], column: &str) -> Result<i64> {
    let micros = i64::from_be_bytes([
        raw[0], raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], raw[7],
    ]);
    let zone_west = i32::from_be_bytes([raw[8], raw[9], raw[10], raw[11]]);
    let micros = time_of_day(micros, column, "timetz")?;
    let offset_east = zone_west.checked_neg().unwrap_or(i32::MAX);
    if offset_east.abs() > TIMETZ_MAX_OFFSET {
        return Err(Error::Unrepresentable {
            column: column.to_string(),
            value: format!("a time with UTC offset {offset_east} s"),
            duck_type: DuckType::TimeTz.to_string(),
            hint: " (DuckDB offsets lie within ±15:59:59)".to_string(),
        });
    }
    let bits = ((micros as u64) << TIMETZ_OFFSET_BITS) | (TIMETZ_MAX_OFFSET - offset_east) as u64;
    Ok(bits as i64)
}

/// PostgreSQL interval (i64 µs, i32 days, i32 months) -> DuckDB `interval_t`. PostgreSQL 17's
/// ±infinity intervals have no DuckDB counterpart.
pub(crate) fn interval_to_duck(raw: [u8; 16], column: &str) -> Result<DuckInterval> {
    let micros = i64::from_be_bytes([
        raw[0], raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], raw[7],
    ]);
    let days = i32::from_be_bytes([raw[8], raw[9], raw[10], raw[11]]);
    let months = i32::from_be_bytes([raw[12], raw[13], raw[14], raw[15]]);
    let infinite = match (months, days, micros) {
        (i32::MAX, i32::MAX, i64::MAX) => Some("infinity"),
        (i32::MIN, i32::MIN, i64::MIN) => Some("-infinity"),
        _ => None,
    };
    if let Some(value) = infinite {
        return Err(Error::Unrepresentable {
            column: column.to_string(),
            value: value.to_string(),
            duck_type: DuckType::Interval.to_string(),
            hint: HINT_VARCHAR.to_string(),
        });
    }
    Ok(DuckInterval {
        months,
        days,
        micros,
    })
}

/// A PostgreSQL date (days since 2000-01-01) as PostgreSQL prints it, e.g. `5874897-12-31`,
/// `4714-11-24 BC`.
pub(crate) fn format_pg_date(pg_days: i64) -> String {
    let (year, month, day) = civil_from_days(pg_days + i64::from(PG_EPOCH_DAYS));
    if year > 0 {
        format!("{year:04}-{month:02}-{day:02}")
    } else {
        format!("{:04}-{month:02}-{day:02} BC", 1 - year)
    }
}

/// A PostgreSQL timestamp (µs since 2000-01-01) as PostgreSQL prints it (in UTC for timestamptz).
pub(crate) fn format_pg_timestamp(pg_micros: i64, tz: bool) -> String {
    let days = pg_micros.div_euclid(MICROS_PER_DAY);
    let tod = pg_micros.rem_euclid(MICROS_PER_DAY);
    let (year, month, day) = civil_from_days(days + i64::from(PG_EPOCH_DAYS));
    let secs = tod / 1_000_000;
    let frac = tod % 1_000_000;
    let mut out = format!(
        "{:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        if year > 0 { year } else { 1 - year },
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    if frac != 0 {
        let digits = format!("{frac:06}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    if tz {
        out.push_str("+00");
    }
    if year <= 0 {
        out.push_str(" BC");
    }
    out
}

/// A fixed-width value, or a decode error naming the length.
#[inline]
pub(crate) fn fixed<const N: usize>(v: &[u8], column: &str, pg_type: &str) -> Result<[u8; N]> {
    match v.try_into() {
        Ok(a) => Ok(a),
        Err(_) => Err(wrong_width(v.len(), N, column, pg_type)),
    }
}

// Error constructors are cold and out of line, so the per-value decoding paths stay small (they
// were 10% of a full read, much of it in the prologue of a frame sized for error formatting).
#[cold]
#[inline(never)]
fn wrong_width(len: usize, want: usize, column: &str, pg_type: &str) -> Error {
    decode_error(
        column,
        pg_type,
        format!("{len} bytes where {want} were expected"),
    )
}

#[inline]
pub(crate) fn utf8<'a>(v: &'a [u8], column: &str, pg_type: &str) -> Result<&'a [u8]> {
    // SIMD validation on the hot path (measured: std's validator was 4% of a full read); the slower
    // std validator runs only to say where the bad byte is.
    if simdutf8::basic::from_utf8(v).is_ok() {
        return Ok(v);
    }
    match std::str::from_utf8(v) {
        Ok(_) => Ok(v),
        Err(e) => Err(decode_error(
            column,
            pg_type,
            format!("invalid UTF-8 at byte {}", e.valid_up_to()),
        )),
    }
}

/// The length-prefixed field at `*pos` of a tuple or an array (`array_send`'s elements): its bytes,
/// or `Some(None)` for NULL (a negative length); `*pos` moves past it. `None` when `buf` ends inside
/// it.
#[inline]
pub(crate) fn next_field<'a>(buf: &'a [u8], pos: &mut usize) -> Option<Option<&'a [u8]>> {
    let len = be_i32(buf.get(*pos..*pos + 4)?);
    *pos += 4;
    if len < 0 {
        return Some(None);
    }
    let end = *pos + len as usize;
    let value = buf.get(*pos..end)?;
    *pos = end;
    Some(Some(value))
}

/// Big-endian i32 from the first 4 bytes (callers pass at least 4).
#[inline]
pub(crate) fn be_i32(b: &[u8]) -> i32 {
    i32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

#[inline]
pub(crate) fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

#[cold]
#[inline(never)]
pub(crate) fn decode_error(column: &str, pg_type: &str, reason: impl Into<String>) -> Error {
    Error::Decode {
        column: column.to_string(),
        pg_type: pg_type.to_string(),
        reason: reason.into(),
    }
}
