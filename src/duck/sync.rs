//! `pg_sync(dsn, table, target, primary_key, cursor, hard_deletes, parquet_dir, batch_size, method,
//! publication)`: keep a
//! DuckDB or DuckLake table in step with a PostgreSQL table. This file parses the arguments, hands
//! the engine (`crate::sync`) lakemig's own connection to the database ([`SideConnection`]) and the
//! PostgreSQL snapshot driven on the runtime, and returns the result row. Every decision is the
//! engine's, and so is every read of the source.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use duckdb::core::{DataChunkHandle, LogicalTypeHandle, LogicalTypeId};
use duckdb::vtab::{BindInfo, InitInfo, TableFunctionInfo, VTab};

use super::feed::{self, Feeds};
use super::report::Pager;
use super::rows::Out;
use super::session::SideConnection;
use super::{args, fail, runtime};
use crate::error::{Error, Result};
use crate::postgres::catalog::{parse_qualified_name, QualifiedName};
use crate::postgres::connect::{self, Conn, ConnParams};
use crate::postgres::pgoutput::Lsn;
use crate::postgres::replication;
use crate::postgres::scan::BATCH_ROWS;
use crate::postgres::sync::{take_snapshot, SyncSnapshot};
use crate::sync::cdc::{self, CdcRequest, CdcSetup, CdcTable, CdcWanted, Change, ChangeSource};
use crate::sync::session::{Database, Held, SqlSession, Value};
use crate::sync::source::{Read, Rows, Source, SourceView};
use crate::sync::target::TableRef;
use crate::sync::{self as engine, Request};
use crate::types::batch::Batch;
use crate::types::DuckType;

pub const NAME: &str = "pg_sync";

/// lakemig's own connection to a database, and the reads waiting for an INSERT on it.
pub struct SyncConnection {
    pub con: SideConnection,
    pub feeds: Arc<Feeds>,
}

/// What `pg_sync` and `pg_sync_state` of one database share (their extra info).
pub type Side = Arc<Mutex<SyncConnection>>;

pub struct PgSync;

pub struct Args {
    params: ConnParams,
    batch_size: usize,
    request: Request,
    /// `method := 'cdc'`: sync through a logical replication slot (None: the watermark method).
    cdc: Option<CdcRequest>,
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
    let cdc = cdc_args(bind)?;
    Ok(Args {
        cdc,
        params,
        batch_size: args::named_int(bind, "batch_size", 10_000, 1)? as usize,
        request: Request {
            source: parse_qualified_name(&table)?,
            target: args::named_string(bind, "target"),
            primary_key,
            cursor: args::named_string(bind, "cursor").unwrap_or_else(|| "updated_at".into()),
            hard_deletes: args::named_bool(bind, "hard_deletes", false),
            enforce_key: args::named_bool(bind, "enforce_key", false),
            parquet_dir: args::named_string(bind, "parquet_dir"),
            blind_window: Duration::from_secs(window as u64),
        },
    })
}

/// The DuckDB database, as the engine's [`Database`]: a read's batches (decoded on the readers'
/// threads) go into an `INSERT ... SELECT` from [`feed`](super::feed), which DuckDB runs on every
/// thread, each copying its batches into its own output chunks.
impl Database for SyncConnection {
    type Chunk = Batch;

