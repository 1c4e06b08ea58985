//! SQLite -> PostgreSQL migrations: look at every value ([`infer`]), plan tables, types, defaults,
//! keys and indexes ([`plan`]), copy with binary COPY in one transaction and prove the copy with
//! a checksum computed on both sides ([`checksum`], [`execute`]).

pub mod checksum;
pub mod execute;
pub mod expr;
pub mod infer;
pub mod plan;

use std::collections::BTreeMap;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::sqlite::{SqliteSource, SqliteTable, SqliteVirtualTable};
use infer::{ColumnStats, TypeRule};
use plan::{json_checked_columns, plan_table, schema_extras, TablePlan, TypeOverride};

pub use crate::trace::trace;

/// What the caller asked to plan.
#[derive(Debug, Clone, Default)]
pub struct PlanRequest {
    /// SQLite table names to migrate; `None` = every table.
    pub tables: Option<Vec<String>>,
    pub overrides: Vec<TypeOverride>,
    pub rule: TypeRule,
}

/// The words `types := [...]` takes besides overrides, naming a [`TypeRule`].
pub fn type_rule_word(word: &str) -> Option<TypeRule> {
    match word.trim().to_ascii_lowercase().as_str() {
        "infer" => Some(TypeRule::Infer),
        "declared" => Some(TypeRule::Declared),
        _ => None,
    }
}

