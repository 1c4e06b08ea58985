//! `pg_sync(dsn, tables := [...], target := 'catalog.schema')`: many tables in one call, read in ONE
//! PostgreSQL snapshot and written in ONE DuckDB transaction with every table's checkpoint. This
//! module owns the decisions (which tables a pattern names, which cursor a table gets, which tables
//! cannot be synced, which targets lost their source) and runs the engine's per-table steps
//! ([`Sync`]) inside that one transaction. The PostgreSQL side ([`TablesSource`]) is
//! `src/postgres/tables.rs`, driven by `src/duck/sync_tables.rs`.
//!
//! Steps:
//! 1. take the snapshot and list the source's tables (ordinary and partitioned, no partitions);
//! 2. match the patterns, describe the matched tables, decide each one's mode ([`decide`]);
//! 3. in a short transaction of its own, make what is missing for every table (the target schema,
//!    the checkpoint tables; see `engine::Sync::prepare`), tried again when a racing call's commit
//!    beat it;
//! 4. in ONE transaction: for each table, check its checkpoint, then bootstrap, increment or
//!    replace it and write its checkpoint; commit. Anything failing here rolls everything back.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::cdc::{run_call, CdcCall, CdcItem, CdcRequest, ChangeSource, Snapshots};
use super::checkpoint::Checkpoint;
use super::engine::{
    commit_conflict, is_ducklake, refuse_unclaimed, Outcome, Request, Sync, PREPARE_ATTEMPTS,
};
use super::session::Session;
use super::source::{Read, Rows, Source, SourceView};
use super::statements::{Statement, COMMIT_RETRIES};
use super::target::{
    parse_target, state_table_name, TableRef, Target, BACKFILL_TABLE, KEYS_TABLE, STAGE_TABLE,
    STATE_SCHEMA,
};
use super::vacuum::{self, Reads};
use super::CursorKind;
use crate::error::{Error, Result};
use crate::postgres::catalog::QualifiedName;
use crate::sql::quote_ident;
use crate::trace::trace;
use crate::types::batch::Batch;
use crate::types::DuckType;

/// Column names taken as a table's cursor when `cursor` is not given, in order of preference.
pub const CURSOR_NAMES: [&str; 8] = [
    "updated_at",
    "modified_at",
    "last_modified",
    "last_modified_at",
    "last_updated",
    "updated_on",
    "modified_on",
    "changed_at",
];

/// Connections a call's reads use at most unless told otherwise (`max_connections`).
pub const DEFAULT_MAX_CONNECTIONS: usize = 4;

/// One piece of a name pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    /// `*` outside double quotes: any run of characters.
    Star,
}

/// A name pattern part: text and `*`s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob(Vec<Piece>);

impl Glob {
    pub fn matches(&self, name: &str) -> bool {
        fn go(pieces: &[Piece], name: &str) -> bool {
            match pieces.split_first() {
                None => name.is_empty(),
                Some((Piece::Text(t), rest)) => {
                    name.strip_prefix(t.as_str()).is_some_and(|r| go(rest, r))
                }
                Some((Piece::Star, rest)) => name
                    .char_indices()
                    .map(|(i, _)| i)
                    .chain([name.len()])
                    .any(|i| go(rest, &name[i..])),
            }
        }
        go(&self.0, name)
    }
}

/// `schema.table` as the user wrote it, with `*` globs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    pub text: String,
    pub schema: Glob,
    pub table: Glob,
}

impl Pattern {
    pub fn matches(&self, schema: &str, table: &str) -> bool {
        self.schema.matches(schema) && self.table.matches(table)
    }
}

/// Parse a pattern the way PostgreSQL reads names: unquoted text folded to lower case, `"..."`
/// kept exactly (`""` is a quote), `*` outside quotes any run of characters, `.` between schema and
/// table. Without a schema, `public`.
pub fn parse_pattern(input: &str) -> Result<Pattern> {
    let bad = |why: &str| {
        Error::argument(format!(
            "table pattern {input:?} is not valid ({why}); write schema.table, with * for any characters and double quotes around exact names, e.g. 'shop.*' or '\"Shop\".\"Odd Name\"'"
        ))
    };
    let mut parts: Vec<Vec<Piece>> = vec![Vec::new()];
    let push_char = |part: &mut Vec<Piece>, c: char| match part.last_mut() {
        Some(Piece::Text(t)) => t.push(c),
        _ => part.push(Piece::Text(c.to_string())),
    };
    let mut chars = input.trim().chars().peekable();
    let mut empty_part = true;
    while let Some(c) = chars.next() {
        let part = parts.last_mut().expect("one part at least");
        match c {
            '"' => {
                let mut closed = false;
                let mut any = false;
                while let Some(q) = chars.next() {
                    if q == '"' {
                        if chars.peek() == Some(&'"') {
                            chars.next();
                            push_char(part, '"');
                            any = true;
                        } else {
                            closed = true;
                            break;
                        }
                    } else {
                        push_char(part, q);
                        any = true;
                    }
                }
                if !closed {
                    return Err(bad("unterminated double quote"));
                }
                if !any {
                    return Err(bad("empty quoted name"));
                }
                empty_part = false;
            }
            '.' => {
                if empty_part {
                    return Err(bad("empty name part"));
                }
                parts.push(Vec::new());
                empty_part = true;
            }
            '*' => {
                if part.last() != Some(&Piece::Star) {
                    part.push(Piece::Star);
                }
                empty_part = false;
            }
            c => {
                for l in c.to_lowercase() {
                    push_char(part, l);
                }
                empty_part = false;
            }
        }
    }
    if empty_part {
        return Err(bad("empty name part"));
    }
    let mut parts = parts.into_iter().map(Glob);
    match (parts.next(), parts.next(), parts.next()) {
        (Some(table), None, None) => Ok(Pattern {
            text: input.to_string(),
            schema: Glob(vec![Piece::Text("public".into())]),
            table,
        }),
        (Some(schema), Some(table), None) => Ok(Pattern {
            text: input.to_string(),
            schema,
            table,
        }),
        _ => Err(bad("more than two parts")),
    }
}

