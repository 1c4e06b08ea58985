//! Connecting to PostgreSQL the way libpq users expect: `key=value` strings and `postgresql://` URLs,
//! the standard `PG*` environment variables, `~/.pgpass`, `sslmode` with TLS through rustls, and a
//! connect timeout. Errors name host, port, database and user, never the password.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio_postgres::config::SslMode as PgSslMode;
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::{Client, NoTls};

use super::socket::{BulkSwitch, Socket};

use crate::error::{flatten_source, Error, Result};

/// libpq's `sslmode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(s: &str) -> Result<SslMode> {
        Ok(match s {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(Error::Dsn(format!(
                "sslmode \"{other}\" is not one of disable, allow, prefer, require, verify-ca, verify-full"
            )))
            }
        })
    }
}

/// Everything needed to open a connection, after the DSN, the environment and `~/.pgpass` are merged.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnParams {
    /// A host name, an IP address, or a directory holding the server's Unix socket.
    pub host: String,
    pub port: u16,
    pub user: String,
    pub dbname: String,
    pub password: Option<String>,
    pub sslmode: SslMode,
    pub sslrootcert: Option<String>,
    pub connect_timeout: Option<Duration>,
    pub application_name: String,
    /// Server options (`-c key=value ...`), as libpq's `options`.
    pub options: Option<String>,
}

impl std::fmt::Debug for ConnParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the password, not even in a debug dump.
        f.debug_struct("ConnParams")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("dbname", &self.dbname)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("sslmode", &self.sslmode)
            .finish()
    }
}

impl ConnParams {
    /// `host:port/dbname as user`, for messages. No password, ever.
    pub fn target(&self) -> String {
        format!(
            "{}:{}/{} as user \"{}\"",
            self.host, self.port, self.dbname, self.user
        )
    }

    /// True when `host` names a Unix socket directory.
    pub fn is_socket(&self) -> bool {
        self.host.starts_with('/')
    }
}

/// The environment lakemig reads, passed in so tests can supply their own.
pub trait Env {
    fn var(&self, key: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, key: &str) -> Option<String> {
        std::env::var(key).ok().filter(|v| !v.is_empty())
    }
}

impl Env for BTreeMap<&str, &str> {
    fn var(&self, key: &str) -> Option<String> {
        self.get(key).map(|s| s.to_string())
    }
}

/// Keys accepted in a DSN (libpq's names). Unknown keys are an error, as in libpq.
const KNOWN_KEYS: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "user",
    "dbname",
    "password",
    "sslmode",
    "sslrootcert",
    "connect_timeout",
    "application_name",
    "options",
    "passfile",
];

/// Parse a libpq connection string (`key=value ...`) or URL (`postgresql://...`) into its raw keys.
pub fn parse_dsn(dsn: &str) -> Result<BTreeMap<String, String>> {
    let trimmed = dsn.trim();
    let map = if trimmed.starts_with("postgresql://") || trimmed.starts_with("postgres://") {
        parse_url(trimmed)?
    } else {
        parse_keyvalue(trimmed)?
    };
    for key in map.keys() {
        if !KNOWN_KEYS.contains(&key.as_str()) {
            return Err(Error::Dsn(format!(
                "unknown connection option \"{key}\" (known: {})",
                KNOWN_KEYS.join(", ")
            )));
        }
    }
    Ok(map)
}

fn parse_keyvalue(s: &str) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(Error::Dsn(format!(
                "expected \"=\" after \"{key}\" (write key=value pairs, or a postgresql:// URL)"
            )));
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            value.push(n);
                        }
                    }
                    '\'' => {
                        closed = true;
                        break;
                    }
                    c => value.push(c),
                }
            }
            if !closed {
                return Err(Error::Dsn(format!(
                    "unterminated quoted value for \"{key}\""
                )));
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                chars.next();
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        value.push(n);
                    }
                } else {
                    value.push(c);
                }
            }
        }
        out.insert(key, value);
    }
    Ok(out)
}

