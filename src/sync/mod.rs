//! `pg_sync`'s plan, as plain data and SQL text: where the target lives, which watermark is safe,
//! how columns may drift, and the DuckDB statements that apply a sync. No I/O here; `src/duck/sync.rs`
//! runs these statements and `src/postgres/sync.rs` takes the snapshot.
//!
//! ## The watermark (why no late-committing row is lost)
//! A row's cursor (`updated_at`) is usually set by `now()`, the *start* time of the writing
//! transaction. A transaction that started before a sync's snapshot but commits after it is
//! invisible to that sync, yet its rows carry a cursor older than what the sync saw. So the
//! watermark a sync records is not simply the largest cursor it read but
//! `least(max(cursor read), start of the oldest transaction still open, the time the sync began)`,
//! and the next sync re-reads from there. Rows re-read twice are upserted by key, so the overlap is
//! harmless (idempotent).

use crate::error::{Error, Result};
use crate::sql::{quote_ident, quote_literal, split_name};
use crate::types::postgres::{self as pgtypes, PgColumnType};

/// The checkpoint table, created in the target's catalog (schema `main`) so the checkpoint commits
/// in the same DuckDB transaction as the rows it covers.
pub const STATE_TABLE: &str = "lakemig_sync_state";
/// Temporary tables a sync works in (dropped before it returns).
pub const STAGE_TABLE: &str = "__lakemig_sync_stage";
pub const KEYS_TABLE: &str = "__lakemig_sync_keys";

/// What kind of value the cursor column holds; decides how the safe bound is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CursorKind {
    TimestampTz,
    /// `timestamp without time zone`: writers' `now()` is taken in the server's default TimeZone.
    Timestamp,
    /// `date`: the last day is always re-read (a later change on the same day has the same value).
    Date,
    /// Integer ids or versions: no time bound exists; the watermark is the largest value read.
    Integer,
}

impl CursorKind {
    pub fn of(t: &PgColumnType) -> Option<CursorKind> {
        match t.oid {
            pgtypes::TIMESTAMPTZ => Some(CursorKind::TimestampTz),
            pgtypes::TIMESTAMP => Some(CursorKind::Timestamp),
            pgtypes::DATE => Some(CursorKind::Date),
            pgtypes::INT2 | pgtypes::INT4 | pgtypes::INT8 | pgtypes::NUMERIC | pgtypes::OID => {
                Some(CursorKind::Integer)
            }
            _ => None,
        }
    }

    /// PostgreSQL expression turning `$1` (a timestamptz: the oldest open transaction's start, or
    /// the sync's own start) into a bound in the cursor's own type, as text. `$2` is the server's
    /// default TimeZone. None: no time bound applies.
    pub fn bound_sql(self) -> Option<&'static str> {
        match self {
            CursorKind::TimestampTz => Some(
                "SELECT ($1::text::timestamptz - interval '1 microsecond')::text, $2::text",
            ),
            CursorKind::Timestamp => Some(
                "SELECT (($1::text::timestamptz AT TIME ZONE $2::text) - interval '1 microsecond')::text",
            ),
            CursorKind::Date => {
                Some("SELECT (($1::text::timestamptz AT TIME ZONE $2::text)::date - 1)::text")
            }
            CursorKind::Integer => None,
        }
    }
}

/// A DuckDB table name: `name`, `schema.name`, `catalog.name` or `catalog.schema.name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetName {
    pub parts: Vec<String>,
}

/// A target resolved against the databases attached to DuckDB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub catalog: String,
    pub schema: String,
    pub name: String,
    /// True for a DuckLake catalog (no primary keys: upserts are delete + insert).
    pub ducklake: bool,
}

impl Target {
    /// `"catalog"."schema"."name"`.
    pub fn quoted(&self) -> String {
        format!(
            "{}.{}.{}",
            quote_ident(&self.catalog),
            quote_ident(&self.schema),
            quote_ident(&self.name)
        )
    }

    /// The checkpoint table of this target's catalog.
    pub fn state_table(&self) -> String {
        format!("{}.main.{}", quote_ident(&self.catalog), STATE_TABLE)
    }

    /// The key of this target in the checkpoint table: `schema.name`, quoted.
    pub fn state_key(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }
}

pub fn parse_target(input: &str) -> Result<TargetName> {
    let parts = split_name(input).map_err(|why| {
        Error::argument(format!(
            "target {input:?} is not a valid DuckDB table name ({why}); write [catalog.][schema.]table"
        ))
    })?;
    if parts.len() > 3 {
        return Err(Error::argument(format!(
            "target {input:?} has more than three parts; write [catalog.][schema.]table"
        )));
    }
    Ok(TargetName { parts })
}

