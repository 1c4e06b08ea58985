//! Reading a PostgreSQL table with binary COPY: planning (which columns, which types, which rows) and
//! the readers. A full read splits the table into ctid page ranges read in parallel by several
//! connections sharing one exported snapshot; an incremental read (`since`) is one indexed query
//! ordered by the cursor. Batches flow through a bounded channel, so memory stays bounded.

use std::fmt::Write as _;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::future::join;
use futures_util::{pin_mut, FutureExt, StreamExt};
use tokio::sync::mpsc;
use tokio_postgres::{Client, Statement};

use super::catalog::{self, QualifiedName, Table};
use super::connect::{self, Conn, ConnParams};
use super::copy_out::CopyDecoder;
use super::socket::BulkSwitch;
use crate::error::{Error, Result};
use crate::sql::{quote_ident, quote_literal};
use crate::types::batch::Batch;
use crate::types::postgres::{self as pgtypes, Decode, PgColumnType};
use crate::types::DuckType;

/// Rows per batch handed to DuckDB (DuckDB's vector size).
pub const BATCH_ROWS: usize = 2048;
/// A COPY switches its socket to bulk mode after this many bytes.
const BULK_AFTER_BYTES: usize = 1 << 20;
/// Tables smaller than this many 8 KiB pages are read over one connection.
const PARALLEL_MIN_PAGES: i64 = 4096;
/// Connections a full read uses unless told otherwise.
pub const DEFAULT_MAX_CONNECTIONS: usize = 2;

/// What kind of value a `since`/`until` bound is (from its DuckDB type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoundKind {
    Timestamp,
    TimestampTz,
    Date,
    Integer,
    Text,
    /// Any other DuckDB type; carries nothing but its name for the error.
    Other,
}

/// A `since`/`until` value: its text form (DuckDB's cast to VARCHAR) and its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bound {
    pub text: String,
    pub kind: BoundKind,
    /// DuckDB's name of the value's type, for messages.
    pub type_name: String,
}

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct ScanRequest {
    pub table: QualifiedName,
    pub cursor: String,
    pub since: Option<Bound>,
    pub until: Option<Bound>,
    pub columns: Option<Vec<String>>,
    pub batch_size: usize,
    /// Most connections for a full read (1 = no parallelism).
    pub max_connections: usize,
    /// Read in this exported snapshot (`pg_export_snapshot()` of a transaction that stays open
    /// until the read has started) instead of taking a new one.
    pub snapshot: Option<String>,
}

/// One output column.
#[derive(Debug, Clone)]
pub struct ScanColumn {
    pub name: String,
    pub pg_type: PgColumnType,
    pub duck_type: DuckType,
    pub decode: Decode,
    /// The expression in the COPY's SELECT list (quoted, cast to text where needed).
    pub select_expr: String,
}

/// A planned read, made at bind time.
#[derive(Debug, Clone)]
pub struct ScanPlan {
    pub params: ConnParams,
    pub table: Table,
    pub columns: Vec<ScanColumn>,
    /// `WHERE ...` (empty for a full read).
    pub filter: String,
    pub order_by: String,
    pub batch_size: usize,
    pub max_connections: usize,
    pub snapshot: Option<String>,
    /// The connection handed to [`start_scan`] is the one that exported `snapshot` and is still
    /// inside that transaction (a sync's): reads on it neither begin nor end a transaction, so it
    /// can serve several reads in the same snapshot.
    pub lead_holds_snapshot: bool,
}

impl ScanPlan {
    /// True for an incremental read (a `since` bound was given).
    pub fn is_incremental(&self) -> bool {
        !self.filter.is_empty()
    }
}

/// Which DuckDB value kinds compare with which cursor column types.
pub fn bound_fits_cursor(cursor: &PgColumnType, bound: BoundKind) -> bool {
    use BoundKind::*;
    match cursor.oid {
        pgtypes::TIMESTAMP | pgtypes::TIMESTAMPTZ | pgtypes::DATE => {
            matches!(bound, Timestamp | TimestampTz | Date | Text)
        }
        pgtypes::INT2 | pgtypes::INT4 | pgtypes::INT8 | pgtypes::NUMERIC | pgtypes::OID => {
            matches!(bound, Integer | Text)
        }
        _ => false,
    }
}

