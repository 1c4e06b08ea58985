"""pg_incremental_scan against the real thing: every value of a table holding every mapped type is
compared with what DuckDB's postgres extension (postgres_scan) returns, and with PostgreSQL's own text
output where the postgres extension is lossy or maps differently. Also: chunk boundaries, index use on
the server, one snapshot across parallel readers, and a server dying mid-read."""
from __future__ import annotations

import os
import threading
import time
from contextlib import closing

import pytest

from conftest import ROOT, duckdb_connect

FIXTURE = os.path.join(ROOT, "test", "fixtures", "all_types.sql")

# Columns where postgres_scan and lakemig differ on purpose, and what lakemig returns instead:
# compared with PostgreSQL's own text output (psql's rendering) through the given SQL expression.
PG_TEXT = {
    # postgres_scan: DOUBLE (digits lost) and NaN -> 0.0; lakemig: every digit as text.
    "c_num_free": "c_num_free::text",
    "c_num_wide": "c_num_wide::text",
    # postgres_scan: DOUBLE; lakemig: DECIMAL(38,3) chosen from the data (every value fits).
    "c_num_fits": "c_num_fits::numeric(38,3)::text",
    # postgres_scan strips char(n)'s padding; lakemig keeps PostgreSQL's output form ('ab   ').
    "c_char": "c_char",
    # postgres_scan: ENUM; lakemig: the label.
    "c_enum": "c_enum::text",
}


def load_fixture(pg, db):
    with closing(pg.psycopg(db)) as conn, conn.cursor() as cur, open(FIXTURE) as f:
        cur.execute(f.read())


def lakemig_types(con, dsn, table="public.all_types"):
    return dict(con.execute(
        f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM pg_incremental_scan('{dsn}', '{table}'))"
    ).fetchall())


# What pg_incremental_scan declares for each column of test/fixtures/all_types.sql (also checked on
# every other DuckDB release by test_compat.py).
TYPES = {
    "id": "INTEGER", "c_int2": "SMALLINT", "c_int4": "INTEGER", "c_int8": "BIGINT", "c_oid": "UINTEGER",
    "c_float4": "FLOAT", "c_float8": "DOUBLE", "c_num": "DECIMAL(12,2)", "c_num_wide": "VARCHAR",
    "c_num_free": "VARCHAR", "c_num_fits": "DECIMAL(38,3)", "c_bool": "BOOLEAN", "c_text": "VARCHAR",
    "c_varchar": "VARCHAR", "c_char": "VARCHAR", "c_name": "VARCHAR", "c_bytea": "BLOB", "c_date": "DATE",
    "c_time": "TIME", "c_timetz": "TIME WITH TIME ZONE", "c_ts": "TIMESTAMP",
    "c_tstz": "TIMESTAMP WITH TIME ZONE", "c_interval": "INTERVAL", "c_uuid": "UUID", "c_json": "JSON",
    "c_jsonb": "JSON", "c_int_arr": "INTEGER[]", "c_text_arr": "VARCHAR[]", "c_int_2d": "INTEGER[][]",
    "c_enum": "VARCHAR", "c_domain": "INTEGER", "c_inet": "VARCHAR", "c_cidr": "VARCHAR",
    "c_macaddr": "VARCHAR", "c_money": "VARCHAR", "c_bit": "VARCHAR", "c_tsvector": "VARCHAR",
    "c_inet_arr": "VARCHAR[]", "updated_at": "TIMESTAMP WITH TIME ZONE",
}


def test_types_are_exact(pg, pgdb):
    load_fixture(pg, pgdb)
    con = duckdb_connect()
    types = lakemig_types(con, pg.dsn(pgdb))
    assert types == TYPES


def test_every_value_matches_postgres_scan_or_postgres_text(pg, pgdb):
    load_fixture(pg, pgdb)
    dsn = pg.dsn(pgdb)
    con = duckdb_connect(extensions=("postgres_scanner",))
    con.execute("SET TimeZone = 'UTC'")
    cols = list(lakemig_types(con, dsn).keys())
    ours = con.execute(
        f"SELECT {', '.join(f'{c}::VARCHAR' for c in cols)} FROM pg_incremental_scan('{dsn}', 'public.all_types') ORDER BY id"
    ).fetchall()
    ref = con.execute(
        f"SELECT {', '.join(f'{c}::VARCHAR' for c in cols)} FROM postgres_scan('{dsn}', 'public', 'all_types') ORDER BY id"
    ).fetchall()
    with closing(pg.psycopg(pgdb)) as conn, conn.cursor() as cur:
        cur.execute("SET TimeZone = 'UTC'")
        cur.execute(f"SELECT {', '.join(PG_TEXT.values())} FROM public.all_types ORDER BY id")
        pg_text = cur.fetchall()
    assert len(ours) == len(ref) == len(pg_text) == 5
    compared = 0
    mismatches = []
    for r, (mine, theirs, text) in enumerate(zip(ours, ref, pg_text)):
        for i, c in enumerate(cols):
            if c in PG_TEXT:
                want, source = text[list(PG_TEXT).index(c)], "PostgreSQL"
            else:
                want, source = theirs[i], "postgres_scan"
            if mine[i] != want:
                mismatches.append(f"row {r} {c}: lakemig {mine[i]!r} != {source} {want!r}")
            compared += 1
    assert not mismatches, "\n".join(mismatches)
    assert compared == 5 * len(cols)
    # NaN never becomes a number: postgres_scan turns the numeric NaN into 0.0, lakemig keeps it.
    nan = con.execute(
        f"SELECT c_num_free FROM pg_incremental_scan('{dsn}', 'public.all_types') WHERE id = 3").fetchone()
    assert nan == ("NaN",)


