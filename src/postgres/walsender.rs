//! A replication connection to PostgreSQL's walsender (the `replication=database` startup
//! parameter, which tokio-postgres does not speak), used for one thing: confirming a logical slot's
//! position after a CDC sync committed. `pg_replication_slot_advance` decodes the WAL up to the new
//! position a second time (40-200 ms for 100,000 changes); a standby status update on a stream
//! started at that position confirms it without decoding, and moves the slot's restart point as far
//! (both apply the candidates the call's peek left on the slot).
//!
//! Only what the confirm needs: the startup (TLS as `sslmode` says, through the same rustls
//! settings as every other connection; trust, password, MD5 and SCRAM-SHA-256), `START_REPLICATION`
//! in CopyBoth mode, one status update and the end of the copy. Messages are built with
//! rust-postgres' `postgres-protocol`; the framing and the few backend messages read here are parsed
//! by hand (it has no CopyBothResponse). Formats from PostgreSQL 15's "Frontend/Backend Protocol" and
//! "Streaming Replication Protocol" pages.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use postgres_protocol::authentication::md5_hash;
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};
use postgres_protocol::message::frontend;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::connect::{self, ConnParams, SslMode};
use super::pgoutput::Lsn;
use crate::error::{Error, Result};
use crate::sql::{quote_ident, quote_literal};

/// The byte stream under a connection: TCP, TLS over TCP, or a Unix socket.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// How much a read asks the kernel for at once.
const READ_CHUNK: usize = 64 * 1024;

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01).
const PG_EPOCH_MICROS: u64 = 946_684_800 * 1_000_000;

/// An error or notice's fields as the server sent them.
struct ServerMessage {
    code: String,
    message: String,
    detail: Option<String>,
    hint: Option<String>,
}

impl ServerMessage {
    fn parse(mut body: &[u8]) -> ServerMessage {
        let mut m = ServerMessage {
            code: String::new(),
            message: String::new(),
            detail: None,
            hint: None,
        };
        while let Some((&field, rest)) = body.split_first() {
            if field == 0 {
                break;
            }
            let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
            let value = String::from_utf8_lossy(&rest[..end]).into_owned();
            match field {
                b'C' => m.code = value,
                b'M' => m.message = value,
                b'D' => m.detail = Some(value),
                b'H' => m.hint = Some(value),
                _ => {}
            }
            body = rest.get(end + 1..).unwrap_or_default();
        }
        m
    }

    /// As `Error::from_pg` writes a server's error: message, DETAIL, HINT, SQLSTATE.
    fn text(&self) -> String {
        let mut text = self.message.clone();
        if let Some(d) = &self.detail {
            text.push_str(&format!(" DETAIL: {d}"));
        }
        if let Some(h) = &self.hint {
            text.push_str(&format!(" HINT: {h}"));
        }
        text.push_str(&format!(" (SQLSTATE {})", self.code));
        text
    }
}

/// A replication connection to one database (`replication=database`).
pub struct WalSender {
    io: Box<dyn Io>,
    rbuf: BytesMut,
    wbuf: BytesMut,
    target: String,
}

impl WalSender {
    /// Connect and log in as `params` says, in replication mode, within `connect_timeout`.
    pub async fn connect(params: &ConnParams) -> Result<WalSender> {
        let attempt = Self::connect_inner(params);
        match params.connect_timeout {
            Some(t) => tokio::time::timeout(t, attempt)
                .await
                .map_err(|_| Error::Connect {
                    target: params.target(),
                    reason: connect::hint("connection timed out".into(), params),
                })?,
            None => attempt.await,
        }
    }

    async fn connect_inner(params: &ConnParams) -> Result<WalSender> {
        let fail = |reason: String| Error::Connect {
            target: params.target(),
            reason: connect::hint(reason, params),
        };
        let io: Box<dyn Io> = if params.is_socket() {
            let path = format!("{}/.s.PGSQL.{}", params.host, params.port);
            Box::new(
                tokio::net::UnixStream::connect(&path)
                    .await
                    .map_err(|e| fail(format!("error connecting to socket \"{path}\": {e}")))?,
            )
        } else {
            let mut tcp = connect::tcp_connect(params).await.map_err(fail)?;
            if params.sslmode == SslMode::Disable {
                Box::new(tcp)
            } else {
                let mut req = BytesMut::new();
                frontend::ssl_request(&mut req);
                tcp.write_all(&req)
                    .await
                    .map_err(|e| fail(format!("error asking for TLS: {e}")))?;
                let mut answer = [0u8; 1];
                tcp.read_exact(&mut answer)
                    .await
                    .map_err(|e| fail(format!("error asking for TLS: {e}")))?;
                if answer[0] == b'S' {
                    let config = connect::tls_config(params).map_err(|e| fail(e.to_string()))?;
                    let name = rustls::pki_types::ServerName::try_from(params.host.clone())
                        .map_err(|e| fail(format!("TLS setup failed: {e}")))?;
                    let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
                        .connect(name, tcp)
                        .await
                        .map_err(|e| fail(format!("TLS handshake failed: {e}")))?;
                    Box::new(tls)
                } else if matches!(params.sslmode, SslMode::Allow | SslMode::Prefer) {
                    Box::new(tcp)
                } else {
                    return Err(fail("server does not support TLS".into()));
                }
            }
        };
        let mut ws = WalSender {
            io,
            rbuf: BytesMut::with_capacity(READ_CHUNK),
            wbuf: BytesMut::new(),
            target: params.target(),
        };
        ws.startup(params).await.map_err(|e| match e {
            Error::Server { message, .. } => fail(message),
            other => other,
        })?;
        Ok(ws)
    }

    /// The startup message, the login, and the session's parameters up to ReadyForQuery.
    async fn startup(&mut self, params: &ConnParams) -> Result<()> {
        let mut startup: Vec<(&str, &str)> = vec![
            ("user", params.user.as_str()),
            ("database", params.dbname.as_str()),
            ("application_name", params.application_name.as_str()),
            ("replication", "database"),
            ("client_encoding", "UTF8"),
        ];
        if let Some(o) = &params.options {
            startup.push(("options", o.as_str()));
        }
        frontend::startup_message(startup.iter().copied(), &mut self.wbuf).map_err(io_error)?;
        self.send().await?;
        let password = || {
            params.password.as_deref().map(str::as_bytes).ok_or_else(|| Error::Connect {
                target: params.target(),
                reason: "the server asks for a password and none was given (add password= to the DSN, \
                         or set PGPASSWORD or ~/.pgpass)"
                    .into(),
            })
        };
        let mut scram: Option<ScramSha256> = None;
        loop {
            let (tag, mut body) = self.frame().await?;
            match tag {
                // A short message from a broken server is an error, not a panic in DuckDB.
                b'R' => match body
                    .try_get_i32()
                    .map_err(|_| self.protocol("an authentication request without its code"))?
                {
                    0 => {}
                    3 => {
                        frontend::password_message(password()?, &mut self.wbuf)
                            .map_err(io_error)?;
                        self.send().await?;
                    }
                    5 => {
                        let salt: [u8; 4] = body
                            .get(..4)
                            .and_then(|b| b.try_into().ok())
                            .ok_or_else(|| self.protocol("an MD5 request without its salt"))?;
                        let hashed = md5_hash(params.user.as_bytes(), password()?, salt);
                        frontend::password_message(hashed.as_bytes(), &mut self.wbuf)
                            .map_err(io_error)?;
                        self.send().await?;
                    }
                    10 => {
                        let offered: Vec<&[u8]> = body.split(|&b| b == 0).collect();
                        if !offered.contains(&&b"SCRAM-SHA-256"[..]) {
                            return Err(
                                self.unsupported_auth("a SASL mechanism other than SCRAM-SHA-256")
                            );
                        }
                        // Channel binding is not offered (libpq's channel_binding=disable).
                        let s = ScramSha256::new(password()?, ChannelBinding::unsupported());
                        frontend::sasl_initial_response(
                            "SCRAM-SHA-256",
                            s.message(),
                            &mut self.wbuf,
                        )
                        .map_err(io_error)?;
                        self.send().await?;
                        scram = Some(s);
                    }
                    11 => {
                        let s = scram
                            .as_mut()
                            .ok_or_else(|| self.protocol("SASL continue before SASL start"))?;
                        s.update(&body)
                            .map_err(|e| self.protocol(&format!("SCRAM: {e}")))?;
                        frontend::sasl_response(s.message(), &mut self.wbuf).map_err(io_error)?;
                        self.send().await?;
                    }
                    12 => {
                        let s = scram
                            .as_mut()
                            .ok_or_else(|| self.protocol("SASL final before SASL start"))?;
                        s.finish(&body).map_err(|e| {
                            self.protocol(&format!(
                                "SCRAM: the server's proof does not verify ({e})"
                            ))
                        })?;
                    }
                    other => {
                        return Err(self.unsupported_auth(&format!("authentication method {other}")))
                    }
                },
                b'E' => {
                    let m = ServerMessage::parse(&body);
                    return Err(Error::Server {
                        context: "logging in".into(),
                        message: m.text(),
                    });
                }
                b'Z' => return Ok(()),
                // ParameterStatus, BackendKeyData, NoticeResponse.
                _ => {}
            }
        }
    }

