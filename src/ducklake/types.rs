//! Column types of DuckLake catalogs on PostgreSQL and SQLite, and how a value moves between them.
//!
//! Three rules, each one `match`:
//! - [`PgType::from_duckdb`]: the PostgreSQL type DuckDB's postgres extension creates for a DuckDB type
//!   name in a `CREATE TABLE` (duckdb/duckdb-postgres `postgres_utils.cpp`, `TypeToString`), restricted
//!   to the names DuckLake's catalog DDL and its PostgreSQL inlined-data rule produce.
//! - [`inlined_pg_type`]: the type of an inlined-data column on a PostgreSQL catalog, from the column's
//!   DuckLake type (`PostgresMetadataManager::GetColumnTypeInternal` / `TypeIsNativelySupported` in
//!   duckdb/ducklake `src/metadata_manager/postgres_metadata_manager.cpp` at d8a1881e; nested types
//!   become VARCHAR in `DuckLakeMetadataManager::GetColumnType`).
//! - [`inlined_sqlite_storage`]: how a SQLite catalog stores that column (`SQLiteMetadataManager`:
//!   FLOAT/DOUBLE/VARIANT as VARCHAR, nested as VARCHAR; then DuckDB's sqlite storage keeps integers and
//!   booleans as INTEGER, BLOB as BLOB and everything else as text).
//!
//! | DuckLake type | SQLite catalog | PostgreSQL catalog | value re-encoding |
//! |---|---|---|---|
//! | `boolean` | BIGINT 0/1 | `boolean` | 0 -> false, 1 -> true |
//! | `int8`, `int16` | BIGINT | `smallint` | range-checked |
//! | `int32`, `uint8`, `uint16` | BIGINT | `integer` | range-checked |
//! | `int64`, `uint32` | BIGINT | `bigint` | |
//! | `uint64`, `int128`, `uint128` | VARCHAR | `character varying` | text kept |
//! | `float32`, `float64` | VARCHAR (`'1.5'`, `'nan'`, `'inf'`) | `real`, `double precision` | text parsed |
//! | `decimal(p,s)` | VARCHAR | `numeric(p,s)` | text parsed |
//! | `varchar`, `json` | VARCHAR | `bytea` | UTF-8 bytes |
//! | `blob` | BLOB | `bytea` | bytes kept |
//! | `date`, `timestamp*` | VARCHAR | `character varying` | text kept |
//! | `time`, `timetz` | VARCHAR | `time`, `time with time zone` | text parsed |
//! | `interval` | VARCHAR | `interval` | text parsed |
//! | `uuid` | VARCHAR | `uuid` | text parsed |
//! | `list`, `struct`, `map` | VARCHAR | `character varying` | text kept |
//! | `variant`, `geometry` | not inlined | not inlined | refused |
//!
//! Catalog 0.3 (DuckLake 1.4) differs on PostgreSQL: `float32` -> `double precision`, `varchar` ->
//! `character varying`, `json` -> `json`, `date` -> `date`, `timestamp` -> `timestamp`, `timestamptz`
//! -> `timestamp with time zone` ([`inlined_pg_type_differences`]).

use crate::ducklake::catalog::Version;
use crate::error::{Error, Result};
use crate::types::pg_value::PgTarget;

/// A PostgreSQL column type of a DuckLake catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PgType {
    Boolean,
    SmallInt,
    Integer,
    BigInt,
    Real,
    Double,
    /// `numeric(precision, scale)`.
    Numeric(u8, u8),
    Varchar,
    Bytea,
    Time,
    TimeTz,
    Interval,
    Uuid,
    Json,
    Date,
    Timestamp,
    TimestampTz,
}

impl PgType {
    /// The type as PostgreSQL's `format_type(atttypid, atttypmod)` prints it; also valid in DDL.
    pub fn sql(self) -> String {
        match self {
            PgType::Boolean => "boolean".into(),
            PgType::SmallInt => "smallint".into(),
            PgType::Integer => "integer".into(),
            PgType::BigInt => "bigint".into(),
            PgType::Real => "real".into(),
            PgType::Double => "double precision".into(),
            PgType::Numeric(p, s) => format!("numeric({p},{s})"),
            PgType::Varchar => "character varying".into(),
            PgType::Bytea => "bytea".into(),
            PgType::Time => "time without time zone".into(),
            PgType::TimeTz => "time with time zone".into(),
            PgType::Interval => "interval".into(),
            PgType::Uuid => "uuid".into(),
            PgType::Json => "json".into(),
            PgType::Date => "date".into(),
            PgType::Timestamp => "timestamp without time zone".into(),
            PgType::TimestampTz => "timestamp with time zone".into(),
        }
    }

