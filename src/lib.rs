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

/// Decoded batches are allocated and freed at a high rate; glibc's malloc returns their pages to the
/// kernel and faults them back in zeroed (measured: 11% of a full read in `clear_page_erms`).
/// mimalloc keeps and reuses them. Only lakemig's own Rust allocations use it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Called by DuckDB on `LOAD lakemig`: registers the SQL functions, nothing else (see
/// [`duck::load`], which also opens the connection lakemig writes through).
///
/// # Safety
/// Called by DuckDB only, with the load's extension info and access functions.
#[no_mangle]
pub unsafe extern "C" fn lakemig_init_c_api(
    info: duckdb::ffi::duckdb_extension_info,
    access: *const duckdb::ffi::duckdb_extension_access,
) -> bool {
    // SAFETY: DuckDB passes the arguments of an extension entrypoint.
    unsafe { duck::load(info, access) }
}
