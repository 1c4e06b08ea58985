//! The PostgreSQL value model lakemig writes with: the target types ([`PgTarget`]), a value converted
//! to one of them ([`PgValue`], dates and times counted as on the wire), NUMERIC's exact decimal form
//! ([`Numeric`], read as `numeric_in` reads text), and one column of a COPY ([`CopyColumn`]). Values
//! are made from SQLite's by [`crate::sqlite::convert`], encoded by [`crate::postgres::codec::encode`]
//! and checksummed by [`crate::migrate::checksum`].

use std::borrow::Cow;

use crate::postgres::codec::conversion::NUMERIC_DSCALE_MASK;

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
    /// Microseconds in one unit.
    pub fn micros_per_unit(self) -> i64 {
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
    /// For `numeric(p,s)`: the scale every value is written with (`1.5` -> `1.50`).
    pub scale: Option<u32>,
}

impl CopyColumn {
    pub fn new(name: impl Into<String>, target: PgTarget) -> Self {
        CopyColumn {
            name: name.into(),
            target,
            epoch: None,
            scale: None,
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
    if scale > i64::from(NUMERIC_DSCALE_MASK) {
        return Err("too many digits after the point for numeric (at most 16383)".into());
    }
    let zero = int_digits.is_empty() && frac_digits.bytes().all(|c| c == b'0');
    Ok(Numeric::Finite {
        negative: negative && !zero,
        int_digits,
        frac_digits,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
