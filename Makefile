# Two commands on a fresh machine: `make demo` and `make test`. Everything else is set up by them.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
# uv from PATH if present, else bootstrapped from PyPI into .tools/
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
VENV := .venv
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: setup prepare-dbt demo test bench clean

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --compile-bytecode --extra spark
	touch $@

# dagster-dbt reads the dbt manifest when the definitions load: build it whenever the dbt project changes.
DBT_SOURCES := $(shell find dbt_project/models dbt_project/macros -type f 2>/dev/null) dbt_project/dbt_project.yml
MANIFEST := dbt_project/target/manifest.json

$(MANIFEST): $(VENV)/.synced $(DBT_SOURCES)
	cd dbt_project && PATH="$(CURDIR)/$(VENV)/bin:$$PATH" dbt parse --quiet --profiles-dir .
	touch $@

prepare-dbt: $(MANIFEST)

setup: $(VENV)/.synced $(MANIFEST)

demo: setup
	$(VENV)/bin/c360 demo $(DEMO_ARGS)

# The UI tests drive Debian's Chromium (never a browser downloaded by a test tool).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null

# The Spark tests start a local SparkSession: Java 17 from Debian's packages.
JAVA := /usr/bin/java
$(JAVA):
	if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq openjdk-17-jre-headless >/dev/null

# Two workers, a group of tests at a time each (the suite is mostly single-threaded dbt, Dagster and
# HTTP waits); the groups and their order are set in tests/conftest.py. pytest-xdist would otherwise
# reorder the groups by their number of tests, and a long group of two tests (the job on Spark) would
# start last.
PYTEST_WORKERS ?= 2
test: setup $(CHROMIUM) $(JAVA)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist loadgroup --no-loadscope-reorder $(PYTEST_ARGS)

bench: setup
	$(VENV)/bin/python benchmarks/bench_generate.py --persons 100000
	$(VENV)/bin/python benchmarks/bench_landing.py --persons 100000
	$(VENV)/bin/python benchmarks/bench_quality.py --persons 100000

clean:
	rm -rf $(VENV) .tools warehouse .dagster_home
