//! `pg_sync_tables(dsn, tables := ['shop.*', ...], target := 'catalog.schema', exclude := [...],
//! max_connections := 4, on_error := 'fail' | 'skip', ...)`: `pg_sync` for many tables at once
//! (a name of its own: DuckDB's C API cannot overload a table function). This file parses the arguments, drives the
//! PostgreSQL snapshot of `crate::postgres::tables` on the runtime, hands both to
//! `crate::sync::tables::run_tables`, and returns a row per table.

use std::time::Duration;

use duckdb::core::{DataChunkHandle, LogicalTypeHandle, LogicalTypeId};
use duckdb::vtab::{BindInfo, InitInfo, TableFunctionInfo, VTab};

use super::report::Pager;
use super::rows::Out;
use super::sync::{add_outcome_columns, cdc_args, side_connection, PgChanges};
use super::{args, fail, runtime};
use crate::error::{Error, Result};
use crate::postgres::catalog::QualifiedName;
use crate::postgres::connect::{self, ConnParams};
use crate::postgres::sync::SyncSnapshot;
use crate::postgres::tables::TablesSnapshot;
use crate::sync::session::SqlSession;
use crate::sync::source::{Read, Rows, Source, SourceView};
use crate::sync::tables::{
    parse_pattern, run_tables, Described, Listed, TablesRequest, TablesSource,
    DEFAULT_MAX_CONNECTIONS,
};
use crate::types::batch::Batch;
use crate::types::DuckType;

pub const NAME: &str = "pg_sync_tables";

pub struct PgSyncTables;

pub struct Args {
    params: ConnParams,
    batch_size: usize,
    max_connections: usize,
    request: TablesRequest,
}

fn parse_args(bind: &BindInfo) -> Result<Args> {
    let dsn = args::required_string(bind, 0, "dsn")?;
    let params = connect::resolve(&dsn, &connect::ProcessEnv)?;
    let patterns = |name| -> Result<Vec<_>> {
        args::named_string_or_list(bind, name)?
            .unwrap_or_default()
            .iter()
            .map(|p| parse_pattern(p))
            .collect()
    };
    let tables = patterns("tables")?;
    if tables.is_empty() {
        return Err(Error::argument(
            "name the tables to sync: tables := ['schema.*', 'schema.table', ...] (pg_sync(dsn, 'schema.table') syncs one)",
        ));
    }
    if bind
        .get_named_parameter("primary_key")
        .is_some_and(|v| !v.is_null())
    {
        return Err(Error::argument(
            "primary_key applies to one table: with tables := [...] each table's primary key is read from PostgreSQL",
        ));
    }
    let skip_errors = match args::named_string(bind, "on_error").as_deref() {
        None | Some("fail") => false,
        Some("skip") => true,
        Some(other) => {
            return Err(Error::argument(format!(
                "on_error must be 'fail' (any table that cannot be synced fails the call, nothing written) or 'skip' (such tables are reported and the others synced), not {other:?}"
            )))
        }
    };
    let window = args::named_int(bind, "blind_window_seconds", 900, 0)?;
    Ok(Args {
        params,
        batch_size: args::named_int(bind, "batch_size", 10_000, 1)? as usize,
        max_connections: args::named_int(
            bind,
            "max_connections",
            DEFAULT_MAX_CONNECTIONS as i64,
            1,
        )? as usize,
        request: TablesRequest {
            tables,
            exclude: patterns("exclude")?,
            target: args::named_string(bind, "target"),
            cursor: args::named_string(bind, "cursor"),
            skip_errors,
            hard_deletes: args::named_bool(bind, "hard_deletes", false),
            enforce_key: args::named_bool(bind, "enforce_key", false),
            parquet_dir: args::named_string(bind, "parquet_dir"),
            blind_window: Duration::from_secs(window as u64),
            cdc: cdc_args(bind)?,
        },
    })
}

/// The call's snapshot on the process's runtime.
struct PgTables<'a> {
    params: &'a ConnParams,
    batch_size: usize,
    max_connections: usize,
    snapshot: Option<TablesSnapshot>,
}

impl PgTables<'_> {
    fn held(&mut self) -> Result<&mut TablesSnapshot> {
        self.snapshot
            .as_mut()
            .ok_or_else(|| Error::internal("a table described before the snapshot"))
    }
}

impl TablesSource for PgTables<'_> {
    type Table = OneTable;

    fn list(&mut self, blind_window: Duration) -> Result<Vec<Listed>> {
        let (snap, listed) = runtime::block_on(TablesSnapshot::take(
            self.params,
            blind_window,
            self.max_connections,
        ))?;
        self.snapshot = Some(snap);
        Ok(listed)
    }

    fn describe(&mut self, tables: &[Listed]) -> Result<Vec<Described>> {
        let params = self.params;
        let snap = self.held()?;
        runtime::block_on(snap.describe(params, tables))
    }

    fn table(&mut self, table: &Described, cursor: &str) -> Result<OneTable> {
        let (params, batch_size) = (self.params.clone(), self.batch_size);
        let snap = self.held()?;
        let snapshot = runtime::block_on(snap.table(&params, table, cursor))?;
        Ok(OneTable {
            params,
            batch_size,
            cursor: cursor.to_string(),
            snapshot,
        })
    }

    fn server(&self) -> String {
        self.params.target()
    }

    fn finish(&mut self) -> Result<()> {
        match self.snapshot.take() {
            Some(s) => runtime::block_on(s.finish(self.params)),
            None => Ok(()),
        }
    }
}

