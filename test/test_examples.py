"""The examples users copy, run for real: the dbt project in examples/dbt (dbt-duckdb, lakemig's dbt
package in sql/, a DuckLake catalog on SQLite) built twice with changes in PostgreSQL in between and
its marts checked against the same queries run on PostgreSQL; examples/notebook.py; and the shell
macros in sql/lakemig_macros.sql."""
from __future__ import annotations

import datetime
import os
import shutil
import subprocess
import sys
from contextlib import closing

from conftest import EXTENSION, ROOT, duckdb_connect, extension_path

DBT_EXAMPLE = os.path.join(ROOT, "examples", "dbt")
VENV_BIN = os.path.dirname(sys.executable)


def pg_run(pg, db, sql):
    with closing(pg.psycopg(db)) as conn, conn.cursor() as cur:
        cur.execute(sql)


def pg_rows(pg, db, sql):
    with closing(pg.psycopg(db)) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def dsn_without_password(pg, db):
    return f"host={pg.host} port={pg.port} user={pg.user} dbname={db} sslmode=disable"


# The marts, computed on PostgreSQL from the source tables (what the dbt models must equal).
PG_CUSTOMER_REVENUE = """
WITH per_order AS (
    SELECT o.id, o.customer_id, o.amount, coalesce(sum(p.amount), 0) AS paid
    FROM shop.orders o LEFT JOIN shop.payments p ON p.order_id = o.id AND p.deleted_at IS NULL
    WHERE o.deleted_at IS NULL
    GROUP BY o.id, o.customer_id, o.amount)
SELECT c.id, c.name, c.country, count(po.id), coalesce(sum(po.amount), 0), coalesce(sum(po.paid), 0)
FROM shop.customers c LEFT JOIN per_order po ON po.customer_id = c.id
WHERE c.deleted_at IS NULL
GROUP BY c.id, c.name, c.country
"""
PG_DAILY_ORDERS = """
SELECT (ordered_at AT TIME ZONE 'UTC')::date, count(*), count(DISTINCT customer_id), sum(amount)
FROM shop.orders WHERE deleted_at IS NULL GROUP BY 1
"""
LAKE_CUSTOMER_REVENUE = "SELECT customer_id, name, country, orders, order_amount, revenue FROM lake.marts.customer_revenue"
LAKE_DAILY_ORDERS = "SELECT order_date, orders, customers, order_amount FROM lake.marts.daily_orders"


