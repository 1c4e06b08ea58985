//! Choosing a PostgreSQL type for a SQLite column from its declared type AND the values it holds.
//!
//! The rule (issue 17): the application that wrote the SQLite file must keep working when pointed
//! at PostgreSQL. So the declaration decides what it means (sizes, BOOLEAN, DATE/DATETIME, declared
//! JSON/UUID), numbers are never narrower than declared, and the values only resolve what SQLite's
//! declarations leave open (a DATETIME's text or epoch numbers, a UUID's form, booleans as 0/1,
//! whether every value fits `VARCHAR(n)`/`NUMERIC(p,s)`). Undeclared text stays text: turning it into
//! jsonb/uuid/timestamp changes what the driver returns (psycopg2 hands out a dict for jsonb), so
//! that is the named option `types := ['infer']`. The same rule holds for an empty table (by the
//! declaration alone), so a column never changes type because its table had no rows.
//!
//! | declared (SQLite) | values seen (NULLs ignored) | default | `types := ['infer']` |
//! |---|---|---|---|
//! | INTEGER, INT, BIGINT, `integer unsigned`, ... | integers | bigint: SQLite integers are 64-bit, so every value the app could write still fits (integer would fail past 2^31, as smallint did in issue 17) | same |
//! | SMALLINT/TINYINT/INT2; MEDIUMINT/INT4 | integers | smallint; integer (wider only if a value needs it) | same |
//! | INTEGER | integers, name ends in `_at`, all epoch s/ms in 2000..2100 | bigint | timestamptz from epoch |
//! | rowid key (`INTEGER PRIMARY KEY`) | any | bigint identity | same |
//! | BOOL, BOOLEAN | all 0/1 or true/false words | boolean | same |
//! | NUMERIC(p,s), DECIMAL(p,s) | numbers, every one fits | numeric(p,s) (values written with scale s) | same |
//! | NUMERIC, DECIMAL, other names | numbers | numeric | same |
//! | REAL, FLOAT, DOUBLE (or integers and reals anywhere) | numbers | double precision | same |
//! | DATETIME, TIMESTAMP, TIMESTAMPTZ | ISO-8601 text (with or without zone) | timestamptz; no zone = UTC | same |
//! | DATETIME, TIMESTAMP, DATE | integers | timestamptz from epoch seconds (< 1e11) or ms (< 1e14) | same |
//! | DATE | ISO-8601 dates | date | same |
//! | JSON, or any column with `CHECK (json_valid(c))` | every value JSON | jsonb (json if a value holds `\u0000`) | same |
//! | UUID, GUID | UUID text (36 or 32 hex) or 16-byte blobs | uuid | same |
//! | CHAR(32) | 32 hex digits (Django's UUIDField, SQLAlchemy's Uuid) | uuid | same |
//! | VARCHAR(n), CHAR(n) | every value at most n characters | character varying(n) (never character(n), which pads) | UUID/date/JSON text as below, else varchar(n) |
//! | VARCHAR(n), CHAR(n) | a longer value | text, the reason names it | same |
//! | TEXT, CLOB, none | UUIDs / ISO dates / ISO date-times / JSON objects | text (the plan shows the alternative) | uuid / date / timestamp(tz) / jsonb |
//! | any | a value that does not fit the rule above | text, the reason names the value | same |
//! | any | blobs | bytea (uuid if declared UUID/CHAR(32) and all 16 bytes) | same |
//! | any | mixed storage classes | text (the reason lists the classes) | same |
//! | any | none (empty table) | by the declaration alone, the same table as above | same |
//!
//! DATETIME's one rule and its trade-off: values without a zone are read as UTC into timestamptz,
//! what Django (USE_TZ) and pgloader do; SQLAlchemy's `DateTime` (Optuna) creates `timestamp`
//! natively but works on timestamptz (it gets aware datetimes back). An application that wrote
//! local wall-clock times should force `types := ['t.c=timestamp']`.
//! `infer_types := false`: by declared name only ([`declared_type_to_pg`]), values not looked at.

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
    /// The longest text value, in characters (for `VARCHAR(n)`), and one such value.
    pub max_chars: u64,
    longest: Option<String>,
    /// Texts of exactly 32 hex digits (how Django and SQLAlchemy store UUIDs in SQLite).
    uuid32: Candidate,
    /// Any JSON value (scalars too), checked only for declared JSON / `CHECK (json_valid(c))`.
    json_any: Option<Candidate>,
    /// Digits of the numbers, checked only for declared `NUMERIC(p,s)` / `DECIMAL(p,s)`.
    decimal: Option<DecimalFit>,
}

/// The widest number seen, in digits before and after the point; `misfit` names a value that
/// is no finite number.
#[derive(Debug, Clone, Default)]
struct DecimalFit {
    int_digits: usize,
    frac_digits: usize,
    misfit: Option<String>,
}

impl DecimalFit {
    fn observe(&mut self, v: &SqliteValue<'_>) {
        use crate::sqlite::convert::f64_to_numeric;
        use crate::types::pg_value::{parse_numeric, Numeric};
        let n = match v {
            SqliteValue::Integer(i) => Ok(Numeric::Finite {
                negative: *i < 0,
                int_digits: if *i == 0 {
                    String::new()
                } else {
                    i.unsigned_abs().to_string()
                },
                frac_digits: String::new(),
            }),
            SqliteValue::Real(f) => f64_to_numeric(*f),
            SqliteValue::Text(_) => parse_numeric(v.text().unwrap_or("x")),
            _ => Err(String::new()),
        };
        match n {
            Ok(Numeric::Finite {
                int_digits,
                frac_digits,
                ..
            }) => {
                self.int_digits = self.int_digits.max(int_digits.len());
                self.frac_digits = self
                    .frac_digits
                    .max(frac_digits.trim_end_matches('0').len());
            }
            _ => {
                if self.misfit.is_none() {
                    self.misfit = Some(v.describe());
                }
            }
        }
    }
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

