//! Choosing a PostgreSQL type for a SQLite column from its declared type AND the values it holds.
//!
//! | values seen (NULLs ignored) | declared type | PostgreSQL type |
//! |---|---|---|
//! | none | any | by SQLite affinity of the declared name: INT -> bigint, CHAR/CLOB/TEXT -> text, BLOB/none -> bytea, REAL/FLOA/DOUB -> double precision, BOOL -> boolean, DATE -> date, DATETIME/TIMESTAMP -> timestamptz, UUID -> uuid, JSON -> jsonb, else numeric |
//! | integers, all 0/1 | contains BOOL | boolean |
//! | integers | contains DATE/TIME | timestamptz from epoch seconds (all below 1e11) or milliseconds (all below 1e14) |
//! | integers, name ends in `_at`, all in 2000..2100 as epoch seconds or milliseconds | any | timestamptz from epoch |
//! | integers | any (rowid alias: always bigint) | smallint / integer / bigint by range |
//! | reals (with or without integers) | NUMERIC/DECIMAL | numeric |
//! | reals (with or without integers) | other | double precision |
//! | text, all UUID-shaped (8-4-4-4-12 hex) | any | uuid |
//! | text, all ISO-8601 dates | any | date |
//! | text, all ISO-8601 date-times, all with a zone (some may be dates) | any | timestamptz |
//! | text, all ISO-8601 date-times, some without a zone | declared TIMESTAMPTZ / WITH TIME ZONE, or some values with a zone | timestamptz (no zone = UTC) |
//! | text, all ISO-8601 date-times, none with a zone | other | timestamp |
//! | text, all JSON objects/arrays | any | jsonb (json when a value holds `\u0000`) |
//! | text, all true/false words | contains BOOL | boolean |
//! | text, anything else (one value that does not fit is enough) | any | text, the reason names that value |
//! | any blob | any | bytea (uuid if declared UUID and every value is a 16-byte blob) |
//! | mixed storage classes | any | text (the reason lists the classes) |

use crate::postgres::codec::jsonb::validate_json;
use crate::sqlite::text::{parse_uuid, scan_datetime};
use crate::sqlite::{SqliteValue, StorageClass};
use crate::types::pg_value::{EpochUnit, PgTarget};

/// What one column's values look like, gathered in one pass.
#[derive(Debug, Clone, Default)]
pub struct ColumnStats {
    pub nulls: u64,
    pub integers: u64,
    pub reals: u64,
    pub texts: u64,
    pub blobs: u64,
    pub int_min: i64,
    pub int_max: i64,
    pub all_int_01: bool,
    /// Text candidates still standing, and the first value that knocked each out.
    uuid: Candidate,
    date: Candidate,
    datetime: Candidate,
    json: Candidate,
    boolean: Candidate,
    pub text_with_zone: u64,
    pub text_without_zone: u64,
    pub text_date_only: u64,
    pub json_has_nul_escape: bool,
    pub blobs_all_16: bool,
    /// The first text value that is not ISO date/time, etc. (for reasons).
    pub first_text: Option<String>,
}

#[derive(Debug, Clone, Default)]
struct Candidate {
    /// Some value did not fit.
    out: bool,
    /// The first value that did not fit.
    culprit: Option<String>,
    /// How many text values fit.
    matched: u64,
}

impl Candidate {
    fn check(&mut self, ok: impl FnOnce() -> bool, v: &SqliteValue<'_>) {
        if ok() {
            self.matched += 1;
        } else if !self.out {
            self.out = true;
            self.culprit = Some(v.describe());
        }
    }
}

impl ColumnStats {
    pub fn new() -> Self {
        ColumnStats {
            int_min: i64::MAX,
            int_max: i64::MIN,
            all_int_01: true,
            blobs_all_16: true,
            ..Default::default()
        }
    }

