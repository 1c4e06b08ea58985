//! The DuckDB side of a sync, as two small traits.
//!
//! [`Session`] is what the engine asks for, in lakemig's terms: describe a table, count its rows,
//! run a [`Statement`], read and write the checkpoint, insert the rows of a read. [`Database`] is the little that
//! `src/duck/` implements over DuckDB's C API (run SQL, query plain values, insert a read's rows);
//! [`SqlSession`] turns any `Database` into a `Session` with the SQL kept here, in `src/sync/`.
//! Unit tests drive the engine with an in-memory `Session` instead (see `tests.rs`), the way
//! supabase/etl tests its pipeline against a memory state store.

use super::checkpoint::{self, duck, Checkpoint};
use super::source::Rows;
use super::statements::{Statement, Watermark};
use super::target::{TableRef, Target};
use crate::error::Result;
use crate::types::batch::Batch;
use crate::types::DuckType;

/// A plain value going into or coming out of DuckDB.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Text(String),
    TextList(Vec<String>),
}

/// Rows a session keeps in memory for the statements that follow (see [`Session::hold`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// What those statements read them as, where a table's name would go (`FROM <relation>`).
    pub relation: String,
    pub id: u64,
}

/// A DuckDB connection, as `src/duck/` provides it. Errors are DuckDB's message.
pub trait Database {
    /// Rows in DuckDB's own layout, made by [`Database::to_chunk`] on a reader's thread.
    type Chunk: Send + 'static;
    /// Turn a decoded batch (columns of `types`) into a chunk. Runs on the readers' threads.
    fn to_chunk(batch: Batch, types: &[DuckType]) -> Result<Self::Chunk>;
    /// Run SQL (`?` parameters bound from `params`); the number of rows it changed.
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, String>;
    /// Run a query; its rows as plain values.
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, String>;
    /// Insert every row of a read into `table` (whose columns are the read's); how many.
    fn insert(&mut self, table: &TableRef, rows: Rows<Self::Chunk>) -> Result<u64, String>;
    /// Insert every row of a read into `table`'s columns of the same names; how many.
    fn insert_by_name(&mut self, table: &TableRef, rows: Rows<Self::Chunk>) -> Result<u64, String>;
    /// See [`Session::hold`].
    fn hold(&mut self, rows: Rows<Self::Chunk>) -> Result<Held, String>;
    /// See [`Session::release`].
    fn release(&mut self, held: &Held);
}

/// A borrowed database is a database (the connection lives behind a lock).
impl<D: Database> Database for &mut D {
    type Chunk = D::Chunk;
    fn to_chunk(batch: Batch, types: &[DuckType]) -> Result<Self::Chunk> {
        D::to_chunk(batch, types)
    }
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, String> {
        (**self).execute(sql, params)
    }
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, String> {
        (**self).query(sql, params)
    }
    fn insert(&mut self, table: &TableRef, rows: Rows<Self::Chunk>) -> Result<u64, String> {
        (**self).insert(table, rows)
    }
    fn insert_by_name(&mut self, table: &TableRef, rows: Rows<Self::Chunk>) -> Result<u64, String> {
        (**self).insert_by_name(table, rows)
    }
    fn hold(&mut self, rows: Rows<Self::Chunk>) -> Result<Held, String> {
        (**self).hold(rows)
    }
    fn release(&mut self, held: &Held) {
        (**self).release(held)
    }
}

