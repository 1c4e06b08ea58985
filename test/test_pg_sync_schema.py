"""pg_sync for a whole schema (issue 18): pg_sync_tables(dsn, tables := [...], target := 'catalog.schema').
A 12-table source (foreign keys, composite keys, a partitioned table, a table without a cursor, odd
names, a view) synced in ONE PostgreSQL snapshot and ONE DuckDB transaction: bootstrap, increments,
a full re-read, changes committed after the snapshot invisible to every table together, a DuckDB
process SIGKILLed mid-call (all or nothing), tables added and dropped later, refusals and
on_error := 'skip', DuckLake and native targets, 4 processes into one DuckLake at once.

One source database serves every test; each test writes to its own target. Deterministic timing:
a table locked by another session blocks the call's read of it, and the tests wait for PostgreSQL
to show that wait (no sleeps)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import closing

import pytest

from conftest import ROOT, duckdb_connect

SCHEMA_SQL = """
CREATE SCHEMA shop; CREATE SCHEMA billing; CREATE SCHEMA extra;
CREATE TABLE shop.customers (id int PRIMARY KEY, name text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX ON shop.customers (updated_at);
CREATE TABLE shop.orders (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES shop.customers,
  total numeric(10,2), updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE shop.order_items (order_id int REFERENCES shop.orders, line int, qty int,
  updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (order_id, line));
CREATE TABLE shop.products (sku text PRIMARY KEY, title text, modified_at timestamptz NOT NULL DEFAULT now(),
  updated_at text);
CREATE TABLE shop.events (id int, at date, kind text, updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE shop.events_2024 PARTITION OF shop.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE shop.events_2025 PARTITION OF shop.events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE shop.countries (code text PRIMARY KEY, name text);
CREATE TABLE shop."Odd Name" (id int PRIMARY KEY, "Mixed Col" text, updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE shop."MixedCase" (id int PRIMARY KEY, v text, updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE shop."quo""te" (id int PRIMARY KEY, v text, updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE shop.tags (id int PRIMARY KEY, tag text, updated_at timestamp NOT NULL DEFAULT localtimestamp);
CREATE TABLE shop.reviews (id int PRIMARY KEY, sku text REFERENCES shop.products, stars int,
  updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE shop.tmp_scratch (id int PRIMARY KEY, v text, updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE billing.invoices (id int PRIMARY KEY, order_id int REFERENCES shop.orders, amount numeric(10,2),
  updated_at timestamptz NOT NULL DEFAULT now());
CREATE VIEW shop.order_totals AS SELECT customer_id, sum(total) AS total FROM shop.orders GROUP BY 1;
CREATE MATERIALIZED VIEW shop.order_counts AS SELECT customer_id, count(*) AS n FROM shop.orders GROUP BY 1;
CREATE TABLE extra.no_key (v text, updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE extra.fine (id int PRIMARY KEY, updated_at timestamptz NOT NULL DEFAULT now());

INSERT INTO shop.customers SELECT g, 'c' || g, now() - interval '1 day' FROM generate_series(1, 200) g;
INSERT INTO shop.orders SELECT g, 1 + g % 200, g * 1.5, now() - interval '1 day' FROM generate_series(1, 500) g;
INSERT INTO shop.order_items SELECT 1 + g % 500, g / 500, g % 7, now() - interval '1 day' FROM generate_series(0, 1499) g;
INSERT INTO shop.products SELECT 'sku' || g, 'p' || g, now() - interval '1 day', 'x' FROM generate_series(1, 50) g;
INSERT INTO shop.events SELECT g, date '2024-06-01' + g, 'k', now() - interval '1 day' FROM generate_series(1, 300) g;
INSERT INTO shop.countries VALUES ('de', 'Germany'), ('fr', 'France'), ('jp', 'Japan');
INSERT INTO shop."Odd Name" SELECT g, 'odd ' || g, now() - interval '1 day' FROM generate_series(1, 10) g;
INSERT INTO shop."MixedCase" SELECT g, 'm' || g, now() - interval '1 day' FROM generate_series(1, 10) g;
INSERT INTO shop."quo""te" SELECT g, 'q' || g, now() - interval '1 day' FROM generate_series(1, 10) g;
INSERT INTO shop.tags SELECT g, 't' || g, localtimestamp - interval '1 day' FROM generate_series(1, 20) g;
INSERT INTO shop.reviews SELECT g, 'sku' || (1 + g % 50), g % 5, now() - interval '1 day' FROM generate_series(1, 100) g;
INSERT INTO shop.tmp_scratch VALUES (1, 'scratch');
INSERT INTO billing.invoices SELECT g, g, g * 1.5, now() - interval '1 day' FROM generate_series(1, 500) g;
INSERT INTO extra.no_key VALUES ('a'); INSERT INTO extra.fine VALUES (1);
"""

TABLES = ["shop.*", "billing.invoices"]
EXCLUDE = ["shop.tmp_*"]
# source -> (target table, key columns)
SYNCED = {
    "billing.invoices": ("invoices", "id"),
    "shop.MixedCase": ("MixedCase", "id"),
    "shop.Odd Name": ("Odd Name", "id"),
    "shop.countries": ("countries", "code"),
    "shop.customers": ("customers", "id"),
    "shop.events": ("events", 'id, "at"'),
    "shop.order_items": ("order_items", "order_id, line"),
    "shop.orders": ("orders", "id"),
    "shop.products": ("products", "sku"),
    'shop.quo"te': ('quo"te', "id"),
    "shop.reviews": ("reviews", "id"),
    "shop.tags": ("tags", "id"),
}
COLUMNS = ["source", "target", "mode", "rows_upserted", "rows_deleted", "columns_added",
           "watermark_before", "watermark_after", "watermark_bound", "duration", "error"]


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def pg_source(source: str) -> str:
    schema, table = source.split(".", 1)
    return f"{q(schema)}.{q(table)}"


@pytest.fixture(scope="module")
def src(pg):
    db = pg.create_database("pg_sync_schema_src")
    with closing(pg.psycopg(db)) as conn, conn.cursor() as cur:
        cur.execute(SCHEMA_SQL)
        conn.commit()
    yield {"db": db, "dsn": pg.dsn(db)}
    with closing(pg.psycopg()) as conn, conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def pg_exec(pg, db, sql):
    with closing(pg.psycopg(db)) as conn, conn.cursor() as cur:
        cur.execute(sql)
        conn.commit()


def pg_rows(pg, db, sql):
    with closing(pg.psycopg(db)) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def sync(con, dsn, target, tables=TABLES, exclude=EXCLUDE, **opts):
    extra = "".join(f", {k} := ?" for k in opts)
    rel = con.execute(f"SELECT * FROM pg_sync_tables(?, tables := ?, target := ?, exclude := ?{extra})",
                      [dsn, tables, target, exclude, *opts.values()])
    return {r[0]: dict(zip(COLUMNS, r)) for r in rel.fetchall()}


def keys_and_count(pg, db, source):
    key = SYNCED[source][1]
    return pg_rows(pg, db, f"SELECT {key} FROM {pg_source(source)} ORDER BY {key}")


def assert_same(pg, src, con, prefix):
    """Every synced table holds the source's keys (and as many rows)."""
    for source, (table, key) in SYNCED.items():
        want = keys_and_count(pg, src["db"], source)
        got = con.execute(f"SELECT {key} FROM {prefix}.{q(table)} ORDER BY {key}").fetchall()
        assert [tuple(r) for r in got] == [tuple(r) for r in want], source


def test_bootstrap_increment_full_added_and_dropped_tables(pg, src, tmp_path):
    con = duckdb_connect(str(tmp_path / "native.duckdb"))
    rows = sync(con, src["dsn"], "raw")
    assert sorted(rows) == sorted(SYNCED)  # no view, matview, partition, excluded table
    modes = {s: r["mode"] for s, r in rows.items()}
    assert modes.pop("shop.countries") == "full"
    assert set(modes.values()) == {"bootstrap"}
    assert rows["shop.events"]["rows_upserted"] == 300  # the partitioned parent, read whole
    assert rows["shop.order_items"]["rows_upserted"] == 1500
    assert rows["shop.orders"]["watermark_after"] is not None
    assert all(r["error"] is None for r in rows.values())
    assert_same(pg, src, con, "raw")
    assert con.execute('SELECT "Mixed Col" FROM raw."Odd Name" WHERE id = 3').fetchone() == ("odd 3",)
    # products: modified_at (updated_at there is text, not a cursor); tags: a timestamp cursor.
    cursors = dict(con.execute("SELECT source, cursor FROM pg_sync_state()").fetchall())
    assert cursors["shop.products"] == "modified_at"
    assert cursors["shop.tags"] == "updated_at"
    assert cursors["shop.countries"] == ""

    # Changes in several tables, in one PostgreSQL transaction; a table added; none for the rest.
    pg_exec(pg, src["db"], """
        INSERT INTO shop.customers VALUES (201, 'new customer', now());
        INSERT INTO shop.orders VALUES (501, 201, 9.99, now());
        UPDATE shop.products SET title = 'renamed', modified_at = now() WHERE sku = 'sku7';
        UPDATE shop.countries SET name = 'Nippon' WHERE code = 'jp';
        DELETE FROM shop.countries WHERE code = 'fr';
        -- a cursor-like column added later: the table stays 'full' (its checkpoint's choice)
        ALTER TABLE shop.countries ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
        CREATE TABLE shop.added_later (id int PRIMARY KEY, updated_at timestamptz NOT NULL DEFAULT now());
        INSERT INTO shop.added_later VALUES (1), (2);""")
    try:
        rows = sync(con, src["dsn"], "raw")
        assert rows["shop.customers"]["mode"] == "incremental"
        assert rows["shop.customers"]["rows_upserted"] >= 1
        assert rows["shop.orders"]["rows_upserted"] >= 1
        assert rows["shop.added_later"]["mode"] == "bootstrap"
        assert rows["shop.added_later"]["rows_upserted"] == 2
        assert rows["shop.countries"]["mode"] == "full"
        assert rows["shop.countries"]["rows_upserted"] == 2
        assert rows["shop.countries"]["rows_deleted"] == 1
        assert rows["shop.countries"]["columns_added"] == ["updated_at"]
        assert rows["shop.MixedCase"]["mode"] in ("unchanged", "incremental")
        assert con.execute("SELECT name FROM raw.customers WHERE id = 201").fetchone() == ("new customer",)
        assert con.execute("SELECT customer_id FROM raw.orders WHERE id = 501").fetchone() == (201,)
        assert con.execute("SELECT title FROM raw.products WHERE sku = 'sku7'").fetchone() == ("renamed",)
        assert sorted(con.execute("SELECT code, name FROM raw.countries").fetchall()) == [("de", "Germany"), ("jp", "Nippon")]
        assert_same(pg, src, con, "raw")

        # A table gone from the source: reported, its target kept.
        pg_exec(pg, src["db"], "DROP TABLE shop.added_later")
        rows = sync(con, src["dsn"], "raw")
        assert rows["shop.added_later"]["mode"] == "source dropped"
        assert "gone" in rows["shop.added_later"]["error"]
        assert con.execute("SELECT count(*) FROM raw.added_later").fetchone() == (2,)
    finally:
        pg_exec(pg, src["db"], """
            DROP TABLE IF EXISTS shop.added_later;
            ALTER TABLE shop.countries DROP COLUMN IF EXISTS updated_at;
            DELETE FROM shop.orders WHERE id = 501; DELETE FROM shop.customers WHERE id = 201;
            INSERT INTO shop.countries VALUES ('fr', 'France') ON CONFLICT DO NOTHING;""")
        con.close()


def test_refusals_and_on_error_skip(pg, src, duck):
    dsn = src["dsn"]
    with pytest.raises(Exception, match=r'pattern "shop.nope_\*" matches no table'):
        sync(duck, dsn, "memory.r0", tables=["shop.nope_*"], exclude=[])
    # A view is not a table.
    with pytest.raises(Exception, match="matches no table"):
        sync(duck, dsn, "memory.r0", tables=["shop.order_totals"], exclude=[])
    with pytest.raises(Exception, match=r'table "extra"."no_key" cannot be synced: .*no primary key.*nothing was written'):
        sync(duck, dsn, "memory.r1", tables=["extra.*"], exclude=[])
    assert duck.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'r1'").fetchone() == (0,)
    rows = sync(duck, dsn, "memory.r1", tables=["extra.*"], exclude=[], on_error="skip")
    assert rows["extra.no_key"]["mode"] == "skipped"
    assert "no primary key" in rows["extra.no_key"]["error"]
    assert rows["extra.fine"]["mode"] == "bootstrap"
    # A target holding rows but no checkpoint is refused, or skipped.
    duck.execute("CREATE SCHEMA r2; CREATE TABLE r2.fine (id int); INSERT INTO r2.fine VALUES (7)")
    r2_checkpoints = ("SELECT count(*) FROM duckdb_tables() "
                      "WHERE schema_name = 'lakemig_sync_state' AND table_name LIKE 'r2.%'")
    with pytest.raises(Exception, match="no pg_sync checkpoint"):
        sync(duck, dsn, "memory.r2", tables=["extra.fine"], exclude=[])
    assert duck.execute(r2_checkpoints).fetchone() == (0,)
    rows = sync(duck, dsn, "memory.r2", tables=["extra.*"], exclude=["extra.no_key"], on_error="skip")
    assert rows["extra.fine"]["mode"] == "skipped"
    assert duck.execute(r2_checkpoints).fetchone() == (0,)
    assert duck.execute("SELECT * FROM r2.fine").fetchall() == [(7,)]
    # A table this role may not read is refused (naming the privilege), or skipped.
    pg_exec(pg, src["db"], """
        CREATE ROLE lakemig_reader LOGIN PASSWORD 'pw';
        GRANT USAGE ON SCHEMA extra TO lakemig_reader;
        GRANT SELECT ON extra.fine TO lakemig_reader;""")
    try:
        reader = f"host={pg.host} port={pg.port} dbname={src['db']} user=lakemig_reader password=pw sslmode=disable"
        with pytest.raises(Exception, match=r'table "extra"."no_key" cannot be synced: .*SELECT') as e:
            sync(duck, reader, "memory.r5", tables=["extra.*"], exclude=[])
        assert "password=pw" not in str(e.value)
        assert duck.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'r5' "
                            "OR table_name LIKE 'r5.%'").fetchone() == (0,)
        rows = sync(duck, reader, "memory.r5", tables=["extra.*"], exclude=[], on_error="skip")
        assert (rows["extra.no_key"]["mode"], rows["extra.fine"]["mode"]) == ("skipped", "bootstrap")
    finally:
        pg_exec(pg, src["db"], "DROP OWNED BY lakemig_reader; DROP ROLE lakemig_reader")
    with pytest.raises(Exception, match="on_error must be 'fail'"):
        sync(duck, dsn, "memory.r3", tables=["extra.fine"], exclude=[], on_error="ignore")
    # Quoting: "MixedCase" exact; unquoted is folded to lower case (no such table).
    rows = sync(duck, dsn, "memory.r4", tables=['shop."MixedCase"', 'shop."quo""te"', 'shop."Odd "*'], exclude=[])
    assert sorted(rows) == ["shop.MixedCase", "shop.Odd Name", 'shop.quo"te']
    with pytest.raises(Exception, match="matches no table"):
        sync(duck, dsn, "memory.r4", tables=["shop.MixedCase"], exclude=[])


def wait_for_lock_wait(pg, db, table, timeout=30):
    """Until some backend waits for a lock on `table` (the call's read of it)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        n = pg_rows(pg, db, f"SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = '{table}'::regclass")[0][0]
        if n:
            return
        time.sleep(0.02)
    raise AssertionError(f"no backend waited for a lock on {table}")


def test_one_snapshot_for_every_table(pg, src, tmp_path):
    """A change to two tables committed while the call runs (after its snapshot) is in neither
    target; the next call brings both."""
    con = duckdb_connect(str(tmp_path / "snap.duckdb"))
    dsn = src["dsn"]
    sync(con, dsn, "raw")
    locker = pg.psycopg(src["db"])
    locker.autocommit = False
    cur = locker.cursor()
    cur.execute("LOCK TABLE shop.tags IN ACCESS EXCLUSIVE MODE")  # shop.tags is read last
    result = {}

    def run():
        try:
            result["rows"] = sync(con, dsn, "raw")
        except Exception as e:  # noqa: BLE001
            result["error"] = e

    t = threading.Thread(target=run)
    t.start()
    try:
        wait_for_lock_wait(pg, src["db"], "shop.tags")
        pg_exec(pg, src["db"], """
            INSERT INTO shop.customers VALUES (301, 'after the snapshot', now());
            INSERT INTO shop.orders VALUES (601, 301, 1.00, now());""")
    finally:
        locker.rollback()
        locker.close()
        t.join(60)
    try:
        assert "error" not in result, result.get("error")
        assert con.execute("SELECT count(*) FROM raw.customers WHERE id = 301").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM raw.orders WHERE id = 601").fetchone() == (0,)
        rows = sync(con, dsn, "raw")
        assert rows["shop.customers"]["rows_upserted"] >= 1 and rows["shop.orders"]["rows_upserted"] >= 1
        assert con.execute("SELECT count(*) FROM raw.customers WHERE id = 301").fetchone() == (1,)
        assert con.execute("SELECT count(*) FROM raw.orders WHERE id = 601").fetchone() == (1,)
    finally:
        pg_exec(pg, src["db"], "DELETE FROM shop.orders WHERE id = 601; DELETE FROM shop.customers WHERE id = 301")
        con.close()


# A DuckDB process that LOADs lakemig keeps its database file open until it exits (lakemig holds a
# connection for its writes): each step on the file runs in a process of its own. The child runs
# the queries given as JSON on stdin after saying "ready", and prints their rows as JSON.
CHILD = """
import json, sys
sys.path.insert(0, {test!r})
from conftest import duckdb_connect
con = duckdb_connect({db!r})
print("ready", flush=True)
out = [con.execute(sql, params).fetchall() for sql, params in json.loads(sys.stdin.readline())]
print(json.dumps(out, default=str), flush=True)
"""
SYNC_SQL = "SELECT source, mode, rows_upserted FROM pg_sync_tables(?, tables := ?, target := 'raw', exclude := ?)"
COUNTS_SQL = " UNION ALL ".join(f"SELECT '{s}', count(*) FROM raw.{q(t)}" for s, (t, _) in SYNCED.items())
STATE_SQL = "SELECT source, watermark, runs FROM pg_sync_state() ORDER BY source"


def start_child(db):
    code = CHILD.format(test=os.path.join(ROOT, "test"), db=db)
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read()[-2000:]
    return proc


def send(proc, queries):
    proc.stdin.write(json.dumps(queries) + "\n")
    proc.stdin.flush()


def in_child(db, queries):
    proc = start_child(db)
    send(proc, queries)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-2000:]
    return json.loads(out)


def pg_counts(pg, db):
    return sorted([s, pg_rows(pg, db, f"SELECT count(*) FROM {pg_source(s)}")[0][0]] for s in SYNCED)


def test_sigkill_mid_call_is_all_or_nothing(pg, src, tmp_path):
    db = str(tmp_path / "kill.duckdb")
    sync_q = [SYNC_SQL, [src["dsn"], TABLES, EXCLUDE]]
    _, before, state = in_child(db, [sync_q, [COUNTS_SQL, []], [STATE_SQL, []]])
    pg_exec(pg, src["db"], """
        INSERT INTO shop.customers VALUES (401, 'before the kill', now());
        INSERT INTO billing.invoices VALUES (901, 1, 5.00, now());
        INSERT INTO shop.countries VALUES ('it', 'Italy');""")
    locker = pg.psycopg(src["db"])
    locker.autocommit = False
    locker.cursor().execute("LOCK TABLE shop.tags IN ACCESS EXCLUSIVE MODE")
    try:
        proc = start_child(db)
        send(proc, [sync_q])
        # Every table before shop.tags is written (uncommitted) when the call waits for it.
        wait_for_lock_wait(pg, src["db"], "shop.tags")
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        assert proc.returncode == -signal.SIGKILL
    finally:
        locker.rollback()
        locker.close()
    try:
        after, state_after, rows, counts = in_child(db, [[COUNTS_SQL, []], [STATE_SQL, []], sync_q, [COUNTS_SQL, []]])
        assert sorted(after) == sorted(before)
        assert state_after == state
        modes = {r[0]: (r[1], r[2]) for r in rows}
        assert modes["billing.invoices"][0] == "incremental" and modes["billing.invoices"][1] >= 1
        assert modes["shop.countries"] == ["full", 4] or modes["shop.countries"] == ("full", 4)
        assert sorted(counts) == pg_counts(pg, src["db"])
    finally:
        pg_exec(pg, src["db"], """DELETE FROM billing.invoices WHERE id = 901;
            DELETE FROM shop.customers WHERE id = 401; DELETE FROM shop.countries WHERE code = 'it'""")


WRITER = """
import json, sys
sys.path.insert(0, {test!r})
from conftest import duckdb_connect
con = duckdb_connect(extensions=("postgres_scanner", "ducklake"))
con.execute({attach!r})
print("ready", flush=True)
sys.stdin.readline()
try:
    rows = con.execute("SELECT source, mode FROM pg_sync_tables(?, tables := ?, target := 'lake.raw')", [{dsn!r}, {tables!r}]).fetchall()
    print(json.dumps({{"ok": True, "rows": rows}}), flush=True)
except Exception as e:
    print(json.dumps({{"ok": False, "error": str(e)}}), flush=True)
"""


def test_four_processes_into_one_ducklake(pg, src, tmp_path):
    catalog = pg.create_database("pg_sync_schema_lake")
    attach = (f"ATTACH 'ducklake:postgres:{pg.dsn(catalog)}' AS lake "
              f"(DATA_PATH '{tmp_path / 'data'}', METADATA_SCHEMA 'lake')")
    con = duckdb_connect(extensions=("postgres_scanner", "ducklake"))
    con.execute(attach)  # the catalog is made once, before the writers (see test_many_writers)
    sets = [["shop.customers", "shop.orders", "shop.order_items"], ["shop.products", "shop.reviews", 'shop."Odd Name"'],
            ["shop.events", "shop.countries", 'shop."MixedCase"'], ["billing.*", "shop.tags", 'shop."quo""te"']]
    procs = []
    try:
        for tables in sets:
            code = WRITER.format(test=os.path.join(ROOT, "test"), attach=attach, dsn=src["dsn"], tables=tables)
            procs.append(subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        for p in procs:
            assert p.stdout.readline().strip() == "ready", p.stderr.read()[-2000:]
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        outcomes = [json.loads(p.stdout.readline()) for p in procs]
        assert all(o["ok"] for o in outcomes), outcomes
        modes = {s: m for o in outcomes for s, m in o["rows"]}
        assert sorted(modes) == sorted(SYNCED)
        assert modes["shop.countries"] == "full"
        assert_same(pg, src, con, "lake.raw")
        # Again, in one process: every table of the lake in one call, one DuckLake snapshot.
        rows = sync(con, src["dsn"], "lake.raw")
        assert {r["mode"] for s, r in rows.items() if s != "shop.countries"} <= {"unchanged", "incremental"}
        assert rows["shop.countries"]["mode"] == "full"
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait(30)
        con.close()
        with closing(pg.psycopg()) as conn, conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{catalog}" WITH (FORCE)')