    /// Count one value.
    pub fn observe(&mut self, v: SqliteValue<'_>) {
        match v {
            SqliteValue::Null => self.nulls += 1,
            SqliteValue::Integer(i) => {
                self.integers += 1;
                self.int_min = self.int_min.min(i);
                self.int_max = self.int_max.max(i);
                if i != 0 && i != 1 {
                    self.all_int_01 = false;
                }
            }
            SqliteValue::Real(_) => self.reals += 1,
            SqliteValue::Blob(b) => {
                self.blobs += 1;
                if b.len() != 16 {
                    self.blobs_all_16 = false;
                }
            }
            SqliteValue::Text(_) => {
                self.texts += 1;
                let s = v.text();
                if self.first_text.is_none() {
                    self.first_text = Some(v.describe());
                }
                self.uuid.check(
                    || s.is_some_and(|s| s.len() == 36 && parse_uuid(s).is_some()),
                    &v,
                );
                {
                    match s.map(|s| (s, scan_datetime(s))) {
                        Some((_, Ok(dt))) => {
                            if dt.has_time {
                                self.date.check(|| false, &v);
                                if dt.offset.is_some() {
                                    self.text_with_zone += 1;
                                } else {
                                    self.text_without_zone += 1;
                                }
                            } else {
                                self.date.check(|| true, &v);
                                self.text_date_only += 1;
                            }
                            self.datetime.check(|| true, &v);
                        }
                        _ => {
                            self.date.check(|| false, &v);
                            self.datetime.check(|| false, &v);
                        }
                    }
                }
                self.json.check(
                    || {
                        s.is_some_and(|s| {
                            let t = s.trim_start();
                            (t.starts_with('{') || t.starts_with('['))
                                && match validate_json(s, true) {
                                    Ok(()) => true,
                                    Err(_) if validate_json(s, false).is_ok() => {
                                        self.json_has_nul_escape = true;
                                        true
                                    }
                                    Err(_) => false,
                                }
                        })
                    },
                    &v,
                );
                self.boolean.check(
                    || {
                        s.is_some_and(|s| {
                            let s = s.trim();
                            ["true", "false", "t", "f"]
                                .iter()
                                .any(|w| s.eq_ignore_ascii_case(w))
                        })
                    },
                    &v,
                );
            }
        }
    }

