#!/usr/bin/env python3
"""Turn a built shared library into a DuckDB loadable extension file by appending DuckDB's
534-byte metadata footer:

  22 bytes   WebAssembly custom-section header: 0x00 0x93 0x04 0x10 "duckdb_signature" 0x80 0x04
  8 x 32     NUL-padded ASCII fields: "", "", "", ABI type, extension version, DuckDB version,
             platform, "4" (the metadata format version)
  256 bytes  signature space, zeros (unsigned: load with `duckdb -unsigned` / allow_unsigned_extensions)

Usage: append_footer.py --library target/release/liblakemig.so --out build/release/lakemig.duckdb_extension
         [--extension-version 0.1.0] [--duckdb-version v1.5.5] [--platform linux_amd64]
         [--abi-type C_STRUCT_UNSTABLE]
       append_footer.py --show FILE     (print the fields of an existing extension file)
"""
import argparse
import shutil
import sys

HEADER = bytes([0x00, 0x93, 0x04, 0x10]) + b"duckdb_signature" + bytes([0x80, 0x04])
FIELD = 32
FOOTER_LEN = len(HEADER) + 8 * FIELD + 256
assert len(HEADER) == 22 and FOOTER_LEN == 534


def field(text: str) -> bytes:
    raw = text.encode("ascii")
    if len(raw) > FIELD:
        sys.exit(f"append_footer: field {text!r} is longer than {FIELD} bytes")
    return raw.ljust(FIELD, b"\0")


def footer(abi_type: str, ext_version: str, duckdb_version: str, platform: str) -> bytes:
    fields = ["", "", "", abi_type, ext_version, duckdb_version, platform, "4"]
    out = HEADER + b"".join(field(f) for f in fields) + bytes(256)
    assert len(out) == FOOTER_LEN
    return out


def show(path: str) -> None:
    with open(path, "rb") as f:
        f.seek(0, 2)
        size = f.tell()
        if size < FOOTER_LEN:
            sys.exit(f"{path}: too small to hold a DuckDB footer")
        f.seek(size - FOOTER_LEN)
        tail = f.read(FOOTER_LEN)
    if tail[:22] != HEADER:
        sys.exit(f"{path}: no DuckDB metadata footer")
    names = ["", "", "", "abi_type", "extension_version", "duckdb_version", "platform", "magic"]
    for i, name in enumerate(names):
        if name:
            value = tail[22 + i * FIELD: 22 + (i + 1) * FIELD].rstrip(b"\0").decode("ascii")
            print(f"{name}: {value}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--library")
    ap.add_argument("--out")
    ap.add_argument("--extension-version", default="0.1.0")
    ap.add_argument("--duckdb-version", default="v1.5.5")
    ap.add_argument("--platform", default="linux_amd64")
    ap.add_argument("--abi-type", default="C_STRUCT_UNSTABLE")
    ap.add_argument("--show")
    args = ap.parse_args()
    if args.show:
        show(args.show)
        return
    if not args.library or not args.out:
        ap.error("--library and --out are required")
    tmp = args.out + ".tmp"
    shutil.copyfile(args.library, tmp)
    with open(tmp, "ab") as f:
        f.write(footer(args.abi_type, args.extension_version, args.duckdb_version, args.platform))
    shutil.move(tmp, args.out)  # atomic: a half-written file never carries the final name


if __name__ == "__main__":
    main()
