//! The one SQLite -> PostgreSQL pipeline, serving `sqlite_migrate` and `sqlite_catalog_migrate`
//! alike. A plan ([`super::plan::migration`] for any SQLite database, [`crate::ducklake::migrate`] for a
//! DuckLake catalog) says what to create and how to convert each column ([`Migration`]); this module
//! runs it: one PostgreSQL transaction; the existing-table policy; tables created bare; rows streamed
//! with binary COPY (the SQLite read on a blocking thread, one read transaction throughout), each
//! value converted, encoded and hashed as it passes; keys and indexes; foreign keys; verification
//! (the streaming checksum of [`super::checksum`], compared with the one PostgreSQL computes); the
//! plan's closing statements; then COMMIT (or ROLLBACK for a dry run). Any error rolls everything
//! back: nothing is written.

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::Instant;

use futures_util::stream::{FuturesOrdered, StreamExt};
use tokio_postgres::Client;

use super::checksum::{
    canonical_value, pg_canonical_sql, pg_checksum_sql, pg_row_hash_sql, probe_expected, probe_sql,
    Checksum, RowHash, RowHasher,
};
use super::plan::{target_name, IfExists};
use super::trace;
use crate::error::{Error, Result};
use crate::postgres::codec::jsonb::JsonbCanonicalizer;
use crate::postgres::connect::{self, ConnParams};
use crate::postgres::copy_in::{copy_in_with, DEFAULT_CHUNK_BYTES};
use crate::sql::{quote_ident, quote_literal};
use crate::sqlite::convert::convert_column;
use crate::sqlite::{RowValues, SqliteSource, SqliteValue};
use crate::types::pg_value::{CopyColumn, PgTarget, PgValue};

/// One table as the pipeline runs it: read from the SQLite table `name`, written to the PostgreSQL
/// table of the same name in [`Migration::schema`].
#[derive(Debug, Clone, PartialEq)]
pub struct TableJob {
    pub name: String,
    /// `CREATE TABLE "schema"."name" (...)`.
    pub create_sql: String,
    /// Every column copied, in order: its name (the same on both sides) and its conversion (the
    /// PostgreSQL type the SQLite value becomes, and an epoch unit for numbers read as times).
    pub columns: Vec<CopyColumn>,
    /// The columns naming a row when verification finds one that differs (the primary key; empty:
    /// the whole row).
    pub key: Vec<String>,
    /// Run right after the table's rows are in: primary key, identity, UNIQUE constraints, indexes.
    pub after_load: Vec<String>,
    /// Run once every table is loaded: foreign keys.
    pub after_all: Vec<String>,
    /// What the plan could not carry over, for the result row.
    pub notes: Vec<String>,
}

/// Which PostgreSQL tables count as already there, and what `if_exists := 'replace'` drops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Only tables the migration creates (`sqlite_migrate`); the schema's other tables stay untouched.
    Planned,
    /// Every table in the schema (`sqlite_catalog_migrate`: the schema is the catalog). `replace`
    /// drops the tables whose names start with `owned_prefix`, and refuses while others (tables not
    /// part of `owner`, e.g. "a DuckLake catalog") are there.
    Schema {
        owned_prefix: &'static str,
        owner: &'static str,
    },
}

/// What the pipeline runs: the tables in creation order, the existing-table scope, and statements
/// run once every table is loaded and verified, before COMMIT.
#[derive(Debug, Clone, PartialEq)]
pub struct Migration {
    pub schema: String,
    pub tables: Vec<TableJob>,
    pub existing: Existing,
    pub finish: Vec<String>,
}

/// How to run a migration.
#[derive(Debug, Clone)]
pub struct Options {
    pub if_exists: IfExists,
    pub verify: bool,
    /// Run everything, then roll back.
    pub dry_run: bool,
}

/// What happened to one table: a result row of `sqlite_migrate` and `sqlite_catalog_migrate`.
#[derive(Debug, Clone, PartialEq)]
pub struct TableResult {
    pub table: String,
    pub target: String,
    pub rows: u64,
    /// `None` when verification was off (or did not run).
    pub verified: Option<bool>,
    /// Row count and checksum, `rows:sum`, as both sides computed it.
    pub checksum: Option<String>,
    pub seconds: f64,
    pub committed: bool,
    pub notes: String,
    /// The table's CREATE TABLE statement.
    pub ddl: String,
}

