//! Writing PostgreSQL's binary COPY input (`COPY t (...) FROM STDIN (FORMAT binary)`) from SQLite
//! values, streamed with bounded memory over tokio-postgres' `copy_in` sink.
//!
//! Each value is first converted to a typed [`PgValue`] ([`convert`]), then encoded the way
//! PostgreSQL's `*_recv` functions read it ([`encode`], mirroring `src/backend/utils/adt/` of
//! PostgreSQL 15: `boolrecv`, `int8recv`, `float8recv`, `numeric_recv`, `textrecv`, `bytearecv`,
//! `uuid_recv`, `date_recv`, `time_recv`, `timetz_recv`, `timestamp_recv`, `interval_recv`,
//! `json_recv`, `jsonb_recv`). A value that cannot be converted is an [`Error::Convert`] naming the
//! column and the value; nothing of it reaches the server.
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

use bytes::Bytes;
use futures_util::SinkExt;
use tokio::sync::mpsc;
use tokio_postgres::Client;

use crate::error::{Error, Result};
use crate::sqlite::{RowValues, SqliteValue};

/// `PGCOPY\n\377\r\n\0`, then flags (0) and header-extension length (0).
const HEADER: &[u8; 19] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// Microseconds from 1970-01-01 (Unix) to 2000-01-01 (PostgreSQL's epoch).
pub const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;
/// Days from 1970-01-01 to 2000-01-01.
pub const PG_EPOCH_DAYS: i64 = 10_957;
const MICROS_PER_DAY: i64 = 86_400_000_000;
/// Default size of one chunk handed to the server.
pub const DEFAULT_CHUNK_BYTES: usize = 256 * 1024;

/// The PostgreSQL types lakemig writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PgTarget {
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Numeric,
    Text,
    Bytea,
    Uuid,
    Date,
    Time,
    TimeTz,
    Timestamp,
    TimestampTz,
    Interval,
    Json,
    Jsonb,
}

impl PgTarget {
    /// Every target, for tests and documentation.
    pub const ALL: [PgTarget; 18] = [
        PgTarget::Bool,
        PgTarget::Int2,
        PgTarget::Int4,
        PgTarget::Int8,
        PgTarget::Float4,
        PgTarget::Float8,
        PgTarget::Numeric,
        PgTarget::Text,
        PgTarget::Bytea,
        PgTarget::Uuid,
        PgTarget::Date,
        PgTarget::Time,
        PgTarget::TimeTz,
        PgTarget::Timestamp,
        PgTarget::TimestampTz,
        PgTarget::Interval,
        PgTarget::Json,
        PgTarget::Jsonb,
    ];

    /// The type's name in SQL (as `format_type` prints it).
    pub fn sql_name(self) -> &'static str {
        match self {
            PgTarget::Bool => "boolean",
            PgTarget::Int2 => "smallint",
            PgTarget::Int4 => "integer",
            PgTarget::Int8 => "bigint",
            PgTarget::Float4 => "real",
            PgTarget::Float8 => "double precision",
            PgTarget::Numeric => "numeric",
            PgTarget::Text => "text",
            PgTarget::Bytea => "bytea",
            PgTarget::Uuid => "uuid",
            PgTarget::Date => "date",
            PgTarget::Time => "time without time zone",
            PgTarget::TimeTz => "time with time zone",
            PgTarget::Timestamp => "timestamp without time zone",
            PgTarget::TimestampTz => "timestamp with time zone",
            PgTarget::Interval => "interval",
            PgTarget::Json => "json",
            PgTarget::Jsonb => "jsonb",
        }
    }

    /// Parse a type name as a user writes it (`timestamptz`, `int8`, `double precision`,
    /// `varchar(20)` -> text, `numeric(12,2)` -> numeric).
    pub fn from_sql_name(name: &str) -> Option<PgTarget> {
        let lower = name.trim().to_ascii_lowercase();
        let base = lower.split('(').next().unwrap_or("").trim();
        let base: String = base.split_whitespace().collect::<Vec<_>>().join(" ");
        Some(match base.as_str() {
            "bool" | "boolean" => PgTarget::Bool,
            "int2" | "smallint" => PgTarget::Int2,
            "int4" | "int" | "integer" => PgTarget::Int4,
            "int8" | "bigint" => PgTarget::Int8,
            "float4" | "real" => PgTarget::Float4,
            "float8" | "double precision" | "float" | "double" => PgTarget::Float8,
            "numeric" | "decimal" => PgTarget::Numeric,
            "text" | "varchar" | "character varying" | "char" | "character" | "bpchar" => {
                PgTarget::Text
            }
            "bytea" => PgTarget::Bytea,
            "uuid" => PgTarget::Uuid,
            "date" => PgTarget::Date,
            "time" | "time without time zone" => PgTarget::Time,
            "timetz" | "time with time zone" => PgTarget::TimeTz,
            "timestamp" | "timestamp without time zone" => PgTarget::Timestamp,
            "timestamptz" | "timestamp with time zone" => PgTarget::TimestampTz,
            "interval" => PgTarget::Interval,
            "json" => PgTarget::Json,
            "jsonb" => PgTarget::Jsonb,
            _ => return None,
        })
    }
}

