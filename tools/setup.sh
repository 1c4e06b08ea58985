#!/usr/bin/env bash
# Installs what lakemig's build, tests, demo and benchmarks need on a Debian 12 machine, idempotently:
# PostgreSQL 15 and pgloader (Debian), a Python venv with the pinned DuckDB packages and dbt-duckdb,
# and a second DuckDB version for the version-mismatch test. Run as root on a fresh machine, or as
# a user who already has the Debian packages.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}

need_apt=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
command -v psql >/dev/null 2>&1 || need_apt+=(postgresql-client)
command -v pgloader >/dev/null 2>&1 || need_apt+=(pgloader)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
command -v runuser >/dev/null 2>&1 || need_apt+=(util-linux)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
command -v cargo >/dev/null 2>&1 || need_apt+=(cargo)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing ${need_apt[*]}; run 'sudo apt-get install ${need_apt[*]}' or run make as root" >&2
    exit 1
  fi
  echo "setup: apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  # Debian starts a cluster on install; the tests bring their own, so leave the packaged one stopped.
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    for c in /etc/postgresql/*/main; do
      [ -d "$c" ] && pg_ctlcluster "$(basename "$(dirname "$c")")" main stop >/dev/null 2>&1 || true
    done
  fi
fi

# The postgres server refuses to run as root: tests start their clusters as this user.
if [ "$(id -u)" = 0 ] && ! id lakemig_pg >/dev/null 2>&1; then
  useradd --system --no-create-home --shell /usr/sbin/nologin lakemig_pg
fi

stamp="$VENV/.lakemig-requirements"
if [ ! -x "$VENV/bin/python" ] || ! cmp -s test/requirements.txt "$stamp"; then
  echo "setup: creating $VENV with the pinned DuckDB 1.5.5 packages and dbt-duckdb"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip >/dev/null
  "$VENV/bin/pip" install -q -r test/requirements.txt
  # Another DuckDB version, only to show that loading into it fails with DuckDB's own error.
  "$VENV/bin/pip" install -q --no-deps --target "$VENV/duckdb-other" duckdb==1.4.3
  cp test/requirements.txt "$stamp"
fi
echo "setup: ok"
