//! `sqlite_catalog_migrate`: move a DuckLake catalog from SQLite to PostgreSQL.
//!
//! Plan (pure, from the SQLite schema and the version's tables in [`crate::ducklake::catalog`]): every
//! catalog table gets exactly the columns, types, NOT NULLs and primary keys DuckLake creates on
//! PostgreSQL for that version; inlined-data tables get the PostgreSQL backend's column types
//! ([`crate::ducklake::types::inlined_pg_type`]). Execute: one PostgreSQL transaction: CREATE TABLE,
//! binary COPY of every row (values re-encoded from SQLite's encoding by
//! [`crate::sqlite::convert::convert`]), verification (row count and an order-independent digest of
//! every value, source vs target), then COMMIT. The SQLite file is read in one read transaction.

use std::collections::hash_map::DefaultHasher;
use std::hash::Hasher;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures_util::StreamExt;
use tokio_postgres::Client;

use crate::ducklake::catalog::{self, CatalogColumn, Flags, Version};
use crate::ducklake::inlined::{self, LakeColumnRow};
use crate::ducklake::types::{inlined_pg_type, PgType};
use crate::error::{Error, Result};
use crate::postgres::codec::encode;
use crate::postgres::copy_in;
use crate::sql::quote_ident;
use crate::sqlite::convert::convert;
use crate::sqlite::{RowValues, SqliteSource, SqliteValue};
use crate::types::pg_value::{CopyColumn, PgTarget, PgValue};

/// What to do when the target schema already holds catalog tables (`Replace` drops only the
/// `ducklake_*` tables, never others). The same choice `sqlite_migrate` offers.
pub use crate::migrate::plan::IfExists;

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
}

/// One row of the result.
#[derive(Debug, Clone)]
pub struct TableResult {
    pub table: String,
    pub rows: u64,
    pub verified: bool,
    pub seconds: f64,
    pub ddl: String,
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
                cols.push((n, inlined_pg_type(t)?, Flags::Plain));
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

/// The binary COPY target for a catalog column type.
pub fn copy_target(t: PgType) -> PgTarget {
    match t {
        PgType::Boolean => PgTarget::Bool,
        PgType::SmallInt => PgTarget::Int2,
        PgType::Integer => PgTarget::Int4,
        PgType::BigInt => PgTarget::Int8,
        PgType::Real => PgTarget::Float4,
        PgType::Double => PgTarget::Float8,
        PgType::Numeric(..) => PgTarget::Numeric,
        PgType::Varchar => PgTarget::Text,
        PgType::Bytea => PgTarget::Bytea,
        PgType::Time => PgTarget::Time,
        PgType::TimeTz => PgTarget::TimeTz,
        PgType::Interval => PgTarget::Interval,
        PgType::Uuid => PgTarget::Uuid,
        PgType::TimestampTz => PgTarget::TimestampTz,
    }
}

/// Order-independent digest of a table's rows: the count and the wrapping sum of one hash per row.
/// Each row hashes its fields as binary COPY sends them (length, bytes); numeric fields as their text
/// (PostgreSQL may normalize numeric's binary form), so both sides hash the same bytes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Digest {
    pub rows: u64,
    pub sum: u64,
}

impl Digest {
    fn add_row(&mut self, fields: &[Option<&[u8]>]) {
        let mut h = DefaultHasher::new();
        for f in fields {
            match f {
                None => h.write_i32(-1),
                Some(b) => {
                    h.write_i32(b.len() as i32);
                    h.write(b);
                }
            }
        }
        self.rows += 1;
        self.sum = self.sum.wrapping_add(h.finish());
    }

