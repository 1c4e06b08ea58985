//! `pg_sync(dsn, table, target, primary_key, cursor, hard_deletes, parquet_dir, batch_size)` and
//! `pg_sync_state()`: keep a DuckDB or DuckLake table in step with a PostgreSQL table.
//!
//! A sync runs on the connection lakemig keeps for its database (cloned at `LOAD`), in ONE DuckDB
//! transaction that also writes the checkpoint row, so a crash leaves target and checkpoint
//! consistent. Rows arrive through `pg_incremental_scan` (parallel binary COPY), all reads sharing one
//! PostgreSQL snapshot exported by the sync.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use duckdb::core::{DataChunkHandle, LogicalTypeHandle, LogicalTypeId};
use duckdb::vtab::{BindInfo, InitInfo, TableFunctionInfo, VTab};
use duckdb::{params, Connection, OptionalExt};

use super::report::Pager;
use super::rows::Out;
use super::{args, fail, runtime};
use crate::error::{Error, Result};
use crate::postgres::catalog::{parse_qualified_name, QualifiedName};
use crate::postgres::connect::{self, ConnParams};
use crate::postgres::sync::{take_snapshot, SyncSnapshot};
use crate::sql::{quote_ident, quote_literal};
use crate::sync::{self as plan, Target, KEYS_TABLE, STAGE_TABLE};
use crate::trace::trace;

pub const NAME: &str = "pg_sync";
pub const STATE_NAME: &str = "pg_sync_state";
const BACKFILL_TABLE: &str = "__lakemig_sync_backfill";

/// The connection lakemig keeps for the database it was loaded into.
pub type Side = Arc<Mutex<Connection>>;

pub struct PgSync;

pub struct Args {
    dsn: String,
    params: ConnParams,
    source: QualifiedName,
    target: Option<String>,
    primary_key: Option<Vec<String>>,
    cursor: String,
    hard_deletes: bool,
    enforce_key: bool,
    parquet_dir: Option<String>,
    batch_size: i64,
    blind_window: Duration,
}

/// What a sync did: the one result row.
struct Outcome {
    source: String,
    target: String,
    mode: &'static str,
    rows_upserted: i64,
    rows_deleted: i64,
    columns_added: Vec<String>,
    watermark_before: Option<String>,
    watermark_after: Option<String>,
    watermark_bound: String,
    duration: Duration,
}

fn parse_args(bind: &BindInfo) -> Result<Args> {
    let dsn = args::required_string(bind, 0, "dsn")?;
    let table = args::required_string(bind, 1, "table")?;
    let params = connect::resolve(&dsn, &connect::ProcessEnv)?;
    let primary_key = match bind.get_named_parameter("primary_key") {
        Some(v) if !v.is_null() => {
            let cols: Vec<String> = match v.to_list() {
                Some(list) => list.iter().map(|c| c.to_string()).collect(),
                None => v
                    .to_string()
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .collect(),
            };
            if cols.is_empty() || cols.iter().any(|c| c.is_empty()) {
                return Err(Error::argument(
                    "primary_key must name at least one column, e.g. primary_key := ['id']",
                ));
            }
            Some(cols)
        }
        _ => None,
    };
    let window = args::named_int(bind, "blind_window_seconds", 900, 0)?;
    Ok(Args {
        dsn,
        params,
        source: parse_qualified_name(&table)?,
        target: args::named_string(bind, "target"),
        primary_key,
        cursor: args::named_string(bind, "cursor").unwrap_or_else(|| "updated_at".into()),
        hard_deletes: args::named_bool(bind, "hard_deletes", false),
        enforce_key: args::named_bool(bind, "enforce_key", false),
        parquet_dir: args::named_string(bind, "parquet_dir"),
        batch_size: args::named_int(bind, "batch_size", 10_000, 1)?,
        blind_window: Duration::from_secs(window as u64),
    })
}

/// A DuckDB error, with what we were doing.
fn duck(context: &str) -> impl Fn(duckdb::Error) -> Error + '_ {
    move |e| Error::Server {
        context: context.to_string(),
        message: e.to_string(),
    }
}

fn exec(con: &Connection, context: &str, sql: &str) -> Result<usize> {
    con.execute(sql, []).map_err(duck(context))
}