/// How an integer (or real) stands for a point in time, when the caller asks for that reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EpochUnit {
    Seconds,
    Milliseconds,
    Microseconds,
}

impl EpochUnit {
    fn micros_per_unit(self) -> i64 {
        match self {
            EpochUnit::Seconds => 1_000_000,
            EpochUnit::Milliseconds => 1_000,
            EpochUnit::Microseconds => 1,
        }
    }
}

/// One column of the COPY: its name in the target table, its type, and (for date/timestamp
/// targets) whether integers are Unix epoch values in that unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyColumn {
    pub name: String,
    pub target: PgTarget,
    pub epoch: Option<EpochUnit>,
}

impl CopyColumn {
    pub fn new(name: impl Into<String>, target: PgTarget) -> Self {
        CopyColumn {
            name: name.into(),
            target,
            epoch: None,
        }
    }
}

/// A finite or special numeric value. Finite: `int_digits` without leading zeros (empty for 0),
/// `frac_digits` exactly the display scale long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Numeric {
    NaN,
    PosInf,
    NegInf,
    Finite {
        negative: bool,
        int_digits: String,
        frac_digits: String,
    },
}

impl Numeric {
    /// PostgreSQL's text output (`numeric_out`): `-12.50`, `0.001`, `NaN`, `Infinity`.
    pub fn to_pg_text(&self) -> String {
        match self {
            Numeric::NaN => "NaN".into(),
            Numeric::PosInf => "Infinity".into(),
            Numeric::NegInf => "-Infinity".into(),
            Numeric::Finite {
                negative,
                int_digits,
                frac_digits,
            } => {
                let mut s = String::with_capacity(int_digits.len() + frac_digits.len() + 3);
                if *negative {
                    s.push('-');
                }
                s.push_str(if int_digits.is_empty() {
                    "0"
                } else {
                    int_digits
                });
                if !frac_digits.is_empty() {
                    s.push('.');
                    s.push_str(frac_digits);
                }
                s
            }
        }
    }
}

