//! Reading PostgreSQL's catalog: resolving a (possibly quoted, possibly unqualified) table name the way
//! the server does, and describing its columns, primary key and indexes.

use tokio_postgres::types::Type;
use tokio_postgres::Client;

use crate::error::{Error, Result};
use crate::types::postgres::PgColumnType;

/// A table name as PostgreSQL writes it: `schema.table`, with double quotes where needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QualifiedName {
    pub schema: Option<String>,
    pub name: String,
}

impl QualifiedName {
    /// `"schema"."name"`, every part quoted: safe to paste into SQL.
    pub fn quoted(&self) -> String {
        match &self.schema {
            Some(s) => format!("{}.{}", quote_ident(s), quote_ident(&self.name)),
            None => quote_ident(&self.name),
        }
    }
}

/// Quote an identifier for PostgreSQL (and DuckDB): always double quotes, inner quotes doubled.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quote a string literal: single quotes, inner quotes doubled (standard_conforming_strings is on
/// by default since PostgreSQL 9.1; we also set it on every connection).
pub fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// Split a dotted SQL name into its parts. Unquoted parts are folded to lower case (as PostgreSQL
/// does; DuckDB matches names case-insensitively); quoted parts are kept exactly. The error says
/// what is wrong with the text.
pub fn split_name(input: &str) -> std::result::Result<Vec<String>, &'static str> {
    let mut parts: Vec<String> = Vec::new();
    let mut chars = input.trim().chars().peekable();
    loop {
        let mut part = String::new();
        match chars.peek() {
            Some('"') => {
                chars.next();
                let mut closed = false;
                while let Some(c) = chars.next() {
                    if c == '"' {
                        if chars.peek() == Some(&'"') {
                            chars.next();
                            part.push('"');
                        } else {
                            closed = true;
                            break;
                        }
                    } else {
                        part.push(c);
                    }
                }
                if !closed {
                    return Err("unterminated double quote");
                }
                if part.is_empty() {
                    return Err("empty quoted name");
                }
            }
            _ => {
                while let Some(&c) = chars.peek() {
                    if c == '.' {
                        break;
                    }
                    if c == '"' {
                        return Err("a double quote inside an unquoted name");
                    }
                    part.push(c);
                    chars.next();
                }
                let trimmed = part.trim();
                if trimmed.is_empty() {
                    return Err("empty name");
                }
                if trimmed.chars().any(|c| c.is_whitespace()) {
                    return Err("spaces in an unquoted name");
                }
                part = trimmed.to_lowercase();
            }
        }
        parts.push(part);
        match chars.next() {
            None => return Ok(parts),
            Some('.') => continue,
            Some(_) => return Err("unexpected text after a quoted name"),
        }
    }
}

/// Parse `schema.table` / `"Sales"."odd ""name"""` / `table`. Unquoted parts are folded to lower case,
/// as PostgreSQL does; quoted parts are kept exactly. Anything else (a third part, a stray quote, an
/// empty name) is an error that quotes the input back.
pub fn parse_qualified_name(input: &str) -> Result<QualifiedName> {
    let bad = |why: &str| {
        Error::argument(format!(
            "table name {input:?} is not a valid PostgreSQL name ({why}); write schema.table, with double quotes around parts that need them"
        ))
    };
    let mut parts = split_name(input).map_err(bad)?;
    match parts.len() {
        1 => Ok(QualifiedName {
            schema: None,
            name: parts.remove(0),
        }),
        2 => {
            let name = parts.remove(1);
            Ok(QualifiedName {
                schema: Some(parts.remove(0)),
                name,
            })
        }
        _ => Err(bad(
            "more than two parts; a database name cannot be given here",
        )),
    }
}

/// A resolved table.
#[derive(Debug, Clone)]
pub struct Table {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    /// pg_class.reltuples (an estimate; -1 when never analyzed).
    pub estimated_rows: i64,
    /// pg_class.relkind: `r` table, `p` partitioned, `v` view, `m` materialized view, `f` foreign.
    pub relkind: char,
}

impl Table {
    pub fn qualified(&self) -> QualifiedName {
        QualifiedName {
            schema: Some(self.schema.clone()),
            name: self.name.clone(),
        }
    }

    /// `"schema"."name"` for SQL and messages.
    pub fn quoted(&self) -> String {
        self.qualified().quoted()
    }
}

/// One column of a table.
#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub attnum: i16,
    pub not_null: bool,
    pub pg_type: PgColumnType,
}