/// What the sync engine needs from the DuckDB database it writes to.
pub trait Session {
    type Chunk: Send + 'static;
    /// See [`Database::to_chunk`].
    fn to_chunk(batch: Batch, types: &[DuckType]) -> Result<Self::Chunk>;
    /// The current catalog and schema.
    fn current(&mut self) -> Result<(String, String)>;
    /// The type of an attached catalog (`duckdb`, `ducklake`, ...), None when not attached.
    fn catalog_type(&mut self, catalog: &str) -> Result<Option<String>>;
    fn schema_exists(&mut self, catalog: &str, schema: &str) -> Result<bool>;
    /// A table's columns, `(name, DuckDB type)` in order; empty when there is no such table.
    fn columns(&mut self, table: &TableRef) -> Result<Vec<(String, String)>>;
    /// The names of the tables in a schema (empty when there is no such schema).
    fn tables(&mut self, catalog: &str, schema: &str) -> Result<Vec<String>>;
    fn count_rows(&mut self, table: &TableRef) -> Result<i64>;
    fn has_primary_key(&mut self, table: &TableRef) -> Result<bool>;
    /// Run a statement; the number of rows it changed.
    fn run(&mut self, statement: &Statement) -> Result<u64>;
    fn watermark(&mut self, watermark: &Watermark) -> Result<Option<String>>;
    fn read_checkpoint(&mut self, target: &Target) -> Result<Option<Checkpoint>>;
    fn write_checkpoint(&mut self, target: &Target, checkpoint: &Checkpoint) -> Result<()>;
    /// Insert every row of a read into `table`, whose columns are the read's; how many. A read that
    /// fails fails the insert.
    fn insert(&mut self, table: &TableRef, rows: Rows<Self::Chunk>) -> Result<u64>;
    /// Insert every row of a read into `table`'s columns of the same names; how many.
    fn insert_by_name(&mut self, table: &TableRef, rows: Rows<Self::Chunk>) -> Result<u64>;
    /// Keep every row of a read in memory, for the statements that follow to read as often as
    /// they do (as [`Held::relation`]) until [`Session::release`]: no table is written first.
    fn hold(&mut self, rows: Rows<Self::Chunk>) -> Result<Held>;
    /// Forget rows held.
    fn release(&mut self, held: &Held);
    /// The table's largest `rowid` (-1 when empty).
    fn last_rowid(&mut self, table: &TableRef) -> Result<i64>;
    /// [`Session::count_rows`] and [`Session::last_rowid`] of one table, in one scan where the
    /// session can.
    fn count_and_last_rowid(&mut self, table: &TableRef) -> Result<(i64, i64)> {
        Ok((self.count_rows(table)?, self.last_rowid(table)?))
    }
    /// Where an attached database lives (its file, or its DuckLake metadata); None when in memory.
    fn database_path(&mut self, _catalog: &str) -> Result<Option<String>> {
        Ok(None)
    }
    /// The rows a DuckDB table stores, deleted ones not yet vacuumed among them (DuckDB's
    /// `estimated_size`); None where that cannot be told.
    fn stored_rows(&mut self, _table: &TableRef) -> Result<Option<i64>> {
        Ok(None)
    }
    /// Whether the next commit into `catalog` would checkpoint first: it is a DuckDB file whose
    /// WAL already holds `checkpoint_threshold` (DuckDB checkpoints at the first commit that finds
    /// it so). False where that cannot be told.
    fn commit_would_checkpoint(&mut self, _catalog: &str) -> Result<bool> {
        Ok(false)
    }
}

/// A size as DuckDB shows one (`16.0 MiB`, `783.7 KiB`, `0 bytes`, `1.5 GB`), in bytes.
pub fn parse_size(text: &str) -> Option<u64> {
    let mut parts = text.split_whitespace();
    let number: f64 = parts.next()?.parse().ok()?;
    let unit = match parts.next()? {
        "bytes" | "byte" => 1u64,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        "PiB" => 1 << 50,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        "PB" => 1_000_000_000_000_000,
        _ => return None,
    };
    (parts.next().is_none() && number >= 0.0).then_some((number * unit as f64) as u64)
}

/// The real session: a [`Database`] and the SQL that answers each question.
pub struct SqlSession<D>(pub D);

fn text(row: &[Value], i: usize) -> Option<String> {
    match row.get(i) {
        Some(Value::Text(s)) => Some(s.clone()),
        _ => None,
    }
}

fn first_int(rows: &[Vec<Value>]) -> i64 {
    int_at(rows, 0)
}

/// The first row's `i`th value, as an integer (0 when there is none).
fn int_at(rows: &[Vec<Value>], i: usize) -> i64 {
    match rows.first().and_then(|r| r.get(i)) {
        Some(Value::Int(n)) => *n,
        _ => 0,
    }
}

impl<D: Database> Session for SqlSession<D> {
    type Chunk = D::Chunk;

    fn to_chunk(batch: Batch, types: &[DuckType]) -> Result<D::Chunk> {
        D::to_chunk(batch, types)
    }

    fn current(&mut self) -> Result<(String, String)> {
        let rows = self
            .0
            .query("SELECT current_database(), current_schema()", &[])
            .map_err(duck("resolving the target"))?;
        let row = rows.first().map(Vec::as_slice).unwrap_or_default();
        Ok((
            text(row, 0).unwrap_or_default(),
            text(row, 1).unwrap_or_default(),
        ))
    }

