"""Loading the extension file: DuckDB 1.5.5's shell and Python load it; another DuckDB version refuses
it with DuckDB's own clear version error (not a crash)."""
from __future__ import annotations

import os
import subprocess
import sys

from conftest import EXTENSION, ROOT

FOOTER = os.path.join(ROOT, "tools", "append_footer.py")


def venv_site() -> str:
    import duckdb
    return os.path.dirname(os.path.dirname(duckdb.__file__))


def test_footer_fields():
    out = subprocess.run([sys.executable, FOOTER, "--show", EXTENSION], check=True, capture_output=True, text=True).stdout
    assert "abi_type: C_STRUCT_UNSTABLE" in out
    assert "duckdb_version: v1.5.5" in out
    assert "platform: linux_amd64" in out
    with open(EXTENSION, "rb") as f:
        f.seek(-534, 2)
        tail = f.read()
    assert tail[:22] == bytes([0, 0x93, 4, 0x10]) + b"duckdb_signature" + bytes([0x80, 4])
    assert tail[-256:] == bytes(256)


def test_shell_loads_unsigned():
    shell = os.path.join(venv_site(), "duckdb_cli", "duckdb")
    assert os.path.exists(shell), f"{shell} missing: run make setup"
    out = subprocess.run(
        [shell, "-unsigned", "-csv", "-c", f"LOAD '{EXTENSION}'; SELECT duckdb_version FROM lakemig_version();"],
        capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "v1.5.5"


def test_signed_only_shell_refuses():
    shell = os.path.join(venv_site(), "duckdb_cli", "duckdb")
    out = subprocess.run([shell, "-c", f"LOAD '{EXTENSION}';"], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "signature" in (out.stderr + out.stdout).lower()


def test_other_duckdb_version_refuses_cleanly():
    other = os.path.normpath(os.path.join(sys.prefix, "duckdb-other"))
    assert os.path.isdir(other), f"{other} missing: run make setup"
    code = (
        "import duckdb, sys\n"
        "print(duckdb.__version__)\n"
        "con = duckdb.connect(config={'allow_unsigned_extensions': 'true'})\n"
        "try:\n"
        f"    con.load_extension({EXTENSION!r})\n"
        "except Exception as e:\n"
        "    print('ERROR', e)\n"
        "    sys.exit(3)\n"
    )
    env = dict(os.environ, PYTHONPATH=other)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.stdout.startswith("1.4."), out.stdout + out.stderr
    assert out.returncode == 3, f"expected a clean error, got rc={out.returncode}: {out.stdout}{out.stderr}"
    assert "v1.5.5" in out.stdout and "v1.4" in out.stdout, out.stdout
