//! What SQLite's pragmas do not tell, read from the schema's own SQL text: CHECK constraints,
//! whether a foreign key is DEFERRABLE, column collations (CREATE TABLE), and the key expressions
//! and WHERE clause of an index (CREATE INDEX). A small tokenizer following SQLite's lexical rules
//! (`tokenize.c`: `'strings'`, `"identifiers"`, `` `identifiers` ``, `[identifiers]`, `--` and
//! `/* */` comments, `X'blobs'`), and splitting at top-level commas; no full SQL grammar.

/// One token; `text` is exactly as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A bare word (keyword, name or function name).
    Word,
    /// `"x"`, `` `x` `` or `[x]`.
    QuotedIdent,
    /// `'x'`.
    String,
    /// `X'00ff'`.
    Blob,
    Number,
    /// `?`, `?1`, `:name`, `@name`, `$name`.
    Variable,
    /// Punctuation and operators: `(` `)` `,` `.` `=` `==` `!=` `<>` `<=` `>=` `||` ...
    Op,
}

impl Token {
    /// A word equal (ignoring case) to `kw`.
    pub fn is(&self, kw: &str) -> bool {
        self.kind == TokenKind::Word && self.text.eq_ignore_ascii_case(kw)
    }

    /// A keyword that may stand before `(` without being a function name (`IN (`, `AND (`).
    pub fn is_keyword(&self) -> bool {
        const WORDS: [&str; 24] = [
            "AND",
            "OR",
            "NOT",
            "IN",
            "IS",
            "EXISTS",
            "BETWEEN",
            "CASE",
            "WHEN",
            "THEN",
            "ELSE",
            "LIKE",
            "GLOB",
            "REGEXP",
            "MATCH",
            "CAST",
            "COLLATE",
            "CHECK",
            "KEY",
            "REFERENCES",
            "WHERE",
            "ON",
            "AS",
            "VALUES",
        ];
        self.kind == TokenKind::Word && WORDS.iter().any(|w| self.text.eq_ignore_ascii_case(w))
    }

    pub fn is_op(&self, op: &str) -> bool {
        self.kind == TokenKind::Op && self.text == op
    }

    /// The name an identifier token stands for (quotes removed), for words and quoted identifiers.
    pub fn ident(&self) -> Option<String> {
        match self.kind {
            TokenKind::Word => Some(self.text.clone()),
            TokenKind::QuotedIdent => Some(unquote(&self.text)),
            _ => None,
        }
    }
}

/// `"a""b"` -> `a"b`, `` `x` `` -> `x`, `[x]` -> `x`.
fn unquote(s: &str) -> String {
    let b = s.as_bytes();
    match b.first() {
        Some(b'"') => s[1..s.len() - 1].replace("\"\"", "\""),
        Some(b'`') => s[1..s.len() - 1].replace("``", "`"),
        Some(b'[') => s[1..s.len() - 1].to_string(),
        _ => s.to_string(),
    }
}

