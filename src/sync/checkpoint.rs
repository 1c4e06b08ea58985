//! The checkpoint: what a sync remembers about a target (its source, cursor, watermark, counts),
//! and the ONE place its storage is spelled. [`COLUMNS`] lists the table's columns once; the DDL,
//! the INSERT, the SELECT, the struct mapping and `pg_sync_state()`'s columns all derive from it.
//!
//! Storage: one table per target, `<catalog>.lakemig_sync_state."<schema>.<table>"`
//! ([`Target::state_table`]), holding that target's one row, replaced (DELETE + INSERT) in the sync's
//! own DuckDB transaction, so the checkpoint commits with the rows it covers. Why one table each:
//! DuckLake detects conflicts per table at commit, so syncs of different targets must not write a
//! shared table (with one shared table, all but one of N concurrent syncs failed), while two syncs
//! of the SAME target must conflict (both delete the row the other re-inserts: the second to commit
//! fails and nothing of it is written, see `engine::commit_conflict`). The table is created in a
//! short transaction of its own before the sync (the engine's `prepare`): two transactions creating
//! one table (or schema) conflict, so that must not be part of the sync's.
//!
//! Earlier releases kept every target's row in ONE table, `<catalog>.main.lakemig_sync_state`
//! ([`Target::legacy_state_table`]). The first sync of a target after the upgrade moves its row,
//! unchanged, into the target's own table (in that short transaction), and drops the old table once
//! it is empty; nothing is re-copied. `pg_sync_state()` ([`read_all`]) shows both.

use super::session::{Database, Value};
use super::target::{Target, LEGACY_STATE_TABLE, STATE_SCHEMA};
use crate::error::{Error, Result};
use crate::sql::{quote_ident, quote_literal};

/// A target's checkpoint.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Checkpoint {
    /// The target's key in its catalog: `"schema"."table"` ([`Target::state_key`]).
    pub target: String,
    /// The source table, `schema.table`.
    pub source: String,
    /// The PostgreSQL server, `host:port/db as user "name"` (never a password).
    pub server: String,
    /// The cursor column.
    pub cursor: String,
    /// Rows whose cursor is greater were not read yet (None: no row had a cursor value).
    pub watermark: Option<String>,
    /// The cursor column's DuckDB type in the target.
    pub watermark_type: String,
    pub primary_key: Vec<String>,
    pub rows_total: i64,
    pub runs: i64,
    /// `bootstrap` or `incremental`.
    pub last_mode: String,
    pub last_rows_upserted: i64,
    pub last_rows_deleted: i64,
    /// When the last sync's DuckDB transaction began (µs since 1970 UTC). Written as `now()`.
    pub last_run: Option<i64>,
    /// How long the last sync took, in µs.
    pub last_duration: i64,
}

/// How `pg_sync_state()` shows a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    Text,
    Int,
    /// TIMESTAMPTZ, from µs since 1970 UTC.
    Timestamp,
    /// INTERVAL, from µs.
    Interval,
}

/// One column of the checkpoint table.
pub struct Column {
    pub name: &'static str,
    /// Its DuckDB type and constraint.
    pub ddl: &'static str,
    /// The SQL expression written; `?` stands for the value [`Column::get`] gives.
    pub write: &'static str,
    /// The SQL expression that reads it back as a plain value.
    pub read: &'static str,
    /// Its name in `pg_sync_state()` and how it is shown there (None: not shown).
    pub shown: Option<(&'static str, Shown)>,
    pub get: fn(&Checkpoint) -> Value,
    set: fn(&mut Checkpoint, Value) -> Option<()>,
}

fn text(v: Value) -> Option<String> {
    match v {
        Value::Text(s) => Some(s),
        _ => None,
    }
}

fn int(v: Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(i),
        _ => None,
    }
}

fn opt_text(v: Value) -> Option<Option<String>> {
    match v {
        Value::Null => Some(None),
        v => text(v).map(Some),
    }
}

fn opt_int(v: Value) -> Option<Option<i64>> {
    match v {
        Value::Null => Some(None),
        v => int(v).map(Some),
    }
}

fn opt(v: &Option<String>) -> Value {
    v.clone().map_or(Value::Null, Value::Text)
}

