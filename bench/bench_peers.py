"""`make bench`: pg_sync beside the tools people use for the same job today, sling and dlt, in one run.

Two sources on one throwaway PostgreSQL:
  - `analytics.subscriptions` (bench/bench.py's 2,000,000-row SaaS table, ~600 MB);
  - the `shop` schema: 10 tables (~3,000,000 rows in all) with foreign keys, a composite key, numeric,
    jsonb and uuid columns, each with an indexed `updated_at`.
Each tool syncs each source into its own DuckDB database file twice: a bootstrap (empty target), then an
incremental run after 1,000 rows changed (in one PostgreSQL transaction, spread over the schema's tables).
Every figure is a whole process, timed from its start to its exit (what a cron job or an orchestrator
waits for), with its peak memory summed over the process tree (sling drives a DuckDB CLI of its own).
After every run the target is checked against PostgreSQL (rows, distinct keys, max(updated_at) per table).

The tools, installed from the package registries into their own venv (`tools/setup.sh --bench`,
bench/requirements.txt), each configured the way its documentation describes an incremental merge:
  - lakemig: the DuckDB 1.5.5 CLI, `LOAD` by path, one `pg_sync` (one table) or `pg_sync_tables` (the schema) call;
  - sling 1.4.11: a replication YAML, `mode: incremental`, `update_key: updated_at`, each stream's primary
    key; its DuckDB target drives the DuckDB 1.5.5 CLI (`DUCKDB_PATH`), whose json and httpfs extension
    files come from the pinned wheels, placed in a throwaway HOME (nothing is downloaded);
  - dlt 1.31: `sql_database(..., backend="pyarrow")`, `dlt.sources.incremental("updated_at")`,
    `write_disposition="merge"` (primary keys reflected from the source), duckdb destination.

    python bench/bench_peers.py [--rows N] [--scale F] [--tools lakemig,sling,dlt] [--only single|schema]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import closing

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, os.path.join(ROOT, "bench"))

import duckenv  # noqa: E402
import pgcluster  # noqa: E402
from bench import CLUSTER_SETTINGS, FILL, SCHEMA  # noqa: E402  (the 2M-row table and its cluster)

EXTENSION = os.environ.get("LAKEMIG_EXTENSION", os.path.join(ROOT, "build/release/lakemig.duckdb_extension"))
MAIN_VENV = os.path.join(ROOT, os.environ.get("VENV", ".venv"))
BENCH_VENV = MAIN_VENV + "-bench"
DUCKDB_CLI = os.path.join(MAIN_VENV, "bin", "duckdb")  # duckdb-cli==1.5.5, pinned in test/requirements.txt

# The shop schema: (table, primary key, rows per 1.0 of --scale, CREATE + INSERT). `{n}` is the row count.
SHOP = [
    ("categories", ["id"], 500, """
CREATE TABLE shop.categories (id int PRIMARY KEY, parent_id int REFERENCES shop.categories, name text NOT NULL,
    updated_at timestamptz NOT NULL);
INSERT INTO shop.categories SELECT g, CASE WHEN g > 20 THEN 1 + g % 20 END, 'category ' || g,
    TIMESTAMPTZ '2026-01-01' + g * interval '1 second' FROM generate_series(1, {n}) g;"""),
    ("customers", ["id"], 300_000, """
CREATE TABLE shop.customers (id bigint PRIMARY KEY, email text NOT NULL, name text NOT NULL, country char(2),
    attributes jsonb, created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL);
INSERT INTO shop.customers SELECT g, 'c' || g || '@example.com', 'Customer ' || g,
    (ARRAY['DE','FR','US','BR','JP'])[1 + g % 5], jsonb_build_object('tier', g % 4, 'newsletter', g % 3 = 0),
    TIMESTAMPTZ '2020-01-01' + g * interval '5 minutes', TIMESTAMPTZ '2026-01-01' + g * interval '1 second'
FROM generate_series(1, {n}) g;"""),
    ("addresses", ["id"], 300_000, """
CREATE TABLE shop.addresses (id bigint PRIMARY KEY, customer_id bigint NOT NULL REFERENCES shop.customers,
    street text NOT NULL, city text NOT NULL, zip text NOT NULL, updated_at timestamptz NOT NULL);
