//! SQLite values -> PostgreSQL values: each value is converted to a typed [`PgValue`] for its
//! column's target type ([`convert`]), which [`crate::postgres::codec::encode`] then writes in binary
//! COPY. A value that cannot be converted is an [`Error::Convert`] naming the column and the value;
//! nothing of it reaches the server. Text is read by [`crate::sqlite::text`].
//!
//! | target | accepted SQLite values |
//! |---|---|
//! | `bool` | integer or real 0/1; text `t`/`f`/`true`/`false`/`yes`/`no`/`on`/`off`/`1`/`0` |
//! | `int2`/`int4`/`int8` | integer in range; real with no fraction; integer text |
//! | `float4`/`float8` | integer, real; text numbers, `NaN`, `Infinity`, `-Infinity` |
//! | `numeric` | integer; real (its shortest exact decimal); decimal text with exponent; `NaN`, `±Infinity` |
//! | `text` (also for varchar/char columns) | text (UTF-8, no NUL); integer/real as text; UTF-8 blob |
//! | `bytea` | blob; text/integer/real as their UTF-8 bytes |
//! | `uuid` | text `xxxxxxxx-xxxx-...` or 32 hex digits (any case, optional braces); 16-byte blob |
//! | `date` | `YYYY-MM-DD`; epoch integer when asked |
//! | `time` / `timetz` | `HH:MM[:SS[.ffffff]]` (timetz: with `+HH[:MM]`/`Z`, none = UTC) |
//! | `timestamp` / `timestamptz` | `YYYY-MM-DD[( \|T)HH:MM[:SS[.f]]][Z\|±HH[:MM]]`, `infinity`; epoch seconds/milliseconds/microseconds when asked |
//! | `interval` | `1 year 2 mons 3 days 04:05:06.5`, `3 months`, `-00:00:01.5`, `... ago` |
//! | `json` / `jsonb` | text holding valid JSON (jsonb: without `\u0000`) |
//!
//! A `timestamptz` without a zone is UTC (SQLite's `datetime('now')` is UTC). A `timestamp` given a
//! zone ignores it, as PostgreSQL's own input function does.

use std::borrow::Cow;

use super::text::{
    parse_bool, parse_datetime, parse_interval, parse_time, parse_uuid, special_infinity,
};
use super::{RowValues, SqliteValue};
use crate::error::{Error, Result};
use crate::postgres::codec::conversion::{MICROS_PER_DAY, PG_END_TIMESTAMP, PG_EPOCH_DAYS};
use crate::postgres::codec::jsonb::validate_json;
use crate::postgres::copy_in::{BinaryCopyEncoder, CopyInWriter};
use crate::sql::quote_ident;
use crate::types::pg_value::{parse_numeric, CopyColumn, EpochUnit, Numeric, PgTarget, PgValue};

