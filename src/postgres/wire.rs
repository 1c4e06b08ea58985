//! lakemig's own connection to PostgreSQL, for the two things tokio-postgres does not do well
//! enough for logical replication:
//! - **confirming a slot's position** on a replication connection (the `replication=database`
//!   startup parameter, which tokio-postgres does not speak). `pg_replication_slot_advance` decodes
//!   the WAL up to the new position a second time (40-200 ms for 100,000 changes); a standby status
//!   update on a stream started at that position confirms it without decoding, and moves the slot's
//!   restart point as far (both apply the candidates the call's peek left on the slot);
//! - **reading a query's rows straight from the socket** ([`Wire::query`], [`Wire::next_value`]),
//!   on a plain connection: the peek's rows (28 MB for 100,000 changes) arrive all at once, and
//!   tokio-postgres hands them from its connection task to the reader 8 KiB at a time, a wake-up
//!   and a channel hand-off each (35 ms of a cdc call's stream, measured); here they are parsed in
//!   place from reads of up to 512 KiB.
//!
//! Only what those need: the startup (TLS as `sslmode` says, through the same rustls settings as
//! every other connection; trust, password, MD5 and SCRAM-SHA-256); `START_REPLICATION` in CopyBoth
//! mode, one status update and the end of the copy; one unnamed statement without parameters and
//! its rows in binary. Messages are built with rust-postgres' `postgres-protocol`; the framing and
//! the few backend messages read here are parsed by hand (it has no CopyBothResponse). Formats from
//! PostgreSQL 15's "Frontend/Backend Protocol" and "Streaming Replication Protocol" pages.

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
/// How much a read of a query's rows asks for at once (a peek's rows come all at once).
const QUERY_READ: usize = 512 * 1024;

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

/// Maps a server's error (SQLSTATE, text) to the caller's error.
type OnError = Box<dyn Fn(&str, String) -> Error + Send>;

/// A connection's byte stream before TLS.
enum Socket {
    Unix(tokio::net::UnixStream),
    Tcp(tokio::net::TcpStream),
}

/// Open the Unix socket or the TCP connection `params` names (an error says which and why).
async fn open_socket(params: &ConnParams) -> std::result::Result<Socket, String> {
    if params.is_socket() {
        let path = format!("{}/.s.PGSQL.{}", params.host, params.port);
        tokio::net::UnixStream::connect(&path)
            .await
            .map(Socket::Unix)
            .map_err(|e| format!("error connecting to socket \"{path}\": {e}"))
    } else {
        connect::tcp_connect(params).await.map(Socket::Tcp)
    }
}

/// A connection to one database: in replication mode (`replication=database`) for the confirm, or
/// a plain one for a query whose rows are read straight from the socket ([`Wire::query`]).
pub struct Wire {
    io: Box<dyn Io>,
    rbuf: BytesMut,
    wbuf: BytesMut,
    target: String,
    /// Bytes at the front of `rbuf` that the last row returned by `next_value` still holds.
    consumed: usize,
    /// The running statement's: its errors' mapping, and the error the server sent (reported at
    /// ReadyForQuery).
    on_error: OnError,
    failed: Option<ServerMessage>,
    /// The backend's process id and secret key (BackendKeyData), to cancel what it runs.
    key: Option<CancelKey>,
}

/// What cancels a running statement of a session (its BackendKeyData).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CancelKey {
    pub pid: i32,
    secret: i32,
}

impl Wire {
    /// Connect and log in as `params` says, in replication mode, within `connect_timeout`.
    pub async fn connect(params: &ConnParams) -> Result<Wire> {
        Self::connect_as(params, true).await
    }

    /// Connect and log in as `params` says, as a plain session (no replication), within
    /// `connect_timeout`.
    pub async fn connect_plain(params: &ConnParams) -> Result<Wire> {
        Self::connect_as(params, false).await
    }

