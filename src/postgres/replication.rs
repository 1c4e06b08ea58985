//! Logical replication for `pg_sync(..., method := 'cdc')`: the checks a CDC sync needs, the
//! publication and the `pgoutput` slot (made, found, dropped), the slot's pending changes streamed
//! row by row (`pg_logical_slot_peek_binary_changes`, pgoutput's `binary` option, so values reuse
//! the binary decoders of `copy_out`; read on a connection of lakemig's own, [`super::wire`]) into
//! a [`Stager`], the slot's advance (a status update on a replication connection, the same module)
//! and the WAL it keeps.
//! The decisions are `crate::sync::cdc`'s.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_postgres::types::Type;

use super::catalog;
use super::connect::{Conn, ConnParams};
use super::pgoutput::{self, Lsn};
use super::scan::{self, BATCH_ROWS};
use super::wire::{CancelKey, Wire};
use crate::error::{Error, Result};
use crate::sql::{quote_ident, quote_literal};
use crate::sync::cdc::{
    choose_key, publication_is_lakemigs, read_ahead, CdcSetup, CdcTable, CdcWanted, Change, Router,
    StageColumn, Staged, Stager, HELD_ROWS,
};
use crate::sync::slot_state::SlotOnServer;
use crate::sync::source::Rows;
use crate::types::batch::Batch;
use crate::types::postgres as pgtypes;
use crate::types::DuckType;

/// How many parts wait in the channel between the stream and DuckDB.
const QUEUED: usize = 4;

fn refuse(msg: String) -> Error {
    Error::argument(format!("{msg}; nothing was changed"))
}

/// `w`'s target is kept in step with another source than `t`, the table `w` resolved to.
fn kept_for_another_source(w: &CdcWanted, t: &CdcTable) -> bool {
    w.kept_as.as_ref().is_some_and(|s| *s != t.source_name())
}