/// Convert one SQLite value to `target`. The error is the reason alone (the caller names column
/// and value).
pub fn convert<'a>(
    target: PgTarget,
    epoch: Option<EpochUnit>,
    v: SqliteValue<'a>,
) -> std::result::Result<PgValue<'a>, String> {
    use SqliteValue as S;
    if let S::Null = v {
        return Ok(PgValue::Null);
    }
    let text = || -> std::result::Result<&'a str, String> {
        match v {
            S::Text(b) | S::Blob(b) => {
                simdutf8::basic::from_utf8(b).map_err(|_| "the text is not valid UTF-8".to_string())
            }
            _ => Err("not text".into()),
        }
    };
    Ok(match target {
        PgTarget::Bool => PgValue::Bool(match v {
            S::Integer(0) => false,
            S::Integer(1) => true,
            S::Real(0.0) => false,
            S::Real(1.0) => true,
            S::Text(_) => parse_bool(text()?)
                .ok_or("not a boolean (expected 0/1, true/false, t/f, yes/no, on/off)")?,
            _ => return Err("not a boolean (expected 0 or 1)".into()),
        }),
        PgTarget::Int2 => {
            PgValue::Int2(i16::try_from(to_i64(v, text)?).map_err(|_| "out of range for smallint")?)
        }
        PgTarget::Int4 => {
            PgValue::Int4(i32::try_from(to_i64(v, text)?).map_err(|_| "out of range for integer")?)
        }
        PgTarget::Int8 => PgValue::Int8(to_i64(v, text)?),
        PgTarget::Float4 => {
            let f = to_f64(v, text)?;
            let g = f as f32;
            if f.is_finite() && !g.is_finite() {
                return Err("out of range for real".into());
            }
            PgValue::Float4(g)
        }
        PgTarget::Float8 => PgValue::Float8(to_f64(v, text)?),
        PgTarget::Numeric => PgValue::Numeric(match v {
            S::Integer(i) => parse_numeric(&i.to_string())?,
            S::Real(f) => f64_to_numeric(f)?,
            S::Text(_) => parse_numeric(text()?)?,
            _ => return Err("a blob is not a number".into()),
        }),
        PgTarget::Text => PgValue::Text(match v {
            S::Integer(i) => Cow::Owned(i.to_string()),
            S::Real(f) => Cow::Owned(real_to_text(f)),
            _ => {
                let s = text()?;
                if s.as_bytes().contains(&0) {
                    return Err("PostgreSQL text cannot hold a NUL (0x00) character; use bytea for this column".into());
                }
                Cow::Borrowed(s)
            }
        }),
        PgTarget::Bytea => PgValue::Bytea(match v {
            S::Blob(b) | S::Text(b) => Cow::Borrowed(b),
            S::Integer(i) => Cow::Owned(i.to_string().into_bytes()),
            S::Real(f) => Cow::Owned(real_to_text(f).into_bytes()),
            S::Null => unreachable!("handled above"),
        }),
        PgTarget::Uuid => PgValue::Uuid(match v {
            S::Blob(b) if b.len() == 16 => {
                let mut u = [0u8; 16];
                u.copy_from_slice(b);
                u
            }
            S::Blob(b) => {
                return Err(format!(
                    "a uuid blob must be 16 bytes, this one has {}",
                    b.len()
                ))
            }
            S::Text(_) => {
                parse_uuid(text()?).ok_or("not a UUID (expected 8-4-4-4-12 hex digits)")?
            }
            _ => return Err("a number is not a UUID".into()),
        }),
        PgTarget::Date => match v {
            S::Integer(_) | S::Real(_) if epoch.is_some() => {
                let micros = epoch_micros(v, epoch.unwrap_or(EpochUnit::Seconds))?;
                PgValue::Date(pg_days(micros.div_euclid(MICROS_PER_DAY))?)
            }
            S::Text(_) => {
                let s = text()?;
                match special_infinity(s) {
                    Some(true) => PgValue::Date(i32::MAX),
                    Some(false) => PgValue::Date(i32::MIN),
                    None => {
                        let dt = parse_datetime(s)?;
                        if dt.has_time {
                            return Err("a date has no time of day (this value has one)".into());
                        }
                        PgValue::Date(pg_days(dt.days)?)
                    }
                }
            }
            _ => return Err(no_epoch_hint("date")),
        },
        PgTarget::Time => {
            let (micros, _) =
                parse_time(text().map_err(|_| "a time must be text HH:MM:SS")?, false)?;
            PgValue::Time(micros)
        }
        PgTarget::TimeTz => {
            let (micros, offset) =
                parse_time(text().map_err(|_| "a time must be text HH:MM:SS")?, true)?;
            PgValue::TimeTz(micros, offset.unwrap_or(0))
        }
        PgTarget::Timestamp | PgTarget::TimestampTz => {
            let tz = target == PgTarget::TimestampTz;
            let micros = match v {
                S::Integer(_) | S::Real(_) => match epoch {
                    Some(unit) => {
                        let m = epoch_micros(v, unit)?;
                        pg_micros(
                            m.div_euclid(MICROS_PER_DAY),
                            m.rem_euclid(MICROS_PER_DAY),
                            0,
                        )?
                    }
                    None => return Err(no_epoch_hint(target.sql_name())),
                },
                _ => {
                    let s = text()?;
                    match special_infinity(s) {
                        Some(true) => i64::MAX,
                        Some(false) => i64::MIN,
                        None => {
                            let dt = parse_datetime(s)?;
                            let offset = match (tz, dt.offset) {
                                (true, Some(off)) => i64::from(off),
                                _ => 0,
                            };
                            pg_micros(dt.days, dt.micros, offset)?
                        }
                    }
                }
            };
            if tz {
                PgValue::TimestampTz(micros)
            } else {
                PgValue::Timestamp(micros)
            }
        }
        PgTarget::Interval => {
            let (months, days, micros) = parse_interval(
                text().map_err(|_| "an interval must be text such as '1 day 02:00:00'")?,
            )?;
            PgValue::Interval {
                months,
                days,
                micros,
            }
        }
        PgTarget::Json | PgTarget::Jsonb => {
            let s = text().map_err(|_| "JSON must be text")?;
            validate_json(s, target == PgTarget::Jsonb)?;
            if target == PgTarget::Json {
                PgValue::Json(Cow::Borrowed(s))
            } else {
                PgValue::Jsonb(Cow::Borrowed(s))
            }
        }
    })
}

