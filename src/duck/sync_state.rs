//! `pg_sync_state([dsn := ...])`: every `pg_sync` checkpoint in every attached database, one row
//! each. The columns are the checkpoint's own (`crate::sync::checkpoint::COLUMNS`), after the
//! catalog, then a CDC target's slot (`crate::sync::slot_state`): its name always; its status and
//! the WAL it keeps only when `dsn :=` names the server to ask (without it, nothing connects).

use duckdb::core::{DataChunkHandle, LogicalTypeHandle, LogicalTypeId};
use duckdb::vtab::{BindInfo, InitInfo, TableFunctionInfo, VTab};

use super::report::Pager;
use super::rows::Out;
use super::sync::side_connection;
use super::{args, fail, runtime};
use crate::postgres::{connect, replication};
use crate::sync::checkpoint::{self, Shown, COLUMNS};
use crate::sync::session::Value;
use crate::sync::slot_state::{self, place_of, Asked, SlotView};

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
    /// `dsn :=`: the server whose slots are asked for.
    type BindData = Option<String>;

    fn bind(bind: &BindInfo) -> Result<Option<String>, Box<dyn std::error::Error>> {
        for (name, shown) in columns() {
            let id = match shown {
                Shown::Text => LogicalTypeId::Varchar,
                Shown::Int => LogicalTypeId::Bigint,
                Shown::Timestamp => LogicalTypeId::TimestampTZ,
                Shown::Interval => LogicalTypeId::Interval,
            };
            bind.add_result_column(name, LogicalTypeHandle::from(id));
        }
        for (name, id) in [
            ("slot", LogicalTypeId::Varchar),
            ("slot_status", LogicalTypeId::Varchar),
            ("retained_wal_bytes", LogicalTypeId::Bigint),
        ] {
            bind.add_result_column(name, LogicalTypeHandle::from(id));
        }
        Ok(args::named_string(bind, "dsn"))
    }

    fn init(init: &InitInfo) -> Result<Pager, Box<dyn std::error::Error>> {
        let mut con = side_connection(init, NAME)?;
        let states = checkpoint::read_all(&mut *con).map_err(fail(NAME))?;
        // SAFETY: DuckDB hands back the bind data this function's bind returned.
        let dsn = unsafe { &*init.get_bind_data::<Option<String>>() };
        let asked = match dsn {
            Some(dsn) => {
                let params = connect::resolve(dsn, &connect::ProcessEnv).map_err(fail(NAME))?;
                let slots = runtime::block_on(replication::slots(&params)).map_err(fail(NAME))?;
                Some((place_of(&params.target()).to_string(), slots))
            }
            None => None,
        };
        let asked = asked.as_ref().map(|(place, slots)| Asked { place, slots });
        let views: Vec<SlotView> = states
            .iter()
            .map(|(_, c)| slot_state::view(c, asked.as_ref()))
            .collect();
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
        cols.push(Out::Text(views.iter().map(|v| v.slot.clone()).collect()));
        cols.push(Out::Text(
            views.iter().map(|v| v.status.map(str::to_string)).collect(),
        ));
        cols.push(Out::BigInt(views.iter().map(|v| v.retained_wal).collect()));
        Ok(Pager::columns(cols))
    }

    fn func(
        func: &TableFunctionInfo<Self>,
        output: &mut DataChunkHandle,
    ) -> Result<(), Box<dyn std::error::Error>> {
        func.get_init_data().next(output)
    }

    fn named_parameters() -> Option<Vec<(String, LogicalTypeHandle)>> {
        Some(vec![(
            "dsn".into(),
            LogicalTypeHandle::from(LogicalTypeId::Varchar),
        )])
    }
}
