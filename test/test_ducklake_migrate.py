"""sqlite_catalog_migrate() and ducklake_fix_types() against the real DuckLake 1.5.5 extension and a
real PostgreSQL: a SQLite catalog built by DuckLake itself is moved (by lakemig, and by pgloader +
ducklake_fix_types), then read back through DuckLake at the latest and older snapshots, compared column
for column with a catalog DuckLake created natively on PostgreSQL, and written to."""
from __future__ import annotations

from contextlib import closing

import os
import shutil
import sqlite3
import subprocess

import pytest

import ducklake_workload as workload
from conftest import duckdb_connect

SNAPSHOTS = 1000
COLUMNS_SQL = ("SELECT table_name, column_name, ordinal_position, data_type, is_nullable, numeric_precision, "
               "numeric_scale, datetime_precision FROM information_schema.columns WHERE table_schema = 'stage' "
               "ORDER BY 1, 3")


def duck():
    return duckdb_connect(extensions=("ducklake", "postgres_scanner", "sqlite_scanner"))


def attach_pg(con, pg, db, data, alias="lake"):
    con.execute(f"ATTACH 'ducklake:postgres:{pg.dsn(db)}' AS {alias} (DATA_PATH '{data}', METADATA_SCHEMA 'stage')")


def snapshot_contents(con, lake, versions):
    """Every table's rows (sorted, as text) at the latest snapshot and at each of `versions`."""
    out = {}
    for t in workload.user_tables(con, lake):
        out[t.split(".", 1)[1]] = str(con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall())
    for v in versions:
        for t in workload.user_tables(con, lake):
            try:
                rows = con.execute(f"SELECT * FROM {t} AT (VERSION => {v}) ORDER BY ALL").fetchall()
            except Exception as e:  # a table that did not exist yet at that snapshot
                rows = type(e).__name__
            out[(t.split(".", 1)[1], v)] = str(rows)
    out["views"] = str(con.execute(f"SELECT * FROM {lake}.s0.v ORDER BY ALL").fetchall())
    out["macro"] = str(con.execute(f"SELECT {lake}.s0.twice(21)").fetchall())
    return out


