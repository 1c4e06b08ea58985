"""A DuckLake workload run identically on any catalog backend (tests and bench/bench_catalog.py):
schemas, tables of every column type, thousands of snapshots of inserts/updates/deletes, views,
macros, tags, a partitioned and a sorted table, schema evolution, compaction and inlined data."""
from __future__ import annotations

TYPES = ("b BOOLEAN, i8 TINYINT, i16 SMALLINT, i32 INTEGER, i64 BIGINT, u8 UTINYINT, u16 USMALLINT, "
         "u32 UINTEGER, u64 UBIGINT, h HUGEINT, f FLOAT, d DOUBLE, dec DECIMAL(18,3), dec2 DECIMAL(38,10), "
         "s VARCHAR, bl BLOB, j JSON, dt DATE, t TIME, ts TIMESTAMP, tstz TIMESTAMPTZ, tsns TIMESTAMP_NS, "
         "iv INTERVAL, u UUID, l INTEGER[], st STRUCT(a INTEGER, b VARCHAR), m MAP(VARCHAR, INTEGER), ttz TIMETZ")


def row(k: int) -> str:
    return (f"({str(k % 2 == 0).lower()}, {k % 100 - 50}, {k % 30000}, {k * 7}, {k * 1000003}, {k % 200}, {k % 60000}, {k * 3}, {k * 11}, "
            f"{k}::HUGEINT * 1000000000000, {k}.5, {k}.25e0, {k}.125, 1.0000000001, 'name ''{k}'' é', "
            f"'\\x00\\x{k % 256:02x}'::BLOB, '{{\"k\": {k}, \"a\": [1, 2]}}', DATE '2024-01-01' + {k % 1000}, "
            f"TIME '12:00:00' + INTERVAL ({k % 3600}) SECOND, TIMESTAMP '2024-01-02 03:04:05.678901' + INTERVAL ({k}) MINUTE, "
            f"TIMESTAMPTZ '2024-01-02 03:04:05.5+02' + INTERVAL ({k}) HOUR, TIMESTAMP_NS '2024-01-02 03:04:05.123456789', "
            f"INTERVAL ({k}) DAY + INTERVAL '1 year 2 months 04:05:06.789', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd38{k % 10000:04d}'::UUID, [{k}, NULL, 3], "
            f"{{'a': {k}, 'b': 'x{k}'}}, MAP {{'k{k % 5}': {k}}}, TIMETZ '12:00:00+03')")


value_row = row


def build(con, lake: str, snapshots: int, schemas: int = 3, tables_per_schema: int = 3) -> None:
    """Run the workload on the attached DuckLake `lake`. Each autocommit statement is one snapshot."""
    x = con.execute
    tables = []
    for si in range(schemas):
        x(f"CREATE SCHEMA {lake}.s{si}")
        for ti in range(tables_per_schema):
            name = f"{lake}.s{si}.t{ti}"
            x(f"CREATE TABLE {name} ({TYPES})")
            tables.append(name)
        x(f"CREATE VIEW {lake}.s{si}.v AS SELECT i32, s FROM {lake}.s{si}.t0 WHERE b")
        x(f"COMMENT ON TABLE {lake}.s{si}.t0 IS 'table zero of s{si}'")
        x(f"COMMENT ON COLUMN {lake}.s{si}.t0.s IS 'a string'")
    x(f"CREATE MACRO {lake}.s0.twice(a) AS a * 2")
    x(f"CREATE TABLE {lake}.s0.parts (region VARCHAR, n INTEGER, day DATE)")
    x(f"ALTER TABLE {lake}.s0.parts SET PARTITIONED BY (region, year(day))")
    x(f"CREATE TABLE {lake}.s0.sorted (k INTEGER, v VARCHAR)")
    x(f"ALTER TABLE {lake}.s0.sorted SET SORTED BY (k DESC)")
    # A big insert per table goes to Parquet; the loop's small ones are inlined.
    for n, name in enumerate(tables):
        x(f"INSERT INTO {name} SELECT * FROM (VALUES {', '.join(value_row(n * 1000 + k) for k in range(40))})")
    x(f"INSERT INTO {lake}.s0.parts SELECT ['eu', 'us', 'ap'][i % 3 + 1], i::INTEGER, DATE '2023-06-01' + (i * 40)::INTEGER FROM range(30) r(i)")
    x(f"INSERT INTO {lake}.s0.sorted SELECT i::INTEGER, 'v' || i FROM range(50) r(i)")
    k = 100000
    done = len(con.execute(f"SELECT * FROM {lake}.snapshots()").fetchall())
    step = 0
    while done < snapshots:
        name = tables[step % len(tables)]
        op = step % 10
        if op < 6:
            x(f"INSERT INTO {name} VALUES {value_row(k)}")
            k += 1
        elif op < 8:
            x(f"UPDATE {name} SET i32 = i32 + 1, s = s || '+' WHERE i64 % 7 = {step % 7}")
        elif op == 8:
            x(f"DELETE FROM {name} WHERE i16 % 13 = {step % 13}")
        else:
            x(f"INSERT INTO {lake}.s0.parts VALUES ('eu', {step}, DATE '2024-03-01')")
        step += 1
        done += 1
        if step == 60:
            x(f"ALTER TABLE {lake}.s1.t1 ADD COLUMN extra VARCHAR DEFAULT 'x'")
            x(f"ALTER TABLE {lake}.s1.t2 DROP COLUMN h")
            x(f"ALTER TABLE {lake}.s2.t0 RENAME COLUMN s TO s_renamed")
            tables = [t for t in tables if t not in (f"{lake}.s1.t1", f"{lake}.s1.t2", f"{lake}.s2.t0")]
            done += 3
    x(f"CALL ducklake_merge_adjacent_files('{lake}')")
    x(f"INSERT INTO {lake}.s1.t1 (i32, s, extra) VALUES (1, 'after merge', 'y')")


def user_tables(con, lake: str) -> list[str]:
    rows = con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = ? ORDER BY ALL", [lake]).fetchall()
    return [f'{lake}."{s}"."{t}"' for s, t in rows]