/// True when the cursor column's type can serve as a watermark at all.
pub fn is_cursor_type(t: &PgColumnType) -> bool {
    matches!(
        t.oid,
        pgtypes::TIMESTAMP
            | pgtypes::TIMESTAMPTZ
            | pgtypes::DATE
            | pgtypes::INT2
            | pgtypes::INT4
            | pgtypes::INT8
            | pgtypes::NUMERIC
            | pgtypes::OID
    )
}

/// Open a connection with the session settings every lakemig read relies on.
pub async fn open(params: &ConnParams) -> Result<Conn> {
    let client = connect::open(params).await?;
    client
        .batch_execute(SESSION_SETUP)
        .await
        .map_err(|e| setup_failed(e, params))?;
    Ok(client)
}

/// The session settings every lakemig read relies on (text forms of values, exact floats).
const SESSION_SETUP: &str = "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; \
     SET IntervalStyle = 'iso_8601'; SET extra_float_digits = 3; SET standard_conforming_strings = on";

fn setup_failed(e: tokio_postgres::Error, params: &ConnParams) -> Error {
    Error::from_pg(e, "setting up the session", &params.target())
}

/// [`open`], then the table and its columns ([`catalog::describe_table`]), in one round trip.
pub async fn open_described(
    params: &ConnParams,
    name: &QualifiedName,
) -> Result<(Conn, Table, Vec<catalog::Column>)> {
    let client = connect::open(params).await?;
    let (setup, described) = join(
        client.batch_execute(SESSION_SETUP),
        catalog::describe_table(&client, name, &params.target()),
    )
    .await;
    setup.map_err(|e| setup_failed(e, params))?;
    let (table, columns) = described?;
    Ok((client, table, columns))
}

/// Plan a read: resolve the table and columns, check the cursor and bounds, choose the types.
/// Returns the connection it used too, so the read can reuse it instead of connecting again.
pub async fn plan_scan(params: &ConnParams, req: &ScanRequest) -> Result<(ScanPlan, Conn)> {
    let (client, table, all) = open_described(params, &req.table).await?;
    let plan = plan_described(&client, params, table, &all, req).await?;
    Ok((plan, client))
}

/// [`plan_scan`] for a table already described (`all`: its columns), on `client`.
pub async fn plan_described(
    client: &Client,
    params: &ConnParams,
    table: Table,
    all: &[catalog::Column],
    req: &ScanRequest,
) -> Result<ScanPlan> {
    let target = params.target();
    let list = || {
        all.iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };

    // Which columns, in which order.
    let chosen: Vec<&catalog::Column> = match &req.columns {
        None => all.iter().collect(),
        Some(names) => {
            if names.is_empty() {
                return Err(Error::argument(
                    "columns must name at least one column (or be NULL for all)",
                ));
            }
            let mut out = Vec::new();
            for n in names {
                let c = all
                    .iter()
                    .find(|c| &c.name == n)
                    .ok_or_else(|| Error::UnknownColumn {
                        table: table.quoted(),
                        column: quote_ident(n),
                        columns: list(),
                    })?;
                out.push(c);
            }
            out
        }
    };

    // The watermark filter.
    let mut filter = String::new();
    let mut order_by = String::new();
    if req.since.is_some() || req.until.is_some() {
        let cursor =
            all.iter()
                .find(|c| c.name == req.cursor)
                .ok_or_else(|| Error::UnknownColumn {
                    table: table.quoted(),
                    column: quote_ident(&req.cursor),
                    columns: list(),
                })?;
        if !is_cursor_type(&cursor.pg_type) {
            return Err(Error::argument(format!(
                "cursor column {} is of type {}; a cursor must be a timestamp, timestamptz, date or integer column",
                quote_ident(&cursor.name),
                cursor.pg_type.name
            )));
        }
        let col = quote_ident(&cursor.name);
        let mut conds = Vec::new();
        let mut literals = Vec::new();
        for (bound, op, what) in [(&req.since, ">", "since"), (&req.until, "<=", "until")] {
            if let Some(b) = bound {
                if !bound_fits_cursor(&cursor.pg_type, b.kind) {
                    return Err(Error::argument(format!(
                        "{what} is a {} value, which cannot be compared with cursor column {} of type {}",
                        b.type_name, col, cursor.pg_type.name
                    )));
                }
                let literal = format!(
                    "{}::{}",
                    quote_literal(&b.text),
                    cursor_cast(&cursor.pg_type)
                );
                conds.push(format!("{col} {op} {literal}"));
                literals.push(literal);
            }
        }
        filter = format!(" WHERE {}", conds.join(" AND "));
        order_by = format!(" ORDER BY {col}");
        // Check the bound values parse on the server, so a bad literal fails here, not mid-read.
        client
            .query_typed(&format!("SELECT {}", literals.join(", ")), &[])
            .await
            .map_err(|e| Error::from_pg(e, "checking since/until", &target))?;
    }

    // Unconstrained numeric: DECIMAL(38,s) when every value read fits, else exact text.
    let unconstrained: Vec<&catalog::Column> = chosen
        .iter()
        .copied()
        .filter(|c| {
            c.pg_type.oid == pgtypes::NUMERIC
                && matches!(pgtypes::pg_type_to_duck(&c.pg_type).1, Decode::NumericText)
        })
        .collect();
    let probed = probe_numeric(client, &table, &unconstrained, &filter, &target).await?;

    let mut columns = Vec::with_capacity(chosen.len());
    for c in chosen {
        let (duck_type, decode) = match probed.iter().find(|(n, _)| n == &c.name) {
            Some((_, Some(scale))) => pgtypes::numeric_decimal(*scale),
            _ => pgtypes::pg_type_to_duck(&c.pg_type),
        };
        let select_expr = format!(
            "{}{}",
            quote_ident(&c.name),
            pgtypes::text_cast_sql(&c.pg_type).unwrap_or("")
        );
        columns.push(ScanColumn {
            name: c.name.clone(),
            pg_type: c.pg_type.clone(),
            duck_type,
            decode,
            select_expr,
        });
    }
    let plan = ScanPlan {
        params: params.clone(),
        table,
        columns,
        filter,
        order_by,
        batch_size: req.batch_size,
        max_connections: req.max_connections.max(1),
        snapshot: req.snapshot.clone(),
        lead_holds_snapshot: false,
    };
    Ok(plan)
}

