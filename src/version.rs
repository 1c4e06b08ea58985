//! What `lakemig_version()` reports: this build and the versions of what it bundles.

/// lakemig's own version (Cargo.toml).
pub const LAKEMIG_VERSION: &str = env!("CARGO_PKG_VERSION");
/// The DuckDB version this binary is built for (and the only one it loads into).
pub const DUCKDB_VERSION: &str = env!("LAKEMIG_DUCKDB_VERSION");
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

/// One row of `lakemig_version()`: (column name, value).
pub fn version_row() -> Vec<(&'static str, String)> {
    vec![
        ("extension_version", LAKEMIG_VERSION.to_string()),
        ("duckdb_version", DUCKDB_VERSION.to_string()),
        ("postgres_client", POSTGRES_CLIENT.to_string()),
        ("sqlite_client", sqlite_client()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_known() {
        let row = version_row();
        assert_eq!(row.len(), 4);
        for (name, value) in row {
            assert!(!value.contains("unknown"), "{name} = {value}");
        }
        assert!(DUCKDB_VERSION.starts_with('v'));
        assert!(sqlite_client().starts_with("SQLite 3."));
    }
}
