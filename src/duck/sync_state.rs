//! `pg_sync_state()`: every `pg_sync` checkpoint in every attached database, one row each. The
//! columns are the checkpoint's own (`crate::sync::checkpoint::COLUMNS`), after the catalog.

use duckdb::core::{DataChunkHandle, LogicalTypeHandle, LogicalTypeId};
use duckdb::vtab::{BindInfo, InitInfo, TableFunctionInfo, VTab};

use super::fail;
use super::report::Pager;
use super::rows::Out;
use super::sync::side_connection;
use crate::sync::checkpoint::{self, Shown, COLUMNS};
use crate::sync::session::Value;

pub const NAME: &str = "pg_sync_state";

pub struct PgSyncState;

/// The output columns: the catalog, then each shown checkpoint column.
fn columns() -> Vec<(&'static str, Shown)> {
    std::iter::once(("catalog", Shown::Text))
        .chain(COLUMNS.iter().filter_map(|c| c.shown))
        .collect()
}

fn out(shown: Shown, values: Vec<Value>) -> Out {
    let int = |v: Value| match v {
        Value::Int(i) => Some(i),
        _ => None,
    };
    match shown {
        Shown::Text => Out::Text(
            values
                .into_iter()
                .map(|v| match v {
                    Value::Text(s) => Some(s),
                    _ => None,
                })
                .collect(),
        ),
        Shown::Int => Out::BigInt(values.into_iter().map(int).collect()),
        Shown::Timestamp => Out::TimestampTz(values.into_iter().map(int).collect()),
        Shown::Interval => Out::Micros(values.into_iter().map(int).collect()),
    }
}

impl VTab for PgSyncState {
    type InitData = Pager;
    type BindData = ();

    fn bind(bind: &BindInfo) -> Result<(), Box<dyn std::error::Error>> {
        for (name, shown) in columns() {
            let id = match shown {
                Shown::Text => LogicalTypeId::Varchar,
                Shown::Int => LogicalTypeId::Bigint,
                Shown::Timestamp => LogicalTypeId::TimestampTZ,
                Shown::Interval => LogicalTypeId::Interval,
            };
            bind.add_result_column(name, LogicalTypeHandle::from(id));
        }
        Ok(())
    }

    fn init(init: &InitInfo) -> Result<Pager, Box<dyn std::error::Error>> {
        let mut con = side_connection(init, NAME)?;
        let states = checkpoint::read_all(&mut *con).map_err(fail(NAME))?;
        let mut cols = vec![out(
            Shown::Text,
            states
                .iter()
                .map(|(cat, _)| Value::Text(cat.clone()))
                .collect(),
        )];
        for col in COLUMNS.iter() {
            if let Some((_, shown)) = col.shown {
                cols.push(out(
                    shown,
                    states.iter().map(|(_, c)| (col.get)(c)).collect(),
                ));
            }
        }
        Ok(Pager::columns(cols))
    }

    fn func(
        func: &TableFunctionInfo<Self>,
        output: &mut DataChunkHandle,
    ) -> Result<(), Box<dyn std::error::Error>> {
        func.get_init_data().next(output)
    }
}
