//! Small result sets (plans, per-table reports) computed in one go on the first scan call (never in
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

/// Rows computed in `init`, then paged out by `func`.
///
/// Functions that do all their work before returning rows do it in `init`, once per execution.
/// DuckDB runs init on whichever of its threads takes the pipeline's first task: usually the query's
/// own thread (all 7 traced runs on a quiet machine, about half under load), and when a worker
/// runs it, the query's thread waits by polling (the Python client: a core of 2 busy for the whole
/// call). `func` fared no better in measurements, and the C API cannot choose the thread; doing
/// the work in bind would make EXPLAIN or a view definition run it.
pub struct Pager {
    state: Mutex<Option<(Vec<Vec<Cell>>, usize)>>,
}

impl Pager {
    /// Compute the rows now, from the bind data of the function being initialized.
    pub fn compute<B, F>(init: &InitInfo, compute: F) -> Result<Self, Box<dyn std::error::Error>>
    where
        F: FnOnce(&B) -> Result<Vec<Vec<Cell>>, Box<dyn std::error::Error>>,
    {
        // SAFETY: DuckDB hands back the bind data this function's bind returned, which is a `B`
        // (each caller names its own `VTab::BindData`).
        let bind = unsafe { &*init.get_bind_data::<B>() };
        Ok(Pager {
            state: Mutex::new(Some((compute(bind)?, 0))),
        })
    }

    /// Fill `output` with the next rows. `kinds` must match the declared columns.
    pub fn next(
        &self,
        output: &mut DataChunkHandle,
        kinds: &[Kind],
    ) -> Result<(), Box<dyn std::error::Error>> {
        let mut guard = self.state.lock().map_err(|_| {
            Box::<dyn std::error::Error>::from("state poisoned by an earlier failure")
        })?;
        let Some((rows, offset)) = guard.as_mut() else {
            output.set_len(0);
            return Ok(());
        };
        let end = (*offset + 2048).min(rows.len());
        let page = &rows[*offset..end];
        let columns: Vec<Out> = kinds
            .iter()
            .enumerate()
            .map(|(c, kind)| {
                let cells = page.iter().map(move |row| row.get(c));
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
            })
            .collect();
        rows::write(output, page.len(), &columns).map_err(|e| e.to_string())?;
        *offset = end;
        Ok(())
    }
}
