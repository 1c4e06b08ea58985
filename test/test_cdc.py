"""pg_sync(..., method := 'cdc') against the real PostgreSQL 15 test cluster (wal_level=logical), real
DuckDB and DuckLake: every change kind reaches the target (hard deletes, key changes, TRUNCATE, a
TOASTed value an update left alone, an added column, one transaction over two tables), a second call
applies nothing, a DuckDB process SIGKILLed before its commit or between its commit and the slot's
advance leaves nothing lost and nothing twice, the refusals change nothing, and pg_sync_drop leaves
no slot behind. Small tables: the file is meant to stay well under 40 s."""
from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import closing

import pytest

import duckenv
import pgcluster
from conftest import ROOT, duckdb_connect

SCHEMA = """
CREATE SCHEMA shop;
CREATE TABLE shop.orders (id bigint PRIMARY KEY, note text, amount numeric(12,2), big text);
ALTER TABLE shop.orders ALTER COLUMN big SET STORAGE EXTERNAL;
CREATE TABLE shop.items (order_id bigint, line int, qty int, PRIMARY KEY (order_id, line));
INSERT INTO shop.orders SELECT g, 'n' || g, g * 1.5, NULL FROM generate_series(1, 200) g;
INSERT INTO shop.items SELECT g, 1, g FROM generate_series(1, 50) g;
"""

# > 2 kB, stored out of line (STORAGE EXTERNAL: no compression), random so nothing could shrink it.
BIG = "(SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 200))"


def pg_exec(pg, db, sql, params=None):
    # The test cluster runs synchronous_commit = off; logical decoding reads the WAL only up to what
    # is flushed, so a change committed asynchronously may show up one call later. Flush each commit.
    with closing(pg.psycopg(db)) as conn, conn.cursor() as cur:
        cur.execute("SET synchronous_commit = on")
        cur.execute(sql, params)
        return cur.fetchall() if cur.description else None


def sync(con, dsn, table="shop.orders", target="lake.raw.orders", **opts):
    args = "".join(f", {k} := {v}" for k, v in opts.items())
    cur = con.execute(f"SELECT * FROM pg_sync('{dsn}', '{table}', target := '{target}', method := 'cdc'{args})")
    return dict(zip([d[0] for d in cur.description], cur.fetchone()))


def assert_same(con, dsn, target="lake.raw.orders", table="orders", columns="id, note, amount, big", key="id"):
    """Target == source both ways, read through DuckDB's postgres extension (not through lakemig)."""
    src = f"(SELECT {columns} FROM postgres_scan('{dsn}', 'shop', '{table}'))"
    dst = f"(SELECT {columns} FROM {target})"
    only_src = con.execute(f"SELECT count(*) FROM ({src} EXCEPT ALL {dst})").fetchone()[0]
    only_dst = con.execute(f"SELECT count(*) FROM ({dst} EXCEPT ALL {src})").fetchone()[0]
    assert (only_src, only_dst) == (0, 0), f"{only_src} rows only in the source, {only_dst} only in the target"
    n = con.execute(f"SELECT count(*), count(DISTINCT ({key})) FROM {target}").fetchone()
    assert n[0] == n[1], "duplicate keys in the target"


def assert_rows_total(con, target="lake.raw.orders", key='"raw"."orders"'):
    """The checkpoint's rows_total is the target's row count (lakemig adds up what each call's
    statements inserted and deleted instead of counting again)."""
    (total,), = con.execute("SELECT rows_total FROM pg_sync_state() WHERE target = ?", [key]).fetchall()
    assert total == con.execute(f"SELECT count(*) FROM {target}").fetchone()[0]


def slots(pg, db):
    return pg_exec(pg, db, "SELECT slot_name, confirmed_flush_lsn::text FROM pg_replication_slots "
                           "WHERE database = current_database() ORDER BY 1")


def publications(pg, db):
    return [r[0] for r in pg_exec(pg, db, "SELECT pubname FROM pg_publication ORDER BY 1")]