fn percent_decode(s: &str, what: &str) -> Result<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| Error::Dsn(format!("bad %-escape in the URL's {what}")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| Error::Dsn(format!("the URL's {what} is not UTF-8")))
}

fn parse_url(s: &str) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let rest = s
        .split_once("://")
        .map(|(_, r)| r)
        .ok_or_else(|| Error::Dsn("missing \"://\"".into()))?;
    let (rest, query) = match rest.split_once('?') {
        Some((a, b)) => (a, Some(b)),
        None => (rest, None),
    };
    let (authority, path) = match rest.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (rest, None),
    };
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    if let Some(ui) = userinfo {
        let (u, p) = match ui.split_once(':') {
            Some((u, p)) => (u, Some(p)),
            None => (ui, None),
        };
        if !u.is_empty() {
            out.insert("user".into(), percent_decode(u, "user name")?);
        }
        if let Some(p) = p {
            out.insert("password".into(), percent_decode(p, "password")?);
        }
    }
    if !hostport.is_empty() {
        let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
            let (h, after) = rest
                .split_once(']')
                .ok_or_else(|| Error::Dsn("unclosed \"[\" in the URL's host".into()))?;
            (h.to_string(), after.strip_prefix(':').map(str::to_string))
        } else if hostport.contains(',') {
            return Err(Error::Dsn(
                "several hosts in one URL are not supported; name one host".into(),
            ));
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p.to_string())),
                None => (hostport.to_string(), None),
            }
        };
        if !host.is_empty() {
            out.insert("host".into(), percent_decode(&host, "host")?);
        }
        if let Some(p) = port.filter(|p| !p.is_empty()) {
            out.insert("port".into(), p);
        }
    }
    if let Some(db) = path.filter(|p| !p.is_empty()) {
        out.insert("dbname".into(), percent_decode(db, "database name")?);
    }
    if let Some(q) = query {
        for pair in q.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').ok_or_else(|| {
                Error::Dsn("a URL parameter is missing \"=\" (write ?key=value)".into())
            })?;
            out.insert(
                percent_decode(k, "parameters")?,
                percent_decode(v, "parameters")?,
            );
        }
    }
    Ok(out)
}

/// Merge DSN keys with the environment and libpq's defaults, then look up `~/.pgpass` when no
/// password was given.
pub fn resolve(dsn: &str, env: &dyn Env) -> Result<ConnParams> {
    let keys = parse_dsn(dsn)?;
    let get = |key: &str, var: &str| keys.get(key).cloned().or_else(|| env.var(var));

    let host = keys
        .get("hostaddr")
        .cloned()
        .or_else(|| get("host", "PGHOST"))
        .unwrap_or_else(default_host);
    let port = match get("port", "PGPORT") {
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| Error::Dsn(format!("port \"{p}\" is not a number between 1 and 65535")))?,
        None => 5432,
    };
    let user = get("user", "PGUSER")
        .or_else(|| env.var("USER"))
        .or_else(|| env.var("LOGNAME"))
        .unwrap_or_else(|| "postgres".to_string());
    let dbname = get("dbname", "PGDATABASE").unwrap_or_else(|| user.clone());
    let sslmode = match get("sslmode", "PGSSLMODE") {
        Some(m) => SslMode::parse(&m)?,
        None => SslMode::Prefer,
    };
    let connect_timeout = match get("connect_timeout", "PGCONNECT_TIMEOUT") {
        Some(t) => {
            let secs: u64 = t.parse().map_err(|_| {
                Error::Dsn(format!(
                    "connect_timeout \"{t}\" is not a whole number of seconds"
                ))
            })?;
            // libpq: 0 means wait forever; values below 2 are treated as 2.
            (secs > 0).then(|| Duration::from_secs(secs.max(2)))
        }
        None => Some(Duration::from_secs(30)),
    };
    let mut params = ConnParams {
        host,
        port,
        user,
        dbname,
        password: get("password", "PGPASSWORD"),
        sslmode,
        sslrootcert: get("sslrootcert", "PGSSLROOTCERT"),
        connect_timeout,
        application_name: get("application_name", "PGAPPNAME")
            .unwrap_or_else(|| "lakemig".to_string()),
        options: get("options", "PGOPTIONS"),
    };
    if params.password.is_none() {
        let passfile = get("passfile", "PGPASSFILE")
            .map(PathBuf::from)
            .or_else(|| env.var("HOME").map(|h| Path::new(&h).join(".pgpass")));
        if let Some(path) = passfile {
            params.password = pgpass_lookup(&path, &params);
        }
    }
    Ok(params)
}

