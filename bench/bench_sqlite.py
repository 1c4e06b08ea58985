"""SQLite -> PostgreSQL (issue 6): lakemig's sqlite_migrate (verify on) vs pgloader, in one run.

Builds a 1,500,000-row `entities` SQLite database (UUID text ids, JSON payloads, ISO timestamps, 0/1
flags; ~430 MB; cached in bench/out/ between runs), then migrates it into a throwaway PostgreSQL
twice: lakemig (a fresh DuckDB process running sqlite_migrate with `types := ['infer']`, so the text
columns become uuid/jsonb/timestamptz as in earlier runs: the default keeps them text, which is less
work) and pgloader (Debian's). Reports wall
time of each process (start-up included), the ratio, each process's peak RSS (wait4), and the
PostgreSQL column types each produced. Results go to bench/out/sqlite.json.

    python bench/bench_sqlite.py [--rows N] [--repeat K]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from contextlib import closing

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import pgcluster  # noqa: E402

EXTENSION = os.environ.get("LAKEMIG_EXTENSION", os.path.join(ROOT, "build/release/lakemig.duckdb_extension"))
OUT = os.path.join(ROOT, "bench", "out")

SCHEMA = """
CREATE TABLE entities (
    id          TEXT PRIMARY KEY,            -- UUID as text
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    payload     TEXT,                        -- JSON document
    created_at  TEXT NOT NULL,               -- ISO-8601 with Z
    updated_at  DATETIME NOT NULL,           -- 'YYYY-MM-DD HH:MM:SS' (UTC, as datetime('now'))
    is_active   BOOLEAN NOT NULL,            -- 0/1
    is_deleted  BOOLEAN NOT NULL DEFAULT 0,  -- 0/1
    score       REAL,
    version     INTEGER NOT NULL DEFAULT 1
);
"""

FILL = """
WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < {rows})
INSERT INTO entities
SELECT lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-'
             || substr('89ab', 1 + abs(random()) % 4, 1) || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6))),
       CASE i % 4 WHEN 0 THEN 'customer' WHEN 1 THEN 'order' WHEN 2 THEN 'invoice' ELSE 'ticket' END,
       'entity number ' || i,
       json_object('source', CASE i % 3 WHEN 0 THEN 'ads' WHEN 1 THEN 'organic' ELSE 'referral' END,
                   'score', i % 97, 'ratio', (i % 1000) / 8.0,
                   'flags', json_array(i % 2 = 0, i % 3 = 0),
                   'note', substr('lorem ipsum dolor sit amet consectetur adipiscing elit', 1, 10 + i % 30)),
       strftime('%Y-%m-%dT%H:%M:%fZ', 1577836800 + i * 37 + (i % 1000) / 1000.0, 'unixepoch'),
       datetime(1735689600 + i * 13, 'unixepoch'),
       i % 2,
       CASE WHEN i % 17 = 0 THEN 1 ELSE 0 END,
       (i % 10000) / 7.0,
       1 + i % 5
FROM g;
"""


def build_sqlite(path: str, rows: int) -> None:
    tmp = path + ".tmp"
    if os.path.exists(tmp):
        os.unlink(tmp)
    con = sqlite3.connect(tmp)
    con.executescript(SCHEMA)
    con.execute(FILL.format(rows=rows))
    con.commit()
    con.close()
    os.replace(tmp, path)


WRAPPER = r"""
import os, sys, json, time, resource
t = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
_, status, ru = os.wait4(pid, 0)
print(json.dumps({"seconds": time.perf_counter() - t, "peak_mb": ru.ru_maxrss / 1024,
                  "returncode": os.waitstatus_to_exitcode(status)}), file=sys.stderr)
"""


def measured(cmd: list[str], env: dict | None = None) -> dict:
    """Run `cmd` under a tiny fork/exec/wait4 wrapper: wall time and that process's own peak RSS."""
    proc = subprocess.run([sys.executable, "-c", WRAPPER] + cmd, capture_output=True, text=True, env=env, timeout=3600)
    last = proc.stderr.strip().splitlines()[-1]
    res = json.loads(last)
    res["stdout"] = proc.stdout
    res["stderr"] = "\n".join(proc.stderr.strip().splitlines()[:-1])
    return res


LAKEMIG_RUNNER = r"""
import duckdb, json, sys, time
path, dsn, ext = sys.argv[1:4]
con = duckdb.connect(config={"allow_unsigned_extensions": "true", "autoinstall_known_extensions": "false",
                             "autoload_known_extensions": "false"})
con.load_extension(ext)
t = time.perf_counter()
rows = con.execute("SELECT table_name, rows, verified, seconds FROM sqlite_migrate(?, ?, verify := true, types := ['infer'])", [path, dsn]).fetchall()
print(json.dumps({"inner_seconds": time.perf_counter() - t, "tables": rows}))
"""