INSERT INTO shop.addresses SELECT g, 1 + (g - 1) % {customers}, g || ' Main Street', 'City ' || g % 997,
    lpad((g % 99999)::text, 5, '0'), TIMESTAMPTZ '2026-01-01' + g * interval '1 second'
FROM generate_series(1, {n}) g;"""),
    ("products", ["id"], 50_000, """
CREATE TABLE shop.products (id int PRIMARY KEY, category_id int NOT NULL REFERENCES shop.categories,
    sku uuid NOT NULL, name text NOT NULL, price numeric(10,2) NOT NULL, updated_at timestamptz NOT NULL);
INSERT INTO shop.products SELECT g, 1 + g % {categories}, md5('p' || g)::uuid, 'Product ' || g,
    round((1 + g % 500) * 1.99, 2), TIMESTAMPTZ '2026-01-01' + g * interval '1 second'
FROM generate_series(1, {n}) g;"""),
    ("orders", ["id"], 600_000, """
CREATE TABLE shop.orders (id bigint PRIMARY KEY, customer_id bigint NOT NULL REFERENCES shop.customers,
    status text NOT NULL, total numeric(12,2) NOT NULL, ordered_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL);
INSERT INTO shop.orders SELECT g, 1 + g % {customers}, (ARRAY['new','paid','shipped','done'])[1 + g % 4],
    round((g % 10000) * 0.37, 2), TIMESTAMPTZ '2024-01-01' + g * interval '1 minute',
    TIMESTAMPTZ '2026-01-01' + g * interval '1 second' FROM generate_series(1, {n}) g;"""),
    ("order_items", ["order_id", "line"], 1_200_000, """
CREATE TABLE shop.order_items (order_id bigint NOT NULL REFERENCES shop.orders, line int NOT NULL,
    product_id int NOT NULL REFERENCES shop.products, quantity int NOT NULL, unit_price numeric(10,2) NOT NULL,
    updated_at timestamptz NOT NULL, PRIMARY KEY (order_id, line));
INSERT INTO shop.order_items SELECT 1 + (g - 1) / 2, 1 + (g - 1) % 2, 1 + g % {products}, 1 + g % 5,
    round((1 + g % 500) * 1.99, 2), TIMESTAMPTZ '2026-01-01' + g * interval '1 second'
FROM generate_series(1, {n}) g;"""),
    ("payments", ["id"], 300_000, """
CREATE TABLE shop.payments (id bigint PRIMARY KEY, order_id bigint NOT NULL REFERENCES shop.orders,
    amount numeric(12,2) NOT NULL, method text NOT NULL, paid_at timestamptz, updated_at timestamptz NOT NULL);
INSERT INTO shop.payments SELECT g, g, round((g % 10000) * 0.37, 2), (ARRAY['card','sepa','paypal'])[1 + g % 3],
    TIMESTAMPTZ '2024-01-01' + g * interval '1 minute', TIMESTAMPTZ '2026-01-01' + g * interval '1 second'
FROM generate_series(1, {n}) g;"""),
    ("shipments", ["id"], 200_000, """
CREATE TABLE shop.shipments (id bigint PRIMARY KEY, order_id bigint NOT NULL REFERENCES shop.orders,
    carrier text NOT NULL, tracking uuid NOT NULL, shipped_at timestamptz, updated_at timestamptz NOT NULL);
INSERT INTO shop.shipments SELECT g, g, (ARRAY['dhl','ups','fedex'])[1 + g % 3], md5('s' || g)::uuid,
    TIMESTAMPTZ '2024-01-02' + g * interval '1 minute', TIMESTAMPTZ '2026-01-01' + g * interval '1 second'
FROM generate_series(1, {n}) g;"""),
    ("reviews", ["id"], 50_000, """
CREATE TABLE shop.reviews (id bigint PRIMARY KEY, product_id int NOT NULL REFERENCES shop.products,
    customer_id bigint NOT NULL REFERENCES shop.customers, rating smallint NOT NULL, body text,
    updated_at timestamptz NOT NULL);
INSERT INTO shop.reviews SELECT g, 1 + g % {products}, 1 + g % {customers}, 1 + g % 5,
    repeat('good ', 5 + g % 40), TIMESTAMPTZ '2026-01-01' + g * interval '1 second'
