"""`make bench`: lakemig side by side with the reference tools, in one run, reported as ratios.

pg_sync (issue 4): bootstrap into a database file vs `CREATE TABLE AS SELECT * FROM postgres_scan(...)`,
and an incremental sync of 1,000 changed rows (ms, and as a fraction of the bootstrap).

pg_incremental_scan (issue 3) on a SaaS `analytics.subscriptions` table (default 2,000,000 rows, ~600 MB):
  - full scan into an in-memory DuckDB table, and into a database file (with peak memory),
    vs DuckDB's postgres extension (`postgres_scan`);
  - 1,000 changed rows vs `postgres_scan ... WHERE`, ATTACH + WHERE, and `postgres_query` with the filter.
Each measurement runs in a fresh DuckDB process (so peak RSS is that process's own); medians of --repeat runs.
Timings include connecting to PostgreSQL (lakemig connects inside its call; the ATTACH-based references
are timed from their ATTACH).

    python bench/bench.py [--rows N] [--repeat K]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import closing

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, os.path.join(ROOT, "test"))

import duckenv  # noqa: E402
import pgcluster  # noqa: E402

# The throwaway PostgreSQL every 2M-row benchmark runs on (bench_cdc.py and bench_peers.py too).
CLUSTER_SETTINGS = {"shared_buffers": "2GB", "max_wal_size": "8GB", "checkpoint_timeout": "30min",
                    "autovacuum": "off"}

EXTENSION = os.environ.get("LAKEMIG_EXTENSION", os.path.join(ROOT, "build/release/lakemig.duckdb_extension"))

SCHEMA = """
CREATE SCHEMA analytics;
CREATE TABLE analytics.subscriptions (
    id             bigint PRIMARY KEY,
    email          text NOT NULL,
    plan           text NOT NULL,
    lifetime_value numeric(12,2) NOT NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    deleted_at     timestamptz,
    account_uuid   uuid NOT NULL,
    attributes     jsonb,
    seats          int NOT NULL,
    is_trial       bool NOT NULL,
    tags           text[]
);
"""

FILL = """
INSERT INTO analytics.subscriptions
SELECT g,
       'user' || g || '@example.com',
       (ARRAY['free','starter','team','business','enterprise'])[1 + g % 5],
       round((g % 100000) * 1.37, 2),
       TIMESTAMPTZ '2020-01-01' + (g % 2000) * interval '1 day' + (g % 86400) * interval '1 second',
       TIMESTAMPTZ '2026-01-01' + g * interval '1 second',
       CASE WHEN g % 50 = 0 THEN TIMESTAMPTZ '2026-06-01' + (g % 1000) * interval '1 minute' END,
       md5(g::text)::uuid,
       jsonb_build_object('source', (ARRAY['ads','organic','referral'])[1 + g % 3], 'score', g % 97,
                          'flags', jsonb_build_array(g % 2 = 0, g % 3 = 0), 'note', repeat('n', 40 + g % 60)),
       1 + g % 40,
       g % 7 = 0,
       ARRAY['tag' || (g % 11), 'tag' || (g % 13), 'segment-' || (g % 5)]
FROM generate_series(1, {rows}) AS g;
CREATE INDEX subscriptions_updated_at ON analytics.subscriptions (updated_at);
ANALYZE analytics.subscriptions;
"""

RUNNER = r"""
import duckdb, json, os, resource, sys, time
spec = json.loads(sys.argv[1])
con = duckdb.connect(spec["database"], config=spec["config"])
for ext in spec["load"]:
    con.load_extension(ext)
for sql in spec.get("setup", []):
    con.execute(sql)
t = time.perf_counter()
for sql in spec.get("timed_setup", []):  # connection set-up counts: lakemig connects inside its call
    con.execute(sql)
