# smsync: every target works on a fresh machine; `make help` lists them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help setup test demo lint fmt clean

help: ## List the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP) ## Create or refresh .venv with the dev extras (a no-op when current)

test: setup ## Lint, type-check, then run the whole test suite
	@# CI renders the HTML report in a real headless browser; a laptop keeps its own choice
	@if [ -n "$$CI" ] && ! command -v chromium >/dev/null 2>&1; then \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null; fi
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -n auto --dist worksteal

demo: setup ## Run the connector end to end on the embedded sandbox and SQLite
	$(BIN)/smsync demo

lint: setup ## ruff and mypy, without the tests
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

fmt: setup ## Format and apply safe lint fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean: ## Remove the virtualenv, caches and local state
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis var build *.egg-info
