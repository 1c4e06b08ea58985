//! The PostgreSQL side of `pg_sync`: one exported snapshot that every read of a sync shares, the
//! safe watermark bound taken around it (see `crate::sync` for why), and the reads in it.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::{join, join3};
use tokio_postgres::types::Type;
use tokio_postgres::Row;

use super::catalog::{self, QualifiedName, Table};
use super::connect::{Conn, ConnParams};
use super::scan::{self, Bound, BoundKind, ScanRequest};
use crate::error::{Error, Result};
use crate::sync::source::{Read, Rows, SourceView};
use crate::sync::CursorKind;
use crate::types::batch::Batch;
use crate::types::DuckType;

/// Open transactions in the same database, other than our own: the oldest start, and how many we
/// cannot see (another role's sessions, without `pg_read_all_stats`).
const ACTIVITY_SQL: &str = "SELECT min(xact_start), \
     count(*) FILTER (WHERE state IS NULL)::int8, \
     (array_agg(pid ORDER BY xact_start) FILTER (WHERE xact_start IS NOT NULL))[1] \
     FROM pg_stat_activity \
     WHERE datname = current_database() AND pid <> pg_backend_pid() \
     AND backend_type = 'client backend' AND (xact_start IS NOT NULL OR state IS NULL)";

/// A sync's view of the source: the exporting transaction stays open (in `client`) for the whole
/// sync; reads run on `client` itself, or import `snapshot` on connections of their own.
pub struct SyncSnapshot {
    pub client: Arc<Conn>,
    pub snapshot: String,
    pub table: Table,
    pub columns: Vec<catalog::Column>,
    pub primary_key: Vec<String>,
    /// The safe upper bound for the next watermark, as text in the cursor's type (None for integer
    /// cursors).
    pub bound: Option<String>,
    /// Why the bound is where it is, for the result row: e.g. `open transaction (pid 123) since ...`.
    pub bound_reason: String,
    /// Most connections a full read of a large table uses.
    pub max_connections: usize,
}

