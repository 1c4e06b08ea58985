//! Writing PostgreSQL's binary value formats: one field (length word and bytes) per [`PgValue`], laid
//! out the way PostgreSQL 15's `*_recv` functions read it (`src/backend/utils/adt/`: `boolrecv`,
//! `int8recv`, `float8recv`, `numeric_recv`, `textrecv`, `bytearecv`, `uuid_recv`, `date_recv`,
//! `time_recv`, `timetz_recv`, `timestamp_recv`, `interval_recv`, `json_recv`, `jsonb_recv`). The
//! counterpart of DuckDB's postgres extension `postgres_binary_writer.hpp`; framing rows into a COPY
//! is [`crate::postgres::copy_in`]'s.

use super::conversion::{NUMERIC_NAN, NUMERIC_NEG, NUMERIC_NINF, NUMERIC_PINF, NUMERIC_POS};
use crate::types::pg_value::{Numeric, PgValue};

/// Append one field (length word and bytes; `-1` for NULL) in PostgreSQL's binary format.
pub fn field(v: &PgValue<'_>, buf: &mut Vec<u8>) {
    let start = buf.len();
    buf.extend_from_slice(&[0, 0, 0, 0]);
    match v {
        PgValue::Null => {
            buf.truncate(start);
            buf.extend_from_slice(&(-1i32).to_be_bytes());
            return;
        }
        PgValue::Bool(b) => buf.push(u8::from(*b)),
        PgValue::Int2(i) => buf.extend_from_slice(&i.to_be_bytes()),
        PgValue::Int4(i) => buf.extend_from_slice(&i.to_be_bytes()),
        PgValue::Int8(i) => buf.extend_from_slice(&i.to_be_bytes()),
        PgValue::Float4(f) => buf.extend_from_slice(&f.to_bits().to_be_bytes()),
        PgValue::Float8(f) => buf.extend_from_slice(&f.to_bits().to_be_bytes()),
        PgValue::Numeric(n) => numeric(n, buf),
        PgValue::Text(s) | PgValue::Json(s) => buf.extend_from_slice(s.as_bytes()),
        PgValue::Jsonb(s) => {
            buf.push(1);
            buf.extend_from_slice(s.as_bytes());
        }
        PgValue::Bytea(b) => buf.extend_from_slice(b),
        PgValue::Uuid(u) => buf.extend_from_slice(u),
        PgValue::Date(d) => buf.extend_from_slice(&d.to_be_bytes()),
        PgValue::Time(t) => buf.extend_from_slice(&t.to_be_bytes()),
        PgValue::TimeTz(t, off) => {
            buf.extend_from_slice(&t.to_be_bytes());
            // PostgreSQL stores the zone as seconds WEST of UTC.
            buf.extend_from_slice(&(-off).to_be_bytes());
        }
        PgValue::Timestamp(t) | PgValue::TimestampTz(t) => buf.extend_from_slice(&t.to_be_bytes()),
        PgValue::Interval {
            months,
            days,
            micros,
        } => {
            buf.extend_from_slice(&micros.to_be_bytes());
            buf.extend_from_slice(&days.to_be_bytes());
            buf.extend_from_slice(&months.to_be_bytes());
        }
    }
    let len = (buf.len() - start - 4) as i32;
    buf[start..start + 4].copy_from_slice(&len.to_be_bytes());
}

