"""`make demo`: lakemig end to end on a throwaway local PostgreSQL. Prints each step as it goes."""
from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
import time
from contextlib import closing

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import duckenv  # noqa: E402
import pgcluster  # noqa: E402

EXTENSION = os.environ.get("LAKEMIG_EXTENSION", os.path.join(ROOT, "build/release/lakemig.duckdb_extension"))


def step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def show(con, sql: str) -> None:
    print(f"D {sql}")
    con.sql(sql).show()


def main() -> None:
    step("starting a throwaway PostgreSQL 15 cluster")
    with pgcluster.Cluster() as pg:
        print(f"PostgreSQL on {pg.host}:{pg.port} (data in {pg.root}, removed at the end)")
        pg.create_database("demo")
        # Autoinstall/autoload off: every extension below is loaded by path from the pinned packages,
        # so the demo never downloads anything and works with an empty ~/.duckdb.
        con = duckenv.connect()
        step(f"LOAD lakemig ({os.path.relpath(EXTENSION, ROOT)})")
        t = time.time()
        con.load_extension(EXTENSION)
        print(f"loaded in {1000 * (time.time() - t):.0f} ms")
        show(con, "SELECT * FROM lakemig_version()")
        dsn = f"host={pg.host} port={pg.port} user={pg.user} dbname=demo"
        os.environ["PGPASSWORD"] = pg.password  # the password stays out of the SQL text
        step("connecting with lakemig's connection layer (password from PGPASSWORD)")
        show(con, f"SELECT * FROM pg_connection_info('{dsn} sslmode=disable')")
        show(con, f"SELECT host, ssl, ssl_version FROM pg_connection_info('{dsn} sslmode=require')")
        step("a SaaS subscriptions table in PostgreSQL: 10,000 rows, an updated_at trigger, deleted_at tombstones")
        with closing(pg.psycopg("demo")) as conn, conn.cursor() as cur:
            cur.execute("""
                CREATE SCHEMA analytics;
                CREATE TABLE analytics.subscriptions (
                    id bigint PRIMARY KEY, email text NOT NULL, plan text NOT NULL,
                    lifetime_value numeric(12,2), tags text[],
                    updated_at timestamptz NOT NULL DEFAULT now(), deleted_at timestamptz);
                CREATE INDEX ON analytics.subscriptions (updated_at);
                CREATE FUNCTION analytics.touch() RETURNS trigger LANGUAGE plpgsql AS
                    $$ BEGIN NEW.updated_at = now(); RETURN NEW; END $$;
                CREATE TRIGGER touch BEFORE UPDATE ON analytics.subscriptions
                    FOR EACH ROW EXECUTE FUNCTION analytics.touch();
                INSERT INTO analytics.subscriptions (id, email, plan, lifetime_value, tags, updated_at)
                SELECT g, 'user' || g || '@example.com', (ARRAY['free','team','business'])[1 + g % 3],
                       round(g * 1.5, 2), ARRAY['seg-' || g % 4], TIMESTAMPTZ '2026-11-01' + g * interval '1 second'
                FROM generate_series(1, 10000) g;""")
        src = f"'{dsn} sslmode=disable', 'analytics.subscriptions'"
        show(con, f"SELECT count(*) AS rows, max(updated_at) AS watermark FROM pg_incremental_scan({src})")

        workdir = tempfile.mkdtemp(prefix="lakemig-demo-")
        atexit.register(shutil.rmtree, workdir, ignore_errors=True)
        db = os.path.join(workdir, "warehouse.duckdb")
        step(f"pg_sync, first run: bootstrap a DuckDB copy ({os.path.basename(db)}) in one transaction")
        con.execute(f"ATTACH '{db}' AS warehouse")
        show(con, f"SELECT mode, rows_upserted, watermark_after, duration FROM pg_sync({src}, target := 'warehouse.subscriptions')")
        show(con, "SELECT count(*) AS rows, count(*) FILTER (WHERE deleted_at IS NOT NULL) AS soft_deleted FROM warehouse.subscriptions")

        step("live changes in PostgreSQL: an update, an insert and a soft delete (the trigger moves updated_at)")
        with closing(pg.psycopg("demo")) as conn, conn.cursor() as cur:
            cur.execute("UPDATE analytics.subscriptions SET plan = 'enterprise' WHERE id = 42;"
                        "INSERT INTO analytics.subscriptions (id, email, plan, lifetime_value) VALUES (10001, 'new@example.com', 'team', 0);"
                        "UPDATE analytics.subscriptions SET deleted_at = now() WHERE id = 7;")

        step("pg_sync, second run: only the 3 changed rows are read (updated_at index) and upserted")
        show(con, f"SELECT mode, rows_upserted, watermark_before, watermark_after, duration FROM pg_sync({src}, target := 'warehouse.subscriptions')")
        show(con, "SELECT id, email, plan, deleted_at IS NOT NULL AS deleted FROM warehouse.subscriptions WHERE id IN (7, 42, 10001) ORDER BY id")
        step("pg_sync, third run: nothing changed, nothing to do")
        show(con, f"SELECT mode, rows_upserted, rows_deleted FROM pg_sync({src}, target := 'warehouse.subscriptions')")
        step("the checkpoints (committed with the rows, in the same DuckDB transaction)")
        show(con, "SELECT target, source, watermark, rows_total, runs, last_mode FROM pg_sync_state()")
        step("a DuckLake catalog on SQLite (the real ducklake extension): 2 tables, 4 snapshots, inlined rows")
        # DuckLake itself, sqlite_scanner for its SQLite catalog, postgres_scanner for the PostgreSQL
        # catalog it is moved to: each LOADed by path (lakemig's own functions need none of them).
        for name in ("ducklake", "sqlite_scanner", "postgres_scanner"):
            print(f"LOAD {name} ({os.path.basename(duckenv.extension_path(name))} from the pinned duckdb-extension package)")
            con.load_extension(duckenv.extension_path(name))
        lake_sqlite = os.path.join(workdir, "stage.sqlite")
        data = os.path.join(workdir, "lake_data")
        con.execute(f"ATTACH 'ducklake:sqlite:{lake_sqlite}' AS stage (DATA_PATH '{data}')")
        con.execute("CREATE TABLE stage.subscriptions AS SELECT * FROM warehouse.subscriptions")
        con.execute("CREATE TABLE stage.plans (plan VARCHAR, price DECIMAL(8,2), launched TIMESTAMPTZ, id UUID)")
        con.execute("INSERT INTO stage.plans VALUES ('free', 0, '2024-01-01', uuid()), ('team', 49, '2024-06-01', uuid())")
        con.execute("UPDATE stage.subscriptions SET plan = 'team' WHERE id = 3")
        show(con, "SELECT snapshot_id, changes FROM ducklake_snapshots('stage')")
        con.execute("DETACH stage")

        step("sqlite_catalog_migrate: the catalog into PostgreSQL schema 'lake', native types, verified, one transaction")
        show(con, f"SELECT table_name, rows, verified FROM sqlite_catalog_migrate('{lake_sqlite}', '{dsn} sslmode=disable', "
                  "schema := 'lake') WHERE rows > 0 ORDER BY table_name")
        step("ATTACH the migrated catalog through DuckLake (PostgreSQL catalog, same data files) and query it")
        con.execute(f"ATTACH 'ducklake:postgres:{dsn}' AS lake (DATA_PATH '{data}', METADATA_SCHEMA 'lake')")
        show(con, "SELECT plan, count(*) AS subscriptions FROM lake.subscriptions GROUP BY plan ORDER BY plan")
        show(con, "SELECT * FROM lake.plans ORDER BY plan")
        show(con, "SELECT count(*) FILTER (WHERE plan = 'team') AS team_now, "
                  "(SELECT count(*) FILTER (WHERE plan = 'team') FROM lake.subscriptions AT (VERSION => 1)) AS team_at_snapshot_1 "
                  "FROM lake.subscriptions")
        step("writing through DuckLake to the PostgreSQL catalog")
        con.execute("INSERT INTO lake.plans VALUES ('business', 199, now(), uuid())")
        show(con, "SELECT plan, price FROM lake.plans ORDER BY price")
        show(con, f"SELECT * FROM ducklake_fix_types('{dsn} sslmode=disable', schema := 'lake', dry_run := true)")
        print("(no rows: every column already has DuckLake's native PostgreSQL type)")
        step("done; stopping PostgreSQL")


if __name__ == "__main__":
    main()
