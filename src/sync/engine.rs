//! `pg_sync`'s engine: every decision of a sync, in order, over a [`Session`] (the DuckDB database
//! written to) and a [`Source`] (the PostgreSQL table read, in one snapshot).
//!
//! 1. Resolve the target; take the source's snapshot and the watermark's safe bound.
//! 2. If the target's schema or checkpoint table is missing, or an earlier release's shared
//!    checkpoint table is there, prepare in a short DuckDB transaction of its own: create them, move
//!    the target's checkpoint out of the shared table (see [`checkpoint`](super::checkpoint)). Two
//!    first syncs racing here conflict at commit in a DuckLake; the loser tries again (a few
//!    times), and then finds everything made. Later syncs find everything and skip this.
//! 3. In ONE DuckDB transaction: read the checkpoint, refuse what would lose data (a target with
//!    rows but no checkpoint, another source, another cursor), then either
//!    - bootstrap: create the target from the source's columns and insert every row, or
//!    - increment: insert the rows changed since the watermark into a staging table, add new
//!      columns (and fill them for existing rows), upsert by key, delete rows gone from the source;
//! 4. compute the new watermark, write the checkpoint, commit. In a DuckLake a commit that another
//!    transaction beat to the same table (another sync of this target) fails whole: the error says
//!    so in lakemig's words ([`Error::SyncConflict`]); syncs of other targets never collide.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::checkpoint::Checkpoint;
use super::session::Session;
use super::source::{Read, Rows, Source, SourceView};
use super::statements::{
    cursor_type_of, diff_columns, parquet_path, Statement, Watermark, COMMIT_RETRIES,
};
use super::target::{
    parse_target, resolve_target, TableRef, Target, BACKFILL_TABLE, KEYS_TABLE, STAGE_TABLE,
    STATE_SCHEMA,
};
use super::vacuum::{self, Reads};
use crate::error::{Error, Result};
use crate::postgres::catalog::QualifiedName;
use crate::sql::quote_ident;
use crate::trace::trace;

/// What the caller asked for.
#[derive(Debug, Clone)]
pub struct Request {
    pub source: QualifiedName,
    /// The target as written (None: the source table's name in the current schema).
    pub target: Option<String>,
    /// The columns that identify a row (None: the source's primary key).
    pub primary_key: Option<Vec<String>>,
    pub cursor: String,
    pub hard_deletes: bool,
    /// Declare the key as the target's PRIMARY KEY at bootstrap (DuckDB tables only).
    pub enforce_key: bool,
    pub parquet_dir: Option<String>,
    /// How old a transaction hidden from this role may be (see `postgres::sync`).
    pub blind_window: Duration,
}

/// What a sync did: the one result row.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub source: String,
    pub target: String,
    pub mode: &'static str,
    pub rows_upserted: i64,
    pub rows_deleted: i64,
    pub columns_added: Vec<String>,
    pub watermark_before: Option<String>,
    pub watermark_after: Option<String>,
    pub watermark_bound: String,
    pub duration: Duration,
}

/// A table's columns, `(name, DuckDB type)` in order.
type Columns = Vec<(String, String)>;

/// How many times the short preparing transaction is tried when a racing sync's commit beat it.
pub const PREPARE_ATTEMPTS: usize = 5;

