# One command to run the site, one to test it. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint format migrate bench faults clean

$(STAMP): requirements.txt requirements-dev.txt package.json
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	# axe-core for the browser tests' accessibility checks (skipped without npm).
	if command -v npm >/dev/null 2>&1; then npm ci --silent --no-audit --no-fund; fi
	touch $(STAMP)

run: $(STAMP)
	DJANGO_DEBUG=true $(BIN)/python manage.py migrate --noinput
	DJANGO_DEBUG=true $(BIN)/python manage.py seed_demo
	DJANGO_DEBUG=true $(BIN)/python manage.py runserver $(or $(PORT),8000)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

migrate: $(STAMP)
	DJANGO_DEBUG=true $(BIN)/python manage.py migrate --noinput

# Performance against Django's own floor, written to docs/PERFORMANCE.md (about 10 minutes;
# PostgreSQL too when DATABASE_URL points at it). BENCH_SHORT=1: a few seconds a page, for CI.
# Installs wrk (Debian package) with apt-get when it is missing.
bench: $(STAMP)
	$(BIN)/python -m bench.run $(if $(filter-out 0,$(BENCH_SHORT)),--short)

# Concurrency and faults against real servers, written to docs/RELIABILITY.md (about 2
# minutes; needs PostgreSQL and Redis; as root it stops and starts PostgreSQL once).
# FAULTS_QUICK=1: without touching PostgreSQL, for CI (bench/results/RELIABILITY-quick.md).
faults: $(STAMP)
	$(BIN)/python -m bench.faults $(if $(filter-out 0,$(FAULTS_QUICK)),--quick)

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
