//! The verification checksum: one canonical text per value, computed from the converted SQLite value
//! here and by a SQL expression in PostgreSQL, hashed per row and summed (order-independent).
//!
//! Canonical form per type (PostgreSQL side in [`pg_canonical_sql`]):
//!
//! | type | canonical text |
//! |---|---|
//! | boolean | `true` / `false` (`c::text`) |
//! | smallint, integer, bigint | decimal (`c::text`) |
//! | real, double precision | the IEEE bits in hex (`encode(float8send(c), 'hex')`): exact, NaN included |
//! | numeric | `numeric_out` (`c::text`): `1.50`, `NaN`, `Infinity` |
//! | text, json | the text itself |
//! | bytea | lowercase hex (`encode(c, 'hex')`) |
//! | uuid | lowercase hyphenated (`c::text`) |
//! | date, time, timetz, timestamp, timestamptz, interval | the binary wire value in hex (`*_send`) |
//! | jsonb | jsonb's text output (`c::text`): keys sorted by length then bytes, last duplicate wins, `", "` and `": "` separators, numbers as numeric |
//!
//! A row's text is its values' canonical texts, each written `<byte length>:<text>` (`N` for NULL),
//! joined by `,`; its hash is the first 8 bytes of its MD5 read as a signed big-endian integer; a
//! table's checksum is the sum of its rows' hashes (as a decimal number, no overflow).

use md5::{Digest, Md5};

use crate::postgres::catalog::quote_ident;
use crate::postgres::copy_in::{parse_numeric, PgTarget, PgValue};

/// Append the canonical text of one value (see the module table). `Null` appends nothing; use
/// [`RowHasher`] to get NULL handling right.
pub fn canonical_value(v: &PgValue<'_>, out: &mut Vec<u8>) {
    use std::io::Write;
    match v {
        PgValue::Null => {}
        PgValue::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        PgValue::Int2(i) => write!(out, "{i}").unwrap_or(()),
        PgValue::Int4(i) => write!(out, "{i}").unwrap_or(()),
        PgValue::Int8(i) => write!(out, "{i}").unwrap_or(()),
        PgValue::Float4(f) => hex(&f.to_bits().to_be_bytes(), out),
        PgValue::Float8(f) => hex(&f.to_bits().to_be_bytes(), out),
        PgValue::Numeric(n) => out.extend_from_slice(n.to_pg_text().as_bytes()),
        PgValue::Text(s) | PgValue::Json(s) => out.extend_from_slice(s.as_bytes()),
        PgValue::Jsonb(s) => jsonb_canonical(s, out),
        PgValue::Bytea(b) => hex(b, out),
        PgValue::Uuid(u) => {
            for (i, b) in u.iter().enumerate() {
                if matches!(i, 4 | 6 | 8 | 10) {
                    out.push(b'-');
                }
                hex(&[*b], out);
            }
        }
        PgValue::Date(d) => hex(&d.to_be_bytes(), out),
        PgValue::Time(t) | PgValue::Timestamp(t) | PgValue::TimestampTz(t) => {
            hex(&t.to_be_bytes(), out)
        }
        PgValue::TimeTz(t, off) => {
            hex(&t.to_be_bytes(), out);
            hex(&(-off).to_be_bytes(), out);
        }
        PgValue::Interval {
            months,
            days,
            micros,
        } => {
            hex(&micros.to_be_bytes(), out);
            hex(&days.to_be_bytes(), out);
            hex(&months.to_be_bytes(), out);
        }
    }
}

fn hex(bytes: &[u8], out: &mut Vec<u8>) {
    const H: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(H[(b >> 4) as usize]);
        out.push(H[(b & 15) as usize]);
    }
}