rows = con.execute(spec["sql"]).fetchall()
elapsed = time.perf_counter() - t
check = con.execute(spec["check"]).fetchone()[0] if spec.get("check") else None
print(json.dumps({"seconds": elapsed, "check": check,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


ext_path = duckenv.extension_path


def run(spec: dict) -> dict:
    spec = dict(spec, config=duckenv.CONFIG)  # autoinstall/autoload off: every extension is loaded by path
    out = subprocess.run([sys.executable, "-c", RUNNER, json.dumps(spec)], capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(f"{spec['sql']}\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(name: str, spec: dict, repeat: int, tmpdir: str, before_each=None) -> dict:
    results = []
    for i in range(repeat):
        if before_each:
            before_each(i)
        s = dict(spec)
        if s.get("database") == "FILE":
            path = os.path.join(tmpdir, f"bench-{name}-{i}.duckdb")
            for p in (path, path + ".wal"):
                if os.path.exists(p):
                    os.unlink(p)
            s["database"] = path
        results.append(run(s))
        if s["database"].endswith(".duckdb") and not s.get("keep"):
            os.unlink(s["database"])
    med = {
        "seconds": statistics.median(r["seconds"] for r in results),
        "peak_mb": statistics.median(r["peak_mb"] for r in results),
        "check": results[0]["check"],
        "runs": [round(r["seconds"], 3) for r in results],
    }
    print(f"  {name:<44} {med['seconds']:8.3f} s  {med['peak_mb']:7.0f} MB peak  rows={med['check']}  runs={med['runs']}", flush=True)
    return med


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--changed", type=int, default=1000)
    args = ap.parse_args()
    lake = [EXTENSION]
    pgext = [ext_path("postgres_scanner")]
    report: dict = {"rows": args.rows, "repeat": args.repeat}
    with pgcluster.Cluster(settings=CLUSTER_SETTINGS) as pg, \
            tempfile.TemporaryDirectory(prefix="lakemig-bench-") as tmp:
        pg.create_database("bench")
        dsn = pg.dsn("bench")
        print(f"== generating analytics.subscriptions ({args.rows:,} rows)", flush=True)
        t = time.time()
        with closing(pg.psycopg("bench")) as conn, conn.cursor() as cur:
            cur.execute(SCHEMA)
            cur.execute(FILL.replace("{rows}", str(int(args.rows))))
            cur.execute("SELECT pg_size_pretty(pg_table_size('analytics.subscriptions'))")
            size = cur.fetchone()[0]
            cur.execute("SELECT count(*) FROM analytics.subscriptions")  # warm the cache
        print(f"   {size} in {time.time() - t:.1f} s", flush=True)
        report["table_size"] = size

        lake_src = f"pg_incremental_scan('{dsn}', 'analytics.subscriptions')"
        ref_src = f"postgres_scan('{dsn}', 'analytics', 'subscriptions')"

        def ctas(label: str, load: list[str], source: str, database: str = ":memory:",
                 timed_setup: tuple[str, ...] = (), setup: tuple[str, ...] = ()) -> dict:
            """Time `CREATE TABLE t AS SELECT * FROM <source>` in a fresh DuckDB process."""
            return measure(label, {
                "database": database, "load": load, "timed_setup": list(timed_setup), "setup": list(setup),
                "sql": f"CREATE TABLE t AS SELECT * FROM {source}",
                "check": "SELECT count(*) FROM t"}, args.repeat, tmp)

        print("== full scan into a DuckDB table (in memory)", flush=True)
        full_lake = ctas("lakemig pg_incremental_scan", lake, lake_src)
        full_ref = ctas("postgres_scan", pgext, ref_src)

        print("== full scan into a DuckDB database file", flush=True)
        file_lake = ctas("lakemig pg_incremental_scan -> file", lake, lake_src, "FILE")
        file_ref = ctas("postgres_scan -> file", pgext, ref_src, "FILE")

        # DuckDB's C API, which lakemig is built on, cannot declare a batch index or an order-free
        # source, so under the default preserve_insertion_order a CTAS over any C-API table function
        # inserts on one thread, while postgres_scan gets a parallel BATCH_CREATE_TABLE_AS. With the
        # setting off, both get a parallel insert: the same plan shape, compared side by side.
        unordered = ("SET preserve_insertion_order = false",)
        print("== full scan, both with preserve_insertion_order = false", flush=True)
        free_lake = ctas("lakemig pg_incremental_scan (no order)", lake, lake_src, setup=unordered)
        free_ref = ctas("postgres_scan (no order)", pgext, ref_src, setup=unordered)
        free_file_lake = ctas("lakemig -> file (no order)", lake, lake_src, "FILE", setup=unordered)
        free_file_ref = ctas("postgres_scan -> file (no order)", pgext, ref_src, "FILE", setup=unordered)

        print("== pg_sync (issue 4): bootstrap into a database file, then incremental syncs", flush=True)
        sync_sql = f"SELECT * FROM pg_sync('{dsn}', 'analytics.subscriptions')"
        sync_boot = measure("lakemig pg_sync bootstrap -> file", {
            "database": "FILE", "load": lake, "sql": sync_sql,
            "check": "SELECT count(*) FROM subscriptions"}, args.repeat, tmp)
        synced = os.path.join(tmp, "synced.duckdb")
        run({"database": synced, "load": lake, "sql": sync_sql})

        def change_rows(i: int) -> None:
            with closing(pg.psycopg("bench")) as conn, conn.cursor() as cur:
                cur.execute(
                    "UPDATE analytics.subscriptions SET updated_at = clock_timestamp(), seats = seats + 1 "
                    "WHERE id IN (SELECT id FROM analytics.subscriptions ORDER BY random() LIMIT %s)", (args.changed,))

        sync_inc = measure(f"lakemig pg_sync, {args.changed:,} changed rows", {
            "database": synced, "keep": True, "load": lake, "sql": sync_sql,
            "check": "SELECT last_rows_upserted FROM pg_sync_state()"}, args.repeat, tmp, before_each=change_rows)

        print(f"== {args.changed:,} changed rows", flush=True)
        with closing(pg.psycopg("bench")) as conn, conn.cursor() as cur:
            cur.execute("SELECT max(updated_at) FROM analytics.subscriptions")
            watermark = cur.fetchone()[0].isoformat()
            cur.execute(
                "UPDATE analytics.subscriptions SET updated_at = %s::timestamptz + id * interval '1 microsecond', seats = seats + 1 "
                "WHERE id IN (SELECT id FROM analytics.subscriptions ORDER BY random() LIMIT %s)",
                (watermark, args.changed))
            cur.execute("ANALYZE analytics.subscriptions")
        where = f"updated_at > TIMESTAMPTZ '{watermark}'"
        attach = (f"ATTACH '{dsn}' AS pg (TYPE postgres, READ_ONLY)",)
        inc_lake = ctas("lakemig pg_incremental_scan(since :=)", lake,
                        f"pg_incremental_scan('{dsn}', 'analytics.subscriptions', since := TIMESTAMPTZ '{watermark}')")
        inc_scan = ctas("postgres_scan ... WHERE updated_at > x", pgext, f"{ref_src} WHERE {where}")
        inc_attach = ctas("ATTACH + WHERE", pgext, f"pg.analytics.subscriptions WHERE {where}", timed_setup=attach)
        inc_query = ctas("postgres_query with the filter in SQL", pgext,
                         f"postgres_query('pg', 'SELECT * FROM analytics.subscriptions WHERE updated_at > ''{watermark}''::timestamptz')",
                         timed_setup=attach)

    def ratio(a, b):
        return a["seconds"] / b["seconds"]

    print("\n== results (lakemig / reference; < 1.0 means lakemig is faster)")
    rows = [
        ("full scan, in memory: lakemig / postgres_scan", ratio(full_lake, full_ref), "goal <= 1.0"),
        ("full scan, into a file: lakemig / postgres_scan", ratio(file_lake, file_ref), "goal <= 1.0"),
        ("peak memory into a file: lakemig / postgres_scan", file_lake["peak_mb"] / file_ref["peak_mb"],
         f"{file_lake['peak_mb']:.0f} MB vs {file_ref['peak_mb']:.0f} MB"),
        ("full scan, in memory, no insertion order (both)", ratio(free_lake, free_ref), "same plan shape"),
        ("full scan, into a file, no insertion order (both)", ratio(free_file_lake, free_file_ref),
         "same plan shape"),
        ("1,000 changed: lakemig / postgres_query", ratio(inc_lake, inc_query), "goal <= 1.0"),
        ("1,000 changed: lakemig / ATTACH + WHERE", ratio(inc_lake, inc_attach), ""),
        ("1,000 changed: lakemig / postgres_scan WHERE", ratio(inc_lake, inc_scan), ""),
        ("1,000 changed: lakemig incremental / lakemig full", ratio(inc_lake, full_lake), "goal < 0.02"),
        ("pg_sync bootstrap / CTAS postgres_scan (into a file)", ratio(sync_boot, file_ref), "goal <= 1.1"),
        ("pg_sync peak memory / CTAS postgres_scan (into a file)", sync_boot["peak_mb"] / file_ref["peak_mb"],
         f"{sync_boot['peak_mb']:.0f} MB vs {file_ref['peak_mb']:.0f} MB"),
        ("pg_sync 1,000 changed / pg_sync bootstrap", ratio(sync_inc, sync_boot),
         f"goal < 0.02 ({sync_inc['seconds'] * 1000:.0f} ms)"),
    ]
    for name, value, note in rows:
        print(f"  {name:<52} {value:7.3f}   {note}")
    report["measurements"] = {
        "full_lakemig": full_lake, "full_postgres_scan": full_ref, "file_lakemig": file_lake,
        "file_postgres_scan": file_ref, "unordered_lakemig": free_lake, "unordered_postgres_scan": free_ref,
        "unordered_file_lakemig": free_file_lake, "unordered_file_postgres_scan": free_file_ref,
        "inc_lakemig": inc_lake, "inc_postgres_scan_where": inc_scan,
        "inc_attach_where": inc_attach, "inc_postgres_query": inc_query,
        "sync_bootstrap": sync_boot, "sync_incremental": sync_inc,
    }
    report["ratios"] = {name: round(value, 4) for name, value, _ in rows}
    os.makedirs(os.path.join(ROOT, "bench", "out"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "out", "results.json"), "w") as f:
        json.dump(report, f, indent=2, default=str)
    assert sync_inc["check"] == args.changed, f"pg_sync upserted {sync_inc['check']} rows, not {args.changed}"
    for a, b in ((full_lake, full_ref), (file_lake, file_ref), (free_lake, free_ref),
                 (free_file_lake, free_file_ref), (inc_lake, inc_query), (sync_boot, file_ref)):
        assert a["check"] == b["check"], f"row counts differ: {a['check']} vs {b['check']}"


if __name__ == "__main__":
    main()