fn default_host() -> String {
    // libpq's default is the Unix socket directory; Debian puts it in /var/run/postgresql.
    for dir in ["/var/run/postgresql", "/tmp"] {
        if Path::new(dir).join(".s.PGSQL.5432").exists() {
            return dir.to_string();
        }
    }
    "localhost".to_string()
}

/// Find the password for `params` in a pgpass file, as libpq does: first matching line wins,
/// `*` matches anything, `\:` and `\\` are escapes, and a file readable by group or others is ignored.
pub fn pgpass_lookup(path: &Path, params: &ConnParams) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).ok()?;
        if !meta.is_file() || meta.permissions().mode() & 0o077 != 0 {
            return None;
        }
    }
    let text = std::fs::read_to_string(path).ok()?;
    pgpass_match(&text, params)
}

/// The matching logic of [`pgpass_lookup`], on the file's text.
pub fn pgpass_match(text: &str, params: &ConnParams) -> Option<String> {
    let host = if params.is_socket() {
        "localhost".to_string()
    } else {
        params.host.clone()
    };
    let port = params.port.to_string();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields = split_pgpass_line(line);
        if fields.len() < 5 {
            continue;
        }
        let matches = |field: &str, want: &str| field == "*" || field == want;
        if matches(&fields[0], &host)
            && matches(&fields[1], &port)
            && matches(&fields[2], &params.dbname)
            && matches(&fields[3], &params.user)
        {
            return Some(fields[4..].join(":"));
        }
    }
    None
}

fn split_pgpass_line(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    fields.last_mut().expect("never empty").push(n);
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => fields.last_mut().expect("never empty").push(c),
        }
    }
    fields
}

/// Build tokio-postgres' config from resolved parameters.
pub fn pg_config(params: &ConnParams) -> tokio_postgres::Config {
    let mut cfg = tokio_postgres::Config::new();
    cfg.host(&params.host)
        .port(params.port)
        .user(&params.user)
        .dbname(&params.dbname)
        .application_name(&params.application_name);
    if let Some(pw) = &params.password {
        cfg.password(pw);
    }
    if let Some(t) = params.connect_timeout {
        cfg.connect_timeout(t);
    }
    if let Some(o) = &params.options {
        cfg.options(o);
    }
    cfg.ssl_mode(match params.sslmode {
        SslMode::Disable => PgSslMode::Disable,
        SslMode::Allow | SslMode::Prefer => PgSslMode::Prefer,
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => PgSslMode::Require,
    });
    cfg
}

/// A connection, and the switch that puts its socket into bulk-read mode (see [`socket`]).
/// Derefs to the tokio-postgres [`Client`].
///
/// [`socket`]: super::socket
pub struct Conn {
    client: Client,
    bulk: BulkSwitch,
}

impl Conn {
    /// Turn bulk reading on for a long transfer, and off again after it.
    pub fn bulk(&self) -> &BulkSwitch {
        &self.bulk
    }
}

