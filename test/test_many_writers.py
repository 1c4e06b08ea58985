"""Many sync jobs, one DuckLake (issue 16): DuckDB PROCESSES running pg_sync at the same time into one
DuckLake whose catalog is the test PostgreSQL and whose data is local. Syncs of different targets
all commit on their first attempt; two syncs of the same target never duplicate a row, and the one
DuckLake refuses gets lakemig's own error; a checkpoint in an earlier release's shared table is
moved on the target's first sync with nothing re-copied; pg_sync_state() sees both storages.

One source database and one lake serve every test here (small tables, no sleeps)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import closing

import pytest

from conftest import ROOT, duckdb_connect

WRITERS = 8
ROWS = 2000

# A sync job in a process of its own: connect, attach the lake, say "ready"; then for each line
# `source target` on stdin, sync once (no retry) and print the outcome as one JSON line. Writers
# stay up across rounds (as workers of a scheduler would), so a round costs the syncs, not the
# start of 8 DuckDB processes.
CHILD = """
import json, sys
sys.path.insert(0, {test!r})
from conftest import duckdb_connect
con = duckdb_connect(extensions=("postgres_scanner", "ducklake"))
con.execute({attach!r})
print("ready", flush=True)
for line in sys.stdin:
    source, target = line.split()
    try:
        r = con.execute("SELECT mode, rows_upserted FROM pg_sync(?, ?, target := ?)", [{dsn!r}, source, target]).fetchone()
        print(json.dumps({{"ok": True, "mode": r[0], "rows": r[1]}}), flush=True)
    except Exception as e:
        print(json.dumps({{"ok": False, "error": str(e)}}), flush=True)
