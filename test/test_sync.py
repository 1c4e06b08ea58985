"""pg_sync against a real PostgreSQL, real DuckDB and the real DuckLake extension: after every sync the
target equals the source (EXCEPT both ways, through DuckDB's own postgres extension as the reference
reader), late-committing transactions are not lost, and a DuckDB process SIGKILLed mid-sync leaves a
target the next sync completes without duplicates."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from contextlib import closing

import pytest

from conftest import ROOT, duckdb_connect, extension_path

SCHEMA = """
CREATE SCHEMA analytics;
CREATE TABLE analytics.subscriptions (
    id bigint PRIMARY KEY,
    email text NOT NULL,
    plan text,
    amount numeric(12,2),
    seats int,
    active boolean,
    tags text[],
    meta jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz
);
CREATE INDEX ON analytics.subscriptions (updated_at);
CREATE FUNCTION analytics.touch() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN NEW.updated_at = now(); RETURN NEW; END $$;
CREATE TRIGGER touch BEFORE UPDATE ON analytics.subscriptions
    FOR EACH ROW EXECUTE FUNCTION analytics.touch();
"""

ROWS = """
INSERT INTO analytics.subscriptions (id, email, plan, amount, seats, active, tags, meta, created_at, updated_at)
SELECT g, 'user' || g || '@example.com', (ARRAY['free','pro','team'])[1 + g % 3], g * 1.25, g % 50,
       g % 2 = 0, ARRAY['t' || (g % 7)], jsonb_build_object('n', g),
       now() - interval '30 days' + g * interval '1 second', now() - interval '30 days' + g * interval '1 second'
FROM generate_series({start}, {stop}) g
"""

COLUMNS = "id, email, plan, amount, seats, active, tags, meta::VARCHAR AS meta, created_at, updated_at, deleted_at"


def pg_exec(pg, db, sql, params=None):
    with closing(pg.psycopg(db)) as conn, conn.cursor() as cur:
        cur.execute(sql, params)


def make_source(pg, db, rows=2000):
    pg_exec(pg, db, SCHEMA)
    pg_exec(pg, db, ROWS.format(start=1, stop=rows))


def sync(con, dsn, table="analytics.subscriptions", **opts):
    args = "".join(f", {k} := {v}" for k, v in opts.items())
    cur = con.execute(f"SELECT * FROM pg_sync('{dsn}', '{table}'{args})")
    names = [d[0] for d in cur.description]
    return dict(zip(names, cur.fetchone()))


def assert_same(con, dsn, target="subscriptions", columns=COLUMNS):
    """Target == source, both ways, read through DuckDB's postgres extension (not through lakemig)."""
    src = f"(SELECT {columns} FROM postgres_scan('{dsn}', 'analytics', 'subscriptions'))"
    dst = f"(SELECT {columns} FROM {target})"
    only_src = con.execute(f"SELECT count(*) FROM ({src} EXCEPT ALL {dst})").fetchone()[0]
    only_dst = con.execute(f"SELECT count(*) FROM ({dst} EXCEPT ALL {src})").fetchone()[0]
    assert (only_src, only_dst) == (0, 0), f"{only_src} rows only in the source, {only_dst} only in the target"
    n = con.execute(f"SELECT count(*), count(DISTINCT id) FROM {target}").fetchone()
    assert n[0] == n[1], "duplicate keys in the target"