@pytest.mark.parametrize("catalog", ["ducklake", "duckdb"])
def test_every_change_kind(pg, pgdb, tmp_path, monkeypatch, catalog):
    """Into DuckLake (every part staged) and into a DuckDB file (direct parts: each key's first
    write goes straight into the target; TOASTed values left unchanged switch to staged parts)."""
    pg_exec(pg, pgdb, SCHEMA)
    pg_exec(pg, pgdb, f"UPDATE shop.orders SET big = {BIG} WHERE id <= 3")
    dsn = pg.dsn(pgdb)
    con = duckdb_connect(extensions=("postgres_scanner", "ducklake"))
    if catalog == "ducklake":
        con.execute(f"ATTACH 'ducklake:{tmp_path}/lake.sqlite' AS lake (DATA_PATH '{tmp_path}/data')")
    else:
        con.execute(f"ATTACH '{tmp_path}/lake.duckdb' AS lake")

    r = sync(con, dsn)
    assert (r["mode"], r["rows_upserted"]) == ("bootstrap", 200)
    assert r["watermark_bound"].startswith("slot lakemig_") and "bytes of WAL" in r["watermark_bound"]
    (slot, _), = slots(pg, pgdb)
    assert publications(pg, pgdb) == [slot]
    assert_same(con, dsn)
    assert_rows_total(con)

    # A second slot with test_decoding (text output) shows that PostgreSQL really leaves the
    # TOASTed value out of the stream below ("unchanged-toast-datum"), so the test can fail.
    pg_exec(pg, pgdb, "SELECT pg_create_logical_replication_slot('witness', 'test_decoding')")

    # Every kind of change, in several transactions.
    pg_exec(pg, pgdb, "INSERT INTO shop.orders SELECT g, 'new', 1, NULL FROM generate_series(201, 210) g")
    pg_exec(pg, pgdb, "UPDATE shop.orders SET note = 'upd' WHERE id BETWEEN 10 AND 19")
    pg_exec(pg, pgdb, "DELETE FROM shop.orders WHERE id BETWEEN 20 AND 24")          # hard deletes
    pg_exec(pg, pgdb, "UPDATE shop.orders SET id = 1000 WHERE id = 30")              # a key change
    pg_exec(pg, pgdb, "UPDATE shop.orders SET note = 'toast kept' WHERE id = 1")     # big left unchanged
    pg_exec(pg, pgdb, "UPDATE shop.orders SET amount = 7 WHERE id = 1")              # ...twice in a row
    pg_exec(pg, pgdb, "UPDATE shop.orders SET id = 2000, note = 'moved' WHERE id = 2")  # key change, big unchanged
    pg_exec(pg, pgdb, "INSERT INTO shop.orders VALUES (20, 'back', 2, NULL)")         # a deleted key returns
    (witness,), = pg_exec(pg, pgdb, "SELECT string_agg(data, E'\\n') FROM pg_logical_slot_get_changes('witness', NULL, NULL)")
    pg_exec(pg, pgdb, "SELECT pg_drop_replication_slot('witness')")
    assert witness.count("big[text]:unchanged-toast-datum") == 3, witness  # id 1 twice, the key change of id 2
    r = sync(con, dsn)
    assert r["mode"] == "cdc"
    assert_same(con, dsn)
    assert_rows_total(con)
    assert (r["rows_upserted"], r["rows_deleted"]) == (10 + 10 + 1 + 2 + 1 + 1, 5)
    bigs = con.execute("SELECT id, length(big) FROM lake.raw.orders WHERE id IN (1, 2000, 3) ORDER BY id").fetchall()
    assert bigs == [(1, 6400), (3, 6400), (2000, 6400)]

    # Right after: nothing to apply.
    r = sync(con, dsn)
    assert (r["rows_upserted"], r["rows_deleted"], r["watermark_before"]) == (0, 0, r["watermark_after"])
    assert_rows_total(con)

    # TRUNCATE, then rows again; an added column.
    pg_exec(pg, pgdb, "TRUNCATE shop.orders")
    pg_exec(pg, pgdb, "INSERT INTO shop.orders SELECT g, 'again', g, NULL FROM generate_series(1, 20) g")
    pg_exec(pg, pgdb, "ALTER TABLE shop.orders ADD COLUMN region text")
    pg_exec(pg, pgdb, "UPDATE shop.orders SET region = 'eu' WHERE id <= 5")
    r = sync(con, dsn)
    assert r["columns_added"] == ["region"]
    assert_same(con, dsn, columns="id, note, amount, big, region")
    assert_rows_total(con)

    # pg_sync_state shows the slot and the LSN; pg_sync_drop (password from the environment) removes
    # the slot, lakemig's publication and the checkpoint.
    state = con.execute("SELECT cursor, watermark, watermark_type, last_mode FROM pg_sync_state()").fetchall()
    assert state == [(f"cdc:slot={slot};publication={slot}", r["watermark_after"], "pg_lsn", "cdc")]
    monkeypatch.setenv("PGPASSWORD", pg.password)
    d = con.execute("SELECT * FROM pg_sync_drop('lake.raw.orders')").fetchall()
    assert d == [("lake.raw.orders", slot, True, slot, True, True)]
    assert slots(pg, pgdb) == [] and publications(pg, pgdb) == []
    assert con.execute("SELECT count(*) FROM pg_sync_state()").fetchone()[0] == 0


def test_keys_changed_many_times_in_one_call(pg, pgdb):
    """Per key only its last change lands, however the key went within one call: updated again and
    again, deleted and inserted back, deleted last, moved to another key and back, moved onto a key
    that was just deleted; a composite key too. Rows nobody touched twice go in as they are."""
    pg_exec(pg, pgdb, SCHEMA)
    dsn = pg.dsn(pgdb)
    con = duckdb_connect(extensions=("postgres_scanner",))
    sync(con, dsn, target="orders")
    sync(con, dsn, table="shop.items", target="items")
    # Only rows changed once: no key repeats (the apply needs no filter).
    pg_exec(pg, pgdb, "UPDATE shop.orders SET note = 'once' WHERE id BETWEEN 100 AND 120")
    pg_exec(pg, pgdb, "DELETE FROM shop.orders WHERE id BETWEEN 121 AND 125")
    r = sync(con, dsn, target="orders")
    assert (r["rows_upserted"], r["rows_deleted"]) == (21, 5)
    assert_same(con, dsn, target="orders")
    pg_exec(pg, pgdb, """
        UPDATE shop.orders SET note = 'a' WHERE id = 10;
        UPDATE shop.orders SET note = 'b' WHERE id = 10;
        UPDATE shop.orders SET amount = 3 WHERE id = 10;
        DELETE FROM shop.orders WHERE id = 11;
        INSERT INTO shop.orders VALUES (11, 'back', 1, NULL);
        UPDATE shop.orders SET note = 'gone soon' WHERE id = 12;
        DELETE FROM shop.orders WHERE id = 12;
        UPDATE shop.orders SET id = 5000 WHERE id = 13;
        UPDATE shop.orders SET note = 'moved' WHERE id = 5000;
        UPDATE shop.orders SET id = 13 WHERE id = 5000;
        DELETE FROM shop.orders WHERE id = 15;
        UPDATE shop.orders SET id = 15, note = 'took 15' WHERE id = 14;
        INSERT INTO shop.orders VALUES (6000, 'new', 1, NULL);
        UPDATE shop.orders SET note = 'newer' WHERE id = 6000;
        UPDATE shop.items SET qty = 0 WHERE order_id = 3 AND line = 1;
        UPDATE shop.items SET qty = 9 WHERE order_id = 3 AND line = 1;
        UPDATE shop.items SET line = 2 WHERE order_id = 4 AND line = 1;
        INSERT INTO shop.items VALUES (4, 1, 44);
    """)
    r = sync(con, dsn, target="orders")
    assert r["mode"] == "cdc"
    assert_same(con, dsn, target="orders")
    assert con.execute("SELECT note FROM orders WHERE id IN (10, 11, 13, 15, 6000) ORDER BY id").fetchall() == \
        [("b",), ("back",), ("moved",), ("took 15",), ("newer",)]
    assert con.execute("SELECT count(*) FROM orders WHERE id IN (12, 14, 5000)").fetchone()[0] == 0
    assert_rows_total(con, "orders", '"main"."orders"')
    sync(con, dsn, table="shop.items", target="items")
    assert_same(con, dsn, target="items", table="items", columns="order_id, line, qty", key="order_id, line")
    # Thousands of later changes of keys written first in the same call (into DuckDB, these are the
    # rows staged beside the first writes, in many batches).
    pg_exec(pg, pgdb, """
        INSERT INTO shop.orders SELECT g, 'bulk', g, NULL FROM generate_series(10001, 13000) g;
        UPDATE shop.orders SET note = 'bulk again' WHERE id > 10000;
        DELETE FROM shop.orders WHERE id > 10000 AND id % 2 = 0;
        UPDATE shop.orders SET amount = amount + 1 WHERE id > 10000 AND id % 3 = 0;
    """)
    r = sync(con, dsn, target="orders")
    assert (r["rows_upserted"], r["rows_deleted"]) == (3000 + 3000 + 500, 1500)
    assert_same(con, dsn, target="orders")
    assert_rows_total(con, "orders", '"main"."orders"')


