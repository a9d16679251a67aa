# FleetMon: `make run` starts the whole service, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint install migrate fuzz bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

migrate: install
	$(PY) manage.py migrate --noinput

run: migrate
	$(PY) -m fleetmon_project.runstack

# The one-way import rule (pyproject.toml, [tool.importlinter]) is part of the suite.
test: install
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m tests.backends $(PYTEST_ARGS)

# Style and types: ruff and mypy (django-stubs), configured in pyproject.toml; CI runs it.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

fuzz: install
	$(PY) -m tests.backends tests/fleetmon_project/test_schema_fuzz.py -m fuzz $(PYTEST_ARGS)

bench: install
	$(PY) benchmarks/evaluation.py

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis

# End-to-end benchmark against a stack it starts itself (PostgreSQL and Redis must answer);
# see docs/performance.md. E2E_ARGS="--duration 30" etc. pass options through.
.PHONY: bench-e2e
bench-e2e: install
	$(PY) benchmarks/e2e.py $(E2E_ARGS)

# Instructions per POST, evaluation task and delivery attempt, counted by valgrind's callgrind:
# figures that do not depend on the machine's load (docs/performance.md).
.PHONY: bench-instructions
bench-instructions: install
	$(PY) benchmarks/instructions.py $(INSTRUCTIONS_ARGS)

# Chaos suite: faults injected into a stack it starts itself (private PostgreSQL, the broker,
# gunicorn, 2 workers, Beat, a loopback receiver); exits non-zero if anything accepted is lost.
# docs/reliability.md. CHAOS_ARGS="--broker rabbitmq --quick --scenario worker-kill" etc.
.PHONY: chaos
chaos: install
	$(PY) benchmarks/chaos.py $(CHAOS_ARGS)