    /// The conversion a SQLite catalog value of a column of this type goes through on its way in (and
    /// the checksum's canonical form): `numeric(p,s)` as numeric, `character varying` as text.
    pub fn copy_target(self) -> PgTarget {
        match self {
            PgType::Boolean => PgTarget::Bool,
            PgType::SmallInt => PgTarget::Int2,
            PgType::Integer => PgTarget::Int4,
            PgType::BigInt => PgTarget::Int8,
            PgType::Real => PgTarget::Float4,
            PgType::Double => PgTarget::Float8,
            PgType::Numeric(..) => PgTarget::Numeric,
            PgType::Varchar => PgTarget::Text,
            PgType::Bytea => PgTarget::Bytea,
            PgType::Time => PgTarget::Time,
            PgType::TimeTz => PgTarget::TimeTz,
            PgType::Interval => PgTarget::Interval,
            PgType::Uuid => PgTarget::Uuid,
            PgType::Json => PgTarget::Json,
            PgType::Date => PgTarget::Date,
            PgType::Timestamp => PgTarget::Timestamp,
            PgType::TimestampTz => PgTarget::TimestampTz,
        }
    }

    /// The PostgreSQL type DuckDB's postgres extension creates for a DuckDB type name, for the names
    /// DuckLake writes on PostgreSQL. Anything else is an error naming the type.
    pub fn from_duckdb(name: &str) -> Result<PgType> {
        let upper = name.trim().to_ascii_uppercase();
        if let Some((p, s)) = parse_decimal(&upper) {
            return Ok(PgType::Numeric(p, s));
        }
        Ok(match upper.as_str() {
            "BOOLEAN" | "BOOL" => PgType::Boolean,
            "SMALLINT" | "INT2" => PgType::SmallInt,
            "INTEGER" | "INT" | "INT4" => PgType::Integer,
            "BIGINT" | "INT8" => PgType::BigInt,
            "REAL" | "FLOAT" | "FLOAT4" => PgType::Real,
            "DOUBLE" | "DOUBLE PRECISION" | "FLOAT8" => PgType::Double,
            "VARCHAR" | "TEXT" | "STRING" => PgType::Varchar,
            "BYTEA" | "BLOB" => PgType::Bytea,
            "TIME" => PgType::Time,
            "TIME WITH TIME ZONE" | "TIMETZ" => PgType::TimeTz,
            "INTERVAL" => PgType::Interval,
            "UUID" => PgType::Uuid,
            "JSON" => PgType::Json,
            "DATE" => PgType::Date,
            "TIMESTAMP" => PgType::Timestamp,
            "TIMESTAMPTZ" | "TIMESTAMP WITH TIME ZONE" => PgType::TimestampTz,
            _ => {
                return Err(Error::argument(format!(
                    "no PostgreSQL type known for DuckDB type {name}"
                )))
            }
        })
    }
}

/// `DECIMAL(p,s)` / `decimal(p,s)` / `NUMERIC(p,s)` -> (p, s).
fn parse_decimal(upper: &str) -> Option<(u8, u8)> {
    let inner = upper
        .strip_prefix("DECIMAL(")
        .or_else(|| upper.strip_prefix("NUMERIC("))?
        .strip_suffix(')')?;
    let (p, s) = inner.split_once(',')?;
    Some((p.trim().parse().ok()?, s.trim().parse().ok()?))
}

/// A column type as DuckLake writes it in `ducklake_column.column_type` (`DuckLakeTypes::ToString`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LakeType {
    Boolean,
    Int8,
    Int16,
    Int32,
    Int64,
    UInt8,
    UInt16,
    UInt32,
    UInt64,
    Int128,
    UInt128,
    Float32,
    Float64,
    Decimal(u8, u8),
    Varchar,
    Json,
    Blob,
    Date,
    Time,
    TimeTz,
    Timestamp,
    TimestampTz,
    /// `timestamp_s`, `timestamp_ms`, `timestamp_ns`.
    TimestampOtherUnit,
    Interval,
    Uuid,
    /// `list`, `struct`, `map` (the children are separate `ducklake_column` rows).
    Nested,
    /// `variant`, `geometry`: never inlined.
    NotInlinable,
}

