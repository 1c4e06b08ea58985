//! `sqlite_catalog_migrate`'s plan: a DuckLake catalog moved from SQLite to PostgreSQL, run by the
//! one SQLite -> PostgreSQL pipeline ([`crate::migrate::execute`]) that `sqlite_migrate` uses.
//!
//! Only the plan is DuckLake's (pure, from the SQLite schema and the version's tables in
//! [`crate::ducklake::catalog`]): every catalog table gets exactly the columns, types, NOT NULLs and
//! primary keys DuckLake creates on PostgreSQL for that version; inlined-data tables get the
//! PostgreSQL backend's column types ([`crate::ducklake::types::inlined_pg_type`]); each column's
//! conversion is the PostgreSQL type's ([`PgType::copy_target`]); the whole schema counts as the
//! catalog for the existing-table policy; `data_path` is a closing UPDATE. Transaction, COPY,
//! streaming verification and COMMIT are the pipeline's.

use crate::ducklake::catalog::{self, CatalogColumn, Flags, Version};
use crate::ducklake::inlined::{self, LakeColumnRow};
use crate::ducklake::types::{inlined_pg_type, PgType};
use crate::error::{Error, Result};
use crate::migrate::execute::{self, Existing, Migration, TableJob, TableResult};
use crate::migrate::plan::target_name;
use crate::postgres::connect::ConnParams;
use crate::sql::{quote_ident, quote_literal};
use crate::sqlite::{RowValues, SqliteSource, SqliteValue};
use crate::types::pg_value::CopyColumn;

/// What to do when the target schema already holds catalog tables (`Replace` drops only the
/// `ducklake_*` tables, never others). The same choice `sqlite_migrate` offers.
pub use crate::migrate::plan::IfExists;

/// The tables of a DuckLake catalog all start with this; `if_exists := 'replace'` drops only those.
pub const CATALOG_PREFIX: &str = "ducklake_";

/// The arguments of `sqlite_catalog_migrate`.
#[derive(Debug, Clone)]
pub struct Options {
    pub schema: String,
    pub if_exists: IfExists,
    pub data_path: Option<String>,
    pub dry_run: bool,
    pub verify: bool,
}

/// One target table: its name and columns (name, PostgreSQL type, flags).
#[derive(Debug, Clone, PartialEq)]
pub struct TablePlan {
    pub name: String,
    pub columns: Vec<(String, PgType, Flags)>,
}

impl TablePlan {
    /// `CREATE TABLE "schema"."name"(...)` as DuckLake creates it through DuckDB's postgres extension.
    pub fn create_sql(&self, schema: &str) -> String {
        let cols: Vec<String> = self
            .columns
            .iter()
            .map(|(n, t, f)| {
                let suffix = match f {
                    Flags::PrimaryKey => " PRIMARY KEY",
                    Flags::NotNull => " NOT NULL",
                    Flags::Plain | Flags::Optional => "",
                };
                format!("{} {}{suffix}", quote_ident(n), t.sql())
            })
            .collect();
        format!(
            "CREATE TABLE {}.{}({})",
            quote_ident(schema),
            quote_ident(&self.name),
            cols.join(", ")
        )
    }

    /// The pipeline's job for this table: created with its primary key (as DuckLake does), each
    /// column converted to its PostgreSQL type.
    pub fn job(&self, schema: &str) -> TableJob {
        TableJob {
            name: self.name.clone(),
            create_sql: self.create_sql(schema),
            columns: self
                .columns
                .iter()
                .map(|(n, t, _)| CopyColumn::new(n.clone(), t.copy_target()))
                .collect(),
            key: self
                .columns
                .iter()
                .filter(|(_, _, f)| *f == Flags::PrimaryKey)
                .map(|(n, _, _)| n.clone())
                .collect(),
            after_load: Vec::new(),
            after_all: Vec::new(),
            notes: Vec::new(),
        }
    }
}

fn fixed(cols: &[CatalogColumn]) -> Vec<(String, PgType, Flags)> {
    cols.iter()
        .map(|c| (c.name.to_string(), c.ty.pg_type(), c.flags))
        .collect()
}

