//! SQLite expressions (CHECK constraints, index keys, partial-index predicates) -> PostgreSQL, token
//! by token, or a reason why not. Only what means the same on both sides is written; anything else
//! is refused with a reason that goes into the plan's notes, so nothing is dropped silently.
//!
//! | SQLite | PostgreSQL | note |
//! |---|---|---|
//! | column names (bare, `"x"`, `` `x` ``, `[x]`) | `"x"` | a column whose PostgreSQL type is not boolean/number/text: only `IS [NOT] NULL` |
//! | `'text'`, numbers, `NULL`, `TRUE`/`FALSE` | the same | `0`/`1` compared with a boolean column -> `false`/`true` |
//! | `=`, `==`, `!=`, `<>`, `<`, `<=`, `>`, `>=`, `+ - * / %`, `\|\|` | the same (`==` -> `=`) | |
//! | `AND OR NOT IS IN BETWEEN CASE WHEN THEN ELSE END` | the same | `a IS b` -> `IS NOT DISTINCT FROM` |
//! | `LIKE` | `ILIKE` | SQLite's LIKE ignores ASCII case |
//! | `length lower upper abs trim ltrim rtrim coalesce nullif substr replace round` | the same | |
//! | `ifnull(a, b)` | `coalesce(a, b)` | |
//! | `json_valid(c)` on a column that becomes json/jsonb | (the whole CHECK is implied by the type) | |
//! | `typeof()`, `GLOB`, `REGEXP`, `CAST`, `COLLATE`, other functions, parameters, blobs | refused | PostgreSQL's column type enforces what `typeof()` checks |

use std::collections::BTreeMap;

use crate::sql::quote_ident;
use crate::sqlite::ddl::{Token, TokenKind};
use crate::types::pg_value::PgTarget;

/// The columns an expression may name: lower-case name -> (name as created, PostgreSQL type).
pub type ColumnTypes = BTreeMap<String, (String, PgTarget)>;

/// A translated expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Translated {
    pub sql: String,
    /// Some token was rewritten (LIKE -> ILIKE, 1 -> true, ...): the plan says so.
    pub changed: bool,
    /// It called `json_valid()` on a json/jsonb column (then the CHECK is implied by the type).
    pub json_valid_implied: bool,
}

const KEYWORDS: [&str; 16] = [
    "AND", "OR", "NOT", "NULL", "IN", "BETWEEN", "CASE", "WHEN", "THEN", "ELSE", "END", "TRUE",
    "FALSE", "ESCAPE", "DISTINCT", "FROM",
];

const SAME_FUNCTIONS: [&str; 12] = [
    "length", "lower", "upper", "abs", "trim", "ltrim", "rtrim", "coalesce", "nullif", "substr",
    "replace", "round",
];

fn plain_type(t: PgTarget) -> bool {
    matches!(
        t,
        PgTarget::Bool
            | PgTarget::Int2
            | PgTarget::Int4
            | PgTarget::Int8
            | PgTarget::Float4
            | PgTarget::Float8
            | PgTarget::Numeric
            | PgTarget::Text
    )
}

