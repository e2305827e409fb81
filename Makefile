# Two commands matter: `make run` (set up and launch the default scenario) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench bench-floor bench-ui clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/obsim run cron-storm

test: $(STAMP)
	bash scripts/install-test-tools.sh
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_generate.py

bench-floor: $(STAMP)
	$(BIN)/python benchmarks/bench_app_floor.py

bench-ui: $(STAMP)
	$(BIN)/python benchmarks/bench_ui.py

clean:
	rm -rf $(VENV) build *.egg-info
