"""Benchmark: moving a DuckLake catalog (~3,000 snapshots, ~50 tables) from SQLite to PostgreSQL.
lakemig's sqlite_catalog_migrate (verify on) vs pgloader + ducklake_fix_types, on the same catalog in
one run, each into a fresh database of a throwaway PostgreSQL. Medians of 3. Writes
bench/out/catalog.json.

    .venv/bin/python bench/bench_catalog.py [--snapshots 3000] [--runs 3]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, os.path.join(ROOT, "test"))

import pgcluster  # noqa: E402
import ducklake_workload as workload  # noqa: E402
from conftest import duckdb_connect  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--snapshots", type=int, default=3000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="lakemig-bench-catalog-")
    path = os.path.join(tmp, "cat.sqlite")
    con = duckdb_connect(extensions=("ducklake", "postgres_scanner", "sqlite_scanner"))
    con.execute(f"ATTACH 'ducklake:sqlite:{path}' AS lake (DATA_PATH '{tmp}/data', DATA_INLINING_ROW_LIMIT 10)")
    t0 = time.time()
    # 4 schemas x 4 tables, plus the inlined-data tables the workload creates: ~50 catalog tables.
    workload.build(con, "lake", args.snapshots, schemas=4, tables_per_schema=4)
    con.close()
    print(f"built the SQLite catalog in {time.time() - t0:.1f} s", flush=True)
    import sqlite3
    with sqlite3.connect(path) as s:
        tables = [r[0] for r in s.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        rows = sum(s.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables)
        snaps = s.execute("SELECT count(*) FROM ducklake_snapshot").fetchone()[0]
    print(f"catalog: {snaps} snapshots, {len(tables)} tables, {rows} rows", flush=True)
    lakemig, pgl, fix = [], [], []
    with pgcluster.Cluster() as pg:
        for run in range(args.runs):
            db = pg.create_database(f"lakemig_{run}")
            con = duckdb_connect()
            t = time.perf_counter()
            con.execute(f"SELECT * FROM sqlite_catalog_migrate('{path}', '{pg.dsn(db)}', schema := 'stage')").fetchall()
            lakemig.append(time.perf_counter() - t)
            con.close()
            db = pg.create_database(f"pgloader_{run}")
            with pg.psycopg(db) as conn, conn.cursor() as cur:
                cur.execute("CREATE SCHEMA stage")
            load = os.path.join(tmp, "load.pgl")
            with open(load, "w") as f:
                f.write(f"LOAD DATABASE FROM sqlite://{path}\n"
                        f"  INTO postgresql://{pg.user}:{pg.password}@{pg.host}:{pg.port}/{db}\n"
                        "  WITH include drop, create tables, create indexes, reset sequences\n"
                        "  SET search_path to 'stage';\n")
            t = time.perf_counter()
            subprocess.run(["pgloader", load], check=True, capture_output=True, cwd=tmp)
            pgl.append(time.perf_counter() - t)
            con = duckdb_connect()
            t = time.perf_counter()
            con.execute(f"SELECT * FROM ducklake_fix_types('{pg.dsn(db)}', schema := 'stage')").fetchall()
            fix.append(time.perf_counter() - t)
            con.close()
            print(f"run {run}: lakemig {lakemig[-1]:.2f} s, pgloader {pgl[-1]:.2f} s + fix {fix[-1]:.2f} s", flush=True)
    m_lakemig, m_pgl, m_fix = (statistics.median(x) for x in (lakemig, pgl, fix))
    ratio = m_lakemig / (m_pgl + m_fix)
    result = {"snapshots": snaps, "tables": len(tables), "rows": rows, "lakemig_s": m_lakemig,
              "pgloader_s": m_pgl, "fix_types_s": m_fix, "ratio": ratio, "goal": 0.2,
              "runs": {"lakemig": lakemig, "pgloader": pgl, "fix_types": fix}}
    os.makedirs(os.path.join(ROOT, "bench", "out"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "out", "catalog.json"), "w") as f:
        json.dump(result, f, indent=2)
    print(f"lakemig {m_lakemig:.2f} s vs pgloader {m_pgl:.2f} s + fix {m_fix:.2f} s: ratio {ratio:.3f} (goal <= 0.2)")


if __name__ == "__main__":
    main()
