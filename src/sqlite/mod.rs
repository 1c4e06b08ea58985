//! Reading SQLite files: opened strictly read-only, read inside ONE read transaction (so a database
//! another process is writing to is read as one consistent snapshot), the schema listed through
//! SQLite's own pragmas, rows streamed one at a time as borrowed [`SqliteValue`]s.
//!
//! Nothing here writes: the file is opened with `SQLITE_OPEN_READ_ONLY` by its absolute path (the
//! bundled SQLite is built with `SQLITE_USE_URI`, so a relative `file:...` name could otherwise be
//! read as a URI with `mode=rwc`), and a missing file is an error, never created.
//!
//! Converting what is read into PostgreSQL values: [`convert`], with the text parsers of [`text`].

pub mod convert;
pub mod ddl;
pub mod text;

use std::path::{Path, PathBuf};

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use crate::error::{Error, Result};
use crate::sql::quote_ident;

/// The 16 bytes every SQLite 3 database file starts with.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// One value as SQLite stores it (its storage class), borrowed from the row being read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SqliteValue<'a> {
    Null,
    Integer(i64),
    Real(f64),
    /// TEXT as stored: normally UTF-8, but SQLite does not enforce it; see [`SqliteValue::text`].
    Text(&'a [u8]),
    Blob(&'a [u8]),
}

impl<'a> SqliteValue<'a> {
    /// The storage class, as `typeof()` names it.
    pub fn storage_class(&self) -> StorageClass {
        match self {
            SqliteValue::Null => StorageClass::Null,
            SqliteValue::Integer(_) => StorageClass::Integer,
            SqliteValue::Real(_) => StorageClass::Real,
            SqliteValue::Text(_) => StorageClass::Text,
            SqliteValue::Blob(_) => StorageClass::Blob,
        }
    }

    /// A TEXT value as `&str`; `None` for other classes and for TEXT that is not valid UTF-8.
    pub fn text(&self) -> Option<&'a str> {
        match self {
            SqliteValue::Text(b) => simdutf8::basic::from_utf8(b).ok(),
            _ => None,
        }
    }

    /// A short, printable rendering for error messages (long values cut, blobs as hex).
    pub fn describe(&self) -> String {
        const MAX: usize = 60;
        match self {
            SqliteValue::Null => "NULL".to_string(),
            SqliteValue::Integer(i) => i.to_string(),
            SqliteValue::Real(f) => format!("{f:?}"),
            SqliteValue::Text(b) => {
                let s = String::from_utf8_lossy(b);
                if s.chars().count() > MAX {
                    let cut: String = s.chars().take(MAX).collect();
                    format!("'{cut}...' ({} bytes)", b.len())
                } else {
                    format!("'{s}'")
                }
            }
            SqliteValue::Blob(b) => {
                let hex: String = b.iter().take(MAX / 2).map(|x| format!("{x:02x}")).collect();
                let more = if b.len() > MAX / 2 { "..." } else { "" };
                format!("X'{hex}{more}' ({} bytes)", b.len())
            }
        }
    }
}

impl<'a> From<ValueRef<'a>> for SqliteValue<'a> {
    fn from(v: ValueRef<'a>) -> Self {
        match v {
            ValueRef::Null => SqliteValue::Null,
            ValueRef::Integer(i) => SqliteValue::Integer(i),
            ValueRef::Real(f) => SqliteValue::Real(f),
            ValueRef::Text(t) => SqliteValue::Text(t),
            ValueRef::Blob(b) => SqliteValue::Blob(b),
        }
    }
}

/// SQLite's five storage classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StorageClass {
    Null,
    Integer,
    Real,
    Text,
    Blob,
}

impl StorageClass {
    /// The name `typeof()` returns.
    pub fn name(self) -> &'static str {
        match self {
            StorageClass::Null => "null",
            StorageClass::Integer => "integer",
            StorageClass::Real => "real",
            StorageClass::Text => "text",
            StorageClass::Blob => "blob",
        }
    }
}