/// Take the snapshot a sync reads through, and the watermark bound around it:
/// 1. outside any transaction, note the time and the oldest open transaction's start;
/// 2. begin REPEATABLE READ and export the snapshot;
/// 3. look at open transactions again (a transaction that started between 1 and 2 and is still open).
///
/// The bound is the least of the three times. When some sessions are not visible to this role,
/// their transactions are assumed to be at most `blind_window` old.
pub async fn take_snapshot(
    params: &ConnParams,
    table: &QualifiedName,
    cursor: &str,
    blind_window: Duration,
) -> Result<SyncSnapshot> {
    let target = params.target();
    let pg = |e| Error::from_pg(e, "taking the sync snapshot", &target);
    // Round trips are what a small sync spends its time on: pipeline what does not depend on an
    // earlier answer (the server still runs it in order) and send no separate Parse.
    let (client, table, columns) = scan::open_described(params, table).await?;
    let list = || {
        columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    // No cursor (`method := 'cdc'`): a plain snapshot, no bound.
    let kind = match cursor {
        "" => None,
        _ => {
            let cursor_col =
                columns
                    .iter()
                    .find(|c| c.name == cursor)
                    .ok_or_else(|| Error::UnknownColumn {
                        table: table.quoted(),
                        column: crate::sql::quote_ident(cursor),
                        columns: list(),
                    })?;
            Some(CursorKind::of(&cursor_col.pg_type).ok_or_else(|| {
                Error::argument(format!(
                    "cursor column {} is of type {}; a cursor must be a timestamp, timestamptz, date or integer column",
                    crate::sql::quote_ident(cursor),
                    cursor_col.pg_type.name
                ))
            })?)
        }
    };

    let (primary_key, opened) = join(
        catalog::primary_key(&client, &table, &target),
        open_snapshot(&client, params, blind_window),
    )
    .await;
    let primary_key = primary_key?;
    let Opened {
        snapshot,
        least,
        server_tz,
        bound_reason,
    } = opened?;
    let bound = match kind {
        Some(kind) => bound_for(&client, kind, &least, &server_tz)
            .await
            .map_err(pg)?,
        None => None,
    };
    Ok(SyncSnapshot {
        client: Arc::new(client),
        snapshot,
        table,
        columns,
        primary_key,
        bound,
        bound_reason,
        max_connections: scan::DEFAULT_MAX_CONNECTIONS,
    })
}

/// A snapshot exported by `client`'s open transaction, and the time the next watermark may not
/// pass (see [`take_snapshot`]).
pub struct Opened {
    pub snapshot: String,
    /// The least of the sync's start and the oldest open transaction's start (less the blind
    /// window when sessions are hidden), as timestamptz text.
    pub least: String,
    /// The server's default TimeZone.
    pub server_tz: String,
    pub bound_reason: String,
}

/// Steps 1-3 of [`take_snapshot`] on `client`: note the time and open transactions, begin
/// REPEATABLE READ and export the snapshot, look again; the least time and why.
pub async fn open_snapshot(
    client: &Conn,
    params: &ConnParams,
    blind_window: Duration,
) -> Result<Opened> {
    let target = params.target();
    let pg = |e| Error::from_pg(e, "taking the sync snapshot", &target);
    let before_sql = format!(
        "SELECT clock_timestamp()::text, \
         (SELECT reset_val FROM pg_settings WHERE name = 'TimeZone'), \
         a.min::text, a.hidden, a.pid FROM ({ACTIVITY_SQL}) a(min, hidden, pid)"
    );
    let before = one_row(client.query_typed(&before_sql, &[]).await.map_err(pg)?)?;
    // In order on the server: BEGIN, export, then look at open transactions again.
    let after_sql =
        format!("SELECT a.min::text, a.hidden, a.pid FROM ({ACTIVITY_SQL}) a(min, hidden, pid)");
    let (began, exported, after) = join3(
        client.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"),
        client.query_typed("SELECT pg_export_snapshot()", &[]),
        client.query_typed(&after_sql, &[]),
    )
    .await;
    began.map_err(pg)?;
    let snapshot: String = one_row(exported.map_err(pg)?)?.get(0);
    let after = one_row(after.map_err(pg)?)?;

    let started: String = before.get(0);
    let server_tz: String = before.get(1);
    let mut oldest: Vec<(String, i32)> = Vec::new();
    for (row, at) in [(&before, 2), (&after, 0)] {
        if let (Some(t), Some(pid)) = (
            row.get::<_, Option<String>>(at),
            row.get::<_, Option<i32>>(at + 2),
        ) {
            oldest.push((t, pid));
        }
    }
    let hidden = before.get::<_, i64>(3) + after.get::<_, i64>(1);
    // The least of: our start, the oldest open transaction before and after the snapshot; minus
    // the blind window when some sessions are hidden from us.
    let row = one_row(
        client
            .query_typed(
                "SELECT (least($1::text::timestamptz, $2::text::timestamptz, $3::text::timestamptz) \
                 - CASE WHEN $4 THEN $5::float8 * interval '1 second' ELSE interval '0' END)::text, \
                 $2::text::timestamptz <= coalesce($3::text::timestamptz, 'infinity')",
                &[
                    (&started, Type::TEXT),
                    (&oldest.first().map(|o| o.0.clone()), Type::TEXT),
                    (&oldest.get(1).map(|o| o.0.clone()), Type::TEXT),
                    (&(hidden > 0), Type::BOOL),
                    (&blind_window.as_secs_f64(), Type::FLOAT8),
                ],
            )
            .await
            .map_err(pg)?,
    )?;
    let least: String = row.get(0);
    let mut bound_reason = match oldest.as_slice() {
        [] => "sync start".to_string(),
        [only] => format!("open transaction (pid {}) since {}", only.1, only.0),
        [a, b, ..] => {
            let o = if row.get::<_, Option<bool>>(1).unwrap_or(true) {
                a
            } else {
                b
            };
            format!("open transaction (pid {}) since {}", o.1, o.0)
        }
    };
    if hidden > 0 {
        bound_reason.push_str(&format!(
            "; {hidden} session(s) hidden from this role (grant pg_read_all_stats for an exact bound), assumed open for at most {} s",
            blind_window.as_secs()
        ));
    }
    Ok(Opened {
        snapshot,
        least,
        server_tz,
        bound_reason,
    })
}

/// The safe bound in a cursor's own type, as text (None for integer cursors): `least` less a
/// microsecond (a day for dates), in the server's TimeZone for timestamps.
pub async fn bound_for(
    client: &Conn,
    kind: CursorKind,
    least: &str,
    server_tz: &str,
) -> std::result::Result<Option<String>, tokio_postgres::Error> {
    Ok(match kind.bound_sql() {
        None => None,
        Some(sql) => client
            .query_typed(sql, &[(&least, Type::TEXT), (&server_tz, Type::TEXT)])
            .await?
            .first()
            .map(|r| r.get(0)),
    })
}

/// The one row a query of ours returns.
fn one_row(rows: Vec<Row>) -> Result<Row> {
    rows.into_iter()
        .next()
        .ok_or_else(|| Error::argument("internal error: a snapshot query returned no row"))
}

impl SyncSnapshot {
    /// What the sync engine sees of the source.
    pub fn view(&self, params: &ConnParams) -> SourceView {
        SourceView {
            name: format!("{}.{}", self.table.schema, self.table.name),
            quoted: self.table.quoted(),
            columns: self.columns.iter().map(|c| c.name.clone()).collect(),
            primary_key: self.primary_key.clone(),
            bound: self.bound.clone(),
            bound_reason: self.bound_reason.clone(),
            server: params.target(),
        }
    }

    /// Start a read in this snapshot: planned and (for an incremental or small read) run on the
    /// snapshot's own connection, inside its transaction; a full read of a large table splits over
    /// connections that import the snapshot. `read.since` is a watermark as text, compared in the
    /// cursor's own type. Each batch becomes a `T` through `make` on the reader's thread.
    pub async fn read<T: Send + 'static>(
        &self,
        params: &ConnParams,
        cursor: &str,
        read: &Read,
        batch_size: usize,
        make: fn(Batch, &[DuckType]) -> Result<T>,
    ) -> Result<Rows<T>> {
        let req = ScanRequest {
            table: self.table.qualified(),
            cursor: cursor.to_string(),
            since: read.since.as_ref().map(|w| Bound {
                text: w.clone(),
                kind: BoundKind::Text,
                type_name: "VARCHAR".into(),
            }),
            until: None,
            columns: read.columns.clone(),
            batch_size,
            max_connections: self.max_connections,
            snapshot: Some(self.snapshot.clone()),
        };
        let mut plan = scan::plan_described(
            &self.client,
            params,
            self.table.clone(),
            &self.columns,
            &req,
        )
        .await?;
        plan.lead_holds_snapshot = true;
        let columns: Vec<(String, DuckType)> = plan
            .columns
            .iter()
            .map(|c| (c.name.clone(), c.duck_type.clone()))
            .collect();
        let types: Vec<DuckType> = columns.iter().map(|(_, t)| t.clone()).collect();
        let projection: Vec<usize> = (0..columns.len()).collect();
        let convert = move |batch: Batch| make(batch, &types);
        let scan = scan::start_scan(&plan, &projection, Some(self.client.clone()), convert).await?;
        Ok(Rows {
            columns,
            rx: scan.rx,
        })
    }

    /// End the exporting transaction (read-only: nothing to keep).
    pub async fn finish(self, params: &ConnParams) -> Result<()> {
        self.client
            .batch_execute("COMMIT")
            .await
            .map_err(|e| Error::from_pg(e, "ending the sync snapshot", &params.target()))
    }
}