"""


class Writers:
    """n DuckDB processes, each ready to run pg_sync on command."""

    def __init__(self, lake, n):
        code = CHILD.format(test=os.path.join(ROOT, "test"), attach=lake["attach"], dsn=lake["dsn"])
        self.procs = [subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                      for _ in range(n)]
        for p in self.procs:
            line = p.stdout.readline().strip()
            assert line == "ready", f"a writer did not start: {p.stderr.read()[-2000:] if not line else line}"

    def sync(self, jobs):
        """Writer i syncs jobs[i] = (source, target); all are sent before any answer is read, so
        they run at the same time. Their outcomes, in order."""
        for p, (source, target) in zip(self.procs, jobs):
            p.stdin.write(f"{source} {target}\n")
            p.stdin.flush()
        return [json.loads(p.stdout.readline()) for p, _ in zip(self.procs, jobs)]

    def close(self):
        for p in self.procs:
            p.stdin.close()
        for p in self.procs:
            assert p.wait(timeout=60) == 0, p.stderr.read()[-2000:]


@pytest.fixture(scope="module")
def lake(pg, tmp_path_factory):
    """A source database with WRITERS tables, and a DuckLake on another database of the cluster."""
    src, catalog = pg.create_database("many_writers_src"), pg.create_database("many_writers_lake")
    with closing(pg.psycopg(src)) as conn, conn.cursor() as cur:
        for i in range(WRITERS):
            cur.execute(f"""
                CREATE TABLE public.t{i} (id bigint PRIMARY KEY, v text, updated_at timestamptz NOT NULL DEFAULT now());
                CREATE INDEX ON public.t{i} (updated_at);
                INSERT INTO public.t{i} SELECT g, 'v' || g, now() - interval '1 day' FROM generate_series(1, {ROWS}) g""")
    data = tmp_path_factory.mktemp("lake_data")
    attach = (f"ATTACH 'ducklake:postgres:{pg.dsn(catalog)}' AS lake "
              f"(DATA_PATH '{data}', METADATA_SCHEMA 'lake')")
    # The first ATTACH creates the catalog; two processes doing that at once race in DuckLake
    # itself (FACTS: duplicate key on pg_type), so it is made once before any writer starts.
    con = duckdb_connect(extensions=("postgres_scanner", "ducklake"))
    con.execute(attach)
    yield {"dsn": pg.dsn(src), "attach": attach, "con": con, "src": src}
    con.close()
    with closing(pg.psycopg()) as conn, conn.cursor() as cur:
        for db in (src, catalog):
            cur.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def pg_exec(pg, db, sql):
    with closing(pg.psycopg(db)) as conn, conn.cursor() as cur:
        cur.execute(sql)


def assert_same(lake, source, target):
    """Target == source, both ways (read through DuckDB's postgres extension), and no duplicate key."""
    con, dsn = lake["con"], lake["dsn"]
    src = f"(SELECT id, v, updated_at FROM postgres_scan('{dsn}', 'public', '{source}'))"
    dst = f"(SELECT id, v, updated_at FROM {target})"
    only = [con.execute(f"SELECT count(*) FROM ({a} EXCEPT ALL {b})").fetchone()[0] for a, b in ((src, dst), (dst, src))]
    assert only == [0, 0], f"{target}: {only[0]} rows only in the source, {only[1]} only in the target"
    n, distinct = con.execute(f"SELECT count(*), count(DISTINCT id) FROM {target}").fetchone()
    assert n == distinct, f"{target}: duplicate keys"


def test_writers_of_different_targets_all_commit(pg, lake):
    jobs = [(f"public.t{i}", f"lake.raw.t{i}") for i in range(WRITERS)]
    writers = Writers(lake, WRITERS)
    for round_ in range(3):
        if round_:
            for i in range(WRITERS):
                pg_exec(pg, lake["src"], f"""
                    UPDATE public.t{i} SET v = v || '-r{round_}', updated_at = now() WHERE id % 40 = {round_};
                    INSERT INTO public.t{i} SELECT g, 'new', now() FROM generate_series({ROWS + round_ * 10}, {ROWS + round_ * 10 + 9}) g""")
        outcomes = writers.sync(jobs)
        # Every call committed on its first (only) attempt.
        assert [o["ok"] for o in outcomes] == [True] * WRITERS, [o.get("error") for o in outcomes]
        want = "bootstrap" if round_ == 0 else "incremental"
        assert {o["mode"] for o in outcomes} == {want}
        if round_:
            # At least the changed rows (a watermark held back by an open transaction re-reads some).
            assert min(o["rows"] for o in outcomes) >= ROWS // 40 + 10, outcomes
        for i in range(WRITERS):
            assert_same(lake, f"t{i}", f"lake.raw.t{i}")
    writers.close()
    # pg_sync_state() shows each target's checkpoint, from its own table.
    state = lake["con"].execute(
        "SELECT catalog, target, source, runs FROM pg_sync_state() WHERE target LIKE '\"raw\".%' ORDER BY target").fetchall()
    assert state == [("lake", f'"raw"."t{i}"', f"public.t{i}", 3) for i in range(WRITERS)]
    tables = lake["con"].execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = 'lake' AND schema_name = 'lakemig_sync_state' "
        "AND table_name LIKE 'raw.%' ORDER BY 1").fetchall()
    assert tables == [(f"raw.t{i}",) for i in range(WRITERS)]


def test_two_writers_of_one_target(pg, lake):
    """Two syncs of one target released together: DuckLake commits one; the other fails whole, with
    lakemig's error, and no row is duplicated. If the two happened not to overlap (the first done
    before the second began), both commit: that is tried again, at most three times."""
    target = "lake.raw.pair"
    pair = Writers(lake, 2)
    seen_conflict = False
    for attempt in range(3):
        pg_exec(pg, lake["src"], f"UPDATE public.t0 SET v = v || '-p{attempt}', updated_at = now() WHERE id <= 500")
        outcomes = pair.sync([("public.t0", target)] * 2)
        ok = [o for o in outcomes if o["ok"]]
        failed = [o["error"] for o in outcomes if not o["ok"]]
        assert len(ok) >= 1, failed
        for e in failed:
            assert "pg_sync: another pg_sync of lake.raw.pair committed first (or another transaction changed " \
                   "that table); nothing was written; run it again" in e, e
            assert "Transaction conflict" not in e and pg.password not in e
        assert_same(lake, "t0", target)
        if failed:
            seen_conflict = True
            break
    assert seen_conflict, "the two writers never overlapped in three tries"
    # The loser's next call goes on from the winner's checkpoint.
    [o] = pair.sync([("public.t0", target)])
    assert o["ok"] and o["mode"] == "incremental", o
    assert_same(lake, "t0", target)
    pair.close()