/// Check, then make the publication and slot that are missing (see `ChangeSource::prepare`).
pub async fn prepare(
    params: &ConnParams,
    wanted: &[CdcWanted],
    slot: &str,
    publication: Option<&str>,
    skip_errors: bool,
    peek: Option<&Peek>,
) -> Result<(Arc<Conn>, CdcSetup)> {
    let target = params.target();
    let pg = |ctx: &'static str| move |e| Error::from_pg(e, ctx, &params.target());
    let first = wanted
        .first()
        .ok_or_else(|| Error::internal("a CDC call without tables"))?;
    let (client, table, columns) = scan::open_described(params, &first.name).await?;
    let row = client
        .query_typed(
            "SELECT current_setting('wal_level'), \
             coalesce((SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user), false), \
             current_setting('max_replication_slots')::int4, \
             (SELECT count(*) FROM pg_replication_slots)::int4, \
             (SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1), \
             (SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1), \
             (SELECT plugin::text FROM pg_replication_slots WHERE slot_name = $1), \
             current_user::text",
            &[(&slot, Type::TEXT)],
        )
        .await
        .map_err(pg("checking logical replication"))?;
    let row = row
        .first()
        .ok_or_else(|| Error::internal("the replication checks returned no row"))?;
    let wal_level: String = row.get(0);
    let replication: bool = row.get(1);
    let max_slots: i32 = row.get(2);
    let slots: i32 = row.get(3);
    let active_pid: Option<i32> = row.get(4);
    let slot_lsn: Option<String> = row.get(5);
    let plugin: Option<String> = row.get(6);
    let user: String = row.get(7);
    if wal_level != "logical" {
        return Err(refuse(format!(
            "the server at {target} runs with wal_level = {wal_level}; logical replication needs wal_level = logical \
             (ALTER SYSTEM SET wal_level = logical, then restart PostgreSQL), or sync with the watermark method"
        )));
    }
    if !replication {
        return Err(refuse(format!(
            "role {} cannot use replication slots; grant it with ALTER ROLE {} REPLICATION (or connect as a role that has it)",
            quote_ident(&user),
            quote_ident(&user)
        )));
    }
    // The call's own peek, when it was sent before these checks, holds the slot already.
    if let Some(pid) = active_pid.filter(|&p| peek.and_then(Peek::pid) != Some(p)) {
        return Err(refuse(format!(
            "replication slot {slot} is in use by another process (pid {pid}): another pg_sync of this target, or a \
             consumer that is not lakemig; wait for it to end, or stop it with SELECT pg_terminate_backend({pid})"
        )));
    }
    if plugin.as_deref().is_some_and(|p| p != "pgoutput") {
        return Err(refuse(format!(
            "replication slot {slot} exists but decodes with {}, not pgoutput; drop it (SELECT pg_drop_replication_slot('{slot}'))",
            plugin.unwrap_or_default()
        )));
    }
    if slot_lsn.is_none() && slots >= max_slots {
        return Err(refuse(format!(
            "the server at {target} has no free replication slot (max_replication_slots = {max_slots}, all in use); \
             drop slots nobody reads (see pg_replication_slots; pg_sync_drop drops lakemig's) or raise max_replication_slots \
             (then restart PostgreSQL)"
        )));
    }

    // Each table: its key, the replica identity that carries it, types pgoutput sends in binary.
    let mut tables = Vec::with_capacity(wanted.len());
    let mut described = Some((table, columns));
    for w in wanted {
        let (table, columns) = match described.take() {
            Some(d) => d,
            None => catalog::describe_table(&client, &w.name, &target).await?,
        };
        match cdc_table(&client, &target, table, &columns, w.key.as_deref()).await {
            Ok(t) => tables.push(Ok(t)),
            Err(Error::Argument(why)) if skip_errors => tables.push(Err(why)),
            Err(e) => return Err(e),
        }
    }
    // A table its target's checkpoint keeps in step with another source is refused after this
    // (`sync::cdc`): it is not published, so the refused call changes nothing here.
    let kept: Vec<&CdcTable> = tables
        .iter()
        .zip(wanted)
        .filter_map(|(t, w)| t.as_ref().ok().filter(|t| !kept_for_another_source(w, t)))
        .collect();

    // The publication: the user's must include every table; lakemig's is made, or has the tables
    // it lacks added (a partitioned table publishes its changes as the parent's).
    let publication = publication.unwrap_or(slot).to_string();
    let ours = publication_is_lakemigs(slot, &publication);
    let pub_exists: bool = client
        .query_typed(
            "SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)",
            &[(&publication, Type::TEXT)],
        )
        .await
        .map_err(pg("reading the publication"))?[0]
        .get(0);
    let published: Vec<(String, String)> = client
        .query_typed(
            "SELECT schemaname::text, tablename::text FROM pg_publication_tables WHERE pubname = $1",
            &[(&publication, Type::TEXT)],
        )
        .await
        .map_err(pg("reading the publication's tables"))?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let missing: Vec<String> = kept
        .iter()
        .filter(|t| {
            !published
                .iter()
                .any(|(s, n)| *s == t.schema && *n == t.name)
        })
        .map(|t| t.quoted())
        .collect();
    let listed = missing.join(", ");
    if !ours && !pub_exists {
        return Err(refuse(format!(
            "publication {} does not exist on {target}; create it (CREATE PUBLICATION {} FOR TABLE {}) or leave \
             out publication := to let lakemig make its own",
            quote_ident(&publication),
            quote_ident(&publication),
            kept.iter().map(|t| t.quoted()).collect::<Vec<_>>().join(", ")
        )));
    }
    if !ours && !missing.is_empty() {
        return Err(refuse(format!(
            "publication {} does not include table {listed}; add it (ALTER PUBLICATION {} ADD TABLE {listed}) or use \
             another publication",
            quote_ident(&publication),
            quote_ident(&publication)
        )));
    }
    let mut made_publication = false;
    if ours && !missing.is_empty() && !kept.is_empty() {
        let sql = if pub_exists {
            format!(
                "ALTER PUBLICATION {} ADD TABLE {listed}",
                quote_ident(&publication)
            )
        } else {
            format!(
                "CREATE PUBLICATION {} FOR TABLE {listed} WITH (publish_via_partition_root = true)",
                quote_ident(&publication)
            )
        };
        client.batch_execute(&sql).await.map_err(pg(
            "making the publication (it needs CREATE on the database and ownership of the tables)",
        ))?;
        made_publication = !pub_exists;
    }

    // The slot, after the publication (pgoutput looks the publication up as of each change); none
    // when no table can be kept (every one skipped: the call changes nothing here).
    let (slot_lsn, slot_created) = match slot_lsn {
        Some(lsn) => (lsn.parse()?, false),
        None if kept.is_empty() => (Lsn(0), false),
        None => {
            let made = client
                .query_typed(
                    "SELECT lsn::text FROM pg_create_logical_replication_slot($1, 'pgoutput')",
                    &[(&slot, Type::TEXT)],
                )
                .await;
            match made {
                Ok(rows) => (rows[0].get::<_, String>(0).parse()?, true),
                Err(e) => {
                    if made_publication {
                        let _ = client
                            .batch_execute(&format!(
                                "DROP PUBLICATION IF EXISTS {}",
                                quote_ident(&publication)
                            ))
                            .await;
                    }
                    let full = e.as_db_error().is_some_and(|d| d.code().code() == "53400");
                    if full {
                        return Err(refuse(format!(
                            "the server at {target} has no free replication slot (max_replication_slots = {max_slots}); \
                             drop slots nobody reads or raise max_replication_slots"
                        )));
                    }
                    return Err(Error::from_pg(
                        e,
                        "creating the replication slot",
                        &params.target(),
                    ));
                }
            }
        }
    };
    Ok((
        Arc::new(client),
        CdcSetup {
            slot: slot.to_string(),
            publication,
            slot_created,
            slot_lsn,
            tables,
            server: target,
        },
    ))
}