/// The checkpoint table's columns, in table order.
pub const COLUMNS: [Column; 14] = [
    Column {
        name: "target",
        ddl: "VARCHAR NOT NULL",
        write: "?",
        read: "target",
        shown: Some(("target", Shown::Text)),
        get: |c| Value::Text(c.target.clone()),
        set: |c, v| text(v).map(|x| c.target = x),
    },
    Column {
        name: "source",
        ddl: "VARCHAR NOT NULL",
        write: "?",
        read: "source",
        shown: Some(("source", Shown::Text)),
        get: |c| Value::Text(c.source.clone()),
        set: |c, v| text(v).map(|x| c.source = x),
    },
    Column {
        name: "server",
        ddl: "VARCHAR NOT NULL",
        write: "?",
        read: "server",
        shown: Some(("server", Shown::Text)),
        get: |c| Value::Text(c.server.clone()),
        set: |c, v| text(v).map(|x| c.server = x),
    },
    Column {
        name: "cursor_column",
        ddl: "VARCHAR NOT NULL",
        write: "?",
        read: "cursor_column",
        shown: Some(("cursor", Shown::Text)),
        get: |c| Value::Text(c.cursor.clone()),
        set: |c, v| text(v).map(|x| c.cursor = x),
    },
    Column {
        name: "watermark",
        ddl: "VARCHAR",
        write: "?",
        read: "watermark",
        shown: Some(("watermark", Shown::Text)),
        get: |c| opt(&c.watermark),
        set: |c, v| opt_text(v).map(|x| c.watermark = x),
    },
    Column {
        name: "watermark_type",
        ddl: "VARCHAR NOT NULL",
        write: "?",
        read: "watermark_type",
        shown: Some(("watermark_type", Shown::Text)),
        get: |c| Value::Text(c.watermark_type.clone()),
        set: |c, v| text(v).map(|x| c.watermark_type = x),
    },
    Column {
        name: "primary_key",
        ddl: "VARCHAR[] NOT NULL",
        write: "?",
        read: "primary_key",
        shown: None,
        get: |c| Value::TextList(c.primary_key.clone()),
        set: |c, v| match v {
            Value::TextList(k) => {
                c.primary_key = k;
                Some(())
            }
            _ => None,
        },
    },
    Column {
        name: "rows_total",
        ddl: "BIGINT NOT NULL",
        write: "?",
        read: "rows_total",
        shown: Some(("rows_total", Shown::Int)),
        get: |c| Value::Int(c.rows_total),
        set: |c, v| int(v).map(|x| c.rows_total = x),
    },
    Column {
        name: "runs",
        ddl: "BIGINT NOT NULL",
        write: "?",
        read: "runs",
        shown: Some(("runs", Shown::Int)),
        get: |c| Value::Int(c.runs),
        set: |c, v| int(v).map(|x| c.runs = x),
    },
    Column {
        name: "last_mode",
        ddl: "VARCHAR NOT NULL",
        write: "?",
        read: "last_mode",
        shown: Some(("last_mode", Shown::Text)),
        get: |c| Value::Text(c.last_mode.clone()),
        set: |c, v| text(v).map(|x| c.last_mode = x),
    },
    Column {
        name: "last_rows_upserted",
        ddl: "BIGINT NOT NULL",
        write: "?",
        read: "last_rows_upserted",
        shown: Some(("last_rows_upserted", Shown::Int)),
        get: |c| Value::Int(c.last_rows_upserted),
        set: |c, v| int(v).map(|x| c.last_rows_upserted = x),
    },
    Column {
        name: "last_rows_deleted",
        ddl: "BIGINT NOT NULL",
        write: "?",
        read: "last_rows_deleted",
        shown: Some(("last_rows_deleted", Shown::Int)),
        get: |c| Value::Int(c.last_rows_deleted),
        set: |c, v| int(v).map(|x| c.last_rows_deleted = x),
    },
    Column {
        name: "last_run",
        ddl: "TIMESTAMPTZ NOT NULL",
        write: "now()",
        read: "epoch_us(last_run)",
        shown: Some(("last_run", Shown::Timestamp)),
        get: |c| c.last_run.map_or(Value::Null, Value::Int),
        set: |c, v| opt_int(v).map(|x| c.last_run = x),
    },
    Column {
        name: "last_duration",
        ddl: "INTERVAL NOT NULL",
        write: "to_microseconds(?)",
        read: "CAST(epoch(last_duration) * 1000000 AS BIGINT)",
        shown: Some(("last_duration", Shown::Interval)),
        get: |c| Value::Int(c.last_duration),
        set: |c, v| int(v).map(|x| c.last_duration = x),
    },
];

