"""`make demo`: lakemig end to end on a throwaway local PostgreSQL. Prints each step as it goes."""
from __future__ import annotations

import os
import sys
import time
from contextlib import closing

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import duckdb  # noqa: E402

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
        con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
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
        step("done; stopping PostgreSQL")


if __name__ == "__main__":
    main()