/// Anything that hands out one row's values by position: a SQLite row, or a test's slice.
pub trait RowValues {
    fn len(&self) -> usize;
    fn value(&self, i: usize) -> SqliteValue<'_>;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl RowValues for [SqliteValue<'_>] {
    fn len(&self) -> usize {
        <[SqliteValue<'_>]>::len(self)
    }
    fn value(&self, i: usize) -> SqliteValue<'_> {
        self[i]
    }
}

/// One row of a running read; valid only inside the callback of [`SqliteSource::for_each_row`].
pub struct SqliteRow<'r, 's> {
    row: &'r rusqlite::Row<'s>,
    width: usize,
}

impl RowValues for SqliteRow<'_, '_> {
    fn len(&self) -> usize {
        self.width
    }
    fn value(&self, i: usize) -> SqliteValue<'_> {
        self.row
            .get_ref(i)
            .map(SqliteValue::from)
            .unwrap_or(SqliteValue::Null)
    }
}

/// A column as `PRAGMA table_xinfo` describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct SqliteColumn {
    pub name: String,
    /// The declared type exactly as written (`""` when none).
    pub declared_type: String,
    pub not_null: bool,
    /// The default expression's SQL text, as written in CREATE TABLE.
    pub default: Option<String>,
    /// Position in the primary key (1-based), 0 when not part of it.
    pub pk: u32,
    /// 0 normal, 1 hidden (virtual tables), 2 virtual generated, 3 stored generated.
    pub hidden: i32,
}

impl SqliteColumn {
    /// A generated column (its values are computed, not stored by the application).
    pub fn is_generated(&self) -> bool {
        self.hidden == 2 || self.hidden == 3
    }
}

/// Where an index comes from (`PRAGMA index_list`'s `origin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexOrigin {
    /// `CREATE INDEX`
    Created,
    /// A `UNIQUE` constraint in CREATE TABLE.
    Unique,
    /// The `PRIMARY KEY` (only for keys that are not the rowid).
    PrimaryKey,
}

/// One key part of an index; `column` is `None` for an expression.
#[derive(Debug, Clone, PartialEq)]
pub struct SqliteIndexColumn {
    pub column: Option<String>,
    pub desc: bool,
    pub collation: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SqliteIndex {
    pub name: String,
    pub unique: bool,
    pub origin: IndexOrigin,
    /// Has a WHERE clause.
    pub partial: bool,
    pub columns: Vec<SqliteIndexColumn>,
    /// The CREATE INDEX text (None for automatic indexes of constraints).
    pub sql: Option<String>,
}

/// One FOREIGN KEY constraint, its column pairs in order.
#[derive(Debug, Clone, PartialEq)]
pub struct SqliteForeignKey {
    pub parent_table: String,
    pub columns: Vec<String>,
    /// The referenced columns; `None` entries mean "the parent's primary key column at that position".
    pub parent_columns: Vec<Option<String>>,
    pub on_update: String,
    pub on_delete: String,
    /// From the CREATE TABLE text (the pragma does not say).
    pub deferrable: ddl::Deferrable,
}

/// A table: its columns, keys, indexes and foreign keys.
#[derive(Debug, Clone, PartialEq)]
pub struct SqliteTable {
    pub name: String,
    /// The CREATE TABLE text.
    pub sql: String,
    pub without_rowid: bool,
    pub strict: bool,
    /// Declared with AUTOINCREMENT.
    pub autoincrement: bool,
    pub columns: Vec<SqliteColumn>,
    pub indexes: Vec<SqliteIndex>,
    pub foreign_keys: Vec<SqliteForeignKey>,
    /// AUTOINCREMENT's high-water mark (`sqlite_sequence.seq`), when the table has a row there.
    pub sequence: Option<i64>,
    /// CHECKs and column collations from the CREATE TABLE text.
    pub ddl: ddl::TableDdl,
}

impl SqliteTable {
    /// The primary key's columns in key order.
    pub fn primary_key(&self) -> Vec<&SqliteColumn> {
        let mut pk: Vec<&SqliteColumn> = self.columns.iter().filter(|c| c.pk > 0).collect();
        pk.sort_by_key(|c| c.pk);
        pk
    }

