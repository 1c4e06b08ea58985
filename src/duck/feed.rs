//! `__lakemig_sync_rows(id)`: hands DuckDB the rows of one read that `pg_sync`'s engine started (on
//! its own snapshot, through `Source::read`), for the `INSERT INTO ... SELECT` its session runs.
//! Rows are not read here: the function only drains batches the engine's readers already decoded
//! (laid out as DuckDB's vectors are) and copies each into its output chunk, so DuckDB inserts them
//! on every thread, as from any table function. Called with an id nobody
//! registered (by hand, say) it is an error.
//!
//! `__lakemig_held_rows(id)`: rows `pg_sync`'s CDC apply keeps in memory for the statements of one
//! part (`Session::hold`), read as often as those statements read them, in place of a staging
//! table DuckDB would have to append them to first. Only the columns a statement reads are copied
//! (projection pushdown).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use duckdb::core::{DataChunkHandle, LogicalTypeHandle, LogicalTypeId};
use duckdb::vtab::{BindInfo, InitInfo, TableFunctionInfo, VTab};

use super::chunk;
use super::types;
use crate::sync::source::Rows;
use crate::types::batch::Batch;
use crate::types::DuckType;

pub const NAME: &str = "__lakemig_sync_rows";
pub const HELD: &str = "__lakemig_held_rows";

/// Reads waiting for their INSERT, per database (the function's extra info, shared with the
/// session that registers them).
#[derive(Default)]
pub struct Feeds {
    next: AtomicU64,
    pending: Mutex<HashMap<u64, Rows<Batch>>>,
    held: Mutex<HashMap<u64, Arc<HeldRows>>>,
}

/// Rows kept for the statements that read them, until released.
pub struct HeldRows {
    columns: Vec<(String, DuckType)>,
    batches: Vec<Batch>,
}

impl Feeds {
    /// Register a read; the id to select it by.
    pub fn put(&self, rows: Rows<Batch>) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut p) = self.pending.lock() {
            p.insert(id, rows);
        }
        id
    }

    fn columns(&self, id: u64) -> Option<Vec<(String, DuckType)>> {
        let p = self.pending.lock().ok()?;
        p.get(&id).map(|r| r.columns.clone())
    }

    /// Take a read back (its INSERT started, or failed before it could).
    pub fn take(&self, id: u64) -> Option<Rows<Batch>> {
        self.pending.lock().ok()?.remove(&id)
    }

    /// Keep `batches` (of `columns`) for [`HELD`] to serve under the id returned, until
    /// [`Feeds::release`].
    pub fn hold(&self, columns: Vec<(String, DuckType)>, batches: Vec<Batch>) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut h) = self.held.lock() {
            h.insert(id, Arc::new(HeldRows { columns, batches }));
        }
        id
    }

    pub fn release(&self, id: u64) {
        if let Ok(mut h) = self.held.lock() {
            h.remove(&id);
        }
    }

    fn held(&self, id: u64) -> Option<Arc<HeldRows>> {
        self.held.lock().ok()?.get(&id).cloned()
    }
}

fn no_rows(id: u64) -> Box<dyn std::error::Error> {
    format!("{NAME}: no rows registered under id {id} (this function is pg_sync's own)").into()
}

fn feeds<'a>(ptr: *const Arc<Feeds>) -> Result<&'a Feeds, Box<dyn std::error::Error>> {
    // SAFETY: the extra info was registered as an `Arc<Feeds>` in `register` and lives as long as
    // the function.
    unsafe { ptr.as_ref() }
        .map(|a| a.as_ref())
        .ok_or_else(|| format!("{NAME}: internal error: no registry").into())
}

/// The registry and the id a function is called with.
fn registered<'a>(bind: &BindInfo) -> Result<(&'a Feeds, u64), Box<dyn std::error::Error>> {
    let id = bind.get_parameter(0).to_int64() as u64;
    Ok((feeds(bind.get_extra_info::<Arc<Feeds>>())?, id))
}

fn declare(bind: &BindInfo, columns: &[(String, DuckType)]) {
    for (name, ty) in columns {
        bind.add_result_column(name, types::logical_type(ty));
    }
}

pub struct Feed;

pub struct Bind {
    id: u64,
    types: Vec<DuckType>,
}

pub struct Init {
    rows: Mutex<Rows<Batch>>,
    targets: Vec<usize>,
    types: Vec<DuckType>,
}

impl VTab for Feed {
    type InitData = Init;
    type BindData = Bind;