/// A table of the source as listed in the snapshot (ordinary or partitioned, not a partition).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub schema: String,
    pub name: String,
    /// This role may SELECT from it.
    pub readable: bool,
}

impl Listed {
    /// `schema.name`, as checkpoints record a source.
    pub fn name(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }

    pub fn quoted(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }
}

/// A column, as the cursor rule sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceColumn {
    pub name: String,
    /// None: not a type a cursor can have.
    pub cursor: Option<CursorKind>,
    /// The first column of some index of the table.
    pub indexed: bool,
}

/// A matched table, described.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    pub listed: Listed,
    pub columns: Vec<SourceColumn>,
    pub primary_key: Vec<String>,
}

/// How one table is synced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Incrementally, by this cursor column.
    Cursor(String),
    /// No cursor: every row read again, replacing the target's.
    Full,
    /// It cannot be synced; why.
    Refused(String),
}

/// The tables the patterns name, less the excluded ones, in (schema, name) order. A pattern that
/// names no table is an error (a typo would otherwise sync nothing, silently).
pub fn select(patterns: &[Pattern], exclude: &[Pattern], listed: &[Listed]) -> Result<Vec<Listed>> {
    for p in patterns {
        if !listed.iter().any(|t| p.matches(&t.schema, &t.name)) {
            return Err(Error::argument(format!(
                "table pattern {:?} matches no table of the source (only ordinary and partitioned tables count; views, materialized views, foreign tables and partitions do not); check its spelling and quoting (unquoted names are folded to lower case)",
                p.text
            )));
        }
    }
    let mut out: Vec<Listed> = listed
        .iter()
        .filter(|t| patterns.iter().any(|p| p.matches(&t.schema, &t.name)))
        .filter(|t| !exclude.iter().any(|p| p.matches(&t.schema, &t.name)))
        .cloned()
        .collect();
    out.sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
    out.dedup();
    if out.is_empty() {
        return Err(Error::argument(
            "every table the patterns match is excluded; nothing to sync",
        ));
    }
    // Every table lands in the one target schema under its own name: two may not collide
    // (DuckDB matches names case-insensitively).
    for (i, a) in out.iter().enumerate() {
        if let Some(b) = out[i + 1..]
            .iter()
            .find(|b| b.name.eq_ignore_ascii_case(&a.name))
        {
            return Err(Error::argument(format!(
                "tables {} and {} would both be written to target table {}; sync them in separate calls (with different targets) or exclude one",
                a.quoted(),
                b.quoted(),
                quote_ident(&a.name)
            )));
        }
    }
    Ok(out)
}

/// Why a table this role may not read is refused (the watermark and the CDC form).
const UNREADABLE: &str =
    "permission denied: this role may not SELECT from it (GRANT SELECT, or exclude it)";

