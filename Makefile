# strata's developer entry points. `make help` lists them; CI (.ci/run) runs `make test`.
#
# Needs: Python 3.11+, a Rust toolchain (rustup, with rustfmt and clippy) and libsqlite3-dev;
# the tests also start a PostgreSQL server (Debian's postgresql, installed by system-deps).
# Everything else is installed into .venv by these targets.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
# cargo (for `cargo test`/clippy) and maturin must configure PyO3 for the same interpreter,
# or each run invalidates the other's build.
export PYO3_PYTHON := $(abspath $(BIN)/python)
# `cargo test` links libpython (maturin builds do not); the loader must find it at run time.
LIBPYTHON_DIR = $(shell $(BIN)/python -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR"))')

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

.PHONY: system-deps
system-deps: ## Install libsqlite3-dev (chromium, postgresql and openssl, for tests; redis-server, for benches) with apt-get if missing
	@dpkg -s libsqlite3-dev >/dev/null 2>&1 || { \
		echo "installing libsqlite3-dev"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && $$SUDO apt-get install -y -q libsqlite3-dev pkg-config; }
	@# The demo's HTML report is checked by rendering it in headless Chromium (tests/test_cli.py).
	@command -v chromium >/dev/null 2>&1 || { \
		echo "installing chromium"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && $$SUDO apt-get install -y -q chromium; }
	@# The PostgreSQL tests start a throwaway server from Debian's binaries (tests/postgres.py);
	@# the postgresql package puts initdb and pg_ctl in /usr/lib/postgresql/<version>/bin.
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || { \
		echo "installing postgresql"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && $$SUDO apt-get install -y -q postgresql; }
	@# tests/test_postgres_tls.py makes its CA and server certificate with the openssl command
	@# (postgresql pulls it in through ssl-cert; checked on its own in case it did not).
	@command -v openssl >/dev/null 2>&1 || { \
		echo "installing openssl"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && $$SUDO apt-get install -y -q openssl; }
	@# benches/postgres_suite.py reports `limits` with its Redis storage on a local server.
	@command -v redis-server >/dev/null 2>&1 || { \
		echo "installing redis-server"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && $$SUDO apt-get install -y -q redis-server; }
	@rustup component list --installed 2>/dev/null | grep -q rustfmt || rustup component add rustfmt clippy

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

.PHONY: install
install: system-deps $(BIN)/python ## Build the Rust core (release) and install strata with dev tools into .venv
	$(BIN)/pip install -q "maturin>=1.7,<2"
	$(BIN)/maturin develop --release --extras dev,docs -q

.PHONY: demo
demo: install ## Run the demo (the README's first command)
	cd $(CURDIR) && $(BIN)/strata demo

.PHONY: lint
lint: ## Formatters and linters: cargo fmt, clippy, ruff, mypy, the stub check, the layers contract
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings
	$(BIN)/ruff check python tests benches examples
	$(BIN)/ruff format --check python tests benches examples
	$(BIN)/mypy
	$(BIN)/python -m mypy.stubtest strata._core --allowlist .ci/stubtest-allowlist.txt
	$(BIN)/lint-imports

.PHONY: docs
docs: ## Build the documentation site into site/ (mkdocs build --strict; offline)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

.PHONY: test
test: install lint docs ## Everything CI runs: lint, the docs, Rust tests, Python tests, quick benchmarks
	LD_LIBRARY_PATH=$(LIBPYTHON_DIR) cargo test --quiet
	$(BIN)/pytest
	$(BIN)/python benches/run.py --quick --floors benches/floors.toml

.PHONY: bench
bench: install ## Full benchmarks: ratios against baselines measured in the same run
	$(BIN)/python benches/run.py

.PHONY: fmt
fmt: ## Format Rust and Python in place
	cargo fmt --all
	$(BIN)/ruff format python tests benches examples
	$(BIN)/ruff check --fix python tests benches examples

.PHONY: clean
clean: ## Remove build outputs and the virtual environment
	cargo clean
	rm -rf $(VENV) python/strata/*.so .pytest_cache .mypy_cache .ruff_cache site