    /// The column that aliases the rowid (`x INTEGER PRIMARY KEY` in a rowid table), if any.
    pub fn rowid_alias(&self) -> Option<&SqliteColumn> {
        let pk = self.primary_key();
        if self.without_rowid || pk.len() != 1 {
            return None;
        }
        let c = pk[0];
        c.declared_type
            .eq_ignore_ascii_case("INTEGER")
            .then_some(c)
            .filter(|_| !primary_key_is_desc(&self.sql))
    }

    /// Columns whose values are stored (generated columns left out), in table order.
    pub fn stored_columns(&self) -> Vec<&SqliteColumn> {
        self.columns.iter().filter(|c| !c.is_generated()).collect()
    }
}

/// A virtual table (FTS3/4/5, rtree, ...): never migrated, always named in the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteVirtualTable {
    pub name: String,
    /// The module after `USING` (`fts5`, `rtree`), lower case.
    pub module: String,
    /// The CREATE VIRTUAL TABLE text.
    pub sql: String,
    /// Its shadow tables (`docs_data`, `docs_idx`, ...), which are not migrated either.
    pub shadow_tables: Vec<String>,
}

/// `INTEGER PRIMARY KEY DESC` does not alias the rowid (a documented SQLite quirk).
fn primary_key_is_desc(sql: &str) -> bool {
    let up = sql.to_ascii_uppercase();
    let words: Vec<&str> = up.split_whitespace().collect();
    words
        .windows(3)
        .any(|w| w[0] == "PRIMARY" && w[1] == "KEY" && w[2].starts_with("DESC"))
}

/// An open SQLite file, read-only, inside one read transaction that lasts until it is dropped.
pub struct SqliteSource {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for SqliteSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteSource")
            .field("path", &self.path)
            .finish()
    }
}

