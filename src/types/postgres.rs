//! The PostgreSQL -> DuckDB type map, as data: which DuckDB type a PostgreSQL column becomes, how its
//! binary wire form is decoded, and whether the `SELECT` list must cast it to text first.
//!
//! The rules mirror DuckDB's postgres extension, `src/postgres_utils.cpp`
//! (`PostgresUtils::TypeToLogicalType`), except where the table says otherwise.
//!
//! | PostgreSQL type                                  | DuckDB type        | Sent as  | Note |
//! |--------------------------------------------------|--------------------|----------|------|
//! | `boolean`                                        | `BOOLEAN`          | binary   | |
//! | `smallint` (`int2`)                              | `SMALLINT`         | binary   | |
//! | `integer` (`int4`)                               | `INTEGER`          | binary   | |
//! | `bigint` (`int8`)                                | `BIGINT`           | binary   | |
//! | `oid`                                            | `UINTEGER`         | binary   | |
//! | `real` (`float4`)                                | `FLOAT`            | binary   | NaN and ±Infinity kept |
//! | `double precision` (`float8`)                    | `DOUBLE`           | binary   | NaN and ±Infinity kept |
//! | `numeric(p,s)`, p <= 38, 0 <= s <= p             | `DECIMAL(p,s)`     | binary   | NaN/Infinity are an error |
//! | `numeric`, `numeric(p,s)` with p > 38, s < 0 or s > p | `VARCHAR`     | binary   | exact text, `NaN`, `Infinity`; upstream: `DOUBLE` (lossy) — never here. The caller may probe the data and pick `DECIMAL(38,s)` ([`numeric_decimal`]) |
//! | `text`, `varchar(n)`, `name`, `citext`           | `VARCHAR`          | binary   | |
//! | `character(n)` (`bpchar`)                        | `VARCHAR`          | binary   | padding kept as sent (upstream strips trailing spaces) |
//! | `"char"`                                         | `VARCHAR`          | binary   | one byte |
//! | enum types                                       | `VARCHAR`          | binary   | the label; upstream: DuckDB `ENUM` |
//! | `json`                                           | `JSON`             | binary   | upstream: `VARCHAR` |
//! | `jsonb`                                          | `JSON`             | binary   | upstream: `VARCHAR` |
//! | `bytea`                                          | `BLOB`             | binary   | |
//! | `date`                                           | `DATE`             | binary   | ±infinity kept |
//! | `time`                                           | `TIME`             | binary   | |
//! | `time with time zone` (`timetz`)                 | `TIMETZ`           | binary   | |
//! | `timestamp`                                      | `TIMESTAMP`        | binary   | ±infinity kept |
//! | `timestamp with time zone` (`timestamptz`)       | `TIMESTAMPTZ`      | binary   | ±infinity kept |
//! | `interval`                                       | `INTERVAL`         | binary   | |
//! | `uuid`                                           | `UUID`             | binary   | |
//! | `T[]` (any of the above as element)              | `T'[]`, nested `max(attndims, 1)` times | binary | e.g. `int4[][]` -> `INTEGER[][]` |
//! | `T[]` (element is any other type)                | `VARCHAR[]`, nested likewise | `::text[]` | |
//! | anything else: `inet`, `cidr`, `macaddr`, `money`, `bit`, `varbit`, `tsvector`, `xml`, ranges, composites, geometric types, ... | `VARCHAR` | `::text` | PostgreSQL's text form; upstream maps composites to `STRUCT` and geometric types to `STRUCT`/`DOUBLE[]` |
//!
//! Domains are resolved to their base type before this map is consulted (see [`PgColumnType`]).

use super::DuckType;

/// What the catalog says about one column (filled by a catalog query elsewhere).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgColumnType {
    /// The column's type after resolving domains to their base type.
    pub oid: u32,
    /// `pg_attribute.atttypmod` (for domains: the base type's `pg_type.typtypmod`); -1 when none.
    pub typmod: i32,
    /// `format_type`-ish name, for messages, e.g. `numeric(12,2)`, `inet`, `citext[]`.
    pub name: String,
    /// `pg_type.typtype` of the (base) type: `b` base, `e` enum, `r` range, `c` composite, ...
    pub typtype: char,
    /// For array types only (`pg_type.typcategory = 'A'`): the element type's oid, after domain resolution.
    pub elem_oid: Option<u32>,
    /// For array types: the element type's `typtype`.
    pub elem_typtype: Option<char>,
    /// `pg_attribute.attndims` (0 when unknown); the nesting depth for arrays.
    pub ndims: i32,
}

