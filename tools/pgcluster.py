"""A throwaway PostgreSQL cluster for tests, the demo and the benchmarks.

initdb into a temporary directory, a free 127.0.0.1 port, wal_level=logical, password (SCRAM) auth over
TCP and TLS with a self-signed certificate for CN=localhost. As root, the server runs as the
`lakemig_pg` user (tools/setup.sh creates it): PostgreSQL refuses to run as root. Always stopped by
`stop()` (or the context manager), even when a test fails.
"""
from __future__ import annotations

from contextlib import closing

import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile

RUN_AS = "lakemig_pg"


def pg_bindir() -> str:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not candidates:
        raise RuntimeError(
            "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: "
            "run `make setup` (apt-get install postgresql)"
        )
    return os.path.dirname(candidates[-1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self, settings: dict[str, str] | None = None):
        self.bindir = pg_bindir()
        self.root = tempfile.mkdtemp(prefix="lakemig-pg-")
        self.data = os.path.join(self.root, "data")
        self.port = free_port()
        self.host = "127.0.0.1"
        self.user = "postgres"
        self.password = "pw-" + secrets.token_hex(8)
        self.settings = settings or {}
        self.as_root = os.geteuid() == 0
        self.started = False

    # -- process helpers -------------------------------------------------------------------------
    def _run(self, args: list[str], **kw) -> subprocess.CompletedProcess:
        if self.as_root:
            args = ["runuser", "-u", RUN_AS, "--"] + args
        return subprocess.run(args, check=True, capture_output=True, text=True, **kw)

    def start(self) -> "Cluster":
        if self.as_root:
            subprocess.run(["chown", RUN_AS, self.root], check=True)
            os.chmod(self.root, 0o755)
        pwfile = os.path.join(self.root, "pwfile")
        with open(pwfile, "w") as f:
            f.write(self.password + "\n")
        if self.as_root:
            subprocess.run(["chown", RUN_AS, pwfile], check=True)
        self._run([
            os.path.join(self.bindir, "initdb"), "-D", self.data, "-U", self.user,
            "--pwfile", pwfile, "--auth-local=trust", "--auth-host=scram-sha-256",
            "-E", "UTF8", "--locale=C", "--no-sync",
        ])
        os.unlink(pwfile)
        self._make_cert()
        conf = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.root}'",
            "wal_level": "logical",
            "max_connections": "100",
            "shared_buffers": "256MB",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "ssl": "on",
            "ssl_cert_file": "'server.crt'",
            "ssl_key_file": "'server.key'",
            "log_min_messages": "warning",
            "timezone": "'UTC'",
        }
        conf.update(self.settings)
        with open(os.path.join(self.data, "postgresql.auto.conf"), "a") as f:
            for k, v in conf.items():
                f.write(f"{k} = {v}\n")
        self._run([
            os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-l",
            os.path.join(self.root, "server.log"), "-w", "-t", "60", "start",
        ])
        self.started = True
        return self

    def _make_cert(self) -> None:
        """A test CA and a server certificate it signs, for CN/SAN localhost (rustls, like libpq's
        verify-full, refuses a self-signed certificate used as both CA and server)."""
        crt = os.path.join(self.data, "server.crt")
        key = os.path.join(self.data, "server.key")
        self.ca_cert = os.path.join(self.root, "root.crt")
        ca_key = os.path.join(self.root, "root.key")
        csr = os.path.join(self.root, "server.csr")
        ext = os.path.join(self.root, "server.ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n"
                    "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
        for cmd in (
            ["openssl", "req", "-new", "-x509", "-days", "2", "-nodes", "-subj", "/CN=lakemig test CA",
             "-out", self.ca_cert, "-keyout", ca_key],
            ["openssl", "req", "-new", "-nodes", "-subj", "/CN=localhost", "-out", csr, "-keyout", key],
            ["openssl", "x509", "-req", "-in", csr, "-CA", self.ca_cert, "-CAkey", ca_key,
             "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", crt],
        ):
            subprocess.run(cmd, check=True, capture_output=True)
        os.chmod(self.ca_cert, 0o644)
        os.chmod(key, 0o600)
        if self.as_root:
            subprocess.run(["chown", RUN_AS, crt, key], check=True)

    def stop(self) -> None:
        if self.started:
            try:
                self._run([os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-m", "immediate", "-w", "stop"])
            except subprocess.CalledProcessError:
                pass
            self.started = False
        shutil.rmtree(self.root, ignore_errors=True)

    def kill(self) -> None:
        """Stop the server at once (a 'server dying mid-copy')."""
        self._run([os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-m", "immediate", "-w", "stop"])
        self.started = False

    def __enter__(self) -> "Cluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- connection strings ----------------------------------------------------------------------
    def dsn(self, dbname: str = "postgres", **extra: str) -> str:
        """A libpq key=value string; keyword arguments add or override keys (sslmode=require ...)."""
        keys = {"host": self.host, "port": str(self.port), "user": self.user,
                "password": self.password, "dbname": dbname, "sslmode": "disable"}
        keys.update(extra)
        return " ".join(f"{k}={v}" for k, v in keys.items())

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{dbname}?sslmode=disable"

    def psycopg(self, dbname: str = "postgres"):
        import psycopg2
        conn = psycopg2.connect(host=self.host, port=self.port, user=self.user,
                                password=self.password, dbname=dbname, sslmode="disable")
        conn.autocommit = True
        return conn

    def create_database(self, name: str) -> str:
        with closing(self.psycopg()) as conn, conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cur.execute(f'CREATE DATABASE "{name}"')
        return name
