//! SQLite -> PostgreSQL migrations: look at every value ([`infer`]), plan tables, types, defaults,
//! keys and indexes ([`plan`]), copy with binary COPY in one transaction and prove the copy with
//! a checksum computed on both sides ([`checksum`], [`execute`]).

pub mod checksum;
pub mod execute;
pub mod infer;
pub mod plan;

use std::collections::BTreeMap;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::sqlite::{SqliteSource, SqliteTable};
use infer::ColumnStats;
use plan::{plan_table, TablePlan, TypeOverride};

/// With `LAKEMIG_TRACE` set, print how long each step of a migration took (to stderr).
pub fn trace(started: Instant, step: &str) {
    static ON: std::sync::LazyLock<bool> =
        std::sync::LazyLock::new(|| std::env::var_os("LAKEMIG_TRACE").is_some());
    if *ON {
        eprintln!(
            "lakemig: {:>8.1} ms  {step}",
            started.elapsed().as_secs_f64() * 1e3
        );
    }
}

/// What the caller asked to plan.
#[derive(Debug, Clone, Default)]
pub struct PlanRequest {
    /// SQLite table names to migrate; `None` = every table.
    pub tables: Option<Vec<String>>,
    pub overrides: Vec<TypeOverride>,
    pub infer_types: bool,
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
pub fn table_stats(src: &SqliteSource, table: &SqliteTable) -> Result<(Vec<ColumnStats>, u64)> {
    let names: Vec<String> = table
        .stored_columns()
        .iter()
        .map(|c| c.name.clone())
        .collect();
    let mut stats: Vec<ColumnStats> = names.iter().map(|_| ColumnStats::new()).collect();
    let rows = src.for_each_row(&table.name, &names, |row| {
        for (i, st) in stats.iter_mut().enumerate() {
            st.observe(crate::sqlite::RowValues::value(row, i));
        }
        Ok(())
    })?;
    Ok((stats, rows))
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
        plans.push(plan_table(t, &stats, rows, &req.overrides, req.infer_types));
    }
    align_foreign_keys(&mut plans, &req.overrides);
    Ok(plans)
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
                    {
                        c.choice = infer::TypeChoice {
                            target: parent_choice.target,
                            epoch: parent_choice.epoch,
                            reason: format!(
                                "foreign key: the type of \"{}\".\"{parent_col}\" (was {}: {})",
                                fk.parent_table,
                                c.choice.target.sql_name(),
                                c.choice.reason
                            ),
                        };
                    }
                }
            }
        }
    }
}
