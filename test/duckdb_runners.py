"""Other DuckDB releases, each run in a fresh process: the cross-version suite (test/test_compat.py)
runs the same SQL through every runner here and compares what comes back.

A runner is one DuckDB release in one client: the Python package (`duckdb==X` in a venv of its own,
made by tools/setup.sh) or the shell (`duckdb-cli==X`: the binary `site-packages/duckdb_cli/duckdb`).
Every run is a new process with lakemig loaded by path, autoinstall/autoload off, unsigned extensions
allowed, and the HOME of the caller (conftest.py points it at an empty directory), so nothing is
installed or downloaded behind the test's back. The statements run in order; the rows of the last one
come back as a list of dicts, every value cast to VARCHAR by DuckDB itself
(`SELECT COLUMNS(*)::VARCHAR FROM (<query>)`), so the Python and shell clients return the same text.
An error is raised as `DuckDBError` holding DuckDB's own message.

This file is also the child the Python runners start (`python duckdb_runners.py` with a JSON job on
stdin), so what it imports at the top is the standard library and tools/duckenv.py (which imports
duckdb only when it connects).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
import duckenv  # noqa: E402  (standard library only at import time)

# What every run SETs before anything else: duckenv's settings (the shell gets
# allow_unsigned_extensions as -unsigned; Python as config) and a UTC session, so TIMESTAMPTZ text is
# the same in every run (lakemig's own PostgreSQL sessions are UTC too).
SETTINGS = {**{k: v for k, v in duckenv.CONFIG.items() if k != "allow_unsigned_extensions"},
            **duckenv.SESSION, "TimeZone": "'UTC'"}


# The Python child's exit code after it printed DuckDB's error (0 after it printed rows).
CHILD_REFUSED = 3


class DuckDBError(Exception):
    """DuckDB refused a statement; str() is DuckDB's message (e.g. 'Binder Error: pg_sync: ...')."""

    @property
    def first_line(self) -> str:
        return str(self).strip().splitlines()[0] if str(self).strip() else ""