# The checkpoint table of the releases before issue 16, as they created it.
LEGACY_DDL = """CREATE TABLE lake.main.lakemig_sync_state (target VARCHAR NOT NULL, source VARCHAR NOT NULL,
    server VARCHAR NOT NULL, cursor_column VARCHAR NOT NULL, watermark VARCHAR, watermark_type VARCHAR NOT NULL,
    primary_key VARCHAR[] NOT NULL, rows_total BIGINT NOT NULL, runs BIGINT NOT NULL, last_mode VARCHAR NOT NULL,
    last_rows_upserted BIGINT NOT NULL, last_rows_deleted BIGINT NOT NULL, last_run TIMESTAMPTZ NOT NULL,
    last_duration INTERVAL NOT NULL)"""


def test_a_checkpoint_of_the_earlier_release_is_moved_on_the_first_sync(pg, lake):
    con, dsn = lake["con"], lake["dsn"]
    sync = lambda source, target: dict(zip(
        ["mode", "rows", "before", "after"],
        con.execute("SELECT mode, rows_upserted, watermark_before, watermark_after FROM pg_sync(?, ?, target := ?)",
                    [dsn, source, target]).fetchone()))
    for i in (1, 2):
        assert sync(f"public.t{i}", f"lake.old.t{i}")["mode"] == "bootstrap"
    # Today's layout, written with plain SQL: both rows in main.lakemig_sync_state, no table of their own.
    con.execute(LEGACY_DDL)
    con.execute("INSERT INTO lake.main.lakemig_sync_state SELECT * FROM lake.lakemig_sync_state.\"old.t1\" "
                "UNION ALL SELECT * FROM lake.lakemig_sync_state.\"old.t2\"")
    con.execute('DROP TABLE lake.lakemig_sync_state."old.t1"')
    con.execute('DROP TABLE lake.lakemig_sync_state."old.t2"')
    old = dict(con.execute("SELECT target, watermark FROM lake.main.lakemig_sync_state").fetchall())
    state = "SELECT target, runs, watermark FROM pg_sync_state() WHERE target LIKE '\"old\".%' ORDER BY target"
    assert [(t, r) for t, r, _ in con.execute(state).fetchall()] == [('"old"."t1"', 1), ('"old"."t2"', 1)]

    pg_exec(pg, lake["src"], "UPDATE public.t1 SET v = 'after upgrade', updated_at = now() WHERE id <= 5")
    r = sync("public.t1", "lake.old.t1")
    # Read from the old row: incremental from its watermark, only the 5 changed rows copied.
    assert (r["mode"], r["rows"], r["before"]) == ("incremental", 5, old['"old"."t1"'])
    assert_same(lake, "t1", "lake.old.t1")
    assert con.execute("SELECT target FROM lake.main.lakemig_sync_state").fetchall() == [('"old"."t2"',)]
    assert con.execute('SELECT runs FROM lake.lakemig_sync_state."old.t1"').fetchall() == [(2,)]
    # pg_sync_state() shows the moved row and the one still in the old table.
    assert [(t, r) for t, r, _ in con.execute(state).fetchall()] == [('"old"."t1"', 2), ('"old"."t2"', 1)]

    r = sync("public.t2", "lake.old.t2")
    assert (r["mode"], r["rows"], r["before"]) == ("incremental", 0, old['"old"."t2"'])
    # The old table goes with its last row.
    assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = 'lake' "
                       "AND table_name = 'lakemig_sync_state'").fetchone()[0] == 0
    assert [(t, r) for t, r, _ in con.execute(state).fetchall()] == [('"old"."t1"', 2), ('"old"."t2"', 2)]