    /// Statistics for a column declared `declared`, with the checks only that declaration needs
    /// (JSON scalars, decimal digits); `json_checked`: the table has `CHECK (json_valid(column))`.
    pub fn for_declared(declared: &str, json_checked: bool) -> Self {
        let d = DeclaredType::parse(declared);
        let mut st = ColumnStats::new();
        if json_checked || d.kind == DeclKind::Json {
            st.json_any = Some(Candidate::default());
        }
        if d.kind == DeclKind::Numeric && d.size.is_some() {
            st.decimal = Some(DecimalFit::default());
        }
        st
    }

    /// Count one value.
    pub fn observe(&mut self, v: SqliteValue<'_>) {
        if let Some(d) = &mut self.decimal {
            if !matches!(v, SqliteValue::Null) {
                d.observe(&v);
            }
        }
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
                if let SqliteValue::Text(b) = v {
                    let chars = if b.is_ascii() {
                        b.len() as u64
                    } else {
                        b.iter().filter(|&&c| (c & 0xC0) != 0x80).count() as u64
                    };
                    if chars > self.max_chars || self.longest.is_none() {
                        self.max_chars = self.max_chars.max(chars);
                        self.longest = Some(v.describe());
                    }
                }
                self.uuid32.check(
                    || s.is_some_and(|s| s.len() == 32 && parse_uuid(s).is_some()),
                    &v,
                );
                if let Some(j) = &mut self.json_any {
                    let mut nul = false;
                    j.check(
                        || {
                            s.is_some_and(|s| match validate_json(s, true) {
                                Ok(()) => true,
                                Err(_) if validate_json(s, false).is_ok() => {
                                    nul = true;
                                    true
                                }
                                Err(_) => false,
                            })
                        },
                        &v,
                    );
                    self.json_has_nul_escape |= nul;
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
    /// A length (`character varying(n)`) or precision and scale (`numeric(p,s)`).
    pub size: Option<TypeSize>,
    pub reason: String,
}

/// A type modifier the plan keeps from the declaration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeSize {
    /// `character varying(n)` (target text).
    Length(u32),
    /// `numeric(precision, scale)` (target numeric).
    Precision(u32, u32),
}

impl TypeChoice {
    /// The column's type in PostgreSQL's DDL (`format_type`'s spelling).
    pub fn sql_type(&self) -> String {
        match (self.target, self.size) {
            (PgTarget::Text, Some(TypeSize::Length(n))) => format!("character varying({n})"),
            (PgTarget::Numeric, Some(TypeSize::Precision(p, s))) => format!("numeric({p},{s})"),
            (t, _) => t.sql_name().to_string(),
        }
    }

    /// The scale values must be written with (numeric(p,s) pads `1.5` to `1.50`).
    pub fn scale(&self) -> Option<u32> {
        match (self.target, self.size) {
            (PgTarget::Numeric, Some(TypeSize::Precision(_, s))) => Some(s),
            _ => None,
        }
    }
}

fn choice(target: PgTarget, reason: impl Into<String>) -> TypeChoice {
    TypeChoice {
        target,
        epoch: None,
        size: None,
        reason: reason.into(),
    }
}

fn sized(target: PgTarget, size: TypeSize, reason: impl Into<String>) -> TypeChoice {
    TypeChoice {
        size: Some(size),
        ..choice(target, reason)
    }
}

/// How much the values may decide (`sqlite_migrate(..., types := ['infer'])` and
/// `infer_types := false`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TypeRule {
    /// The default: what the declaration means, with the values resolving only what SQLite's
    /// declarations leave open (a DATETIME's text or epoch numbers, a UUID's form, booleans as
    /// 0/1, whether values fit `VARCHAR(n)`/`NUMERIC(p,s)`). The application reads back what it
    /// read from SQLite: text stays text, integers stay integers.
    #[default]
    Declared,
    /// Also turn undeclared values into richer types: TEXT holding UUIDs -> uuid, ISO dates and
    /// date-times -> date/timestamp(tz), JSON objects/arrays -> jsonb; INTEGER `*_at` columns
    /// holding epoch seconds/ms -> timestamptz. The application's driver then returns other
    /// Python/Java/... types than before (a dict for jsonb, a datetime for timestamps).
    Infer,
    /// `infer_types := false`: by declared name only; values are not looked at.
    NameOnly,
}

/// What a SQLite declared type names, by SQLite's affinity rules (`sqlite3AffinityType`: INT,
/// then CHAR/CLOB/TEXT, BLOB, REAL/FLOA/DOUB, else NUMERIC) refined by the names applications use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeclKind {
    /// BOOL, BOOLEAN.
    Bool,
    /// TINYINT, SMALLINT, INT2.
    SmallInt,
    /// MEDIUMINT, INT4.
    Int,
    /// INTEGER, INT, BIGINT, INT8, `integer unsigned`, ... (every other name with INT).
    BigInt,
    /// UUID, GUID.
    Uuid,
    /// JSON, JSONB.
    Json,
    /// TIMESTAMPTZ, `... WITH TIME ZONE`.
    TimestampTz,
    /// DATETIME, TIMESTAMP.
    Timestamp,
    /// DATE.
    Date,
    /// CHAR(n), CHARACTER(n), NCHAR(n).
    Char,
    /// VARCHAR(n), NVARCHAR(n), CHARACTER VARYING(n).
    Varchar,
    /// TEXT, CLOB.
    Text,
    /// REAL, FLOAT, DOUBLE.
    Real,
    /// NUMERIC, DECIMAL (with or without precision), MONEY, any other name (NUMERIC affinity).
    Numeric,
    /// BLOB.
    Blob,
    /// No declared type.
    Untyped,
}

