//! Copying decoded batches (already in DuckDB's physical layout) into DuckDB's output vectors.
//! This is where lakemig writes raw vector memory; every write is checked against the declared type.

use duckdb::core::{DataChunkHandle, FlatVector, Inserter, ListVector};

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