/// A target's checkpoint table.
pub fn ddl(target: &Target) -> String {
    let cols = COLUMNS
        .iter()
        .map(|c| format!("{} {}", c.name, c.ddl))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "CREATE TABLE IF NOT EXISTS {} ({cols})",
        target.state_table().quoted()
    )
}

fn reads() -> String {
    COLUMNS
        .iter()
        .map(|c| c.read)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Read a target's checkpoint from its table, if it has one. The table holds this target's row
/// only; it is read whole, whatever spelling of the target wrote it.
pub fn read<D: Database>(db: &mut D, target: &Target) -> Result<Option<Checkpoint>> {
    let sql = format!("SELECT {} FROM {}", reads(), target.state_table().quoted());
    let rows = db
        .query(&sql, &[])
        .map_err(duck("reading the checkpoint"))?;
    rows.into_iter().next().map(from_row).transpose()
}

/// Replace a target's checkpoint (in the caller's transaction).
pub fn write<D: Database>(db: &mut D, target: &Target, checkpoint: &Checkpoint) -> Result<()> {
    let table = target.state_table().quoted();
    db.execute(&format!("DELETE FROM {table}"), &[])
        .map_err(duck("writing the checkpoint"))?;
    let writes = COLUMNS.iter().map(|c| c.write).collect::<Vec<_>>();
    let params = COLUMNS
        .iter()
        .filter(|c| c.write.contains('?'))
        .map(|c| (c.get)(checkpoint))
        .collect::<Vec<_>>();
    db.execute(
        &format!("INSERT INTO {table} VALUES ({})", writes.join(", ")),
        &params,
    )
    .map_err(duck("writing the checkpoint"))?;
    Ok(())
}

/// Move a target's row from the earlier releases' shared table into the target's own table,
/// every value as it was (`copy`: false when the target's table already has a row, which wins; the
/// old row is only deleted). The last statement deletes the old row.
pub fn move_legacy_sql(target: &Target, copy: bool) -> Vec<String> {
    let (old, new) = (
        target.legacy_state_table().quoted(),
        target.state_table().quoted(),
    );
    let key = quote_literal(&target.state_key());
    let names = COLUMNS
        .iter()
        .map(|c| c.name)
        .collect::<Vec<_>>()
        .join(", ");
    let delete = format!("DELETE FROM {old} WHERE target = {key}");
    if copy {
        vec![
            format!("INSERT INTO {new} ({names}) SELECT {names} FROM {old} WHERE target = {key}"),
            delete,
        ]
    } else {
        vec![delete]
    }
}

/// Every checkpoint in every attached database: `(catalog, checkpoint)`, by catalog and target.
/// Each target's own table, and the rows earlier releases left in the shared table of a catalog
/// (targets not synced since the upgrade), read in one query.
pub fn read_all<D: Database>(db: &mut D) -> Result<Vec<(String, Checkpoint)>> {
    let ctx = "reading the checkpoints";
    let tables = db
        .query(
            "SELECT database_name, schema_name, table_name FROM duckdb_tables() \
             WHERE schema_name = ? OR (schema_name = 'main' AND table_name = ?) ORDER BY 1, 2, 3",
            &[
                Value::Text(STATE_SCHEMA.into()),
                Value::Text(LEGACY_STATE_TABLE.into()),
            ],
        )
        .map_err(duck(ctx))?;
    let selects = tables
        .into_iter()
        .filter_map(|row| match row.as_slice() {
            [Value::Text(c), Value::Text(s), Value::Text(t)] => Some(format!(
                "SELECT {} AS __catalog, {} FROM {}.{}.{}",
                quote_literal(c),
                reads(),
                quote_ident(c),
                quote_ident(s),
                quote_ident(t)
            )),
            _ => None,
        })
        .collect::<Vec<_>>();
    if selects.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT * FROM ({}) ORDER BY __catalog, target",
        selects.join(" UNION ALL ")
    );
    let mut out = Vec::new();
    for mut row in db.query(&sql, &[]).map_err(duck(ctx))? {
        let catalog = match row.remove(0) {
            Value::Text(c) => c,
            _ => String::new(),
        };
        out.push((catalog, from_row(row)?));
    }
    Ok(out)
}