    fn catalog_type(&mut self, catalog: &str) -> Result<Option<String>> {
        let rows = self
            .0
            .query(
                "SELECT type FROM duckdb_databases() WHERE database_name = ?",
                &[Value::Text(catalog.into())],
            )
            .map_err(duck("resolving the target"))?;
        Ok(rows.first().and_then(|r| text(r, 0)))
    }

    fn schema_exists(&mut self, catalog: &str, schema: &str) -> Result<bool> {
        let rows = self
            .0
            .query(
                "SELECT count(*) FROM duckdb_schemas() WHERE database_name = ? AND schema_name = ?",
                &[Value::Text(catalog.into()), Value::Text(schema.into())],
            )
            .map_err(duck("resolving the target"))?;
        Ok(first_int(&rows) > 0)
    }

    fn columns(&mut self, table: &TableRef) -> Result<Vec<(String, String)>> {
        // Found in duckdb_tables(), then described by DESCRIBE: duckdb_columns() lists every
        // column of every catalog, and its first call in a process took 15-25 ms (measured; each
        // sync is often a process's first), DESCRIBE about 1 ms.
        let found = self
            .0
            .query(
                "SELECT count(*) FROM duckdb_tables() \
                 WHERE database_name = ? AND schema_name = ? AND table_name = ?",
                &[
                    Value::Text(table.catalog.clone()),
                    Value::Text(table.schema.clone()),
                    Value::Text(table.name.clone()),
                ],
            )
            .map_err(duck("reading the target's columns"))?;
        if first_int(&found) == 0 {
            return Ok(Vec::new());
        }
        let describe = format!(
            "SELECT column_name, column_type FROM (DESCRIBE {})",
            table.quoted()
        );
        let rows = self
            .0
            .query(&describe, &[])
            .map_err(duck("reading the target's columns"))?;
        Ok(rows
            .iter()
            .map(|r| {
                (
                    text(r, 0).unwrap_or_default(),
                    text(r, 1).unwrap_or_default(),
                )
            })
            .collect())
    }

    fn tables(&mut self, catalog: &str, schema: &str) -> Result<Vec<String>> {
        let rows = self
            .0
            .query(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND schema_name = ?",
                &[Value::Text(catalog.into()), Value::Text(schema.into())],
            )
            .map_err(duck("listing the checkpoint tables"))?;
        Ok(rows.iter().filter_map(|r| text(r, 0)).collect())
    }

    fn count_rows(&mut self, table: &TableRef) -> Result<i64> {
        let rows = self
            .0
            .query(&format!("SELECT count(*) FROM {}", table.quoted()), &[])
            .map_err(duck("counting the target's rows"))?;
        Ok(first_int(&rows))
    }

    fn has_primary_key(&mut self, table: &TableRef) -> Result<bool> {
        let rows = self
            .0
            .query(
                "SELECT count(*) FROM duckdb_constraints() WHERE database_name = ? AND schema_name = ? \
                 AND table_name = ? AND constraint_type = 'PRIMARY KEY'",
                &[
                    Value::Text(table.catalog.clone()),
                    Value::Text(table.schema.clone()),
                    Value::Text(table.name.clone()),
                ],
            )
            .map_err(duck("reading the target's constraints"))?;
        Ok(first_int(&rows) > 0)
    }

    fn run(&mut self, statement: &Statement) -> Result<u64> {
        let mut changed = 0;
        for sql in statement.sql() {
            changed = match self.0.execute(&sql, &[]) {
                Ok(n) => n,
                // DuckDB before 1.4 sets preserve_insertion_order only for the whole database, and
                // lakemig never changes a user's global setting: there a bootstrap keeps insertion
                // order (inserts on one thread; the same rows). The failed SET leaves the
                // transaction usable.
                Err(e)
                    if matches!(statement, Statement::PreserveInsertionOrder(_))
                        && (e.contains("cannot be set locally")
                            || e.contains("cannot be reset locally")) =>
                {
                    0
                }
                Err(e) => return Err(duck(statement.context())(e)),
            };
        }
        Ok(changed)
    }

    fn watermark(&mut self, w: &Watermark) -> Result<Option<String>> {
        let opt = |v: &Option<String>| v.clone().map_or(Value::Null, Value::Text);
        let rows = self
            .0
            .query(&w.sql(), &[opt(&w.floor), opt(&w.cap)])
            .map_err(duck("computing the new watermark"))?;
        Ok(rows.first().and_then(|r| text(r, 0)))
    }

