# `make book` and `make test` create the virtual environment on first use.
# torch is installed first and pinned (2.13.0: the CPU build is on local disk on our machines and
# the regular wheel elsewhere), so that no later resolver step pulls another torch build.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH ?= torch==2.13.0
MODELS ?= smollm2-135m gemma-3-270m
# untrained control twins beside them: default = null-init:<first of MODELS>, none, or all (both twins of every model)
CONTROLS ?= default
PROFILE ?= quick
NOTEBOOKS ?= all
# pages executing at once: lanes of a chapter's Stolfo et al. or Voita et al. pages, the next one taken by a free worker
JOBS ?= 2
# DEVICE=cuda sets the device parameter of every page (a CPU machine fails at once, naming the fix)
DEVICE ?=
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: env book test test-fast lint bench clean

env: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check "$(TORCH)"
	$(PY) -m pip install -q --disable-pip-version-check -e ".[dev]"
	touch $@

book: env
	$(PY) -m helpers run --models $(MODELS) --controls $(CONTROLS) --profile $(PROFILE) --notebooks $(NOTEBOOKS) --jobs $(JOBS) $(if $(strip $(DEVICE)),--device $(DEVICE))

test: env lint
	$(PY) -m pytest

# ruff (pyflakes, pycodestyle, import order, complexity, bugbear) and mypy, configured in pyproject.toml
lint: env
	$(PY) -m ruff check .
	$(PY) -m mypy

# no papermill notebook, no real model: minutes (tests/conftest.py enforces it)
test-fast: env
	$(PY) -m pytest -m "not slow"

clean:
	rm -rf book/_build book/runs book/_toc.yml book/intro.md book/scorecard.md