/// Split SQL text into tokens (comments and whitespace dropped). Unterminated quotes end the text.
pub fn tokenize(sql: &str) -> Vec<Token> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let push = |out: &mut Vec<Token>, kind, a: usize, z: usize| {
        out.push(Token {
            kind,
            text: sql[a..z].to_string(),
        })
    };
    let until = |start: usize, close: u8, doubled: bool| -> usize {
        let mut j = start + 1;
        while j < b.len() {
            if b[j] == close {
                if doubled && j + 1 < b.len() && b[j + 1] == close {
                    j += 2;
                    continue;
                }
                return j + 1;
            }
            j += 1;
        }
        b.len()
    };
    while i < b.len() {
        let c = b[i];
        match c {
            c if c.is_ascii_whitespace() => i += 1,
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = sql[i + 2..].find("*/").map_or(b.len(), |k| i + 2 + k + 2);
            }
            b'\'' => {
                let z = until(i, b'\'', true);
                push(&mut out, TokenKind::String, i, z);
                i = z;
            }
            b'"' | b'`' => {
                let z = until(i, c, true);
                push(&mut out, TokenKind::QuotedIdent, i, z);
                i = z;
            }
            b'[' => {
                let z = until(i, b']', false);
                push(&mut out, TokenKind::QuotedIdent, i, z);
                i = z;
            }
            b'x' | b'X' if b.get(i + 1) == Some(&b'\'') => {
                let z = until(i + 1, b'\'', false);
                push(&mut out, TokenKind::Blob, i, z);
                i = z;
            }
            b'0'..=b'9' => {
                let mut z = i;
                while z < b.len() && (b[z].is_ascii_alphanumeric() || b[z] == b'.' || b[z] == b'_')
                {
                    // An exponent sign: 1e-5.
                    if (b[z] == b'e' || b[z] == b'E')
                        && matches!(b.get(z + 1), Some(b'+') | Some(b'-'))
                        && !sql[i..z].starts_with("0x")
                    {
                        z += 1;
                    }
                    z += 1;
                }
                push(&mut out, TokenKind::Number, i, z);
                i = z;
            }
            b'.' if b.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                let mut z = i + 1;
                while z < b.len() && (b[z].is_ascii_alphanumeric() || b[z] == b'.') {
                    z += 1;
                }
                push(&mut out, TokenKind::Number, i, z);
                i = z;
            }
            b'?' | b':' | b'@' | b'$' => {
                let mut z = i + 1;
                while z < b.len() && (b[z].is_ascii_alphanumeric() || b[z] == b'_') {
                    z += 1;
                }
                push(&mut out, TokenKind::Variable, i, z);
                i = z;
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                let mut z = i;
                while z < b.len()
                    && (b[z].is_ascii_alphanumeric()
                        || b[z] == b'_'
                        || b[z] == b'$'
                        || b[z] >= 0x80)
                {
                    z += 1;
                }
                push(&mut out, TokenKind::Word, i, z);
                i = z;
            }
            _ => {
                let two = sql.get(i..i + 2).unwrap_or("");
                let n = if matches!(
                    two,
                    "==" | "!=" | "<>" | "<=" | ">=" | "||" | "<<" | ">>" | "->"
                ) {
                    if sql.get(i..i + 3) == Some("->>") {
                        3
                    } else {
                        2
                    }
                } else {
                    1
                };
                let n = n.min(b.len() - i);
                // Keep multi-byte characters whole.
                let mut z = i + n;
                while !sql.is_char_boundary(z) {
                    z += 1;
                }
                push(&mut out, TokenKind::Op, i, z);
                i = z;
            }
        }
    }
    out
}

/// Tokens written back as SQL text, one space between tokens except around `(`, `)`, `,`, `.`.
pub fn join_tokens(tokens: &[Token]) -> String {
    let mut s = String::new();
    for (k, t) in tokens.iter().enumerate() {
        let prev = k.checked_sub(1).map(|p| &tokens[p]);
        let tight = t.is_op(")")
            || t.is_op(",")
            || t.is_op(".")
            || prev.is_some_and(|p| p.is_op("(") || p.is_op("."))
            || (t.is_op("(") && prev.is_some_and(|p| p.kind == TokenKind::Word && !p.is_keyword()));
        if k > 0 && !tight {
            s.push(' ');
        }
        s.push_str(&t.text);
    }
    s
}

/// Split at commas outside parentheses.
pub fn split_top_level(tokens: &[Token]) -> Vec<&[Token]> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, t) in tokens.iter().enumerate() {
        if t.is_op("(") {
            depth += 1;
        } else if t.is_op(")") {
            depth -= 1;
        } else if t.is_op(",") && depth == 0 {
            out.push(&tokens[start..i]);
            start = i + 1;
        }
    }
    if start < tokens.len() {
        out.push(&tokens[start..]);
    }
    out
}