/// Translate `tokens` (one SQLite expression) for PostgreSQL, or say why it cannot be.
pub fn translate_expr(
    tokens: &[Token],
    columns: &ColumnTypes,
) -> std::result::Result<Translated, String> {
    let mut out: Vec<String> = Vec::with_capacity(tokens.len());
    let mut changed = false;
    let mut json_valid_implied = false;
    // After a boolean column: 0/1 literals compared with it become false/true.
    let mut bool_ctx = false;
    let mut i = 0;
    while i < tokens.len() {
        let t = &tokens[i];
        let next = tokens.get(i + 1);
        let column = t.ident().and_then(|n| columns.get(&n.to_lowercase()));
        match t.kind {
            TokenKind::Word | TokenKind::QuotedIdent
                if next.is_some_and(|n| n.is_op("(")) && !t.is_keyword() =>
            {
                let name = t.ident().unwrap_or_default().to_ascii_lowercase();
                if name == "json_valid" {
                    let close = crate::sqlite::ddl::matching_paren(tokens, i + 1);
                    let arg = &tokens[i + 2..close.min(tokens.len())];
                    let col = match arg {
                        [a] => a.ident().and_then(|n| columns.get(&n.to_lowercase())),
                        _ => None,
                    };
                    match col {
                        Some((_, PgTarget::Json | PgTarget::Jsonb)) => {
                            out.push("TRUE".into());
                            json_valid_implied = true;
                            i = close + 1;
                            continue;
                        }
                        _ => {
                            return Err(
                                "json_valid() on a column that does not become json/jsonb".into()
                            )
                        }
                    }
                }
                if name == "typeof" {
                    return Err("typeof() has no PostgreSQL equivalent (the column's PostgreSQL type enforces what it checks)".into());
                }
                if name == "ifnull" {
                    out.push("coalesce".into());
                    changed = true;
                } else if SAME_FUNCTIONS.contains(&name.as_str()) {
                    out.push(name);
                } else {
                    return Err(format!("function {name}() is not translated"));
                }
                bool_ctx = false;
            }
            TokenKind::Word | TokenKind::QuotedIdent if column.is_some() => {
                let (name, ty) = column.expect("checked");
                let null_test = next.is_some_and(|n| n.is("IS"))
                    && (tokens.get(i + 2).is_some_and(|n| n.is("NULL"))
                        || (tokens.get(i + 2).is_some_and(|n| n.is("NOT"))
                            && tokens.get(i + 3).is_some_and(|n| n.is("NULL"))));
                if !plain_type(*ty) && !null_test {
                    return Err(format!(
                        "it uses column \"{name}\", which becomes {} (comparisons with SQLite's values may not hold)",
                        ty.sql_name()
                    ));
                }
                out.push(quote_ident(name));
                bool_ctx = *ty == PgTarget::Bool;
            }
            TokenKind::Word => {
                let up = t.text.to_ascii_uppercase();
                match up.as_str() {
                    "LIKE" => {
                        out.push("ILIKE".into());
                        changed = true;
                    }
                    "IS" => {
                        // SQLite's `a IS b` / `a IS NOT b` compare NULL-safely.
                        let after = if next.is_some_and(|n| n.is("NOT")) {
                            tokens.get(i + 2)
                        } else {
                            next
                        };
                        let plain = after.is_some_and(|a| {
                            a.is("NULL") || a.is("TRUE") || a.is("FALSE") || a.is("DISTINCT")
                        });
                        if plain {
                            out.push("IS".into());
                        } else if next.is_some_and(|n| n.is("NOT")) {
                            out.push("IS DISTINCT FROM".into());
                            changed = true;
                            i += 2;
                            continue;
                        } else {
                            out.push("IS NOT DISTINCT FROM".into());
                            changed = true;
                        }
                    }
                    "AND" | "OR" | "THEN" | "WHEN" | "ELSE" | "CASE" | "END" => {
                        out.push(up);
                        bool_ctx = false;
                    }
                    k if KEYWORDS.contains(&k) => out.push(up),
                    "GLOB" | "REGEXP" | "MATCH" => {
                        return Err(format!("{up} has no PostgreSQL equivalent here"))
                    }
                    "COLLATE" => return Err("COLLATE is not translated".into()),
                    "CAST" => return Err("CAST uses SQLite type names".into()),
                    _ => return Err(format!("{} is not a column of the table", t.text)),
                }
            }
            TokenKind::QuotedIdent => {
                return Err(format!(
                    "{} is not a column of the table (SQLite reads it as a string)",
                    t.text
                ))
            }
            TokenKind::String => out.push(t.text.clone()),
            TokenKind::Number => {
                if bool_ctx && (t.text == "0" || t.text == "1") {
                    out.push(if t.text == "1" { "true" } else { "false" }.into());
                    changed = true;
                } else {
                    out.push(t.text.clone());
                }
            }
            TokenKind::Blob => return Err("blob literals are not translated".into()),
            TokenKind::Variable => return Err("parameters are not translated".into()),
            TokenKind::Op => match t.text.as_str() {
                "==" => {
                    out.push("=".into());
                }
                "(" | ")" | "," | "=" | "!=" | "<>" | "<" | "<=" | ">" | ">=" | "+" | "-" | "*"
                | "/" | "%" | "||" => out.push(t.text.clone()),
                other => return Err(format!("operator {other} is not translated")),
            },
        }
        i += 1;
    }
    if out.is_empty() {
        return Err("empty expression".into());
    }
    // Join: no space after "(" or before ")" / ",", none between a function name and "(".
    let mut sql = String::new();
    for (k, piece) in out.iter().enumerate() {
        let prev = k.checked_sub(1).map(|p| out[p].as_str());
        let tight = piece == ")"
            || piece == ","
            || prev == Some("(")
            || (piece == "(" && prev.is_some_and(|p| p.chars().all(|c| c.is_ascii_lowercase())));
        // (function names are written lower case, keywords upper case)
        if k > 0 && !tight {
            sql.push(' ');
        }
        sql.push_str(piece);
    }
    Ok(Translated {
        sql,
        changed,
        json_valid_implied,
    })
}

