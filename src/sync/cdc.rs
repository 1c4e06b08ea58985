//! `pg_sync(..., method := 'cdc')`: a target kept in step through a logical replication slot, and
//! every decision of it, in plain Rust. The PostgreSQL side (prerequisites, publication, slot, the
//! streamed peek, the advance) is `src/postgres/replication.rs`, reached through [`ChangeSource`];
//! pgoutput's bytes are decoded by `src/postgres/pgoutput.rs`.
//!
//! - First call: the publication (lakemig's own, `lakemig_<hash>`, or the user's) and a `pgoutput`
//!   slot are made, THEN a snapshot is read into the target. Changes committed between the slot's
//!   creation and the snapshot are both in the snapshot and in the slot: replaying them onto the
//!   snapshot converges, because every change is applied by key (an insert or update replaces the
//!   key's row, a delete removes it, a TRUNCATE empties the table and later changes follow). The
//!   checkpoint records the slot's LSN at that point.
//! - Later calls: the slot's pending changes are streamed ([`Stager`] turns pgoutput messages into
//!   rows of a staging table, in bounded batches), then applied per segment ([`apply_sql`]: for each
//!   key, its last change wins; unchanged TOASTed values come from the key's earlier change or the
//!   target's row), in ONE DuckDB transaction with the checkpoint's new LSN. Only after the commit is
//!   the slot advanced. Transactions whose commit LSN is at or below the checkpoint's are skipped, so
//!   a crash between the commit and the advance applies nothing twice; a crash before the commit
//!   loses nothing (the slot still holds every change).
//!
//! The checkpoint row is the watermark method's (see [`super::checkpoint`]), read differently:
//! `cursor_column` holds `cdc:slot=<slot>;publication=<publication>`, `watermark` the last applied
//! commit LSN, `watermark_type` `pg_lsn`.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::checkpoint::Checkpoint;
use super::engine::{
    commit_conflict, refuse_held_rows, resolve, Outcome, Request, PREPARE_ATTEMPTS,
};
use super::session::{Held, Session};
use super::source::{Read, Rows, Source};
use super::statements::{key_join, Statement, COMMIT_RETRIES};
use super::tables::{in_table, skipped, TableOutcome};
use super::target::{TableRef, Target, STATE_SCHEMA};
use super::vacuum::{self, Reads};
use crate::error::{Error, Result};
use crate::postgres::catalog::QualifiedName;
use crate::postgres::copy_out::CopyDecoder;
use crate::postgres::pgoutput::{Datum, Lsn, Message, Relation, Tuple};
use crate::sql::quote_ident;
use crate::trace::trace;
use crate::types::batch::{Batch, Column, ColumnData};
use crate::types::postgres::Decode;
use crate::types::DuckType;

/// The staging table of one part of the stream, and the final rows of one segment.
pub const STAGE_TABLE: &str = "__lakemig_cdc_stage";
pub const FINAL_TABLE: &str = "__lakemig_cdc_final";
/// What `watermark_type` says in a CDC checkpoint.
pub const LSN_TYPE: &str = "pg_lsn";
const CURSOR_PREFIX: &str = "cdc:slot=";
const PUBLICATION_SEP: &str = ";publication=";

/// A table column as a CDC stream stages it.
#[derive(Debug, Clone, PartialEq)]
pub struct StageColumn {
    pub name: String,
    pub duck: DuckType,
    pub decode: Decode,
}

/// A table a CDC call asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct CdcWanted {
    pub name: QualifiedName,
    /// `primary_key := [...]` (None: the table's primary key).
    pub key: Option<Vec<String>>,
    /// The source its target's checkpoint keeps it in step with (`schema.table`), if any: a table
    /// that resolves to another is refused after `prepare`, so `prepare` leaves it out of the
    /// publication (a refused call changes nothing on the server).
    pub kept_as: Option<String>,
}

/// A table as the source has it for a CDC stream.
#[derive(Debug, Clone, PartialEq)]
pub struct CdcTable {
    pub table_oid: u32,
    pub schema: String,
    pub name: String,
    pub columns: Vec<StageColumn>,
    /// The columns that identify a row.
    pub key: Vec<String>,
}

impl CdcTable {
    fn qualified(&self) -> QualifiedName {
        QualifiedName {
            schema: Some(self.schema.clone()),
            name: self.name.clone(),
        }
    }

    /// `schema.table`, as a checkpoint records its source.
    pub fn source_name(&self) -> String {
        self.qualified().plain()
    }

    /// `"schema"."table"`.
    pub fn quoted(&self) -> String {
        self.qualified().quoted()
    }
}

/// The source as the first steps of a CDC call find it (made by [`ChangeSource::prepare`]).
#[derive(Debug, Clone)]
pub struct CdcSetup {
    pub slot: String,
    pub publication: String,
    /// The slot was made by this call (no earlier call's changes are in it).
    pub slot_created: bool,
    /// The slot's confirmed position: where a bootstrap's replay starts.
    pub slot_lsn: Lsn,
    /// Each wanted table, in order: kept, or (with `skip_errors`) why it cannot be.
    pub tables: Vec<std::result::Result<CdcTable, String>>,
    /// `host:port/db as user "name"`.
    pub server: String,
}

/// The PostgreSQL side of a CDC sync.
pub trait ChangeSource {
    /// Open the connection [`ChangeSource::start_peek`] sends its peek on, now, so its login and
    /// the server's flushed position are done while DuckDB reads the checkpoints. Never asked
    /// for a peek (a first call, a refusal), it is closed. Opened already: nothing.
    fn open_peek(&mut self) {}
    /// Send the peek of `slot` for `publication` now, before [`ChangeSource::prepare`]: the slot
    /// a later call's checkpoints name (or, before they are read, the one this call would name).
    /// PostgreSQL decodes while the call checks and reads; [`ChangeSource::changes`] then reads
    /// this peek (if it is of `setup`'s slot and publication). A peek sent for another slot or
    /// publication is taken back first; left unread (a refusal, an error), it is cancelled.
    fn start_peek(&mut self, _slot: &str, _publication: &str) {}
    /// Take back a peek sent for the slot a first call would name (it copies first, and its
    /// stream sends its own peek after the copy); returns once the server let the slot go.
    fn withdraw_peek(&mut self) {}
    /// Check what a CDC sync needs (wal_level, the REPLICATION attribute, a free slot, the
    /// publication, per table a key or REPLICA IDENTITY FULL), then make the publication (when
    /// `publication` is None; or add the tables it lacks) and the slot if they do not exist.
    /// Nothing is made when a check fails; with `skip_errors` a table that cannot be kept is set
    /// aside (its reason in [`CdcSetup::tables`]) instead of failing the call.
    fn prepare(
        &mut self,
        tables: &[CdcWanted],
        slot: &str,
        publication: Option<&str>,
        skip_errors: bool,
    ) -> Result<CdcSetup>;
    /// Stream the slot's pending changes of `tables`, each skipping transactions committed at or
    /// before its own LSN, staged by a [`Router`] on the runtime (direct parts for the tables
    /// flagged `true`, see [`Stager::direct`]); each batch becomes a `T` through `make`.
    fn changes<T: Send + 'static>(
        &mut self,
        setup: &CdcSetup,
        tables: &[(CdcTable, Lsn, bool)],
        make: fn(Batch, &[DuckType]) -> Result<T>,
    ) -> Result<mpsc::Receiver<Result<Change<T>>>>;
    /// Move `setup`'s slot's confirmed position to `to` (PostgreSQL may then free the WAL before
    /// it).
    fn advance(&mut self, setup: &CdcSetup, to: Lsn) -> Result<()>;
    /// The server, `host:port/db as user "name"` (never a password).
    fn server(&self) -> String;
    /// How many bytes of WAL the slot keeps on the server.
    fn retained_wal(&mut self, slot: &str) -> Result<Option<i64>>;
}

/// The tables a CDC call copies whole (a snapshot taken after the slot exists, so every change
/// after it is in the slot), read one after another.
pub trait Snapshots {
    /// Take one snapshot of these tables, now.
    fn take(&mut self, tables: &[QualifiedName]) -> Result<()>;
    /// Every row of table `i` of those taken.
    fn read<T: Send + 'static>(
        &mut self,
        i: usize,
        make: fn(Batch, &[DuckType]) -> Result<T>,
    ) -> Result<Rows<T>>;
    /// End the snapshot (also when none was taken).
    fn finish(&mut self) -> Result<()>;
}

/// What the stream hands the engine, in order: a part of one table (its columns and rows) and
/// its end, one part at a time, then every table's summary.
pub enum Change<T> {
    Part {
        table: usize,
        kind: PartKind,
        columns: Vec<(String, DuckType)>,
        rows: Rows<T>,
    },
    PartEnd(usize, PartSummary),
    /// Every table's summary, and the position the slot was read to: every transaction committed
    /// before it was in the stream, so the slot may be confirmed up to it after the commit (past
    /// the last commit of these tables, when the rest of the WAL is other tables' or nothing's,
    /// so the slot does not keep it).
    Done(Vec<StreamSummary>, Option<Lsn>),
}

/// Where a part's rows go (see [`Staged::Direct`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartKind {
    /// Into the staging table, then applied at the part's end.
    Staged,
    /// Straight into the target (each key's first insert or update of a direct part).
    Direct,
    /// The keys of a direct part's other rows, at its end, kept for its statements
    /// ([`Session::hold`]).
    Side,
    /// A direct part's later writes of a key, kept for its statements.
    Writes,
    /// The keys of a direct part's rows that went straight into the target, kept for its
    /// statements.
    Keys,
}

/// A run of staged rows applied in one go: it begins after a TRUNCATE (`truncate`), at the start
/// of a part, or around an update that changed the key and left a TOASTed value unchanged.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Segment {
    pub seg: i32,
    pub truncate: bool,
    /// Columns some row left unchanged (TOASTed values pgoutput did not send).
    pub unchanged: BTreeSet<usize>,
    pub rows: u64,
    /// Rows a later row of the segment with the same key replaced (each such later row names the
    /// one it replaced in `__sup`).
    pub superseded: u64,
    /// A row's key was a value pgoutput did not send (TOASTed, unchanged): which rows replace
    /// which is found by grouping on the staged keys instead.
    pub keys_unknown: bool,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct PartSummary {
    pub segments: Vec<Segment>,
}