/// How to decode the binary wire form of one value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decode {
    Bool,
    Int2,
    Int4,
    Int8,
    Oid,
    Float4,
    Float8,
    /// numeric -> DuckDB `DECIMAL(width, scale)`.
    Numeric {
        width: u8,
        scale: u8,
    },
    /// numeric -> PostgreSQL's exact text form (including `NaN`, `Infinity`, `-Infinity`).
    NumericText,
    /// text, varchar, bpchar, name, citext, enum labels, and anything selected as `::text`.
    Text,
    Json,
    /// jsonb's binary form: version byte 1, then the text.
    Jsonb,
    Bytea,
    Date,
    Time,
    TimeTz,
    Timestamp,
    TimestampTz,
    Interval,
    Uuid,
    /// A PostgreSQL array, read as `ndims` nested DuckDB lists.
    Array {
        elem: Box<Decode>,
        ndims: usize,
    },
}

// Built-in type oids (PostgreSQL's `pg_type.dat`; stable across versions).
pub const BOOL: u32 = 16;
pub const BYTEA: u32 = 17;
pub const CHAR: u32 = 18;
pub const NAME: u32 = 19;
pub const INT8: u32 = 20;
pub const INT2: u32 = 21;
pub const INT4: u32 = 23;
pub const TEXT: u32 = 25;
pub const OID: u32 = 26;
pub const JSON: u32 = 114;
pub const FLOAT4: u32 = 700;
pub const FLOAT8: u32 = 701;
pub const BPCHAR: u32 = 1042;
pub const VARCHAR: u32 = 1043;
pub const DATE: u32 = 1082;
pub const TIME: u32 = 1083;
pub const TIMESTAMP: u32 = 1114;
pub const TIMESTAMPTZ: u32 = 1184;
pub const INTERVAL: u32 = 1186;
pub const TIMETZ: u32 = 1266;
pub const NUMERIC: u32 = 1700;
pub const UUID: u32 = 2950;
pub const JSONB: u32 = 3802;

/// The widest DuckDB DECIMAL.
const MAX_DECIMAL_WIDTH: i32 = 38;

/// One rule of the table: the DuckDB type, the decoder, and whether the server must send text.
struct Rule {
    duck: DuckType,
    decode: Decode,
    text_cast: bool,
}

impl Rule {
    fn binary(duck: DuckType, decode: Decode) -> Rule {
        Rule {
            duck,
            decode,
            text_cast: false,
        }
    }
}

/// Whether the SELECT list must cast this column to text (`"col"::text`, or `"col"::text[]` for arrays)
/// so the server sends its text form.
pub fn needs_text_cast(t: &PgColumnType) -> bool {
    column_rule(t).text_cast
}

/// The cast to append to the column in the SELECT list, if one is needed: `::text` or `::text[]`.
pub fn text_cast_sql(t: &PgColumnType) -> Option<&'static str> {
    if !needs_text_cast(t) {
        None
    } else if t.elem_oid.is_some() {
        Some("::text[]")
    } else {
        Some("::text")
    }
}

/// The DuckDB type of a PostgreSQL column and how to decode its values (see the module's table).
pub fn pg_type_to_duck(t: &PgColumnType) -> (DuckType, Decode) {
    let rule = column_rule(t);
    (rule.duck, rule.decode)
}

/// `DECIMAL(38, scale)`, for an unconstrained numeric column whose data the caller probed.
pub fn numeric_decimal(scale: u8) -> (DuckType, Decode) {
    let width = MAX_DECIMAL_WIDTH as u8;
    (
        DuckType::Decimal { width, scale },
        Decode::Numeric { width, scale },
    )
}

/// Precision and scale of a `numeric(p,s)` typmod, or `None` when the column is unconstrained, or its
/// scale is negative or larger than its precision (allowed since PostgreSQL 15), which DuckDB cannot hold.
pub fn numeric_precision_scale(typmod: i32) -> Option<(u8, u8)> {
    // VARHDRSZ = 4; typmod = ((precision << 16) | (scale & 0x7ff)) + 4, the scale an 11-bit signed field.
    if typmod < 4 {
        return None;
    }
    let packed = typmod - 4;
    let precision = (packed >> 16) & 0xffff;
    let scale = ((packed & 0x7ff) ^ 1024) - 1024;
    if !(1..=0xff).contains(&precision) || !(0..=precision).contains(&scale) {
        return None;
    }
    Some((precision as u8, scale as u8))
}

