# lakemig: the extension as DuckDB's extension tooling (extension-ci-tools, build/extension_configuration)
# reads it. lakemig is a Rust extension built on the C API (duckdb-rs, unstable ABI, DuckDB v1.5.5 only),
# so it is not linked into DuckDB's own CMake build: `make release` builds it with cargo and writes
# build/release/lakemig.duckdb_extension with DuckDB's metadata footer (tools/append_footer.py).
duckdb_extension_load(lakemig
    SOURCE_DIR ${CMAKE_CURRENT_LIST_DIR}
    DONT_LINK
    LOAD_TESTS
)