fn no_epoch_hint(ty: &str) -> String {
    format!("a number is not a {ty}; to read numbers as Unix epoch seconds or milliseconds, ask for it (epoch unit)")
}

fn to_i64<'a>(
    v: SqliteValue<'a>,
    text: impl Fn() -> std::result::Result<&'a str, String>,
) -> std::result::Result<i64, String> {
    match v {
        SqliteValue::Integer(i) => Ok(i),
        SqliteValue::Real(f) => {
            if f.fract() == 0.0
                && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f)
            {
                Ok(f as i64)
            } else {
                Err("not a whole number in range".into())
            }
        }
        SqliteValue::Text(_) => text()?
            .trim()
            .parse::<i64>()
            .map_err(|_| "not an integer".into()),
        _ => Err("a blob is not an integer".into()),
    }
}

fn to_f64<'a>(
    v: SqliteValue<'a>,
    text: impl Fn() -> std::result::Result<&'a str, String>,
) -> std::result::Result<f64, String> {
    match v {
        SqliteValue::Integer(i) => Ok(i as f64),
        SqliteValue::Real(f) => Ok(f),
        SqliteValue::Text(_) => {
            let s = text()?.trim();
            match s.to_ascii_lowercase().as_str() {
                "nan" => Ok(f64::NAN),
                "infinity" | "+infinity" | "inf" | "+inf" => Ok(f64::INFINITY),
                "-infinity" | "-inf" => Ok(f64::NEG_INFINITY),
                _ => s
                    .parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .ok_or_else(|| "not a number".to_string()),
            }
        }
        _ => Err("a blob is not a number".into()),
    }
}

/// A REAL as text: the shortest decimal that reads back as the same double (`1.0`, `0.1`, `1e+20`
/// style is never used; `NaN`, `Infinity`).
pub fn real_to_text(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        format!("{f:?}")
    }
}

/// A double as numeric: its shortest exact decimal (`0.1` -> 0.1), NaN and ±Infinity kept.
pub fn f64_to_numeric(f: f64) -> std::result::Result<Numeric, String> {
    if f.is_nan() {
        return Ok(Numeric::NaN);
    }
    if f.is_infinite() {
        return Ok(if f > 0.0 {
            Numeric::PosInf
        } else {
            Numeric::NegInf
        });
    }
    // Display never uses an exponent and prints the shortest round-trip digits.
    parse_numeric(&format!("{f}"))
}

/// Microseconds since 2000-01-01 of a day (since 1970) and time, checked against PostgreSQL's range.
fn pg_micros(unix_days: i64, micros: i64, offset_secs: i64) -> std::result::Result<i64, String> {
    let v = i128::from(unix_days - i64::from(PG_EPOCH_DAYS)) * i128::from(MICROS_PER_DAY)
        + i128::from(micros)
        - i128::from(offset_secs) * 1_000_000;
    if v >= i128::from(PG_END_TIMESTAMP) {
        return Err("timestamp out of PostgreSQL's range (after 294276 AD)".into());
    }
    i64::try_from(v).map_err(|_| "timestamp out of range".to_string())
}

fn pg_days(unix_days: i64) -> std::result::Result<i32, String> {
    i32::try_from(unix_days - i64::from(PG_EPOCH_DAYS)).map_err(|_| "date out of range".to_string())
}

fn epoch_micros(v: SqliteValue<'_>, unit: EpochUnit) -> std::result::Result<i64, String> {
    let per = unit.micros_per_unit();
    match v {
        SqliteValue::Integer(i) => i
            .checked_mul(per)
            .ok_or_else(|| "epoch value out of range".into()),
        SqliteValue::Real(f) => {
            let m = (f * per as f64).round();
            if m.is_finite() && m.abs() < 9.2e18 {
                Ok(m as i64)
            } else {
                Err("epoch value out of range".into())
            }
        }
        _ => Err("not an epoch number".into()),
    }
}

