//! `pg_incremental_scan(dsn, table, cursor, since, until, columns, batch_size, max_connections)`:
//! stream a PostgreSQL table's rows (all of them, or those changed since a watermark) into DuckDB,
//! typed exactly, over binary COPY, with projection pushdown.

use std::sync::Mutex;

use crate::postgres::connect::Conn;
use duckdb::core::{DataChunkHandle, LogicalTypeHandle, LogicalTypeId};
use duckdb::vtab::{BindInfo, InitInfo, TableFunctionInfo, VTab, Value};

use super::chunk;
use super::{args, fail, runtime, types};
use crate::error::{Error, Result};
use crate::postgres::catalog::parse_qualified_name;
use crate::postgres::connect;
use crate::postgres::scan::{self, Bound, BoundKind, Scan, ScanPlan, ScanRequest};
use crate::types::batch::Batch;
use crate::types::DuckType;

pub const NAME: &str = "pg_incremental_scan";
const DEFAULT_BATCH_SIZE: i64 = 10_000;

pub struct PgIncrementalScan;

pub struct Init {
    scan: Mutex<Scan<Batch>>,
    /// For each decoded column: its position in the output chunk.
    targets: Vec<usize>,
    /// For each decoded column: its DuckDB type.
    types: Vec<DuckType>,
}

/// A `since`/`until` argument: its text and kind, from its DuckDB type.
fn bound_from_value(v: &Value) -> Option<Bound> {
    if v.is_null() {
        return None;
    }
    let id = v.logical_type_id();
    let kind = match id {
        LogicalTypeId::Timestamp
        | LogicalTypeId::TimestampS
        | LogicalTypeId::TimestampMs
        | LogicalTypeId::TimestampNs => BoundKind::Timestamp,
        LogicalTypeId::TimestampTZ => BoundKind::TimestampTz,
        LogicalTypeId::Date => BoundKind::Date,
        LogicalTypeId::Tinyint
        | LogicalTypeId::Smallint
        | LogicalTypeId::Integer
        | LogicalTypeId::Bigint
        | LogicalTypeId::Hugeint
        | LogicalTypeId::UTinyint
        | LogicalTypeId::USmallint
        | LogicalTypeId::UInteger
        | LogicalTypeId::UBigint
        | LogicalTypeId::IntegerLiteral => BoundKind::Integer,
        LogicalTypeId::Varchar | LogicalTypeId::StringLiteral => BoundKind::Text,
        _ => BoundKind::Other,
    };
    Some(Bound {
        text: v.to_string(),
        kind,
        type_name: format!("{id:?}").to_uppercase(),
    })
}

/// Parse the arguments into a request (no I/O).
pub fn request_from_bind(bind: &BindInfo) -> Result<(connect::ConnParams, ScanRequest)> {
    let dsn = args::required_string(bind, 0, "dsn")?;
    let table = args::required_string(bind, 1, "table")?;
    let params = connect::resolve(&dsn, &connect::ProcessEnv)?;
    let table = parse_qualified_name(&table)?;
    let cursor = args::named_string(bind, "cursor").unwrap_or_else(|| "updated_at".to_string());
    let since = bind
        .get_named_parameter("since")
        .and_then(|v| bound_from_value(&v));
    let until = bind
        .get_named_parameter("until")
        .and_then(|v| bound_from_value(&v));
    let columns = match bind.get_named_parameter("columns") {
        Some(v) if !v.is_null() => Some(
            v.to_list()
                .ok_or_else(|| Error::argument("columns must be a list of column names"))?
                .iter()
                .map(|c| c.to_string())
                .collect(),
        ),
        _ => None,
    };
    let batch_size = args::named_int(bind, "batch_size", DEFAULT_BATCH_SIZE, 1)? as usize;
    let max_connections = args::named_int(
        bind,
        "max_connections",
        scan::DEFAULT_MAX_CONNECTIONS as i64,
        1,
    )?
    .min(16) as usize;
    Ok((
        params,
        ScanRequest {
            table,
            cursor,
            since,
            until,
            columns,
            batch_size,
            max_connections,
            snapshot: args::named_string(bind, "snapshot"),
        },
    ))
}

/// The named parameters shared by every function that reads a PostgreSQL table.
pub fn scan_named_parameters() -> Vec<(String, LogicalTypeHandle)> {
    vec![
        (
            "cursor".into(),
            LogicalTypeHandle::from(LogicalTypeId::Varchar),
        ),
        ("since".into(), LogicalTypeHandle::from(LogicalTypeId::Any)),
        ("until".into(), LogicalTypeHandle::from(LogicalTypeId::Any)),
        (
            "columns".into(),
            LogicalTypeHandle::list(&LogicalTypeHandle::from(LogicalTypeId::Varchar)),
        ),
        (
            "batch_size".into(),
            LogicalTypeHandle::from(LogicalTypeId::Bigint),
        ),
        (
            "max_connections".into(),
            LogicalTypeHandle::from(LogicalTypeId::Bigint),
        ),
        (
            "snapshot".into(),
            LogicalTypeHandle::from(LogicalTypeId::Varchar),
        ),
    ]
}

/// The plan, and the connection that made it (taken by init, so a read connects only once).
pub struct Bind {
    plan: ScanPlan,
    client: Mutex<Option<Conn>>,
}

fn bind_plan(bind: &BindInfo) -> Result<Bind> {
    let (params, req) = request_from_bind(bind)?;
    let (plan, client) = runtime::block_on(scan::plan_scan(&params, &req))?;
    Ok(Bind {
        plan,
        client: Mutex::new(Some(client)),
    })
}

impl VTab for PgIncrementalScan {
    type InitData = Init;
    type BindData = Bind;

    fn bind(bind: &BindInfo) -> Result<Bind, Box<dyn std::error::Error>> {
        let data = bind_plan(bind).map_err(fail(NAME))?;
        let plan = &data.plan;
        for c in &plan.columns {
            bind.add_result_column(&c.name, types::logical_type(&c.duck_type));
        }
        if plan.table.estimated_rows >= 0 && !plan.is_incremental() {
            bind.set_cardinality(plan.table.estimated_rows as u64, false);
        }
        Ok(data)
    }

    fn init(init: &InitInfo) -> Result<Init, Box<dyn std::error::Error>> {
        // SAFETY: DuckDB hands back the bind data this function's bind returned.
        let bind = unsafe { &*init.get_bind_data::<Bind>() };
        let plan = &bind.plan;
        let lead = bind
            .client
            .lock()
            .ok()
            .and_then(|mut c| c.take())
            .map(std::sync::Arc::new);
        let ncols = plan.columns.len();
        let mut projection = Vec::new();
        let mut targets = Vec::new();
        for (pos, idx) in init.get_column_indices().into_iter().enumerate() {
            let idx = idx as usize;
            if idx < ncols {
                projection.push(idx);
                targets.push(pos);
            }
        }
        let types: Vec<DuckType> = projection
            .iter()
            .map(|&i| plan.columns[i].duck_type.clone())
            .collect();
        // The readers decode on their own threads into batches laid out as DuckDB's vectors are;
        // `func`, on DuckDB's threads, copies each into its output chunk (the stable C API has no
        // way to hand DuckDB a vector built elsewhere by reference).
        let scan =
            runtime::block_on(scan::start_scan(plan, &projection, lead, Ok)).map_err(fail(NAME))?;
        // A full read is unordered: let several DuckDB threads take batches, so DuckDB's own work
        // (inserting, compressing) runs in parallel too. An incremental read keeps cursor order.
        if !plan.is_incremental() {
            let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
            init.set_max_threads(threads as u64);
        }
        Ok(Init {
            scan: Mutex::new(scan),
            targets,
            types,
        })
    }

    fn func(
        func: &TableFunctionInfo<Self>,
        output: &mut DataChunkHandle,
    ) -> Result<(), Box<dyn std::error::Error>> {
        let init = func.get_init_data();
        chunk::fill_next(
            output,
            // Hold the lock only to take the next batch, so several DuckDB threads (a parallel
            // sink) each copy their own.
            || {
                let next = init
                    .scan
                    .lock()
                    .map_err(|_| {
                        fail(NAME)(Error::internal("scan state poisoned by an earlier failure"))
                    })?
                    .rx
                    .blocking_recv();
                next.transpose().map_err(fail(NAME))
            },
            |output, b| {
                chunk::write_batch(output, b, &init.targets, &init.types).map_err(fail(NAME))
            },
        )
    }

    fn supports_pushdown() -> bool {
        true
    }

    fn parameters() -> Option<Vec<LogicalTypeHandle>> {
        Some(vec![
            LogicalTypeHandle::from(LogicalTypeId::Varchar),
            LogicalTypeHandle::from(LogicalTypeId::Varchar),
        ])
    }

    fn named_parameters() -> Option<Vec<(String, LogicalTypeHandle)>> {
        Some(scan_named_parameters())
    }
}