impl PartSummary {
    /// Some row of the part replaced an earlier row of its key, or which rows did cannot be told.
    /// In a direct part, no row did when each side row is a delete (or a key change's old key) of a
    /// key the part wrote nowhere else: only their keys matter.
    pub fn replaces(&self) -> bool {
        self.segments
            .iter()
            .any(|s| s.superseded > 0 || s.keys_unknown)
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct StreamSummary {
    /// The commit LSN of the last transaction applied.
    pub applied: Option<Lsn>,
    /// The end of the last commit seen (applied or skipped): where the slot is advanced to.
    pub end: Option<Lsn>,
    pub inserts: i64,
    pub updates: i64,
    pub deletes: i64,
    pub truncates: i64,
    pub transactions: i64,
    pub skipped: i64,
}

/// The slot (and lakemig's publication) of a target: `lakemig_` and 16 hex digits of a hash of the
/// DuckDB database, the target and the source, so a call after a crash finds the slot it made.
pub fn slot_name(database: &str, target_key: &str, server: &str, source: &str) -> String {
    // FNV-1a, 64 bits: stable across releases and platforms (std's hasher is not).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in [database, target_key, server, source] {
        for b in part.bytes().chain(std::iter::once(0)) {
            h ^= b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("lakemig_{h:016x}")
}

/// `cursor_column` of a CDC checkpoint.
pub fn cursor_text(slot: &str, publication: &str) -> String {
    format!("{CURSOR_PREFIX}{slot}{PUBLICATION_SEP}{publication}")
}

/// The slot and publication a CDC checkpoint names (None: a watermark checkpoint).
pub fn parse_cursor(cursor: &str) -> Option<(String, String)> {
    let rest = cursor.strip_prefix(CURSOR_PREFIX)?;
    let (slot, publication) = rest.split_once(PUBLICATION_SEP)?;
    Some((slot.to_string(), publication.to_string()))
}

/// How many targets other than `target_key` (in `catalog`) read `slot`, among every checkpoint
/// (`checkpoint::read_all`): a slot shared by a many-table call is dropped with its last target.
pub fn others_on_slot(
    all: &[(String, Checkpoint)],
    catalog: &str,
    target_key: &str,
    slot: &str,
) -> usize {
    all.iter()
        .filter(|(c, cp)| {
            c == catalog
                && cp.target != target_key
                && parse_cursor(&cp.cursor).is_some_and(|(s, _)| s == slot)
        })
        .count()
}

/// lakemig made this publication (and drops it with the slot): it is named after the slot.
pub fn publication_is_lakemigs(slot: &str, publication: &str) -> bool {
    slot == publication
}

/// The columns that identify a row, or why CDC cannot keep this table: `given` (primary_key := ...)
/// or the primary key; deletes and key changes carry the replica identity only, so the key must be
/// part of it, or the identity must be FULL.
pub fn choose_key(
    table: &str,
    given: Option<&[String]>,
    primary_key: &[String],
    replica_identity: char,
    identity_columns: &[String],
    columns: &[String],
) -> Result<Vec<String>> {
    let full = replica_identity == 'f';
    let key: Vec<String> = match given {
        Some(k) => k.to_vec(),
        None if !primary_key.is_empty() => primary_key.to_vec(),
        None => {
            return Err(Error::argument(format!(
                "table {table} has no primary key: logical replication sends a deleted or updated row's old values only \
                 with REPLICA IDENTITY FULL. Run ALTER TABLE {table} REPLICA IDENTITY FULL on the source and name the \
                 columns that identify a row with primary_key := ['id'] (or add a primary key); nothing was changed"
            )))
        }
    };
    for k in &key {
        if !columns.contains(k) {
            return Err(Error::UnknownColumn {
                table: table.to_string(),
                column: quote_ident(k),
                columns: columns.join(", "),
            });
        }
    }
    if !full && (replica_identity == 'n' || !key.iter().all(|k| identity_columns.contains(k))) {
        return Err(Error::argument(format!(
            "the key ({}) of table {table} is not its replica identity ({}): deletes would not say which row went. \
             Run ALTER TABLE {table} REPLICA IDENTITY FULL on the source, or use its primary key; nothing was changed",
            key.join(", "),
            if identity_columns.is_empty() {
                "nothing".to_string()
            } else {
                identity_columns.join(", ")
            }
        )));
    }
    Ok(key)
}

/// The staging table's own columns, before the table's: the change's order, its segment, its kind
/// (`I` insert, `U` update, `D` delete, `X` the old key of an update that changed it), which
/// columns it left unchanged (`0`/`1` per column; NULL when none) and the `__seq` of the earlier
/// row of the segment with the same key it replaces (NULL when none).
pub fn stage_extra_columns() -> Vec<(String, DuckType)> {
    vec![
        ("__seq".into(), DuckType::BigInt),
        ("__seg".into(), DuckType::Integer),
        ("__op".into(), DuckType::Varchar),
        ("__u".into(), DuckType::Varchar),
        ("__sup".into(), DuckType::BigInt),
    ]
}

/// Rows of the staging table, ready for DuckDB.
#[derive(Debug)]
pub enum Staged {
    /// A new part: its table columns (after [`stage_extra_columns`]).
    Start(Vec<StageColumn>),
    /// A new direct part: its `Batch`es are each key's first insert or update of the part, with
    /// the table columns only, to insert straight into the target while the stream goes on; the
    /// other rows follow at its end: their keys (`SideStart`, then `Side` batches), then those of
    /// them that write (`WritesStart`, then `Writes` batches).
    Direct(Vec<StageColumn>),
    Batch(Batch),
    /// The keys (these columns) of a direct part's other rows: later changes of a key it wrote,
    /// deletes, the old keys of key changes. [`direct_sql`] deletes the target's rows of them.
    SideStart(Vec<StageColumn>),
    Side(Batch),
    /// A direct part's later inserts and updates of a key, whole (these table columns), then
    /// [`LIVE_COLUMN`]: false for those a later change of their key replaced. [`direct_sql`]
    /// inserts the live ones.
    WritesStart(Vec<StageColumn>),
    Writes(Batch),
    /// A direct part's keys of the rows it sent straight into the target follow (after its side
    /// rows), with these columns: [`direct_sql`] reads them instead of scanning the target for
    /// its new rows.
    KeysStart(Vec<StageColumn>),
    Keys(Batch),
    End(PartSummary),
}

impl Staged {
    /// A new part's kind and the columns of its rows, in order (None: not a part's start).
    pub fn part_start(&self) -> Option<(PartKind, Vec<(String, DuckType)>)> {
        let (kind, columns) = match self {
            Staged::Start(c) => (PartKind::Staged, c),
            Staged::Direct(c) => (PartKind::Direct, c),
            Staged::SideStart(c) => (PartKind::Side, c),
            Staged::WritesStart(c) => (PartKind::Writes, c),
            Staged::KeysStart(c) => (PartKind::Keys, c),
            _ => return None,
        };
        let mut all = match kind {
            PartKind::Staged => stage_extra_columns(),
            _ => Vec::new(),
        };
        all.extend(columns.iter().map(|c| (c.name.clone(), c.duck.clone())));
        if kind == PartKind::Writes {
            all.push((LIVE_COLUMN.into(), DuckType::Boolean));
        }
        Some((kind, all))
    }
}

/// Turns pgoutput messages into staged rows. Pure: no I/O.
pub struct Stager {
    table_oid: u32,
    described: Vec<StageColumn>,
    key: Vec<String>,
    since: Lsn,
    batch_rows: usize,
    /// A part ends after this many staged rows (at a message's edge): the stream is applied part
    /// by part, so the staging table, and memory, stay bounded however long the backlog.
    part_rows: u64,
    part: Option<Part>,
    /// Parts go direct (see [`Staged::Direct`]) until a change needs the staged apply.
    direct: bool,
    skipping: bool,
    in_transaction: bool,
    seq: i64,
    seg: i32,
    out: std::collections::VecDeque<Staged>,
    pub summary: StreamSummary,
}

struct Part {
    /// The relation's column names this part was made for.
    relation_columns: Vec<String>,
    /// Part column j comes from relation column `source[j]`.
    source: Vec<usize>,
    columns: Vec<StageColumn>,
    /// Relation columns of the key.
    key: Vec<usize>,
    /// Staged rows; in a direct part, the rows that go straight into the target.
    main: Out,
    /// A direct part's other rows (None: not a direct part).
    side: Option<Side>,
    /// Per key in the open segment, the `__seq` of its latest row.
    latest: LatestByKey,
    /// Scratch for a row's key bytes.
    key_bytes: Vec<u8>,
    segments: Vec<Segment>,
    /// Rows staged in this part.
    rows: u64,
}

/// A direct part's rows that do not go straight into the target.
struct Side {
    /// Every such row's key.
    keys: Out,
    /// Those that insert or update, whole.
    writes: Out,
    /// The writes' `__seq`s (ascending), and which a later row of their key replaced.
    seqs: Vec<i64>,
    dead: Vec<bool>,
}

/// The column that tells a direct part's live side writes (see [`Staged::WritesStart`]).
pub const LIVE_COLUMN: &str = "__live";

/// Decoded rows, and the extra values of those that carry them.
struct Out {
    decoder: CopyDecoder,
    /// Its rows carry the extra columns (a direct part's rows for the target do not).
    extras: bool,
    /// A direct part's rows for the target: the positions of the key columns, and those columns
    /// of every batch handed on.
    keys: Option<(Vec<usize>, Vec<Batch>)>,
    seqs: Vec<i64>,
    segs: Vec<i32>,
    ops: Vec<u8>,
    unchanged: Vec<Option<String>>,
    sups: Vec<Option<i64>>,
}

impl Out {
    fn new(columns: &[StageColumn], batch_rows: usize, extras: bool) -> Out {
        Out {
            decoder: CopyDecoder::for_rows(
                columns
                    .iter()
                    .map(|c| (c.name.clone(), c.decode.clone()))
                    .collect(),
                batch_rows,
            ),
            extras,
            keys: None,
            seqs: Vec::new(),
            segs: Vec::new(),
            ops: Vec::new(),
            unchanged: Vec::new(),
            sups: Vec::new(),
        }
    }
}

/// Per key (its values' bytes), the `__seq` of its latest row: each key's bytes once in one arena
/// (no allocation per key), hashed with a seeded hash (keys come from the source's data).
#[derive(Default)]
struct LatestByKey {
    arena: Vec<u8>,
    /// (start in `arena`, length, `__seq`).
    table: hashbrown::HashTable<(usize, usize, i64)>,
    hasher: foldhash::fast::RandomState,
}

impl LatestByKey {
    /// Make `seq` the latest row of `key`; the row it replaces, if any.
    fn replace(&mut self, key: &[u8], seq: i64) -> Option<i64> {
        use std::hash::BuildHasher;
        let LatestByKey {
            arena,
            table,
            hasher,
        } = self;
        let hash = hasher.hash_one(key);
        if let Some(e) = table.find_mut(hash, |&(s, l, _)| &arena[s..s + l] == key) {
            return Some(std::mem::replace(&mut e.2, seq));
        }
        let start = arena.len();
        arena.extend_from_slice(key);
        table.insert_unique(hash, (start, key.len(), seq), |&(s, l, _)| {
            hasher.hash_one(&arena[s..s + l])
        });
        None
    }

    fn clear(&mut self) {
        self.arena.clear();
        self.table.clear();
    }
}

/// Staged rows per part (see [`Stager`]'s `part_rows`).
pub const PART_ROWS: u64 = 250_000;

/// About how much decoded data a stream may hold ahead of DuckDB (see [`read_ahead`]).
pub const READ_AHEAD_BYTES: usize = 32 << 20;
/// At most this many batches ahead, however narrow the rows.
pub const READ_AHEAD_BATCHES: usize = 64;

/// How many batches of `batch_rows` rows of `types` a stream decodes ahead of DuckDB: about
/// [`READ_AHEAD_BYTES`] (between `at_least` and [`READ_AHEAD_BATCHES`]). While DuckDB is still
/// busy when the server's rows come (checkpointing the WAL the last call left, 100-300 ms), the
/// stream goes on decoding instead of waiting, so less of its work is left when DuckDB is ready.
pub fn read_ahead(types: &[DuckType], batch_rows: usize, at_least: usize) -> usize {
    let row: usize = types
        .iter()
        .map(DuckType::approx_bytes)
        .sum::<usize>()
        .max(1);
    (READ_AHEAD_BYTES / (row * batch_rows.max(1)))
        .min(READ_AHEAD_BATCHES)
        .max(at_least)
        .max(1)
}

impl Stager {
    /// `described`: the source's columns now (the types every value is decoded as).
    pub fn new(
        table_oid: u32,
        described: Vec<StageColumn>,
        key: Vec<String>,
        since: Lsn,
        batch_rows: usize,
    ) -> Stager {
        Stager {
            table_oid,
            described,
            key,
            since,
            batch_rows: batch_rows.max(1),
            part_rows: PART_ROWS,
            part: None,
            direct: false,
            skipping: false,
            in_transaction: false,
            seq: 0,
            seg: 0,
            out: Default::default(),
            summary: StreamSummary::default(),
        }
    }

    /// Make direct parts (a target whose new rows DuckDB tells apart by `rowid`: not DuckLake).
    pub fn direct(mut self, on: bool) -> Stager {
        self.direct = on;
        self
    }

    /// End parts after `rows` staged rows instead of [`PART_ROWS`].
    pub fn with_part_rows(mut self, rows: u64) -> Stager {
        self.part_rows = rows.max(1);
        self
    }

    /// The next staged output, oldest first.
    pub fn next_staged(&mut self) -> Option<Staged> {
        self.out.pop_front()
    }

    /// Take one message.
    pub fn push(&mut self, msg: &Message) -> Result<()> {
        self.take(msg)?;
        // A full part ends here, between two messages (an update that changed the key stages two
        // rows that must stay together).
        if self.part.as_ref().is_some_and(|p| p.rows >= self.part_rows) {
            self.cut()?;
        }
        Ok(())
    }

    /// End the open part now (call it between two messages); the next one goes on with the same
    /// columns.
    pub fn cut(&mut self) -> Result<()> {
        if let Some(p) = self.part.as_ref() {
            let columns = p.relation_columns.clone();
            self.end_part()?;
            self.start_part(columns)?;
        }
        Ok(())
    }

    /// No more direct parts: a change whose values pgoutput did not all send (unchanged TOASTed
    /// values, found in the target or an earlier change) needs the staged apply. An open direct
    /// part ends here.
    fn staged_from_here(&mut self) -> Result<()> {
        if !self.direct {
            return Ok(());
        }
        self.direct = false;
        self.cut()
    }

    /// A part is open.
    fn has_part(&self) -> bool {
        self.part.is_some()
    }

    fn take(&mut self, msg: &Message) -> Result<()> {
        match msg {
            Message::Begin { final_lsn, .. } => {
                self.in_transaction = true;
                self.skipping = *final_lsn <= self.since;
            }
            Message::Commit {
                commit_lsn,
                end_lsn,
            } => {
                if self.skipping {
                    self.summary.skipped += 1;
                } else {
                    self.summary.transactions += 1;
                    self.summary.applied = Some(*commit_lsn);
                }
                self.summary.end = Some(self.summary.end.map_or(*end_lsn, |e| e.max(*end_lsn)));
                self.in_transaction = false;
                self.skipping = false;
            }
            Message::Relation(r) if r.oid == self.table_oid => self.relation(r)?,
            Message::Insert { relation, new } if self.applies(*relation) => {
                self.ensure_part()?;
                self.stage(b'I', new)?;
                self.summary.inserts += 1;
            }
            Message::Update { relation, old, new } if self.applies(*relation) => {
                if new.0.contains(&Datum::Unchanged) {
                    self.staged_from_here()?;
                }
                self.ensure_part()?;
                let part = self.part.as_ref().expect("a part");
                let key_changed = old
                    .as_ref()
                    .is_some_and(|o| part.key.iter().any(|&i| o.0.get(i) != new.0.get(i)));
                let unchanged = new.0.contains(&Datum::Unchanged);
                if key_changed {
                    let old = old.as_ref().expect("an old key");
                    // Its unchanged values are the old key's: a segment of its own (see apply_sql).
                    if unchanged {
                        self.new_segment(false);
                    }
                    self.stage(b'X', old)?;
                    self.stage(b'U', new)?;
                    if unchanged {
                        self.new_segment(false);
                    }
                } else {
                    self.stage(b'U', new)?;
                }
                self.summary.updates += 1;
            }
            Message::Delete { relation, old } if self.applies(*relation) => {
                if old.0.contains(&Datum::Unchanged) {
                    self.staged_from_here()?;
                }
                self.ensure_part()?;
                self.stage(b'D', old)?;
                self.summary.deletes += 1;
            }
            Message::Truncate { relations }
                if !self.skipping && relations.contains(&self.table_oid) =>
            {
                // A direct part has its TRUNCATE before its first row.
                if self
                    .part
                    .as_ref()
                    .is_some_and(|p| p.side.is_some() && p.rows > 0)
                {
                    self.cut()?;
                }
                self.ensure_part()?;
                self.new_segment(true);
                self.summary.truncates += 1;
            }
            _ => {}
        }
        Ok(())
    }

    /// End of the stream: the last part ends.
    pub fn finish(&mut self) -> Result<()> {
        self.end_part()
    }

    fn applies(&self, relation: u32) -> bool {
        relation == self.table_oid && !self.skipping
    }

    /// A Relation message: a new part when the columns changed.
    fn relation(&mut self, r: &Relation) -> Result<()> {
        let names: Vec<String> = r.columns.iter().map(|c| c.name.clone()).collect();
        if self
            .part
            .as_ref()
            .is_some_and(|p| p.relation_columns == names)
        {
            return Ok(());
        }
        self.end_part()?;
        self.start_part(names)
    }

    fn ensure_part(&mut self) -> Result<()> {
        if self.part.is_none() {
            let names = self.described.iter().map(|c| c.name.clone()).collect();
            self.start_part(names)?;
        }
        Ok(())
    }

    fn start_part(&mut self, relation_columns: Vec<String>) -> Result<()> {
        let mut source = Vec::new();
        let mut columns = Vec::new();
        for (i, name) in relation_columns.iter().enumerate() {
            // A column dropped since is not staged; the target keeps it.
            if let Some(d) = self.described.iter().find(|d| &d.name == name) {
                source.push(i);
                columns.push(d.clone());
            }
        }
        let mut key = Vec::new();
        for k in &self.key {
            let i = relation_columns.iter().position(|n| n == k).ok_or_else(|| {
                Error::argument(format!(
                    "the replication stream has changes of a version of the table without key column {}; \
                     drop the target with pg_sync_drop and sync again",
                    quote_ident(k)
                ))
            })?;
            key.push(i);
        }
        let mut main = Out::new(&columns, self.batch_rows, !self.direct);
        let mut side = None;
        if self.direct {
            let positions = key
                .iter()
                .map(|k| source.iter().position(|s| s == k))
                .collect::<Option<Vec<usize>>>()
                .ok_or_else(|| {
                    Error::argument(
                        "the replication stream has changes of a version of the table whose key columns \
                         are not all in the table now; drop the target with pg_sync_drop and sync again",
                    )
                })?;
            let key_columns: Vec<StageColumn> =
                positions.iter().map(|&j| columns[j].clone()).collect();
            main.keys = Some((positions, Vec::new()));
            side = Some(Side {
                keys: Out::new(&key_columns, self.batch_rows, false),
                writes: Out::new(&columns, self.batch_rows, false),
                seqs: Vec::new(),
                dead: Vec::new(),
            });
        }
        self.seg += 1;
        self.out.push_back(match self.direct {
            true => Staged::Direct(columns.clone()),
            false => Staged::Start(columns.clone()),
        });
        self.part = Some(Part {
            relation_columns,
            source,
            columns,
            key,
            main,
            side,
            latest: Default::default(),
            key_bytes: Vec::new(),
            segments: vec![Segment {
                seg: self.seg,
                ..Segment::default()
            }],
            rows: 0,
        });
        Ok(())
    }

    fn new_segment(&mut self, truncate: bool) {
        self.seg += 1;
        if let Some(p) = self.part.as_mut() {
            p.latest.clear();
            p.segments.push(Segment {
                seg: self.seg,
                truncate,
                ..Segment::default()
            });
        }
    }

    fn end_part(&mut self) -> Result<()> {
        let Some(mut p) = self.part.take() else {
            return Ok(());
        };
        p.main.hand_on(&mut self.out, true, Staged::Batch)?;
        // A direct part: its key columns, and their values in the rows sent into the target.
        let direct_keys = p.main.keys.take().map(|(positions, batches)| {
            let columns: Vec<StageColumn> =
                positions.iter().map(|&j| p.columns[j].clone()).collect();
            (columns, batches)
        });
        let summary = PartSummary {
            segments: p.segments,
        };
        if let (Some(mut side), Some((key_columns, _))) = (p.side, direct_keys.as_ref()) {
            let mut rows = std::collections::VecDeque::new();
            side.keys.hand_on(&mut rows, true, Staged::Side)?;
            if !rows.is_empty() {
                self.out.push_back(Staged::SideStart(key_columns.clone()));
                self.out.extend(rows);
            }
            let mut rows = std::collections::VecDeque::new();
            side.writes.hand_on(&mut rows, true, Staged::Writes)?;
            if !rows.is_empty() {
                self.out.push_back(Staged::WritesStart(p.columns));
                let mut dead = side.dead.into_iter();
                for x in rows {
                    if let Staged::Writes(mut b) = x {
                        let live: Vec<bool> = dead.by_ref().take(b.len).map(|d| !d).collect();
                        b.columns.push(Column {
                            validity: vec![true; live.len()],
                            data: ColumnData::Bool(live),
                        });
                        self.out.push_back(Staged::Writes(b));
                    }
                }
            }
        }
        if let Some((columns, batches)) = direct_keys {
            self.out.push_back(Staged::KeysStart(columns));
            self.out.extend(batches.into_iter().map(Staged::Keys));
        }
        self.out.push_back(Staged::End(summary));
        Ok(())
    }

    /// One staged row: its extra values, and the tuple's values decoded (an unchanged TOASTed
    /// value as NULL, flagged in `__u`).
    fn stage(&mut self, op: u8, tuple: &Tuple) -> Result<()> {
        let p = self.part.as_mut().expect("a part");
        self.seq += 1;
        let mut unchanged: Option<Vec<u8>> = None;
        for (j, &i) in p.source.iter().enumerate() {
            match tuple.0.get(i).copied().unwrap_or(Datum::Null) {
                Datum::Null | Datum::Binary(_) => {}
                Datum::Unchanged => {
                    unchanged.get_or_insert_with(|| vec![b'0'; p.source.len()])[j] = b'1';
                }
                Datum::Text(_) => {
                    return Err(Error::argument(format!(
                        "column {} arrived in text form from the replication stream (its type has no binary form); \
                         sync this table with the watermark method",
                        quote_ident(&p.columns[j].name)
                    )))
                }
            }
        }
        p.rows += 1;
        let seg = p.segments.last_mut().expect("a segment");
        seg.rows += 1;
        // Which earlier row of the segment this one replaces (same key), so that the apply
        // inserts only each key's last row without grouping the segment by key.
        let mut sup = None;
        p.key_bytes.clear();
        for &i in &p.key {
            match tuple.0.get(i).copied().unwrap_or(Datum::Null) {
                Datum::Binary(v) => {
                    p.key_bytes.extend((v.len() as u32).to_be_bytes());
                    p.key_bytes.extend_from_slice(v);
                }
                Datum::Null => p.key_bytes.extend(u32::MAX.to_be_bytes()),
                Datum::Unchanged | Datum::Text(_) => seg.keys_unknown = true,
            }
        }
        if !seg.keys_unknown {
            sup = p.latest.replace(&p.key_bytes, self.seq);
            if sup.is_some() {
                seg.superseded += 1;
            }
        }
        if let Some(u) = &unchanged {
            for (j, &b) in u.iter().enumerate() {
                if b == b'1' {
                    seg.unchanged.insert(j);
                }
            }
        }
        // A direct part: each key's first insert or update goes straight into the target; of the
        // other rows, every key, and the writes whole.
        let writes = matches!(op, b'I' | b'U');
        if let Some(side) = p.side.as_mut().filter(|_| !writes || sup.is_some()) {
            if let Some(i) = sup.and_then(|s| side.seqs.binary_search(&s).ok()) {
                side.dead[i] = true;
            }
            let value = |i: usize| match tuple.0.get(i) {
                Some(Datum::Binary(v)) => Some(*v),
                _ => None,
            };
            side.keys
                .decoder
                .push_row(p.key.iter().map(|&i| value(i)))?;
            if writes {
                side.writes
                    .decoder
                    .push_row(p.source.iter().map(|&i| value(i)))?;
                side.seqs.push(self.seq);
                side.dead.push(false);
            }
            return p.main.hand_on(&mut self.out, false, Staged::Batch);
        }
        let out = &mut p.main;
        if out.extras {
            out.seqs.push(self.seq);
            out.segs.push(seg.seg);
            out.ops.push(op);
            out.unchanged
                .push(unchanged.map(|u| String::from_utf8_lossy(&u).into_owned()));
            out.sups.push(sup);
        }
        out.decoder
            .push_row(p.source.iter().map(|&i| match tuple.0.get(i) {
                Some(Datum::Binary(v)) => Some(*v),
                _ => None,
            }))?;
        p.main.hand_on(&mut self.out, false, Staged::Batch)
    }
}

/// Rows the tables not being handed on may hold before the one that is ends its part.
pub const HELD_ROWS: usize = 65_536;

/// One stream, several tables: routes each message to its table's [`Stager`] and hands their
/// output on one part at a time (the engine stages a part, then applies it, before the next).
/// The table whose part is being handed on streams straight through; the others' output is held
/// until that part ends. When they hold more than `held_budget` rows, the open part is cut short,
/// so memory stays bounded however the tables' changes interleave. Pure: no I/O.
pub struct Router {
    stagers: Vec<Stager>,
    by_oid: std::collections::HashMap<u32, usize>,
    owner: Option<usize>,
    held: Vec<std::collections::VecDeque<Staged>>,
    /// Rows held, per table and in all.
    held_by: Vec<usize>,
    held_rows: usize,
    held_budget: usize,
}

impl Router {
    pub fn new(stagers: Vec<Stager>, held_budget: usize) -> Router {
        let by_oid = stagers
            .iter()
            .enumerate()
            .map(|(i, s)| (s.table_oid, i))
            .collect();
        let held = stagers.iter().map(|_| Default::default()).collect();
        let held_by = vec![0; stagers.len()];
        Router {
            stagers,
            by_oid,
            owner: None,
            held,
            held_by,
            held_rows: 0,
            held_budget,
        }
    }

    /// Take one message.
    pub fn push(&mut self, msg: &Message) -> Result<()> {
        match msg {
            Message::Begin { .. } | Message::Commit { .. } => {
                for s in &mut self.stagers {
                    s.push(msg)?;
                }
            }
            Message::Relation(Relation { oid: relation, .. })
            | Message::Insert { relation, .. }
            | Message::Update { relation, .. }
            | Message::Delete { relation, .. } => self.route(*relation, msg)?,
            Message::Truncate { relations } => {
                for r in relations {
                    self.route(*r, msg)?;
                }
            }
            Message::Other(_) => {}
        }
        Ok(())
    }

    /// A message of one relation, to its table's stager (none: a table outside the call).
    fn route(&mut self, relation: u32, msg: &Message) -> Result<()> {
        if let Some(&i) = self.by_oid.get(&relation) {
            self.stagers[i].push(msg)?;
            self.gather(i);
        }
        Ok(())
    }

    /// End of the stream: every open part ends.
    pub fn finish(&mut self) -> Result<()> {
        for i in 0..self.stagers.len() {
            self.stagers[i].finish()?;
            self.gather(i);
        }
        Ok(())
    }

    /// The next output to hand on, and its table (None: wait for more messages).
    pub fn next_out(&mut self) -> Result<Option<(usize, Staged)>> {
        loop {
            if self.owner.is_none() {
                // The table holding the most goes next.
                self.owner = (0..self.held.len())
                    .filter(|&i| !self.held[i].is_empty())
                    .max_by_key(|&i| (self.held_by[i], std::cmp::Reverse(i)));
            }
            let Some(i) = self.owner else {
                return Ok(None);
            };
            if let Some(x) = self.held[i].pop_front() {
                match &x {
                    Staged::Batch(b) | Staged::Side(b) | Staged::Writes(b) | Staged::Keys(b) => {
                        self.held_by[i] -= b.len;
                        self.held_rows -= b.len;
                    }
                    Staged::End(_) => self.owner = None,
                    Staged::Start(_)
                    | Staged::Direct(_)
                    | Staged::SideStart(_)
                    | Staged::WritesStart(_)
                    | Staged::KeysStart(_) => {}
                }
                return Ok(Some((i, x)));
            }
            // Its part is still open: wait for more, unless the others hold too much.
            if self.held_rows <= self.held_budget || !self.stagers[i].has_part() {
                return Ok(None);
            }
            self.stagers[i].cut()?;
            self.gather(i);
        }
    }

    /// Every table's summary, in order.
    pub fn summaries(&self) -> Vec<StreamSummary> {
        self.stagers.iter().map(|s| s.summary.clone()).collect()
    }

    fn gather(&mut self, i: usize) {
        while let Some(x) = self.stagers[i].next_staged() {
            if let Staged::Batch(b) | Staged::Side(b) | Staged::Writes(b) | Staged::Keys(b) = &x {
                self.held_by[i] += b.len;
                self.held_rows += b.len;
            }
            self.held[i].push_back(x);
        }
    }
}

impl Out {
    /// Hand on the batches decoded so far (every row, with `finish`), each made a [`Staged`] by
    /// `wrap`, with the extra columns in front if its rows carry them.
    fn hand_on(
        &mut self,
        out: &mut std::collections::VecDeque<Staged>,
        finish: bool,
        wrap: fn(Batch) -> Staged,
    ) -> Result<()> {
        // `finish` returns the oldest batch not taken (a direct part's side rows are all still
        // there); the rest follow from `next_batch`. The extra values go with the batches in order.
        let mut next = match finish {
            true => self.decoder.finish()?,
            false => None,
        };
        while let Some(b) = next.take().or_else(|| self.decoder.next_batch()) {
            if let Some((positions, kept)) = self.keys.as_mut() {
                kept.push(Batch {
                    len: b.len,
                    columns: positions.iter().map(|&j| b.columns[j].clone()).collect(),
                });
            }
            let b = if self.extras { self.with_extras(b) } else { b };
            out.push_back(wrap(b));
        }
        Ok(())
    }

    /// A decoded batch with the extra columns of its rows in front.
    fn with_extras(&mut self, batch: Batch) -> Batch {
        let n = batch.len;
        let all = |n| vec![true; n];
        let seqs: Vec<i64> = self.seqs.drain(..n).collect();
        let segs: Vec<i32> = self.segs.drain(..n).collect();
        let mut op_bytes = Vec::with_capacity(n);
        let mut offsets = Vec::with_capacity(n + 1);
        offsets.push(0);
        for op in self.ops.drain(..n) {
            op_bytes.push(op);
            offsets.push(op_bytes.len());
        }
        let sups: Vec<Option<i64>> = self.sups.drain(..n).collect();
        let mut u_bytes = Vec::new();
        let mut u_offsets = Vec::with_capacity(n + 1);
        let mut u_valid = Vec::with_capacity(n);
        u_offsets.push(0);
        for u in self.unchanged.drain(..n) {
            u_valid.push(u.is_some());
            if let Some(u) = u {
                u_bytes.extend(u.as_bytes());
            }
            u_offsets.push(u_bytes.len());
        }
        let mut columns = vec![
            Column {
                validity: all(n),
                data: ColumnData::I64(seqs),
            },
            Column {
                validity: all(n),
                data: ColumnData::I32(segs),
            },
            Column {
                validity: all(n),
                data: ColumnData::Bytes {
                    bytes: op_bytes,
                    offsets,
                },
            },
            Column {
                validity: u_valid,
                data: ColumnData::Bytes {
                    bytes: u_bytes,
                    offsets: u_offsets,
                },
            },
            Column {
                validity: sups.iter().map(Option::is_some).collect(),
                data: ColumnData::I64(sups.into_iter().map(|s| s.unwrap_or(0)).collect()),
            },
        ];
        columns.extend(batch.columns);
        Batch { len: n, columns }
    }
}

/// One statement of a segment's apply, and what it does to the target's row count.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Deletes the target's rows it reports.
    Delete(String),
    /// Inserts the rows it reports into the target.
    Insert(String),
    /// Leaves the target's rows as they are.
    Prepare(String),
}

impl Step {
    pub fn sql(&self) -> &str {
        match self {
            Step::Delete(s) | Step::Insert(s) | Step::Prepare(s) => s,
        }
    }

    /// How the target's row count moves by the `n` rows the statement reports.
    pub fn rows(&self, n: u64) -> i64 {
        match self {
            Step::Delete(_) => -(n as i64),
            Step::Insert(_) => n as i64,
            Step::Prepare(_) => 0,
        }
    }
}

/// The statements that apply one segment of the staging table (`part_columns`: its table columns)
/// to the target:
/// 1. after a TRUNCATE, every row of the target goes;
/// 2. the segment's final rows: per key, its last change, unless that is a delete; a value left
///    unchanged (`__u`) is the key's last earlier value in the segment, else the target's row's
///    (for an update that changed the key, the old key's row: such an update is a segment of its
///    own, see [`Stager`]);
/// 3. every key the segment touched is deleted from the target, then the final rows inserted.
pub fn apply_sql(
    target: &Target,
    key: &[String],
    part_columns: &[String],
    segment: &Segment,
) -> Vec<Step> {
    let t = target.quoted();
    let stage = format!("temp.main.{}", quote_ident(STAGE_TABLE));
    let fin = quote_ident(FINAL_TABLE);
    let n = segment.seg;
    let mut out = Vec::new();
    if segment.truncate {
        out.push(Step::Delete(format!("DELETE FROM {t}")));
    }
    if segment.rows == 0 {
        return out;
    }
    let keys = key
        .iter()
        .map(|k| format!("s.{}", quote_ident(k)))
        .collect::<Vec<_>>()
        .join(", ");
    let u_flag = |j: usize| format!("substr(s.__u, {}, 1)", j + 1);
    let mut windows = String::new();
    for &j in &segment.unchanged {
        let c = quote_ident(&part_columns[j]);
        windows.push_str(&format!(
            ", last_value(CASE WHEN s.__u IS NULL OR {} = '0' THEN {{'v': s.{c}}} END IGNORE NULLS) \
             OVER (PARTITION BY {keys} ORDER BY s.__seq ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS \"__w_{j}\"",
            u_flag(j)
        ));
    }
    let resolved = part_columns
        .iter()
        .enumerate()
        .map(|(j, name)| {
            let c = quote_ident(name);
            if segment.unchanged.contains(&j) {
                format!(
                    "CASE WHEN s.__u IS NOT NULL AND {} = '1' THEN \
                     CASE WHEN s.\"__w_{j}\" IS NOT NULL THEN s.\"__w_{j}\".v ELSE __t.{c} END \
                     ELSE s.{c} END AS {c}",
                    u_flag(j)
                )
            } else {
                format!("s.{c}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let joins = if segment.unchanged.is_empty() {
        String::new()
    } else {
        let on = key
            .iter()
            .map(|k| {
                let k = quote_ident(k);
                format!("__t.{k} = CASE WHEN __x.__seq IS NULL THEN s.{k} ELSE __x.{k} END")
            })
            .collect::<Vec<_>>()
            .join(" AND ");
        format!(
            " LEFT JOIN {stage} AS __x ON __x.__seg = {n} AND __x.__seq = s.__seq - 1 AND __x.__op = 'X' \
             LEFT JOIN {t} AS __t ON {on}"
        )
    };
    let names = column_list(part_columns);
    let delete = delete_staged_keys(&t, key, None, &stage, Some(&format!("__seg = {n}")));
    // Per key, only its last row: the rows no later row replaced (the stager names each replaced
    // row in `__sup`; none were: no filter). Grouping by key costs more (inserting 100,000 staged
    // rows in DuckDB 1.5.5: 182-189 ms grouped, 121-147 ms with the anti-join, 128-135 ms
    // unfiltered), so it is only for keys the stream did not send.
    let last = if segment.keys_unknown {
        format!(
            " AND s.__seq IN (SELECT max(s.__seq) FROM {stage} AS s WHERE s.__seg = {n} GROUP BY {keys})"
        )
    } else if segment.superseded > 0 {
        format!(
            " AND s.__seq NOT IN (SELECT __sup FROM {stage} WHERE __seg = {n} AND __sup IS NOT NULL)"
        )
    } else {
        String::new()
    };
    if segment.unchanged.is_empty() {
        // Every value is in the stage: per key, the row of its last change, inserted straight
        // from the stage.
        out.push(Step::Delete(delete));
        out.push(Step::Insert(format!(
            "INSERT INTO {t} ({names}) SELECT {names} FROM {stage} AS s \
             WHERE s.__seg = {n} AND s.__op IN ('I', 'U'){last}"
        )));
        return out;
    }
    out.push(Step::Prepare(format!(
        "CREATE OR REPLACE TEMP TABLE {fin} AS SELECT {resolved} FROM \
         (SELECT s.*{windows} FROM {stage} AS s WHERE s.__seg = {n}) AS s{joins} \
         WHERE s.__op IN ('I', 'U'){last}"
    )));
    out.push(Step::Delete(delete));
    out.push(Step::Insert(format!(
        "INSERT INTO {t} ({names}) SELECT {names} FROM temp.main.{fin}"
    )));
    out
}

/// `DELETE FROM t` the rows (matching `target_filter`) whose key is among the staged rows
/// (matching `stage_filter`). One key column: `IN`, a hash semi join (a correlated EXISTS
/// measured 7x slower in DuckDB 1.5.5: 1.1 s against 0.17 s for 100,000 keys of a
/// 2,000,000-row table).
fn delete_staged_keys(
    t: &str,
    key: &[String],
    target_filter: Option<&str>,
    stage: &str,
    stage_filter: Option<&str>,
) -> String {
    let on_target = target_filter.map_or(String::new(), |f| format!("__t.{f} AND "));
    match key {
        [k] => {
            let k = quote_ident(k);
            let staged = stage_filter.map_or(String::new(), |f| format!(" WHERE {f}"));
            format!("DELETE FROM {t} AS __t WHERE {on_target}__t.{k} IN (SELECT {k} FROM {stage}{staged})")
        }
        _ => {
            let staged = stage_filter.map_or(String::new(), |f| format!("__s.{f} AND "));
            format!(
                "DELETE FROM {t} AS __t WHERE {on_target}EXISTS (SELECT 1 FROM {stage} AS __s WHERE {staged}{})",
                key_join("__t", "__s", key)
            )
        }
    }
}

/// `"a", "b", ...`.
fn column_list(columns: &[String]) -> String {
    columns
        .iter()
        .map(|c| quote_ident(c))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A direct part's statements (see [`Staged::Direct`]). Each key's first insert or update of the
/// part is in the target already, with a `rowid` above `before` (the table's last before the
/// part: DuckDB numbers the rows a transaction adds past those it had); `held` says where the
/// statements read their keys and the part's other rows. Then:
/// 1. the rows from before the part of every key it changed go (all of them after a TRUNCATE,
///    which a direct part has only before its first row);
/// 2. the part's first writes that a later change of their key replaced or deleted go (with a
///    one-column key, in the same statement as 1: one scan of the target);
/// 3. each key's last write among the later changes goes in.
pub fn direct_sql(
    target: &Target,
    key: &[String],
    part_columns: &[String],
    part: &PartSummary,
    before: i64,
    held: &DirectRows,
) -> Vec<Step> {
    let DirectRows { keys, side, writes } = *held;
    let truncate = part.segments.iter().any(|s| s.truncate);
    if !truncate && part.segments.iter().all(|s| s.rows == 0) {
        return Vec::new();
    }
    let t = target.quoted();
    let mut out = Vec::new();
    let old = format!("rowid <= {before}");
    let new = format!("rowid > {before}");
    // Side rows that replaced no row are deletes of keys the part wrote nowhere else: step 1 does.
    let replaced = side.filter(|_| part.replaces());
    let mut merged = false;
    if truncate {
        out.push(Step::Delete(format!("DELETE FROM {t} WHERE {old}")));
    } else {
        out.push(Step::Delete(match key {
            [k] => {
                let k = quote_ident(k);
                let staged = side.map_or(String::new(), |stage| {
                    format!(" UNION ALL SELECT {k} FROM {stage}")
                });
                let which = match replaced {
                    Some(stage) => {
                        merged = true;
                        format!("({old} OR {k} IN (SELECT {k} FROM {stage}))")
                    }
                    None => old,
                };
                // No key is NULL; the filter makes DuckDB (1.5) push a Bloom filter of the keys
                // into the target's scan, which it does only for a filtered build side.
                format!(
                    "DELETE FROM {t} WHERE {k} IN (SELECT {k} FROM {keys} WHERE {k} IS NOT NULL{staged}) AND {which}"
                )
            }
            _ => {
                let staged = side.map_or(String::new(), |stage| {
                    format!(
                        " OR EXISTS (SELECT 1 FROM {stage} AS __s WHERE {})",
                        key_join("__t", "__s", key)
                    )
                });
                format!(
                    "DELETE FROM {t} AS __t WHERE __t.{old} AND (EXISTS (SELECT 1 FROM {keys} AS __n WHERE {}){staged})",
                    key_join("__t", "__n", key)
                )
            }
        }));
    }
    if let Some(stage) = replaced.filter(|_| !merged) {
        out.push(Step::Delete(delete_staged_keys(
            &t,
            key,
            Some(&new),
            stage,
            None,
        )));
    }
    if let Some(writes) = writes {
        let names = column_list(part_columns);
        out.push(Step::Insert(format!(
            "INSERT INTO {t} ({names}) SELECT {names} FROM {writes} WHERE {}",
            quote_ident(LIVE_COLUMN)
        )));
    }
    out
}

/// The CDC-specific arguments of `pg_sync`.
#[derive(Debug, Clone, Default)]
pub struct CdcRequest {
    /// The user's publication (None: lakemig makes its own).
    pub publication: Option<String>,
}

/// One table a CDC call keeps in step, and where.
#[derive(Debug, Clone)]
pub struct CdcItem {
    pub source: QualifiedName,
    pub target: Target,
    /// `primary_key := [...]` (None: the source's primary key).
    pub key: Option<Vec<String>>,
}

/// A CDC call: one table (`pg_sync`) or many (`pg_sync_tables`), through one slot.
#[derive(Debug, Clone)]
pub struct CdcCall {
    pub items: Vec<CdcItem>,
    /// The user's publication (None: lakemig's own).
    pub publication: Option<String>,
    /// What names the slot of a first call, with the database and the server (see
    /// [`slot_name`]): the target and the source for one table, the target schema and the
    /// patterns for many. Later calls use the slot their checkpoints name.
    pub slot_key: (String, String),
    /// Many tables: errors name their table, and a table with nothing to apply says `unchanged`.
    pub many: bool,
    /// A table that cannot be kept is reported (`skipped`) and the others synced.
    pub skip_errors: bool,
}

/// Run one `pg_sync(..., method := 'cdc')`: the one-table case of [`run_call`].
pub fn run<S: Session, P: Source, C: ChangeSource>(
    req: &Request,
    cdc: &CdcRequest,
    session: &mut S,
    source: &mut P,
    changes: &mut C,
) -> Result<Outcome> {
    // The peek's connection logs in while DuckDB resolves the target (see `call_inner`).
    changes.open_peek();
    // Its DuckDB reads, up to the checkpoint, in one transaction rolled back (see `Reads`).
    let mut reads = Reads::begin(session)?;
    let target = resolve(session, req).inspect_err(|_| {
        let _ = reads.end(session);
    })?;
    let call = CdcCall {
        items: vec![CdcItem {
            source: req.source.clone(),
            target: target.clone(),
            key: req.primary_key.clone(),
        }],
        publication: cdc.publication.clone(),
        slot_key: (target.state_key(), req.source.quoted()),
        many: false,
        skip_errors: false,
    };
    let mut snaps = OneSnapshot {
        source,
        blind_window: req.blind_window,
    };
    let mut rows = run_call(&call, session, &mut snaps, changes, reads)?;
    rows.pop()
        .map(|r| r.outcome)
        .ok_or_else(|| Error::internal("a CDC call of one table returned no row"))
}

/// [`Snapshots`] of the one table of a `pg_sync` call, through its [`Source`].
struct OneSnapshot<'a, P> {
    source: &'a mut P,
    blind_window: Duration,
}

impl<P: Source> Snapshots for OneSnapshot<'_, P> {
    fn take(&mut self, tables: &[QualifiedName]) -> Result<()> {
        for t in tables {
            self.source.snapshot(t, "", self.blind_window)?;
        }
        Ok(())
    }

    fn read<T: Send + 'static>(
        &mut self,
        _: usize,
        make: fn(Batch, &[DuckType]) -> Result<T>,
    ) -> Result<Rows<T>> {
        self.source.read(&Read::default(), make)
    }

    fn finish(&mut self) -> Result<()> {
        self.source.finish()
    }
}

/// Run a CDC call: one result row per table, in the order of `call.items` (skipped ones too).
///
/// 1. Each target's checkpoint is read; what would lose data is refused before anything is made.
/// 2. The slot is the one the checkpoints name (else a new name); the source is checked and the
///    publication and slot made ([`ChangeSource::prepare`]); then the missing schemas and
///    checkpoint tables, in a short transaction.
/// 3. The tables without a checkpoint (or all, when the slot was made again) are copied from one
///    snapshot taken now, after the slot exists.
/// 4. ONE peek of the slot: every table's changes, each from its own checkpoint's LSN (a table
///    just copied: every change the slot holds, replayed onto its copy by key), applied part by
///    part, in ONE DuckDB transaction with every checkpoint.
/// 5. After the commit, the slot is advanced once.
pub fn run_call<S: Session, B: Snapshots, C: ChangeSource>(
    call: &CdcCall,
    session: &mut S,
    snaps: &mut B,
    changes: &mut C,
    reads: Reads,
) -> Result<Vec<TableOutcome>> {
    let started = Instant::now();
    let result = call_inner(call, session, snaps, changes, started, reads);
    if result.is_err() {
        // The reads' transaction, if an early refusal left it open (see `Reads`); none: an error
        // DuckDB gives and nothing needs.
        let _ = session.run(&Statement::Rollback);
    }
    for t in [STAGE_TABLE, FINAL_TABLE, super::target::STAGE_TABLE] {
        let _ = session.run(&Statement::DropTable(TableRef::temp(t)));
    }
    let finished = snaps.finish();
    let out = result?;
    finished?;
    Ok(out)
}

/// A table of the call once its checkpoint was read.
struct Kept<'a> {
    item: &'a CdcItem,
    state: Option<Checkpoint>,
    table: Option<CdcTable>,
    /// Copied from the snapshot first.
    boot: bool,
    /// Its parts may go direct (see [`Stager::direct`]).
    direct: bool,
}

fn call_inner<S: Session, B: Snapshots, C: ChangeSource>(
    call: &CdcCall,
    session: &mut S,
    snaps: &mut B,
    changes: &mut C,
    started: Instant,
    mut reads: Reads,
) -> Result<Vec<TableOutcome>> {
    let Some(first) = call.items.first() else {
        reads.end(session)?;
        return Ok(Vec::new());
    };
    // A later call's peek goes out as soon as its connection is up (its login overlaps DuckDB's
    // first read of the checkpoint tables, 4-6 ms), for the slot this call would name: the one
    // its checkpoints name, unless the slot was named otherwise (then it is asked again below).
    changes.open_peek();
    let database = session
        .database_path(&first.target.catalog)?
        .unwrap_or_else(|| first.target.catalog.clone());
    let guess = slot_name(
        &database,
        &call.slot_key.0,
        &changes.server(),
        &call.slot_key.1,
    );
    let guessed = (
        guess.clone(),
        call.publication.clone().unwrap_or_else(|| guess.clone()),
    );
    changes.start_peek(&guessed.0, &guessed.1);
    if first.target.ducklake {
        session.run(&Statement::CommitRetries(COMMIT_RETRIES))?;
    }
    let mut rows: Vec<TableOutcome> = Vec::new();
    let refuse = |rows: &mut Vec<TableOutcome>, item: &CdcItem, e: Error| -> Result<()> {
        let e = if call.many {
            in_table(&item.source.quoted(), e)
        } else {
            e
        };
        if !call.skip_errors {
            return Err(e);
        }
        rows.push(skipped(item.source.plain(), &item.target, e.to_string()));
        Ok(())
    };

    // 1. Checkpoints, and refusals before anything is made (on the source or in DuckDB).
    let mut kept: Vec<Kept> = Vec::new();
    for item in &call.items {
        // A source named with its schema is compared here, before anything is made on the
        // server; one without, once `prepare` resolved it (it leaves such a table out of the
        // publication: `CdcWanted::kept_as`).
        let state = checked_state(session, &item.target).and_then(|state| match &state {
            Some(c) if item.source.schema.is_some() && c.source != item.source.plain() => {
                Err(kept_for_another(item, &c.source, &item.source.plain()))
            }
            _ => Ok(state),
        });
        match state {
            Ok(state) => kept.push(Kept {
                item,
                state,
                table: None,
                boot: false,
                direct: false,
            }),
            Err(e) => refuse(&mut rows, item, e)?,
        }
    }
    // 2. The slot the checkpoints name; a target kept by another slot is another call's.
    let named = kept
        .iter()
        .find_map(|k| k.state.as_ref().and_then(|c| parse_cursor(&c.cursor)));
    let slot = match &named {
        Some((slot, _)) => slot.clone(),
        None => guess,
    };
    let mut on_slot = Vec::with_capacity(kept.len());
    for k in kept {
        match k.state.as_ref().and_then(|c| parse_cursor(&c.cursor)) {
            Some((other, _)) if other != slot => refuse(
                &mut rows,
                k.item,
                Error::argument(format!(
                    "target {} is kept in step through replication slot {other}, not {slot} (another call's: its tables := [...] \
                     differ); sync it with that call, or pg_sync_drop it first",
                    k.item.target.quoted()
                )),
            )?,
            _ => on_slot.push(k),
        }
    }
    if on_slot.is_empty() {
        reads.end(session)?;
        return Ok(rows);
    }
    let publication = call.publication.clone().or_else(|| {
        named
            .map(|(_, p)| p)
            .filter(|p| !publication_is_lakemigs(&slot, p))
    });
    // A later call (every target has a checkpoint naming the slot) reads the changes now; a
    // first call takes back the peek sent for the slot it would name.
    if on_slot.iter().all(|k| k.state.is_some()) {
        let asked = publication.as_deref().unwrap_or(&slot);
        if (slot.as_str(), asked) != (guessed.0.as_str(), guessed.1.as_str()) {
            changes.start_peek(&slot, asked);
        }
    } else {
        changes.withdraw_peek();
    }
    let wanted: Vec<CdcWanted> = on_slot
        .iter()
        .map(|k| CdcWanted {
            name: k.item.source.clone(),
            key: k.item.key.clone(),
            kept_as: k.state.as_ref().map(|c| c.source.clone()),
        })
        .collect();
    let setup = changes.prepare(&wanted, &slot, publication.as_deref(), call.skip_errors)?;
    trace(started, "slot and publication ready");
    let mut list: Vec<Kept> = Vec::with_capacity(on_slot.len());
    // The oldest position a skipped table kept through this slot has applied: the slot is not
    // moved past it, so its changes since are still there when it is kept again.
    let mut held: Option<Lsn> = None;
    for (mut k, t) in on_slot.into_iter().zip(setup.tables.iter()) {
        let refused = match t {
            Ok(t) => match k.state.as_ref().filter(|c| c.source != t.source_name()) {
                Some(c) => Some(kept_for_another(k.item, &c.source, &t.source_name())),
                None => {
                    k.boot = k.state.is_none() || setup.slot_created;
                    k.table = Some(t.clone());
                    None
                }
            },
            Err(why) => Some(Error::argument(why.clone())),
        };
        match refused {
            None => list.push(k),
            Some(e) => {
                if let Some(since) = k.state.as_ref().and_then(|c| since_of(c).ok()) {
                    held = Some(held.map_or(since, |h| h.min(since)));
                }
                refuse(&mut rows, k.item, e)?;
            }
        }
    }
    if list.is_empty() {
        // Every table skipped: nothing is read, and the slot stays where it was.
        reads.end(session)?;
        return Ok(rows);
    }
    let targets: Vec<&Target> = list.iter().map(|k| &k.item.target).collect();
    let missing = missing_targets(session, &targets)?;
    if !missing.is_empty() {
        reads.end(session)?;
        create_targets(session, &missing)?;
    }
    // Direct parts tell the target's new rows apart by `rowid`: a DuckDB table (DuckLake's rowid
    // is its own), and no column of that name, in the source or the target, to shadow it.
    for k in list.iter_mut() {
        let named_rowid = |n: &str| n.eq_ignore_ascii_case("rowid");
        let source = k.table.as_ref().expect("a described table");
        k.direct = !k.item.target.ducklake
            && !source.columns.iter().any(|c| named_rowid(&c.name))
            && !session
                .columns(&k.item.target.table())?
                .iter()
                .any(|(n, _)| named_rowid(n));
    }

    // 3. The copies, from a snapshot taken after the slot exists.
    let boot: Vec<QualifiedName> = list
        .iter()
        .filter(|k| k.boot)
        .map(|k| k.item.source.clone())
        .collect();
    if !boot.is_empty() {
        snaps.take(&boot)?;
    }

    // 4. Nothing to copy: the peek starts now, from the checkpoints read in step 1, and while
    // PostgreSQL decodes, DuckDB checkpoints a WAL its commit would otherwise checkpoint (a
    // process leaves its WAL to the next one: see the README's Troubleshooting).
    let early = match list.iter().all(|k| !k.boot) {
        true => {
            let since = list
                .iter()
                .map(|k| k.state.as_ref().map_or(Ok(Lsn(0)), since_of))
                .collect::<Result<Vec<Lsn>>>()?;
            let rx = changes.changes(&setup, &described(&list, &since), S::to_chunk)?;
            // Best effort: where it cannot be told or run now, the commit checkpoints as before.
            let catalog = &first.target.catalog;
            let due = !first.target.ducklake
                && matches!(session.commit_would_checkpoint(catalog), Ok(true));
            let bloated = !first.target.ducklake && bloated(session, &list);
            vacuum::settle(session, &mut reads, catalog, bloated, due, started)?;
            Some((rx, since))
        }
        false => None,
    };
    reads.end(session)?;

    // 5. ONE transaction: the copies, every table's changes, every checkpoint.
    session.run(&Statement::Begin)?;
    let result = (|| {
        let mut copied = vec![0i64; list.len()];
        let mut since = vec![Lsn(0); list.len()];
        let mut runs = vec![1i64; list.len()];
        // Each target's rows before its changes (a copy's, or counted here, while PostgreSQL still
        // decodes): with what the apply adds and removes, its rows after, not counted again.
        let mut before = vec![0i64; list.len()];
        let mut added: Vec<Vec<String>> = vec![Vec::new(); list.len()];
        let mut last_rowid: Vec<Option<i64>> = vec![None; list.len()];
        let mut j = 0;
        for (i, k) in list.iter().enumerate() {
            // Read again in this transaction: a call of the same targets may have committed since.
            let state = session.read_checkpoint(&k.item.target)?;
            runs[i] = state.as_ref().map_or(1, |c| c.runs + 1);
            if k.boot {
                copied[i] = copy_table(session, snaps, j, &k.item.target)?;
                j += 1;
                trace(started, "table copied");
            } else {
                let c = state.ok_or_else(|| {
                    Error::argument(format!(
                        "the checkpoint of target {} went away during the sync; run it again",
                        k.item.target.quoted()
                    ))
                })?;
                since[i] = since_of(&c)?;
                // The source's columns the target lacks, added before any row changes: DuckDB
                // refuses at the commit an ALTER TABLE after rows of the table changed in the
                // same transaction ("another transaction has altered this table"). The stream
                // stages only columns the source has now (a column dropped since is left out).
                let table = k.table.as_ref().expect("a described table");
                added[i] = add_columns(session, &k.item.target, &table.columns)?;
                // A direct part needs the target's last rowid before it: read here, in the same
                // scan as the count, while PostgreSQL still decodes.
                let target = k.item.target.table();
                match k.direct {
                    true => {
                        let (count, last) = session.count_and_last_rowid(&target)?;
                        (before[i], last_rowid[i]) = (count, Some(last));
                    }
                    false => before[i] = session.count_rows(&target)?,
                }
            }
        }
        let keys: Vec<&[String]> = list
            .iter()
            .map(|k| k.table.as_ref().expect("a described table").key.as_slice())
            .collect();
        let rx = match early {
            // The stream skips what the checkpoints it started from say is applied.
            Some((rx, started_from)) if started_from == since => rx,
            Some(_) => {
                return Err(Error::argument(
                    "another pg_sync of these targets committed while this one started; nothing was changed; run it again"
                        .to_string(),
                ))
            }
            None => changes.changes(&setup, &described(&list, &since), S::to_chunk)?,
        };
        let Applied {
            summaries,
            moved,
            read_to,
        } = apply_changes(session, rx, &targets, &keys, last_rowid, started)?;
        let mut outs = Vec::with_capacity(list.len());
        for (i, k) in list.iter().enumerate() {
            let sum = &summaries[i];
            let target = &k.item.target;
            let lsn = match k.boot {
                true => sum.applied.unwrap_or(setup.slot_lsn).max(setup.slot_lsn),
                false => sum.applied.unwrap_or(since[i]).max(since[i]),
            };
            let upserted = copied[i] + sum.inserts + sum.updates;
            let rows_total = before[i] + copied[i] + moved[i];
            let mode = match (k.boot, call.many) {
                (true, _) => "bootstrap",
                (false, true) if sum.inserts + sum.updates + sum.deletes + sum.truncates == 0 => {
                    "unchanged"
                }
                (false, _) => "cdc",
            };
            let table = k.table.as_ref().expect("a described table");
            session.write_checkpoint(
                target,
                &checkpoint_of(
                    target,
                    &setup,
                    table,
                    lsn,
                    rows_total,
                    runs[i],
                    mode,
                    upserted,
                    sum.deletes,
                    started.elapsed(),
                ),
            )?;
            outs.push(Outcome {
                source: table.source_name(),
                target: target.display(),
                mode,
                rows_upserted: upserted,
                rows_deleted: sum.deletes,
                columns_added: added[i].clone(),
                watermark_before: (!k.boot).then(|| since[i].to_string()),
                watermark_after: Some(lsn.to_string()),
                watermark_bound: String::new(),
                duration: Duration::ZERO,
            });
        }
        if let Ok(p) = std::env::var("LAKEMIG_TEST_PAUSE") {
            test_pause(&p, "before_commit");
        }
        session
            .run(&Statement::Commit)
            .map_err(|e| commit_conflict(e, targets[0]))?;
        trace(started, "committed");
        Ok((
            outs,
            summaries.iter().filter_map(|s| s.end).chain(read_to).max(),
        ))
    })();
    let (outs, end) = match result {
        Ok(r) => r,
        Err(e) => {
            let _ = session.run(&Statement::Rollback);
            return Err(e);
        }
    };
    // 6. The slot moves only after the commit.
    if let Ok(p) = std::env::var("LAKEMIG_TEST_PAUSE") {
        test_pause(&p, "before_advance");
    }
    // Only forward: a call that read nothing past where the slot was leaves it be; and not past
    // what a skipped table has applied.
    let end = end.map(|e| held.map_or(e, |h| e.min(h)));
    if let Some(end) = end.filter(|e| *e > setup.slot_lsn) {
        changes.advance(&setup, end)?;
        trace(started, "slot advanced");
    }
    let retained = changes.retained_wal(&setup.slot)?;
    let bound = format!(
        "slot {} retains {} bytes of WAL",
        setup.slot,
        retained.map_or("?".to_string(), |b| b.to_string())
    );
    for mut o in outs {
        o.watermark_bound = bound.clone();
        o.duration = started.elapsed();
        rows.push(TableOutcome {
            outcome: o,
            error: None,
        });
    }
    Ok(rows)
}

/// Where a target's stream starts: the commit LSN its checkpoint holds (transactions at or below
/// it are applied).
fn since_of(c: &Checkpoint) -> Result<Lsn> {
    c.watermark.as_deref().unwrap_or("0/0").parse()
}

/// Each table of the call as the stream reads it: described, the LSN it starts after, and whether
/// its parts may go direct.
fn described(list: &[Kept], since: &[Lsn]) -> Vec<(CdcTable, Lsn, bool)> {
    list.iter()
        .zip(since)
        .map(|(k, s)| (k.table.clone().expect("a described table"), *s, k.direct))
        .collect()
}

/// A target whose checkpoint keeps it in step with `kept`, asked to sync `asked`.
fn kept_for_another(item: &CdcItem, kept: &str, asked: &str) -> Error {
    Error::argument(format!(
        "target {} is kept in step with {kept} (its checkpoint says so), not {asked}; choose another target",
        item.target.quoted()
    ))
}

/// A target's checkpoint, unless keeping it by CDC would lose data: a target kept by the
/// watermark method, or one that holds rows but has no checkpoint.
fn checked_state<S: Session>(session: &mut S, target: &Target) -> Result<Option<Checkpoint>> {
    let state = if session.columns(&target.state_table())?.is_empty() {
        None
    } else {
        session.read_checkpoint(target)?
    };
    match &state {
        Some(c) if parse_cursor(&c.cursor).is_none() => Err(Error::argument(format!(
            "target {} is kept in step by the watermark method (cursor {}); drop it and its checkpoint, or choose another target, to sync it by logical replication",
            target.quoted(),
            quote_ident(&c.cursor)
        ))),
        None => refuse_held_rows(session, target).map(|()| None),
        Some(_) => Ok(state),
    }
}

/// Some target of the call stores more than [`vacuum::VACUUM_AT`] rows per row its checkpoint
/// says it holds (`rows_total`, a CDC target's row count).
fn bloated<S: Session>(session: &mut S, list: &[Kept]) -> bool {
    list.iter().any(|k| {
        let live = k.state.as_ref().map_or(0, |c| c.rows_total);
        match session.stored_rows(&k.item.target.table()) {
            Ok(Some(stored)) => vacuum::stores_too_many(stored, live),
            _ => false,
        }
    })
}

/// The targets whose schema or checkpoint table is missing.
fn missing_targets<'a, S: Session>(
    session: &mut S,
    targets: &[&'a Target],
) -> Result<Vec<&'a Target>> {
    let mut missing = Vec::new();
    for t in targets {
        if session.columns(&t.state_table())?.is_empty()
            || !session.schema_exists(&t.catalog, &t.schema)?
        {
            missing.push(*t);
        }
    }
    Ok(missing)
}

/// Make the schemas and checkpoint tables that are missing ([`missing_targets`]), in a short
/// transaction of their own (as the watermark method does, see `engine::Sync::prepare`).
fn create_targets<S: Session>(session: &mut S, missing: &[&Target]) -> Result<()> {
    let Some(first) = missing.first() else {
        return Ok(());
    };
    let mut attempt = 1;
    loop {
        let result = session.run(&Statement::Begin).and_then(|_| {
            for t in missing {
                for schema in [&t.schema, STATE_SCHEMA] {
                    session.run(&Statement::CreateSchema {
                        catalog: t.catalog.clone(),
                        schema: schema.to_string(),
                    })?;
                }
                session.run(&Statement::CreateCheckpointTable((*t).clone()))?;
            }
            session.run(&Statement::Commit)
        });
        match result {
            Ok(_) => return Ok(()),
            Err(e) => {
                let _ = session.run(&Statement::Rollback);
                let e = commit_conflict(e, first);
                if attempt >= PREPARE_ATTEMPTS || !matches!(e, Error::SyncConflict { .. }) {
                    return Err(e);
                }
                attempt += 1;
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn checkpoint_of(
    target: &Target,
    setup: &CdcSetup,
    table: &CdcTable,
    lsn: Lsn,
    rows_total: i64,
    runs: i64,
    mode: &str,
    upserted: i64,
    deleted: i64,
    took: Duration,
) -> Checkpoint {
    Checkpoint {
        target: target.state_key(),
        source: table.source_name(),
        server: setup.server.clone(),
        cursor: cursor_text(&setup.slot, &setup.publication),
        watermark: Some(lsn.to_string()),
        watermark_type: LSN_TYPE.into(),
        primary_key: table.key.clone(),
        rows_total,
        runs,
        last_mode: mode.into(),
        last_rows_upserted: upserted,
        last_rows_deleted: deleted,
        last_run: None,
        last_duration: took.as_micros() as i64,
    }
}

/// Copy table `i` of the snapshot into the target (emptied first when a lost slot was made
/// again); how many rows.
fn copy_table<S: Session, B: Snapshots>(
    session: &mut S,
    snaps: &mut B,
    i: usize,
    target: &Target,
) -> Result<i64> {
    let existing = session.columns(&target.table())?;
    if !existing.is_empty() {
        session.run(&Statement::DeleteAll(target.table()))?;
    }
    let into = if existing.is_empty() {
        target.table()
    } else {
        TableRef::temp(super::target::STAGE_TABLE)
    };
    session.run(&Statement::PreserveInsertionOrder(false))?;
    let rows: Rows<S::Chunk> = snaps.read(i, S::to_chunk)?;
    session.run(&Statement::CreateTable {
        table: into.clone(),
        columns: rows.columns.clone(),
    })?;
    let copied = session.insert(&into, rows);
    let reset = session.run(&Statement::PreserveInsertionOrder(true));
    let copied = copied? as i64;
    reset?;
    if !existing.is_empty() {
        session.run(&Statement::InsertByName {
            into: target.table(),
            from: into,
        })?;
    }
    Ok(copied)
}

/// What a call's stream applied: each table's summary, its target's row count's change, and the
/// position the slot was read to.
struct Applied {
    summaries: Vec<StreamSummary>,
    /// How many rows each target gained (less those it lost).
    moved: Vec<i64>,
    read_to: Option<Lsn>,
}

/// Where a direct part's statements read the rows held for them ([`Session::hold`]).
#[derive(Debug, Clone, Copy)]
pub struct DirectRows<'a> {
    /// The keys of the rows that went straight into the target.
    pub keys: &'a str,
    /// The keys of the part's other rows (None: there were none).
    pub side: Option<&'a str>,
    /// Those of them that insert or update, whole, then [`LIVE_COLUMN`] (None: none do).
    pub writes: Option<&'a str>,
}

/// A direct part being applied: the target's last `rowid` before it, and its rows held for its
/// statements.
struct DirectPart {
    before: i64,
    side: Option<Held>,
    writes: Option<Held>,
    keys: Option<Held>,
}

/// Stage and apply the stream, part by part: a staged part's rows into the staging table, then
/// each segment's statements ([`apply_sql`]); a direct part's first writes into the target, its
/// side rows and its first writes' keys held ([`Session::hold`]), then [`direct_sql`].
fn apply_changes<S: Session>(
    session: &mut S,
    rx: mpsc::Receiver<Result<Change<S::Chunk>>>,
    targets: &[&Target],
    keys: &[&[String]],
    // Each target's last rowid read before the stream (None where not read); a direct part that is
    // its table's first starts from it.
    last_rowid: Vec<Option<i64>>,
    started: Instant,
) -> Result<Applied> {
    let mut held = Vec::new();
    let applied = apply_parts(session, rx, targets, keys, last_rowid, started, &mut held);
    // Rows still held (the call failed in a part) are forgotten too.
    for h in &held {
        session.release(h);
    }
    applied
}

fn apply_parts<S: Session>(
    session: &mut S,
    rx: mpsc::Receiver<Result<Change<S::Chunk>>>,
    targets: &[&Target],
    keys: &[&[String]],
    mut last_rowid: Vec<Option<i64>>,
    started: Instant,
    held: &mut Vec<Held>,
) -> Result<Applied> {
    let mut moved = vec![0i64; targets.len()];
    let mut rx = Rows {
        columns: Vec::new(),
        rx,
    };
    let mut part_columns: Vec<String> = Vec::new();
    let mut direct: Option<DirectPart> = None;
    let mut summaries = None;
    let mut read_to = None;
    let no_direct = || Error::internal("a direct part's rows came outside a direct part");
    for item in rx.by_ref() {
        match item? {
            Change::Part {
                table,
                kind,
                columns,
                rows,
            } => {
                let target = targets[table];
                // Any part changes its target: the rowid read before the stream is the first's.
                let known = last_rowid[table].take();
                match kind {
                    PartKind::Direct => {
                        part_columns = columns.iter().map(|(n, _)| n.clone()).collect();
                        let before = match known {
                            Some(last) => last,
                            None => session.last_rowid(&target.table())?,
                        };
                        direct = Some(DirectPart {
                            before,
                            side: None,
                            writes: None,
                            keys: None,
                        });
                        moved[table] += session.insert_by_name(&target.table(), rows)? as i64;
                        trace(started, "part inserted");
                    }
                    PartKind::Side | PartKind::Writes | PartKind::Keys => {
                        let d = direct.as_mut().ok_or_else(no_direct)?;
                        let h = session.hold(rows)?;
                        held.push(h.clone());
                        match kind {
                            PartKind::Side => d.side = Some(h),
                            PartKind::Writes => d.writes = Some(h),
                            _ => d.keys = Some(h),
                        }
                        trace(started, "part held");
                    }
                    PartKind::Staged => {
                        let extra = stage_extra_columns().len();
                        part_columns = columns[extra..].iter().map(|(n, _)| n.clone()).collect();
                        let stage = TableRef::temp(STAGE_TABLE);
                        session.run(&Statement::CreateTable {
                            table: stage.clone(),
                            columns,
                        })?;
                        session.insert(&stage, rows)?;
                        trace(started, "part staged");
                    }
                }
            }
            Change::PartEnd(table, part) => {
                let (target, key) = (targets[table], keys[table]);
                match direct.take() {
                    Some(d) => {
                        let k = d.keys.as_ref().ok_or_else(no_direct)?;
                        let steps = direct_sql(
                            target,
                            key,
                            &part_columns,
                            &part,
                            d.before,
                            &DirectRows {
                                keys: &k.relation,
                                side: d.side.as_ref().map(|h| h.relation.as_str()),
                                writes: d.writes.as_ref().map(|h| h.relation.as_str()),
                            },
                        );
                        let ran = run_steps(session, steps, &mut moved[table], started);
                        for h in [&d.side, &d.writes, &d.keys].into_iter().flatten() {
                            session.release(h);
                            held.retain(|x| x.id != h.id);
                        }
                        ran?;
                    }
                    None => {
                        let steps = part
                            .segments
                            .iter()
                            .flat_map(|segment| apply_sql(target, key, &part_columns, segment))
                            .collect();
                        run_steps(session, steps, &mut moved[table], started)?;
                    }
                }
                trace(started, "part applied");
            }
            Change::Done(s, to) => {
                summaries = Some(s);
                read_to = to;
            }
        }
    }
    let summaries = summaries.ok_or_else(|| {
        Error::Internal("the replication stream ended without its summary".into())
    })?;
    Ok(Applied {
        summaries,
        moved,
        read_to,
    })
}

/// Run a part's statements; `moved` follows the target's row count.
fn run_steps<S: Session>(
    session: &mut S,
    steps: Vec<Step>,
    moved: &mut i64,
    started: Instant,
) -> Result<()> {
    for step in steps {
        let n = session.run(&Statement::CdcApply(vec![step.sql().to_string()]))?;
        *moved += step.rows(n);
        trace(started, "applied a statement");
    }
    Ok(())
}

/// Add to `target` the source's `columns` it lacks (names matched as DuckDB matches them); their
/// names.
fn add_columns<S: Session>(
    session: &mut S,
    target: &Target,
    columns: &[StageColumn],
) -> Result<Vec<String>> {
    let have = session.columns(&target.table())?;
    let mut added = Vec::new();
    for c in columns {
        if !have.iter().any(|(n, _)| n.eq_ignore_ascii_case(&c.name)) {
            session.run(&Statement::AddColumn {
                table: target.table(),
                name: c.name.clone(),
                ty: c.duck.to_string(),
            })?;
            added.push(c.name.clone());
        }
    }
    Ok(added)
}

/// For the crash tests only: with `LAKEMIG_TEST_PAUSE=<point>:<file>`, at `point` create `file`
/// and wait (the test SIGKILLs the process there).
fn test_pause(spec: &str, point: &str) {
    if let Some((p, file)) = spec.split_once(':') {
        if p == point {
            let _ = std::fs::write(file, point);
            loop {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// A connection string for the server a checkpoint names (`host:port/db as user "name"`), without
/// a password: libpq's environment and password file supply it. None when it does not parse.
pub fn dsn_of_server(server: &str) -> Option<String> {
    let (_, user) = server.rsplit_once(" as user \"")?;
    let user = user.strip_suffix('"')?;
    let (host, port, db) = super::slot_state::split_place(super::slot_state::place_of(server))?;
    let q = |v: &str| format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"));
    Some(format!(
        "host={} port={port} dbname={} user={}",
        q(host),
        q(db),
        q(user)
    ))
}

#[cfg(test)]
mod tests;
