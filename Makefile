# lakemig — build, test, demo, bench. `make test` on a fresh Debian 12 machine does all the set-up itself.
.PHONY: all release setup test unit lint pytest demo bench clean

EXT_NAME      := lakemig
DUCKDB_VERSION := v1.5.5
PLATFORM      := linux_amd64
EXT_VERSION   := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
VENV          ?= .venv
PYTHON        := $(VENV)/bin/python
EXTENSION     := build/release/$(EXT_NAME).duckdb_extension
export DUCKDB_EXTENSION_NAME := $(EXT_NAME)
export DUCKDB_EXTENSION_MIN_DUCKDB_VERSION := $(DUCKDB_VERSION)
export LAKEMIG_EXTENSION := $(abspath $(EXTENSION))
# One cargo profile for everything (release), so the extension, the unit tests and clippy share one build.
CARGO := cargo

all: release

release: $(EXTENSION)

$(EXTENSION): Cargo.toml Cargo.lock build.rs $(shell find src -name '*.rs') tools/append_footer.py
	$(CARGO) build --release --locked
	@mkdir -p build/release
	python3 tools/append_footer.py --library target/release/lib$(EXT_NAME).so --out $@ \
	  --extension-version $(EXT_VERSION) --duckdb-version $(DUCKDB_VERSION) --platform $(PLATFORM) \
	  --abi-type C_STRUCT_UNSTABLE
	@echo "built $@"

setup:
	bash tools/setup.sh

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --release --locked --all-targets -- -D warnings

unit:
	$(CARGO) test --release --locked --lib

pytest: setup release
	$(PYTHON) -m pytest -q test/ $(PYTEST_ARGS)

# Build once, then every check: formatting, clippy, Rust unit tests, SQL logic tests and integration tests.
test: setup release lint unit pytest

demo: setup release
	$(PYTHON) tools/demo.py

# Every benchmark, each side by side with the tool lakemig replaces, reported as ratios (bench/out/*.json).
bench: setup release
	$(PYTHON) bench/bench.py $(BENCH_ARGS)
	$(PYTHON) bench/bench_catalog.py
	$(PYTHON) bench/bench_sqlite.py

clean:
	rm -rf build target