/// The type to cast a bound literal to: the cursor's own type, by oid (domains resolved).
fn cursor_cast(t: &PgColumnType) -> &'static str {
    match t.oid {
        pgtypes::TIMESTAMP => "timestamp",
        pgtypes::TIMESTAMPTZ => "timestamptz",
        pgtypes::DATE => "date",
        pgtypes::INT2 => "int2",
        pgtypes::INT4 => "int4",
        pgtypes::INT8 => "int8",
        pgtypes::OID => "oid",
        _ => "numeric",
    }
}

/// For each unconstrained numeric column: Some(scale) when every value fits DECIMAL(38, scale),
/// None when a value needs more digits or is NaN/Infinity.
async fn probe_numeric(
    client: &Client,
    table: &Table,
    cols: &[&catalog::Column],
    filter: &str,
    target: &str,
) -> Result<Vec<(String, Option<u8>)>> {
    if cols.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = String::from("SELECT ");
    for (i, c) in cols.iter().enumerate() {
        let q = quote_ident(&c.name);
        let finite = format!("{q} NOT IN ('NaN', 'Infinity', '-Infinity')");
        if i > 0 {
            sql.push_str(", ");
        }
        let _ = write!(
            sql,
            "coalesce(max(scale({q})) FILTER (WHERE {finite}), 0)::int, \
             coalesce(max(length(trunc(abs({q}))::text)) FILTER (WHERE {finite} AND trunc({q}) <> 0), 0)::int, \
             count(*) FILTER (WHERE NOT ({finite}))"
        );
    }
    let _ = write!(sql, " FROM {}{}", table.quoted(), filter);
    let row = client
        .query_one(&sql, &[])
        .await
        .map_err(|e| Error::from_pg(e, "measuring numeric columns", target))?;
    let mut out = Vec::new();
    for (i, c) in cols.iter().enumerate() {
        let scale: i32 = row.get(3 * i);
        let int_digits: i32 = row.get(3 * i + 1);
        let specials: i64 = row.get(3 * i + 2);
        let fits = specials == 0 && scale >= 0 && scale + int_digits <= 38;
        out.push((c.name.clone(), fits.then_some(scale as u8)));
    }
    Ok(out)
}

