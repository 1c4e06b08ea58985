//! The PostgreSQL side of a many-table `pg_sync`: ONE exported snapshot, the tables listed and
//! described in it, and a [`SyncSnapshot`] per table that reads in that same snapshot (on the one
//! connection that holds it; a large table's full read splits over connections importing it).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use tokio_postgres::types::Type;

use super::catalog::{self, Column, QualifiedName, Table};
use super::connect::{Conn, ConnParams};
use super::scan;
use super::sync::{bound_for, open_snapshot, Opened, SyncSnapshot};
use crate::error::{Error, Result};
use crate::sync::tables::{Described, Listed, SourceColumn};
use crate::sync::CursorKind;

/// Every ordinary and partitioned table (never a partition: its parent is read whole), with
/// whether this role may read it. System schemas are left out.
const LIST_SQL: &str = "SELECT c.oid, n.nspname::text, c.relname::text, \
     has_table_privilege(c.oid, 'SELECT') \
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition \
     AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_' \
     ORDER BY 2, 3";

/// The first column of every index of these tables, and the primary key's columns in order.
const KEYS_SQL: &str = "SELECT i.indrelid, i.indisprimary, \
     array(SELECT a.attname::text FROM unnest(i.indkey) WITH ORDINALITY k(attnum, ord) \
           JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum ORDER BY k.ord) \
     FROM pg_index i WHERE i.indrelid = ANY($1)";

/// A described table, ready to read.
struct Known {
    table: Table,
    columns: Vec<Column>,
    primary_key: Vec<String>,
}

/// The call's snapshot, held open on `client` until [`TablesSnapshot::finish`].
pub struct TablesSnapshot {
    client: Arc<Conn>,
    opened: Opened,
    oids: HashMap<(String, String), u32>,
    known: HashMap<(String, String), Known>,
    bounds: HashMap<CursorKind, Option<String>>,
    max_connections: usize,
}

impl TablesSnapshot {
    /// Connect, take the snapshot (see `postgres::sync::take_snapshot`), list the tables in it.
    pub async fn take(
        params: &ConnParams,
        blind_window: Duration,
        max_connections: usize,
    ) -> Result<(TablesSnapshot, Vec<Listed>)> {
        let target = params.target();
        let client = scan::open(params).await?;
        let opened = open_snapshot(&client, params, blind_window).await?;
        let rows = client
            .query_typed(LIST_SQL, &[])
            .await
            .map_err(|e| Error::from_pg(e, "listing the source's tables", &target))?;
        let mut oids = HashMap::new();
        let listed = rows
            .iter()
            .map(|r| {
                let l = Listed {
                    schema: r.get(1),
                    name: r.get(2),
                    readable: r.get(3),
                };
                oids.insert((l.schema.clone(), l.name.clone()), r.get::<_, u32>(0));
                l
            })
            .collect();
        Ok((
            TablesSnapshot {
                client: Arc::new(client),
                opened,
                oids,
                known: HashMap::new(),
                bounds: HashMap::new(),
                max_connections,
            },
            listed,
        ))
    }

    /// Describe these tables: columns (pipelined on the one connection), indexes and keys (one
    /// query for all).
    pub async fn describe(
        &mut self,
        params: &ConnParams,
        tables: &[Listed],
    ) -> Result<Vec<Described>> {
        let target = params.target();
        let client = &self.client;
        let described = join_all(tables.iter().map(|t| {
            let name = QualifiedName {
                schema: Some(t.schema.clone()),
                name: t.name.clone(),
            };
            let target = target.clone();
            async move { catalog::describe_table(client, &name, &target).await }
        }))
        .await;
        let oids: Vec<u32> = tables
            .iter()
            .filter_map(|t| self.oids.get(&(t.schema.clone(), t.name.clone())).copied())
            .collect();
        let keys = client
            .query_typed(KEYS_SQL, &[(&oids, Type::OID_ARRAY)])
            .await
            .map_err(|e| Error::from_pg(e, "reading the tables' keys and indexes", &target))?;
        let mut out = Vec::with_capacity(tables.len());
        for (listed, d) in tables.iter().zip(described) {
            let (table, columns) = d?;
            let mut primary_key = Vec::new();
            let mut leading = Vec::new();
            for r in keys.iter().filter(|r| r.get::<_, u32>(0) == table.oid) {
                let cols: Vec<String> = r.get(2);
                if r.get::<_, bool>(1) {
                    primary_key = cols.clone();
                }
                leading.extend(cols.into_iter().next());
            }
            out.push(Described {
                listed: listed.clone(),
                columns: columns
                    .iter()
                    .map(|c| SourceColumn {
                        name: c.name.clone(),
                        cursor: CursorKind::of(&c.pg_type),
                        indexed: leading.contains(&c.name),
                    })
                    .collect(),
                primary_key: primary_key.clone(),
            });
            self.known.insert(
                (listed.schema.clone(), listed.name.clone()),
                Known {
                    table,
                    columns,
                    primary_key,
                },
            );
        }
        Ok(out)
    }

    /// A described table's own view of the snapshot, read with `cursor` ("" for a full re-read).
    pub async fn table(
        &mut self,
        params: &ConnParams,
        t: &Described,
        cursor: &str,
    ) -> Result<SyncSnapshot> {
        let known = self
            .known
            .get(&(t.listed.schema.clone(), t.listed.name.clone()))
            .ok_or_else(|| {
                Error::internal(format!("table {} was not described", t.listed.quoted()))
            })?;
        let kind = t
            .columns
            .iter()
            .find(|c| c.name == cursor)
            .and_then(|c| c.cursor);
        let bound = match kind {
            None => None,
            Some(kind) => match self.bounds.get(&kind) {
                Some(b) => b.clone(),
                None => {
                    let b = bound_for(
                        &self.client,
                        kind,
                        &self.opened.least,
                        &self.opened.server_tz,
                    )
                    .await
                    .map_err(|e| Error::from_pg(e, "taking the sync snapshot", &params.target()))?;
                    self.bounds.insert(kind, b.clone());
                    b
                }
            },
        };
        Ok(SyncSnapshot {
            client: self.client.clone(),
            snapshot: self.opened.snapshot.clone(),
            table: known.table.clone(),
            columns: known.columns.clone(),
            primary_key: known.primary_key.clone(),
            bound,
            bound_reason: self.opened.bound_reason.clone(),
            max_connections: self.max_connections,
        })
    }

    /// End the snapshot's transaction (read-only: nothing to keep).
    pub async fn finish(&self, params: &ConnParams) -> Result<()> {
        self.client
            .batch_execute("COMMIT")
            .await
            .map_err(|e| Error::from_pg(e, "ending the sync snapshot", &params.target()))
    }
}
