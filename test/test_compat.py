"""One lakemig file, many DuckDB releases: the same checks on every runner of test/duckdb_runners.py
(1.5.5 in Python, the reference, with the DuckLake, postgres and sqlite extension wheels; 1.5.6 in
the shell; 2.0.1, 1.4.4 (with its own DuckLake wheels) in Python), each step in a fresh
DuckDB process.

References: PostgreSQL itself (its text output, its catalogs, its rows) and, where lakemig writes to
PostgreSQL, the same call made by the 1.5.5 runner. The checks: loading and `lakemig_version()`;
`pg_incremental_scan` over every type, value by value against PostgreSQL's text output;
`pg_sync` into a DuckDB file (bootstrap, a change round, hard deletes, SIGKILL mid-bootstrap and
mid-sync, reruns), and by CDC; `sqlite_migrate` and `sqlite_catalog_migrate`; the error messages of bad inputs.
Runners with DuckLake wheels (1.5.5, 1.4.4) also `pg_sync` into a DuckLake of their own release and
move a catalog their own DuckLake made, compared with one it makes natively on PostgreSQL."""
from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from contextlib import closing

import pytest

import ducklake_workload as workload
from conftest import EXTENSION, ROOT
from duckdb_runners import DuckDBError, Runner, reference, runners, sql_string
from test_incremental_scan import PG_TEXT, TYPES, load_fixture
from test_sqlite_migrate import make_app_db, pg_types
from test_cdc import pg_exec as pg_exec_flushed
from test_sync import ROWS, SCHEMA, kill_mid_copy, pg_exec

RUNNERS = runners()
REF = reference()
DUCKLAKE_RUNNERS = [r for r in RUNNERS if "ducklake" in r.extensions]


@pytest.fixture(params=RUNNERS, ids=[r.name for r in RUNNERS])
def runner(request) -> Runner:
    return request.param


def cargo_version() -> str:
    with open(os.path.join(ROOT, "Cargo.toml")) as f:
        return re.search(r'^version = "(.+)"', f.read(), re.M).group(1)


def pg_rows(pg, db, sql, args=None):
    with closing(pg.psycopg(db)) as conn, conn.cursor() as cur:
        cur.execute("SET TimeZone = 'UTC'")
        cur.execute(sql, args)
        return cur.fetchall()


# -- the runners themselves ------------------------------------------------------------------------

@pytest.mark.parametrize("ending, fails", [("os.kill(os.getpid(), signal.SIGSEGV)", "was killed by signal 11"),
                                              ("sys.exit(1)", "exited with 1"), ("pass", None)])