def test_a_column_named_rowid_keeps_the_staged_apply(pg, pgdb):
    """Into DuckDB a part's first writes go straight into the target, told apart from older rows
    by DuckDB's `rowid`; a column of that name would shadow it, so such a table is staged."""
    pg_exec(pg, pgdb, "CREATE SCHEMA shop; CREATE TABLE shop.r (id int PRIMARY KEY, rowid int, v text); "
                      "INSERT INTO shop.r SELECT g, 1000 - g, 'v' || g FROM generate_series(1, 200) g")
    dsn = pg.dsn(pgdb)
    con = duckdb_connect(extensions=("postgres_scanner",))
    sync(con, dsn, table="shop.r", target="r")
    pg_exec(pg, pgdb, """
        UPDATE shop.r SET v = 'u' WHERE id <= 50;
        UPDATE shop.r SET v = 'uu' WHERE id <= 10;
        DELETE FROM shop.r WHERE id BETWEEN 60 AND 70;
        INSERT INTO shop.r SELECT g, g, 'n' FROM generate_series(201, 230) g;
    """)
    r = sync(con, dsn, table="shop.r", target="r")
    assert (r["rows_upserted"], r["rows_deleted"]) == (50 + 10 + 30, 11)
    assert_same(con, dsn, target="r", table="r", columns='id, "rowid", v')
    assert_rows_total(con, "r", '"main"."r"')


def test_one_transaction_over_two_tables(pg, pgdb):
    pg_exec(pg, pgdb, SCHEMA)
    dsn = pg.dsn(pgdb)
    con = duckdb_connect(extensions=("postgres_scanner",))
    sync(con, dsn, target="orders")
    sync(con, dsn, table="shop.items", target="items")
    pg_exec(pg, pgdb, """
        BEGIN;
        DELETE FROM shop.items WHERE order_id = 7;
        DELETE FROM shop.orders WHERE id = 7;
        INSERT INTO shop.orders VALUES (300, 'x', 1, NULL);
        INSERT INTO shop.items VALUES (300, 1, 5), (300, 2, 6);
        UPDATE shop.items SET qty = qty + 1 WHERE order_id = 8;
        COMMIT;
    """)
    a = sync(con, dsn, target="orders")
    b = sync(con, dsn, table="shop.items", target="items")
    assert (a["rows_upserted"], a["rows_deleted"]) == (1, 1)
    assert (b["rows_upserted"], b["rows_deleted"]) == (3, 1)
    assert_same(con, dsn, target="orders")
    assert_same(con, dsn, target="items", table="items", columns="order_id, line, qty", key="order_id, line")
    # Each target has its own slot: two slots.
    assert len(slots(pg, pgdb)) == 2
    for t in ("orders", "items"):
        con.execute(f"SELECT * FROM pg_sync_drop('{t}', dsn := '{dsn}')").fetchall()
    assert slots(pg, pgdb) == []


CHILD = """
import json, sys
sys.path.insert(0, {test!r})
from conftest import duckdb_connect
con = duckdb_connect({db!r})
cur = con.execute({sql!r})
print(json.dumps([[d[0] for d in cur.description]] + [list(r) for r in cur.fetchall()], default=str), flush=True)
"""


def child_run(db, sql, env=None):
    """Run `sql` in a DuckDB process of its own, with `env` added to the environment: its rows as
    dicts, and what it wrote on stderr."""
    code = CHILD.format(test=os.path.join(ROOT, "test"), db=db, sql=sql)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, **(env or {})))
    assert out.returncode == 0, out.stderr[-2000:]
    names, *rows = json.loads(out.stdout)
    return [dict(zip(names, r)) for r in rows], out.stderr


def child(db, sql, pause=None, tmp_path=None, while_paused=None):
    """Run `sql` in a DuckDB process of its own: its rows as dicts; with `pause`, SIGKILL it at that
    point (LAKEMIG_TEST_PAUSE) instead, after calling `while_paused`."""
    if not pause:
        return child_run(db, sql)[0]
    code = CHILD.format(test=os.path.join(ROOT, "test"), db=db, sql=sql)
    flag = str(tmp_path / f"{pause}.flag")
    env = dict(os.environ, LAKEMIG_TEST_PAUSE=f"{pause}:{flag}")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 60
    while not os.path.exists(flag) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert os.path.exists(flag), "the child never reached the pause point"
    if while_paused:
        while_paused()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    return None


def run_child(pg, pgdb, db, pause=None, tmp_path=None):
    sql = f"SELECT * FROM pg_sync('{pg.dsn(pgdb)}', 'shop.orders', target := 'orders', method := 'cdc')"
    rows = child(db, sql, pause, tmp_path)
    return rows[0] if rows else None


def check_same(pg, pgdb, db):
    # Without lakemig (whose own connection would keep the file locked until this process ends).
    con = duckenv.connect(db, extensions=("postgres_scanner",))
    try:
        assert_same(con, pg.dsn(pgdb), target="orders")
    finally:
        con.close()