impl std::ops::Deref for Conn {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

/// Open a connection and spawn its driver on the current tokio runtime.
pub async fn connect(params: &ConnParams) -> Result<Client> {
    Ok(open(params).await?.client)
}

/// [`connect`], keeping the socket's bulk-read switch.
pub async fn open(params: &ConnParams) -> Result<Conn> {
    let cfg = pg_config(params);
    let fail = |reason: String| Error::Connect {
        target: params.target(),
        reason,
    };
    let bulk = BulkSwitch::default();
    let client = if params.is_socket() {
        // Unix sockets: tokio-postgres connects itself (no TLS there, and no low-water mark).
        cfg.connect(NoTls).await.map(|(client, conn)| {
            tokio::spawn(conn);
            client
        })
    } else {
        let tcp = tcp_connect(params)
            .await
            .map_err(|e| fail(hint(e, params)))?;
        let socket = Socket::new(tcp, bulk.clone());
        if params.sslmode != SslMode::Disable {
            let tls = tls_config(params).map_err(|e| fail(e.to_string()))?;
            let tls = MakeTlsConnect::<Socket>::make_tls_connect(
                &mut tokio_postgres_rustls::MakeRustlsConnect::new(tls),
                &params.host,
            )
            .map_err(|e| fail(format!("TLS setup failed: {e}")))?;
            start(&cfg, socket, tls).await
        } else {
            start(&cfg, socket, NoTls).await
        }
    }
    .map_err(|e| fail(connect_reason(&e, params)))?;
    Ok(Conn { client, bulk })
}

/// Start a session over `socket` and spawn the connection's driver on the current runtime.
async fn start<T>(
    cfg: &tokio_postgres::Config,
    socket: Socket,
    tls: T,
) -> std::result::Result<Client, tokio_postgres::Error>
where
    T: TlsConnect<Socket>,
    T::Stream: Send + 'static,
{
    let (client, conn) = cfg.connect_raw(socket, tls).await?;
    tokio::spawn(conn);
    Ok(client)
}

/// Resolve the host and connect to the first address that answers, each attempt within
/// `connect_timeout`, with the socket options tokio-postgres would set (no delay, keepalives).
pub(super) async fn tcp_connect(params: &ConnParams) -> std::result::Result<TcpStream, String> {
    // An address needs no lookup (and a lookup costs a blocking-pool thread).
    let addrs: Vec<SocketAddr> = match params.host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, params.port)],
        Err(_) => tokio::net::lookup_host((params.host.as_str(), params.port))
            .await
            .map_err(|e| format!("could not resolve host name \"{}\": {e}", params.host))?
            .collect(),
    };
    let mut last = format!("host name \"{}\" has no addresses", params.host);
    for addr in addrs {
        let attempt = TcpStream::connect(addr);
        let result = match params.connect_timeout {
            Some(t) => match tokio::time::timeout(t, attempt).await {
                Ok(r) => r,
                Err(_) => Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "connection timed out",
                )),
            },
            None => attempt.await,
        };
        match result {
            Ok(tcp) => {
                let keepalive = socket2::TcpKeepalive::new().with_time(Duration::from_secs(7200));
                tcp.set_nodelay(true)
                    .and_then(|()| socket2::SockRef::from(&tcp).set_tcp_keepalive(&keepalive))
                    .map_err(|e| format!("error setting up the socket: {e}"))?;
                return Ok(tcp);
            }
            Err(e) => last = format!("error connecting to server at {addr}: {e}"),
        }
    }
    Err(last)
}

/// The reason a connection failed, with a hint for the common cases. Never includes the password.
fn connect_reason(err: &tokio_postgres::Error, params: &ConnParams) -> String {
    let reason = match err.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => flatten_source(err),
    };
    hint(reason, params)
}

/// Mask the password in `reason` and add a hint for the common failures.
pub(super) fn hint(mut reason: String, params: &ConnParams) -> String {
    if let Some(pw) = &params.password {
        if !pw.is_empty() {
            reason = reason.replace(pw.as_str(), "***");
        }
    }
    let lower = reason.to_lowercase();
    if lower.contains("password authentication failed") || lower.contains("28p01") {
        reason.push_str(" (check the password in the DSN, PGPASSWORD or ~/.pgpass)");
    } else if lower.contains("connection refused") {
        reason.push_str(" (is the server running and listening on that host and port?)");
    } else if lower.contains("timed out") || lower.contains("timeout") {
        reason.push_str(" (no answer within connect_timeout)");
    } else if lower.contains("does not exist") && lower.contains("database") {
        reason.push_str(" (check dbname)");
    } else if lower.contains("server does not support tls") || lower.contains("ssl") {
        reason.push_str(" (the server and sslmode disagree: try sslmode=prefer or disable)");
    }
    reason
}