    /// Digest of one converted source row.
    pub fn add_values(&mut self, values: &[PgValue<'_>], scratch: &mut Vec<u8>) {
        let mut spans: Vec<Option<(usize, usize)>> = Vec::with_capacity(values.len());
        scratch.clear();
        for v in values {
            let v = match v {
                PgValue::Numeric(n) => PgValue::Text(n.to_pg_text().into()),
                other => other.clone(),
            };
            if let PgValue::Null = v {
                spans.push(None);
                continue;
            }
            let start = scratch.len();
            encode::field(&v, scratch);
            // encode() writes the 4-byte length first.
            spans.push(Some((start + 4, scratch.len())));
        }
        let fields: Vec<Option<&[u8]>> = spans
            .iter()
            .map(|s| s.map(|(a, b)| &scratch[a..b]))
            .collect();
        self.add_row(&fields);
    }

    /// Digest of a binary COPY TO stream (header, tuples, trailer).
    pub fn add_copy_data(&mut self, data: &[u8]) -> std::result::Result<(), String> {
        let short = || "truncated binary COPY data".to_string();
        if data.len() < 19 || &data[..11] != b"PGCOPY\n\xff\r\n\0" {
            return Err("not binary COPY data".into());
        }
        let ext = u32::from_be_bytes(data[15..19].try_into().map_err(|_| short())?) as usize;
        let mut pos = 19 + ext;
        loop {
            let n = i16::from_be_bytes(
                data.get(pos..pos + 2)
                    .ok_or_else(short)?
                    .try_into()
                    .map_err(|_| short())?,
            );
            pos += 2;
            if n == -1 {
                return Ok(());
            }
            let mut fields = Vec::with_capacity(n as usize);
            for _ in 0..n {
                let len = i32::from_be_bytes(
                    data.get(pos..pos + 4)
                        .ok_or_else(short)?
                        .try_into()
                        .map_err(|_| short())?,
                );
                pos += 4;
                if len < 0 {
                    fields.push(None);
                } else {
                    let end = pos + len as usize;
                    fields.push(Some(data.get(pos..end).ok_or_else(short)?));
                    pos = end;
                }
            }
            self.add_row(&fields);
        }
    }
}

/// Run the migration. `src` is shared with the COPY reader threads.
pub async fn migrate(
    client: &mut Client,
    src: Arc<Mutex<SqliteSource>>,
    opts: &Options,
    target: &str,
) -> Result<Vec<TableResult>> {
    let (version, plans) = {
        let s = src
            .lock()
            .map_err(|_| Error::argument("SQLite reader poisoned"))?;
        let v = sqlite_catalog_version(&s)?;
        (v, plan(&s, v)?)
    };
    let schema = &opts.schema;
    let qs = quote_ident(schema);
    if opts.dry_run {
        let s = src
            .lock()
            .map_err(|_| Error::argument("SQLite reader poisoned"))?;
        return plans
            .iter()
            .map(|p| {
                Ok(TableResult {
                    table: p.name.clone(),
                    rows: s.row_count(&p.name)?,
                    verified: false,
                    seconds: 0.0,
                    ddl: p.create_sql(schema),
                })
            })
            .collect();
    }
    let pg = |e, ctx: &str| Error::from_pg(e, ctx, target);
    let tx = client
        .transaction()
        .await
        .map_err(|e| pg(e, "starting the transaction"))?;
    tx.batch_execute("SET LOCAL TimeZone = 'UTC'")
        .await
        .map_err(|e| pg(e, "setting up the session"))?;
    // The target schema: created if missing; refused when it holds tables (unless 'replace').
    let existing: Vec<String> = tx
        .query(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f') ORDER BY 1",
            &[schema],
        )
        .await
        .map_err(|e| pg(e, "reading the target schema"))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if !existing.is_empty() {
        let foreign: Vec<&String> = existing
            .iter()
            .filter(|n| !n.starts_with("ducklake_"))
            .collect();
        match opts.if_exists {
            IfExists::Error => {
                return Err(Error::argument(format!(
                    "schema {qs} is not empty ({} tables, e.g. {}); migrate into an empty schema, \
                     or pass if_exists := 'replace' to drop its ducklake_* tables first",
                    existing.len(),
                    existing[0]
                )))
            }
            IfExists::Replace if !foreign.is_empty() => {
                return Err(Error::argument(format!(
                    "schema {qs} holds tables that are not part of a DuckLake catalog ({}); \
                     lakemig will not drop them: choose another schema",
                    foreign
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )))
            }
            IfExists::Replace => {
                let list: Vec<String> = existing
                    .iter()
                    .map(|n| format!("{qs}.{}", quote_ident(n)))
                    .collect();
                tx.batch_execute(&format!("DROP TABLE {} CASCADE", list.join(", ")))
                    .await
                    .map_err(|e| pg(e, "dropping the old catalog tables"))?;
            }
        }
    }
    tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {qs}"))
        .await
        .map_err(|e| pg(e, "creating the schema"))?;
    let mut results = Vec::with_capacity(plans.len());
    for p in &plans {
        let started = Instant::now();
        let ddl = p.create_sql(schema);
        tx.batch_execute(&ddl)
            .await
            .map_err(|e| pg(e, &format!("creating {}", p.name)))?;
        let qt = format!("{qs}.{}", quote_ident(&p.name));
        let columns: Vec<CopyColumn> = p
            .columns
            .iter()
            .map(|(n, t, _)| CopyColumn::new(n.clone(), copy_target(*t)))
            .collect();
        let names: Vec<String> = p.columns.iter().map(|c| c.0.clone()).collect();
        let reader = src.clone();
        let table = p.name.clone();
        let cols_for_reader = columns.clone();
        let qt_for_reader = qt.clone();
        let (copied, source_digest) = copy_in::copy_in_with(
            tx.client(),
            &qt,
            columns,
            copy_in::DEFAULT_CHUNK_BYTES,
            target,
            move |w| {
                let s = reader
                    .lock()
                    .map_err(|_| Error::argument("SQLite reader poisoned"))?;
                let mut digest = Digest::default();
                let mut values: Vec<PgValue<'static>> = Vec::with_capacity(cols_for_reader.len());
                let mut scratch = Vec::new();
                s.for_each_row(&table, &names, |row| {
                    values.clear();
                    for (i, c) in cols_for_reader.iter().enumerate() {
                        let v = row.value(i);
                        let pv = reencode(c.target, v).map_err(|reason| Error::Convert {
                            column: format!("{qt_for_reader}.{}", quote_ident(&c.name)),
                            value: v.describe(),
                            pg_type: c.target.sql_name().to_string(),
                            reason,
                        })?;
                        values.push(pv);
                    }
                    digest.add_values(&values, &mut scratch);
                    w.write_values(&values)
                })?;
                Ok(digest)
            },
        )
        .await?;
        let mut verified = false;
        if opts.verify {
            let target_digest = read_digest(&tx, &qt, &p.columns, target).await?;
            if copied != source_digest.rows || target_digest != source_digest {
                return Err(Error::Verify {
                    table: qt,
                    reason: format!(
                        "{} rows read from SQLite, {} copied, {} in PostgreSQL; contents {}",
                        source_digest.rows,
                        copied,
                        target_digest.rows,
                        if target_digest.sum == source_digest.sum {
                            "equal"
                        } else {
                            "differ"
                        }
                    ),
                });
            }
            verified = true;
        }
        results.push(TableResult {
            table: p.name.clone(),
            rows: copied,
            verified,
            seconds: started.elapsed().as_secs_f64(),
            ddl,
        });
    }
    if let Some(dp) = &opts.data_path {
        let dp = if dp.ends_with('/') {
            dp.clone()
        } else {
            format!("{dp}/")
        };
        let scope = if version.has_metadata_scope() {
            " AND scope IS NULL"
        } else {
            ""
        };
        tx.execute(
            format!("UPDATE {qs}.ducklake_metadata SET value = $1 WHERE key = 'data_path'{scope}")
                .as_str(),
            &[&dp],
        )
        .await
        .map_err(|e| pg(e, "setting data_path"))?;
    }
    tx.commit()
        .await
        .map_err(|e| pg(e, "committing the migration"))?;
    Ok(results)
}

/// SQLite's encoding of a catalog value -> the PostgreSQL value. Owned, so rows can be kept.
pub fn reencode(
    target: PgTarget,
    v: SqliteValue<'_>,
) -> std::result::Result<PgValue<'static>, String> {
    Ok(match convert(target, None, v)? {
        PgValue::Text(t) => PgValue::Text(t.into_owned().into()),
        PgValue::Bytea(b) => PgValue::Bytea(b.into_owned().into()),
        PgValue::Json(t) => PgValue::Json(t.into_owned().into()),
        PgValue::Jsonb(t) => PgValue::Jsonb(t.into_owned().into()),
        PgValue::Null => PgValue::Null,
        PgValue::Bool(b) => PgValue::Bool(b),
        PgValue::Int2(x) => PgValue::Int2(x),
        PgValue::Int4(x) => PgValue::Int4(x),
        PgValue::Int8(x) => PgValue::Int8(x),
        PgValue::Float4(x) => PgValue::Float4(x),
        PgValue::Float8(x) => PgValue::Float8(x),
        PgValue::Numeric(n) => PgValue::Numeric(n),
        PgValue::Uuid(u) => PgValue::Uuid(u),
        PgValue::Date(d) => PgValue::Date(d),
        PgValue::Time(t) => PgValue::Time(t),
        PgValue::TimeTz(t, o) => PgValue::TimeTz(t, o),
        PgValue::Timestamp(t) => PgValue::Timestamp(t),
        PgValue::TimestampTz(t) => PgValue::TimestampTz(t),
        PgValue::Interval {
            months,
            days,
            micros,
        } => PgValue::Interval {
            months,
            days,
            micros,
        },
    })
}

