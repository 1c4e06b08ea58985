//! `ducklake_fix_types`: find every column of a DuckLake catalog on PostgreSQL whose type (or NOT NULL)
//! differs from what DuckLake itself creates on PostgreSQL for the catalog's version, and convert it
//! with a safe cast, all in one transaction. Catalogs moved with pgloader (or a per-table copy) keep
//! SQLite's types: text for VARCHAR/UUID/TIMESTAMPTZ, bigint for BOOLEAN, and SQLite's encoding in the
//! inlined-data tables.

use std::collections::BTreeMap;

use tokio_postgres::{Client, Transaction};

use crate::ducklake::catalog::{self, CatalogColumn, Version};
use crate::ducklake::inlined::{self, LakeColumnRow};
use crate::ducklake::types::{self, inlined_pg_type, PgType};
use crate::error::{Error, Result};
use crate::sql::{quote_ident, quote_literal};

/// One column to convert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub table: String,
    pub column: String,
    /// As PostgreSQL prints it, with ` NOT NULL` when the column is NOT NULL.
    pub from_type: String,
    pub to_type: String,
    /// The statement that converts it.
    pub statement: String,
    /// A query that returns the first value the conversion would reject silently or without naming it.
    check: Option<String>,
}

/// A column as PostgreSQL has it.
#[derive(Debug, Clone)]
pub struct PgColumn {
    pub name: String,
    pub format_type: String,
    pub not_null: bool,
}

/// The columns of every table in `schema`, by table name, in column order.
pub async fn schema_columns(
    client: &Client,
    schema: &str,
    target: &str,
) -> Result<BTreeMap<String, Vec<PgColumn>>> {
    let rows = client
        .query(
            "SELECT c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull \
             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY c.relname, a.attnum",
            &[&schema],
        )
        .await
        .map_err(|e| Error::from_pg(e, "reading the catalog's columns", target))?;
    let mut out: BTreeMap<String, Vec<PgColumn>> = BTreeMap::new();
    for r in rows {
        out.entry(r.get(0)).or_default().push(PgColumn {
            name: r.get(1),
            format_type: r.get(2),
            not_null: r.get(3),
        });
    }
    Ok(out)
}

/// The catalog version in `schema`.ducklake_metadata, or a clear error when `schema` holds no catalog.
pub async fn pg_catalog_version(
    client: &impl tokio_postgres::GenericClient,
    schema: &str,
    has_metadata: bool,
    target: &str,
) -> Result<Version> {
    if !has_metadata {
        return Err(Error::argument(format!(
            "schema {} holds no DuckLake catalog (no ducklake_metadata table); pass the METADATA_SCHEMA \
             of the catalog as schema := '...'",
            quote_literal(schema)
        )));
    }
    let sql = format!(
        "SELECT value::text FROM {}.ducklake_metadata WHERE key = 'version'",
        quote_ident(schema)
    );
    let rows = client
        .query(sql.as_str(), &[])
        .await
        .map_err(|e| Error::from_pg(e, "reading the catalog version", target))?;
    let v: String = rows.first().map(|r| r.get(0)).ok_or_else(|| {
        Error::argument(format!(
            "{}.ducklake_metadata has no version row: not a DuckLake catalog",
            quote_ident(schema)
        ))
    })?;
    Version::parse(&v)
}

