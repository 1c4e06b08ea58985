//! `sqlite_catalog_migrate(sqlite_path, pg_dsn, schema := 'public', if_exists := 'error',
//! data_path := NULL, dry_run := false, verify := true)`: move a DuckLake catalog from SQLite to
//! PostgreSQL in one transaction; one row per catalog table.

use std::sync::{Arc, Mutex};

use duckdb::core::{DataChunkHandle, LogicalTypeHandle, LogicalTypeId};
use duckdb::vtab::{BindInfo, InitInfo, TableFunctionInfo, VTab};

use super::report::{declare, Cell, Kind, Pager};
use super::{args, fail, runtime};
use crate::ducklake::migrate::{self, IfExists, Options};
use crate::postgres::connect;
use crate::sqlite::SqliteSource;

pub const NAME: &str = "sqlite_catalog_migrate";

const COLUMNS: [(&str, Kind); 5] = [
    ("table", Kind::Text),
    ("rows", Kind::Int),
    ("verified", Kind::Bool),
    ("duration", Kind::Float),
    ("ddl", Kind::Text),
];

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
        declare(bind, &COLUMNS);
        Ok(data)
    }

    fn init(init: &InitInfo) -> Result<Pager, Box<dyn std::error::Error>> {
        Pager::compute(init, &COLUMNS, |bind: &Bind| {
            let results = (|| {
                let src = Arc::new(Mutex::new(SqliteSource::open(&bind.sqlite_path)?));
                runtime::block_on(async {
                    let mut client = connect::connect(&bind.params).await?;
                    migrate::migrate(&mut client, src, &bind.opts, &bind.params.target()).await
                })
            })()
            .map_err(fail(NAME))?;
            Ok(results
                .into_iter()
                .map(|r| {
                    vec![
                        Cell::Text(r.table),
                        Cell::Int(r.rows as i64),
                        Cell::Bool(r.verified),
                        Cell::Float(r.seconds),
                        Cell::Text(r.ddl),
                    ]
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
