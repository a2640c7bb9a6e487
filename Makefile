# Commonground: `make run` serves a working instance, `make test` runs the suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# psycopg is the optional [postgres] extra: installed when CG_DATABASE_URL names PostgreSQL
# (the dev extra has it too, for the suite's PostgreSQL half). SQLite needs nothing more.
PG_STAMP := $(VENV)/.postgres-stamp
DB_STAMP := $(if $(filter postgresql%,$(CG_DATABASE_URL)),$(PG_STAMP))
DB_EXTRA := $(if $(DB_STAMP),[postgres])
NODE_STAMP := node_modules/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000
# Test processes: the suite mostly waits (on servers, browsers, peers), so twice the cores of a small machine.
TEST_WORKERS ?= 4
# The instance's address, from which every stored URL is made: CG_DOMAIN if set, else this port.
INSTANCE_DOMAIN := CG_DOMAIN=$${CG_DOMAIN:-127.0.0.1:$(PORT)}

.PHONY: run install test lint typecheck deadcode mutation format demo federation-demo worker bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

$(PG_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[postgres]'
	@touch $(PG_STAMP)

## install: only what serving needs (no test tools): `.`, or `.[postgres]` for PostgreSQL
install:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.$(DB_EXTRA)'

# Test-only JavaScript, exactly as package-lock.json pins it, from the npm registry: axe-core for
# tests/test_browser_every_page.py, and Fedify with Node 22 (the npm package `node`, whose one
# install script fetches its binary package from the same registry) for tests/test_fedify_judge.py,
# and the Mastodon client libraries masto and megalodon for tests/test_node_clients.py.
# No other package runs install scripts. Without npm those tests skip and say why.
$(NODE_STAMP): package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --no-audit --no-fund --ignore-scripts && \
		npm rebuild node --ignore-scripts=false --no-audit --no-fund && touch $(NODE_STAMP); \
	else echo "npm is not installed: tests/test_browser_every_page.py (axe-core) and tests/test_fedify_judge.py will skip (apt-get install npm)"; fi

## run: install, migrate and serve on http://127.0.0.1:8000 (with a background worker)
run: $(STAMP) $(DB_STAMP)
	$(BIN)/commonground migrate
	$(INSTANCE_DOMAIN) $(BIN)/commonground serve --host $(HOST) --port $(PORT) --with-worker

## demo: load demo members, communities and threads into the local instance
## (run it with the PORT or CG_DOMAIN you give `make run`: links in the posts name it)
demo: $(STAMP) $(DB_STAMP)
	$(BIN)/commonground migrate
	$(INSTANCE_DOMAIN) $(BIN)/commonground demo-data

## federation-demo: two instances on :8000 and :8001, with demo data, following each other
federation-demo: $(STAMP) $(DB_STAMP)
	$(BIN)/python scripts/federation_demo.py

## test: the whole suite (SQLite; PostgreSQL too when TEST_DATABASE_URL is set)
test: $(STAMP) $(NODE_STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

lint: $(STAMP) deadcode typecheck
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## typecheck: mypy on the modules listed in [tool.mypy] in pyproject.toml (docs/quality.md)
typecheck: $(STAMP)
	$(BIN)/mypy

## deadcode: functions, classes and fields nothing uses (vulture; settings in pyproject.toml,
## false positives named with a reason in vulture_whitelist.py)
deadcode: $(STAMP)
	$(BIN)/vulture

## mutation: mutation testing of the rule-bearing modules ([tool.mutmut] in pyproject.toml),
## then the survivors. Slow: narrow it, e.g. make mutation MUTANTS='app.services.textmerge.*'
MUTANTS ?=
mutation: $(STAMP)
	$(BIN)/mutmut run --max-children $$(nproc) $(MUTANTS)
	$(BIN)/mutmut results

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python bench/feed.py

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache .hypothesis mutants
