# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
export MAILFLOW_HOME ?= $(CURDIR)/data

.PHONY: demo test lint bench clean airflow cluster

# requirements.txt is the lock (every version pinned); the package itself is installed editable on top,
# which gives the `mailflow` command and the version recorded in archive manifests.
$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

# Sample exports for two weeks, mailflow_daily for every day, then the weekly report, through the real
# DAGs (dag.test() in one Python process against a throw-away AIRFLOW_HOME); prints each stage's time.
demo: $(VENV)/.installed
	$(PY) scripts/demo.py 2026-11-09 14

# Airflow for real on this machine (see README, "Running it for real"); Ctrl-C stops it.
airflow: $(VENV)/.installed
	bash scripts/airflow_local.sh

# A distributed Airflow on this machine (see README, "Running on a cluster"): PostgreSQL, Redis,
# SeaweedFS, the CeleryExecutor with two workers that share nothing on disk; Ctrl-C stops it all.
cluster: $(VENV)/.installed
	$(PY) -m etl.devtools.cluster $(ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

test: lint
	$(PY) -m pytest -q

bench: $(VENV)/.installed
	$(PY) -m etl bench ingest --rows 5000000

clean:
	rm -rf data .pytest_cache test-artifacts
