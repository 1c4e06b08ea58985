"""`make demo`, the README's first command, run end to end as a newcomer runs it: its own throwaway
PostgreSQL, and a DuckDB home that is empty (HOME is a fresh directory, so ~/.duckdb holds no
extension) on a machine that cannot download extensions. Checks the key lines of what it prints."""
from __future__ import annotations

import os
import re
import subprocess
import sys

from conftest import EXTENSION, ROOT


def test_make_demo_script_on_an_empty_duckdb_home(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = dict(os.environ, HOME=str(home), LAKEMIG_EXTENSION=EXTENSION)
    env.pop("PGPASSWORD", None)
    out = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "demo.py")], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-4000:]

    def section(title: str) -> str:
        """The printed text of the step whose heading starts with `title`, up to the next step."""
        start = text.index(f"\n== {title}")
        end = text.find("\n== ", start + 4)
        return text[start:end if end >= 0 else len(text)]

    # pg_sync: bootstrap of the 10,000 rows, then exactly the 3 changed rows, then nothing.
    assert re.search(r"│\s*bootstrap\s*│\s*10000\s*│", section("pg_sync, first run")), section("pg_sync, first run")
    assert re.search(r"│\s*incremental\s*│\s*3\s*│", section("pg_sync, second run")), section("pg_sync, second run")
    assert re.search(r"│\s*10001\s*│\s*new@example.com\s*│\s*team\s*│\s*false\s*│", section("pg_sync, second run"))
    assert re.search(r"│\s*incremental\s*│\s*0\s*│\s*0\s*│", section("pg_sync, third run")), section("pg_sync, third run")
    # The catalog migration's table: both DuckLake tables moved and verified.
    migrated = section("sqlite_catalog_migrate")
    for table in ("ducklake_snapshot", "ducklake_table", "ducklake_column"):
        assert re.search(rf"│\s*{table}\s*│\s*\d+\s*│\s*true\s*│", migrated), migrated
    assert "false" not in migrated, migrated
    # DuckLake reads the migrated catalog and writes through it.
    assert re.search(r"│\s*enterprise\s*│", section("ATTACH the migrated catalog")) or \
        re.search(r"│\s*team\s*│\s*\d+\s*│", section("ATTACH the migrated catalog"))
    assert re.search(r"│\s*business\s*│\s*199\.00\s*│", section("writing through DuckLake"))
    assert "== done; stopping PostgreSQL" in text
    # Nothing was downloaded or installed into the empty home.
    assert not (home / ".duckdb" / "extensions").exists() or not any(
        f.endswith(".duckdb_extension") for _, _, files in os.walk(home / ".duckdb") for f in files)