/// The COPY statement for a set of output columns (`projection` indexes into `plan.columns`).
pub fn copy_sql(
    plan: &ScanPlan,
    projection: &[usize],
    ctid_range: Option<(i64, Option<i64>)>,
) -> String {
    let select: Vec<&str> = projection
        .iter()
        .map(|&i| plan.columns[i].select_expr.as_str())
        .collect();
    let mut sql = format!(
        "COPY (SELECT {} FROM {}{}",
        select.join(", "),
        plan.table.quoted(),
        plan.filter
    );
    if let Some((start, end)) = ctid_range {
        let _ = write!(sql, " WHERE ctid >= '({start},0)'::tid");
        if let Some(end) = end {
            let _ = write!(sql, " AND ctid < '({end},0)'::tid");
        }
    }
    sql.push_str(&plan.order_by);
    sql.push_str(") TO STDOUT (FORMAT binary)");
    sql
}

/// Split `pages` pages into `n` contiguous ranges; the last is open-ended so pages added since the
/// size was read are still covered (the snapshot decides what is visible).
pub fn page_ranges(pages: i64, n: usize) -> Vec<(i64, Option<i64>)> {
    let n = n.max(1) as i64;
    (0..n)
        .map(|i| {
            let start = pages * i / n;
            let end = (i + 1 < n).then(|| pages * (i + 1) / n);
            (start, end)
        })
        .collect()
}

/// A running read: batches, each turned into a `T` by the readers, arrive on `rx` until every
/// reader is done (channel closed).
pub struct Scan<T> {
    pub rx: mpsc::Receiver<Result<T>>,
}

/// Start reading: connect (or reuse `lead`, the planning connection), take the snapshot, start the
/// readers. Errors in connecting surface here; errors while reading arrive on the channel. With
/// `plan.lead_holds_snapshot`, `lead` is already in the snapshot's transaction and stays in it.
///
/// Each reader hands every decoded batch to `convert` before sending it, so work that can happen
/// off the consumer's thread (DuckDB's, which may be the only one inserting) happens on the
/// reader's thread, in parallel.
///
/// A read split into ctid ranges gives each range a thread of its own, running its connection and
/// its decoding on a single-threaded runtime: nothing is handed between threads but finished
/// batches. (On the shared multi-threaded runtime the connections' I/O tasks and the decoding
/// tasks woke each other across threads for every network read: measured on 2 cores, 60,000
/// context switches and 6,000 thread migrations for a 2,000,000-row read, against 20,000 and none,
/// and 25% more CPU.) The planning connection then only holds the snapshot until every reader has
/// imported it.
pub async fn start_scan<T, F>(
    plan: &ScanPlan,
    projection: &[usize],
    lead: Option<Arc<Conn>>,
    convert: F,
) -> Result<Scan<T>>
where
    T: Send + 'static,
    F: Fn(Batch) -> Result<T> + Send + Sync + Clone + 'static,
{
    let target = plan.params.target();
    let ctx = format!("reading {}", plan.table.quoted());
    let lead = match lead {
        Some(c) if !c.is_closed() => c,
        _ => Arc::new(open(&plan.params).await?),
    };
    let held = plan.lead_holds_snapshot;
    let begin = match &plan.snapshot {
        Some(s) => begin_in_snapshot(s),
        None => "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY".to_string(),
    };

    let columns: Vec<(String, Decode)> = projection
        .iter()
        .map(|&i| (plan.columns[i].name.clone(), plan.columns[i].decode.clone()))
        .collect();
    // Each reader may buffer this many batches ahead of DuckDB.
    let per_reader = plan.batch_size.div_ceil(BATCH_ROWS).max(1);

    let can_split = !plan.is_incremental()
        && matches!(plan.table.relkind, 'r' | 'm')
        && plan.max_connections > 1;
    if can_split {
        if !held {
            lead.batch_execute(&begin)
                .await
                .map_err(|e| Error::from_pg(e, &ctx, &target))?;
        }
        let row = lead
            .query_one(
                "SELECT CASE WHEN $2 THEN pg_export_snapshot() END, \
                 (pg_relation_size($1::oid) / current_setting('block_size')::int8)::int8",
                &[&plan.table.oid, &plan.snapshot.is_none()],
            )
            .await
            .map_err(|e| Error::from_pg(e, &ctx, &target))?;
        let snapshot: String = match &plan.snapshot {
            Some(s) => s.clone(),
            None => row.get(0),
        };
        let pages: i64 = row.get(1);
        let n = ((pages / PARALLEL_MIN_PAGES) as usize).clamp(1, plan.max_connections);
        if n > 1 {
            let (tx, rx) = mpsc::channel(per_reader * n);
            let mut imported = Vec::with_capacity(n);
            for (i, range) in page_ranges(pages, n).into_iter().enumerate() {
                let (done, started) = tokio::sync::oneshot::channel();
                imported.push(started);
                let reader = RangeReader {
                    params: plan.params.clone(),
                    snapshot: snapshot.clone(),
                    sql: copy_sql(plan, projection, Some(range)),
                    columns: columns.clone(),
                    tx: tx.clone(),
                    convert: convert.clone(),
                    target: target.clone(),
                    ctx: ctx.clone(),
                };
                std::thread::Builder::new()
                    .name(format!("lakemig-copy-{i}"))
                    .spawn(move || reader.run(done))
                    .map_err(|e| Error::argument(format!("cannot start a reader thread: {e}")))?;
            }
            // Keep the snapshot's transaction open until every reader has imported it (or failed,
            // which it reports on the channel).
            for started in imported {
                let _ = started.await;
            }
            if !held {
                lead.batch_execute("COMMIT")
                    .await
                    .map_err(|e| Error::from_pg(e, &ctx, &target))?;
            }
            return Ok(Scan { rx });
        }
    }
    // One round trip for both: BEGIN, then the COPY's Parse, pipelined on the connection.
    let sql = copy_sql(plan, projection, None);
    // `future::join` polls in order, so BEGIN goes out before the Parse (`tokio::join!` does not
    // promise an order, and SET TRANSACTION SNAPSHOT must come first).
    let statement = if can_split || held {
        // A table too small to split (its transaction began above), or a held snapshot.
        lead.prepare(&sql).await
    } else {
        let (began, statement) = join(lead.batch_execute(&begin), lead.prepare(&sql)).await;
        began.and(statement)
    }
    .map_err(|e| Error::from_pg(e, &ctx, &target))?;
    let (tx, rx) = mpsc::channel(per_reader);
    tokio::spawn(async move {
        let end = !held;
        let read = read_copy(
            &lead, &statement, columns, &tx, &convert, &target, &ctx, end,
        );
        report_end(&tx, read).await;
    });
    Ok(Scan { rx })
}