FROM generate_series(1, {n}) g;"""),
    ("stock", ["product_id", "warehouse"], 50_000, """
CREATE TABLE shop.stock (product_id int NOT NULL REFERENCES shop.products, warehouse smallint NOT NULL,
    quantity int NOT NULL, updated_at timestamptz NOT NULL, PRIMARY KEY (product_id, warehouse));
INSERT INTO shop.stock SELECT 1 + (g - 1) % {products}, 1 + (g - 1) / {products}, g % 1000,
    TIMESTAMPTZ '2026-01-01' + g * interval '1 second' FROM generate_series(1, {n}) g;"""),
]


def tree_rss_mb(root: int) -> float:
    """Resident memory of `root` and all its descendants, in MB (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def timed(cmd: list[str], env: dict[str, str], label: str) -> dict:
    """Run a whole process; its wall time and the peak of its process tree's resident memory."""
    with tempfile.TemporaryFile("w+") as log:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
        peak = [0.0]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], tree_rss_mb(proc.pid))
                done.wait(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        done.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4 above
        log.seek(0)
        output = log.read()
        if proc.returncode != 0:
            raise RuntimeError(f"{label} failed (exit {proc.returncode}):\n{output[-4000:]}")
    # ru_maxrss: the largest single process of the tree, which sampling may miss between two samples.
    result = {"seconds": seconds, "peak_mb": max(peak[0], usage.ru_maxrss / 1024)}
    timers = [line.split()[4] for line in output.splitlines() if line.startswith("Run Time (s): real")]
    if timers:  # the DuckDB CLI's `.timer on`: the last statement's own time (lakemig: the pg_sync call)
        result["statement_seconds"] = float(timers[-1])
    return result


class Peers:
    """The three tools, each with its own target file and state, for one source."""

    def __init__(self, pg: pgcluster.Cluster, db: str, tmp: str, schema: str, tables: list[tuple[str, list[str]]],
                 lakemig_sql: str, lakemig_schema: str):
        self.pg, self.db, self.tmp = pg, db, tmp
        self.schema, self.tables = schema, tables
        self.lakemig_sql, self.lakemig_schema = lakemig_sql, lakemig_schema
        self.home = os.path.join(tmp, "home")  # an empty DuckDB home, with only the two files sling needs
        site = subprocess.run([os.path.join(BENCH_VENV, "bin", "python"), "-c",
                               "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              capture_output=True, text=True, check=True).stdout.strip()
        extdir = os.path.join(self.home, ".duckdb", "extensions", duckenv.DUCKDB_VERSION, "linux_amd64")
        os.makedirs(extdir, exist_ok=True)
        for name in ("json", "httpfs"):
            link = os.path.join(extdir, f"{name}.duckdb_extension")
            if not os.path.exists(link):
                os.symlink(duckenv.extension_file(site, duckenv.DUCKDB_VERSION, name), link)
        self.sling_bin = os.path.join(site, "sling_linux_amd64", "bin", "sling-linux-amd64")
        self.env = dict(os.environ, HOME=self.home)

    def target(self, tool: str) -> str:
        return os.path.join(self.tmp, f"{tool}-{self.schema}.duckdb")

    def run(self, tool: str) -> dict:
        label = f"{tool} {self.schema}"
        if tool == "lakemig":
            sql = (f"SET autoinstall_known_extensions = false; "
                   f"SET autoload_known_extensions = false; LOAD '{EXTENSION}'; "
                   f"CREATE SCHEMA IF NOT EXISTS {self.lakemig_schema}; {self.lakemig_sql}")
            return timed([DUCKDB_CLI, "-unsigned", "-batch", "-cmd", ".timer on", self.target(tool), "-c", sql], self.env, label)
        if tool == "sling":
            streams = "".join(f"  {self.schema}.{t}:\n    primary_key: [{', '.join(k)}]\n" for t, k in self.tables)
            replication = os.path.join(self.tmp, f"sling-{self.schema}.yaml")
            with open(replication, "w") as f:
                f.write("source: PG\ntarget: DUCK\ndefaults:\n  mode: incremental\n  update_key: updated_at\n"
                        "  object: raw.{stream_table}\nstreams:\n" + streams)
            env = dict(self.env, PG=self.pg.url(self.db), DUCK=f"duckdb://{self.target(tool)}",
                       DUCKDB_PATH=DUCKDB_CLI, SLING_HOME_DIR=os.path.join(self.home, ".sling"))
            return timed([self.sling_bin, "run", "-r", replication], env, label)
        if tool == "dlt":
            spec = {"url": self.pg.url(self.db).replace("postgresql://", "postgresql+psycopg2://"),
                    "schema": self.schema, "tables": [t for t, _ in self.tables], "target": self.target(tool),
                    "pipelines_dir": os.path.join(self.tmp, "dlt-pipelines"), "name": f"bench_{self.schema}"}
            return timed([os.path.join(BENCH_VENV, "bin", "python"), "-c", DLT_RUNNER, json.dumps(spec)],
                         self.env, label)
        raise ValueError(tool)

    def check(self, tool: str) -> int:
        """Compare the target with the source, table by table; the rows checked."""
        schema = self.lakemig_schema.split(".")[-1] if tool == "lakemig" else "raw"
        import duckdb
        con = duckdb.connect(self.target(tool), read_only=True, config=dict(duckenv.CONFIG))
        total = 0
        with closing(self.pg.psycopg(self.db)) as conn, conn.cursor() as cur:
            for table, key in self.tables:
                q = (f"SELECT count(*), count(DISTINCT ({', '.join(key)})), max(updated_at) FROM {{}}")
                cur.execute(q.format(f"{self.schema}.{table}"))
                want = cur.fetchone()
                got = con.execute(q.format(f'"{schema}"."{table}"')).fetchone()
                if tuple(want) != tuple(got):
                    raise AssertionError(f"{tool}: {self.schema}.{table} differs from its source: "
                                         f"rows/keys/max(updated_at) {got} vs {want}")
                total += want[0]
        con.close()
        return total


DLT_RUNNER = r"""
import json, sys, dlt
from dlt.sources.sql_database import sql_database
spec = json.loads(sys.argv[1])
source = sql_database(spec["url"], schema=spec["schema"], table_names=spec["tables"], backend="pyarrow")
for resource in source.resources.values():
    resource.apply_hints(incremental=dlt.sources.incremental("updated_at"), write_disposition="merge")
pipeline = dlt.pipeline(pipeline_name=spec["name"], destination=dlt.destinations.duckdb(spec["target"]),
                        dataset_name="raw", pipelines_dir=spec["pipelines_dir"])
pipeline.run(source)
"""


def change(pg: pgcluster.Cluster, db: str, schema: str, tables: list[tuple[str, list[str]]], rows: int) -> None:
    """`rows` rows changed in one transaction, spread evenly over the tables (by key order)."""
    per = max(1, rows // len(tables))
    with closing(pg.psycopg(db)) as conn, conn.cursor() as cur:
        cur.execute("BEGIN")
        for i, (table, key) in enumerate(tables):
            n = per if i < len(tables) - 1 else rows - per * (len(tables) - 1)
            keys = ", ".join(key)
            cur.execute(f"UPDATE {schema}.{table} SET updated_at = clock_timestamp() "
                        f"WHERE ({keys}) IN (SELECT {keys} FROM {schema}.{table} ORDER BY random() LIMIT %s)", (n,))
        cur.execute("COMMIT")


def in_call(result: dict) -> str:
    if "statement_seconds" not in result:
        return ""
    return f"  (the pg_sync call itself {result['statement_seconds']:.2f} s)"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2_000_000, help="rows of analytics.subscriptions")
    ap.add_argument("--scale", type=float, default=1.0, help="size of the shop schema (1.0: ~3M rows)")
    ap.add_argument("--changed", type=int, default=1000)
    ap.add_argument("--tools", default="lakemig,sling,dlt")
    ap.add_argument("--only", choices=["single", "schema"])
    args = ap.parse_args()
    tools = args.tools.split(",")
    if not os.path.exists(os.path.join(BENCH_VENV, "bin", "python")):
        sys.exit(f"{BENCH_VENV} missing: run `bash tools/setup.sh --bench` (make bench does)")
    report: dict = {"rows": args.rows, "scale": args.scale, "changed": args.changed, "results": {}}
    with pgcluster.Cluster(settings=CLUSTER_SETTINGS) as pg, \
            tempfile.TemporaryDirectory(prefix="lakemig-peers-") as tmp:
        pg.create_database("bench")
        dsn = pg.dsn("bench")
        sources = []
        with closing(pg.psycopg("bench")) as conn, conn.cursor() as cur:
            if args.only in (None, "single"):
                print(f"== analytics.subscriptions ({args.rows:,} rows)", flush=True)
                cur.execute(SCHEMA)
                cur.execute(FILL.replace("{rows}", str(args.rows)))
                sources.append(("analytics", [("subscriptions", ["id"])],
                                f"SELECT * FROM pg_sync('{dsn}', 'analytics.subscriptions', "
                                "target := 'main.subscriptions')", "main"))
            if args.only in (None, "schema"):
                counts = {t: max(1, int(n * args.scale)) for t, _, n, _ in SHOP}
                counts["stock"] = min(counts["stock"], counts["products"] * 32)
                print(f"== shop schema ({len(SHOP)} tables, {sum(counts.values()):,} rows)", flush=True)
                cur.execute("CREATE SCHEMA shop")
                for table, _, _, ddl in SHOP:
                    cur.execute(ddl.format(n=counts[table], **counts))
                    cur.execute(f"CREATE INDEX ON shop.{table} (updated_at)")
                cur.execute("ANALYZE")
                sources.append(("shop", [(t, k) for t, k, _, _ in SHOP],
                                f"SELECT * FROM pg_sync_tables('{dsn}', tables := ['shop.*'], target := 'raw')", "raw"))
        for schema, tables, lakemig_sql, lakemig_schema in sources:
            peers = Peers(pg, "bench", tmp, schema, tables, lakemig_sql, lakemig_schema)
            results = {}
            for tool in tools:
                boot = peers.run(tool)
                boot["rows_checked"] = peers.check(tool)
                print(f"  {schema:<10} {tool:<8} bootstrap   {boot['seconds']:8.2f} s  {boot['peak_mb']:6.0f} MB"
                      f"{in_call(boot)}", flush=True)
                results[tool] = {"bootstrap": boot}
            change(pg, "bench", schema, tables, args.changed)
            for tool in tools:
                inc = peers.run(tool)
                inc["rows_checked"] = peers.check(tool)
                print(f"  {schema:<10} {tool:<8} {args.changed:,} changed {inc['seconds']:8.2f} s  "
                      f"{inc['peak_mb']:6.0f} MB{in_call(inc)}", flush=True)
                results[tool]["incremental"] = inc
            report["results"][schema] = results

    print("\n== results (lakemig / fastest peer; < 1.0 means lakemig is faster)")
    ratios = {}
    for schema, results in report["results"].items():
        peers = [t for t in results if t != "lakemig"]
        if "lakemig" not in results or not peers:
            continue
        for run, goal in (("bootstrap", 0.2), ("incremental", 0.1)):
            best = min(peers, key=lambda t: results[t][run]["seconds"])
            r = results["lakemig"][run]["seconds"] / results[best][run]["seconds"]
            mem = results["lakemig"][run]["peak_mb"] / min(results[t][run]["peak_mb"] for t in peers)
            ratios[f"{schema} {run}: time / fastest peer ({best})"] = round(r, 4)
            ratios[f"{schema} {run}: peak memory / smallest peer"] = round(mem, 4)
            print(f"  {schema:<10} {run:<12} time {r:6.3f} of {best} (goal <= {goal})   memory {mem:5.2f} of the "
                  f"smallest peer (goal < 1)")
            own = results["lakemig"][run].get("statement_seconds")
            if own is not None:  # inside a running DuckDB session (a notebook, dbt): no process start
                ratios[f"{schema} {run}: the pg_sync call alone / fastest peer"] = round(own / results[best][run]["seconds"], 4)
                print(f"  {'':<10} {'':<12} the pg_sync call alone {own / results[best][run]['seconds']:6.3f} of {best}")
    report["ratios"] = ratios
    os.makedirs(os.path.join(ROOT, "bench", "out"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "out", "peers.json"), "w") as f:
        json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