/// Arrays first (by their element), then the scalar table.
fn column_rule(t: &PgColumnType) -> Rule {
    let Some(elem_oid) = t.elem_oid else {
        return scalar_rule(t);
    };
    let elem = PgColumnType {
        oid: elem_oid,
        typmod: t.typmod,
        name: t.name.trim_end_matches("[]").to_string(),
        typtype: t.elem_typtype.unwrap_or('b'),
        elem_oid: None,
        elem_typtype: None,
        ndims: 0,
    };
    let ndims = t.ndims.max(1) as usize;
    let elem_rule = scalar_rule(&elem);
    let (mut duck, decode, text_cast) = if elem_rule.text_cast {
        (DuckType::Varchar, Decode::Text, true)
    } else {
        (elem_rule.duck, elem_rule.decode, false)
    };
    for _ in 0..ndims {
        duck = DuckType::List(Box::new(duck));
    }
    Rule {
        duck,
        decode: Decode::Array {
            elem: Box::new(decode),
            ndims,
        },
        text_cast,
    }
}

/// The rule table for one non-array type.
fn scalar_rule(t: &PgColumnType) -> Rule {
    match t.oid {
        BOOL => Rule::binary(DuckType::Boolean, Decode::Bool),
        INT2 => Rule::binary(DuckType::SmallInt, Decode::Int2),
        INT4 => Rule::binary(DuckType::Integer, Decode::Int4),
        INT8 => Rule::binary(DuckType::BigInt, Decode::Int8),
        OID => Rule::binary(DuckType::UInteger, Decode::Oid),
        FLOAT4 => Rule::binary(DuckType::Float, Decode::Float4),
        FLOAT8 => Rule::binary(DuckType::Double, Decode::Float8),
        NUMERIC => match numeric_precision_scale(t.typmod) {
            Some((width, scale)) if i32::from(width) <= MAX_DECIMAL_WIDTH => Rule::binary(
                DuckType::Decimal { width, scale },
                Decode::Numeric { width, scale },
            ),
            _ => Rule::binary(DuckType::Varchar, Decode::NumericText),
        },
        TEXT | VARCHAR | BPCHAR | NAME | CHAR => Rule::binary(DuckType::Varchar, Decode::Text),
        JSON => Rule::binary(DuckType::Json, Decode::Json),
        JSONB => Rule::binary(DuckType::Json, Decode::Jsonb),
        BYTEA => Rule::binary(DuckType::Blob, Decode::Bytea),
        DATE => Rule::binary(DuckType::Date, Decode::Date),
        TIME => Rule::binary(DuckType::Time, Decode::Time),
        TIMETZ => Rule::binary(DuckType::TimeTz, Decode::TimeTz),
        TIMESTAMP => Rule::binary(DuckType::Timestamp, Decode::Timestamp),
        TIMESTAMPTZ => Rule::binary(DuckType::TimestampTz, Decode::TimestampTz),
        INTERVAL => Rule::binary(DuckType::Interval, Decode::Interval),
        UUID => Rule::binary(DuckType::Uuid, Decode::Uuid),
        _ => fallback_rule(t),
    }
}

/// Types without a fixed oid: enums and citext are read in binary (their binary form is their text);
/// everything else is sent as PostgreSQL's text form.
fn fallback_rule(t: &PgColumnType) -> Rule {
    if t.typtype == 'e' || is_citext(&t.name) {
        return Rule::binary(DuckType::Varchar, Decode::Text);
    }
    Rule {
        duck: DuckType::Varchar,
        decode: Decode::Text,
        text_cast: true,
    }
}