/// The tables to migrate, in creation order, or an error naming an unknown table.
pub fn select_tables(src: &SqliteSource, wanted: Option<&[String]>) -> Result<Vec<SqliteTable>> {
    let all = src.tables()?;
    let Some(wanted) = wanted else {
        return Ok(all);
    };
    for w in wanted {
        if !all.iter().any(|t| &t.name == w) {
            return Err(Error::argument(format!(
                "tables: no table \"{w}\" in {} (its tables: {})",
                src.path().display(),
                all.iter()
                    .map(|t| t.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    Ok(all
        .into_iter()
        .filter(|t| wanted.contains(&t.name))
        .collect())
}

/// Read every value of a table once and gather per-column statistics (streamed, bounded memory).
/// Two threads: this one reads SQLite and copies the values into batches, another looks at them
/// (about half the work each; PostgreSQL is idle meanwhile).
pub fn table_stats(src: &SqliteSource, table: &SqliteTable) -> Result<(Vec<ColumnStats>, u64)> {
    let names: Vec<String> = table
        .stored_columns()
        .iter()
        .map(|c| c.name.clone())
        .collect();
    let json_checked = json_checked_columns(table);
    let fresh: Vec<ColumnStats> = table
        .stored_columns()
        .iter()
        .map(|c| {
            ColumnStats::for_declared(
                &c.declared_type,
                json_checked.contains(&c.name.to_lowercase()),
            )
        })
        .collect();
    let width = names.len();
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<Batch>(2);
    let (empty_tx, empty_rx) = std::sync::mpsc::channel::<Batch>();
    std::thread::scope(|scope| {
        let observer = scope.spawn(move || {
            let mut stats = fresh;
            for mut batch in full_rx {
                for row in batch.slots.chunks_exact(width.max(1)) {
                    for (st, slot) in stats.iter_mut().zip(row) {
                        st.observe(batch.value(slot));
                    }
                }
                batch.slots.clear();
                batch.bytes.clear();
                batch.rows = 0;
                // The reader may be gone already (an error): then the batch is simply dropped.
                let _ = empty_tx.send(batch);
            }
            stats
        });
        let mut batch = Batch::default();
        let read = src.for_each_row(&table.name, &names, |row| {
            for i in 0..width {
                batch.push(crate::sqlite::RowValues::value(row, i));
            }
            batch.rows += 1;
            if batch.rows >= Batch::ROWS || batch.bytes.len() >= Batch::BYTES {
                let next = empty_rx.try_recv().unwrap_or_default();
                let full = std::mem::replace(&mut batch, next);
                // The observer only stops when this side hangs up.
                let _ = full_tx.send(full);
            }
            Ok(())
        });
        if batch.rows > 0 {
            let _ = full_tx.send(batch);
        }
        drop(full_tx);
        let stats = observer
            .join()
            .map_err(|_| Error::argument("internal: the thread looking at the values panicked"))?;
        Ok((stats, read?))
    })
}

/// Rows of values copied out of SQLite (texts and blobs into one byte buffer), for [`table_stats`].
#[derive(Default)]
struct Batch {
    slots: Vec<Slot>,
    bytes: Vec<u8>,
    rows: usize,
}

enum Slot {
    Null,
    Integer(i64),
    Real(f64),
    Text(usize, usize),
    Blob(usize, usize),
}

impl Batch {
    const ROWS: usize = 4096;
    const BYTES: usize = 1 << 20;

    fn push(&mut self, v: crate::sqlite::SqliteValue<'_>) {
        use crate::sqlite::SqliteValue as V;
        let mut bytes = |b: &[u8]| {
            let start = self.bytes.len();
            self.bytes.extend_from_slice(b);
            (start, b.len())
        };
        let slot = match v {
            V::Null => Slot::Null,
            V::Integer(i) => Slot::Integer(i),
            V::Real(f) => Slot::Real(f),
            V::Text(t) => {
                let (a, n) = bytes(t);
                Slot::Text(a, n)
            }
            V::Blob(b) => {
                let (a, n) = bytes(b);
                Slot::Blob(a, n)
            }
        };
        self.slots.push(slot);
    }

    fn value(&self, slot: &Slot) -> crate::sqlite::SqliteValue<'_> {
        use crate::sqlite::SqliteValue as V;
        match *slot {
            Slot::Null => V::Null,
            Slot::Integer(i) => V::Integer(i),
            Slot::Real(f) => V::Real(f),
            Slot::Text(a, n) => V::Text(&self.bytes[a..a + n]),
            Slot::Blob(a, n) => V::Blob(&self.bytes[a..a + n]),
        }
    }
}

/// Plan every selected table: statistics from the values (unless `infer_types` is off and no
/// counts are needed), types, overrides, defaults; foreign-key columns take the type of the column
/// they reference.
pub fn build_plan(src: &SqliteSource, req: &PlanRequest) -> Result<Vec<TablePlan>> {
    let tables = select_tables(src, req.tables.as_deref())?;
    plan::check_overrides(&tables, &req.overrides)?;
    let mut plans = Vec::with_capacity(tables.len());
    for t in &tables {
        let started = Instant::now();
        let (stats, rows) = table_stats(src, t)?;
        trace(
            started,
            &format!("read {rows} rows of \"{}\" to infer types", t.name),
        );
        plans.push(plan_table(t, &stats, rows, &req.overrides, req.rule));
    }
    align_foreign_keys(&mut plans, &req.overrides);
    Ok(plans)
}

/// The virtual tables (FTS, rtree, ...) of the file, which are never migrated, each with the note
/// the plan and the result show. With `tables := [...]`, only those named.
pub fn skipped_tables(
    src: &SqliteSource,
    wanted: Option<&[String]>,
) -> Result<Vec<(SqliteVirtualTable, String)>> {
    Ok(src
        .virtual_tables()?
        .into_iter()
        .filter(|v| wanted.is_none_or(|w| w.contains(&v.name)))
        .map(|v| {
            let note = virtual_table_note(&v);
            (v, note)
        })
        .collect())
}

/// What was not migrated and what to do instead.
pub fn virtual_table_note(v: &SqliteVirtualTable) -> String {
    let shadows = if v.shadow_tables.is_empty() {
        String::new()
    } else {
        format!(
            " nor its shadow tables ({})",
            v.shadow_tables
                .iter()
                .map(|s| format!("\"{s}\""))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let recipe = match v.module.as_str() {
        m if m.starts_with("fts") => format!(
            "full-text search in PostgreSQL: add a tsvector column and a GIN index to the table holding the text, e.g. ALTER TABLE t ADD COLUMN \"{0}_tsv\" tsvector GENERATED ALWAYS AS (to_tsvector('simple', coalesce(body, ''))) STORED; CREATE INDEX ON t USING gin (\"{0}_tsv\"); query with @@ websearch_to_tsquery(...)",
            v.name
        ),
        "rtree" | "rtree_i32" | "geopoly" => "spatial index in PostgreSQL: a box/point column with a GiST index (or PostGIS)".to_string(),
        _ => "re-create its data by hand if the application needs it".to_string(),
    };
    format!(
        "virtual table ({}) not migrated{shadows}: lakemig copies ordinary tables only; {recipe}",
        if v.module.is_empty() {
            "unknown module"
        } else {
            v.module.as_str()
        }
    )
}

/// A foreign-key column must have the type of the column it references (a text column of UUIDs
/// referencing a uuid key becomes uuid), unless the user forced its type.
pub fn align_foreign_keys(plans: &mut [TablePlan], overrides: &[TypeOverride]) {
    let mut key_types = BTreeMap::new();
    for p in plans.iter() {
        let pk: Vec<String> = p
            .source
            .primary_key()
            .iter()
            .map(|c| c.name.clone())
            .collect();
        for c in &p.columns {
            key_types.insert(
                (p.name().to_string(), c.name.clone()),
                (c.choice.clone(), pk.clone()),
            );
        }
    }
    for p in plans.iter_mut() {
        let table = p.name().to_string();
        let mut changed = false;
        for fk in p.source.foreign_keys.clone() {
            for (i, col) in fk.columns.iter().enumerate() {
                let parent_pk = key_types
                    .iter()
                    .find(|((t, _), _)| *t == fk.parent_table)
                    .map(|(_, (_, pk))| pk.clone())
                    .unwrap_or_default();
                let Some(parent_col) = fk.parent_columns[i]
                    .clone()
                    .or_else(|| parent_pk.get(i).cloned())
                else {
                    continue;
                };
                let Some((parent_choice, _)) =
                    key_types.get(&(fk.parent_table.clone(), parent_col.clone()))
                else {
                    continue;
                };
                if overrides
                    .iter()
                    .any(|o| o.table == table && &o.column == col)
                {
                    continue;
                }
                if let Some(c) = p.columns.iter_mut().find(|c| &c.name == col) {
                    if c.choice.target != parent_choice.target
                        || c.choice.epoch != parent_choice.epoch
                        || c.choice.size != parent_choice.size
                    {
                        c.choice = infer::TypeChoice {
                            target: parent_choice.target,
                            epoch: parent_choice.epoch,
                            size: parent_choice.size,
                            reason: format!(
                                "foreign key: the type of \"{}\".\"{parent_col}\" (was {}: {})",
                                fk.parent_table,
                                c.choice.sql_type(),
                                c.choice.reason
                            ),
                        };
                        changed = true;
                    }
                }
            }
        }
        if changed {
            // The column types changed: translate CHECKs and indexes again.
            schema_extras(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The two-thread `table_stats` sees exactly what one pass over the rows sees: every storage
    /// class, several batches (rows and bytes limits), 0 rows.
    #[test]
    fn table_stats_matches_one_serial_pass() {
        let dir = std::env::temp_dir().join(format!("lakemig-stats-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.sqlite");
        let _ = std::fs::remove_file(&path);
        {
            let con = rusqlite::Connection::open(&path).unwrap();
            con.execute_batch(
                "CREATE TABLE t (a, b TEXT, c BLOB, d REAL); CREATE TABLE empty (x);
                 WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 10000)
                 INSERT INTO t SELECT CASE i % 5 WHEN 0 THEN NULL WHEN 1 THEN i WHEN 2 THEN i / 3.0
                     WHEN 3 THEN 'x' || i ELSE randomblob(i % 7) END,
                   CASE WHEN i % 11 = 0 THEN NULL WHEN i = 9999 THEN 'not a date'
                     ELSE printf('2026-01-%02d 10:00:00', 1 + i % 28) END,
                   CASE WHEN i < 300 THEN zeroblob(4000) ELSE randomblob(16) END,
                   i * 1.5 FROM g;",
            )
            .unwrap();
        }
        let src = SqliteSource::open(&path).unwrap();
        for table in src.tables().unwrap() {
            let names: Vec<String> = table
                .stored_columns()
                .iter()
                .map(|c| c.name.clone())
                .collect();
            let mut want: Vec<ColumnStats> = names.iter().map(|_| ColumnStats::new()).collect();
            let want_rows = src
                .for_each_row(&table.name, &names, |row| {
                    for (i, st) in want.iter_mut().enumerate() {
                        st.observe(crate::sqlite::RowValues::value(row, i));
                    }
                    Ok(())
                })
                .unwrap();
            let (got, rows) = table_stats(&src, &table).unwrap();
            assert_eq!(rows, want_rows);
            assert_eq!(format!("{got:?}"), format!("{want:?}"), "{}", table.name);
        }
        assert_eq!(
            table_stats(&src, &src.tables().unwrap()[0]).unwrap().1,
            10000
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn virtual_tables_get_a_note_with_a_recipe() {
        let fts = SqliteVirtualTable {
            name: "docs".into(),
            module: "fts5".into(),
            sql: "CREATE VIRTUAL TABLE docs USING fts5(body)".into(),
            shadow_tables: vec!["docs_data".into(), "docs_idx".into()],
        };
        let note = virtual_table_note(&fts);
        assert!(note.starts_with("virtual table (fts5) not migrated nor its shadow tables (\"docs_data\", \"docs_idx\")"), "{note}");
        assert!(note.contains("tsvector") && note.contains("gin"), "{note}");
        let rtree = SqliteVirtualTable {
            module: "rtree".into(),
            shadow_tables: vec![],
            ..fts
        };
        assert!(virtual_table_note(&rtree).contains("GiST"));
    }
}
