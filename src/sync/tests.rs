//! The engine driven by an in-memory session and source: tables, rows and checkpoints kept in
//! maps, statements recorded, transactions undone on rollback. They check the engine's decisions
//! (mode, refusals, statements, watermark, checkpoint), not DuckDB's behaviour, which the pytest
//! suite checks against the real thing.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use tokio::sync::mpsc;

use super::checkpoint::Checkpoint;
use super::engine::PREPARE_ATTEMPTS;
use super::engine::{run, Outcome, Request};
use super::session::{Held, Session, Value};
use super::source::{Read, Rows, Source, SourceView};
use super::statements::{Statement, Watermark, COMMIT_RETRIES};
use super::target::{TableRef, Target, BACKFILL_TABLE, KEYS_TABLE, STAGE_TABLE, STATE_SCHEMA};
use crate::error::{Error, Result};
use crate::postgres::catalog::QualifiedName;
use crate::types::batch::{Batch, Column, ColumnData};
use crate::types::DuckType;

/// A table in memory: columns `(name, DuckDB type)` and rows of plain values.
#[derive(Debug, Clone, Default, PartialEq)]
struct Table {
    columns: Vec<(String, String)>,
    rows: Vec<Vec<Value>>,
    primary_key: bool,
}

impl Table {
    fn col(&self, name: &str) -> Option<usize> {
        self.columns
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    fn key_of(&self, row: &[Value], key: &[String]) -> Vec<Value> {
        key.iter()
            .map(|k| self.col(k).map_or(Value::Null, |i| row[i].clone()))
            .collect()
    }
}

/// What a transaction can undo.
#[derive(Debug, Clone, Default, PartialEq)]
struct State {
    tables: BTreeMap<(String, String, String), Table>,
    /// Each target's checkpoint table (catalog, lower-cased name), made by `CreateCheckpointTable`.
    checkpoint_tables: BTreeSet<(String, String)>,
    /// The row in each of those tables.
    checkpoints: BTreeMap<(String, String), Checkpoint>,
    /// Schemas made by `CreateSchema` (`main` is always there).
    schemas: BTreeSet<(String, String)>,
    /// An earlier release's shared checkpoint table, per catalog (present: the table exists), its
    /// rows by target key.
    legacy: BTreeMap<String, BTreeMap<String, Checkpoint>>,
}

/// Where a target's checkpoint lives in the fake: its catalog and its table's name (DuckDB matches
/// names case-insensitively).
fn home(target: &Target) -> (String, String) {
    (
        target.catalog.clone(),
        target.state_table().name.to_lowercase(),
    )
}

fn is_legacy(t: &TableRef) -> bool {
    t.schema == "main" && t.name == super::target::LEGACY_STATE_TABLE
}

fn key(t: &TableRef) -> (String, String, String) {
    (t.catalog.clone(), t.schema.clone(), t.name.clone())
}

#[derive(Debug, Default)]
struct FakeSession {
    /// Attached catalogs and their types.
    catalogs: BTreeMap<String, String>,
    state: State,
    saved: Option<State>,
    /// Every statement run, in order.
    log: Vec<Statement>,
    watermarks: Vec<Watermark>,
    /// What each coming COMMIT does: fail with this DuckDB message (the transaction is undone, as
    /// DuckDB does), or succeed (None, and once the queue is empty).
    commits: VecDeque<Option<String>>,
    /// What `commit_would_checkpoint` answers.
    wal_due: bool,
    /// When `commit_would_checkpoint` is asked, another call's commit moves every checkpoint on.
    other_call_commits: bool,
    /// What `stored_rows` answers.
    stored: Option<i64>,
}

impl FakeSession {
    fn new() -> Self {
        let mut s = FakeSession::default();
        s.catalogs.insert("db".into(), "duckdb".into());
        s.catalogs.insert("lake".into(), "ducklake".into());
        s
    }

    fn table(&self, name: &str) -> Option<&Table> {
        self.state
            .tables
            .get(&("db".into(), "main".into(), name.into()))
    }

    fn table_mut(&mut self, t: &TableRef) -> Result<&mut Table> {
        self.state
            .tables
            .get_mut(&key(t))
            .ok_or_else(|| Error::argument(format!("fake: no table {}", t.quoted())))
    }

    fn checkpoint(&self) -> Option<&Checkpoint> {
        self.state.checkpoints.values().next()
    }

    /// The statements of each transaction, in order (BEGIN .. COMMIT/ROLLBACK, ends included).
    /// The transactions run, but those that ran no statement and committed (a call's reads,
    /// `vacuum::Reads`).
    fn transactions(&self) -> Vec<Vec<Statement>> {
        let mut out = Vec::new();
        let mut cur: Option<Vec<Statement>> = None;
        for st in &self.log {
            match st {
                Statement::Begin => cur = Some(vec![st.clone()]),
                Statement::Commit | Statement::Rollback => {
                    if let Some(mut t) = cur.take() {
                        t.push(st.clone());
                        if t != [Statement::Begin, Statement::Commit] {
                            out.push(t);
                        }
                    }
                }
                _ => {
                    if let Some(t) = cur.as_mut() {
                        t.push(st.clone())
                    }
                }
            }
        }
        out
    }

    fn ran(&self, pred: impl Fn(&Statement) -> bool) -> bool {
        self.log.iter().any(pred)
    }
}

fn temp(name: &str) -> TableRef {
    TableRef::temp(name)
}

impl Session for FakeSession {
    type Chunk = Batch;

    fn to_chunk(batch: Batch, types: &[DuckType]) -> Result<Batch> {
        assert_eq!(batch.columns.len(), types.len());
        Ok(batch)
    }

    fn current(&mut self) -> Result<(String, String)> {
        Ok(("db".into(), "main".into()))
    }

    fn catalog_type(&mut self, catalog: &str) -> Result<Option<String>> {
        Ok(self.catalogs.get(catalog).cloned())
    }

    fn schema_exists(&mut self, catalog: &str, schema: &str) -> Result<bool> {
        Ok(schema == "main"
            || (self.state.schemas).contains(&(catalog.to_string(), schema.to_string()))
            || self
                .state
                .tables
                .keys()
                .any(|(c, s, _)| c == catalog && s == schema))
    }

    fn tables(&mut self, catalog: &str, schema: &str) -> Result<Vec<String>> {
        if schema == STATE_SCHEMA {
            return Ok((self.state.checkpoint_tables)
                .iter()
                .filter(|(c, _)| c == catalog)
                .map(|(_, n)| n.clone())
                .collect());
        }
        Ok((self.state.tables)
            .keys()
            .filter(|(c, s, _)| c == catalog && s == schema)
            .map(|(_, _, n)| n.clone())
            .collect())
    }

    fn columns(&mut self, table: &TableRef) -> Result<Vec<(String, String)>> {
        if table.schema == STATE_SCHEMA {
            let made = (self.state.checkpoint_tables)
                .contains(&(table.catalog.clone(), table.name.to_lowercase()));
            return Ok(match made {
                true => vec![("target".into(), "VARCHAR".into())],
                false => Vec::new(),
            });
        }
        if is_legacy(table) {
            return Ok(match self.state.legacy.contains_key(&table.catalog) {
                true => vec![("target".into(), "VARCHAR".into())],
                false => Vec::new(),
            });
        }
        Ok(self
            .state
            .tables
            .get(&key(table))
            .map(|t| t.columns.clone())
            .unwrap_or_default())
    }

    fn count_rows(&mut self, table: &TableRef) -> Result<i64> {
        if is_legacy(table) {
            return match self.state.legacy.get(&table.catalog) {
                Some(rows) => Ok(rows.len() as i64),
                None => Err(Error::argument("fake: no legacy table")),
            };
        }
        Ok(self.table_mut(table)?.rows.len() as i64)
    }

    fn has_primary_key(&mut self, table: &TableRef) -> Result<bool> {
        Ok(self.table_mut(table)?.primary_key)
    }

