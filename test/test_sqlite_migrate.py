"""sqlite_migration_plan() / sqlite_migrate() against a real PostgreSQL, on SQLite files made here.

Every rule of issue 6: value-based types with reasons (incl. a timestamp column with one bad value),
overrides, defaults, keys/identity/indexes/foreign keys after the load, one transaction, verification
(and a tampered copy that verification catches), clear errors with nothing written, dry_run."""
from __future__ import annotations

from contextlib import closing

import hashlib
import json
import os
import sqlite3
import uuid

import pytest

from conftest import duckdb_connect


def q(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def make_app_db(path: str) -> None:
    """A small app database exercising every inference rule."""
    con = sqlite3.connect(path)
    con.executescript("""
        CREATE TABLE users (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            uid TEXT NOT NULL UNIQUE,
            email VARCHAR(200) NOT NULL,
            active BOOLEAN NOT NULL DEFAULT 1,
            score REAL,
            age INTEGER,
            big INTEGER,
            profile TEXT,
            avatar BLOB,
            birthday TEXT,
            created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
            seen_at TEXT,
            login_at INTEGER,
            last_sync TEXT,
            mixed,
            note TEXT DEFAULT 'it''s new',
            created_on TEXT DEFAULT (datetime('now'))
        );
        CREATE INDEX users_email ON users (email);
        CREATE TABLE posts (
            id INTEGER PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            author_uid TEXT REFERENCES users (uid),
            title TEXT NOT NULL,
            body TEXT,
            published_at TEXT
        );
        CREATE UNIQUE INDEX posts_user_title ON posts (user_id, title DESC);
    """)
    users = []
    for i in range(1, 51):
        users.append((
            i, str(uuid.UUID(int=i * 7919)), f"user{i}@example.com", i % 2,
            i * 1.25, 20 + i, (1 << 40) + i,
            json.dumps({"name": f"u{i}", "tags": ["a", "b"], "n": i, "x": 1.50}),
            bytes([i, 0, 255]),
            f"1990-01-{(i % 28) + 1:02d}",
            f"2026-01-{(i % 28) + 1:02d} 10:00:{i % 60:02d}",
            f"2026-02-{(i % 28) + 1:02d}T08:30:00.{i:03d}Z",
            1_700_000_000_000 + i,
            # The column that looks like timestamps, but for one bad value.
            "not synced" if i == 37 else f"2026-03-01 12:00:{i % 60:02d}",
            i if i % 3 else f"t{i}",
        ))
    con.executemany(
        "INSERT INTO users (id, uid, email, active, score, age, big, profile, avatar, birthday, "
        "created_at, seen_at, login_at, last_sync, mixed) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        users)
    posts = [(100 + i, (i % 50) + 1, users[i % 50][1], f"title {i}", f"body {i}",
              f"2026-04-01 09:00:00+0{i % 3}:00") for i in range(120)]
    con.executemany("INSERT INTO posts VALUES (?,?,?,?,?,?)", posts)
    con.commit()
    con.close()


@pytest.fixture
def app_db(tmp_path):
    path = str(tmp_path / "app.sqlite")
    make_app_db(path)
    return path


def plan_of(duck, path: str, extra: str = "") -> dict:
    rows = duck.execute(f"SELECT * FROM sqlite_migration_plan({q(path)}{extra})").fetchall()
    cols = [d[0] for d in duck.description]
    return {(r[0], r[1]): dict(zip(cols, r)) for r in rows}


def error_of(duck, sql: str) -> str:
    with pytest.raises(Exception) as info:
        duck.execute(sql).fetchall()
    return str(info.value)


def pg_types(pg, db: str, schema: str = "public") -> dict:
    with closing(pg.psycopg(db)) as conn, conn.cursor() as cur:
        cur.execute("""SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                              pg_get_expr(d.adbin, d.adrelid), a.attidentity
                       FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
                       JOIN pg_namespace n ON n.oid = c.relnamespace
                       LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                       WHERE n.nspname = %s AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped""",
                    (schema,))
        return {(r[0], r[1]): r[2:] for r in cur.fetchall()}


def pg_query(pg, db: str, sql: str, args=None):
    with closing(pg.psycopg(db)) as conn, conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall() if cur.description else None


def migrate(duck, path: str, dsn: str, extra: str = ""):
    return duck.execute(
        f"SELECT * FROM sqlite_migrate({q(path)}, {q(dsn)}{extra})").fetchall()


# With types := ['infer']: the values decide what SQLite's declarations leave open (issue 6), but
# never narrower than declared (issue 17: INTEGER is bigint; a DATETIME is timestamptz by one rule).
INFER = ", types := ['infer']"
EXPECTED_TYPES = {
    "id": "bigint", "uid": "uuid", "email": "character varying(200)", "active": "boolean",
    "score": "double precision", "age": "bigint", "big": "bigint", "profile": "jsonb", "avatar": "bytea",
    "birthday": "date", "created_at": "timestamp with time zone", "seen_at": "timestamp with time zone",
    "login_at": "timestamp with time zone", "last_sync": "text", "mixed": "text", "note": "text",
    "created_on": "timestamp without time zone",
}
# By default (issue 17): what the application reads back stays what it read from SQLite.
DEFAULT_TYPES = dict(EXPECTED_TYPES, uid="text", profile="text", birthday="text", seen_at="text",
                     login_at="bigint", created_on="text")


def test_default_types_keep_what_the_app_reads(duck, app_db):
    plan = plan_of(duck, app_db)
    assert {c: plan[("users", c)]["pg_type"] for (t, c) in plan if t == "users"} == DEFAULT_TYPES
    # Each column says what types := ['infer'] would choose instead, and why.
    assert plan[("users", "profile")]["alternative"].startswith("jsonb (types := ['infer']: every value is a JSON")
    assert plan[("users", "uid")]["alternative"].startswith("uuid (")
    assert plan[("users", "age")]["alternative"] is None
    assert "types := ['infer']" in plan[("users", "uid")]["reason"]
    assert plan[("users", "created_at")]["pg_default"] == "now()"
    # 'infer' alone, or in a list with overrides.
    assert plan_of(duck, app_db, ", types := 'infer'") == plan_of(duck, app_db, INFER)
    assert "or 'infer'" in error_of(duck, f"SELECT * FROM sqlite_migration_plan({q(app_db)}, types := ['inferr'])")


def test_plan_types_and_reasons(duck, app_db):
    plan = plan_of(duck, app_db, INFER)
    got = {c: plan[("users", c)]["pg_type"] for (t, c) in plan if t == "users"}
    assert got == EXPECTED_TYPES
    last_sync = plan[("users", "last_sync")]
    assert "49 of 50" in last_sync["reason"] and "'not synced'" in last_sync["reason"], last_sync
    assert "text:50" == last_sync["storage_classes"]
    assert "mixed storage classes" in plan[("users", "mixed")]["reason"]
    assert "integer:34" in plan[("users", "mixed")]["storage_classes"]
    assert "epoch milliseconds" in plan[("users", "login_at")]["reason"]
    assert "every value 0 or 1" in plan[("users", "active")]["reason"]
    assert "identity" in plan[("users", "id")]["reason"]
    assert plan[("users", "created_at")]["pg_default"] == "now()"
    assert plan[("users", "note")]["pg_default"] == "'it''s'::text".replace("it''s", "it''s new")
    assert plan[("users", "active")]["pg_default"] == "'true'::boolean"
    assert plan[("users", "users" and "email")]["not_null"] is True
    assert plan[("users", "id")]["table_rows"] == 50
    # Foreign-key columns take the type of what they reference.
    assert plan[("posts", "author_uid")]["pg_type"] == "uuid"
    assert plan[("posts", "published_at")]["pg_type"] == "timestamp with time zone"
    # The plan reads the file read-only and writes nowhere: running it twice gives the same answer.
    assert plan_of(duck, app_db, INFER) == plan


def test_plan_options(duck, app_db):
    plan = plan_of(duck, app_db, ", tables := ['users'], infer_types := false, "
                                 "types := ['users.login_at=timestamp:epoch_ms', 'users.age=numeric']")
    assert {t for (t, _) in plan} == {"users"}
    assert plan[("users", "uid")]["pg_type"] == "text"
    assert plan[("users", "profile")]["pg_type"] == "text"
    assert plan[("users", "login_at")]["pg_type"] == "timestamp without time zone"
    assert "forced by types" in plan[("users", "age")]["reason"]
    assert "numeric" == plan[("users", "age")]["pg_type"]
    for bad, msg in [
        (", tables := ['nope']", 'no table "nope"'),
        (", types := ['users.nope=text']", 'has no column "nope"'),
        (", types := ['users.age=geometry']", "unsupported type"),
    ]:
        err = error_of(duck, f"SELECT * FROM sqlite_migration_plan({q(app_db)}{bad})")
        assert err.startswith("Binder Error: sqlite_migration_plan:") or "sqlite_migration_plan:" in err, err
        assert msg in err, err


def test_migrate_everything(pg, pgdb, duck, app_db):
    before = hashlib.sha256(open(app_db, "rb").read()).hexdigest()
    rows = migrate(duck, app_db, pg.dsn(pgdb), INFER)
    assert [(r[0], r[1], r[2], r[3], r[6]) for r in rows] == [
        ("users", '"public"."users"', 50, True, True),
        ("posts", '"public"."posts"', 120, True, True),
    ]
    assert rows[0][4].startswith("50:")
    # The SQLite file is untouched (opened read-only).
    assert hashlib.sha256(open(app_db, "rb").read()).hexdigest() == before
    types = pg_types(pg, pgdb)
    assert {c: types[("users", c)][0] for (t, c) in types if t == "users"} == EXPECTED_TYPES
    assert types[("users", "email")][1] is True
    assert types[("users", "id")][3] == "d"  # identity
    assert types[("users", "created_at")][2] == "now()"
    # Values arrived exactly.
    r = pg_query(pg, pgdb, "SELECT uid::text, active, profile->>'name', profile->'x', avatar, birthday::text, "
                           "created_at::text, seen_at::text, login_at::text, last_sync, mixed "
                           "FROM users WHERE id = 37")[0]
    assert r[0] == str(uuid.UUID(int=37 * 7919))
    assert r[1] is True and r[2] == "u37" and str(r[3]) in ("1.50", "1.5")
    assert bytes(r[4]) == bytes([37, 0, 255])
    assert r[5] == "1990-01-10" and r[6] == "2026-01-10 10:00:37+00"
    assert r[7] == "2026-02-10 08:30:00.037+00" and r[8] == "2023-11-14 22:13:20.037+00"
    assert r[9] == "not synced" and r[10] == "37"
    assert pg_query(pg, pgdb, "SELECT published_at::text FROM posts WHERE id = 101")[0][0] == "2026-04-01 08:00:00+00"
    # Keys, identity past the max, defaults, indexes, foreign keys.
    pg_query(pg, pgdb, "INSERT INTO users (uid, email) VALUES (gen_random_uuid(), 'new@example.com')")
    new = pg_query(pg, pgdb, "SELECT id, active, note, created_at IS NOT NULL, created_on IS NOT NULL "
                             "FROM users WHERE email = 'new@example.com'")[0]
    assert new == (51, True, "it's new", True, True)
    constraints = {r[0]: r[1] for r in pg_query(
        pg, pgdb, "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                  "WHERE conrelid IN ('users'::regclass, 'posts'::regclass)")}
    assert constraints["users_pkey"] == "PRIMARY KEY (id)"
    assert constraints["users_uid_key"] == "UNIQUE (uid)"
    fks = sorted(v for v in constraints.values() if v.startswith("FOREIGN KEY"))
    assert fks == ["FOREIGN KEY (author_uid) REFERENCES users(uid)",
                   "FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE"]
    indexes = {r[0]: r[1] for r in pg_query(pg, pgdb, "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'")}
    assert "(email)" in indexes["users_email"]
    assert "UNIQUE INDEX posts_user_title ON public.posts USING btree (user_id, title DESC)" in indexes["posts_user_title"]
    with pytest.raises(Exception, match="duplicate key"):
        pg_query(pg, pgdb, "INSERT INTO posts (id, user_id, title) VALUES (1, 1, 'title 50')")


def test_existing_table_is_an_error_unless_replace(pg, pgdb, duck, app_db):
    pg_query(pg, pgdb, "CREATE TABLE posts (keep int); INSERT INTO posts VALUES (7)")
    err = error_of(duck, f"SELECT * FROM sqlite_migrate({q(app_db)}, {q(pg.dsn(pgdb))})")
    assert 'sqlite_migrate: "public"."posts" already exists' in err and "if_exists := 'replace'" in err, err
    # Nothing written: users was not created, posts kept its row.
    assert pg_query(pg, pgdb, "SELECT to_regclass('public.users') IS NULL, (SELECT count(*) FROM posts)")[0] == (True, 1)
    rows = migrate(duck, app_db, pg.dsn(pgdb), ", if_exists := 'replace'")
    assert [r[2] for r in rows] == [50, 120]
    assert pg_query(pg, pgdb, "SELECT count(*) FROM posts")[0][0] == 120


def test_schema_tables_and_dry_run(pg, pgdb, duck, app_db):
    rows = migrate(duck, app_db, pg.dsn(pgdb), ", schema := 'Staging', tables := ['users'], dry_run := true")
    assert [(r[0], r[1], r[2], r[3], r[6]) for r in rows] == [("users", '"Staging"."users"', 50, True, False)]
    assert pg_query(pg, pgdb, "SELECT to_regnamespace('\"Staging\"') IS NULL")[0][0] is True
    rows = migrate(duck, app_db, pg.dsn(pgdb), ", schema := 'Staging', tables := ['users'], verify := false")
    assert (rows[0][3], rows[0][4], rows[0][6]) == (None, None, True)
    assert pg_query(pg, pgdb, 'SELECT count(*) FROM "Staging".users')[0][0] == 50
    # posts was not migrated: its foreign key could not be, and users has no dangling reference.
    assert pg_query(pg, pgdb, "SELECT to_regclass('\"Staging\".posts') IS NULL")[0][0] is True


def test_forced_type_that_does_not_fit_writes_nothing(pg, pgdb, duck, app_db):
    err = error_of(duck, f"SELECT * FROM sqlite_migrate({q(app_db)}, {q(pg.dsn(pgdb))}, "
                         "types := ['users.last_sync=timestamptz'])")
    assert 'sqlite_migrate: column "public"."users"."last_sync": value \'not synced\' cannot be converted to PostgreSQL timestamp with time zone' in err, err
    assert pg_query(pg, pgdb, "SELECT to_regclass('public.users') IS NULL")[0][0] is True


TAMPER = """
    CREATE FUNCTION tamper() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_TABLE_NAME = 'posts' AND NEW.id = 142 THEN NEW.title := 'changed'; END IF;
        RETURN NEW;
    END $$;
    CREATE FUNCTION add_tamper() RETURNS event_trigger LANGUAGE plpgsql AS $$
    DECLARE r record;
    BEGIN
        FOR r IN SELECT * FROM pg_event_trigger_ddl_commands() WHERE command_tag = 'CREATE TABLE' LOOP
            EXECUTE format('CREATE TRIGGER tamper BEFORE INSERT ON %s FOR EACH ROW EXECUTE FUNCTION tamper()', r.object_identity);
        END LOOP;
    END $$;
    CREATE EVENT TRIGGER add_tamper ON ddl_command_end WHEN TAG IN ('CREATE TABLE') EXECUTE FUNCTION add_tamper();
"""


def test_verification_catches_a_tampered_copy(pg, pgdb, duck, app_db):
    # A trigger (installed on every new table by an event trigger) changes one row on its way in.
    pg_query(pg, pgdb, TAMPER)
    err = error_of(duck, f"SELECT * FROM sqlite_migrate({q(app_db)}, {q(pg.dsn(pgdb))})")
    assert 'sqlite_migrate: verification failed for table "public"."posts"' in err, err
    assert "the row with key (id=142) differs" in err, err
    assert "nothing was written" in err
    assert pg_query(pg, pgdb, "SELECT to_regclass('public.users') IS NULL AND to_regclass('public.posts') IS NULL")[0][0]
    # With verification off the tampered copy would have gone through unnoticed.
    rows = migrate(duck, app_db, pg.dsn(pgdb), ", verify := false")
    assert [r[3] for r in rows] == [None, None]


def test_verification_without_the_servers_hash(pg, pgdb, duck, app_db):
    # A server whose hashtextextended is not the one lakemig computes (a big-endian machine, or, here,
    # a function in front of it on the search_path): the probe notices, both sides hash rows with MD5.
    pg_query(pg, pgdb, f"""
        CREATE FUNCTION public.hashtextextended(text, bigint) RETURNS bigint LANGUAGE sql IMMUTABLE
            AS 'SELECT 42::bigint';
        ALTER DATABASE "{pgdb}" SET search_path = public, pg_catalog;
    """)
    assert pg_query(pg, pgdb, "SELECT hashtextextended('x' COLLATE \"C\", 1)")[0][0] == 42
    rows = migrate(duck, app_db, pg.dsn(pgdb), ", dry_run := true")
    assert [(r[2], r[3]) for r in rows] == [(50, True), (120, True)]
    pg_query(pg, pgdb, TAMPER)
    err = error_of(duck, f"SELECT * FROM sqlite_migrate({q(app_db)}, {q(pg.dsn(pgdb))})")
    assert "the row with key (id=142) differs" in err, err


def test_bad_files(pg, pgdb, duck, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("just some notes\n" * 100)
    err = error_of(duck, f"SELECT * FROM sqlite_migrate({q(str(text))}, {q(pg.dsn(pgdb))})")
    assert "sqlite_migrate:" in err and "notes.txt" in err and "is not a SQLite database" in err, err
    missing = tmp_path / "missing.sqlite"
    err = error_of(duck, f"SELECT * FROM sqlite_migration_plan({q(str(missing))})")
    assert "missing.sqlite" in err and "no such file" in err, err
    assert not missing.exists()
    corrupt = str(tmp_path / "corrupt.sqlite")
    con = sqlite3.connect(corrupt)
    con.execute("CREATE TABLE t (v TEXT)")
    con.executemany("INSERT INTO t VALUES (?)", [("x" * 200,) for _ in range(2000)])
    con.commit()
    con.close()
    data = bytearray(open(corrupt, "rb").read())
    for i in range(4096 * 2, len(data)):
        data[i] = 0x5A
    open(corrupt, "wb").write(bytes(data))
    err = error_of(duck, f"SELECT * FROM sqlite_migrate({q(corrupt)}, {q(pg.dsn(pgdb))})")
    assert "corrupt.sqlite" in err and ("corrupt" in err.split("corrupt.sqlite", 1)[1] or "malformed" in err), err
    assert pg_query(pg, pgdb, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")[0][0] == 0


@pytest.mark.parametrize("n", [0, 2047, 2048, 2049, 10000])
def test_row_counts_across_chunk_sizes(pg, pgdb, duck, tmp_path, n):
    path = str(tmp_path / "n.sqlite")
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v REAL, j TEXT) WITHOUT ROWID")
    con.executemany("INSERT INTO t VALUES (?, ?, ?)",
                    [(f"k{i}", i / 3, json.dumps({"i": i})) for i in range(n)])
    con.commit()
    con.close()
    rows = migrate(duck, path, pg.dsn(pgdb))
    assert (rows[0][2], rows[0][3]) == (n, True)
    assert pg_query(pg, pgdb, "SELECT count(*), count(DISTINCT k) FROM t")[0] == (n, n)


def test_bind_twice_writes_once(pg, pgdb, tmp_path, app_db):
    # Python's con.sql() binds when it builds the relation and again when it runs it.
    con = duckdb_connect()
    try:
        rel = con.sql(f"SELECT table_name, rows FROM sqlite_migrate({q(app_db)}, {q(pg.dsn(pgdb))})")
        assert rel.fetchall() == [("users", 50), ("posts", 120)]
    finally:
        con.close()
    assert pg_query(pg, pgdb, "SELECT count(*) FROM users")[0][0] == 50


def test_reads_one_snapshot_while_the_app_writes(pg, pgdb, duck, tmp_path):
    path = str(tmp_path / "wal.sqlite")
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, at TEXT)")
    con.executemany("INSERT INTO events (at) VALUES (?)", [("2026-01-01 00:00:00",)] * 5000)
    # The app holds a write transaction with uncommitted rows while the migration runs.
    con.execute("BEGIN")
    con.executemany("INSERT INTO events (at) VALUES (?)", [("2026-01-02 00:00:00",)] * 100)
    rows = migrate(duck, path, pg.dsn(pgdb))
    con.execute("COMMIT")
    con.close()
    assert (rows[0][2], rows[0][3]) == (5000, True)