    fn read_checkpoint(&mut self, target: &Target) -> Result<Option<Checkpoint>> {
        checkpoint::read(&mut self.0, target)
    }

    fn write_checkpoint(&mut self, target: &Target, c: &Checkpoint) -> Result<()> {
        checkpoint::write(&mut self.0, target, c)
    }

    fn database_path(&mut self, catalog: &str) -> Result<Option<String>> {
        let rows = self
            .0
            .query(
                "SELECT path FROM duckdb_databases() WHERE database_name = ?",
                &[Value::Text(catalog.into())],
            )
            .map_err(duck("resolving the target"))?;
        Ok(rows.first().and_then(|r| text(r, 0)))
    }

    fn commit_would_checkpoint(&mut self, catalog: &str) -> Result<bool> {
        let rows = self
            .0
            .query(
                "SELECT path, current_setting('checkpoint_threshold') FROM duckdb_databases() \
                 WHERE database_name = ? AND type = 'duckdb' AND NOT readonly",
                &[Value::Text(catalog.into())],
            )
            .map_err(duck("resolving the target"))?;
        let Some(row) = rows.first() else {
            return Ok(false);
        };
        let (Some(path), Some(threshold)) =
            (text(row, 0), text(row, 1).as_deref().and_then(parse_size))
        else {
            return Ok(false);
        };
        // DuckDB's WAL is the database file's path with `.wal` added.
        let wal = std::fs::metadata(format!("{path}.wal")).map_or(0, |m| m.len());
        Ok(wal > 0 && wal >= threshold)
    }

    fn insert(&mut self, table: &TableRef, rows: Rows<D::Chunk>) -> Result<u64> {
        self.0
            .insert(table, rows)
            .map_err(duck("copying the rows read"))
    }

    fn insert_by_name(&mut self, table: &TableRef, rows: Rows<D::Chunk>) -> Result<u64> {
        self.0
            .insert_by_name(table, rows)
            .map_err(duck("inserting the changed rows into the target"))
    }

    fn hold(&mut self, rows: Rows<D::Chunk>) -> Result<Held> {
        self.0
            .hold(rows)
            .map_err(duck("reading the replication stream's changes"))
    }

    fn release(&mut self, held: &Held) {
        self.0.release(held)
    }

    fn last_rowid(&mut self, table: &TableRef) -> Result<i64> {
        let rows = self
            .0
            .query(
                &format!("SELECT coalesce(max(rowid), -1) FROM {}", table.quoted()),
                &[],
            )
            .map_err(duck("reading the target's last rowid"))?;
        Ok(first_int(&rows))
    }

    fn stored_rows(&mut self, table: &TableRef) -> Result<Option<i64>> {
        let rows = self
            .0
            .query(
                "SELECT estimated_size FROM duckdb_tables() \
                 WHERE database_name = ? AND schema_name = ? AND table_name = ?",
                &[
                    Value::Text(table.catalog.clone()),
                    Value::Text(table.schema.clone()),
                    Value::Text(table.name.clone()),
                ],
            )
            .map_err(duck("reading the target's size"))?;
        Ok(rows.first().and_then(|r| match r.first() {
            Some(Value::Int(n)) => Some(*n),
            _ => None,
        }))
    }

    fn count_and_last_rowid(&mut self, table: &TableRef) -> Result<(i64, i64)> {
        let rows = self
            .0
            .query(
                &format!(
                    "SELECT count(*), coalesce(max(rowid), -1) FROM {}",
                    table.quoted()
                ),
                &[],
            )
            .map_err(duck("counting the target's rows"))?;
        Ok((int_at(&rows, 0), int_at(&rows, 1)))
    }
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_read_as_duckdb_shows_them() {
        assert_eq!(parse_size("16.0 MiB"), Some(16 << 20));
        assert_eq!(parse_size("783.7 KiB"), Some(802_508));
        assert_eq!(parse_size("0 bytes"), Some(0));
        assert_eq!(parse_size("1.5 GB"), Some(1_500_000_000));
        assert_eq!(parse_size("2.0 GiB"), Some(2 << 30));
        for bad in ["", "16", "16.0 MB extra", "-1 MiB", "many MiB", "16.0 mib"] {
            assert_eq!(parse_size(bad), None, "{bad:?}");
        }
    }
}