    /// The storage classes seen, as `text:3, null:1` (most frequent first).
    pub fn classes(&self) -> String {
        let mut v: Vec<(StorageClass, u64)> = vec![
            (StorageClass::Integer, self.integers),
            (StorageClass::Real, self.reals),
            (StorageClass::Text, self.texts),
            (StorageClass::Blob, self.blobs),
            (StorageClass::Null, self.nulls),
        ];
        v.retain(|(_, n)| *n > 0);
        v.sort_by_key(|c| std::cmp::Reverse(c.1));
        v.iter()
            .map(|(c, n)| format!("{}:{n}", c.name()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn non_null(&self) -> u64 {
        self.integers + self.reals + self.texts + self.blobs
    }
}

/// The type chosen for a column, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeChoice {
    pub target: PgTarget,
    pub epoch: Option<EpochUnit>,
    pub reason: String,
}

fn choice(target: PgTarget, reason: impl Into<String>) -> TypeChoice {
    TypeChoice {
        target,
        epoch: None,
        reason: reason.into(),
    }
}

/// The type SQLite's declared name suggests (its affinity, plus the names apps use for booleans,
/// dates, UUIDs and JSON).
pub fn declared_type_to_pg(declared: &str) -> (PgTarget, &'static str) {
    let d = declared.to_ascii_uppercase();
    if d.contains("BOOL") {
        (PgTarget::Bool, "declared BOOLEAN")
    } else if d.contains("INT") {
        (PgTarget::Int8, "INTEGER affinity")
    } else if d.contains("UUID") || d.contains("GUID") {
        (PgTarget::Uuid, "declared UUID")
    } else if d.contains("JSON") {
        (PgTarget::Jsonb, "declared JSON")
    } else if d.contains("TIMESTAMPTZ") || d.contains("WITH TIME ZONE") {
        (PgTarget::TimestampTz, "declared with time zone")
    } else if d.contains("DATETIME") || d.contains("TIMESTAMP") {
        (PgTarget::TimestampTz, "declared DATETIME/TIMESTAMP")
    } else if d.contains("DATE") {
        (PgTarget::Date, "declared DATE")
    } else if d.contains("CHAR") || d.contains("CLOB") || d.contains("TEXT") {
        (PgTarget::Text, "TEXT affinity")
    } else if d.is_empty() || d.contains("BLOB") {
        (PgTarget::Bytea, "BLOB affinity (no declared type)")
    } else if d.contains("REAL") || d.contains("FLOA") || d.contains("DOUB") {
        (PgTarget::Float8, "REAL affinity")
    } else {
        (PgTarget::Numeric, "NUMERIC affinity")
    }
}

fn is_temporal_name(declared: &str) -> bool {
    let d = declared.to_ascii_uppercase();
    d.contains("DATE") || d.contains("TIME")
}

/// Epoch seconds for 2000-01-01 and 2100-01-01.
const EPOCH_2000: i64 = 946_684_800;
const EPOCH_2100: i64 = 4_102_444_800;

/// Choose the PostgreSQL type of a column. `rowid_alias`: the column is the table's rowid
/// (`INTEGER PRIMARY KEY`), which becomes a bigint identity column.
pub fn choose_type(
    column: &str,
    declared: &str,
    stats: &ColumnStats,
    rowid_alias: bool,
) -> TypeChoice {
    let decl_up = declared.to_ascii_uppercase();
    let (by_name, affinity) = declared_type_to_pg(declared);
    let n = stats.non_null();
    if rowid_alias {
        return choice(
            PgTarget::Int8,
            "rowid key (INTEGER PRIMARY KEY): bigint identity",
        );
    }
    if n == 0 {
        return choice(
            by_name,
            format!("no values to look at: by declared type ({affinity})"),
        );
    }
    let classes = [stats.integers, stats.reals, stats.texts, stats.blobs]
        .iter()
        .filter(|&&c| c > 0)
        .count();
    if stats.blobs > 0 {
        if classes == 1 && stats.blobs_all_16 && by_name == PgTarget::Uuid {
            return choice(PgTarget::Uuid, "declared UUID, every value a 16-byte blob");
        }
        if classes == 1 {
            return choice(PgTarget::Bytea, "every value is a blob");
        }
        return choice(
            PgTarget::Bytea,
            format!(
                "mixed storage classes with blobs ({}): bytea, other values as their text bytes",
                stats.classes()
            ),
        );
    }
    // Numbers only.
    if stats.texts == 0 {
        if stats.reals == 0 {
            if decl_up.contains("BOOL") && stats.all_int_01 {
                return choice(PgTarget::Bool, "declared BOOLEAN, every value 0 or 1");
            }
            let (lo, hi) = (stats.int_min, stats.int_max);
            let epoch = if is_temporal_name(declared) && lo >= 0 {
                if hi < 100_000_000_000 {
                    Some((
                        EpochUnit::Seconds,
                        "declared date/time, integers: Unix epoch seconds",
                    ))
                } else if hi < 100_000_000_000_000 {
                    Some((
                        EpochUnit::Milliseconds,
                        "declared date/time, integers: Unix epoch milliseconds",
                    ))
                } else {
                    None
                }
            } else if column.to_ascii_lowercase().ends_with("_at") {
                if lo >= EPOCH_2000 && hi < EPOCH_2100 {
                    Some((
                        EpochUnit::Seconds,
                        "name ends in _at, every value a Unix epoch second between 2000 and 2100",
                    ))
                } else if lo >= EPOCH_2000 * 1000 && hi < EPOCH_2100 * 1000 {
                    Some((EpochUnit::Milliseconds, "name ends in _at, every value a Unix epoch millisecond between 2000 and 2100"))
                } else {
                    None
                }
            } else {
                None
            };
            if let Some((unit, why)) = epoch {
                return TypeChoice {
                    target: PgTarget::TimestampTz,
                    epoch: Some(unit),
                    reason: why.to_string(),
                };
            }
            let (t, range) = if lo >= i64::from(i16::MIN) && hi <= i64::from(i16::MAX) {
                (PgTarget::Int2, "smallint")
            } else if lo >= i64::from(i32::MIN) && hi <= i64::from(i32::MAX) {
                (PgTarget::Int4, "integer")
            } else {
                (PgTarget::Int8, "bigint")
            };
            return choice(
                t,
                format!("integers from {lo} to {hi}: the smallest type that holds them ({range})"),
            );
        }
        if decl_up.contains("NUMERIC") || decl_up.contains("DECIMAL") {
            return choice(
                PgTarget::Numeric,
                "declared NUMERIC/DECIMAL with real values: numeric (each real as its shortest exact decimal)",
            );
        }
        return choice(
            PgTarget::Float8,
            if stats.integers > 0 {
                "reals and integers: double precision"
            } else {
                "every value is a real: double precision"
            },
        );
    }
    if classes > 1 {
        return choice(
            PgTarget::Text,
            format!(
                "mixed storage classes ({}): text keeps every value",
                stats.classes()
            ),
        );
    }
    // Text only.
    if !stats.uuid.out {
        return choice(PgTarget::Uuid, "every value is a UUID string");
    }
    if !stats.date.out {
        return choice(PgTarget::Date, "every value is an ISO-8601 date");
    }
    if !stats.datetime.out {
        let declared_tz = decl_up.contains("TIMESTAMPTZ") || decl_up.contains("WITH TIME ZONE");
        if stats.text_without_zone == 0 {
            return choice(
                PgTarget::TimestampTz,
                "every value is an ISO-8601 date-time with a zone",
            );
        }
        if stats.text_with_zone > 0 {
            return choice(
                PgTarget::TimestampTz,
                format!(
                    "ISO-8601 date-times, {} with a zone and {} without (read as UTC)",
                    stats.text_with_zone, stats.text_without_zone
                ),
            );
        }
        if declared_tz {
            return choice(
                PgTarget::TimestampTz,
                "ISO-8601 date-times without a zone, declared with time zone: read as UTC",
            );
        }
        return choice(
            PgTarget::Timestamp,
            "every value is an ISO-8601 date-time without a zone",
        );
    }
    if !stats.json.out {
        if stats.json_has_nul_escape {
            return choice(
                PgTarget::Json,
                "every value is a JSON object/array; json, not jsonb, because some hold \\u0000",
            );
        }
        return choice(PgTarget::Jsonb, "every value is a JSON object or array");
    }
    if decl_up.contains("BOOL") && !stats.boolean.out {
        return choice(PgTarget::Bool, "declared BOOLEAN, every value true/false");
    }
    // Say why the closest candidate failed.
    let near = [
        ("UUIDs", &stats.uuid),
        ("ISO-8601 timestamps", &stats.datetime),
        ("JSON", &stats.json),
    ]
    .into_iter()
    .filter(|(_, c)| c.matched > 0)
    .max_by_key(|(_, c)| c.matched);
    match near {
        Some((what, c)) => choice(
            PgTarget::Text,
            format!(
                "{} of {} values look like {what}, but {} does not: kept as text",
                c.matched,
                stats.texts,
                c.culprit.as_deref().unwrap_or("one value")
            ),
        ),
        None => choice(PgTarget::Text, "text values"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SqliteValue as S;

    fn pick(column: &str, declared: &str, values: &[S<'_>]) -> TypeChoice {
        let mut st = ColumnStats::new();
        for v in values {
            st.observe(*v);
        }
        choose_type(column, declared, &st, false)
    }

    #[test]
    fn integers_by_range() {
        assert_eq!(
            pick("n", "INTEGER", &[S::Integer(1), S::Integer(-300)]).target,
            PgTarget::Int2
        );
        assert_eq!(
            pick("n", "INTEGER", &[S::Integer(70_000)]).target,
            PgTarget::Int4
        );
        assert_eq!(
            pick("n", "INTEGER", &[S::Integer(1 << 40), S::Null]).target,
            PgTarget::Int8
        );
        let mut st = ColumnStats::new();
        st.observe(S::Integer(1));
        assert_eq!(
            choose_type("id", "INTEGER", &st, true).target,
            PgTarget::Int8
        );
    }

    #[test]
    fn booleans_only_when_declared() {
        assert_eq!(
            pick("f", "BOOLEAN", &[S::Integer(0), S::Integer(1)]).target,
            PgTarget::Bool
        );
        assert_eq!(
            pick("f", "INTEGER", &[S::Integer(0), S::Integer(1)]).target,
            PgTarget::Int2
        );
        assert_eq!(
            pick("f", "BOOLEAN", &[S::Integer(0), S::Integer(2)]).target,
            PgTarget::Int2
        );
        assert_eq!(
            pick("f", "BOOL", &[S::Text(b"true"), S::Text(b"false")]).target,
            PgTarget::Bool
        );
    }

    #[test]
    fn epoch_integers() {
        let c = pick("created", "DATETIME", &[S::Integer(1_700_000_000_123)]);
        assert_eq!(
            (c.target, c.epoch),
            (PgTarget::TimestampTz, Some(EpochUnit::Milliseconds))
        );
        let c = pick("created", "TIMESTAMP", &[S::Integer(1_700_000_000)]);
        assert_eq!(c.epoch, Some(EpochUnit::Seconds));
        let c = pick("updated_at", "INTEGER", &[S::Integer(1_700_000_000_000)]);
        assert_eq!(c.epoch, Some(EpochUnit::Milliseconds));
        // Small numbers in an _at column are not times.
        assert_eq!(
            pick("seen_at", "INTEGER", &[S::Integer(5)]).target,
            PgTarget::Int2
        );
    }

    #[test]
    fn reals() {
        assert_eq!(
            pick("x", "REAL", &[S::Real(1.5), S::Integer(2)]).target,
            PgTarget::Float8
        );
        assert_eq!(
            pick("x", "DECIMAL(10,2)", &[S::Real(19.99)]).target,
            PgTarget::Numeric
        );
    }

    #[test]
    fn text_kinds() {
        let u = b"550e8400-e29b-41d4-a716-446655440000";
        assert_eq!(pick("id", "TEXT", &[S::Text(u)]).target, PgTarget::Uuid);
        assert_eq!(
            pick("d", "TEXT", &[S::Text(b"2026-01-01")]).target,
            PgTarget::Date
        );
        assert_eq!(
            pick("t", "TEXT", &[S::Text(b"2026-01-01 10:00:00")]).target,
            PgTarget::Timestamp
        );
        assert_eq!(
            pick("t", "TEXT", &[S::Text(b"2026-01-01T10:00:00Z")]).target,
            PgTarget::TimestampTz
        );
        assert_eq!(
            pick(
                "t",
                "TEXT",
                &[
                    S::Text(b"2026-01-01T10:00:00Z"),
                    S::Text(b"2026-01-01 10:00:00")
                ]
            )
            .target,
            PgTarget::TimestampTz
        );
        assert_eq!(
            pick("t", "TIMESTAMPTZ", &[S::Text(b"2026-01-01 10:00:00")]).target,
            PgTarget::TimestampTz
        );
        assert_eq!(
            pick("j", "TEXT", &[S::Text(br#"{"a": 1}"#), S::Text(b"[1]")]).target,
            PgTarget::Jsonb
        );
        assert_eq!(
            pick("j", "TEXT", &[S::Text(br#"{"a": "\u0000"}"#)]).target,
            PgTarget::Json
        );
        assert_eq!(pick("j", "TEXT", &[S::Text(b"1")]).target, PgTarget::Text);
    }

    #[test]
    fn one_bad_timestamp_keeps_text_and_says_which() {
        let c = pick(
            "t",
            "TEXT",
            &[
                S::Text(b"2026-01-01 10:00:00"),
                S::Text(b"2026-01-02 10:00:00"),
                S::Text(b"not yet"),
                S::Text(b"2026-01-03 10:00:00"),
            ],
        );
        assert_eq!(c.target, PgTarget::Text);
        assert!(
            c.reason.contains("ISO-8601 timestamps") && c.reason.contains("'not yet'"),
            "{}",
            c.reason
        );
    }

    #[test]
    fn mixed_classes_and_blobs() {
        let c = pick("m", "", &[S::Integer(1), S::Text(b"x")]);
        assert_eq!(c.target, PgTarget::Text);
        assert!(c.reason.contains("mixed storage classes"), "{}", c.reason);
        assert_eq!(
            pick("b", "BLOB", &[S::Blob(b"\x00")]).target,
            PgTarget::Bytea
        );
        assert_eq!(
            pick("b", "", &[S::Blob(b"\x00"), S::Text(b"x")]).target,
            PgTarget::Bytea
        );
        assert_eq!(
            pick("u", "UUID", &[S::Blob(&[0u8; 16])]).target,
            PgTarget::Uuid
        );
    }

    #[test]
    fn empty_columns_follow_the_declared_type() {
        for (decl, t) in [
            ("INTEGER", PgTarget::Int8),
            ("VARCHAR(20)", PgTarget::Text),
            ("BLOB", PgTarget::Bytea),
            ("", PgTarget::Bytea),
            ("DOUBLE", PgTarget::Float8),
            ("BOOLEAN", PgTarget::Bool),
            ("DATETIME", PgTarget::TimestampTz),
            ("DATE", PgTarget::Date),
            ("UUID", PgTarget::Uuid),
            ("JSON", PgTarget::Jsonb),
            ("DECIMAL(10,2)", PgTarget::Numeric),
        ] {
            assert_eq!(pick("c", decl, &[S::Null]).target, t, "{decl}");
        }
    }
}
