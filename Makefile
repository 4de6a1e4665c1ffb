# `make run` installs what the app needs (requirements.lock); `make test` and `make lint` add
# the test and lint tools (requirements-dev.lock). Both locks pin every transitive dependency
# with its hashes and are installed with --require-hashes; requirements.txt and
# requirements-dev.txt are the human-edited top level, re-resolved into the locks by `make lock`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --require-hashes
RUN_STAMP := $(VENV)/.installed-runtime
DEV_STAMP := $(VENV)/.installed-dev
# uv resolves for every platform and Python >= 3.11, and keeps the versions already locked
# unless UPGRADE=1 (`make lock UPGRADE=1` moves every dependency to its newest release).
LOCK := $(VENV)/bin/uv pip compile --quiet --generate-hashes --universal --python-version 3.11 \
	--custom-compile-command "make lock" $(if $(UPGRADE),--upgrade)

.PHONY: run test lint lock bench clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): requirements.lock | $(VENV)/bin/python
	$(PIP) -r requirements.lock
	touch $(RUN_STAMP)

$(DEV_STAMP): requirements-dev.lock | $(VENV)/bin/python
	$(PIP) -r requirements-dev.lock
	touch $(DEV_STAMP)

run: $(RUN_STAMP)
	$(PY) app.py

test: $(DEV_STAMP)
	$(PY) -m pytest

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# Re-resolve the locks after editing requirements.txt or requirements-dev.txt (needs the index).
# The dev lock is constrained by the runtime lock, so the app runs the versions it is tested with.
lock: $(DEV_STAMP)
	$(LOCK) requirements.txt -o requirements.lock
	$(LOCK) requirements-dev.txt -c requirements.lock -o requirements-dev.lock

bench: $(DEV_STAMP)
	$(PY) -m pip install --quiet -r bench/requirements.txt
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