    async fn connect_as(params: &ConnParams, replication: bool) -> Result<Wire> {
        let attempt = Self::connect_inner(params, replication);
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

    /// A connection over `io`, before its startup.
    fn over(io: Box<dyn Io>, target: String) -> Wire {
        Wire {
            io,
            rbuf: BytesMut::with_capacity(READ_CHUNK),
            wbuf: BytesMut::new(),
            target,
            consumed: 0,
            on_error: Box::new(|_, text| Error::Server {
                context: "a query".into(),
                message: text,
            }),
            failed: None,
            key: None,
        }
    }

    async fn connect_inner(params: &ConnParams, replication: bool) -> Result<Wire> {
        let fail = |reason: String| Error::Connect {
            target: params.target(),
            reason: connect::hint(reason, params),
        };
        let io: Box<dyn Io> = match open_socket(params).await.map_err(fail)? {
            Socket::Unix(s) => Box::new(s),
            Socket::Tcp(mut tcp) => {
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
                        let config =
                            connect::tls_config(params).map_err(|e| fail(e.to_string()))?;
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
            }
        };
        let mut ws = Wire::over(io, params.target());
        ws.startup(params, replication).await.map_err(|e| match e {
            Error::Server { message, .. } => fail(message),
            other => other,
        })?;
        Ok(ws)
    }

    /// The startup message, the login, and the session's parameters up to ReadyForQuery.
    async fn startup(&mut self, params: &ConnParams, replication: bool) -> Result<()> {
        let mut startup: Vec<(&str, &str)> = vec![
            ("user", params.user.as_str()),
            ("database", params.dbname.as_str()),
            ("application_name", params.application_name.as_str()),
            ("client_encoding", "UTF8"),
        ];
        if replication {
            startup.push(("replication", "database"));
        }
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
                b'K' => {
                    let (pid, secret) = (body.try_get_i32(), body.try_get_i32());
                    if let (Ok(pid), Ok(secret)) = (pid, secret) {
                        self.key = Some(CancelKey { pid, secret });
                    }
                }
                // ParameterStatus, NoticeResponse.
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
        self.on_error = Box::new(|_, text| Error::Server {
            context: "confirming the replication slot's position".into(),
            message: text,
        });
        self.failed = None;
        // Up to ReadyForQuery: CopyBothResponse, what the stream sent meanwhile (CopyData),
        // CopyDone, CommandComplete, notices; a copy has no data rows.
        let confirmed = async {
            while self.next_value().await?.is_some() {}
            Ok(())
        }
        .await;
        self.close().await;
        confirmed
    }

    /// Run `sql` (no parameters; its one column in binary) with the extended protocol; its rows
    /// come from [`Wire::next_value`]. `on_error` makes the server's error, if it sends one,
    /// from its SQLSTATE and text.
    pub async fn query(&mut self, sql: &str, on_error: OnError) -> Result<()> {
        frontend::parse("", sql, std::iter::empty(), &mut self.wbuf).map_err(io_error)?;
        frontend::bind(
            "",
            "",
            std::iter::empty(),
            std::iter::empty::<()>(),
            |_, _| Ok(postgres_protocol::IsNull::No),
            Some(1),
            &mut self.wbuf,
        )
        .map_err(|_| Error::internal("building a protocol message: bind"))?;
        frontend::execute("", 0, &mut self.wbuf).map_err(io_error)?;
        frontend::sync(&mut self.wbuf);
        self.on_error = on_error;
        self.failed = None;
        self.send().await
    }

    /// The next row's first value, read straight from the socket in large reads (no copy, no
    /// hand-off between tasks); None at the end of the query's result. A NULL is an error.
    pub async fn next_value(&mut self) -> Result<Option<&[u8]>> {
        self.rbuf.advance(std::mem::take(&mut self.consumed));
        loop {
            let (tag, len) = self.frame_in_buffer(QUERY_READ).await?;
            match tag {
                b'D' => {
                    // int16 column count, then each column's int32 length and bytes.
                    let body = &self.rbuf[5..1 + len];
                    let n = body
                        .get(2..6)
                        .map(|b| i32::from_be_bytes(b.try_into().expect("4 bytes")))
                        .ok_or_else(|| self.protocol("a data row without a value"))?;
                    let end = usize::try_from(n)
                        .ok()
                        .map(|n| 6 + n)
                        .filter(|&end| end <= body.len())
                        .ok_or_else(|| self.protocol("a NULL or truncated value in a data row"))?;
                    self.consumed = 1 + len;
                    return Ok(Some(&self.rbuf[5 + 6..5 + end]));
                }
                b'Z' => {
                    self.rbuf.advance(1 + len);
                    return match self.failed.take() {
                        Some(m) => Err((self.on_error)(&m.code, m.text())),
                        None => Ok(None),
                    };
                }
                b'E' => {
                    self.failed = Some(ServerMessage::parse(&self.rbuf[5..1 + len]));
                    self.rbuf.advance(1 + len);
                }
                // ParseComplete, BindComplete, CommandComplete, notices, parameter changes.
                _ => self.rbuf.advance(1 + len),
            }
        }
    }

    /// Read (`read` bytes at a time, or more) until `rbuf` starts with a whole message; its tag and
    /// length (the tag not counted).
    async fn frame_in_buffer(&mut self, read: usize) -> Result<(u8, usize)> {
        loop {
            if self.rbuf.len() >= 5 {
                let len = u32::from_be_bytes(self.rbuf[1..5].try_into().expect("4 bytes")) as usize;
                if len < 4 {
                    return Err(self.protocol("a message length below 4"));
                }
                if self.rbuf.len() > len {
                    return Ok((self.rbuf[0], len));
                }
                self.rbuf.reserve(1 + len - self.rbuf.len());
            }
            if self.rbuf.capacity() - self.rbuf.len() < read / 4 {
                self.rbuf.reserve(read);
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

    /// The session's cancel key (None if the server sent none).
    pub fn cancel_key(&self) -> Option<CancelKey> {
        self.key
    }

    /// Cancel the statement this session runs and read its answer up to ReadyForQuery, which the
    /// server sends after the abort (a peek's slot is free by then). Best effort.
    pub async fn cancel_running(&mut self, params: &ConnParams) {
        if let Some(k) = self.key {
            Self::cancel(params, k).await;
            while let Ok(Some(_)) = self.next_value().await {}
        }
    }

    /// Ask the server to cancel what the session of `key` runs (best effort; a CancelRequest on a
    /// connection of its own, as libpq's `PQcancel` sends it: no TLS, no login, no answer).
    async fn cancel(params: &ConnParams, key: CancelKey) {
        let mut buf = BytesMut::new();
        frontend::cancel_request(key.pid, key.secret, &mut buf);
        let mut io: Box<dyn Io> = match open_socket(params).await {
            Ok(Socket::Unix(s)) => Box::new(s),
            Ok(Socket::Tcp(s)) => Box::new(s),
            Err(_) => return,
        };
        let _ = io.write_all(&buf).await;
        let _ = io.shutdown().await;
    }

    /// End the session (best effort).
    pub async fn close(mut self) {
        frontend::terminate(&mut self.wbuf);
        let _ = self.send().await;
        let _ = self.io.shutdown().await;
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
        let (tag, len) = self.frame_in_buffer(READ_CHUNK).await?;
        // The tag byte, then `len` bytes (the length counts itself).
        let mut frame = self.rbuf.split_to(1 + len).freeze();
        frame.advance(5);
        Ok((tag, frame))
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

    /// A backend message: its tag, then its body with the length in front.
    fn message(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![tag];
        m.extend(((body.len() + 4) as u32).to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    fn data_row(value: Option<&[u8]>) -> Vec<u8> {
        let mut body = 1i16.to_be_bytes().to_vec();
        match value {
            Some(v) => {
                body.extend((v.len() as i32).to_be_bytes());
                body.extend_from_slice(v);
            }
            None => body.extend((-1i32).to_be_bytes()),
        }
        message(b'D', &body)
    }

    fn error_response(code: &str, text: &str) -> Vec<u8> {
        message(b'E', format!("SERROR\0C{code}\0M{text}\0\0").as_bytes())
    }

    /// Run a query against a server that answers `reply`, sent `piece` bytes at a time; the values
    /// read (or the error), and what the client sent.
    fn read_all(reply: Vec<u8>, piece: usize) -> (Result<Vec<Vec<u8>>>, Vec<u8>) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let (client, server) = tokio::io::duplex(64);
            let mut wire = Wire::over(Box::new(client), "test server".into());
            let (mut from_client, mut to_client) = tokio::io::split(server);
            let serve = async move {
                for p in reply.chunks(piece) {
                    if to_client.write_all(p).await.is_err() {
                        break;
                    }
                }
                // What the server had to say is said: the client reads the end of the stream.
                let _ = to_client.shutdown().await;
            };
            let heard = async move {
                let mut sent = Vec::new();
                let _ = from_client.read_to_end(&mut sent).await;
                sent
            };
            let read = async move {
                let on_error = Box::new(|code: &str, text: String| {
                    Error::argument(format!("server said {code}: {text}"))
                });
                let mut values = Vec::new();
                let result = async {
                    wire.query("SELECT data FROM t", on_error).await?;
                    while let Some(v) = wire.next_value().await? {
                        values.push(v.to_vec());
                    }
                    Ok(values)
                }
                .await;
                wire.close().await;
                result
            };
            let (result, (), sent) = tokio::join!(read, serve, heard);
            (result, sent)
        })
    }

    #[test]
    fn a_query_s_values_are_read_whole_however_the_bytes_arrive() {
        let values: Vec<Vec<u8>> = (0..200u32)
            .map(|i| (0..i * 37).map(|b| b as u8).collect())
            .collect();
        let mut reply = message(b'1', b"");
        reply.extend(message(b'2', b""));
        reply.extend(message(b'N', b"SNOTICE\0C00000\0Mhello\0\0"));
        for v in &values {
            reply.extend(data_row(Some(v)));
        }
        reply.extend(message(b'C', b"SELECT 200\0"));
        reply.extend(message(b'Z', b"I"));
        for piece in [1, 7, 4096, usize::MAX] {
            let (got, sent) = read_all(reply.clone(), piece);
            assert_eq!(got.unwrap(), values, "piece {piece}");
            // Parse, Bind (results in binary), Execute, Sync, then Terminate.
            let tags: Vec<u8> = {
                let mut tags = Vec::new();
                let mut rest = &sent[..];
                while rest.len() >= 5 {
                    let len = u32::from_be_bytes(rest[1..5].try_into().unwrap()) as usize;
                    tags.push(rest[0]);
                    rest = &rest[1 + len..];
                }
                tags
            };
            assert_eq!(tags, b"PBESX", "piece {piece}");
            let sql = b"SELECT data FROM t\0";
            assert!(sent.windows(sql.len()).any(|w| w == sql));
        }
    }

    #[test]
    fn a_query_s_error_is_the_caller_s_after_its_rows() {
        let mut reply = message(b'1', b"");
        reply.extend(message(b'2', b""));
        reply.extend(data_row(Some(b"one")));
        reply.extend(error_response(
            "55006",
            "replication slot \"s\" is active for PID 7",
        ));
        reply.extend(message(b'Z', b"I"));
        let err = read_all(reply, 3).0.unwrap_err().to_string();
        assert!(
            err.contains(
                "server said 55006: replication slot \"s\" is active for PID 7 (SQLSTATE 55006)"
            ),
            "{err}"
        );
    }

    #[test]
    fn a_null_or_truncated_value_or_a_closed_connection_is_an_error() {
        let mut null = message(b'2', b"");
        null.extend(data_row(None));
        let err = read_all(null, 5).0.unwrap_err().to_string();
        assert!(err.contains("a NULL or truncated value"), "{err}");

        // A data row whose value claims more bytes than the message holds.
        let mut body = 1i16.to_be_bytes().to_vec();
        body.extend(10i32.to_be_bytes());
        body.extend_from_slice(b"short");
        let err = read_all(message(b'D', &body), 5).0.unwrap_err().to_string();
        assert!(err.contains("a NULL or truncated value"), "{err}");

        // The server goes away in the middle of a message.
        let mut cut = data_row(Some(b"0123456789"));
        cut.truncate(8);
        let err = read_all(cut, 5).0.unwrap_err().to_string();
        assert!(err.contains("closed the connection"), "{err}");
    }

    #[test]
    fn server_message_truncated() {
        let m = ServerMessage::parse(b"C42");
        assert_eq!(m.code, "42");
        assert_eq!(m.message, "");
    }
}