/// Run one sync.
pub fn run<S: Session, P: Source>(
    req: &Request,
    session: &mut S,
    source: &mut P,
) -> Result<Outcome> {
    let started = Instant::now();
    let run_micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64);
    // Its DuckDB reads, up to the writes, in one transaction: rolled back before a full checkpoint
    // when the target is due a vacuum (see `vacuum::Reads`), else committed.
    let mut reads = Reads::begin(session)?;
    let target = resolve(session, req).inspect_err(|_| {
        let _ = reads.end(session);
    })?;
    let bloated = vacuum::counted_too_many(session, &target);
    vacuum::settle(
        session,
        &mut reads,
        &target.catalog,
        bloated,
        false,
        started,
    )?;
    trace(started, "target resolved");
    let view = source.snapshot(&req.source, &req.cursor, req.blind_window)?;
    trace(started, "snapshot taken");
    let mut sync = Sync {
        req,
        session,
        source,
        target: &target,
        view: &view,
        started,
        run_micros,
    };
    let result = sync.key().and_then(|key| {
        if target.ducklake {
            sync.session
                .run(&Statement::CommitRetries(COMMIT_RETRIES))?;
        }
        // Usually everything is there: one transaction, as before. Else make it first (see
        // `Sync::prepare`), then begin again.
        sync.session.run(&Statement::Begin)?;
        match sync.prepared() {
            Ok(true) => {}
            Ok(false) => {
                sync.session.run(&Statement::Rollback)?;
                sync.prepare()?;
                trace(started, "prepared");
                sync.session.run(&Statement::Begin)?;
            }
            Err(e) => {
                let _ = sync.session.run(&Statement::Rollback);
                return Err(e);
            }
        }
        match sync.apply(key) {
            Ok(mut out) => {
                trace(started, "applied");
                sync.session
                    .run(&Statement::Commit)
                    .map_err(|e| commit_conflict(e, &target))?;
                trace(started, "committed");
                out.duration = started.elapsed();
                Ok(out)
            }
            Err(e) => {
                let _ = sync.session.run(&Statement::Rollback);
                Err(e)
            }
        }
    });
    for t in [STAGE_TABLE, KEYS_TABLE, BACKFILL_TABLE] {
        let _ = sync.session.run(&Statement::DropTable(TableRef::temp(t)));
    }
    let _ = sync.source.finish();
    result
}

/// A DuckLake commit refused because another transaction changed the same table (or created the
/// same table or schema) after this one began becomes [`Error::SyncConflict`]; anything else is
/// kept. DuckLake's own words start with "Transaction conflict" (`ConflictCheck` and
/// `CheckForConflicts` in ducklake's `src/storage/ducklake_transaction_state.cpp`, the commit of
/// DuckDB 1.5.5's ducklake extension).
pub fn commit_conflict(e: Error, target: &Target) -> Error {
    match &e {
        Error::Server { message, .. } if message.contains("Transaction conflict") => {
            Error::SyncConflict {
                target: target.display(),
            }
        }
        _ => e,
    }
}

/// Whether the attached database `catalog`, where `target` (as written) lands, is a DuckLake (else
/// a DuckDB database); none of that name, or another kind, is an error (`hint`: what else to write).
pub(crate) fn is_ducklake<S: Session>(
    session: &mut S,
    catalog: &str,
    target: &str,
    hint: &str,
) -> Result<bool> {
    let kind = session.catalog_type(catalog)?.ok_or_else(|| {
        Error::argument(format!(
            "target {target:?}: no attached database named {}; ATTACH it first {hint}",
            quote_ident(catalog)
        ))
    })?;
    match kind.as_str() {
        "duckdb" => Ok(false),
        "ducklake" => Ok(true),
        other => Err(Error::argument(format!(
            "target {target:?} is in a {other} database; pg_sync writes to DuckDB and DuckLake databases"
        ))),
    }
}

/// Resolve the target name against the attached databases.
pub fn resolve<S: Session>(session: &mut S, req: &Request) -> Result<Target> {
    let text = req
        .target
        .clone()
        .unwrap_or_else(|| req.source.name.clone());
    resolve_text(session, &text)
}

/// Resolve a target name as written against the attached databases.
pub fn resolve_text<S: Session>(session: &mut S, text: &str) -> Result<Target> {
    let name = parse_target(text)?;
    let (cur_cat, cur_schema) = session.current()?;
    // Only `a.b` needs to know whether `a` is a schema here or an attached catalog.
    let (schema_here, catalog_there) = match name.parts.as_slice() {
        [first, _] => (
            session.schema_exists(&cur_cat, first)?,
            session.catalog_type(first)?.is_some(),
        ),
        _ => (false, false),
    };
    let (catalog, schema, table) = resolve_target(
        &name,
        &cur_cat,
        &cur_schema,
        |_| schema_here,
        |_| catalog_there,
    );
    let ducklake = is_ducklake(
        session,
        &catalog,
        text,
        "or name a table of the current database",
    )?;
    if schema.eq_ignore_ascii_case(STATE_SCHEMA) {
        return Err(Error::argument(format!(
            "target {text:?} is in schema {}, where pg_sync keeps its checkpoints; choose another schema",
            quote_ident(STATE_SCHEMA)
        )));
    }
    Ok(Target {
        catalog,
        schema,
        name: table,
        ducklake,
    })
}

