//! Small result sets (plans, per-table reports) computed in one go and handed to DuckDB 2,048 rows
//! per chunk.

use std::sync::Mutex;

use duckdb::core::{DataChunkHandle, Inserter, LogicalTypeHandle, LogicalTypeId};
use duckdb::vtab::BindInfo;

/// One output value.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

/// The column kinds a [`Cell`] can fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Int,
    Float,
    Bool,
}

/// Declare the output columns in bind.
pub fn declare(bind: &BindInfo, columns: &[(&str, Kind)]) {
    for (name, kind) in columns {
        let id = match kind {
            Kind::Text => LogicalTypeId::Varchar,
            Kind::Int => LogicalTypeId::Bigint,
            Kind::Float => LogicalTypeId::Double,
            Kind::Bool => LogicalTypeId::Boolean,
        };
        bind.add_result_column(name, LogicalTypeHandle::from(id));
    }
}

/// Rows computed on the first call, then paged out.
#[derive(Default)]
pub struct Pager {
    state: Mutex<Option<(Vec<Vec<Cell>>, usize)>>,
}

impl Pager {
    /// Fill `output` with the next rows; `compute` runs once, on the first call. `kinds` must match
    /// the declared columns.
    pub fn next<F>(
        &self,
        output: &mut DataChunkHandle,
        kinds: &[Kind],
        compute: F,
    ) -> Result<(), Box<dyn std::error::Error>>
    where
        F: FnOnce() -> Result<Vec<Vec<Cell>>, Box<dyn std::error::Error>>,
    {
        let mut guard = self.state.lock().map_err(|_| {
            Box::<dyn std::error::Error>::from("state poisoned by an earlier failure")
        })?;
        if guard.is_none() {
            *guard = Some((compute()?, 0));
        }
        let Some((rows, offset)) = guard.as_mut() else {
            output.set_len(0);
            return Ok(());
        };
        let end = (*offset + 2048).min(rows.len());
        for (r, row) in rows[*offset..end].iter().enumerate() {
            for (c, (cell, kind)) in row.iter().zip(kinds).enumerate() {
                let mut v = output.flat_vector(c);
                match (cell, kind) {
                    (Cell::Text(s), Kind::Text) => v.insert(r, s.as_str()),
                    // SAFETY: the column was declared BIGINT (i64) in bind; r < 2048 <= capacity.
                    (Cell::Int(i), Kind::Int) => unsafe { v.as_mut_slice::<i64>()[r] = *i },
                    // SAFETY: declared DOUBLE (f64).
                    (Cell::Float(f), Kind::Float) => unsafe { v.as_mut_slice::<f64>()[r] = *f },
                    // SAFETY: declared BOOLEAN (bool).
                    (Cell::Bool(b), Kind::Bool) => unsafe { v.as_mut_slice::<bool>()[r] = *b },
                    _ => v.set_null(r),
                }
            }
        }
        output.set_len(end - *offset);
        *offset = end;
        Ok(())
    }
}
