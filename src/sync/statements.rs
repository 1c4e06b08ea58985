//! Every DuckDB statement a sync runs, as data ([`Statement`]) with its SQL text, and the rules
//! that choose them: how columns may drift, how rows are upserted and deleted, where Parquet copies
//! go. No I/O here.

use super::checkpoint;
use super::target::{TableRef, Target, BACKFILL_TABLE, KEYS_TABLE, STAGE_TABLE};
use crate::error::{Error, Result};
use crate::sql::{quote_ident, quote_literal};
use crate::types::DuckType;

/// DuckLake's own commit retries, on lakemig's connection (its default is 10; the setting is
/// `ducklake_max_retry_count`). When N transactions commit at once, each takes the next snapshot id
/// and all but one collide; DuckLake then re-checks for real conflicts and tries again after a short
/// random wait (50-100 ms x 1.5^n), cheaply (nothing is rewritten). The same commits in plain SQL
/// (8 processes, a table each plus its own checkpoint table) once ran out of 10 ("Exceeded the
/// maximum retry count of 10"); with 100, 8 and 16 processes always committed. A real conflict (two
/// syncs of one target) still fails at the first re-check, whatever the count.
pub const COMMIT_RETRIES: u64 = 100;

/// A statement the engine asks the session to run.
#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    Begin,
    Commit,
    Rollback,
    /// `preserve_insertion_order` for lakemig's own session: off while a bootstrap copies (a sync
    /// target has no row order to keep, and without it DuckDB inserts on every thread), then reset.
    PreserveInsertionOrder(bool),
    CreateSchema {
        catalog: String,
        schema: String,
    },
    /// A target's checkpoint table (see [`checkpoint`]).
    CreateCheckpointTable(Target),
    /// Move a target's row out of the earlier releases' shared checkpoint table (`copy`: into the
    /// target's own table; false when that already has one). Changes: the rows deleted.
    MoveLegacyCheckpoint {
        target: Target,
        copy: bool,
    },
    /// DuckLake's commit retries on lakemig's own connection, at least this many (see
    /// [`COMMIT_RETRIES`]).
    CommitRetries(u64),
    /// Checkpoint this catalog's WAL into its file (a DuckDB file's, not a DuckLake's).
    Checkpoint(String),
    /// A table with these columns; a `temp` table is created or replaced.
    CreateTable {
        table: TableRef,
        columns: Vec<(String, DuckType)>,
    },
    /// Copy every row of `from` into `into`, matching columns by name.
    InsertByName {
        into: TableRef,
        from: TableRef,
    },
    AddColumn {
        table: TableRef,
        name: String,
        ty: String,
    },
    AddPrimaryKey {
        table: TableRef,
        key: Vec<String>,
    },
    /// Set `columns` of the target's rows from the backfill table, matched by key.
    Backfill {
        target: Target,
        key: Vec<String>,
        columns: Vec<String>,
    },
    /// Upsert the staged rows into the target (see [`upsert_sql`]).
    Upsert {
        target: Target,
        has_primary_key: bool,
        key: Vec<String>,
        target_columns: Vec<String>,
        staged_columns: Vec<String>,
    },
    /// Delete the target's rows whose key the source no longer has (see [`hard_delete_sql`]).
    DeleteMissing {
        target: Target,
        key: Vec<String>,
    },
    CopyToParquet {
        from: TableRef,
        path: String,
    },
    DropTable(TableRef),
    /// Every row of the target goes (`DELETE`: DuckLake has no TRUNCATE): a `full` sync replaces them
    /// in the same transaction; a CDC stream's TRUNCATE.
    DeleteAll(TableRef),
    /// One segment of a CDC stream applied to its target (see `cdc::apply_sql`).
    CdcApply(Vec<String>),
}