def test_sigkill_before_commit_and_before_advance(pg, pgdb, tmp_path):
    pg_exec(pg, pgdb, SCHEMA)
    db = str(tmp_path / "t.duckdb")
    assert run_child(pg, pgdb, db)["mode"] == "bootstrap"
    (slot, lsn0), = slots(pg, pgdb)

    # Killed before its DuckDB commit: nothing applied, the slot untouched; the rerun applies it all.
    pg_exec(pg, pgdb, "UPDATE shop.orders SET note = 'a' WHERE id <= 50; DELETE FROM shop.orders WHERE id > 190")
    run_child(pg, pgdb, db, "before_commit", tmp_path)
    assert slots(pg, pgdb) == [(slot, lsn0)]
    r = run_child(pg, pgdb, db)
    assert (r["rows_upserted"], r["rows_deleted"]) == (50, 10)
    check_same(pg, pgdb, db)

    # Killed after the commit, before the advance: the slot still holds those changes, and the rerun
    # skips them by their commit LSN (the inserts would otherwise come back as duplicates).
    pg_exec(pg, pgdb, "INSERT INTO shop.orders SELECT g, 'b', 1, NULL FROM generate_series(500, 529) g")
    lsn1 = slots(pg, pgdb)[0][1]
    run_child(pg, pgdb, db, "before_advance", tmp_path)
    assert slots(pg, pgdb) == [(slot, lsn1)], "the slot was not advanced"
    check_same(pg, pgdb, db)
    r = run_child(pg, pgdb, db)
    assert (r["rows_upserted"], r["rows_deleted"]) == (0, 0)
    assert slots(pg, pgdb)[0][1] != lsn1, "the rerun advanced the slot"
    check_same(pg, pgdb, db)


def test_a_wal_the_commit_would_checkpoint_is_checkpointed_while_the_slot_is_read(pg, pgdb, tmp_path):
    """A process that loaded lakemig leaves its WAL to the next one (lakemig's own connection keeps
    the database open). A call whose commit would checkpoint that WAL (it holds
    checkpoint_threshold) checkpoints it while PostgreSQL decodes, before its own transaction; one
    whose WAL is below the threshold does not."""
    pg_exec(pg, pgdb, SCHEMA)
    db = str(tmp_path / "t.duckdb")
    wal = pathlib.Path(db + ".wal")
    call = f"SELECT * FROM pg_sync('{pg.dsn(pgdb)}', 'shop.orders', target := 'orders', method := 'cdc')"

    def traced(sql):
        rows, err = child_run(db, sql, env={"LAKEMIG_TRACE": "1"})
        return rows[0], err

    assert traced(call)[0]["mode"] == "bootstrap"
    left = wal.stat().st_size
    assert left > 1000, "the bootstrap's process left no WAL"
    pg_exec(pg, pgdb, "UPDATE shop.orders SET note = 'w' WHERE id <= 20; DELETE FROM shop.orders WHERE id > 195")
    # Below the default threshold (16 MiB): the commit would not checkpoint, and neither does the call.
    row, err = traced(call)
    assert (row["rows_upserted"], row["rows_deleted"]) == (20, 5)
    assert "checkpointed the WAL" not in err
    assert wal.stat().st_size > left
    # At the threshold: checkpointed before the sync's transaction, and the sync is whole.
    pg_exec(pg, pgdb, "UPDATE shop.orders SET note = 'x' WHERE id BETWEEN 21 AND 40; DELETE FROM shop.orders WHERE id <= 3")
    row, err = traced(f"SET checkpoint_threshold = '{wal.stat().st_size // 2} bytes'; {call}")
    assert (row["rows_upserted"], row["rows_deleted"]) == (20, 3)
    assert "checkpointed the WAL: true" in err, err
    check_same(pg, pgdb, db)


def test_a_kept_target_is_vacuumed_once_it_stores_twice_its_rows(pg, pgdb, tmp_path):
    """Each update or delete leaves the target's old row stored until DuckDB vacuums it, which only
    a full checkpoint does, and DuckDB runs one only when nothing committed since the oldest open
    transaction began: the pg_sync query's own is open for the whole call. A call finding its
    target storing more than twice the rows it holds rolls its reads back instead of committing
    them, so the checkpoint it then runs is a full one. Before, every call's checkpoint was a
    concurrent one, and the stored rows only grew."""
    n = 125_000
    pg_exec(pg, pgdb, "CREATE SCHEMA shop; CREATE TABLE shop.orders (id bigint PRIMARY KEY, note text); "
                      f"INSERT INTO shop.orders SELECT g, 'n' || g FROM generate_series(1, {n}) g")
    db = str(tmp_path / "t.duckdb")
    call = f"SELECT * FROM pg_sync('{pg.dsn(pgdb)}', 'shop.orders', target := 'orders', method := 'cdc')"

    def stored():
        rows, _ = child_run(db, "SELECT estimated_size AS n FROM duckdb_tables() WHERE table_name = 'orders'")
        return rows[0]["n"]

    assert child_run(db, call)[0][0]["mode"] == "bootstrap"
    seen = []
    for i in range(3):
        pg_exec(pg, pgdb, f"UPDATE shop.orders SET note = 'u{i}'")
        rows, err = child_run(db, call, env={"LAKEMIG_TRACE": "1"})
        assert rows[0]["rows_upserted"] == n
        seen.append((stored(), "(vacuum: true)" in err))
    # n, then 2n stored at the start of the first two calls: not more than twice n, no vacuum. The
    # third found 3n, vacuumed the 2n old rows away, then added its n.
    assert seen[:2] == [(2 * n, False), (3 * n, False)], seen
    assert seen[2][1] and seen[2][0] <= 2 * n, seen
    check_same_columns = "id, note"
    con = duckenv.connect(db, extensions=("postgres_scanner",))
    try:
        assert_same(con, pg.dsn(pgdb), target="orders", columns=check_same_columns)
    finally:
        con.close()


