//! The PostgreSQL side of a sync, as the engine sees it: one snapshot, and reads in it.
//! `src/postgres/sync.rs` takes the snapshot and starts the reads; `src/duck/` drives them on the
//! process's runtime.

use std::time::Duration;

use tokio::sync::mpsc;

use crate::error::Result;
use crate::postgres::catalog::QualifiedName;
use crate::types::batch::Batch;
use crate::types::DuckType;

/// The source table as the sync's snapshot sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceView {
    /// `schema.name`.
    pub name: String,
    /// `"schema"."name"`.
    pub quoted: String,
    /// Its columns, in table order.
    pub columns: Vec<String>,
    /// Its primary key (empty when it has none).
    pub primary_key: Vec<String>,
    /// The safe upper bound for the next watermark, as text in the cursor's type (None for integer
    /// cursors).
    pub bound: Option<String>,
    /// Why the bound is where it is, for the result row.
    pub bound_reason: String,
    /// The server, `host:port/db as user "name"` (never a password).
    pub server: String,
}

/// One read of the source, in the sync's snapshot.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Read {
    /// These columns, in this order (None: all).
    pub columns: Option<Vec<String>>,
    /// Only rows whose cursor is greater than this watermark (None: every row).
    pub since: Option<String>,
}

/// A running read: its columns, then its rows as chunks, until the channel closes.
pub struct Rows<T> {
    pub columns: Vec<(String, DuckType)>,
    pub rx: mpsc::Receiver<Result<T>>,
}

/// The chunks, waiting for each (call from a thread that is not running the tokio runtime).
impl<T> Iterator for Rows<T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        self.rx.blocking_recv()
    }
}

pub trait Source {
    /// Take the snapshot every read of this sync shares, and describe the table in it.
    fn snapshot(
        &mut self,
        table: &QualifiedName,
        cursor: &str,
        blind_window: Duration,
    ) -> Result<SourceView>;
    /// Start a read; each decoded batch becomes a `T` through `make` (with the read's column
    /// types) on the reader's thread.
    fn read<T: Send + 'static>(
        &mut self,
        read: &Read,
        make: fn(Batch, &[DuckType]) -> Result<T>,
    ) -> Result<Rows<T>>;
    /// End the snapshot (after the last read).
    fn finish(&mut self) -> Result<()>;
}