@dataclass(frozen=True)
class Runner:
    name: str       # pytest id: "python-2.0.1", "shell-1.5.6"
    release: str    # "2.0.1": the DuckDB release (version() is "v" + release)
    client: str     # "python" or "shell"
    venv: str       # the venv tools/setup.sh made for this release
    extensions: tuple[str, ...] = ()  # DuckDB extension packages of the same release in that venv

    @property
    def version(self) -> str:
        return "v" + self.release

    @property
    def site(self) -> str:
        return os.path.join(self.venv, "lib", f"python{sys.version_info[0]}.{sys.version_info[1]}", "site-packages")

    def missing(self) -> str | None:
        """Why this runner cannot run here (its venv is missing), or None."""
        exe = self._executable()
        if not os.path.exists(exe):
            return f"{exe} missing: run `make setup` (tools/setup.sh makes {os.path.basename(self.venv)})"
        return None

    def extension_path(self, name: str) -> str:
        """A DuckDB extension file of this release, shipped by its `duckdb-extension-<name>` wheel."""
        if name not in self.extensions:
            raise KeyError(f"{self.name} has no {name} extension (its venv holds: {', '.join(self.extensions) or 'none'})")
        return duckenv.extension_file(self.site, self.version, name)

    def _executable(self) -> str:
        if self.client == "shell":
            return os.path.join(self.site, "duckdb_cli", "duckdb")
        return os.path.join(self.venv, "bin", "python")

    def start(self, statements: list[str], lakemig: str | None, database: str = ":memory:",
              load: tuple[str, ...] = ()) -> subprocess.Popen:
        """Start a process that loads lakemig (a path; None: do not load it) and the extensions
        named in `load` (of this release), then runs `statements`. Read its result with `result()`."""
        why = self.missing()
        if why:
            raise RuntimeError(why)
        loads = ([lakemig] if lakemig else []) + [self.extension_path(n) for n in load]
        *setup, query = statements
        if self.client == "python":
            job = {"database": database, "config": duckenv.CONFIG, "settings": SETTINGS, "load": loads,
                   "setup": setup, "query": query}
            proc = subprocess.Popen([self._executable(), os.path.abspath(__file__)], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            proc.stdin.write(json.dumps(job))
        else:
            lines = [".bail on", ".output /dev/null"]
            lines += [f"SET {k} = {v};" for k, v in SETTINGS.items()]
            lines += [f"LOAD {sql_string(p)};" for p in loads]
            lines += [terminated(s) for s in setup]
            lines += [".output", ".mode json", terminated(wrap(query))]
            proc = subprocess.Popen([self._executable(), "-unsigned", database], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            proc.stdin.write("\n".join(lines) + "\n")
        proc.stdin.close()
        return proc

    def result(self, proc: subprocess.Popen, timeout: float = 300) -> list[dict[str, str | None]]:
        """The rows of a started run's last statement; DuckDBError if DuckDB refused anything."""
        proc.stdin = None  # written and closed by start()
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
        if self.client == "python":
            last = stdout.strip().splitlines()[-1] if stdout.strip() else ""
            try:
                answer = json.loads(last)
            except ValueError:
                raise RuntimeError(f"{self.name} {ended(proc)} without an answer:\n{stdout}\n{stderr}") from None
            # An answer, then a crash at exit (or any other exit code than the child's own) fails too.
            expected = CHILD_REFUSED if "error" in answer else 0
            if proc.returncode != expected:
                raise RuntimeError(f"{self.name} answered, then {ended(proc)} (expected {expected}):\n{stderr}")
            if "error" in answer:
                raise DuckDBError(answer["error"])
            return answer["rows"]
        if proc.returncode != 0:
            if stderr.strip():
                raise DuckDBError(stderr.strip())
            raise RuntimeError(f"{self.name} {ended(proc)}:\n{stdout}")
        return json.loads(stdout) if stdout.strip() else []

    def query(self, statements: list[str] | str, lakemig: str | None, database: str = ":memory:",
              load: tuple[str, ...] = (), timeout: float = 300) -> list[dict[str, str | None]]:
        """Run `statements` (the last one a query) in a fresh process; its rows, every value as text."""
        if isinstance(statements, str):
            statements = [statements]
        return self.result(self.start(statements, lakemig, database, load), timeout)


def ended(proc: subprocess.Popen) -> str:
    rc = proc.returncode
    return f"was killed by signal {-rc} (a crash)" if rc < 0 else f"exited with {rc}"


def sql_string(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def terminated(sql: str) -> str:
    sql = sql.strip()
    return sql if sql.endswith(";") else sql + ";"


def wrap(query: str) -> str:
    """Every value of the query's rows as DuckDB's own VARCHAR rendering, column names kept."""
    return f"SELECT COLUMNS(*)::VARCHAR FROM ({query.strip().rstrip(';')})"


def release_venv(release: str) -> str:
    """Where tools/setup.sh puts the venv of another DuckDB release: beside the main venv (the one
    running the tests), as `<main venv>-duckdb-<release>`."""
    return f"{sys.prefix}-duckdb-{release}"


def runners() -> list[Runner]:
    """Every DuckDB the cross-version suite runs on; 1.5.5 (the main venv) is the reference."""
    every = ("ducklake", "postgres_scanner", "sqlite_scanner")
    return [
        Runner("python-1.5.5", "1.5.5", "python", sys.prefix, every),
        Runner("shell-1.5.6", "1.5.6", "shell", release_venv("1.5.6")),
        Runner("python-2.0.1", "2.0.1", "python", release_venv("2.0.1")),
        Runner("python-1.4.4", "1.4.4", "python", release_venv("1.4.4"), every),
        Runner("python-1.3.2", "1.3.2", "python", release_venv("1.3.2")),
    ]


def reference() -> Runner:
    return runners()[0]


def _child() -> None:
    """Run one job (JSON on stdin) in this process's DuckDB; print one JSON line: rows or error."""
    import duckdb

    job = json.load(sys.stdin)
    try:
        con = duckdb.connect(job["database"], config=job["config"])
        for name, value in job["settings"].items():
            con.execute(f"SET {name} = {value}")
        for path in job["load"]:
            con.load_extension(path)
        for sql in job["setup"]:
            con.execute(sql)
        cur = con.execute(wrap(job["query"]))
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, r)) for r in cur.fetchall()]
        print(json.dumps({"rows": rows}), flush=True)
    except duckdb.Error as e:
        print(json.dumps({"error": str(e)}), flush=True)
        sys.exit(CHILD_REFUSED)


if __name__ == "__main__":
    _child()
