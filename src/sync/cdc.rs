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
use super::engine::{commit_conflict, resolve, Outcome, Request, PREPARE_ATTEMPTS};
use super::session::Session;
use super::source::{Read, Rows, Source};
use super::statements::{key_join, Statement, COMMIT_RETRIES};
use super::target::{TableRef, Target, STATE_SCHEMA};
use crate::error::{Error, Result};
use crate::postgres::catalog::QualifiedName;
use crate::postgres::codec::conversion::COPY_HEADER;
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

/// The source as the first steps of a CDC call find it (made by [`ChangeSource::prepare`]).
#[derive(Debug, Clone)]
pub struct CdcSetup {
    pub slot: String,
    pub publication: String,
    /// The slot was made by this call (no earlier call's changes are in it).
    pub slot_created: bool,
    /// The slot's confirmed position: where a bootstrap's replay starts.
    pub slot_lsn: Lsn,
    pub table_oid: u32,
    /// `schema.table`.
    pub source_name: String,
    pub columns: Vec<StageColumn>,
    /// The columns that identify a row.
    pub key: Vec<String>,
    /// `host:port/db as user "name"`.
    pub server: String,
}

/// The PostgreSQL side of a CDC sync.
pub trait ChangeSource {
    /// Check what a CDC sync needs (wal_level, the REPLICATION attribute, a free slot, the
    /// publication, a key or REPLICA IDENTITY FULL), then make the publication (when `publication`
    /// is None) and the slot if they do not exist. Nothing is made when a check fails.
    fn prepare(
        &mut self,
        table: &QualifiedName,
        slot: &str,
        publication: Option<&str>,
        key: Option<&[String]>,
    ) -> Result<CdcSetup>;
    /// Stream the slot's pending changes, skipping transactions committed at or before `since`,
    /// staged by a [`Stager`] on the runtime; each batch becomes a `T` through `make`.
    fn changes<T: Send + 'static>(
        &mut self,
        setup: &CdcSetup,
        since: Lsn,
        make: fn(Batch, &[DuckType]) -> Result<T>,
    ) -> Result<mpsc::Receiver<Result<Change<T>>>>;
    /// Move the slot's confirmed position to `to` (PostgreSQL may then free the WAL before it).
    fn advance(&mut self, slot: &str, to: Lsn) -> Result<()>;
    /// The server, `host:port/db as user "name"` (never a password).
    fn server(&self) -> String;
    /// How many bytes of WAL the slot keeps on the server.
    fn retained_wal(&mut self, slot: &str) -> Result<Option<i64>>;
}