/// `(name, type)` of a table's columns, in order, as DuckDB spells the types.
fn table_columns(
    con: &Connection,
    catalog: &str,
    schema: &str,
    name: &str,
) -> Result<Vec<(String, String)>> {
    let mut stmt = con
        .prepare(
            "SELECT column_name, data_type FROM duckdb_columns() \
             WHERE database_name = ? AND schema_name = ? AND table_name = ? ORDER BY column_index",
        )
        .map_err(duck("reading the target's columns"))?;
    let rows = stmt
        .query_map(params![catalog, schema, name], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .map_err(duck("reading the target's columns"))?;
    rows.collect::<std::result::Result<Vec<_>, _>>()
        .map_err(duck("reading the target's columns"))
}

fn resolve_target(con: &Connection, args: &Args) -> Result<Target> {
    let text = args
        .target
        .clone()
        .unwrap_or_else(|| args.source.name.clone());
    let name = plan::parse_target(&text)?;
    let (cur_cat, cur_schema): (String, String) = con
        .query_row("SELECT current_database(), current_schema()", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .map_err(duck("resolving the target"))?;
    let schema_exists = |s: &str| {
        con.query_row(
            "SELECT count(*) FROM duckdb_schemas() WHERE database_name = ? AND schema_name = ?",
            params![cur_cat, s],
            |r| r.get::<_, i64>(0),
        )
        .map(|n| n > 0)
        .unwrap_or(false)
    };
    let catalog_type = |c: &str| -> Option<String> {
        con.query_row(
            "SELECT type FROM duckdb_databases() WHERE database_name = ?",
            params![c],
            |r| r.get::<_, String>(0),
        )
        .optional()
        .ok()
        .flatten()
    };
    let (catalog, schema, table) =
        plan::resolve_target(&name, &cur_cat, &cur_schema, schema_exists, |c| {
            catalog_type(c).is_some()
        });
    let kind = catalog_type(&catalog).ok_or_else(|| {
        Error::argument(format!(
            "target {text:?}: no attached database named {}; ATTACH it first or name a table of the current database",
            quote_ident(&catalog)
        ))
    })?;
    let ducklake = match kind.as_str() {
        "duckdb" => false,
        "ducklake" => true,
        other => {
            return Err(Error::argument(format!(
                "target {text:?} is in a {other} database; pg_sync writes to DuckDB and DuckLake databases"
            )))
        }
    };
    Ok(Target {
        catalog,
        schema,
        name: table,
        ducklake,
    })
}

/// The checkpoint of a target, if any.
struct State {
    source: String,
    cursor: String,
    watermark: Option<String>,
    rows_total: i64,
    runs: i64,
}

fn read_state(con: &Connection, target: &Target) -> Result<Option<State>> {
    con.query_row(
        &format!(
            "SELECT source, cursor_column, watermark, rows_total, runs FROM {} WHERE target = ?",
            target.state_table()
        ),
        params![target.state_key()],
        |r| {
            Ok(State {
                source: r.get(0)?,
                cursor: r.get(1)?,
                watermark: r.get(2)?,
                rows_total: r.get(3)?,
                runs: r.get(4)?,
            })
        },
    )
    .optional()
    .map_err(duck("reading the checkpoint"))
}

/// Run `{statement} SELECT * FROM pg_incremental_scan(...)`: a nested read of the source in the
/// sync's snapshot. `since` is `(DuckDB type of the cursor, watermark text)`; `columns` projects.
/// The DSN goes in as a parameter, so it never appears in DuckDB's error text.
fn nested_read(
    con: &Connection,
    args: &Args,
    snap: &SyncSnapshot,
    statement: &str,
    since: Option<(&str, &String)>,
    columns: Option<&[String]>,
    context: &str,
) -> Result<()> {
    let since_sql = match since {
        Some((ty, _)) => format!("CAST(?4 AS {ty})"),
        None => "CAST(?4 AS VARCHAR)".to_string(),
    };
    let cols = match columns {
        Some(c) => format!(", columns := {}", plan::list_literal(c)),
        None => String::new(),
    };
    con.execute(
        &format!(
            "{statement} SELECT * FROM pg_incremental_scan(?1, ?2, cursor := ?3, since := {since_sql}, \
             snapshot := ?5, batch_size := ?6{cols})"
        ),
        params![
            args.dsn,
            snap.table.quoted(),
            args.cursor,
            since.map(|(_, w)| w),
            snap.snapshot,
            args.batch_size
        ],
    )
    .map_err(duck(context))?;
    Ok(())
}

/// The DuckDB type of a table's cursor column.
fn cursor_type_of(columns: &[(String, String)], cursor: &str) -> Option<String> {
    columns
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(cursor))
        .map(|(_, t)| t.clone())
}

fn run_sync(con: &Connection, args: &Args) -> Result<Outcome> {
    let started = Instant::now();
    let run_micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64);
    let target = resolve_target(con, args)?;
    trace(started, "target resolved");
    let snap = runtime::block_on(take_snapshot(
        &args.params,
        &args.source,
        &args.cursor,
        args.blind_window,
    ))?;
    trace(started, "snapshot taken");
    let result = (|| {
        exec(con, "starting the DuckDB transaction", "BEGIN TRANSACTION")?;
        match apply(con, args, &target, &snap, started, run_micros) {
            Ok(mut out) => {
                trace(started, "applied");
                exec(con, "committing", "COMMIT")?;
                trace(started, "committed");
                out.duration = started.elapsed();
                Ok(out)
            }
            Err(e) => {
                let _ = con.execute("ROLLBACK", []);
                Err(e)
            }
        }
    })();
    for t in [STAGE_TABLE, KEYS_TABLE, BACKFILL_TABLE] {
        let _ = con.execute(
            &format!("DROP TABLE IF EXISTS temp.main.{}", quote_ident(t)),
            [],
        );
    }
    let _ = runtime::block_on(snap.finish(&args.params));
    result
}