impl LakeType {
    pub fn parse(s: &str) -> Result<LakeType> {
        let lower = s.trim().to_ascii_lowercase();
        if let Some((p, sc)) = parse_decimal(&lower.to_ascii_uppercase()) {
            return Ok(LakeType::Decimal(p, sc));
        }
        Ok(match lower.as_str() {
            "boolean" => LakeType::Boolean,
            "int8" => LakeType::Int8,
            "int16" => LakeType::Int16,
            "int32" => LakeType::Int32,
            "int64" => LakeType::Int64,
            "uint8" => LakeType::UInt8,
            "uint16" => LakeType::UInt16,
            "uint32" => LakeType::UInt32,
            "uint64" => LakeType::UInt64,
            "int128" => LakeType::Int128,
            "uint128" => LakeType::UInt128,
            "float32" => LakeType::Float32,
            "float64" => LakeType::Float64,
            "varchar" => LakeType::Varchar,
            "json" => LakeType::Json,
            "blob" => LakeType::Blob,
            "date" => LakeType::Date,
            "time" => LakeType::Time,
            "timetz" => LakeType::TimeTz,
            "timestamp" => LakeType::Timestamp,
            "timestamptz" => LakeType::TimestampTz,
            "timestamp_s" | "timestamp_ms" | "timestamp_ns" => LakeType::TimestampOtherUnit,
            "interval" => LakeType::Interval,
            "uuid" => LakeType::Uuid,
            "list" | "struct" | "map" => LakeType::Nested,
            "variant" | "geometry" => LakeType::NotInlinable,
            _ => {
                return Err(Error::argument(format!(
                    "unknown DuckLake column type \"{s}\" in ducklake_column"
                )))
            }
        })
    }
}

/// The PostgreSQL type of an inlined-data column of this DuckLake type, as DuckLake's PostgreSQL
/// backend of a catalog of `version` creates it ([`inlined_pg_type_differences`] lists where 0.3 differs).
pub fn inlined_pg_type(t: LakeType, version: Version) -> Result<PgType> {
    if let Some(&(_, pg)) = inlined_pg_type_differences(version)
        .iter()
        .find(|(lake, _)| *lake == t)
    {
        return Ok(pg);
    }
    Ok(match t {
        LakeType::Boolean => PgType::Boolean,
        LakeType::Int8 | LakeType::Int16 => PgType::SmallInt,
        LakeType::Int32 | LakeType::UInt8 | LakeType::UInt16 => PgType::Integer,
        LakeType::Int64 | LakeType::UInt32 => PgType::BigInt,
        LakeType::UInt64 | LakeType::Int128 | LakeType::UInt128 => PgType::Varchar,
        LakeType::Float32 => PgType::Real,
        LakeType::Float64 => PgType::Double,
        LakeType::Decimal(p, s) => PgType::Numeric(p, s),
        LakeType::Varchar | LakeType::Json | LakeType::Blob => PgType::Bytea,
        LakeType::Date
        | LakeType::Timestamp
        | LakeType::TimestampTz
        | LakeType::TimestampOtherUnit
        | LakeType::Nested => PgType::Varchar,
        LakeType::Time => PgType::Time,
        LakeType::TimeTz => PgType::TimeTz,
        LakeType::Interval => PgType::Interval,
        LakeType::Uuid => PgType::Uuid,
        LakeType::NotInlinable => {
            return Err(Error::argument(
                "variant and geometry columns are never inlined by DuckLake".to_string(),
            ))
        }
    })
}

/// Where a catalog version's inlined-data columns on PostgreSQL differ from [`inlined_pg_type`]'s
/// rule (DuckLake 1.5's `GetColumnTypeInternal`). DuckLake 1.4 (catalog 0.3) had no PostgreSQL-specific
/// rule: it created the table through DuckDB's postgres extension with the DuckDB type names, so
/// `FLOAT` became `double precision` and VARCHAR, JSON, DATE and TIMESTAMP[TZ] kept PostgreSQL types of
/// their own (measured: information_schema of an inlined table written by DuckDB 1.4.4 and by 1.5.0,
/// 1.5.5). Catalog 0.2 inlines only into DuckDB catalogs; 0.4 and 1.0 follow the rule.
pub fn inlined_pg_type_differences(version: Version) -> &'static [(LakeType, PgType)] {
    match version {
        Version::V0_3 => &[
            (LakeType::Float32, PgType::Double),
            (LakeType::Varchar, PgType::Varchar),
            (LakeType::Json, PgType::Json),
            (LakeType::Date, PgType::Date),
            (LakeType::Timestamp, PgType::Timestamp),
            (LakeType::TimestampTz, PgType::TimestampTz),
        ],
        _ => &[],
    }
}

