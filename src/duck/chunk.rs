//! Copying decoded batches (already in DuckDB's physical layout) into DuckDB's output vectors.
//! This is where lakemig writes raw vector memory; every write is checked against the declared type.

use duckdb::core::{DataChunkHandle, FlatVector, Inserter, ListVector};
use duckdb::ffi::{duckdb_data_chunk_get_vector, duckdb_vector_reference_vector};

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
        match ty {
            DuckType::List(child_ty) => {
                let mut lv = output.list_vector(target);
                write_list(&mut lv, col, child_ty)?;
            }
            _ => {
                let mut fv = output.flat_vector(target);
                write_flat(&mut fv, col, ty)?;
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

fn mismatch(ty: &DuckType) -> Error {
    Error::argument(format!(
        "internal error: decoded data does not match the declared DuckDB type {ty}"
    ))
}

/// Copy a fixed-width column after checking that its physical type is the one `ty` stores.
fn write_flat(fv: &mut FlatVector, col: &Column, ty: &DuckType) -> Result<()> {
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
            for i in 0..n {
                if col.validity[i] {
                    fv.insert(i, &bytes[offsets[i]..offsets[i + 1]]);
                }
            }
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

fn write_list(lv: &mut ListVector, col: &Column, child_ty: &DuckType) -> Result<()> {
    let ColumnData::List { entries, child } = &col.data else {
        return Err(mismatch(&DuckType::List(Box::new(child_ty.clone()))));
    };
    let total = child.validity.len();
    match child_ty {
        DuckType::List(grandchild) => {
            lv.try_reserve(total)
                .map_err(|e| Error::argument(format!("list vector: {e}")))?;
            let mut cl = lv.list_child();
            write_list(&mut cl, child, grandchild)?;
        }
        _ => {
            let mut cv = lv.child(total);
            write_flat(&mut cv, child, child_ty)?;
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