/// The SQL expression giving a column's canonical text in PostgreSQL (NULL for NULL).
pub fn pg_canonical_sql(column: &str, target: PgTarget) -> String {
    let c = quote_ident(column);
    match target {
        PgTarget::Bool
        | PgTarget::Int2
        | PgTarget::Int4
        | PgTarget::Int8
        | PgTarget::Numeric
        | PgTarget::Uuid
        | PgTarget::Jsonb
        | PgTarget::Json => format!("{c}::text"),
        PgTarget::Text => c,
        PgTarget::Float4 => format!("encode(float4send({c}), 'hex')"),
        PgTarget::Float8 => format!("encode(float8send({c}), 'hex')"),
        PgTarget::Bytea => format!("encode({c}, 'hex')"),
        PgTarget::Date => format!("encode(date_send({c}), 'hex')"),
        PgTarget::Time => format!("encode(time_send({c}), 'hex')"),
        PgTarget::TimeTz => format!("encode(timetz_send({c}), 'hex')"),
        PgTarget::Timestamp => format!("encode(timestamp_send({c}), 'hex')"),
        PgTarget::TimestampTz => format!("encode(timestamptz_send({c}), 'hex')"),
        PgTarget::Interval => format!("encode(interval_send({c}), 'hex')"),
    }
}

/// The SQL expression of a row's hash (a bigint) over `columns`, matching [`RowHasher`].
pub fn pg_row_hash_sql(columns: &[(String, PgTarget)]) -> String {
    let parts: Vec<String> = columns
        .iter()
        .map(|(name, t)| {
            let e = pg_canonical_sql(name, *t);
            format!("coalesce(octet_length({e})::text || ':' || {e}, 'N')")
        })
        .collect();
    let row = if parts.is_empty() {
        "''".to_string()
    } else {
        format!("concat_ws(',', {})", parts.join(", "))
    };
    format!("('x' || left(md5({row}), 16))::bit(64)::int8")
}

/// `SELECT count(*), sum of row hashes` for a table.
pub fn pg_checksum_sql(table_quoted: &str, columns: &[(String, PgTarget)]) -> String {
    format!(
        "SELECT count(*)::int8, coalesce(sum({})::text, '0') FROM {table_quoted}",
        pg_row_hash_sql(columns)
    )
}

/// Builds one row's canonical text and hash; reuses its buffers.
#[derive(Default)]
pub struct RowHasher {
    row: Vec<u8>,
    value: Vec<u8>,
}

impl RowHasher {
    /// The hash of one row of converted values.
    pub fn hash(&mut self, values: &[PgValue<'_>]) -> i64 {
        self.row.clear();
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                self.row.push(b',');
            }
            if let PgValue::Null = v {
                self.row.push(b'N');
                continue;
            }
            self.value.clear();
            canonical_value(v, &mut self.value);
            let mut len = itoa_buf(self.value.len());
            self.row.append(&mut len);
            self.row.push(b':');
            self.row.extend_from_slice(&self.value);
        }
        let digest = Md5::digest(&self.row);
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        i64::from_be_bytes(first)
    }

    /// The canonical text of the last row hashed (for messages).
    pub fn last_row(&self) -> &[u8] {
        &self.row
    }
}

fn itoa_buf(n: usize) -> Vec<u8> {
    n.to_string().into_bytes()
}

/// A table's running checksum: row count and the sum of row hashes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checksum {
    pub rows: u64,
    pub sum: i128,
}

impl Checksum {
    pub fn add(&mut self, hash: i64) {
        self.rows += 1;
        self.sum += i128::from(hash);
    }
}

/// jsonb's text output for valid JSON `s` (see the module table). Invalid JSON is copied as it is
/// (it never reaches this point: conversion validates first).
pub fn jsonb_canonical(s: &str, out: &mut Vec<u8>) {
    let mut p = JsonParser {
        b: s.as_bytes(),
        i: 0,
    };
    match p.value() {
        Some(v) => write_json(&v, out),
        None => out.extend_from_slice(s.as_bytes()),
    }
}

