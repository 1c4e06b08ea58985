//! Reading a query's result through DuckDB's stable C API (`duckdb_fetch_chunk` over a
//! materialized result, vectors read by type): the few plain value kinds lakemig's own queries
//! return.

use std::ffi::CStr;
use std::os::raw::c_char;

use duckdb::ffi;

use crate::sync::session::Value;

/// A C string from DuckDB, or `fallback` when there is none.
///
/// # Safety
/// `p` is null or points to a NUL-terminated string alive for the call.
pub unsafe fn message(p: *const c_char, fallback: &str) -> String {
    if p.is_null() {
        fallback.to_string()
    } else {
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

/// A query's result, destroyed on drop (DuckDB requires it even for a failed query).
pub struct QueryResult(pub ffi::duckdb_result);

impl Drop for QueryResult {
    fn drop(&mut self) {
        // SAFETY: zero-initialized or filled by DuckDB; destroying either is allowed, once.
        unsafe { ffi::duckdb_destroy_result(&mut self.0) };
    }
}

impl QueryResult {
    pub fn new() -> Self {
        // SAFETY: `duckdb_result` is plain C data; all-zero is the state DuckDB expects to fill.
        QueryResult(unsafe { std::mem::zeroed() })
    }

    pub fn error(&mut self) -> String {
        // SAFETY: a live result; the message lives as long as it does and is copied at once.
        unsafe {
            message(
                ffi::duckdb_result_error(&mut self.0),
                "unknown DuckDB error",
            )
        }
    }

    /// How many rows the statement changed.
    pub fn rows_changed(mut self) -> u64 {
        // SAFETY: a live, successful result.
        unsafe { ffi::duckdb_rows_changed(&mut self.0) }
    }

    /// Its rows as plain values (BOOLEAN, integers up to BIGINT, VARCHAR, VARCHAR[]).
    pub fn rows(mut self) -> Result<Vec<Vec<Value>>, String> {
        let result = &mut self;
        // SAFETY: a live, successful result.
        let ncols = unsafe { ffi::duckdb_column_count(&mut result.0) };
        let kinds = (0..ncols)
            .map(|c| {
                // SAFETY: `c` is a column of the result; the logical type is destroyed after use.
                unsafe {
                    let mut ty = ffi::duckdb_column_logical_type(&mut result.0, c);
                    let kind = kind_of(ty);
                    ffi::duckdb_destroy_logical_type(&mut ty);
                    kind
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut rows = Vec::new();
        loop {
            // SAFETY: a materialized result; each chunk is destroyed by `Chunk`'s drop.
            let chunk = Chunk(unsafe { ffi::duckdb_fetch_chunk(result.0) });
            if chunk.0.is_null() {
                break;
            }
            // SAFETY: a live chunk with `ncols` columns of the kinds read above.
            let n = unsafe { ffi::duckdb_data_chunk_get_size(chunk.0) } as usize;
            let mut columns = Vec::with_capacity(kinds.len());
            for (c, kind) in kinds.iter().enumerate() {
                // SAFETY: as above; `n` values per vector.
                columns.push(unsafe {
                    read_vector(
                        ffi::duckdb_data_chunk_get_vector(chunk.0, c as u64),
                        *kind,
                        n,
                    )
                }?);
            }
            for i in 0..n {
                rows.push(
                    columns
                        .iter_mut()
                        .map(|col| std::mem::replace(&mut col[i], Value::Null))
                        .collect(),
                );
            }
        }
        Ok(rows)
    }
}

/// A fetched chunk, destroyed on drop.
struct Chunk(ffi::duckdb_data_chunk);

impl Drop for Chunk {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: returned by `duckdb_fetch_chunk`, destroyed once.
            unsafe { ffi::duckdb_destroy_data_chunk(&mut self.0) };
        }
    }
}

/// The result column kinds [`SideConnection::query`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bool,
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    Text,
    TextList,
    Null,
}

/// # Safety
/// `ty` is a live logical type.
unsafe fn kind_of(ty: ffi::duckdb_logical_type) -> Result<Kind, String> {
    let id = ffi::duckdb_get_type_id(ty);
    Ok(match id {
        ffi::DUCKDB_TYPE_DUCKDB_TYPE_BOOLEAN => Kind::Bool,
        ffi::DUCKDB_TYPE_DUCKDB_TYPE_TINYINT => Kind::I8,
        ffi::DUCKDB_TYPE_DUCKDB_TYPE_SMALLINT => Kind::I16,
        ffi::DUCKDB_TYPE_DUCKDB_TYPE_INTEGER => Kind::I32,
        ffi::DUCKDB_TYPE_DUCKDB_TYPE_BIGINT => Kind::I64,
        ffi::DUCKDB_TYPE_DUCKDB_TYPE_UTINYINT => Kind::U8,
        ffi::DUCKDB_TYPE_DUCKDB_TYPE_USMALLINT => Kind::U16,
        ffi::DUCKDB_TYPE_DUCKDB_TYPE_UINTEGER => Kind::U32,
        ffi::DUCKDB_TYPE_DUCKDB_TYPE_VARCHAR => Kind::Text,
        ffi::DUCKDB_TYPE_DUCKDB_TYPE_SQLNULL => Kind::Null,
        ffi::DUCKDB_TYPE_DUCKDB_TYPE_LIST => {
            let mut child = ffi::duckdb_list_type_child_type(ty);
            let child_id = ffi::duckdb_get_type_id(child);
            ffi::duckdb_destroy_logical_type(&mut child);
            if child_id != ffi::DUCKDB_TYPE_DUCKDB_TYPE_VARCHAR {
                return Err(format!(
                    "internal error: a query returned a list of DuckDB type id {child_id}"
                ));
            }
            Kind::TextList
        }
        other => {
            return Err(format!(
                "internal error: a query returned a column of DuckDB type id {other}"
            ))
        }
    })
}

/// The first `n` values of a result vector of `kind`.
///
/// # Safety
/// `vector` is a live vector of `kind` holding at least `n` values.
unsafe fn read_vector(
    vector: ffi::duckdb_vector,
    kind: Kind,
    n: usize,
) -> Result<Vec<Value>, String> {
    let validity = ffi::duckdb_vector_get_validity(vector);
    let data = ffi::duckdb_vector_get_data(vector);
    let mut out = Vec::with_capacity(n);
    let texts = |data: *mut std::ffi::c_void, i: usize| {
        let s = (data as *mut ffi::duckdb_string_t).add(i);
        let len = ffi::duckdb_string_t_length(*s) as usize;
        let bytes = std::slice::from_raw_parts(ffi::duckdb_string_t_data(s) as *const u8, len);
        String::from_utf8_lossy(bytes).into_owned()
    };
    let children = if kind == Kind::TextList {
        let child = ffi::duckdb_list_vector_get_child(vector);
        let size = ffi::duckdb_list_vector_get_size(vector) as usize;
        read_vector(child, Kind::Text, size)?
    } else {
        Vec::new()
    };
    for i in 0..n {
        if !ffi::duckdb_validity_row_is_valid(validity, i as u64) || kind == Kind::Null {
            out.push(Value::Null);
            continue;
        }
        out.push(match kind {
            Kind::Bool => Value::Bool(*(data as *const bool).add(i)),
            Kind::I8 => Value::Int(*(data as *const i8).add(i) as i64),
            Kind::I16 => Value::Int(*(data as *const i16).add(i) as i64),
            Kind::I32 => Value::Int(*(data as *const i32).add(i) as i64),
            Kind::I64 => Value::Int(*(data as *const i64).add(i)),
            Kind::U8 => Value::Int(*(data as *const u8).add(i) as i64),
            Kind::U16 => Value::Int(*(data as *const u16).add(i) as i64),
            Kind::U32 => Value::Int(*(data as *const u32).add(i) as i64),
            Kind::Text => Value::Text(texts(data, i)),
            Kind::TextList => {
                let e = *(data as *const ffi::duckdb_list_entry).add(i);
                let items = children
                    .get(e.offset as usize..(e.offset + e.length) as usize)
                    .unwrap_or_default()
                    .iter()
                    .map(|v| match v {
                        Value::Text(s) => s.clone(),
                        _ => String::new(),
                    })
                    .collect();
                Value::TextList(items)
            }
            Kind::Null => Value::Null,
        });
    }
    Ok(out)
}