def test_bootstrap_then_every_kind_of_change(pg, pgdb, tmp_path):
    make_source(pg, pgdb)
    dsn = pg.dsn(pgdb)
    con = duckdb_connect(str(tmp_path / "t.duckdb"), ("postgres_scanner",))
    r = sync(con, dsn)
    assert r["mode"] == "bootstrap" and r["rows_upserted"] == 2000 and r["watermark_before"] is None
    assert r["target"] == "t.main.subscriptions"
    assert_same(con, dsn)
    # The exact types came along, and the key is recorded (not declared: see test_enforced_key).
    assert con.execute('SELECT primary_key FROM t.lakemig_sync_state."main.subscriptions"').fetchone()[0] == ["id"]
    types = dict(con.execute("SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'subscriptions'").fetchall())
    assert types["amount"] == "DECIMAL(12,2)" and types["meta"] == "JSON" and types["tags"] == "VARCHAR[]"

    # Running it again right away changes nothing.
    r = sync(con, dsn)
    assert (r["mode"], r["rows_upserted"], r["rows_deleted"]) == ("incremental", 0, 0)
    assert r["watermark_after"] == r["watermark_before"]

    # Inserts, updates, a soft delete.
    pg_exec(pg, pgdb, ROWS.format(start=2001, stop=2010))
    pg_exec(pg, pgdb, "UPDATE analytics.subscriptions SET plan = 'enterprise', seats = 99 WHERE id IN (5, 6, 7)")
    pg_exec(pg, pgdb, "UPDATE analytics.subscriptions SET deleted_at = now() WHERE id = 8")
    r = sync(con, dsn)
    assert r["rows_upserted"] == 14 and r["watermark_after"] > r["watermark_before"]
    assert_same(con, dsn)
    assert con.execute("SELECT deleted_at IS NOT NULL FROM subscriptions WHERE id = 8").fetchone()[0]

    # Hard deletes: ignored unless asked for.
    pg_exec(pg, pgdb, "DELETE FROM analytics.subscriptions WHERE id IN (1, 2, 2005)")
    r = sync(con, dsn)
    assert r["rows_deleted"] == 0
    assert con.execute("SELECT count(*) FROM subscriptions").fetchone()[0] == 2010
    r = sync(con, dsn, hard_deletes="true")
    assert r["rows_deleted"] == 3
    assert_same(con, dsn)

    # An added column (with a default: existing rows get it without their updated_at moving).
    pg_exec(pg, pgdb, "ALTER TABLE analytics.subscriptions ADD COLUMN region text DEFAULT 'eu'")
    pg_exec(pg, pgdb, "UPDATE analytics.subscriptions SET region = 'us' WHERE id = 10")
    r = sync(con, dsn)
    assert r["columns_added"] == ["region"] and r["rows_upserted"] == 1
    assert_same(con, dsn, columns=COLUMNS + ", region")

    # A dropped column stays in the target, NULL for rows changed from then on.
    pg_exec(pg, pgdb, "ALTER TABLE analytics.subscriptions DROP COLUMN seats")
    pg_exec(pg, pgdb, "UPDATE analytics.subscriptions SET plan = 'pro' WHERE id = 11")
    r = sync(con, dsn)
    assert r["rows_upserted"] == 1 and r["columns_added"] == []
    assert con.execute("SELECT seats FROM subscriptions WHERE id = 11").fetchone()[0] is None
    assert con.execute("SELECT seats FROM subscriptions WHERE id = 12").fetchone()[0] == 12
    assert_same(con, dsn, columns=COLUMNS.replace("seats, ", "") + ", region")

    # The checkpoint lives in the database, next to the rows.
    state = con.execute("SELECT target, source, runs, rows_total, last_mode FROM pg_sync_state()").fetchall()
    assert state == [('"main"."subscriptions"', "analytics.subscriptions", 7, 2000 + 14 + 1 + 1, "incremental")]

    # An incompatible type change: a clear error, and nothing changes.
    before = con.execute("SELECT * FROM subscriptions ORDER BY id").fetchall()
    pg_exec(pg, pgdb, "ALTER TABLE analytics.subscriptions ALTER COLUMN plan TYPE int USING length(plan)")
    pg_exec(pg, pgdb, "UPDATE analytics.subscriptions SET email = 'x@y' WHERE id = 20")
    with pytest.raises(Exception, match=r'pg_sync: column "plan" changed type in PostgreSQL: .* has VARCHAR, the source now gives INTEGER'):
        sync(con, dsn)
    assert con.execute("SELECT * FROM subscriptions ORDER BY id").fetchall() == before
    assert con.execute("SELECT runs FROM pg_sync_state()").fetchone()[0] == 7


