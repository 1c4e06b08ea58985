//! The DuckLake catalog schema of every catalog version DuckLake has shipped (0.1, 0.2, 0.3, 0.4, 1.0),
//! as data: tables, columns with their DuckDB type, nullability and primary keys.
//!
//! Source: the `CREATE TABLE` statements of `DuckLakeMetadataManager::InitializeDuckLake` in
//! duckdb/ducklake `src/storage/ducklake_metadata_manager.cpp`, at the commit named above each
//! version, cross-checked with the upgrade migrations in the same file (`MigrateV01` .. `MigrateV04`)
//! that DuckLake 1.5.5 (duckdb/ducklake@d8a1881e, the extension shipped with DuckDB 1.5.5) runs when it
//! attaches an older catalog:
//! - 0.1: the last 0.1 DDL (62397d5c) minus `path`/`path_is_relative` of `ducklake_schema` and
//!   `ducklake_table`, which `MigrateV01` adds (a released 0.1 catalog does not have them).
//! - 0.2: catalogs created by 0.2 have `ducklake_name_mapping.is_partition`; catalogs upgraded from 0.1
//!   do not (`MigrateV02` adds it with IF NOT EXISTS), so it is optional.
//! - 0.3: DuckDB 1.4's DuckLake (branch v1.4-andium, 41255d47).
//! - 0.4 and 1.0 have the same tables; `MigrateV04` only bumps the version string.
//!
//! Tables that DuckLake creates on the fly are not listed here: `ducklake_inlined_data_<table>_<version>`
//! (columns from the table's DuckLake columns, see [`crate::ducklake::types`]) and
//! `ducklake_inlined_delete_<table>` (`file_id`, `row_id`, `begin_snapshot`: BIGINT), see
//! [`inlined_delete_columns`].

use crate::error::{Error, Result};

/// A catalog version DuckLake has shipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Version {
    V0_1,
    V0_2,
    V0_3,
    V0_4,
    V1_0,
}

impl Version {
    /// Every shipped version, oldest first.
    pub const ALL: [Version; 5] = [
        Version::V0_1,
        Version::V0_2,
        Version::V0_3,
        Version::V0_4,
        Version::V1_0,
    ];

    /// The `ducklake_metadata` `version` value. Development versions (`0.3-dev1`, `0.4-dev1`, `1.1`
    /// while in development) are refused: their schema changed between builds.
    pub fn parse(s: &str) -> Result<Version> {
        Ok(match s.trim() {
            "0.1" => Version::V0_1,
            "0.2" => Version::V0_2,
            "0.3" => Version::V0_3,
            "0.4" => Version::V0_4,
            "1.0" => Version::V1_0,
            other => {
                return Err(Error::argument(format!(
                    "DuckLake catalog version \"{other}\" is not supported (supported: 0.1, 0.2, 0.3, 0.4, 1.0); \
                     attach the catalog once with the DuckLake release that matches it to upgrade it"
                )))
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Version::V0_1 => "0.1",
            Version::V0_2 => "0.2",
            Version::V0_3 => "0.3",
            Version::V0_4 => "0.4",
            Version::V1_0 => "1.0",
        }
    }

    /// The catalog tables of this version, in DuckLake's creation order.
    pub fn tables(self) -> &'static [CatalogTable] {
        match self {
            Version::V0_1 => V0_1,
            Version::V0_2 => V0_2,
            Version::V0_3 => V0_3,
            Version::V0_4 => V0_4,
            Version::V1_0 => V1_0,
        }
    }

    /// One catalog table of this version by name.
    pub fn table(self, name: &str) -> Option<&'static CatalogTable> {
        self.tables().iter().find(|t| t.name == name)
    }

    /// Whether `ducklake_metadata` has the `scope` column (0.2 and later).
    pub fn has_metadata_scope(self) -> bool {
        self >= Version::V0_2
    }
}

/// The DuckDB types DuckLake's catalog DDL uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatalogType {
    BigInt,
    Varchar,
    Boolean,
    Uuid,
    TimestampTz,
}

impl CatalogType {
    /// The DuckDB type name as written in DuckLake's DDL.
    pub fn duckdb_name(self) -> &'static str {
        match self {
            CatalogType::BigInt => "BIGINT",
            CatalogType::Varchar => "VARCHAR",
            CatalogType::Boolean => "BOOLEAN",
            CatalogType::Uuid => "UUID",
            CatalogType::TimestampTz => "TIMESTAMPTZ",
        }
    }

    /// The PostgreSQL type DuckDB's postgres extension creates for it (see
    /// [`crate::ducklake::types::PgType::from_duckdb`]).
    pub fn pg_type(self) -> crate::ducklake::types::PgType {
        use crate::ducklake::types::PgType;
        match self {
            CatalogType::BigInt => PgType::BigInt,
            CatalogType::Varchar => PgType::Varchar,
            CatalogType::Boolean => PgType::Boolean,
            CatalogType::Uuid => PgType::Uuid,
            CatalogType::TimestampTz => PgType::TimestampTz,
        }
    }
}

/// Nullability and key flags of a catalog column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flags {
    /// Nullable, no key.
    Plain,
    /// `NOT NULL`.
    NotNull,
    /// `PRIMARY KEY` (a `<table>_pkey` constraint on PostgreSQL).
    PrimaryKey,
    /// Present in some catalogs of this version and not in others (see the module notes).
    Optional,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogColumn {
    pub name: &'static str,
    pub ty: CatalogType,
    pub flags: Flags,
}

