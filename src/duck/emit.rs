//! A table function that does its work once (in the scan, never in bind: bind may run twice) and then
//! hands back a small, fully computed result, 2,048 rows per chunk.

use std::sync::Mutex;

use duckdb::core::{DataChunkHandle, Inserter};

use crate::error::{Error, Result};

/// One output value.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(Option<String>),
    Bool(bool),
    BigInt(i64),
    Double(f64),
}

/// Rows computed on the first scan call, then emitted chunk by chunk.
#[derive(Default)]
pub struct Emitter {
    state: Mutex<Option<(Vec<Vec<Cell>>, usize)>>,
}

impl Emitter {
    /// Fill `output` with the next chunk; on the first call, compute the rows with `work`.
    pub fn next_chunk(
        &self,
        output: &mut DataChunkHandle,
        work: impl FnOnce() -> Result<Vec<Vec<Cell>>>,
    ) -> Result<()> {
        let mut guard = self
            .state
            .lock()
            .map_err(|_| Error::argument("state poisoned by an earlier failure"))?;
        if guard.is_none() {
            *guard = Some((work()?, 0));
        }
        let Some((rows, offset)) = guard.as_mut() else {
            return Ok(());
        };
        let n = (rows.len() - *offset).min(2048);
        for (i, row) in rows[*offset..*offset + n].iter().enumerate() {
            for (col, cell) in row.iter().enumerate() {
                let mut v = output.flat_vector(col);
                match cell {
                    Cell::Text(Some(s)) => v.insert(i, s.as_str()),
                    Cell::Text(None) => v.set_null(i),
                    // SAFETY (the three arms below): the column was declared BOOLEAN / BIGINT / DOUBLE in
                    // bind (the physical types bool / i64 / f64), and `i` < 2048 = the vector's capacity.
                    Cell::Bool(b) => unsafe { v.as_mut_slice::<bool>()[i] = *b },
                    Cell::BigInt(x) => unsafe { v.as_mut_slice::<i64>()[i] = *x },
                    Cell::Double(x) => unsafe { v.as_mut_slice::<f64>()[i] = *x },
                }
            }
        }
        *offset += n;
        output.set_len(n);
        Ok(())
    }
}