/// The refusal of a target that holds rows but has no checkpoint: its rows would be mixed with
/// the source's.
pub(super) fn unclaimed_rows(target: &str, n: i64) -> Error {
    let rows = if n == 1 { "row" } else { "rows" };
    Error::argument(format!(
        "target {target} already exists and holds {n} {rows}, but has no pg_sync checkpoint; nothing was changed. \
         Drop it, or choose another target := '...'"
    ))
}

/// Before anything is made: does `target` hold rows without a checkpoint table (and without an
/// earlier release's shared one, which may hold its checkpoint)? [`Sync::checked_state`] checks
/// again in the sync's transaction.
pub(super) fn refuse_unclaimed<S: Session>(session: &mut S, target: &Target) -> Result<()> {
    if !session.columns(&target.state_table())?.is_empty()
        || !session.columns(&target.legacy_state_table())?.is_empty()
    {
        return Ok(());
    }
    refuse_held_rows(session, target)
}

/// `target`, known to have no checkpoint, holds rows: refused. Counted only when the table exists
/// (a failed count would also abort a CDC call's reads, see `vacuum::Reads`).
pub(super) fn refuse_held_rows<S: Session>(session: &mut S, target: &Target) -> Result<()> {
    if session.columns(&target.table())?.is_empty() {
        return Ok(());
    }
    match session.count_rows(&target.table())? {
        0 => Ok(()),
        n => Err(unclaimed_rows(&target.quoted(), n)),
    }
}

/// One sync under way (of one table; `sync::tables` runs several in one transaction).
pub(super) struct Sync<'a, S, P> {
    pub req: &'a Request,
    pub session: &'a mut S,
    pub source: &'a mut P,
    pub target: &'a Target,
    pub view: &'a SourceView,
    pub started: Instant,
    pub run_micros: i64,
}

