//! Quoting and name parsing for SQL text lakemig writes, for PostgreSQL, DuckDB and SQLite alike.
//!
//! The three agree on what lakemig uses, so one function serves each job:
//! - identifiers: always double quotes, an inner `"` doubled (`a"b` -> `"a""b"`); quoted names are
//!   kept exactly in all three;
//! - string literals: single quotes, an inner `'` doubled. PostgreSQL reads backslashes literally only
//!   with `standard_conforming_strings` on (the default since 9.1; lakemig's read sessions also set
//!   it); DuckDB and SQLite always do.
//!
//! Where they differ, for unquoted names: PostgreSQL folds them to lower case; DuckDB keeps their case
//! but matches names case-insensitively; so [`split_name`]'s lower-casing finds the same object in
//! both. PostgreSQL also truncates names to 63 bytes (`NAMEDATALEN - 1`); DuckDB does not; nothing
//! here shortens names.

/// Quote an identifier: always double quotes, inner quotes doubled.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quote a string literal: single quotes, inner quotes doubled.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_is_safe() {
        assert_eq!(quote_ident(r#"a"b"#), r#""a""b""#);
        assert_eq!(quote_literal("it's"), "'it''s'");
    }

    #[test]
    fn split_name_folds_unquoted_parts_only() {
        assert_eq!(
            split_name(r#"Lake."Main".T"#).unwrap(),
            vec!["lake", "Main", "t"]
        );
        assert_eq!(split_name(r#""a.b""#).unwrap(), vec!["a.b"]);
        assert_eq!(split_name("a..b"), Err("empty name"));
        assert_eq!(split_name("\"open"), Err("unterminated double quote"));
        assert_eq!(split_name("a b"), Err("spaces in an unquoted name"));
    }
}
