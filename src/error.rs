//! The one error type of lakemig. Every message says what is wrong and, where we can tell, how to fix it.
//! Messages never contain a password. `Display` is already flat (no `source()` chain to append), because
//! duckdb-rs appends each `source()` again when it reports an error.

use thiserror::Error;

/// Every failure lakemig reports. The function name (`pg_incremental_scan`, ...) is prefixed by the caller
/// with [`Error::in_function`], so the variants themselves stay reusable.
#[derive(Debug, Error)]
pub enum Error {
    /// A connection string that cannot be parsed.
    #[error("invalid connection string: {0}")]
    Dsn(String),

    /// The server could not be reached or refused the login. `target` is `host:port/db as user`.
    #[error("could not connect to PostgreSQL at {target}: {reason}")]
    Connect { target: String, reason: String },

    /// An error the server reported, with its DETAIL, HINT and SQLSTATE.
    #[error("{context}: {message}")]
    Server { context: String, message: String },

    /// The connection broke while we were reading or writing.
    #[error("the connection to PostgreSQL at {target} broke during {context}: {reason}")]
    ConnectionLost {
        target: String,
        context: String,
        reason: String,
    },

    /// A table that does not exist.
    #[error("table {table} does not exist{hint}")]
    UnknownTable { table: String, hint: String },

    /// A column that does not exist.
    #[error("column {column} does not exist in table {table} (its columns are: {columns})")]
    UnknownColumn {
        table: String,
        column: String,
        columns: String,
    },

    /// A value that cannot be represented in the DuckDB type chosen for its column.
    #[error("column {column}: value {value} cannot be represented as DuckDB {duck_type}{hint}")]
    Unrepresentable {
        column: String,
        value: String,
        duck_type: String,
        hint: String,
    },

    /// Bytes from the server that do not decode as the declared type.
    #[error("column {column}: malformed {pg_type} value from the server: {reason}")]
    Decode {
        column: String,
        pg_type: String,
        reason: String,
    },

    /// A binary COPY stream that breaks PostgreSQL's format outside any one value (signature, field
    /// count, truncation).
    #[error("malformed binary COPY data from PostgreSQL: {reason}")]
    CopyFormat { reason: String },

    /// A bad argument to a SQL function.
    #[error("{0}")]
    Argument(String),

    /// A fault of lakemig's own (a broken invariant, a worker thread that panicked), not of the
    /// user's input; nothing the user passed can fix it.
    #[error("internal error: {0}; this is a bug in lakemig, please report it with the statement that raised it")]
    Internal(String),

    /// A catalog value that cannot be converted to the column's native type. `place` is
    /// `"schema"."table"."column"`.
    #[error("cannot convert {place} to {to_type}: {detail}; nothing was changed (fix or delete that row, then run again)")]
    Unconvertible {
        place: String,
        to_type: String,
        detail: String,
    },

    /// A file we could not read or write.
    #[error("{path}: {reason}")]
    Io { path: String, reason: String },

    /// A SQLite file that cannot be opened or read (missing, not SQLite, corrupt, locked).
    #[error("{path}: {reason}")]
    Sqlite { path: String, reason: String },

    /// A value that cannot be converted to the PostgreSQL type chosen (or forced) for its column.
    #[error(
        "column {column}: value {value} cannot be converted to PostgreSQL {pg_type}: {reason}"
    )]
    Convert {
        column: String,
        value: String,
        pg_type: String,
        reason: String,
    },

    /// A COPY into PostgreSQL that stopped because its other side (reader or server) stopped.
    #[error("COPY into {table} stopped: {reason}")]
    CopyAborted { table: String, reason: String },

    /// A migration whose verification found a difference between source and target.
    #[error("verification failed for table {table}: {reason}")]
    Verify { table: String, reason: String },

    /// Another transaction (another `pg_sync` of the same target, usually) committed a change to
    /// the target or its checkpoint after this sync began: DuckLake refused this sync's commit, so
    /// none of it was written, and running it again picks up from the other one's checkpoint.
    /// `target` is `catalog.schema.table`.
    #[error("another pg_sync of {target} committed first (or another transaction changed that table); nothing was written; run it again")]
    SyncConflict { target: String },

    /// The same error, prefixed by the SQL function that raised it.
    #[error("{function}: {inner}")]
    InFunction {
        function: &'static str,
        inner: Box<Error>,
    },
}

/// Result with lakemig's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Prefix the message with the SQL function's name, once.
    pub fn in_function(self, function: &'static str) -> Error {
        match self {
            Error::InFunction { .. } => self,
            inner => Error::InFunction {
                function,
                inner: Box::new(inner),
            },
        }
    }

    /// An argument error: the user's input is wrong, and the message says how to fix it.
    pub fn argument(msg: impl Into<String>) -> Error {
        Error::Argument(msg.into())
    }

    /// An internal error: lakemig itself is at fault (see [`Error::Internal`]).
    pub fn internal(msg: impl Into<String>) -> Error {
        Error::Internal(msg.into())
    }

    /// Turn a tokio-postgres error into ours: server errors keep message, DETAIL, HINT and SQLSTATE;
    /// a closed connection says so. `context` says what we were doing ("reading the table list").
    pub fn from_pg(err: tokio_postgres::Error, context: &str, target: &str) -> Error {
        if let Some(db) = err.as_db_error() {
            let mut message = db.message().to_string();
            if let Some(detail) = db.detail() {
                message.push_str(&format!(" DETAIL: {detail}"));
            }
            if let Some(hint) = db.hint() {
                message.push_str(&format!(" HINT: {hint}"));
            }
            message.push_str(&format!(" (SQLSTATE {})", db.code().code()));
            return Error::Server {
                context: context.to_string(),
                message,
            };
        }
        Error::ConnectionLost {
            target: target.to_string(),
            context: context.to_string(),
            reason: flatten_source(&err),
        }
    }
}

/// Render an error and its whole `source()` chain as one line, skipping repeats.
pub fn flatten_source(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !text.is_empty() && !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_function_prefixes_once() {
        let e = Error::argument("bad").in_function("f").in_function("g");
        assert_eq!(e.to_string(), "f: bad");
    }

    #[test]
    fn internal_errors_ask_for_a_report() {
        let e = Error::internal("a reader stopped unexpectedly").in_function("pg_sync");
        assert_eq!(
            e.to_string(),
            "pg_sync: internal error: a reader stopped unexpectedly; this is a bug in lakemig, \
             please report it with the statement that raised it"
        );
    }

    #[test]
    fn a_sync_conflict_names_the_target() {
        let e = Error::SyncConflict {
            target: "lake.raw.x".into(),
        }
        .in_function("pg_sync");
        assert_eq!(
            e.to_string(),
            "pg_sync: another pg_sync of lake.raw.x committed first (or another transaction changed \
             that table); nothing was written; run it again"
        );
    }

    #[test]
    fn unknown_column_lists_columns() {
        let e = Error::UnknownColumn {
            table: "\"a\".\"b\"".into(),
            column: "\"x\"".into(),
            columns: "id, name".into(),
        };
        assert!(e.to_string().contains("its columns are: id, name"));
    }
}