    fn run(&mut self, st: &Statement) -> Result<u64> {
        self.log.push(st.clone());
        let mut changed = 0;
        match st {
            Statement::Begin => {
                assert!(self.saved.is_none(), "BEGIN inside a transaction");
                self.saved = Some(self.state.clone())
            }
            Statement::Commit => {
                let saved = self.saved.take().expect("COMMIT outside a transaction");
                // A transaction that ran no statement (a call's reads, `vacuum::Reads`) wrote
                // nothing that could conflict: the scripted outcomes are the writing ones'.
                let wrote = !matches!(self.log.iter().rev().nth(1), Some(Statement::Begin));
                let outcome = if wrote {
                    self.commits.pop_front()
                } else {
                    None
                };
                if let Some(Some(message)) = outcome {
                    self.state = saved;
                    return Err(Error::Server {
                        context: "committing".into(),
                        message,
                    });
                }
            }
            Statement::Rollback => {
                if let Some(s) = self.saved.take() {
                    self.state = s;
                }
            }
            Statement::CreateTable { table, columns } => {
                if table.catalog != "temp" && self.state.tables.contains_key(&key(table)) {
                    return Err(Error::argument("fake: table exists"));
                }
                let columns = columns
                    .iter()
                    .map(|(n, t)| (n.clone(), t.to_string()))
                    .collect();
                self.state.tables.insert(
                    key(table),
                    Table {
                        columns,
                        ..Table::default()
                    },
                );
            }
            Statement::InsertByName { into, from } => {
                let from = self.table_mut(from)?.clone();
                let into = self.table_mut(into)?;
                for row in &from.rows {
                    let new = (into.columns.clone().iter())
                        .map(|(n, _)| from.col(n).map_or(Value::Null, |i| row[i].clone()))
                        .collect();
                    into.rows.push(new);
                }
            }
            Statement::AddColumn { table, name, ty } => {
                let t = self.table_mut(table)?;
                t.columns.push((name.clone(), ty.clone()));
                t.rows.iter_mut().for_each(|r| r.push(Value::Null));
            }
            Statement::AddPrimaryKey { table, .. } => self.table_mut(table)?.primary_key = true,
            Statement::Backfill {
                target,
                key: k,
                columns,
            } => {
                let b = self.table_mut(&temp(BACKFILL_TABLE))?.clone();
                let t = self.table_mut(&target.table())?;
                let t2 = t.clone();
                for row in t.rows.iter_mut() {
                    let want = t2.key_of(row, k);
                    if let Some(src) = b.rows.iter().find(|r| b.key_of(r, k) == want) {
                        for c in columns {
                            row[t2.col(c).unwrap()] = src[b.col(c).unwrap()].clone();
                        }
                    }
                }
            }
            Statement::Upsert {
                target,
                key: k,
                target_columns,
                ..
            } => {
                let stage = self.table_mut(&temp(STAGE_TABLE))?.clone();
                let t = self.table_mut(&target.table())?;
                assert_eq!(
                    target_columns,
                    &t.columns.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>()
                );
                for row in &stage.rows {
                    let want = stage.key_of(row, k);
                    let t2 = t.clone();
                    t.rows.retain(|r| t2.key_of(r, k) != want);
                    let new = (t2.columns.iter())
                        .map(|(n, _)| stage.col(n).map_or(Value::Null, |i| row[i].clone()))
                        .collect();
                    t.rows.push(new);
                    changed += 1;
                }
            }
            Statement::DeleteMissing { target, key: k } => {
                let keys = self.table_mut(&temp(KEYS_TABLE))?.clone();
                let t = self.table_mut(&target.table())?;
                let t2 = t.clone();
                let before = t.rows.len();
                t.rows.retain(|r| {
                    keys.rows
                        .iter()
                        .any(|kr| keys.key_of(kr, k) == t2.key_of(r, k))
                });
                changed = (before - t.rows.len()) as u64;
            }
            Statement::DeleteAll(t) => {
                let t = self.table_mut(t)?;
                changed = t.rows.len() as u64;
                t.rows.clear();
            }
            Statement::DropTable(t) if is_legacy(t) => {
                self.state.legacy.remove(&t.catalog);
            }
            Statement::DropTable(t) => {
                self.state.tables.remove(&key(t));
            }
            Statement::CreateCheckpointTable(target) => {
                self.state.checkpoint_tables.insert(home(target));
            }
            Statement::MoveLegacyCheckpoint { target, copy } => {
                let rows = self
                    .state
                    .legacy
                    .get_mut(&target.catalog)
                    .ok_or_else(|| Error::argument("fake: no legacy table"))?;
                if let Some(c) = rows.remove(&target.state_key()) {
                    changed = 1;
                    if *copy {
                        self.state.checkpoints.insert(home(target), c);
                    }
                }
            }
            Statement::CreateSchema { catalog, schema } => {
                (self.state.schemas).insert((catalog.clone(), schema.clone()));
            }
            Statement::CdcApply(_) => {
                return Err(Error::argument(
                    "fake: CDC statements are SQL, not modelled",
                ))
            }
            Statement::PreserveInsertionOrder(_)
            | Statement::CommitRetries(_)
            | Statement::Checkpoint(_)
            | Statement::CopyToParquet { .. } => {}
        }
        Ok(changed)
    }

    fn watermark(&mut self, w: &Watermark) -> Result<Option<String>> {
        self.watermarks.push(w.clone());
        let t = self.table_mut(&w.rows)?;
        let c = t.col(&w.cursor).unwrap();
        let max = t
            .rows
            .iter()
            .filter_map(|r| match r[c] {
                Value::Int(i) => Some(i),
                _ => None,
            })
            .max();
        let num = |v: &Option<String>| v.as_ref().map(|s| s.parse::<i64>().unwrap());
        let (floor, cap) = (num(&w.floor), num(&w.cap));
        let out = match max {
            None => floor,
            Some(m) => {
                let capped = cap.map_or(m, |c| m.min(c));
                Some(floor.map_or(capped, |f| f.max(capped)))
            }
        };
        Ok(out.map(|v| v.to_string()))
    }

    fn read_checkpoint(&mut self, target: &Target) -> Result<Option<Checkpoint>> {
        if !self.state.checkpoint_tables.contains(&home(target)) {
            return Err(Error::argument("fake: no checkpoint table"));
        }
        Ok(self.state.checkpoints.get(&home(target)).cloned())
    }

    fn write_checkpoint(&mut self, target: &Target, c: &Checkpoint) -> Result<()> {
        if !self.state.checkpoint_tables.contains(&home(target)) {
            return Err(Error::argument("fake: no checkpoint table"));
        }
        let mut c = c.clone();
        c.last_run = Some(1);
        self.state.checkpoints.insert(home(target), c);
        Ok(())
    }

    fn commit_would_checkpoint(&mut self, catalog: &str) -> Result<bool> {
        assert_eq!(
            self.catalogs.get(catalog).map(String::as_str),
            Some("duckdb")
        );
        if self.other_call_commits {
            // Its own transaction's: this session's rollback does not undo it.
            let saved = self.saved.iter_mut().map(|s| &mut s.checkpoints);
            for c in std::iter::once(&mut self.state.checkpoints)
                .chain(saved)
                .flat_map(|c| c.values_mut())
            {
                c.watermark = Some("0/FFFF".into());
            }
        }
        Ok(self.wal_due)
    }

    fn insert_by_name(&mut self, to: &TableRef, rows: Rows<Batch>) -> Result<u64> {
        self.insert(to, rows)
    }

    fn hold(&mut self, rows: Rows<Batch>) -> Result<Held> {
        // Read like a session would; the statements that read them are not modelled.
        for batch in rows {
            batch?;
        }
        Ok(Held {
            relation: "held".into(),
            id: 0,
        })
    }

    fn release(&mut self, _held: &Held) {}

    fn stored_rows(&mut self, _table: &TableRef) -> Result<Option<i64>> {
        Ok(self.stored)
    }

    fn last_rowid(&mut self, to: &TableRef) -> Result<i64> {
        Ok(self.table_mut(to)?.rows.len() as i64 - 1)
    }

    fn insert(&mut self, to: &TableRef, rows: Rows<Batch>) -> Result<u64> {
        let mut n = 0;
        for batch in rows {
            let batch = batch?;
            let t = self.table_mut(to)?;
            assert_eq!(batch.columns.len(), t.columns.len(), "inserted chunk shape");
            for i in 0..batch.len {
                let row = batch
                    .columns
                    .iter()
                    .map(|c| match (&c.data, c.validity[i]) {
                        (_, false) => Value::Null,
                        (ColumnData::I64(v), true) => Value::Int(v[i]),
                        (ColumnData::Bytes { bytes, offsets }, true) => Value::Text(
                            String::from_utf8(bytes[offsets[i]..offsets[i + 1]].to_vec()).unwrap(),
                        ),
                        (other, _) => panic!("fake: unexpected column {other:?}"),
                    })
                    .collect();
                t.rows.push(row);
            }
            n += batch.len as u64;
        }
        Ok(n)
    }
}

/// A source table in memory (BIGINT and VARCHAR columns), read in batches of two rows.
struct FakeSource {
    columns: Vec<(String, DuckType)>,
    rows: Vec<Vec<Value>>,
    primary_key: Vec<String>,
    bound: Option<String>,
    cursor: String,
    reads: Vec<Read>,
    /// Fail the next read after its first batch.
    fail_read: bool,
    snapped: bool,
    finished: bool,
}

impl FakeSource {
    /// `analytics.subs (id BIGINT PRIMARY KEY, name VARCHAR, v BIGINT)`, rows v = 1..=n.
    fn new(n: i64) -> Self {
        FakeSource {
            columns: vec![
                ("id".into(), DuckType::BigInt),
                ("name".into(), DuckType::Varchar),
                ("v".into(), DuckType::BigInt),
            ],
            rows: (1..=n)
                .map(|i| vec![Value::Int(i), Value::Text(format!("n{i}")), Value::Int(i)])
                .collect(),
            primary_key: vec!["id".into()],
            bound: None,
            cursor: String::new(),
            reads: Vec::new(),
            fail_read: false,
            snapped: false,
            finished: false,
        }
    }