enum Json {
    Null,
    Bool(bool),
    Number(String),
    Str(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

struct JsonParser<'a> {
    b: &'a [u8],
    i: usize,
}

impl JsonParser<'_> {
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn value(&mut self) -> Option<Json> {
        self.ws();
        let c = *self.b.get(self.i)?;
        let v = match c {
            b'{' => {
                self.i += 1;
                let mut members: Vec<(String, Json)> = Vec::new();
                self.ws();
                if self.b.get(self.i) == Some(&b'}') {
                    self.i += 1;
                } else {
                    loop {
                        self.ws();
                        let k = self.string()?;
                        self.ws();
                        if self.b.get(self.i) != Some(&b':') {
                            return None;
                        }
                        self.i += 1;
                        let v = self.value()?;
                        members.push((k, v));
                        self.ws();
                        match self.b.get(self.i)? {
                            b',' => self.i += 1,
                            b'}' => {
                                self.i += 1;
                                break;
                            }
                            _ => return None,
                        }
                    }
                }
                // jsonb: the last of duplicate keys wins; keys ordered by length, then bytes.
                let mut keep: Vec<(String, Json)> = Vec::with_capacity(members.len());
                for (k, v) in members.into_iter().rev() {
                    if !keep.iter().any(|(k2, _)| *k2 == k) {
                        keep.push((k, v));
                    }
                }
                keep.sort_by(|a, b| {
                    a.0.len()
                        .cmp(&b.0.len())
                        .then_with(|| a.0.as_bytes().cmp(b.0.as_bytes()))
                });
                Json::Object(keep)
            }
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.b.get(self.i) == Some(&b']') {
                    self.i += 1;
                } else {
                    loop {
                        items.push(self.value()?);
                        self.ws();
                        match self.b.get(self.i)? {
                            b',' => self.i += 1,
                            b']' => {
                                self.i += 1;
                                break;
                            }
                            _ => return None,
                        }
                    }
                }
                Json::Array(items)
            }
            b'"' => Json::Str(self.string()?),
            b't' if self.b[self.i..].starts_with(b"true") => {
                self.i += 4;
                Json::Bool(true)
            }
            b'f' if self.b[self.i..].starts_with(b"false") => {
                self.i += 5;
                Json::Bool(false)
            }
            b'n' if self.b[self.i..].starts_with(b"null") => {
                self.i += 4;
                Json::Null
            }
            _ => {
                let start = self.i;
                while self.i < self.b.len()
                    && matches!(
                        self.b[self.i],
                        b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'
                    )
                {
                    self.i += 1;
                }
                let text = std::str::from_utf8(&self.b[start..self.i]).ok()?;
                if plain_decimal(text) {
                    Json::Number(text.to_string())
                } else {
                    Json::Number(parse_numeric(text).ok()?.to_pg_text())
                }
            }
        };
        Some(v)
    }

    fn string(&mut self) -> Option<String> {
        if self.b.get(self.i) != Some(&b'"') {
            return None;
        }
        self.i += 1;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let c = *self.b.get(self.i)?;
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let e = *self.b.get(self.i)?;
                    self.i += 1;
                    match e {
                        b'"' => out.push(b'"'),
                        b'\\' => out.push(b'\\'),
                        b'/' => out.push(b'/'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let mut cp = self.hex4()?;
                            if (0xD800..0xDC00).contains(&cp)
                                && self.b.get(self.i..self.i + 2) == Some(b"\\u")
                            {
                                self.i += 2;
                                let lo = self.hex4()?;
                                cp = 0x10000
                                    + ((cp - 0xD800) << 10)
                                    + (lo.wrapping_sub(0xDC00) & 0x3FF);
                            }
                            let ch = char::from_u32(cp)?;
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => return None,
                    }
                }
                c => out.push(c),
            }
        }
        String::from_utf8(out).ok()
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = std::str::from_utf8(self.b.get(self.i..self.i + 4)?).ok()?;
        self.i += 4;
        u32::from_str_radix(h, 16).ok()
    }
}

/// A number `numeric_out` prints exactly as written: `-?(0|[1-9][0-9]*)(\.[0-9]+)?`, not `-0...`.
fn plain_decimal(t: &str) -> bool {
    let u = t.strip_prefix('-').unwrap_or(t);
    let (int, frac) = match u.split_once('.') {
        Some((a, f)) => (a, Some(f)),
        None => (u, None),
    };
    let digits = |x: &str| !x.is_empty() && x.bytes().all(|c| c.is_ascii_digit());
    if !digits(int) || (int.len() > 1 && int.starts_with('0')) {
        return false;
    }
    if let Some(f) = frac {
        if !digits(f) {
            return false;
        }
    }
    // "-0" and "-0.00" print without the sign.
    !(t.starts_with('-') && u.bytes().all(|c| c == b'0' || c == b'.'))
}