/// The rule for one table:
/// - not readable by this role: refused;
/// - `cursor` given: that column if the table has it (it must be a cursor type), else `full`;
/// - else what the table's checkpoint recorded (`kept`: `""` for `full`) while the table still
///   has that column, so a column added later (an `updated_at` on a `full` table) changes nothing;
/// - else the first of [`CURSOR_NAMES`] that is a `timestamptz` or `timestamp` column, one that
///   leads an index preferred; none: `full`;
/// - a cursor but no primary key: refused (rows cannot be matched to upsert).
pub fn decide(table: &Described, cursor: Option<&str>, kept: Option<&str>) -> Decision {
    if !table.listed.readable {
        return Decision::Refused(UNREADABLE.into());
    }
    let chosen = match cursor {
        Some(name) => match table.columns.iter().find(|c| c.name == name) {
            None => None,
            Some(c) if c.cursor.is_none() => {
                return Decision::Refused(format!(
                    "cursor column {} is not a timestamp, timestamptz, date or integer column",
                    quote_ident(name)
                ))
            }
            Some(c) => Some(c.name.clone()),
        },
        None if kept == Some("") => None,
        None if kept.is_some_and(|k| {
            table
                .columns
                .iter()
                .any(|c| c.name == k && c.cursor.is_some())
        }) =>
        {
            kept.map(str::to_string)
        }
        None => {
            let named = |c: &&SourceColumn| {
                CURSOR_NAMES.contains(&c.name.as_str())
                    && matches!(
                        c.cursor,
                        Some(CursorKind::TimestampTz | CursorKind::Timestamp)
                    )
            };
            let rank =
                |c: &&SourceColumn| (!c.indexed, CURSOR_NAMES.iter().position(|n| *n == c.name));
            table
                .columns
                .iter()
                .filter(named)
                .min_by_key(rank)
                .map(|c| c.name.clone())
        }
    };
    match chosen {
        None => Decision::Full,
        Some(_) if table.primary_key.is_empty() => Decision::Refused(
            "it has a cursor column but no primary key, so changed rows cannot be matched; add a primary key, or exclude it (a table without a cursor column is re-read whole and needs none)".into(),
        ),
        Some(c) => Decision::Cursor(c),
    }
}

/// Is a checkpoint's source (`schema.name`, unquoted) named by the patterns? The dot that splits
/// it is not known when names hold dots: any split will do.
pub fn source_named(source: &str, patterns: &[Pattern], exclude: &[Pattern]) -> bool {
    source.match_indices('.').any(|(i, _)| {
        let (schema, table) = (&source[..i], &source[i + 1..]);
        patterns.iter().any(|p| p.matches(schema, table))
            && !exclude.iter().any(|p| p.matches(schema, table))
    })
}

/// The target table whose checkpoint table is `state_name` in `schema` ([`state_table_name`]
/// backwards), if it is one of that schema's.
pub fn state_table_target(schema: &str, state_name: &str) -> Option<String> {
    let prefix = state_table_name(schema, "");
    let rest = state_name
        .get(..prefix.len())
        .filter(|p| p.eq_ignore_ascii_case(&prefix))
        .map(|_| &state_name[prefix.len()..])?;
    if rest.is_empty() || rest.contains('.') {
        return None;
    }
    Some(rest.replace("%2E", ".").replace("%25", "%"))
}

/// What the caller asked for.
#[derive(Debug, Clone)]
pub struct TablesRequest {
    pub tables: Vec<Pattern>,
    pub exclude: Vec<Pattern>,
    /// `catalog.schema` or `schema` (None: the current schema).
    pub target: Option<String>,
    /// The cursor column for every table that has it (None: the rule of [`decide`]).
    pub cursor: Option<String>,
    pub skip_errors: bool,
    pub hard_deletes: bool,
    pub enforce_key: bool,
    pub parquet_dir: Option<String>,
    pub blind_window: Duration,
    /// `method := 'cdc'`: every table through one logical replication slot (see `sync::cdc`).
    pub cdc: Option<CdcRequest>,
}

/// One result row.
#[derive(Debug, Clone, PartialEq)]
pub struct TableOutcome {
    pub outcome: Outcome,
    /// Why the table was skipped.
    pub error: Option<String>,
}

/// The source of a many-table call: one snapshot, every table read in it.
pub trait TablesSource {
    type Table: Source;
    /// Take the snapshot; list the tables in it.
    fn list(&mut self, blind_window: Duration) -> Result<Vec<Listed>>;
    /// Describe these tables (in the snapshot).
    fn describe(&mut self, tables: &[Listed]) -> Result<Vec<Described>>;
    /// A source for one described table, read in the snapshot with this cursor ("" for `full`).
    fn table(&mut self, table: &Described, cursor: &str) -> Result<Self::Table>;
    /// The server, as checkpoints record it.
    fn server(&self) -> String;
    /// End the snapshot.
    fn finish(&mut self) -> Result<()>;
}

/// One table of the call, planned.
struct Planned<T> {
    request: Request,
    target: Target,
    source: T,
    view: SourceView,
}

/// Run a many-table sync.
pub fn run_tables<S: Session, M: TablesSource, C: ChangeSource>(
    req: &TablesRequest,
    session: &mut S,
    source: &mut M,
    changes: &mut C,
) -> Result<Vec<TableOutcome>> {
    let started = Instant::now();
    let result = run_inner(req, session, source, changes);
    trace(started, "call done");
    if result.is_err() {
        // The reads' transaction, if it was left open (see `vacuum::Reads`); none: an error DuckDB
        // gives and nothing needs.
        let _ = session.run(&Statement::Rollback);
    }
    for t in [STAGE_TABLE, KEYS_TABLE, BACKFILL_TABLE] {
        let _ = session.run(&Statement::DropTable(TableRef::temp(t)));
    }
    let finished = source.finish();
    trace(started, "work tables dropped, snapshot ended");
    let out = result?;
    finished?;
    Ok(out)
}