    fn col(&self, name: &str) -> usize {
        self.columns.iter().position(|(n, _)| n == name).unwrap()
    }

    /// Change row `id`: set column `name` and move its cursor to `v`.
    fn update(&mut self, id: i64, name: &str, value: Value, v: i64) {
        let (c, vc) = (self.col(name), self.col("v"));
        let row = self
            .rows
            .iter_mut()
            .find(|r| r[0] == Value::Int(id))
            .unwrap();
        row[c] = value;
        row[vc] = Value::Int(v);
    }

    fn insert(&mut self, id: i64, v: i64) {
        let mut row = vec![Value::Null; self.columns.len()];
        row[0] = Value::Int(id);
        row[self.col("name")] = Value::Text(format!("n{id}"));
        row[self.col("v")] = Value::Int(v);
        self.rows.push(row);
    }

    fn add_column(&mut self, name: &str, ty: DuckType, fill: impl Fn(i64) -> Value) {
        self.columns.push((name.into(), ty));
        for row in self.rows.iter_mut() {
            let Value::Int(id) = row[0] else { panic!() };
            row.push(fill(id));
        }
    }

    fn drop_column(&mut self, name: &str) {
        let c = self.col(name);
        self.columns.remove(c);
        self.rows.iter_mut().for_each(|r| {
            r.remove(c);
        });
    }
}

fn batch(rows: &[Vec<Value>], types: &[DuckType]) -> Batch {
    let columns = types
        .iter()
        .enumerate()
        .map(|(c, ty)| {
            let validity = rows.iter().map(|r| r[c] != Value::Null).collect();
            let data = match ty {
                DuckType::BigInt => ColumnData::I64(
                    rows.iter()
                        .map(|r| match r[c] {
                            Value::Int(i) => i,
                            _ => 0,
                        })
                        .collect(),
                ),
                _ => {
                    let (mut bytes, mut offsets) = (Vec::new(), vec![0]);
                    for r in rows {
                        if let Value::Text(s) = &r[c] {
                            bytes.extend_from_slice(s.as_bytes());
                        }
                        offsets.push(bytes.len());
                    }
                    ColumnData::Bytes { bytes, offsets }
                }
            };
            Column { validity, data }
        })
        .collect();
    Batch {
        len: rows.len(),
        columns,
    }
}

impl Source for FakeSource {
    fn snapshot(&mut self, table: &QualifiedName, cursor: &str, _: Duration) -> Result<SourceView> {
        assert_eq!(table.schema.as_deref(), Some("analytics"));
        self.cursor = cursor.into();
        self.snapped = true;
        Ok(SourceView {
            name: format!("analytics.{}", table.name),
            quoted: format!("\"analytics\".\"{}\"", table.name),
            columns: self.columns.iter().map(|(n, _)| n.clone()).collect(),
            primary_key: self.primary_key.clone(),
            bound: self.bound.clone(),
            bound_reason: "sync start".into(),
            server: "pg:5432/app as user \"u\"".into(),
        })
    }

    fn read<T: Send + 'static>(
        &mut self,
        read: &Read,
        make: fn(Batch, &[DuckType]) -> Result<T>,
    ) -> Result<Rows<T>> {
        self.reads.push(read.clone());
        let picked: Vec<usize> = match &read.columns {
            None => (0..self.columns.len()).collect(),
            Some(names) => names.iter().map(|n| self.col(n)).collect(),
        };
        let cursor = self.col(&self.cursor);
        let since = read.since.as_ref().map(|s| s.parse::<i64>().unwrap());
        let rows: Vec<Vec<Value>> = (self.rows.iter())
            .filter(|r| match (since, &r[cursor]) {
                (Some(s), Value::Int(v)) => *v > s,
                (Some(_), _) => false,
                (None, _) => true,
            })
            .map(|r| picked.iter().map(|&c| r[c].clone()).collect())
            .collect();
        let columns: Vec<(String, DuckType)> =
            picked.iter().map(|&c| self.columns[c].clone()).collect();
        let types: Vec<DuckType> = columns.iter().map(|(_, t)| t.clone()).collect();
        let (tx, rx) = mpsc::channel(rows.len() + 2);
        for (i, part) in rows.chunks(2).enumerate() {
            if self.fail_read && i == 1 {
                let _ = tx.try_send(Err(Error::argument("connection lost")));
                break;
            }
            let _ = tx.try_send(make(batch(part, &types), &types));
        }
        self.fail_read = false;
        Ok(Rows { columns, rx })
    }

    fn finish(&mut self) -> Result<()> {
        self.finished = true;
        Ok(())
    }
}

fn request() -> Request {
    Request {
        source: QualifiedName {
            schema: Some("analytics".into()),
            name: "subs".into(),
        },
        target: None,
        primary_key: None,
        cursor: "v".into(),
        hard_deletes: false,
        enforce_key: false,
        parquet_dir: None,
        blind_window: Duration::from_secs(900),
    }
}

fn sync(session: &mut FakeSession, source: &mut FakeSource, req: &Request) -> Result<Outcome> {
    session.log.clear();
    session.watermarks.clear();
    source.reads.clear();
    let out = run(req, session, source);
    assert_eq!(
        source.finished, source.snapped,
        "a snapshot taken is always ended"
    );
    (source.finished, source.snapped) = (false, false);
    // Nothing is left of the work tables, and no transaction stays open.
    for t in [STAGE_TABLE, KEYS_TABLE, BACKFILL_TABLE] {
        assert!(!session.state.tables.contains_key(&key(&temp(t))));
    }
    assert!(session.saved.is_none());
    out
}

fn ids(t: &Table) -> Vec<Vec<Value>> {
    let mut rows = t.rows.clone();
    rows.sort_by_key(|r| match r[0] {
        Value::Int(i) => i,
        _ => 0,
    });
    rows
}

#[test]
fn a_watermark_target_storing_twice_its_rows_is_vacuumed_before_the_writes() {
    use super::vacuum::COUNTED_FROM;
    let (mut s, mut src) = (FakeSession::new(), FakeSource::new(5));
    sync(&mut s, &mut src, &request()).unwrap();
    // The reads before the writes ran in a transaction, committed: no vacuum due (the fake stores
    // nothing), so no checkpoint.
    assert_eq!(
        s.log[..2],
        [Statement::Begin, Statement::Commit],
        "{:?}",
        s.log
    );
    assert!(!s.ran(|x| matches!(x, Statement::Checkpoint(_))));
    // A target storing fewer rows than two row groups is not counted, whatever it holds.
    s.stored = Some(COUNTED_FROM - 1);
    sync(&mut s, &mut src, &request()).unwrap();
    assert!(!s.ran(|x| matches!(x, Statement::Checkpoint(_))));
    // More than twice the 5 rows it holds: the reads are rolled back, then a full checkpoint,
    // before anything is written.
    s.stored = Some(COUNTED_FROM);
    let o = sync(&mut s, &mut src, &request()).unwrap();
    assert_eq!(o.mode, "incremental");
    assert_eq!(
        s.log[..3],
        [
            Statement::Begin,
            Statement::Rollback,
            Statement::Checkpoint("db".into())
        ],
        "{:?}",
        s.log
    );
}

#[test]
fn bootstrap_copies_every_row_and_writes_the_checkpoint() {
    let (mut s, mut src) = (FakeSession::new(), FakeSource::new(5));
    let o = sync(&mut s, &mut src, &request()).unwrap();
    assert_eq!(
        (o.mode, o.rows_upserted, o.rows_deleted),
        ("bootstrap", 5, 0)
    );
    assert_eq!(o.target, "db.main.subs");
    assert_eq!(
        (o.watermark_before, o.watermark_after),
        (None, Some("5".into()))
    );
    assert_eq!(src.reads, vec![Read::default()]);
    // The target is created from the read's own columns, then filled: five rows in three chunks.
    let t = s.table("subs").unwrap();
    assert_eq!(t.columns[1], ("name".into(), "VARCHAR".into()));
    assert_eq!(ids(t), src.rows);
    // (The last BEGIN and COMMIT: the sync's transaction, after the preparing one.)
    let pos = |want: &Statement| s.log.iter().rposition(|x| x == want).unwrap();
    let create = Statement::CreateTable {
        table: TableRef {
            catalog: "db".into(),
            schema: "main".into(),
            name: "subs".into(),
        },
        columns: src.columns.clone(),
    };
    assert!(pos(&Statement::Begin) < pos(&Statement::PreserveInsertionOrder(false)));
    assert!(pos(&Statement::PreserveInsertionOrder(false)) < pos(&create));
    assert!(pos(&create) < pos(&Statement::PreserveInsertionOrder(true)));
    assert!(pos(&Statement::PreserveInsertionOrder(true)) < pos(&Statement::Commit));
    assert!(!s.ran(|x| matches!(x, Statement::AddPrimaryKey { .. })));
    // The watermark is the largest cursor in the target, with no floor.
    assert_eq!(s.watermarks[0].rows.name, "subs");
    assert_eq!(s.watermarks[0].floor, None);
    let c = s.checkpoint().unwrap();
    assert_eq!(
        (c.source.as_str(), c.cursor.as_str(), c.watermark.as_deref()),
        ("analytics.subs", "v", Some("5"))
    );
    assert_eq!(
        (c.rows_total, c.runs, c.last_mode.as_str()),
        (5, 1, "bootstrap")
    );
    assert_eq!(
        (c.primary_key.clone(), c.watermark_type.as_str()),
        (vec!["id".to_string()], "BIGINT")
    );
    assert_eq!(c.target, "\"main\".\"subs\"");
    assert_eq!(c.server, "pg:5432/app as user \"u\"");
}