@pytest.fixture(scope="module")
def catalog(pg, tmp_path_factory):
    """The SQLite catalog (and its data files), what DuckLake reads from it, and the columns of a
    catalog DuckLake created natively on PostgreSQL with the same workload."""
    root = tmp_path_factory.mktemp("lake")
    path, data = str(root / "cat.sqlite"), str(root / "data")
    con = duck()
    con.execute(f"ATTACH 'ducklake:sqlite:{path}' AS lake (DATA_PATH '{data}', DATA_INLINING_ROW_LIMIT 10)")
    workload.build(con, "lake", SNAPSHOTS)
    last = con.execute("SELECT max(snapshot_id) FROM lake.snapshots()").fetchone()[0]
    versions = [5, 40, 70, last // 2, last - 3]
    expected = snapshot_contents(con, "lake", versions)
    con.close()
    # The same workload on a native PostgreSQL catalog, for its information_schema.
    pg.create_database("native")
    con = duck()
    con.execute(f"ATTACH 'ducklake:postgres:{pg.dsn('native')}' AS lake (DATA_PATH '{root / 'native'}', "
                "METADATA_SCHEMA 'stage', DATA_INLINING_ROW_LIMIT 10)")
    workload.build(con, "lake", 150)
    con.close()
    with closing(pg.psycopg("native")) as conn, conn.cursor() as cur:
        cur.execute(COLUMNS_SQL)
        native = cur.fetchall()
    return {"path": path, "data": data, "versions": versions, "expected": expected, "native": native}


def columns(pg, db):
    with closing(pg.psycopg(db)) as conn, conn.cursor() as cur:
        cur.execute(COLUMNS_SQL)
        return cur.fetchall()


def check_catalog(pg, db, catalog):
    """Same contents as through SQLite (latest and time travel), same columns as native, writable."""
    got = columns(pg, db)
    native = catalog["native"]
    # Catalog tables: identical. Inlined-data tables: identical wherever both catalogs have one.
    both = {r[0] for r in got} & {r[0] for r in native}
    assert {r[0] for r in native if not r[0].startswith("ducklake_inlined")} <= both
    assert [r for r in got if r[0] in both] == [r for r in native if r[0] in both]
    assert any(t.startswith("ducklake_inlined_data_") for t in both)
    con = duck()
    attach_pg(con, pg, db, catalog["data"])
    assert snapshot_contents(con, "lake", catalog["versions"]) == catalog["expected"]
    # Writes: a new row into a table with inlined data, read back; then flush the inlined data.
    con.execute(f"INSERT INTO lake.s0.t0 VALUES {workload.row(424242)}")
    assert con.execute("SELECT s, j::VARCHAR, f, u FROM lake.s0.t0 WHERE i64 = 424242::BIGINT * 1000003").fetchall() == [
        ("name '424242' é", '{"k": 424242, "a": [1, 2]}', 424242.5, __import__("uuid").UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd384242"))]
    before = con.execute("SELECT * FROM lake.s1.t0 ORDER BY ALL").fetchall()
    con.execute("CALL ducklake_flush_inlined_data('lake')")
    assert con.execute("SELECT * FROM lake.s1.t0 ORDER BY ALL").fetchall() == before
    con.execute("CREATE TABLE lake.s2.new_table AS SELECT 1 AS a")
    assert con.execute("SELECT * FROM lake.s2.new_table").fetchall() == [(1,)]
    con.close()


def test_migrate_matches_sqlite_and_native(pg, catalog, tmp_path):
    pg.create_database("migrated")
    con = duck()
    dsn = pg.dsn("migrated")
    plan = con.execute(f"SELECT table_name, rows, verified, ddl FROM sqlite_catalog_migrate('{catalog['path']}', "
                       f"'{dsn}', schema := 'stage', dry_run := true)").fetchall()
    assert len(plan) > 28 and not any(r[2] for r in plan)
    assert columns(pg, "migrated") == []
    rows = con.execute(f"SELECT table_name, rows, verified, seconds FROM sqlite_catalog_migrate("
                       f"'{catalog['path']}', '{dsn}', schema := 'stage')").fetchall()
    assert [r[:3] for r in rows] == [(t, n, True) for t, n, _, _ in plan]
    assert sum(r[1] for r in rows) > 5000
    # Nothing left for ducklake_fix_types to do.
    assert con.execute(f"SELECT count(*) FROM ducklake_fix_types('{dsn}', schema := 'stage')").fetchone() == (0,)
    con.close()
    check_catalog(pg, "migrated", catalog)


def test_pgloader_then_fix_types(pg, catalog, tmp_path):
    pg.create_database("pgloaded")
    with closing(pg.psycopg("pgloaded")) as conn, conn.cursor() as cur:
        cur.execute("CREATE SCHEMA stage")
    load = tmp_path / "load.pgl"
    load.write_text(f"LOAD DATABASE FROM sqlite://{catalog['path']}\n"
                    f"  INTO postgresql://{pg.user}:{pg.password}@{pg.host}:{pg.port}/pgloaded\n"
                    "  WITH include drop, create tables, create indexes, reset sequences\n"
                    "  SET search_path to 'stage';\n")
    subprocess.run(["pgloader", str(load)], check=True, capture_output=True, cwd=tmp_path, timeout=300)
    con = duck()
    dsn = pg.dsn("pgloaded")
    planned = con.execute(f"SELECT * FROM ducklake_fix_types('{dsn}', schema := 'stage', dry_run := true)").fetchall()
    assert not any(r[5] for r in planned)
    fixed = {(r[0], r[1]) for r in planned}
    assert ("ducklake_file_variant_stats", "contains_nan") in fixed
    assert ("ducklake_column", "nulls_allowed") in fixed
    assert any(t.startswith("ducklake_inlined_data_") and to == "bytea" for t, _, _, to, _, _ in planned)
    assert columns(pg, "pgloaded") != catalog["native"][:0] and ("ducklake_snapshot", "snapshot_time") in fixed
    applied = con.execute(f"SELECT * FROM ducklake_fix_types('{dsn}', schema := 'stage')").fetchall()
    assert [r[:5] for r in applied] == [r[:5] for r in planned] and all(r[5] for r in applied)
    assert con.execute(f"SELECT count(*) FROM ducklake_fix_types('{dsn}', schema := 'stage')").fetchone() == (0,)
    con.close()
    check_catalog(pg, "pgloaded", catalog)


def test_fix_types_unconvertible_value_changes_nothing(pg, catalog, tmp_path):
    pg.create_database("badvalue")
    con = duck()
    dsn = pg.dsn("badvalue")
    con.execute(f"SELECT * FROM sqlite_catalog_migrate('{catalog['path']}', '{dsn}', schema := 'stage')").fetchall()
    with closing(pg.psycopg("badvalue")) as conn, conn.cursor() as cur:
        cur.execute("ALTER TABLE stage.ducklake_table ALTER COLUMN path_is_relative TYPE bigint USING path_is_relative::int")
        cur.execute("UPDATE stage.ducklake_table SET path_is_relative = 7 WHERE table_id = (SELECT min(table_id) FROM stage.ducklake_table)")
        cur.execute("ALTER TABLE stage.ducklake_schema ALTER COLUMN schema_uuid TYPE text")
    before = columns(pg, "badvalue")
    with pytest.raises(Exception, match=r'ducklake_fix_types: cannot convert "stage"."ducklake_table"."path_is_relative" to boolean: value \'7\''):
        con.execute(f"SELECT * FROM ducklake_fix_types('{dsn}', schema := 'stage')").fetchall()
    assert columns(pg, "badvalue") == before
    con.close()


def test_errors_leave_the_target_unchanged(pg, catalog, tmp_path):
    pg.create_database("errors")
    dsn = pg.dsn("errors")
    con = duck()

    def migrate(path, **kw):
        extra = "".join(f", {k} := '{v}'" for k, v in kw.items())
        return con.execute(f"SELECT * FROM sqlite_catalog_migrate('{path}', '{dsn}', schema := 'stage'{extra})").fetchall()

    not_lake = tmp_path / "plain.sqlite"
    with closing(sqlite3.connect(not_lake)) as c:
        c.execute("CREATE TABLE t (a INTEGER)")
        c.commit()
    with pytest.raises(Exception, match="is not a DuckLake catalog"):
        migrate(not_lake)
    with pytest.raises(Exception, match="no such file"):
        migrate(tmp_path / "missing.sqlite")
    corrupt = tmp_path / "corrupt.sqlite"
    raw = open(catalog["path"], "rb").read()
    corrupt.write_bytes(raw[:100] + b"\xde\xad" * ((len(raw) - 100) // 2))
    with pytest.raises(Exception, match="sqlite_catalog_migrate: .*corrupt.sqlite"):
        migrate(corrupt)
    old = tmp_path / "v09.sqlite"
    shutil.copy(catalog["path"], old)
    with closing(sqlite3.connect(old)) as c:
        c.execute("UPDATE ducklake_metadata SET value = '0.9' WHERE key = 'version'")
        c.commit()
    with pytest.raises(Exception, match='DuckLake catalog version "0.9" is not supported'):
        migrate(old)
    assert columns(pg, "errors") == []
    # A non-empty schema is refused unless if_exists := 'replace'.
    with closing(pg.psycopg("errors")) as conn, conn.cursor() as cur:
        cur.execute("CREATE SCHEMA stage; CREATE TABLE stage.ducklake_metadata (x int)")
    with pytest.raises(Exception, match='schema "stage" is not empty'):
        migrate(catalog["path"])
    assert [r[1] for r in columns(pg, "errors")] == ["x"]
    assert len(migrate(catalog["path"], if_exists="replace")) > 28
    # PostgreSQL dying in the middle of a COPY: the backend kills itself on the first row of
    # ducklake_column (an event trigger puts a row trigger on the table when it is created).
    pg.create_database("dies")
    with closing(pg.psycopg("dies")) as conn, conn.cursor() as cur:
        cur.execute("""
            CREATE FUNCTION die() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NEW; END $$;
            CREATE FUNCTION arm() RETURNS event_trigger LANGUAGE plpgsql AS $$
            DECLARE r record;
            BEGIN
              FOR r IN SELECT * FROM pg_event_trigger_ddl_commands() LOOP
                IF r.object_identity = 'stage.ducklake_column' THEN
                  EXECUTE 'CREATE TRIGGER die BEFORE INSERT ON stage.ducklake_column FOR EACH ROW EXECUTE FUNCTION die()';
                END IF;
              END LOOP;
            END $$;
            CREATE EVENT TRIGGER arm ON ddl_command_end WHEN TAG IN ('CREATE TABLE') EXECUTE FUNCTION arm();
        """)
    with pytest.raises(Exception, match="sqlite_catalog_migrate: .*(terminat|broke|closed)"):
        con.execute(f"SELECT * FROM sqlite_catalog_migrate('{catalog['path']}', '{pg.dsn('dies')}', schema := 'stage')").fetchall()
    assert columns(pg, "dies") == []
    con.close()


def test_result_columns_are_sqlite_migrates(pg, catalog):
    """One pipeline, one result shape: sqlite_migrate's columns (same names and types), then ddl."""
    pg.create_database("columns")
    dsn = pg.dsn("columns")
    con = duck()
    generic = con.execute(f"DESCRIBE SELECT * FROM sqlite_migrate('{catalog['path']}', '{dsn}')").fetchall()
    described = con.execute(f"DESCRIBE SELECT * FROM sqlite_catalog_migrate('{catalog['path']}', '{dsn}')").fetchall()
    assert [r[:2] for r in described] == [r[:2] for r in generic] + [("ddl", "VARCHAR")]
    assert [r[0] for r in generic] == ["table_name", "target", "rows", "verified", "checksum", "seconds",
                                       "committed", "notes"]
    rows = con.execute(f"SELECT * FROM sqlite_catalog_migrate('{catalog['path']}', '{dsn}', schema := 'stage', "
                       "verify := false, data_path := 's3://bucket/lake')").fetchall()
    assert all(r[1] == f'"stage"."{r[0]}"' and r[3] is None and r[4] is None and r[6] is True and r[7] is None
               for r in rows), rows[:3]
    assert all(r[8].startswith(f'CREATE TABLE "stage"."{r[0]}"(') for r in rows)
    with closing(pg.psycopg("columns")) as conn, conn.cursor() as cur:
        cur.execute("SELECT value FROM stage.ducklake_metadata WHERE key = 'data_path'")
        assert cur.fetchall() == [("s3://bucket/lake/",)]
    # Verified: the checksum counts the rows the row reports.
    rows = con.execute(f"SELECT * FROM sqlite_catalog_migrate('{catalog['path']}', '{dsn}', schema := 'stage', "
                       "if_exists := 'replace')").fetchall()
    assert all(r[3] is True and r[4].split(":")[0] == str(r[2]) for r in rows), rows[:3]
    # 'replace' drops the catalog's tables only: a schema that holds others is refused, unchanged.
    with closing(pg.psycopg("columns")) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE stage.mine (x int)")
    before = columns(pg, "columns")
    with pytest.raises(Exception, match=r'sqlite_catalog_migrate: schema "stage" holds tables that are not part '
                                        r'of a DuckLake catalog \(mine\)'):
        con.execute(f"SELECT * FROM sqlite_catalog_migrate('{catalog['path']}', '{dsn}', schema := 'stage', "
                    "if_exists := 'replace')").fetchall()
    assert columns(pg, "columns") == before
    con.close()


# A row trigger, put by an event trigger on one catalog table when it is created, changes one row on its
# way in: verification must notice, name the table and the row, and leave nothing behind.
CATALOG_TAMPER = """
    CREATE FUNCTION tamper() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        {change}
        RETURN NEW;
    END $$;
    CREATE FUNCTION arm() RETURNS event_trigger LANGUAGE plpgsql AS $$
    DECLARE r record;
    BEGIN
      FOR r IN SELECT * FROM pg_event_trigger_ddl_commands() LOOP
        IF r.object_identity = 'stage.{table}' THEN
          EXECUTE 'CREATE TRIGGER tamper BEFORE INSERT ON stage.{table} FOR EACH ROW EXECUTE FUNCTION tamper()';
        END IF;
      END LOOP;
    END $$;
    CREATE EVENT TRIGGER arm ON ddl_command_end WHEN TAG IN ('CREATE TABLE') EXECUTE FUNCTION arm();
"""


@pytest.mark.parametrize("table,change,sample", [
    ("ducklake_snapshot", "IF NEW.snapshot_id = 3 THEN NEW.schema_version := NEW.schema_version + 100; END IF;",
     "the row with key (snapshot_id=3) differs"),
    # No primary key: the whole row names it, and the changed row is missing as it was.
    ("ducklake_metadata", "IF NEW.key = 'version' THEN NEW.value := '9.9'; END IF;",
     "the row with key (key=version, value=1.0"),
])
def test_verification_catches_a_tampered_catalog(pg, catalog, table, change, sample):
    db = pg.create_database(f"tampered_{table}")
    with closing(pg.psycopg(db)) as conn, conn.cursor() as cur:
        cur.execute(CATALOG_TAMPER.replace("{table}", table).replace("{change}", change))
    con = duck()
    with pytest.raises(Exception) as info:
        con.execute(f"SELECT * FROM sqlite_catalog_migrate('{catalog['path']}', '{pg.dsn(db)}', schema := 'stage')").fetchall()
    err = str(info.value)
    assert f'sqlite_catalog_migrate: verification failed for table "stage"."{table}"' in err, err
    assert sample in err and "nothing was written" in err, err
    assert columns(pg, db) == []
    # Without verification the tampered copy goes through unnoticed.
    rows = con.execute(f"SELECT table_name, verified FROM sqlite_catalog_migrate('{catalog['path']}', "
                       f"'{pg.dsn(db)}', schema := 'stage', verify := false)").fetchall()
    assert (table, None) in rows
    con.close()
