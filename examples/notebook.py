"""lakemig from Python, the way a notebook uses it (runs headless as a plain script).

Loads lakemig into DuckDB, keeps a DuckDB copy of a PostgreSQL table in step with pg_sync over
several runs, reads the copy into a pandas DataFrame and plots the rows each run synced to a PNG.

    export PGPASSWORD=...                       # keep the password out of the DSN (and of SQL text)
    python examples/notebook.py --dsn "host=localhost dbname=shop user=me" --demo

  --demo        create (or re-create) the table demo.orders in that database, and change it between
                runs (inserts, updates, soft deletes, and hard deletes before the last run)
  --table       the table to sync without --demo (it needs an updated_at column and a primary key)
  --runs        how many syncs (default 4)
  --out         where the DuckDB database and the PNG go (default ./notebook_out)
  --extension   lakemig.duckdb_extension (default: $LAKEMIG_EXTENSION, else this repository's build)

The DSN can also come from $LAKEMIG_DSN. Needs duckdb==1.5.5, pandas and matplotlib (and psycopg2
for --demo, to write to PostgreSQL).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import duckdb
import matplotlib

matplotlib.use("Agg")  # no display: write files only
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_TABLE = "demo.orders"

DEMO_SCHEMA = """
DROP SCHEMA IF EXISTS demo CASCADE;
CREATE SCHEMA demo;
CREATE TABLE demo.orders (
    id          bigint PRIMARY KEY,
    customer    text NOT NULL,
    status      text NOT NULL,
    amount      numeric(12,2) NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz
);
CREATE INDEX ON demo.orders (updated_at);
CREATE FUNCTION demo.touch() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN NEW.updated_at = now(); RETURN NEW; END $$;
CREATE TRIGGER touch BEFORE UPDATE ON demo.orders FOR EACH ROW EXECUTE FUNCTION demo.touch();
"""
DEMO_INSERT = """
INSERT INTO demo.orders (id, customer, status, amount)
SELECT g, 'customer ' || (g %% 97), (ARRAY['placed', 'shipped', 'delivered'])[1 + g %% 3], 10 + (g %% 50) * 2.5
FROM generate_series(%(start)s, %(stop)s) g
"""


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dsn", default=os.environ.get("LAKEMIG_DSN"))
    p.add_argument("--demo", action="store_true")
    p.add_argument("--table", default=None)
    p.add_argument("--runs", type=int, default=4)
    p.add_argument("--out", default="notebook_out")
    p.add_argument("--extension", default=os.environ.get(
        "LAKEMIG_EXTENSION", os.path.join(ROOT, "build", "release", "lakemig.duckdb_extension")))
    args = p.parse_args(argv)
    if not args.dsn:
        p.error("give --dsn or set LAKEMIG_DSN (and PGPASSWORD)")
    if not args.demo and not args.table:
        p.error("give --table, or --demo to create demo.orders")
    args.table = args.table or DEMO_TABLE
    return args


def sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class DemoWriter:
    """Makes the changes between runs, on PostgreSQL directly (psycopg2, autocommit: an open
    transaction would hold pg_sync's watermark back and make the next run re-read rows)."""

    def __init__(self, dsn: str):
        import psycopg2
        self.conn = psycopg2.connect(dsn)
        self.conn.autocommit = True
        self.next_id = 1

    def run(self, sql, params=None):
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.rowcount

    def create(self, rows: int):
        self.run(DEMO_SCHEMA)
        self.insert(rows)

    def insert(self, n: int) -> int:
        self.run(DEMO_INSERT, {"start": self.next_id, "stop": self.next_id + n - 1})
        self.next_id += n
        return n

    def change(self, run: int) -> str:
        """Disjoint changes, so the next sync upserts exactly inserted + updated + soft-deleted rows."""
        old = self.next_id  # rows below this id existed at the last sync
        inserted = self.insert(50 * run)
        updated = self.run("UPDATE demo.orders SET status = 'shipped', amount = amount + 1 "
                           "WHERE id < %s AND id %% 97 = %s AND status <> 'placed' AND deleted_at IS NULL", (old, run))
        soft = self.run("UPDATE demo.orders SET deleted_at = now() WHERE id IN (SELECT id FROM demo.orders "
                        "WHERE id < %s AND status = 'placed' AND deleted_at IS NULL ORDER BY id LIMIT 5)", (old,))
        return f"{inserted} inserted, {updated} updated, {soft} soft-deleted"

    def hard_delete(self, n: int) -> int:
        """Deletes for good n rows the target has and change() never touches (id a multiple of 97)."""
        return self.run("DELETE FROM demo.orders WHERE id IN (SELECT id FROM demo.orders "
                        "WHERE id %% 97 = 0 AND status <> 'placed' AND deleted_at IS NULL ORDER BY id LIMIT %s)", (n,))


def main(argv=None) -> int:
    args = parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    db_path = os.path.join(args.out, "lakemig.duckdb")
    png_path = os.path.join(args.out, "rows_synced.png")

    writer = None
    if args.demo:
        writer = DemoWriter(args.dsn)
        writer.create(1000)
        for suffix in ("", ".wal"):  # a fresh copy for a fresh source table
            if os.path.exists(db_path + suffix):
                os.remove(db_path + suffix)
        print(f"created {DEMO_TABLE} with 1000 rows")

    # 1. Load lakemig (unsigned: allow_unsigned_extensions) into a DuckDB database file. pg_sync into a
    #    DuckDB file needs no other extension, so none is installed or autoloaded behind our back.
    con = duckdb.connect(db_path, config={"allow_unsigned_extensions": "true",
                                          "autoinstall_known_extensions": "false",
                                          "autoload_known_extensions": "false"})
    con.load_extension(args.extension)
    version = con.execute("SELECT extension_version, duckdb_version FROM lakemig_version()").fetchone()
    print(f"lakemig {version[0]} in DuckDB {duckdb.__version__} (built for {version[1]})")

    # 2. Sync several times; with --demo, change the table between runs.
    target = args.table.split(".")[-1]
    results = []
    for run in range(1, args.runs + 1):
        hard = False
        if writer and run > 1:
            print(f"  changes before run {run}: {writer.change(run)}")
            if run == args.runs:
                print(f"  and {writer.hard_delete(3)} rows deleted for good")
                hard = True
        t0 = time.perf_counter()
        df = con.execute(f"SELECT * FROM pg_sync({sql_string(args.dsn)}, {sql_string(args.table)}, "
                         f"target := {sql_string(target)}, hard_deletes := {str(hard).lower()})").df()
        df.insert(0, "run", run)
        df["seconds"] = time.perf_counter() - t0
        results.append(df)
        r = df.iloc[0]
        print(f"run {run}: {r['mode']}, {r['rows_upserted']} rows upserted, {r['rows_deleted']} deleted "
              f"({r['seconds']:.2f} s), watermark {r['watermark_after']}")
    runs = pd.concat(results, ignore_index=True)

    # 3. The synced table as a DataFrame.
    table = con.execute(f'SELECT * FROM "{target}"').df()
    live = table[table["deleted_at"].isna()] if "deleted_at" in table else table
    print(f"target {target}: {len(table)} rows ({len(live)} live, {len(table) - len(live)} soft-deleted)")
    if "status" in live and "amount" in live:
        summary = live.groupby("status").agg(orders=("id", "count"), amount=("amount", "sum")).reset_index()
        print(summary.to_string(index=False))

    # 4. Rows synced per run, as a PNG.
    fig, ax = plt.subplots(figsize=(7, 4))
    x = runs["run"].astype(int)
    ax.bar(x - 0.2, runs["rows_upserted"], width=0.4, label="rows upserted")
    ax.bar(x + 0.2, runs["rows_deleted"], width=0.4, label="rows deleted")
    for xi, up, down in zip(x, runs["rows_upserted"], runs["rows_deleted"]):
        ax.annotate(str(up), (xi - 0.2, up), ha="center", va="bottom", fontsize=8)
        if down:
            ax.annotate(str(down), (xi + 0.2, down), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(list(x), [f"{r}\n{m}" for r, m in zip(runs["run"], runs["mode"])])
    ax.set_xlabel("pg_sync run")
    ax.set_ylabel("rows")
    ax.set_yscale("symlog")
    ax.set_ylim(0, max(10, int(runs["rows_upserted"].max())) * 4)
    ax.set_title(f"pg_sync {args.table} -> {target}")
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)

    total = int(runs["rows_upserted"].sum())
    print(f"{len(runs)} runs, {total} rows upserted, {int(runs['rows_deleted'].sum())} deleted; plot: {png_path}")
    con.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