/// A parsed declared type: its kind and the numbers in parentheses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeclaredType {
    pub kind: DeclKind,
    /// `(n)` or `(p, s)` (`s` is 0 when not given).
    pub size: Option<(u32, u32)>,
}

impl DeclaredType {
    pub fn parse(declared: &str) -> DeclaredType {
        let d = declared.to_ascii_uppercase();
        let kind = if d.contains("BOOL") {
            DeclKind::Bool
        } else if d.contains("INT") {
            let word = d
                .split(|c: char| !c.is_ascii_alphanumeric())
                .next()
                .unwrap_or("");
            match word {
                "TINYINT" | "SMALLINT" | "INT2" => DeclKind::SmallInt,
                "MEDIUMINT" | "INT4" => DeclKind::Int,
                _ => DeclKind::BigInt,
            }
        } else if d.contains("UUID") || d.contains("GUID") {
            DeclKind::Uuid
        } else if d.contains("JSON") {
            DeclKind::Json
        } else if d.contains("TIMESTAMPTZ") || d.contains("WITH TIME ZONE") {
            DeclKind::TimestampTz
        } else if d.contains("DATETIME") || d.contains("TIMESTAMP") {
            DeclKind::Timestamp
        } else if d.contains("DATE") {
            DeclKind::Date
        } else if d.contains("CHAR") {
            if d.contains("VAR") {
                DeclKind::Varchar
            } else {
                DeclKind::Char
            }
        } else if d.contains("CLOB") || d.contains("TEXT") {
            DeclKind::Text
        } else if d.trim().is_empty() {
            DeclKind::Untyped
        } else if d.contains("BLOB") {
            DeclKind::Blob
        } else if d.contains("REAL") || d.contains("FLOA") || d.contains("DOUB") {
            DeclKind::Real
        } else {
            DeclKind::Numeric
        };
        let size = d.split_once('(').and_then(|(_, rest)| {
            let inner = rest.split(')').next()?;
            let mut nums = inner.split(',').map(|x| x.trim().parse::<u32>());
            let a = nums.next()?.ok()?;
            let b = match nums.next() {
                Some(x) => x.ok()?,
                None => 0,
            };
            Some((a, b))
        });
        DeclaredType { kind, size }
    }

    /// A `CHAR(32)`: how Django's UUIDField and SQLAlchemy's `Uuid` store UUIDs in SQLite.
    fn is_char32_uuid(&self) -> bool {
        self.kind == DeclKind::Char && self.size == Some((32, 0))
    }
}

/// The type SQLite's declared name suggests (its affinity, plus the names apps use for booleans,
/// dates, UUIDs and JSON); `infer_types := false` uses this alone.
pub fn declared_type_to_pg(declared: &str) -> (PgTarget, &'static str) {
    match DeclaredType::parse(declared).kind {
        DeclKind::Bool => (PgTarget::Bool, "declared BOOLEAN"),
        DeclKind::SmallInt | DeclKind::Int | DeclKind::BigInt => (
            PgTarget::Int8,
            "INTEGER affinity: bigint, as SQLite integers are 64-bit",
        ),
        DeclKind::Uuid => (PgTarget::Uuid, "declared UUID"),
        DeclKind::Json => (PgTarget::Jsonb, "declared JSON"),
        DeclKind::TimestampTz => (PgTarget::TimestampTz, "declared with time zone"),
        DeclKind::Timestamp => (PgTarget::TimestampTz, "declared DATETIME/TIMESTAMP"),
        DeclKind::Date => (PgTarget::Date, "declared DATE"),
        DeclKind::Char | DeclKind::Varchar | DeclKind::Text => (PgTarget::Text, "TEXT affinity"),
        DeclKind::Blob | DeclKind::Untyped => (PgTarget::Bytea, "BLOB affinity (no declared type)"),
        DeclKind::Real => (PgTarget::Float8, "REAL affinity"),
        DeclKind::Numeric => (PgTarget::Numeric, "NUMERIC affinity"),
    }
}

