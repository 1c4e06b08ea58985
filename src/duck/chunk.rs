//! Copying decoded batches (already in DuckDB's physical layout) into DuckDB's output vectors.
//! This is where lakemig writes raw vector memory; every write is checked against the declared type.

use std::os::raw::c_char;

use duckdb::core::{DataChunkHandle, FlatVector, ListVector};
use duckdb::ffi::{
    duckdb_data_chunk_get_vector, duckdb_list_vector_get_child, duckdb_string_t,
    duckdb_string_t__bindgen_ty_1, duckdb_string_t__bindgen_ty_1__bindgen_ty_1,
    duckdb_string_t__bindgen_ty_1__bindgen_ty_2, duckdb_unsafe_vector_assign_string_element_len,
    duckdb_vector, duckdb_vector_get_data, duckdb_vector_reference_vector,
};

use super::types::logical_type;

use crate::error::{Error, Result};
use crate::postgres::copy::{Batch, Column, ColumnData, DuckInterval};
use crate::types::DuckType;

/// Write `batch` into `output`: batch column `k` goes to output column `targets[k]`, whose DuckDB type is
/// `types[k]`. Sets the chunk's length.
pub fn write_batch(
    output: &mut DataChunkHandle,
    batch: &Batch,
    targets: &[usize],
    types: &[DuckType],
) -> Result<()> {
    for ((col, &target), ty) in batch.columns.iter().zip(targets).zip(types) {
        // SAFETY: `target` is a column of `output` (the caller's mapping), so the vector is alive for
        // as long as `output` is.
        let raw = unsafe { duckdb_data_chunk_get_vector(output.get_ptr(), target as u64) };
        match ty {
            DuckType::List(child_ty) => {
                let mut lv = output.list_vector(target);
                write_list(&mut lv, raw, col, child_ty)?;
            }
            _ => {
                let mut fv = output.flat_vector(target);
                write_flat(&mut fv, raw, col, ty)?;
            }
        }
    }
    output.set_len(batch.len);
    Ok(())
}

/// A DuckDB data chunk that lakemig allocated and filled off DuckDB's threads, on its way to one.
pub struct OwnedChunk {
    chunk: DataChunkHandle,
    len: usize,
}

// SAFETY: an `OwnedChunk` owns its chunk (created by `duckdb_create_data_chunk`, reachable from nowhere
// else) and is only ever used by one thread at a time: filled by the reader that made it, then moved
// whole to the DuckDB thread that references it. A standalone chunk has no ties to any thread.
unsafe impl Send for OwnedChunk {}

/// Build a standalone chunk holding `batch`, column `k` of type `types[k]`. Runs on a reader's
/// thread, so the copying into DuckDB's layout (strings into the chunk's own heap) happens there,
/// in parallel, rather than on the DuckDB thread that may be the only one inserting.
pub fn to_chunk(batch: &Batch, types: &[DuckType]) -> Result<OwnedChunk> {
    let logical: Vec<_> = types.iter().map(logical_type).collect();
    let mut chunk = DataChunkHandle::new(&logical);
    let targets: Vec<usize> = (0..types.len()).collect();
    write_batch(&mut chunk, batch, &targets, types)?;
    Ok(OwnedChunk {
        chunk,
        len: batch.len,
    })
}