/// Run a reader to its end and put any failure on the channel, a panic included: a reader that
/// vanished without a word would close the channel and read as a complete, shorter table.
async fn report_end<T>(tx: &mpsc::Sender<Result<T>>, reader: impl Future<Output = Result<()>>) {
    let failure = match AssertUnwindSafe(reader).catch_unwind().await {
        Ok(Ok(())) => return,
        Ok(Err(e)) => e,
        Err(_) => Error::internal("a reader stopped unexpectedly (panic); the read is incomplete"),
    };
    let _ = tx.send(Err(failure)).await;
}

fn begin_in_snapshot(snapshot: &str) -> String {
    format!(
        "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET TRANSACTION SNAPSHOT {}",
        quote_literal(snapshot)
    )
}

/// One ctid range of a split read, read on a thread of its own.
struct RangeReader<T, F> {
    params: ConnParams,
    snapshot: String,
    sql: String,
    columns: Vec<(String, Decode)>,
    tx: mpsc::Sender<Result<T>>,
    convert: F,
    target: String,
    ctx: String,
}

impl<T, F> RangeReader<T, F>
where
    F: Fn(Batch) -> Result<T>,
{
    /// Connect, import the snapshot (then signal `imported`), and read the range, on a
    /// single-threaded runtime owned by this thread. Every error goes to the channel.
    fn run(self, imported: tokio::sync::oneshot::Sender<()>) {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(r) => r,
            Err(e) => {
                let _ = self.tx.blocking_send(Err(Error::argument(format!(
                    "cannot start a reader runtime: {e}"
                ))));
                return;
            }
        };
        let tx = self.tx.clone();
        runtime.block_on(report_end(&tx, async move {
            let client = async {
                let client = connect::open(&self.params).await?;
                // One round trip: session settings, BEGIN in the snapshot, and the COPY's Parse.
                let begin = format!("{SESSION_SETUP}; {}", begin_in_snapshot(&self.snapshot));
                let (began, statement) =
                    join(client.batch_execute(&begin), client.prepare(&self.sql)).await;
                let statement = began
                    .and(statement)
                    .map_err(|e| Error::from_pg(e, &self.ctx, &self.target))?;
                Ok((client, statement))
            }
            .await;
            let _ = imported.send(());
            let (client, statement) = client?;
            read_copy(
                &client,
                &statement,
                self.columns,
                &self.tx,
                &self.convert,
                &self.target,
                &self.ctx,
                true,
            )
            .await
        }));
    }
}

