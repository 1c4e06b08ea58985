//! lakemig's own descriptions, independent of DuckDB's API: column types (`DuckType`), decoded rows in
//! DuckDB's vector layout (`batch.rs`), the PostgreSQL value model (`pg_value.rs`), and the map from
//! PostgreSQL's types to DuckDB's (`postgres.rs`). `src/duck/` turns a `DuckType` into DuckDB's
//! `LogicalTypeHandle`.

pub mod batch;
pub mod pg_value;
pub mod postgres;

use std::fmt;

/// A DuckDB column type, as lakemig produces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DuckType {
    Boolean,
    SmallInt,
    Integer,
    BigInt,
    UInteger,
    Float,
    Double,
    /// DECIMAL(width, scale), width 1..=38.
    Decimal {
        width: u8,
        scale: u8,
    },
    Varchar,
    /// VARCHAR with DuckDB's `JSON` alias.
    Json,
    Blob,
    Date,
    Time,
    TimeTz,
    Timestamp,
    TimestampTz,
    Interval,
    Uuid,
    List(Box<DuckType>),
}

impl DuckType {
    /// About how many bytes one value takes in a decoded batch (a string or a list: its header
    /// and a short value); for memory bounds, not exact.
    pub fn approx_bytes(&self) -> usize {
        match self {
            DuckType::Boolean => 1,
            DuckType::SmallInt => 2,
            DuckType::Integer | DuckType::UInteger | DuckType::Float | DuckType::Date => 4,
            DuckType::BigInt
            | DuckType::Double
            | DuckType::Time
            | DuckType::TimeTz
            | DuckType::Timestamp
            | DuckType::TimestampTz => 8,
            DuckType::Decimal { width, .. } if *width <= 18 => 8,
            DuckType::Decimal { .. } | DuckType::Interval | DuckType::Uuid => 16,
            DuckType::Varchar | DuckType::Json | DuckType::Blob => 48,
            DuckType::List(_) => 64,
        }
    }
}

impl fmt::Display for DuckType {
    /// DuckDB's SQL spelling of the type (used in DDL and messages).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DuckType::Boolean => f.write_str("BOOLEAN"),
            DuckType::SmallInt => f.write_str("SMALLINT"),
            DuckType::Integer => f.write_str("INTEGER"),
            DuckType::BigInt => f.write_str("BIGINT"),
            DuckType::UInteger => f.write_str("UINTEGER"),
            DuckType::Float => f.write_str("FLOAT"),
            DuckType::Double => f.write_str("DOUBLE"),
            DuckType::Decimal { width, scale } => write!(f, "DECIMAL({width},{scale})"),
            DuckType::Varchar => f.write_str("VARCHAR"),
            DuckType::Json => f.write_str("JSON"),
            DuckType::Blob => f.write_str("BLOB"),
            DuckType::Date => f.write_str("DATE"),
            DuckType::Time => f.write_str("TIME"),
            DuckType::TimeTz => f.write_str("TIMETZ"),
            DuckType::Timestamp => f.write_str("TIMESTAMP"),
            DuckType::TimestampTz => f.write_str("TIMESTAMPTZ"),
            DuckType::Interval => f.write_str("INTERVAL"),
            DuckType::Uuid => f.write_str("UUID"),
            DuckType::List(child) => write!(f, "{child}[]"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_duckdb_sql() {
        assert_eq!(
            DuckType::Decimal {
                width: 12,
                scale: 2
            }
            .to_string(),
            "DECIMAL(12,2)"
        );
        assert_eq!(
            DuckType::List(Box::new(DuckType::List(Box::new(DuckType::Integer)))).to_string(),
            "INTEGER[][]"
        );
    }
}
