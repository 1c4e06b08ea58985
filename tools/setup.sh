#!/usr/bin/env bash
# Installs what lakemig's build, tests, demo and benchmarks need on a Debian 12 machine, idempotently:
# PostgreSQL 15 and pgloader (Debian), a Python venv with the pinned DuckDB packages and dbt-duckdb,
# and one small venv per other DuckDB release the tests load lakemig into. Run as root on a fresh
# machine, or as a user who already has the Debian packages.
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
  cp test/requirements.txt "$stamp"
fi

# Other DuckDB releases, one venv each beside $VENV ($VENV-duckdb-<release>), holding only what its
# tests use: the cross-version suite (test/test_compat.py, runners in test/duckdb_runners.py) runs
# lakemig in each, and test/test_load.py checks that a release older than lakemig's declared C API
# minimum (v1.2.0; 1.1.3 has v0.0.1) refuses the file. No pip inside them: the main venv's pip
# installs into each. A stamp of the package list makes a re-run instant.
other_venv() {  # other_venv RELEASE PACKAGE==VERSION...
  local dir="$VENV-duckdb-$1"; shift
  if [ -x "$dir/bin/python" ] && [ "$(cat "$dir/.lakemig-packages" 2>/dev/null)" = "$*" ]; then
    return
  fi
  local start=$SECONDS
  rm -rf "$dir"
  python3 -m venv --without-pip "$dir"
  "$VENV/bin/pip" --python "$dir/bin/python" install -q --disable-pip-version-check "$@"
  echo "$*" > "$dir/.lakemig-packages"
  echo "setup: made $dir ($*) in $((SECONDS - start)) s"
}
other_venv 1.5.6 duckdb-cli==1.5.6
other_venv 2.0.1 duckdb==2.0.1
other_venv 1.4.4 duckdb==1.4.4 duckdb-extension-ducklake==1.4.4 duckdb-extension-postgres-scanner==1.4.4 \
  duckdb-extension-sqlite-scanner==1.4.4
other_venv 1.3.2 duckdb==1.3.2
other_venv 1.1.3 duckdb==1.1.3

# `--bench` (make bench): the peers bench/bench_peers.py measures, sling and dlt, from the package
# registries into their own venv, so the test venv never carries them.
if [ "${1:-}" = "--bench" ]; then
  bench="$VENV-bench"
  if [ ! -x "$bench/bin/python" ] || ! cmp -s bench/requirements.txt "$bench/.lakemig-requirements"; then
    start=$SECONDS
    rm -rf "$bench"
    python3 -m venv --without-pip "$bench"
    "$VENV/bin/pip" --python "$bench/bin/python" install -q --disable-pip-version-check -r bench/requirements.txt
    cp bench/requirements.txt "$bench/.lakemig-requirements"
    echo "setup: made $bench (sling, dlt) in $((SECONDS - start)) s"
  fi
fi
echo "setup: ok"