/// The catalog version of a SQLite catalog, or why it is not one.
pub fn sqlite_catalog_version(src: &SqliteSource) -> Result<Version> {
    let not_catalog = |why: &str| Error::Sqlite {
        path: src.path().display().to_string(),
        reason: format!("is not a DuckLake catalog ({why}); check the path"),
    };
    let names = src.table_names()?;
    if !names.iter().any(|n| n == "ducklake_metadata") {
        return Err(not_catalog("it has no ducklake_metadata table"));
    }
    let mut version = None;
    let cols = vec!["key".to_string(), "value".to_string()];
    src.for_each_row("ducklake_metadata", &cols, |r| {
        if r.value(0).text() == Some("version") {
            version = r.value(1).text().map(str::to_string);
        }
        Ok(())
    })?;
    Version::parse(&version.ok_or_else(|| not_catalog("ducklake_metadata has no version"))?)
}

/// The target tables for every table of the SQLite catalog. Pure except for reading SQLite.
pub fn plan(src: &SqliteSource, version: Version) -> Result<Vec<TablePlan>> {
    let names = src.table_names()?;
    let mut plans = Vec::new();
    let path = src.path().display().to_string();
    let bad = |reason: String| Error::Sqlite {
        path: path.clone(),
        reason,
    };
    for t in version.tables() {
        if !names.iter().any(|n| n == t.name) {
            return Err(bad(format!(
                "is not a complete DuckLake {} catalog: table {} is missing",
                version.as_str(),
                t.name
            )));
        }
    }
    // Inlined-data tables need the DuckLake types of their columns.
    let mut lake_columns: Option<LakeColumns> = None;
    for name in &names {
        if let Some(t) = version.table(name) {
            let have: Vec<String> = src
                .table(name)?
                .columns
                .into_iter()
                .map(|c| c.name)
                .collect();
            let cols: Vec<_> = t
                .columns
                .iter()
                .filter(|c| c.flags != Flags::Optional || have.iter().any(|h| h == c.name))
                .collect();
            let unknown: Vec<&String> = have
                .iter()
                .filter(|h| !cols.iter().any(|c| c.name == h.as_str()))
                .collect();
            let missing: Vec<&str> = cols
                .iter()
                .filter(|c| !have.iter().any(|h| h == c.name))
                .map(|c| c.name)
                .collect();
            if !unknown.is_empty() || !missing.is_empty() {
                return Err(bad(format!(
                    "table {name} does not match DuckLake {} (unexpected columns: {unknown:?}, missing: {missing:?})",
                    version.as_str()
                )));
            }
            plans.push(TablePlan {
                name: name.clone(),
                columns: cols
                    .iter()
                    .map(|c| (c.name.to_string(), c.ty.pg_type(), c.flags))
                    .collect(),
            });
        } else if let Some((table_id, sv)) = catalog::parse_inlined_data_name(name) {
            if lake_columns.is_none() {
                lake_columns = Some(read_lake_columns(src)?);
            }
            let (snapshots, columns) = lake_columns.as_ref().expect("just read");
            let at = inlined::snapshot_for_schema_version(snapshots, sv).ok_or_else(|| {
                bad(format!(
                    "{name}: no snapshot with schema version {sv} or older"
                ))
            })?;
            let have: Vec<String> = src
                .table(name)?
                .columns
                .into_iter()
                .map(|c| c.name)
                .collect();
            let sys = catalog::INLINED_DATA_SYSTEM_COLUMNS;
            if have.len() < sys.len() || have.iter().zip(sys).any(|(h, s)| h != s.name) {
                return Err(bad(format!("{name} is not a DuckLake inlined-data table")));
            }
            let data: Vec<String> = have[sys.len()..].to_vec();
            let lake = inlined::inlined_column_types(name, table_id, at, &data, columns)?;
            let mut cols = fixed(sys);
            for (n, t) in data.into_iter().zip(lake) {
                cols.push((n, inlined_pg_type(t, version)?, Flags::Plain));
            }
            plans.push(TablePlan {
                name: name.clone(),
                columns: cols,
            });
        } else if catalog::parse_inlined_delete_name(name).is_some() {
            plans.push(TablePlan {
                name: name.clone(),
                columns: fixed(catalog::INLINED_DELETE_COLUMNS),
            });
        } else {
            return Err(bad(format!(
                "table {name} is not part of a DuckLake {} catalog; lakemig moves catalogs only \
                 (use sqlite_migrate for other tables)",
                version.as_str()
            )));
        }
    }
    Ok(plans)
}

/// `(snapshot_id, schema_version)` of every snapshot, and every `ducklake_column` row.
type LakeColumns = (Vec<(i64, i64)>, Vec<LakeColumnRow>);

