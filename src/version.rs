//! What `lakemig_version()` reports: this build and the versions of what it bundles.

/// lakemig's own version (Cargo.toml).
pub const LAKEMIG_VERSION: &str = env!("CARGO_PKG_VERSION");
/// The DuckDB C API version this binary is built against (its footer declares it): every DuckDB
/// release that offers it loads the file.
pub const DUCKDB_C_API: &str = env!("LAKEMIG_DUCKDB_C_API");
/// The PostgreSQL client library compiled in.
pub const POSTGRES_CLIENT: &str =
    concat!("tokio-postgres ", env!("LAKEMIG_TOKIO_POSTGRES_VERSION"));

/// The SQLite library compiled in (rusqlite's bundled SQLite).
pub fn sqlite_client() -> String {
    format!(
        "SQLite {} (rusqlite {})",
        rusqlite::version(),
        env!("LAKEMIG_RUSQLITE_VERSION")
    )
}

/// One row of `lakemig_version()`: (column name, value); `duckdb` is the version of the DuckDB
/// lakemig runs in.
pub fn version_row(duckdb: &str) -> Vec<(&'static str, String)> {
    vec![
        ("extension_version", LAKEMIG_VERSION.to_string()),
        ("duckdb_version", duckdb.to_string()),
        ("duckdb_c_api", DUCKDB_C_API.to_string()),
        ("postgres_client", POSTGRES_CLIENT.to_string()),
        ("sqlite_client", sqlite_client()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_known() {
        let row = version_row("v1.5.5");
        assert_eq!(row.len(), 5);
        for (name, value) in row {
            assert!(!value.contains("unknown"), "{name} = {value}");
        }
        assert_eq!(DUCKDB_C_API, "v1.2.0");
        assert!(sqlite_client().starts_with("SQLite 3."));
    }
}