#[test]
fn incremental_reads_since_the_watermark_and_upserts_by_key() {
    let (mut s, mut src) = (FakeSession::new(), FakeSource::new(5));
    sync(&mut s, &mut src, &request()).unwrap();
    src.update(2, "name", Value::Text("changed".into()), 6);
    src.insert(6, 7);
    let o = sync(&mut s, &mut src, &request()).unwrap();
    assert_eq!((o.mode, o.rows_upserted), ("incremental", 2));
    assert_eq!(
        (o.watermark_before.as_deref(), o.watermark_after.as_deref()),
        (Some("5"), Some("7"))
    );
    assert_eq!(
        src.reads,
        vec![Read {
            columns: None,
            since: Some("5".into())
        }]
    );
    assert_eq!(ids(s.table("subs").unwrap()), src.rows);
    assert!(s.ran(|x| matches!(
        x,
        Statement::Upsert {
            has_primary_key: false,
            ..
        }
    )));
    // The watermark comes from the staged rows, never below the last one.
    assert_eq!(s.watermarks[0].rows, temp(STAGE_TABLE));
    assert_eq!(s.watermarks[0].floor.as_deref(), Some("5"));
    let c = s.checkpoint().unwrap();
    assert_eq!((c.rows_total, c.runs, c.last_rows_upserted), (7, 2, 2));
    assert_eq!(c.last_mode, "incremental");
}

#[test]
fn nothing_changed_keeps_the_watermark() {
    let (mut s, mut src) = (FakeSession::new(), FakeSource::new(5));
    sync(&mut s, &mut src, &request()).unwrap();
    let before = s.table("subs").cloned();
    let o = sync(&mut s, &mut src, &request()).unwrap();
    assert_eq!(
        (o.mode, o.rows_upserted, o.rows_deleted),
        ("incremental", 0, 0)
    );
    assert_eq!(o.watermark_after, o.watermark_before);
    assert!(!s.ran(|x| matches!(x, Statement::Upsert { .. })));
    assert_eq!(s.table("subs").cloned(), before);
    assert_eq!(s.checkpoint().unwrap().runs, 2);
}

#[test]
fn watermark_stops_at_the_bound_and_never_goes_back() {
    let (mut s, mut src) = (FakeSession::new(), FakeSource::new(5));
    // An open transaction in PostgreSQL: the watermark stays below it, so its rows are read later.
    src.bound = Some("3".into());
    let o = sync(&mut s, &mut src, &request()).unwrap();
    assert_eq!(o.watermark_after.as_deref(), Some("3"));
    assert_eq!(s.watermarks[0].cap.as_deref(), Some("3"));
    // The next sync re-reads what lies above it; upserting the same rows again changes nothing.
    src.bound = None;
    let o = sync(&mut s, &mut src, &request()).unwrap();
    assert_eq!(src.reads[0].since.as_deref(), Some("3"));
    assert_eq!(
        (o.rows_upserted, o.watermark_after.as_deref()),
        (2, Some("5"))
    );
    assert_eq!(ids(s.table("subs").unwrap()), src.rows);
    // A bound below the last watermark does not move it back.
    src.insert(6, 9);
    src.bound = Some("4".into());
    let o = sync(&mut s, &mut src, &request()).unwrap();
    assert_eq!(
        (o.rows_upserted, o.watermark_after.as_deref()),
        (1, Some("5"))
    );
}

#[test]
fn an_added_column_is_added_and_filled_for_every_row() {
    let (mut s, mut src) = (FakeSession::new(), FakeSource::new(5));
    sync(&mut s, &mut src, &request()).unwrap();
    src.add_column("region", DuckType::Varchar, |id| {
        Value::Text(format!("r{id}"))
    });
    src.update(3, "name", Value::Text("x".into()), 6);
    let o = sync(&mut s, &mut src, &request()).unwrap();
    assert_eq!(
        (o.rows_upserted, o.columns_added.clone()),
        (1, vec!["region".to_string()])
    );
    assert!(s.ran(|x| matches!(x, Statement::AddColumn { name, ty, .. } if name == "region" && ty == "VARCHAR")));
    // The added column's values for rows that did not change come from a read by key.
    assert_eq!(
        src.reads[1],
        Read {
            columns: Some(vec!["id".into(), "region".into()]),
            since: None
        }
    );
    assert_eq!(ids(s.table("subs").unwrap()), src.rows);
}

#[test]
fn a_dropped_column_stays_and_is_null_for_changed_rows() {
    let (mut s, mut src) = (FakeSession::new(), FakeSource::new(5));
    sync(&mut s, &mut src, &request()).unwrap();
    src.drop_column("name");
    src.update(4, "id", Value::Int(4), 6);
    let o = sync(&mut s, &mut src, &request()).unwrap();
    assert_eq!((o.rows_upserted, o.columns_added.len()), (1, 0));
    let t = ids(s.table("subs").unwrap());
    assert_eq!(t[3], vec![Value::Int(4), Value::Null, Value::Int(6)]);
    assert_eq!(t[0][1], Value::Text("n1".into()));
}

#[test]
fn a_column_that_changed_type_is_refused_and_nothing_changes() {
    let (mut s, mut src) = (FakeSession::new(), FakeSource::new(5));
    sync(&mut s, &mut src, &request()).unwrap();
    let before = s.state.clone();
    src.drop_column("name");
    src.add_column("name", DuckType::BigInt, Value::Int);
    src.update(1, "name", Value::Int(10), 6);
    let err = sync(&mut s, &mut src, &request()).unwrap_err().to_string();
    assert!(
        err.contains("column \"name\" changed type in PostgreSQL")
            && err.contains("has VARCHAR, the source now gives BIGINT"),
        "{err}"
    );
    assert!(s.ran(|x| x == &Statement::Rollback));
    assert_eq!(s.state, before);
}

#[test]
fn refusals_change_nothing() {
    // A table that is not pg_sync's.
    let (mut s, mut src) = (FakeSession::new(), FakeSource::new(3));
    let mine = TableRef {
        catalog: "db".into(),
        schema: "main".into(),
        name: "subs".into(),
    };
    s.state.tables.insert(
        key(&mine),
        Table {
            columns: vec![("x".into(), "INTEGER".into())],
            rows: vec![vec![Value::Int(1)], vec![Value::Int(2)]],
            primary_key: false,
        },
    );
    let before = s.state.clone();
    let err = sync(&mut s, &mut src, &request()).unwrap_err().to_string();
    assert!(err.contains("target \"db\".\"main\".\"subs\" already exists and holds 2 rows, but has no pg_sync checkpoint"), "{err}");
    assert_eq!(s.state, before);
    assert!(src.reads.is_empty(), "nothing was read");

    // A target kept in step with another table, or synced with another cursor.
    let (mut s, mut src) = (FakeSession::new(), FakeSource::new(3));
    sync(&mut s, &mut src, &request()).unwrap();
    let before = s.state.clone();
    let mut other = s.checkpoint().unwrap().clone();
    other.source = "public.other".into();
    s.state
        .checkpoints
        .values_mut()
        .for_each(|c| *c = other.clone());
    let err = sync(&mut s, &mut src, &request()).unwrap_err().to_string();
    assert!(
        err.contains(
            "is kept in step with public.other (its checkpoint says so), not analytics.subs"
        ),
        "{err}"
    );
    s.state = before.clone();
    let mut req = request();
    req.cursor = "id".into();
    let err = sync(&mut s, &mut src, &req).unwrap_err().to_string();
    assert!(
        err.contains("was synced with cursor \"v\", not \"id\"; pass cursor := 'v'"),
        "{err}"
    );
    assert_eq!(s.state, before);

    // No key, an unknown key column, a catalog that is not attached.
    src.primary_key.clear();
    let err = sync(&mut s, &mut src, &request()).unwrap_err().to_string();
    assert!(
        err.contains("table \"analytics\".\"subs\" has no primary key"),
        "{err}"
    );
    let mut req = request();
    req.primary_key = Some(vec!["nope".into()]);
    let err = sync(&mut s, &mut src, &req).unwrap_err().to_string();
    assert!(err.contains("column \"nope\" does not exist in table \"analytics\".\"subs\" (its columns are: id, name, v)"), "{err}");
    let mut req = request();
    req.target = Some("nolake.main.subs".into());
    let err = sync(&mut s, &mut src, &req).unwrap_err().to_string();
    assert!(
        err.contains("no attached database named \"nolake\""),
        "{err}"
    );
    assert_eq!(s.state, before);
}

