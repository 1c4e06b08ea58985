//! Small result sets (plans, per-table reports, sync results) computed in one go in init (never in
//! bind: bind may run twice) and handed to DuckDB 2,048 rows per chunk, written through
//! [`super::rows`] (the same checked path as scanned data).

use std::sync::Mutex;

use duckdb::core::{DataChunkHandle, LogicalTypeHandle, LogicalTypeId};
use duckdb::vtab::{BindInfo, InitInfo};

use super::rows::{self, Out};

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

/// A result computed in `init`, then paged out by `func`, 2,048 rows per call.
///
/// Functions that do all their work before returning rows do it in `init`, once per execution.
/// DuckDB runs init on whichever of its threads takes the pipeline's first task: usually the query's
/// own thread (all 7 traced runs on a quiet machine, about half under load), and when a worker
/// runs it, the query's thread waits by polling (the Python client: a core of 2 busy for the whole
/// call). `func` fared no better in measurements, and the C API cannot choose the thread; doing
/// the work in bind would make EXPLAIN or a view definition run it.
pub struct Pager {
    /// The columns, all of the same length, and how many rows have been handed out.
    state: Mutex<(Vec<Out>, usize)>,
}

impl Pager {
    /// Compute rows of cells now, from the bind data of the function being initialized; `columns`
    /// are the ones `declare` declared.
    pub fn compute<B, F>(
        init: &InitInfo,
        columns: &[(&str, Kind)],
        compute: F,
    ) -> Result<Self, Box<dyn std::error::Error>>
    where
        F: FnOnce(&B) -> Result<Vec<Vec<Cell>>, Box<dyn std::error::Error>>,
    {
        // SAFETY: DuckDB hands back the bind data this function's bind returned, which is a `B`
        // (each caller names its own `VTab::BindData`).
        let bind = unsafe { &*init.get_bind_data::<B>() };
        let rows = compute(bind)?;
        Ok(Pager::columns(
            columns
                .iter()
                .enumerate()
                .map(|(c, (_, kind))| column(&rows, c, *kind))
                .collect(),
        ))
    }

    /// Columns already computed (of any type `rows::Out` writes).
    pub fn columns(columns: Vec<Out>) -> Self {
        Pager {
            state: Mutex::new((columns, 0)),
        }
    }

    /// Fill `output` with the next rows (none once all were handed out).
    pub fn next(&self, output: &mut DataChunkHandle) -> Result<(), Box<dyn std::error::Error>> {
        let mut guard = self.state.lock().map_err(|_| {
            Box::<dyn std::error::Error>::from("state poisoned by an earlier failure")
        })?;
        let (columns, offset) = &mut *guard;
        let total = columns.first().map_or(0, Out::len);
        let end = (*offset + 2048).min(total);
        let page: Vec<Out> = columns.iter().map(|c| c.slice(*offset..end)).collect();
        rows::write(output, end - *offset, &page).map_err(|e| e.to_string())?;
        *offset = end;
        Ok(())
    }
}

/// Column `c` of `rows`, as a column of `kind` (a cell of another kind reads as NULL).
fn column(rows: &[Vec<Cell>], c: usize, kind: Kind) -> Out {
    let cells = rows.iter().map(|row| row.get(c));
    match kind {
        Kind::Text => Out::Text(
            cells
                .map(|x| match x {
                    Some(Cell::Text(s)) => Some(s.clone()),
                    _ => None,
                })
                .collect(),
        ),
        Kind::Int => Out::BigInt(
            cells
                .map(|x| match x {
                    Some(Cell::Int(i)) => Some(*i),
                    _ => None,
                })
                .collect(),
        ),
        Kind::Float => Out::Double(
            cells
                .map(|x| match x {
                    Some(Cell::Float(f)) => Some(*f),
                    _ => None,
                })
                .collect(),
        ),
        Kind::Bool => Out::Bool(
            cells
                .map(|x| match x {
                    Some(Cell::Bool(b)) => Some(*b),
                    _ => None,
                })
                .collect(),
        ),
    }
}