/// TLS settings for `sslmode`: `verify-full` checks chain and host name, `verify-ca` the chain only,
/// `prefer`/`require` encrypt without checking (as libpq does when no root certificate is given).
pub(super) fn tls_config(params: &ConnParams) -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Dsn(format!("TLS setup failed: {e}")))?;
    let verify = match params.sslmode {
        SslMode::VerifyCa | SslMode::VerifyFull => true,
        // libpq: with a root certificate present, require behaves like verify-ca.
        SslMode::Require => params.sslrootcert.is_some(),
        _ => false,
    };
    if !verify {
        return Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
            .with_no_client_auth());
    }
    let roots = root_store(params)?;
    let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .map_err(|e| Error::Dsn(format!("TLS setup failed: {e}")))?;
    if params.sslmode == SslMode::VerifyFull {
        Ok(builder.with_webpki_verifier(webpki).with_no_client_auth())
    } else {
        Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(ChainOnly(webpki)))
            .with_no_client_auth())
    }
}

fn root_store(params: &ConnParams) -> Result<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    let file = params.sslrootcert.clone().or_else(|| {
        std::env::var("HOME")
            .ok()
            .map(|h| format!("{h}/.postgresql/root.crt"))
            .filter(|p| Path::new(p).exists())
    });
    match file.as_deref() {
        None | Some("system") => {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| Error::Io {
                path: path.to_string(),
                reason: format!("cannot read sslrootcert: {e}"),
            })?;
            let mut reader = std::io::BufReader::new(pem.as_slice());
            for cert in rustls_pemfile::certs(&mut reader) {
                let cert = cert.map_err(|e| Error::Io {
                    path: path.to_string(),
                    reason: format!("not a PEM certificate file: {e}"),
                })?;
                roots.add(cert).map_err(|e| Error::Io {
                    path: path.to_string(),
                    reason: format!("unusable certificate: {e}"),
                })?;
            }
            if roots.is_empty() {
                return Err(Error::Io {
                    path: path.to_string(),
                    reason: "sslrootcert holds no certificate".into(),
                });
            }
        }
    }
    Ok(roots)
}

/// `sslmode=prefer/require` without a root certificate: encrypt, do not authenticate the server.
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `sslmode=verify-ca`: the chain must lead to a trusted root; the host name is not compared.
#[derive(Debug)]
struct ChainOnly(Arc<rustls::client::WebPkiServerVerifier>);