/// `citext`, possibly schema-qualified or quoted by `format_type`.
fn is_citext(name: &str) -> bool {
    let base = name.rsplit('.').next().unwrap_or(name).trim_matches('"');
    base == "citext"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(oid: u32, typmod: i32, name: &str) -> PgColumnType {
        PgColumnType {
            oid,
            typmod,
            name: name.into(),
            typtype: 'b',
            elem_oid: None,
            elem_typtype: None,
            ndims: 0,
        }
    }

    fn array(oid: u32, elem: u32, typmod: i32, name: &str, ndims: i32) -> PgColumnType {
        PgColumnType {
            elem_oid: Some(elem),
            elem_typtype: Some('b'),
            ndims,
            ..col(oid, typmod, name)
        }
    }

    /// typmod of numeric(p,s) as PostgreSQL stores it.
    fn numeric_typmod(p: i32, s: i32) -> i32 {
        ((p << 16) | (s & 0x7ff)) + 4
    }

    fn binary(t: &PgColumnType, duck: DuckType, decode: Decode) {
        assert_eq!(pg_type_to_duck(t), (duck, decode), "{}", t.name);
        assert!(!needs_text_cast(t), "{}", t.name);
        assert_eq!(text_cast_sql(t), None);
    }

    #[test]
    fn bool_arm() {
        binary(&col(BOOL, -1, "boolean"), DuckType::Boolean, Decode::Bool);
    }

    #[test]
    fn integer_arms() {
        binary(&col(INT2, -1, "smallint"), DuckType::SmallInt, Decode::Int2);
        binary(&col(INT4, -1, "integer"), DuckType::Integer, Decode::Int4);
        binary(&col(INT8, -1, "bigint"), DuckType::BigInt, Decode::Int8);
    }

    #[test]
    fn oid_arm() {
        binary(&col(OID, -1, "oid"), DuckType::UInteger, Decode::Oid);
    }

    #[test]
    fn float_arms() {
        binary(&col(FLOAT4, -1, "real"), DuckType::Float, Decode::Float4);
        binary(
            &col(FLOAT8, -1, "double precision"),
            DuckType::Double,
            Decode::Float8,
        );
    }

    #[test]
    fn numeric_with_typmod_is_decimal() {
        let t = col(NUMERIC, numeric_typmod(12, 2), "numeric(12,2)");
        let dec = DuckType::Decimal {
            width: 12,
            scale: 2,
        };
        binary(
            &t,
            dec,
            Decode::Numeric {
                width: 12,
                scale: 2,
            },
        );
        let t = col(NUMERIC, numeric_typmod(38, 38), "numeric(38,38)");
        let dec = DuckType::Decimal {
            width: 38,
            scale: 38,
        };
        binary(
            &t,
            dec,
            Decode::Numeric {
                width: 38,
                scale: 38,
            },
        );
        let t = col(NUMERIC, numeric_typmod(5, 0), "numeric(5,0)");
        let dec = DuckType::Decimal { width: 5, scale: 0 };
        binary(&t, dec, Decode::Numeric { width: 5, scale: 0 });
    }

    #[test]
    fn numeric_unconstrained_wide_or_odd_scale_is_exact_text() {
        for (typmod, name) in [
            (-1, "numeric"),
            (numeric_typmod(39, 2), "numeric(39,2)"),
            (numeric_typmod(1000, 0), "numeric(1000,0)"),
            (numeric_typmod(10, -3), "numeric(10,-3)"),
            (numeric_typmod(3, 5), "numeric(3,5)"),
        ] {
            binary(
                &col(NUMERIC, typmod, name),
                DuckType::Varchar,
                Decode::NumericText,
            );
        }
    }

    #[test]
    fn numeric_precision_scale_decodes_typmods() {
        assert_eq!(
            numeric_precision_scale(numeric_typmod(12, 2)),
            Some((12, 2))
        );
        assert_eq!(numeric_precision_scale(numeric_typmod(1, 0)), Some((1, 0)));
        assert_eq!(numeric_precision_scale(numeric_typmod(10, -3)), None);
        assert_eq!(numeric_precision_scale(numeric_typmod(3, 5)), None);
        assert_eq!(numeric_precision_scale(-1), None);
        assert_eq!(numeric_precision_scale(0), None);
    }

    #[test]
    fn numeric_decimal_is_width_38() {
        assert_eq!(
            numeric_decimal(4),
            (
                DuckType::Decimal {
                    width: 38,
                    scale: 4
                },
                Decode::Numeric {
                    width: 38,
                    scale: 4
                }
            )
        );
    }

    #[test]
    fn text_arms() {
        binary(&col(TEXT, -1, "text"), DuckType::Varchar, Decode::Text);
        binary(
            &col(VARCHAR, 14, "character varying(10)"),
            DuckType::Varchar,
            Decode::Text,
        );
        binary(
            &col(BPCHAR, 14, "character(10)"),
            DuckType::Varchar,
            Decode::Text,
        );
        binary(&col(NAME, -1, "name"), DuckType::Varchar, Decode::Text);
        binary(&col(CHAR, -1, "\"char\""), DuckType::Varchar, Decode::Text);
    }

    #[test]
    fn citext_and_enum_are_binary_text() {
        binary(&col(16_385, -1, "citext"), DuckType::Varchar, Decode::Text);
        binary(
            &col(16_385, -1, "ext.citext"),
            DuckType::Varchar,
            Decode::Text,
        );
        let mood = PgColumnType {
            typtype: 'e',
            ..col(16_400, -1, "mood")
        };
        binary(&mood, DuckType::Varchar, Decode::Text);
    }

    #[test]
    fn json_arms() {
        binary(&col(JSON, -1, "json"), DuckType::Json, Decode::Json);
        binary(&col(JSONB, -1, "jsonb"), DuckType::Json, Decode::Jsonb);
    }

    #[test]
    fn bytea_arm() {
        binary(&col(BYTEA, -1, "bytea"), DuckType::Blob, Decode::Bytea);
    }

    #[test]
    fn date_and_time_arms() {
        binary(&col(DATE, -1, "date"), DuckType::Date, Decode::Date);
        binary(
            &col(TIME, -1, "time without time zone"),
            DuckType::Time,
            Decode::Time,
        );
        binary(
            &col(TIMETZ, -1, "time with time zone"),
            DuckType::TimeTz,
            Decode::TimeTz,
        );
        binary(
            &col(TIMESTAMP, -1, "timestamp"),
            DuckType::Timestamp,
            Decode::Timestamp,
        );
        binary(
            &col(TIMESTAMPTZ, 3, "timestamp(3) with time zone"),
            DuckType::TimestampTz,
            Decode::TimestampTz,
        );
        binary(
            &col(INTERVAL, -1, "interval"),
            DuckType::Interval,
            Decode::Interval,
        );
    }

    #[test]
    fn uuid_arm() {
        binary(&col(UUID, -1, "uuid"), DuckType::Uuid, Decode::Uuid);
    }

    #[test]
    fn fallback_is_text_cast() {
        for (oid, typtype, name) in [
            (869, 'b', "inet"),
            (650, 'b', "cidr"),
            (829, 'b', "macaddr"),
            (790, 'b', "money"),
            (1560, 'b', "bit(3)"),
            (1562, 'b', "bit varying"),
            (3614, 'b', "tsvector"),
            (142, 'b', "xml"),
            (3904, 'r', "int4range"),
            (16_500, 'c', "address"),
            (600, 'b', "point"),
        ] {
            let t = PgColumnType {
                typtype,
                ..col(oid, -1, name)
            };
            assert_eq!(
                pg_type_to_duck(&t),
                (DuckType::Varchar, Decode::Text),
                "{name}"
            );
            assert!(needs_text_cast(&t), "{name}");
            assert_eq!(text_cast_sql(&t), Some("::text"));
        }
    }

    #[test]
    fn arrays_nest_by_ndims() {
        let t = array(1007, INT4, -1, "integer[]", 0);
        let one = DuckType::List(Box::new(DuckType::Integer));
        let dec = Decode::Array {
            elem: Box::new(Decode::Int4),
            ndims: 1,
        };
        binary(&t, one.clone(), dec);

        let t = array(1007, INT4, -1, "integer[]", 2);
        let dec = Decode::Array {
            elem: Box::new(Decode::Int4),
            ndims: 2,
        };
        binary(&t, DuckType::List(Box::new(one)), dec);
    }

    #[test]
    fn array_element_keeps_typmod() {
        let t = array(1231, NUMERIC, numeric_typmod(10, 2), "numeric(10,2)[]", 1);
        let dec = Decode::Array {
            elem: Box::new(Decode::Numeric {
                width: 10,
                scale: 2,
            }),
            ndims: 1,
        };
        binary(
            &t,
            DuckType::List(Box::new(DuckType::Decimal {
                width: 10,
                scale: 2,
            })),
            dec,
        );
    }

    #[test]
    fn array_of_enum_and_citext_is_binary() {
        let t = PgColumnType {
            elem_typtype: Some('e'),
            ..array(16_401, 16_400, -1, "mood[]", 1)
        };
        let dec = Decode::Array {
            elem: Box::new(Decode::Text),
            ndims: 1,
        };
        binary(&t, DuckType::List(Box::new(DuckType::Varchar)), dec.clone());
        let t = array(16_386, 16_385, -1, "citext[]", 1);
        binary(&t, DuckType::List(Box::new(DuckType::Varchar)), dec);
    }

    #[test]
    fn array_of_text_cast_type_is_text_array() {
        let t = array(1041, 869, -1, "inet[]", 2);
        let (duck, decode) = pg_type_to_duck(&t);
        assert_eq!(
            duck,
            DuckType::List(Box::new(DuckType::List(Box::new(DuckType::Varchar))))
        );
        assert_eq!(
            decode,
            Decode::Array {
                elem: Box::new(Decode::Text),
                ndims: 2
            }
        );
        assert!(needs_text_cast(&t));
        assert_eq!(text_cast_sql(&t), Some("::text[]"));
    }
}
