# Every target CI or an operator needs. `.ci/run` calls `make test` and nothing else.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA_DIR ?= ./data

.PHONY: venv run test lint typecheck pytest bench clean lock

venv: $(STAMP)

# Re-installs only when the project metadata or the lock changes.
$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev]'
	touch $(STAMP)

run: venv
	$(BIN)/signals serve --demo --data-dir $(DATA_DIR)

lint: venv
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/ruff check src tests benchmarks scripts

typecheck: venv
	$(BIN)/mypy --strict src

pytest: venv
	$(BIN)/pytest --cov --cov-report=term:skip-covered -q

test: lint typecheck pytest

bench: venv
	$(BIN)/python benchmarks/run.py

# Regenerate the pinned lock from a clean resolve of pyproject.toml.
lock:
	rm -rf .lockvenv && $(PY) -m venv .lockvenv
	.lockvenv/bin/python -m pip install --quiet --upgrade "pip>=24"
	.lockvenv/bin/python -m pip install --quiet -e '.[dev]'
	.lockvenv/bin/python -m pip freeze --exclude-editable | grep -v '^stella-signals' > requirements.lock
	rm -rf .lockvenv

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage
