"""Shared fixtures: one throwaway PostgreSQL 15 cluster per test session (always stopped), a fresh
database per test, and DuckDB connections with lakemig loaded. A missing prerequisite fails loudly."""
from __future__ import annotations

from contextlib import closing

import atexit
import os
import re
import shutil
import sys
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import duckenv  # noqa: E402
import pgcluster  # noqa: E402

EXTENSION = os.environ.get("LAKEMIG_EXTENSION", os.path.join(ROOT, "build/release/lakemig.duckdb_extension"))
SITE = os.path.join(os.path.dirname(os.path.dirname(os.__file__)), "site-packages")

# Every DuckDB this test session starts (in this process, and the dbt, notebook, demo and shell
# processes it spawns, which inherit HOME) sees an empty home: ~/.duckdb/extensions holds nothing, so
# a test cannot pass because a developer's machine happened to have an extension installed. With
# autoinstall/autoload off (duckenv.CONFIG) a missing LOAD fails at once instead of downloading.
# Cargo and rustup find their toolchains through HOME unless told: pin them first.
os.environ.setdefault("CARGO_HOME", os.path.join(os.path.expanduser("~"), ".cargo"))
os.environ.setdefault("RUSTUP_HOME", os.path.join(os.path.expanduser("~"), ".rustup"))
DUCKDB_HOME = tempfile.mkdtemp(prefix="lakemig-test-home-")
os.environ["HOME"] = DUCKDB_HOME
atexit.register(shutil.rmtree, DUCKDB_HOME, ignore_errors=True)

extension_path = duckenv.extension_path


def duckdb_connect(database: str = ":memory:", extensions: tuple[str, ...] = ()):
    return duckenv.connect(database, lakemig=EXTENSION, extensions=extensions)


def assert_duckdb_home_empty() -> None:
    """Nothing may have been installed into the throwaway home (an implicit INSTALL or download)."""
    installed = [os.path.join(d, f) for d, _, files in os.walk(os.path.join(DUCKDB_HOME, ".duckdb")) for f in files
                 if f.endswith(".duckdb_extension")]
    assert not installed, f"extensions were installed into the DuckDB home during the tests: {installed}"


@pytest.fixture(scope="session", autouse=True)
def empty_duckdb_home():
    yield DUCKDB_HOME
    assert_duckdb_home_empty()


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