def pg_column_types(pg, db: str) -> dict:
    with closing(pg.psycopg(db)) as conn, conn.cursor() as cur:
        cur.execute("""SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
                       JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                       WHERE c.relname = 'entities' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
                         AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                       ORDER BY a.attnum""")
        return dict(cur.fetchall())


def pg_count(pg, db: str) -> int:
    with closing(pg.psycopg(db)) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM entities")
        return cur.fetchone()[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_500_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, f"entities-{args.rows}.sqlite")
    if not os.path.exists(path):
        print(f"building {path} ...", flush=True)
        t = time.perf_counter()
        build_sqlite(path, args.rows)
        print(f"  built in {time.perf_counter() - t:.1f} s", flush=True)
    size_mb = os.path.getsize(path) / 1e6
    print(f"SQLite file: {args.rows:,} rows, {size_mb:.0f} MB", flush=True)
    pgloader = shutil.which("pgloader") or "/usr/bin/pgloader"
    report: dict = {"rows": args.rows, "sqlite_mb": round(size_mb), "lakemig": [], "pgloader": []}
    with pgcluster.Cluster(settings={"shared_buffers": "1GB", "max_wal_size": "8GB",
                                     "checkpoint_timeout": "30min", "autovacuum": "off"}) as pg:
        for i in range(args.repeat):
            db = pg.create_database(f"lakemig_{i}")
            r = measured([sys.executable, "-c", LAKEMIG_RUNNER, path, pg.dsn(db), EXTENSION])
            if r["returncode"] != 0:
                raise RuntimeError(f"lakemig failed:\n{r['stderr'][-3000:]}")
            inner = json.loads(r["stdout"].strip().splitlines()[-1])
            assert pg_count(pg, db) == args.rows
            report["lakemig"].append({"seconds": r["seconds"], "peak_mb": r["peak_mb"],
                                      "inner_seconds": inner["inner_seconds"], "tables": inner["tables"]})
            print(f"  lakemig  run {i + 1}: {r['seconds']:7.2f} s  {r['peak_mb']:6.0f} MB peak  "
                  f"(in DuckDB: {inner['inner_seconds']:.2f} s; {inner['tables']})", flush=True)
            report["lakemig_types"] = pg_column_types(pg, db)

            db = pg.create_database(f"pgloader_{i}")
            url = f"postgresql://{pg.user}:{pg.password}@{pg.host}:{pg.port}/{db}?sslmode=disable"
            for attempt in (1, 2):
                r = measured([pgloader, "--quiet", f"sqlite://{path}", url])
                if r["returncode"] == 0:
                    break
                print(f"  pgloader attempt {attempt} failed (exit {r['returncode']}): {r['stderr'][-300:]}", flush=True)
                pg.create_database(db)
            else:
                raise RuntimeError("pgloader failed twice")
            assert pg_count(pg, db) == args.rows
            report["pgloader"].append({"seconds": r["seconds"], "peak_mb": r["peak_mb"], "attempts": attempt})
            print(f"  pgloader run {i + 1}: {r['seconds']:7.2f} s  {r['peak_mb']:6.0f} MB peak", flush=True)
            report["pgloader_types"] = pg_column_types(pg, db)
    lk = statistics.median(r["seconds"] for r in report["lakemig"])
    pl = statistics.median(r["seconds"] for r in report["pgloader"])
    report["summary"] = {
        "lakemig_seconds": round(lk, 2),
        "pgloader_seconds": round(pl, 2),
        "ratio": round(lk / pl, 3),
        "goal": "<= 0.5 with verify on",
        "lakemig_peak_mb": round(statistics.median(r["peak_mb"] for r in report["lakemig"])),
        "pgloader_peak_mb": round(statistics.median(r["peak_mb"] for r in report["pgloader"])),
    }
    print()
    print(f"{'':24}{'lakemig (verify on)':>22}{'pgloader':>14}")
    s = report["summary"]
    print(f"{'time':24}{s['lakemig_seconds']:>20.2f} s{s['pgloader_seconds']:>12.2f} s   ratio {s['ratio']:.3f} (goal <= 0.5)")
    print(f"{'peak memory':24}{s['lakemig_peak_mb']:>19} MB{s['pgloader_peak_mb']:>11} MB")
    print()
    print(f"{'column':14}{'lakemig':>30}{'pgloader':>30}")
    for col in report["lakemig_types"]:
        print(f"{col:14}{report['lakemig_types'][col]:>30}{report['pgloader_types'].get(col, '-'):>30}")
    with open(os.path.join(OUT, "sqlite.json"), "w") as f:
        json.dump(report, f, indent=2)
    print(f"\nwritten {os.path.join(OUT, 'sqlite.json')}")


if __name__ == "__main__":
    main()