impl SqliteSource {
    /// Open `path` read-only and start the read transaction. A missing file, a file that is not a
    /// SQLite database, and a corrupt one each get an error naming the path.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteSource> {
        let given = path.as_ref();
        let shown = given.display().to_string();
        let io = |reason: String| Error::Sqlite {
            path: shown.clone(),
            reason,
        };
        let abs = std::fs::canonicalize(given).map_err(|e| {
            io(match e.kind() {
                std::io::ErrorKind::NotFound => {
                    "no such file (lakemig opens SQLite files read-only and never creates one)"
                        .to_string()
                }
                _ => format!("cannot open: {e}"),
            })
        })?;
        let meta = std::fs::metadata(&abs).map_err(|e| io(format!("cannot open: {e}")))?;
        if meta.is_dir() {
            return Err(io("is a directory, not a SQLite database file".into()));
        }
        check_header(&abs).map_err(io)?;
        let conn = Connection::open_with_flags(
            &abs,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| io(sqlite_reason(&e)))?;
        // Wait for a writer's short commit rather than failing at once.
        let _ = conn.busy_timeout(std::time::Duration::from_secs(30));
        let src = SqliteSource { conn, path: abs };
        // BEGIN is deferred: the first read takes the shared lock (WAL: the snapshot) and keeps it.
        src.conn
            .execute_batch("BEGIN")
            .map_err(|e| src.error("starting the read transaction", &e))?;
        src.conn
            .query_row("SELECT count(*) FROM sqlite_schema", [], |r| {
                r.get::<_, i64>(0)
            })
            .map_err(|e| src.error("reading the schema", &e))?;
        Ok(src)
    }

    /// The absolute path of the file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, context: &str, e: &rusqlite::Error) -> Error {
        Error::Sqlite {
            path: self.path.display().to_string(),
            reason: format!("{context}: {}", sqlite_reason(e)),
        }
    }

    /// Run SQLite's `PRAGMA quick_check` (reads every page): `Ok` when the file is intact.
    pub fn quick_check(&self) -> Result<()> {
        let mut stmt = self
            .conn
            .prepare("PRAGMA quick_check")
            .map_err(|e| self.error("checking the file", &e))?;
        let problems: Vec<String> = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| self.error("checking the file", &e))?
            .collect::<rusqlite::Result<_>>()
            .map_err(|e| self.error("checking the file", &e))?;
        if problems.len() == 1 && problems[0] == "ok" {
            return Ok(());
        }
        Err(Error::Sqlite {
            path: self.path.display().to_string(),
            reason: format!(
                "the database file is corrupt ({}); restore it from a backup or run `sqlite3 file .recover`",
                problems.join("; ")
            ),
        })
    }

    /// Names of the ordinary tables (no views, virtual tables, their shadow tables, or sqlite_*), in
    /// the order they were created.
    pub fn table_names(&self) -> Result<Vec<String>> {
        let ctx = "listing the tables";
        let mut stmt = self
            .conn
            .prepare(
                "SELECT s.name FROM sqlite_schema AS s \
                 JOIN pragma_table_list AS t ON t.name = s.name AND t.schema = 'main' \
                 WHERE s.type = 'table' AND t.type = 'table' AND s.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
                 ORDER BY s.rowid",
            )
            .map_err(|e| self.error(ctx, &e))?;
        let names = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| self.error(ctx, &e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.error(ctx, &e))?;
        Ok(names)
    }

    /// Every ordinary table with its columns, indexes and foreign keys.
    pub fn tables(&self) -> Result<Vec<SqliteTable>> {
        self.table_names()?.iter().map(|n| self.table(n)).collect()
    }

    /// One table by its exact name.
    pub fn table(&self, name: &str) -> Result<SqliteTable> {
        let ctx = format!("reading table \"{name}\"");
        let err = |e: rusqlite::Error| self.error(&ctx, &e);
        let (sql, without_rowid, strict): (Option<String>, bool, bool) = self
            .conn
            .query_row(
                "SELECT s.sql, t.wr, t.strict FROM sqlite_schema AS s \
                 JOIN pragma_table_list AS t ON t.name = s.name AND t.schema = 'main' \
                 WHERE s.type = 'table' AND s.name = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Error::UnknownTable {
                    table: format!("\"{name}\" in {}", self.path.display()),
                    hint: String::new(),
                },
                e => err(e),
            })?;
        let sql = sql.unwrap_or_default();
        let columns = {
            let mut stmt = self
                .conn
                .prepare(
                    "SELECT name, type, \"notnull\", dflt_value, pk, hidden \
                     FROM pragma_table_xinfo(?1) ORDER BY cid",
                )
                .map_err(err)?;
            let cols = stmt
                .query_map([name], |r| {
                    Ok(SqliteColumn {
                        name: r.get(0)?,
                        declared_type: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                        not_null: r.get(2)?,
                        default: r.get(3)?,
                        pk: r.get(4)?,
                        hidden: r.get(5)?,
                    })
                })
                .map_err(err)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(err)?;
            cols
        };
        let autoincrement = sql.to_ascii_uppercase().contains("AUTOINCREMENT");
        let indexes = self.indexes(name).map_err(err)?;
        let ddl = ddl::parse_create_table(&sql);
        let mut foreign_keys = self.foreign_keys(name).map_err(err)?;
        for fk in &mut foreign_keys {
            if let Some(r) = ddl.references.iter().find(|r| {
                r.parent_table.eq_ignore_ascii_case(&fk.parent_table)
                    && r.columns.len() == fk.columns.len()
                    && r.columns
                        .iter()
                        .zip(&fk.columns)
                        .all(|(a, b)| a.eq_ignore_ascii_case(b))
            }) {
                fk.deferrable = r.deferrable;
            }
        }
        let sequence = self.sequence(name).map_err(err)?;
        Ok(SqliteTable {
            name: name.to_string(),
            sql,
            without_rowid,
            strict,
            autoincrement,
            columns,
            indexes,
            foreign_keys,
            sequence,
            ddl,
        })
    }

    /// `sqlite_sequence.seq` for `table` (None without AUTOINCREMENT or before its first insert).
    fn sequence(&self, table: &str) -> rusqlite::Result<Option<i64>> {
        let has: bool = self.conn.query_row(
            "SELECT count(*) > 0 FROM sqlite_schema WHERE type = 'table' AND name = 'sqlite_sequence'",
            [],
            |r| r.get(0),
        )?;
        if !has {
            return Ok(None);
        }
        let mut stmt = self
            .conn
            .prepare("SELECT max(seq) FROM sqlite_sequence WHERE name = ?1")?;
        stmt.query_row([table], |r| r.get::<_, Option<i64>>(0))
    }

    /// Virtual tables and their shadow tables, in creation order.
    pub fn virtual_tables(&self) -> Result<Vec<SqliteVirtualTable>> {
        let ctx = "listing the virtual tables";
        let q = |sql: &str| -> Result<Vec<(String, String)>> {
            let mut stmt = self.conn.prepare(sql).map_err(|e| self.error(ctx, &e))?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                    ))
                })
                .map_err(|e| self.error(ctx, &e))?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(|e| self.error(ctx, &e));
            rows
        };
        let virtuals = q("SELECT s.name, s.sql FROM sqlite_schema AS s \
             JOIN pragma_table_list AS t ON t.name = s.name AND t.schema = 'main' \
             WHERE t.type = 'virtual' ORDER BY s.rowid")?;
        let shadows = q("SELECT name, '' FROM pragma_table_list WHERE schema = 'main' AND type = 'shadow' ORDER BY name")?;
        Ok(virtuals
            .into_iter()
            .map(|(name, sql)| {
                let toks = ddl::tokenize(&sql);
                let module = toks
                    .iter()
                    .position(|t| t.is("USING"))
                    .and_then(|i| toks.get(i + 1))
                    .map(|t| t.text.to_ascii_lowercase())
                    .unwrap_or_default();
                let prefix = format!("{name}_");
                let shadow_tables = shadows
                    .iter()
                    .filter(|(s, _)| s.starts_with(&prefix))
                    .map(|(s, _)| s.clone())
                    .collect();
                SqliteVirtualTable {
                    name,
                    module,
                    sql,
                    shadow_tables,
                }
            })
            .collect())
    }

    fn indexes(&self, table: &str) -> rusqlite::Result<Vec<SqliteIndex>> {
        let mut list = self.conn.prepare(
            "SELECT l.name, l.\"unique\", l.origin, l.partial, s.sql \
             FROM pragma_index_list(?1) AS l \
             LEFT JOIN sqlite_schema AS s ON s.type = 'index' AND s.name = l.name \
             ORDER BY l.seq DESC",
        )?;
        let heads = list
            .query_map([table], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, bool>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, bool>(3)?,
                    r.get::<_, Option<String>>(4)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut cols = self.conn.prepare(
            "SELECT name, \"desc\", coll FROM pragma_index_xinfo(?1) WHERE key = 1 ORDER BY seqno",
        )?;
        let mut out = Vec::with_capacity(heads.len());
        for (name, unique, origin, partial, sql) in heads {
            let columns = cols
                .query_map([&name], |r| {
                    Ok(SqliteIndexColumn {
                        column: r.get(0)?,
                        desc: r.get(1)?,
                        collation: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let origin = match origin.as_str() {
                "u" => IndexOrigin::Unique,
                "pk" => IndexOrigin::PrimaryKey,
                _ => IndexOrigin::Created,
            };
            out.push(SqliteIndex {
                name,
                unique,
                origin,
                partial,
                columns,
                sql,
            });
        }
        Ok(out)
    }

    fn foreign_keys(&self, table: &str) -> rusqlite::Result<Vec<SqliteForeignKey>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, \"table\", \"from\", \"to\", on_update, on_delete \
             FROM pragma_foreign_key_list(?1) ORDER BY id, seq",
        )?;
        let rows = stmt
            .query_map([table], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut out: Vec<(i64, SqliteForeignKey)> = Vec::new();
        for (id, parent, from, to, on_update, on_delete) in rows {
            match out.last_mut() {
                Some((last, fk)) if *last == id => {
                    fk.columns.push(from);
                    fk.parent_columns.push(to);
                }
                _ => out.push((
                    id,
                    SqliteForeignKey {
                        parent_table: parent,
                        columns: vec![from],
                        parent_columns: vec![to],
                        on_update,
                        on_delete,
                        deferrable: ddl::Deferrable::No,
                    },
                )),
            }
        }
        // pragma_foreign_key_list numbers constraints from the last one declared: keep declaration order.
        out.reverse();
        Ok(out.into_iter().map(|(_, fk)| fk).collect())
    }

    /// The number of rows of a table.
    pub fn row_count(&self, table: &str) -> Result<u64> {
        let sql = format!("SELECT count(*) FROM {}", quote_ident(table));
        self.conn
            .query_row(&sql, [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(|e| self.error(&format!("counting the rows of \"{table}\""), &e))
    }

    /// Stream the rows of `table` (these `columns`, in this order), calling `f` once per row with a
    /// borrowed row; nothing is buffered beyond SQLite's own page cache. Returns the number of rows.
    /// An error from `f` stops the read and is returned as it is.
    pub fn for_each_row<F>(&self, table: &str, columns: &[String], mut f: F) -> Result<u64>
    where
        F: FnMut(&SqliteRow<'_, '_>) -> Result<()>,
    {
        let ctx = format!("reading the rows of \"{table}\"");
        let list = if columns.is_empty() {
            "NULL".to_string()
        } else {
            columns
                .iter()
                .map(|c| quote_ident(c))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let sql = format!("SELECT {list} FROM {}", quote_ident(table));
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.error(&ctx, &e))?;
        let mut rows = stmt.query([]).map_err(|e| self.error(&ctx, &e))?;
        let mut n = 0u64;
        loop {
            match rows.next() {
                Ok(Some(row)) => {
                    f(&SqliteRow {
                        row,
                        width: columns.len(),
                    })?;
                    n += 1;
                }
                Ok(None) => return Ok(n),
                Err(e) => return Err(self.error(&ctx, &e)),
            }
        }
    }
}

/// Read the first 16 bytes: a file that does not start with SQLite's header is not a database.
fn check_header(path: &Path) -> std::result::Result<(), String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let mut head = [0u8; 16];
    let mut got = 0;
    while got < head.len() {
        match f.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) => return Err(format!("cannot read: {e}")),
        }
    }
    if got == 0 {
        return Err("is empty (0 bytes): not a SQLite database".into());
    }
    if got < head.len() || &head != SQLITE_HEADER {
        return Err(
            "is not a SQLite database (it does not start with \"SQLite format 3\"); check the path"
                .into(),
        );
    }
    Ok(())
}

/// SQLite's error, with advice for the cases a user can act on.
fn sqlite_reason(e: &rusqlite::Error) -> String {
    use rusqlite::ffi::ErrorCode;
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseCorrupt) => format!(
            "the database file is corrupt ({e}); restore it from a backup or run `sqlite3 file .recover`"
        ),
        Some(ErrorCode::NotADatabase) => {
            format!("is not a SQLite database, or is encrypted ({e})")
        }
        Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => format!(
            "the database is locked by another process ({e}); retry when its writer is done"
        ),
        Some(ErrorCode::CannotOpen) => format!("cannot open ({e}); check the path and permissions (a database in WAL mode needs its -shm file or a writable directory)"),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch SQLite file built with a separate read-write connection.
    fn scratch(name: &str, sql: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("lakemig-sqlite-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        let _ = std::fs::remove_file(&path);
        let c = Connection::open(&path).unwrap();
        c.execute_batch(sql).unwrap();
        path
    }

    #[test]
    fn lists_schema() {
        let p = scratch(
            "schema.db",
            "CREATE TABLE parent (id INTEGER PRIMARY KEY AUTOINCREMENT, code TEXT NOT NULL UNIQUE);
             CREATE TABLE child (a INT, b TEXT DEFAULT 'x', c REAL, g INT GENERATED ALWAYS AS (a + 1),
                PRIMARY KEY (b, a),
                FOREIGN KEY (a) REFERENCES parent (id) ON DELETE CASCADE) WITHOUT ROWID;
             CREATE INDEX child_c ON child (c DESC);
             CREATE INDEX child_expr ON child (lower(b));
             CREATE VIRTUAL TABLE docs USING fts5(body);
             CREATE VIEW vv AS SELECT 1;
             INSERT INTO parent (code) VALUES ('a'), ('b'), ('c');
             DELETE FROM parent WHERE id = 3;
             CREATE TABLE late (p INT REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED, q INT);",
        );
        let src = SqliteSource::open(&p).unwrap();
        assert_eq!(src.table_names().unwrap(), vec!["parent", "child", "late"]);
        let parent = src.table("parent").unwrap();
        assert!(parent.autoincrement);
        // AUTOINCREMENT's high-water mark outlives the deleted row.
        assert_eq!(parent.sequence, Some(3));
        assert_eq!(src.table("child").unwrap().sequence, None);
        let late = src.table("late").unwrap();
        assert_eq!(late.foreign_keys[0].deferrable, ddl::Deferrable::Deferred);
        assert_eq!(
            src.table("child").unwrap().foreign_keys[0].deferrable,
            ddl::Deferrable::No
        );
        // Virtual tables and their shadow tables: listed apart, never as ordinary tables.
        let v = src.virtual_tables().unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!((v[0].name.as_str(), v[0].module.as_str()), ("docs", "fts5"));
        assert_eq!(
            v[0].shadow_tables,
            vec![
                "docs_config",
                "docs_content",
                "docs_data",
                "docs_docsize",
                "docs_idx"
            ]
        );
        assert_eq!(parent.rowid_alias().unwrap().name, "id");
        assert_eq!(parent.indexes.len(), 1);
        assert_eq!(parent.indexes[0].origin, IndexOrigin::Unique);
        let child = src.table("child").unwrap();
        assert!(child.without_rowid);
        assert!(child.rowid_alias().is_none());
        let pk: Vec<&str> = child
            .primary_key()
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(pk, vec!["b", "a"]);
        assert_eq!(child.columns[1].default.as_deref(), Some("'x'"));
        assert_eq!(child.columns[0].declared_type, "INT");
        assert!(child.columns[3].is_generated());
        assert_eq!(child.stored_columns().len(), 3);
        let by_name = |n: &str| child.indexes.iter().find(|i| i.name == n).unwrap();
        assert!(by_name("child_c").columns[0].desc);
        assert_eq!(by_name("child_expr").columns[0].column, None);
        assert_eq!(child.foreign_keys.len(), 1);
        assert_eq!(child.foreign_keys[0].parent_table, "parent");
        assert_eq!(child.foreign_keys[0].on_delete, "CASCADE");
    }

    #[test]
    fn streams_values_by_storage_class() {
        let p = scratch(
            "values.db",
            "CREATE TABLE t (v);
             INSERT INTO t VALUES (NULL), (42), (1.5), ('héllo'), (x'00ff'), (CAST(x'ff' AS TEXT));",
        );
        let src = SqliteSource::open(&p).unwrap();
        let mut seen = Vec::new();
        let n = src
            .for_each_row("t", &["v".to_string()], |row| {
                let v = row.value(0);
                seen.push((
                    v.storage_class(),
                    v.text().map(str::to_string),
                    v.describe(),
                ));
                Ok(())
            })
            .unwrap();
        assert_eq!(n, 6);
        let classes: Vec<StorageClass> = seen.iter().map(|s| s.0).collect();
        use StorageClass::*;
        assert_eq!(classes, vec![Null, Integer, Real, Text, Blob, Text]);
        assert_eq!(seen[3].1.as_deref(), Some("héllo"));
        assert_eq!(seen[4].2, "X'00ff' (2 bytes)");
        // Invalid UTF-8 stored as TEXT is reported as not text.
        assert_eq!(seen[5].1, None);
        assert_eq!(src.row_count("t").unwrap(), 6);
    }

    #[test]
    fn callback_error_stops_the_read() {
        let p = scratch(
            "stop.db",
            "CREATE TABLE t (v); INSERT INTO t VALUES (1), (2), (3);",
        );
        let src = SqliteSource::open(&p).unwrap();
        let mut calls = 0;
        let err = src
            .for_each_row("t", &["v".to_string()], |_| {
                calls += 1;
                Err(Error::argument("stop here"))
            })
            .unwrap_err();
        assert_eq!(calls, 1);
        assert_eq!(err.to_string(), "stop here");
    }

    #[test]
    fn missing_file_is_not_created() {
        let dir = std::env::temp_dir().join(format!("lakemig-missing-{}", std::process::id()));
        let p = dir.join("nope.sqlite");
        let err = SqliteSource::open(&p).unwrap_err().to_string();
        assert!(
            err.contains("nope.sqlite") && err.contains("no such file"),
            "{err}"
        );
        assert!(!p.exists());
        // A relative URI-looking name is a plain (missing) file name, never a URI with mode=rwc.
        let err = SqliteSource::open("file:lakemig-uri.db?mode=rwc")
            .unwrap_err()
            .to_string();
        assert!(err.contains("no such file"), "{err}");
        assert!(!Path::new("lakemig-uri.db").exists());
    }

    #[test]
    fn not_sqlite_and_corrupt_files_are_named() {
        let dir = std::env::temp_dir().join(format!("lakemig-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let text = dir.join("notes.txt");
        std::fs::write(&text, "hello, I am not a database\n").unwrap();
        let err = SqliteSource::open(&text).unwrap_err().to_string();
        assert!(
            err.contains("notes.txt") && err.contains("is not a SQLite database"),
            "{err}"
        );
        let empty = dir.join("empty.db");
        std::fs::write(&empty, "").unwrap();
        let err = SqliteSource::open(&empty).unwrap_err().to_string();
        assert!(err.contains("empty.db") && err.contains("empty"), "{err}");

        // A real database whose pages past the header are overwritten with garbage.
        let p = scratch(
            "corrupt.db",
            "CREATE TABLE t (v TEXT); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
             INSERT INTO t SELECT printf('%0100d', i) FROM n;",
        );
        let mut bytes = std::fs::read(&p).unwrap();
        for b in bytes.iter_mut().skip(100) {
            *b = 0x5a;
        }
        std::fs::write(&p, &bytes).unwrap();
        let err = match SqliteSource::open(&p) {
            Err(e) => e.to_string(),
            Ok(src) => src
                .table_names()
                .and_then(|_| src.for_each_row("t", &["v".to_string()], |_| Ok(())))
                .map(|_| String::new())
                .unwrap_or_else(|e| e.to_string()),
        };
        assert!(
            err.contains("corrupt.db") && (err.contains("corrupt") || err.contains("malformed")),
            "{err}"
        );
    }

    #[test]
    fn reads_one_snapshot_while_another_process_writes() {
        let p = scratch(
            "wal.db",
            "PRAGMA journal_mode = WAL; CREATE TABLE t (v INT); INSERT INTO t VALUES (1), (2);",
        );
        let writer = Connection::open(&p).unwrap();
        let src = SqliteSource::open(&p).unwrap();
        writer.execute("INSERT INTO t VALUES (3)", []).unwrap();
        // The reader's snapshot was taken at open: the third row is not visible to it.
        assert_eq!(src.row_count("t").unwrap(), 2);
        let n = src.for_each_row("t", &["v".into()], |_| Ok(())).unwrap();
        assert_eq!(n, 2);
        drop(src);
        let fresh = SqliteSource::open(&p).unwrap();
        assert_eq!(fresh.row_count("t").unwrap(), 3);
    }
}