fn run_inner<S: Session, M: TablesSource, C: ChangeSource>(
    req: &TablesRequest,
    session: &mut S,
    source: &mut M,
    changes: &mut C,
) -> Result<Vec<TableOutcome>> {
    let started = Instant::now();
    let run_micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64);
    // The call's DuckDB reads, up to its checkpoint (CDC) or its writes (the watermark method), in
    // one transaction (see `vacuum::Reads`); `run_tables` rolls it back if this returns early.
    let mut reads = Reads::begin(session)?;
    let (catalog, schema, ducklake) = resolve_schema(session, req.target.as_deref())?;
    let listed = source.list(req.blind_window)?;
    let selected = select(&req.tables, &req.exclude, &listed)?;
    let described = source.describe(&selected)?;
    trace(started, "tables listed and described");
    if let Some(cdc) = &req.cdc {
        return run_cdc(
            req,
            cdc,
            session,
            source,
            changes,
            (&catalog, &schema, ducklake),
            (&listed, &described),
            reads,
        );
    }

    let mut rows: Vec<TableOutcome> = Vec::new();
    let mut planned: Vec<Planned<M::Table>> = Vec::new();
    // The checkpoint tables already there (their cursors are kept, see `decide`).
    let made: Vec<String> = match req.cursor {
        Some(_) => Vec::new(),
        None => session.tables(&catalog, STATE_SCHEMA)?,
    };
    for d in &described {
        let target = Target {
            catalog: catalog.clone(),
            schema: schema.clone(),
            name: d.listed.name.clone(),
            ducklake,
        };
        let state = target.state_table().name;
        let kept = match made.iter().any(|n| n.eq_ignore_ascii_case(&state)) {
            true => session.read_checkpoint(&target)?.map(|c| c.cursor),
            false => None,
        };
        let cursor = match decide(d, req.cursor.as_deref(), kept.as_deref()) {
            Decision::Refused(why) => {
                if !req.skip_errors {
                    return Err(refused(&d.listed.quoted(), &why));
                }
                rows.push(skipped(d.listed.name(), &target, why));
                continue;
            }
            Decision::Full => String::new(),
            Decision::Cursor(c) => c,
        };
        let mut table_source = source.table(d, &cursor)?;
        let request = Request {
            source: QualifiedName {
                schema: Some(d.listed.schema.clone()),
                name: d.listed.name.clone(),
            },
            target: None,
            primary_key: None,
            cursor,
            hard_deletes: req.hard_deletes,
            enforce_key: req.enforce_key,
            parquet_dir: req.parquet_dir.clone(),
            blind_window: req.blind_window,
        };
        let view = table_source.snapshot(&request.source, &request.cursor, req.blind_window)?;
        planned.push(Planned {
            request,
            target,
            source: table_source,
            view,
        });
    }

    // A target that holds rows but has no checkpoint is refused before anything is made for it.
    let mut checked = Vec::with_capacity(planned.len());
    for p in planned {
        match refuse_unclaimed(session, &p.target) {
            Ok(()) => checked.push(p),
            Err(e) if req.skip_errors => {
                rows.push(skipped(p.view.name.clone(), &p.target, e.to_string()))
            }
            Err(e) => return Err(in_table(&p.view.quoted, e)),
        }
    }
    let mut planned = checked;
    // A target due a vacuum gets it now, before anything is written (see `vacuum::Reads`).
    let bloated = planned
        .iter()
        .any(|p| vacuum::counted_too_many(session, &p.target));
    vacuum::settle(session, &mut reads, &catalog, bloated, false, started)?;

    if ducklake {
        session.run(&Statement::CommitRetries(COMMIT_RETRIES))?;
    }
    // 1. What is missing, made in a short transaction of its own (see `engine::Sync::prepare`):
    // looked up once for all tables.
    let missing = missing_objects(session, &planned, &catalog, &schema)?;
    if !missing.is_empty() {
        let mut attempt = 1;
        loop {
            let result = session
                .run(&Statement::Begin)
                .and_then(|_| prepare(session, &mut planned, &missing, run_micros))
                .and_then(|_| session.run(&Statement::Commit).map(|_| ()));
            match result {
                Ok(()) => break,
                Err(e) => {
                    let _ = session.run(&Statement::Rollback);
                    let e = commit_conflict(e, &schema_target(&catalog, &schema, ducklake));
                    if attempt >= PREPARE_ATTEMPTS || !matches!(e, Error::SyncConflict { .. }) {
                        return Err(e);
                    }
                    attempt += 1;
                }
            }
        }
    }

    trace(started, "prepared");
    // 2. Every table and its checkpoint, in ONE transaction.
    session.run(&Statement::Begin)?;
    match apply_all(session, &mut planned, req, run_micros) {
        Ok(mut applied) => {
            let server = source.server();
            let dropped = dropped_sources(
                session,
                req,
                (&catalog, &schema, ducklake),
                &server,
                &listed,
            );
            let dropped = match dropped {
                Ok(d) => d,
                Err(e) => {
                    let _ = session.run(&Statement::Rollback);
                    return Err(e);
                }
            };
            session
                .run(&Statement::Commit)
                .map_err(|e| commit_conflict(e, &schema_target(&catalog, &schema, ducklake)))?;
            rows.append(&mut applied);
            // In table order, skipped ones among the rest; targets whose source is gone last.
            rows.sort_by(|a, b| a.outcome.source.cmp(&b.outcome.source));
            rows.extend(dropped);
            trace(started, "tables committed");
            Ok(rows)
        }
        Err(e) => {
            let _ = session.run(&Statement::Rollback);
            Err(e)
        }
    }
}

