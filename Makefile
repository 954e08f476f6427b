# Two commands on a fresh machine: `make demo` and `make test`. Everything else is set up by them.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
# uv from PATH if present, else bootstrapped from PyPI into .tools/
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
VENV := .venv
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: setup demo test bench clean

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --compile-bytecode
	touch $@

setup: $(VENV)/.synced

demo: setup
	$(VENV)/bin/c360 demo

test: setup
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/pytest $(PYTEST_ARGS)

bench: setup
	$(VENV)/bin/python benchmarks/bench_generate.py --persons 100000
	$(VENV)/bin/python benchmarks/bench_landing.py --persons 100000

clean:
	rm -rf $(VENV) .tools warehouse .dagster_home