/// The native type (and NOT NULL) of every column of every catalog table that exists in `have`,
/// including inlined-data and inlined-delete tables. Reads `ducklake_column` and friends through
/// `client`.
async fn expected_columns(
    client: &impl tokio_postgres::GenericClient,
    schema: &str,
    version: Version,
    have: &BTreeMap<String, Vec<PgColumn>>,
    target: &str,
) -> Result<BTreeMap<String, Vec<(String, PgType, bool)>>> {
    let mut out = BTreeMap::new();
    let plain = |cols: &[CatalogColumn]| -> Vec<(String, PgType, bool)> {
        cols.iter()
            .map(|c| (c.name.to_string(), c.ty.pg_type(), c.not_null()))
            .collect()
    };
    for t in version.tables() {
        if have.contains_key(t.name) {
            out.insert(t.name.to_string(), plain(t.columns));
        }
    }
    let q = |sql: String| async move {
        client
            .query(sql.as_str(), &[])
            .await
            .map_err(|e| Error::from_pg(e, "reading the catalog", target))
    };
    let s = quote_ident(schema);
    let inlined: Vec<&String> = have
        .keys()
        .filter(|n| catalog::parse_inlined_data_name(n).is_some())
        .collect();
    if !inlined.is_empty() {
        let snapshots: Vec<(i64, i64)> = q(format!(
            "SELECT snapshot_id::int8, schema_version::int8 FROM {s}.ducklake_snapshot"
        ))
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
        let columns: Vec<LakeColumnRow> = q(format!(
            "SELECT table_id::int8, column_name::text, column_type::text, begin_snapshot::int8, \
             end_snapshot::int8, parent_column::int8 FROM {s}.ducklake_column"
        ))
        .await?
        .iter()
        .map(|r| LakeColumnRow {
            table_id: r.get(0),
            column_name: r.get(1),
            column_type: r.get(2),
            begin_snapshot: r.get(3),
            end_snapshot: r.get(4),
            parent_column: r.get(5),
        })
        .collect();
        for name in inlined {
            let (table_id, sv) = catalog::parse_inlined_data_name(name).unwrap_or_default();
            let at = inlined::snapshot_for_schema_version(&snapshots, sv).ok_or_else(|| {
                Error::argument(format!(
                    "{name}: no snapshot with schema version {sv} or older"
                ))
            })?;
            let cols = &have[name.as_str()];
            let sys = catalog::INLINED_DATA_SYSTEM_COLUMNS;
            let data_names: Vec<String> = cols
                .iter()
                .skip(sys.len())
                .map(|c| c.name.clone())
                .collect();
            let lake = inlined::inlined_column_types(name, table_id, at, &data_names, &columns)?;
            let mut exp = plain(sys);
            for (n, t) in data_names.into_iter().zip(lake) {
                exp.push((n, inlined_pg_type(t, version)?, false));
            }
            out.insert(name.clone(), exp);
        }
    }
    for name in have.keys() {
        if catalog::parse_inlined_delete_name(name).is_some() {
            out.insert(name.clone(), plain(catalog::INLINED_DELETE_COLUMNS));
        }
    }
    Ok(out)
}

fn with_not_null(t: &str, not_null: bool) -> String {
    if not_null {
        format!("{t} NOT NULL")
    } else {
        t.to_string()
    }
}

/// Compare and plan: one [`Change`] per column that differs. Pure.
pub fn plan_changes(
    schema: &str,
    have: &BTreeMap<String, Vec<PgColumn>>,
    expected: &BTreeMap<String, Vec<(String, PgType, bool)>>,
) -> Vec<Change> {
    let mut out = Vec::new();
    for (table, cols) in expected {
        let Some(actual) = have.get(table) else {
            continue;
        };
        let qt = format!("{}.{}", quote_ident(schema), quote_ident(table));
        for (name, ty, not_null) in cols {
            let Some(a) = actual.iter().find(|c| &c.name == name) else {
                continue;
            };
            let want = ty.sql();
            let type_differs = a.format_type != want;
            let add_not_null = *not_null && !a.not_null;
            if !type_differs && !add_not_null {
                continue;
            }
            let qc = quote_ident(name);
            let mut clauses = Vec::new();
            if type_differs {
                clauses.push(format!(
                    "ALTER COLUMN {qc} TYPE {want} USING {}",
                    types::pg_conversion_sql(&qc, &a.format_type, *ty)
                ));
            }
            if add_not_null {
                clauses.push(format!("ALTER COLUMN {qc} SET NOT NULL"));
            }
            let check = if type_differs {
                types::pg_unconvertible_predicate(&qc, &a.format_type, *ty)
                    .map(|p| format!("SELECT {qc}::text FROM {qt} WHERE {p} LIMIT 1"))
            } else {
                None
            }
            .or_else(|| {
                add_not_null.then(|| format!("SELECT 'NULL' FROM {qt} WHERE {qc} IS NULL LIMIT 1"))
            });
            out.push(Change {
                table: table.clone(),
                column: name.clone(),
                from_type: with_not_null(&a.format_type, a.not_null),
                to_type: with_not_null(&want, *not_null || a.not_null),
                statement: format!("ALTER TABLE {qt} {}", clauses.join(", ")),
                check,
            });
        }
    }
    out
}