/// `method := 'cdc'`: the tables through one slot (`sync::cdc::run_call`), copied from a
/// snapshot taken again after the slot exists; then the targets whose source is gone.
#[allow(clippy::too_many_arguments)]
fn run_cdc<S: Session, M: TablesSource, C: ChangeSource>(
    req: &TablesRequest,
    cdc: &CdcRequest,
    session: &mut S,
    source: &mut M,
    changes: &mut C,
    (catalog, schema, ducklake): (&str, &str, bool),
    (listed, described): (&[Listed], &[Described]),
    reads: Reads,
) -> Result<Vec<TableOutcome>> {
    let mut rows = Vec::new();
    let mut items = Vec::new();
    for d in described {
        let target = Target {
            catalog: catalog.to_string(),
            schema: schema.to_string(),
            name: d.listed.name.clone(),
            ducklake,
        };
        if !d.listed.readable {
            let why = UNREADABLE;
            if !req.skip_errors {
                return Err(refused(&d.listed.quoted(), why));
            }
            rows.push(skipped(d.listed.name(), &target, why.to_string()));
            continue;
        }
        items.push(CdcItem {
            source: QualifiedName {
                schema: Some(d.listed.schema.clone()),
                name: d.listed.name.clone(),
            },
            target,
            key: None,
        });
    }
    let patterns = req
        .tables
        .iter()
        .map(|p| p.text.as_str())
        .chain(std::iter::once("--exclude"))
        .chain(req.exclude.iter().map(|p| p.text.as_str()))
        .collect::<Vec<_>>()
        .join("\n");
    let call = CdcCall {
        items,
        publication: cdc.publication.clone(),
        slot_key: (quote_ident(schema), patterns),
        many: true,
        skip_errors: req.skip_errors,
    };
    let mut snaps = Relist {
        source,
        blind_window: req.blind_window,
        tables: Vec::new(),
    };
    rows.extend(run_call(&call, session, &mut snaps, changes, reads)?);
    rows.sort_by(|a, b| a.outcome.source.cmp(&b.outcome.source));
    let server = snaps.source.server();
    rows.extend(dropped_sources(
        session,
        req,
        (catalog, schema, ducklake),
        &server,
        listed,
    )?);
    Ok(rows)
}

/// [`Snapshots`] of a many-table call: the call's first snapshot (taken to list the tables) is
/// ended, and a new one taken after the slot exists; each table read whole in it.
struct Relist<'a, M: TablesSource> {
    source: &'a mut M,
    blind_window: Duration,
    tables: Vec<M::Table>,
}

impl<M: TablesSource> Snapshots for Relist<'_, M> {
    fn take(&mut self, names: &[QualifiedName]) -> Result<()> {
        self.source.finish()?;
        let listed = self.source.list(self.blind_window)?;
        let mut wanted = Vec::with_capacity(names.len());
        for n in names {
            let found = listed
                .iter()
                .find(|l| Some(&l.schema) == n.schema.as_ref() && l.name == n.name)
                .ok_or_else(|| {
                    Error::argument(format!(
                        "table {} was dropped during the sync; run it again",
                        n.quoted()
                    ))
                })?;
            wanted.push(found.clone());
        }
        let described = self.source.describe(&wanted)?;
        self.tables = described
            .iter()
            .map(|d| self.source.table(d, ""))
            .collect::<Result<_>>()?;
        Ok(())
    }

    fn read<T: Send + 'static>(
        &mut self,
        i: usize,
        make: fn(Batch, &[DuckType]) -> Result<T>,
    ) -> Result<Rows<T>> {
        self.tables
            .get_mut(i)
            .ok_or_else(|| Error::internal("a table read outside the snapshot"))?
            .read(&Read::default(), make)
    }

    fn finish(&mut self) -> Result<()> {
        // The caller (`run_tables`) ends the source's snapshot.
        Ok(())
    }
}

