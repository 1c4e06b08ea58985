//! Where a sync writes: the target's name as the user wrote it, resolved the way DuckDB resolves
//! table names, and the DuckDB tables a sync works in.

use crate::error::{Error, Result};
use crate::sql::{quote_ident, split_name};

/// The schema of the target's catalog that holds the checkpoints: one table per target (see
/// [`Target::state_table`]), so the checkpoint commits in the same DuckDB transaction as the rows it
/// covers, and syncs of different targets never write the same table (DuckLake sees no conflict).
pub const STATE_SCHEMA: &str = "lakemig_sync_state";
/// Where earlier releases kept every target's checkpoint: one shared table in the catalog's `main`
/// schema, one row per target. Read once after an upgrade and moved (see `sync::checkpoint`).
pub const LEGACY_STATE_TABLE: &str = "lakemig_sync_state";
/// Temporary tables a sync works in (dropped before it returns): the changed rows, the source's
/// keys (hard deletes), the values of added columns.
pub const STAGE_TABLE: &str = "__lakemig_sync_stage";
pub const KEYS_TABLE: &str = "__lakemig_sync_keys";
pub const BACKFILL_TABLE: &str = "__lakemig_sync_backfill";

/// A DuckDB table name: `name`, `schema.name`, `catalog.name` or `catalog.schema.name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetName {
    pub parts: Vec<String>,
}

/// A DuckDB table, fully qualified.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableRef {
    pub catalog: String,
    pub schema: String,
    pub name: String,
}

impl TableRef {
    /// One of the sync's temporary tables (`temp.main.<name>`).
    pub fn temp(name: &str) -> TableRef {
        TableRef {
            catalog: "temp".into(),
            schema: "main".into(),
            name: name.into(),
        }
    }

    /// `"catalog"."schema"."name"`.
    pub fn quoted(&self) -> String {
        format!(
            "{}.{}.{}",
            quote_ident(&self.catalog),
            quote_ident(&self.schema),
            quote_ident(&self.name)
        )
    }
}

/// A target resolved against the databases attached to DuckDB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub catalog: String,
    pub schema: String,
    pub name: String,
    /// True for a DuckLake catalog (no primary keys: upserts are delete + insert).
    pub ducklake: bool,
}

impl Target {
    /// `"catalog"."schema"."name"`.
    pub fn quoted(&self) -> String {
        self.table().quoted()
    }

    pub fn table(&self) -> TableRef {
        TableRef {
            catalog: self.catalog.clone(),
            schema: self.schema.clone(),
            name: self.name.clone(),
        }
    }

    /// This target's checkpoint table: `<catalog>.lakemig_sync_state."<schema>.<table>"` (see
    /// [`state_table_name`]).
    pub fn state_table(&self) -> TableRef {
        TableRef {
            catalog: self.catalog.clone(),
            schema: STATE_SCHEMA.into(),
            name: state_table_name(&self.schema, &self.name),
        }
    }

    /// The shared checkpoint table of earlier releases, in this target's catalog.
    pub fn legacy_state_table(&self) -> TableRef {
        TableRef {
            catalog: self.catalog.clone(),
            schema: "main".into(),
            name: LEGACY_STATE_TABLE.into(),
        }
    }

    /// The key of this target in the checkpoint table: `schema.name`, quoted.
    pub fn state_key(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }

    /// `catalog.schema.name` as the result row shows it.
    pub fn display(&self) -> String {
        format!("{}.{}.{}", self.catalog, self.schema, self.name)
    }
}

/// The name of the checkpoint table of target `schema.table`: both names joined by a dot, each with
/// `%` and `.` written as `%25` and `%2E`, so that no two targets share a table (`a.b`+`c` and
/// `a`+`b.c` differ). Like the target itself, it is matched case-insensitively by DuckDB, so the
/// spellings of one target (`Raw.Subs`, `raw.subs`) share their checkpoint as they share the table.
pub fn state_table_name(schema: &str, table: &str) -> String {
    let escape = |s: &str| s.replace('%', "%25").replace('.', "%2E");
    format!("{}.{}", escape(schema), escape(table))
}

