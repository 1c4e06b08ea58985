"""The connection layer against a real server: the password never appears in an error, and the
PG* environment variables and ~/.pgpass are honoured like libpq does."""
from __future__ import annotations

import os

import pytest

from conftest import duckdb_connect

SECRET = "Tr0ub4dor&3-not-the-password"


def error_of(con, sql: str) -> str:
    with pytest.raises(Exception) as info:
        con.execute(sql).fetchall()
    return str(info.value)


@pytest.mark.parametrize("form", ["keyvalue", "url", "env"])
def test_wrong_password_is_never_echoed(pg, duck, monkeypatch, form):
    if form == "keyvalue":
        dsn = f"host={pg.host} port={pg.port} user=postgres password='{SECRET}' sslmode=disable"
    elif form == "url":
        dsn = f"postgresql://postgres:{SECRET}@{pg.host}:{pg.port}/postgres?sslmode=disable"
    else:
        monkeypatch.setenv("PGPASSWORD", SECRET)
        dsn = f"host={pg.host} port={pg.port} user=postgres sslmode=disable"
    msg = error_of(duck, f"SELECT * FROM pg_connection_info('{dsn.replace(chr(39), chr(39) * 2)}')")
    assert "password authentication failed" in msg
    assert f"{pg.host}:{pg.port}" in msg
    assert SECRET not in msg
    assert "Tr0ub4dor" not in msg


def test_environment_variables(pg, duck, monkeypatch):
    monkeypatch.setenv("PGHOST", pg.host)
    monkeypatch.setenv("PGPORT", str(pg.port))
    monkeypatch.setenv("PGUSER", pg.user)
    monkeypatch.setenv("PGPASSWORD", pg.password)
    monkeypatch.setenv("PGDATABASE", "postgres")
    monkeypatch.setenv("PGSSLMODE", "require")
    row = duck.execute("SELECT host, port, database, ssl FROM pg_connection_info('')").fetchone()
    assert row == (pg.host, pg.port, "postgres", True)


def test_pgpass(pg, duck, monkeypatch, tmp_path):
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"otherhost:*:*:*:wrong\n{pg.host}:{pg.port}:*:{pg.user}:{pg.password}\n")
    os.chmod(passfile, 0o600)
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    row = duck.execute(
        f"SELECT \"user\" FROM pg_connection_info('host={pg.host} port={pg.port} user={pg.user} dbname=postgres sslmode=disable')"
    ).fetchone()
    assert row == (pg.user,)
    # A pgpass readable by others is ignored, as libpq does: then there is no password to send.
    os.chmod(passfile, 0o644)
    msg = error_of(duck, f"SELECT * FROM pg_connection_info('host={pg.host} port={pg.port} user={pg.user} dbname=postgres sslmode=disable')")
    assert "could not connect" in msg
    assert pg.password not in msg


def test_bind_errors_never_show_the_password(pg, duck):
    """pg_incremental_scan connects while DuckDB binds the query, and DuckDB quotes the query's start
    after a bind error: lakemig's own message never holds the password, and a DSN kept in a
    variable keeps it out of DuckDB's quote too."""
    url = f"postgresql://postgres:{SECRET}@{pg.host}:{pg.port}/postgres?sslmode=disable"
    msg = error_of(duck, f"SELECT * FROM pg_incremental_scan('{url}', 'public.t')")
    own = msg.split("\n\nLINE")[0]
    assert "password authentication failed" in own
    assert SECRET not in own
    duck.execute(f"SET VARIABLE lakemig_test_dsn = '{url}'")
    msg = error_of(duck, "SELECT * FROM pg_incremental_scan(getvariable('lakemig_test_dsn'), 'public.t')")
    assert "password authentication failed" in msg
    assert SECRET not in msg and "Tr0ub4dor" not in msg
