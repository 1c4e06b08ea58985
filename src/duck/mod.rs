//! The only code that touches DuckDB's API: the entrypoint, one file per SQL function, the session
//! lakemig writes through (`session.rs`, stable C API only), the runtime and the conversion of
//! lakemig's errors and types into DuckDB's.

mod args;
mod catalog_migrate;
mod chunk;
mod connection_info;
mod feed;
mod fix_types;
mod incremental_scan;
mod migration_plan;
mod report;
mod result;
mod rows;
mod runtime;
mod session;
mod sqlite_migrate;
mod sync;
mod sync_state;
mod types;
mod version;

use std::ffi::CString;

use duckdb::{ffi, Connection};

use session::SideConnection;

/// The C API version lakemig asks DuckDB for (as duckdb-rs's entrypoint macro does).
const API_VERSION: &str = match option_env!("DUCKDB_EXTENSION_MIN_DUCKDB_VERSION") {
    Some(v) => v,
    None => "v1.2.0",
};

/// DuckDB's entry into lakemig on `LOAD`: take the C API, open lakemig's own connection to the
/// database while DuckDB's handle to it is valid (only during this call), register the functions.
/// False (with the error handed to DuckDB) when loading fails.
///
/// # Safety
/// `info` and `access` are what DuckDB passes an extension's entrypoint.
pub unsafe fn load(
    info: ffi::duckdb_extension_info,
    access: *const ffi::duckdb_extension_access,
) -> bool {
    match load_with(info, access) {
        Ok(loaded) => loaded,
        Err(e) => {
            if let Some(set_error) = (*access).set_error {
                let msg = CString::new(format!("lakemig: {e}"))
                    .unwrap_or_else(|_| CString::from(c"lakemig: loading failed"));
                set_error(info, msg.as_ptr());
            }
            false
        }
    }
}

/// # Safety
/// As [`load`].
unsafe fn load_with(
    info: ffi::duckdb_extension_info,
    access: *const ffi::duckdb_extension_access,
) -> Result<bool, Box<dyn std::error::Error>> {
    if !ffi::duckdb_rs_extension_api_init(info, access, API_VERSION)? {
        return Ok(false); // DuckDB refused the version and says why
    }
    let get_database = (*access)
        .get_database
        .ok_or("DuckDB gave no get_database function")?;
    let db = get_database(info);
    if db.is_null() {
        return Ok(false); // DuckDB holds the reason
    }
    let side = SideConnection::connect(*db)?;
    let con = Connection::open_from_raw(*db)?;
    register(&con, side)?;
    Ok(true)
}

/// Register every SQL function of lakemig on the database behind `con`; `side` is lakemig's own
/// connection to it.
fn register(con: &Connection, side: SideConnection) -> Result<(), Box<dyn std::error::Error>> {
    con.register_table_function::<version::LakemigVersion>("lakemig_version")?;
    con.register_table_function::<connection_info::PgConnectionInfo>("pg_connection_info")?;
    con.register_table_function::<incremental_scan::PgIncrementalScan>(incremental_scan::NAME)?;
    con.register_table_function::<fix_types::DuckLakeFixTypes>(fix_types::NAME)?;
    con.register_table_function::<catalog_migrate::SqliteCatalogMigrate>(catalog_migrate::NAME)?;
    // Functions that write to the database run their SQL on a connection of their own, one per
    // database that loaded lakemig (a process-wide one would send every write to the first).
    let feeds = std::sync::Arc::new(feed::Feeds::default());
    con.register_table_function_with_extra_info::<feed::Feed, _>(feed::NAME, &feeds)?;
    let side: sync::Side = std::sync::Arc::new(std::sync::Mutex::new(sync::SyncConnection {
        con: side,
        feeds,
    }));
    con.register_table_function_with_extra_info::<sync::PgSync, _>(sync::NAME, &side)?;
    con.register_table_function_with_extra_info::<sync_state::PgSyncState, _>(
        sync_state::NAME,
        &side,
    )?;
    con.register_table_function::<migration_plan::SqliteMigrationPlan>(migration_plan::NAME)?;
    con.register_table_function::<sqlite_migrate::SqliteMigrate>(sqlite_migrate::NAME)?;
    Ok(())
}

/// For `map_err`: prefix the error with the SQL function's name and hand it to DuckDB as one flat
/// string (duckdb-rs would otherwise append `source()` again).
pub(crate) fn fail(
    function: &'static str,
) -> impl Fn(crate::error::Error) -> Box<dyn std::error::Error> {
    move |err| Box::from(err.in_function(function).to_string())
}