/// `numeric_recv`'s layout: ndigits, weight, sign, dscale (i16 each), then base-10000 digits.
fn numeric(n: &Numeric, buf: &mut Vec<u8>) {
    let head = |buf: &mut Vec<u8>, nd: i16, weight: i16, sign: u16, dscale: u16| {
        buf.extend_from_slice(&nd.to_be_bytes());
        buf.extend_from_slice(&weight.to_be_bytes());
        buf.extend_from_slice(&sign.to_be_bytes());
        buf.extend_from_slice(&dscale.to_be_bytes());
    };
    let (negative, int_digits, frac_digits) = match n {
        Numeric::NaN => return head(buf, 0, 0, NUMERIC_NAN, 0),
        Numeric::PosInf => return head(buf, 0, 0, NUMERIC_PINF, 0),
        Numeric::NegInf => return head(buf, 0, 0, NUMERIC_NINF, 0),
        Numeric::Finite {
            negative,
            int_digits,
            frac_digits,
        } => (*negative, int_digits.as_bytes(), frac_digits.as_bytes()),
    };
    let dscale = frac_digits.len() as u16;
    let int_pad = (4 - int_digits.len() % 4) % 4;
    let mut groups: Vec<i16> = Vec::with_capacity((int_digits.len() + frac_digits.len()) / 4 + 2);
    let mut acc = 0i16;
    let mut k = 0;
    let all = std::iter::repeat_n(b'0', int_pad)
        .chain(int_digits.iter().copied())
        .chain(frac_digits.iter().copied())
        .chain(std::iter::repeat_n(b'0', (4 - frac_digits.len() % 4) % 4));
    for c in all {
        acc = acc * 10 + i16::from(c - b'0');
        k += 1;
        if k == 4 {
            groups.push(acc);
            acc = 0;
            k = 0;
        }
    }
    let int_groups = (int_digits.len() + int_pad) / 4;
    let mut weight = int_groups as i32 - 1;
    let lead = groups.iter().take_while(|&&g| g == 0).count();
    let trail = groups.iter().rev().take_while(|&&g| g == 0).count();
    if lead == groups.len() {
        return head(buf, 0, 0, NUMERIC_POS, dscale);
    }
    weight -= lead as i32;
    let digits = &groups[lead..groups.len() - trail];
    head(
        buf,
        digits.len() as i16,
        weight as i16,
        if negative { NUMERIC_NEG } else { NUMERIC_POS },
        dscale,
    );
    for d in digits {
        buf.extend_from_slice(&d.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::pg_value::parse_numeric;

    fn numeric_bytes(s: &str) -> Vec<u8> {
        let mut b = Vec::new();
        field(&PgValue::Numeric(parse_numeric(s).unwrap()), &mut b);
        b[4..].to_vec()
    }

    #[test]
    fn numeric_binary_layout() {
        // 12345.678: digits [1, 2345, 6780], weight 1, dscale 3.
        assert_eq!(
            numeric_bytes("12345.678"),
            vec![0, 3, 0, 1, 0, 0, 0, 3, 0, 1, 0x09, 0x29, 0x1A, 0x7C]
        );
        // 0.00: no digits, dscale 2.
        assert_eq!(numeric_bytes("0.00"), vec![0, 0, 0, 0, 0, 0, 0, 2]);
        // -0.0001: digit [1], weight -1, negative, dscale 4.
        assert_eq!(
            numeric_bytes("-0.0001"),
            vec![0, 1, 0xFF, 0xFF, 0x40, 0, 0, 4, 0, 1]
        );
        // 10000: digit [1], weight 1 (trailing zero group dropped).
        assert_eq!(numeric_bytes("10000"), vec![0, 1, 0, 1, 0, 0, 0, 0, 0, 1]);
        assert_eq!(numeric_bytes("NaN"), vec![0, 0, 0, 0, 0xC0, 0, 0, 0]);
    }

    /// What the writer encodes, the parser reads back: one layout for both directions.
    #[test]
    fn the_decoder_reads_what_the_encoder_writes() {
        use crate::postgres::codec::conversion::{PG_EPOCH_DAYS, PG_EPOCH_MICROS};
        use crate::postgres::codec::decode::{
            date_to_duck, interval_to_duck, timestamp_to_duck, timetz_to_duck, PgNumeric,
        };
        use crate::types::batch::DuckInterval;
        for text in [
            "0",
            "0.00",
            "-12.3400",
            "12345678901234567890.123",
            "0.0001",
            "100000000.00000001",
            "NaN",
            "Infinity",
            "-Infinity",
        ] {
            let n = parse_numeric(text).unwrap();
            let bytes = numeric_bytes(text);
            let mut back = Vec::new();
            PgNumeric::parse(&bytes, "c").unwrap().write_text(&mut back);
            assert_eq!(String::from_utf8(back).unwrap(), n.to_pg_text(), "{text}");
        }
        let wire = |v: PgValue<'_>| {
            let mut b = Vec::new();
            field(&v, &mut b);
            b[4..].to_vec()
        };
        let four = |b: &[u8]| i32::from_be_bytes(b.try_into().unwrap());
        let eight = |b: &[u8]| i64::from_be_bytes(b.try_into().unwrap());
        assert_eq!(
            date_to_duck(four(&wire(PgValue::Date(-1))), "c").unwrap(),
            PG_EPOCH_DAYS - 1
        );
        assert_eq!(
            timestamp_to_duck(eight(&wire(PgValue::TimestampTz(5))), true, "c").unwrap(),
            PG_EPOCH_MICROS + 5
        );
        // 12:00:00+02:00: DuckDB keeps the offset east of UTC in the low 24 bits, biased.
        let noon = 12 * 3_600_000_000i64;
        let bits = timetz_to_duck(wire(PgValue::TimeTz(noon, 7200)).try_into().unwrap(), "c");
        assert_eq!(bits.unwrap(), (noon << 24) | (57_599 - 7200));
        let interval = PgValue::Interval {
            months: 14,
            days: -3,
            micros: 1_500_000,
        };
        assert_eq!(
            interval_to_duck(wire(interval).try_into().unwrap(), "c").unwrap(),
            DuckInterval {
                months: 14,
                days: -3,
                micros: 1_500_000
            }
        );
    }
}
