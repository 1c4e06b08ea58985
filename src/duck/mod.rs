//! The only code that touches DuckDB's API: the entrypoint, one file per SQL function, the session
//! lakemig writes through (`session.rs`, stable C API only), the runtime and the conversion of
//! lakemig's errors and types into DuckDB's.

mod args;
mod catalog_migrate;
mod chunk;
mod connection_info;
mod entry;
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
mod sync_drop;
mod sync_state;
mod sync_tables;
mod types;
mod version;

use duckdb::Connection;

use session::SideConnection;

/// Called (through `lib.rs`'s entry point) on `LOAD lakemig`, with duckdb-rs already initialised on
/// the stable C API (`entry.rs`): open lakemig's own connection to the database while DuckDB's
/// handle to it is valid (only during the load), then register the functions.
pub fn load(con: &Connection) -> Result<(), Box<dyn std::error::Error>> {
    let db =
        entry::loading_database().ok_or("lakemig: DuckDB gave no database handle while loading")?;
    // SAFETY: `db` is DuckDB's handle of the database being loaded, valid during this call.
    let side = unsafe { SideConnection::connect(db) }?;
    register(con, side)
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
    con.register_table_function_with_extra_info::<feed::Held, _>(feed::HELD, &feeds)?;
    let side: sync::Side = std::sync::Arc::new(std::sync::Mutex::new(sync::SyncConnection {
        con: side,
        feeds,
    }));
    con.register_table_function_with_extra_info::<sync::PgSync, _>(sync::NAME, &side)?;
    // The many-table form has a name of its own: DuckDB's C API registers no overloads of a table
    // function (a second `pg_sync` with one positional argument is silently ignored).
    con.register_table_function_with_extra_info::<sync_tables::PgSyncTables, _>(
        sync_tables::NAME,
        &side,
    )?;
    con.register_table_function_with_extra_info::<sync_state::PgSyncState, _>(
        sync_state::NAME,
        &side,
    )?;
    con.register_table_function_with_extra_info::<sync_drop::PgSyncDrop, _>(
        sync_drop::NAME,
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
