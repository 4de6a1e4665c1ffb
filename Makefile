# `make run` installs what the app needs (requirements.lock); `make test` and `make lint` add
# the test and lint tools (requirements-dev.lock). Both locks pin every transitive dependency
# with its hashes and are installed with --require-hashes; requirements.txt and
# requirements-dev.txt are the human-edited top level, re-resolved into the locks by `make lock`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# OFFLINE=1 installs from $(WHEELHOUSE) (see `make wheelhouse`) with the package index off.
WHEELHOUSE ?= wheelhouse
PIP := $(PY) -m pip install --quiet --require-hashes \
	$(if $(OFFLINE),--no-index --find-links $(WHEELHOUSE))
RUN_STAMP := $(VENV)/.installed-runtime
# Test-only JavaScript (axe-core for the accessibility checks), pinned in package-lock.json.
NODE_STAMP := node_modules/.installed
DEV_STAMP := $(VENV)/.installed-dev
# uv resolves for every platform and Python >= 3.11, and keeps the versions already locked
# unless UPGRADE=1 (`make lock UPGRADE=1` moves every dependency to its newest release).
LOCK := $(VENV)/bin/uv pip compile --quiet --generate-hashes --universal --python-version 3.11 \
	--custom-compile-command "make lock" $(if $(UPGRADE),--upgrade)

.PHONY: run test test-fast coverage lint lock wheelhouse bench clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): requirements.lock | $(VENV)/bin/python
	$(PIP) -r requirements.lock
	touch $(RUN_STAMP)

$(DEV_STAMP): requirements-dev.lock | $(VENV)/bin/python
	$(PIP) -r requirements-dev.lock
	touch $(DEV_STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --silent $(if $(OFFLINE),--offline)
	touch $(NODE_STAMP)

run: $(RUN_STAMP)
	$(PY) app.py

# COVERAGE=1 (as .ci/run) runs the suite under coverage, then the report: it fails below
# pyproject's fail_under.
test: $(DEV_STAMP) $(NODE_STAMP)
	$(PY) -m $(if $(COVERAGE),coverage run -m) pytest $(PYTEST_ARGS)
	$(if $(COVERAGE),$(PY) -m coverage report)

# The inner loop: everything but the browser and slow tests (the whole suite runs in CI).
test-fast: $(DEV_STAMP)
	$(PY) -m pytest -m "not browser and not slow" $(PYTEST_ARGS)

# The suite under coverage (branches too): `make test COVERAGE=1`.
coverage:
	$(MAKE) test COVERAGE=1

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# Re-resolve the locks after editing requirements.txt or requirements-dev.txt (needs the index).
# The dev lock is constrained by the runtime lock, so the app runs the versions it is tested with.
lock: $(DEV_STAMP)
	$(LOCK) requirements.txt -o requirements.lock
	$(LOCK) requirements-dev.txt -c requirements.lock -o requirements-dev.lock
	$(LOCK) bench/requirements.txt -c requirements-dev.lock -o bench/requirements.lock

# Every wheel the app needs, checked against the lock's hashes, for a room with no network:
# `make run OFFLINE=1` there (README, "A room with no network"). The wheels are for this
# machine's OS, CPU and Python; WHEEL_TARGET="--platform ... --python-version ..." picks others.
wheelhouse: | $(VENV)/bin/python
	$(PY) -m pip download --quiet --require-hashes --only-binary=:all: $(WHEEL_TARGET) \
		-r requirements.lock -d $(WHEELHOUSE)

BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): bench/requirements.lock $(DEV_STAMP)
	$(PIP) -r bench/requirements.lock
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(PY) bench/run.py --json bench/results/latest.json --readme bench/results/latest.md

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache
