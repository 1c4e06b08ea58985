//! JSON as PostgreSQL reads and prints it: the check of JSON text that `json_in`/`jsonb_in` accept
//! ([`validate_json`]), and jsonb's text output (`jsonb_out`: keys sorted by length then bytes, the
//! last of duplicate keys kept, `", "` and `": "` separators, numbers as `numeric_out` prints them)
//! computed from JSON text, to compare a value with what PostgreSQL stored
//! ([`crate::migrate::checksum`]).

use crate::types::pg_value::parse_numeric;

/// JSON text check (serde_json's grammar, RFC 8259). jsonb also refuses `\u0000`, as PostgreSQL does.
pub fn validate_json(s: &str, jsonb: bool) -> std::result::Result<(), String> {
    serde_json::from_str::<serde::de::IgnoredAny>(s)
        .map_err(|e| format!("not valid JSON ({e})"))?;
    if jsonb && has_escaped_nul(s) {
        return Err(
            "jsonb cannot hold the escape \\u0000 (PostgreSQL refuses it); use json or text".into(),
        );
    }
    Ok(())
}

fn has_escaped_nul(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            if b[i + 1..].starts_with(b"u0000") {
                return true;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

/// jsonb's text output for valid JSON `s` (see the module documentation). Invalid JSON is copied as it is
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
    escape_json_bytes(s.as_bytes(), out);
    out.push(b'"');
}

/// A one-pass jsonb canonicaliser: checks `s` against JSON's grammar (RFC 8259, what serde_json
/// accepts) and writes jsonb's text output (see the module documentation) straight into `out`, in
/// the same pass. Keys are sorted as index ranges into `out` (no allocation per key or value); its
/// buffers are kept between values. It declines (returns `false`, `out` as it was) whatever it does
/// not handle on its own: invalid JSON, `\u0000`, a surrogate escape that is not a proper pair,
/// nesting deeper than [`JsonbCanonicalizer::MAX_DEPTH`], a number `numeric` refuses; the caller
/// then takes the checked slow path ([`validate_json`], [`jsonb_canonical_reference`]), so errors
/// and output stay as they were.
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

/// PostgreSQL's `escape_json` without the quotes (for [`write_json_string`] and the one-pass path).
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
                validate_json(s, true).is_ok(),
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
}