pub fn parse_target(input: &str) -> Result<TargetName> {
    let parts = split_name(input).map_err(|why| {
        Error::argument(format!(
            "target {input:?} is not a valid DuckDB table name ({why}); write [catalog.][schema.]table"
        ))
    })?;
    if parts.len() > 3 {
        return Err(Error::argument(format!(
            "target {input:?} has more than three parts; write [catalog.][schema.]table"
        )));
    }
    Ok(TargetName { parts })
}

/// Resolve a target name the way DuckDB resolves `a.b`: a schema of the default catalog if one
/// exists by that name, else an attached catalog (its `main` schema).
pub fn resolve_target(
    name: &TargetName,
    default_catalog: &str,
    default_schema: &str,
    schema_exists_in_default: impl Fn(&str) -> bool,
    catalog_exists: impl Fn(&str) -> bool,
) -> (String, String, String) {
    let p = &name.parts;
    match p.len() {
        1 => (
            default_catalog.to_string(),
            default_schema.to_string(),
            p[0].clone(),
        ),
        2 if !schema_exists_in_default(&p[0]) && catalog_exists(&p[0]) => {
            (p[0].clone(), "main".to_string(), p[1].clone())
        }
        2 => (default_catalog.to_string(), p[0].clone(), p[1].clone()),
        _ => (p[0].clone(), p[1].clone(), p[2].clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(ducklake: bool) -> Target {
        Target {
            catalog: "lake".into(),
            schema: "main".into(),
            name: "Subs \"x\"".into(),
            ducklake,
        }
    }

    #[test]
    fn targets_resolve_like_duckdb() {
        let yes = |_: &str| true;
        let no = |_: &str| false;
        let t = parse_target("subs").unwrap();
        assert_eq!(
            resolve_target(&t, "db", "main", no, no),
            ("db".into(), "main".into(), "subs".into())
        );
        let t = parse_target("lake.subs").unwrap();
        assert_eq!(
            resolve_target(&t, "db", "main", no, yes),
            ("lake".into(), "main".into(), "subs".into())
        );
        assert_eq!(
            resolve_target(&t, "db", "main", yes, yes),
            ("db".into(), "lake".into(), "subs".into())
        );
        let t = parse_target("lake.\"Raw\".subs").unwrap();
        assert_eq!(
            resolve_target(&t, "db", "main", no, no),
            ("lake".into(), "Raw".into(), "subs".into())
        );
        assert!(parse_target("a.b.c.d").is_err());
        assert!(parse_target("a;drop").is_ok()); // a name, quoted wherever it is used
        assert!(parse_target("\"unterminated").is_err());
    }

    #[test]
    fn quoting_is_total() {
        let t = target(false);
        assert_eq!(t.quoted(), "\"lake\".\"main\".\"Subs \"\"x\"\"\"");
        assert_eq!(t.state_key(), "\"main\".\"Subs \"\"x\"\"\"");
        assert_eq!(
            t.state_table().quoted(),
            "\"lake\".\"lakemig_sync_state\".\"main.Subs \"\"x\"\"\""
        );
        assert_eq!(
            t.legacy_state_table().quoted(),
            "\"lake\".\"main\".\"lakemig_sync_state\""
        );
    }

    #[test]
    fn state_table_names_never_collide() {
        assert_eq!(state_table_name("raw", "subs"), "raw.subs");
        assert_ne!(state_table_name("a.b", "c"), state_table_name("a", "b.c"));
        assert_eq!(state_table_name("a.b", "c"), "a%2Eb.c");
        assert_eq!(state_table_name("a", "b.c"), "a.b%2Ec");
        // `%` is escaped too, so an escape cannot be forged: "a%2Eb" is not "a.b".
        assert_eq!(state_table_name("a%2Eb", "c"), "a%252Eb.c");
        assert_ne!(state_table_name("a%2Eb", "c"), state_table_name("a.b", "c"));
    }
}
