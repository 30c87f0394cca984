# Two commands: `make run` (set up, land the sample data, run the pipeline once) and
# `make test` (set up, run the whole test suite). Both start with `make install`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
ROOT ?= ./lakehouse_data

.PHONY: install install-test install-infra-tools image image-tools run test test-fast test-unit lint typecheck dev bench bench-full clean

install: $(STAMP)
	@$(BIN)/python -m lakehouse_assets.spark.jars >/dev/null
	@# The JVM class archive (faster Spark starts; built once per JDK and pyspark, about a minute).
	@$(BIN)/python -m lakehouse_assets.spark.class_archive >/dev/null || echo "Spark starts without the class archive"

# What only the tests need: Debian's chromium (browser tests) and PostgreSQL server (instance storage
# tests), the infrastructure linters and the Dagster image. Each is installed once; without it, its
# tests skip and say why. `make run` installs none of it.
APT_TEST_PACKAGES := chromium:chromium postgresql:/usr/lib/postgresql/*/bin/initdb

install-test: install $(DEV_STAMP)
	@for entry in $(APT_TEST_PACKAGES); do \
	  package=$${entry%%:*}; probe=$${entry#*:}; \
	  if command -v "$$probe" >/dev/null || ls $$probe >/dev/null 2>&1; then continue; fi; \
	  if [ "$$package" = chromium ] && [ -n "$$LAKEHOUSE_CHROMIUM" ]; then continue; fi; \
	  if [ "$$(id -u)" = 0 ]; then sudo=""; \
	  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo"; \
	  else sudo="none"; fi; \
	  if [ "$$sudo" != none ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's $$package for the tests"; \
	    ($$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$package >/dev/null) \
	      || echo "could not install $$package: its tests will skip"; \
	  else \
	    echo "$$package not found (and no apt-get as root or passwordless sudo): its tests will skip;" \
	      "install it with 'sudo apt-get install -y $$package'"; \
	  fi; \
	done
	@$(MAKE) --no-print-directory install-infra-tools
	@# The Dagster image for AWS, smoke-tested by tests/infra/test_image.py (built once per inputs).
	@$(MAKE) --no-print-directory image || echo "could not build the Dagster image: the image test will skip"

# The infrastructure linters the tests in tests/infra run (each test skips, saying why, without its tool):
# asl-validator from npm (pinned in infra/package-lock.json), actionlint built from the Go module proxy,
# checkov in a venv of its own (it pins boto3 1.35, which must not reach the project's .venv).
# Idempotent: each is installed once per version into TOOLS (outside the work tree, like the Spark
# jars, so fresh clones and CI reuse them); later runs only check the stamps.
TOOLS ?= $(HOME)/.cache/lakehouse/tools
ACTIONLINT_VERSION := v1.7.12
CHECKOV_VERSION := 3.3.30

install-infra-tools: infra/node_modules/.package-lock.json $(TOOLS)/actionlint-$(ACTIONLINT_VERSION)/actionlint \
		$(TOOLS)/checkov-$(CHECKOV_VERSION)/.installed
	@mkdir -p $(TOOLS)/bin
	@for tool in $(TOOLS)/actionlint-$(ACTIONLINT_VERSION)/actionlint $(TOOLS)/checkov-$(CHECKOV_VERSION)/bin/checkov; do \
	  if [ -x "$$tool" ]; then ln -sf "$$tool" $(TOOLS)/bin/; fi; \
	done

infra/node_modules/.package-lock.json: infra/package.json infra/package-lock.json
	@if command -v npm >/dev/null; then \
	  npm ci --prefix infra --no-audit --no-fund --silent || echo "npm ci failed: the asl-validator tests will skip"; \
	else echo "npm not found: the asl-validator tests will skip (install Node.js 20)"; fi

$(TOOLS)/actionlint-$(ACTIONLINT_VERSION)/actionlint:
	@if command -v go >/dev/null; then \
	  echo "building actionlint $(ACTIONLINT_VERSION) into $(@D)"; \
	  GOBIN=$(@D) go install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION) \
	    || echo "could not build actionlint: the workflow tests will skip"; \
	else echo "go not found: the workflow tests will skip (install Go, or put actionlint on PATH)"; fi

$(TOOLS)/checkov-$(CHECKOV_VERSION)/.installed:
	@echo "installing checkov $(CHECKOV_VERSION) into $(@D)"
	@($(PYTHON) -m venv $(@D) && $(@D)/bin/pip install --quiet --upgrade pip \
	  && $(@D)/bin/pip install --quiet checkov==$(CHECKOV_VERSION) && touch $@) \
	  || echo "could not install checkov: its template test will skip"

# `make image`: the Dagster image for AWS (infra/image/Containerfile), built by infra/image/build.sh with
# podman from a Debian base made by mmdebstrap (no registry needed), tagged with a hash of its inputs and
# not rebuilt while they are unchanged. About 2 minutes cold (PyPI downloads; pip's cache is a build
# cache mount), seconds when only the project's code changed. Needs root: mmdebstrap, and podman's chroot
# isolation (this VM's container runtime cannot set rlimits). PIP_CERT, if set, is the CA bundle pip uses.
image: image-tools
	@if [ "$$(id -u)" != 0 ]; then echo "the Dagster image is built as root (mmdebstrap, podman --isolation chroot)"; exit 1; fi
	infra/image/build.sh

# Debian's mmdebstrap, podman and buildah, when missing: only as root or with passwordless sudo.
image-tools:
	@if ! command -v mmdebstrap >/dev/null || ! command -v podman >/dev/null || ! command -v buildah >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then sudo=""; \
	  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo"; \
	  else sudo="none"; fi; \
	  if [ "$$sudo" != none ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's mmdebstrap, podman and buildah for the Dagster image"; \
	    $$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap podman buildah >/dev/null; \
	  else \
	    echo "mmdebstrap, podman or buildah not found (and no apt-get as root or passwordless sudo):" \
	      "sudo apt-get install -y mmdebstrap podman buildah"; exit 1; \
	  fi; \
	fi

# setuptools notes every editable install ("be careful with folders ... with the same name as your
# package"): here those folders are the packages, so the note is filtered out of the output.
EDITABLE_NOTE := PYTHONWARNINGS="ignore:Editable installation"

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	@command -v java >/dev/null || { echo "Java 17 is required for Spark (java not found)"; exit 1; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(EDITABLE_NOTE) $(BIN)/pip install --quiet -e .
	touch $(STAMP)

# The test, lint and benchmark tools (pytest, moto, ruff, playwright, duckdb, cfn-lint): not for `make run`.
$(DEV_STAMP): $(STAMP)
	$(EDITABLE_NOTE) $(BIN)/pip install --quiet -e ".[dev]"
	touch $(DEV_STAMP)

run: install
	$(BIN)/lakehouse land data/lab_apr_2025/csv --root $(ROOT)
	$(BIN)/lakehouse run --root $(ROOT)

# Test tiers (markers, given by tests/conftest.py): `unit` (no JVM), `spark` (the shared Spark
# session, a handful of rows), `e2e` (whole pipeline runs, servers, subprocesses, browsers). `make
# test` runs all (about 14 minutes of pytest on 2 cores, more at this VM's slow hours), `make
# test-fast` all but `e2e` (about 4.5). Two workers; each module is one xdist group (its module
# fixtures built once), the tests sharing the lab run and `lakehouse dev` one more, the slowest
# tiers first; the 25 slowest tests are printed.
PYTEST_PARALLEL := -n 2 --dist loadgroup --no-loadscope-reorder --durations=25
# mypy over lakehouse_assets and glue_scripts ([tool.mypy] in pyproject.toml), run by `make test`,
# `make lint` and `make typecheck`. Its cache lives outside the work tree, like the Spark jars, so a
# fresh clone at the same path reuses it: about a minute cold, a second or two warm. One cache per
# checkout path: checkouts whose modules differ (a module become a package) crash a shared one.
MYPY := MYPY_CACHE_DIR=$(HOME)/.cache/lakehouse/mypy/$(shell printf %s "$(CURDIR)" | md5sum | cut -c1-12) $(BIN)/mypy

test: install-test
	$(BIN)/ruff check .
	$(MYPY)
	$(BIN)/pytest $(PYTEST_PARALLEL)

test-fast: install-test
	$(BIN)/pytest $(PYTEST_PARALLEL) -m "not e2e"

test-unit: install-test
	$(BIN)/pytest -m unit --durations=10

lint: install $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(MYPY)

typecheck: $(DEV_STAMP)
	$(MYPY)

dev: install
	$(BIN)/lakehouse dev --root $(ROOT)

# `make bench`: the quick mode (about 15 minutes on 2 cores): the lab run, whole `lakehouse run`
# processes for the usual deliveries, throughput at ~1 M order items against a peer-style Spark job,
# a Spark floor and DuckDB, one day merged into tables 1x and 10x its size. `make bench-full`: ~5 M
# order items and medians of 3 (about 1.5 hours). Figures and how to read them: BENCHMARKS.md.
bench: install $(DEV_STAMP)
	$(BIN)/python benchmarks/bench_run.py --repeat 1
	$(BIN)/python benchmarks/bench_deliveries.py --repeat 1
	$(BIN)/python benchmarks/bench_throughput.py --quick
	$(BIN)/python benchmarks/bench_incremental.py --repeat 1

bench-full: install $(DEV_STAMP)
	$(BIN)/python benchmarks/bench_run.py --repeat 3
	$(BIN)/python benchmarks/bench_deliveries.py --repeat 3
	$(BIN)/python benchmarks/bench_throughput.py --repeat 3
	$(BIN)/python benchmarks/bench_incremental.py --repeat 3

clean:
	rm -rf $(ROOT) .dagster
