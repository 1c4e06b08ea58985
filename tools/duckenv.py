"""DuckDB the way lakemig's demo, tests, examples and benchmarks use it: every extension loaded by path
from the pinned PyPI packages, nothing installed or loaded behind our back.

DuckDB's defaults (`autoinstall_known_extensions`, `autoload_known_extensions`) fetch a missing
extension from extensions.duckdb.org the first time a query needs it. On a machine whose
`~/.duckdb/extensions` already holds that extension this hides a missing `LOAD`; on a fresh machine
(or one without network) the same script fails. So every DuckDB connection here turns both off:
a missing `LOAD` fails at once, everywhere, with DuckDB's "requires extension ... to be loaded".
"""
from __future__ import annotations

import os

DUCKDB_VERSION = "v1.5.5"

# The PyPI package that ships each DuckDB extension file used here (`duckdb-extension-<name>`).
PACKAGES = {
    "ducklake": "duckdb_extension_ducklake",
    "postgres_scanner": "duckdb_extension_postgres_scanner",
    "sqlite_scanner": "duckdb_extension_sqlite_scanner",
    "httpfs": "duckdb_extension_httpfs",
    "json": "duckdb_extension_json",
}

# Settings every connection gets. allow_unsigned_extensions: lakemig is not signed by DuckDB.
CONFIG = {
    "allow_unsigned_extensions": "true",
    "autoinstall_known_extensions": "false",
    "autoload_known_extensions": "false",
}
# Session settings (SET after connecting; DuckDB refuses them in `config`). enable_progress_bar: a
# query slower than 2 s would draw a progress bar on stdout, which scripts here read (a test child's
# JSON, the cross-version runners' rows).
SESSION = {"enable_progress_bar": "false"}


def extension_file(site: str, version: str, name: str) -> str:
    """Where the `duckdb-extension-<name>` wheel of DuckDB `version` ("v1.5.5"), installed into the
    site-packages folder `site`, keeps its extension file (test/duckdb_runners.py uses it for the
    venvs of other releases)."""
    if name not in PACKAGES:
        raise KeyError(f"no pinned package for the DuckDB extension {name!r}; known: {', '.join(PACKAGES)}")
    return os.path.join(site, PACKAGES[name], "extensions", version, f"{name}.duckdb_extension")


def extension_path(name: str) -> str:
    """Path of a real DuckDB extension file shipped by the pinned PyPI packages (nothing is downloaded)."""
    import duckdb

    site = os.path.dirname(os.path.dirname(duckdb.__file__))
    path = extension_file(site, DUCKDB_VERSION, name)
    if not os.path.exists(path):
        raise RuntimeError(f"{path} missing: run `make setup` (it installs duckdb-extension-* =={DUCKDB_VERSION[1:]})")
    return path


def connect(database: str = ":memory:", lakemig: str | None = None, extensions: tuple[str, ...] = ()):
    """A DuckDB connection with autoinstall/autoload off, lakemig (a path) and `extensions` loaded by path."""
    import duckdb

    con = duckdb.connect(database, config=dict(CONFIG))
    for name, value in SESSION.items():
        con.execute(f"SET {name} = {value}")
    if lakemig is not None:
        if not os.path.exists(lakemig):
            raise RuntimeError(f"{lakemig} missing: run `make release`")
        con.load_extension(lakemig)
    for name in extensions:
        con.load_extension(extension_path(name))
    return con