def test_enforced_key(pg, pgdb, tmp_path):
    """enforce_key := true declares the key as the target's PRIMARY KEY; upserts then use INSERT OR REPLACE."""
    make_source(pg, pgdb, rows=500)
    dsn = pg.dsn(pgdb)
    con = duckdb_connect(str(tmp_path / "t.duckdb"), ("postgres_scanner",))
    sync(con, dsn, enforce_key="true")
    assert con.execute(
        "SELECT constraint_column_names FROM duckdb_constraints() "
        "WHERE table_name = 'subscriptions' AND constraint_type = 'PRIMARY KEY'").fetchone()[0] == ["id"]
    pg_exec(pg, pgdb, "UPDATE analytics.subscriptions SET plan = 'x' WHERE id <= 10")
    pg_exec(pg, pgdb, ROWS.format(start=501, stop=510))
    r = sync(con, dsn, enforce_key="true")
    assert r["rows_upserted"] == 20
    assert_same(con, dsn)


def test_late_commit_is_not_lost(pg, pgdb, tmp_path):
    """A transaction that starts before a sync and commits after it carries an updated_at older than
    what that sync saw; the next sync must still pick it up."""
    make_source(pg, pgdb, rows=100)
    dsn = pg.dsn(pgdb)
    con = duckdb_connect(str(tmp_path / "t.duckdb"), ("postgres_scanner",))
    sync(con, dsn)

    late = pg.psycopg(pgdb)
    late.autocommit = False
    with closing(late), late.cursor() as cur:
        cur.execute("UPDATE analytics.subscriptions SET plan = 'late' WHERE id = 50")  # updated_at = now() = now
        cur.execute(ROWS.format(start=101, stop=101).replace("now() - interval '30 days' + g * interval '1 second'", "now()"))
        time.sleep(0.05)
        # Meanwhile other transactions commit newer rows, and a sync runs.
        pg_exec(pg, pgdb, "UPDATE analytics.subscriptions SET plan = 'early' WHERE id = 60")
        r = sync(con, dsn)
        assert r["rows_upserted"] == 1
        assert "open transaction" in r["watermark_bound"]
        late.commit()
    r = sync(con, dsn)
    assert r["rows_upserted"] >= 2
    assert con.execute("SELECT plan FROM subscriptions WHERE id = 50").fetchone()[0] == "late"
    assert con.execute("SELECT count(*) FROM subscriptions WHERE id = 101").fetchone()[0] == 1
    assert_same(con, dsn)


def test_ducklake_target(pg, pgdb, tmp_path):
    make_source(pg, pgdb, rows=3000)
    dsn = pg.dsn(pgdb)
    con = duckdb_connect(extensions=("postgres_scanner", "ducklake"))
    con.execute(f"ATTACH 'ducklake:{tmp_path}/lake.sqlite' AS lake (DATA_PATH '{tmp_path}/data')")
    r = sync(con, dsn, target="'lake.raw.subscriptions'")
    assert r["mode"] == "bootstrap" and r["target"] == "lake.raw.subscriptions" and r["rows_upserted"] == 3000
    assert_same(con, dsn, "lake.raw.subscriptions")
    pg_exec(pg, pgdb, "UPDATE analytics.subscriptions SET plan = 'team', deleted_at = now() WHERE id % 100 = 0")
    pg_exec(pg, pgdb, ROWS.format(start=3001, stop=3005))
    pg_exec(pg, pgdb, "DELETE FROM analytics.subscriptions WHERE id = 1")
    pg_exec(pg, pgdb, "ALTER TABLE analytics.subscriptions ADD COLUMN region text DEFAULT 'eu'")
    r = sync(con, dsn, target="'lake.raw.subscriptions'", hard_deletes="true")
    assert (r["rows_upserted"], r["rows_deleted"], r["columns_added"]) == (35, 1, ["region"])
    assert_same(con, dsn, "lake.raw.subscriptions", COLUMNS + ", region")
    # The checkpoint is in the lake, committed with the rows: one DuckLake snapshot per sync.
    assert con.execute('SELECT count(*) FROM lake.lakemig_sync_state."raw.subscriptions"').fetchone()[0] == 1
    snapshots = con.execute("SELECT count(*) FROM ducklake_snapshots('lake')").fetchone()[0]
    pg_exec(pg, pgdb, "UPDATE analytics.subscriptions SET plan = 'x' WHERE id = 2")
    r = sync(con, dsn, target="'lake.raw.subscriptions'")
    assert r["rows_upserted"] == 1
    assert con.execute("SELECT count(*) FROM ducklake_snapshots('lake')").fetchone()[0] == snapshots + 1
    assert_same(con, dsn, "lake.raw.subscriptions", COLUMNS + ", region")