async fn exec(client: &Client, sql: &str, target: &str) -> Result<()> {
    client
        .batch_execute(sql)
        .await
        .map_err(|e| Error::from_pg(e, &format!("running {}", short(sql)), target))
}

fn short(sql: &str) -> String {
    if sql.len() > 200 {
        let mut end = 200;
        while !sql.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &sql[..end])
    } else {
        sql.to_string()
    }
}

/// Run the migration. `src` is moved to the blocking reader and back for each table.
pub async fn migrate(
    src: SqliteSource,
    params: &ConnParams,
    plan: &Migration,
    opts: &Options,
) -> Result<Vec<TableResult>> {
    let target = params.target();
    let client = connect::connect(params).await?;
    let hash = if opts.verify {
        row_hash_of(&client).await
    } else {
        RowHash::Md5
    };
    exec(
        &client,
        "SET TimeZone = 'UTC'; SET DateStyle = 'ISO'; SET IntervalStyle = 'postgres'; \
         SET client_min_messages = warning; BEGIN",
        &target,
    )
    .await?;
    let mut src = Some(src);
    let result = run(&client, &mut src, plan, opts, hash, &target).await;
    match result {
        Ok(mut results) => {
            let end = if opts.dry_run { "ROLLBACK" } else { "COMMIT" };
            let t0 = Instant::now();
            exec(&client, end, &target).await?;
            trace(t0, end);
            for r in &mut results {
                r.committed = !opts.dry_run;
            }
            Ok(results)
        }
        Err(e) => {
            // Best effort: dropping the connection rolls back as well.
            let _ = client.batch_execute("ROLLBACK").await;
            Err(e)
        }
    }
}

/// [`RowHash::Lookup3`] when the server's `hashtextextended` is ours (asked outside the transaction:
/// the function is missing before PostgreSQL 11), else [`RowHash::Md5`].
async fn row_hash_of(client: &Client) -> RowHash {
    match client.query_one(probe_sql().as_str(), &[]).await {
        Ok(row) if row.try_get::<_, String>(0).ok() == Some(probe_expected()) => RowHash::Lookup3,
        _ => RowHash::Md5,
    }
}