/// One table as a CDC stream needs it: its key (given, or the primary key) carried by its replica
/// identity, and columns pgoutput sends in binary. An `Error::Argument` names the table.
async fn cdc_table(
    client: &Conn,
    target: &str,
    table: catalog::Table,
    columns: &[catalog::Column],
    given_key: Option<&[String]>,
) -> Result<CdcTable> {
    let pg = |ctx: &'static str| move |e| Error::from_pg(e, ctx, target);
    let quoted = table.quoted();
    let replident: String = client
        .query_typed(
            "SELECT relreplident::text FROM pg_class WHERE oid = $1",
            &[(&table.oid, Type::OID)],
        )
        .await
        .map_err(pg("reading the replica identity"))?
        .first()
        .map_or_else(|| "d".to_string(), |r| r.get(0));
    let primary_key = catalog::primary_key(client, &table, target).await?;
    let identity: Vec<String> = match replident.as_str() {
        "d" => primary_key.clone(),
        "i" => {
            catalog::index_columns(client, &table, target, catalog::KeyIndex::ReplicaIdentity)
                .await?
        }
        _ => Vec::new(),
    };
    let names: Vec<String> = columns.iter().map(|c| c.name.clone()).collect();
    let key = choose_key(
        &quoted,
        given_key,
        &primary_key,
        replident.chars().next().unwrap_or('d'),
        &identity,
        &names,
    )?;
    let mut stage_columns = Vec::with_capacity(columns.len());
    for c in columns {
        if pgtypes::needs_text_cast(&c.pg_type) {
            return Err(refuse(format!(
                "column {} of {quoted} is of type {}, which logical replication would send in a form lakemig does not \
                 decode yet; sync this table with the watermark method",
                quote_ident(&c.name),
                c.pg_type.name
            )));
        }
        let (duck, decode) = pgtypes::pg_type_to_duck(&c.pg_type);
        stage_columns.push(StageColumn {
            name: c.name.clone(),
            duck,
            decode,
        });
    }
    Ok(CdcTable {
        table_oid: table.oid,
        schema: table.schema,
        name: table.name,
        columns: stage_columns,
        key,
    })
}

/// A peek of the slot on a connection of its own: the server's flushed position is read first,
/// then the slot's changes up to it are asked for. A call opens it first thing ([`Peek::open`]
/// from `ChangeSource::open_peek`), so the login is done while DuckDB reads the checkpoints; a
/// later call sends the peek as soon as they name the slot ([`Peek::ask`] from
/// `ChangeSource::start_peek`), before its checks, so that PostgreSQL decodes (the call's longest
/// step) while the checks and DuckDB's reads run. [`stream`] reads it; dropped unread (a refusal,
/// an error), it is cancelled, so the slot is not held until the decode ends; dropped unasked (a
/// first call, before its copy), its connection is closed.
pub struct Peek {
    /// The slot and publication it was asked for (None: not yet).
    asked: Option<(String, String)>,
    /// Hands them to the task, which waits for them once connected (None once asked).
    ask: Option<oneshot::Sender<(String, String)>>,
    params: ConnParams,
    /// The connection with the peek sent, and the position it reads to.
    task: Option<JoinHandle<Result<(Lsn, Wire)>>>,
    /// The backend running it, once connected.
    key: Arc<OnceLock<CancelKey>>,
    runtime: tokio::runtime::Handle,
}