    /// Confirm `to` as `slot`'s position: `START_REPLICATION` from `to` (pgoutput, for
    /// `publication`), one standby status update with `to` as written, flushed and applied, the end
    /// of the copy, and the end of the session. The server's answers are read up to its
    /// ReadyForQuery, so the slot has taken the position (and is free again) when this returns.
    pub async fn confirm(mut self, slot: &str, publication: &str, to: Lsn) -> Result<()> {
        let sql = format!(
            "START_REPLICATION SLOT {} LOGICAL {to} (proto_version '1', publication_names {})",
            quote_ident(slot),
            quote_literal(&quote_ident(publication))
        );
        frontend::query(&sql, &mut self.wbuf).map_err(io_error)?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_micros() as u64;
        let msg = status_update(to, now);
        frontend::CopyData::new(&msg[..])
            .map_err(io_error)?
            .write(&mut self.wbuf);
        frontend::copy_done(&mut self.wbuf);
        // All three at once: the status update waits in the server's input until the stream has
        // started, and is the first thing it reads then. Should the start fail, the server ignores
        // CopyData and CopyDone outside a copy, as the protocol says.
        self.send().await?;
        let mut failed = None;
        loop {
            let (tag, body) = self.frame().await?;
            match tag {
                b'Z' => break,
                b'E' => failed = Some(ServerMessage::parse(&body)),
                // CopyBothResponse, what the stream sent meanwhile (CopyData), CopyDone,
                // CommandComplete, notices.
                _ => {}
            }
        }
        frontend::terminate(&mut self.wbuf);
        let _ = self.send().await;
        let _ = self.io.shutdown().await;
        match failed {
            Some(m) => Err(Error::Server {
                context: "confirming the replication slot's position".into(),
                message: m.text(),
            }),
            None => Ok(()),
        }
    }

    /// Write what is buffered.
    async fn send(&mut self) -> Result<()> {
        let buf = self.wbuf.split();
        self.io
            .write_all(&buf)
            .await
            .map_err(|e| self.lost(e.to_string()))?;
        self.io.flush().await.map_err(|e| self.lost(e.to_string()))
    }

    /// The next backend message: its tag and body.
    async fn frame(&mut self) -> Result<(u8, Bytes)> {
        loop {
            if self.rbuf.len() >= 5 {
                let len = u32::from_be_bytes(self.rbuf[1..5].try_into().expect("4 bytes")) as usize;
                if len < 4 {
                    return Err(self.protocol("a message length below 4"));
                }
                if self.rbuf.len() > len {
                    // The tag byte, then `len` bytes (the length counts itself).
                    let mut frame = self.rbuf.split_to(1 + len).freeze();
                    let tag = frame.get_u8();
                    frame.advance(4);
                    return Ok((tag, frame));
                }
                self.rbuf.reserve(1 + len - self.rbuf.len());
            }
            if self.rbuf.capacity() - self.rbuf.len() < READ_CHUNK / 4 {
                self.rbuf.reserve(READ_CHUNK);
            }
            let n = self
                .io
                .read_buf(&mut self.rbuf)
                .await
                .map_err(|e| self.lost(e.to_string()))?;
            if n == 0 {
                return Err(self.lost("the server closed the connection".into()));
            }
        }
    }

    fn lost(&self, reason: String) -> Error {
        Error::ConnectionLost {
            target: self.target.clone(),
            context: "logical replication".into(),
            reason,
        }
    }

    fn protocol(&self, what: &str) -> Error {
        self.lost(format!("unexpected replication protocol: {what}"))
    }

    fn unsupported_auth(&self, what: &str) -> Error {
        Error::Connect {
            target: self.target.clone(),
            reason: format!(
                "the server asks for {what}, which lakemig's replication connection does not support \
                 (use scram-sha-256, md5, password or trust for this role in pg_hba.conf)"
            ),
        }
    }
}

/// A standby status update ('r'): `to` as the position written, flushed and applied, the client's
/// clock (`unix_micros`, sent from PostgreSQL's epoch), and no reply asked for.
fn status_update(to: Lsn, unix_micros: u64) -> BytesMut {
    let mut msg = BytesMut::with_capacity(34);
    msg.put_u8(b'r');
    for _ in 0..3 {
        msg.put_u64(to.0);
    }
    msg.put_u64(unix_micros.saturating_sub(PG_EPOCH_MICROS));
    msg.put_u8(0);
    msg
}

fn io_error(e: std::io::Error) -> Error {
    Error::internal(format!("building a protocol message: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_message_fields() {
        let body = b"SERROR\0C55006\0Mreplication slot \"s\" is active for PID 7\0Dmore\0\0";
        let m = ServerMessage::parse(body);
        assert_eq!(m.code, "55006");
        assert_eq!(
            m.text(),
            "replication slot \"s\" is active for PID 7 DETAIL: more (SQLSTATE 55006)"
        );
    }

    #[test]
    fn status_update_layout() {
        let msg = status_update(Lsn(0x1_0000_00A0), PG_EPOCH_MICROS + 5);
        assert_eq!(msg.len(), 34);
        assert_eq!(msg[0], b'r');
        for i in 0..3 {
            assert_eq!(&msg[1 + 8 * i..9 + 8 * i], &0x1_0000_00A0u64.to_be_bytes());
        }
        assert_eq!(&msg[25..33], &5u64.to_be_bytes());
        assert_eq!(msg[33], 0);
    }

    #[test]
    fn server_message_truncated() {
        let m = ServerMessage::parse(b"C42");
        assert_eq!(m.code, "42");
        assert_eq!(m.message, "");
    }
}