fn read_lake_columns(src: &SqliteSource) -> Result<LakeColumns> {
    let mut snaps = Vec::new();
    let cols = vec!["snapshot_id".to_string(), "schema_version".to_string()];
    src.for_each_row("ducklake_snapshot", &cols, |r| {
        if let (SqliteValue::Integer(a), SqliteValue::Integer(b)) = (r.value(0), r.value(1)) {
            snaps.push((a, b));
        }
        Ok(())
    })?;
    let names: Vec<String> = [
        "table_id",
        "column_name",
        "column_type",
        "begin_snapshot",
        "end_snapshot",
        "parent_column",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let int = |v: SqliteValue<'_>| match v {
        SqliteValue::Integer(i) => Some(i),
        _ => None,
    };
    let mut out = Vec::new();
    src.for_each_row("ducklake_column", &names, |r| {
        out.push(LakeColumnRow {
            table_id: int(r.value(0)).unwrap_or(-1),
            column_name: r.value(1).text().unwrap_or_default().to_string(),
            column_type: r.value(2).text().unwrap_or_default().to_string(),
            begin_snapshot: int(r.value(3)).unwrap_or(i64::MAX),
            end_snapshot: int(r.value(4)),
            parent_column: int(r.value(5)),
        });
        Ok(())
    })?;
    Ok((snaps, out))
}

/// The pipeline's input for a catalog: every table's job, the whole schema as the catalog's, and
/// (with `data_path`) the UPDATE of `ducklake_metadata`'s `data_path` once every table is in.
pub fn migration(
    schema: &str,
    version: Version,
    plans: &[TablePlan],
    data_path: Option<&str>,
) -> Migration {
    let mut finish = Vec::new();
    if let Some(dp) = data_path {
        let dp = if dp.ends_with('/') {
            dp.to_string()
        } else {
            format!("{dp}/")
        };
        let scope = if version.has_metadata_scope() {
            " AND scope IS NULL"
        } else {
            ""
        };
        finish.push(format!(
            "UPDATE {} SET value = {} WHERE key = 'data_path'{scope}",
            target_name(schema, "ducklake_metadata"),
            quote_literal(&dp)
        ));
    }
    Migration {
        schema: schema.to_string(),
        tables: plans.iter().map(|p| p.job(schema)).collect(),
        existing: Existing::Schema {
            owned_prefix: CATALOG_PREFIX,
            owner: "a DuckLake catalog",
        },
        finish,
    }
}

