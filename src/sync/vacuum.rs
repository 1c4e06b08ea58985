//! When a kept DuckDB target is vacuumed, for both methods of `pg_sync`.
//!
//! Each update or delete leaves the target's old row stored until DuckDB vacuums it, and only a
//! full checkpoint vacuums. Inside `pg_sync` a full one runs only if the call's reads did not
//! commit ([`Reads`]); a call runs one when its target stores more than [`VACUUM_AT`] rows per
//! row it holds.

use super::session::Session;
use super::statements::Statement;
use super::target::Target;
use crate::error::Result;
use crate::trace::trace;
use std::time::Instant;

/// The transaction a call's DuckDB reads run in, from its first (resolving the target) to the
/// point where it may checkpoint (a CDC call: step 4; the watermark method: before it writes).
/// DuckDB's `CHECKPOINT` is a full one, which vacuums the rows deleted since the last, only when
/// nothing committed after the oldest open transaction began (DuckDB 1.5.5's
/// `DuckTransactionManager::Checkpoint`). The `pg_sync` query's own transaction is open for the
/// whole call, and even a read commits: with the reads committed one by one, every checkpoint was
/// a concurrent one, which keeps every deleted row, and a kept target grew by the rows each call
/// deleted or updated (5.0 million rows stored for 2 million after 30 calls of 100,000 changes),
/// every scan of it with them. So the reads are rolled back where the target should be vacuumed
/// ([`stores_too_many`]), committed where not (a full checkpoint would vacuum what it can, at
/// every call).
pub struct Reads {
    open: bool,
}

impl Reads {
    pub fn begin<S: Session>(session: &mut S) -> Result<Reads> {
        session.run(&Statement::Begin)?;
        Ok(Reads { open: true })
    }

    /// Roll it back (once; again does nothing).
    pub fn end<S: Session>(&mut self, session: &mut S) -> Result<()> {
        if std::mem::take(&mut self.open) {
            session.run(&Statement::Rollback)?;
        }
        Ok(())
    }

    /// Commit it, so that the checkpoint that follows is a concurrent one, which vacuums nothing.
    /// A best-effort read that failed (`commit_would_checkpoint`, `stored_rows`) left it aborted,
    /// which DuckDB will not commit: it is rolled back then.
    pub fn commit<S: Session>(&mut self, session: &mut S) -> Result<()> {
        if std::mem::take(&mut self.open) && session.run(&Statement::Commit).is_err() {
            let _ = session.run(&Statement::Rollback);
        }
        Ok(())
    }
}

/// A DuckDB target is vacuumed once it stores more than this many rows per row it holds (the
/// deleted ones not vacuumed yet). DuckDB's vacuum rewrites the row groups it merges (2.0-2.4 s for
/// a target of 2 million rows), so it waits until that halves what the target stores: the rewrite
/// then costs a constant amount per changed row, as a growing array's doubling does. (At a fifth,
/// PostgreSQL's `autovacuum_vacuum_scale_factor`, the benchmark's table was rewritten every fourth
/// call.)
pub const VACUUM_AT: f64 = 2.0;

/// Whether a table storing `stored` rows (the deleted ones not vacuumed yet among them) for
/// `live` it holds is due a vacuum.
pub fn stores_too_many(stored: i64, live: i64) -> bool {
    stored as f64 > VACUUM_AT * live.max(1) as f64
}

/// A watermark target storing fewer rows than this (two of DuckDB's row groups of 122,880) is not
/// counted: its count would cost a scan per table of a many-tables call, for a vacuum that saves
/// little.
pub const COUNTED_FROM: i64 = 2 * 122_880;

/// Whether a watermark target is due a vacuum: its rows counted (the watermark method's
/// `rows_total` is the rows it upserted in all, not the rows the target holds). Best effort: false
/// where it cannot be told (no such table yet) and for a DuckLake table (DuckLake has no vacuum
/// by checkpoint).
pub fn counted_too_many<S: Session>(session: &mut S, target: &Target) -> bool {
    if target.ducklake {
        return false;
    }
    let table = target.table();
    match session.stored_rows(&table) {
        Ok(Some(stored)) if stored >= COUNTED_FROM => session
            .count_rows(&table)
            .is_ok_and(|live| stores_too_many(stored, live)),
        _ => false,
    }
}

/// End a call's reads, then checkpoint `catalog` when `vacuum` or `due`: after a rollback when
/// `vacuum` (nothing committed since the `pg_sync` query began: a full checkpoint, which
/// vacuums), else after a commit (a concurrent one, which keeps the deleted rows). Best effort: a
/// failed checkpoint fails nothing (the call goes on as before, the next one tries again); the
/// trace says how it went.
pub fn settle<S: Session>(
    session: &mut S,
    reads: &mut Reads,
    catalog: &str,
    vacuum: bool,
    due: bool,
    started: Instant,
) -> Result<()> {
    match vacuum {
        true => reads.end(session)?,
        false => reads.commit(session)?,
    }
    if vacuum || due {
        let done = session.run(&Statement::Checkpoint(catalog.to_string()));
        trace(
            started,
            &format!("checkpointed the WAL: {} (vacuum: {vacuum})", done.is_ok()),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_is_due_once_it_stores_more_than_twice_its_rows() {
        assert!(!stores_too_many(200, 100));
        assert!(stores_too_many(201, 100));
        // An emptied table that still stores rows is due; one storing none is not.
        assert!(stores_too_many(3, 0));
        assert!(!stores_too_many(0, 0));
    }
}