def test_composite_key_and_parquet_copies(pg, pgdb, tmp_path):
    pg_exec(pg, pgdb, """
        CREATE TABLE public.events (tenant int, seq int, body text, updated_at timestamptz NOT NULL DEFAULT now());
        INSERT INTO public.events SELECT g % 3, g, 'b' || g, now() - interval '1 day' FROM generate_series(1, 500) g;
    """)
    dsn = pg.dsn(pgdb)
    con = duckdb_connect(str(tmp_path / "t.duckdb"))
    with pytest.raises(Exception, match=r'pg_sync: table "public"."events" has no primary key; name the columns'):
        sync(con, dsn, "public.events")
    out = tmp_path / "parquet"
    r = sync(con, dsn, "public.events", primary_key="['tenant', 'seq']", parquet_dir=f"'{out}'")
    assert r["rows_upserted"] == 500
    pg_exec(pg, pgdb, "UPDATE public.events SET body = 'changed', updated_at = now() WHERE seq <= 5")
    r = sync(con, dsn, "public.events", primary_key="['tenant', 'seq']", parquet_dir=f"'{out}'")
    assert r["rows_upserted"] == 5
    assert con.execute("SELECT count(*) FROM events WHERE body = 'changed'").fetchone()[0] == 5
    files = sorted(p.name for p in (out / "main.events").iterdir())
    assert len(files) == 2 and files[0].endswith("-bootstrap.parquet") and files[1].endswith("-incremental.parquet")
    assert con.execute(f"SELECT count(*) FROM '{out}/main.events/*-incremental.parquet'").fetchone()[0] == 5


def test_bad_inputs_change_nothing(pg, pgdb, tmp_path):
    make_source(pg, pgdb, rows=50)
    dsn = pg.dsn(pgdb)
    con = duckdb_connect(str(tmp_path / "t.duckdb"))
    con.execute("CREATE TABLE taken AS SELECT 1 AS x")
    with pytest.raises(Exception, match=r'pg_sync: target "t"."main"."taken" already exists and holds 1 row, but has no pg_sync checkpoint'):
        sync(con, dsn, target="'taken'")
    with pytest.raises(Exception, match=r'pg_sync: column "modified" does not exist in table "analytics"."subscriptions" \(its columns are: id, email'):
        sync(con, dsn, cursor="'modified'")
    with pytest.raises(Exception, match=r'pg_sync: table "analytics"."subscriptionz" does not exist'):
        sync(con, dsn, "analytics.subscriptionz")
    bad = pg.dsn(pgdb, password="wrong-secret")
    with pytest.raises(Exception) as err:
        sync(con, bad)
    assert "password authentication failed" in str(err.value) and "wrong-secret" not in str(err.value)
    with pytest.raises(Exception, match=r"no attached database named \"nolake\""):
        sync(con, dsn, target="'nolake.main.subs'")
    # Nothing was created by any of these.
    assert con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall() == [("taken",)]
    # A target made by another source is refused.
    sync(con, dsn, target="'subs'")
    pg_exec(pg, pgdb, "CREATE TABLE public.other (id int PRIMARY KEY, updated_at timestamptz)")
    with pytest.raises(Exception, match=r"is kept in step with analytics.subscriptions"):
        sync(con, dsn, "public.other", target="'subs'")