impl CatalogColumn {
    pub fn not_null(&self) -> bool {
        matches!(self.flags, Flags::NotNull | Flags::PrimaryKey)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogTable {
    pub name: &'static str,
    pub columns: &'static [CatalogColumn],
}

impl CatalogTable {
    pub fn column(&self, name: &str) -> Option<&'static CatalogColumn> {
        self.columns.iter().find(|c| c.name == name)
    }

    pub fn primary_key(&self) -> Option<&'static str> {
        self.columns
            .iter()
            .find(|c| c.flags == Flags::PrimaryKey)
            .map(|c| c.name)
    }
}

/// The columns of a `ducklake_inlined_delete_<table>` table (DuckLake 1.0 creates them on the fly,
/// `InlinedFileDeletionTableName` in `ducklake_metadata_manager.cpp`).
pub const INLINED_DELETE_COLUMNS: &[CatalogColumn] = &[
    c("file_id", BigInt, PLAIN),
    c("row_id", BigInt, PLAIN),
    c("begin_snapshot", BigInt, PLAIN),
];

/// The leading columns of every `ducklake_inlined_data_<table>_<version>` table
/// (`InlinedTableDdlSql`); the table's own columns follow.
pub const INLINED_DATA_SYSTEM_COLUMNS: &[CatalogColumn] = &[
    c("row_id", BigInt, PLAIN),
    c("begin_snapshot", BigInt, PLAIN),
    c("end_snapshot", BigInt, PLAIN),
];

/// The columns of a `ducklake_inlined_delete_<table>` table.
pub fn inlined_delete_columns() -> &'static [CatalogColumn] {
    INLINED_DELETE_COLUMNS
}

/// `ducklake_inlined_data_<table_id>_<schema_version>` -> (table_id, schema_version).
pub fn parse_inlined_data_name(name: &str) -> Option<(i64, i64)> {
    let rest = name.strip_prefix("ducklake_inlined_data_")?;
    let (t, v) = rest.split_once('_')?;
    Some((t.parse().ok()?, v.parse().ok()?))
}

/// `ducklake_inlined_delete_<table_id>` -> table_id.
pub fn parse_inlined_delete_name(name: &str) -> Option<i64> {
    name.strip_prefix("ducklake_inlined_delete_")?.parse().ok()
}

use CatalogType::{BigInt, Boolean, TimestampTz, Uuid, Varchar};
const PLAIN: Flags = Flags::Plain;
const NOT_NULL: Flags = Flags::NotNull;
const PK: Flags = Flags::PrimaryKey;
const OPTIONAL: Flags = Flags::Optional;

const fn c(name: &'static str, ty: CatalogType, flags: Flags) -> CatalogColumn {
    CatalogColumn { name, ty, flags }
}

const fn t(name: &'static str, columns: &'static [CatalogColumn]) -> CatalogTable {
    CatalogTable { name, columns }
}

