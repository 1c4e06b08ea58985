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
//! A row's hash ([`RowHash::Lookup3`], the default): each value's canonical text is hashed with
//! PostgreSQL's own `hash_bytes_extended` (Bob Jenkins' lookup3, what `hashtextextended` computes),
//! seeded with the column's position (1, 2, ...); a NULL counts as a fixed per-column constant; the
//! values' hashes are XORed and the result mixed once more (`hashtextextended('', x)`). PostgreSQL
//! evaluates every canonical expression once per row and builds no row text, so its side costs about
//! a quarter of an MD5 over a row text. The hash is checked against the server first ([`probe_sql`]):
//! a server where it differs (big-endian) or is missing (before PostgreSQL 11) gets [`RowHash::Md5`]:
//! the values' canonical texts, each written `<byte length>:<text>` (`N` for NULL), joined by `,`,
//! hashed by the first 8 bytes of MD5 read as a signed big-endian integer. Either way a table's
//! checksum is the row count and the sum of its rows' hashes (as a decimal number, no overflow).

use md5::{Digest, Md5};

use crate::postgres::catalog::quote_ident;
use crate::postgres::copy_in::{parse_numeric, PgTarget, PgValue};

/// Append the canonical text of one value (see the module table). `Null` appends nothing; use
/// [`RowHasher`] to get NULL handling right.
pub fn canonical_value(v: &PgValue<'_>, out: &mut Vec<u8>) {
    match v {
        PgValue::Null => {}
        PgValue::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        PgValue::Int2(i) => decimal(i64::from(*i), out),
        PgValue::Int4(i) => decimal(i64::from(*i), out),
        PgValue::Int8(i) => decimal(*i, out),
        PgValue::Float4(f) => hex(&f.to_bits().to_be_bytes(), out),
        PgValue::Float8(f) => hex(&f.to_bits().to_be_bytes(), out),
        PgValue::Numeric(n) => out.extend_from_slice(n.to_pg_text().as_bytes()),
        PgValue::Text(s) | PgValue::Json(s) => out.extend_from_slice(s.as_bytes()),
        PgValue::Jsonb(s) => jsonb_canonical(s, out),
        PgValue::Bytea(b) => hex(b, out),
        PgValue::Uuid(u) => {
            let mut t = [b'-'; 36];
            let mut j = 0;
            for (i, b) in u.iter().enumerate() {
                if matches!(i, 4 | 6 | 8 | 10) {
                    j += 1;
                }
                t[j] = HEX[(b >> 4) as usize];
                t[j + 1] = HEX[(b & 15) as usize];
                j += 2;
            }
            out.extend_from_slice(&t);
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

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex(bytes: &[u8], out: &mut Vec<u8>) {
    out.reserve(bytes.len() * 2);
    for b in bytes {
        out.extend_from_slice(&[HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
    }
}

/// `i` in decimal, as `int8out` prints it.
fn decimal(i: i64, out: &mut Vec<u8>) {
    let mut t = [0u8; 20];
    let mut j = t.len();
    let mut n = i.unsigned_abs();
    loop {
        j -= 1;
        t[j] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if i < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&t[j..]);
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

/// How rows are hashed; both sides use the same (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowHash {
    /// Per-value `hash_bytes_extended`, XORed, mixed once more: cheap for PostgreSQL.
    Lookup3,
    /// MD5 of the row's canonical text: for servers whose `hashtextextended` differs or is missing.
    Md5,
}

/// What a NULL in column `i` (0-based) counts as in [`RowHash::Lookup3`] ("NULL" in ASCII, then the position).
fn null_hash(i: usize) -> i64 {
    (0x4E55_4C4C_0000_0000_u64 | (i as u64 + 1)) as i64
}

/// PostgreSQL's `hash_bytes_extended` (`src/common/hashfn.c`, unchanged since PostgreSQL 11): Bob
/// Jenkins' lookup3 over `k` with a 64-bit seed, words read little-endian as PostgreSQL does on
/// little-endian machines (a big-endian server computes something else: [`probe_sql`] finds out).
/// `hashtextextended(t, seed)` is this over the bytes of `t` (deterministic collations).
pub fn hash_bytes_extended(k: &[u8], seed: u64) -> u64 {
    #[inline(always)]
    fn mix(a: &mut u32, b: &mut u32, c: &mut u32) {
        *a = a.wrapping_sub(*c);
        *a ^= c.rotate_left(4);
        *c = c.wrapping_add(*b);
        *b = b.wrapping_sub(*a);
        *b ^= a.rotate_left(6);
        *a = a.wrapping_add(*c);
        *c = c.wrapping_sub(*b);
        *c ^= b.rotate_left(8);
        *b = b.wrapping_add(*a);
        *a = a.wrapping_sub(*c);
        *a ^= c.rotate_left(16);
        *c = c.wrapping_add(*b);
        *b = b.wrapping_sub(*a);
        *b ^= a.rotate_left(19);
        *a = a.wrapping_add(*c);
        *c = c.wrapping_sub(*b);
        *c ^= b.rotate_left(4);
        *b = b.wrapping_add(*a);
    }
    #[inline(always)]
    fn fin(a: &mut u32, b: &mut u32, c: &mut u32) {
        *c ^= *b;
        *c = c.wrapping_sub(b.rotate_left(14));
        *a ^= *c;
        *a = a.wrapping_sub(c.rotate_left(11));
        *b ^= *a;
        *b = b.wrapping_sub(a.rotate_left(25));
        *c ^= *b;
        *c = c.wrapping_sub(b.rotate_left(16));
        *a ^= *c;
        *a = a.wrapping_sub(c.rotate_left(4));
        *b ^= *a;
        *b = b.wrapping_sub(a.rotate_left(14));
        *c ^= *b;
        *c = c.wrapping_sub(b.rotate_left(24));
    }
    let word = |w: &[u8]| u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
    // PostgreSQL takes the length as an int and adds it to a uint32.
    let init = 0x9e37_79b9_u32
        .wrapping_add(k.len() as u32)
        .wrapping_add(3_923_095);
    let (mut a, mut b, mut c) = (init, init, init);
    if seed != 0 {
        a = a.wrapping_add((seed >> 32) as u32);
        b = b.wrapping_add(seed as u32);
        mix(&mut a, &mut b, &mut c);
    }
    let mut chunks = k.chunks_exact(12);
    for w in &mut chunks {
        a = a.wrapping_add(word(&w[0..4]));
        b = b.wrapping_add(word(&w[4..8]));
        c = c.wrapping_add(word(&w[8..12]));
        mix(&mut a, &mut b, &mut c);
    }
    // The last 0..=11 bytes, little-endian into a, b and the top three bytes of c (its lowest byte
    // is reserved for the length).
    let rest = chunks.remainder();
    let mut tail = [0u8; 12];
    tail[..rest.len()].copy_from_slice(rest);
    a = a.wrapping_add(word(&tail[0..4]));
    b = b.wrapping_add(word(&tail[4..8]));
    c = c.wrapping_add(word(&tail[8..12]) << 8);
    fin(&mut a, &mut b, &mut c);
    (u64::from(b) << 32) | u64::from(c)
}

/// Probe strings and seeds for [`probe_sql`]: lengths that cover whole 12-byte blocks and every tail.
const PROBES: [(&str, i64); 3] = [
    ("", 0),
    ("lakemig: hash probe, 37 bytes + é", 7),
    ("abcdefghijk", -4_242_424_242_424_242),
];

/// A query (run outside the transaction: it may fail) whose single text value equals
/// [`probe_expected`] when the server hashes as [`hash_bytes_extended`] does.
pub fn probe_sql() -> String {
    let parts: Vec<String> = PROBES
        .iter()
        .map(|(s, seed)| {
            format!(
                "hashtextextended({} COLLATE \"C\", {seed})::text",
                crate::postgres::catalog::quote_literal(s)
            )
        })
        .collect();
    format!("SELECT concat_ws(' ', {})", parts.join(", "))
}

/// What [`probe_sql`] returns from a server that hashes as we do.
pub fn probe_expected() -> String {
    PROBES
        .iter()
        .map(|(s, seed)| (hash_bytes_extended(s.as_bytes(), *seed as u64) as i64).to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The SQL expression of a row's hash (a bigint) over `columns`, matching [`RowHasher`].
pub fn pg_row_hash_sql(kind: RowHash, columns: &[(String, PgTarget)]) -> String {
    match kind {
        RowHash::Lookup3 => {
            let parts: Vec<String> = columns
                .iter()
                .enumerate()
                .map(|(i, (name, t))| {
                    format!(
                        "coalesce(hashtextextended(({}) COLLATE \"C\", {}), {})",
                        pg_canonical_sql(name, *t),
                        i + 1,
                        null_hash(i)
                    )
                })
                .collect();
            let x = if parts.is_empty() {
                "0".to_string()
            } else {
                parts.join(" # ")
            };
            format!("hashtextextended('' COLLATE \"C\", {x})")
        }
        RowHash::Md5 => {
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
    }
}

/// `SELECT count(*), sum of row hashes` for a table.
pub fn pg_checksum_sql(
    kind: RowHash,
    table_quoted: &str,
    columns: &[(String, PgTarget)],
) -> String {
    format!(
        "SELECT count(*)::int8, coalesce(sum({})::text, '0') FROM {table_quoted}",
        pg_row_hash_sql(kind, columns)
    )
}

/// Builds one row's hash; reuses its buffers.
pub struct RowHasher {
    kind: RowHash,
    row: Vec<u8>,
    value: Vec<u8>,
    /// The row's XOR of value hashes so far ([`RowHash::Lookup3`]).
    x: u64,
}

impl RowHasher {
    pub fn new(kind: RowHash) -> Self {
        RowHasher {
            kind,
            row: Vec::new(),
            value: Vec::new(),
            x: 0,
        }
    }

    /// The hash of one row of converted values.
    pub fn hash(&mut self, values: &[PgValue<'_>]) -> i64 {
        self.start_row();
        for (i, v) in values.iter().enumerate() {
            self.add(i, v, None);
        }
        self.finish_row()
    }

    /// Begin a row; then [`RowHasher::add`] each value in column order, then
    /// [`RowHasher::finish_row`] (the copy hashes values as it converts them, with no row kept).
    pub fn start_row(&mut self) {
        self.x = 0;
        self.row.clear();
    }

    /// Add the value of column `i` (0-based, in order). `canonical`: its canonical text when the
    /// caller has it already (jsonb, checked and canonicalised in one pass), else `None`.
    pub fn add(&mut self, i: usize, v: &PgValue<'_>, canonical: Option<&[u8]>) {
        match self.kind {
            RowHash::Lookup3 => {
                self.x ^= if let PgValue::Null = v {
                    null_hash(i) as u64
                } else if let Some(c) = canonical {
                    hash_bytes_extended(c, i as u64 + 1)
                } else {
                    self.value.clear();
                    canonical_value(v, &mut self.value);
                    hash_bytes_extended(&self.value, i as u64 + 1)
                };
            }
            RowHash::Md5 => {
                use std::io::Write;
                if i > 0 {
                    self.row.push(b',');
                }
                if let PgValue::Null = v {
                    self.row.push(b'N');
                    return;
                }
                let value = match canonical {
                    Some(c) => c,
                    None => {
                        self.value.clear();
                        canonical_value(v, &mut self.value);
                        &self.value
                    }
                };
                write!(self.row, "{}:", value.len()).unwrap_or(());
                self.row.extend_from_slice(value);
            }
        }
    }

    /// The hash of the row begun with [`RowHasher::start_row`].
    pub fn finish_row(&mut self) -> i64 {
        match self.kind {
            RowHash::Lookup3 => hash_bytes_extended(b"", self.x) as i64,
            RowHash::Md5 => {
                let digest = Md5::digest(&self.row);
                let mut first = [0u8; 8];
                first.copy_from_slice(&digest[..8]);
                i64::from_be_bytes(first)
            }
        }
    }

    /// The canonical text of the last row hashed with [`RowHash::Md5`] (for tests).
    pub fn last_row(&self) -> &[u8] {
        &self.row
    }
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
/// (it never reaches this point: conversion validates first). The copy keeps one
/// [`JsonbCanonicalizer`] for all its rows instead.
pub fn jsonb_canonical(s: &str, out: &mut Vec<u8>) {
    if !JsonbCanonicalizer::default().canonicalize(s, out) {
        jsonb_canonical_reference(s, out);
    }
}

/// The recursive jsonb canonicaliser (a tree, a `String` per key and value): what
/// [`JsonbCanonicalizer`] falls back to for what it declines, and its reference in tests.
pub fn jsonb_canonical_reference(s: &str, out: &mut Vec<u8>) {
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

/// A one-pass jsonb canonicaliser: checks `s` against JSON's grammar (RFC 8259, what serde_json
/// accepts) and writes jsonb's text output (see the module table) straight into `out`, in the same
/// pass. Keys are sorted as index ranges into `out` (no allocation per key or value); its buffers are
/// kept between values. It declines (returns `false`, `out` as it was) whatever it does not handle on
/// its own: invalid JSON, `\u0000`, a surrogate escape that is not a proper pair, nesting deeper than
/// [`JsonbCanonicalizer::MAX_DEPTH`], a number `numeric` refuses; the caller then takes the checked
/// slow path ([`crate::postgres::copy_in::validate_json`], [`jsonb_canonical_reference`]), so errors and
/// output stay as they were.
#[derive(Default)]
pub struct JsonbCanonicalizer {
    /// Members of the objects being written, innermost last.
    members: Vec<Member>,
    /// The decoded keys of those members.
    keys: Vec<u8>,
    /// Where a finished object is put together in key order.
    tmp: Vec<u8>,
}

/// One object member: its decoded key in `keys`, its text (`"key": value`) in `out`.
struct Member {
    key: (usize, usize),
    text: (usize, usize),
}

impl JsonbCanonicalizer {
    /// Deeper documents go to the recursive reference path.
    pub const MAX_DEPTH: usize = 256;

    /// Append the canonical text of `s`; `false` (and nothing appended) when it declines.
    pub fn canonicalize(&mut self, s: &str, out: &mut Vec<u8>) -> bool {
        let start = out.len();
        self.members.clear();
        self.keys.clear();
        let mut c = Cursor {
            b: s.as_bytes(),
            i: 0,
        };
        let ok = self.value(&mut c, out, 0) && {
            c.ws();
            c.i == c.b.len()
        };
        if !ok {
            out.truncate(start);
        }
        ok
    }

    fn value(&mut self, c: &mut Cursor<'_>, out: &mut Vec<u8>, depth: usize) -> bool {
        if depth > Self::MAX_DEPTH {
            return false;
        }
        c.ws();
        let Some(&b) = c.b.get(c.i) else {
            return false;
        };
        match b {
            b'{' => self.object(c, out, depth),
            b'[' => {
                c.i += 1;
                out.push(b'[');
                c.ws();
                if c.peek() == Some(b']') {
                    c.i += 1;
                    out.push(b']');
                    return true;
                }
                loop {
                    if !self.value(c, out, depth + 1) {
                        return false;
                    }
                    c.ws();
                    match c.peek() {
                        Some(b',') => {
                            c.i += 1;
                            out.extend_from_slice(b", ");
                        }
                        Some(b']') => {
                            c.i += 1;
                            out.push(b']');
                            return true;
                        }
                        _ => return false,
                    }
                }
            }
            b'"' => string(c, out, None),
            b't' => c.literal(b"true", out),
            b'f' => c.literal(b"false", out),
            b'n' => c.literal(b"null", out),
            b'-' | b'0'..=b'9' => number(c, out),
            _ => false,
        }
    }

    fn object(&mut self, c: &mut Cursor<'_>, out: &mut Vec<u8>, depth: usize) -> bool {
        c.i += 1;
        let obj_start = out.len();
        let base = self.members.len();
        let keys_base = self.keys.len();
        c.ws();
        if c.peek() == Some(b'}') {
            c.i += 1;
            out.extend_from_slice(b"{}");
            return true;
        }
        loop {
            c.ws();
            let text_start = out.len();
            let key_start = self.keys.len();
            if c.peek() != Some(b'"') || !string(c, out, Some(&mut self.keys)) {
                return false;
            }
            let key = (key_start, self.keys.len());
            c.ws();
            if c.peek() != Some(b':') {
                return false;
            }
            c.i += 1;
            out.extend_from_slice(b": ");
            if !self.value(c, out, depth + 1) {
                return false;
            }
            self.members.push(Member {
                key,
                text: (text_start, out.len()),
            });
            c.ws();
            match c.peek() {
                Some(b',') => c.i += 1,
                Some(b'}') => {
                    c.i += 1;
                    break;
                }
                _ => return false,
            }
        }
        // jsonb: keys ordered by length, then bytes; of duplicates the last wins (a stable sort
        // keeps duplicates in document order, so the last of each run is kept).
        let keys = &self.keys;
        let members = &mut self.members[base..];
        let k = |m: &Member| &keys[m.key.0..m.key.1];
        members.sort_by(|a, b| {
            let (ka, kb) = (k(a), k(b));
            ka.len().cmp(&kb.len()).then_with(|| ka.cmp(kb))
        });
        self.tmp.clear();
        self.tmp.push(b'{');
        let mut first = true;
        for (j, m) in members.iter().enumerate() {
            if members.get(j + 1).is_some_and(|next| k(next) == k(m)) {
                continue;
            }
            if !first {
                self.tmp.extend_from_slice(b", ");
            }
            first = false;
            self.tmp.extend_from_slice(&out[m.text.0..m.text.1]);
        }
        self.tmp.push(b'}');
        out.truncate(obj_start);
        out.extend_from_slice(&self.tmp);
        self.members.truncate(base);
        self.keys.truncate(keys_base);
        true
    }
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn literal(&mut self, word: &[u8], out: &mut Vec<u8>) -> bool {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            out.extend_from_slice(word);
            true
        } else {
            false
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = self.b.get(self.i..self.i + 4)?;
        let mut v = 0u32;
        for &d in h {
            v = v * 16 + (d as char).to_digit(16)?;
        }
        self.i += 4;
        Some(v)
    }
}

/// A JSON string at `c` (on its opening quote) written as PostgreSQL's `escape_json` prints its
/// content; the decoded content also appended to `decoded` when given.
fn string(c: &mut Cursor<'_>, out: &mut Vec<u8>, mut decoded: Option<&mut Vec<u8>>) -> bool {
    c.i += 1;
    out.push(b'"');
    loop {
        // The plain run up to the next quote, backslash or control byte is copied as it is.
        let run_start = c.i;
        while let Some(&b) = c.b.get(c.i) {
            if b == b'"' || b == b'\\' || b < 0x20 {
                break;
            }
            c.i += 1;
        }
        let run = &c.b[run_start..c.i];
        out.extend_from_slice(run);
        if let Some(d) = decoded.as_deref_mut() {
            d.extend_from_slice(run);
        }
        let Some(b) = c.peek() else {
            return false;
        };
        c.i += 1;
        match b {
            b'"' => {
                out.push(b'"');
                return true;
            }
            b'\\' => {
                let Some(e) = c.peek() else {
                    return false;
                };
                c.i += 1;
                let ch = match e {
                    b'"' => '"',
                    b'\\' => '\\',
                    b'/' => '/',
                    b'b' => '\u{8}',
                    b'f' => '\u{c}',
                    b'n' => '\n',
                    b'r' => '\r',
                    b't' => '\t',
                    b'u' => {
                        let Some(mut cp) = c.hex4() else {
                            return false;
                        };
                        if (0xD800..0xDC00).contains(&cp) {
                            if c.b.get(c.i..c.i + 2) != Some(b"\\u") {
                                return false;
                            }
                            c.i += 2;
                            let Some(lo) = c.hex4() else {
                                return false;
                            };
                            if !(0xDC00..0xE000).contains(&lo) {
                                return false;
                            }
                            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                        }
                        // \u0000 (jsonb refuses it) and lone low surrogates: the slow path decides.
                        match char::from_u32(cp) {
                            Some(ch) if cp != 0 => ch,
                            _ => return false,
                        }
                    }
                    _ => return false,
                };
                let mut buf = [0u8; 4];
                let bytes = ch.encode_utf8(&mut buf).as_bytes();
                if let Some(d) = decoded.as_deref_mut() {
                    d.extend_from_slice(bytes);
                }
                escape_json_bytes(bytes, out);
            }
            // A raw control byte inside a string is not JSON.
            _ => return false,
        }
    }
}

/// The escaping of [`write_json_string`], without the quotes.
fn escape_json_bytes(s: &[u8], out: &mut Vec<u8>) {
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            8 => out.extend_from_slice(b"\\b"),
            12 => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            c if c < 0x20 => {
                const H: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(H[(c >> 4) as usize]);
                out.push(H[(c & 15) as usize]);
            }
            c => out.push(c),
        }
    }
}

/// A number in JSON's grammar, `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, as `numeric_out`
/// prints it.
fn number(c: &mut Cursor<'_>, out: &mut Vec<u8>) -> bool {
    let start = c.i;
    let digits = |c: &mut Cursor<'_>| {
        let s = c.i;
        while c.peek().is_some_and(|d| d.is_ascii_digit()) {
            c.i += 1;
        }
        c.i > s
    };
    let negative = c.peek() == Some(b'-');
    if negative {
        c.i += 1;
    }
    // `numeric_out` prints it as written unless it has an exponent or is a negative zero.
    let mut plain = true;
    let mut zero = false;
    match c.peek() {
        Some(b'0') => {
            c.i += 1;
            zero = true;
        }
        Some(b'1'..=b'9') => {
            digits(c);
        }
        _ => return false,
    }
    if c.peek() == Some(b'.') {
        c.i += 1;
        let f = c.i;
        if !digits(c) {
            return false;
        }
        zero = zero && c.b[f..c.i].iter().all(|&d| d == b'0');
    }
    if negative && zero {
        plain = false;
    }
    if let Some(b'e' | b'E') = c.peek() {
        plain = false;
        c.i += 1;
        if let Some(b'+' | b'-') = c.peek() {
            c.i += 1;
        }
        if !digits(c) {
            return false;
        }
    }
    // Only ASCII was consumed.
    let Ok(text) = std::str::from_utf8(&c.b[start..c.i]) else {
        return false;
    };
    debug_assert_eq!(plain, plain_decimal(text), "{text}");
    if plain {
        out.extend_from_slice(text.as_bytes());
        return true;
    }
    match parse_numeric(text) {
        Ok(n) => {
            out.extend_from_slice(n.to_pg_text().as_bytes());
            true
        }
        Err(_) => false,
    }
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
    fn integers_print_as_postgres() {
        for i in [
            0,
            1,
            -1,
            9,
            10,
            -10,
            99,
            12345,
            i64::MAX,
            i64::MIN,
            i64::from(i16::MIN),
        ] {
            assert_eq!(canon(PgValue::Int8(i)), i.to_string());
        }
        assert_eq!(canon(PgValue::Int2(-32768)), "-32768");
        assert_eq!(canon(PgValue::Int4(i32::MAX)), "2147483647");
        let u = parse_uuid_for_test("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
        assert_eq!(
            canon(PgValue::Uuid(u)),
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
        );
    }

    fn parse_uuid_for_test(s: &str) -> [u8; 16] {
        crate::postgres::copy_in::parse_uuid(s).unwrap()
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

    /// `hashtextextended(s COLLATE "C", seed)` from PostgreSQL 15 (x86-64), every length 0..=30 characters (seed 0) and 0..=25
    /// (seeds -1, 1, i64::MAX): every tail length, one to two whole blocks, non-ASCII bytes.
    const PG_HASHES: &[(&str, i64, i64)] = &[
        ("", -1, -5142811166230430645),
        ("", 0, -6939563903564495251),
        ("", 1, -150071773020461347),
        ("", 9223372036854775807, -4298248173090169092),
        ("Ü", -1, 1989342738747473958),
        ("Ü", 0, 7608062973429023963),
        ("Ü", 1, -441908186905350554),
        ("Ü", 9223372036854775807, -3203844333771721624),
        ("Ün", -1, 5436378531144713793),
        ("Ün", 0, -1852540824065035331),
        ("Ün", 1, -1952151968835357698),
        ("Ün", 9223372036854775807, 5086550670334226415),
        ("Ünï", -1, -9088095522884169919),
        ("Ünï", 0, 6482094532504283523),
        ("Ünï", 1, -7744950851181711015),
        ("Ünï", 9223372036854775807, 3944200520964284647),
        ("Ünïc", -1, 698098993298177107),
        ("Ünïc", 0, 1809777235986501525),
        ("Ünïc", 1, 5884243842764079839),
        ("Ünïc", 9223372036854775807, 760900289512475070),
        ("Ünïco", -1, 1189583719144825851),
        ("Ünïco", 0, 5325828917650369392),
        ("Ünïco", 1, -7928076311788000013),
        ("Ünïco", 9223372036854775807, -1433813117610121832),
        ("Ünïcod", -1, 8499479145978085766),
        ("Ünïcod", 0, 7218404787629294754),
        ("Ünïcod", 1, 1661452773520136664),
        ("Ünïcod", 9223372036854775807, -472747577353990705),
        ("Ünïcode", -1, 1604428451071892696),
        ("Ünïcode", 0, 1247281148279494321),
        ("Ünïcode", 1, -729613566649108167),
        ("Ünïcode", 9223372036854775807, -9137651992217259504),
        ("Ünïcode:", -1, -92135557869032505),
        ("Ünïcode:", 0, -568062859970502963),
        ("Ünïcode:", 1, -3594895080810755951),
        ("Ünïcode:", 9223372036854775807, 906542705029461),
        ("Ünïcode: ", -1, 7486918641247682039),
        ("Ünïcode: ", 0, -4548520231251333583),
        ("Ünïcode: ", 1, -411396785591767648),
        ("Ünïcode: ", 9223372036854775807, 673801259847829815),
        ("Ünïcode: t", -1, 2411698318058403885),
        ("Ünïcode: t", 0, 5348722449451353751),
        ("Ünïcode: t", 1, -6408371363867558338),
        ("Ünïcode: t", 9223372036854775807, 8923731637227137321),
        ("Ünïcode: th", -1, -7487319380913176492),
        ("Ünïcode: th", 0, -5119814725548273341),
        ("Ünïcode: th", 1, -4476191847917248519),
        ("Ünïcode: th", 9223372036854775807, -6072205385314213555),
        ("Ünïcode: the", -1, -2624730399321762990),
        ("Ünïcode: the", 0, 677394641656612623),
        ("Ünïcode: the", 1, 3343291004181934233),
        ("Ünïcode: the", 9223372036854775807, 7972531883890137742),
        ("Ünïcode: the ", -1, 4903626830870741802),
        ("Ünïcode: the ", 0, -5782057700129040602),
        ("Ünïcode: the ", 1, 2978961771322655995),
        ("Ünïcode: the ", 9223372036854775807, -7711600502075648508),
        ("Ünïcode: the q", -1, 5702050102615688119),
        ("Ünïcode: the q", 0, -1567014728027485258),
        ("Ünïcode: the q", 1, 1660092210963486865),
        ("Ünïcode: the q", 9223372036854775807, -1700078599206159709),
        ("Ünïcode: the qu", -1, 673690146215978081),
        ("Ünïcode: the qu", 0, 2091361533340731970),
        ("Ünïcode: the qu", 1, 2432931745935801627),
        ("Ünïcode: the qu", 9223372036854775807, 7264687913717290114),
        ("Ünïcode: the qui", -1, -988747843196155576),
        ("Ünïcode: the qui", 0, -2098887709117418298),
        ("Ünïcode: the qui", 1, 5127830631745581835),
        (
            "Ünïcode: the qui",
            9223372036854775807,
            -7349289391898924810,
        ),
        ("Ünïcode: the quic", -1, -6031349160138038217),
        ("Ünïcode: the quic", 0, -137645497439666875),
        ("Ünïcode: the quic", 1, 6626089720006057479),
        (
            "Ünïcode: the quic",
            9223372036854775807,
            -4350861240994901292,
        ),
        ("Ünïcode: the quick", -1, 5243721435051189586),
        ("Ünïcode: the quick", 0, 4952236744158963488),
        ("Ünïcode: the quick", 1, -1215293605676312797),
        (
            "Ünïcode: the quick",
            9223372036854775807,
            -4299712650920543384,
        ),
        ("Ünïcode: the quick ", -1, -2552881012731970492),
        ("Ünïcode: the quick ", 0, 1536582496491502185),
        ("Ünïcode: the quick ", 1, 6981430030644163104),
        (
            "Ünïcode: the quick ",
            9223372036854775807,
            4162607038730281111,
        ),
        ("Ünïcode: the quick b", -1, -7282642212475907111),
        ("Ünïcode: the quick b", 0, -3393420565114085639),
        ("Ünïcode: the quick b", 1, -2372620638822252529),
        (
            "Ünïcode: the quick b",
            9223372036854775807,
            -4536436568622342990,
        ),
        ("Ünïcode: the quick br", -1, 8682676977258868908),
        ("Ünïcode: the quick br", 0, -4822769751951969503),
        ("Ünïcode: the quick br", 1, -5270692885727427338),
        (
            "Ünïcode: the quick br",
            9223372036854775807,
            1591367552249423232,
        ),
        ("Ünïcode: the quick bro", -1, 7288020822728030273),
        ("Ünïcode: the quick bro", 0, 5586125220871537047),
        ("Ünïcode: the quick bro", 1, 8573053547914459715),
        (
            "Ünïcode: the quick bro",
            9223372036854775807,
            1085536169426027110,
        ),
        ("Ünïcode: the quick brow", -1, 2185982689762860088),
        ("Ünïcode: the quick brow", 0, 8048142059169225467),
        ("Ünïcode: the quick brow", 1, 2921461469992316703),
        (
            "Ünïcode: the quick brow",
            9223372036854775807,
            5901370568992288648,
        ),
        ("Ünïcode: the quick brown", -1, -7636233069005050096),
        ("Ünïcode: the quick brown", 0, 139209149856320994),
        ("Ünïcode: the quick brown", 1, -6918389769932767095),
        (
            "Ünïcode: the quick brown",
            9223372036854775807,
            -3891162535700835785,
        ),
        ("Ünïcode: the quick brown ", -1, -7059971341089099923),
        ("Ünïcode: the quick brown ", 0, -3501965902656199943),
        ("Ünïcode: the quick brown ", 1, 8152030689599695114),
        (
            "Ünïcode: the quick brown ",
            9223372036854775807,
            -7618582048118045913,
        ),
        ("Ünïcode: the quick brown f", 0, 2581463613813192148),
        ("Ünïcode: the quick brown fo", 0, 3434402841650595224),
        ("Ünïcode: the quick brown fox", 0, -7416539810901605509),
        ("Ünïcode: the quick brown fox ", 0, -8865030068378642336),
        ("Ünïcode: the quick brown fox j", 0, -203300740305296511),
    ];

    /// The one-pass canonicaliser against the reference, value by value: same text when it accepts,
    /// and it accepts only what serde_json (the conversion's check) accepts.
    fn same_as_reference(s: &str) -> bool {
        let mut fast = b"prefix".to_vec();
        let took = JsonbCanonicalizer::default().canonicalize(s, &mut fast);
        if took {
            let mut want = b"prefix".to_vec();
            jsonb_canonical_reference(s, &mut want);
            assert_eq!(
                String::from_utf8_lossy(&fast),
                String::from_utf8_lossy(&want),
                "input {s:?}"
            );
            assert!(
                crate::postgres::copy_in::validate_json(s, true).is_ok(),
                "accepted what the check refuses: {s:?}"
            );
        } else {
            assert_eq!(
                fast, b"prefix",
                "declining leaves the buffer as it was: {s:?}"
            );
        }
        took
    }

    #[test]
    fn one_pass_jsonb_matches_the_reference() {
        let accepted = [
            r#"{"bb":1,"a":2,"c":3}"#,
            r#"{"a":1,"a":2}"#,
            r#"{"a":1,"b":{"x":1,"x":[1,{"z":0,"y":1}]},"a":{"q":"w"}}"#,
            r#"[1.0, 1e2, -0, 1E-2, 2.50, -0.0, 0, -1, 10, 1.5e+3, 1.5E-3, 123456789012345678901234567890, 0.000001e-5, -12.340e2]"#,
            " \t\n\r{ \"a\" :\t[ true ,false, null ] , \"\" : {} , \"e\":[] }\r\n ",
            r#""plain""#,
            r#""esc \" \\ \/ \b \f \n \r \t \u0001 \u001f \u0041 \u00e9 \u20ac \ud83d\ude00 é €""#,
            r#"{"k\u0041":1,"kA":2,"\u00e9":3,"é":4,"\n":5,"\"":6}"#,
            r#"{"é":1,"z":2,"zz":3,"a\/b":4}"#,
            r#"[[[[[[[[[[{"deep":[[[]]]}]]]]]]]]]]"#,
            "null",
            "true",
            "false",
            "-0",
            "0.0",
            "1e400",
            r#"{"":"","\u0000x":1}"#,
            r#"{"a":"\u007f\u0080"}"#,
            r#"{"source": "ads", "score": 12, "ratio": 3.125, "flags": [1, 0], "note": "lorem ipsum"}"#,
            r#"{"b":1,"a":1,"b":2,"a":3,"c":{"b":1,"a":1,"b":{}}}"#,
        ];
        for s in accepted {
            // `\u0000` is declined, the rest taken.
            assert_eq!(same_as_reference(s), !s.contains("\\u0000"), "{s:?}");
        }
        let declined = [
            "",
            " ",
            "{",
            "}",
            "[1,]",
            "[,1]",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "{a:1}",
            "01",
            "-",
            "1.",
            ".5",
            "1e",
            "1e+",
            "+1",
            "0x10",
            "NaN",
            "Infinity",
            "tru",
            "nulll",
            "[1] 2",
            "\"a",
            "\"\u{1}\"",
            "\"\\x\"",
            "\"\\u12\"",
            "\"\\u12g4\"",
            "\"\\ud800\"",
            "\"\\ud800\\u0041\"",
            "\"\\udc00\"",
            "{\"a\":\"\\u0000\"}",
            "[1 2]",
            "{\"a\":1 \"b\":2}",
            "'a'",
            "[1]]",
        ];
        for s in declined {
            assert!(!same_as_reference(s), "{s:?}");
        }
        let deep = format!("{}{}", "[".repeat(300), "]".repeat(300));
        assert!(!same_as_reference(&deep));
        let ok_deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(same_as_reference(&ok_deep));
    }

    /// Generated documents: nesting, duplicate keys of equal and different lengths, escapes, numbers
    /// in every form, whitespace anywhere.
    #[test]
    fn one_pass_jsonb_matches_the_reference_on_generated_documents() {
        struct Gen(u64);
        impl Gen {
            fn next(&mut self, n: u64) -> u64 {
                self.0 = self
                    .0
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (self.0 >> 33) % n
            }
            fn ws(&mut self, out: &mut String) {
                for _ in 0..self.next(3) {
                    out.push([' ', '\t', '\n', '\r'][self.next(4) as usize]);
                }
            }
            fn string(&mut self, out: &mut String) {
                const PIECES: [&str; 16] = [
                    "a",
                    "b",
                    "ab",
                    "é",
                    "€",
                    "😀",
                    "\\\"",
                    "\\\\",
                    "\\/",
                    "\\n",
                    "\\t",
                    "\\u0041",
                    "\\u00e9",
                    "\\ud83d\\ude00",
                    "\\u001f",
                    "\\b",
                ];
                out.push('"');
                for _ in 0..self.next(4) {
                    out.push_str(PIECES[self.next(16) as usize]);
                }
                out.push('"');
            }
            fn number(&mut self, out: &mut String) {
                const NUMS: [&str; 16] = [
                    "0",
                    "-0",
                    "1",
                    "-1",
                    "10",
                    "2.50",
                    "-0.00",
                    "1e2",
                    "1E-2",
                    "1.5e+3",
                    "-2.5E3",
                    "0.1",
                    "123456789012345678901234567890",
                    "1e-7",
                    "9.999e1",
                    "0e5",
                ];
                out.push_str(NUMS[self.next(16) as usize]);
            }
            fn value(&mut self, out: &mut String, depth: u32) {
                self.ws(out);
                match self.next(if depth > 4 { 5 } else { 7 }) {
                    0 => out.push_str("null"),
                    1 => out.push_str(if self.next(2) == 0 { "true" } else { "false" }),
                    2 | 3 => self.number(out),
                    4 => self.string(out),
                    5 => {
                        out.push('[');
                        let n = self.next(4);
                        for i in 0..n {
                            if i > 0 {
                                out.push(',');
                            }
                            self.value(out, depth + 1);
                        }
                        self.ws(out);
                        out.push(']');
                    }
                    _ => {
                        out.push('{');
                        let n = self.next(6);
                        for i in 0..n {
                            if i > 0 {
                                out.push(',');
                            }
                            self.ws(out);
                            self.string(out);
                            self.ws(out);
                            out.push(':');
                            self.value(out, depth + 1);
                        }
                        self.ws(out);
                        out.push('}');
                    }
                }
                self.ws(out);
            }
        }
        let mut g = Gen(42);
        for _ in 0..20_000 {
            let mut s = String::new();
            g.value(&mut s, 0);
            assert!(same_as_reference(&s), "declined {s:?}");
        }
    }

    #[test]
    fn hashing_with_known_canonical_text_is_hashing() {
        let values = [
            PgValue::Int4(7),
            PgValue::Jsonb(Cow::Borrowed(r#"{"b":1, "a":[1e2]}"#)),
            PgValue::Null,
        ];
        let mut canon = Vec::new();
        assert!(JsonbCanonicalizer::default().canonicalize(r#"{"b":1, "a":[1e2]}"#, &mut canon));
        for kind in [RowHash::Lookup3, RowHash::Md5] {
            let mut h = RowHasher::new(kind);
            let plain = h.hash(&values);
            h.start_row();
            for (i, v) in values.iter().enumerate() {
                h.add(i, v, (i == 1).then_some(canon.as_slice()));
            }
            assert_eq!(plain, h.finish_row());
        }
    }

    #[test]
    fn hash_bytes_extended_is_postgres_hashtextextended() {
        for (s, seed, want) in PG_HASHES {
            assert_eq!(
                hash_bytes_extended(s.as_bytes(), *seed as u64) as i64,
                *want,
                "{s:?} seed {seed}"
            );
        }
    }

    #[test]
    fn probe_expects_what_postgres_computes() {
        assert!(probe_sql()
            .starts_with("SELECT concat_ws(' ', hashtextextended('' COLLATE \"C\", 0)::text"));
        let first = probe_expected();
        assert!(first.starts_with("-6939563903564495251 "), "{first}");
        assert_eq!(first.split(' ').count(), 3);
    }

    #[test]
    fn row_hash_separates_null_empty_and_columns() {
        for kind in [RowHash::Lookup3, RowHash::Md5] {
            let mut h = RowHasher::new(kind);
            let a = h.hash(&[PgValue::Null, PgValue::Text("".into())]);
            let b = h.hash(&[PgValue::Text("".into()), PgValue::Null]);
            let c = h.hash(&[PgValue::Text("a,".into()), PgValue::Text("b".into())]);
            let d = h.hash(&[PgValue::Text("a".into()), PgValue::Text(",b".into())]);
            let e = h.hash(&[PgValue::Text("b".into()), PgValue::Text("a".into())]);
            let f = h.hash(&[PgValue::Text("a".into()), PgValue::Text("b".into())]);
            let g = h.hash(&[PgValue::Text("N".into()), PgValue::Null]);
            let all = [a, b, c, d, e, f, g];
            for (i, x) in all.iter().enumerate() {
                for y in &all[i + 1..] {
                    assert_ne!(x, y, "{kind:?}");
                }
            }
        }
        let mut h = RowHasher::new(RowHash::Md5);
        h.hash(&[PgValue::Int4(7), PgValue::Null]);
        assert_eq!(h.last_row(), b"1:7,N");
    }

    #[test]
    fn sql_quotes_names() {
        let cols = [("we\"ird".into(), PgTarget::Text)];
        let sql = pg_checksum_sql(RowHash::Md5, "\"s\".\"t\"", &cols);
        assert!(sql.contains("\"we\"\"ird\""), "{sql}");
        assert!(
            sql.contains("md5(concat_ws(',', coalesce(octet_length("),
            "{sql}"
        );
        let sql = pg_checksum_sql(RowHash::Lookup3, "\"s\".\"t\"", &cols);
        assert!(sql.contains("\"we\"\"ird\""), "{sql}");
        assert!(
            sql.contains(
                "hashtextextended('' COLLATE \"C\", coalesce(hashtextextended((\"we\"\"ird\") COLLATE \"C\", 1), "
            ),
            "{sql}"
        );
    }
}
