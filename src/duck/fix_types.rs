//! `ducklake_fix_types(pg_dsn, schema := 'public', dry_run := false)`: convert the columns of a DuckLake
//! catalog on PostgreSQL to the types DuckLake itself creates there, in one transaction; one row per
//! column changed (or, with `dry_run`, to change).

use duckdb::core::{DataChunkHandle, LogicalTypeHandle, LogicalTypeId};
use duckdb::vtab::{BindInfo, InitInfo, TableFunctionInfo, VTab};

use super::report::{declare, Cell, Kind, Pager};
use super::{args, fail, runtime};
use crate::ducklake::fix_types;
use crate::postgres::connect;

pub const NAME: &str = "ducklake_fix_types";

const COLUMNS: [(&str, Kind); 6] = [
    ("table_name", Kind::Text),
    ("column_name", Kind::Text),
    ("from_type", Kind::Text),
    ("to_type", Kind::Text),
    ("statement", Kind::Text),
    ("applied", Kind::Bool),
];

pub struct DuckLakeFixTypes;

pub struct Bind {
    params: connect::ConnParams,
    schema: String,
    dry_run: bool,
}

impl VTab for DuckLakeFixTypes {
    type InitData = Pager;
    type BindData = Bind;

    fn bind(bind: &BindInfo) -> Result<Bind, Box<dyn std::error::Error>> {
        let dsn = args::required_string(bind, 0, "pg_dsn").map_err(fail(NAME))?;
        let params = connect::resolve(&dsn, &connect::ProcessEnv).map_err(fail(NAME))?;
        let schema = args::named_string(bind, "schema").unwrap_or_else(|| "public".into());
        let dry_run = args::named_bool(bind, "dry_run", false);
        declare(bind, &COLUMNS);
        Ok(Bind {
            params,
            schema,
            dry_run,
        })
    }

    fn init(init: &InitInfo) -> Result<Pager, Box<dyn std::error::Error>> {
        Pager::compute(init, &COLUMNS, |bind: &Bind| {
            let changes = runtime::block_on(async {
                let mut client = connect::connect(&bind.params).await?;
                fix_types::fix_types(
                    &mut client,
                    &bind.schema,
                    bind.dry_run,
                    &bind.params.target(),
                )
                .await
            })
            .map_err(fail(NAME))?;
            Ok(changes
                .into_iter()
                .map(|c| {
                    vec![
                        Cell::Text(c.table),
                        Cell::Text(c.column),
                        Cell::Text(c.from_type),
                        Cell::Text(c.to_type),
                        Cell::Text(c.statement),
                        Cell::Bool(!bind.dry_run),
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
        Some(vec![LogicalTypeHandle::from(LogicalTypeId::Varchar)])
    }

    fn named_parameters() -> Option<Vec<(String, LogicalTypeHandle)>> {
        Some(vec![
            (
                "schema".into(),
                LogicalTypeHandle::from(LogicalTypeId::Varchar),
            ),
            (
                "dry_run".into(),
                LogicalTypeHandle::from(LogicalTypeId::Boolean),
            ),
        ])
    }
}
