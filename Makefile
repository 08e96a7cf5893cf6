# Wardbook: `make run` and `make test` work on a fresh machine (they create .venv first).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8080
DEMO_PATIENTS ?= 50
DATABASE ?= sqlite:///./wardbook.db

.PHONY: install run test test-fast lint bench registry clean

$(STAMP): pyproject.toml requirements/lock.txt requirements/registry.txt scripts/bootstrap.sh
	PYTHON=$(PYTHON) bash scripts/bootstrap.sh
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/wardbook migrate --database $(DATABASE)
	$(BIN)/wardbook demo --patients $(DEMO_PATIENTS) --seed 1 --database $(DATABASE)
	$(BIN)/wardbook serve --database $(DATABASE) --host $(HOST) --port $(PORT) --no-auth

lint: $(STAMP)
	$(BIN)/ruff check src tests scripts benchmarks
	$(BIN)/ruff format --check src tests scripts benchmarks
	$(BIN)/mypy

test: $(STAMP) lint
	bash scripts/ensure_services.sh
	bash scripts/ensure_drill_tools.sh
	$(BIN)/pytest -n 2 --dist loadgroup

test-fast: $(STAMP)
	$(BIN)/pytest -x -q -n 2 --dist loadgroup -m "not slow"

bench: $(STAMP)
	bash scripts/ensure_services.sh
	$(BIN)/python -m benchmarks.micro
	$(BIN)/python -m benchmarks.run

registry: $(STAMP)
	$(BIN)/python scripts/generate_registry.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
