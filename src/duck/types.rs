//! lakemig's `DuckType` -> DuckDB's `LogicalTypeHandle`.

use duckdb::core::{LogicalTypeHandle, LogicalTypeId};

use crate::types::DuckType;

/// The DuckDB logical type for a `DuckType`.
pub fn logical_type(t: &DuckType) -> LogicalTypeHandle {
    let id = match t {
        DuckType::Boolean => LogicalTypeId::Boolean,
        DuckType::SmallInt => LogicalTypeId::Smallint,
        DuckType::Integer => LogicalTypeId::Integer,
        DuckType::BigInt => LogicalTypeId::Bigint,
        DuckType::UInteger => LogicalTypeId::UInteger,
        DuckType::Float => LogicalTypeId::Float,
        DuckType::Double => LogicalTypeId::Double,
        DuckType::Decimal { width, scale } => return LogicalTypeHandle::decimal(*width, *scale),
        DuckType::Varchar => LogicalTypeId::Varchar,
        DuckType::Json => {
            let mut h = LogicalTypeHandle::from(LogicalTypeId::Varchar);
            h.set_alias("JSON");
            return h;
        }
        DuckType::Blob => LogicalTypeId::Blob,
        DuckType::Date => LogicalTypeId::Date,
        DuckType::Time => LogicalTypeId::Time,
        DuckType::TimeTz => LogicalTypeId::TimeTZ,
        DuckType::Timestamp => LogicalTypeId::Timestamp,
        DuckType::TimestampTz => LogicalTypeId::TimestampTZ,
        DuckType::Interval => LogicalTypeId::Interval,
        DuckType::Uuid => LogicalTypeId::Uuid,
        DuckType::List(child) => return LogicalTypeHandle::list(&logical_type(child)),
    };
    LogicalTypeHandle::from(id)
}