impl Statement {
    /// The SQL, one or more statements run in order.
    pub fn sql(&self) -> Vec<String> {
        let one = |s: String| vec![s];
        match self {
            Statement::Begin => one("BEGIN TRANSACTION".into()),
            Statement::Commit => one("COMMIT".into()),
            Statement::Rollback => one("ROLLBACK".into()),
            Statement::PreserveInsertionOrder(true) => {
                one("RESET SESSION preserve_insertion_order".into())
            }
            Statement::PreserveInsertionOrder(false) => {
                one("SET SESSION preserve_insertion_order = false".into())
            }
            Statement::CreateSchema { catalog, schema } => one(format!(
                "CREATE SCHEMA IF NOT EXISTS {}.{}",
                quote_ident(catalog),
                quote_ident(schema)
            )),
            Statement::CreateCheckpointTable(target) => one(checkpoint::ddl(target)),
            Statement::MoveLegacyCheckpoint { target, copy } => {
                checkpoint::move_legacy_sql(target, *copy)
            }
            Statement::Checkpoint(c) => one(format!("CHECKPOINT {}", quote_ident(c))),
            Statement::CommitRetries(n) => one(format!(
                "SET SESSION ducklake_max_retry_count = \
                 greatest(CAST(current_setting('ducklake_max_retry_count') AS UBIGINT), {n})"
            )),
            Statement::CreateTable { table, columns } => {
                let cols = columns
                    .iter()
                    .map(|(n, t)| format!("{} {t}", quote_ident(n)))
                    .collect::<Vec<_>>()
                    .join(", ");
                one(if table.catalog == "temp" {
                    format!(
                        "CREATE OR REPLACE TEMP TABLE {} ({cols})",
                        quote_ident(&table.name)
                    )
                } else {
                    format!("CREATE TABLE {} ({cols})", table.quoted())
                })
            }
            Statement::InsertByName { into, from } => one(format!(
                "INSERT INTO {} BY NAME SELECT * FROM {}",
                into.quoted(),
                from.quoted()
            )),
            Statement::AddColumn { table, name, ty } => one(format!(
                "ALTER TABLE {} ADD COLUMN {} {ty}",
                table.quoted(),
                quote_ident(name)
            )),
            Statement::AddPrimaryKey { table, key } => one(format!(
                "ALTER TABLE {} ADD PRIMARY KEY ({})",
                table.quoted(),
                key.iter()
                    .map(|k| quote_ident(k))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Statement::Backfill {
                target,
                key,
                columns,
            } => one(backfill_sql(target, key, columns)),
            Statement::Upsert {
                target,
                has_primary_key,
                key,
                target_columns,
                staged_columns,
            } => upsert_sql(
                target,
                *has_primary_key,
                key,
                target_columns,
                staged_columns,
            ),
            Statement::DeleteMissing { target, key } => one(hard_delete_sql(target, key)),
            Statement::CopyToParquet { from, path } => one(format!(
                "COPY (SELECT * FROM {}) TO {} (FORMAT parquet)",
                from.quoted(),
                quote_literal(path)
            )),
            Statement::DropTable(table) => one(format!("DROP TABLE IF EXISTS {}", table.quoted())),
            Statement::DeleteAll(table) => one(format!("DELETE FROM {}", table.quoted())),
            Statement::CdcApply(sql) => sql.clone(),
        }
    }

    /// What the sync was doing, for an error message.
    pub fn context(&self) -> &'static str {
        match self {
            Statement::Begin => "starting the DuckDB transaction",
            Statement::Commit => "committing",
            Statement::Rollback => "rolling back",
            Statement::PreserveInsertionOrder(_) => "setting up the bootstrap",
            Statement::CreateSchema { .. } => "creating the target schema",
            Statement::CreateCheckpointTable(_) => "creating the checkpoint table",
            Statement::MoveLegacyCheckpoint { .. } => {
                "moving the checkpoint out of main.lakemig_sync_state"
            }
            Statement::CommitRetries(_) => "raising ducklake_max_retry_count",
            Statement::Checkpoint(_) => "checkpointing",
            Statement::CreateTable { .. } => "creating a table for the rows read",
            Statement::InsertByName { .. } => "copying the source table",
            Statement::AddColumn { .. } => "adding a column to the target",
            Statement::AddPrimaryKey { .. } => "adding the primary key to the target",
            Statement::Backfill { .. } => "filling the added columns",
            Statement::Upsert { .. } => "upserting the changed rows",
            Statement::DeleteMissing { .. } => "deleting rows gone from the source",
            Statement::CopyToParquet { .. } => "writing the Parquet copy",
            Statement::DropTable(_) => "dropping a work table",
            Statement::DeleteAll(_) => "deleting every row of the target",
            Statement::CdcApply(_) => "applying the replication stream's changes",
        }
    }
}

/// The new watermark: the largest cursor value in `rows`, never past `cap` (the safe bound) and
/// never below `floor` (the previous watermark), compared in the cursor's DuckDB type and printed
/// as DuckDB prints it. `?1` is `floor`, `?2` is `cap`.
#[derive(Debug, Clone, PartialEq)]
pub struct Watermark {
    pub rows: TableRef,
    pub cursor: String,
    pub cursor_type: String,
    pub floor: Option<String>,
    pub cap: Option<String>,
}

impl Watermark {
    pub fn sql(&self) -> String {
        let ty = &self.cursor_type;
        format!(
            "SELECT CAST(CASE WHEN m IS NULL THEN CAST(?1 AS {ty}) \
             ELSE greatest(CAST(?1 AS {ty}), least(m, CAST(?2 AS {ty}))) END AS VARCHAR) \
             FROM (SELECT max({}) AS m FROM {})",
            quote_ident(&self.cursor),
            self.rows.quoted()
        )
    }
}

/// The DuckDB type of a table's cursor column.
pub fn cursor_type_of(columns: &[(String, String)], cursor: &str) -> Option<String> {
    columns
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(cursor))
        .map(|(_, t)| t.clone())
}

