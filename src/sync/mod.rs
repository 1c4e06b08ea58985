//! `pg_sync`'s engine, in plain Rust: every decision of a sync ([`engine`]), the statements it runs
//! ([`statements`]), the checkpoint's storage in one place ([`checkpoint`]), where the target lives
//! ([`target`]), driven through two small traits: the DuckDB [`session::Session`] it writes to
//! (implemented in `src/duck/`) and the PostgreSQL [`source::Source`] it reads (a snapshot taken by
//! `src/postgres/sync.rs`). Unit tests drive it with in-memory ones (`tests.rs`).
//!
//! ## The watermark (why no late-committing row is lost)
//! A row's cursor (`updated_at`) is usually set by `now()`, the *start* time of the writing
//! transaction. A transaction that started before a sync's snapshot but commits after it is
//! invisible to that sync, yet its rows carry a cursor older than what the sync saw. So the
//! watermark a sync records is not simply the largest cursor it read but
//! `least(max(cursor read), start of the oldest transaction still open, the time the sync began)`,
//! and the next sync re-reads from there. Rows re-read twice are upserted by key, so the overlap is
//! harmless (idempotent).

pub mod cdc;
pub mod checkpoint;
pub mod engine;
pub mod session;
pub mod slot_state;
pub mod source;
pub mod statements;
pub mod tables;
pub mod target;
#[cfg(test)]
mod tests;
pub mod vacuum;

pub use engine::{run, Outcome, Request};
pub use target::{Target, STATE_SCHEMA};

use crate::types::postgres::{self as pgtypes, PgColumnType};

/// What kind of value the cursor column holds; decides how the safe bound is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CursorKind {
    TimestampTz,
    /// `timestamp without time zone`: writers' `now()` is taken in the server's default TimeZone.
    Timestamp,
    /// `date`: the last day is always re-read (a later change on the same day has the same value).
    Date,
    /// Integer ids or versions: no time bound exists; the watermark is the largest value read.
    Integer,
}

impl CursorKind {
    pub fn of(t: &PgColumnType) -> Option<CursorKind> {
        match t.oid {
            pgtypes::TIMESTAMPTZ => Some(CursorKind::TimestampTz),
            pgtypes::TIMESTAMP => Some(CursorKind::Timestamp),
            pgtypes::DATE => Some(CursorKind::Date),
            pgtypes::INT2 | pgtypes::INT4 | pgtypes::INT8 | pgtypes::NUMERIC | pgtypes::OID => {
                Some(CursorKind::Integer)
            }
            _ => None,
        }
    }

    /// PostgreSQL expression turning `$1` (a timestamptz: the oldest open transaction's start, or
    /// the sync's own start) into a bound in the cursor's own type, as text. `$2` is the server's
    /// default TimeZone. None: no time bound applies.
    pub fn bound_sql(self) -> Option<&'static str> {
        match self {
            CursorKind::TimestampTz => Some(
                "SELECT ($1::text::timestamptz - interval '1 microsecond')::text, $2::text",
            ),
            CursorKind::Timestamp => Some(
                "SELECT (($1::text::timestamptz AT TIME ZONE $2::text) - interval '1 microsecond')::text",
            ),
            CursorKind::Date => {
                Some("SELECT (($1::text::timestamptz AT TIME ZONE $2::text)::date - 1)::text")
            }
            CursorKind::Integer => None,
        }
    }
}

#[cfg(test)]
mod cursor_tests {
    use super::*;

    #[test]
    fn cursor_kinds() {
        let ty = |oid| PgColumnType {
            oid,
            typmod: -1,
            name: "t".into(),
            typtype: 'b',
            elem_oid: None,
            elem_typtype: None,
            ndims: 0,
        };
        assert_eq!(
            CursorKind::of(&ty(pgtypes::TIMESTAMPTZ)),
            Some(CursorKind::TimestampTz)
        );
        assert_eq!(
            CursorKind::of(&ty(pgtypes::INT8)),
            Some(CursorKind::Integer)
        );
        assert_eq!(CursorKind::of(&ty(pgtypes::TEXT)), None);
        assert!(CursorKind::Integer.bound_sql().is_none());
        assert!(CursorKind::Date.bound_sql().unwrap().contains("- 1"));
    }
}
