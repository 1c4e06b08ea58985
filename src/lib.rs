//! lakemig: a DuckDB extension that syncs PostgreSQL tables into DuckDB/DuckLake and migrates SQLite
//! databases and DuckLake catalogs into PostgreSQL, in plain SQL.
//!
//! Only `src/duck/` touches DuckDB's API; everything else is plain Rust, testable with `cargo test`.

pub mod duck;
pub mod ducklake;
pub mod error;
pub mod migrate;
pub mod postgres;
pub mod sql;
pub mod sqlite;
pub mod sync;
pub mod trace;
pub mod types;
pub mod version;

use duckdb::Connection;
use duckdb_loadable_macros::duckdb_entrypoint_c_api;

/// Decoded batches are allocated and freed at a high rate; glibc's malloc returns their pages to the
/// kernel and faults them back in zeroed (measured: 11% of a full read in `clear_page_erms`).
/// mimalloc keeps and reuses them. Only lakemig's own Rust allocations use it. Built without its
/// transparent huge pages (`no_thp`): with them, each page mimalloc purges and takes back faults a
/// zeroed 2 MiB page in (measured: 20% of a cdc call's reader in `clear_page_erms`, 25 ms). The rest
/// of the process (DuckDB's own allocator) is not touched.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Registers the SQL functions, nothing else. DuckDB enters through `lakemig_init_c_api`
/// (`src/duck/entry.rs`), which runs the entry point this macro generates on DuckDB's stable C API
/// v1.2.0 only; [`duck::load`] also opens the connection lakemig writes through.
#[duckdb_entrypoint_c_api(ext_name = "lakemig_stable", min_duckdb_version = "v1.2.0")]
pub fn lakemig_init(con: Connection) -> Result<(), Box<dyn std::error::Error>> {
    duck::load(&con)
}