#[test]
fn a_read_that_fails_midway_leaves_nothing() {
    let (mut s, mut src) = (FakeSession::new(), FakeSource::new(5));
    src.fail_read = true;
    let err = sync(&mut s, &mut src, &request()).unwrap_err().to_string();
    assert!(err.contains("connection lost"), "{err}");
    // No table, no checkpoint: only the (empty) checkpoint table the preparing transaction made.
    assert_eq!(
        s.state,
        State {
            checkpoint_tables: [("db".to_string(), "main.subs".to_string())].into(),
            schemas: [("db", "main"), ("db", STATE_SCHEMA)]
                .map(|(c, s)| (c.to_string(), s.to_string()))
                .into(),
            ..State::default()
        }
    );
    assert!(
        s.ran(|x| x == &Statement::PreserveInsertionOrder(true)),
        "reset after a failed copy"
    );
}

#[test]
fn hard_deletes_remove_rows_gone_from_the_source() {
    let (mut s, mut src) = (FakeSession::new(), FakeSource::new(5));
    sync(&mut s, &mut src, &request()).unwrap();
    src.rows.retain(|r| r[0] != Value::Int(2));
    let o = sync(&mut s, &mut src, &request()).unwrap();
    assert_eq!(o.rows_deleted, 0, "only when asked");
    let mut req = request();
    req.hard_deletes = true;
    let o = sync(&mut s, &mut src, &req).unwrap();
    assert_eq!((o.rows_upserted, o.rows_deleted), (0, 1));
    assert_eq!(
        src.reads[1],
        Read {
            columns: Some(vec!["id".into()]),
            since: None
        }
    );
    assert_eq!(ids(s.table("subs").unwrap()), src.rows);
    assert_eq!(s.checkpoint().unwrap().last_rows_deleted, 1);
}

#[test]
fn an_empty_table_without_checkpoint_is_filled_by_column_name() {
    let (mut s, mut src) = (FakeSession::new(), FakeSource::new(3));
    let t = TableRef {
        catalog: "db".into(),
        schema: "main".into(),
        name: "subs".into(),
    };
    s.state.tables.insert(
        key(&t),
        Table {
            columns: vec![
                ("v".into(), "BIGINT".into()),
                ("id".into(), "BIGINT".into()),
                ("extra".into(), "VARCHAR".into()),
                ("name".into(), "VARCHAR".into()),
            ],
            ..Table::default()
        },
    );
    let o = sync(&mut s, &mut src, &request()).unwrap();
    assert_eq!((o.mode, o.rows_upserted), ("bootstrap", 3));
    assert!(s.ran(|x| matches!(x, Statement::InsertByName { into, .. } if into == &t)));
    let rows = &s.table("subs").unwrap().rows;
    assert_eq!(
        rows[0],
        vec![
            Value::Int(1),
            Value::Int(1),
            Value::Null,
            Value::Text("n1".into())
        ]
    );
}

#[test]
fn keys_are_declared_on_request_and_ducklake_targets_get_none() {
    let (mut s, mut src) = (FakeSession::new(), FakeSource::new(3));
    let mut req = request();
    req.enforce_key = true;
    sync(&mut s, &mut src, &req).unwrap();
    assert!(
        s.ran(|x| matches!(x, Statement::AddPrimaryKey { key, .. } if key == &["id".to_string()]))
    );
    src.update(1, "name", Value::Text("x".into()), 9);
    sync(&mut s, &mut src, &req).unwrap();
    assert!(s.ran(|x| matches!(
        x,
        Statement::Upsert {
            has_primary_key: true,
            ..
        }
    )));

    let (mut s, mut src) = (FakeSession::new(), FakeSource::new(3));
    req.target = Some("lake.raw.subs".into());
    let o = sync(&mut s, &mut src, &req).unwrap();
    assert_eq!(o.target, "lake.raw.subs");
    assert!(!s.ran(|x| matches!(x, Statement::AddPrimaryKey { .. })));
    assert!(s.ran(|x| matches!(x, Statement::CreateSchema { catalog, schema } if catalog == "lake" && schema == "raw")));
    src.update(1, "name", Value::Text("x".into()), 9);
    sync(&mut s, &mut src, &req).unwrap();
    assert!(s.ran(
        |x| matches!(x, Statement::Upsert { has_primary_key: false, target, .. } if target.ducklake)
    ));
}

fn lake_request() -> Request {
    let mut req = request();
    req.target = Some("lake.raw.subs".into());
    req
}

fn lake_target() -> Target {
    Target {
        catalog: "lake".into(),
        schema: "raw".into(),
        name: "subs".into(),
        ducklake: true,
    }
}

#[test]
fn the_checkpoint_table_is_made_in_a_transaction_before_the_sync() {
    let (mut s, mut src) = (FakeSession::new(), FakeSource::new(3));
    sync(&mut s, &mut src, &lake_request()).unwrap();
    let t = lake_target();
    let txns = s.transactions();
    assert_eq!(txns.len(), 3, "{txns:?}");
    // First: is everything there? No: rolled back, nothing done.
    assert_eq!(txns[0].first(), Some(&Statement::Begin));
    assert_eq!(txns[0].last(), Some(&Statement::Rollback));
    assert_eq!(txns[0].len(), 2);
    let txns = &txns[1..];
    // Then: the schemas and the checkpoint table, nothing else.
    let schema = |name: &str| Statement::CreateSchema {
        catalog: "lake".into(),
        schema: name.into(),
    };
    assert_eq!(
        txns[0],
        vec![
            Statement::Begin,
            schema("raw"),
            schema(STATE_SCHEMA),
            Statement::CreateCheckpointTable(t.clone()),
            Statement::Commit
        ]
    );
    // Then the sync, which creates neither (two transactions creating one table or schema
    // conflict in DuckLake), and commits its rows with the checkpoint.
    assert!(!txns[1].iter().any(|x| matches!(
        x,
        Statement::CreateSchema { .. } | Statement::CreateCheckpointTable(_)
    )));
    assert_eq!(txns[1].last(), Some(&Statement::Commit));
    assert_eq!(s.state.checkpoints.len(), 1);
    assert!(s
        .state
        .checkpoints
        .contains_key(&("lake".into(), "raw.subs".into())));
    // DuckLake's commit retries are raised after the call's reads (committed: no vacuum for
    // DuckLake) and before any other transaction; never for a DuckDB file.
    assert_eq!(
        s.log[..3],
        [
            Statement::Begin,
            Statement::Commit,
            Statement::CommitRetries(COMMIT_RETRIES)
        ]
    );
    // The next sync finds everything: one transaction.
    sync(&mut s, &mut src, &lake_request()).unwrap();
    let txns = s.transactions();
    assert_eq!(txns.len(), 1);
    assert_eq!(txns[0].last(), Some(&Statement::Commit));
    sync(&mut s, &mut src, &request()).unwrap();
    assert!(!s.ran(|x| matches!(x, Statement::CommitRetries(_))));
}

#[test]
fn each_target_has_its_own_checkpoint_table() {
    let (mut s, mut src) = (FakeSession::new(), FakeSource::new(3));
    sync(&mut s, &mut src, &lake_request()).unwrap();
    let mut req = lake_request();
    req.target = Some("lake.raw.\"subs.v2\"".into());
    sync(&mut s, &mut src, &req).unwrap();
    req.target = Some("lake.\"raw.subs\".v2".into());
    sync(&mut s, &mut src, &req).unwrap();
    let homes: Vec<_> = s
        .state
        .checkpoints
        .keys()
        .map(|(_, n)| n.as_str())
        .collect();
    assert_eq!(homes, ["raw%2esubs.v2", "raw.subs", "raw.subs%2ev2"]);
    // The same target spelled in another case is the same DuckDB table, and the same checkpoint.
    req.target = Some("lake.RAW.SUBS".into());
    let o = sync(&mut s, &mut src, &req).unwrap();
    assert_eq!(o.mode, "incremental");
    assert_eq!(s.state.checkpoints.len(), 3);
    // The schema of the checkpoints is no place for a target.
    req.target = Some("lake.lakemig_sync_state.t".into());
    let err = sync(&mut s, &mut src, &req).unwrap_err().to_string();
    assert!(
        err.contains("is in schema \"lakemig_sync_state\", where pg_sync keeps its checkpoints"),
        "{err}"
    );
}

/// A table of one row, made by someone else, where a target would go.
fn occupy(s: &mut FakeSession, catalog: &str, schema: &str, name: &str) -> TableRef {
    let taken = TableRef {
        catalog: catalog.into(),
        schema: schema.into(),
        name: name.into(),
    };
    s.state.tables.insert(
        key(&taken),
        Table {
            columns: vec![("x".into(), "INTEGER".into())],
            rows: vec![vec![Value::Int(1)]],
            primary_key: false,
        },
    );
    taken
}