impl Peek {
    /// Connect and read the server's flushed position, on the runtime (call from within it); the
    /// peek is sent once [`Peek::ask`] names the slot.
    pub fn open(params: &ConnParams) -> Peek {
        let key = Arc::new(OnceLock::new());
        let (ask, asked) = oneshot::channel();
        let task = tokio::spawn(send_peek(params.clone(), asked, key.clone()));
        Peek {
            asked: None,
            ask: Some(ask),
            params: params.clone(),
            task: Some(task),
            key,
            runtime: tokio::runtime::Handle::current(),
        }
    }

    /// Connect and send the peek of `slot` for `publication`, on the runtime (call from within it).
    pub fn start(params: &ConnParams, slot: &str, publication: &str) -> Peek {
        let mut peek = Peek::open(params);
        peek.ask(slot, publication);
        peek
    }

    /// Send the peek of `slot` for `publication` (once connected). A peek is asked for once.
    pub fn ask(&mut self, slot: &str, publication: &str) {
        if let Some(ask) = self.ask.take() {
            let asked = (slot.to_string(), publication.to_string());
            // A task that ended (its connection failed) keeps its error for `sent`.
            let _ = ask.send(asked.clone());
            self.asked = Some(asked);
        }
    }

    /// It was asked for a slot.
    pub fn is_asked(&self) -> bool {
        self.asked.is_some()
    }

    /// It was asked for `slot` and `publication`.
    pub fn asked_for(&self, slot: &str, publication: &str) -> bool {
        self.asked
            .as_ref()
            .is_some_and(|(s, p)| s == slot && p == publication)
    }

    /// The process id of the backend that runs the peek (None before it connected).
    pub fn pid(&self) -> Option<i32> {
        self.key.get().map(|k| k.pid)
    }

    /// It reads what `setup` needs: its slot (not made by this call) for its publication.
    pub fn reads(&self, setup: &CdcSetup) -> bool {
        !setup.slot_created
            && self.asked.as_ref().is_some_and(|(slot, publication)| {
                *slot == setup.slot && *publication == setup.publication
            })
    }

    /// The connection once the peek is sent, and the position it reads to.
    async fn sent(mut self) -> Result<(Lsn, Wire)> {
        let task = self.task.take().expect("a peek is read once");
        task.await
            .map_err(|e| Error::internal(format!("the replication slot's reader stopped: {e}")))?
    }

    /// Take the peek back: wait until it is sent, cancel it, and read up to the server's answer,
    /// so the slot is free again when this returns (best effort, at most [`WITHDRAW_TIMEOUT`]).
    pub async fn cancel(mut self) {
        if let Some(task) = self.task.take() {
            if self.ask.take().is_some() {
                return; // never asked: the task closes its connection (not waited for)
            }
            withdraw(task, self.params.clone()).await;
        }
    }
}

/// How long taking a peek back may take.
const WITHDRAW_TIMEOUT: Duration = Duration::from_secs(10);

async fn withdraw(task: JoinHandle<Result<(Lsn, Wire)>>, params: ConnParams) {
    let steps = async {
        let Ok(Ok((_, mut wire))) = task.await else {
            return; // it failed: nothing runs on the server
        };
        wire.cancel_running(&params).await;
    };
    let _ = tokio::time::timeout(WITHDRAW_TIMEOUT, steps).await;
}

impl Drop for Peek {
    /// Unread and not taken back by [`Peek::cancel`]: cancelled in the background.
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            if self.ask.take().is_none() {
                self.runtime.spawn(withdraw(task, self.params.clone()));
            }
        }
    }
}

