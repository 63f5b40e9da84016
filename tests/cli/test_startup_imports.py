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
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.trace._lines import line, ndjson

pytestmark = pytest.mark.e2e

#: Packages no command in these cases may load.
HEAVY = ("sqlalchemy", "alembic", "fastapi", "starlette", "uvicorn", "boto3")


def loaded_modules(module: str, *args: str) -> tuple[int, set[str]]:
    """Exit code and every module the console script ``module`` imported for ``args``."""
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
    return done.returncode, set(json.loads(done.stdout[marker + len("MODULES ") :]))


def loaded_packages(module: str, *args: str) -> tuple[int, set[str]]:
    code, names = loaded_modules(module, *args)
    return code, {name.split(".")[0] for name in names}


#: What a help screen or a command that opens no store must not load either: the wiring (it
#: imports the ingest pipeline, the metrics, the ports), the evidence locker, the HTTP client
#: and the cryptography (cli/_lazy.py: a command's module loads when the command is named).
NOT_FOR_HELP = (
    "stella_signals.wiring",
    "stella_signals.locker",
    "stella_signals.ingest",
    "httpx",
    "cryptography",
    "prometheus_client",
)


def command_modules(names: set[str]) -> set[str]:
    return {n for n in names if n.startswith("stella_signals.cli._") and n.endswith("_cmds")}


@pytest.mark.parametrize(
    ("module", "args", "commands"),
    [
        ("stella", ["--help"], set()),
        ("signals", ["--help"], set()),
        ("stella", ["trace", "--help"], {"stella_signals.cli._trace_cmds"}),
        ("signals", ["tokens", "--help"], {"stella_signals.cli._token_cmds"}),
    ],
)
def test_a_help_screen_loads_only_its_own_commands(
    module: str, args: list[str], commands: set[str]
) -> None:
    """``signals --help`` used to import every command module, and with them the evidence
    locker (through cli/_exit.py), the ingest pipeline and the cryptography."""
    code, names = loaded_modules(module, *args)
    assert code == 0
    assert command_modules(names) == commands
    heavy = {n for n in names if n.split(".")[0] in HEAVY or n.startswith(NOT_FOR_HELP)}
    assert not heavy, sorted(heavy)


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
    code, names = loaded_modules("signals", "tokens", "list", "--data-dir", str(tmp_path / "data"))
    assert "sqlalchemy" in {name.split(".")[0] for name in names}, code
    # ... and no other group's commands, nor the web stack
    assert command_modules(names) == {"stella_signals.cli._token_cmds"}
    assert not {n.split(".")[0] for n in names} & {"fastapi", "starlette", "uvicorn"}


def test_a_client_command_loads_no_wiring_nor_store(tmp_path: Path) -> None:
    """`stella ingest` talks to the server over HTTP: it reads its token file (stella_signals.
    textfile) without the wiring, the ingest pipeline or a database stack (the wiring alone
    cost every client command a quarter of a second of CPU at start-up)."""
    trace = tmp_path / "runtime-trace.ndjson"
    trace.write_bytes(ndjson(line(), line(count=3)))
    token = tmp_path / "token"
    token.write_text("stl_" + "t" * 43 + "\n")
    with socket.socket() as closed:  # a port nobody listens on: the upload fails to connect
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
        code, names = loaded_modules(
            "stella", "ingest", str(trace), "--graph-hash", "blake3:" + "1" * 64,
            "--server", url, "--tenant", "acme", "--token-file", str(token),
        )  # fmt: skip
    assert code != 0
    assert "httpx" in {n.split(".")[0] for n in names}  # it did try the server
    assert "stella_signals.textfile" in names
    unwanted = ("stella_signals.wiring", "stella_signals.ingest", "stella_signals.storage")
    heavy = {n for n in names if n.split(".")[0] in HEAVY or n.startswith(unwanted)}
    assert not heavy, sorted(heavy)
