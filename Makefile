# Casework — the two commands: `make run` and `make test`.
SHELL := /bin/bash
# The interpreter of .venv: the operating system's own Python where it is 3.11 or newer and has
# venv (Debian and Ubuntu build theirs with profile-guided and link-time optimisation: a page
# spends about a tenth less time in Python on it than on a default pyenv or asdf build, pure
# Python code a fifth less; README, Performance), else the first python3 on the PATH.
# `make PYTHON=/path/to/python3` picks another; it applies when .venv is created (`make clean`
# first to change it).
SYSTEM_PYTHON := /usr/bin/python3
PYTHON ?= $(shell $(SYSTEM_PYTHON) -c 'import sys, ensurepip; \
	sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 && echo $(SYSTEM_PYTHON) || echo python3)
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app casework
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 5000
# A PostgreSQL server the test suite may create (and drop) its own databases on.
CASEWORK_TEST_PG_ADMIN ?= postgresql://postgres@127.0.0.1:5432/postgres
PYTEST_ARGS ?=
# e.g. BENCH_ARGS='--duration 10 --reseed' (bench/scale.py --help)
BENCH_ARGS ?=

# The interface languages besides English (translations/<locale>/LC_MESSAGES/messages.po).
LOCALES := es fr ar th vi uk
PYBABEL := $(BIN)/pybabel
PO_FILES := $(foreach l,$(LOCALES),translations/$(l)/LC_MESSAGES/messages.po)
MO_FILES := $(PO_FILES:.po=.mo)

.PHONY: run test test-sqlite test-postgresql test-e2e bench lint system-deps browser-deps services clean \
	translations compile-translations

run: $(STAMP) system-deps compile-translations
	$(FLASK) db upgrade
	$(FLASK) seed-demo
	$(FLASK) run --host $(HOST) --port $(PORT)

test: $(STAMP) system-deps browser-deps services compile-translations
	$(MAKE) --no-print-directory test-sqlite
	$(MAKE) --no-print-directory test-postgresql

test-sqlite: $(STAMP)
	CASEWORK_TEST_ENGINE=sqlite $(BIN)/python -m pytest -n 2 -q $(PYTEST_ARGS)

test-postgresql: $(STAMP)
	CASEWORK_TEST_ENGINE=postgresql CASEWORK_TEST_PG_ADMIN=$(CASEWORK_TEST_PG_ADMIN) \
		$(BIN)/python -m pytest -n 2 -q $(PYTEST_ARGS)

# The browser journeys alone (tests/e2e: gunicorn + Chromium, each xdist worker its own server
# and database), on both engines. `make test` runs them with the rest of the suite.
test-e2e: $(STAMP) browser-deps services compile-translations
	CASEWORK_TEST_ENGINE=sqlite $(BIN)/python -m pytest -n 2 -q tests/e2e $(PYTEST_ARGS)
	CASEWORK_TEST_ENGINE=postgresql CASEWORK_TEST_PG_ADMIN=$(CASEWORK_TEST_PG_ADMIN) \
		$(BIN)/python -m pytest -n 2 -q tests/e2e $(PYTEST_ARGS)

# Speed is measured here, never in a timed unit test: each figure beside its baseline
# measured in the same run.
bench: $(STAMP) system-deps services compile-translations
	$(BIN)/python bench/letters.py
	$(BIN)/python bench/caseload.py --engine sqlite --sizes 1000,100000
	CASEWORK_BENCH_PG_ADMIN=$(CASEWORK_TEST_PG_ADMIN) \
		$(BIN)/python bench/caseload.py --engine postgresql --sizes 1000,100000
	$(BIN)/python bench/reports.py --engine sqlite --records 1000000
	CASEWORK_BENCH_PG_ADMIN=$(CASEWORK_TEST_PG_ADMIN) \
		$(BIN)/python bench/reports.py --engine postgresql --records 1000000
	CASEWORK_BENCH_PG_ADMIN=$(CASEWORK_TEST_PG_ADMIN) $(BIN)/python bench/scale.py $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

# The virtual environment, rebuilt when the dependencies change.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Catalogs: extract every marked string (and every vocabulary label, babel.cfg) into the
# template, merge it into each language's catalog, compile. Translations are written into the
# .po files; the compiled .mo files are built, never committed.
translations: $(STAMP)
	$(PYBABEL) -q extract -F babel.cfg -k _l -k lazy_gettext -k ngettext:1,2 -k lazy_ngettext:1,2 \
		-c TRANSLATORS: --sort-by-file --project Casework -o translations/messages.pot .
	@for l in $(LOCALES); do \
		if [ -f translations/$$l/LC_MESSAGES/messages.po ]; then \
			$(PYBABEL) update -i translations/messages.pot -d translations -l $$l \
				--no-fuzzy-matching --ignore-obsolete; \
		else \
			$(PYBABEL) init -i translations/messages.pot -d translations -l $$l; \
		fi; \
	done
	$(PYBABEL) compile -d translations --statistics

# The compiled catalogs, each rebuilt only when its .po is newer.
compile-translations: $(MO_FILES)

translations/%/LC_MESSAGES/messages.mo: translations/%/LC_MESSAGES/messages.po | $(STAMP)
	$(PYBABEL) compile -i $< -o $@ -l $*

# Chromium for the browser tests (tests/browser); installed when missing and we are root.
browser-deps:
	@if ! [ -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else \
			echo "The browser tests need Chromium: sudo apt-get install chromium (skipped without it)" >&2; \
		fi; \
	fi

# System libraries WeasyPrint needs (Pango); installed when missing and we are root.
system-deps:
	@if ! ldconfig -p | grep -q 'libpango-1.0.so' || ! ldconfig -p | grep -q 'libpangoft2-1.0.so'; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libpango-1.0-0 libpangoft2-1.0-0 >/dev/null; \
		else \
			echo "WeasyPrint needs Pango: sudo apt-get install libpango-1.0-0 libpangoft2-1.0-0" >&2; exit 1; \
		fi; \
	fi

# The test suite needs PostgreSQL on 127.0.0.1:5432; start the local cluster if it is down.
services:
	@if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then \
		echo "Starting the local PostgreSQL cluster"; \
		pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | head -n1) main start; \
		for i in $$(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done; \
	fi

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
