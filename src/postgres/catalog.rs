//! Reading PostgreSQL's catalog: resolving a (possibly quoted, possibly unqualified) table name the way
//! the server does, and describing its columns, primary key and indexes.

use tokio_postgres::types::Type;
use tokio_postgres::Client;

use crate::error::{Error, Result};
use crate::sql::{quote_ident, split_name};
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

    /// `schema.name`, unquoted: as a checkpoint records a source and messages name it.
    pub fn plain(&self) -> String {
        match &self.schema {
            Some(s) => format!("{s}.{}", self.name),
            None => self.name.clone(),
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
/// unqualified name through the server's search_path, and read its columns in table order with
/// domains resolved to their base types. One simple query does it (on a fresh backend most of its
/// cost is PostgreSQL loading its catalog caches, so one plain query beats two or a recursive
/// one); only a table using domains costs a further query per level of domain nesting. Not found:
/// an error that suggests near names.
pub async fn describe_table(
    client: &Client,
    name: &QualifiedName,
    target: &str,
) -> Result<(Table, Vec<Column>)> {
    // A table without columns still yields one row (the LEFT JOIN), with NULL column fields.
    let sql = "
        WITH tbl AS (
            SELECT c.oid, n.nspname::text AS nspname, c.relname::text AS relname,
                   c.reltuples::float8 AS reltuples, c.relkind::text AS relkind
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relname = $2 AND c.relkind IN ('r','p','v','m','f')
               AND CASE WHEN $1::text IS NULL THEN n.nspname = ANY (current_schemas(true))
                        ELSE n.nspname = $1::text END
             ORDER BY array_position(current_schemas(true), n.nspname) LIMIT 1
        )
        SELECT tbl.oid, tbl.nspname, tbl.relname, tbl.reltuples, tbl.relkind,
               a.attname::text, a.attnum, a.attnotnull, a.attndims, a.atttypmod,
               format_type(a.atttypid, a.atttypmod),
               t.oid, t.typtype::text, t.typname::text, t.typcategory::text, t.typelem,
               t.typbasetype, t.typtypmod,
               e.oid, e.typtype::text, e.typname::text, e.typcategory::text, e.typelem,
               e.typbasetype, e.typtypmod
          FROM tbl
          LEFT JOIN pg_attribute a ON a.attrelid = tbl.oid AND a.attnum > 0 AND NOT a.attisdropped
          LEFT JOIN pg_type t ON t.oid = a.atttypid
          LEFT JOIN pg_type e ON e.oid = t.typelem AND t.typcategory = 'A'
         ORDER BY a.attnum";
    let rows = client
        .query_typed(sql, &[(&name.schema, Type::TEXT), (&name.name, Type::TEXT)])
        .await
        .map_err(|e| Error::from_pg(e, "looking up the table", target))?;
    let Some(first) = rows.first() else {
        let hint = suggest_table(client, name).await.unwrap_or_default();
        return Err(Error::UnknownTable {
            table: name.quoted(),
            hint,
        });
    };
    let reltuples: f64 = first.get(3);
    let relkind: String = first.get(4);
    let table = Table {
        oid: first.get(0),
        schema: first.get(1),
        name: first.get(2),
        estimated_rows: reltuples as i64,
        relkind: relkind.chars().next().unwrap_or('r'),
    };
    let mut types = PgTypes::default();
    let mut attrs = Vec::with_capacity(rows.len());
    for row in &rows {
        let Some(attname) = row.get::<_, Option<String>>(5) else {
            continue; // a table without columns
        };
        types.add(PgTypeRow::at(row, 11));
        if let Some(elem) = PgTypeRow::maybe_at(row, 18) {
            types.add(elem);
        }
        attrs.push(Attribute {
            name: attname,
            attnum: row.get(6),
            not_null: row.get(7),
            ndims: row.get(8),
            typmod: row.get(9),
            display: row.get(10),
            type_oid: row.get(11),
        });
    }
    // Domains: fetch base types (and their element types) until every chain ends.
    for _ in 0..MAX_DOMAIN_DEPTH {
        let missing = types.missing(attrs.iter().map(|a| a.type_oid));
        if missing.is_empty() {
            break;
        }
        let rows = client
            .query_typed(
                "SELECT oid, typtype::text, typname::text, typcategory::text, typelem, \
                        typbasetype, typtypmod FROM pg_type WHERE oid = ANY ($1)",
                &[(&missing, Type::OID_ARRAY)],
            )
            .await
            .map_err(|e| Error::from_pg(e, "reading the table's column types", target))?;
        for row in &rows {
            types.add(PgTypeRow::at(row, 0));
        }
    }
    let columns = attrs.into_iter().map(|a| types.column(a)).collect();
    Ok((table, columns))
}

/// Domains over domains are followed this deep.
const MAX_DOMAIN_DEPTH: usize = 8;

/// A column as `pg_attribute` has it, before its type is resolved.
struct Attribute {
    name: String,
    attnum: i16,
    not_null: bool,
    ndims: i32,
    typmod: i32,
    /// `format_type` of the declared type (a domain keeps its own name here).
    display: String,
    type_oid: u32,
}

/// The `pg_type` fields type resolution needs.
struct PgTypeRow {
    oid: u32,
    typtype: char,
    typname: String,
    category: char,
    elem: u32,
    basetype: u32,
    typmod: i32,
}

impl PgTypeRow {
    /// The seven fields from `at` on: oid, typtype, typname, typcategory, typelem, typbasetype, typtypmod.
    fn at(row: &tokio_postgres::Row, at: usize) -> PgTypeRow {
        let first = |s: String| s.chars().next().unwrap_or(' ');
        PgTypeRow {
            oid: row.get(at),
            typtype: first(row.get(at + 1)),
            typname: row.get(at + 2),
            category: first(row.get(at + 3)),
            elem: row.get(at + 4),
            basetype: row.get(at + 5),
            typmod: row.get(at + 6),
        }
    }

    fn maybe_at(row: &tokio_postgres::Row, at: usize) -> Option<PgTypeRow> {
        let oid: Option<u32> = row.get(at);
        oid.map(|_| PgTypeRow::at(row, at))
    }

    fn is_array(&self) -> bool {
        self.category == 'A' && self.elem != 0
    }
}

/// Where following a type through domains ends.
enum Resolved<'a> {
    /// The base type, and the type modifier of the innermost domain that has one (-1 when none).
    Base(&'a PgTypeRow, i32),
    /// This type on the way has not been fetched yet.
    Missing(u32),
    /// Domains nested deeper than [`MAX_DOMAIN_DEPTH`].
    TooDeep,
}

/// The types a table's columns use, by oid.
#[derive(Default)]
struct PgTypes(std::collections::HashMap<u32, PgTypeRow>);

impl PgTypes {
    fn add(&mut self, t: PgTypeRow) {
        self.0.insert(t.oid, t);
    }

    /// Follow `oid` through domains to its base type.
    fn resolve(&self, mut oid: u32) -> Resolved<'_> {
        let mut typmod = -1;
        for _ in 0..=MAX_DOMAIN_DEPTH {
            let Some(t) = self.0.get(&oid) else {
                return Resolved::Missing(oid);
            };
            if t.typtype != 'd' {
                return Resolved::Base(t, typmod);
            }
            // The innermost domain with a type modifier decides.
            if t.typmod != -1 {
                typmod = t.typmod;
            }
            oid = t.basetype;
        }
        Resolved::TooDeep
    }

    /// Types that resolving these columns still needs (domain bases, element types of arrays).
    fn missing(&self, columns: impl Iterator<Item = u32>) -> Vec<u32> {
        let mut missing = Vec::new();
        for oid in columns {
            let need = match self.resolve(oid) {
                Resolved::Missing(m) => Some(m),
                Resolved::Base(base, _) if base.is_array() => match self.resolve(base.elem) {
                    Resolved::Missing(m) => Some(m),
                    _ => None,
                },
                _ => None,
            };
            if let Some(m) = need.filter(|m| !missing.contains(m)) {
                missing.push(m);
            }
        }
        missing
    }

    /// The column with its type resolved. A chain deeper than [`MAX_DOMAIN_DEPTH`] keeps the
    /// declared type (read as its text form).
    fn column(&self, a: Attribute) -> Column {
        let (oid, typtype, typname, typmod, elem) = match self.resolve(a.type_oid) {
            Resolved::Base(base, domain_typmod) => {
                let typmod = if domain_typmod != -1 && base.oid != a.type_oid {
                    domain_typmod
                } else {
                    a.typmod
                };
                let elem = match self.resolve(base.elem) {
                    Resolved::Base(e, _) if base.is_array() => Some(e),
                    _ => None,
                };
                (base.oid, base.typtype, base.typname.as_str(), typmod, elem)
            }
            Resolved::Missing(_) | Resolved::TooDeep => (a.type_oid, 'd', "", a.typmod, None),
        };
        let is_array = elem.is_some();
        // citext is an extension type with no fixed oid: recognize it by name (its binary form is text).
        let name = if typname == "citext" || elem.is_some_and(|e| e.typname == "citext") {
            if is_array {
                "citext[]".to_string()
            } else {
                "citext".to_string()
            }
        } else {
            a.display
        };
        Column {
            name: a.name,
            attnum: a.attnum,
            not_null: a.not_null,
            pg_type: PgColumnType {
                oid,
                typmod,
                name,
                typtype,
                elem_oid: elem.map(|e| e.oid),
                elem_typtype: elem.map(|e| e.typtype),
                ndims: if is_array { a.ndims.max(1) } else { 0 },
            },
        }
    }
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

/// The columns of the table's primary key, in key order (empty when it has none).
pub async fn primary_key(client: &Client, table: &Table, target: &str) -> Result<Vec<String>> {
    index_columns(client, table, target, KeyIndex::Primary).await
}

/// Which index [`index_columns`] reads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KeyIndex {
    Primary,
    /// The index of `REPLICA IDENTITY USING INDEX`.
    ReplicaIdentity,
}

/// The columns of the table's primary key or replica identity index, in key order (empty when it
/// has none).
pub async fn index_columns(
    client: &Client,
    table: &Table,
    target: &str,
    which: KeyIndex,
) -> Result<Vec<String>> {
    let (flag, what) = match which {
        KeyIndex::Primary => ("indisprimary", "reading the primary key"),
        KeyIndex::ReplicaIdentity => ("indisreplident", "reading the replica identity"),
    };
    let rows = client
        .query_typed(
            &format!(
                "SELECT a.attname::text FROM pg_index i \
                 CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) \
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
                 WHERE i.indrelid = $1 AND i.{flag} ORDER BY k.ord"
            ),
            &[(&table.oid, Type::OID)],
        )
        .await
        .map_err(|e| Error::from_pg(e, what, target))?;
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
        assert_eq!(q(Some("Sales"), "x;y").quoted(), r#""Sales"."x;y""#);
    }

    fn ty(
        oid: u32,
        typtype: char,
        name: &str,
        category: char,
        elem: u32,
        base: u32,
        typmod: i32,
    ) -> PgTypeRow {
        PgTypeRow {
            oid,
            typtype,
            typname: name.to_string(),
            category,
            elem,
            basetype: base,
            typmod,
        }
    }

    fn attr(type_oid: u32, typmod: i32, display: &str) -> Attribute {
        Attribute {
            name: "c".into(),
            attnum: 1,
            not_null: false,
            ndims: 0,
            typmod,
            display: display.into(),
            type_oid,
        }
    }

    /// Domains resolve to their base type level by level, asking only for the types still unknown;
    /// the innermost domain's modifier wins; arrays resolve their element through domains too.
    #[test]
    fn domains_resolve_to_base_types() {
        let mut types = PgTypes::default();
        // money_amount (domain, numeric(12,2)) over positive_numeric (domain, no modifier) over numeric.
        types.add(ty(90001, 'd', "money_amount", 'N', 0, 90002, 786_438));
        assert_eq!(types.missing([90001].into_iter()), vec![90002]);
        types.add(ty(90002, 'd', "positive_numeric", 'N', 0, 1700, -1));
        assert_eq!(types.missing([90001].into_iter()), vec![1700]);
        types.add(ty(1700, 'b', "numeric", 'N', 0, 0, -1));
        assert!(types.missing([90001].into_iter()).is_empty());
        let c = types.column(attr(90001, -1, "money_amount")).pg_type;
        assert_eq!(
            (c.oid, c.typmod, c.typtype, c.name.as_str()),
            (1700, 786_438, 'b', "money_amount")
        );
        assert_eq!(c.elem_oid, None);

        // tags (domain) over text[], whose element text is known only after the base is.
        types.add(ty(90003, 'd', "tags", 'A', 0, 1009, -1));
        types.add(ty(1009, 'b', "_text", 'A', 25, 0, -1));
        assert_eq!(types.missing([90003].into_iter()), vec![25]);
        types.add(ty(25, 'b', "text", 'S', 0, 0, -1));
        let mut a = attr(90003, -1, "tags");
        a.ndims = 0;
        let c = types.column(a).pg_type;
        assert_eq!(
            (c.oid, c.elem_oid, c.elem_typtype, c.ndims),
            (1009, Some(25), Some('b'), 1)
        );

        // An array of a domain: the element resolves to the domain's base.
        types.add(ty(90005, 'b', "_money_amount", 'A', 90001, 0, -1));
        let c = types.column(attr(90005, -1, "money_amount[]")).pg_type;
        assert_eq!((c.oid, c.elem_oid), (90005, Some(1700)));

        // citext is known by name, plain and as an array.
        types.add(ty(91000, 'b', "citext", 'S', 0, 0, -1));
        types.add(ty(91001, 'b', "_citext", 'A', 91000, 0, -1));
        assert_eq!(
            types.column(attr(91000, -1, "public.citext")).pg_type.name,
            "citext"
        );
        assert_eq!(
            types
                .column(attr(91001, -1, "public.citext[]"))
                .pg_type
                .name,
            "citext[]"
        );
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