fn apply(
    con: &Connection,
    args: &Args,
    target: &Target,
    snap: &SyncSnapshot,
    started: Instant,
    run_micros: i64,
) -> Result<Outcome> {
    let source = format!("{}.{}", snap.table.schema, snap.table.name);
    let tq = target.quoted();
    let key: Vec<String> = match &args.primary_key {
        Some(k) => k.clone(),
        None if !snap.primary_key.is_empty() => snap.primary_key.clone(),
        None => {
            return Err(Error::argument(format!(
                "table {} has no primary key; name the columns that identify a row with primary_key := ['id']",
                snap.table.quoted()
            )))
        }
    };
    let source_names: Vec<&str> = snap.columns.iter().map(|c| c.name.as_str()).collect();
    for k in &key {
        if !source_names.contains(&k.as_str()) {
            return Err(Error::UnknownColumn {
                table: snap.table.quoted(),
                column: quote_ident(k),
                columns: source_names.join(", "),
            });
        }
    }

    exec(
        con,
        "creating the target schema",
        &format!(
            "CREATE SCHEMA IF NOT EXISTS {}.{}",
            quote_ident(&target.catalog),
            quote_ident(&target.schema)
        ),
    )?;
    exec(
        con,
        "creating the checkpoint table",
        &plan::state_table_ddl(target),
    )?;
    let state = read_state(con, target)?;
    if let Some(s) = &state {
        if s.source != source {
            return Err(Error::argument(format!(
                "target {tq} is kept in step with {} (its checkpoint says so), not {source}; choose another target",
                s.source
            )));
        }
        if s.cursor != args.cursor {
            return Err(Error::argument(format!(
                "target {tq} was synced with cursor {}, not {}; pass cursor := '{}' (or drop the target and its checkpoint to start over)",
                quote_ident(&s.cursor),
                quote_ident(&args.cursor),
                s.cursor
            )));
        }
    }
    trace(started, "checkpoint read");
    let existing = table_columns(con, &target.catalog, &target.schema, &target.name)?;
    let incremental = state.is_some() && !existing.is_empty();
    if !incremental && !existing.is_empty() {
        let n: i64 = con
            .query_row(&format!("SELECT count(*) FROM {tq}"), [], |r| r.get(0))
            .map_err(duck("counting the target's rows"))?;
        if n > 0 {
            return Err(Error::argument(format!(
                "target {tq} already exists and holds {n} rows, but has no pg_sync checkpoint; nothing was changed. \
                 Drop it, or choose another target := '...'"
            )));
        }
    }
    let watermark_before = if incremental {
        state.as_ref().and_then(|s| s.watermark.clone())
    } else {
        None
    };
    let mut columns_added = Vec::new();
    let rows_upserted: i64;
    let mut rows_deleted = 0i64;
    let cursor_type: String;
    if !incremental {
        // Bootstrap: the whole table, read in parallel, straight into the target.
        let statement = if existing.is_empty() {
            format!("CREATE TABLE {tq} AS")
        } else {
            format!("INSERT INTO {tq} BY NAME")
        };
        // A sync target has no row order to keep: without insertion order DuckDB inserts on every
        // thread (each compressing its own row groups) instead of funnelling rows through one.
        // Session-scoped, on lakemig's own connection, and reset whatever happens.
        con.execute_batch("SET SESSION preserve_insertion_order = false")
            .map_err(duck("setting up the bootstrap"))?;
        let read = nested_read(
            con,
            args,
            snap,
            &statement,
            None,
            None,
            "copying the source table",
        );
        let reset = con
            .execute_batch("RESET SESSION preserve_insertion_order")
            .map_err(duck("setting up the bootstrap"));
        read.and(reset)?;
        cursor_type = cursor_type_of(
            &table_columns(con, &target.catalog, &target.schema, &target.name)?,
            &args.cursor,
        )
        .unwrap_or_else(|| "VARCHAR".into());
        rows_upserted = con
            .query_row(&format!("SELECT count(*) FROM {tq}"), [], |r| r.get(0))
            .map_err(duck("counting the copied rows"))?;
        if args.enforce_key && !target.ducklake && !has_primary_key(con, target)? {
            let cols = key
                .iter()
                .map(|k| quote_ident(k))
                .collect::<Vec<_>>()
                .join(", ");
            exec(
                con,
                "adding the primary key to the target",
                &format!("ALTER TABLE {tq} ADD PRIMARY KEY ({cols})"),
            )?;
        }
        if let Some(dir) = &args.parquet_dir {
            write_parquet(con, dir, target, run_micros, "bootstrap", &tq)?;
        }
    } else {
        // Incremental: stage what changed since the watermark, add new columns, upsert.
        cursor_type = cursor_type_of(&existing, &args.cursor).ok_or_else(|| {
                Error::argument(format!(
                    "the target {tq} has no cursor column {}; it cannot be synced incrementally (drop it to bootstrap again)",
                    quote_ident(&args.cursor)
                ))
            })?;
        let stage = quote_ident(STAGE_TABLE);
        nested_read(
            con,
            args,
            snap,
            &format!("CREATE OR REPLACE TEMP TABLE {stage} AS"),
            watermark_before.as_ref().map(|w| (cursor_type.as_str(), w)),
            None,
            "reading the changed rows",
        )?;
        trace(started, "changed rows staged");
        let staged = table_columns(con, "temp", "main", STAGE_TABLE)?;
        let added = plan::diff_columns(&tq, &staged, &existing)?;
        for (name, ty) in &added {
            exec(
                con,
                "adding a column to the target",
                &format!("ALTER TABLE {tq} ADD COLUMN {} {ty}", quote_ident(name)),
            )?;
            columns_added.push(name.clone());
        }
        if !added.is_empty() {
            backfill(con, args, target, snap, &key, &added)?;
        }
        let with_pk = !target.ducklake && has_primary_key(con, target)?;
        rows_upserted = con
            .query_row(
                &format!("SELECT count(*) FROM temp.main.{stage}"),
                [],
                |r| r.get(0),
            )
            .map_err(duck("counting the changed rows"))?;
        if rows_upserted > 0 {
            let names =
                |cols: &[(String, String)]| cols.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
            // The target's columns now: what it had, then what was just added.
            let target_cols = [names(&existing), names(&added)].concat();
            for sql in plan::upsert_sql(target, with_pk, &key, &target_cols, &names(&staged)) {
                exec(con, "upserting the changed rows", &sql)?;
            }
            if let Some(dir) = &args.parquet_dir {
                write_parquet(
                    con,
                    dir,
                    target,
                    run_micros,
                    "incremental",
                    &format!("temp.main.{stage}"),
                )?;
            }
        }
        trace(started, "upserted");
        if args.hard_deletes {
            nested_read(
                con,
                args,
                snap,
                &format!(
                    "CREATE OR REPLACE TEMP TABLE {} AS",
                    quote_ident(KEYS_TABLE)
                ),
                None,
                Some(&key),
                "reading the source's keys",
            )?;
            rows_deleted = exec(
                con,
                "deleting rows gone from the source",
                &plan::hard_delete_sql(target, &key),
            )? as i64;
        }
    }

    // The new watermark: never backwards, never past the safe bound (see crate::sync).
    let max_from = if incremental {
        format!("temp.main.{}", quote_ident(STAGE_TABLE))
    } else {
        tq.clone()
    };
    let c = quote_ident(&args.cursor);
    let watermark_after: Option<String> = con
        .query_row(
            &format!(
                "SELECT CAST(CASE WHEN m IS NULL THEN CAST(?1 AS {cursor_type}) \
                 ELSE greatest(CAST(?1 AS {cursor_type}), least(m, CAST(?2 AS {cursor_type}))) END AS VARCHAR) \
                 FROM (SELECT max({c}) AS m FROM {max_from})"
            ),
            params![watermark_before, snap.bound],
            |r| r.get(0),
        )
        .map_err(duck("computing the new watermark"))?;

    trace(started, "watermark computed");
    let mode = if incremental {
        "incremental"
    } else {
        "bootstrap"
    };
    let duration = started.elapsed();
    let (rows_total, runs) = match (&state, incremental) {
        (Some(s), true) => (s.rows_total + rows_upserted, s.runs + 1),
        (Some(s), false) => (rows_upserted, s.runs + 1),
        (None, _) => (rows_upserted, 1),
    };
    exec_params(
        con,
        "writing the checkpoint",
        &format!("DELETE FROM {} WHERE target = ?", target.state_table()),
        params![target.state_key()],
    )?;
    exec_params(
        con,
        "writing the checkpoint",
        &format!(
            "INSERT INTO {} VALUES (?1, ?2, ?3, ?4, ?5, ?6, {}, ?7, ?8, ?9, ?10, ?11, now(), to_microseconds(?12))",
            target.state_table(),
            plan::list_literal(&key)
        ),
        params![
            target.state_key(),
            source,
            args.params.target(),
            args.cursor,
            watermark_after,
            cursor_type,
            rows_total,
            runs,
            mode,
            rows_upserted,
            rows_deleted,
            duration.as_micros() as i64
        ],
    )?;
    Ok(Outcome {
        source,
        target: format!("{}.{}.{}", target.catalog, target.schema, target.name),
        mode,
        rows_upserted,
        rows_deleted,
        columns_added,
        watermark_before,
        watermark_after,
        watermark_bound: snap.bound_reason.clone(),
        duration: started.elapsed(),
    })
}

