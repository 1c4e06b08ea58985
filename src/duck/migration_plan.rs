//! `sqlite_migration_plan(path, tables := NULL, infer_types := true, types := NULL)`: what
//! `sqlite_migrate` would create, one row per column, with the reason for each type and what the
//! other type rule (`types := ['infer']`) would choose; one row per virtual table left out. Reads the
//! SQLite file (read-only) on the first scan call, never in bind.

use duckdb::core::{DataChunkHandle, LogicalTypeHandle, LogicalTypeId};
use duckdb::vtab::{BindInfo, InitInfo, TableFunctionInfo, VTab};

use super::report::{declare, Cell, Kind, Pager};
use super::{args, fail};
use crate::error::Result;
use crate::migrate::infer::TypeRule;
use crate::migrate::plan::{parse_override, TypeOverride};
use crate::migrate::{build_plan, skipped_tables, type_rule_word, PlanRequest};
use crate::sqlite::SqliteSource;

pub const NAME: &str = "sqlite_migration_plan";

const COLUMNS: [(&str, Kind); 11] = [
    ("table_name", Kind::Text),
    ("column_name", Kind::Text),
    ("declared_type", Kind::Text),
    ("storage_classes", Kind::Text),
    ("pg_type", Kind::Text),
    ("reason", Kind::Text),
    ("not_null", Kind::Bool),
    ("pg_default", Kind::Text),
    ("table_rows", Kind::Int),
    ("notes", Kind::Text),
    ("alternative", Kind::Text),
];

pub struct SqliteMigrationPlan;

pub struct Bind {
    path: String,
    request: PlanRequest,
}

/// The arguments shared with `sqlite_migrate`: tables, infer_types, types (overrides, and the
/// word 'infer' for value-based types).
pub fn plan_request(bind: &BindInfo) -> Result<PlanRequest> {
    let tables = args::named_string_list(bind, "tables")?;
    let mut rule = TypeRule::Declared;
    let mut overrides = Vec::new();
    for s in args::named_string_or_list(bind, "types")?.unwrap_or_default() {
        match type_rule_word(&s) {
            Some(r) => rule = r,
            None => overrides.push(parse_override(&s)?),
        }
    }
    let overrides: Vec<TypeOverride> = overrides;
    if !args::named_bool(bind, "infer_types", true) {
        rule = TypeRule::NameOnly;
    }
    Ok(PlanRequest {
        tables,
        overrides,
        rule,
    })
}

/// Named parameters shared with `sqlite_migrate`.
pub fn plan_named_parameters() -> Vec<(String, LogicalTypeHandle)> {
    let list = || LogicalTypeHandle::list(&LogicalTypeHandle::from(LogicalTypeId::Varchar));
    vec![
        ("tables".into(), list()),
        // ANY: 'infer', or a list of 'infer' and overrides.
        ("types".into(), LogicalTypeHandle::from(LogicalTypeId::Any)),
        (
            "infer_types".into(),
            LogicalTypeHandle::from(LogicalTypeId::Boolean),
        ),
    ]
}

fn compute(bind: &Bind) -> Result<Vec<Vec<Cell>>> {
    let src = SqliteSource::open(&bind.path)?;
    let plans = build_plan(&src, &bind.request)?;
    let mut rows = Vec::new();
    for p in &plans {
        let notes = p.notes.join("; ");
        for c in &p.columns {
            let mut reason = c.choice.reason.clone();
            if let Some(unit) = c.choice.epoch {
                reason.push_str(&format!(" [read as epoch {unit:?}]").to_lowercase());
            }
            if c.identity {
                match p.source.sequence {
                    Some(seq) => reason.push_str(&format!(
                        "; identity column, continues after the larger of the largest key and sqlite_sequence ({seq})"
                    )),
                    None => reason.push_str("; identity column, sequence set past the largest key"),
                }
            }
            let mut col_notes = notes.clone();
            if let Some(n) = &c.default_note {
                if !col_notes.is_empty() {
                    col_notes.push_str("; ");
                }
                col_notes.push_str(n);
            }
            rows.push(vec![
                Cell::Text(p.name().to_string()),
                Cell::Text(c.name.clone()),
                Cell::Text(c.declared_type.clone()),
                Cell::Text(c.classes.clone()),
                Cell::Text(c.choice.sql_type()),
                Cell::Text(reason),
                Cell::Bool(c.not_null),
                c.default.clone().map_or(Cell::Null, Cell::Text),
                Cell::Int(p.rows as i64),
                if col_notes.is_empty() {
                    Cell::Null
                } else {
                    Cell::Text(col_notes)
                },
                match &c.alternative {
                    None => Cell::Null,
                    Some((TypeRule::Infer, alt)) => {
                        Cell::Text(format!("{} ({})", alt.sql_type(), alt.reason))
                    }
                    Some((_, alt)) => {
                        Cell::Text(format!("by default: {} ({})", alt.sql_type(), alt.reason))
                    }
                },
            ]);
        }
    }
    for (v, note) in skipped_tables(&src, bind.request.tables.as_deref())? {
        rows.push(vec![
            Cell::Text(v.name.clone()),
            Cell::Null,
            Cell::Null,
            Cell::Null,
            Cell::Null,
            Cell::Text(format!("virtual table ({}): not migrated", v.module)),
            Cell::Null,
            Cell::Null,
            Cell::Null,
            Cell::Text(note),
            Cell::Null,
        ]);
    }
    Ok(rows)
}

impl VTab for SqliteMigrationPlan {
    type InitData = Pager;
    type BindData = Bind;

    fn bind(bind: &BindInfo) -> Result<Bind, Box<dyn std::error::Error>> {
        let path = args::required_string(bind, 0, "path").map_err(fail(NAME))?;
        let request = plan_request(bind).map_err(fail(NAME))?;
        declare(bind, &COLUMNS);
        Ok(Bind { path, request })
    }

    fn init(init: &InitInfo) -> Result<Pager, Box<dyn std::error::Error>> {
        Pager::compute(init, &COLUMNS, |bind: &Bind| {
            compute(bind).map_err(fail(NAME))
        })
    }

    fn func(
        func: &TableFunctionInfo<Self>,
        output: &mut DataChunkHandle,
    ) -> Result<(), Box<dyn std::error::Error>> {
        func.get_init_data().next(output)
    }

    fn parameters() -> Option<Vec<LogicalTypeHandle>> {
        Some(vec![LogicalTypeHandle::from(LogicalTypeId::Varchar)])
    }

    fn named_parameters() -> Option<Vec<(String, LogicalTypeHandle)>> {
        Some(plan_named_parameters())
    }
}
