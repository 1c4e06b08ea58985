//! `sqlite_catalog_migrate(sqlite_path, pg_dsn, schema := 'public', if_exists := 'error',
//! data_path := NULL, dry_run := false, verify := true)`: move a DuckLake catalog from SQLite to
//! PostgreSQL in one transaction; one row per catalog table, with `sqlite_migrate`'s columns and the
//! table's DDL.

use duckdb::core::{DataChunkHandle, LogicalTypeHandle, LogicalTypeId};
use duckdb::vtab::{BindInfo, InitInfo, TableFunctionInfo, VTab};

use super::report::{declare, Cell, Kind, Pager};
use super::{args, fail, runtime, sqlite_migrate};
use crate::ducklake::migrate::{self, IfExists, Options};
use crate::postgres::connect;
use crate::sqlite::SqliteSource;

pub const NAME: &str = "sqlite_catalog_migrate";

/// `sqlite_migrate`'s result columns, then `ddl`.
fn columns() -> Vec<(&'static str, Kind)> {
    let mut c = sqlite_migrate::COLUMNS.to_vec();
    c.push(("ddl", Kind::Text));
    c
}

pub struct SqliteCatalogMigrate;

pub struct Bind {
    sqlite_path: String,
    params: connect::ConnParams,
    opts: Options,
}

fn bind_args(bind: &BindInfo) -> crate::error::Result<Bind> {
    let sqlite_path = args::required_string(bind, 0, "sqlite_path")?;
    let dsn = args::required_string(bind, 1, "pg_dsn")?;
    let params = connect::resolve(&dsn, &connect::ProcessEnv)?;
    let if_exists = match args::named_string(bind, "if_exists") {
        Some(s) => IfExists::parse(&s)?,
        None => IfExists::Error,
    };
    Ok(Bind {
        sqlite_path,
        params,
        opts: Options {
            schema: args::named_string(bind, "schema").unwrap_or_else(|| "public".into()),
            if_exists,
            data_path: args::named_string(bind, "data_path"),
            dry_run: args::named_bool(bind, "dry_run", false),
            verify: args::named_bool(bind, "verify", true),
        },
    })
}

impl VTab for SqliteCatalogMigrate {
    type InitData = Pager;
    type BindData = Bind;

    fn bind(bind: &BindInfo) -> Result<Bind, Box<dyn std::error::Error>> {
        let data = bind_args(bind).map_err(fail(NAME))?;
        declare(bind, &columns());
        Ok(data)
    }

    fn init(init: &InitInfo) -> Result<Pager, Box<dyn std::error::Error>> {
        Pager::compute(init, &columns(), |bind: &Bind| {
            let results = SqliteSource::open(&bind.sqlite_path)
                .and_then(|src| runtime::block_on(migrate::migrate(src, &bind.params, &bind.opts)))
                .map_err(fail(NAME))?;
            Ok(results
                .iter()
                .map(|r| {
                    let mut row = sqlite_migrate::cells(r);
                    row.push(Cell::Text(r.ddl.clone()));
                    row
                })
                .collect())
        })
    }

    fn func(
        func: &TableFunctionInfo<Self>,
        output: &mut DataChunkHandle,
    ) -> Result<(), Box<dyn std::error::Error>> {
        func.get_init_data().next(output)
    }

    fn parameters() -> Option<Vec<LogicalTypeHandle>> {
        Some(vec![
            LogicalTypeHandle::from(LogicalTypeId::Varchar),
            LogicalTypeHandle::from(LogicalTypeId::Varchar),
        ])
    }

    fn named_parameters() -> Option<Vec<(String, LogicalTypeHandle)>> {
        let v = |n: &str, t| (n.to_string(), LogicalTypeHandle::from(t));
        Some(vec![
            v("schema", LogicalTypeId::Varchar),
            v("if_exists", LogicalTypeId::Varchar),
            v("data_path", LogicalTypeId::Varchar),
            v("dry_run", LogicalTypeId::Boolean),
            v("verify", LogicalTypeId::Boolean),
        ])
    }
}