/// [`convert`] for one column of a table, with the error naming `table."column"` and the value.
pub fn convert_column<'a>(
    table: &str,
    col: &CopyColumn,
    v: SqliteValue<'a>,
) -> Result<PgValue<'a>> {
    let converted = convert(col.target, col.epoch, v).and_then(|c| match col.scale {
        Some(scale) => with_scale(c, scale),
        None => Ok(c),
    });
    converted.map_err(|reason| Error::Convert {
        column: format!("{table}.{}", quote_ident(&col.name)),
        value: v.describe(),
        pg_type: match col.scale {
            Some(s) => format!("numeric with scale {s}"),
            None => col.target.sql_name().to_string(),
        },
        reason,
    })
}

/// A numeric written with exactly `scale` digits after the point, as `numeric(p,s)` stores it
/// (`1.5` -> `1.50`); a value with more digits is an error (the plan only keeps a scale every
/// value fits).
pub fn with_scale(v: PgValue<'_>, scale: u32) -> std::result::Result<PgValue<'_>, String> {
    match v {
        PgValue::Numeric(Numeric::Finite {
            negative,
            int_digits,
            frac_digits,
        }) => {
            let mut frac = frac_digits.trim_end_matches('0').to_string();
            if frac.len() > scale as usize {
                return Err(format!("has more than {scale} digits after the point"));
            }
            while frac.len() < scale as usize {
                frac.push('0');
            }
            let zero = int_digits.is_empty() && frac.bytes().all(|b| b == b'0');
            Ok(PgValue::Numeric(Numeric::Finite {
                negative: negative && !zero,
                int_digits,
                frac_digits: frac,
            }))
        }
        PgValue::Numeric(_) => Err("NaN and Infinity do not fit a numeric with a scale".into()),
        other => Ok(other),
    }
}

/// Writing rows of SQLite values into a binary COPY: every value is converted for its column
/// ([`convert_column`]) before any is written, so a row with a value that does not convert leaves
/// nothing behind.
pub trait WriteSqliteRow {
    /// Convert and append one row.
    fn write_row<R: RowValues + ?Sized>(&mut self, row: &R) -> Result<()>;
}

impl WriteSqliteRow for BinaryCopyEncoder {
    fn write_row<R: RowValues + ?Sized>(&mut self, row: &R) -> Result<()> {
        let values = convert_row(self.table(), self.columns(), row)?;
        self.write_values(&values);
        Ok(())
    }
}

impl WriteSqliteRow for CopyInWriter {
    fn write_row<R: RowValues + ?Sized>(&mut self, row: &R) -> Result<()> {
        let values = convert_row(self.table(), self.columns(), row)?;
        self.write_values(&values)
    }
}

/// One row's values converted for `columns` of `table`.
fn convert_row<'r, R: RowValues + ?Sized>(
    table: &str,
    columns: &[CopyColumn],
    row: &'r R,
) -> Result<Vec<PgValue<'r>>> {
    if row.len() != columns.len() {
        return Err(Error::internal(format!(
            "COPY into {table}: a row has {} values for {} columns",
            row.len(),
            columns.len()
        )));
    }
    columns
        .iter()
        .enumerate()
        .map(|(i, col)| convert_column(table, col, row.value(i)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postgres::codec::conversion::{civil_from_days, days_from_civil, PG_EPOCH_MICROS};
    use crate::postgres::codec::encode;
    use SqliteValue as S;

    fn conv(t: PgTarget, v: SqliteValue<'_>) -> std::result::Result<PgValue<'_>, String> {
        convert(t, None, v)
    }

    fn ts(s: &str) -> i64 {
        match conv(PgTarget::TimestampTz, S::Text(s.as_bytes())).unwrap() {
            PgValue::TimestampTz(m) => m + PG_EPOCH_MICROS,
            other => panic!("{other:?}"),
        }
    }

    /// numeric(p,s) stores every value with scale s; the checksum must see the same text.
    #[test]
    fn numeric_with_a_scale() {
        let col = CopyColumn {
            scale: Some(2),
            ..CopyColumn::new("total", PgTarget::Numeric)
        };
        let text = |v| match convert_column("t", &col, v) {
            Ok(PgValue::Numeric(n)) => Ok(n.to_pg_text()),
            Ok(other) => panic!("{other:?}"),
            Err(e) => Err(e.to_string()),
        };
        assert_eq!(text(S::Real(1.5)).unwrap(), "1.50");
        assert_eq!(text(S::Integer(20)).unwrap(), "20.00");
        assert_eq!(text(S::Text(b"-0.10")).unwrap(), "-0.10");
        assert_eq!(text(S::Real(-0.0)).unwrap(), "0.00");
        let err = text(S::Real(1.555)).unwrap_err();
        assert!(
            err.contains("more than 2 digits") && err.contains("scale 2"),
            "{err}"
        );
        assert!(text(S::Text(b"NaN")).is_err());
        assert_eq!(convert_column("t", &col, S::Null).unwrap(), PgValue::Null);
    }

    #[test]
    fn bool_from_01_and_words() {
        assert_eq!(
            conv(PgTarget::Bool, S::Integer(1)).unwrap(),
            PgValue::Bool(true)
        );
        assert_eq!(
            conv(PgTarget::Bool, S::Integer(0)).unwrap(),
            PgValue::Bool(false)
        );
        assert_eq!(
            conv(PgTarget::Bool, S::Text(b"false")).unwrap(),
            PgValue::Bool(false)
        );
        assert_eq!(
            conv(PgTarget::Bool, S::Text(b"T")).unwrap(),
            PgValue::Bool(true)
        );
        assert!(conv(PgTarget::Bool, S::Integer(2)).is_err());
        assert!(conv(PgTarget::Bool, S::Text(b"maybe")).is_err());
        assert_eq!(conv(PgTarget::Bool, S::Null).unwrap(), PgValue::Null);
    }

    #[test]
    fn integers_by_range() {
        assert_eq!(
            conv(PgTarget::Int2, S::Integer(-32768)).unwrap(),
            PgValue::Int2(-32768)
        );
        assert!(conv(PgTarget::Int2, S::Integer(32768))
            .unwrap_err()
            .contains("smallint"));
        assert_eq!(
            conv(PgTarget::Int4, S::Text(b" 42 ")).unwrap(),
            PgValue::Int4(42)
        );
        assert!(conv(PgTarget::Int4, S::Integer(1 << 31)).is_err());
        assert_eq!(
            conv(PgTarget::Int8, S::Real(3.0)).unwrap(),
            PgValue::Int8(3)
        );
        assert!(conv(PgTarget::Int8, S::Real(3.5)).is_err());
        assert!(conv(PgTarget::Int8, S::Blob(b"1")).is_err());
    }

    #[test]
    fn floats_keep_nan_and_infinity() {
        assert_eq!(
            conv(PgTarget::Float8, S::Integer(2)).unwrap(),
            PgValue::Float8(2.0)
        );
        match conv(PgTarget::Float8, S::Text(b"NaN")).unwrap() {
            PgValue::Float8(f) => assert!(f.is_nan()),
            o => panic!("{o:?}"),
        }
        assert_eq!(
            conv(PgTarget::Float8, S::Text(b"-Infinity")).unwrap(),
            PgValue::Float8(f64::NEG_INFINITY)
        );
        assert_eq!(
            conv(PgTarget::Float4, S::Real(0.5)).unwrap(),
            PgValue::Float4(0.5)
        );
        assert!(conv(PgTarget::Float4, S::Real(1e300)).is_err());
    }

    #[test]
    fn numeric_text_forms() {
        let n = |s: &str| parse_numeric(s).unwrap().to_pg_text();
        assert_eq!(n("1.50"), "1.50");
        assert_eq!(n("-0012.5"), "-12.5");
        assert_eq!(n("1.5e1"), "15");
        assert_eq!(n("1e-2"), "0.01");
        assert_eq!(n("1E2"), "100");
        assert_eq!(n("-0.00"), "0.00");
        assert_eq!(n(".5"), "0.5");
        assert_eq!(n("NaN"), "NaN");
        assert_eq!(n("-inf"), "-Infinity");
        assert_eq!(
            n("123456789012345678901234567890.123456789"),
            "123456789012345678901234567890.123456789"
        );
        assert!(parse_numeric("1.2.3").is_err());
        assert!(parse_numeric("abc").is_err());
        assert_eq!(f64_to_numeric(0.1).unwrap().to_pg_text(), "0.1");
        assert_eq!(
            f64_to_numeric(1e21).unwrap().to_pg_text(),
            "1000000000000000000000"
        );
        assert_eq!(f64_to_numeric(f64::NAN).unwrap(), Numeric::NaN);
        assert_eq!(
            conv(PgTarget::Numeric, S::Integer(i64::MIN)).unwrap(),
            PgValue::Numeric(parse_numeric("-9223372036854775808").unwrap())
        );
    }

    #[test]
    fn text_and_bytea() {
        assert_eq!(
            conv(PgTarget::Text, S::Integer(7)).unwrap(),
            PgValue::Text("7".into())
        );
        assert_eq!(
            conv(PgTarget::Text, S::Real(1.0)).unwrap(),
            PgValue::Text("1.0".into())
        );
        assert!(conv(PgTarget::Text, S::Text(b"a\0b"))
            .unwrap_err()
            .contains("NUL"));
        assert!(conv(PgTarget::Text, S::Text(b"\xff"))
            .unwrap_err()
            .contains("UTF-8"));
        assert_eq!(
            conv(PgTarget::Bytea, S::Blob(b"\x00\x01")).unwrap(),
            PgValue::Bytea(Cow::Borrowed(b"\x00\x01"))
        );
    }

    #[test]
    fn uuid_from_text_and_blob() {
        let want = [
            0x55, 0x0e, 0x84, 0x00, 0xe2, 0x9b, 0x41, 0xd4, 0xa7, 0x16, 0x44, 0x66, 0x55, 0x44,
            0x00, 0x00,
        ];
        for s in [
            "550e8400-e29b-41d4-a716-446655440000",
            "550E8400-E29B-41D4-A716-446655440000",
            "{550e8400-e29b-41d4-a716-446655440000}",
            "550e8400e29b41d4a716446655440000",
        ] {
            assert_eq!(
                conv(PgTarget::Uuid, S::Text(s.as_bytes())).unwrap(),
                PgValue::Uuid(want),
                "{s}"
            );
        }
        assert_eq!(
            conv(PgTarget::Uuid, S::Blob(&want)).unwrap(),
            PgValue::Uuid(want)
        );
        assert!(conv(
            PgTarget::Uuid,
            S::Text(b"550e8400-e29b-41d4-a716-44665544000g")
        )
        .is_err());
        assert!(conv(PgTarget::Uuid, S::Blob(b"short"))
            .unwrap_err()
            .contains("16 bytes"));
    }

    #[test]
    fn timestamps_in_every_form() {
        let base = 1_795_255_200_000_000i64; // 2026-11-21 10:00:00 UTC
        assert_eq!(ts("2026-11-21 10:00:00"), base);
        assert_eq!(ts("2026-11-21T10:00:00Z"), base);
        assert_eq!(ts("2026-11-21 10:00:00.123+00"), base + 123_000);
        assert_eq!(ts("2026-11-21 12:00:00+02"), base);
        assert_eq!(ts("2026-11-21 12:30:00+02:30"), base);
        assert_eq!(ts("2026-11-21 05:00:00-0500"), base);
        assert_eq!(ts("2026-11-21 10:00:00.000001"), base + 1);
        assert_eq!(ts("2026-11-21 10:00:00.0000005"), base); // half to even
        assert_eq!(ts("2026-11-21 10:00:00.0000015"), base + 2);
        assert_eq!(ts("2026-11-21 10:00"), base);
        assert_eq!(ts("2026-11-21"), base - 10 * 3_600_000_000);
        assert_eq!(ts("1969-12-31 23:59:59.999999"), -1);
        assert_eq!(
            conv(PgTarget::TimestampTz, S::Text(b"infinity")).unwrap(),
            PgValue::TimestampTz(i64::MAX)
        );
        // timestamp (no zone) ignores a written zone, as PostgreSQL does.
        assert_eq!(
            conv(PgTarget::Timestamp, S::Text(b"2026-11-21 12:00:00+02")).unwrap(),
            PgValue::Timestamp(base + 2 * 3_600_000_000 - PG_EPOCH_MICROS)
        );
        for bad in [
            "2026-13-01",
            "2026-02-30 10:00",
            "2026-11-21 25:00",
            "yesterday",
            "2026-11-21 10:00:00 +25",
            "2026-11-21x",
        ] {
            assert!(
                conv(PgTarget::TimestampTz, S::Text(bad.as_bytes())).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn epoch_numbers_only_when_asked() {
        assert!(conv(PgTarget::TimestampTz, S::Integer(1_700_000_000))
            .unwrap_err()
            .contains("epoch"));
        let s = convert(
            PgTarget::TimestampTz,
            Some(EpochUnit::Seconds),
            S::Integer(1_700_000_000),
        )
        .unwrap();
        assert_eq!(
            s,
            PgValue::TimestampTz(1_700_000_000_000_000 - PG_EPOCH_MICROS)
        );
        let ms = convert(
            PgTarget::Timestamp,
            Some(EpochUnit::Milliseconds),
            S::Integer(1_700_000_000_123),
        )
        .unwrap();
        assert_eq!(
            ms,
            PgValue::Timestamp(1_700_000_000_123_000 - PG_EPOCH_MICROS)
        );
        let d = convert(
            PgTarget::Date,
            Some(EpochUnit::Seconds),
            S::Integer(86_400 * 10_958),
        )
        .unwrap();
        assert_eq!(d, PgValue::Date(1));
    }

    #[test]
    fn dates_and_times() {
        assert_eq!(
            conv(PgTarget::Date, S::Text(b"2000-01-02")).unwrap(),
            PgValue::Date(1)
        );
        assert_eq!(
            conv(PgTarget::Date, S::Text(b"1999-12-31")).unwrap(),
            PgValue::Date(-1)
        );
        assert!(conv(PgTarget::Date, S::Text(b"2000-01-02 10:00")).is_err());
        assert_eq!(
            conv(PgTarget::Time, S::Text(b"10:00:01.5")).unwrap(),
            PgValue::Time(36_001_500_000)
        );
        assert_eq!(
            conv(PgTarget::Time, S::Text(b"24:00:00")).unwrap(),
            PgValue::Time(86_400_000_000)
        );
        assert_eq!(
            conv(PgTarget::TimeTz, S::Text(b"10:00:00+02")).unwrap(),
            PgValue::TimeTz(36_000_000_000, 7200)
        );
        assert!(conv(PgTarget::Time, S::Text(b"10:00:00+02")).is_err());
        assert_eq!(days_from_civil(2000, 1, 1), i64::from(PG_EPOCH_DAYS));
        for d in [-1_000_000, -1, 0, 1, 10_957, 2_000_000] {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
    }

    #[test]
    fn json_checked() {
        assert!(conv(PgTarget::Jsonb, S::Text(br#"{"a": [1, 2.5, null]}"#)).is_ok());
        assert!(conv(PgTarget::Json, S::Text(b"{bad"))
            .unwrap_err()
            .contains("JSON"));
        assert!(conv(PgTarget::Jsonb, S::Text(br#"{"a": "\u0000"}"#))
            .unwrap_err()
            .contains("u0000"));
        assert!(conv(PgTarget::Json, S::Text(br#"{"a": "\u0000"}"#)).is_ok());
        assert!(conv(PgTarget::Jsonb, S::Text(br#"{"a": "\\u0000"}"#)).is_ok());
        let mut b = Vec::new();
        encode::field(&conv(PgTarget::Jsonb, S::Text(b"[]")).unwrap(), &mut b);
        assert_eq!(b, vec![0, 0, 0, 3, 1, b'[', b']']);
    }

    #[test]
    fn encoder_names_column_and_value_and_rolls_back_the_row() {
        let mut enc = BinaryCopyEncoder::new(
            "\"public\".\"events\"",
            vec![
                CopyColumn::new("id", PgTarget::Int8),
                CopyColumn::new("at", PgTarget::TimestampTz),
            ],
        );
        enc.write_row(&[S::Integer(1), S::Text(b"2026-01-01 00:00:00")][..])
            .unwrap();
        let before = enc.buffered();
        let err = enc
            .write_row(&[S::Integer(2), S::Text(b"not a time")][..])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"public\".\"events\".\"at\"")
                && err.contains("'not a time'")
                && err.contains("timestamp with time zone"),
            "{err}"
        );
        assert_eq!(enc.buffered(), before);
        assert_eq!(enc.rows(), 1);
        let bytes = enc.finish();
        assert!(bytes.starts_with(b"PGCOPY\n\xff\r\n\0"));
        assert!(bytes.ends_with(&[0xff, 0xff]));
        // header 19 + (2 + 4 + 8 + 4 + 8) + trailer 2
        assert_eq!(bytes.len(), 19 + 26 + 2);
    }
}
