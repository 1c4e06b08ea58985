//! Everything that speaks to PostgreSQL: connecting, reading the catalog, its value formats
//! ([`codec`]), binary COPY out ([`copy_out`]) and in ([`copy_in`]), its hash function ([`hashfn`]).

pub mod catalog;
pub mod codec;
pub mod connect;
pub mod copy_in;
pub mod copy_out;
pub mod hashfn;
pub mod pgoutput;
pub mod replication;
pub mod scan;
pub mod socket;
pub mod sync;
pub mod tables;
pub mod wire;

use crate::error::{Error, Result};
use connect::ConnParams;

/// What `pg_connection_info()` reports about a live connection.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    pub host: String,
    pub port: u16,
    pub database: String,
    pub user: String,
    pub server_version: String,
    pub ssl: bool,
    pub ssl_version: Option<String>,
}

/// Connect and describe the session: who we are, where, and whether TLS is in use.
pub async fn connection_info(params: &ConnParams) -> Result<ConnectionInfo> {
    let client = connect::connect(params).await?;
    let row = client
        .query_one(
            "SELECT current_database()::text, current_user::text, \
                    current_setting('server_version'), \
                    coalesce(s.ssl, false), s.version \
             FROM (SELECT 1) AS one \
             LEFT JOIN pg_stat_ssl AS s ON s.pid = pg_backend_pid()",
            &[],
        )
        .await
        .map_err(|e| Error::from_pg(e, "reading the session's settings", &params.target()))?;
    Ok(ConnectionInfo {
        host: params.host.clone(),
        port: params.port,
        database: row.get(0),
        user: row.get(1),
        server_version: row.get(2),
        ssl: row.get(3),
        ssl_version: row.get(4),
    })
}