def test_refusals_change_nothing(pg, pgdb):
    import psycopg2
    from psycopg2.extras import LogicalReplicationConnection

    pg_exec(pg, pgdb, SCHEMA + """
        CREATE TABLE shop.nokey (a int, b text);
        CREATE PUBLICATION other FOR TABLE shop.items;
        CREATE ROLE norep LOGIN PASSWORD 'pw';
        GRANT USAGE ON SCHEMA shop TO norep; GRANT SELECT ON ALL TABLES IN SCHEMA shop TO norep;
    """)
    dsn = pg.dsn(pgdb)
    con = duckdb_connect()

    def refused(match, **kw):
        with pytest.raises(Exception, match=match):
            sync(con, kw.pop("dsn", dsn), target="t", **kw)

    refused(r"no primary key.*REPLICA IDENTITY FULL", table="shop.nokey")
    refused(r'publication "other" does not include table "shop"."orders"', publication="'other'")
    refused(r"publication \"nope\" does not exist", publication="'nope'")
    norep = f"host={pg.host} port={pg.port} dbname={pgdb} user=norep password=pw sslmode=disable"
    refused(r'role "norep" cannot use replication slots.*ALTER ROLE "norep" REPLICATION', dsn=norep)
    refused(r"method \"log\" is unknown", method="'log'")
    refused(r'"shop"."nope"', table="shop.nope")
    # The many-tables form: the user's publication lacks one of the tables.
    with pytest.raises(Exception, match=r'publication "other" does not include table "shop"."orders".*'
                                        r'ALTER PUBLICATION "other" ADD TABLE "shop"."orders"'):
        con.execute(f"SELECT * FROM pg_sync_tables('{dsn}', tables := ['shop.items', 'shop.orders'], "
                    f"target := 'many', method := 'cdc', publication := 'other')").fetchall()
    assert slots(pg, pgdb) == [] and publications(pg, pgdb) == ["other"]
    # Nothing in DuckDB either: no target, no checkpoint table, no schema.
    assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 't' "
                       "OR schema_name IN ('lakemig_sync_state', 'many')").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM duckdb_schemas() WHERE schema_name = 'many'").fetchone()[0] == 0

    # REPLICA IDENTITY FULL and a named key: accepted.
    pg_exec(pg, pgdb, "ALTER TABLE shop.nokey REPLICA IDENTITY FULL; INSERT INTO shop.nokey VALUES (1, 'x')")
    assert sync(con, dsn, table="shop.nokey", target="nk", primary_key="['a']")["rows_upserted"] == 1
    pg_exec(pg, pgdb, "UPDATE shop.nokey SET a = 2; INSERT INTO shop.nokey VALUES (3, 'y')")
    sync(con, dsn, table="shop.nokey", target="nk", primary_key="['a']")
    assert con.execute("SELECT * FROM nk ORDER BY a").fetchall() == [(2, "x"), (3, "y")]

    # A slot another process is reading.
    (slot, _), = slots(pg, pgdb)
    rep = psycopg2.connect(host=pg.host, port=pg.port, user=pg.user, password=pg.password, dbname=pgdb,
                           sslmode="disable", connection_factory=LogicalReplicationConnection)
    try:
        cur = rep.cursor()
        cur.start_replication(slot_name=slot, decode=False,
                              options={"proto_version": "1", "publication_names": slot})
        deadline = time.time() + 10
        while time.time() < deadline and not pg_exec(
                pg, pgdb, "SELECT active FROM pg_replication_slots WHERE slot_name = %s", (slot,))[0][0]:
            time.sleep(0.02)
        with pytest.raises(Exception, match=r"replication slot lakemig_\w+ is in use by another process"):
            sync(con, dsn, table="shop.nokey", target="nk", primary_key="['a']")
    finally:
        rep.close()

    # No free slot: the rest taken by physical slots.
    free = pg_exec(pg, pgdb, "SELECT current_setting('max_replication_slots')::int - count(*) "
                             "FROM pg_replication_slots")[0][0]
    for i in range(free):
        pg_exec(pg, pgdb, f"SELECT pg_create_physical_replication_slot('filler_{i}')")
    try:
        refused(r"no free replication slot.*max_replication_slots")
    finally:
        for i in range(free):
            pg_exec(pg, pgdb, f"SELECT pg_drop_replication_slot('filler_{i}')")
    con.execute(f"SELECT * FROM pg_sync_drop('nk', dsn := '{dsn}')").fetchall()
    assert slots(pg, pgdb) == [] and publications(pg, pgdb) == ["other"]


def test_a_refused_later_call_takes_its_peek_back(pg, pgdb):
    """A later call sends its peek before its checks, so PostgreSQL decodes while they run. A call
    refused by a check cancels that peek before it returns: the slot is free at once, not only
    when the server's decode of the backlog ends, and the next call runs."""
    pg_exec(pg, pgdb, SCHEMA + "CREATE PUBLICATION other FOR TABLE shop.items;")
    dsn = pg.dsn(pgdb)
    con = duckdb_connect(extensions=("postgres_scanner",))
    sync(con, dsn, target="t")
    (slot, _), = slots(pg, pgdb)
    # A backlog the server takes a while to decode.
    pg_exec(pg, pgdb, "INSERT INTO shop.orders SELECT g, 'b', 1, NULL FROM generate_series(1001, 301000) g")
    with pytest.raises(Exception, match=r'publication "other" does not include table "shop"."orders"'):
        sync(con, dsn, target="t", publication="'other'")
    assert pg_exec(pg, pgdb, "SELECT active_pid FROM pg_replication_slots WHERE slot_name = %s",
                   (slot,)) == [(None,)]
    assert pg_exec(pg, pgdb, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE %s AND pid <> pg_backend_pid()",
                   ("%pg_logical_slot_peek_binary_changes%",)) == [(0,)]
    assert sync(con, dsn, target="t")["rows_upserted"] == 300000
    assert_same(con, dsn, target="t")
    # Another source into the same target: refused before anything is made on the server (lakemig's
    # publication does not gain the table).
    with pytest.raises(Exception, match=r'target "memory"."main"."t" is kept in step with shop.orders .*'
                                        r'not shop.items; choose another target'):
        sync(con, dsn, table="shop.items", target="t")
    # Named without its schema, it is compared once the server resolved it: still refused, and
    # still not published.
    pg_exec(pg, pgdb, "CREATE TABLE public.orders (id int PRIMARY KEY); INSERT INTO public.orders VALUES (1)")
    with pytest.raises(Exception, match=r'target "memory"."main"."t" is kept in step with shop.orders .*'
                                        r'not public.orders; choose another target'):
        sync(con, dsn, table="orders", target="t")
    assert pg_exec(pg, pgdb, "SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = %s",
                   (slot,)) == [("shop", "orders")]
    con.execute(f"SELECT * FROM pg_sync_drop('t', dsn := '{dsn}')").fetchall()
    assert slots(pg, pgdb) == []