/// Find a table (also views, materialized views, partitioned and foreign tables) by name, resolving an
/// unqualified name through the server's search_path. Not found: an error that suggests near names.
pub async fn resolve_table(client: &Client, name: &QualifiedName, target: &str) -> Result<Table> {
    let rows = match &name.schema {
        Some(schema) => {
            client
                .query_typed(
                    "SELECT c.oid, n.nspname::text, c.relname::text, c.reltuples::float8, c.relkind::text \
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r','p','v','m','f')",
                    &[(schema, Type::TEXT), (&name.name, Type::TEXT)],
                )
                .await
        }
        None => {
            client
                .query_typed(
                    "SELECT c.oid, n.nspname::text, c.relname::text, c.reltuples::float8, c.relkind::text \
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relname = $1 AND c.relkind IN ('r','p','v','m','f') \
                   AND n.nspname = ANY (current_schemas(true)) \
                 ORDER BY array_position(current_schemas(true), n.nspname) LIMIT 1",
                    &[(&name.name, Type::TEXT)],
                )
                .await
        }
    }
    .map_err(|e| Error::from_pg(e, "looking up the table", target))?;
    if let Some(row) = rows.first() {
        let reltuples: f64 = row.get(3);
        let relkind: String = row.get(4);
        return Ok(Table {
            oid: row.get(0),
            schema: row.get(1),
            name: row.get(2),
            estimated_rows: reltuples as i64,
            relkind: relkind.chars().next().unwrap_or('r'),
        });
    }
    let hint = suggest_table(client, name).await.unwrap_or_default();
    Err(Error::UnknownTable {
        table: name.quoted(),
        hint,
    })
}

async fn suggest_table(client: &Client, name: &QualifiedName) -> Option<String> {
    let rows = client
        .query(
            "SELECT n.nspname::text, c.relname::text FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r','p','v','m','f') \
               AND n.nspname NOT IN ('pg_catalog','information_schema') AND n.nspname NOT LIKE 'pg_toast%'",
            &[],
        )
        .await
        .ok()?;
    let candidates: Vec<QualifiedName> = rows
        .iter()
        .map(|r| QualifiedName {
            schema: Some(r.get(0)),
            name: r.get(1),
        })
        .collect();
    closest_name(name, &candidates).map(|q| format!(" (did you mean {}?)", q.quoted()))
}

/// The candidate nearest to `wanted` by edit distance, if it is near enough to be a likely typo.
pub fn closest_name<'a>(
    wanted: &QualifiedName,
    candidates: &'a [QualifiedName],
) -> Option<&'a QualifiedName> {
    let mut best: Option<(usize, &QualifiedName)> = None;
    for c in candidates {
        let mut d = edit_distance(&wanted.name, &c.name);
        if let Some(s) = &wanted.schema {
            if c.schema.as_deref() != Some(s.as_str()) {
                d += 1 + edit_distance(s, c.schema.as_deref().unwrap_or("")).min(3);
            }
        }
        if best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    let limit = (wanted.name.chars().count() / 3).max(2);
    best.filter(|(d, _)| *d <= limit).map(|(_, c)| c)
}