/// What the stream hands the engine, in order: a part (its columns and rows) and its end, again
/// for each change of the table's columns, then the summary.
pub enum Change<T> {
    Part {
        columns: Vec<(String, DuckType)>,
        rows: Rows<T>,
    },
    PartEnd(PartSummary),
    Done(StreamSummary),
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
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct PartSummary {
    pub segments: Vec<Segment>,
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
/// (`I` insert, `U` update, `D` delete, `X` the old key of an update that changed it) and which
/// columns it left unchanged (`0`/`1` per column; NULL when none).
pub fn stage_extra_columns() -> Vec<(String, DuckType)> {
    vec![
        ("__seq".into(), DuckType::BigInt),
        ("__seg".into(), DuckType::Integer),
        ("__op".into(), DuckType::Varchar),
        ("__u".into(), DuckType::Varchar),
    ]
}

/// Rows of the staging table, ready for DuckDB.
#[derive(Debug)]
pub enum Staged {
    /// A new part: its table columns (after [`stage_extra_columns`]).
    Start(Vec<StageColumn>),
    Batch(Batch),
    End(PartSummary),
}

/// Turns pgoutput messages into staged rows. Pure: no I/O.
pub struct Stager {
    table_oid: u32,
    described: Vec<StageColumn>,
    key: Vec<String>,
    since: Lsn,
    batch_rows: usize,
    part: Option<Part>,
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
    decoder: CopyDecoder,
    buf: Vec<u8>,
    seqs: Vec<i64>,
    segs: Vec<i32>,
    ops: Vec<u8>,
    unchanged: Vec<Option<String>>,
    segments: Vec<Segment>,
}

/// How many bytes of rows are gathered before the decoder sees them.
const FEED_BYTES: usize = 1 << 16;

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
            part: None,
            skipping: false,
            in_transaction: false,
            seq: 0,
            seg: 0,
            out: Default::default(),
            summary: StreamSummary::default(),
        }
    }

    /// The next staged output, oldest first.
    pub fn next_staged(&mut self) -> Option<Staged> {
        self.out.pop_front()
    }

    /// Take one message.
    pub fn push(&mut self, msg: &Message) -> Result<()> {
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
                self.ensure_part()?;
                self.stage(b'D', old)?;
                self.summary.deletes += 1;
            }
            Message::Truncate { relations }
                if !self.skipping && relations.contains(&self.table_oid) =>
            {
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
        let mut decoder = CopyDecoder::new(
            columns
                .iter()
                .map(|c| (c.name.clone(), c.decode.clone()))
                .collect(),
            self.batch_rows,
        );
        decoder.feed(COPY_HEADER)?;
        self.seg += 1;
        self.out.push_back(Staged::Start(columns.clone()));
        self.part = Some(Part {
            relation_columns,
            source,
            columns,
            key,
            decoder,
            buf: Vec::with_capacity(FEED_BYTES * 2),
            seqs: Vec::new(),
            segs: Vec::new(),
            ops: Vec::new(),
            unchanged: Vec::new(),
            segments: vec![Segment {
                seg: self.seg,
                ..Segment::default()
            }],
        });
        Ok(())
    }

    fn new_segment(&mut self, truncate: bool) {
        self.seg += 1;
        if let Some(p) = self.part.as_mut() {
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
        p.buf.extend((-1i16).to_be_bytes());
        let buf = std::mem::take(&mut p.buf);
        p.decoder.feed(&buf)?;
        let last = p.decoder.finish()?;
        while let Some(b) = p.decoder.next_batch() {
            let staged = p.with_extras(b);
            self.out.push_back(Staged::Batch(staged));
        }
        if let Some(b) = last {
            // `finish` returns the oldest batch not taken: none are left, so this is the last.
            let staged = p.with_extras(b);
            self.out.push_back(Staged::Batch(staged));
        }
        self.out.push_back(Staged::End(PartSummary {
            segments: p.segments,
        }));
        Ok(())
    }

    /// One staged row: a tuple in binary COPY framing, and its extra values.
    fn stage(&mut self, op: u8, tuple: &Tuple) -> Result<()> {
        let p = self.part.as_mut().expect("a part");
        self.seq += 1;
        p.buf.extend((p.source.len() as i16).to_be_bytes());
        let mut unchanged: Option<Vec<u8>> = None;
        for (j, &i) in p.source.iter().enumerate() {
            match tuple.0.get(i).copied().unwrap_or(Datum::Null) {
                Datum::Null => p.buf.extend((-1i32).to_be_bytes()),
                Datum::Unchanged => {
                    p.buf.extend((-1i32).to_be_bytes());
                    unchanged.get_or_insert_with(|| vec![b'0'; p.source.len()])[j] = b'1';
                }
                Datum::Binary(v) => {
                    p.buf.extend((v.len() as i32).to_be_bytes());
                    p.buf.extend_from_slice(v);
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
        let seg = p.segments.last_mut().expect("a segment");
        seg.rows += 1;
        if let Some(u) = &unchanged {
            for (j, &b) in u.iter().enumerate() {
                if b == b'1' {
                    seg.unchanged.insert(j);
                }
            }
        }
        p.seqs.push(self.seq);
        p.segs.push(seg.seg);
        p.ops.push(op);
        p.unchanged
            .push(unchanged.map(|u| String::from_utf8_lossy(&u).into_owned()));
        if p.buf.len() >= FEED_BYTES {
            let buf = std::mem::replace(&mut p.buf, Vec::with_capacity(FEED_BYTES * 2));
            p.decoder.feed(&buf)?;
            while let Some(b) = p.decoder.next_batch() {
                let staged = p.with_extras(b);
                self.out.push_back(Staged::Batch(staged));
            }
        }
        Ok(())
    }
}

impl Part {
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
        ];
        columns.extend(batch.columns);
        Batch { len: n, columns }
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
) -> Vec<String> {
    let t = target.quoted();
    let stage = format!("temp.main.{}", quote_ident(STAGE_TABLE));
    let fin = quote_ident(FINAL_TABLE);
    let n = segment.seg;
    let mut out = Vec::new();
    if segment.truncate {
        out.push(format!("DELETE FROM {t}"));
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
    let names = part_columns
        .iter()
        .map(|c| quote_ident(c))
        .collect::<Vec<_>>()
        .join(", ");
    // One key column: `IN`, a hash semi join (a correlated EXISTS measured 7x slower in DuckDB
    // 1.5.5: 1.1 s against 0.17 s for 100,000 keys of a 2,000,000-row table).
    let delete = match key {
        [k] => {
            let k = quote_ident(k);
            format!("DELETE FROM {t} WHERE {k} IN (SELECT {k} FROM {stage} WHERE __seg = {n})")
        }
        _ => format!(
            "DELETE FROM {t} AS __t WHERE EXISTS (SELECT 1 FROM {stage} AS __s WHERE __s.__seg = {n} AND {})",
            key_join("__t", "__s", key)
        ),
    };
    let last = format!(
        "s.__seq IN (SELECT max(s.__seq) FROM {stage} AS s WHERE s.__seg = {n} GROUP BY {keys})"
    );
    if segment.unchanged.is_empty() {
        // Every value is in the stage: per key, the row of its last change (found on the narrow
        // key and order columns, then joined back), inserted straight from the stage.
        out.push(delete);
        out.push(format!(
            "INSERT INTO {t} ({names}) SELECT {names} FROM {stage} AS s \
             WHERE s.__seg = {n} AND s.__op IN ('I', 'U') AND {last}"
        ));
        return out;
    }
    out.push(format!(
        "CREATE OR REPLACE TEMP TABLE {fin} AS SELECT {resolved} FROM \
         (SELECT s.*{windows} FROM {stage} AS s WHERE s.__seg = {n}) AS s{joins} \
         WHERE s.__op IN ('I', 'U') AND {last}"
    ));
    out.push(delete);
    out.push(format!(
        "INSERT INTO {t} ({names}) SELECT {names} FROM temp.main.{fin}"
    ));
    out
}

/// The CDC-specific arguments of `pg_sync`.
#[derive(Debug, Clone, Default)]
pub struct CdcRequest {
    /// The user's publication (None: lakemig makes its own).
    pub publication: Option<String>,
}

/// Run one CDC sync.
pub fn run<S: Session, P: Source, C: ChangeSource>(
    req: &Request,
    cdc: &CdcRequest,
    session: &mut S,
    source: &mut P,
    changes: &mut C,
) -> Result<Outcome> {
    let started = Instant::now();
    let target = resolve(session, req)?;
    let database = session
        .database_path(&target.catalog)?
        .unwrap_or_else(|| target.catalog.clone());
    if target.ducklake {
        session.run(&Statement::CommitRetries(COMMIT_RETRIES))?;
    }
    // What the target holds decides between a bootstrap and a stream; refused before anything is
    // made, on the source or in DuckDB.
    let state = if session.columns(&target.state_table())?.is_empty() {
        None
    } else {
        session.read_checkpoint(&target)?
    };
    let cdc_state = match &state {
        Some(c) => match parse_cursor(&c.cursor) {
            Some(s) => Some(s),
            None => {
                return Err(Error::argument(format!(
                    "target {} is kept in step by the watermark method (cursor {}); drop it and its checkpoint, or choose another target, to sync it by logical replication",
                    target.quoted(),
                    quote_ident(&c.cursor)
                )))
            }
        },
        None => None,
    };
    if state.is_none() && session.count_rows(&target.table()).unwrap_or(0) > 0 {
        return Err(Error::argument(format!(
            "target {} already exists and holds rows, but has no pg_sync checkpoint; nothing was changed. \
             Drop it, or choose another target := '...'",
            target.quoted()
        )));
    }
    let source_text = req.source.quoted();
    let slot = match &cdc_state {
        Some((slot, _)) => slot.clone(),
        None => slot_name(
            &database,
            &target.state_key(),
            &changes.server(),
            &source_text,
        ),
    };
    let publication = cdc.publication.clone().or_else(|| {
        cdc_state
            .as_ref()
            .map(|(_, p)| p.clone())
            .filter(|p| !publication_is_lakemigs(&slot, p))
    });
    let setup = changes.prepare(
        &req.source,
        &slot,
        publication.as_deref(),
        req.primary_key.as_deref(),
    )?;
    trace(started, "slot and publication ready");
    prepare_target(session, &target)?;
    if let Some(c) = &state {
        if c.source != setup.source_name {
            return Err(Error::argument(format!(
                "target {} is kept in step with {} (its checkpoint says so), not {}; choose another target",
                target.quoted(),
                c.source,
                setup.source_name
            )));
        }
    }
    let result = if state.is_none() || setup.slot_created {
        bootstrap(req, session, source, &target, &setup, started)
    } else {
        stream(req, session, changes, &target, &setup, started)
    };
    for t in [STAGE_TABLE, FINAL_TABLE, super::target::STAGE_TABLE] {
        let _ = session.run(&Statement::DropTable(TableRef::temp(t)));
    }
    let mut out = result?;
    let retained = changes.retained_wal(&setup.slot)?;
    out.watermark_bound = format!(
        "slot {} retains {} bytes of WAL",
        setup.slot,
        retained.map_or("?".to_string(), |b| b.to_string())
    );
    out.duration = started.elapsed();
    Ok(out)
}

/// The target's schema and checkpoint table, made in a short transaction of their own (as the
/// watermark method does, see `engine::Sync::prepare`).
fn prepare_target<S: Session>(session: &mut S, target: &Target) -> Result<()> {
    if !session.columns(&target.state_table())?.is_empty()
        && session.schema_exists(&target.catalog, &target.schema)?
    {
        return Ok(());
    }
    let mut attempt = 1;
    loop {
        let result = session.run(&Statement::Begin).and_then(|_| {
            for schema in [&target.schema, STATE_SCHEMA] {
                session.run(&Statement::CreateSchema {
                    catalog: target.catalog.clone(),
                    schema: schema.to_string(),
                })?;
            }
            session.run(&Statement::CreateCheckpointTable(target.clone()))?;
            session.run(&Statement::Commit)
        });
        match result {
            Ok(_) => return Ok(()),
            Err(e) => {
                let _ = session.run(&Statement::Rollback);
                let e = commit_conflict(e, target);
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
        source: setup.source_name.clone(),
        server: setup.server.clone(),
        cursor: cursor_text(&setup.slot, &setup.publication),
        watermark: Some(lsn.to_string()),
        watermark_type: LSN_TYPE.into(),
        primary_key: setup.key.clone(),
        rows_total,
        runs,
        last_mode: mode.into(),
        last_rows_upserted: upserted,
        last_rows_deleted: deleted,
        last_run: None,
        last_duration: took.as_micros() as i64,
    }
}

/// Copy a snapshot taken after the slot exists into the target (emptied first when a lost slot
/// was made again), and record the slot's LSN.
fn bootstrap<S: Session, P: Source>(
    req: &Request,
    session: &mut S,
    source: &mut P,
    target: &Target,
    setup: &CdcSetup,
    started: Instant,
) -> Result<Outcome> {
    source.snapshot(&req.source, "", req.blind_window)?;
    let result = (|| {
        session.run(&Statement::Begin)?;
        let state = session.read_checkpoint(target)?;
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
        let rows: Rows<S::Chunk> = source.read(&Read::default(), S::to_chunk)?;
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
        let runs = state.as_ref().map_or(1, |s| s.runs + 1);
        session.write_checkpoint(
            target,
            &checkpoint_of(
                target,
                setup,
                setup.slot_lsn,
                copied,
                runs,
                "bootstrap",
                copied,
                0,
                started.elapsed(),
            ),
        )?;
        session
            .run(&Statement::Commit)
            .map_err(|e| commit_conflict(e, target))?;
        Ok(Outcome {
            source: setup.source_name.clone(),
            target: target.display(),
            mode: "bootstrap",
            rows_upserted: copied,
            rows_deleted: 0,
            columns_added: Vec::new(),
            watermark_before: None,
            watermark_after: Some(setup.slot_lsn.to_string()),
            watermark_bound: String::new(),
            duration: started.elapsed(),
        })
    })();
    if result.is_err() {
        let _ = session.run(&Statement::Rollback);
    }
    let _ = source.finish();
    result
}

/// Apply the slot's pending changes in one transaction with the checkpoint, then advance the slot.
fn stream<S: Session, C: ChangeSource>(
    _req: &Request,
    session: &mut S,
    changes: &mut C,
    target: &Target,
    setup: &CdcSetup,
    started: Instant,
) -> Result<Outcome> {
    session.run(&Statement::Begin)?;
    let result = (|| {
        let state = session.read_checkpoint(target)?.ok_or_else(|| {
            Error::argument(format!(
                "the checkpoint of target {} went away during the sync; run it again",
                target.quoted()
            ))
        })?;
        let since: Lsn = state.watermark.as_deref().unwrap_or("0/0").parse()?;
        let mut existing: Vec<String> = session
            .columns(&target.table())?
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        let mut added = Vec::new();
        let rx = changes.changes(setup, since, S::to_chunk)?;
        let mut rx = Rows {
            columns: Vec::new(),
            rx,
        };
        let mut part_columns: Vec<String> = Vec::new();
        let mut summary = None;
        for item in rx.by_ref() {
            match item? {
                Change::Part { columns, rows } => {
                    let extra = stage_extra_columns().len();
                    part_columns = columns[extra..].iter().map(|(n, _)| n.clone()).collect();
                    for (name, ty) in &columns[extra..] {
                        if !existing.iter().any(|e| e.eq_ignore_ascii_case(name)) {
                            session.run(&Statement::AddColumn {
                                table: target.table(),
                                name: name.clone(),
                                ty: ty.to_string(),
                            })?;
                            existing.push(name.clone());
                            added.push(name.clone());
                        }
                    }
                    let stage = TableRef::temp(STAGE_TABLE);
                    session.run(&Statement::CreateTable {
                        table: stage.clone(),
                        columns,
                    })?;
                    session.insert(&stage, rows)?;
                    trace(started, "part staged");
                }
                Change::PartEnd(part) => {
                    for segment in &part.segments {
                        for sql in apply_sql(target, &setup.key, &part_columns, segment) {
                            session.run(&Statement::CdcApply(vec![sql]))?;
                            trace(started, "applied a statement");
                        }
                    }
                    trace(started, "part applied");
                }
                Change::Done(s) => summary = Some(s),
            }
        }
        let summary = summary.ok_or_else(|| {
            Error::Internal("the replication stream ended without its summary".into())
        })?;
        let lsn = summary.applied.unwrap_or(since).max(since);
        let upserted = summary.inserts + summary.updates;
        let rows_total = session.count_rows(&target.table())?;
        session.write_checkpoint(
            target,
            &checkpoint_of(
                target,
                setup,
                lsn,
                rows_total,
                state.runs + 1,
                "cdc",
                upserted,
                summary.deletes,
                started.elapsed(),
            ),
        )?;
        if let Ok(p) = std::env::var("LAKEMIG_TEST_PAUSE") {
            test_pause(&p, "before_commit");
        }
        session
            .run(&Statement::Commit)
            .map_err(|e| commit_conflict(e, target))?;
        trace(started, "committed");
        Ok((since, lsn, summary, upserted, added))
    })();
    let (since, lsn, summary, upserted, added) = match result {
        Ok(r) => r,
        Err(e) => {
            let _ = session.run(&Statement::Rollback);
            return Err(e);
        }
    };
    if let Ok(p) = std::env::var("LAKEMIG_TEST_PAUSE") {
        test_pause(&p, "before_advance");
    }
    if let Some(end) = summary.end {
        changes.advance(&setup.slot, end)?;
        trace(started, "slot advanced");
    }
    Ok(Outcome {
        source: setup.source_name.clone(),
        target: target.display(),
        mode: "cdc",
        rows_upserted: upserted,
        rows_deleted: summary.deletes,
        columns_added: added,
        watermark_before: Some(since.to_string()),
        watermark_after: Some(lsn.to_string()),
        watermark_bound: String::new(),
        duration: started.elapsed(),
    })
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
    let (place, user) = server.rsplit_once(" as user \"")?;
    let user = user.strip_suffix('"')?;
    // `host:port/db`: the port is the digits between the last ':' before a '/' and that '/'.
    let mut split = None;
    for (i, _) in place.match_indices(':') {
        let rest = &place[i + 1..];
        if let Some(slash) = rest.find('/') {
            if slash > 0 && rest[..slash].bytes().all(|b| b.is_ascii_digit()) {
                split = Some((i, i + 1 + slash));
            }
        }
    }
    let (colon, slash) = split?;
    let q = |v: &str| format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"));
    Some(format!(
        "host={} port={} dbname={} user={}",
        q(&place[..colon]),
        &place[colon + 1..slash],
        q(&place[slash + 1..]),
        q(user)
    ))
}

#[cfg(test)]
mod tests;