#[test]
fn a_refused_sync_makes_nothing() {
    let (mut s, mut src) = (FakeSession::new(), FakeSource::new(3));
    occupy(&mut s, "lake", "raw", "subs");
    let before = s.state.clone();
    let err = sync(&mut s, &mut src, &lake_request())
        .unwrap_err()
        .to_string();
    assert!(err.contains("already exists and holds 1 row,"), "{err}");
    // Refused in the preparing transaction, which is rolled back: no checkpoint table either.
    assert_eq!(s.state, before);
    assert_eq!(s.transactions().len(), 2);
    assert_eq!(s.transactions()[1].last(), Some(&Statement::Rollback));
}

/// An earlier release's layout: every target's row in `<catalog>.main.lakemig_sync_state`.
fn to_legacy(s: &mut FakeSession, catalog: &str) {
    let rows = std::mem::take(&mut s.state.checkpoints)
        .into_iter()
        .filter(|((c, _), _)| c == catalog)
        .map(|(_, cp)| (cp.target.clone(), cp))
        .collect();
    s.state.checkpoint_tables.clear();
    s.state.legacy.insert(catalog.into(), rows);
}

#[test]
fn an_earlier_releases_checkpoint_is_moved_and_nothing_is_copied_again() {
    let (mut s, mut src) = (FakeSession::new(), FakeSource::new(5));
    sync(&mut s, &mut src, &lake_request()).unwrap();
    let mut other = lake_request();
    other.target = Some("lake.raw.other".into());
    sync(&mut s, &mut src, &other).unwrap();
    to_legacy(&mut s, "lake");
    let old = s.state.legacy["lake"]["\"raw\".\"subs\""].clone();

    src.update(2, "name", Value::Text("changed".into()), 6);
    let o = sync(&mut s, &mut src, &lake_request()).unwrap();
    // Read on this first call after the upgrade: incremental, from the old watermark.
    assert_eq!((o.mode, o.rows_upserted), ("incremental", 1));
    assert_eq!(src.reads[0].since.as_deref(), Some("5"));
    // Moved in the preparing transaction, every value as it was; then the sync's own checkpoint.
    let moved = Statement::MoveLegacyCheckpoint {
        target: lake_target(),
        copy: true,
    };
    assert!(s.transactions()[1].contains(&moved));
    let c = s.checkpoint().unwrap();
    assert_eq!((c.runs, c.rows_total), (old.runs + 1, old.rows_total + 1));
    // The other target's row stays in the old table until that target syncs.
    assert_eq!(
        s.state.legacy["lake"].keys().collect::<Vec<_>>(),
        ["\"raw\".\"other\""]
    );
    let o = sync(&mut s, &mut src, &other).unwrap();
    assert_eq!((o.mode, o.rows_upserted), ("incremental", 1));
    // The old table is dropped with its last row.
    assert!(s.state.legacy.is_empty());
    assert!(
        s.ran(|x| matches!(x, Statement::DropTable(t) if t == &lake_target().legacy_state_table()))
    );
    assert_eq!(s.state.checkpoints.len(), 2);
}

#[test]
fn the_targets_own_checkpoint_wins_over_a_leftover_old_row() {
    let (mut s, mut src) = (FakeSession::new(), FakeSource::new(5));
    sync(&mut s, &mut src, &lake_request()).unwrap();
    let mut stale = s.checkpoint().unwrap().clone();
    stale.watermark = Some("1".into());
    s.state
        .legacy
        .insert("lake".into(), [(stale.target.clone(), stale)].into());
    let o = sync(&mut s, &mut src, &lake_request()).unwrap();
    assert_eq!(o.watermark_before.as_deref(), Some("5"));
    assert!(s.ran(|x| matches!(x, Statement::MoveLegacyCheckpoint { copy: false, .. })));
    assert!(s.state.legacy.is_empty());
}

const CREATED: &str = "Failed to commit DuckLake transaction. Transaction conflict - attempting to \
    create schema with name \"lakemig_sync_state\" - but another transaction has created a schema with this name already";
const DELETED: &str = "TransactionContext Error: Failed to commit: Failed to commit DuckLake transaction. \
    Transaction conflict - attempting to delete from table with index \"3\" - but another transaction has inserted into it";

#[test]
fn a_first_sync_that_raced_another_prepares_again() {
    let (mut s, mut src) = (FakeSession::new(), FakeSource::new(3));
    s.commits = [Some(CREATED.to_string()), Some(CREATED.to_string())].into();
    let o = sync(&mut s, &mut src, &lake_request()).unwrap();
    assert_eq!((o.mode, o.rows_upserted), ("bootstrap", 3));
    let txns = s.transactions();
    assert_eq!(
        txns.len(),
        5,
        "the check, two refused preparations, one that commits, the sync"
    );
    assert!(txns[1..4]
        .iter()
        .all(|t| t.contains(&Statement::CreateCheckpointTable(lake_target()))));
    assert_eq!(src.reads.len(), 1, "the source is read once");

    // Bounded: a preparation beaten every time gives up with lakemig's error.
    let (mut s, mut src) = (FakeSession::new(), FakeSource::new(3));
    s.commits = vec![Some(CREATED.to_string()); PREPARE_ATTEMPTS].into();
    let err = sync(&mut s, &mut src, &lake_request())
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("another pg_sync of lake.raw.subs committed first"),
        "{err}"
    );
    assert_eq!(s.transactions().len(), 1 + PREPARE_ATTEMPTS);
    assert!(src.reads.is_empty());
}

#[test]
fn a_commit_beaten_by_another_sync_of_the_target_is_lakemigs_own_error() {
    let (mut s, mut src) = (FakeSession::new(), FakeSource::new(3));
    sync(&mut s, &mut src, &lake_request()).unwrap();
    let before = s.state.clone();
    src.update(1, "name", Value::Text("x".into()), 9);
    s.commits = [Some(DELETED.to_string())].into();
    let err = sync(&mut s, &mut src, &lake_request())
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "another pg_sync of lake.raw.subs committed first (or another transaction changed that table); \
         nothing was written; run it again"
    );
    assert!(!err.contains("index \"3\""), "never DuckLake's raw text");
    assert_eq!(s.state, before, "nothing was written");
    // Not retried by lakemig: the sync ran once.
    assert_eq!(src.reads.len(), 1);
    // Any other commit failure is kept as DuckDB said it (e.g. DuckLake's own retries running out).
    let exceeded = "Failed to commit DuckLake transaction. Exceeded the maximum retry count of 100";
    s.commits = [Some(exceeded.to_string())].into();
    let err = sync(&mut s, &mut src, &lake_request())
        .unwrap_err()
        .to_string();
    assert!(err.contains(exceeded), "{err}");
    // And the next call goes on from the checkpoint the other sync left.
    let o = sync(&mut s, &mut src, &lake_request()).unwrap();
    assert_eq!((o.mode, o.rows_upserted), ("incremental", 1));
}

/// A fake source table: name, rows, primary key, whether its read fails.
type FakeTable = (String, Vec<Vec<Value>>, Vec<String>, bool);

/// `pg_sync_tables`' source in memory: tables of `analytics`, each a [`FakeSource`] made afresh
/// for every call from its rows.
struct FakeTables {
    tables: Vec<FakeTable>,
    finished: bool,
}

impl FakeTables {
    fn new(tables: &[(&str, i64, bool)]) -> Self {
        FakeTables {
            tables: tables
                .iter()
                .map(|(name, n, keyed)| {
                    let src = FakeSource::new(*n);
                    let key = if *keyed { src.primary_key } else { Vec::new() };
                    (name.to_string(), src.rows, key, false)
                })
                .collect(),
            finished: false,
        }
    }
}

impl super::tables::TablesSource for FakeTables {
    type Table = FakeSource;

    fn list(&mut self, _: Duration) -> Result<Vec<super::tables::Listed>> {
        Ok(self
            .tables
            .iter()
            .map(|(name, ..)| super::tables::Listed {
                schema: "analytics".into(),
                name: name.clone(),
                readable: true,
            })
            .collect())
    }

    fn describe(
        &mut self,
        tables: &[super::tables::Listed],
    ) -> Result<Vec<super::tables::Described>> {
        Ok(tables
            .iter()
            .map(|l| {
                let (_, _, key, _) = self.tables.iter().find(|t| t.0 == l.name).unwrap();
                super::tables::Described {
                    listed: l.clone(),
                    columns: FakeSource::new(0)
                        .columns
                        .iter()
                        .map(|(n, _)| super::tables::SourceColumn {
                            name: n.clone(),
                            cursor: Some(super::CursorKind::Integer),
                            indexed: false,
                        })
                        .collect(),
                    primary_key: key.clone(),
                }
            })
            .collect())
    }

    fn table(&mut self, d: &super::tables::Described, _: &str) -> Result<FakeSource> {
        let (_, rows, key, fail) = self.tables.iter().find(|t| t.0 == d.listed.name).unwrap();
        let mut src = FakeSource::new(0);
        (src.rows, src.primary_key, src.fail_read) = (rows.clone(), key.clone(), *fail);
        Ok(src)
    }