/// Levenshtein distance, by characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The table's columns in table order, with domains resolved to their base types.
pub async fn table_columns(client: &Client, table: &Table, target: &str) -> Result<Vec<Column>> {
    // Domains are resolved in SQL: walk typbasetype up to 8 levels (domains over domains are rare).
    let sql = "
        WITH RECURSIVE base(start_oid, oid, typmod, depth) AS (
            SELECT t.oid, t.oid, -1, 0 FROM pg_type t
             WHERE t.oid IN (SELECT atttypid FROM pg_attribute WHERE attrelid = $1 AND attnum > 0)
                OR t.oid IN (SELECT e.typelem FROM pg_attribute a JOIN pg_type e ON e.oid = a.atttypid
                              WHERE a.attrelid = $1 AND a.attnum > 0 AND e.typcategory = 'A')
          UNION ALL
            SELECT b.start_oid, t.typbasetype, t.typtypmod, b.depth + 1
              FROM base b JOIN pg_type t ON t.oid = b.oid
             WHERE t.typtype = 'd' AND b.depth < 8
        ), resolved AS (
            SELECT DISTINCT ON (start_oid) start_oid, oid, typmod FROM base ORDER BY start_oid, depth DESC
        )
        SELECT a.attname::text, a.attnum, a.attnotnull, a.attndims,
               r.oid AS base_oid,
               CASE WHEN r.typmod <> -1 AND r.oid <> a.atttypid THEN r.typmod ELSE a.atttypmod END AS typmod,
               bt.typtype::text, bt.typname::text, format_type(a.atttypid, a.atttypmod),
               bt.typcategory::text,
               er.oid AS elem_oid, et.typtype::text AS elem_typtype, et.typname::text AS elem_name
          FROM pg_attribute a
          JOIN resolved r ON r.start_oid = a.atttypid
          JOIN pg_type bt ON bt.oid = r.oid
          LEFT JOIN resolved er ON er.start_oid = bt.typelem AND bt.typcategory = 'A'
          LEFT JOIN pg_type et ON et.oid = er.oid
         WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
         ORDER BY a.attnum";
    let rows = client
        .query_typed(sql, &[(&table.oid, Type::OID)])
        .await
        .map_err(|e| Error::from_pg(e, "reading the table's columns", target))?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let typtype: String = row.get(6);
        let typname: String = row.get(7);
        let display: String = row.get(8);
        let category: String = row.get(9);
        let elem_oid: Option<u32> = row.get(10);
        let elem_typtype: Option<String> = row.get(11);
        let elem_name: Option<String> = row.get(12);
        let is_array = category == "A" && elem_oid.is_some();
        let ndims: i32 = row.get(3);
        // citext is an extension type with no fixed oid: recognize it by name (its binary form is text).
        let name = if typname == "citext" || elem_name.as_deref() == Some("citext") {
            if is_array {
                "citext[]".to_string()
            } else {
                "citext".to_string()
            }
        } else {
            display
        };
        out.push(Column {
            name: row.get(0),
            attnum: row.get(1),
            not_null: row.get(2),
            pg_type: PgColumnType {
                oid: row.get(4),
                typmod: row.get(5),
                name,
                typtype: typtype.chars().next().unwrap_or('b'),
                elem_oid: if is_array { elem_oid } else { None },
                elem_typtype: if is_array {
                    elem_typtype.and_then(|s| s.chars().next())
                } else {
                    None
                },
                ndims: if is_array { ndims.max(1) } else { 0 },
            },
        });
    }
    Ok(out)
}

/// The columns of the table's primary key, in key order (empty when it has none).
pub async fn primary_key(client: &Client, table: &Table, target: &str) -> Result<Vec<String>> {
    let rows = client
        .query(
            "SELECT a.attname::text FROM pg_index i \
             CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) \
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
             WHERE i.indrelid = $1 AND i.indisprimary ORDER BY k.ord",
            &[&table.oid],
        )
        .await
        .map_err(|e| Error::from_pg(e, "reading the primary key", target))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(schema: Option<&str>, name: &str) -> QualifiedName {
        QualifiedName {
            schema: schema.map(str::to_string),
            name: name.to_string(),
        }
    }

    #[test]
    fn parses_postgres_names() {
        assert_eq!(
            parse_qualified_name("subscriptions").unwrap(),
            q(None, "subscriptions")
        );
        assert_eq!(
            parse_qualified_name("Analytics.Subscriptions").unwrap(),
            q(Some("analytics"), "subscriptions")
        );
        assert_eq!(
            parse_qualified_name(r#""Sales"."odd ""name""""#).unwrap(),
            q(Some("Sales"), r#"odd "name""#)
        );
        assert_eq!(
            parse_qualified_name(r#"public."a.b""#).unwrap(),
            q(Some("public"), "a.b")
        );
    }

    #[test]
    fn rejects_bad_names_without_running_them() {
        for bad in [
            "a.b.c",
            "",
            "\"open",
            "x; DROP TABLE y",
            "a..b",
            "\"\"",
            "\"a\"b",
            "a\"b",
        ] {
            let err = parse_qualified_name(bad).unwrap_err().to_string();
            assert!(
                err.contains("is not a valid PostgreSQL name"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn quoting_is_safe() {
        assert_eq!(quote_ident(r#"a"b"#), r#""a""b""#);
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(q(Some("Sales"), "x;y").quoted(), r#""Sales"."x;y""#);
    }

    #[test]
    fn suggests_near_names() {
        let cands = vec![
            q(Some("analytics"), "subscriptions"),
            q(Some("public"), "orders"),
        ];
        assert_eq!(
            closest_name(&q(Some("analytics"), "subscriptionz"), &cands),
            Some(&cands[0])
        );
        assert_eq!(closest_name(&q(None, "ordrs"), &cands), Some(&cands[1]));
        assert_eq!(closest_name(&q(None, "customers"), &cands), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
