"""Runs every test/sql/**/*.test file (sqllogictest format) against DuckDB 1.5.5 with lakemig loaded,
with a throwaway PostgreSQL database per file (loaded first with the file named by a
`# fixture:` header line) (${PG_DSN}, ${PG_URL}, ${PG_PASSWORD}, ...)."""
from __future__ import annotations

from contextlib import closing

import glob
import os
import re

import pytest

import sqllogictest
from conftest import ROOT, duckdb_connect, extension_path

FILES = sorted(glob.glob(os.path.join(ROOT, "test", "sql", "**", "*.test"), recursive=True))


@pytest.mark.parametrize("path", FILES, ids=[os.path.relpath(f, os.path.join(ROOT, "test", "sql")) for f in FILES])
def test_sql_file(path, pg, pgdb, tmp_path):
    with open(path) as f:
        text = f.read()
    assert text.startswith("# name:"), f"{path}: missing '# name:' header"
    assert "# description:" in text, f"{path}: missing '# description:' header"
    # `# fixture: NAME.sql` loads test/fixtures/NAME.sql into the test's database first.
    m = re.search(r"^# fixture: (\S+)$", text, re.M)
    fixture = os.path.join(ROOT, "test", "fixtures", m.group(1)) if m else None
    if fixture:
        with closing(pg.psycopg(pgdb)) as conn, conn.cursor() as cur, open(fixture) as f:
            cur.execute(f.read())
    variables = {
        "PG_DSN": pg.dsn(pgdb),
        "PG_URL": pg.url(pgdb),
        "PG_HOST": pg.host,
        "PG_PORT": str(pg.port),
        "PG_USER": pg.user,
        "PG_PASSWORD": pg.password,
        "PG_DB": pgdb,
        "PG_CA_CERT": pg.ca_cert,
        "TMP": str(tmp_path),
        "ROOT": ROOT,
    }
    records = sqllogictest.parse(text, variables)
    con = duckdb_connect()
    try:
        def load(name: str) -> None:
            if name != "lakemig":
                con.load_extension(extension_path(name))
        n = sqllogictest.run(con, records, load)
        assert n > 0, f"{path}: no records"
    finally:
        con.close()