/// The index of the `)` matching the `(` at `open`, or the end.
pub fn matching_paren(tokens: &[Token], open: usize) -> usize {
    let mut depth = 0i32;
    for (i, t) in tokens.iter().enumerate().skip(open) {
        if t.is_op("(") {
            depth += 1;
        } else if t.is_op(")") {
            depth -= 1;
            if depth == 0 {
                return i;
            }
        }
    }
    tokens.len()
}

/// A CHECK constraint as written: on a column (column constraint) or on the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckDef {
    pub name: Option<String>,
    pub column: Option<String>,
    /// The expression inside `CHECK ( ... )`, as tokens.
    pub expr: Vec<Token>,
}

impl CheckDef {
    /// `CHECK (...)` as SQLite has it (for notes).
    pub fn sqlite_text(&self) -> String {
        let mut s = String::new();
        if let Some(n) = &self.name {
            s.push_str(&format!("CONSTRAINT \"{n}\" "));
        }
        s.push_str(&format!("CHECK ({})", join_tokens(&self.expr)));
        s
    }
}

/// `DEFERRABLE INITIALLY DEFERRED` and friends on a foreign key (SQLite's default: not deferrable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Deferrable {
    #[default]
    No,
    /// `DEFERRABLE` / `DEFERRABLE INITIALLY IMMEDIATE`.
    Immediate,
    /// `DEFERRABLE INITIALLY DEFERRED`.
    Deferred,
}

/// A REFERENCES clause: the child columns (the column itself for a column constraint), the parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceDef {
    pub columns: Vec<String>,
    pub parent_table: String,
    pub deferrable: Deferrable,
}

/// What CREATE TABLE's text adds to the pragmas.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableDdl {
    pub checks: Vec<CheckDef>,
    pub references: Vec<ReferenceDef>,
    /// `(column, collation)` for columns declared with `COLLATE`.
    pub collations: Vec<(String, String)>,
}

const TABLE_CONSTRAINT_WORDS: [&str; 5] = ["CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"];

/// Read CHECKs, REFERENCES clauses and collations from a CREATE TABLE statement.
pub fn parse_create_table(sql: &str) -> TableDdl {
    let tokens = tokenize(sql);
    let mut ddl = TableDdl::default();
    let Some(open) = tokens.iter().position(|t| t.is_op("(")) else {
        return ddl;
    };
    let close = matching_paren(&tokens, open);
    let body = &tokens[open + 1..close.min(tokens.len())];
    for item in split_top_level(body) {
        let Some(first) = item.first() else { continue };
        let is_table_constraint = TABLE_CONSTRAINT_WORDS.iter().any(|w| first.is(w));
        let column = if is_table_constraint {
            None
        } else {
            first.ident()
        };
        let mut name: Option<String> = None;
        let mut i = if column.is_some() { 1 } else { 0 };
        let mut table_fk_cols: Option<Vec<String>> = None;
        while i < item.len() {
            let t = &item[i];
            if t.is("CONSTRAINT") {
                name = item.get(i + 1).and_then(Token::ident);
                i += 2;
                continue;
            }
            if t.is("CHECK") && item.get(i + 1).is_some_and(|p| p.is_op("(")) {
                let z = matching_paren(item, i + 1);
                ddl.checks.push(CheckDef {
                    name: name.take(),
                    column: column.clone(),
                    expr: item[i + 2..z.min(item.len())].to_vec(),
                });
                i = z + 1;
                continue;
            }
            if t.is("FOREIGN")
                && item.get(i + 1).is_some_and(|k| k.is("KEY"))
                && item.get(i + 2).is_some_and(|p| p.is_op("("))
            {
                let z = matching_paren(item, i + 2);
                table_fk_cols = Some(
                    item[i + 3..z.min(item.len())]
                        .iter()
                        .filter_map(Token::ident)
                        .collect(),
                );
                i = z + 1;
                continue;
            }
            if t.is("REFERENCES") {
                let parent = item.get(i + 1).and_then(Token::ident).unwrap_or_default();
                let columns = table_fk_cols
                    .take()
                    .or_else(|| column.clone().map(|c| vec![c]))
                    .unwrap_or_default();
                // The clause runs until the next constraint of the column.
                let mut deferrable = Deferrable::No;
                let mut j = i + 2;
                while j < item.len() {
                    let u = &item[j];
                    if [
                        "CONSTRAINT",
                        "CHECK",
                        "REFERENCES",
                        "PRIMARY",
                        "UNIQUE",
                        "COLLATE",
                    ]
                    .iter()
                    .any(|w| u.is(w))
                        || (u.is("NOT") && item.get(j + 1).is_some_and(|n| n.is("NULL")))
                        || u.is("DEFAULT")
                    {
                        break;
                    }
                    if u.is("NOT") && item.get(j + 1).is_some_and(|n| n.is("DEFERRABLE")) {
                        deferrable = Deferrable::No;
                        j += 2;
                        continue;
                    }
                    if u.is("DEFERRABLE") {
                        deferrable = Deferrable::Immediate;
                    }
                    if u.is("INITIALLY")
                        && deferrable != Deferrable::No
                        && item.get(j + 1).is_some_and(|n| n.is("DEFERRED"))
                    {
                        deferrable = Deferrable::Deferred;
                    }
                    j += 1;
                }
                ddl.references.push(ReferenceDef {
                    columns,
                    parent_table: parent,
                    deferrable,
                });
                i = j;
                continue;
            }
            if t.is("COLLATE") {
                if let (Some(c), Some(coll)) = (&column, item.get(i + 1).and_then(Token::ident)) {
                    ddl.collations.push((c.clone(), coll));
                }
                i += 2;
                continue;
            }
            i += 1;
        }
    }
    ddl
}

