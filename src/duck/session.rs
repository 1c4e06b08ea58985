//! The DuckDB session lakemig writes through: a connection of its own to the database that loaded
//! it (opened at `LOAD`, one per database, never a process-wide one), used through DuckDB's stable
//! C API only (every function called here and in `result.rs` is in `apis/v1/v1.2/v1.2.0.json` of
//! DuckDB 1.5.5's `header_generation`): `duckdb_prepare` + `duckdb_bind_*` +
//! `duckdb_pending_prepared` + `duckdb_pending_execute_task` + `duckdb_fetch_chunk`. Not
//! duckdb-rs's `Connection::execute` / `query_row`, which use the unstable arrow-result and
//! error-data functions.
//!
//! Its transactions are its own: a caller's `BEGIN ... ROLLBACK` around a function that writes
//! through it does not undo what it wrote.

use std::ffi::CString;
use std::os::raw::c_char;
use std::ptr;

use duckdb::ffi;

use super::result::{message, QueryResult};
use crate::sync::session::Value;

/// lakemig's own connection to one database.
pub struct SideConnection {
    raw: ffi::duckdb_connection,
    /// Its session settings were made (on first use, not during `LOAD`).
    ready: bool,
}

/// Session settings of lakemig's connection: its statements are internal, so no progress bar
/// (DuckDB would draw one on the caller's terminal for a long insert).
const SETUP: &str = "SET enable_progress_bar = false";

// SAFETY: a DuckDB connection may be used from any thread as long as one thread uses it at a time;
// lakemig keeps it behind a `Mutex`.
unsafe impl Send for SideConnection {}

impl Drop for SideConnection {
    fn drop(&mut self) {
        // SAFETY: `raw` came from `duckdb_connect` and is disconnected once, here.
        unsafe { ffi::duckdb_disconnect(&mut self.raw) };
    }
}

fn cstring(s: &str) -> Result<CString, String> {
    CString::new(s).map_err(|_| format!("text holds a NUL byte: {s:?}"))
}

/// A prepared statement, destroyed on drop (also after a failed prepare, as DuckDB requires).
struct Prepared(ffi::duckdb_prepared_statement);

impl Drop for Prepared {
    fn drop(&mut self) {
        // SAFETY: null or made by `duckdb_prepare`; destroyed once.
        unsafe { ffi::duckdb_destroy_prepare(&mut self.0) };
    }
}

/// A pending result, destroyed on drop.
struct Pending(ffi::duckdb_pending_result);

impl Drop for Pending {
    fn drop(&mut self) {
        // SAFETY: null or made by `duckdb_pending_prepared`; destroyed once.
        unsafe { ffi::duckdb_destroy_pending(&mut self.0) };
    }
}

/// How long `run_prepared` sleeps when DuckDB has no task for its thread.
const IDLE_POLL: std::time::Duration = std::time::Duration::from_micros(200);

impl Prepared {
    fn bind(&mut self, index: u64, value: &Value) -> Result<(), String> {
        // SAFETY: a successfully prepared statement; text is passed with its length and copied by
        // DuckDB; every value made here is destroyed after binding (DuckDB copies it).
        let state = unsafe {
            match value {
                Value::Null => ffi::duckdb_bind_null(self.0, index),
                Value::Bool(b) => ffi::duckdb_bind_boolean(self.0, index, *b),
                Value::Int(i) => ffi::duckdb_bind_int64(self.0, index, *i),
                Value::Text(s) => ffi::duckdb_bind_varchar_length(
                    self.0,
                    index,
                    s.as_ptr() as *const c_char,
                    s.len() as u64,
                ),
                Value::TextList(items) => {
                    let mut ty =
                        ffi::duckdb_create_logical_type(ffi::DUCKDB_TYPE_DUCKDB_TYPE_VARCHAR);
                    let mut values: Vec<ffi::duckdb_value> = items
                        .iter()
                        .map(|s| {
                            ffi::duckdb_create_varchar_length(
                                s.as_ptr() as *const c_char,
                                s.len() as u64,
                            )
                        })
                        .collect();
                    let mut list =
                        ffi::duckdb_create_list_value(ty, values.as_mut_ptr(), values.len() as u64);
                    let state = ffi::duckdb_bind_value(self.0, index, list);
                    for v in values.iter_mut() {
                        ffi::duckdb_destroy_value(v);
                    }
                    ffi::duckdb_destroy_value(&mut list);
                    ffi::duckdb_destroy_logical_type(&mut ty);
                    state
                }
            }
        };
        if state == ffi::DuckDBSuccess {
            Ok(())
        } else {
            Err(format!("cannot bind parameter {index}"))
        }
    }
}