# A DuckDB process that LOADs lakemig keeps its database file open until it exits (lakemig holds a
# connection for pg_sync's writes), so every step that opens the file runs in a process of its own.
CHILD = """
import json, sys
sys.path.insert(0, {test!r})
from conftest import duckdb_connect
con = duckdb_connect({db!r})
print("ready", flush=True)
cur = con.execute("SELECT * FROM pg_sync('{dsn}', 'analytics.subscriptions', batch_size := 2048)")
row = dict(zip([d[0] for d in cur.description], cur.fetchone()))
row["changed_in_target"] = con.execute("SELECT count(*) FROM subscriptions WHERE plan = 'changed'").fetchone()[0]
print(json.dumps(row, default=str), flush=True)
"""


def child(pg, pgdb, db):
    code = CHILD.format(test=os.path.join(ROOT, "test"), db=db, dsn=pg.dsn(pgdb))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def sync_in_child(pg, pgdb, db):
    import json
    proc = child(pg, pgdb, db)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0
    return json.loads(out)


def run_and_kill(pg, pgdb, db):
    """Start a sync in a child DuckDB process and SIGKILL it while it is copying."""
    kill_mid_copy(pg, pgdb, child(pg, pgdb, db))


def kill_mid_copy(pg, pgdb, proc):
    """SIGKILL a DuckDB process (a sync it runs) once its COPY from `pgdb` is under way."""
    deadline = time.time() + 60
    copying = False
    while time.time() < deadline and not copying and proc.poll() is None:
        with closing(pg.psycopg(pgdb)) as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY (SELECT%' AND state = 'active'")
            copying = cur.fetchone()[0] > 0
        time.sleep(0.01)
    assert copying, f"the child never started copying (exit code {proc.poll()})"
    time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL


STORED_CHILD = """
import json, os, sys
sys.path.insert(0, {test!r})
from conftest import duckdb_connect
con = duckdb_connect({db!r})
row = None
if {sql!r}:
    cur = con.execute({sql!r})
    row = dict(zip([d[0] for d in cur.description], cur.fetchone()))
stored = con.execute("SELECT estimated_size FROM duckdb_tables() WHERE table_name = 'subscriptions'").fetchone()[0]
print(json.dumps({{"row": row, "stored": stored}}, default=str), flush=True)
"""


def run_stored(db, sql="", env=None):
    """Run `sql` (if any) in a DuckDB process of its own: its row, the rows the target stores (the
    deleted ones not vacuumed yet among them), and what it wrote on stderr."""
    import json
    code = STORED_CHILD.format(test=os.path.join(ROOT, "test"), db=db, sql=sql)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, **(env or {})))
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    return got["row"], got["stored"], out.stderr


@pytest.mark.parametrize("many", [False, True], ids=["pg_sync", "tables"])
def test_a_kept_target_is_vacuumed_once_it_stores_twice_its_rows(pg, pgdb, tmp_path, many):
    """The watermark method, as CDC (test_cdc.py): each upsert leaves the target's old row stored
    until DuckDB vacuums it, which only a full checkpoint does, and DuckDB runs one only when nothing
    committed since the oldest open transaction began (the pg_sync query's is open for the whole
    call). A call finding its target storing more than twice the rows it holds rolls its reads back
    and runs a full checkpoint before it writes. Before, the stored rows only grew."""
    n = 125_000
    make_source(pg, pgdb, rows=n)
    db = str(tmp_path / "t.duckdb")
    dsn = pg.dsn(pgdb)
    call = (f"SELECT * FROM pg_sync_tables('{dsn}', tables := ['analytics.subscriptions'], target := 'main')" if many
            else f"SELECT * FROM pg_sync('{dsn}', 'analytics.subscriptions')")
    assert run_stored(db, call)[0]["mode"] == "bootstrap"
    seen = []
    for i in range(3):
        pg_exec(pg, pgdb, f"UPDATE analytics.subscriptions SET plan = 'u{i}'")
        row, _, err = run_stored(db, call, env={"LAKEMIG_TRACE": "1"})
        assert row["rows_upserted"] == n, row
        seen.append((run_stored(db)[1], "checkpointed the WAL: true (vacuum: true)" in err))
    # n, then 2n stored at the start of the first two calls: not more than twice n, no vacuum. The
    # third found 3n, vacuumed the 2n old rows away, then added its n.
    assert seen[:2] == [(2 * n, False), (3 * n, False)], seen
    assert seen[2][1] and seen[2][0] <= 2 * n, seen
    con = duckdb_connect(db, extensions=("postgres_scanner",))
    try:
        assert_same(con, dsn)
    finally:
        con.close()