async fn read_digest(
    tx: &tokio_postgres::Transaction<'_>,
    qt: &str,
    columns: &[(String, PgType, Flags)],
    target: &str,
) -> Result<Digest> {
    let list: Vec<String> = columns
        .iter()
        .map(|(n, t, _)| match t {
            PgType::Numeric(..) => format!("{}::text", quote_ident(n)),
            _ => quote_ident(n),
        })
        .collect();
    let sql = format!(
        "COPY (SELECT {} FROM {qt}) TO STDOUT (FORMAT binary)",
        list.join(", ")
    );
    let ctx = format!("verifying {qt}");
    let stream = tx
        .copy_out(sql.as_str())
        .await
        .map_err(|e| Error::from_pg(e, &ctx, target))?;
    let mut stream = std::pin::pin!(stream);
    let mut data = Vec::new();
    while let Some(chunk) = stream.next().await {
        data.extend_from_slice(&chunk.map_err(|e| Error::from_pg(e, &ctx, target))?);
    }
    let mut d = Digest::default();
    d.add_copy_data(&data).map_err(|reason| Error::Verify {
        table: qt.to_string(),
        reason,
    })?;
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn digest_is_order_independent_and_matches_copy_data() {
        let rows = [
            vec![PgValue::Int8(1), PgValue::Text("a".into()), PgValue::Null],
            vec![
                PgValue::Int8(2),
                PgValue::Text("b".into()),
                PgValue::Bool(true),
            ],
        ];
        let mut a = Digest::default();
        let mut b = Digest::default();
        let mut scratch = Vec::new();
        a.add_values(&rows[0], &mut scratch);
        a.add_values(&rows[1], &mut scratch);
        b.add_values(&rows[1], &mut scratch);
        b.add_values(&rows[0], &mut scratch);
        assert_eq!(a, b);
        // The same rows as binary COPY data.
        let mut enc = copy_in::BinaryCopyEncoder::new("t", vec![]);
        enc.write_values(&rows[1]);
        enc.write_values(&rows[0]);
        let data = enc.finish();
        let mut c = Digest::default();
        c.add_copy_data(&data).unwrap();
        assert_eq!(a, c);
        let mut d = Digest::default();
        d.add_values(&rows[0], &mut scratch);
        assert_ne!(a, d);
    }
}