/// Which planned tables need [`prepare`]: all when the target schema or an earlier release's
/// shared checkpoint table is there to move rows from, else those without a checkpoint table.
fn missing_objects<S: Session, T>(
    session: &mut S,
    planned: &[Planned<T>],
    catalog: &str,
    schema: &str,
) -> Result<Vec<usize>> {
    let all = (0..planned.len()).collect();
    let Some(first) = planned.first() else {
        return Ok(Vec::new());
    };
    if !session.schema_exists(catalog, schema)?
        || !session
            .columns(&first.target.legacy_state_table())?
            .is_empty()
    {
        return Ok(all);
    }
    let made: Vec<String> = session
        .tables(catalog, STATE_SCHEMA)?
        .iter()
        .map(|n| n.to_lowercase())
        .collect();
    Ok((0..planned.len())
        .filter(|&i| !made.contains(&planned[i].target.state_table().name.to_lowercase()))
        .collect())
}

/// In the preparing transaction: make what is missing for these tables.
fn prepare<S: Session, T: Source>(
    session: &mut S,
    planned: &mut [Planned<T>],
    missing: &[usize],
    run_micros: i64,
) -> Result<()> {
    for &i in missing {
        let p = &mut planned[i];
        Sync {
            req: &p.request,
            session: &mut *session,
            source: &mut p.source,
            target: &p.target,
            view: &p.view,
            started: Instant::now(),
            run_micros,
        }
        .prepare_objects()?;
    }
    Ok(())
}

/// In the call's one transaction: each table that was not refused, synced.
fn apply_all<S: Session, T: Source>(
    session: &mut S,
    planned: &mut [Planned<T>],
    req: &TablesRequest,
    run_micros: i64,
) -> Result<Vec<TableOutcome>> {
    let mut rows = Vec::new();
    for p in planned.iter_mut() {
        let mut sync = Sync {
            req: &p.request,
            session: &mut *session,
            source: &mut p.source,
            target: &p.target,
            view: &p.view,
            started: Instant::now(),
            run_micros,
        };
        // Refusals (a target kept in step with another source, ...) come before any write of
        // this table: skipping one leaves the transaction as it was.
        let checked = match sync.checked_state() {
            Ok(c) => c,
            Err(e) if req.skip_errors => {
                rows.push(skipped(p.view.name.clone(), &p.target, e.to_string()));
                continue;
            }
            Err(e) => return Err(in_table(&p.view.quoted, e)),
        };
        let key = sync.key()?;
        let mut outcome = sync
            .apply_checked(key, checked)
            .map_err(|e| in_table(&p.view.quoted, e))?;
        if outcome.mode == "incremental" && outcome.rows_upserted == 0 && outcome.rows_deleted == 0
        {
            outcome.mode = "unchanged";
        }
        rows.push(TableOutcome {
            outcome,
            error: None,
        });
    }
    Ok(rows)
}

/// Targets of this schema whose checkpoint names a source the patterns cover, from this server,
/// that the source no longer has: a row each, the target kept.
fn dropped_sources<S: Session>(
    session: &mut S,
    req: &TablesRequest,
    (catalog, schema, ducklake): (&str, &str, bool),
    server: &str,
    listed: &[Listed],
) -> Result<Vec<TableOutcome>> {
    let mut out = Vec::new();
    let mut names = session.tables(catalog, STATE_SCHEMA)?;
    names.sort();
    for state_name in names {
        let Some(name) = state_table_target(schema, &state_name) else {
            continue;
        };
        let target = Target {
            catalog: catalog.to_string(),
            schema: schema.to_string(),
            name,
            ducklake,
        };
        let Some(c): Option<Checkpoint> = session.read_checkpoint(&target)? else {
            continue;
        };
        if c.server != server || !source_named(&c.source, &req.tables, &req.exclude) {
            continue;
        }
        if session.columns(&target.table())?.is_empty() {
            continue;
        }
        if listed.iter().any(|t| t.name() == c.source) {
            continue;
        }
        out.push(TableOutcome {
            outcome: Outcome {
                source: c.source.clone(),
                target: target.display(),
                mode: "source dropped",
                rows_upserted: 0,
                rows_deleted: 0,
                columns_added: Vec::new(),
                watermark_before: c.watermark.clone(),
                watermark_after: c.watermark.clone(),
                watermark_bound: String::new(),
                duration: Duration::ZERO,
            },
            error: Some(format!(
                "the source table {} is gone; the target {} and its checkpoint are kept (drop them when no longer wanted)",
                c.source,
                target.quoted()
            )),
        });
    }
    Ok(out)
}