/// Apply `changes` in one transaction: the first value that cannot be converted is an error naming
/// table, column and value, and nothing changes.
pub async fn apply(
    tx: &Transaction<'_>,
    schema: &str,
    changes: &[Change],
    target: &str,
) -> Result<()> {
    for c in changes {
        let place = format!(
            "{}.{}.{}",
            quote_ident(schema),
            quote_ident(&c.table),
            quote_ident(&c.column)
        );
        if let Some(check) = &c.check {
            let rows = tx
                .query(check.as_str(), &[])
                .await
                .map_err(|e| Error::from_pg(e, &format!("checking {place}"), target))?;
            if let Some(r) = rows.first() {
                let value: Option<String> = r.get(0);
                let value = value.map_or_else(|| "NULL".to_string(), |v| quote_literal(&v));
                return Err(Error::Unconvertible {
                    place,
                    to_type: c.to_type.clone(),
                    detail: format!("value {value} has no {} equivalent", c.to_type),
                });
            }
        }
        if let Err(e) = tx.batch_execute(&c.statement).await {
            let detail = match e.as_db_error() {
                Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
                None => return Err(Error::from_pg(e, &format!("converting {place}"), target)),
            };
            return Err(Error::Unconvertible {
                place,
                to_type: c.to_type.clone(),
                detail,
            });
        }
    }
    Ok(())
}

/// Plan and, unless `dry_run`, apply in one transaction.
pub async fn fix_types(
    client: &mut Client,
    schema: &str,
    dry_run: bool,
    target: &str,
) -> Result<Vec<Change>> {
    let tx = client
        .transaction()
        .await
        .map_err(|e| Error::from_pg(e, "starting a transaction", target))?;
    tx.batch_execute("SET LOCAL TimeZone = 'UTC'; SET LOCAL IntervalStyle = 'postgres'")
        .await
        .map_err(|e| Error::from_pg(e, "setting up the session", target))?;
    let have = schema_columns(tx.client(), schema, target).await?;
    let version =
        pg_catalog_version(&tx, schema, have.contains_key("ducklake_metadata"), target).await?;
    let expected = expected_columns(&tx, schema, version, &have, target).await?;
    let changes = plan_changes(schema, &have, &expected);
    if dry_run || changes.is_empty() {
        return Ok(changes);
    }
    apply(&tx, schema, &changes, target).await?;
    tx.commit()
        .await
        .map_err(|e| Error::from_pg(e, "committing the conversions", target))?;
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, t: &str, nn: bool) -> PgColumn {
        PgColumn {
            name: name.into(),
            format_type: t.into(),
            not_null: nn,
        }
    }

    #[test]
    fn plans_only_what_differs() {
        let mut have = BTreeMap::new();
        have.insert(
            "ducklake_metadata".to_string(),
            vec![
                col("key", "text", false),
                col("value", "character varying", true),
            ],
        );
        have.insert(
            "ducklake_inlined_data_1_1".to_string(),
            vec![
                col("row_id", "bigint", false),
                col("b", "bigint", false),
                col("s", "bytea", false),
            ],
        );
        let mut exp = BTreeMap::new();
        exp.insert(
            "ducklake_metadata".to_string(),
            vec![
                ("key".to_string(), PgType::Varchar, true),
                ("value".to_string(), PgType::Varchar, true),
            ],
        );
        exp.insert(
            "ducklake_inlined_data_1_1".to_string(),
            vec![
                ("row_id".to_string(), PgType::BigInt, false),
                ("b".to_string(), PgType::Boolean, false),
                ("s".to_string(), PgType::Bytea, false),
            ],
        );
        let changes = plan_changes("stage", &have, &exp);
        assert_eq!(changes.len(), 2, "{changes:?}");
        let b = &changes[0];
        assert_eq!(
            (b.column.as_str(), b.from_type.as_str(), b.to_type.as_str()),
            ("b", "bigint", "boolean")
        );
        assert_eq!(
            b.statement,
            "ALTER TABLE \"stage\".\"ducklake_inlined_data_1_1\" ALTER COLUMN \"b\" TYPE boolean USING CASE \"b\" WHEN 0 THEN false WHEN 1 THEN true END"
        );
        assert!(b.check.as_deref().unwrap().contains("NOT IN (0, 1)"));
        let k = &changes[1];
        assert_eq!(
            (k.from_type.as_str(), k.to_type.as_str()),
            ("text", "character varying NOT NULL")
        );
        assert!(
            k.statement.ends_with("ALTER COLUMN \"key\" SET NOT NULL"),
            "{}",
            k.statement
        );
    }
}
