# The two set-up commands: `make run` and `make test`. Everything they need is installed from here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test test-fast system-deps openapi bench screenshots clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

## make run: the service on SQLite (./lac.db, or LAC_DATABASE_URL) with demo data, on http://127.0.0.1:8000
run: export LAC_ENVIRONMENT ?= development
run: $(STAMP)
	$(BIN)/lac db upgrade
	$(BIN)/lac demo --if-empty
	$(BIN)/lac serve --host $(HOST) --port $(PORT)

## PostgreSQL with PostGIS, Chromium for the screen tests and wrk for the load tests, from Debian's packages,
## only when missing.
system-deps:
	@if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || \
	    ! ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1 || \
	    ! command -v chromium >/dev/null 2>&1 || ! command -v wrk >/dev/null 2>&1; then \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends \
	    postgresql postgresql-postgis chromium wrk >/dev/null; \
	fi

## make test: the whole suite, every database test on SQLite and on PostgreSQL, one worker per core (each
## works in a database of its own).
test: $(STAMP) system-deps
	LAC_TEST_POSTGRES_URL="$$(scripts/test-postgres.sh)" $(BIN)/pytest -q -n auto

## make bench: speed goals, each printed as a ratio against a baseline measured in the same run
## (the round benchmark reads and writes the same throwaway PostgreSQL server as the tests). Every
## benchmark runs; the command fails at the end if one missed its goal.
bench: $(STAMP) system-deps
	@export LAC_BENCH_POSTGRES_URL="$$(scripts/test-postgres.sh)"; status=0; \
	for bench in benchmarks/bench_*.py; do echo "== $$bench"; $(BIN)/python $$bench || status=1; done; exit $$status

## make screenshots: every page of the screen tests, saved to ./screenshots/
screenshots: $(STAMP) system-deps
	LAC_SCREENSHOTS="$(CURDIR)/screenshots" LAC_TEST_POSTGRES_URL="$$(scripts/test-postgres.sh)" $(BIN)/pytest -q tests/e2e

openapi: $(STAMP)
	$(BIN)/lac openapi

clean:
	rm -rf $(VENV) lac.db .pytest_cache