def test_dbt_example_builds_twice_and_marts_match_postgres(pg, pgdb, tmp_path):
    with open(os.path.join(DBT_EXAMPLE, "shop", "schema.sql")) as f:
        pg_run(pg, pgdb, f.read())
    with open(os.path.join(DBT_EXAMPLE, "shop", "data.sql")) as f:
        pg_run(pg, pgdb, f.read())

    # A copy of the project next to a link to sql/, so `local: ../../sql` resolves as in the repository
    # and dbt_packages/, package-lock.yml, target/ and logs/ stay out of the work tree.
    project = tmp_path / "examples" / "dbt"
    shutil.copytree(DBT_EXAMPLE, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages", "lake"))
    os.symlink(os.path.join(ROOT, "sql"), tmp_path / "sql")
    lake = tmp_path / "lake"
    lake.mkdir()
    env = dict(os.environ,
               HOME=str(tmp_path),  # dbt-duckdb INSTALLs path extensions into ~/.duckdb/extensions
               SHOP_DSN=dsn_without_password(pg, pgdb), PGPASSWORD=pg.password,
               LAKEMIG_EXTENSION=EXTENSION,
               DUCKLAKE_EXTENSION=extension_path("ducklake"),
               SQLITE_EXTENSION=extension_path("sqlite_scanner"),
               SHOP_LAKE_DIR=str(lake),
               DBT_SEND_ANONYMOUS_USAGE_STATS="false", DBT_USE_COLORS="false")

    def dbt(*args):
        cmd = [os.path.join(VENV_BIN, "dbt"), *args, "--profiles-dir", str(project), "--project-dir", str(project)]
        out = subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, f"dbt {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}"
        return out.stdout

    def check_marts():
        con = duckdb_connect(extensions=("ducklake", "sqlite_scanner"))
        con.execute(f"ATTACH 'ducklake:sqlite:{lake}/catalog.sqlite' AS lake (READ_ONLY)")
        for pg_sql, lake_sql in ((PG_CUSTOMER_REVENUE, LAKE_CUSTOMER_REVENUE), (PG_DAILY_ORDERS, LAKE_DAILY_ORDERS)):
            expected = sorted(pg_rows(pg, pgdb, pg_sql))
            got = sorted(con.execute(lake_sql).fetchall())
            assert got == expected, f"{lake_sql}: {len(got)} rows, PostgreSQL {len(expected)}; " \
                f"only in the lake {sorted(set(got) - set(expected))[:5]}, only in PostgreSQL {sorted(set(expected) - set(got))[:5]}"
        # Staging keeps every row (soft deletes included), one per key.
        for table in ("customers", "orders", "payments"):
            n = pg_rows(pg, pgdb, f"SELECT count(*), count(deleted_at) FROM shop.{table}")[0]
            assert con.execute(f"SELECT count(*), count(deleted_at) FROM lake.staging.stg_{table}").fetchone() == n
        # The raw mirror written by lakemig.sync in on-run-start.
        raw = con.execute("SELECT id, name, country, deleted_at IS NULL FROM lake.raw.customers ORDER BY id").fetchall()
        con.close()
        assert raw == pg_rows(pg, pgdb, "SELECT id, name, country, deleted_at IS NULL FROM shop.customers ORDER BY id")

    dbt("deps")
    out = dbt("build", "--vars", "{raw_mirror: true}")
    assert "lakemig.sync shop.customers -> lake.raw.customers: bootstrap, 200 rows upserted" in out
    assert "ERROR=0" in out and "PASS=" in out
    check_marts()

    with open(os.path.join(DBT_EXAMPLE, "shop", "changes.sql")) as f:
        pg_run(pg, pgdb, f.read())
    out = dbt("build", "--vars", "{raw_mirror: true}")
    assert "lakemig.sync shop.customers -> lake.raw.customers: incremental, 13 rows upserted" in out
    assert "ERROR=0" in out
    check_marts()

    # lakemig.sync_tables: the other tables, in one snapshot, into lake.mirror (cursor found: updated_at).
    out = dbt("run-operation", "lakemig.sync_tables", "--args",
              "{dsn: '" + env["SHOP_DSN"] + "', tables: ['shop.orders', 'shop.payments'], target: lake.mirror}")
    for table in ("orders", "payments"):
        n = pg_rows(pg, pgdb, f"SELECT count(*) FROM shop.{table}")[0][0]
        assert f"lakemig.sync_tables shop.{table} -> lake.mirror.{table}: bootstrap, {n} rows upserted" in out, out

    # The password never reaches dbt's compiled SQL or its logs.
    for root, _, files in os.walk(project):
        for name in files:
            path = os.path.join(root, name)
            if os.path.isfile(path):
                with open(path, "rb") as f:
                    assert pg.password.encode() not in f.read(), f"password found in {path}"


def test_notebook_syncs_and_plots(pg, pgdb, tmp_path):
    out_dir = tmp_path / "out"
    env = dict(os.environ, PGPASSWORD=pg.password, LAKEMIG_EXTENSION=EXTENSION, MPLCONFIGDIR=str(tmp_path / "mpl"))
    out = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "notebook.py"), "--demo",
                          "--dsn", dsn_without_password(pg, pgdb), "--out", str(out_dir)],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    runs = [line for line in lines if line.startswith("run ")]
    assert len(runs) == 4
    assert runs[0].startswith("run 1: bootstrap, 1000 rows upserted, 0 deleted")
    # Each later run upserts exactly what changed before it (the script's changes are disjoint).
    changes = [line for line in lines if line.strip().startswith("changes before run")]
    for change, run in zip(changes, runs[1:]):
        ins, upd, soft = (int(part.split()[0]) for part in change.split(": ")[1].split(", "))
        assert f"incremental, {ins + upd + soft} rows upserted" in run
    assert ", 3 deleted" in runs[3]
    live, total = pg_rows(pg, pgdb, "SELECT count(*) FILTER (WHERE deleted_at IS NULL), count(*) FROM demo.orders")[0]
    assert f"target orders: {total} rows ({live} live, {total - live} soft-deleted)" in out.stdout
    png = out_dir / "rows_synced.png"
    assert f"plot: {png}" in out.stdout
    with open(png, "rb") as f:
        head = f.read(8)
    assert head == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_shell_macros(pg, pgdb):
    pg_run(pg, pgdb, """
        CREATE TABLE items (id int PRIMARY KEY, name text, updated_at timestamptz NOT NULL);
        INSERT INTO items VALUES (1, 'a', now() - interval '2 hours'), (2, 'b', now() - interval '1 hour')""")
    dsn = pg.dsn(pgdb)
    con = duckdb_connect()
    with open(os.path.join(ROOT, "sql", "lakemig_macros.sql")) as f:
        con.execute(f.read())
    con.execute(f"SELECT * FROM pg_sync('{dsn}', 'public.items')")
    row = con.execute("SELECT catalog, target, source, runs, last_rows_upserted, since_last_run < INTERVAL 1 MINUTE, "
                      "data_lag BETWEEN INTERVAL 59 MINUTE AND INTERVAL 70 MINUTE, stale FROM pg_sync_lag()").fetchone()
    assert row == ("memory", '"main"."items"', "public.items", 1, 2, True, True, False)
    assert con.execute("SELECT stale FROM pg_sync_lag(max_age := INTERVAL 0 SECOND)").fetchone() == (True,)
    changed = con.execute(f"SELECT id FROM pg_changes('{dsn}', 'public.items', now() - INTERVAL 90 MINUTE)").fetchall()
    assert changed == [(2,)]
    # A CDC target's watermark is an LSN: its data_lag is the time since its last call began.
    con.execute(f"SELECT * FROM pg_sync('{dsn}', 'public.items', target := 'items_cdc', method := 'cdc')")
    lag = con.execute("SELECT data_lag FROM pg_sync_lag() WHERE target = '\"main\".\"items_cdc\"'").fetchone()
    assert lag is not None and lag[0] is not None and lag[0] < datetime.timedelta(minutes=1), lag
    con.execute(f"SELECT * FROM pg_sync_drop('items_cdc', dsn := '{dsn}')")
    con.close()
