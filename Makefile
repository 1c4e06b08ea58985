# lakemig — build, test, demo, bench. `make test` on a fresh Debian 12 machine does all the set-up itself.
.PHONY: all release setup test unit lint pytest demo bench clean

EXT_NAME      := lakemig
# The DuckDB C API version lakemig is built against: ABI C_STRUCT + v1.2.0 loads into every DuckDB
# release that offers that stable API (1.2 and later: 1.4.4, 1.5.5, 1.5.6, 2.0.x). src/duck/entry.rs
# hands duckdb-rs only that API; tools/check_capi.py (make lint) checks the code names nothing else.
DUCKDB_C_API  := v1.2.0
PLATFORM      := linux_amd64
EXT_VERSION   := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
VENV          ?= .venv
PYTHON        := $(VENV)/bin/python
EXTENSION     := build/release/$(EXT_NAME).duckdb_extension
export DUCKDB_EXTENSION_NAME := $(EXT_NAME)
export DUCKDB_EXTENSION_MIN_DUCKDB_VERSION := $(DUCKDB_C_API)
export LAKEMIG_EXTENSION := $(abspath $(EXTENSION))
# One cargo profile for everything (release), so the extension, the unit tests and clippy share one build.
# Every cargo call that builds names the same targets (the library, its unit tests, tests/): with
# `lto`, a call naming only the unit tests compiles every dependency a second time (bitcode only).
CARGO := cargo
CARGO_TARGETS := --release --locked --lib --tests

all: release

release: $(EXTENSION)

$(EXTENSION): Cargo.toml Cargo.lock build.rs $(shell find src -name '*.rs') tools/append_footer.py
	$(CARGO) build $(CARGO_TARGETS)
	@mkdir -p build/release
	python3 tools/append_footer.py --library target/release/lib$(EXT_NAME).so --out $@ \
	  --extension-version $(EXT_VERSION) --duckdb-version $(DUCKDB_C_API) --platform $(PLATFORM) \
	  --abi-type C_STRUCT
	@echo "built $@"

setup:
	bash tools/setup.sh

lint:
	python3 tools/check_capi.py
	$(CARGO) fmt --check
	$(CARGO) clippy --release --locked --all-targets -- -D warnings

# tests/copy_in_roundtrip.rs needs a PostgreSQL: test/test_copy_in.py runs its `real_postgres_` tests.
unit:
	$(CARGO) test $(CARGO_TARGETS) -- --skip real_postgres_

pytest: setup release
	$(PYTHON) -m pytest -q test/ $(PYTEST_ARGS)

# Build once, then every check: formatting, clippy, Rust unit tests, SQL logic tests and integration tests.
test: setup release lint unit pytest

demo: setup release
	$(PYTHON) tools/demo.py

# Every benchmark, each side by side with the tool lakemig replaces, reported as ratios (bench/out/*.json).
bench: release
	bash tools/setup.sh --bench
	$(PYTHON) bench/bench.py $(BENCH_ARGS)
	$(PYTHON) bench/bench_catalog.py
	$(PYTHON) bench/bench_sqlite.py
	$(PYTHON) bench/bench_peers.py
	$(PYTHON) bench/bench_cdc.py

clean:
	rm -rf build target