    fn server(&self) -> String {
        "pg:5432/app as user \"u\"".into()
    }

    fn finish(&mut self) -> Result<()> {
        self.finished = true;
        Ok(())
    }
}

fn tables_request(patterns: &[&str], skip: bool) -> super::tables::TablesRequest {
    super::tables::TablesRequest {
        tables: patterns
            .iter()
            .map(|p| super::tables::parse_pattern(p).unwrap())
            .collect(),
        exclude: Vec::new(),
        target: None,
        cursor: Some("v".into()),
        skip_errors: skip,
        hard_deletes: false,
        enforce_key: false,
        parquet_dir: None,
        blind_window: Duration::from_secs(900),
        cdc: None,
    }
}

/// The watermark method's many-table calls never reach for logical replication.
struct NoChanges;

impl super::cdc::ChangeSource for NoChanges {
    fn prepare(
        &mut self,
        _: &[super::cdc::CdcWanted],
        _: &str,
        _: Option<&str>,
        _: bool,
    ) -> Result<super::cdc::CdcSetup> {
        Err(Error::internal("no replication here"))
    }
    fn changes<T: Send + 'static>(
        &mut self,
        _: &super::cdc::CdcSetup,
        _: &[(super::cdc::CdcTable, crate::postgres::pgoutput::Lsn, bool)],
        _: fn(Batch, &[DuckType]) -> Result<T>,
    ) -> Result<tokio::sync::mpsc::Receiver<Result<super::cdc::Change<T>>>> {
        Err(Error::internal("no replication here"))
    }
    fn advance(
        &mut self,
        _: &super::cdc::CdcSetup,
        _: crate::postgres::pgoutput::Lsn,
    ) -> Result<()> {
        Err(Error::internal("no replication here"))
    }
    fn server(&self) -> String {
        String::new()
    }
    fn retained_wal(&mut self, _: &str) -> Result<Option<i64>> {
        Err(Error::internal("no replication here"))
    }
}

fn sync_tables(
    s: &mut FakeSession,
    src: &mut FakeTables,
    req: &super::tables::TablesRequest,
) -> Result<Vec<(String, &'static str, i64)>> {
    s.log.clear();
    let out = super::tables::run_tables(req, s, src, &mut NoChanges);
    assert!(src.finished, "the snapshot is always ended");
    src.finished = false;
    assert!(s.saved.is_none());
    Ok(out?
        .into_iter()
        .map(|r| (r.outcome.source, r.outcome.mode, r.outcome.rows_upserted))
        .collect())
}

#[test]
fn many_tables_commit_in_one_transaction_or_not_at_all() {
    let mut s = FakeSession::new();
    let mut src = FakeTables::new(&[("a", 5, true), ("b", 3, true)]);
    let req = tables_request(&["analytics.*"], false);
    let rows = sync_tables(&mut s, &mut src, &req).unwrap();
    assert_eq!(
        rows,
        vec![
            ("analytics.a".into(), "bootstrap", 5),
            ("analytics.b".into(), "bootstrap", 3)
        ]
    );
    // One preparing transaction for both checkpoint tables, then one for every write.
    let txs = s.transactions();
    assert_eq!(txs.len(), 2);
    let made = |t: &Vec<Statement>, name: &str| {
        t.iter()
            .any(|x| matches!(x, Statement::CreateTable { table, .. } if table.name == name))
    };
    assert!(made(&txs[1], "a") && made(&txs[1], "b"));
    assert_eq!(
        txs[0]
            .iter()
            .filter(|x| matches!(x, Statement::CreateCheckpointTable(_)))
            .count(),
        2
    );
    assert_eq!(s.state.checkpoints.len(), 2);
    // A change to a, a read of b that fails: nothing of either is written.
    src.tables[0].1[0][2] = Value::Int(9);
    for (i, row) in src.tables[1].1.iter_mut().enumerate() {
        row[2] = Value::Int(10 + i as i64);
    }
    src.tables[1].3 = true;
    let before = s.state.clone();
    let err = sync_tables(&mut s, &mut src, &req).unwrap_err().to_string();
    assert!(err.contains("connection lost"), "{err}");
    assert_eq!(s.state, before);
    // Everything there: no preparing transaction.
    src.tables[1].3 = false;
    let rows = sync_tables(&mut s, &mut src, &req).unwrap();
    assert_eq!(s.transactions().len(), 1);
    assert_eq!(
        rows,
        vec![
            ("analytics.a".into(), "incremental", 1),
            ("analytics.b".into(), "incremental", 3)
        ]
    );
}

#[test]
fn refused_tables_fail_the_call_or_are_skipped() {
    let mut s = FakeSession::new();
    let mut src = FakeTables::new(&[("a", 2, true), ("nokey", 2, false)]);
    let err = sync_tables(&mut s, &mut src, &tables_request(&["analytics.*"], false))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("table \"analytics\".\"nokey\" cannot be synced")
            && err.contains("no primary key")
            && err.contains("nothing was written"),
        "{err}"
    );
    // Only the call's reads, rolled back: no transaction ran a statement.
    assert!(s.transactions().iter().all(|t| t.len() == 2), "{:?}", s.log);
    assert_eq!(s.state, State::default());
    let rows = sync_tables(&mut s, &mut src, &tables_request(&["analytics.*"], true)).unwrap();
    assert_eq!(
        rows,
        vec![
            ("analytics.a".into(), "bootstrap", 2),
            ("analytics.nokey".into(), "skipped", 0)
        ]
    );
}

#[test]
fn a_target_with_rows_but_no_checkpoint_makes_nothing() {
    let mut s = FakeSession::new();
    let mut src = FakeTables::new(&[("a", 2, true), ("b", 2, true)]);
    let taken = occupy(&mut s, "db", "main", "b");
    let before = s.state.clone();
    let err = sync_tables(&mut s, &mut src, &tables_request(&["analytics.*"], false))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("\"analytics\".\"b\"") && err.contains("already exists and holds 1 row,"),
        "{err}"
    );
    // Refused before the preparing transaction: not even a checkpoint table for `a` (only the
    // call's reads, rolled back).
    assert!(s.transactions().iter().all(|t| t.len() == 2), "{:?}", s.log);
    assert_eq!(s.state, before);
    // Skipped: the other table is synced, and nothing is made for the refused one.
    let rows = sync_tables(&mut s, &mut src, &tables_request(&["analytics.*"], true)).unwrap();
    assert_eq!(
        rows,
        vec![
            ("analytics.a".into(), "bootstrap", 2),
            ("analytics.b".into(), "skipped", 0)
        ]
    );
    assert_eq!(s.state.checkpoint_tables.len(), 1);
    assert_eq!(s.table("b"), before.tables.get(&key(&taken)));
}

#[test]
fn a_dropped_source_is_reported_and_its_target_kept() {
    let mut s = FakeSession::new();
    let mut src = FakeTables::new(&[("a", 2, true), ("b", 2, true)]);
    let req = tables_request(&["analytics.*"], false);
    sync_tables(&mut s, &mut src, &req).unwrap();
    src.tables.pop();
    let rows = sync_tables(&mut s, &mut src, &req).unwrap();
    assert_eq!(
        rows,
        vec![
            ("analytics.a".into(), "unchanged", 0),
            ("analytics.b".into(), "source dropped", 0)
        ]
    );
    assert_eq!(s.table("b").unwrap().rows.len(), 2);
    // A pattern that no longer covers it: not reported.
    let rows = sync_tables(&mut s, &mut src, &tables_request(&["analytics.a"], false)).unwrap();
    assert_eq!(rows, vec![("analytics.a".into(), "unchanged", 0)]);
}

/// One table's replication stream with no change in it; counts how often it was started, and
/// logs the calls that shape the stream (`open peek`, `peek <slot> <publication>`, `prepare`,
/// `changes`).
#[derive(Default)]
struct QuietSlot {
    started: usize,
    calls: Vec<String>,
}

impl super::cdc::ChangeSource for QuietSlot {
    fn open_peek(&mut self) {
        self.calls.push("open peek".into());
    }
    fn start_peek(&mut self, slot: &str, publication: &str) {
        self.calls.push(format!("peek {slot} {publication}"));
    }
    fn withdraw_peek(&mut self) {
        self.calls.push("withdraw peek".into());
    }
    fn prepare(
        &mut self,
        wanted: &[super::cdc::CdcWanted],
        slot: &str,
        _: Option<&str>,
        _: bool,
    ) -> Result<super::cdc::CdcSetup> {
        self.calls.push("prepare".into());
        let table = super::cdc::CdcTable {
            table_oid: 1,
            schema: "s".into(),
            name: "t".into(),
            columns: Vec::new(),
            key: vec!["id".into()],
        };
        Ok(super::cdc::CdcSetup {
            slot: slot.into(),
            publication: slot.into(),
            slot_created: false,
            slot_lsn: crate::postgres::pgoutput::Lsn(16),
            tables: wanted.iter().map(|_| Ok(table.clone())).collect(),
            server: "pg".into(),
        })
    }
    fn changes<T: Send + 'static>(
        &mut self,
        _: &super::cdc::CdcSetup,
        tables: &[(super::cdc::CdcTable, crate::postgres::pgoutput::Lsn, bool)],
        _: fn(Batch, &[DuckType]) -> Result<T>,
    ) -> Result<mpsc::Receiver<Result<super::cdc::Change<T>>>> {
        self.started += 1;
        self.calls.push("changes".into());
        let (tx, rx) = mpsc::channel(1);
        let summaries = vec![super::cdc::StreamSummary::default(); tables.len()];
        tx.try_send(Ok(super::cdc::Change::Done(summaries, None)))
            .expect("room for one");
        Ok(rx)
    }
    fn advance(
        &mut self,
        _: &super::cdc::CdcSetup,
        _: crate::postgres::pgoutput::Lsn,
    ) -> Result<()> {
        Ok(())
    }
    fn server(&self) -> String {
        "pg".into()
    }
    fn retained_wal(&mut self, _: &str) -> Result<Option<i64>> {
        Ok(None)
    }
}