/// Resolve `target` (`catalog.schema`, `schema`, or None) to an attached DuckDB or DuckLake
/// catalog and a schema in it.
fn resolve_schema<S: Session>(
    session: &mut S,
    target: Option<&str>,
) -> Result<(String, String, bool)> {
    let (cur_cat, cur_schema) = session.current()?;
    let (catalog, schema) = match target {
        None => (cur_cat, cur_schema),
        Some(text) => {
            let name = parse_target(text)?;
            match name.parts.as_slice() {
                [schema] => (cur_cat, schema.clone()),
                [catalog, schema] => (catalog.clone(), schema.clone()),
                _ => {
                    return Err(Error::argument(format!(
                        "target {text:?}: with tables := [...], the target is a schema: write 'catalog.schema' or 'schema'"
                    )))
                }
            }
        }
    };
    let ducklake = is_ducklake(
        session,
        &catalog,
        target.unwrap_or(&catalog),
        "or write target := 'catalog.schema'",
    )?;
    if schema.eq_ignore_ascii_case(STATE_SCHEMA) {
        return Err(Error::argument(format!(
            "target schema {} is where pg_sync keeps its checkpoints; choose another schema",
            quote_ident(STATE_SCHEMA)
        )));
    }
    Ok((catalog, schema, ducklake))
}

/// The whole schema, for a conflict message.
fn schema_target(catalog: &str, schema: &str, ducklake: bool) -> Target {
    Target {
        catalog: catalog.to_string(),
        schema: schema.to_string(),
        name: "*".into(),
        ducklake,
    }
}

fn refused(table: &str, why: &str) -> Error {
    Error::argument(format!(
        "table {table} cannot be synced: {why}; nothing was written (on_error := 'skip' syncs the other tables and reports this one)"
    ))
}

pub(super) fn in_table(table: &str, e: Error) -> Error {
    match e {
        Error::Argument(m) => Error::Argument(format!("table {table}: {m}")),
        other => other,
    }
}