impl OwnedChunk {
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Make `output`'s columns `targets[k]` reference the vectors of `chunk` (no copy; the output keeps
/// the chunk's buffers alive) and set the output's length.
pub fn reference(output: &mut DataChunkHandle, chunk: &OwnedChunk, targets: &[usize]) {
    let (out, src) = (output.get_ptr(), chunk.chunk.get_ptr());
    for (k, &target) in targets.iter().enumerate() {
        // SAFETY: both chunks are alive; column `k` of `chunk` was created with the type that bind
        // declared for output column `targets[k]` (`to_chunk` and bind map the same DuckType), and
        // `Vector::Reference` shares the source's buffers by reference count.
        unsafe {
            duckdb_vector_reference_vector(
                duckdb_data_chunk_get_vector(out, target as u64),
                duckdb_data_chunk_get_vector(src, k as u64),
            );
        }
    }
    output.set_len(chunk.len);
}

/// DuckDB keeps strings of up to 12 bytes inside the `string_t` itself.
const INLINE_LEN: usize = 12;

/// Write `n = offsets.len() - 1` string values (value `i` = `bytes[offsets[i]..offsets[i+1]]`) into a
/// VARCHAR/BLOB vector with one copy of the whole batch: the concatenated bytes go into the vector's
/// own string heap once (assigned to slot 0 as a carrier), then every `string_t` is written to
/// point into that copy (or holds its value inline, as DuckDB requires for short strings). Per-value
/// assignment through the C API was the largest single cost of turning a batch into a chunk.
///
/// # Safety
/// `raw` must be a VARCHAR, JSON or BLOB vector with capacity for `n` values, and `offsets` must be
/// non-decreasing with `offsets[n] == bytes.len()`. VARCHAR values must be valid UTF-8 (the decoder
/// checked them).
unsafe fn write_strings(raw: duckdb_vector, bytes: &[u8], offsets: &[usize]) {
    let n = offsets.len() - 1;
    let data = duckdb_vector_get_data(raw) as *mut duckdb_string_t;
    let needs_heap = offsets.windows(2).any(|w| w[1] - w[0] > INLINE_LEN);
    let base: *mut c_char = if needs_heap {
        // Longer than 12 bytes as a whole (some value is), so slot 0 now holds a pointer into the heap.
        duckdb_unsafe_vector_assign_string_element_len(
            raw,
            0,
            bytes.as_ptr() as *const c_char,
            bytes.len() as u64,
        );
        (*data).value.pointer.ptr
    } else {
        std::ptr::null_mut()
    };
    for i in 0..n {
        let (start, end) = (offsets[i], offsets[i + 1]);
        let len = end - start;
        let value = &bytes[start..end];
        let s = if len <= INLINE_LEN {
            let mut inlined = [0 as c_char; INLINE_LEN];
            for (d, &b) in inlined.iter_mut().zip(value) {
                *d = b as c_char;
            }
            duckdb_string_t__bindgen_ty_1 {
                inlined: duckdb_string_t__bindgen_ty_1__bindgen_ty_2 {
                    length: len as u32,
                    inlined,
                },
            }
        } else {
            let mut prefix = [0 as c_char; 4];
            for (d, &b) in prefix.iter_mut().zip(value) {
                *d = b as c_char;
            }
            duckdb_string_t__bindgen_ty_1 {
                pointer: duckdb_string_t__bindgen_ty_1__bindgen_ty_1 {
                    length: len as u32,
                    prefix,
                    ptr: base.add(start),
                },
            }
        };
        data.add(i).write(duckdb_string_t { value: s });
    }
}

fn mismatch(ty: &DuckType) -> Error {
    Error::argument(format!(
        "internal error: decoded data does not match the declared DuckDB type {ty}"
    ))
}

/// Copy a column after checking that its physical type is the one `ty` stores. `raw` is `fv`'s own
/// `duckdb_vector` (duckdb-rs does not expose it).
fn write_flat(fv: &mut FlatVector, raw: duckdb_vector, col: &Column, ty: &DuckType) -> Result<()> {
    let n = col.validity.len();
    if n > fv.capacity() {
        return Err(Error::argument(format!(
            "internal error: {n} values do not fit a vector of {}",
            fv.capacity()
        )));
    }
    // SAFETY (every `copy` below): the arm checks that the Rust element type is DuckDB's physical type
    // for `ty` (the type this vector was declared with in bind), `n` is within the capacity checked
    // above, and no other reference to the vector's memory is alive.
    match (&col.data, ty) {
        (ColumnData::Bool(v), DuckType::Boolean) => unsafe { fv.copy::<bool>(v) },
        (ColumnData::I16(v), DuckType::SmallInt | DuckType::Decimal { .. }) => unsafe {
            fv.copy::<i16>(v)
        },
        (ColumnData::I32(v), DuckType::Integer | DuckType::Date | DuckType::Decimal { .. }) => unsafe {
            fv.copy::<i32>(v)
        },
        (
            ColumnData::I64(v),
            DuckType::BigInt
            | DuckType::Time
            | DuckType::TimeTz
            | DuckType::Timestamp
            | DuckType::TimestampTz
            | DuckType::Decimal { .. },
        ) => unsafe { fv.copy::<i64>(v) },
        (ColumnData::I128(v), DuckType::Uuid | DuckType::Decimal { .. }) => unsafe {
            fv.copy::<i128>(v)
        },
        (ColumnData::U32(v), DuckType::UInteger) => unsafe { fv.copy::<u32>(v) },
        (ColumnData::F32(v), DuckType::Float) => unsafe { fv.copy::<f32>(v) },
        (ColumnData::F64(v), DuckType::Double) => unsafe { fv.copy::<f64>(v) },
        (ColumnData::Interval(v), DuckType::Interval) => unsafe { fv.copy::<DuckInterval>(v) },
        (
            ColumnData::Bytes { bytes, offsets },
            DuckType::Varchar | DuckType::Json | DuckType::Blob,
        ) => {
            if offsets.len() != n + 1 || offsets[n] != bytes.len() {
                return Err(mismatch(ty));
            }
            // SAFETY: `raw` is a VARCHAR/BLOB vector (the arm checks the declared type) with room
            // for `n` values (checked above), and the offsets were checked to cover `bytes`.
            unsafe { write_strings(raw, bytes, offsets) };
        }
        _ => return Err(mismatch(ty)),
    }
    for (i, valid) in col.validity.iter().enumerate() {
        if !valid {
            fv.set_null(i);
        }
    }
    Ok(())
}

fn write_list(
    lv: &mut ListVector,
    raw: duckdb_vector,
    col: &Column,
    child_ty: &DuckType,
) -> Result<()> {
    let ColumnData::List { entries, child } = &col.data else {
        return Err(mismatch(&DuckType::List(Box::new(child_ty.clone()))));
    };
    let total = child.validity.len();
    match child_ty {
        DuckType::List(grandchild) => {
            lv.try_reserve(total)
                .map_err(|e| Error::argument(format!("list vector: {e}")))?;
            let mut cl = lv.list_child();
            // SAFETY: `raw` is `lv`'s vector, a LIST; its child lives as long as it does.
            let child_raw = unsafe { duckdb_list_vector_get_child(raw) };
            write_list(&mut cl, child_raw, child, grandchild)?;
        }
        _ => {
            let mut cv = lv.child(total);
            // SAFETY: as above; `child` reserved room for `total` elements.
            let child_raw = unsafe { duckdb_list_vector_get_child(raw) };
            write_flat(&mut cv, child_raw, child, child_ty)?;
        }
    }
    lv.set_len(total);
    for (i, &(offset, length)) in entries.iter().enumerate() {
        lv.set_entry(i, offset as usize, length as usize);
        if !col.validity[i] {
            lv.set_null(i);
        }
    }
    Ok(())
}
