//! Small result sets (a function's summary rows) built column by column and written into a chunk
//! through the same checked path as scanned data.

use duckdb::core::DataChunkHandle;

use super::chunk;
use crate::error::Result;
use crate::types::batch::{Batch, Column, ColumnData, DuckInterval};
use crate::types::DuckType;

/// One output column of a small result: its DuckDB type and values.
pub enum Out {
    Text(Vec<Option<String>>),
    BigInt(Vec<Option<i64>>),
    Double(Vec<Option<f64>>),
    Bool(Vec<Option<bool>>),
    /// TIMESTAMPTZ, microseconds since 1970-01-01 UTC.
    TimestampTz(Vec<Option<i64>>),
    /// INTERVAL of this many microseconds.
    Micros(Vec<Option<i64>>),
    TextList(Vec<Option<Vec<String>>>),
}

impl Out {
    /// How many values the column holds.
    pub fn len(&self) -> usize {
        match self {
            Out::Text(v) => v.len(),
            Out::BigInt(v) | Out::TimestampTz(v) | Out::Micros(v) => v.len(),
            Out::Double(v) => v.len(),
            Out::Bool(v) => v.len(),
            Out::TextList(v) => v.len(),
        }
    }

    /// The values `range` of the column, as a column of its own.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Out {
        match self {
            Out::Text(v) => Out::Text(v[range].to_vec()),
            Out::BigInt(v) => Out::BigInt(v[range].to_vec()),
            Out::Double(v) => Out::Double(v[range].to_vec()),
            Out::Bool(v) => Out::Bool(v[range].to_vec()),
            Out::TimestampTz(v) => Out::TimestampTz(v[range].to_vec()),
            Out::Micros(v) => Out::Micros(v[range].to_vec()),
            Out::TextList(v) => Out::TextList(v[range].to_vec()),
        }
    }

    pub fn duck_type(&self) -> DuckType {
        match self {
            Out::Text(_) => DuckType::Varchar,
            Out::BigInt(_) => DuckType::BigInt,
            Out::Double(_) => DuckType::Double,
            Out::Bool(_) => DuckType::Boolean,
            Out::TimestampTz(_) => DuckType::TimestampTz,
            Out::Micros(_) => DuckType::Interval,
            Out::TextList(_) => DuckType::List(Box::new(DuckType::Varchar)),
        }
    }

    fn column(&self) -> Column {
        fn fixed<T: Copy + Default>(v: &[Option<T>]) -> (Vec<bool>, Vec<T>) {
            (
                v.iter().map(Option::is_some).collect(),
                v.iter().map(|x| x.unwrap_or_default()).collect(),
            )
        }
        fn text<'a>(v: impl Iterator<Item = Option<&'a str>>) -> Column {
            let mut validity = Vec::new();
            let mut bytes = Vec::new();
            let mut offsets = vec![0];
            for s in v {
                validity.push(s.is_some());
                bytes.extend_from_slice(s.unwrap_or("").as_bytes());
                offsets.push(bytes.len());
            }
            Column {
                validity,
                data: ColumnData::Bytes { bytes, offsets },
            }
        }
        match self {
            Out::Text(v) => text(v.iter().map(|s| s.as_deref())),
            Out::BigInt(v) | Out::TimestampTz(v) => {
                let (validity, data) = fixed(v);
                Column {
                    validity,
                    data: ColumnData::I64(data),
                }
            }
            Out::Double(v) => {
                let (validity, data) = fixed(v);
                Column {
                    validity,
                    data: ColumnData::F64(data),
                }
            }
            Out::Bool(v) => {
                let (validity, data) = fixed(v);
                Column {
                    validity,
                    data: ColumnData::Bool(data),
                }
            }
            Out::Micros(v) => {
                let (validity, data) = fixed(v);
                Column {
                    validity,
                    data: ColumnData::Interval(
                        data.into_iter()
                            .map(|micros| DuckInterval {
                                months: 0,
                                days: 0,
                                micros,
                            })
                            .collect(),
                    ),
                }
            }
            Out::TextList(v) => {
                let mut entries = Vec::new();
                let mut items: Vec<&str> = Vec::new();
                for l in v {
                    let l = l.as_deref().unwrap_or(&[]);
                    entries.push((items.len() as u64, l.len() as u64));
                    items.extend(l.iter().map(String::as_str));
                }
                Column {
                    validity: v.iter().map(Option::is_some).collect(),
                    data: ColumnData::List {
                        entries,
                        child: Box::new(text(items.into_iter().map(Some))),
                    },
                }
            }
        }
    }
}

/// Write `rows` rows (at most one chunk) of the given columns, in order, into `output`.
pub fn write(output: &mut DataChunkHandle, rows: usize, columns: &[Out]) -> Result<()> {
    let batch = Batch {
        len: rows,
        columns: columns.iter().map(Out::column).collect(),
    };
    let targets: Vec<usize> = (0..columns.len()).collect();
    let types: Vec<DuckType> = columns.iter().map(Out::duck_type).collect();
    chunk::write_batch(output, &batch, &targets, &types)
}