/// One table of the call, read in the call's snapshot (which it does not end).
pub struct OneTable {
    params: ConnParams,
    batch_size: usize,
    cursor: String,
    snapshot: SyncSnapshot,
}

impl Source for OneTable {
    fn snapshot(&mut self, _: &QualifiedName, _: &str, _: Duration) -> Result<SourceView> {
        Ok(self.snapshot.view(&self.params))
    }

    fn read<T: Send + 'static>(
        &mut self,
        read: &Read,
        make: fn(Batch, &[DuckType]) -> Result<T>,
    ) -> Result<Rows<T>> {
        runtime::block_on(self.snapshot.read(
            &self.params,
            &self.cursor,
            read,
            self.batch_size,
            make,
        ))
    }

    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}

impl VTab for PgSyncTables {
    type InitData = Pager;
    type BindData = Args;

    fn bind(bind: &BindInfo) -> Result<Args, Box<dyn std::error::Error>> {
        let args = parse_args(bind).map_err(fail(NAME))?;
        add_outcome_columns(bind);
        bind.add_result_column("error", LogicalTypeHandle::from(LogicalTypeId::Varchar));
        Ok(args)
    }

    fn init(init: &InitInfo) -> Result<Pager, Box<dyn std::error::Error>> {
        let mut con = side_connection(init, NAME)?;
        // SAFETY: DuckDB hands back the bind data this function's bind returned.
        let args = unsafe { &*init.get_bind_data::<Args>() };
        let mut source = PgTables {
            params: &args.params,
            batch_size: args.batch_size,
            max_connections: args.max_connections,
            snapshot: None,
        };
        let rows = run_tables(
            &args.request,
            &mut SqlSession(&mut *con),
            &mut source,
            &mut PgChanges::new(&args.params, args.batch_size),
        )
        .map_err(fail(NAME))?;
        let col = |f: &dyn Fn(&crate::sync::tables::TableOutcome) -> Option<String>| {
            Out::Text(rows.iter().map(f).collect())
        };
        Ok(Pager::columns(vec![
            col(&|r| Some(r.outcome.source.clone())),
            col(&|r| Some(r.outcome.target.clone())),
            col(&|r| Some(r.outcome.mode.to_string())),
            Out::BigInt(rows.iter().map(|r| Some(r.outcome.rows_upserted)).collect()),
            Out::BigInt(rows.iter().map(|r| Some(r.outcome.rows_deleted)).collect()),
            Out::TextList(
                rows.iter()
                    .map(|r| Some(r.outcome.columns_added.clone()))
                    .collect(),
            ),
            col(&|r| r.outcome.watermark_before.clone()),
            col(&|r| r.outcome.watermark_after.clone()),
            col(&|r| Some(r.outcome.watermark_bound.clone()).filter(|s| !s.is_empty())),
            Out::Micros(
                rows.iter()
                    .map(|r| Some(r.outcome.duration.as_micros() as i64))
                    .collect(),
            ),
            col(&|r| r.error.clone()),
        ]))
    }

    fn func(
        func: &TableFunctionInfo<Self>,
        output: &mut DataChunkHandle,
    ) -> Result<(), Box<dyn std::error::Error>> {
        func.get_init_data().next(output)
    }

    fn parameters() -> Option<Vec<LogicalTypeHandle>> {
        Some(vec![LogicalTypeHandle::from(LogicalTypeId::Varchar)])
    }

    fn named_parameters() -> Option<Vec<(String, LogicalTypeHandle)>> {
        let v = |id| LogicalTypeHandle::from(id);
        Some(vec![
            ("tables".into(), v(LogicalTypeId::Any)),
            ("exclude".into(), v(LogicalTypeId::Any)),
            ("target".into(), v(LogicalTypeId::Varchar)),
            ("primary_key".into(), v(LogicalTypeId::Any)),
            ("cursor".into(), v(LogicalTypeId::Varchar)),
            ("on_error".into(), v(LogicalTypeId::Varchar)),
            ("max_connections".into(), v(LogicalTypeId::Bigint)),
            ("hard_deletes".into(), v(LogicalTypeId::Boolean)),
            ("enforce_key".into(), v(LogicalTypeId::Boolean)),
            ("parquet_dir".into(), v(LogicalTypeId::Varchar)),
            ("batch_size".into(), v(LogicalTypeId::Bigint)),
            ("blind_window_seconds".into(), v(LogicalTypeId::Bigint)),
            ("method".into(), v(LogicalTypeId::Varchar)),
            ("publication".into(), v(LogicalTypeId::Varchar)),
        ])
    }
}
