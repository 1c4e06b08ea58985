"""Loading the extension file: DuckDB 1.5.5's shell and Python load it; a DuckDB release older than
the C API version the file declares refuses it with DuckDB's own clear error (not a crash). Loading
into the other releases lakemig supports is test_compat.py's."""
from __future__ import annotations

import os
import subprocess
import sys

from conftest import EXTENSION, ROOT
from duckdb_runners import release_venv

FOOTER = os.path.join(ROOT, "tools", "append_footer.py")


def venv_site() -> str:
    import duckdb
    return os.path.dirname(os.path.dirname(duckdb.__file__))


def test_footer_fields():
    out = subprocess.run([sys.executable, FOOTER, "--show", EXTENSION], check=True, capture_output=True, text=True).stdout
    assert "abi_type: C_STRUCT\n" in out  # the stable C API: loads into every release offering v1.2.0
    assert "duckdb_version: v1.2.0" in out  # for C_STRUCT this field is the C API version
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


def declared_minimum() -> str:
    """The DuckDB C API version the file declares it needs (its footer's duckdb_version field)."""
    out = subprocess.run([sys.executable, FOOTER, "--show", EXTENSION], check=True, capture_output=True, text=True).stdout
    return dict(line.split(": ", 1) for line in out.splitlines())["duckdb_version"]


def test_release_older_than_the_declared_minimum_refuses_cleanly():
    """DuckDB 1.1.3 (C API v0.0.1, before the v1.2.0 lakemig declares) says why it cannot load the
    file, with its own error, instead of crashing. tools/setup.sh makes its venv."""
    python = os.path.join(release_venv("1.1.3"), "bin", "python")
    assert os.path.exists(python), f"{python} missing: run make setup"
    code = (
        "import duckdb, sys\n"
        "print(duckdb.__version__)\n"
        "con = duckdb.connect(config={'allow_unsigned_extensions': 'true'})\n"
        "try:\n"
        f"    con.load_extension({EXTENSION!r})\n"
        "except Exception as e:\n"
        "    print('ERROR', type(e).__name__, e)\n"
        "    sys.exit(3)\n"
    )
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.startswith("1.1.3"), out.stdout + out.stderr
    assert out.returncode == 3, f"expected a clean error, got rc={out.returncode}: {out.stdout}{out.stderr}"
    assert "ERROR InvalidInputException" in out.stdout, out.stdout
    assert (f"The file was built for DuckDB C API version '{declared_minimum()}', but we can only load extensions "
            "built for DuckDB C API 'v0.0.1' and lower.") in out.stdout, out.stdout