@pytest.mark.parametrize("rows", [0, 1, 2047, 2048, 2049, 10_000])
def test_chunk_boundaries(pg, pgdb, rows):
    with closing(pg.psycopg(pgdb)) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id int PRIMARY KEY, s text, a int[], updated_at timestamptz DEFAULT now())")
        cur.execute("INSERT INTO t (id, s, a) SELECT g, repeat('x', g %% 50), ARRAY[g, NULL, g + 1] FROM generate_series(1, %s) g", (rows,))
    con = duckdb_connect()
    got = con.execute(
        f"SELECT count(*), count(DISTINCT id), coalesce(sum(id), 0), coalesce(sum(length(s)), 0), coalesce(sum(len(a)), 0) "
        f"FROM pg_incremental_scan('{pg.dsn(pgdb)}', 't')").fetchone()
    assert got == (rows, rows, rows * (rows + 1) // 2, sum(g % 50 for g in range(1, rows + 1)), 3 * rows)


def test_out_of_range_timestamp_is_a_clear_error(pg, pgdb):
    with closing(pg.psycopg(pgdb)) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE far (id int, ts timestamp)")
        cur.execute("INSERT INTO far VALUES (1, '294276-12-31 00:00:00')")
    con = duckdb_connect()
    with pytest.raises(Exception) as info:
        con.execute(f"SELECT * FROM pg_incremental_scan('{pg.dsn(pgdb)}', 'far')").fetchall()
    msg = str(info.value)
    assert "pg_incremental_scan" in msg and "ts" in msg and "294276" in msg


def test_incremental_read_uses_the_index(pg, pgdb):
    with closing(pg.psycopg(pgdb)) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE big (id bigint PRIMARY KEY, payload text, updated_at timestamptz NOT NULL)")
        cur.execute("INSERT INTO big SELECT g, md5(g::text), TIMESTAMPTZ '2026-01-01' + g * interval '1 second' FROM generate_series(1, 200000) g")
        cur.execute("CREATE INDEX big_updated_at ON big (updated_at)")
        cur.execute("ANALYZE big")
    time.sleep(0.7)  # the statistics collector reports asynchronously

    def scans():
        with closing(pg.psycopg(pgdb)) as conn, conn.cursor() as cur:
            cur.execute("SELECT pg_stat_clear_snapshot()")
            cur.execute("SELECT coalesce(idx_scan, 0), coalesce(seq_scan, 0) FROM pg_stat_user_tables WHERE relname = 'big'")
            return cur.fetchone()

    before = scans()
    con = duckdb_connect()
    # the last 1,000 rows (0.5% of the table)
    n = con.execute(
        f"SELECT count(*), sum(length(payload)) FROM pg_incremental_scan('{pg.dsn(pgdb)}', 'big', since := TIMESTAMPTZ '2026-01-01 00:00:00+00' + INTERVAL 199000 SECOND)").fetchone()
    assert n == (1000, 32000)
    time.sleep(0.7)
    after = scans()
    idx_scan, seq_scan = after[0] - before[0], after[1] - before[1]
    with closing(pg.psycopg(pgdb)) as conn, conn.cursor() as cur:
        # And the plan PostgreSQL makes for lakemig's query shape:
        cur.execute("EXPLAIN SELECT * FROM big WHERE updated_at > '2026-01-03 07:16:40+00'::timestamptz ORDER BY updated_at")
        plan = "\n".join(r[0] for r in cur.fetchall())
    assert "Index Scan using big_updated_at" in plan, plan
    assert idx_scan >= 1 and seq_scan == 0, (idx_scan, seq_scan)


def test_parallel_full_read_sees_one_snapshot(pg, pgdb):
    """Rows moved between the two halves of the table while the read runs are seen exactly once."""
    with closing(pg.psycopg(pgdb)) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE snap (id int PRIMARY KEY, pad text)")
        cur.execute("INSERT INTO snap SELECT g, repeat('p', 400) FROM generate_series(1, 300000) g")
        cur.execute("SELECT pg_relation_size('snap') / 8192")
        assert cur.fetchone()[0] > 8192  # big enough to be split over two connections
    con = duckdb_connect()
    stop = threading.Event()

    def churn():
        with closing(pg.psycopg(pgdb)) as conn, conn.cursor() as cur:
            i = 0
            while not stop.is_set():
                # delete + reinsert moves a row to the end of the heap (the other reader's range)
                cur.execute("BEGIN; DELETE FROM snap WHERE id = %s; INSERT INTO snap VALUES (%s, 'moved'); COMMIT", (i + 1, i + 1))
                i = (i + 1) % 1000

    t = threading.Thread(target=churn)
    t.start()
    try:
        got = con.execute(
            f"SELECT count(*), count(DISTINCT id) FROM pg_incremental_scan('{pg.dsn(pgdb)}', 'snap', max_connections := 2)").fetchone()
    finally:
        stop.set()
        t.join()
    assert got == (300000, 300000)


def test_long_reads_over_tls_and_plain_tcp_agree(pg, pgdb):
    """Reads long enough for bulk socket mode (past the first MB, ending in a tail below the
    low-water mark) return every row and byte, over TLS and plain TCP, on one or two connections."""
    with closing(pg.psycopg(pgdb)) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE long_read (id int, pad text, n numeric(12,2))")
        cur.execute("INSERT INTO long_read SELECT g, repeat(md5(g::text), 1 + g % 7), g / 3.0 "
                    "FROM generate_series(1, 300000) g")
        cur.execute("SELECT count(*), sum(length(pad)), sum(n)::text, pg_relation_size('long_read') FROM long_read")
        rows, chars, total, size = cur.fetchone()
        assert size > 40 * 1024 * 1024  # split over two connections, many MB each
    con = duckdb_connect()
    for sslmode in ("disable", "require"):
        for conns in (1, 2):
            got = con.execute(
                f"SELECT count(*), sum(length(pad)), sum(n)::VARCHAR, count(DISTINCT id) FROM "
                f"pg_incremental_scan('{pg.dsn(pgdb, sslmode=sslmode)}', 'long_read', max_connections := {conns})"
            ).fetchone()
            assert got == (rows, chars, total, rows), (sslmode, conns, got)


def test_reads_end_their_transactions(pg, pgdb):
    """Every connection a read opens ends its transaction before it goes away: PostgreSQL logs
    "unexpected EOF on client connection with an open transaction" otherwise, for every read."""
    with closing(pg.psycopg(pgdb)) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE big AS SELECT g AS id, repeat('p', 400) AS pad, "
                    "TIMESTAMPTZ '2026-01-01' + g * interval '1 second' AS updated_at "
                    "FROM generate_series(1, 150000) g")
        cur.execute("SELECT pg_relation_size('big') / 8192")
        assert cur.fetchone()[0] > 8192  # split over two connections
    log_path = os.path.join(pg.root, "server.log")
    before = open(log_path).read().count("with an open transaction")
    con = duckdb_connect()
    dsn = pg.dsn(pgdb)
    assert con.execute(f"SELECT count(*) FROM pg_incremental_scan('{dsn}', 'big')").fetchone() == (150000,)
    assert con.execute(
        f"SELECT count(*) FROM pg_incremental_scan('{dsn}', 'big', since := TIMESTAMPTZ '2026-01-02')"
    ).fetchone() == (150000 - 86400,)
    con.close()
    time.sleep(0.5)  # let the backends exit and log
    assert open(log_path).read().count("with an open transaction") == before


def test_server_dying_mid_read_is_a_clear_error(pg):
    import pgcluster
    with pgcluster.Cluster() as other:
        other.create_database("d")
        with closing(other.psycopg("d")) as conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE t (id int, pad text)")
            cur.execute("INSERT INTO t SELECT g, repeat('z', 200) FROM generate_series(1, 2000000) g")
        con = duckdb_connect()
        result = {}

        def read():
            try:
                con.execute(f"SELECT sum(length(pad)) FROM pg_incremental_scan('{other.dsn('d')}', 't')").fetchall()
                result["ok"] = True
            except Exception as e:  # noqa: BLE001
                result["error"] = str(e)

        th = threading.Thread(target=read)
        th.start()
        time.sleep(0.3)
        other.kill()
        th.join(60)
        assert not th.is_alive()
        assert "error" in result, result
        msg = result["error"]
        assert "pg_incremental_scan" in msg
        assert f"127.0.0.1:{other.port}" in msg
        assert other.password not in msg