def test_wal_level_not_logical_is_refused():
    with pgcluster.Cluster(settings={"wal_level": "replica"}) as other:
        other.create_database("app")
        pg_exec(other, "app", SCHEMA)
        con = duckdb_connect()
        with pytest.raises(Exception, match=r"runs with wal_level = replica; logical replication needs "
                                            r"wal_level = logical.*nothing was changed") as e:
            sync(con, other.dsn("app"), target="t")
        assert other.password not in str(e.value)
        assert con.execute("SELECT count(*) FROM duckdb_tables()").fetchone()[0] == 0
        assert publications(other, "app") == []


def test_state_shows_the_slot_and_the_wal_it_keeps(pg, pgdb):
    pg_exec(pg, pgdb, SCHEMA)
    dsn = pg.dsn(pgdb)
    con = duckdb_connect()
    sync(con, dsn, target="o")
    (slot, _), = slots(pg, pgdb)

    def state(args=""):
        return con.execute(f"SELECT slot, slot_status, retained_wal_bytes FROM pg_sync_state({args})").fetchall()

    # Without dsn nothing connects: the slot's name only.
    assert state() == [(slot, None, None)]
    (_, status, kept), = state(f"dsn := '{dsn}'")
    assert status == "idle" and kept >= 0
    # Changes the target has not taken yet: the slot keeps their WAL.
    pg_exec(pg, pgdb, "UPDATE shop.orders SET note = repeat('x', 2000)")
    (_, status, more), = state(f"dsn := '{dsn}'")
    assert status == "idle" and more > kept
    # A slot dropped by hand shows as missing (the next call copies the table again).
    pg_exec(pg, pgdb, f"SELECT pg_drop_replication_slot('{slot}')")
    assert state(f"dsn := '{dsn}'") == [(slot, "missing", None)]
    # A wrong password: a clear error, the password never shown.
    bad = dsn.replace(pg.password, "not-the-password")
    with pytest.raises(Exception, match=r"pg_sync_state.*password authentication failed") as e:
        state(f"dsn := '{bad}'")
    assert "not-the-password" not in str(e.value) and pg.password not in str(e.value)
    con.execute(f"SELECT * FROM pg_sync_drop('o', dsn := '{dsn}')").fetchall()
    assert state() == [] and publications(pg, pgdb) == []


def test_stream_over_tls_confirms_past_other_tables(pg, pgdb, tmp_path):
    """The slot is confirmed up to where the call read it, past other tables' WAL, so it does not
    keep that WAL while its own tables are quiet; and a CDC call's connections use TLS when sslmode
    asks for it."""
    pg_exec(pg, pgdb, SCHEMA)
    db = str(tmp_path / "t.duckdb")
    dsn = pg.dsn(pgdb, sslmode="require")
    sql = f"SELECT * FROM pg_sync('{dsn}', 'shop.orders', target := 'orders', method := 'cdc')"
    assert child(db, sql)[0]["mode"] == "bootstrap"
    (slot, _), = slots(pg, pgdb)
    # Changes to a table outside the publication only: nothing to apply, the slot still moves.
    pg_exec(pg, pgdb, "CREATE TABLE shop.noise AS SELECT g, repeat('n', 500) AS pad FROM generate_series(1, 20000) g")
    (flushed,), = pg_exec(pg, pgdb, "SELECT pg_current_wal_flush_lsn()::text")
    out = child(db, sql)[0]
    assert (out["mode"], out["rows_upserted"], out["rows_deleted"]) == ("cdc", 0, 0)
    (confirmed_past,), = pg_exec(pg, pgdb, f"SELECT confirmed_flush_lsn >= '{flushed}'::pg_lsn "
                                           f"FROM pg_replication_slots WHERE slot_name = '{slot}'")
    assert confirmed_past
    # Its own table's changes among others'; while the call runs, its connections are over TLS.
    pg_exec(pg, pgdb, "INSERT INTO shop.noise SELECT g, 'm' FROM generate_series(1, 5000) g; "
                      "UPDATE shop.orders SET note = 'tls' WHERE id <= 10; DELETE FROM shop.orders WHERE id = 200")
    seen = []
    child(db, sql, "before_commit", tmp_path, while_paused=lambda: seen.extend(pg_exec(
        pg, pgdb, "SELECT DISTINCT s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) "
                  "WHERE a.application_name LIKE 'lakemig%%' AND a.datname = current_database()")))
    assert seen == [(True,)]
    # Every connection of the next call, the peek's own and the confirm's too, is over TLS.
    pg_exec(pg, pgdb, "ALTER SYSTEM SET log_connections = on")
    pg_exec(pg, pgdb, "SELECT pg_reload_conf()")
    try:
        logged = len(server_log(pg))
        out = child(db, sql)[0]
        authorized = [line for line in server_log(pg)[logged:].splitlines()
                      if "connection authorized" in line and "application_name=lakemig" in line]
    finally:
        pg_exec(pg, pgdb, "ALTER SYSTEM RESET log_connections")
        pg_exec(pg, pgdb, "SELECT pg_reload_conf()")
    assert len(authorized) >= 3, authorized  # the sync's, the peek's, the confirm's
    assert all("SSL enabled" in line for line in authorized), authorized
    assert (out["mode"], out["rows_upserted"], out["rows_deleted"]) == ("cdc", 10, 1)
    check_same(pg, pgdb, db)
    child(db, f"SELECT * FROM pg_sync_drop('orders', dsn := '{dsn}')")
    assert slots(pg, pgdb) == []


