"""The binary COPY writer (src/postgres/copy_in.rs) against a real PostgreSQL: runs the Rust
integration test tests/copy_in_roundtrip.rs with a throwaway database (every target type round-trips
and prints as PostgreSQL prints it; a bad value aborts the COPY; many chunks stream)."""
from __future__ import annotations

import os
import subprocess

from conftest import ROOT


def test_copy_in_roundtrip(pg, pgdb):
    env = dict(os.environ, LAKEMIG_TEST_PG_DSN=pg.dsn(pgdb))
    proc = subprocess.run(
        # The same targets as the Makefile's build, so nothing is compiled again here.
        ["cargo", "test", "--release", "--locked", "--lib", "--tests", "--", "real_postgres_", "--test-threads=1"],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-6000:]
    assert "3 passed" in proc.stdout, proc.stdout