/// How a SQLite catalog stores an inlined-data column of this DuckLake type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqliteStorage {
    /// Declared BIGINT, values are SQLite integers (booleans as 0/1).
    Integer,
    /// Declared VARCHAR, values are text in DuckDB's cast-to-VARCHAR form.
    Text,
    /// Declared BLOB.
    Blob,
}

pub fn inlined_sqlite_storage(t: LakeType) -> SqliteStorage {
    match t {
        LakeType::Boolean
        | LakeType::Int8
        | LakeType::Int16
        | LakeType::Int32
        | LakeType::Int64
        | LakeType::UInt8
        | LakeType::UInt16
        | LakeType::UInt32 => SqliteStorage::Integer,
        LakeType::Blob => SqliteStorage::Blob,
        _ => SqliteStorage::Text,
    }
}

/// The SQL expression that converts column `col` (already quoted) from PostgreSQL type `from` (as
/// `format_type` prints it) to `to`, for `ALTER TABLE ... ALTER COLUMN ... TYPE to USING <expr>`.
/// Text that holds `\x`-escaped hex (what a DuckLake write leaves in a text column where its backend
/// expects bytea) is decoded; other text becomes its UTF-8 bytes.
pub fn pg_conversion_sql(col: &str, from: &str, to: PgType) -> String {
    let is_text = matches!(from, "text" | "character varying") || from.starts_with("character");
    match to {
        PgType::Bytea if is_text => format!(
            "CASE WHEN {col} ~ '^\\\\x([0-9a-fA-F]{{2}})*$' THEN decode(substr({col}, 3), 'hex') \
             ELSE convert_to({col}, 'UTF8') END"
        ),
        PgType::Boolean if is_integer(from) => {
            format!("CASE {col} WHEN 0 THEN false WHEN 1 THEN true END")
        }
        PgType::Varchar if from == "bytea" => format!("convert_from({col}, 'UTF8')"),
        _ => format!("{col}::{}", to.sql()),
    }
}

fn is_integer(pg: &str) -> bool {
    matches!(pg, "bigint" | "integer" | "smallint" | "numeric")
}