    fn bind(bind: &BindInfo) -> Result<Bind, Box<dyn std::error::Error>> {
        let (feeds, id) = registered(bind)?;
        let columns = feeds.columns(id).ok_or_else(|| no_rows(id))?;
        declare(bind, &columns);
        Ok(Bind {
            id,
            types: columns.into_iter().map(|(_, ty)| ty).collect(),
        })
    }

    fn init(init: &InitInfo) -> Result<Init, Box<dyn std::error::Error>> {
        // SAFETY: DuckDB hands back the bind data this function's bind returned.
        let bind = unsafe { &*init.get_bind_data::<Bind>() };
        let rows = feeds(init.get_extra_info::<Arc<Feeds>>())?
            .take(bind.id)
            .ok_or_else(|| no_rows(bind.id))?;
        // A sync's rows have no order to keep: let every DuckDB thread take chunks and insert.
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        init.set_max_threads(threads as u64);
        Ok(Init {
            rows: Mutex::new(rows),
            targets: (0..bind.types.len()).collect(),
            types: bind.types.clone(),
        })
    }

    fn func(
        func: &TableFunctionInfo<Self>,
        output: &mut DataChunkHandle,
    ) -> Result<(), Box<dyn std::error::Error>> {
        let init = func.get_init_data();
        chunk::fill_next(
            output,
            // Hold the lock only to take the next batch; copy it outside, in parallel.
            || -> Result<Option<Batch>, Box<dyn std::error::Error>> {
                let next = init
                    .rows
                    .lock()
                    .map_err(|_| format!("{NAME}: poisoned by an earlier failure"))?
                    .next();
                Ok(next.transpose().map_err(|e| e.to_string())?)
            },
            |output, b| {
                chunk::write_batch(output, b, &init.targets, &init.types)
                    .map_err(|e| format!("{NAME}: {e}").into())
            },
        )
    }

    fn parameters() -> Option<Vec<LogicalTypeHandle>> {
        Some(vec![LogicalTypeHandle::from(LogicalTypeId::Bigint)])
    }
}

pub struct Held;

pub struct HeldBind {
    rows: Arc<HeldRows>,
}

pub struct HeldInit {
    rows: Arc<HeldRows>,
    next: AtomicUsize,
    /// Output column j is held column `picks[j]`, of type `types[j]`.
    picks: Vec<usize>,
    types: Vec<DuckType>,
}

impl VTab for Held {
    type InitData = HeldInit;
    type BindData = HeldBind;

    fn bind(bind: &BindInfo) -> Result<HeldBind, Box<dyn std::error::Error>> {
        let (feeds, id) = registered(bind)?;
        let rows = feeds.held(id).ok_or_else(|| no_held(id))?;
        declare(bind, &rows.columns);
        Ok(HeldBind { rows })
    }

    fn init(init: &InitInfo) -> Result<HeldInit, Box<dyn std::error::Error>> {
        // SAFETY: DuckDB hands back the bind data this function's bind returned.
        let bind = unsafe { &*init.get_bind_data::<HeldBind>() };
        let rows = bind.rows.clone();
        let picks: Vec<usize> = init
            .get_column_indices()
            .into_iter()
            .map(|i| i as usize)
            .filter(|&i| i < rows.columns.len())
            .collect();
        let types = picks.iter().map(|&i| rows.columns[i].1.clone()).collect();
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        init.set_max_threads(threads as u64);
        Ok(HeldInit {
            rows,
            next: AtomicUsize::new(0),
            picks,
            types,
        })
    }

    fn func(
        func: &TableFunctionInfo<Self>,
        output: &mut DataChunkHandle,
    ) -> Result<(), Box<dyn std::error::Error>> {
        let init = func.get_init_data();
        chunk::fill_next(
            output,
            || {
                Ok(init
                    .rows
                    .batches
                    .get(init.next.fetch_add(1, Ordering::Relaxed)))
            },
            |output, b| {
                chunk::write_columns(output, b, &init.picks, &init.types)
                    .map_err(|e| format!("{HELD}: {e}").into())
            },
        )
    }

    fn supports_pushdown() -> bool {
        true
    }

    fn parameters() -> Option<Vec<LogicalTypeHandle>> {
        Some(vec![LogicalTypeHandle::from(LogicalTypeId::Bigint)])
    }
}

fn no_held(id: u64) -> Box<dyn std::error::Error> {
    format!("{HELD}: no rows held under id {id} (this function is pg_sync's own)").into()
}