def test_a_python_run_is_judged_by_its_exit_too(ending, fails):
    """A Python child that printed its rows and then crashed at exit (as a DuckDB process whose
    extensions' static destructors run in the wrong order would) fails the run."""
    child = ("import json, os, signal, sys; print(json.dumps({'rows': [{'a': '1'}]}), flush=True); "
             + ending)
    proc = subprocess.Popen([sys.executable, "-c", child], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    if fails is None:
        assert REF.result(proc) == [{"a": "1"}]
    else:
        with pytest.raises(RuntimeError, match=re.escape(f"answered, then {fails}")):
            REF.result(proc)


# -- loading ---------------------------------------------------------------------------------------

def test_loads_and_reports_the_duckdb_it_runs_in(runner):
    rows = runner.query("SELECT *, version() AS running FROM lakemig_version()", EXTENSION)
    assert len(rows) == 1
    row = rows[0]
    assert row["running"] == runner.version  # the runner is the release it says it is
    assert row["duckdb_version"] == runner.version
    assert row["extension_version"] == cargo_version()
    assert row["postgres_client"].startswith("tokio-postgres ") and row["sqlite_client"].startswith("SQLite 3.")


# -- pg_incremental_scan over every type -----------------------------------------------------------

# PostgreSQL's text output of each column as lakemig reads it; lists are compared as JSON
# (array_to_json) because PostgreSQL's array text and DuckDB's list text differ in form only.
# Elements of arrays of unmapped types come as each element's text cast (inet: with its netmask).
PG_EXPR = {**PG_TEXT, "c_inet_arr": "array_to_json(c_inet_arr::text[])::text"}


def duck_to_pg_text(duck_type: str, value: str | None) -> str | None:
    """DuckDB's VARCHAR rendering of a value (lists: to_json) -> PostgreSQL's text output of it."""
    if value is None:
        return None
    if duck_type.endswith("[]"):
        return json.dumps(json.loads(value))
    if duck_type in ("FLOAT", "DOUBLE"):
        return {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}.get(value, value)
    if duck_type == "BLOB":  # '\xDE\xAD' escapes and printable ASCII -> bytea's '\xdead'
        raw = re.sub(rb"\\x([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), value.encode())
        return "\\x" + raw.hex()
    if duck_type.startswith(("DATE", "TIMESTAMP")) and " (BC)" in value:
        return value.replace(" (BC)", "") + " BC"
    if duck_type == "INTERVAL":  # '1 year 2 months 3 days' / '-1 day' -> '1 year 2 mons 3 days' / '-1 days'
        def unit(m: re.Match) -> str:
            n, name = int(m.group(1)), {"year": "year", "month": "mon", "day": "day"}[m.group(2)]
            return f"{n} {name}{'' if n == 1 else 's'}"
        return re.sub(r"(-?\d+) (year|month|day)s?", unit, value)
    return value


def test_incremental_scan_every_type_matches_postgres(runner, pg, pgdb):
    load_fixture(pg, pgdb)
    scan = f"pg_incremental_scan({sql_string(pg.dsn(pgdb))}, 'public.all_types')"
    described = runner.query(f"DESCRIBE SELECT * FROM {scan}", EXTENSION)
    types = {r["column_name"]: r["column_type"] for r in described}
    assert types == TYPES
    cols = list(types)
    select = ", ".join(f"to_json({c}) AS {c}" if t.endswith("[]") else c for c, t in types.items())
    ours = runner.query(f"SELECT {select} FROM {scan} ORDER BY id", EXTENSION)
    pg_select = ", ".join(PG_EXPR.get(c, f"array_to_json({c})::text" if types[c].endswith("[]") else f"{c}::text")
                          for c in cols)
    theirs = pg_rows(pg, pgdb, f"SELECT {pg_select} FROM public.all_types ORDER BY id")
    assert len(ours) == len(theirs) == 5
    mismatches = []
    for r, (mine, text) in enumerate(zip(ours, theirs)):
        for i, c in enumerate(cols):
            want = json.dumps(json.loads(text[i])) if text[i] is not None and types[c].endswith("[]") else text[i]
            got = duck_to_pg_text(types[c], mine[c])
            if got != want:
                mismatches.append(f"row {r} {c}: {runner.name} {mine[c]!r} (as PostgreSQL text {got!r}) != PostgreSQL {want!r}")
    assert not mismatches, "\n".join(mismatches)
    # The same text as the reference release, value for value.
    if runner != REF:
        assert ours == REF.query(f"SELECT {select} FROM {scan} ORDER BY id", EXTENSION)


# -- pg_sync ----------------------------------------------------------------------------------------

# One text per row, identical on both sides when the target equals the source: its digest, row
# count and distinct keys compare a whole table in one value each.
SYNCED = ["id", "email", "plan", "amount", "seats", "active", "tags", "meta", "created_at", "updated_at", "deleted_at"]


def duck_digest(table: str) -> str:
    cols = ", ".join(f"coalesce(to_json({c})::VARCHAR, '∅')" if c == "tags" else f"coalesce({c}::VARCHAR, '∅')"
                     for c in SYNCED)
    return (f"SELECT count(*) AS n, count(DISTINCT id) AS ids, "
            f"md5(string_agg(concat_ws('|', {cols}), chr(10) ORDER BY id)) AS digest FROM {table}")


def pg_digest(pg, db) -> dict:
    cols = ", ".join(f"coalesce(array_to_json({c})::text, '∅')" if c == "tags" else f"coalesce({c}::text, '∅')"
                     for c in SYNCED)
    n, ids, digest = pg_rows(pg, db, f"SELECT count(*), count(DISTINCT id), "
                                     f"md5(string_agg(concat_ws('|', {cols}), chr(10) ORDER BY id)) "
                                     f"FROM analytics.subscriptions")[0]
    return {"n": str(n), "ids": str(ids), "digest": digest}


def sync_sql(dsn: str, **opts: str) -> str:
    args = "".join(f", {k} := {v}" for k, v in opts.items())
    return f"SELECT * FROM pg_sync({sql_string(dsn)}, 'analytics.subscriptions'{args})"


def test_pg_sync_into_a_duckdb_file(runner, pg, pgdb, tmp_path):
    pg_exec(pg, pgdb, SCHEMA)
    # Rows wide enough that a COPY of them takes long enough to be caught and SIGKILLed.
    pg_exec(pg, pgdb, ROWS.format(start=1, stop=150_000))
    pg_exec(pg, pgdb, "ALTER TABLE analytics.subscriptions ADD COLUMN pad text DEFAULT repeat('x', 600)")
    dsn, db = pg.dsn(pgdb), str(tmp_path / "target.duckdb")

    def sync(**opts) -> dict:
        [row] = runner.query(sync_sql(dsn, batch_size="2048", **opts), EXTENSION, db)
        return row

    def target() -> dict:
        [row] = runner.query(duck_digest("subscriptions"), EXTENSION, db)
        return row

    # SIGKILLed during the bootstrap: nothing of it remains, the next sync bootstraps from scratch.
    kill_mid_copy(pg, pgdb, runner.start([sync_sql(dsn, batch_size="2048")], EXTENSION, db))
    r = sync()
    assert (r["mode"], r["rows_upserted"], r["rows_deleted"]) == ("bootstrap", "150000", "0")
    assert r["target"] == "target.main.subscriptions"
    assert target() == pg_digest(pg, pgdb)

    # A change round: inserts, updates, a soft delete.
    pg_exec(pg, pgdb, ROWS.format(start=150_001, stop=150_010))
    pg_exec(pg, pgdb, "UPDATE analytics.subscriptions SET plan = 'enterprise', seats = 99 WHERE id IN (5, 6, 7)")
    pg_exec(pg, pgdb, "UPDATE analytics.subscriptions SET deleted_at = now() WHERE id = 8")
    r = sync()
    assert (r["mode"], r["rows_upserted"], r["rows_deleted"]) == ("incremental", "14", "0")
    assert r["watermark_after"] > r["watermark_before"]
    assert target() == pg_digest(pg, pgdb)

    # Hard deletes.
    pg_exec(pg, pgdb, "DELETE FROM analytics.subscriptions WHERE id IN (1, 2, 150005)")
    r = sync(hard_deletes="true")
    assert (r["rows_upserted"], r["rows_deleted"]) == ("0", "3")
    before = target()
    assert before == pg_digest(pg, pgdb)

    # SIGKILLed during an incremental sync of many rows: the target and its checkpoint are as they
    # were; the rerun completes it without duplicates.
    pg_exec(pg, pgdb, "UPDATE analytics.subscriptions SET plan = 'changed' WHERE id % 2 = 0")
    kill_mid_copy(pg, pgdb, runner.start([sync_sql(dsn, batch_size="2048")], EXTENSION, db))
    assert target() == before
    [state] = runner.query("SELECT runs, rows_total, last_mode FROM pg_sync_state()", EXTENSION, db)
    assert state == {"runs": "3", "rows_total": "150014", "last_mode": "incremental"}
    [(changed,)] = pg_rows(pg, pgdb, "SELECT count(*) FROM analytics.subscriptions WHERE plan = 'changed'")
    r = sync()
    assert (r["mode"], r["rows_upserted"]) == ("incremental", str(changed))
    assert target() == pg_digest(pg, pgdb)


def test_pg_sync_by_cdc_into_a_duckdb_file(runner, pg, pgdb, tmp_path):
    """method := 'cdc' into a DuckDB file: each key's first write of a call goes straight into the
    target and is told apart from the older rows by DuckDB's rowid, which every release must number
    past the table's; later changes of the same keys (thousands: many staged batches) and deletes."""
    pg_exec(pg, pgdb, SCHEMA)
    pg_exec(pg, pgdb, ROWS.format(start=1, stop=3000))
    dsn, db = pg.dsn(pgdb), str(tmp_path / "target.duckdb")

    def sync() -> dict:
        [row] = runner.query(sync_sql(dsn, method="'cdc'"), EXTENSION, db)
        return row

    r = sync()
    assert (r["mode"], r["rows_upserted"]) == ("bootstrap", "3000")
    # Flushed commits: logical decoding reads the WAL only up to what is flushed.
    pg_exec_flushed(pg, pgdb, ROWS.format(start=3001, stop=6000))
    pg_exec_flushed(pg, pgdb, "UPDATE analytics.subscriptions SET plan = 'team', seats = seats + 1 WHERE id % 2 = 0")
    pg_exec_flushed(pg, pgdb, "DELETE FROM analytics.subscriptions WHERE id % 7 = 0")
    pg_exec_flushed(pg, pgdb, "UPDATE analytics.subscriptions SET seats = 0 WHERE id % 3 = 0")
    r = sync()
    assert r["mode"] == "cdc"
    [row] = runner.query(duck_digest("subscriptions"), EXTENSION, db)
    assert row == pg_digest(pg, pgdb)
    [state] = runner.query("SELECT rows_total FROM pg_sync_state()", EXTENSION, db)
    assert state["rows_total"] == row["n"]
    pg_exec(pg, pgdb, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                      "WHERE database = current_database()")


@pytest.mark.parametrize("runner", DUCKLAKE_RUNNERS, ids=[r.name for r in DUCKLAKE_RUNNERS])
def test_pg_sync_into_a_ducklake(runner, pg, pgdb, tmp_path):
    """With the DuckLake extension of the runner's own release (1.4.4 writes catalog version 0.3)."""
    pg_exec(pg, pgdb, SCHEMA)
    pg_exec(pg, pgdb, ROWS.format(start=1, stop=3000))
    dsn = pg.dsn(pgdb)
    attach = f"ATTACH 'ducklake:{tmp_path}/lake.ducklake' AS lake (DATA_PATH '{tmp_path}/data')"
    lake = ("ducklake",)

    def sync(**opts) -> dict:
        [row] = runner.query([attach, sync_sql(dsn, target="'lake.raw.subscriptions'", **opts)], EXTENSION, load=lake)
        return row

    def target() -> dict:
        [row] = runner.query([attach, duck_digest("lake.raw.subscriptions")], EXTENSION, load=lake)
        return row

    def snapshots() -> int:
        return int(runner.query([attach, "SELECT count(*) AS n FROM ducklake_snapshots('lake')"], None, load=lake)[0]["n"])

    r = sync()
    assert (r["mode"], r["target"], r["rows_upserted"]) == ("bootstrap", "lake.raw.subscriptions", "3000")
    assert target() == pg_digest(pg, pgdb)
    n = snapshots()
    pg_exec(pg, pgdb, "UPDATE analytics.subscriptions SET plan = 'team', deleted_at = now() WHERE id % 100 = 0")
    pg_exec(pg, pgdb, ROWS.format(start=3001, stop=3005))
    pg_exec(pg, pgdb, "DELETE FROM analytics.subscriptions WHERE id = 1")
    r = sync(hard_deletes="true")
    assert (r["rows_upserted"], r["rows_deleted"]) == ("35", "1")
    assert target() == pg_digest(pg, pgdb)
    assert snapshots() == n + 1  # rows, deletes and checkpoint in one DuckLake snapshot
    version = runner.query([attach, "SELECT value FROM __ducklake_metadata_lake.ducklake_metadata WHERE key = 'version'"],
                           None, load=lake)[0]["value"]
    assert version == {"1.5.5": "1.0", "1.4.4": "0.3"}[runner.release]


# -- sqlite_migrate and sqlite_catalog_migrate ------------------------------------------------------

def schema_shape(pg, db, schema: str) -> dict:
    """Columns (types, NOT NULL, defaults, identity), constraints and indexes of a schema, with the
    schema's own name taken out so that two schemas compare."""
    def strip(s):
        return None if s is None else s.replace(f'"{schema}".', "").replace(f"{schema}.", "")

    columns = {k: tuple(strip(v) if isinstance(v, str) else v for v in vals) for k, vals in pg_types(pg, db, schema).items()}
    constraints = sorted((c, strip(d)) for c, d in pg_rows(
        pg, db, "SELECT conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE connamespace = %s::regnamespace", (schema,)))
    indexes = sorted(strip(d) for (d,) in pg_rows(pg, db, "SELECT indexdef FROM pg_indexes WHERE schemaname = %s", (schema,)))
    return {"columns": columns, "constraints": [(strip(t), d) for t, d in constraints], "indexes": indexes}


def assert_same_rows(pg, db, a: str, b: str):
    """Every table of schema `a` holds exactly the rows of the same table in schema `b`."""
    tables = [t for (t,) in pg_rows(pg, db, "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY 1", (a,))]
    assert tables == [t for (t,) in pg_rows(pg, db, "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY 1", (b,))]
    for t in tables:
        for x, y in ((a, b), (b, a)):
            diff = pg_rows(pg, db, f'SELECT count(*) FROM (SELECT * FROM "{x}"."{t}" EXCEPT ALL SELECT * FROM "{y}"."{t}") d')
            assert diff == [(0,)], f"{x}.{t} has rows {y}.{t} lacks"
    return tables


def test_sqlite_migrate(runner, pg, pgdb, tmp_path):
    path = str(tmp_path / "app.sqlite")
    make_app_db(path)
    dsn = pg.dsn(pgdb)

    def migrate(who: Runner, schema: str) -> list[dict]:
        rows = who.query(f"SELECT * FROM sqlite_migrate({sql_string(path)}, {sql_string(dsn)}, schema := '{schema}')", EXTENSION)
        return [{k: v for k, v in r.items() if k not in ("target", "seconds")} for r in rows]

    got = migrate(runner, "got")
    assert [(r["table_name"], r["rows"], r["verified"], r["committed"]) for r in got] == [
        ("users", "50", "true", "true"), ("posts", "120", "true", "true")]
    assert got == migrate(REF, "ref")
    assert schema_shape(pg, pgdb, "got") == schema_shape(pg, pgdb, "ref")
    assert assert_same_rows(pg, pgdb, "got", "ref") == ["posts", "users"]


def lake_workload(attach: str) -> list[str]:
    """A DuckLake with a table of every type: rows in a Parquet file, rows inlined in the catalog,
    an update, deletes and a view (each statement one snapshot)."""
    rows = ", ".join(workload.row(k) for k in range(40))
    # DuckLake 1.4.4 writes an inlined BLOB into a PostgreSQL catalog as a literal PostgreSQL cannot
    # parse ('\x00d'::BYTEA: "invalid hexadecimal data"), so the inlined row's BLOB is plain text.
    inlined = workload.row(100).replace("'\\x00\\x64'::BLOB", "'blob'::BLOB")
    assert inlined != workload.row(100)
    return [attach, "CREATE SCHEMA lake.s", f"CREATE TABLE lake.s.t ({workload.TYPES})",
            f"INSERT INTO lake.s.t VALUES {rows}",                  # into a Parquet file
            f"INSERT INTO lake.s.t VALUES {inlined}",               # inlined in the catalog
            "UPDATE lake.s.t SET s = s || '+' WHERE i32 % 3 = 0",
            "DELETE FROM lake.s.t WHERE i16 % 5 = 0",
            "CREATE VIEW lake.s.v AS SELECT i32, s FROM lake.s.t WHERE b",
            "SELECT count(*) AS n FROM lake.snapshots()"]


def make_sqlite_catalog(who: Runner, root) -> dict:
    """A DuckLake SQLite catalog made by `who`'s own DuckLake extension, and what DuckLake reads from it."""
    path, data = str(root / "catalog.sqlite"), str(root / "data")
    attach = f"ATTACH 'ducklake:sqlite:{path}' AS lake (DATA_PATH '{data}', DATA_INLINING_ROW_LIMIT 10)"
    who.query(lake_workload(attach), None, load=("ducklake", "sqlite_scanner"))
    with closing(sqlite3.connect(path)) as c:
        version = c.execute("SELECT value FROM ducklake_metadata WHERE key = 'version'").fetchone()[0]
    read = who.query([attach, "SELECT * FROM lake.s.t ORDER BY ALL"], None, load=("ducklake", "sqlite_scanner"))
    assert len(read) == 32
    return {"path": path, "data": data, "read": read, "version": version}


@pytest.fixture(scope="module")
def lake_catalog(tmp_path_factory):
    """A catalog made by the reference release (DuckLake catalog version 1.0)."""
    made = make_sqlite_catalog(REF, tmp_path_factory.mktemp("compat-lake"))
    assert made["version"] == "1.0"
    return made


def test_sqlite_catalog_migrate(runner, pg, pgdb, lake_catalog):
    dsn = pg.dsn(pgdb)

    def migrate(who: Runner, schema: str) -> list[dict]:
        rows = who.query(f"SELECT table_name AS \"table\", rows, verified, ddl FROM sqlite_catalog_migrate("
                         f"{sql_string(lake_catalog['path'])}, {sql_string(dsn)}, schema := '{schema}')", EXTENSION)
        return [{**r, "ddl": r["ddl"].replace(f'"{schema}".', "")} for r in rows]

    got = migrate(runner, "got")
    assert len(got) > 20 and all(r["verified"] == "true" for r in got)
    assert got == migrate(REF, "ref")
    assert schema_shape(pg, pgdb, "got") == schema_shape(pg, pgdb, "ref")
    assert_same_rows(pg, pgdb, "got", "ref")
    # DuckLake (1.5.5, the release that made the catalog) reads the migrated catalog as it read the SQLite one.
    read = REF.query([f"ATTACH 'ducklake:postgres:{dsn}' AS lake (DATA_PATH '{lake_catalog['data']}', METADATA_SCHEMA 'got')",
                      "SELECT * FROM lake.s.t ORDER BY ALL"], None, load=("ducklake", "postgres_scanner"))
    assert read == lake_catalog["read"]


# -- bad inputs -------------------------------------------------------------------------------------

def error_of(runner: Runner, statements: list[str]) -> DuckDBError:
    with pytest.raises(DuckDBError) as info:
        runner.query(statements, EXTENSION)
    return info.value


def bad_inputs(pg, pgdb, tmp_path) -> dict[str, tuple[list[str], str]]:
    """name -> (statements, what lakemig's message must say)."""
    dsn = pg.dsn(pgdb)
    wrong = pg.dsn(pgdb, password="wrong-secret-compat")
    return {
        "unknown table": ([f"SELECT * FROM pg_incremental_scan({sql_string(dsn)}, 'analytics.subscriptionz')"],
                          'pg_incremental_scan: table "analytics"."subscriptionz" does not exist'),
        "bad dsn": ([f"SET VARIABLE pg = {sql_string(wrong)}",
                     "SELECT * FROM pg_sync(getvariable('pg'), 'analytics.subscriptions')"],
                    f"pg_sync: could not connect to PostgreSQL at 127.0.0.1:{pg.port}"),
        "bad target": ([sync_sql(dsn, target="'nolake.main.subs'")], 'no attached database named "nolake"'),
        "missing sqlite file": ([f"SELECT * FROM sqlite_migrate('{tmp_path}/missing.sqlite', {sql_string(dsn)})"],
                                "sqlite_migrate:"),
    }


def test_bad_inputs_give_the_same_errors(runner, pg, pgdb, tmp_path):
    pg_exec(pg, pgdb, SCHEMA)
    cases = bad_inputs(pg, pgdb, tmp_path)
    for name, (statements, says) in cases.items():
        err = error_of(runner, statements)
        assert says in err.first_line, (name, str(err))
        assert "wrong-secret-compat" not in str(err), (name, str(err))
        if runner != REF:
            assert err.first_line == error_of(REF, statements).first_line, name
    assert "password authentication failed" in str(error_of(runner, cases["bad dsn"][0]))


CATALOG_COLUMNS = ("SELECT table_name, column_name, ordinal_position, data_type, is_nullable, numeric_precision, "
                   "numeric_scale, datetime_precision FROM information_schema.columns WHERE table_schema = %s ORDER BY 1, 3")


@pytest.fixture(scope="module")
def own_lakes(pg, tmp_path_factory):
    """own_lakes(runner), for a runner with DuckLake wheels: a SQLite catalog made by its own DuckLake
    (1.4.4: catalog version 0.3), moved by lakemig (run in that runner) into the schema "stage" of a
    database of its own, and the same workload on a catalog that DuckLake of that release created
    natively in the schema "native" there. Made once per runner for the tests below."""
    made: dict[str, dict] = {}

    def own_lake(runner: Runner) -> dict:
        if runner.release in made:
            return made[runner.release]
        root = tmp_path_factory.mktemp(f"own-lake-{runner.release}")
        lake = make_sqlite_catalog(runner, root)
        assert lake["version"] == {"1.5.5": "1.0", "1.4.4": "0.3"}[runner.release]
        db = pg.create_database("own_lake_" + runner.release.replace(".", "_"))
        dsn = pg.dsn(db)
        runner.query(lake_workload(f"ATTACH 'ducklake:postgres:{dsn}' AS lake (DATA_PATH '{root}/native', "
                                   "METADATA_SCHEMA 'native', DATA_INLINING_ROW_LIMIT 10)"), None, load=LAKE_PG)
        moved = runner.query(f"SELECT table_name AS \"table\", verified FROM sqlite_catalog_migrate({sql_string(lake['path'])}, "
                             f"{sql_string(dsn)}, schema := 'stage')", EXTENSION)
        assert moved and all(r["verified"] == "true" for r in moved)
        lake["columns"] = {s: pg_rows(pg, db, CATALOG_COLUMNS, (s,)) for s in ("native", "stage")}
        lake["attach"] = (f"ATTACH 'ducklake:postgres:{dsn}' AS lake (DATA_PATH '{lake['data']}', "
                          "METADATA_SCHEMA 'stage', DATA_INLINING_ROW_LIMIT 10)")
        lake["read_moved"] = runner.query([lake["attach"], "SELECT * FROM lake.s.t ORDER BY ALL"], None, load=LAKE_PG)
        made[runner.release] = lake
        return lake

    return own_lake


LAKE_PG = ("ducklake", "postgres_scanner")


@pytest.mark.parametrize("runner", DUCKLAKE_RUNNERS, ids=[r.name for r in DUCKLAKE_RUNNERS])
def test_ducklake_catalog_of_the_runners_own_release(runner, own_lakes):
    """The moved catalog's tables have the columns DuckLake of that release creates natively on
    PostgreSQL; that DuckLake reads every row as it read the SQLite file, and writes a Parquet file."""
    own_lake = own_lakes(runner)
    native, got = (own_lake["columns"][s] for s in ("native", "stage"))
    catalog = {r[0] for r in native if not r[0].startswith("ducklake_inlined_data_")}
    assert [r for r in got if r[0] in catalog] == [r for r in native if r[0] in catalog]
    assert own_lake["read_moved"] == own_lake["read"]
    attach = own_lake["attach"]
    many = ", ".join(workload.row(k) for k in range(424242, 424262))  # over the inlining limit: a Parquet file
    runner.query([attach, f"INSERT INTO lake.s.t VALUES {many}", "SELECT 1"], None, load=LAKE_PG)
    assert runner.query([attach, "SELECT s, u FROM lake.s.t WHERE i64 = 424242::BIGINT * 1000003"], None, load=LAKE_PG) == [
        {"s": "name '424242' é", "u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd384242"}]


@pytest.mark.parametrize("runner", DUCKLAKE_RUNNERS, ids=[r.name for r in DUCKLAKE_RUNNERS])
def test_ducklake_inlined_data_of_the_runners_own_release(runner, own_lakes):
    """Inlined-data tables of the moved catalog have the column types DuckLake of that release gives
    them on PostgreSQL, and a row that DuckLake inlines there reads back as written."""
    own_lake = own_lakes(runner)
    native, got = (own_lake["columns"][s] for s in ("native", "stage"))
    inlined = {r[0] for r in native if r[0].startswith("ducklake_inlined_data_")} & {r[0] for r in got}
    assert inlined
    assert [r for r in got if r[0] in inlined] == [r for r in native if r[0] in inlined]
    attach = own_lake["attach"]
    row = workload.row(7).replace("'\\x00\\x07'::BLOB", "'blob'::BLOB")  # see lake_workload
    runner.query([attach, f"INSERT INTO lake.s.t VALUES {row}", "SELECT 1"], None, load=LAKE_PG)
    written = runner.query([attach, "SELECT * FROM lake.s.t WHERE i64 = 7::BIGINT * 1000003 AND bl = 'blob'::BLOB"],
                           None, load=LAKE_PG)
    expected = runner.query([f"CREATE TABLE t ({workload.TYPES})", f"INSERT INTO t VALUES {row}", "SELECT * FROM t"], None)
    assert written == expected
