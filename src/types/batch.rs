//! Decoded rows in DuckDB's vector layout, independent of DuckDB's API: what a reader
//! ([`crate::postgres::copy_out`]) produces and `src/duck/` copies into output vectors as they are.

/// DuckDB's `interval_t`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DuckInterval {
    pub months: i32,
    pub days: i32,
    pub micros: i64,
}

/// Up to `batch_rows` decoded rows, one [`Column`] per selected column.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub len: usize,
    pub columns: Vec<Column>,
}

/// One column of a batch. NULL slots hold a default value so every vector has exactly `len` entries.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// `true` = valid; one entry per value.
    pub validity: Vec<bool>,
    pub data: ColumnData,
}

/// Values in DuckDB's physical layout.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnData {
    /// BOOLEAN.
    Bool(Vec<bool>),
    /// SMALLINT, DECIMAL(1..=4, s).
    I16(Vec<i16>),
    /// INTEGER, DATE (days since 1970-01-01), DECIMAL(5..=9, s).
    I32(Vec<i32>),
    /// BIGINT, TIME, TIMETZ (`dtime_tz_t` bits), TIMESTAMP[TZ] (µs since 1970), DECIMAL(10..=18, s).
    I64(Vec<i64>),
    /// UUID (top bit flipped), DECIMAL(19..=38, s).
    I128(Vec<i128>),
    /// UINTEGER.
    U32(Vec<u32>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    /// VARCHAR/JSON/BLOB: all values concatenated, value i = `bytes[offsets[i]..offsets[i+1]]`
    /// (`offsets.len() == len + 1`).
    Bytes {
        bytes: Vec<u8>,
        offsets: Vec<usize>,
    },
    Interval(Vec<DuckInterval>),
    /// LIST: `(offset, length)` into `child`, which holds all elements of the batch.
    List {
        entries: Vec<(u64, u64)>,
        child: Box<Column>,
    },
}