impl rustls::client::danger::ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        intermediates: &[rustls::pki_types::CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))
            | Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(rustls::client::danger::ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&'static str, &'static str)]) -> BTreeMap<&'static str, &'static str> {
        pairs.iter().cloned().collect()
    }

    #[test]
    fn keyvalue_with_quotes_and_escapes() {
        let m = parse_dsn("host=db port = 5433 dbname='my db' password='it\\'s' user=app").unwrap();
        assert_eq!(m["host"], "db");
        assert_eq!(m["port"], "5433");
        assert_eq!(m["dbname"], "my db");
        assert_eq!(m["password"], "it's");
    }

    #[test]
    fn url_with_everything() {
        let m = parse_dsn(
            "postgresql://app:p%40ss@db.example:6543/prod?sslmode=require&connect_timeout=5",
        )
        .unwrap();
        assert_eq!(m["user"], "app");
        assert_eq!(m["password"], "p@ss");
        assert_eq!(m["host"], "db.example");
        assert_eq!(m["port"], "6543");
        assert_eq!(m["dbname"], "prod");
        assert_eq!(m["sslmode"], "require");
        assert_eq!(m["connect_timeout"], "5");
    }

    #[test]
    fn url_ipv6_and_socket_host() {
        let m = parse_dsn("postgres://[::1]:5432/x").unwrap();
        assert_eq!(m["host"], "::1");
        let m = parse_dsn("postgresql://app@%2Fvar%2Frun%2Fpostgresql/db").unwrap();
        assert_eq!(m["host"], "/var/run/postgresql");
    }

    #[test]
    fn unknown_key_is_an_error_without_echoing_values() {
        let err = parse_dsn("host=x pasword=secret").unwrap_err().to_string();
        assert!(err.contains("pasword"));
        assert!(!err.contains("secret"));
    }

    #[test]
    fn bad_sslmode_and_port() {
        assert!(resolve("sslmode=sometimes", &env(&[]))
            .unwrap_err()
            .to_string()
            .contains("sslmode"));
        assert!(resolve("port=abc", &env(&[]))
            .unwrap_err()
            .to_string()
            .contains("port"));
    }

    #[test]
    fn env_fills_gaps_and_dsn_wins() {
        let e = env(&[
            ("PGHOST", "envhost"),
            ("PGPORT", "7777"),
            ("PGUSER", "envuser"),
            ("PGPASSWORD", "envpw"),
            ("PGSSLMODE", "disable"),
        ]);
        let p = resolve("dbname=d port=1234", &e).unwrap();
        assert_eq!(p.host, "envhost");
        assert_eq!(p.port, 1234);
        assert_eq!(p.user, "envuser");
        assert_eq!(p.dbname, "d");
        assert_eq!(p.password.as_deref(), Some("envpw"));
        assert_eq!(p.sslmode, SslMode::Disable);
    }

    #[test]
    fn dbname_defaults_to_user() {
        let p = resolve("host=h user=alice", &env(&[])).unwrap();
        assert_eq!(p.dbname, "alice");
        assert_eq!(p.sslmode, SslMode::Prefer);
    }

    #[test]
    fn pgpass_rules() {
        let p = resolve("host=db port=5432 user=app dbname=prod", &env(&[])).unwrap();
        let text =
            "# comment\nother:*:*:*:no\ndb:5432:prod:app:pa\\:ss\\\\w:rd\n*:*:*:*:fallback\n";
        assert_eq!(pgpass_match(text, &p).as_deref(), Some("pa:ss\\w:rd"));
        let q = resolve("host=db2 user=app dbname=prod", &env(&[])).unwrap();
        assert_eq!(pgpass_match(text, &q).as_deref(), Some("fallback"));
        let s = resolve("host=/tmp user=app dbname=prod", &env(&[])).unwrap();
        assert_eq!(
            pgpass_match("localhost:*:*:app:sock", &s).as_deref(),
            Some("sock")
        );
    }

    #[test]
    fn pgpass_file_with_loose_permissions_is_ignored() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("lakemig-pgpass-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("pgpass");
        std::fs::write(&f, "*:*:*:*:pw\n").unwrap();
        let p = resolve("host=h user=u", &env(&[])).unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(pgpass_lookup(&f, &p), None);
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(pgpass_lookup(&f, &p).as_deref(), Some("pw"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn debug_and_target_hide_password() {
        let p = resolve("host=h user=u password=hunter2", &env(&[])).unwrap();
        assert!(!format!("{p:?}").contains("hunter2"));
        assert!(!p.target().contains("hunter2"));
        assert_eq!(p.target(), "h:5432/u as user \"u\"");
    }

    #[test]
    fn connect_timeout_zero_means_forever() {
        let p = resolve("host=h connect_timeout=0", &env(&[])).unwrap();
        assert_eq!(p.connect_timeout, None);
        let p = resolve("host=h connect_timeout=1", &env(&[])).unwrap();
        assert_eq!(p.connect_timeout, Some(Duration::from_secs(2)));
    }
}
