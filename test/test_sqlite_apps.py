"""Issue 17: applications keep working after sqlite_migrate moves their database to PostgreSQL.

Each application builds its SQLite database with its own code (Django's migrate and ORM; Optuna's
SQLAlchemy/alembic storage), sqlite_migrate moves it with DEFAULT options into a fresh PostgreSQL
database, and the same application, unchanged, then reads the old data, writes new data far past
the old counters, relies on deferred foreign keys, CHECKs and AUTOINCREMENT's high-water mark."""
from __future__ import annotations

from contextlib import closing

import json
import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


def q(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def migrate_defaults(duck, path: str, dsn: str):
    rows = duck.execute(f"SELECT * FROM sqlite_migrate({q(path)}, {q(dsn)})").fetchall()
    assert rows and all(r[6] for r in rows if r[1] is not None), rows
    assert all(r[3] for r in rows if r[1] is not None), rows  # verified
    return rows


def plan_of(duck, path: str) -> dict:
    rows = duck.execute(f"SELECT * FROM sqlite_migration_plan({q(path)})").fetchall()
    cols = [d[0] for d in duck.description]
    return {(r[0], r[1]): dict(zip(cols, r)) for r in rows}


def test_django_app_runs_unchanged_on_postgres(pg, pgdb, duck, tmp_path):
    app = tmp_path / "djshop"
    shutil.copytree(os.path.join(HERE, "apps", "djshop"), app)
    db = str(tmp_path / "shop.sqlite3")
    env = dict(os.environ, DJ_SQLITE=db)
    made = subprocess.run([sys.executable, str(app / "run_django.py"), "make"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr[-3000:]
    facts = made.stdout.strip().splitlines()[-1]

    plan = plan_of(duck, db)
    # What the plan says before the move: no narrowed counter, the declared sizes, the CHECKs.
    assert plan[("shop_order", "seq")]["pg_type"] == "bigint"
    assert plan[("shop_customer", "name")]["pg_type"] == "character varying(120)"
    assert plan[("shop_customer", "external_id")]["pg_type"] == "uuid"
    assert plan[("shop_customer", "profile")]["pg_type"] == "jsonb"
    assert plan[("shop_customer", "joined")]["pg_type"] == "timestamp with time zone"
    assert "sqlite_sequence (50)" in plan[("shop_customer", "id")]["reason"]
    notes = plan[("shop_customer", "id")]["notes"] or ""
    assert "json/jsonb type enforces it" in notes, notes

    native_db = pgdb + "_native"
    pg.create_database(native_db)
    try:
        migrate_defaults(duck, db, pg.dsn(pgdb))
        env = dict(os.environ, PGHOST=pg.host, PGPORT=str(pg.port), PGUSER=pg.user, PGPASSWORD=pg.password,
                   DJ_DB=pgdb, DJ_NATIVE_DB=native_db)
        used = subprocess.run([sys.executable, str(app / "run_django.py"), "use", facts], env=env,
                              capture_output=True, text=True, timeout=120)
        assert used.returncode == 0, used.stdout[-2000:] + used.stderr[-3000:]
    finally:
        with closing(pg.psycopg()) as conn, conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{native_db}" WITH (FORCE)')
    # Against the schema Django creates itself on PostgreSQL, the only differences are wider types
    # (documented in the README): INTEGER -> bigint, Django's precision-less SQLite `decimal`.
    diff = json.loads(used.stdout.strip().splitlines()[-1])["differences"]
    allowed = {("integer", "bigint"), ("numeric(10,2)", "numeric")}
    assert all(tuple(v) in allowed for v in diff.values()), diff


def optuna_objective(trial):
    x = trial.suggest_float("x", -10, 10)
    layers = trial.suggest_int("layers", 1, 4)
    opt = trial.suggest_categorical("opt", ["adam", "sgd"])
    trial.set_user_attr("note", f"run {trial.number}")
    for step in range(3):
        trial.report(x * x + step, step)
    return (x - 2) ** 2 + layers + (0.5 if opt == "sgd" else 0)


def test_optuna_study_continues_on_postgres(pg, pgdb, duck, tmp_path):
    optuna = pytest.importorskip("optuna")  # in test/requirements.txt: a missing package fails setup
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    db = str(tmp_path / "optuna.db")
    storage = optuna.storages.RDBStorage(f"sqlite:///{db}")
    study = optuna.create_study(storage=storage, study_name="tune", sampler=optuna.samplers.RandomSampler(seed=1))
    study.optimize(optuna_objective, n_trials=4)
    gone = optuna.create_study(storage=storage, study_name="gone")
    gone.optimize(optuna_objective, n_trials=1)
    optuna.delete_study(study_name="gone", storage=storage)  # leaves a gap in the ids
    best = (study.best_trial.number, study.best_value, study.best_params)
    steps = study.best_trial.intermediate_values
    storage.engine.dispose()

    migrate_defaults(duck, db, pg.dsn(pgdb))
    url = f"postgresql+psycopg2://{pg.user}:{pg.password}@{pg.host}:{pg.port}/{pgdb}"
    storage = optuna.storages.RDBStorage(url)  # checks the alembic version table: no upgrade needed
    try:
        study = optuna.load_study(study_name="tune", storage=storage)
        assert (study.best_trial.number, study.best_value, study.best_params) == best
        assert study.best_trial.intermediate_values == steps
        assert study.best_trial.user_attrs == {"note": f"run {best[0]}"}
        assert all(t.datetime_complete >= t.datetime_start for t in study.trials)
        study.optimize(optuna_objective, n_trials=2)
        assert [t.number for t in study.trials] == list(range(6))
        assert len(study.trials_dataframe()) == 6
        fresh = optuna.create_study(storage=storage, study_name="fresh")
        fresh.optimize(optuna_objective, n_trials=1)
        # Optuna's tables have no AUTOINCREMENT: ids continue after the largest key, as in SQLite.
        assert fresh._study_id == 2, fresh._study_id
        assert fresh.trials[0]._trial_id == 7, fresh.trials[0]._trial_id
    finally:
        storage.engine.dispose()


def test_virtual_tables_are_named_not_dropped(pg, pgdb, duck, tmp_path):
    import sqlite3
    db = str(tmp_path / "notes.sqlite")
    con = sqlite3.connect(db)
    con.executescript("""
        CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
        CREATE VIRTUAL TABLE notes_fts USING fts5(body, content='notes', content_rowid='id');
        INSERT INTO notes VALUES (1, 'hello world');
        INSERT INTO notes_fts (rowid, body) VALUES (1, 'hello world');
    """)
    con.close()
    plan = plan_of(duck, db)
    row = plan[("notes_fts", None)]
    assert row["reason"] == "virtual table (fts5): not migrated"
    assert '"notes_fts_data"' in row["notes"] and "tsvector" in row["notes"] and "gin" in row["notes"], row
    rows = migrate_defaults(duck, db, pg.dsn(pgdb))
    assert [(r[0], r[2], r[6]) for r in rows] == [("notes", 1, True), ("notes_fts", 0, False)]
    assert "not migrated" in rows[1][7]
