"""pg_sync by logical replication (issue 19) vs the watermark method, beside the decoding floor.

On bench.py's 2,000,000-row `analytics.subscriptions` (same schema and data, made by its helpers), two
DuckDB files are bootstrapped once: one by `method := 'cdc'`, one by the watermark method. Then, for
each round, 100,000 mixed changes are committed on the source (60% updates, 20% inserts, 20% deletes,
in transactions of 10,000) and applied:
  - floor: PostgreSQL decoding the same changes alone
    (`SELECT count(*) FROM pg_logical_slot_peek_binary_changes(...)`: nothing leaves the server);
  - cdc: `pg_sync(..., method := 'cdc')` (peeks, decodes, stages, applies, advances the slot);
  - watermark: `pg_sync(..., hard_deletes := true)` (the changed rows by `updated_at`, every key for
    the deletes).
Each sync runs in a fresh DuckDB process (its own peak RSS); medians of --repeat rounds. Goals:
cdc <= 0.5x watermark, cdc <= 2x the floor. `--backlog N` also applies one backlog of N updates by cdc
(time and peak memory: the stream is bounded, so memory should not grow with N).

    python bench/bench_cdc.py [--rows N] [--repeat K] [--changes N] [--backlog N]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from contextlib import closing

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench  # noqa: E402  (bench.py: the table, the cluster settings, the fresh-process runner)
from bench import EXTENSION, FILL, ROOT, SCHEMA, pgcluster, run  # noqa: E402


def pg_do(pg, *sql, params=None):
    with closing(pg.psycopg("bench")) as conn, conn.cursor() as cur:
        for s in sql:
            cur.execute(s, params)
        return cur.fetchall() if cur.description else None


def flush(pg):
    """Make every commit so far visible to logical decoding (the cluster commits asynchronously,
    and decoding reads the WAL only up to what is flushed): one synchronous commit of a transaction
    that wrote WAL flushes it all."""
    pg_do(pg, "SET synchronous_commit = on", "SELECT pg_logical_emit_message(true, 'lakemig-bench', 'flush')")


def mixed_changes(pg, n: int, live: list[int], next_id: int, rng: random.Random) -> int:
    """n changes: 60% updates, 20% inserts, 20% deletes of random live rows, in transactions of
    10,000. `live` (the ids the source has) is kept up to date. Returns the next free id."""
    per = 10_000
    done = 0
    insert = FILL.split(";")[0].replace("generate_series(1, {rows})", "generate_series({lo}, {hi})") \
        .replace("TIMESTAMPTZ '2026-01-01' + g * interval '1 second'", "clock_timestamp()")
    while done < n:
        k = min(per, n - done)
        upd, ins = k * 6 // 10, k * 2 // 10
        dele = k - upd - ins
        picked = rng.sample(range(len(live)), upd + dele)
        upd_ids = [live[i] for i in picked[:upd]]
        del_ids = [live[i] for i in picked[upd:]]
        with closing(pg.psycopg("bench")) as conn, conn.cursor() as cur:
            cur.execute("UPDATE analytics.subscriptions SET seats = seats + 1, updated_at = clock_timestamp() "
                        "WHERE id = ANY(%s)", (upd_ids,))
            cur.execute(insert.replace("{lo}", str(next_id)).replace("{hi}", str(next_id + ins - 1)))
            cur.execute("DELETE FROM analytics.subscriptions WHERE id = ANY(%s)", (del_ids,))
        for i in sorted(picked[upd:], reverse=True):
            live[i] = live[-1]
            live.pop()
        live.extend(range(next_id, next_id + ins))
        next_id += ins
        done += k
    flush(pg)
    return next_id


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--changes", type=int, default=100_000)
    ap.add_argument("--backlog", type=int, default=0)
    args = ap.parse_args()
    lake = [EXTENSION]
    report: dict = {"rows": args.rows, "repeat": args.repeat, "changes": args.changes}
    with pgcluster.Cluster(settings=bench.CLUSTER_SETTINGS) as pg, \
            tempfile.TemporaryDirectory(prefix="lakemig-bench-cdc-") as tmp:
        pg.create_database("bench")
        dsn = pg.dsn("bench")
        print(f"== generating analytics.subscriptions ({args.rows:,} rows)", flush=True)
        t = time.time()
        pg_do(pg, SCHEMA, FILL.replace("{rows}", str(int(args.rows))))
        print(f"   in {time.time() - t:.1f} s", flush=True)
        next_id = args.rows + 1
        live = list(range(1, next_id))
        rng = random.Random(19)

        cdc_db, wm_db = os.path.join(tmp, "cdc.duckdb"), os.path.join(tmp, "wm.duckdb")
        cdc_sql = f"SELECT * FROM pg_sync('{dsn}', 'analytics.subscriptions', method := 'cdc')"
        wm_sql = f"SELECT * FROM pg_sync('{dsn}', 'analytics.subscriptions', hard_deletes := true)"
        check = "SELECT last_rows_upserted + last_rows_deleted FROM pg_sync_state()"
        print("== bootstraps", flush=True)
        b = run({"database": cdc_db, "load": lake, "sql": cdc_sql, "check": check})
        print(f"   cdc bootstrap {b['seconds']:.2f} s, {b['peak_mb']:.0f} MB", flush=True)
        b = run({"database": wm_db, "load": lake, "sql": wm_sql, "check": check})
        print(f"   watermark bootstrap {b['seconds']:.2f} s, {b['peak_mb']:.0f} MB", flush=True)
        (slot, pub), = pg_do(pg, "SELECT slot_name, slot_name FROM pg_replication_slots")

        floor_sql = ("SELECT count(*) FROM pg_logical_slot_peek_binary_changes(%s, NULL, NULL, "
                     "'proto_version', '1', 'publication_names', %s, 'binary', 'true')")
        rounds = []
        for i in range(args.repeat):
            next_id = mixed_changes(pg, args.changes, live, next_id, rng)
            t = time.perf_counter()
            msgs = pg_do(pg, floor_sql, params=(slot, pub))[0][0]
            floor = time.perf_counter() - t
            cdc = run({"database": cdc_db, "load": lake, "sql": cdc_sql, "check": check})
            wm = run({"database": wm_db, "load": lake, "sql": wm_sql, "check": check})
            rounds.append({"floor": floor, "messages": msgs, "cdc": cdc, "watermark": wm})
            print(f"  round {i + 1}: floor {floor:6.2f} s ({msgs:,} messages)   "
                  f"cdc {cdc['seconds']:6.2f} s {cdc['peak_mb']:5.0f} MB (applied {cdc['check']:,})   "
                  f"watermark {wm['seconds']:6.2f} s {wm['peak_mb']:5.0f} MB (applied {wm['check']:,})   "
                  f"cdc / floor {cdc['seconds'] / floor:.2f}, cdc - floor {(cdc['seconds'] - floor) * 1000:.0f} ms",
                  flush=True)

        def med(f):
            return statistics.median(f(r) for r in rounds)

        floor = med(lambda r: r["floor"])
        cdc_s, wm_s = med(lambda r: r["cdc"]["seconds"]), med(lambda r: r["watermark"]["seconds"])
        cdc_mb, wm_mb = med(lambda r: r["cdc"]["peak_mb"]), med(lambda r: r["watermark"]["peak_mb"])

        # Both targets equal the source.
        src = f"postgres_scan('{dsn}', 'analytics', 'subscriptions')"
        diff = (f"SELECT (SELECT count(*) FROM (SELECT id, seats, plan FROM subscriptions EXCEPT ALL "
                f"SELECT id, seats, plan FROM {src})) + (SELECT count(*) FROM (SELECT id, seats, plan FROM {src} "
                f"EXCEPT ALL SELECT id, seats, plan FROM subscriptions))")
        same = {db: run({"database": path, "load": [bench.ext_path("postgres_scanner")], "sql": "SELECT 1",
                         "check": diff})["check"] for db, path in (("cdc", cdc_db), ("watermark", wm_db))}
        report["rounds"] = rounds

        backlog = None
        if args.backlog:
            print(f"== one backlog of {args.backlog:,} updates, applied by cdc", flush=True)
            for lo in range(1, args.backlog + 1, 100_000):
                hi = min(lo + 99_999, args.backlog)
                pg_do(pg, "UPDATE analytics.subscriptions SET seats = seats + 1, updated_at = clock_timestamp() "
                          f"WHERE id BETWEEN {lo} AND {hi}")
            flush(pg)
            backlog = run({"database": cdc_db, "load": lake, "sql": cdc_sql, "check": check})
            print(f"   cdc {backlog['seconds']:.2f} s, {backlog['peak_mb']:.0f} MB peak, applied {backlog['check']:,}",
                  flush=True)
            report["backlog"] = {"changes": args.backlog, **backlog}

    print("\n== results (medians)")
    rows = [
        ("cdc / watermark (hard_deletes)", cdc_s / wm_s, "goal <= 0.5"),
        ("cdc / decoding floor", cdc_s / floor, "goal <= 2.0"),
        ("cdc peak memory / watermark peak memory", cdc_mb / wm_mb, f"{cdc_mb:.0f} MB vs {wm_mb:.0f} MB"),
    ]
    print(f"  floor {floor:.2f} s, cdc {cdc_s:.2f} s, watermark {wm_s:.2f} s; cdc - floor "
          f"{med(lambda r: r['cdc']['seconds'] - r['floor']) * 1000:.0f} ms (what lakemig adds to PostgreSQL's "
          f"decode; the floor grows over the rounds while the slot's restart point lags)")
    for name, value, note in rows:
        print(f"  {name:<44} {value:7.3f}   {note}")
    print(f"  rows differing from the source (must be 0): {same}")
    report["ratios"] = {name: round(value, 4) for name, value, _ in rows}
    os.makedirs(os.path.join(ROOT, "bench", "out"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "out", "cdc.json"), "w") as f:
        json.dump(report, f, indent=2, default=str)
    assert same == {"cdc": 0, "watermark": 0}, f"a target differs from the source: {same}"
    assert all(r["cdc"]["check"] == args.changes for r in rounds), "cdc applied a different number of changes"


if __name__ == "__main__":
    main()