/// Can values of DuckDB type `source` (as `typeof` spells it) go into a column of type `target`
/// without losing anything? Identical types; a DECIMAL into one at least as wide on both sides of
/// the point; a DECIMAL(38,s) (an unconstrained numeric, sized from the rows read) into any DECIMAL of
/// at least its scale, where DuckDB's cast checks each value; a DECIMAL into VARCHAR (an
/// unconstrained numeric that once needed exact text).
pub fn type_fits(source: &str, target: &str) -> bool {
    if source.eq_ignore_ascii_case(target) {
        return true;
    }
    match (decimal_parts(source), decimal_parts(target)) {
        (Some((w1, s1)), Some((w2, s2))) => s1 <= s2 && (w1 - s1 <= w2 - s2 || w1 == 38),
        (Some(_), None) => target.eq_ignore_ascii_case("VARCHAR"),
        _ => false,
    }
}

fn decimal_parts(t: &str) -> Option<(i32, i32)> {
    let inner = t.strip_prefix("DECIMAL(")?.strip_suffix(')')?;
    let (w, s) = inner.split_once(',')?;
    Some((w.trim().parse().ok()?, s.trim().parse().ok()?))
}

/// How the source's columns differ from the target's: the columns to add, in source order. A type
/// that no longer fits is an error that names the column, both types and the fixes.
pub fn diff_columns(
    target_name: &str,
    source: &[(String, String)],
    target: &[(String, String)],
) -> Result<Vec<(String, String)>> {
    let mut added = Vec::new();
    for (name, ty) in source {
        match target.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            None => added.push((name.clone(), ty.clone())),
            Some((_, tty)) if type_fits(ty, tty) => {}
            Some((tname, tty)) => {
                return Err(Error::argument(format!(
                    "column {} changed type in PostgreSQL: the target {target_name} has {tty}, the source now gives {ty}; \
                     nothing was changed. Convert the target column (ALTER TABLE {target_name} ALTER COLUMN {} TYPE {ty}) \
                     or drop the target and its checkpoint row to bootstrap again",
                    quote_ident(name),
                    quote_ident(tname)
                )))
            }
        }
    }
    Ok(added)
}

