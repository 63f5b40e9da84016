"""The command lines start without the database and web stacks they do not need.

`stella --help`, `signals --help`, `signals-offline --help` and an offline check such as
`stella trace validate` must not load SQLAlchemy, Alembic or FastAPI: those cost most of a
second of start-up on a small machine and are imported only by the commands that open the
metadata store or serve the API (`stella_signals.wiring` imports the storage adapters inside
the functions that open them). Each case runs the console script's ``main`` in a fresh
interpreter, as the script does, and reads that interpreter's ``sys.modules`` when it exits.
The start-up time itself is measured by `make bench` (benchmarks/cli_startup.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.trace._lines import line, ndjson

pytestmark = pytest.mark.e2e

#: Packages no command in these cases may load.
HEAVY = ("sqlalchemy", "alembic", "fastapi", "starlette", "uvicorn", "boto3")


def loaded_packages(module: str, *args: str) -> tuple[int, set[str]]:
    code = (
        "import atexit, importlib, json, sys\n"
        "atexit.register(lambda: print('\\nMODULES ' + json.dumps(sorted(sys.modules))))\n"
        f"sys.argv = {[module, *args]!r}\n"
        f"importlib.import_module('stella_signals.cli.{module}').main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    marker = done.stdout.rindex("MODULES ")
    names = json.loads(done.stdout[marker + len("MODULES ") :])
    return done.returncode, {name.split(".")[0] for name in names}


@pytest.mark.parametrize("module", ["stella", "signals", "offline"])
def test_help_loads_no_database_or_web_stack(module: str) -> None:
    code, packages = loaded_packages(module, "--help")
    assert code == 0
    assert "stella_signals" in packages  # the probe really ran the command line
    assert not packages & set(HEAVY), sorted(packages & set(HEAVY))


def test_offline_trace_check_loads_no_database(tmp_path: Path) -> None:
    trace = tmp_path / "runtime-trace.ndjson"
    trace.write_bytes(ndjson(line(), line(count=3)))
    code, packages = loaded_packages("stella", "trace", "validate", str(trace))
    assert code == 0
    assert "typer" in packages
    assert not packages & set(HEAVY), sorted(packages & set(HEAVY))


def test_a_command_that_opens_the_store_does_load_it(tmp_path: Path) -> None:
    """The check above can fail: a command that opens the metadata store loads SQLAlchemy."""
    code, packages = loaded_packages(
        "signals", "tokens", "list", "--data-dir", str(tmp_path / "data")
    )
    assert "sqlalchemy" in packages, code