/// The type a declaration asks for when there are no values to look at. The same rule as with
/// values: a column does not change type because its table is empty.
fn by_declaration(d: &DeclaredType, json_checked: bool) -> TypeChoice {
    let why = "no values to look at: by declared type";
    match d.kind {
        DeclKind::Bool => choice(PgTarget::Bool, format!("{why} (BOOLEAN)")),
        DeclKind::SmallInt => choice(PgTarget::Int2, format!("{why} (SMALLINT)")),
        DeclKind::Int => choice(PgTarget::Int4, format!("{why} (MEDIUMINT/INT4)")),
        DeclKind::BigInt => choice(
            PgTarget::Int8,
            format!("{why} (INTEGER: bigint, as SQLite integers are 64-bit)"),
        ),
        DeclKind::Uuid => choice(PgTarget::Uuid, format!("{why} (UUID)")),
        DeclKind::Char if d.is_char32_uuid() => choice(
            PgTarget::Uuid,
            format!("{why} (CHAR(32): how Django's UUIDField and SQLAlchemy's Uuid store UUIDs)"),
        ),
        _ if json_checked => choice(PgTarget::Jsonb, format!("{why} (CHECK json_valid)")),
        DeclKind::Json => choice(PgTarget::Jsonb, format!("{why} (JSON)")),
        DeclKind::TimestampTz | DeclKind::Timestamp => choice(
            PgTarget::TimestampTz,
            format!("{why} (DATETIME/TIMESTAMP: timestamptz, values without a zone read as UTC)"),
        ),
        DeclKind::Date => choice(PgTarget::Date, format!("{why} (DATE)")),
        DeclKind::Char | DeclKind::Varchar => match d.size {
            Some((n, _)) if n > 0 => sized(
                PgTarget::Text,
                TypeSize::Length(n),
                format!("{why} (VARCHAR/CHAR({n}))"),
            ),
            _ => choice(PgTarget::Text, format!("{why} (TEXT affinity)")),
        },
        DeclKind::Text => choice(PgTarget::Text, format!("{why} (TEXT affinity)")),
        DeclKind::Real => choice(PgTarget::Float8, format!("{why} (REAL affinity)")),
        DeclKind::Numeric => match numeric_size(d) {
            Some((p, s)) => sized(
                PgTarget::Numeric,
                TypeSize::Precision(p, s),
                format!("{why} (NUMERIC({p},{s}))"),
            ),
            None => choice(PgTarget::Numeric, format!("{why} (NUMERIC affinity)")),
        },
        DeclKind::Blob | DeclKind::Untyped => choice(
            PgTarget::Bytea,
            format!("{why} (BLOB affinity or none: bytea)"),
        ),
    }
}

/// `NUMERIC(p,s)` / `DECIMAL(p,s)` sizes PostgreSQL accepts (1 <= p <= 1000, 0 <= s <= p).
fn numeric_size(d: &DeclaredType) -> Option<(u32, u32)> {
    d.size.filter(|&(p, s)| (1..=1000).contains(&p) && s <= p)
}

fn is_temporal_name(declared: &str) -> bool {
    let d = declared.to_ascii_uppercase();
    d.contains("DATE") || d.contains("TIME")
}

/// Epoch seconds for 2000-01-01 and 2100-01-01.
const EPOCH_2000: i64 = 946_684_800;
const EPOCH_2100: i64 = 4_102_444_800;