async fn send_peek(
    params: ConnParams,
    asked: oneshot::Receiver<(String, String)>,
    key: Arc<OnceLock<CancelKey>>,
) -> Result<(Lsn, Wire)> {
    let target = params.target();
    let mut wire = Wire::connect_plain(&params).await?;
    if let Some(k) = wire.cancel_key() {
        let _ = key.set(k);
    }
    // The server's flushed position now: the peek reads the slot up to it, and every
    // transaction committed before it is in what the peek returns.
    let position = move |_: &str, text: String| Error::Server {
        context: "reading the server's WAL position".into(),
        message: text,
    };
    wire.query(
        "SELECT pg_current_wal_flush_lsn()::text",
        Box::new(position),
    )
    .await?;
    let flushed = match wire.next_value().await? {
        Some(v) => String::from_utf8_lossy(v).into_owned(),
        None => return Err(Error::internal(format!("{target} gave no WAL position"))),
    };
    while wire.next_value().await?.is_some() {}
    let read_to: Lsn = flushed.parse()?;
    let Ok((slot, publication)) = asked.await else {
        wire.close().await;
        return Err(Error::internal("a peek's connection closed unasked"));
    };
    let sql = format!(
        "SELECT data FROM pg_logical_slot_peek_binary_changes({}, {}::pg_lsn, NULL, \
         'proto_version', '1', 'publication_names', {}, 'binary', 'true')",
        quote_literal(&slot),
        quote_literal(&flushed),
        quote_literal(&quote_ident(&publication))
    );
    let in_use = format!(
        "replication slot {slot} is in use by another process (another pg_sync of this target?); run again when it is done"
    );
    let on_error = Box::new(move |code: &str, text: String| match code {
        "55006" => refuse(in_use.clone()),
        _ => Error::Server {
            context: "reading the replication slot".into(),
            message: text,
        },
    });
    wire.query(&sql, on_error).await?;
    Ok((read_to, wire))
}

/// Stream the slot's pending changes of `tables` through a [`Router`] on the runtime (see
/// `ChangeSource::changes`), in batches of DuckDB's vector size, at least `queued` of them (see
/// [`read_ahead`]) waiting.
/// `peek` is the one sent early for `setup`'s slot, if any (else one is sent now). The peek holds
/// the slot for as long as it runs.
pub fn stream<T: Send + 'static>(
    params: &ConnParams,
    setup: &CdcSetup,
    tables: &[(CdcTable, Lsn, bool)],
    queued: usize,
    make: fn(Batch, &[DuckType]) -> Result<T>,
    peek: Option<Peek>,
) -> mpsc::Receiver<Result<Change<T>>> {
    let (tx, rx) = mpsc::channel(QUEUED);
    let peek = match peek.filter(|p| p.reads(setup)) {
        Some(p) => p,
        None => Peek::start(params, &setup.slot, &setup.publication),
    };
    let router = Router::new(
        tables
            .iter()
            .map(|(t, since, direct)| {
                Stager::new(
                    t.table_oid,
                    t.columns.clone(),
                    t.key.clone(),
                    *since,
                    BATCH_ROWS,
                )
                .direct(*direct)
            })
            .collect(),
        HELD_ROWS,
    );
    let params = params.clone();
    tokio::spawn(async move {
        let mut rows_tx: Option<mpsc::Sender<Result<T>>> = None;
        let result = run_stream(&params, peek, router, queued, make, &tx, &mut rows_tx).await;
        if let Err(e) = result {
            let text = e.to_string();
            if let Some(r) = rows_tx.take() {
                let _ = r.send(Err(Error::argument(text))).await;
            }
            let _ = tx.send(Err(e)).await;
        }
    });
    rx
}

