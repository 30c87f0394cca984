# Two commands: `make run` (set up, land the sample data, run the pipeline once) and
# `make test` (set up, run the whole test suite). Both start with `make install`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ROOT ?= ./lakehouse_data

.PHONY: install run test test-fast lint dev bench clean

install: $(STAMP)
	@$(BIN)/python -m lakehouse_assets.spark_jars >/dev/null
	@# The browser tests (tests/lakehouse_assets/test_ui.py) drive Debian's chromium; they skip without it.
	@if [ -z "$$LAKEHOUSE_CHROMIUM" ] && ! command -v chromium >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then sudo=""; \
	  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo"; \
	  else sudo="none"; fi; \
	  if [ "$$sudo" != none ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's chromium for the browser tests"; \
	    $$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
	      || echo "could not install chromium: the browser tests will skip"; \
	  else \
	    echo "chromium not found (and no apt-get as root or passwordless sudo): the browser tests will skip;" \
	      "install it with 'sudo apt-get install -y chromium' or set LAKEHOUSE_CHROMIUM"; \
	  fi; \
	fi

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	@command -v java >/dev/null || { echo "Java 17 is required for Spark (java not found)"; exit 1; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

run: install
	$(BIN)/lakehouse land data/lab_apr_2025/csv --root $(ROOT)
	$(BIN)/lakehouse run --root $(ROOT)

test: install
	$(BIN)/ruff check .
	$(BIN)/pytest

test-fast: install
	$(BIN)/pytest -m "not slow"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

dev: install
	$(BIN)/lakehouse dev --root $(ROOT)

bench: install
	$(BIN)/python benchmarks/bench_run.py

clean:
	rm -rf $(ROOT) .dagster