def test_stream_over_a_unix_socket(pg, pgdb, tmp_path):
    """A DSN naming the server's socket directory: the sync's connection, the peek's own and the
    confirm's all go through the socket, and the changes arrive."""
    pg_exec(pg, pgdb, SCHEMA)
    db = str(tmp_path / "t.duckdb")
    dsn = pg.dsn(pgdb, host=pg.root)
    sql = f"SELECT * FROM pg_sync('{dsn}', 'shop.orders', target := 'orders', method := 'cdc')"
    assert child(db, sql)[0]["mode"] == "bootstrap"
    pg_exec(pg, pgdb, "UPDATE shop.orders SET note = 'socket' WHERE id <= 7; DELETE FROM shop.orders WHERE id = 100")
    (flushed,), = pg_exec(pg, pgdb, "SELECT pg_current_wal_flush_lsn()::text")
    out = child(db, sql)[0]
    assert (out["mode"], out["rows_upserted"], out["rows_deleted"]) == ("cdc", 7, 1)
    check_same(pg, pgdb, db)
    (slot, _), = slots(pg, pgdb)
    (past,), = pg_exec(pg, pgdb, f"SELECT confirmed_flush_lsn >= '{flushed}'::pg_lsn "
                                 f"FROM pg_replication_slots WHERE slot_name = '{slot}'")
    assert past
    child(db, f"SELECT * FROM pg_sync_drop('orders', dsn := '{dsn}')")
    assert slots(pg, pgdb) == []


def server_log(pg):
    with open(os.path.join(pg.root, "server.log"), errors="replace") as f:
        return f.read()


def confirmed_each_call(pg, db_name, tmp_path, dsn):
    """Three CDC calls of shop.orders (a bootstrap, then two with changes); after each with changes
    the slot is confirmed past the server's flushed position taken before it, is not held, and the
    target equals the source. Yields the slot after each call (the bootstrap's too), for the
    caller's checks."""
    db = str(tmp_path / "t.duckdb")
    sql = f"SELECT * FROM pg_sync('{dsn}', 'shop.orders', target := 'orders', method := 'cdc')"
    assert child(db, sql)[0]["mode"] == "bootstrap"
    (slot, _), = slots(pg, db_name)
    yield slot
    for note in ("one", "two"):
        pg_exec(pg, db_name, f"UPDATE shop.orders SET note = '{note}' WHERE id <= 5; "
                             f"DELETE FROM shop.orders WHERE id = (SELECT max(id) FROM shop.orders)")
        (flushed,), = pg_exec(pg, db_name, "SELECT pg_current_wal_flush_lsn()::text")
        out = child(db, sql)[0]
        assert (out["mode"], out["rows_upserted"], out["rows_deleted"]) == ("cdc", 5, 1)
        (past, active), = pg_exec(pg, db_name, f"SELECT confirmed_flush_lsn >= '{flushed}'::pg_lsn, active "
                                               f"FROM pg_replication_slots WHERE slot_name = '{slot}'")
        assert (past, active) == (True, False)
        check_same(pg, db_name, db)
        yield slot
    child(db, f"SELECT * FROM pg_sync_drop('orders', dsn := '{dsn}')")
    assert slots(pg, db_name) == []


def test_slot_confirmed_on_a_replication_connection(pg, pgdb, tmp_path):
    """After its commit a call confirms the slot with a standby status update on a replication
    connection (here over TLS, with SCRAM), which does not decode the WAL again as
    pg_replication_slot_advance does. The server logs each START_REPLICATION."""
    pg_exec(pg, pgdb, SCHEMA)
    pg_exec(pg, pgdb, "ALTER SYSTEM SET log_replication_commands = on")
    pg_exec(pg, pgdb, "SELECT pg_reload_conf()")
    try:
        calls = confirmed_each_call(pg, pgdb, tmp_path, pg.dsn(pgdb, sslmode="require"))
        slot = next(calls)  # after the bootstrap, which may have confirmed or not
        started = server_log(pg).count(f'replication command: START_REPLICATION SLOT "{slot}"')
        for _ in calls:
            now = server_log(pg).count(f'replication command: START_REPLICATION SLOT "{slot}"')
            assert now == started + 1
            started = now
    finally:
        pg_exec(pg, pgdb, "ALTER SYSTEM RESET log_replication_commands")
        pg_exec(pg, pgdb, "SELECT pg_reload_conf()")


def test_slot_advanced_by_sql_without_walsenders():
    """A server that takes no replication connection (max_wal_senders = 0; a pooler in between is
    the other common case): the call advances the slot by pg_replication_slot_advance instead."""
    with pgcluster.Cluster(settings={"max_wal_senders": "0"}) as other, \
            tempfile.TemporaryDirectory() as tmp:
        other.create_database("app")
        pg_exec(other, "app", SCHEMA)
        for _ in confirmed_each_call(other, "app", pathlib.Path(tmp), other.dsn("app")):
            pass
        assert "exceeds max_wal_senders" in server_log(other)


MANY = """
CREATE TABLE shop.customers (id int PRIMARY KEY, name text);
CREATE TABLE shop.logs (at timestamptz, line text);
INSERT INTO shop.customers SELECT g, 'c' || g FROM generate_series(1, 30) g;
INSERT INTO shop.logs VALUES (now(), 'no key: skipped');
"""

