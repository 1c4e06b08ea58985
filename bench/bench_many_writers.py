"""Benchmark: many sync jobs, one DuckLake (issue 16). N DuckDB processes (one per table, started once,
as long-lived workers) run pg_sync into one DuckLake with a PostgreSQL catalog and local data. Each
round syncs N tables all at once (tables t*) and N other tables of the same size one after another
(tables u*), with 1% of every table's rows changed before rounds 1 and on; prints each round's wall
time and whether every call committed. Not part of `make bench` (it measures concurrency, not speed).

    .venv/bin/python bench/bench_many_writers.py [--tables 8] [--rows 100000] [--rounds 3]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import closing

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import duckenv  # noqa: E402
import pgcluster  # noqa: E402

EXTENSION = os.environ.get("LAKEMIG_EXTENSION", os.path.join(ROOT, "build/release/lakemig.duckdb_extension"))

WORKER = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
import duckenv
ext, src, lake, data = sys.argv[2:6]
con = duckenv.connect(lakemig=ext, extensions=("ducklake", "postgres_scanner"))
con.execute(f"ATTACH 'ducklake:postgres:{lake}' AS lake (DATA_PATH '{data}', METADATA_SCHEMA 'lake')")
print("ready", flush=True)
for line in sys.stdin:
    t = line.strip()
    t0 = time.time()
    try:
        mode = con.execute(f"SELECT mode FROM pg_sync('{src}', 'public.{t}', target := 'lake.raw.{t}')").fetchone()[0]
        print(json.dumps({"ok": True, "mode": mode, "s": time.time() - t0}), flush=True)
    except Exception as e:
        print(json.dumps({"ok": False, "error": str(e)[:300], "s": time.time() - t0}), flush=True)
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tables", type=int, default=8)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    with pgcluster.Cluster() as pg:
        src, lake = pg.create_database("src"), pg.create_database("lake")
        names = [f"{p}{i}" for p in "tu" for i in range(a.tables)]
        with closing(pg.psycopg(src)) as conn, conn.cursor() as cur:
            for t in names:
                cur.execute(f"CREATE TABLE {t} (id bigint PRIMARY KEY, v text, updated_at timestamptz NOT NULL DEFAULT now());"
                            f"CREATE INDEX ON {t} (updated_at);"
                            f"INSERT INTO {t} SELECT g, 'v' || g, now() - interval '1 day' FROM generate_series(1, {a.rows}) g")
        data = tempfile.mkdtemp(prefix="lakemig-bench-lake-")
        # The catalog is made once (two first ATTACHes race in DuckLake), with the target schema.
        con = duckenv.connect(extensions=("ducklake", "postgres_scanner"))
        con.execute(f"ATTACH 'ducklake:postgres:{pg.dsn(lake)}' AS lake (DATA_PATH '{data}', METADATA_SCHEMA 'lake')")
        con.execute("CREATE SCHEMA lake.raw")
        con.close()
        procs = [subprocess.Popen([sys.executable, "-c", WORKER, os.path.join(ROOT, "tools"), EXTENSION, pg.dsn(src),
                                   pg.dsn(lake), data], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                 for _ in range(a.tables)]
        for p in procs:
            assert p.stdout.readline().strip() == "ready", "a worker did not start"
        for rnd in range(a.rounds):
            for how in ("at once", "one after another"):
                tables = [f"{'t' if how == 'at once' else 'u'}{i}" for i in range(a.tables)]
                if rnd:
                    with closing(pg.psycopg(src)) as conn, conn.cursor() as cur:
                        for t in tables:
                            cur.execute(f"UPDATE {t} SET v = v || 'x', updated_at = now() WHERE id % 100 = {rnd}")
                t0 = time.time()
                out = []
                if how == "at once":
                    for p, t in zip(procs, tables):
                        p.stdin.write(t + "\n")
                        p.stdin.flush()
                    out = [json.loads(p.stdout.readline()) for p in procs]
                else:
                    for p, t in zip(procs, tables):
                        p.stdin.write(t + "\n")
                        p.stdin.flush()
                        out.append(json.loads(p.stdout.readline()))
                wall = time.time() - t0
                modes = sorted({o.get("mode", "-") for o in out})
                print(f"round {rnd} {how:17s}: {sum(o['ok'] for o in out)}/{a.tables} committed, {'/'.join(modes)}, "
                      f"wall {wall:.2f} s, slowest call {max(o['s'] for o in out):.2f} s", flush=True)
                for o in out:
                    if not o["ok"]:
                        print("   ", o["error"])
        for p in procs:
            p.stdin.close()
            p.wait()


if __name__ == "__main__":
    main()