/// Stream one prepared COPY's rows, decoded and converted, into `tx`, then (`end`) end the
/// read-only transaction. Ending it explicitly matters: a reader's runtime stops with its thread,
/// and a connection that goes away inside a transaction makes PostgreSQL log "unexpected EOF on
/// client connection with an open transaction" for every read.
#[allow(clippy::too_many_arguments)]
async fn read_copy<T, F>(
    client: &Conn,
    statement: &Statement,
    columns: Vec<(String, Decode)>,
    tx: &mpsc::Sender<Result<T>>,
    convert: &F,
    target: &str,
    ctx: &str,
    end: bool,
) -> Result<()>
where
    F: Fn(Batch) -> Result<T>,
{
    let stream = client
        .copy_out(statement)
        .await
        .map_err(|e| Error::from_pg(e, ctx, target))?;
    pin_mut!(stream);
    let mut decoder = CopyDecoder::new(columns, BATCH_ROWS);
    // A long read switches the socket to bulk mode (big reads, few wake-ups) once it is clearly
    // long; a short one never pays bulk mode's wait for the last bytes.
    let mut received = 0usize;
    let bulk = BulkGuard(client.bulk());
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| Error::from_pg(e, ctx, target))?;
        if received < BULK_AFTER_BYTES {
            received += chunk.len();
            if received >= BULK_AFTER_BYTES {
                bulk.0.set(true);
            }
        }
        decoder.feed(&chunk)?;
        while let Some(batch) = decoder.next_batch() {
            if tx.send(Ok(convert(batch)?)).await.is_err() {
                return Ok(()); // DuckDB stopped reading (LIMIT, cancel): drop the connection.
            }
        }
    }
    drop(bulk);
    if let Some(batch) = decoder.finish()? {
        if tx.send(Ok(convert(batch)?)).await.is_err() {
            return Ok(());
        }
    }
    if end {
        client
            .batch_execute("COMMIT")
            .await
            .map_err(|e| Error::from_pg(e, ctx, target))?;
    }
    Ok(())
}

/// Turns a connection's bulk mode off when the read ends, however it ends.
pub(super) struct BulkGuard<'a>(pub(super) &'a BulkSwitch);

impl Drop for BulkGuard<'_> {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(oid: u32) -> PgColumnType {
        PgColumnType {
            oid,
            typmod: -1,
            name: "t".into(),
            typtype: 'b',
            elem_oid: None,
            elem_typtype: None,
            ndims: 0,
        }
    }

    #[test]
    fn ranges_cover_every_page_once() {
        assert_eq!(page_ranges(10, 1), vec![(0, None)]);
        assert_eq!(page_ranges(10, 2), vec![(0, Some(5)), (5, None)]);
        let r = page_ranges(10_001, 3);
        assert_eq!(r[0].0, 0);
        assert_eq!(r[0].1, Some(r[1].0));
        assert_eq!(r[1].1, Some(r[2].0));
        assert_eq!(r[2].1, None);
    }

    #[test]
    fn bounds_and_cursors() {
        assert!(bound_fits_cursor(
            &ty(pgtypes::TIMESTAMPTZ),
            BoundKind::TimestampTz
        ));
        assert!(bound_fits_cursor(
            &ty(pgtypes::TIMESTAMPTZ),
            BoundKind::Date
        ));
        assert!(!bound_fits_cursor(
            &ty(pgtypes::TIMESTAMPTZ),
            BoundKind::Integer
        ));
        assert!(bound_fits_cursor(&ty(pgtypes::INT8), BoundKind::Integer));
        assert!(!bound_fits_cursor(&ty(pgtypes::INT8), BoundKind::Timestamp));
        assert!(!bound_fits_cursor(&ty(pgtypes::TEXT), BoundKind::Text));
        assert!(is_cursor_type(&ty(pgtypes::DATE)));
        assert!(!is_cursor_type(&ty(pgtypes::UUID)));
    }
}
