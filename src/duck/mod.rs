//! The only code that touches DuckDB's API: one file per SQL function, plus the runtime and the
//! conversion of lakemig's errors and types into DuckDB's.

mod args;
mod catalog_migrate;
mod chunk;
mod connection_info;
mod fix_types;
mod incremental_scan;
mod migration_plan;
mod report;
mod rows;
mod runtime;
mod sqlite_migrate;
mod sync;
mod types;
mod version;

use duckdb::Connection;

/// Register every SQL function of lakemig on the database behind `con`.
pub fn register(con: &Connection) -> Result<(), Box<dyn std::error::Error>> {
    con.register_table_function::<version::LakemigVersion>("lakemig_version")?;
    con.register_table_function::<connection_info::PgConnectionInfo>("pg_connection_info")?;
    con.register_table_function::<incremental_scan::PgIncrementalScan>(incremental_scan::NAME)?;
    con.register_table_function::<fix_types::DuckLakeFixTypes>(fix_types::NAME)?;
    con.register_table_function::<catalog_migrate::SqliteCatalogMigrate>(catalog_migrate::NAME)?;
    // Functions that write to the database run their SQL on a connection of their own, one per
    // database that loaded lakemig (a process-wide one would send every write to the first).
    let side: sync::Side = std::sync::Arc::new(std::sync::Mutex::new(con.try_clone()?));
    con.register_table_function_with_extra_info::<sync::PgSync, _>(sync::NAME, &side)?;
    con.register_table_function_with_extra_info::<sync::PgSyncState, _>(sync::STATE_NAME, &side)?;
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