/// Resolve a target name the way DuckDB resolves `a.b`: a schema of the default catalog if one
/// exists by that name, else an attached catalog (its `main` schema).
pub fn resolve_target(
    name: &TargetName,
    default_catalog: &str,
    default_schema: &str,
    schema_exists_in_default: impl Fn(&str) -> bool,
    catalog_exists: impl Fn(&str) -> bool,
) -> (String, String, String) {
    let p = &name.parts;
    match p.len() {
        1 => (
            default_catalog.to_string(),
            default_schema.to_string(),
            p[0].clone(),
        ),
        2 if !schema_exists_in_default(&p[0]) && catalog_exists(&p[0]) => {
            (p[0].clone(), "main".to_string(), p[1].clone())
        }
        2 => (default_catalog.to_string(), p[0].clone(), p[1].clone()),
        _ => (p[0].clone(), p[1].clone(), p[2].clone()),
    }
}

/// The checkpoint table: one row per target.
pub fn state_table_ddl(target: &Target) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {} (\
         target VARCHAR NOT NULL, source VARCHAR NOT NULL, server VARCHAR NOT NULL, \
         cursor_column VARCHAR NOT NULL, watermark VARCHAR, watermark_type VARCHAR NOT NULL, \
         primary_key VARCHAR[] NOT NULL, rows_total BIGINT NOT NULL, runs BIGINT NOT NULL, \
         last_mode VARCHAR NOT NULL, last_rows_upserted BIGINT NOT NULL, \
         last_rows_deleted BIGINT NOT NULL, last_run TIMESTAMPTZ NOT NULL, \
         last_duration INTERVAL NOT NULL)",
        target.state_table()
    )
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

/// `['a', 'b']` as a DuckDB list literal.
pub fn list_literal(items: &[String]) -> String {
    format!(
        "[{}]",
        items
            .iter()
            .map(|s| quote_literal(s))
            .collect::<Vec<_>>()
            .join(", ")
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
    fn targets_resolve_like_duckdb() {
        let yes = |_: &str| true;
        let no = |_: &str| false;
        let t = parse_target("subs").unwrap();
        assert_eq!(
            resolve_target(&t, "db", "main", no, no),
            ("db".into(), "main".into(), "subs".into())
        );
        let t = parse_target("lake.subs").unwrap();
        assert_eq!(
            resolve_target(&t, "db", "main", no, yes),
            ("lake".into(), "main".into(), "subs".into())
        );
        assert_eq!(
            resolve_target(&t, "db", "main", yes, yes),
            ("db".into(), "lake".into(), "subs".into())
        );
        let t = parse_target("lake.\"Raw\".subs").unwrap();
        assert_eq!(
            resolve_target(&t, "db", "main", no, no),
            ("lake".into(), "Raw".into(), "subs".into())
        );
        assert!(parse_target("a.b.c.d").is_err());
        assert!(parse_target("a;drop").is_ok()); // a name, quoted wherever it is used
        assert!(parse_target("\"unterminated").is_err());
    }

    #[test]
    fn quoting_is_total() {
        let t = target(false);
        assert_eq!(t.quoted(), "\"lake\".\"main\".\"Subs \"\"x\"\"\"");
        assert_eq!(t.state_key(), "\"main\".\"Subs \"\"x\"\"\"");
        assert_eq!(t.state_table(), "\"lake\".main.lakemig_sync_state");
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
    fn cursor_kinds() {
        let ty = |oid| PgColumnType {
            oid,
            typmod: -1,
            name: "t".into(),
            typtype: 'b',
            elem_oid: None,
            elem_typtype: None,
            ndims: 0,
        };
        assert_eq!(
            CursorKind::of(&ty(pgtypes::TIMESTAMPTZ)),
            Some(CursorKind::TimestampTz)
        );
        assert_eq!(
            CursorKind::of(&ty(pgtypes::INT8)),
            Some(CursorKind::Integer)
        );
        assert_eq!(CursorKind::of(&ty(pgtypes::TEXT)), None);
        assert!(CursorKind::Integer.bound_sql().is_none());
        assert!(CursorKind::Date.bound_sql().unwrap().contains("- 1"));
    }

    #[test]
    fn parquet_paths_are_tame() {
        let p = parquet_path("/tmp/out/", &target(false), 42, "incremental");
        assert_eq!(
            p,
            "/tmp/out/main.Subs__x_/00000000000000000042-incremental.parquet"
        );
    }
}