/// Columns a CHECK validates as JSON: `json_valid(c)` anywhere in it (Django's JSONField writes
/// `CHECK ((JSON_VALID("c") OR "c" IS NULL))`).
pub fn json_valid_column(expr: &[Token]) -> Option<String> {
    expr.windows(4).find_map(|w| {
        (w[0]
            .ident()
            .is_some_and(|n| n.eq_ignore_ascii_case("json_valid"))
            && w[1].is_op("(")
            && w[3].is_op(")"))
        .then(|| w[2].ident())
        .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::ddl::tokenize;

    fn cols() -> ColumnTypes {
        [
            ("visits", PgTarget::Int8),
            ("name", PgTarget::Text),
            ("active", PgTarget::Bool),
            ("profile", PgTarget::Jsonb),
            ("placed", PgTarget::TimestampTz),
        ]
        .into_iter()
        .map(|(n, t)| (n.to_string(), (n.to_string(), t)))
        .collect()
    }

    fn tr(s: &str) -> std::result::Result<Translated, String> {
        translate_expr(&tokenize(s), &cols())
    }

    #[test]
    fn same_meaning_is_written_back() {
        let t = tr("\"visits\" >= 0").unwrap();
        assert_eq!((t.sql.as_str(), t.changed), ("\"visits\" >= 0", false));
        let t = tr("length(name) BETWEEN 1 AND 20 AND [Visits] == 3").unwrap();
        assert_eq!(
            t.sql,
            "length(\"name\") BETWEEN 1 AND 20 AND \"visits\" = 3"
        );
        let t = tr("name IN ('a', 'b') OR name IS NULL").unwrap();
        assert_eq!(t.sql, "\"name\" IN ('a', 'b') OR \"name\" IS NULL");
        // A timestamp column may be tested for NULL only.
        assert!(tr("placed IS NOT NULL").is_ok());
        assert!(tr("placed > 0").unwrap_err().contains("\"placed\""));
    }

    #[test]
    fn rewrites_are_marked() {
        let t = tr("name LIKE 'a%'").unwrap();
        assert_eq!((t.sql.as_str(), t.changed), ("\"name\" ILIKE 'a%'", true));
        let t = tr("active IN (0, 1) AND active = 1 AND visits = 1").unwrap();
        assert_eq!(
            t.sql,
            "\"active\" IN (false, true) AND \"active\" = true AND \"visits\" = 1"
        );
        let t = tr("ifnull(name, '') <> ''").unwrap();
        assert_eq!(t.sql, "coalesce(\"name\", '') <> ''");
        let t = tr("name IS 'x'").unwrap();
        assert_eq!(t.sql, "\"name\" IS NOT DISTINCT FROM 'x'");
    }

    #[test]
    fn json_valid_on_jsonb_is_implied() {
        let toks = tokenize("(JSON_VALID(\"profile\") OR \"profile\" IS NULL)");
        assert_eq!(json_valid_column(&toks).as_deref(), Some("profile"));
        let t = translate_expr(&toks, &cols()).unwrap();
        assert!(t.json_valid_implied);
        assert!(tr("json_valid(name)").is_err());
    }

    #[test]
    fn refusals_say_why() {
        for (expr, why) in [
            ("typeof(visits) = 'integer'", "typeof()"),
            ("name GLOB '[a-z]*'", "GLOB"),
            ("unknown_col > 1", "not a column"),
            ("\"nope\" = 1", "not a column"),
            ("printf('%d', visits) = '1'", "printf()"),
            ("name COLLATE NOCASE = 'a'", "COLLATE"),
            ("CAST(visits AS TEXT) = '1'", "CAST"),
            ("visits = ?", "parameters"),
            ("name -> 'a' = 1", "operator"),
        ] {
            let e = tr(expr).unwrap_err();
            assert!(e.contains(why), "{expr}: {e}");
        }
    }
}
