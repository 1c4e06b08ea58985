//! Copying decoded batches (already in DuckDB's physical layout) into DuckDB's output vectors.
//! This is where lakemig writes raw vector memory; every write is checked against the declared type.

use std::os::raw::c_char;

use duckdb::core::{DataChunkHandle, FlatVector, ListVector};
use duckdb::ffi::{
    duckdb_data_chunk_get_vector, duckdb_list_vector_get_child, duckdb_string_t,
    duckdb_string_t__bindgen_ty_1, duckdb_string_t__bindgen_ty_1__bindgen_ty_1,
    duckdb_string_t__bindgen_ty_1__bindgen_ty_2, duckdb_validity_row_is_valid, duckdb_vector,
    duckdb_vector_assign_string_element_len, duckdb_vector_get_data, duckdb_vector_get_validity,
};

use crate::error::{Error, Result};
use crate::types::batch::{Batch, Column, ColumnData, DuckInterval};
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
        write_column(output, target, col, ty)?;
    }
    output.set_len(batch.len);
    Ok(())
}

/// Fill `output` from the next batch `next` gives that has rows (an empty chunk would read as
/// the end); none left (None): an empty chunk, the end. `write` copies a batch in. A table
/// function's `func` whose batches come from a queue or a list.
pub fn fill_next<B: std::borrow::Borrow<Batch>, E>(
    output: &mut DataChunkHandle,
    mut next: impl FnMut() -> std::result::Result<Option<B>, E>,
    write: impl FnOnce(&mut DataChunkHandle, &Batch) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    loop {
        match next()? {
            None => {
                output.set_len(0);
                return Ok(());
            }
            Some(b) if b.borrow().len == 0 => continue,
            Some(b) => return write(output, b.borrow()),
        }
    }
}

/// Write some of `batch`'s columns into `output`: output column `j` is batch column `picks[j]`,
/// whose DuckDB type is `types[j]`. Sets the chunk's length.
pub fn write_columns(
    output: &mut DataChunkHandle,
    batch: &Batch,
    picks: &[usize],
    types: &[DuckType],
) -> Result<()> {
    for (target, (&pick, ty)) in picks.iter().zip(types).enumerate() {
        let col = batch
            .columns
            .get(pick)
            .ok_or_else(|| Error::internal(format!("a batch without column {pick}")))?;
        write_column(output, target, col, ty)?;
    }
    output.set_len(batch.len);
    Ok(())
}

fn write_column(
    output: &mut DataChunkHandle,
    target: usize,
    col: &Column,
    ty: &DuckType,
) -> Result<()> {
    // SAFETY: `target` is a column of `output` (the caller's mapping), so the vector is alive for
    // as long as `output` is.
    let raw = unsafe { duckdb_data_chunk_get_vector(output.get_ptr(), target as u64) };
    match ty {
        DuckType::List(child_ty) => {
            let mut lv = output.list_vector(target);
            write_list(&mut lv, raw, col, child_ty)
        }
        _ => {
            let mut fv = output.flat_vector(target);
            write_flat(&mut fv, raw, col, ty)
        }
    }
}

/// DuckDB keeps strings of up to 12 bytes inside the `string_t` itself.
const INLINE_LEN: usize = 12;

/// Write `n = offsets.len() - 1` string values (value `i` = `bytes[offsets[i]..offsets[i+1]]`) into a
/// VARCHAR/BLOB vector with one copy of the whole batch: the concatenated bytes go into the vector's
/// own string heap once (assigned to slot 0 as a carrier with the stable
/// `duckdb_vector_assign_string_element_len`), then every `string_t` is written to point into that
/// copy (or holds its value inline, as DuckDB requires for short strings). Per-value assignment
/// through the C API was the largest single cost of turning a batch into a chunk. For VARCHAR
/// vectors DuckDB checks the carrier's UTF-8 (valid, as each value is: the decoder checked them); a
/// carrier it refused would leave slot 0 NULL, which is caught, never followed.
///
/// # Safety
/// `raw` must be a VARCHAR, JSON or BLOB vector with capacity for `n` values, and `offsets` must be
/// non-decreasing with `offsets[n] == bytes.len()`.
unsafe fn write_strings(raw: duckdb_vector, bytes: &[u8], offsets: &[usize]) -> Result<()> {
    let n = offsets.len() - 1;
    let data = duckdb_vector_get_data(raw) as *mut duckdb_string_t;
    let needs_heap = offsets.windows(2).any(|w| w[1] - w[0] > INLINE_LEN);
    let base: *mut c_char = if needs_heap {
        // Longer than 12 bytes as a whole (some value is), so slot 0 now holds a pointer into the heap.
        duckdb_vector_assign_string_element_len(
            raw,
            0,
            bytes.as_ptr() as *const c_char,
            bytes.len() as u64,
        );
        // DuckDB marks the slot NULL instead of assigning when it refuses the bytes.
        let validity = duckdb_vector_get_validity(raw);
        let carrier = (*data).value.pointer;
        if (!validity.is_null() && !duckdb_validity_row_is_valid(validity, 0))
            || carrier.length as usize != bytes.len()
        {
            return Err(Error::argument(
                "internal error: DuckDB refused a batch of strings (invalid UTF-8)".to_string(),
            ));
        }
        carrier.ptr
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
    Ok(())
}

fn mismatch(ty: &DuckType) -> Error {
    Error::internal(format!(
        "decoded data does not match the declared DuckDB type {ty}"
    ))
}

/// Copy a column after checking that its physical type is the one `ty` stores. `raw` is `fv`'s own
/// `duckdb_vector` (duckdb-rs does not expose it).
fn write_flat(fv: &mut FlatVector, raw: duckdb_vector, col: &Column, ty: &DuckType) -> Result<()> {
    let n = col.validity.len();
    if n > fv.capacity() {
        return Err(Error::internal(format!(
            "{n} values do not fit a vector of {}",
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
            unsafe { write_strings(raw, bytes, offsets)? };
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
                .map_err(|e| Error::internal(format!("list vector: {e}")))?;
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