/// Snapshots a call with nothing to copy never takes.
struct NoCopies;

impl super::cdc::Snapshots for NoCopies {
    fn take(&mut self, _: &[QualifiedName]) -> Result<()> {
        Err(Error::argument("fake: nothing to copy"))
    }
    fn read<T: Send + 'static>(
        &mut self,
        _: usize,
        _: fn(Batch, &[DuckType]) -> Result<T>,
    ) -> Result<Rows<T>> {
        panic!("nothing to copy")
    }
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}

/// A session holding `catalog.main.t`, kept by CDC through slot `slot` up to commit 0/100.
fn kept_by_cdc(catalog: &str) -> (FakeSession, super::cdc::CdcCall) {
    let mut s = FakeSession::new();
    let target = Target {
        catalog: catalog.into(),
        schema: "main".into(),
        name: "t".into(),
        ducklake: s.catalogs[catalog] == "ducklake",
    };
    s.state.tables.insert(
        key(&target.table()),
        Table {
            columns: vec![("id".into(), "BIGINT".into())],
            rows: vec![vec![Value::Int(1)]],
            primary_key: false,
        },
    );
    s.state.checkpoint_tables.insert(home(&target));
    s.state.checkpoints.insert(
        home(&target),
        Checkpoint {
            target: target.state_key(),
            source: "s.t".into(),
            cursor: super::cdc::cursor_text("slot", "slot"),
            watermark: Some("0/100".into()),
            runs: 1,
            ..Default::default()
        },
    );
    let call = super::cdc::CdcCall {
        items: vec![super::cdc::CdcItem {
            source: QualifiedName {
                schema: Some("s".into()),
                name: "t".into(),
            },
            target,
            key: None,
        }],
        publication: None,
        slot_key: ("main.t".into(), "s.t".into()),
        many: false,
        skip_errors: false,
    };
    (s, call)
}

/// A CDC call as `cdc::run` makes it: its reads begun first.
fn cdc_call(
    s: &mut FakeSession,
    call: &super::cdc::CdcCall,
    slot: &mut impl super::cdc::ChangeSource,
) -> Result<Vec<super::tables::TableOutcome>> {
    let reads = super::vacuum::Reads::begin(s)?;
    super::cdc::run_call(call, s, &mut NoCopies, slot, reads)
}

#[test]
fn a_wal_the_commit_would_checkpoint_is_checkpointed_while_the_slot_is_read() {
    // Due: the stream starts first, then the checkpoint runs, outside the sync's transaction.
    let (mut s, call) = kept_by_cdc("db");
    s.wal_due = true;
    let mut slot = QuietSlot::default();
    let rows = cdc_call(&mut s, &call, &mut slot).unwrap();
    assert_eq!(rows[0].outcome.mode, "cdc");
    assert_eq!(slot.started, 1);
    let checkpointed = s
        .log
        .iter()
        .position(|x| *x == Statement::Checkpoint("db".into()))
        .expect("checkpointed");
    let begun = s.log.iter().rposition(|x| *x == Statement::Begin).unwrap();
    assert!(checkpointed < begun, "{:?}", s.log);
    // Before it, the call's reads ran in one transaction, committed: the target is not bloated,
    // so DuckDB's checkpoint stays a concurrent one, which vacuums nothing.
    assert_eq!(
        s.log[..checkpointed],
        [Statement::Begin, Statement::Commit],
        "{:?}",
        s.log
    );
    assert_eq!(s.checkpoint().unwrap().runs, 2);

    // A target storing more than twice the rows it holds (its checkpoint's rows_total) is
    // checkpointed, due or not, after reads rolled back: nothing was committed since the query
    // began, so DuckDB's checkpoint is a full one, which vacuums.
    for (stored, vacuum) in [(200, false), (201, true)] {
        let (mut s, call) = kept_by_cdc("db");
        s.state
            .checkpoints
            .values_mut()
            .for_each(|c| c.rows_total = 100);
        s.stored = Some(stored);
        cdc_call(&mut s, &call, &mut QuietSlot::default()).unwrap();
        let checkpointed = s
            .log
            .iter()
            .position(|x| *x == Statement::Checkpoint("db".into()));
        match vacuum {
            true => assert_eq!(
                s.log[..checkpointed.expect("checkpointed")],
                [Statement::Begin, Statement::Rollback]
            ),
            false => assert_eq!(checkpointed, None, "{:?}", s.log),
        }
    }

    // Not due: no checkpoint. A DuckLake target is never asked.
    let (mut s, call) = kept_by_cdc("db");
    cdc_call(&mut s, &call, &mut QuietSlot::default()).unwrap();
    assert!(!s.ran(|x| matches!(x, Statement::Checkpoint(_))));
    let (mut s, call) = kept_by_cdc("lake");
    s.wal_due = true;
    cdc_call(&mut s, &call, &mut QuietSlot::default()).unwrap();
    assert!(!s.ran(|x| matches!(x, Statement::Checkpoint(_))));
}

#[test]
fn a_later_call_opens_its_peek_first_and_sends_it_before_its_checks() {
    // The slot this call would name is asked for as soon as the connection is up, before the
    // checkpoint is read; when the checkpoint names that slot, nothing more.
    let (mut s, call) = kept_by_cdc("db");
    let guess = super::cdc::slot_name("db", &call.slot_key.0, "pg", &call.slot_key.1);
    for c in s.state.checkpoints.values_mut() {
        c.cursor = super::cdc::cursor_text(&guess, &guess);
    }
    let mut slot = QuietSlot::default();
    cdc_call(&mut s, &call, &mut slot).unwrap();
    assert_eq!(
        slot.calls,
        vec![
            "open peek".into(),
            format!("peek {guess} {guess}"),
            "prepare".into(),
            "changes".into()
        ]
    );
    // A checkpoint naming another slot (or publication): asked again, for that one.
    let (mut s, call) = kept_by_cdc("db");
    let mut slot = QuietSlot::default();
    cdc_call(&mut s, &call, &mut slot).unwrap();
    let name = super::cdc::parse_cursor(&s.checkpoint().unwrap().cursor)
        .unwrap()
        .0;
    assert_eq!(
        slot.calls,
        vec![
            "open peek".into(),
            format!("peek {guess} {guess}"),
            format!("peek {name} {name}"),
            "prepare".into(),
            "changes".into()
        ]
    );
    // The user's publication is the one the peek reads.
    let (mut s, mut call) = kept_by_cdc("db");
    call.publication = Some("mine".into());
    let mut slot = QuietSlot::default();
    cdc_call(&mut s, &call, &mut slot).unwrap();
    assert_eq!(slot.calls[1], format!("peek {guess} mine"));
    assert_eq!(slot.calls[2], format!("peek {name} mine"));
    // A first call (no checkpoint) takes the guessed peek back before anything is made.
    let (mut s, call) = kept_by_cdc("db");
    s.state.checkpoints.clear();
    s.state.tables.values_mut().for_each(|t| t.rows.clear());
    let mut slot = QuietSlot::default();
    let copied = cdc_call(&mut s, &call, &mut slot);
    assert!(copied.is_err_and(|e| e.to_string().contains("nothing to copy")));
    assert_eq!(
        slot.calls[..4],
        [
            "open peek".to_string(),
            format!("peek {guess} {guess}"),
            "withdraw peek".into(),
            "prepare".into()
        ]
    );
}

#[test]
fn a_stream_started_before_another_call_committed_applies_nothing() {
    let (mut s, call) = kept_by_cdc("db");
    s.other_call_commits = true;
    let err = cdc_call(&mut s, &call, &mut QuietSlot::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("another pg_sync of these targets committed"),
        "{err}"
    );
    // The other call's checkpoint stands; this call wrote nothing.
    let c = s.checkpoint().unwrap();
    assert_eq!((c.watermark.as_deref(), c.runs), (Some("0/FFFF"), 1));
    assert!(s.ran(|x| *x == Statement::Rollback));
    assert!(s.saved.is_none());
}
