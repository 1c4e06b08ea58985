"""Shared fixtures: one throwaway PostgreSQL 15 cluster per test session (always stopped), a fresh
database per test, and DuckDB connections with lakemig loaded. A missing prerequisite fails loudly."""
from __future__ import annotations

from contextlib import closing

import os
import re
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import pgcluster  # noqa: E402

EXTENSION = os.environ.get("LAKEMIG_EXTENSION", os.path.join(ROOT, "build/release/lakemig.duckdb_extension"))
SITE = os.path.join(os.path.dirname(os.path.dirname(os.__file__)), "site-packages")


def extension_path(name: str) -> str:
    """Path of a real DuckDB extension shipped by the pinned PyPI packages."""
    import duckdb
    site = os.path.dirname(os.path.dirname(duckdb.__file__))
    pkg = {"postgres_scanner": "duckdb_extension_postgres_scanner",
           "sqlite_scanner": "duckdb_extension_sqlite_scanner",
           "ducklake": "duckdb_extension_ducklake"}[name]
    path = os.path.join(site, pkg, "extensions", "v1.5.5", f"{name}.duckdb_extension")
    if not os.path.exists(path):
        raise RuntimeError(f"{path} missing: run `make setup`")
    return path


def duckdb_connect(database: str = ":memory:", extensions: tuple[str, ...] = ()):
    import duckdb
    if not os.path.exists(EXTENSION):
        raise RuntimeError(f"{EXTENSION} missing: run `make release`")
    con = duckdb.connect(database, config={"allow_unsigned_extensions": "true"})
    con.load_extension(EXTENSION)
    for name in extensions:
        con.load_extension(extension_path(name))
    return con


@pytest.fixture(scope="session")
def pg():
    cluster = pgcluster.Cluster()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def pgdb(pg, request):
    """A fresh database named after the test; dropped afterwards."""
    name = "t_" + re.sub(r"[^a-z0-9]+", "_", request.node.name.lower())[:50]
    pg.create_database(name)
    yield name
    with closing(pg.psycopg()) as conn, conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def duck():
    con = duckdb_connect()
    yield con
    con.close()