/// `a.k1 = b.k1 AND a.k2 = b.k2`.
pub fn key_join(a: &str, b: &str, key: &[String]) -> String {
    key.iter()
        .map(|k| {
            let k = quote_ident(k);
            format!("{a}.{k} = {b}.{k}")
        })
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// The statements that upsert the staged rows into the target. A native DuckDB table with the
/// primary key uses `INSERT OR REPLACE`; a DuckLake table (no keys) deletes the staged keys, then
/// inserts. Every target column is written: a column the source no longer has becomes NULL.
pub fn upsert_sql(
    target: &Target,
    has_primary_key: bool,
    key: &[String],
    target_columns: &[String],
    staged_columns: &[String],
) -> Vec<String> {
    let t = target.quoted();
    let stage = quote_ident(STAGE_TABLE);
    let names = target_columns
        .iter()
        .map(|c| quote_ident(c))
        .collect::<Vec<_>>()
        .join(", ");
    let values = target_columns
        .iter()
        .map(
            |c| match staged_columns.iter().find(|s| s.eq_ignore_ascii_case(c)) {
                Some(s) => quote_ident(s),
                None => "NULL".to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join(", ");
    let insert =
        |verb: &str| format!("{verb} INTO {t} ({names}) SELECT {values} FROM temp.main.{stage}");
    if has_primary_key {
        vec![insert("INSERT OR REPLACE")]
    } else {
        vec![
            format!(
                "DELETE FROM {t} AS __t WHERE EXISTS (SELECT 1 FROM temp.main.{stage} AS __s WHERE {})",
                key_join("__t", "__s", key)
            ),
            insert("INSERT"),
        ]
    }
}

/// Delete target rows whose key is not among the source's keys (staged in `KEYS_TABLE`).
pub fn hard_delete_sql(target: &Target, key: &[String]) -> String {
    format!(
        "DELETE FROM {} AS __t WHERE NOT EXISTS (SELECT 1 FROM temp.main.{} AS __k WHERE {})",
        target.quoted(),
        quote_ident(KEYS_TABLE),
        key_join("__t", "__k", key)
    )
}

/// Columns added in PostgreSQL: existing rows get their values too (an added column with a default
/// does not touch `updated_at`), read by key in the same snapshot into `BACKFILL_TABLE`.
pub fn backfill_sql(target: &Target, key: &[String], columns: &[String]) -> String {
    let sets = columns
        .iter()
        .map(|n| {
            let q = quote_ident(n);
            format!("{q} = __b.{q}")
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "UPDATE {} AS __t SET {sets} FROM temp.main.{} AS __b WHERE {}",
        target.quoted(),
        quote_ident(BACKFILL_TABLE),
        key_join("__t", "__b", key)
    )
}

/// The file a sync's rows are also written to when `parquet_dir` is given:
/// `<dir>/<schema>.<table>/<run start, UTC, µs>-<mode>.parquet`.
pub fn parquet_path(dir: &str, target: &Target, run_micros: i64, mode: &str) -> String {
    let safe = |s: &str| {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect::<String>()
    };
    format!(
        "{}/{}.{}/{run_micros:020}-{mode}.parquet",
        dir.trim_end_matches('/'),
        safe(&target.schema),
        safe(&target.name)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(ducklake: bool) -> Target {
        Target {
            catalog: "lake".into(),
            schema: "main".into(),
            name: "Subs \"x\"".into(),
            ducklake,
        }
    }

    #[test]
    fn types_that_fit() {
        assert!(type_fits("BIGINT", "BIGINT"));
        assert!(type_fits("DECIMAL(38,2)", "DECIMAL(38,4)"));
        assert!(type_fits("DECIMAL(10,2)", "DECIMAL(12,4)"));
        assert!(!type_fits("DECIMAL(38,4)", "DECIMAL(38,2)"));
        assert!(!type_fits("DECIMAL(12,2)", "DECIMAL(10,2)"));
        assert!(type_fits("DECIMAL(12,2)", "VARCHAR"));
        assert!(!type_fits("VARCHAR", "DECIMAL(38,2)"));
        assert!(!type_fits("BIGINT", "INTEGER"));
        assert!(!type_fits("VARCHAR", "JSON"));
    }

    #[test]
    fn drift_adds_and_refuses() {
        let s = |v: &[(&str, &str)]| {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect::<Vec<_>>()
        };
        let added = diff_columns(
            "t",
            &s(&[("id", "BIGINT"), ("new", "VARCHAR")]),
            &s(&[("id", "BIGINT"), ("gone", "INTEGER")]),
        )
        .unwrap();
        assert_eq!(added, s(&[("new", "VARCHAR")]));
        let err = diff_columns("t", &s(&[("id", "VARCHAR")]), &s(&[("id", "BIGINT")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("changed type") && err.contains("BIGINT") && err.contains("VARCHAR"));
    }

    #[test]
    fn upserts_by_key() {
        let cols = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let native = upsert_sql(
            &target(false),
            true,
            &cols(&["id"]),
            &cols(&["id", "gone", "v"]),
            &cols(&["id", "v", "new"]),
        );
        assert_eq!(
            native,
            vec!["INSERT OR REPLACE INTO \"lake\".\"main\".\"Subs \"\"x\"\"\" (\"id\", \"gone\", \"v\") \
                  SELECT \"id\", NULL, \"v\" FROM temp.main.\"__lakemig_sync_stage\""]
        );
        let lake = upsert_sql(
            &target(true),
            false,
            &cols(&["a", "b b"]),
            &cols(&["a"]),
            &cols(&["a"]),
        );
        assert!(lake[0].contains("__t.\"a\" = __s.\"a\" AND __t.\"b b\" = __s.\"b b\""));
        assert!(lake[1].starts_with("INSERT INTO"));
        assert!(hard_delete_sql(&target(true), &["id".into()]).contains("NOT EXISTS"));
    }

    #[test]
    fn parquet_paths_are_tame() {
        let p = parquet_path("/tmp/out/", &target(false), 42, "incremental");
        assert_eq!(
            p,
            "/tmp/out/main.Subs__x_/00000000000000000042-incremental.parquet"
        );
    }

    #[test]
    fn tables_are_created_from_the_scan_types() {
        let t = TableRef {
            catalog: "db".into(),
            schema: "raw".into(),
            name: "t".into(),
        };
        let columns = vec![
            (
                "amount".to_string(),
                DuckType::Decimal {
                    width: 12,
                    scale: 2,
                },
            ),
            ("meta".into(), DuckType::Json),
            ("tags".into(), DuckType::List(Box::new(DuckType::Varchar))),
        ];
        let create = Statement::CreateTable {
            table: t.clone(),
            columns: columns.clone(),
        };
        assert_eq!(
            create.sql(),
            vec!["CREATE TABLE \"db\".\"raw\".\"t\" (\"amount\" DECIMAL(12,2), \"meta\" JSON, \"tags\" VARCHAR[])"]
        );
        let temp = Statement::CreateTable {
            table: TableRef::temp(STAGE_TABLE),
            columns,
        };
        assert!(
            temp.sql()[0].starts_with("CREATE OR REPLACE TEMP TABLE \"__lakemig_sync_stage\" (")
        );
    }

    #[test]
    fn watermark_is_capped_and_never_goes_back() {
        let w = Watermark {
            rows: TableRef::temp(STAGE_TABLE),
            cursor: "updated_at".into(),
            cursor_type: "TIMESTAMP WITH TIME ZONE".into(),
            floor: None,
            cap: None,
        };
        let sql = w.sql();
        assert!(sql.contains("greatest(CAST(?1 AS TIMESTAMP WITH TIME ZONE), least(m, CAST(?2 AS TIMESTAMP WITH TIME ZONE)))"));
        assert!(sql.ends_with("FROM (SELECT max(\"updated_at\") AS m FROM \"temp\".\"main\".\"__lakemig_sync_stage\")"));
    }
}
