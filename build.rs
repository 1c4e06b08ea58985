//! Records, for `lakemig_version()`, the versions of the bundled PostgreSQL client and the DuckDB the
//! build targets (its C API version). Reads Cargo.lock, so the figures are the ones actually compiled in.
use std::fs;

fn locked_version(lock: &str, name: &str) -> String {
    let needle = format!("name = \"{name}\"\nversion = \"");
    lock.find(&needle)
        .and_then(|i| {
            let rest = &lock[i + needle.len()..];
            rest.find('"').map(|j| rest[..j].to_string())
        })
        .unwrap_or_else(|| "unknown".to_string())
}

fn main() {
    println!("cargo:rerun-if-changed=Cargo.lock");
    println!("cargo:rerun-if-env-changed=DUCKDB_EXTENSION_MIN_DUCKDB_VERSION");
    let lock = fs::read_to_string("Cargo.lock").unwrap_or_default();
    println!(
        "cargo:rustc-env=LAKEMIG_TOKIO_POSTGRES_VERSION={}",
        locked_version(&lock, "tokio-postgres")
    );
    println!(
        "cargo:rustc-env=LAKEMIG_RUSQLITE_VERSION={}",
        locked_version(&lock, "rusqlite")
    );
    let api =
        std::env::var("DUCKDB_EXTENSION_MIN_DUCKDB_VERSION").unwrap_or_else(|_| "v1.2.0".into());
    println!("cargo:rustc-env=LAKEMIG_DUCKDB_C_API={api}");
}
