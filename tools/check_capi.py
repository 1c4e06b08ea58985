"""Fails when lakemig could call a DuckDB C API function outside the version its footer declares.

lakemig's binary declares ABI `C_STRUCT` with C API v1.2.0, so it must call only the functions of
DuckDB's stable v1.2.0 API (`tools/capi/v1.2.0.json`, DuckDB's own list). Three checks:
1. duckdb-rs's function-pointer struct (libduckdb-sys's generated bindings) starts with exactly the
   v1.2.0 functions, in DuckDB's order: `src/duck/entry.rs` hands duckdb-rs only that prefix
   (STABLE_FUNCTIONS pointers), so anything past it is unset and fails loudly when called.
2. STABLE_FUNCTIONS in entry.rs equals the length of the list.
3. No DuckDB C function outside the list is named anywhere in src/ (calls through `ffi::`).
duckdb-rs's own calls are covered by 1 at run time: the test suite runs every SQL function, and a
duckdb-rs path into an unstable function panics ("DuckDB API not initialized") and fails its test.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def stable_functions() -> list[str]:
    with open(os.path.join(ROOT, "tools", "capi", "v1.2.0.json")) as f:
        return json.load(f)["entries"]


def bindings_path() -> str:
    meta = json.loads(subprocess.run(["cargo", "metadata", "--format-version", "1", "--locked"], cwd=ROOT,
                                     check=True, capture_output=True, text=True).stdout)
    for pkg in meta["packages"]:
        if pkg["name"] == "libduckdb-sys":
            return os.path.join(os.path.dirname(pkg["manifest_path"]), "src", "bindgen_bundled_version_loadable.rs")
    raise SystemExit("check_capi: libduckdb-sys not found in cargo metadata")


def struct_fields(path: str) -> list[str]:
    src = open(path).read()
    start = src.index("pub struct duckdb_ext_api_v1 {")
    end = src.index("\n}\n", start)
    return re.findall(r"pub (duckdb_\w+):", src[start:end])


def main() -> int:
    stable = stable_functions()
    problems = []
    fields = struct_fields(bindings_path())
    if fields[:len(stable)] != stable:
        first = next(i for i, (a, b) in enumerate(zip(fields, stable)) if a != b)
        problems.append(f"duckdb-rs's API struct differs from v1.2.0 at field {first}: {fields[first]} vs {stable[first]}")
    entry = open(os.path.join(ROOT, "src", "duck", "entry.rs")).read()
    m = re.search(r"pub const STABLE_FUNCTIONS: usize = (\d+);", entry)
    if not m or int(m.group(1)) != len(stable):
        problems.append(f"src/duck/entry.rs STABLE_FUNCTIONS must be {len(stable)} (the v1.2.0 list)")
    all_functions = set(fields)
    allowed = set(stable)
    for d, _, files in os.walk(os.path.join(ROOT, "src")):
        for name in files:
            if not name.endswith(".rs"):
                continue
            path = os.path.join(d, name)
            for n, line in enumerate(open(path), 1):
                for fn in re.findall(r"\b(duckdb_\w+)\b", line):
                    if fn in all_functions and fn not in allowed:
                        problems.append(f"{os.path.relpath(path, ROOT)}:{n}: {fn} is not in DuckDB's stable C API v1.2.0")
    for p in problems:
        print(f"check_capi: {p}", file=sys.stderr)
    if not problems:
        print(f"check_capi: ok ({len(stable)} v1.2.0 functions; nothing else named in src/)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