def test_sigkill_mid_sync_leaves_a_consistent_target(pg, pgdb, tmp_path):
    pg_exec(pg, pgdb, SCHEMA)
    pg_exec(pg, pgdb, ROWS.format(start=1, stop=300_000))
    pg_exec(pg, pgdb, "ALTER TABLE analytics.subscriptions ADD COLUMN pad text DEFAULT repeat('x', 200)")
    db = str(tmp_path / "crash.duckdb")
    dsn = pg.dsn(pgdb)
    # Killed during the bootstrap: nothing of it remains, the next sync bootstraps from scratch.
    run_and_kill(pg, pgdb, db)
    r = sync_in_child(pg, pgdb, db)
    assert (r["mode"], r["rows_upserted"]) == ("bootstrap", 300_000)
    # Killed during an incremental sync of many changed rows: the old checkpoint still matches.
    pg_exec(pg, pgdb, "UPDATE analytics.subscriptions SET plan = 'changed' WHERE id % 2 = 0")
    run_and_kill(pg, pgdb, db)
    con = duckdb_connect(db, ("postgres_scanner",))
    assert con.execute("SELECT count(*) FROM subscriptions WHERE plan = 'changed'").fetchone()[0] == 0
    assert con.execute("SELECT runs FROM pg_sync_state()").fetchone()[0] == 1
    r = sync(con, dsn)
    assert r["mode"] == "incremental" and r["rows_upserted"] == 150_000
    assert_same(con, dsn)


@pytest.mark.parametrize("cursor_type, bump", [
    ("timestamp", "localtimestamp"),
    ("date", "current_date"),
    ("bigint", "nextval('public.versions')"),
])
def test_other_cursor_types(pg, pgdb, tmp_path, cursor_type, bump):
    pg_exec(pg, pgdb, f"""
        CREATE SEQUENCE public.versions;
        CREATE TABLE public.items (id int PRIMARY KEY, name text, version {cursor_type} NOT NULL DEFAULT {bump});
        INSERT INTO public.items (id, name) SELECT g, 'n' || g FROM generate_series(1, 100) g;
    """)
    dsn = pg.dsn(pgdb)
    con = duckdb_connect(str(tmp_path / "t.duckdb"), ("postgres_scanner",))
    r = sync(con, dsn, "public.items", cursor="'version'")
    assert r["rows_upserted"] == 100 and r["watermark_after"] is not None
    pg_exec(pg, pgdb, f"UPDATE public.items SET name = 'changed', version = {bump} WHERE id <= 3")
    pg_exec(pg, pgdb, "INSERT INTO public.items (id, name) VALUES (101, 'new')")
    r = sync(con, dsn, "public.items", cursor="'version'")
    # A date cursor re-reads the last day (a later change the same day has the same value).
    assert r["rows_upserted"] == (101 if cursor_type == "date" else 4)
    src = f"SELECT id, name FROM postgres_scan('{dsn}', 'public', 'items')"
    assert con.execute(f"SELECT count(*) FROM (({src}) EXCEPT (SELECT id, name FROM items))").fetchone()[0] == 0
    assert con.execute(f"SELECT count(*) FROM ((SELECT id, name FROM items) EXCEPT ({src}))").fetchone()[0] == 0