fn write_json(v: &Json, out: &mut Vec<u8>) {
    match v {
        Json::Null => out.extend_from_slice(b"null"),
        Json::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Json::Number(n) => out.extend_from_slice(n.as_bytes()),
        Json::Str(s) => write_json_string(s, out),
        Json::Array(items) => {
            out.push(b'[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                write_json(x, out);
            }
            out.push(b']');
        }
        Json::Object(members) => {
            out.push(b'{');
            for (i, (k, x)) in members.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                write_json_string(k, out);
                out.extend_from_slice(b": ");
                write_json(x, out);
            }
            out.push(b'}');
        }
    }
}

/// PostgreSQL's `escape_json`.
fn write_json_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for &c in s.as_bytes() {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            8 => out.extend_from_slice(b"\\b"),
            12 => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            c if c < 0x20 => out.extend_from_slice(format!("\\u{c:04x}").as_bytes()),
            c => out.push(c),
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn canon(v: PgValue<'_>) -> String {
        let mut out = Vec::new();
        canonical_value(&v, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn canonical_forms() {
        assert_eq!(canon(PgValue::Bool(true)), "true");
        assert_eq!(canon(PgValue::Int8(-5)), "-5");
        assert_eq!(canon(PgValue::Float8(1.0)), "3ff0000000000000");
        assert_eq!(canon(PgValue::Bytea(Cow::Borrowed(b"\x00\xff"))), "00ff");
        assert_eq!(
            canon(PgValue::Uuid([0xab; 16])),
            "abababab-abab-abab-abab-abababababab"
        );
        assert_eq!(canon(PgValue::TimestampTz(1)), "0000000000000001");
        assert_eq!(canon(PgValue::TimeTz(0, 3600)), "0000000000000000fffff1f0");
        assert_eq!(
            canon(PgValue::Numeric(parse_numeric("1.50").unwrap())),
            "1.50"
        );
    }

    #[test]
    fn jsonb_text_as_postgres_prints_it() {
        let j = |s: &str| {
            let mut out = Vec::new();
            jsonb_canonical(s, &mut out);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(j(r#"{"bb":1,"a":2,"c":3}"#), r#"{"a": 2, "c": 3, "bb": 1}"#);
        assert_eq!(j(r#"{"a":1,"a":2}"#), r#"{"a": 2}"#);
        assert_eq!(
            j(r#"[1.0, 1e2, -0, 1E-2, 2.50]"#),
            "[1.0, 100, 0, 0.01, 2.50]"
        );
        assert_eq!(
            j(r#" {"s":"a\u00e9\n\/\"","e":{},"l":[]} "#),
            r#"{"e": {}, "l": [], "s": "aé\n/\""}"#
        );
        assert_eq!(j(r#""\ud83d\ude00""#), "\"😀\"");
        assert_eq!(j(r#"{"x": "\u0001"}"#), r#"{"x": "\u0001"}"#);
        assert_eq!(j("true"), "true");
        assert_eq!(j("[null,false]"), "[null, false]");
    }

    #[test]
    fn row_hash_separates_null_empty_and_columns() {
        let mut h = RowHasher::default();
        let a = h.hash(&[PgValue::Null, PgValue::Text("".into())]);
        let b = h.hash(&[PgValue::Text("".into()), PgValue::Null]);
        let c = h.hash(&[PgValue::Text("a,".into()), PgValue::Text("b".into())]);
        let d = h.hash(&[PgValue::Text("a".into()), PgValue::Text(",b".into())]);
        assert_ne!(a, b);
        assert_ne!(c, d);
        h.hash(&[PgValue::Int4(7), PgValue::Null]);
        assert_eq!(h.last_row(), b"1:7,N");
    }

    #[test]
    fn sql_quotes_names() {
        let sql = pg_checksum_sql("\"s\".\"t\"", &[("we\"ird".into(), PgTarget::Text)]);
        assert!(sql.contains("\"we\"\"ird\""), "{sql}");
        assert!(
            sql.contains("md5(concat_ws(',', coalesce(octet_length("),
            "{sql}"
        );
    }
}
