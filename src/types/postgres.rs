//! The PostgreSQL -> DuckDB type map (filled in by the type-mapping work).