/// For conversions where a bad value would not fail the cast by itself (integer -> boolean), a
/// predicate that finds the first unconvertible value, so it can be named before anything changes.
pub fn pg_unconvertible_predicate(col: &str, from: &str, to: PgType) -> Option<String> {
    match to {
        PgType::Boolean if is_integer(from) => Some(format!("{col} NOT IN (0, 1)")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duckdb_names_to_pg() {
        let cases = [
            ("BIGINT", "bigint"),
            ("VARCHAR", "character varying"),
            ("BOOLEAN", "boolean"),
            ("UUID", "uuid"),
            ("TIMESTAMPTZ", "timestamp with time zone"),
            ("SMALLINT", "smallint"),
            ("INTEGER", "integer"),
            ("REAL", "real"),
            ("DOUBLE PRECISION", "double precision"),
            ("DECIMAL(18,3)", "numeric(18,3)"),
            ("BYTEA", "bytea"),
            ("TIME", "time without time zone"),
            ("TIME WITH TIME ZONE", "time with time zone"),
            ("INTERVAL", "interval"),
        ];
        for (duck, pg) in cases {
            assert_eq!(PgType::from_duckdb(duck).unwrap().sql(), pg, "{duck}");
        }
        assert!(PgType::from_duckdb("HUGEINT").is_err());
    }

    /// Every catalog type converts as the PostgreSQL type it is created as (one case per arm).
    #[test]
    fn copy_target_is_the_created_type() {
        let all = [
            PgType::Boolean,
            PgType::SmallInt,
            PgType::Integer,
            PgType::BigInt,
            PgType::Real,
            PgType::Double,
            PgType::Numeric(18, 3),
            PgType::Varchar,
            PgType::Bytea,
            PgType::Time,
            PgType::TimeTz,
            PgType::Interval,
            PgType::Uuid,
            PgType::TimestampTz,
        ];
        for t in all {
            assert_eq!(
                PgTarget::from_sql_name(&t.sql()),
                Some(t.copy_target()),
                "{t:?}"
            );
        }
    }

    /// One case per arm of `inlined_pg_type`, checked against a native PostgreSQL catalog made by
    /// DuckLake 1.5.5 (information_schema.columns of ducklake_inlined_data_1_1, see the tests).
    #[test]
    fn inlined_types_on_postgres() {
        let cases = [
            ("boolean", "boolean"),
            ("int8", "smallint"),
            ("int16", "smallint"),
            ("int32", "integer"),
            ("int64", "bigint"),
            ("uint8", "integer"),
            ("uint16", "integer"),
            ("uint32", "bigint"),
            ("uint64", "character varying"),
            ("int128", "character varying"),
            ("uint128", "character varying"),
            ("float32", "real"),
            ("float64", "double precision"),
            ("decimal(18,3)", "numeric(18,3)"),
            ("decimal(38,10)", "numeric(38,10)"),
            ("varchar", "bytea"),
            ("json", "bytea"),
            ("blob", "bytea"),
            ("date", "character varying"),
            ("time", "time without time zone"),
            ("timetz", "time with time zone"),
            ("timestamp", "character varying"),
            ("timestamptz", "character varying"),
            ("timestamp_ns", "character varying"),
            ("timestamp_ms", "character varying"),
            ("timestamp_s", "character varying"),
            ("interval", "interval"),
            ("uuid", "uuid"),
            ("list", "character varying"),
            ("struct", "character varying"),
            ("map", "character varying"),
        ];
        for (lake, pg) in cases {
            let t = LakeType::parse(lake).unwrap();
            for v in [Version::V0_4, Version::V1_0] {
                assert_eq!(inlined_pg_type(t, v).unwrap().sql(), pg, "{lake}");
            }
        }
        assert!(inlined_pg_type(LakeType::parse("variant").unwrap(), Version::V1_0).is_err());
        assert!(LakeType::parse("float128").is_err());
    }

    /// Catalog 0.3 (DuckLake 1.4.4), checked against an inlined table DuckDB 1.4.4 made on PostgreSQL
    /// (test_compat's inlined-data test, which runs DuckLake 1.4.4 itself).
    #[test]
    fn inlined_types_on_postgres_for_catalog_0_3() {
        let cases = [
            ("float32", "double precision"),
            ("float64", "double precision"),
            ("varchar", "character varying"),
            ("json", "json"),
            ("blob", "bytea"),
            ("date", "date"),
            ("timestamp", "timestamp without time zone"),
            ("timestamptz", "timestamp with time zone"),
            ("timestamp_ns", "character varying"),
            ("timestamp_s", "character varying"),
            ("uint8", "integer"),
            ("uint64", "character varying"),
            ("list", "character varying"),
        ];
        for (lake, pg) in cases {
            let t = LakeType::parse(lake).unwrap();
            assert_eq!(
                inlined_pg_type(t, Version::V0_3).unwrap().sql(),
                pg,
                "{lake}"
            );
        }
    }

    #[test]
    fn inlined_storage_on_sqlite() {
        assert_eq!(
            inlined_sqlite_storage(LakeType::Boolean),
            SqliteStorage::Integer
        );
        assert_eq!(
            inlined_sqlite_storage(LakeType::UInt32),
            SqliteStorage::Integer
        );
        assert_eq!(
            inlined_sqlite_storage(LakeType::UInt64),
            SqliteStorage::Text
        );
        assert_eq!(
            inlined_sqlite_storage(LakeType::Float64),
            SqliteStorage::Text
        );
        assert_eq!(
            inlined_sqlite_storage(LakeType::Decimal(4, 1)),
            SqliteStorage::Text
        );
        assert_eq!(inlined_sqlite_storage(LakeType::Blob), SqliteStorage::Blob);
        assert_eq!(
            inlined_sqlite_storage(LakeType::Nested),
            SqliteStorage::Text
        );
    }

    #[test]
    fn conversions() {
        let b = pg_conversion_sql("\"s\"", "text", PgType::Bytea);
        assert!(
            b.contains("decode(substr(\"s\", 3), 'hex')")
                && b.contains("convert_to(\"s\", 'UTF8')"),
            "{b}"
        );
        assert_eq!(
            pg_conversion_sql("\"b\"", "bigint", PgType::Boolean),
            "CASE \"b\" WHEN 0 THEN false WHEN 1 THEN true END"
        );
        assert_eq!(
            pg_conversion_sql("\"u\"", "text", PgType::Uuid),
            "\"u\"::uuid"
        );
        assert_eq!(
            pg_conversion_sql("\"d\"", "text", PgType::Numeric(18, 3)),
            "\"d\"::numeric(18,3)"
        );
        assert_eq!(
            pg_unconvertible_predicate("\"b\"", "bigint", PgType::Boolean).unwrap(),
            "\"b\" NOT IN (0, 1)"
        );
        assert!(pg_unconvertible_predicate("\"u\"", "text", PgType::Uuid).is_none());
    }
}
