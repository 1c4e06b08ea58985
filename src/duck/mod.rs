//! The only code that touches DuckDB's API: one file per SQL function, plus the runtime and the
//! conversion of lakemig's errors and types into DuckDB's.

mod args;
mod chunk;
mod connection_info;
mod incremental_scan;
mod migration_plan;
mod rows;
mod runtime;
mod sqlite_migrate;
mod types;
mod version;

use duckdb::Connection;

/// Register every SQL function of lakemig on the database behind `con`.
pub fn register(con: &Connection) -> Result<(), Box<dyn std::error::Error>> {
    con.register_table_function::<version::LakemigVersion>("lakemig_version")?;
    con.register_table_function::<connection_info::PgConnectionInfo>("pg_connection_info")?;
    con.register_table_function::<incremental_scan::PgIncrementalScan>(incremental_scan::NAME)?;
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