async fn run_stream<T: Send + 'static>(
    params: &ConnParams,
    peek: Peek,
    mut router: Router,
    queued: usize,
    make: fn(Batch, &[DuckType]) -> Result<T>,
    tx: &mpsc::Sender<Result<Change<T>>>,
    rows_tx: &mut Option<mpsc::Sender<Result<T>>>,
) -> Result<()> {
    let gone = || Error::internal("the sync stopped reading the replication stream");
    // The peek's first row comes once the server has decoded everything; the rest follows at
    // once, 28 MB for 100,000 changes, read straight from large socket reads: through
    // tokio-postgres every 8 KiB would be a hand-off between its connection task and this one.
    let (read_to, mut peeker) = peek.sent().await?;
    let mut decoding = true;
    let mut types: Vec<DuckType> = Vec::new();
    loop {
        let value = match decoding {
            // A call that stops while the server decodes cancels the decode, which would
            // otherwise hold the slot until it ends.
            true => {
                decoding = false;
                tokio::select! {
                    v = peeker.next_value() => v?,
                    _ = tx.closed() => {
                        let cancel = peeker.cancel_running(params);
                        let _ = tokio::time::timeout(WITHDRAW_TIMEOUT, cancel).await;
                        return Err(gone());
                    }
                }
            }
            false => peeker.next_value().await?,
        };
        let end = match value {
            Some(data) => {
                router.push(&pgoutput::decode(data)?)?;
                false
            }
            None => {
                router.finish()?;
                true
            }
        };
        while let Some((table, staged)) = router.next_out()? {
            // A new part (or a direct part's side rows): its columns, and a channel for its rows.
            if let Some((kind, all)) = staged.part_start() {
                types = all.iter().map(|(_, t)| t.clone()).collect();
                let (rtx, rrx) = mpsc::channel(read_ahead(&types, BATCH_ROWS, queued));
                *rows_tx = Some(rtx);
                tx.send(Ok(Change::Part {
                    table,
                    kind,
                    columns: all.clone(),
                    rows: Rows {
                        columns: all,
                        rx: rrx,
                    },
                }))
                .await
                .map_err(|_| gone())?;
            }
            match staged {
                Staged::Start(_)
                | Staged::Direct(_)
                | Staged::SideStart(_)
                | Staged::WritesStart(_)
                | Staged::KeysStart(_) => {}
                Staged::Batch(b) | Staged::Side(b) | Staged::Writes(b) | Staged::Keys(b) => {
                    let chunk = make(b, &types)?;
                    if let Some(r) = rows_tx.as_ref() {
                        r.send(Ok(chunk)).await.map_err(|_| gone())?;
                    }
                }
                Staged::End(summary) => {
                    rows_tx.take();
                    tx.send(Ok(Change::PartEnd(table, summary)))
                        .await
                        .map_err(|_| gone())?;
                }
            }
        }
        if end {
            break;
        }
    }
    peeker.close().await;
    tx.send(Ok(Change::Done(router.summaries(), Some(read_to))))
        .await
        .map_err(|_| gone())?;
    Ok(())
}

/// How long the confirm on a replication connection may take before the SQL advance is tried.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(30);

/// A replication connection being opened (see [`open_confirm`]).
pub type Opening = JoinHandle<Result<Wire>>;

/// A replication connection opened ahead of [`advance`], so that its login happens while the
/// server decodes, not after the DuckDB commit.
pub fn open_confirm(params: &ConnParams) -> Opening {
    let params = params.clone();
    tokio::spawn(async move { Wire::connect(&params).await })
}

/// Move the slot's confirmed position to `to` (PostgreSQL may then free the WAL before it).
///
/// First by a standby status update on a replication connection ([`Wire::confirm`]; `opened` is
/// one from [`open_confirm`], else one is opened now, or again when `opened` failed), which does
/// not decode the WAL again. Where the server takes no replication connection
/// (`max_wal_senders = 0`, a pooler in between; pg_hba.conf is no obstacle: a logical replication
/// connection matches the lines for its database, not the `replication` ones), by
/// `pg_replication_slot_advance`, which decodes up to `to` once more; an error is that one's.
pub async fn advance(
    client: &Conn,
    params: &ConnParams,
    setup: &CdcSetup,
    to: Lsn,
    opened: Option<Opening>,
) -> Result<()> {
    let confirm = async {
        // The connection opened ahead, if it opened and confirms; else a new one.
        if let Some(task) = opened {
            if let Ok(Ok(wire)) = task.await {
                if wire
                    .confirm(&setup.slot, &setup.publication, to)
                    .await
                    .is_ok()
                {
                    return Ok(());
                }
            }
        }
        Wire::connect(params)
            .await?
            .confirm(&setup.slot, &setup.publication, to)
            .await
    };
    if let Ok(Ok(())) = tokio::time::timeout(CONFIRM_TIMEOUT, confirm).await {
        return Ok(());
    }
    client
        .query_typed(
            "SELECT pg_replication_slot_advance($1, $2::text::pg_lsn)::text",
            &[(&setup.slot, Type::TEXT), (&to.to_string(), Type::TEXT)],
        )
        .await
        .map_err(|e| Error::from_pg(e, "advancing the replication slot", &params.target()))?;
    Ok(())
}