def test_a_kept_table_a_later_call_skips_loses_no_change(pg, pgdb, tmp_path):
    """on_error := 'skip': a table kept through the slot that a later call refuses (its replica
    identity no longer carries its key) is skipped, and the slot is not moved past what its target
    applied: once it can be kept again, the changes made meanwhile are all there. Before, the
    others' advance took them away (the target stayed behind, and said `unchanged`). A call whose
    every table is skipped makes no slot."""
    pg_exec(pg, pgdb, SCHEMA + """
        CREATE TABLE shop.accounts (id int PRIMARY KEY, code text NOT NULL UNIQUE, balance int);
        INSERT INTO shop.accounts SELECT g, 'c' || g, 0 FROM generate_series(1, 20) g;""")
    dsn = pg.dsn(pgdb)
    db = str(tmp_path / "skip.duckdb")

    def call(tables="['shop.accounts', 'shop.orders']"):
        sql = (f"SELECT source, mode, rows_upserted, rows_deleted FROM pg_sync_tables('{dsn}', tables := {tables}, "
               "target := 'raw', method := 'cdc', on_error := 'skip')")
        return {r["source"]: (r["mode"], r["rows_upserted"], r["rows_deleted"]) for r in child(db, sql)}

    # Every table skipped (no key its replica identity carries): no slot, no publication.
    pg_exec(pg, pgdb, "CREATE TABLE shop.nokey (a int, b text)")
    assert call("['shop.nokey']") == {"shop.nokey": ("skipped", 0, 0)}
    assert slots(pg, pgdb) == [] and publications(pg, pgdb) == []

    assert call() == {"shop.accounts": ("bootstrap", 20, 0), "shop.orders": ("bootstrap", 200, 0)}
    pg_exec(pg, pgdb, "ALTER TABLE shop.accounts REPLICA IDENTITY USING INDEX accounts_code_key")
    pg_exec(pg, pgdb, "UPDATE shop.accounts SET balance = balance + 1 WHERE id <= 5; "
                      "INSERT INTO shop.accounts VALUES (100, 'c100', 7); "
                      "UPDATE shop.orders SET note = 'y' WHERE id <= 3")
    r = call()
    assert r == {"shop.accounts": ("skipped", 0, 0), "shop.orders": ("cdc", 3, 0)}, r
    pg_exec(pg, pgdb, "ALTER TABLE shop.accounts REPLICA IDENTITY DEFAULT")
    pg_exec(pg, pgdb, "UPDATE shop.orders SET note = 'z' WHERE id = 4")
    r = call()
    # The accounts' 6 changes from while it was skipped; orders' 3 from then are not applied again.
    assert r == {"shop.accounts": ("cdc", 6, 0), "shop.orders": ("cdc", 1, 0)}, r
    con = duckenv.connect(db, extensions=("postgres_scanner",))
    try:
        assert_same(con, dsn, target="raw.accounts", table="accounts", columns="id, code, balance")
        assert_same(con, dsn, target="raw.orders")
    finally:
        con.close()
    assert call() == {"shop.accounts": ("unchanged", 0, 0), "shop.orders": ("unchanged", 0, 0)}


def test_many_tables_through_one_slot(pg, pgdb, tmp_path):
    pg_exec(pg, pgdb, SCHEMA + MANY)
    dsn = pg.dsn(pgdb)
    db = str(tmp_path / "many.duckdb")

    def call(pause=None):
        sql = (f"SELECT source, mode, rows_upserted, rows_deleted FROM pg_sync_tables('{dsn}', tables := ['shop.*'], "
               "target := 'raw', method := 'cdc', on_error := 'skip')")
        rows = child(db, sql, pause, tmp_path)
        return rows and {r["source"]: (r["mode"], r["rows_upserted"], r["rows_deleted"]) for r in rows}

    def same(*tables):
        con = duckenv.connect(db, extensions=("postgres_scanner",))
        try:
            for t, cols, key in tables:
                assert_same(con, dsn, target=f"raw.{t}", table=t, columns=cols, key=key)
        finally:
            con.close()

    everything = (("orders", "id, note, amount, big", "id"), ("items", "order_id, line, qty", "order_id, line"),
                  ("customers", "id, name", "id"))
    r = call()
    assert r == {"shop.customers": ("bootstrap", 30, 0), "shop.items": ("bootstrap", 50, 0),
                 "shop.logs": ("skipped", 0, 0), "shop.orders": ("bootstrap", 200, 0)}
    (slot, _), = slots(pg, pgdb)
    assert publications(pg, pgdb) == [slot]
    published = pg_exec(pg, pgdb, "SELECT tablename FROM pg_publication_tables WHERE pubname = %s ORDER BY 1", (slot,))
    assert published == [("customers",), ("items",), ("orders",)]
    same(*everything)

    # One transaction over two tables, every change kind, a TRUNCATE; one peek applies them all.
    pg_exec(pg, pgdb, """BEGIN;
        INSERT INTO shop.orders VALUES (300, 'with items', 9, NULL);
        INSERT INTO shop.items VALUES (300, 1, 2), (300, 2, 3);
        COMMIT;""")
    pg_exec(pg, pgdb, "UPDATE shop.items SET qty = qty + 1 WHERE order_id <= 10; DELETE FROM shop.orders WHERE id > 190 AND id < 200")
    pg_exec(pg, pgdb, "TRUNCATE shop.customers; INSERT INTO shop.customers VALUES (1, 'again')")
    r = call()
    assert r["shop.orders"] == ("cdc", 1, 9) and r["shop.items"] == ("cdc", 12, 0)
    assert r["shop.customers"] == ("cdc", 1, 0)
    same(*everything)

    # A table created since: added to the publication, copied, kept from then on; the others unchanged.
    pg_exec(pg, pgdb, "CREATE TABLE shop.added (id int PRIMARY KEY, v int); INSERT INTO shop.added VALUES (1, 1), (2, 2)")
    r = call()
    assert r["shop.added"] == ("bootstrap", 2, 0) and r["shop.orders"] == ("unchanged", 0, 0)
    pg_exec(pg, pgdb, "UPDATE shop.added SET v = 20 WHERE id = 2; INSERT INTO shop.added VALUES (3, 3)")
    # Killed between the commit and the slot's advance: the rerun applies nothing twice.
    call("before_advance")
    r = call()
    assert r["shop.added"] == ("unchanged", 0, 0)
    everything += (("added", "id, v", "id"),)
    same(*everything)
    assert len(slots(pg, pgdb)) == 1

    # pg_sync_drop, one target at a time: the slot stays until its last target goes.
    con = duckdb_connect(db)
    for i, (t, _, _) in enumerate(everything):
        d = con.execute(f"SELECT slot_dropped, publication_dropped FROM pg_sync_drop('raw.{t}', dsn := '{dsn}')").fetchall()
        last = i == len(everything) - 1
        assert d == [(last, last)], (t, d)
        left = pg_exec(pg, pgdb, "SELECT count(*) FROM pg_publication_tables WHERE pubname = %s", (slot,))[0][0]
        assert left == len(everything) - i - 1
    assert slots(pg, pgdb) == [] and publications(pg, pgdb) == []
    con.close()
