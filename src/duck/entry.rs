//! The C entry point DuckDB calls on `LOAD lakemig`, restricted to DuckDB's stable C API v1.2.0.
//!
//! The binary's footer declares ABI `C_STRUCT` with C API `v1.2.0` (Makefile), which DuckDB 1.2 and
//! later (1.4.4, 1.5.5, 1.5.6, 2.0.x) accept. For that version DuckDB guarantees only the first
//! [`STABLE_FUNCTIONS`] function pointers of the struct it hands out (DuckDB's
//! `src/include/duckdb/main/capi/header_generation/apis/v1/v1.2/v1.2.0.json`). duckdb-rs's own
//! initialisation copies every field of its (larger, unstable-inclusive) struct, so lakemig gives it a
//! copy holding the v1.2.0 part only: every function outside v1.2.0 stays unset, and calling one fails
//! with duckdb-rs's "DuckDB API not initialized" error instead of working by accident on one DuckDB
//! release and crashing on the next. `tools/check_capi.py` (in `make lint`) checks the other side:
//! that the struct's first fields are v1.2.0's functions, in order, and that lakemig's code names no
//! function outside that list.

use std::cell::{Cell, RefCell};
use std::ffi::{c_char, c_void, CStr};

use duckdb::ffi::{
    duckdb_database, duckdb_ext_api_v1, duckdb_extension_access, duckdb_extension_info,
};

/// The C API version lakemig is written against (the footer says the same).
pub const C_API_VERSION: &str = "v1.2.0";

/// Function pointers in the v1.2.0 part of `duckdb_ext_api_v1` (the entries of v1.2.0.json).
pub const STABLE_FUNCTIONS: usize = 357;

type GetApi = unsafe extern "C" fn(duckdb_extension_info, *const c_char) -> *const c_void;
type GetDatabase = unsafe extern "C" fn(duckdb_extension_info) -> *mut duckdb_database;

thread_local! {
    /// DuckDB's own `get_api` while `lakemig_init_c_api` runs on this thread (DuckDB calls
    /// `get_api` from inside the entry point, on the same thread).
    static HOST_GET_API: Cell<Option<GetApi>> = const { Cell::new(None) };
    /// DuckDB's `get_database`, and the database it returned, while the entry point runs.
    static HOST_GET_DATABASE: Cell<Option<GetDatabase>> = const { Cell::new(None) };
    static DATABASE: Cell<Option<duckdb_database>> = const { Cell::new(None) };
    /// The restricted struct handed out; duckdb-rs copies its pointers before the entry returns.
    static STABLE_API: RefCell<Option<Box<duckdb_ext_api_v1>>> = const { RefCell::new(None) };
}

/// Called by DuckDB on `LOAD lakemig`: runs duckdb-rs's entry point (generated in `lib.rs` by
/// `duckdb_entrypoint_c_api`) with an access table whose `get_api` hands out only the v1.2.0 part,
/// and whose `get_database` also keeps the database handle for [`loading_database`].
///
/// # Safety
/// Called by DuckDB with a valid `info` and `access`, as for any C API extension.
#[no_mangle]
pub unsafe extern "C" fn lakemig_init_c_api(
    info: duckdb_extension_info,
    access: *const duckdb_extension_access,
) -> bool {
    if access.is_null() {
        return false;
    }
    // SAFETY: DuckDB passes a valid access table that outlives this call.
    let host = unsafe { &*access };
    let restricted = duckdb_extension_access {
        set_error: host.set_error,
        get_database: Some(keep_database),
        get_api: Some(stable_get_api),
    };
    HOST_GET_API.with(|h| h.set(host.get_api));
    HOST_GET_DATABASE.with(|h| h.set(host.get_database));
    // SAFETY: `restricted` is a valid access table for this call: DuckDB's own functions, get_api
    // and get_database wrapped by functions that call DuckDB's.
    let loaded = unsafe { crate::lakemig_stable_init_c_api(info, &restricted) };
    HOST_GET_API.with(|h| h.set(None));
    HOST_GET_DATABASE.with(|h| h.set(None));
    DATABASE.with(|d| d.set(None));
    STABLE_API.with(|a| a.borrow_mut().take());
    loaded
}

/// The database being loaded into, while `lakemig_init_c_api` runs on this thread (DuckDB's handle
/// is valid only during that call; lakemig opens its own connection to it then).
pub fn loading_database() -> Option<duckdb_database> {
    DATABASE.with(|d| d.get())
}

/// `get_database` as duckdb-rs sees it: DuckDB's, remembering the handle.
unsafe extern "C" fn keep_database(info: duckdb_extension_info) -> *mut duckdb_database {
    let Some(host_get_database) = HOST_GET_DATABASE.with(|h| h.get()) else {
        return std::ptr::null_mut();
    };
    // SAFETY: DuckDB's own get_database, called with the argument it was given.
    let db = unsafe { host_get_database(info) };
    if !db.is_null() {
        // SAFETY: non-null: DuckDB's pointer to the database handle, valid during the entry point.
        DATABASE.with(|d| d.set(Some(unsafe { *db })));
    }
    db
}

/// `get_api` as duckdb-rs sees it: DuckDB's struct for [`C_API_VERSION`], cut to its v1.2.0 part.
/// Any other version is refused (null: DuckDB then reports that the extension did not load).
unsafe extern "C" fn stable_get_api(
    info: duckdb_extension_info,
    version: *const c_char,
) -> *const c_void {
    let Some(host_get_api) = HOST_GET_API.with(|h| h.get()) else {
        return std::ptr::null();
    };
    // SAFETY: duckdb-rs passes a NUL-terminated version string.
    if version.is_null()
        || unsafe { CStr::from_ptr(version) }.to_bytes() != C_API_VERSION.as_bytes()
    {
        return std::ptr::null();
    }
    // SAFETY: DuckDB's own get_api, called with the arguments it was given.
    let host = unsafe { host_get_api(info, version) };
    if host.is_null() {
        return std::ptr::null();
    }
    // SAFETY: `host` is DuckDB's struct for v1.2.0, which holds the v1.2.0 functions.
    let api = unsafe { stable_part(host) };
    let ptr = &*api as *const duckdb_ext_api_v1 as *const c_void;
    STABLE_API.with(|a| *a.borrow_mut() = Some(api));
    ptr
}

/// Copy the first [`STABLE_FUNCTIONS`] pointers of the host's struct into a zeroed one.
///
/// # Safety
/// `host` must point to DuckDB's API struct for `C_API_VERSION`, which holds at least
/// `STABLE_FUNCTIONS` function pointers.
unsafe fn stable_part(host: *const c_void) -> Box<duckdb_ext_api_v1> {
    const _: () = assert!(
        std::mem::size_of::<duckdb_ext_api_v1>() >= STABLE_FUNCTIONS * std::mem::size_of::<usize>()
    );
    // SAFETY: a struct of `Option<unsafe extern "C" fn>` fields is valid all-zero (every field None).
    let mut api: Box<duckdb_ext_api_v1> = Box::new(unsafe { std::mem::zeroed() });
    // SAFETY: the caller guarantees `host` holds STABLE_FUNCTIONS pointers; `api` is at least that
    // large (asserted above); both are pointer-aligned structs of function pointers.
    unsafe {
        std::ptr::copy_nonoverlapping(
            host as *const usize,
            (&mut *api as *mut duckdb_ext_api_v1) as *mut usize,
            STABLE_FUNCTIONS,
        );
    }
    api
}