/// A value converted to its PostgreSQL type; dates and times count from PostgreSQL's epoch
/// (2000-01-01), as on the wire.
#[derive(Debug, Clone, PartialEq)]
pub enum PgValue<'a> {
    Null,
    Bool(bool),
    Int2(i16),
    Int4(i32),
    Int8(i64),
    Float4(f32),
    Float8(f64),
    Numeric(Numeric),
    Text(Cow<'a, str>),
    Bytea(Cow<'a, [u8]>),
    Uuid([u8; 16]),
    /// Days since 2000-01-01.
    Date(i32),
    /// Microseconds since midnight.
    Time(i64),
    /// Microseconds since midnight, and the zone's offset in seconds EAST of UTC (`+02` = 7200).
    TimeTz(i64, i32),
    /// Microseconds since 2000-01-01 00:00:00 (`i64::MAX`/`MIN` = ±infinity).
    Timestamp(i64),
    TimestampTz(i64),
    Interval {
        months: i32,
        days: i32,
        micros: i64,
    },
    Json(Cow<'a, str>),
    Jsonb(Cow<'a, str>),
}

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

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "t" | "true" | "y" | "yes" | "on" | "1" => Some(true),
        "f" | "false" | "n" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
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

/// Parse numeric text the way `numeric_in` does: sign, digits, point, exponent; `NaN`,
/// `Infinity`/`inf` with sign. The display scale is the number of digits after the point minus
/// the exponent (`1.50` -> 1.50, `1.5e1` -> 15, `1e-2` -> 0.01).
pub fn parse_numeric(s: &str) -> std::result::Result<Numeric, String> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    match lower.as_str() {
        "nan" => return Ok(Numeric::NaN),
        "infinity" | "+infinity" | "inf" | "+inf" => return Ok(Numeric::PosInf),
        "-infinity" | "-inf" => return Ok(Numeric::NegInf),
        _ => {}
    }
    let bad = || format!("not a number: {t:?}");
    let b = t.as_bytes();
    let mut i = 0;
    let mut negative = false;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        negative = b[i] == b'-';
        i += 1;
    }
    let mut digits = String::new();
    let mut frac_len: i64 = 0;
    let mut seen_point = false;
    let mut any = false;
    while i < b.len() {
        match b[i] {
            c @ b'0'..=b'9' => {
                digits.push(c as char);
                any = true;
                if seen_point {
                    frac_len += 1;
                }
            }
            b'.' if !seen_point => seen_point = true,
            _ => break,
        }
        i += 1;
    }
    if !any {
        return Err(bad());
    }
    let mut exp: i64 = 0;
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        let e = &t[i + 1..];
        exp = e.parse::<i64>().map_err(|_| bad())?;
        if exp.abs() > 1000 {
            return Err("exponent too large for numeric".into());
        }
        i = b.len();
    }
    if i != b.len() {
        return Err(bad());
    }
    let scale = (frac_len - exp).max(0);
    // Position of the decimal point within `digits`.
    let point = digits.len() as i64 - frac_len + exp;
    let (mut int_digits, mut frac_digits) = if point <= 0 {
        (
            String::new(),
            "0".repeat((-point) as usize) + digits.as_str(),
        )
    } else if point as usize >= digits.len() {
        let pad = point as usize - digits.len();
        (digits.clone() + &"0".repeat(pad), String::new())
    } else {
        let (a, f) = digits.split_at(point as usize);
        (a.to_string(), f.to_string())
    };
    frac_digits.truncate(scale as usize);
    while frac_digits.len() < scale as usize {
        frac_digits.push('0');
    }
    let lead = int_digits.bytes().take_while(|&c| c == b'0').count();
    int_digits.drain(..lead);
    if scale > 0x3FFF {
        return Err("too many digits after the point for numeric (at most 16383)".into());
    }
    let zero = int_digits.is_empty() && frac_digits.bytes().all(|c| c == b'0');
    Ok(Numeric::Finite {
        negative: negative && !zero,
        int_digits,
        frac_digits,
    })
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
fn special_infinity(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "infinity" | "+infinity" => Some(true),
        "-infinity" => Some(false),
        _ => None,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01: (year, month, day).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
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
fn parse_time(s: &str, with_zone: bool) -> std::result::Result<(i64, Option<i32>), String> {
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

/// PostgreSQL's `END_TIMESTAMP` (294277-01-01 00:00:00, microseconds since 2000-01-01).
const PG_END_TIMESTAMP: i64 = 9_223_371_331_200_000_000;

/// Microseconds since 2000-01-01 of a day (since 1970) and time, checked against PostgreSQL's range.
fn pg_micros(unix_days: i64, micros: i64, offset_secs: i64) -> std::result::Result<i64, String> {
    let v = i128::from(unix_days - PG_EPOCH_DAYS) * i128::from(MICROS_PER_DAY) + i128::from(micros)
        - i128::from(offset_secs) * 1_000_000;
    if v >= i128::from(PG_END_TIMESTAMP) {
        return Err("timestamp out of PostgreSQL's range (after 294276 AD)".into());
    }
    i64::try_from(v).map_err(|_| "timestamp out of range".to_string())
}

fn pg_days(unix_days: i64) -> std::result::Result<i32, String> {
    i32::try_from(unix_days - PG_EPOCH_DAYS).map_err(|_| "date out of range".to_string())
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

/// JSON text check (serde_json's grammar, RFC 8259). jsonb also refuses `\u0000`, as PostgreSQL does.
pub fn validate_json(s: &str, jsonb: bool) -> std::result::Result<(), String> {
    serde_json::from_str::<serde::de::IgnoredAny>(s)
        .map_err(|e| format!("not valid JSON ({e})"))?;
    if jsonb && has_escaped_nul(s) {
        return Err(
            "jsonb cannot hold the escape \\u0000 (PostgreSQL refuses it); use json or text".into(),
        );
    }
    Ok(())
}

fn has_escaped_nul(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            if b[i + 1..].starts_with(b"u0000") {
                return true;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

/// Append one field (length word and bytes; `-1` for NULL) in PostgreSQL's binary format.
pub fn encode(v: &PgValue<'_>, buf: &mut Vec<u8>) {
    let start = buf.len();
    buf.extend_from_slice(&[0, 0, 0, 0]);
    match v {
        PgValue::Null => {
            buf.truncate(start);
            buf.extend_from_slice(&(-1i32).to_be_bytes());
            return;
        }
        PgValue::Bool(b) => buf.push(u8::from(*b)),
        PgValue::Int2(i) => buf.extend_from_slice(&i.to_be_bytes()),
        PgValue::Int4(i) => buf.extend_from_slice(&i.to_be_bytes()),
        PgValue::Int8(i) => buf.extend_from_slice(&i.to_be_bytes()),
        PgValue::Float4(f) => buf.extend_from_slice(&f.to_bits().to_be_bytes()),
        PgValue::Float8(f) => buf.extend_from_slice(&f.to_bits().to_be_bytes()),
        PgValue::Numeric(n) => encode_numeric(n, buf),
        PgValue::Text(s) | PgValue::Json(s) => buf.extend_from_slice(s.as_bytes()),
        PgValue::Jsonb(s) => {
            buf.push(1);
            buf.extend_from_slice(s.as_bytes());
        }
        PgValue::Bytea(b) => buf.extend_from_slice(b),
        PgValue::Uuid(u) => buf.extend_from_slice(u),
        PgValue::Date(d) => buf.extend_from_slice(&d.to_be_bytes()),
        PgValue::Time(t) => buf.extend_from_slice(&t.to_be_bytes()),
        PgValue::TimeTz(t, off) => {
            buf.extend_from_slice(&t.to_be_bytes());
            // PostgreSQL stores the zone as seconds WEST of UTC.
            buf.extend_from_slice(&(-off).to_be_bytes());
        }
        PgValue::Timestamp(t) | PgValue::TimestampTz(t) => buf.extend_from_slice(&t.to_be_bytes()),
        PgValue::Interval {
            months,
            days,
            micros,
        } => {
            buf.extend_from_slice(&micros.to_be_bytes());
            buf.extend_from_slice(&days.to_be_bytes());
            buf.extend_from_slice(&months.to_be_bytes());
        }
    }
    let len = (buf.len() - start - 4) as i32;
    buf[start..start + 4].copy_from_slice(&len.to_be_bytes());
}

/// `numeric_recv`'s layout: ndigits, weight, sign, dscale (i16 each), then base-10000 digits.
fn encode_numeric(n: &Numeric, buf: &mut Vec<u8>) {
    let head = |buf: &mut Vec<u8>, nd: i16, weight: i16, sign: u16, dscale: u16| {
        buf.extend_from_slice(&nd.to_be_bytes());
        buf.extend_from_slice(&weight.to_be_bytes());
        buf.extend_from_slice(&sign.to_be_bytes());
        buf.extend_from_slice(&dscale.to_be_bytes());
    };
    let (negative, int_digits, frac_digits) = match n {
        Numeric::NaN => return head(buf, 0, 0, 0xC000, 0),
        Numeric::PosInf => return head(buf, 0, 0, 0xD000, 0),
        Numeric::NegInf => return head(buf, 0, 0, 0xF000, 0),
        Numeric::Finite {
            negative,
            int_digits,
            frac_digits,
        } => (*negative, int_digits.as_bytes(), frac_digits.as_bytes()),
    };
    let dscale = frac_digits.len() as u16;
    let int_pad = (4 - int_digits.len() % 4) % 4;
    let mut groups: Vec<i16> = Vec::with_capacity((int_digits.len() + frac_digits.len()) / 4 + 2);
    let mut acc = 0i16;
    let mut k = 0;
    let all = std::iter::repeat_n(b'0', int_pad)
        .chain(int_digits.iter().copied())
        .chain(frac_digits.iter().copied())
        .chain(std::iter::repeat_n(b'0', (4 - frac_digits.len() % 4) % 4));
    for c in all {
        acc = acc * 10 + i16::from(c - b'0');
        k += 1;
        if k == 4 {
            groups.push(acc);
            acc = 0;
            k = 0;
        }
    }
    let int_groups = (int_digits.len() + int_pad) / 4;
    let mut weight = int_groups as i32 - 1;
    let lead = groups.iter().take_while(|&&g| g == 0).count();
    let trail = groups.iter().rev().take_while(|&&g| g == 0).count();
    if lead == groups.len() {
        return head(buf, 0, 0, 0, dscale);
    }
    weight -= lead as i32;
    let digits = &groups[lead..groups.len() - trail];
    head(
        buf,
        digits.len() as i16,
        weight as i16,
        if negative { 0x4000 } else { 0 },
        dscale,
    );
    for d in digits {
        buf.extend_from_slice(&d.to_be_bytes());
    }
}

/// [`convert`] for one column of a table, with the error naming `table."column"` and the value.
pub fn convert_column<'a>(
    table: &str,
    col: &CopyColumn,
    v: SqliteValue<'a>,
) -> Result<PgValue<'a>> {
    convert(col.target, col.epoch, v).map_err(|reason| Error::Convert {
        column: format!("{table}.\"{}\"", col.name.replace('"', "\"\"")),
        value: v.describe(),
        pg_type: col.target.sql_name().to_string(),
        reason,
    })
}

/// Encodes rows into binary COPY data in one growing buffer, to be handed over in chunks.
pub struct BinaryCopyEncoder {
    table: String,
    columns: Vec<CopyColumn>,
    buf: Vec<u8>,
    rows: u64,
    /// Where the row begun with `begin_row` and not yet ended starts.
    open_row: Option<usize>,
}

impl BinaryCopyEncoder {
    /// `table` is only used in error messages (`"schema"."table"`).
    pub fn new(table: impl Into<String>, columns: Vec<CopyColumn>) -> Self {
        let mut buf = Vec::with_capacity(DEFAULT_CHUNK_BYTES + 64 * 1024);
        buf.extend_from_slice(HEADER);
        BinaryCopyEncoder {
            table: table.into(),
            columns,
            buf,
            rows: 0,
            open_row: None,
        }
    }

    pub fn columns(&self) -> &[CopyColumn] {
        &self.columns
    }

    /// Convert and append one row. On error the buffer is left as it was before the row.
    pub fn write_row<R: RowValues + ?Sized>(&mut self, row: &R) -> Result<()> {
        if row.len() != self.columns.len() {
            return Err(Error::argument(format!(
                "COPY into {}: a row has {} values for {} columns",
                self.table,
                row.len(),
                self.columns.len()
            )));
        }
        let start = self.buf.len();
        self.buf
            .extend_from_slice(&(self.columns.len() as i16).to_be_bytes());
        for (i, col) in self.columns.iter().enumerate() {
            let v = row.value(i);
            match convert(col.target, col.epoch, v) {
                Ok(pv) => encode(&pv, &mut self.buf),
                Err(reason) => {
                    self.buf.truncate(start);
                    return Err(Error::Convert {
                        column: format!("{}.\"{}\"", self.table, col.name.replace('"', "\"\"")),
                        value: v.describe(),
                        pg_type: col.target.sql_name().to_string(),
                        reason,
                    });
                }
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// Append a row already converted (the caller keeps the [`PgValue`]s, e.g. to checksum them).
    pub fn write_values(&mut self, values: &[PgValue<'_>]) {
        self.buf
            .extend_from_slice(&(values.len() as i16).to_be_bytes());
        for v in values {
            encode(v, &mut self.buf);
        }
        self.rows += 1;
    }

    /// Begin a row of `columns` values, appended one by one with [`BinaryCopyEncoder::push_value`]
    /// and closed with [`BinaryCopyEncoder::end_row`]. A row left open (a value failed to convert)
    /// is dropped by [`BinaryCopyEncoder::finish`] and never sent.
    pub fn begin_row(&mut self, columns: usize) {
        self.open_row = Some(self.buf.len());
        self.buf.extend_from_slice(&(columns as i16).to_be_bytes());
    }

    /// Append one value of the row begun.
    pub fn push_value(&mut self, v: &PgValue<'_>) {
        encode(v, &mut self.buf);
    }

    /// Close the row begun.
    pub fn end_row(&mut self) {
        self.open_row = None;
        self.rows += 1;
    }

    /// Bytes waiting to be sent.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Take the buffered bytes (the buffer starts again empty).
    pub fn take(&mut self) -> Bytes {
        let cap = self.buf.capacity();
        Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(cap)))
    }

    /// The trailer, and everything still buffered (but a row left open).
    pub fn finish(mut self) -> Bytes {
        if let Some(start) = self.open_row.take() {
            self.buf.truncate(start);
        }
        self.buf.extend_from_slice(&(-1i16).to_be_bytes());
        Bytes::from(self.buf)
    }
}

enum CopyMsg {
    Data(Bytes),
    Done,
}

/// The producing half of a streamed COPY: used on a blocking thread; sends chunks of about
/// `chunk_bytes`, waiting when the server is slower (the channel holds a few chunks at most).
pub struct CopyInWriter {
    encoder: Option<BinaryCopyEncoder>,
    tx: mpsc::Sender<CopyMsg>,
    chunk_bytes: usize,
}

impl CopyInWriter {
    /// Convert and send one row.
    pub fn write_row<R: RowValues + ?Sized>(&mut self, row: &R) -> Result<()> {
        self.encoder_mut().write_row(row)?;
        self.flush_if_full()
    }

    /// Send one row of already converted values.
    pub fn write_values(&mut self, values: &[PgValue<'_>]) -> Result<()> {
        self.encoder_mut().write_values(values);
        self.flush_if_full()
    }

    /// Begin a row value by value (see [`BinaryCopyEncoder::begin_row`]); on an error before
    /// [`CopyInWriter::end_row`], return it: the COPY is then aborted.
    pub fn begin_row(&mut self, columns: usize) {
        self.encoder_mut().begin_row(columns);
    }

    /// Append one value of the row begun.
    pub fn push_value(&mut self, v: &PgValue<'_>) {
        self.encoder_mut().push_value(v);
    }

    /// Close the row begun, and send a chunk when one is full.
    pub fn end_row(&mut self) -> Result<()> {
        self.encoder_mut().end_row();
        self.flush_if_full()
    }

    /// The columns being written.
    pub fn columns(&self) -> &[CopyColumn] {
        self.encoder.as_ref().map_or(&[], |e| e.columns())
    }

    fn encoder_mut(&mut self) -> &mut BinaryCopyEncoder {
        self.encoder.as_mut().expect("used after finish")
    }

    fn flush_if_full(&mut self) -> Result<()> {
        if self.encoder_mut().buffered() >= self.chunk_bytes {
            let chunk = self.encoder_mut().take();
            self.send(CopyMsg::Data(chunk))?;
        }
        Ok(())
    }

    fn send(&self, msg: CopyMsg) -> Result<()> {
        self.tx.blocking_send(msg).map_err(|_| Error::CopyAborted {
            table: self
                .encoder
                .as_ref()
                .map_or_else(String::new, |e| e.table.clone()),
            reason: "the server side of the COPY ended early".into(),
        })
    }

    /// Send the rest and the trailer, and tell the COPY it is complete. Returns the rows written.
    pub fn finish(&mut self) -> Result<u64> {
        let Some(enc) = self.encoder.take() else {
            return Ok(0);
        };
        let rows = enc.rows();
        let table = enc.table.clone();
        let last = enc.finish();
        let err = |_| Error::CopyAborted {
            table: table.clone(),
            reason: "the server side of the COPY ended early".into(),
        };
        self.tx.blocking_send(CopyMsg::Data(last)).map_err(err)?;
        self.tx.blocking_send(CopyMsg::Done).map_err(err)?;
        Ok(rows)
    }
}

/// `COPY "schema"."table" ("a", "b") FROM STDIN (FORMAT binary)`, every name quoted.
pub fn copy_in_sql(table_quoted: &str, columns: &[CopyColumn]) -> String {
    let cols: Vec<String> = columns
        .iter()
        .map(|c| super::catalog::quote_ident(&c.name))
        .collect();
    format!(
        "COPY {table_quoted} ({}) FROM STDIN (FORMAT binary)",
        cols.join(", ")
    )
}

/// Stream rows into `table_quoted` with binary COPY. `produce` runs on a blocking thread (it may read
/// SQLite there) and writes rows into the [`CopyInWriter`]; at most a few chunks of
/// `chunk_bytes` are in flight. Returns the rows PostgreSQL reports and what `produce` returned.
///
/// If `produce` fails, the COPY is aborted (CopyFail: nothing of it stays in the table) and its error
/// is returned; if the server fails, its error is returned. `target` is `host:port/db as user`.
pub async fn copy_in_with<F, R>(
    client: &Client,
    table_quoted: &str,
    columns: Vec<CopyColumn>,
    chunk_bytes: usize,
    target: &str,
    produce: F,
) -> Result<(u64, R)>
where
    F: FnOnce(&mut CopyInWriter) -> Result<R> + Send + 'static,
    R: Send + 'static,
{
    let sql = copy_in_sql(table_quoted, &columns);
    let context = format!("copying rows into {table_quoted}");
    let sink = client
        .copy_in::<_, Bytes>(sql.as_str())
        .await
        .map_err(|e| Error::from_pg(e, &context, target))?;
    let (tx, mut rx) = mpsc::channel::<CopyMsg>(4);
    let mut writer = CopyInWriter {
        encoder: Some(BinaryCopyEncoder::new(table_quoted, columns)),
        tx,
        chunk_bytes: chunk_bytes.max(4096),
    };
    let producer = tokio::task::spawn_blocking(move || {
        let out = produce(&mut writer);
        let out = out.and_then(|r| writer.finish().map(|_| r));
        drop(writer);
        out
    });
    let mut sink = std::pin::pin!(sink);
    let mut server: Result<u64> = Err(Error::CopyAborted {
        table: table_quoted.to_string(),
        reason: "the reader stopped before the end".into(),
    });
    while let Some(msg) = rx.recv().await {
        match msg {
            CopyMsg::Data(b) => {
                if let Err(e) = sink.as_mut().feed(b).await {
                    server = Err(Error::from_pg(e, &context, target));
                    break;
                }
            }
            CopyMsg::Done => {
                server = sink
                    .as_mut()
                    .finish()
                    .await
                    .map_err(|e| Error::from_pg(e, &context, target));
                break;
            }
        }
    }
    // Dropping the receiver unblocks a producer still sending; dropping an unfinished sink aborts the COPY.
    drop(rx);
    let produced = producer.await.map_err(|e| Error::CopyAborted {
        table: table_quoted.to_string(),
        reason: format!("the reader panicked: {e}"),
    })?;
    match (produced, server) {
        (Ok(r), Ok(n)) => Ok((n, r)),
        // A server error explains why the producer could not send: report the server's.
        (Err(Error::CopyAborted { .. }), Err(e)) => Err(e),
        (Err(e), _) => Err(e),
        (Ok(_), Err(e)) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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

    fn numeric_bytes(s: &str) -> Vec<u8> {
        let mut b = Vec::new();
        encode(&PgValue::Numeric(parse_numeric(s).unwrap()), &mut b);
        b[4..].to_vec()
    }

    #[test]
    fn numeric_binary_layout() {
        // 12345.678: digits [1, 2345, 6780], weight 1, dscale 3.
        assert_eq!(
            numeric_bytes("12345.678"),
            vec![0, 3, 0, 1, 0, 0, 0, 3, 0, 1, 0x09, 0x29, 0x1A, 0x7C]
        );
        // 0.00: no digits, dscale 2.
        assert_eq!(numeric_bytes("0.00"), vec![0, 0, 0, 0, 0, 0, 0, 2]);
        // -0.0001: digit [1], weight -1, negative, dscale 4.
        assert_eq!(
            numeric_bytes("-0.0001"),
            vec![0, 1, 0xFF, 0xFF, 0x40, 0, 0, 4, 0, 1]
        );
        // 10000: digit [1], weight 1 (trailing zero group dropped).
        assert_eq!(numeric_bytes("10000"), vec![0, 1, 0, 1, 0, 0, 0, 0, 0, 1]);
        assert_eq!(numeric_bytes("NaN"), vec![0, 0, 0, 0, 0xC0, 0, 0, 0]);
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
        assert_eq!(days_from_civil(2000, 1, 1), PG_EPOCH_DAYS);
        for d in [-1_000_000, -1, 0, 1, 10_957, 2_000_000] {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
    }

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
        encode(&conv(PgTarget::Jsonb, S::Text(b"[]")).unwrap(), &mut b);
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

    #[test]
    fn a_row_left_open_is_not_sent() {
        let cols = vec![
            CopyColumn::new("a", PgTarget::Int4),
            CopyColumn::new("b", PgTarget::Int4),
        ];
        let mut e = BinaryCopyEncoder::new("t", cols.clone());
        e.begin_row(2);
        e.push_value(&PgValue::Int4(1));
        e.push_value(&PgValue::Int4(2));
        e.end_row();
        e.begin_row(2);
        e.push_value(&PgValue::Int4(3));
        let mut whole = BinaryCopyEncoder::new("t", cols);
        whole.write_values(&[PgValue::Int4(1), PgValue::Int4(2)]);
        assert_eq!(e.rows(), 1);
        assert_eq!(e.finish(), whole.finish());
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

    #[test]
    fn type_names_parse() {
        assert_eq!(
            PgTarget::from_sql_name("TIMESTAMPTZ"),
            Some(PgTarget::TimestampTz)
        );
        assert_eq!(
            PgTarget::from_sql_name("double  precision"),
            Some(PgTarget::Float8)
        );
        assert_eq!(PgTarget::from_sql_name("varchar(20)"), Some(PgTarget::Text));
        assert_eq!(
            PgTarget::from_sql_name("numeric(12,2)"),
            Some(PgTarget::Numeric)
        );
        assert_eq!(PgTarget::from_sql_name("geometry"), None);
        for t in PgTarget::ALL {
            assert_eq!(PgTarget::from_sql_name(t.sql_name()), Some(t), "{t:?}");
        }
    }
}