pub(super) fn skipped(source: String, target: &Target, why: String) -> TableOutcome {
    TableOutcome {
        outcome: Outcome {
            source,
            target: target.display(),
            mode: "skipped",
            rows_upserted: 0,
            rows_deleted: 0,
            columns_added: Vec::new(),
            watermark_before: None,
            watermark_after: None,
            watermark_bound: String::new(),
            duration: Duration::ZERO,
        },
        error: Some(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(schema: &str, name: &str) -> Listed {
        Listed {
            schema: schema.into(),
            name: name.into(),
            readable: true,
        }
    }

    fn pats(p: &[&str]) -> Vec<Pattern> {
        p.iter().map(|p| parse_pattern(p).unwrap()).collect()
    }

    fn col(name: &str, cursor: Option<CursorKind>, indexed: bool) -> SourceColumn {
        SourceColumn {
            name: name.into(),
            cursor,
            indexed,
        }
    }

    fn described(columns: Vec<SourceColumn>, key: &[&str]) -> Described {
        Described {
            listed: listed("shop", "t"),
            columns,
            primary_key: key.iter().map(|k| k.to_string()).collect(),
        }
    }

    #[test]
    fn patterns_follow_postgres_quoting() {
        let p = parse_pattern("Shop.Orders").unwrap();
        assert!(p.matches("shop", "orders"));
        assert!(!p.matches("Shop", "Orders"));
        let p = parse_pattern(r#""Shop"."Odd ""Name""""#).unwrap();
        assert!(p.matches("Shop", r#"Odd "Name""#));
        assert!(!p.matches("shop", r#"odd "name""#));
        // Without a schema: public.
        assert!(parse_pattern("orders").unwrap().matches("public", "orders"));
        assert!(!parse_pattern("orders").unwrap().matches("shop", "orders"));
        // A dot inside quotes is part of the name.
        assert!(parse_pattern(r#"shop."a.b""#)
            .unwrap()
            .matches("shop", "a.b"));
        for bad in ["", "a.", ".a", "a.b.c", r#"a."b"#, r#"a."""#] {
            let e = parse_pattern(bad).unwrap_err().to_string();
            assert!(e.contains("is not valid"), "{bad}: {e}");
        }
    }

    #[test]
    fn globs() {
        let p = parse_pattern("shop.*").unwrap();
        assert!(p.matches("shop", "orders") && p.matches("shop", "Odd Name"));
        assert!(!p.matches("billing", "orders"));
        let p = parse_pattern("*.tmp_*").unwrap();
        assert!(p.matches("a", "tmp_") && p.matches("b", "tmp_x") && !p.matches("b", "xtmp_"));
        let p = parse_pattern("s.a*b*c").unwrap();
        assert!(p.matches("s", "abc") && p.matches("s", "aXbYbZc") && !p.matches("s", "acb"));
        // `*` inside quotes is a character; quoted text and a glob join.
        let p = parse_pattern(r#"s."A*""#).unwrap();
        assert!(p.matches("s", "A*") && !p.matches("s", "AB"));
        let p = parse_pattern(r#"s."Odd "*"#).unwrap();
        assert!(p.matches("s", "Odd Name") && !p.matches("s", "odd name"));
        // Multi-byte names.
        assert!(parse_pattern("s.ü*").unwrap().matches("s", "übung"));
    }

    #[test]
    fn select_matches_excludes_and_refuses() {
        let all = vec![
            listed("shop", "orders"),
            listed("shop", "tmp_x"),
            listed("billing", "invoices"),
            listed("billing", "orders"),
        ];
        let got = select(
            &pats(&["shop.*", "billing.invoices"]),
            &pats(&["shop.tmp_*"]),
            &all,
        )
        .unwrap();
        assert_eq!(
            got,
            vec![listed("billing", "invoices"), listed("shop", "orders")]
        );
        let e = select(&pats(&["shop.nope*"]), &[], &all)
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"shop.nope*\" matches no table"), "{e}");
        let e = select(&pats(&["*.orders"]), &[], &all)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("would both be written to target table \"orders\""),
            "{e}"
        );
        let e = select(&pats(&["shop.tmp_x"]), &pats(&["shop.*"]), &all)
            .unwrap_err()
            .to_string();
        assert!(e.contains("excluded"), "{e}");
        // A table two patterns name is synced once.
        let got = select(&pats(&["shop.orders", "shop.ord*"]), &[], &all).unwrap();
        assert_eq!(got, vec![listed("shop", "orders")]);
    }

    #[test]
    fn cursor_rule() {
        use CursorKind::*;
        // The first name of the list, an indexed one preferred.
        let t = described(
            vec![
                col("id", Some(Integer), true),
                col("modified_at", Some(TimestampTz), false),
                col("updated_at", Some(Timestamp), false),
            ],
            &["id"],
        );
        assert_eq!(
            decide(&t, None, None),
            Decision::Cursor("updated_at".into())
        );
        let t = described(
            vec![
                col("updated_at", Some(TimestampTz), false),
                col("modified_at", Some(TimestampTz), true),
            ],
            &["id"],
        );
        assert_eq!(
            decide(&t, None, None),
            Decision::Cursor("modified_at".into())
        );
        // Not a timestamp, or not a listed name: no cursor, a full re-read (no key needed).
        let t = described(
            vec![
                col("updated_at", None, true),
                col("created_at", Some(TimestampTz), true),
                col("version", Some(Integer), true),
                col("updated_on", Some(Date), true),
            ],
            &[],
        );
        assert_eq!(decide(&t, None, None), Decision::Full);
        // A cursor given: that column where the table has it, else full.
        assert_eq!(decide(&t, Some("version"), None), Decision::Refused(
            "it has a cursor column but no primary key, so changed rows cannot be matched; add a primary key, or exclude it (a table without a cursor column is re-read whole and needs none)".into()));
        let mut keyed = t.clone();
        keyed.primary_key = vec!["version".into()];
        assert_eq!(
            decide(&keyed, Some("version"), None),
            Decision::Cursor("version".into())
        );
        assert_eq!(decide(&keyed, Some("seq"), None), Decision::Full);
        assert!(
            matches!(decide(&keyed, Some("updated_at"), None), Decision::Refused(m) if m.contains("is not a timestamp"))
        );
        // What the checkpoint recorded is kept while the table has that column.
        let t = described(
            vec![
                col("id", Some(Integer), true),
                col("updated_at", Some(TimestampTz), true),
            ],
            &["id"],
        );
        assert_eq!(decide(&t, None, Some("")), Decision::Full);
        assert_eq!(decide(&t, None, Some("id")), Decision::Cursor("id".into()));
        assert_eq!(
            decide(&t, None, Some("gone")),
            Decision::Cursor("updated_at".into())
        );
        assert_eq!(
            decide(&t, Some("id"), Some("")),
            Decision::Cursor("id".into())
        );
        // A cursor and no key: refused; unreadable: refused.
        let t = described(vec![col("updated_at", Some(TimestampTz), false)], &[]);
        assert!(
            matches!(decide(&t, None, None), Decision::Refused(m) if m.contains("no primary key"))
        );
        let mut t = described(vec![col("updated_at", Some(TimestampTz), false)], &["id"]);
        t.listed.readable = false;
        assert!(
            matches!(decide(&t, None, None), Decision::Refused(m) if m.contains("permission denied"))
        );
    }

    #[test]
    fn dropped_sources_are_found_by_pattern_and_checkpoint_table() {
        let p = pats(&["shop.*"]);
        let x = pats(&["shop.tmp_*"]);
        assert!(source_named("shop.orders", &p, &x));
        assert!(source_named("shop.a.b", &p, &x));
        assert!(!source_named("shop.tmp_1", &p, &x));
        assert!(!source_named("billing.orders", &p, &x));
        assert_eq!(
            state_table_target("raw", "raw.orders"),
            Some("orders".into())
        );
        assert_eq!(
            state_table_target("Raw", "raw.a%2Eb%25"),
            Some("a.b%".into())
        );
        assert_eq!(state_table_target("raw", "rawx.orders"), None);
        assert_eq!(state_table_target("raw", "raw."), None);
        assert_eq!(state_table_target("a.b", "a%2Eb.t"), Some("t".into()));
        assert_eq!(state_table_target("a", "a%2Eb.t"), None);
    }
}
