//! The constants and calendar arithmetic both directions of PostgreSQL's binary format share, each
//! written once: the binary COPY header and trailer, the epochs, the NUMERIC sign and scale masks,
//! and the proleptic Gregorian calendar. The counterpart of DuckDB's postgres extension
//! `postgres_conversion.hpp`; values follow PostgreSQL 15's `src/include/datatype/timestamp.h`,
//! `src/backend/utils/adt/numeric.c` and `src/backend/commands/copyfromparse.c`.

/// `PGCOPY\n\377\r\n\0`, the start of every binary COPY stream.
pub const COPY_SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";
/// Signature, flags (i32) and header-extension length (i32).
pub const COPY_HEADER_FIXED_LEN: usize = 19;
/// The header lakemig writes: the signature, flags 0 (no OIDs) and no header extension.
pub const COPY_HEADER: &[u8; COPY_HEADER_FIXED_LEN] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// Flag bit 16 of the header: every tuple carries an OID (servers before 12).
pub const COPY_FLAG_WITH_OIDS: u32 = 0x0001_0000;
/// The end of the data: a field count of -1.
pub const COPY_TRAILER: [u8; 2] = (-1i16).to_be_bytes();

/// Days from 1970-01-01 (Unix and DuckDB's epoch) to 2000-01-01 (PostgreSQL's).
pub const PG_EPOCH_DAYS: i32 = 10_957;
/// Microseconds from 1970-01-01 to 2000-01-01.
pub const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;
pub const MICROS_PER_DAY: i64 = 86_400_000_000;
/// PostgreSQL's `END_TIMESTAMP` (294277-01-01 00:00:00, microseconds since 2000-01-01).
pub const PG_END_TIMESTAMP: i64 = 9_223_371_331_200_000_000;

/// NUMERIC's sign word (`numeric.c`: `NUMERIC_POS`, `NUMERIC_NEG`, `NUMERIC_NAN`, `NUMERIC_PINF`,
/// `NUMERIC_NINF`).
pub const NUMERIC_POS: u16 = 0x0000;
pub const NUMERIC_NEG: u16 = 0x4000;
pub const NUMERIC_NAN: u16 = 0xC000;
pub const NUMERIC_PINF: u16 = 0xD000;
pub const NUMERIC_NINF: u16 = 0xF000;
/// The bits of the display scale (`NUMERIC_DSCALE_MASK`): at most 16383 digits after the point.
pub const NUMERIC_DSCALE_MASK: u16 = 0x3FFF;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of a day count since 1970-01-01, proleptic Gregorian; year 0 = 1 BC.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Howard Hinnant's days_from_civil inverse.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_trailer() {
        assert!(COPY_HEADER.starts_with(COPY_SIGNATURE));
        assert_eq!(COPY_TRAILER, [0xff, 0xff]);
    }

    #[test]
    fn epochs_and_calendar_agree() {
        assert_eq!(days_from_civil(2000, 1, 1), i64::from(PG_EPOCH_DAYS));
        assert_eq!(i64::from(PG_EPOCH_DAYS) * MICROS_PER_DAY, PG_EPOCH_MICROS);
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-719_528), (0, 1, 1));
        // END_TIMESTAMP is 294277-01-01.
        let end_days = PG_END_TIMESTAMP / MICROS_PER_DAY + i64::from(PG_EPOCH_DAYS);
        assert_eq!(civil_from_days(end_days), (294_277, 1, 1));
    }
}