/// Run `sqlite_catalog_migrate`: plan from the SQLite catalog, then the pipeline (one transaction,
/// verified). With `dry_run` the plan alone: each table's DDL and SQLite row count, nothing written.
pub async fn migrate(
    src: SqliteSource,
    params: &ConnParams,
    opts: &Options,
) -> Result<Vec<TableResult>> {
    let version = sqlite_catalog_version(&src)?;
    let plans = plan(&src, version)?;
    let m = migration(&opts.schema, version, &plans, opts.data_path.as_deref());
    if opts.dry_run {
        return m
            .tables
            .iter()
            .map(|t| {
                Ok(TableResult {
                    table: t.name.clone(),
                    target: target_name(&m.schema, &t.name),
                    rows: src.row_count(&t.name)?,
                    verified: None,
                    checksum: None,
                    seconds: 0.0,
                    committed: false,
                    notes: String::new(),
                    ddl: t.create_sql.clone(),
                })
            })
            .collect();
    }
    let run = execute::Options {
        if_exists: opts.if_exists,
        verify: opts.verify,
        dry_run: false,
    };
    execute::migrate(src, params, &m, &run).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::convert::convert;
    use crate::types::pg_value::{PgTarget, PgValue};

    /// A SQLite catalog value through the pipeline's conversion (what the COPY sends).
    fn reencode(t: PgTarget, v: SqliteValue<'_>) -> std::result::Result<PgValue<'_>, String> {
        convert(t, None, v)
    }

    #[test]
    fn create_sql_matches_ducklake() {
        let t = Version::V1_0.table("ducklake_metadata").unwrap();
        let p = TablePlan {
            name: t.name.into(),
            columns: fixed(t.columns),
        };
        assert_eq!(
            p.create_sql("stage"),
            "CREATE TABLE \"stage\".\"ducklake_metadata\"(\"key\" character varying NOT NULL, \"value\" character varying NOT NULL, \"scope\" character varying, \"scope_id\" bigint)"
        );
        let s = Version::V1_0.table("ducklake_snapshot").unwrap();
        let p = TablePlan {
            name: s.name.into(),
            columns: fixed(s.columns),
        };
        assert!(p.create_sql("x").contains(
            "\"snapshot_id\" bigint PRIMARY KEY, \"snapshot_time\" timestamp with time zone"
        ));
    }

    /// The values a SQLite catalog holds (DuckDB's text forms), re-encoded for PostgreSQL.
    #[test]
    fn reencodes_sqlite_values() {
        use SqliteValue as S;
        assert_eq!(
            reencode(PgTarget::Bool, S::Integer(1)).unwrap(),
            PgValue::Bool(true)
        );
        assert!(reencode(PgTarget::Bool, S::Integer(2)).is_err());
        assert!(
            matches!(reencode(PgTarget::Float8, S::Text(b"nan")).unwrap(), PgValue::Float8(f) if f.is_nan())
        );
        assert_eq!(
            reencode(PgTarget::Float4, S::Text(b"-inf")).unwrap(),
            PgValue::Float4(f32::NEG_INFINITY)
        );
        assert_eq!(
            reencode(PgTarget::Float4, S::Text(b"1.5")).unwrap(),
            PgValue::Float4(1.5)
        );
        assert_eq!(
            reencode(PgTarget::Bytea, S::Text("h\u{e9}".as_bytes())).unwrap(),
            PgValue::Bytea(b"h\xc3\xa9".to_vec().into())
        );
        assert_eq!(
            reencode(
                PgTarget::Interval,
                S::Text(b"1 year 2 months 3 days 04:05:06.789")
            )
            .unwrap(),
            PgValue::Interval {
                months: 14,
                days: 3,
                micros: 14_706_789_000
            }
        );
        assert_eq!(
            reencode(PgTarget::TimeTz, S::Text(b"12:00:00+03")).unwrap(),
            PgValue::TimeTz(43_200_000_000, 10_800)
        );
        assert!(matches!(
            reencode(
                PgTarget::TimestampTz,
                S::Text(b"2026-11-21 12:22:40.762099+00")
            )
            .unwrap(),
            PgValue::TimestampTz(_)
        ));
        assert!(matches!(
            reencode(PgTarget::Numeric, S::Text(b"123.456")).unwrap(),
            PgValue::Numeric(_)
        ));
        assert!(matches!(
            reencode(
                PgTarget::Uuid,
                S::Text(b"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
            )
            .unwrap(),
            PgValue::Uuid(_)
        ));
    }

    #[test]
    fn migration_is_the_pipelines_input() {
        let v = Version::V1_0;
        let plans: Vec<TablePlan> = ["ducklake_metadata", "ducklake_snapshot"]
            .iter()
            .map(|n| {
                let t = v.table(n).unwrap();
                TablePlan {
                    name: t.name.into(),
                    columns: fixed(t.columns),
                }
            })
            .collect();
        let m = migration("stage", v, &plans, Some("s3://b/p"));
        assert_eq!(
            m.existing,
            Existing::Schema {
                owned_prefix: "ducklake_",
                owner: "a DuckLake catalog"
            }
        );
        assert_eq!(m.tables[0].create_sql, plans[0].create_sql("stage"));
        assert!(m.tables[0].key.is_empty());
        assert_eq!(m.tables[1].key, vec!["snapshot_id".to_string()]);
        let time = m.tables[1]
            .columns
            .iter()
            .find(|c| c.name == "snapshot_time")
            .unwrap();
        assert_eq!(time.target, PgTarget::TimestampTz);
        assert!(m.tables.iter().all(|t| t.after_load.is_empty()));
        assert_eq!(
            m.finish,
            vec!["UPDATE \"stage\".\"ducklake_metadata\" SET value = 's3://b/p/' WHERE key = 'data_path' AND scope IS NULL".to_string()]
        );
        let m = migration("stage", Version::V0_1, &plans, Some("it's/"));
        assert_eq!(
            m.finish,
            vec!["UPDATE \"stage\".\"ducklake_metadata\" SET value = 'it''s/' WHERE key = 'data_path'".to_string()]
        );
        assert!(migration("stage", v, &plans, None).finish.is_empty());
    }
}