/// The existing-table policy: what is there already (tables, views, foreign tables), refused or
/// dropped as `if_exists` and the plan's [`Existing`] scope say.
async fn clear_existing(
    client: &Client,
    plan: &Migration,
    if_exists: IfExists,
    target: &str,
) -> Result<()> {
    let schema = &plan.schema;
    let names: Option<Vec<String>> = match plan.existing {
        Existing::Planned => Some(plan.tables.iter().map(|t| t.name.clone()).collect()),
        Existing::Schema { .. } => None,
    };
    let existing: Vec<String> = client
        .query(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f') \
             AND ($2::text[] IS NULL OR c.relname = ANY($2)) ORDER BY 1",
            &[schema, &names],
        )
        .await
        .map_err(|e| Error::from_pg(e, "looking for existing tables", target))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if existing.is_empty() {
        return Ok(());
    }
    let qs = quote_ident(schema);
    let list = |names: &[&String]| {
        names
            .iter()
            .map(|t| target_name(schema, t))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (plan.existing, if_exists) {
        (Existing::Planned, IfExists::Error) => Err(Error::argument(format!(
            "{} already exist{} in PostgreSQL; nothing was written. Pass if_exists := 'replace' to drop and re-create {}, or migrate into another schema := ...",
            list(&existing.iter().collect::<Vec<_>>()),
            if existing.len() == 1 { "s" } else { "" },
            if existing.len() == 1 { "it" } else { "them" },
        ))),
        (Existing::Planned, IfExists::Replace) => {
            for t in &existing {
                exec(client, &format!("DROP TABLE {} CASCADE", target_name(schema, t)), target).await?;
            }
            Ok(())
        }
        (Existing::Schema { owned_prefix, .. }, IfExists::Error) => Err(Error::argument(format!(
            "schema {qs} is not empty ({} tables, e.g. {}); migrate into an empty schema, \
             or pass if_exists := 'replace' to drop its {owned_prefix}* tables first",
            existing.len(),
            existing[0]
        ))),
        (
            Existing::Schema {
                owned_prefix,
                owner,
            },
            IfExists::Replace,
        ) => {
            let foreign: Vec<&String> = existing
                .iter()
                .filter(|n| !n.starts_with(owned_prefix))
                .collect();
            if !foreign.is_empty() {
                return Err(Error::argument(format!(
                    "schema {qs} holds tables that are not part of {owner} ({}); \
                     lakemig will not drop them: choose another schema",
                    foreign.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                )));
            }
            exec(
                client,
                &format!("DROP TABLE {} CASCADE", list(&existing.iter().collect::<Vec<_>>())),
                target,
            )
            .await
        }
    }
}

async fn run(
    client: &Client,
    src: &mut Option<SqliteSource>,
    plan: &Migration,
    opts: &Options,
    hash: RowHash,
    target: &str,
) -> Result<Vec<TableResult>> {
    let schema = &plan.schema;
    clear_existing(client, plan, opts.if_exists, target).await?;
    // The schema and every table in one round trip (a catalog has dozens of small tables).
    let t0 = Instant::now();
    let mut ddl = vec![format!(
        "CREATE SCHEMA IF NOT EXISTS {}",
        quote_ident(schema)
    )];
    ddl.extend(plan.tables.iter().map(|t| t.create_sql.clone()));
    client
        .batch_execute(&ddl.join(";\n"))
        .await
        .map_err(|e| Error::from_pg(e, "creating the tables", target))?;
    trace(t0, &format!("created {} tables", plan.tables.len()));
    let mut results = Vec::with_capacity(plan.tables.len());
    let mut sums = Vec::with_capacity(plan.tables.len());
    for t in &plan.tables {
        let t0 = Instant::now();
        let tq = target_name(schema, &t.name);
        let verify = opts.verify.then_some(hash);
        let (rows, ck) = copy_table(client, src, t, &tq, verify, target).await?;
        trace(t0, &format!("copied {rows} rows into {tq}"));
        for sql in &t.after_load {
            let t1 = Instant::now();
            exec(client, sql, target).await?;
            trace(t1, &short(sql));
        }
        sums.push(ck);
        results.push(TableResult {
            table: t.name.clone(),
            target: tq,
            rows,
            verified: None,
            checksum: None,
            seconds: t0.elapsed().as_secs_f64(),
            committed: false,
            notes: t.notes.join("; "),
            ddl: t.create_sql.clone(),
        });
    }
    for t in &plan.tables {
        for sql in &t.after_all {
            exec(client, sql, target).await?;
        }
    }
    if opts.verify {
        // Every table's checksum query at once: pipelined on the connection, one round trip in all.
        // The answers come back in order (each table is charged the time until its own) and are all
        // taken before any is looked at: a mismatch sends more queries, which must not wait behind
        // answers nobody reads.
        let sqls: Vec<String> = plan
            .tables
            .iter()
            .zip(&results)
            .map(|(t, r)| pg_checksum_sql(hash, &r.target, &typed_columns(t)))
            .collect();
        let mut answers = Vec::with_capacity(sqls.len());
        {
            let mut pending: FuturesOrdered<_> = sqls
                .iter()
                .map(|sql| client.query_typed(sql, &[]))
                .collect();
            let mut t0 = Instant::now();
            while let Some(answer) = pending.next().await {
                answers.push((answer, t0.elapsed()));
                t0 = Instant::now();
            }
        }
        for (((t, r), ck), (answer, took)) in plan
            .tables
            .iter()
            .zip(results.iter_mut())
            .zip(&sums)
            .zip(answers)
        {
            let t0 = Instant::now();
            let row = answer
                .map_err(|e| Error::from_pg(e, &format!("verifying {}", r.target), target))
                .and_then(|rows| {
                    rows.into_iter().next().ok_or_else(|| Error::Verify {
                        table: r.target.clone(),
                        reason: "PostgreSQL returned no checksum row".into(),
                    })
                })?;
            let source = src.as_ref().ok_or_else(lost_source)?;
            check_table(client, source, t, &r.target, ck, &row, hash, target).await?;
            let took = took + t0.elapsed();
            let began = Instant::now()
                .checked_sub(took)
                .unwrap_or_else(Instant::now);
            trace(began, &format!("verified {}", r.target));
            r.verified = Some(true);
            r.checksum = Some(format!("{}:{}", ck.rows, ck.sum));
            r.seconds += took.as_secs_f64();
        }
    }
    for sql in &plan.finish {
        exec(client, sql, target).await?;
    }
    Ok(results)
}

fn typed_columns(t: &TableJob) -> Vec<(String, PgTarget)> {
    t.columns
        .iter()
        .map(|c| (c.name.clone(), c.target))
        .collect()
}

fn column_names(t: &TableJob) -> Vec<String> {
    t.columns.iter().map(|c| c.name.clone()).collect()
}

/// Copy one table's rows; returns the rows PostgreSQL took and the source-side checksum.
fn lost_source() -> Error {
    Error::argument("internal: the SQLite reader was not handed back")
}

async fn copy_table(
    client: &Client,
    src: &mut Option<SqliteSource>,
    t: &TableJob,
    tq: &str,
    verify: Option<RowHash>,
    target: &str,
) -> Result<(u64, Checksum)> {
    // The reader needs the source by value on its blocking thread: lend it and take it back.
    let placeholder = src.take().ok_or_else(lost_source)?;
    let columns: Vec<CopyColumn> = t.columns.clone();
    let names = column_names(t);
    let table = t.name.clone();
    let label = tq.to_string();
    let result = copy_in_with(
        client,
        tq,
        columns.clone(),
        DEFAULT_CHUNK_BYTES,
        target,
        move |w| {
            let source = placeholder;
            let mut hasher = verify.map(RowHasher::new);
            let mut ck = Checksum::default();
            let n = columns.len();
            // Verifying, a jsonb value is checked and canonicalised in one pass, into a buffer kept
            // across rows; what that pass declines goes through `convert_column` (and is hashed
            // from its converted value). An error ends the read mid-row: the COPY is then aborted.
            let jsonb: Vec<bool> = columns
                .iter()
                .map(|c| verify.is_some() && c.target == PgTarget::Jsonb)
                .collect();
            let mut canon: Vec<u8> = Vec::new();
            let mut canonicalizer = JsonbCanonicalizer::default();
            // Value by value: converted, encoded, hashed; no row of values is kept.
            let read = source.for_each_row(&table, &names, |row| {
                w.begin_row(n);
                if let Some(h) = hasher.as_mut() {
                    h.start_row();
                }
                for (i, col) in columns.iter().enumerate() {
                    let v = row.value(i);
                    if jsonb[i] {
                        if let Some(s) = json_text(v) {
                            canon.clear();
                            if canonicalizer.canonicalize(s, &mut canon) {
                                let value = PgValue::Jsonb(Cow::Borrowed(s));
                                w.push_value(&value);
                                if let Some(h) = hasher.as_mut() {
                                    h.add(i, &value, Some(&canon));
                                }
                                continue;
                            }
                        }
                    }
                    let value = convert_column(&label, col, v)?;
                    w.push_value(&value);
                    if let Some(h) = hasher.as_mut() {
                        h.add(i, &value, None);
                    }
                }
                if let Some(h) = hasher.as_mut() {
                    ck.add(h.finish_row());
                }
                w.end_row()
            });
            match read {
                Ok(_) => Ok(Ok((source, ck))),
                // Keep the source even on failure (it is needed to roll back cleanly).
                Err(e) => Ok(Err((source, e))),
            }
        },
    )
    .await;
    match result {
        Ok((rows, Ok((source, ck)))) => {
            *src = Some(source);
            Ok((rows, ck))
        }
        Ok((_, Err((source, e)))) => {
            *src = Some(source);
            Err(e)
        }
        Err(e) => Err(e),
    }
}

/// The text of a value bound for a JSON column, as [`convert_column`] reads it (TEXT or BLOB holding
/// UTF-8); `None` for anything else (conversion then says why).
fn json_text(v: SqliteValue<'_>) -> Option<&str> {
    match v {
        SqliteValue::Text(b) | SqliteValue::Blob(b) => simdutf8::basic::from_utf8(b).ok(),
        _ => None,
    }
}

/// Compare a table's checksum from PostgreSQL (`row`, from [`pg_checksum_sql`]) with the one
/// computed while copying; on a difference, find a sample row that differs and fail.
#[allow(clippy::too_many_arguments)]
async fn check_table(
    client: &Client,
    src: &SqliteSource,
    t: &TableJob,
    tq: &str,
    ck: &Checksum,
    row: &tokio_postgres::Row,
    hash: RowHash,
    target: &str,
) -> Result<()> {
    let pg_rows: i64 = row.get(0);
    let pg_sum: String = row.get(1);
    if pg_rows as u64 == ck.rows && pg_sum == ck.sum.to_string() {
        return Ok(());
    }
    let sample = differing_key(client, src, t, tq, hash, target)
        .await
        .unwrap_or_else(|e| format!("(could not find a sample row: {e})"));
    Err(Error::Verify {
        table: tq.to_string(),
        reason: format!(
            "SQLite has {} rows with checksum {}, PostgreSQL has {pg_rows} rows with checksum {pg_sum}; {sample}. The transaction was rolled back: nothing was written",
            ck.rows, ck.sum
        ),
    })
}

/// Find one row that differs: by the job's key (or, without one, by the whole row).
async fn differing_key(
    client: &Client,
    src: &SqliteSource,
    t: &TableJob,
    tq: &str,
    hash: RowHash,
    target: &str,
) -> Result<String> {
    let key_idx: Vec<usize> = if t.key.is_empty() {
        (0..t.columns.len()).collect()
    } else {
        t.key
            .iter()
            .filter_map(|k| t.columns.iter().position(|c| &c.name == k))
            .collect()
    };
    let key_sql: Vec<String> = key_idx
        .iter()
        .map(|&i| {
            let c = &t.columns[i];
            format!(
                "{} || '=' || coalesce({}, 'NULL')",
                quote_literal(&c.name),
                pg_canonical_sql(&c.name, c.target)
            )
        })
        .collect();
    let sql = format!(
        "SELECT concat_ws(', ', {}), {} FROM {tq}",
        key_sql.join(", "),
        pg_row_hash_sql(hash, &typed_columns(t))
    );
    let rows = client
        .query(sql.as_str(), &[])
        .await
        .map_err(|e| Error::from_pg(e, "looking for the differing row", target))?;
    let mut pg: HashMap<String, i64> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let columns = &t.columns;
    let names = column_names(t);
    let mut hasher = RowHasher::new(hash);
    let mut found: Option<String> = None;
    let mut value = Vec::new();
    src.for_each_row(&t.name, &names, |row| {
        if found.is_some() {
            return Ok(());
        }
        let mut values = Vec::with_capacity(columns.len());
        for (i, col) in columns.iter().enumerate() {
            values.push(convert_column(tq, col, row.value(i))?);
        }
        let h = hasher.hash(&values);
        let key: Vec<String> = key_idx
            .iter()
            .map(|&i| {
                value.clear();
                canonical_value(&values[i], &mut value);
                let v = match values[i] {
                    PgValue::Null => "NULL".to_string(),
                    _ => String::from_utf8_lossy(&value).into_owned(),
                };
                format!("{}={v}", columns[i].name)
            })
            .collect();
        let key = key.join(", ");
        match pg.remove(&key) {
            Some(ph) if ph == h => {}
            Some(_) => found = Some(format!("the row with key ({key}) differs")),
            None => found = Some(format!("the row with key ({key}) is missing in PostgreSQL")),
        }
        Ok(())
    })?;
    if let Some(f) = found {
        return Ok(f);
    }
    match pg.keys().next() {
        Some(k) => Ok(format!(
            "the row with key ({k}) is in PostgreSQL but not in SQLite"
        )),
        None => Ok("no single row differs (duplicate rows?)".into()),
    }
}