/// Version 0.1: `InitializeDuckLake` at duckdb/ducklake@62397d5c65 (adjusted, see the module notes).
#[rustfmt::skip]
const V0_1: &[CatalogTable] = &[
    t("ducklake_metadata", &[c("key", Varchar, NOT_NULL), c("value", Varchar, NOT_NULL)]),
    t("ducklake_snapshot", &[c("snapshot_id", BigInt, PK), c("snapshot_time", TimestampTz, PLAIN), c("schema_version", BigInt, PLAIN), c("next_catalog_id", BigInt, PLAIN), c("next_file_id", BigInt, PLAIN)]),
    t("ducklake_snapshot_changes", &[c("snapshot_id", BigInt, PK), c("changes_made", Varchar, PLAIN)]),
    t("ducklake_schema", &[c("schema_id", BigInt, PK), c("schema_uuid", Uuid, PLAIN), c("begin_snapshot", BigInt, PLAIN), c("end_snapshot", BigInt, PLAIN), c("schema_name", Varchar, PLAIN)]),
    t("ducklake_table", &[c("table_id", BigInt, PLAIN), c("table_uuid", Uuid, PLAIN), c("begin_snapshot", BigInt, PLAIN), c("end_snapshot", BigInt, PLAIN), c("schema_id", BigInt, PLAIN), c("table_name", Varchar, PLAIN)]),
    t("ducklake_view", &[c("view_id", BigInt, PLAIN), c("view_uuid", Uuid, PLAIN), c("begin_snapshot", BigInt, PLAIN), c("end_snapshot", BigInt, PLAIN), c("schema_id", BigInt, PLAIN), c("view_name", Varchar, PLAIN), c("dialect", Varchar, PLAIN), c("sql", Varchar, PLAIN), c("column_aliases", Varchar, PLAIN)]),
    t("ducklake_tag", &[c("object_id", BigInt, PLAIN), c("begin_snapshot", BigInt, PLAIN), c("end_snapshot", BigInt, PLAIN), c("key", Varchar, PLAIN), c("value", Varchar, PLAIN)]),
    t("ducklake_column_tag", &[c("table_id", BigInt, PLAIN), c("column_id", BigInt, PLAIN), c("begin_snapshot", BigInt, PLAIN), c("end_snapshot", BigInt, PLAIN), c("key", Varchar, PLAIN), c("value", Varchar, PLAIN)]),
    t("ducklake_data_file", &[c("data_file_id", BigInt, PK), c("table_id", BigInt, PLAIN), c("begin_snapshot", BigInt, PLAIN), c("end_snapshot", BigInt, PLAIN), c("file_order", BigInt, PLAIN), c("path", Varchar, PLAIN), c("path_is_relative", Boolean, PLAIN), c("file_format", Varchar, PLAIN), c("record_count", BigInt, PLAIN), c("file_size_bytes", BigInt, PLAIN), c("footer_size", BigInt, PLAIN), c("row_id_start", BigInt, PLAIN), c("partition_id", BigInt, PLAIN), c("encryption_key", Varchar, PLAIN), c("partial_file_info", Varchar, PLAIN)]),
    t("ducklake_file_column_statistics", &[c("data_file_id", BigInt, PLAIN), c("table_id", BigInt, PLAIN), c("column_id", BigInt, PLAIN), c("column_size_bytes", BigInt, PLAIN), c("value_count", BigInt, PLAIN), c("null_count", BigInt, PLAIN), c("min_value", Varchar, PLAIN), c("max_value", Varchar, PLAIN), c("contains_nan", Boolean, PLAIN)]),
    t("ducklake_delete_file", &[c("delete_file_id", BigInt, PK), c("table_id", BigInt, PLAIN), c("begin_snapshot", BigInt, PLAIN), c("end_snapshot", BigInt, PLAIN), c("data_file_id", BigInt, PLAIN), c("path", Varchar, PLAIN), c("path_is_relative", Boolean, PLAIN), c("format", Varchar, PLAIN), c("delete_count", BigInt, PLAIN), c("file_size_bytes", BigInt, PLAIN), c("footer_size", BigInt, PLAIN), c("encryption_key", Varchar, PLAIN)]),
    t("ducklake_column", &[c("column_id", BigInt, PLAIN), c("begin_snapshot", BigInt, PLAIN), c("end_snapshot", BigInt, PLAIN), c("table_id", BigInt, PLAIN), c("column_order", BigInt, PLAIN), c("column_name", Varchar, PLAIN), c("column_type", Varchar, PLAIN), c("initial_default", Varchar, PLAIN), c("default_value", Varchar, PLAIN), c("nulls_allowed", Boolean, PLAIN), c("parent_column", BigInt, PLAIN)]),
    t("ducklake_table_stats", &[c("table_id", BigInt, PLAIN), c("record_count", BigInt, PLAIN), c("next_row_id", BigInt, PLAIN), c("file_size_bytes", BigInt, PLAIN)]),
    t("ducklake_table_column_stats", &[c("table_id", BigInt, PLAIN), c("column_id", BigInt, PLAIN), c("contains_null", Boolean, PLAIN), c("contains_nan", Boolean, PLAIN), c("min_value", Varchar, PLAIN), c("max_value", Varchar, PLAIN)]),
    t("ducklake_partition_info", &[c("partition_id", BigInt, PLAIN), c("table_id", BigInt, PLAIN), c("begin_snapshot", BigInt, PLAIN), c("end_snapshot", BigInt, PLAIN)]),
    t("ducklake_partition_column", &[c("partition_id", BigInt, PLAIN), c("table_id", BigInt, PLAIN), c("partition_key_index", BigInt, PLAIN), c("column_id", BigInt, PLAIN), c("transform", Varchar, PLAIN)]),
    t("ducklake_file_partition_value", &[c("data_file_id", BigInt, PLAIN), c("table_id", BigInt, PLAIN), c("partition_key_index", BigInt, PLAIN), c("partition_value", Varchar, PLAIN)]),
    t("ducklake_files_scheduled_for_deletion", &[c("data_file_id", BigInt, PLAIN), c("path", Varchar, PLAIN), c("path_is_relative", Boolean, PLAIN), c("schedule_start", TimestampTz, PLAIN)]),
    t("ducklake_inlined_data_tables", &[c("table_id", BigInt, PLAIN), c("table_name", Varchar, PLAIN), c("schema_version", BigInt, PLAIN)]),
];
/// Version 0.2: `InitializeDuckLake` at duckdb/ducklake@756a90d1e5 (adjusted, see the module notes).
#[rustfmt::skip]
const V0_2: &[CatalogTable] = &[
    t("ducklake_metadata", &[c("key", Varchar, NOT_NULL), c("value", Varchar, NOT_NULL), c("scope", Varchar, PLAIN), c("scope_id", BigInt, PLAIN)]),
    t("ducklake_snapshot", &[c("snapshot_id", BigInt, PK), c("snapshot_time", TimestampTz, PLAIN), c("schema_version", BigInt, PLAIN), c("next_catalog_id", BigInt, PLAIN), c("next_file_id", BigInt, PLAIN)]),
    t("ducklake_snapshot_changes", &[c("snapshot_id", BigInt, PK), c("changes_made", Varchar, PLAIN)]),
    t("ducklake_schema", &[c("schema_id", BigInt, PK), c("schema_uuid", Uuid, PLAIN), c("begin_snapshot", BigInt, PLAIN), c("end_snapshot", BigInt, PLAIN), c("schema_name", Varchar, PLAIN), c("path", Varchar, PLAIN), c("path_is_relative", Boolean, PLAIN)]),
    t("ducklake_table", &[c("table_id", BigInt, PLAIN), c("table_uuid", Uuid, PLAIN), c("begin_snapshot", BigInt, PLAIN), c("end_snapshot", BigInt, PLAIN), c("schema_id", BigInt, PLAIN), c("table_name", Varchar, PLAIN), c("path", Varchar, PLAIN), c("path_is_relative", Boolean, PLAIN)]),
    t("ducklake_view", &[c("view_id", BigInt, PLAIN), c("view_uuid", Uuid, PLAIN), c("begin_snapshot", BigInt, PLAIN), c("end_snapshot", BigInt, PLAIN), c("schema_id", BigInt, PLAIN), c("view_name", Varchar, PLAIN), c("dialect", Varchar, PLAIN), c("sql", Varchar, PLAIN), c("column_aliases", Varchar, PLAIN)]),
    t("ducklake_tag", &[c("object_id", BigInt, PLAIN), c("begin_snapshot", BigInt, PLAIN), c("end_snapshot", BigInt, PLAIN), c("key", Varchar, PLAIN), c("value", Varchar, PLAIN)]),
    t("ducklake_column_tag", &[c("table_id", BigInt, PLAIN), c("column_id", BigInt, PLAIN), c("begin_snapshot", BigInt, PLAIN), c("end_snapshot", BigInt, PLAIN), c("key", Varchar, PLAIN), c("value", Varchar, PLAIN)]),
    t("ducklake_data_file", &[c("data_file_id", BigInt, PK), c("table_id", BigInt, PLAIN), c("begin_snapshot", BigInt, PLAIN), c("end_snapshot", BigInt, PLAIN), c("file_order", BigInt, PLAIN), c("path", Varchar, PLAIN), c("path_is_relative", Boolean, PLAIN), c("file_format", Varchar, PLAIN), c("record_count", BigInt, PLAIN), c("file_size_bytes", BigInt, PLAIN), c("footer_size", BigInt, PLAIN), c("row_id_start", BigInt, PLAIN), c("partition_id", BigInt, PLAIN), c("encryption_key", Varchar, PLAIN), c("partial_file_info", Varchar, PLAIN), c("mapping_id", BigInt, PLAIN)]),
    t("ducklake_file_column_statistics", &[c("data_file_id", BigInt, PLAIN), c("table_id", BigInt, PLAIN), c("column_id", BigInt, PLAIN), c("column_size_bytes", BigInt, PLAIN), c("value_count", BigInt, PLAIN), c("null_count", BigInt, PLAIN), c("min_value", Varchar, PLAIN), c("max_value", Varchar, PLAIN), c("contains_nan", Boolean, PLAIN)]),
    t("ducklake_delete_file", &[c("delete_file_id", BigInt, PK), c("table_id", BigInt, PLAIN), c("begin_snapshot", BigInt, PLAIN), c("end_snapshot", BigInt, PLAIN), c("data_file_id", BigInt, PLAIN), c("path", Varchar, PLAIN), c("path_is_relative", Boolean, PLAIN), c("format", Varchar, PLAIN), c("delete_count", BigInt, PLAIN), c("file_size_bytes", BigInt, PLAIN), c("footer_size", BigInt, PLAIN), c("encryption_key", Varchar, PLAIN)]),
    t("ducklake_column", &[c("column_id", BigInt, PLAIN), c("begin_snapshot", BigInt, PLAIN), c("end_snapshot", BigInt, PLAIN), c("table_id", BigInt, PLAIN), c("column_order", BigInt, PLAIN), c("column_name", Varchar, PLAIN), c("column_type", Varchar, PLAIN), c("initial_default", Varchar, PLAIN), c("default_value", Varchar, PLAIN), c("nulls_allowed", Boolean, PLAIN), c("parent_column", BigInt, PLAIN)]),
    t("ducklake_table_stats", &[c("table_id", BigInt, PLAIN), c("record_count", BigInt, PLAIN), c("next_row_id", BigInt, PLAIN), c("file_size_bytes", BigInt, PLAIN)]),
    t("ducklake_table_column_stats", &[c("table_id", BigInt, PLAIN), c("column_id", BigInt, PLAIN), c("contains_null", Boolean, PLAIN), c("contains_nan", Boolean, PLAIN), c("min_value", Varchar, PLAIN), c("max_value", Varchar, PLAIN)]),
    t("ducklake_partition_info", &[c("partition_id", BigInt, PLAIN), c("table_id", BigInt, PLAIN), c("begin_snapshot", BigInt, PLAIN), c("end_snapshot", BigInt, PLAIN)]),
    t("ducklake_partition_column", &[c("partition_id", BigInt, PLAIN), c("table_id", BigInt, PLAIN), c("partition_key_index", BigInt, PLAIN), c("column_id", BigInt, PLAIN), c("transform", Varchar, PLAIN)]),
    t("ducklake_file_partition_value", &[c("data_file_id", BigInt, PLAIN), c("table_id", BigInt, PLAIN), c("partition_key_index", BigInt, PLAIN), c("partition_value", Varchar, PLAIN)]),
    t("ducklake_files_scheduled_for_deletion", &[c("data_file_id", BigInt, PLAIN), c("path", Varchar, PLAIN), c("path_is_relative", Boolean, PLAIN), c("schedule_start", TimestampTz, PLAIN)]),
    t("ducklake_inlined_data_tables", &[c("table_id", BigInt, PLAIN), c("table_name", Varchar, PLAIN), c("schema_version", BigInt, PLAIN)]),
    t("ducklake_column_mapping", &[c("mapping_id", BigInt, PLAIN), c("table_id", BigInt, PLAIN), c("type", Varchar, PLAIN)]),
    t("ducklake_name_mapping", &[c("mapping_id", BigInt, PLAIN), c("column_id", BigInt, PLAIN), c("source_name", Varchar, PLAIN), c("target_field_id", BigInt, PLAIN), c("parent_column", BigInt, PLAIN), c("is_partition", Boolean, OPTIONAL)]),
];
/// Version 0.3: `InitializeDuckLake` at duckdb/ducklake@41255d478d.
#[rustfmt::skip]
const V0_3: &[CatalogTable] = &[
    t("ducklake_metadata", &[c("key", Varchar, NOT_NULL), c("value", Varchar, NOT_NULL), c("scope", Varchar, PLAIN), c("scope_id", BigInt, PLAIN)]),
    t("ducklake_snapshot", &[c("snapshot_id", BigInt, PK), c("snapshot_time", TimestampTz, PLAIN), c("schema_version", BigInt, PLAIN), c("next_catalog_id", BigInt, PLAIN), c("next_file_id", BigInt, PLAIN)]),
    t("ducklake_snapshot_changes", &[c("snapshot_id", BigInt, PK), c("changes_made", Varchar, PLAIN), c("author", Varchar, PLAIN), c("commit_message", Varchar, PLAIN), c("commit_extra_info", Varchar, PLAIN)]),
    t("ducklake_schema", &[c("schema_id", BigInt, PK), c("schema_uuid", Uuid, PLAIN), c("begin_snapshot", BigInt, PLAIN), c("end_snapshot", BigInt, PLAIN), c("schema_name", Varchar, PLAIN), c("path", Varchar, PLAIN), c("path_is_relative", Boolean, PLAIN)]),
    t("ducklake_table", &[c("table_id", BigInt, PLAIN), c("table_uuid", Uuid, PLAIN), c("begin_snapshot", BigInt, PLAIN), c("end_snapshot", BigInt, PLAIN), c("schema_id", BigInt, PLAIN), c("table_name", Varchar, PLAIN), c("path", Varchar, PLAIN), c("path_is_relative", Boolean, PLAIN)]),
    t("ducklake_view", &[c("view_id", BigInt, PLAIN), c("view_uuid", Uuid, PLAIN), c("begin_snapshot", BigInt, PLAIN), c("end_snapshot", BigInt, PLAIN), c("schema_id", BigInt, PLAIN), c("view_name", Varchar, PLAIN), c("dialect", Varchar, PLAIN), c("sql", Varchar, PLAIN), c("column_aliases", Varchar, PLAIN)]),
    t("ducklake_tag", &[c("object_id", BigInt, PLAIN), c("begin_snapshot", BigInt, PLAIN), c("end_snapshot", BigInt, PLAIN), c("key", Varchar, PLAIN), c("value", Varchar, PLAIN)]),
    t("ducklake_column_tag", &[c("table_id", BigInt, PLAIN), c("column_id", BigInt, PLAIN), c("begin_snapshot", BigInt, PLAIN), c("end_snapshot", BigInt, PLAIN), c("key", Varchar, PLAIN), c("value", Varchar, PLAIN)]),
    t("ducklake_data_file", &[c("data_file_id", BigInt, PK), c("table_id", BigInt, PLAIN), c("begin_snapshot", BigInt, PLAIN), c("end_snapshot", BigInt, PLAIN), c("file_order", BigInt, PLAIN), c("path", Varchar, PLAIN), c("path_is_relative", Boolean, PLAIN), c("file_format", Varchar, PLAIN), c("record_count", BigInt, PLAIN), c("file_size_bytes", BigInt, PLAIN), c("footer_size", BigInt, PLAIN), c("row_id_start", BigInt, PLAIN), c("partition_id", BigInt, PLAIN), c("encryption_key", Varchar, PLAIN), c("partial_file_info", Varchar, PLAIN), c("mapping_id", BigInt, PLAIN)]),
    t("ducklake_file_column_stats", &[c("data_file_id", BigInt, PLAIN), c("table_id", BigInt, PLAIN), c("column_id", BigInt, PLAIN), c("column_size_bytes", BigInt, PLAIN), c("value_count", BigInt, PLAIN), c("null_count", BigInt, PLAIN), c("min_value", Varchar, PLAIN), c("max_value", Varchar, PLAIN), c("contains_nan", Boolean, PLAIN), c("extra_stats", Varchar, PLAIN)]),
    t("ducklake_delete_file", &[c("delete_file_id", BigInt, PK), c("table_id", BigInt, PLAIN), c("begin_snapshot", BigInt, PLAIN), c("end_snapshot", BigInt, PLAIN), c("data_file_id", BigInt, PLAIN), c("path", Varchar, PLAIN), c("path_is_relative", Boolean, PLAIN), c("format", Varchar, PLAIN), c("delete_count", BigInt, PLAIN), c("file_size_bytes", BigInt, PLAIN), c("footer_size", BigInt, PLAIN), c("encryption_key", Varchar, PLAIN)]),
    t("ducklake_column", &[c("column_id", BigInt, PLAIN), c("begin_snapshot", BigInt, PLAIN), c("end_snapshot", BigInt, PLAIN), c("table_id", BigInt, PLAIN), c("column_order", BigInt, PLAIN), c("column_name", Varchar, PLAIN), c("column_type", Varchar, PLAIN), c("initial_default", Varchar, PLAIN), c("default_value", Varchar, PLAIN), c("nulls_allowed", Boolean, PLAIN), c("parent_column", BigInt, PLAIN)]),
    t("ducklake_table_stats", &[c("table_id", BigInt, PLAIN), c("record_count", BigInt, PLAIN), c("next_row_id", BigInt, PLAIN), c("file_size_bytes", BigInt, PLAIN)]),
    t("ducklake_table_column_stats", &[c("table_id", BigInt, PLAIN), c("column_id", BigInt, PLAIN), c("contains_null", Boolean, PLAIN), c("contains_nan", Boolean, PLAIN), c("min_value", Varchar, PLAIN), c("max_value", Varchar, PLAIN), c("extra_stats", Varchar, PLAIN)]),
    t("ducklake_partition_info", &[c("partition_id", BigInt, PLAIN), c("table_id", BigInt, PLAIN), c("begin_snapshot", BigInt, PLAIN), c("end_snapshot", BigInt, PLAIN)]),
    t("ducklake_partition_column", &[c("partition_id", BigInt, PLAIN), c("table_id", BigInt, PLAIN), c("partition_key_index", BigInt, PLAIN), c("column_id", BigInt, PLAIN), c("transform", Varchar, PLAIN)]),
    t("ducklake_file_partition_value", &[c("data_file_id", BigInt, PLAIN), c("table_id", BigInt, PLAIN), c("partition_key_index", BigInt, PLAIN), c("partition_value", Varchar, PLAIN)]),
    t("ducklake_files_scheduled_for_deletion", &[c("data_file_id", BigInt, PLAIN), c("path", Varchar, PLAIN), c("path_is_relative", Boolean, PLAIN), c("schedule_start", TimestampTz, PLAIN)]),
    t("ducklake_inlined_data_tables", &[c("table_id", BigInt, PLAIN), c("table_name", Varchar, PLAIN), c("schema_version", BigInt, PLAIN)]),
    t("ducklake_column_mapping", &[c("mapping_id", BigInt, PLAIN), c("table_id", BigInt, PLAIN), c("type", Varchar, PLAIN)]),
    t("ducklake_name_mapping", &[c("mapping_id", BigInt, PLAIN), c("column_id", BigInt, PLAIN), c("source_name", Varchar, PLAIN), c("target_field_id", BigInt, PLAIN), c("parent_column", BigInt, PLAIN), c("is_partition", Boolean, PLAIN)]),
    t("ducklake_schema_versions", &[c("begin_snapshot", BigInt, PLAIN), c("schema_version", BigInt, PLAIN)]),
];
/// Version 0.4: `InitializeDuckLake` at duckdb/ducklake@03fcc91e86 (and 1.0's, see [`V1_0`]).
#[rustfmt::skip]
const V0_4: &[CatalogTable] = &[
    t("ducklake_metadata", &[c("key", Varchar, NOT_NULL), c("value", Varchar, NOT_NULL), c("scope", Varchar, PLAIN), c("scope_id", BigInt, PLAIN)]),
    t("ducklake_snapshot", &[c("snapshot_id", BigInt, PK), c("snapshot_time", TimestampTz, PLAIN), c("schema_version", BigInt, PLAIN), c("next_catalog_id", BigInt, PLAIN), c("next_file_id", BigInt, PLAIN)]),
    t("ducklake_snapshot_changes", &[c("snapshot_id", BigInt, PK), c("changes_made", Varchar, PLAIN), c("author", Varchar, PLAIN), c("commit_message", Varchar, PLAIN), c("commit_extra_info", Varchar, PLAIN)]),
    t("ducklake_schema", &[c("schema_id", BigInt, PK), c("schema_uuid", Uuid, PLAIN), c("begin_snapshot", BigInt, PLAIN), c("end_snapshot", BigInt, PLAIN), c("schema_name", Varchar, PLAIN), c("path", Varchar, PLAIN), c("path_is_relative", Boolean, PLAIN)]),
    t("ducklake_table", &[c("table_id", BigInt, PLAIN), c("table_uuid", Uuid, PLAIN), c("begin_snapshot", BigInt, PLAIN), c("end_snapshot", BigInt, PLAIN), c("schema_id", BigInt, PLAIN), c("table_name", Varchar, PLAIN), c("path", Varchar, PLAIN), c("path_is_relative", Boolean, PLAIN)]),
    t("ducklake_view", &[c("view_id", BigInt, PLAIN), c("view_uuid", Uuid, PLAIN), c("begin_snapshot", BigInt, PLAIN), c("end_snapshot", BigInt, PLAIN), c("schema_id", BigInt, PLAIN), c("view_name", Varchar, PLAIN), c("dialect", Varchar, PLAIN), c("sql", Varchar, PLAIN), c("column_aliases", Varchar, PLAIN)]),
    t("ducklake_tag", &[c("object_id", BigInt, PLAIN), c("begin_snapshot", BigInt, PLAIN), c("end_snapshot", BigInt, PLAIN), c("key", Varchar, PLAIN), c("value", Varchar, PLAIN)]),
    t("ducklake_column_tag", &[c("table_id", BigInt, PLAIN), c("column_id", BigInt, PLAIN), c("begin_snapshot", BigInt, PLAIN), c("end_snapshot", BigInt, PLAIN), c("key", Varchar, PLAIN), c("value", Varchar, PLAIN)]),
    t("ducklake_data_file", &[c("data_file_id", BigInt, PK), c("table_id", BigInt, PLAIN), c("begin_snapshot", BigInt, PLAIN), c("end_snapshot", BigInt, PLAIN), c("file_order", BigInt, PLAIN), c("path", Varchar, PLAIN), c("path_is_relative", Boolean, PLAIN), c("file_format", Varchar, PLAIN), c("record_count", BigInt, PLAIN), c("file_size_bytes", BigInt, PLAIN), c("footer_size", BigInt, PLAIN), c("row_id_start", BigInt, PLAIN), c("partition_id", BigInt, PLAIN), c("encryption_key", Varchar, PLAIN), c("mapping_id", BigInt, PLAIN), c("partial_max", BigInt, PLAIN)]),
    t("ducklake_file_column_stats", &[c("data_file_id", BigInt, PLAIN), c("table_id", BigInt, PLAIN), c("column_id", BigInt, PLAIN), c("column_size_bytes", BigInt, PLAIN), c("value_count", BigInt, PLAIN), c("null_count", BigInt, PLAIN), c("min_value", Varchar, PLAIN), c("max_value", Varchar, PLAIN), c("contains_nan", Boolean, PLAIN), c("extra_stats", Varchar, PLAIN)]),
    t("ducklake_file_variant_stats", &[c("data_file_id", BigInt, PLAIN), c("table_id", BigInt, PLAIN), c("column_id", BigInt, PLAIN), c("variant_path", Varchar, PLAIN), c("shredded_type", Varchar, PLAIN), c("column_size_bytes", BigInt, PLAIN), c("value_count", BigInt, PLAIN), c("null_count", BigInt, PLAIN), c("min_value", Varchar, PLAIN), c("max_value", Varchar, PLAIN), c("contains_nan", Boolean, PLAIN), c("extra_stats", Varchar, PLAIN)]),
    t("ducklake_delete_file", &[c("delete_file_id", BigInt, PK), c("table_id", BigInt, PLAIN), c("begin_snapshot", BigInt, PLAIN), c("end_snapshot", BigInt, PLAIN), c("data_file_id", BigInt, PLAIN), c("path", Varchar, PLAIN), c("path_is_relative", Boolean, PLAIN), c("format", Varchar, PLAIN), c("delete_count", BigInt, PLAIN), c("file_size_bytes", BigInt, PLAIN), c("footer_size", BigInt, PLAIN), c("encryption_key", Varchar, PLAIN), c("partial_max", BigInt, PLAIN)]),
    t("ducklake_column", &[c("column_id", BigInt, PLAIN), c("begin_snapshot", BigInt, PLAIN), c("end_snapshot", BigInt, PLAIN), c("table_id", BigInt, PLAIN), c("column_order", BigInt, PLAIN), c("column_name", Varchar, PLAIN), c("column_type", Varchar, PLAIN), c("initial_default", Varchar, PLAIN), c("default_value", Varchar, PLAIN), c("nulls_allowed", Boolean, PLAIN), c("parent_column", BigInt, PLAIN), c("default_value_type", Varchar, PLAIN), c("default_value_dialect", Varchar, PLAIN)]),
    t("ducklake_table_stats", &[c("table_id", BigInt, PLAIN), c("record_count", BigInt, PLAIN), c("next_row_id", BigInt, PLAIN), c("file_size_bytes", BigInt, PLAIN)]),
    t("ducklake_table_column_stats", &[c("table_id", BigInt, PLAIN), c("column_id", BigInt, PLAIN), c("contains_null", Boolean, PLAIN), c("contains_nan", Boolean, PLAIN), c("min_value", Varchar, PLAIN), c("max_value", Varchar, PLAIN), c("extra_stats", Varchar, PLAIN)]),
    t("ducklake_partition_info", &[c("partition_id", BigInt, PLAIN), c("table_id", BigInt, PLAIN), c("begin_snapshot", BigInt, PLAIN), c("end_snapshot", BigInt, PLAIN)]),
    t("ducklake_partition_column", &[c("partition_id", BigInt, PLAIN), c("table_id", BigInt, PLAIN), c("partition_key_index", BigInt, PLAIN), c("column_id", BigInt, PLAIN), c("transform", Varchar, PLAIN)]),
    t("ducklake_file_partition_value", &[c("data_file_id", BigInt, PLAIN), c("table_id", BigInt, PLAIN), c("partition_key_index", BigInt, PLAIN), c("partition_value", Varchar, PLAIN)]),
    t("ducklake_files_scheduled_for_deletion", &[c("data_file_id", BigInt, PLAIN), c("path", Varchar, PLAIN), c("path_is_relative", Boolean, PLAIN), c("schedule_start", TimestampTz, PLAIN)]),
    t("ducklake_inlined_data_tables", &[c("table_id", BigInt, PLAIN), c("table_name", Varchar, PLAIN), c("schema_version", BigInt, PLAIN)]),
    t("ducklake_column_mapping", &[c("mapping_id", BigInt, PLAIN), c("table_id", BigInt, PLAIN), c("type", Varchar, PLAIN)]),
    t("ducklake_name_mapping", &[c("mapping_id", BigInt, PLAIN), c("column_id", BigInt, PLAIN), c("source_name", Varchar, PLAIN), c("target_field_id", BigInt, PLAIN), c("parent_column", BigInt, PLAIN), c("is_partition", Boolean, PLAIN)]),
    t("ducklake_schema_versions", &[c("begin_snapshot", BigInt, PLAIN), c("schema_version", BigInt, PLAIN), c("table_id", BigInt, PLAIN)]),
    t("ducklake_macro", &[c("schema_id", BigInt, PLAIN), c("macro_id", BigInt, PLAIN), c("macro_name", Varchar, PLAIN), c("begin_snapshot", BigInt, PLAIN), c("end_snapshot", BigInt, PLAIN)]),
    t("ducklake_macro_impl", &[c("macro_id", BigInt, PLAIN), c("impl_id", BigInt, PLAIN), c("dialect", Varchar, PLAIN), c("sql", Varchar, PLAIN), c("type", Varchar, PLAIN)]),
    t("ducklake_macro_parameters", &[c("macro_id", BigInt, PLAIN), c("impl_id", BigInt, PLAIN), c("column_id", BigInt, PLAIN), c("parameter_name", Varchar, PLAIN), c("parameter_type", Varchar, PLAIN), c("default_value", Varchar, PLAIN), c("default_value_type", Varchar, PLAIN)]),
    t("ducklake_sort_info", &[c("sort_id", BigInt, PLAIN), c("table_id", BigInt, PLAIN), c("begin_snapshot", BigInt, PLAIN), c("end_snapshot", BigInt, PLAIN)]),
    t("ducklake_sort_expression", &[c("sort_id", BigInt, PLAIN), c("table_id", BigInt, PLAIN), c("sort_key_index", BigInt, PLAIN), c("expression", Varchar, PLAIN), c("dialect", Varchar, PLAIN), c("sort_direction", Varchar, PLAIN), c("null_order", Varchar, PLAIN)]),
];
/// Version 1.0: `InitializeDuckLake` at duckdb/ducklake@d8a1881e22 creates the same tables as 0.4
/// (`MigrateV04` only bumps the version string), so 1.0 shares 0.4's list.
const V1_0: &[CatalogTable] = V0_4;

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: Version) -> Vec<&'static str> {
        v.tables().iter().map(|t| t.name).collect()
    }

    #[test]
    fn parse_versions() {
        for v in Version::ALL {
            assert_eq!(Version::parse(v.as_str()).unwrap(), v);
        }
        let e = Version::parse("0.4-dev1").unwrap_err().to_string();
        assert!(e.contains("\"0.4-dev1\" is not supported"), "{e}");
        assert!(Version::parse("1.1").is_err());
    }

    #[test]
    fn table_counts_per_version() {
        assert_eq!(V0_1.len(), 19);
        assert_eq!(V0_2.len(), 21);
        assert_eq!(V0_3.len(), 22);
        assert_eq!(V0_4.len(), 28);
        assert_eq!(V1_0.len(), 28);
    }

    #[test]
    fn migrations_between_versions_match_the_data() {
        // MigrateV01: path columns, metadata scope, data_file.mapping_id, the two mapping tables.
        let s01 = Version::V0_1.table("ducklake_schema").unwrap();
        assert!(s01.column("path").is_none());
        assert!(Version::V0_2
            .table("ducklake_schema")
            .unwrap()
            .column("path_is_relative")
            .is_some());
        assert!(!Version::V0_1.has_metadata_scope() && Version::V0_2.has_metadata_scope());
        assert!(names(Version::V0_2).contains(&"ducklake_name_mapping"));
        // MigrateV02: file_column_statistics renamed, schema_versions added.
        assert!(names(Version::V0_2).contains(&"ducklake_file_column_statistics"));
        assert!(names(Version::V0_3).contains(&"ducklake_file_column_stats"));
        assert!(!names(Version::V0_3).contains(&"ducklake_file_column_statistics"));
        // MigrateV03: partial_file_info -> partial_max, macro/sort/variant tables.
        let df3 = Version::V0_3.table("ducklake_data_file").unwrap();
        assert!(df3.column("partial_file_info").is_some() && df3.column("partial_max").is_none());
        let df4 = Version::V0_4.table("ducklake_data_file").unwrap();
        assert!(df4.column("partial_file_info").is_none() && df4.column("partial_max").is_some());
        assert!(Version::V1_0
            .table("ducklake_file_variant_stats")
            .unwrap()
            .column("contains_nan")
            .is_some());
        // MigrateV04 changes only the version string.
        let mut a: Vec<_> = V0_4.to_vec();
        let mut b: Vec<_> = V1_0.to_vec();
        a.sort_by_key(|t| t.name);
        b.sort_by_key(|t| t.name);
        assert_eq!(a, b);
    }

    #[test]
    fn keys_and_not_null() {
        let v = Version::V1_0;
        let pks: Vec<_> = v
            .tables()
            .iter()
            .filter_map(|t| t.primary_key().map(|k| (t.name, k)))
            .collect();
        assert_eq!(
            pks,
            vec![
                ("ducklake_snapshot", "snapshot_id"),
                ("ducklake_snapshot_changes", "snapshot_id"),
                ("ducklake_schema", "schema_id"),
                ("ducklake_data_file", "data_file_id"),
                ("ducklake_delete_file", "delete_file_id"),
            ]
        );
        let md = v.table("ducklake_metadata").unwrap();
        assert!(md.column("key").unwrap().not_null() && md.column("value").unwrap().not_null());
        assert!(!md.column("scope").unwrap().not_null());
    }

    #[test]
    fn typed_columns_of_1_0() {
        // Every column that is not BIGINT/VARCHAR in 1.0 (the ones SQLite and pgloader get wrong).
        let mut odd = Vec::new();
        for t in Version::V1_0.tables() {
            for c in t.columns {
                if !matches!(c.ty, BigInt | Varchar) {
                    odd.push(format!("{}.{}", t.name, c.name));
                }
            }
        }
        assert_eq!(odd.len(), 16, "{odd:?}");
        assert!(odd.contains(&"ducklake_file_variant_stats.contains_nan".to_string()));
        assert!(odd.contains(&"ducklake_files_scheduled_for_deletion.schedule_start".to_string()));
        assert!(odd.contains(&"ducklake_name_mapping.is_partition".to_string()));
    }

    #[test]
    fn inlined_names() {
        assert_eq!(
            parse_inlined_data_name("ducklake_inlined_data_12_3"),
            Some((12, 3))
        );
        assert_eq!(
            parse_inlined_data_name("ducklake_inlined_data_tables"),
            None
        );
        assert_eq!(
            parse_inlined_delete_name("ducklake_inlined_delete_7"),
            Some(7)
        );
        assert_eq!(parse_inlined_delete_name("ducklake_inlined_delete_x"), None);
    }
}