/// Bytes of WAL the slot keeps (from its restart position to the server's current one).
pub async fn retained_wal(client: &Conn, params: &ConnParams, slot: &str) -> Result<Option<i64>> {
    let rows = client
        .query_typed(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::int8 FROM pg_replication_slots WHERE slot_name = $1",
            &[(&slot, Type::TEXT)],
        )
        .await
        .map_err(|e| Error::from_pg(e, "reading the slot's retained WAL", &params.target()))?;
    Ok(rows.first().and_then(|r| r.get(0)))
}

/// Stop reading `source` (`schema.table`) through a slot other targets still read: it leaves
/// lakemig's publication (the user's is left alone); the slot stays.
pub async fn leave_slot(
    params: &ConnParams,
    slot: &str,
    publication: &str,
    source: &str,
) -> Result<()> {
    if !publication_is_lakemigs(slot, publication) {
        return Ok(());
    }
    let client = super::connect::open(params).await?;
    let pg = |e| {
        Error::from_pg(
            e,
            "removing the table from the publication",
            &params.target(),
        )
    };
    let found = client
        .query_typed(
            "SELECT schemaname::text, tablename::text FROM pg_publication_tables \
             WHERE pubname = $1 AND schemaname || '.' || tablename = $2",
            &[(&publication, Type::TEXT), (&source, Type::TEXT)],
        )
        .await
        .map_err(pg)?;
    if let Some(r) = found.first() {
        let (schema, name): (String, String) = (r.get(0), r.get(1));
        client
            .batch_execute(&format!(
                "ALTER PUBLICATION {} DROP TABLE {}.{}",
                quote_ident(publication),
                quote_ident(&schema),
                quote_ident(&name)
            ))
            .await
            .map_err(pg)?;
    }
    Ok(())
}

/// Drop the slot (if it exists) and, when lakemig made it, the publication. What was dropped.
pub async fn drop_slot(params: &ConnParams, slot: &str, publication: &str) -> Result<(bool, bool)> {
    let client = super::connect::open(params).await?;
    let pg = |e| Error::from_pg(e, "dropping the replication slot", &params.target());
    let active: Option<Option<i32>> = client
        .query_typed(
            "SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1",
            &[(&slot, Type::TEXT)],
        )
        .await
        .map_err(pg)?
        .first()
        .map(|r| r.get(0));
    if let Some(Some(pid)) = active {
        return Err(refuse(format!(
            "replication slot {slot} is in use by another process (pid {pid}); wait for it to end"
        )));
    }
    if active.is_some() {
        client
            .query_typed(
                "SELECT pg_drop_replication_slot($1)::text",
                &[(&slot, Type::TEXT)],
            )
            .await
            .map_err(pg)?;
    }
    let mut dropped_pub = false;
    if publication_is_lakemigs(slot, publication) {
        let existed = client
            .query_typed(
                "SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)",
                &[(&publication, Type::TEXT)],
            )
            .await
            .map_err(pg)?[0]
            .get::<_, bool>(0);
        if existed {
            client
                .batch_execute(&format!("DROP PUBLICATION {}", quote_ident(publication)))
                .await
                .map_err(pg)?;
            dropped_pub = true;
        }
    }
    Ok((active.is_some(), dropped_pub))
}

/// The server's logical slots (for `pg_sync_state(dsn := ...)`), with the WAL each keeps.
pub async fn slots(params: &ConnParams) -> Result<Vec<SlotOnServer>> {
    let client = super::connect::open(params).await?;
    let rows = client
        .query_typed(
            "SELECT slot_name::text, database::text, active, \
             pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::int8 \
             FROM pg_replication_slots WHERE slot_type = 'logical' ORDER BY 1",
            &[],
        )
        .await
        .map_err(|e| Error::from_pg(e, "listing the replication slots", &params.target()))?;
    Ok(rows
        .iter()
        .map(|r| SlotOnServer {
            name: r.get(0),
            database: r.get::<_, Option<String>>(1).unwrap_or_default(),
            active: r.get(2),
            retained_wal: r.get(3),
        })
        .collect())
}
