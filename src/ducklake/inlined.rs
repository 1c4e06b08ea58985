//! Which DuckLake types the columns of a `ducklake_inlined_data_<table>_<schema_version>` table hold.
//! The inlined table's own columns (after `row_id`, `begin_snapshot`, `end_snapshot`) are the DuckLake
//! table's top-level columns at that schema version, by name; their DuckLake types are in
//! `ducklake_column`. Pure: the rows come from either backend.

use crate::ducklake::types::LakeType;
use crate::error::{Error, Result};

/// One row of `ducklake_column` (the fields this lookup needs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LakeColumnRow {
    pub table_id: i64,
    pub column_name: String,
    pub column_type: String,
    pub begin_snapshot: i64,
    pub end_snapshot: Option<i64>,
    pub parent_column: Option<i64>,
}

/// The snapshot at which to read a table's columns for schema version `schema_version`: the latest
/// snapshot whose schema version is at most `schema_version` (the schema does not change within one
/// schema version). `snapshots` are `(snapshot_id, schema_version)` pairs of `ducklake_snapshot`.
pub fn snapshot_for_schema_version(snapshots: &[(i64, i64)], schema_version: i64) -> Option<i64> {
    snapshots
        .iter()
        .filter(|(_, sv)| *sv <= schema_version)
        .map(|(id, _)| *id)
        .max()
}

/// The DuckLake types of an inlined-data table's data columns, in the order of `names`.
pub fn inlined_column_types(
    inlined_table: &str,
    table_id: i64,
    at_snapshot: i64,
    names: &[String],
    columns: &[LakeColumnRow],
) -> Result<Vec<LakeType>> {
    names
        .iter()
        .map(|name| {
            let row = columns
                .iter()
                .filter(|c| {
                    c.table_id == table_id
                        && c.parent_column.is_none()
                        && &c.column_name == name
                        && c.begin_snapshot <= at_snapshot
                        && c.end_snapshot.is_none_or(|e| e > at_snapshot)
                })
                .max_by_key(|c| c.begin_snapshot)
                .ok_or_else(|| {
                    Error::argument(format!(
                        "inlined-data table {inlined_table}: column \"{name}\" is not a column of DuckLake \
                         table {table_id} at snapshot {at_snapshot} in ducklake_column (is the catalog complete?)"
                    ))
                })?;
            LakeType::parse(&row.column_type)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, ty: &str, begin: i64, end: Option<i64>) -> LakeColumnRow {
        LakeColumnRow {
            table_id: 1,
            column_name: name.into(),
            column_type: ty.into(),
            begin_snapshot: begin,
            end_snapshot: end,
            parent_column: None,
        }
    }

    #[test]
    fn picks_the_column_valid_at_the_snapshot() {
        let cols = vec![
            row("a", "int32", 1, None),
            row("b", "varchar", 1, Some(5)),
            row("b", "float64", 5, None),
            LakeColumnRow {
                parent_column: Some(7),
                ..row("a", "json", 1, None)
            },
            LakeColumnRow {
                table_id: 2,
                ..row("a", "uuid", 1, None)
            },
        ];
        let names = vec!["a".to_string(), "b".to_string()];
        assert_eq!(
            inlined_column_types("t", 1, 3, &names, &cols).unwrap(),
            vec![LakeType::Int32, LakeType::Varchar]
        );
        assert_eq!(
            inlined_column_types("t", 1, 5, &names, &cols).unwrap(),
            vec![LakeType::Int32, LakeType::Float64]
        );
        let e = inlined_column_types("t", 1, 0, &names, &cols)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("column \"a\" is not a column of DuckLake table 1"),
            "{e}"
        );
    }

    #[test]
    fn snapshot_for_a_schema_version() {
        let snaps = [(0, 0), (1, 1), (2, 1), (3, 2), (7, 4)];
        assert_eq!(snapshot_for_schema_version(&snaps, 1), Some(2));
        assert_eq!(snapshot_for_schema_version(&snaps, 3), Some(3));
        assert_eq!(snapshot_for_schema_version(&snaps, 9), Some(7));
        assert_eq!(snapshot_for_schema_version(&[], 1), None);
    }
}