    fn to_chunk(batch: Batch, _types: &[DuckType]) -> Result<Batch> {
        Ok(batch)
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, String> {
        self.con.execute(sql, params)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, String> {
        self.con.query(sql, params)
    }

    fn insert(&mut self, table: &TableRef, rows: Rows<Batch>) -> Result<u64, String> {
        self.insert_from_feed(rows, |feed| {
            format!("INSERT INTO {} SELECT * FROM {feed}", table.quoted())
        })
    }

    fn insert_by_name(&mut self, table: &TableRef, rows: Rows<Batch>) -> Result<u64, String> {
        self.insert_from_feed(rows, |feed| {
            format!(
                "INSERT INTO {} BY NAME SELECT * FROM {feed}",
                table.quoted()
            )
        })
    }

    fn hold(&mut self, rows: Rows<Batch>) -> Result<Held, String> {
        let columns = rows.columns.clone();
        let batches = rows
            .collect::<crate::error::Result<Vec<Batch>>>()
            .map_err(|e| e.to_string())?;
        let id = self.feeds.hold(columns, batches);
        Ok(Held {
            relation: format!("{}({id})", feed::HELD),
            id,
        })
    }

    fn release(&mut self, held: &Held) {
        self.feeds.release(held.id);
    }
}

impl SyncConnection {
    /// Run the INSERT `sql` makes of the feed (`lakemig_feed(<id>)`) that serves `rows`.
    fn insert_from_feed(
        &mut self,
        rows: Rows<Batch>,
        sql: impl FnOnce(&str) -> String,
    ) -> Result<u64, String> {
        let id = self.feeds.put(rows);
        let inserted = self
            .con
            .execute(&sql(&format!("{}({id})", feed::NAME)), &[]);
        // Still here if the INSERT failed before its scan began: drop it (its readers stop).
        drop(self.feeds.take(id));
        inserted
    }
}

/// `method := 'watermark' | 'cdc'` and `publication := ...` (`pg_sync` and `pg_sync_tables`).
pub(super) fn cdc_args(bind: &BindInfo) -> Result<Option<CdcRequest>> {
    let publication = args::named_string(bind, "publication");
    match args::named_string(bind, "method").as_deref() {
        None | Some("watermark") => {
            if publication.is_some() {
                return Err(Error::argument(
                    "publication := is for method := 'cdc'; leave it out, or add method := 'cdc'",
                ));
            }
            Ok(None)
        }
        Some("cdc") => {
            if args::named_string(bind, "parquet_dir").is_some() {
                return Err(Error::argument(
                    "parquet_dir := is not supported with method := 'cdc' yet; leave it out",
                ));
            }
            Ok(Some(CdcRequest { publication }))
        }
        Some(other) => Err(Error::argument(format!(
            "method {other:?} is unknown; use method := 'watermark' (the default: a cursor column) or method := 'cdc' (logical replication)"
        ))),
    }
}

/// The PostgreSQL source, its async work run on the process's runtime.
struct PgSource<'a> {
    params: &'a ConnParams,
    batch_size: usize,
    cursor: String,
    snapshot: Option<SyncSnapshot>,
}

impl Source for PgSource<'_> {
    fn snapshot(
        &mut self,
        table: &QualifiedName,
        cursor: &str,
        blind_window: Duration,
    ) -> Result<SourceView> {
        let snap = runtime::block_on(take_snapshot(self.params, table, cursor, blind_window))?;
        let view = snap.view(self.params);
        self.cursor = cursor.to_string();
        self.snapshot = Some(snap);
        Ok(view)
    }

    fn read<T: Send + 'static>(
        &mut self,
        read: &Read,
        make: fn(Batch, &[DuckType]) -> Result<T>,
    ) -> Result<Rows<T>> {
        let snap = self
            .snapshot
            .as_ref()
            .ok_or_else(|| Error::argument("internal error: a read before the snapshot"))?;
        runtime::block_on(snap.read(self.params, &self.cursor, read, self.batch_size, make))
    }

    fn finish(&mut self) -> Result<()> {
        match self.snapshot.take() {
            Some(s) => runtime::block_on(s.finish(self.params)),
            None => Ok(()),
        }
    }
}

/// The PostgreSQL side of a CDC sync, its async work run on the process's runtime; one connection
/// (made by `prepare`) serves the stream, the advance and the WAL figure.
pub(super) struct PgChanges<'a> {
    params: &'a ConnParams,
    batch_size: usize,
    client: Option<Arc<Conn>>,
    /// Opened first thing (`ChangeSource::open_peek`), sent before `prepare` (see
    /// `ChangeSource::start_peek`), until `changes` reads it.
    peek: Option<replication::Peek>,
    /// The replication connection `advance` confirms on, opened by `changes`.
    confirm: Option<replication::Opening>,
}

impl<'a> PgChanges<'a> {
    pub(super) fn new(params: &'a ConnParams, batch_size: usize) -> PgChanges<'a> {
        PgChanges {
            params,
            batch_size,
            client: None,
            peek: None,
            confirm: None,
        }
    }

    fn client(&self) -> Result<Arc<Conn>> {
        self.client
            .clone()
            .ok_or_else(|| Error::internal("the replication connection is used before prepare"))
    }
}

impl Drop for PgChanges<'_> {
    /// A peek sent early and left unread (a refusal, an error) is taken back before the call
    /// returns, so that a call right after finds the slot free.
    fn drop(&mut self) {
        if let Some(p) = self.peek.take() {
            runtime::block_on(p.cancel());
        }
    }
}

