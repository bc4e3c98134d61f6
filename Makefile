# One command each, from a clean clone on a fresh machine:
#   make demo    set everything up, run the example DAGs against the bundled emulators
#   make check   set everything up, run every check CI runs
#   make e2e     the end-to-end suite alone: a real Airflow, the emulators, moto's S3, Chromium
#   make e2e-production  the production-shaped deployment (PostgreSQL, Redis, Celery), last in make check
#   make dist    the sdist and the wheel, into dist/ (DIST=<folder> for another), their metadata checked
SHELL := /bin/bash
PYTHON ?= python3
UV := $(PYTHON) -m uv
FLOOR_VENV := .venv-floor
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DIST ?= dist

.PHONY: uv setup demo check check-lane-unit check-lane-e2e lint typecheck test docs dist test-floor floor-requirements chromium services e2e e2e-production e2e-fleet screenshots

uv:
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install -q --disable-pip-version-check uv

# Byte-compiled at install: every Airflow process (components, CLI calls, the tests' subprocesses) then reads
# the .pyc files instead of compiling Airflow's sources again, which it does on each start where
# PYTHONDONTWRITEBYTECODE is set (uv compiles only what changed on a later sync).
setup: uv
	$(UV) sync --frozen --quiet --compile-bytecode

demo: setup
	$(UV) run --frozen python scripts/demo.py

lint: setup
	$(UV) run --frozen ruff check airflow_joblogs tests example_dags scripts benchmarks
	$(UV) run --frozen ruff format --check airflow_joblogs tests example_dags scripts benchmarks

typecheck: setup
	$(UV) run --frozen mypy

test: setup
	$(UV) run --frozen pytest -q -p no:cacheprovider --durations=10 -m "not e2e"

# Debian's Chromium for the connection-form tests: Playwright drives it (its own browser download needs hosts CI cannot reach).
chromium:
	@test -x $(CHROMIUM) || ($(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium)

# Debian's PostgreSQL and Redis for the Celery deployment of the end-to-end suite (each test run makes its own
# throwaway cluster and server on free ports; the packages' own services are not used).
services:
	@(test -n "$$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null)" && command -v redis-server >/dev/null) || \
		($(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql redis-server)

# A real Airflow (api-server, scheduler, dag-processor, triggerer; LocalExecutor, sqlite) running every example
# DAG and the suite's own DAGs, the connection forms in a browser, and the quickstart page's commands. The
# production shape (tests/e2e/test_e2e_celery.py, about 10 minutes) has a target of its own: make e2e-production.
e2e: setup chromium
	$(UV) run --frozen pytest -q -p no:cacheprovider --durations=10 -m e2e --ignore=tests/e2e/test_e2e_celery.py \
		tests/e2e tests/test_quickstart.py

# The production shape: PostgreSQL, Redis, CeleryExecutor with two workers, two triggerers; every example DAG
# there, failover and worker-kill scenarios, latency beside the LocalExecutor. The fleet scenarios run with 40
# sensors (JOBLOGS_E2E_FLEET); make e2e-fleet runs the 200 of the measured figures in docs/deploying.rst.
JOBLOGS_E2E_FLEET ?= 40
e2e-production: setup services
	JOBLOGS_E2E_FLEET=$(JOBLOGS_E2E_FLEET) $(UV) run --frozen pytest -q -p no:cacheprovider tests/e2e/test_e2e_celery.py

# 200 deferred sensors on the Celery deployment (both triggerers carry some, every one ends with its job's
# verdict), then on the LocalExecutor one, and the latency table of the two.
e2e-fleet: setup services
	JOBLOGS_E2E_FLEET=200 $(UV) run --frozen pytest -q -p no:cacheprovider tests/e2e/test_e2e_celery.py \
		-k "deferred_sensors_end or latency"

# Refresh the connection-form pictures in docs/_static/screenshots/.
screenshots: setup chromium
	JOBLOGS_UPDATE_SCREENSHOTS=1 $(UV) run --frozen pytest -q -p no:cacheprovider tests/e2e/test_e2e_connection_forms.py

docs: setup
	rm -rf docs/_build
	$(UV) run --frozen sphinx-build -W --keep-going -q -b html docs docs/_build/html

# The sdist (with LICENSE, the docs, the tests and example_dags/) and the wheel built from it (with LICENSE),
# then their metadata checked as an index would (twine check --strict).
dist: setup
	rm -f $(DIST)/airflow_joblogs-*.tar.gz $(DIST)/airflow_joblogs-*.whl
	$(UV) build --quiet --out-dir $(DIST)
	$(UV) run --frozen twine check --strict $(DIST)/airflow_joblogs-*.tar.gz $(DIST)/airflow_joblogs-*.whl

$(FLOOR_VENV)/.installed: .ci/floor-requirements.txt pyproject.toml
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(FLOOR_VENV)
	$(UV) pip install --quiet --compile-bytecode --python $(FLOOR_VENV)/bin/python -r .ci/floor-requirements.txt -e .
	touch $@

# Re-resolve the floor environment: libraries as of Airflow 3.0.6's release, the compat shims current.
floor-requirements: uv
	$(UV) pip compile --quiet --python-version 3.11 --exclude-newer 2025-09-20 \
		--exclude-newer-package apache-airflow-providers-common-compat=2026-11-01 \
		.ci/floor.in -o .ci/floor-requirements.txt

# The same suite on the oldest supported Airflow (3.0.x): the unit tests, then in a session of their own (their
# Airflow stops when they end) the end-to-end tests marked every_airflow (the others are skipped) and the quickstart.
test-floor: uv $(FLOOR_VENV)/.installed
	$(FLOOR_VENV)/bin/python -m pytest -q -p no:cacheprovider --durations=10 -m "not e2e"
	$(FLOOR_VENV)/bin/python -m pytest -q -p no:cacheprovider -m e2e tests/e2e tests/test_quickstart.py

# Two lanes side by side, one per core: lint, types, docs and the suite on Airflow 3.3 then on the floor; beside
# them the end-to-end suite, then the production shape. Each line of output is prefixed with its lane.
check: setup
	$(MAKE) --no-print-directory -j2 check-lane-unit check-lane-e2e
	@echo "all checks passed"

check-lane-unit:
	set -o pipefail; for target in lint typecheck docs test test-floor; do \
		$(MAKE) --no-print-directory $$target || exit 1; done 2>&1 | sed -u 's/^/[unit] /'
check-lane-e2e:
	set -o pipefail; for target in e2e e2e-production; do \
		$(MAKE) --no-print-directory $$target || exit 1; done 2>&1 | sed -u 's/^/[e2e]  /'

bench: setup ; $(UV) run --frozen python -m benchmarks $(ARGS)