fn exec_params(
    con: &Connection,
    context: &str,
    sql: &str,
    p: impl duckdb::Params,
) -> Result<usize> {
    con.execute(sql, p).map_err(duck(context))
}

fn has_primary_key(con: &Connection, target: &Target) -> Result<bool> {
    con.query_row(
        "SELECT count(*) FROM duckdb_constraints() WHERE database_name = ? AND schema_name = ? \
         AND table_name = ? AND constraint_type = 'PRIMARY KEY'",
        params![target.catalog, target.schema, target.name],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
    .map_err(duck("reading the target's constraints"))
}

/// Columns added in PostgreSQL: existing rows get their values too (an added column with a default
/// does not touch `updated_at`), read by key in the same snapshot.
fn backfill(
    con: &Connection,
    args: &Args,
    target: &Target,
    snap: &SyncSnapshot,
    key: &[String],
    added: &[(String, String)],
) -> Result<()> {
    let mut cols: Vec<String> = key.to_vec();
    cols.extend(added.iter().map(|(n, _)| n.clone()));
    let b = quote_ident(BACKFILL_TABLE);
    nested_read(
        con,
        args,
        snap,
        &format!("CREATE OR REPLACE TEMP TABLE {b} AS"),
        None,
        Some(&cols),
        "reading the added columns",
    )?;
    let sets = added
        .iter()
        .map(|(n, _)| {
            let q = quote_ident(n);
            format!("{q} = __b.{q}")
        })
        .collect::<Vec<_>>()
        .join(", ");
    exec(
        con,
        "filling the added columns",
        &format!(
            "UPDATE {} AS __t SET {sets} FROM temp.main.{b} AS __b WHERE {}",
            target.quoted(),
            plan::key_join("__t", "__b", key)
        ),
    )?;
    Ok(())
}

fn write_parquet(
    con: &Connection,
    dir: &str,
    target: &Target,
    run_micros: i64,
    mode: &str,
    from: &str,
) -> Result<()> {
    let path = plan::parquet_path(dir, target, run_micros, mode);
    if let Some(parent) = std::path::Path::new(&path).parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::Io {
            path: parent.display().to_string(),
            reason: format!("cannot create the parquet_dir folder: {e}"),
        })?;
    }
    exec(
        con,
        "writing the Parquet copy",
        &format!(
            "COPY (SELECT * FROM {from}) TO {} (FORMAT parquet)",
            quote_literal(&path)
        ),
    )?;
    Ok(())
}

/// Lock lakemig's own connection to the database the function was registered on.
fn side_connection<'a>(
    init: &'a InitInfo,
    name: &'static str,
) -> Result<MutexGuard<'a, Connection>, Box<dyn std::error::Error>> {
    // SAFETY: the extra info was registered as a `Side` in `register` and lives as long as the
    // function (DuckDB frees it when the catalog entry goes).
    let side = unsafe { init.get_extra_info::<Side>().as_ref() }
        .ok_or_else(|| fail(name)(Error::argument("internal error: no connection")))?;
    side.lock()
        .map_err(|_| fail(name)(Error::argument("an earlier sync panicked; reload lakemig")))
}

impl VTab for PgSync {
    type InitData = Pager;
    type BindData = Args;

    fn bind(bind: &BindInfo) -> Result<Args, Box<dyn std::error::Error>> {
        let args = parse_args(bind).map_err(fail(NAME))?;
        let cols = [
            ("source", LogicalTypeHandle::from(LogicalTypeId::Varchar)),
            ("target", LogicalTypeHandle::from(LogicalTypeId::Varchar)),
            ("mode", LogicalTypeHandle::from(LogicalTypeId::Varchar)),
            (
                "rows_upserted",
                LogicalTypeHandle::from(LogicalTypeId::Bigint),
            ),
            (
                "rows_deleted",
                LogicalTypeHandle::from(LogicalTypeId::Bigint),
            ),
            (
                "columns_added",
                LogicalTypeHandle::list(&LogicalTypeHandle::from(LogicalTypeId::Varchar)),
            ),
            (
                "watermark_before",
                LogicalTypeHandle::from(LogicalTypeId::Varchar),
            ),
            (
                "watermark_after",
                LogicalTypeHandle::from(LogicalTypeId::Varchar),
            ),
            (
                "watermark_bound",
                LogicalTypeHandle::from(LogicalTypeId::Varchar),
            ),
            ("duration", LogicalTypeHandle::from(LogicalTypeId::Interval)),
        ];
        for (name, ty) in cols {
            bind.add_result_column(name, ty);
        }
        Ok(args)
    }