/// A checkpoint from a row of [`COLUMNS`]' read expressions.
pub fn from_row(row: Vec<Value>) -> Result<Checkpoint> {
    let mut c = Checkpoint::default();
    if row.len() != COLUMNS.len() {
        return Err(Error::argument(format!(
            "internal error: a checkpoint row has {} values, not {}",
            row.len(),
            COLUMNS.len()
        )));
    }
    for (col, v) in COLUMNS.iter().zip(row) {
        let shown = format!("{v:?}");
        (col.set)(&mut c, v).ok_or_else(|| {
            Error::argument(format!(
                "a checkpoint table in schema {STATE_SCHEMA} holds {shown} in column {}, which pg_sync did not write; \
                 drop the target's checkpoint table to bootstrap again",
                col.name
            ))
        })?;
    }
    Ok(c)
}

/// A DuckDB error, with what we were doing.
pub fn duck(context: &'static str) -> impl Fn(String) -> Error {
    move |message| Error::Server {
        context: context.to_string(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Checkpoint {
        Checkpoint {
            target: "\"main\".\"subs\"".into(),
            source: "analytics.subscriptions".into(),
            server: "h:5432/db as user \"u\"".into(),
            cursor: "updated_at".into(),
            watermark: Some("2026-01-01 00:00:00+00".into()),
            watermark_type: "TIMESTAMP WITH TIME ZONE".into(),
            primary_key: vec!["id".into()],
            rows_total: 10,
            runs: 2,
            last_mode: "incremental".into(),
            last_rows_upserted: 3,
            last_rows_deleted: 1,
            last_run: Some(1_700_000_000_000_000),
            last_duration: 42_000,
        }
    }

    #[test]
    fn the_table_is_spelled_once() {
        let t = Target {
            catalog: "db".into(),
            schema: "main".into(),
            name: "subs".into(),
            ducklake: false,
        };
        assert_eq!(
            ddl(&t),
            "CREATE TABLE IF NOT EXISTS \"db\".\"lakemig_sync_state\".\"main.subs\" (\
             target VARCHAR NOT NULL, source VARCHAR NOT NULL, server VARCHAR NOT NULL, \
             cursor_column VARCHAR NOT NULL, watermark VARCHAR, watermark_type VARCHAR NOT NULL, \
             primary_key VARCHAR[] NOT NULL, rows_total BIGINT NOT NULL, runs BIGINT NOT NULL, \
             last_mode VARCHAR NOT NULL, last_rows_upserted BIGINT NOT NULL, \
             last_rows_deleted BIGINT NOT NULL, last_run TIMESTAMPTZ NOT NULL, \
             last_duration INTERVAL NOT NULL)"
        );
        let shown: Vec<&str> = COLUMNS
            .iter()
            .filter_map(|c| c.shown)
            .map(|s| s.0)
            .collect();
        assert_eq!(
            shown,
            [
                "target",
                "source",
                "server",
                "cursor",
                "watermark",
                "watermark_type",
                "rows_total",
                "runs",
                "last_mode",
                "last_rows_upserted",
                "last_rows_deleted",
                "last_run",
                "last_duration"
            ]
        );
    }

    #[test]
    fn a_legacy_row_moves_as_it_was() {
        let t = Target {
            catalog: "lake".into(),
            schema: "raw".into(),
            name: "it's".into(),
            ducklake: true,
        };
        let names = COLUMNS
            .iter()
            .map(|c| c.name)
            .collect::<Vec<_>>()
            .join(", ");
        assert_eq!(
            move_legacy_sql(&t, true),
            vec![
                format!(
                    "INSERT INTO \"lake\".\"lakemig_sync_state\".\"raw.it's\" ({names}) \
                     SELECT {names} FROM \"lake\".\"main\".\"lakemig_sync_state\" \
                     WHERE target = '\"raw\".\"it''s\"'"
                ),
                "DELETE FROM \"lake\".\"main\".\"lakemig_sync_state\" WHERE target = '\"raw\".\"it''s\"'"
                    .to_string()
            ]
        );
        assert_eq!(move_legacy_sql(&t, false).len(), 1);
    }

    #[test]
    fn a_row_maps_both_ways() {
        let c = sample();
        let row: Vec<Value> = COLUMNS.iter().map(|col| (col.get)(&c)).collect();
        assert_eq!(from_row(row.clone()).unwrap(), c);
        let mut bad = row;
        bad[7] = Value::Text("ten".into());
        let err = from_row(bad).unwrap_err().to_string();
        assert!(err.contains("column rows_total"), "{err}");
        assert!(from_row(vec![Value::Null]).is_err());
    }
}