impl<S: Session, P: Source> Sync<'_, S, P> {
    /// Make what the sync's transaction needs, in a short transaction of its own: the target's
    /// schema, its checkpoint table (in [`STATE_SCHEMA`]), its checkpoint moved out of an earlier
    /// release's shared table (dropped once empty). A sync that would be refused makes nothing: the
    /// checks of [`Sync::checked_state`] run here too, before the commit. Nothing is made twice:
    /// every CREATE is `IF NOT EXISTS`, and a commit that a racing sync beat is tried again (up to
    /// [`PREPARE_ATTEMPTS`] times), then seeing what the other one made.
    fn prepare(&mut self) -> Result<()> {
        let mut attempt = 1;
        loop {
            let result = self
                .session
                .run(&Statement::Begin)
                .and_then(|_| self.prepare_once())
                .and_then(|_| self.session.run(&Statement::Commit));
            match result {
                Ok(_) => return Ok(()),
                Err(e) => {
                    let _ = self.session.run(&Statement::Rollback);
                    let e = commit_conflict(e, self.target);
                    if attempt >= PREPARE_ATTEMPTS || !matches!(e, Error::SyncConflict { .. }) {
                        return Err(e);
                    }
                    attempt += 1;
                }
            }
        }
    }

    /// Is everything [`Sync::prepare`] makes already there? The target's schema and checkpoint
    /// table, and no earlier release's checkpoint table to move a row from.
    fn prepared(&mut self) -> Result<bool> {
        let target = self.target;
        Ok(!self.session.columns(&target.state_table())?.is_empty()
            && self
                .session
                .columns(&target.legacy_state_table())?
                .is_empty()
            && self
                .session
                .schema_exists(&target.catalog, &target.schema)?)
    }

    fn prepare_once(&mut self) -> Result<()> {
        self.prepare_objects()?;
        self.checked_state().map(|_| ())
    }

    /// What [`Sync::prepare`] makes, inside the caller's transaction, without the checks.
    pub(super) fn prepare_objects(&mut self) -> Result<()> {
        let target = self.target;
        for schema in [&target.schema, STATE_SCHEMA] {
            self.session.run(&Statement::CreateSchema {
                catalog: target.catalog.clone(),
                schema: schema.to_string(),
            })?;
        }
        self.session
            .run(&Statement::CreateCheckpointTable(target.clone()))?;
        let legacy = target.legacy_state_table();
        if !self.session.columns(&legacy)?.is_empty() {
            // A row the target's own table already has wins; the old one only goes.
            let copy = self.session.read_checkpoint(target)?.is_none();
            self.session.run(&Statement::MoveLegacyCheckpoint {
                target: target.clone(),
                copy,
            })?;
            if self.session.count_rows(&legacy)? == 0 {
                self.session.run(&Statement::DropTable(legacy))?;
            }
        }
        Ok(())
    }

    /// The target's checkpoint and columns, once what would lose data is refused: a target kept in
    /// step with another source or cursor, a target with rows but no checkpoint.
    pub(super) fn checked_state(&mut self) -> Result<(Option<Checkpoint>, Columns)> {
        let (req, target, view) = (self.req, self.target, self.view);
        let tq = target.quoted();
        let state = self.session.read_checkpoint(target)?;
        if let Some(s) = &state {
            if s.source != view.name {
                return Err(Error::argument(format!(
                    "target {tq} is kept in step with {} (its checkpoint says so), not {}; choose another target",
                    s.source, view.name
                )));
            }
            if s.cursor != req.cursor {
                return Err(Error::argument(format!(
                    "target {tq} was synced with cursor {}, not {}; pass cursor := '{}' (or drop the target and its checkpoint to start over)",
                    quote_ident(&s.cursor),
                    quote_ident(&req.cursor),
                    s.cursor
                )));
            }
        }
        let existing = self.session.columns(&target.table())?;
        if state.is_none() && !existing.is_empty() {
            let n = self.session.count_rows(&target.table())?;
            if n > 0 {
                return Err(unclaimed_rows(&tq, n));
            }
        }
        Ok((state, existing))
    }

    fn apply(&mut self, key: Vec<String>) -> Result<Outcome> {
        // Read again in this transaction: a sync of the same target may have committed since.
        let checked = self.checked_state()?;
        trace(self.started, "checkpoint read");
        self.apply_checked(key, checked)
    }

    /// [`Sync::apply`] once [`Sync::checked_state`] has passed in this transaction.
    pub(super) fn apply_checked(
        &mut self,
        key: Vec<String>,
        (state, existing): (Option<Checkpoint>, Columns),
    ) -> Result<Outcome> {
        let (req, target, view) = (self.req, self.target, self.view);
        let incremental = state.is_some() && !existing.is_empty();
        // No cursor (`sync::tables` chose `full`): every row read again, replacing the target's.
        let full = req.cursor.is_empty();
        let watermark_before = match (&state, incremental) {
            (Some(s), true) => s.watermark.clone(),
            _ => None,
        };
        let (changes, rows_from) = if full && !existing.is_empty() {
            (self.replace(&existing)?, target.table())
        } else if incremental {
            (
                self.increment(&key, &existing, watermark_before.clone())?,
                TableRef::temp(STAGE_TABLE),
            )
        } else {
            (self.bootstrap(&key, &existing)?, target.table())
        };

        // The new watermark: never backwards, never past the safe bound (see crate::sync).
        let watermark_after = if full {
            None
        } else {
            self.session.watermark(&Watermark {
                rows: rows_from,
                cursor: req.cursor.clone(),
                cursor_type: changes.cursor_type.clone(),
                floor: watermark_before.clone(),
                cap: view.bound.clone(),
            })?
        };
        trace(self.started, "watermark computed");
        let mode = if full {
            "full"
        } else if incremental {
            "incremental"
        } else {
            "bootstrap"
        };
        let (rows_total, runs) = match (&state, incremental) {
            (Some(s), true) => (s.rows_total + changes.upserted, s.runs + 1),
            (Some(s), false) => (changes.upserted, s.runs + 1),
            (None, _) => (changes.upserted, 1),
        };
        self.session.write_checkpoint(
            target,
            &Checkpoint {
                target: target.state_key(),
                source: view.name.clone(),
                server: view.server.clone(),
                cursor: req.cursor.clone(),
                watermark: watermark_after.clone(),
                watermark_type: changes.cursor_type,
                primary_key: key,
                rows_total,
                runs,
                last_mode: mode.into(),
                last_rows_upserted: changes.upserted,
                last_rows_deleted: changes.deleted,
                last_run: None,
                last_duration: self.started.elapsed().as_micros() as i64,
            },
        )?;
        Ok(Outcome {
            source: view.name.clone(),
            target: target.display(),
            mode,
            rows_upserted: changes.upserted,
            rows_deleted: changes.deleted,
            columns_added: changes.added,
            watermark_before,
            watermark_after,
            watermark_bound: view.bound_reason.clone(),
            duration: self.started.elapsed(),
        })
    }

    /// The columns that identify a row: as given, else the source's primary key (a `full` sync,
    /// without a cursor, needs none).
    pub(super) fn key(&self) -> Result<Vec<String>> {
        let view = self.view;
        let key = match &self.req.primary_key {
            Some(k) => k.clone(),
            None if !view.primary_key.is_empty() || self.req.cursor.is_empty() => {
                view.primary_key.clone()
            }
            None => {
                return Err(Error::argument(format!(
                    "table {} has no primary key; name the columns that identify a row with primary_key := ['id']",
                    view.quoted
                )))
            }
        };
        for k in &key {
            if !view.columns.contains(k) {
                return Err(Error::UnknownColumn {
                    table: view.quoted.clone(),
                    column: quote_ident(k),
                    columns: view.columns.join(", "),
                });
            }
        }
        Ok(key)
    }

    /// The whole table, read in parallel, straight into the target (a new table, or an empty one
    /// by column name through a staging table).
    fn bootstrap(&mut self, key: &[String], existing: &[(String, String)]) -> Result<Changes> {
        let (target, req) = (self.target, self.req);
        self.session
            .run(&Statement::PreserveInsertionOrder(false))?;
        // A new target is created from the source's columns; an existing empty one is filled by
        // column name from a staging table.
        let into = if existing.is_empty() {
            target.table()
        } else {
            TableRef::temp(STAGE_TABLE)
        };
        let copied = self.read_into(&Read::default(), into);
        let copied = copied.and_then(|n| {
            if !existing.is_empty() {
                self.session.run(&Statement::InsertByName {
                    into: target.table(),
                    from: TableRef::temp(STAGE_TABLE),
                })?;
            }
            Ok(n)
        });
        let reset = self.session.run(&Statement::PreserveInsertionOrder(true));
        let upserted = copied?;
        reset?;
        trace(self.started, "copied");
        let cursor_type = cursor_type_of(&self.session.columns(&target.table())?, &req.cursor)
            .unwrap_or_else(|| "VARCHAR".into());
        if req.enforce_key
            && !key.is_empty()
            && !target.ducklake
            && !self.session.has_primary_key(&target.table())?
        {
            self.session.run(&Statement::AddPrimaryKey {
                table: target.table(),
                key: key.to_vec(),
            })?;
        }
        if let Some(dir) = &req.parquet_dir {
            self.write_parquet(dir, "bootstrap", target.table())?;
        }
        Ok(Changes {
            upserted,
            deleted: 0,
            added: Vec::new(),
            cursor_type,
        })
    }

    /// Columns the staged rows have and the target lacks are added to the target (a column whose
    /// type changed is refused): the staged columns, and the names added.
    fn add_new_columns(
        &mut self,
        stage: &TableRef,
        existing: &[(String, String)],
    ) -> Result<(Columns, Vec<String>)> {
        let staged = self.session.columns(stage)?;
        let added = diff_columns(&self.target.quoted(), &staged, existing)?;
        for (name, ty) in &added {
            self.session.run(&Statement::AddColumn {
                table: self.target.table(),
                name: name.clone(),
                ty: ty.clone(),
            })?;
        }
        Ok((staged, added.into_iter().map(|(n, _)| n).collect()))
    }

    /// A `full` sync of an existing target: read every row into the staging table, add new
    /// columns, then replace the target's rows with them (in the sync's transaction).
    fn replace(&mut self, existing: &[(String, String)]) -> Result<Changes> {
        let target = self.target;
        let stage = TableRef::temp(STAGE_TABLE);
        let upserted = self.read_into(&Read::default(), stage.clone())?;
        let (_, added) = self.add_new_columns(&stage, existing)?;
        let before = self.session.run(&Statement::DeleteAll(target.table()))? as i64;
        self.session.run(&Statement::InsertByName {
            into: target.table(),
            from: stage.clone(),
        })?;
        if let Some(dir) = &self.req.parquet_dir {
            self.write_parquet(dir, "full", stage)?;
        }
        Ok(Changes {
            upserted,
            // The rows the target lost: its count before, less the count now.
            deleted: (before - upserted).max(0),
            added,
            cursor_type: "VARCHAR".into(),
        })
    }

    /// Stage what changed since the watermark, add new columns, upsert, delete.
    fn increment(
        &mut self,
        key: &[String],
        existing: &[(String, String)],
        since: Option<String>,
    ) -> Result<Changes> {
        let (target, req) = (self.target, self.req);
        let tq = target.quoted();
        let cursor_type = cursor_type_of(existing, &req.cursor).ok_or_else(|| {
            Error::argument(format!(
                "the target {tq} has no cursor column {}; it cannot be synced incrementally (drop it to bootstrap again)",
                quote_ident(&req.cursor)
            ))
        })?;
        let stage = TableRef::temp(STAGE_TABLE);
        let staged_rows = self.read_into(
            &Read {
                columns: None,
                since,
            },
            stage.clone(),
        )?;
        trace(self.started, "changed rows staged");
        let (staged, added) = self.add_new_columns(&stage, existing)?;
        if !added.is_empty() {
            // Existing rows get the added columns' values too (an added column with a default
            // does not touch the cursor), read by key in the same snapshot.
            let columns = [key, &added].concat();
            self.read_into(
                &Read {
                    columns: Some(columns),
                    since: None,
                },
                TableRef::temp(BACKFILL_TABLE),
            )?;
            self.session.run(&Statement::Backfill {
                target: target.clone(),
                key: key.to_vec(),
                columns: added.clone(),
            })?;
        }
        if staged_rows > 0 {
            let with_pk = !target.ducklake && self.session.has_primary_key(&target.table())?;
            let names = |cols: &[(String, String)]| cols.iter().map(|(n, _)| n.clone()).collect();
            // The target's columns now: what it had, then what was just added.
            let target_columns = [names(existing), added.clone()].concat();
            self.session.run(&Statement::Upsert {
                target: target.clone(),
                has_primary_key: with_pk,
                key: key.to_vec(),
                target_columns,
                staged_columns: names(&staged),
            })?;
            if let Some(dir) = &req.parquet_dir {
                self.write_parquet(dir, "incremental", stage)?;
            }
        }
        trace(self.started, "upserted");
        let mut deleted = 0;
        if req.hard_deletes {
            self.read_into(
                &Read {
                    columns: Some(key.to_vec()),
                    since: None,
                },
                TableRef::temp(KEYS_TABLE),
            )?;
            deleted = self.session.run(&Statement::DeleteMissing {
                target: target.clone(),
                key: key.to_vec(),
            })? as i64;
        }
        Ok(Changes {
            upserted: staged_rows,
            deleted,
            added,
            cursor_type,
        })
    }

    /// Start a read, create `table` with its columns (a temporary table is replaced) and insert
    /// every row into it.
    fn read_into(&mut self, read: &Read, table: TableRef) -> Result<i64> {
        let rows: Rows<S::Chunk> = self.source.read(read, S::to_chunk)?;
        self.session.run(&Statement::CreateTable {
            table: table.clone(),
            columns: rows.columns.clone(),
        })?;
        let n = self.session.insert(&table, rows)?;
        Ok(n as i64)
    }

    fn write_parquet(&mut self, dir: &str, mode: &str, from: TableRef) -> Result<()> {
        let path = parquet_path(dir, self.target, self.run_micros, mode);
        if let Some(parent) = std::path::Path::new(&path).parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::Io {
                path: parent.display().to_string(),
                reason: format!("cannot create the parquet_dir folder: {e}"),
            })?;
        }
        self.session.run(&Statement::CopyToParquet { from, path })?;
        Ok(())
    }
}

/// What the bootstrap or increment changed.
struct Changes {
    upserted: i64,
    deleted: i64,
    added: Vec<String>,
    /// The cursor column's DuckDB type in the target.
    cursor_type: String,
}