    fn init(init: &InitInfo) -> Result<Pager, Box<dyn std::error::Error>> {
        let con = side_connection(init, NAME)?;
        // SAFETY: DuckDB hands back the bind data this function's bind returned.
        let args = unsafe { &*init.get_bind_data::<Args>() };
        let o = run_sync(&con, args).map_err(fail(NAME))?;
        // The work runs in init, not func (see `Pager`).
        Ok(Pager::columns(vec![
            Out::Text(vec![Some(o.source)]),
            Out::Text(vec![Some(o.target)]),
            Out::Text(vec![Some(o.mode.to_string())]),
            Out::BigInt(vec![Some(o.rows_upserted)]),
            Out::BigInt(vec![Some(o.rows_deleted)]),
            Out::TextList(vec![Some(o.columns_added)]),
            Out::Text(vec![o.watermark_before]),
            Out::Text(vec![o.watermark_after]),
            Out::Text(vec![Some(o.watermark_bound)]),
            Out::Micros(vec![Some(o.duration.as_micros() as i64)]),
        ]))
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
        let v = |id| LogicalTypeHandle::from(id);
        Some(vec![
            ("target".into(), v(LogicalTypeId::Varchar)),
            ("primary_key".into(), v(LogicalTypeId::Any)),
            ("cursor".into(), v(LogicalTypeId::Varchar)),
            ("hard_deletes".into(), v(LogicalTypeId::Boolean)),
            ("enforce_key".into(), v(LogicalTypeId::Boolean)),
            ("parquet_dir".into(), v(LogicalTypeId::Varchar)),
            ("batch_size".into(), v(LogicalTypeId::Bigint)),
            ("blind_window_seconds".into(), v(LogicalTypeId::Bigint)),
        ])
    }
}