/// One key of an index: the expression (a column name is an expression too), its collation, DESC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexKeyDef {
    pub expr: Vec<Token>,
    pub collation: Option<String>,
    pub desc: bool,
}

/// What a CREATE INDEX statement says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexDdl {
    pub keys: Vec<IndexKeyDef>,
    /// The WHERE clause of a partial index.
    pub predicate: Option<Vec<Token>>,
}

/// Parse `CREATE [UNIQUE] INDEX ... ON table (keys) [WHERE expr]`; `None` if it does not look like one.
pub fn parse_create_index(sql: &str) -> Option<IndexDdl> {
    let tokens = tokenize(sql);
    let on = tokens.iter().position(|t| t.is("ON"))?;
    let open = on + tokens[on..].iter().position(|t| t.is_op("("))?;
    let close = matching_paren(&tokens, open);
    if close >= tokens.len() {
        return None;
    }
    let mut keys = Vec::new();
    for item in split_top_level(&tokens[open + 1..close]) {
        let mut expr = item.to_vec();
        let mut desc = false;
        let mut collation = None;
        if let Some(last) = expr.last() {
            if last.is("DESC") || last.is("ASC") {
                desc = last.is("DESC");
                expr.pop();
            }
        }
        let n = expr.len();
        if n >= 2 && expr[n - 2].is("COLLATE") {
            collation = expr[n - 1].ident();
            expr.truncate(n - 2);
        }
        keys.push(IndexKeyDef {
            expr,
            collation,
            desc,
        });
    }
    let rest = &tokens[close + 1..];
    let predicate = match rest.first() {
        Some(w) if w.is("WHERE") => {
            let mut p = rest[1..].to_vec();
            if p.last().is_some_and(|t| t.is_op(";")) {
                p.pop();
            }
            Some(p)
        }
        _ => None,
    };
    Some(IndexDdl { keys, predicate })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_follow_sqlite_quoting() {
        let t = tokenize(
            "x\"a\"\"b\" [c d] `e` 'it''s' X'00ff' 1.5e-3 -- gone\n /* gone */ a<=b||c ?1",
        );
        let kinds: Vec<TokenKind> = t.iter().map(|t| t.kind).collect();
        use TokenKind::*;
        assert_eq!(
            kinds,
            vec![
                Word,
                QuotedIdent,
                QuotedIdent,
                QuotedIdent,
                String,
                Blob,
                Number,
                Word,
                Op,
                Word,
                Op,
                Word,
                Variable
            ]
        );
        assert_eq!(t[1].ident().unwrap(), "a\"b");
        assert_eq!(t[2].ident().unwrap(), "c d");
        assert_eq!(t[6].text, "1.5e-3");
        assert_eq!(
            join_tokens(&tokenize("lower( \"x\" ) IN ('a','b')")),
            "lower(\"x\") IN ('a', 'b')"
        );
    }

    #[test]
    fn create_table_checks_references_collations() {
        // Django 5.2's SQLite DDL, plus the other spellings.
        let ddl = parse_create_table(
            r#"CREATE TABLE "shop_order" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT,
               "visits" integer unsigned NOT NULL CHECK ("visits" >= 0),
               "profile" text NOT NULL CHECK ((JSON_VALID("profile") OR "profile" IS NULL)),
               "name" varchar(20) COLLATE NOCASE UNIQUE,
               "customer_id" bigint NOT NULL REFERENCES "shop_customer" ("id") DEFERRABLE INITIALLY DEFERRED,
               other_id INT REFERENCES other(id) ON DELETE CASCADE,
               a INT, b INT,
               CONSTRAINT "visits_bound" CHECK ("visits" < 1000000),
               CHECK (a < b),
               FOREIGN KEY (a, b) REFERENCES pair (x, y) DEFERRABLE)"#,
        );
        let checks: Vec<(Option<&str>, Option<&str>, String)> = ddl
            .checks
            .iter()
            .map(|c| (c.name.as_deref(), c.column.as_deref(), join_tokens(&c.expr)))
            .collect();
        assert_eq!(
            checks,
            vec![
                (None, Some("visits"), "\"visits\" >= 0".to_string()),
                (
                    None,
                    Some("profile"),
                    "(JSON_VALID(\"profile\") OR \"profile\" IS NULL)".to_string()
                ),
                (
                    Some("visits_bound"),
                    None,
                    "\"visits\" < 1000000".to_string()
                ),
                (None, None, "a < b".to_string()),
            ]
        );
        let refs: Vec<(Vec<String>, &str, Deferrable)> = ddl
            .references
            .iter()
            .map(|r| (r.columns.clone(), r.parent_table.as_str(), r.deferrable))
            .collect();
        assert_eq!(
            refs,
            vec![
                (
                    vec!["customer_id".to_string()],
                    "shop_customer",
                    Deferrable::Deferred
                ),
                (vec!["other_id".to_string()], "other", Deferrable::No),
                (
                    vec!["a".to_string(), "b".to_string()],
                    "pair",
                    Deferrable::Immediate
                ),
            ]
        );
        assert_eq!(
            ddl.collations,
            vec![("name".to_string(), "NOCASE".to_string())]
        );
    }

    #[test]
    fn create_index_keys_and_predicate() {
        let ix = parse_create_index(
            r#"CREATE UNIQUE INDEX IF NOT EXISTS "active_name" ON "shop_customer" ("name" COLLATE NOCASE DESC, lower(email)) WHERE "active""#,
        )
        .unwrap();
        assert_eq!(ix.keys.len(), 2);
        assert_eq!(ix.keys[0].collation.as_deref(), Some("NOCASE"));
        assert!(ix.keys[0].desc);
        assert_eq!(join_tokens(&ix.keys[1].expr), "lower(email)");
        assert_eq!(join_tokens(ix.predicate.as_ref().unwrap()), "\"active\"");
        let plain = parse_create_index("CREATE INDEX i ON t (a)").unwrap();
        assert_eq!(plain.predicate, None);
        assert!(parse_create_index("nonsense").is_none());
    }
}
