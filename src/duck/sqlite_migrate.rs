//! `sqlite_migrate(path, dsn, schema := 'public', tables := NULL, if_exists := 'error',
//! infer_types := true, dry_run := false, verify := true, types := NULL)`: migrate a SQLite file
//! into PostgreSQL in one transaction; one row per table. All work (reading, writing) happens in the
//! scan's init: bind only checks the arguments (DuckDB may bind twice).

use duckdb::core::{DataChunkHandle, LogicalTypeHandle, LogicalTypeId};
use duckdb::vtab::{BindInfo, InitInfo, TableFunctionInfo, VTab};

use super::migration_plan::{plan_named_parameters, plan_request};
use super::report::{declare, Cell, Kind, Pager};
use super::{args, fail, runtime};
use crate::error::{Error, Result};
use crate::migrate::execute::{migrate, Options, TableResult};
use crate::migrate::plan::{migration, IfExists};
use crate::migrate::{build_plan, skipped_tables, PlanRequest};
use crate::postgres::connect::{self, ConnParams};
use crate::sqlite::SqliteSource;

pub const NAME: &str = "sqlite_migrate";

/// The result columns of a migration, one row per table; `sqlite_catalog_migrate` returns the same
/// (and the DDL).
pub const COLUMNS: [(&str, Kind); 8] = [
    ("table_name", Kind::Text),
    ("target", Kind::Text),
    ("rows", Kind::Int),
    ("verified", Kind::Bool),
    ("checksum", Kind::Text),
    ("seconds", Kind::Float),
    ("committed", Kind::Bool),
    ("notes", Kind::Text),
];

pub struct SqliteMigrate;

pub struct Bind {
    path: String,
    params: ConnParams,
    request: PlanRequest,
    schema: String,
    options: Options,
    /// The thread that bound the query (for `LAKEMIG_TRACE`: init is not always run on it).
    bound_on: std::thread::ThreadId,
}

fn parse(bind: &BindInfo) -> Result<Bind> {
    let path = args::required_string(bind, 0, "path")?;
    let dsn = args::required_string(bind, 1, "pg_dsn")?;
    let params = connect::resolve(&dsn, &connect::ProcessEnv)?;
    let schema = args::named_string(bind, "schema").unwrap_or_else(|| "public".to_string());
    if schema.is_empty() {
        return Err(Error::argument("schema must not be empty"));
    }
    let if_exists = IfExists::parse(
        &args::named_string(bind, "if_exists").unwrap_or_else(|| "error".to_string()),
    )?;
    Ok(Bind {
        path,
        params,
        request: plan_request(bind)?,
        schema,
        options: Options {
            if_exists,
            verify: args::named_bool(bind, "verify", true),
            dry_run: args::named_bool(bind, "dry_run", false),
        },
        bound_on: std::thread::current().id(),
    })
}

fn compute(bind: &Bind) -> Result<Vec<Vec<Cell>>> {
    let same = std::thread::current().id() == bind.bound_on;
    crate::migrate::trace(
        std::time::Instant::now(),
        if same {
            "migrating on the thread that bound the query"
        } else {
            "migrating on a DuckDB worker thread (the query's thread polls meanwhile)"
        },
    );
    let src = SqliteSource::open(&bind.path)?;
    let plans = build_plan(&src, &bind.request)?;
    let skipped = skipped_tables(&src, bind.request.tables.as_deref())?;
    let plan = migration(&bind.schema, &plans);
    let results = runtime::block_on(migrate(src, &bind.params, &plan, &bind.options))?;
    let mut rows: Vec<Vec<Cell>> = results.iter().map(cells).collect();
    // Virtual tables: a row each, nothing written, the note says what to do.
    for (v, note) in skipped {
        rows.push(vec![
            Cell::Text(v.name.clone()),
            Cell::Null,
            Cell::Int(0),
            Cell::Null,
            Cell::Null,
            Cell::Float(0.0),
            Cell::Bool(false),
            Cell::Text(note),
        ]);
    }
    Ok(rows)
}

/// One result row, in [`COLUMNS`] order.
pub fn cells(r: &TableResult) -> Vec<Cell> {
    vec![
        Cell::Text(r.table.clone()),
        Cell::Text(r.target.clone()),
        Cell::Int(r.rows as i64),
        r.verified.map_or(Cell::Null, Cell::Bool),
        r.checksum.clone().map_or(Cell::Null, Cell::Text),
        Cell::Float(r.seconds),
        Cell::Bool(r.committed),
        if r.notes.is_empty() {
            Cell::Null
        } else {
            Cell::Text(r.notes.clone())
        },
    ]
}

impl VTab for SqliteMigrate {
    type InitData = Pager;
    type BindData = Bind;

    fn bind(bind: &BindInfo) -> Result<Bind, Box<dyn std::error::Error>> {
        let data = parse(bind).map_err(fail(NAME))?;
        declare(bind, &COLUMNS);
        Ok(data)
    }

    /// The migration runs here rather than in `func` (see [`Pager`]).
    fn init(init: &InitInfo) -> Result<Pager, Box<dyn std::error::Error>> {
        Pager::compute(init, &COLUMNS, |bind: &Bind| {
            compute(bind).map_err(fail(NAME))
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
        let mut p = plan_named_parameters();
        for (name, id) in [
            ("schema", LogicalTypeId::Varchar),
            ("if_exists", LogicalTypeId::Varchar),
            ("dry_run", LogicalTypeId::Boolean),
            ("verify", LogicalTypeId::Boolean),
        ] {
            p.push((name.to_string(), LogicalTypeHandle::from(id)));
        }
        Some(p)
    }
}