impl SideConnection {
    /// Open a connection to `db`.
    ///
    /// # Safety
    /// `db` must be a live database handle: the one DuckDB hands an extension's entrypoint, which
    /// is valid only until the entrypoint returns.
    pub unsafe fn connect(db: ffi::duckdb_database) -> Result<Self, String> {
        let mut raw = ptr::null_mut();
        if ffi::duckdb_connect(db, &mut raw) != ffi::DuckDBSuccess {
            return Err("cannot open lakemig's connection to the database".into());
        }
        Ok(SideConnection { raw, ready: false })
    }

    /// The session settings, made on first use (not during `LOAD`).
    fn set_up(&mut self) -> Result<(), String> {
        if !self.ready {
            self.ready = true;
            self.run(SETUP, &[])?;
        }
        Ok(())
    }

    fn prepare(&mut self, text: &CString) -> Result<Prepared, String> {
        let mut stmt = Prepared(ptr::null_mut());
        // SAFETY: a live connection, a NUL-terminated statement; destroyed by `Prepared`'s drop.
        if unsafe { ffi::duckdb_prepare(self.raw, text.as_ptr(), &mut stmt.0) }
            != ffi::DuckDBSuccess
        {
            // SAFETY: the failed statement holds its error until destroyed.
            return Err(unsafe {
                message(
                    ffi::duckdb_prepare_error(stmt.0),
                    "cannot prepare a statement",
                )
            });
        }
        Ok(stmt)
    }

    /// Run SQL with `?` parameters; the number of rows it changed.
    pub fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, String> {
        Ok(self.run(sql, params)?.rows_changed())
    }

    /// Run a prepared statement to its result. `duckdb_query` and `duckdb_execute_prepared` have
    /// this thread poll DuckDB for a task in a busy loop whenever a worker thread holds the only
    /// one: on 2 cores that loop takes a core from the work it waits on (40% of the samples of a
    /// cdc call's stream, when a worker ran the INSERT from a feed that waits on the reader; a
    /// `CHECKPOINT` run by a worker while PostgreSQL decodes took 350 ms instead of 150, and the
    /// decode a third longer). Here the thread runs DuckDB's tasks as they come, and sleeps
    /// briefly when there is none.
    fn run_prepared(stmt: &Prepared) -> Result<QueryResult, String> {
        let mut pending = Pending(ptr::null_mut());
        // SAFETY: a prepared statement with its parameters bound; destroyed by `Pending`'s drop.
        if unsafe { ffi::duckdb_pending_prepared(stmt.0, &mut pending.0) } != ffi::DuckDBSuccess {
            // SAFETY: the failed pending result holds its error until destroyed.
            return Err(unsafe {
                message(
                    ffi::duckdb_pending_error(pending.0),
                    "cannot start a statement",
                )
            });
        }
        loop {
            // SAFETY: a live pending result.
            match unsafe { ffi::duckdb_pending_execute_task(pending.0) } {
                ffi::duckdb_pending_state_DUCKDB_PENDING_RESULT_READY
                | ffi::duckdb_pending_state_DUCKDB_PENDING_ERROR => break,
                ffi::duckdb_pending_state_DUCKDB_PENDING_NO_TASKS_AVAILABLE => {
                    std::thread::sleep(IDLE_POLL)
                }
                _ => {}
            }
        }
        let mut result = QueryResult::new();
        // SAFETY: a pending result that is ready or failed; the result (or its error) is filled.
        if unsafe { ffi::duckdb_execute_pending(pending.0, &mut result.0) } != ffi::DuckDBSuccess {
            return Err(result.error());
        }
        Ok(result)
    }

    /// Run a query; its rows as plain values (BOOLEAN, integers up to BIGINT, VARCHAR, VARCHAR[]).
    pub fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, String> {
        self.run(sql, params)?.rows()
    }

    fn run(&mut self, sql: &str, params: &[Value]) -> Result<QueryResult, String> {
        self.set_up()?;
        let text = cstring(sql)?;
        let mut stmt = self.prepare(&text)?;
        for (i, p) in params.iter().enumerate() {
            stmt.bind(i as u64 + 1, p)?;
        }
        Self::run_prepared(&stmt)
    }
}