/// `pg_sync_state()`: every checkpoint in every attached database.
pub struct PgSyncState;

const STATE_COLUMNS: [(&str, LogicalTypeId); 14] = [
    ("catalog", LogicalTypeId::Varchar),
    ("target", LogicalTypeId::Varchar),
    ("source", LogicalTypeId::Varchar),
    ("server", LogicalTypeId::Varchar),
    ("cursor", LogicalTypeId::Varchar),
    ("watermark", LogicalTypeId::Varchar),
    ("watermark_type", LogicalTypeId::Varchar),
    ("rows_total", LogicalTypeId::Bigint),
    ("runs", LogicalTypeId::Bigint),
    ("last_mode", LogicalTypeId::Varchar),
    ("last_rows_upserted", LogicalTypeId::Bigint),
    ("last_rows_deleted", LogicalTypeId::Bigint),
    ("last_run", LogicalTypeId::TimestampTZ),
    ("last_duration", LogicalTypeId::Interval),
];

fn read_all_states(con: &Connection) -> Result<Vec<Out>> {
    let ctx = "reading the checkpoints";
    let mut stmt = con
        .prepare(
            "SELECT DISTINCT database_name FROM duckdb_tables() \
             WHERE schema_name = 'main' AND table_name = 'lakemig_sync_state' ORDER BY 1",
        )
        .map_err(duck(ctx))?;
    let catalogs: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .map_err(duck(ctx))?
        .collect::<std::result::Result<_, _>>()
        .map_err(duck(ctx))?;
    // Columns in STATE_COLUMNS order: text columns, then counts, then time.
    let mut text: Vec<Vec<Option<String>>> = vec![Vec::new(); 7];
    let mut counts: Vec<Vec<Option<i64>>> = vec![Vec::new(); 2];
    let mut mode: Vec<Option<String>> = Vec::new();
    let mut last: Vec<Vec<Option<i64>>> = vec![Vec::new(); 4];
    for cat in catalogs {
        let sql = format!(
            "SELECT ?, target, source, server, cursor_column, watermark, watermark_type, \
             rows_total, runs, last_mode, last_rows_upserted, last_rows_deleted, epoch_us(last_run), \
             CAST(epoch(last_duration) * 1000000 AS BIGINT) \
             FROM {}.main.lakemig_sync_state ORDER BY target",
            quote_ident(&cat)
        );
        let mut stmt = con.prepare(&sql).map_err(duck(ctx))?;
        let mut rows = stmt.query(params![cat]).map_err(duck(ctx))?;
        while let Some(r) = rows.next().map_err(duck(ctx))? {
            for (i, col) in text.iter_mut().enumerate() {
                col.push(r.get(i).map_err(duck(ctx))?);
            }
            for (i, col) in counts.iter_mut().enumerate() {
                col.push(r.get(7 + i).map_err(duck(ctx))?);
            }
            mode.push(r.get(9).map_err(duck(ctx))?);
            for (i, col) in last.iter_mut().enumerate() {
                col.push(r.get(10 + i).map_err(duck(ctx))?);
            }
        }
    }
    let mut cols: Vec<Out> = text.into_iter().map(Out::Text).collect();
    cols.extend(counts.into_iter().map(Out::BigInt));
    cols.push(Out::Text(mode));
    let mut last = last.into_iter();
    let mut take = || last.next().unwrap_or_default();
    cols.push(Out::BigInt(take()));
    cols.push(Out::BigInt(take()));
    cols.push(Out::TimestampTz(take()));
    cols.push(Out::Micros(take()));
    Ok(cols)
}

impl VTab for PgSyncState {
    type InitData = Pager;
    type BindData = ();

    fn bind(bind: &BindInfo) -> Result<(), Box<dyn std::error::Error>> {
        for (name, id) in STATE_COLUMNS {
            bind.add_result_column(name, LogicalTypeHandle::from(id));
        }
        Ok(())
    }

    fn init(init: &InitInfo) -> Result<Pager, Box<dyn std::error::Error>> {
        let con = side_connection(init, STATE_NAME)?;
        Ok(Pager::columns(
            read_all_states(&con).map_err(fail(STATE_NAME))?,
        ))
    }

    fn func(
        func: &TableFunctionInfo<Self>,
        output: &mut DataChunkHandle,
    ) -> Result<(), Box<dyn std::error::Error>> {
        func.get_init_data().next(output)
    }
}
