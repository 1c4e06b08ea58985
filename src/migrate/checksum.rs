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
//!
//! jsonb's text output is computed by [`crate::postgres::codec::jsonb`]; the port of
//! `hash_bytes_extended` is [`crate::postgres::hashfn`].

use md5::{Digest, Md5};

use crate::postgres::codec::jsonb::jsonb_canonical;
use crate::postgres::hashfn::hash_bytes_extended;
use crate::sql::{quote_ident, quote_literal};
use crate::types::pg_value::{PgTarget, PgValue};

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
                quote_literal(s)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postgres::codec::jsonb::JsonbCanonicalizer;
    use crate::types::pg_value::parse_numeric;
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
        crate::sqlite::text::parse_uuid(s).unwrap()
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