/// Choose the PostgreSQL type of a column (see the module table). `rowid_alias`: the column is the
/// table's rowid (`INTEGER PRIMARY KEY`), which becomes a bigint identity column; `json_checked`:
/// the table checks `json_valid(column)`.
pub fn choose_type(
    column: &str,
    declared: &str,
    stats: &ColumnStats,
    rowid_alias: bool,
    rule: TypeRule,
    json_checked: bool,
) -> TypeChoice {
    let d = DeclaredType::parse(declared);
    if rowid_alias {
        return choice(
            PgTarget::Int8,
            "rowid key (INTEGER PRIMARY KEY): bigint identity",
        );
    }
    if rule == TypeRule::NameOnly {
        let (t, why) = declared_type_to_pg(declared);
        return choice(t, format!("infer_types := false: by declared type ({why})"));
    }
    if stats.non_null() == 0 {
        return by_declaration(&d, json_checked);
    }
    let classes = [stats.integers, stats.reals, stats.texts, stats.blobs]
        .iter()
        .filter(|&&c| c > 0)
        .count();
    let uuid_declared = d.kind == DeclKind::Uuid || d.is_char32_uuid();
    if stats.blobs > 0 {
        if classes == 1 && stats.blobs_all_16 && uuid_declared {
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
    if stats.texts == 0 {
        return choose_number(column, declared, &d, stats, rule);
    }
    if classes > 1 {
        if d.kind == DeclKind::Numeric {
            if let Some(c) = decimal_choice(&d, stats) {
                return c;
            }
        }
        return choice(
            PgTarget::Text,
            format!(
                "mixed storage classes ({}): text keeps every value",
                stats.classes()
            ),
        );
    }
    choose_text(&d, stats, rule, json_checked, uuid_declared)
}

/// A column of integers and reals only.
fn choose_number(
    column: &str,
    declared: &str,
    d: &DeclaredType,
    stats: &ColumnStats,
    rule: TypeRule,
) -> TypeChoice {
    if d.kind == DeclKind::Numeric {
        if let Some(c) = decimal_choice(d, stats) {
            return c;
        }
    }
    if stats.reals > 0 {
        return choice(
            PgTarget::Float8,
            if stats.integers > 0 {
                "reals and integers: double precision"
            } else {
                "every value is a real: double precision"
            },
        );
    }
    if d.kind == DeclKind::Bool && stats.all_int_01 {
        return choice(PgTarget::Bool, "declared BOOLEAN, every value 0 or 1");
    }
    let (lo, hi) = (stats.int_min, stats.int_max);
    let temporal = matches!(
        d.kind,
        DeclKind::Timestamp | DeclKind::TimestampTz | DeclKind::Date
    ) || (rule == TypeRule::Infer && is_temporal_name(declared));
    let epoch = if temporal && lo >= 0 {
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
    } else if rule == TypeRule::Infer && column.to_ascii_lowercase().ends_with("_at") {
        if lo >= EPOCH_2000 && hi < EPOCH_2100 {
            Some((
                EpochUnit::Seconds,
                "types := ['infer']: name ends in _at, every value a Unix epoch second between 2000 and 2100",
            ))
        } else if lo >= EPOCH_2000 * 1000 && hi < EPOCH_2100 * 1000 {
            Some((EpochUnit::Milliseconds, "types := ['infer']: name ends in _at, every value a Unix epoch millisecond between 2000 and 2100"))
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
            size: None,
            reason: why.to_string(),
        };
    }
    // Never narrower than the declaration: values only widen it.
    let fits = |t: PgTarget| match t {
        PgTarget::Int2 => lo >= i64::from(i16::MIN) && hi <= i64::from(i16::MAX),
        PgTarget::Int4 => lo >= i64::from(i32::MIN) && hi <= i64::from(i32::MAX),
        _ => true,
    };
    let (wanted, what) = match d.kind {
        DeclKind::SmallInt => (PgTarget::Int2, "declared SMALLINT/TINYINT"),
        DeclKind::Int => (PgTarget::Int4, "declared MEDIUMINT/INT4"),
        DeclKind::BigInt => (
            PgTarget::Int8,
            "INTEGER: bigint, as SQLite integers are 64-bit (integer would fail past 2147483647)",
        ),
        _ => (
            PgTarget::Int8,
            "integers: bigint, as SQLite integers are 64-bit",
        ),
    };
    if fits(wanted) {
        return choice(wanted, what);
    }
    let wider = if fits(PgTarget::Int4) {
        PgTarget::Int4
    } else {
        PgTarget::Int8
    };
    choice(
        wider,
        format!(
            "{what}, but the values run from {lo} to {hi}: {}",
            wider.sql_name()
        ),
    )
}

/// `numeric(p,s)` when every value fits the declared precision and scale, else plain numeric
/// (`None`: a value is not a number).
fn decimal_choice(d: &DeclaredType, stats: &ColumnStats) -> Option<TypeChoice> {
    let Some((p, s)) = numeric_size(d) else {
        if stats.texts > 0 {
            return None;
        }
        return Some(choice(
            PgTarget::Numeric,
            "declared NUMERIC/DECIMAL: numeric (each real as its shortest exact decimal)",
        ));
    };
    let fit = stats.decimal.as_ref()?;
    if let Some(bad) = &fit.misfit {
        if stats.texts > 0 {
            return None;
        }
        return Some(choice(
            PgTarget::Numeric,
            format!("declared NUMERIC({p},{s}), but {bad} does not fit any precision: numeric"),
        ));
    }
    if fit.int_digits as u32 <= p - s && fit.frac_digits as u32 <= s {
        return Some(sized(
            PgTarget::Numeric,
            TypeSize::Precision(p, s),
            format!("declared NUMERIC({p},{s}), every value fits"),
        ));
    }
    Some(choice(
        PgTarget::Numeric,
        format!(
            "declared NUMERIC({p},{s}), but values have up to {} digits before and {} after the point: numeric",
            fit.int_digits, fit.frac_digits
        ),
    ))
}

/// A column of text values only.
fn choose_text(
    d: &DeclaredType,
    stats: &ColumnStats,
    rule: TypeRule,
    json_checked: bool,
    uuid_declared: bool,
) -> TypeChoice {
    let temporal = matches!(
        d.kind,
        DeclKind::Timestamp | DeclKind::TimestampTz | DeclKind::Date
    );
    if uuid_declared {
        let ok = if d.kind == DeclKind::Uuid {
            !stats.uuid.out || !stats.uuid32.out
        } else {
            !stats.uuid32.out
        };
        if ok {
            return choice(
                PgTarget::Uuid,
                if d.kind == DeclKind::Uuid {
                    "declared UUID, every value a UUID"
                } else {
                    "CHAR(32), every value 32 hex digits: a UUID as Django's UUIDField and SQLAlchemy's Uuid store it"
                },
            );
        }
    }
    if json_checked || d.kind == DeclKind::Json {
        if let Some(j) = &stats.json_any {
            let why = if json_checked {
                "CHECK json_valid"
            } else {
                "declared JSON"
            };
            if !j.out {
                if stats.json_has_nul_escape {
                    return choice(
                        PgTarget::Json,
                        format!("{why}: json, not jsonb, because some values hold \\u0000"),
                    );
                }
                return choice(PgTarget::Jsonb, format!("{why}, every value is JSON"));
            }
        }
    }
    if temporal && !stats.datetime.out {
        if d.kind == DeclKind::Date && !stats.date.out {
            return choice(
                PgTarget::Date,
                "declared DATE, every value an ISO-8601 date",
            );
        }
        return choice(
            PgTarget::TimestampTz,
            if stats.text_without_zone == 0 {
                "declared DATETIME/TIMESTAMP, every value an ISO-8601 date-time with a zone"
            } else {
                "declared DATETIME/TIMESTAMP, ISO-8601 text: timestamptz, values without a zone read as UTC"
            },
        );
    }
    if d.kind == DeclKind::Bool && !stats.boolean.out {
        return choice(PgTarget::Bool, "declared BOOLEAN, every value true/false");
    }
    if rule == TypeRule::Infer {
        if let Some(c) = infer_text(d, stats) {
            return c;
        }
    }
    if matches!(d.kind, DeclKind::Char | DeclKind::Varchar) {
        if let Some((n, _)) = d.size.filter(|&(n, _)| n > 0) {
            if stats.max_chars <= u64::from(n) {
                return sized(
                    PgTarget::Text,
                    TypeSize::Length(n),
                    format!(
                        "declared VARCHAR/CHAR({n}), every value fits (CHAR(n) as varchar(n): PostgreSQL's character(n) would pad values with spaces)"
                    ),
                );
            }
            return choice(
                PgTarget::Text,
                format!(
                    "declared VARCHAR/CHAR({n}), but {} has {} characters: text",
                    stats.longest.as_deref().unwrap_or("a value"),
                    stats.max_chars
                ),
            );
        }
    }
    let near = [
        ("UUIDs", &stats.uuid),
        ("ISO-8601 timestamps", &stats.datetime),
        ("JSON", &stats.json),
    ]
    .into_iter()
    .filter(|(_, c)| c.matched > 0)
    .max_by_key(|(_, c)| c.matched);
    let tail = if rule == TypeRule::Infer {
        ""
    } else {
        " (types := ['infer'] turns undeclared UUIDs, dates and JSON into uuid, timestamp and jsonb)"
    };
    match near {
        Some((what, c)) if c.out => choice(
            PgTarget::Text,
            format!(
                "{} of {} values look like {what}, but {} does not: kept as text",
                c.matched,
                stats.texts,
                c.culprit.as_deref().unwrap_or("one value")
            ),
        ),
        Some((what, _)) => choice(
            PgTarget::Text,
            format!(
                "declared {}: text, although every value looks like {what}{tail}",
                decl_word(d)
            ),
        ),
        None => choice(PgTarget::Text, "text values"),
    }
}

fn decl_word(d: &DeclaredType) -> &'static str {
    match d.kind {
        DeclKind::Untyped => "without a type",
        DeclKind::Char | DeclKind::Varchar => "VARCHAR/CHAR",
        _ => "TEXT",
    }
}

/// `types := ['infer']`: what undeclared text becomes by its values alone.
fn infer_text(d: &DeclaredType, stats: &ColumnStats) -> Option<TypeChoice> {
    let _ = d;
    if !stats.uuid.out {
        return Some(choice(
            PgTarget::Uuid,
            "types := ['infer']: every value is a UUID string",
        ));
    }
    if !stats.date.out {
        return Some(choice(
            PgTarget::Date,
            "types := ['infer']: every value is an ISO-8601 date",
        ));
    }
    if !stats.datetime.out {
        if stats.text_without_zone == 0 {
            return Some(choice(
                PgTarget::TimestampTz,
                "types := ['infer']: every value is an ISO-8601 date-time with a zone",
            ));
        }
        if stats.text_with_zone > 0 {
            return Some(choice(
                PgTarget::TimestampTz,
                format!(
                    "types := ['infer']: ISO-8601 date-times, {} with a zone and {} without (read as UTC)",
                    stats.text_with_zone, stats.text_without_zone
                ),
            ));
        }
        return Some(choice(
            PgTarget::Timestamp,
            "types := ['infer']: every value is an ISO-8601 date-time without a zone",
        ));
    }
    if !stats.json.out {
        if stats.json_has_nul_escape {
            return Some(choice(
                PgTarget::Json,
                "types := ['infer']: every value is a JSON object/array; json, not jsonb, because some hold \\u0000",
            ));
        }
        return Some(choice(
            PgTarget::Jsonb,
            "types := ['infer']: every value is a JSON object or array",
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use SqliteValue as S;

    fn pick_with(rule: TypeRule, column: &str, declared: &str, values: &[S<'_>]) -> TypeChoice {
        let mut st = ColumnStats::for_declared(declared, false);
        for v in values {
            st.observe(*v);
        }
        choose_type(column, declared, &st, false, rule, false)
    }

    /// The default rule.
    fn pick(column: &str, declared: &str, values: &[S<'_>]) -> TypeChoice {
        pick_with(TypeRule::Declared, column, declared, values)
    }

    fn infer(column: &str, declared: &str, values: &[S<'_>]) -> TypeChoice {
        pick_with(TypeRule::Infer, column, declared, values)
    }

    #[test]
    fn declarations_parse() {
        for (decl, kind, size) in [
            ("integer unsigned", DeclKind::BigInt, None),
            ("SMALLINT", DeclKind::SmallInt, None),
            ("int4", DeclKind::Int, None),
            ("varchar(120)", DeclKind::Varchar, Some((120, 0))),
            ("NVARCHAR(10)", DeclKind::Varchar, Some((10, 0))),
            ("char(32)", DeclKind::Char, Some((32, 0))),
            ("decimal(10, 2)", DeclKind::Numeric, Some((10, 2))),
            ("decimal", DeclKind::Numeric, None),
            ("datetime", DeclKind::Timestamp, None),
            ("TIMESTAMP WITH TIME ZONE", DeclKind::TimestampTz, None),
            ("bool", DeclKind::Bool, None),
            ("", DeclKind::Untyped, None),
            ("BLOB", DeclKind::Blob, None),
            ("FLOAT", DeclKind::Real, None),
            ("MONEY", DeclKind::Numeric, None),
        ] {
            let d = DeclaredType::parse(decl);
            assert_eq!((d.kind, d.size), (kind, size), "{decl}");
        }
    }

    /// Issue 17: a counter is never narrowed to what its values hold today.
    #[test]
    fn integers_never_narrower_than_declared() {
        for (decl, values, want) in [
            (
                "INTEGER",
                vec![S::Integer(1), S::Integer(-300)],
                PgTarget::Int8,
            ),
            ("integer unsigned", vec![S::Integer(3)], PgTarget::Int8),
            ("BIGINT", vec![S::Integer(0)], PgTarget::Int8),
            ("", vec![S::Integer(7)], PgTarget::Int8),
            (
                "SMALLINT",
                vec![S::Integer(1), S::Integer(-300)],
                PgTarget::Int2,
            ),
            // SQLite let a SMALLINT hold more: widen, never fail.
            ("SMALLINT", vec![S::Integer(70_000)], PgTarget::Int4),
            ("MEDIUMINT", vec![S::Integer(5)], PgTarget::Int4),
            ("INT4", vec![S::Integer(1 << 40)], PgTarget::Int8),
        ] {
            assert_eq!(pick("n", decl, &values).target, want, "{decl} {values:?}");
            assert_eq!(infer("n", decl, &values).target, want, "{decl} {values:?}");
        }
        let mut st = ColumnStats::new();
        st.observe(S::Integer(1));
        assert_eq!(
            choose_type("id", "INTEGER", &st, true, TypeRule::Declared, false).target,
            PgTarget::Int8
        );
        assert!(pick("n", "INTEGER", &[S::Integer(1)])
            .reason
            .contains("64-bit"));
    }

    #[test]
    fn booleans_only_when_declared() {
        assert_eq!(
            pick("f", "BOOLEAN", &[S::Integer(0), S::Integer(1)]).target,
            PgTarget::Bool
        );
        assert_eq!(pick("f", "bool", &[S::Integer(1)]).target, PgTarget::Bool);
        assert_eq!(
            pick("f", "INTEGER", &[S::Integer(0), S::Integer(1)]).target,
            PgTarget::Int8
        );
        assert_eq!(
            pick("f", "BOOLEAN", &[S::Integer(0), S::Integer(2)]).target,
            PgTarget::Int8
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
        // An INTEGER stays an integer by default (the application reads numbers) ...
        let c = pick("updated_at", "INTEGER", &[S::Integer(1_700_000_000_000)]);
        assert_eq!((c.target, c.epoch), (PgTarget::Int8, None));
        // ... and becomes a timestamp only when asked.
        let c = infer("updated_at", "INTEGER", &[S::Integer(1_700_000_000_000)]);
        assert_eq!(c.epoch, Some(EpochUnit::Milliseconds));
        // Small numbers in an _at column are not times.
        assert_eq!(
            infer("seen_at", "INTEGER", &[S::Integer(5)]).target,
            PgTarget::Int8
        );
    }

    #[test]
    fn reals_and_decimals() {
        assert_eq!(
            pick("x", "REAL", &[S::Real(1.5), S::Integer(2)]).target,
            PgTarget::Float8
        );
        let c = pick(
            "x",
            "DECIMAL(10,2)",
            &[S::Real(19.99), S::Integer(20), S::Real(-0.5)],
        );
        assert_eq!(c.sql_type(), "numeric(10,2)");
        assert_eq!(c.scale(), Some(2));
        // A value that does not fit: plain numeric, and the reason says so.
        let c = pick("x", "DECIMAL(4,2)", &[S::Real(123.5)]);
        assert_eq!(c.sql_type(), "numeric");
        assert!(c.reason.contains("3 digits before"), "{}", c.reason);
        let c = pick("x", "DECIMAL(10,2)", &[S::Real(0.1 + 0.2)]);
        assert_eq!(c.sql_type(), "numeric");
        // Django's DecimalField declares plain `decimal`; integers in it stay numeric.
        assert_eq!(pick("x", "decimal", &[S::Integer(5)]).sql_type(), "numeric");
        assert_eq!(
            pick("x", "decimal", &[S::Integer(5), S::Text(b"n/a")]).target,
            PgTarget::Text
        );
    }

    #[test]
    fn varchar_keeps_its_length_when_values_fit() {
        let c = pick("e", "varchar(5)", &[S::Text("héllo".as_bytes())]);
        assert_eq!(c.sql_type(), "character varying(5)");
        let c = pick("e", "VARCHAR(3)", &[S::Text(b"ab"), S::Text(b"abcd")]);
        assert_eq!(c.sql_type(), "text");
        assert!(c.reason.contains("'abcd' has 4 characters"), "{}", c.reason);
        // CHAR(n) too, without character(n)'s space padding.
        assert_eq!(
            pick("c", "CHAR(2)", &[S::Text(b"de")]).sql_type(),
            "character varying(2)"
        );
    }

    /// Issue 17: text holding JSON, UUIDs or timestamps stays text by default (the driver returns
    /// what it returned from SQLite); `types := ['infer']` converts it.
    #[test]
    fn undeclared_text_is_text_by_default() {
        let u = b"550e8400-e29b-41d4-a716-446655440000";
        for (values, infer_to) in [
            (vec![S::Text(u)], PgTarget::Uuid),
            (vec![S::Text(b"2026-01-01")], PgTarget::Date),
            (vec![S::Text(b"2026-01-01 10:00:00")], PgTarget::Timestamp),
            (
                vec![S::Text(b"2026-01-01T10:00:00Z")],
                PgTarget::TimestampTz,
            ),
            (
                vec![
                    S::Text(b"2026-01-01T10:00:00Z"),
                    S::Text(b"2026-01-01 10:00:00"),
                ],
                PgTarget::TimestampTz,
            ),
            (
                vec![S::Text(br#"{"a": 1}"#), S::Text(b"[1]")],
                PgTarget::Jsonb,
            ),
            (vec![S::Text(br#"{"a": "\u0000"}"#)], PgTarget::Json),
            (vec![S::Text(b"1")], PgTarget::Text),
        ] {
            let c = pick("t", "TEXT", &values);
            assert_eq!(c.target, PgTarget::Text, "{values:?}");
            assert_eq!(infer("t", "TEXT", &values).target, infer_to, "{values:?}");
        }
        assert!(pick("t", "TEXT", &[S::Text(u)])
            .reason
            .contains("types := ['infer']"));
        // varchar(n) holding JSON stays varchar(n).
        assert_eq!(
            pick("j", "varchar(20)", &[S::Text(b"[1, 2]")]).sql_type(),
            "character varying(20)"
        );
    }

    #[test]
    fn declared_json_and_json_valid_checks_become_jsonb() {
        assert_eq!(
            pick(
                "j",
                "JSON",
                &[S::Text(b"{}"), S::Text(b"3"), S::Text(b"\"s\"")]
            )
            .target,
            PgTarget::Jsonb
        );
        assert_eq!(
            pick("j", "JSON", &[S::Text(b"{nope")]).target,
            PgTarget::Text
        );
        let mut st = ColumnStats::for_declared("text", true);
        st.observe(S::Text(br#"{"tier": 1}"#));
        st.observe(S::Text(b"null"));
        let c = choose_type("profile", "text", &st, false, TypeRule::Declared, true);
        assert_eq!(c.target, PgTarget::Jsonb, "{}", c.reason);
        assert!(c.reason.contains("json_valid"));
        // Empty: by declaration, the same answer.
        let st = ColumnStats::for_declared("text", true);
        assert_eq!(
            choose_type("profile", "text", &st, false, TypeRule::Declared, true).target,
            PgTarget::Jsonb
        );
    }

    #[test]
    fn uuids_declared_or_char32() {
        let hex32 = b"550e8400e29b41d4a716446655440000";
        assert_eq!(
            pick("u", "char(32)", &[S::Text(hex32)]).target,
            PgTarget::Uuid
        );
        assert_eq!(pick("u", "char(32)", &[S::Null]).target, PgTarget::Uuid);
        // An md5-like value that is not hex keeps the column varchar(32).
        assert_eq!(
            pick(
                "u",
                "char(32)",
                &[S::Text(b"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz")]
            )
            .sql_type(),
            "character varying(32)"
        );
        assert_eq!(
            pick(
                "u",
                "UUID",
                &[S::Text(b"550e8400-e29b-41d4-a716-446655440000")]
            )
            .target,
            PgTarget::Uuid
        );
        assert_eq!(
            pick("u", "UUID", &[S::Blob(&[0u8; 16])]).target,
            PgTarget::Uuid
        );
        assert_eq!(
            pick("u", "char(32)", &[S::Blob(&[0u8; 16])]).target,
            PgTarget::Uuid
        );
        assert_eq!(
            pick("u", "BLOB", &[S::Blob(&[0u8; 16])]).target,
            PgTarget::Bytea
        );
    }

    /// Issue 17: one rule for DATETIME whether the table is empty or not: timestamptz, text
    /// without a zone read as UTC.
    #[test]
    fn datetime_rule_does_not_change_with_emptiness() {
        let naive = pick("t", "datetime", &[S::Text(b"2026-11-26 10:31:49.272304")]);
        let zoned = pick("t", "DATETIME", &[S::Text(b"2026-11-26T10:31:49+02:00")]);
        let empty = pick("t", "datetime", &[S::Null]);
        for c in [&naive, &zoned, &empty] {
            assert_eq!(c.target, PgTarget::TimestampTz, "{}", c.reason);
        }
        assert!(naive.reason.contains("read as UTC"));
        assert_eq!(
            pick("d", "DATE", &[S::Text(b"2026-01-01")]).target,
            PgTarget::Date
        );
        assert_eq!(
            pick("d", "DATE", &[S::Text(b"2026-01-01 10:00:00")]).target,
            PgTarget::TimestampTz
        );
        assert_eq!(
            pick("t", "TIMESTAMPTZ", &[S::Text(b"2026-01-01 10:00:00")]).target,
            PgTarget::TimestampTz
        );
        // Not every value a date-time: text, naming the one that is not.
        let c = pick(
            "t",
            "DATETIME",
            &[S::Text(b"2026-01-01 10:00:00"), S::Text(b"not yet")],
        );
        assert_eq!(c.target, PgTarget::Text);
        assert!(c.reason.contains("'not yet'"), "{}", c.reason);
    }

    #[test]
    fn one_bad_timestamp_keeps_text_and_says_which() {
        let c = infer(
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
    }

    #[test]
    fn empty_columns_follow_the_declared_type() {
        for (decl, t) in [
            ("INTEGER", "bigint"),
            ("SMALLINT", "smallint"),
            ("VARCHAR(20)", "character varying(20)"),
            ("TEXT", "text"),
            ("BLOB", "bytea"),
            ("", "bytea"),
            ("DOUBLE", "double precision"),
            ("BOOLEAN", "boolean"),
            ("DATETIME", "timestamp with time zone"),
            ("DATE", "date"),
            ("UUID", "uuid"),
            ("char(32)", "uuid"),
            ("JSON", "jsonb"),
            ("DECIMAL(10,2)", "numeric(10,2)"),
            ("decimal", "numeric"),
        ] {
            assert_eq!(pick("c", decl, &[S::Null]).sql_type(), t, "{decl}");
        }
    }

    #[test]
    fn name_only_rule_ignores_values() {
        let c = pick_with(TypeRule::NameOnly, "t", "TEXT", &[S::Text(b"{}")]);
        assert_eq!(c.target, PgTarget::Text);
        assert!(c.reason.starts_with("infer_types := false"));
    }
}
