# Cauce: `make run` sets everything up and starts it; `make test` runs the test suite.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed

.PHONY: install run test prove load lint format messages bench clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)
	$(PY) manage.py compilemessages --ignore=.venv --verbosity 0

run: install
	$(PY) -m scripts.run

# Two pytest-xdist workers by default (CI's machine has two cores); `make test PYTEST_ARGS=...`
# replaces them (e.g. `PYTEST_ARGS=tests/test_run_command.py` runs one file in one process).
test: PYTEST_ARGS ?= -n 2 --dist worksteal
test: install
	$(PY) -m pytest --ignore=tests/production $(PYTEST_ARGS)

# Proof under load and faults: the production topology as plain processes on loopback
# (tests/production/harness.py: PostgreSQL, Redis, an S3 object store, MLflow, gunicorn, Celery).
prove: install
	$(PY) -m pytest tests/production $(PYTEST_ARGS)

# The load run alone (tests/production/load.py): the harness, 20 users for 60 s, the figures.
load: install
	$(PY) -m tests.production.load $(LOAD_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Apps with their own English catalog; config/ and cauce/core/ strings go to locale/.
CATALOG_APPS := projects datasets experiments artifacts registry monitoring sweeps api

messages: install
	for app in $(CATALOG_APPS); do \
	  (cd cauce/$$app && ../../$(PY) ../../manage.py makemessages -l en --no-obsolete) || exit 1; \
	done
	$(PY) manage.py makemessages -l en --no-obsolete -i ".venv/*" -i "var/*" -i "tests/*" \
	  -i "bench/*" -i "scripts/*" -i "staticfiles/*" $(foreach app,$(CATALOG_APPS),-i "cauce/$(app)/*")

bench: install
	for script in bench/bench_*.py; do $(PY) $$script || exit 1; done

clean:
	rm -rf var staticfiles