impl ChangeSource for PgChanges<'_> {
    fn open_peek(&mut self) {
        if self.peek.is_some() {
            return;
        }
        let params = self.params;
        self.peek = Some(runtime::block_on(
            async move { replication::Peek::open(params) },
        ));
    }

    fn start_peek(&mut self, slot: &str, publication: &str) {
        match self.peek.as_mut() {
            Some(p) if !p.is_asked() => p.ask(slot, publication),
            Some(p) if p.asked_for(slot, publication) => {}
            _ => {
                // One asked for another (a guess): taken back first, so the slot is free.
                self.withdraw_peek();
                let params = self.params;
                self.peek = Some(runtime::block_on(async move {
                    replication::Peek::start(params, slot, publication)
                }));
            }
        }
    }

    fn withdraw_peek(&mut self) {
        if let Some(p) = self.peek.take() {
            runtime::block_on(p.cancel());
        }
    }

    fn prepare(
        &mut self,
        tables: &[CdcWanted],
        slot: &str,
        publication: Option<&str>,
        skip_errors: bool,
    ) -> Result<CdcSetup> {
        // Not asked for a peek by now: a first call, whose stream sends its own after the copy.
        // Its connection is closed now rather than held through the copy.
        if self.peek.as_ref().is_some_and(|p| !p.is_asked()) {
            self.peek = None;
        }
        let (client, setup) = runtime::block_on(replication::prepare(
            self.params,
            tables,
            slot,
            publication,
            skip_errors,
            self.peek.as_ref(),
        ))?;
        self.client = Some(client);
        Ok(setup)
    }

    fn changes<T: Send + 'static>(
        &mut self,
        setup: &CdcSetup,
        tables: &[(CdcTable, Lsn, bool)],
        make: fn(Batch, &[DuckType]) -> Result<T>,
    ) -> Result<tokio::sync::mpsc::Receiver<Result<Change<T>>>> {
        let (params, queued) = (self.params, self.batch_size.div_ceil(BATCH_ROWS).max(1));
        let peek = self.peek.take();
        let (rx, confirm) = runtime::block_on(async move {
            let rx = replication::stream(params, setup, tables, queued, make, peek);
            (rx, replication::open_confirm(params))
        });
        self.confirm = Some(confirm);
        Ok(rx)
    }

    fn advance(&mut self, setup: &CdcSetup, to: Lsn) -> Result<()> {
        let client = self.client()?;
        let opened = self.confirm.take();
        runtime::block_on(replication::advance(
            &client,
            self.params,
            setup,
            to,
            opened,
        ))
    }

    fn server(&self) -> String {
        self.params.target()
    }

    fn retained_wal(&mut self, slot: &str) -> Result<Option<i64>> {
        let client = self.client()?;
        runtime::block_on(replication::retained_wal(&client, self.params, slot))
    }
}

/// Lock lakemig's own connection to the database the function was registered on.
pub fn side_connection<'a>(
    init: &'a InitInfo,
    name: &'static str,
) -> Result<MutexGuard<'a, SyncConnection>, Box<dyn std::error::Error>> {
    // SAFETY: the extra info was registered as a `Side` in `register` and lives as long as the
    // function (DuckDB frees it when the catalog entry goes).
    let side = unsafe { init.get_extra_info::<Side>().as_ref() }
        .ok_or_else(|| fail(name)(Error::argument("internal error: no connection")))?;
    side.lock()
        .map_err(|_| fail(name)(Error::argument("an earlier sync panicked; reload lakemig")))
}

/// The columns of a sync's row (`pg_sync`'s; `pg_sync_tables` adds `error`), as the engine's
/// `Outcome` has them.
pub(super) fn add_outcome_columns(bind: &BindInfo) {
    let v = |id| LogicalTypeHandle::from(id);
    let cols = [
        ("source", v(LogicalTypeId::Varchar)),
        ("target", v(LogicalTypeId::Varchar)),
        ("mode", v(LogicalTypeId::Varchar)),
        ("rows_upserted", v(LogicalTypeId::Bigint)),
        ("rows_deleted", v(LogicalTypeId::Bigint)),
        (
            "columns_added",
            LogicalTypeHandle::list(&v(LogicalTypeId::Varchar)),
        ),
        ("watermark_before", v(LogicalTypeId::Varchar)),
        ("watermark_after", v(LogicalTypeId::Varchar)),
        ("watermark_bound", v(LogicalTypeId::Varchar)),
        ("duration", v(LogicalTypeId::Interval)),
    ];
    for (name, ty) in cols {
        bind.add_result_column(name, ty);
    }
}

impl VTab for PgSync {
    type InitData = Pager;
    type BindData = Args;

    fn bind(bind: &BindInfo) -> Result<Args, Box<dyn std::error::Error>> {
        let args = parse_args(bind).map_err(fail(NAME))?;
        add_outcome_columns(bind);
        Ok(args)
    }

    fn init(init: &InitInfo) -> Result<Pager, Box<dyn std::error::Error>> {
        let mut con = side_connection(init, NAME)?;
        // SAFETY: DuckDB hands back the bind data this function's bind returned.
        let args = unsafe { &*init.get_bind_data::<Args>() };
        let mut source = PgSource {
            params: &args.params,
            batch_size: args.batch_size,
            cursor: String::new(),
            snapshot: None,
        };
        let o = match &args.cdc {
            None => engine::run(&args.request, &mut SqlSession(&mut *con), &mut source),
            Some(cdc) => {
                let mut changes = PgChanges::new(&args.params, args.batch_size);
                cdc::run(
                    &args.request,
                    cdc,
                    &mut SqlSession(&mut *con),
                    &mut source,
                    &mut changes,
                )
            }
        }
        .map_err(fail(NAME))?;
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
            ("method".into(), v(LogicalTypeId::Varchar)),
            ("publication".into(), v(LogicalTypeId::Varchar)),
        ])
    }
}
