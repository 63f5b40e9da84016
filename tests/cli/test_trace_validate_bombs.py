"""`stella trace validate` and scripts/reachability/validate_runtime_trace.py on a newline
gzip bomb and on times outside the UTC range (issue 14, items 6 and 10a): both refuse alike,
exit 6 with the reason, never a traceback."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from stella_signals.cli.stella import app
from tests.conftest import REPO
from tests.trace._bombs import GiB, MiB, NewlineBomb
from tests.trace._lines import line, ndjson

runner = CliRunner()
#: Each test also runs the script in a python outside the venv (docs/testing.md).
pytestmark = pytest.mark.e2e

SCRIPT = REPO / "scripts" / "reachability" / "validate_runtime_trace.py"


def both(path: Path) -> tuple[tuple[int, dict[str, Any]], tuple[int, dict[str, Any]]]:
    """(exit code, JSON report) of the CLI, then of the script run by a python outside the
    venv (as the runbook does)."""
    cli = runner.invoke(app, ["trace", "validate", "--json", str(path)])
    outside = Path(sys.base_prefix) / "bin" / "python3"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    proc = subprocess.run(
        [str(outside), str(SCRIPT), str(path), "--json"], capture_output=True, text=True, env=env
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return (cli.exit_code, json.loads(cli.output)), (proc.returncode, json.loads(proc.stdout))


def test_a_1gib_newline_bomb_exits_6_naming_the_ratio(tmp_path: Path) -> None:
    path = tmp_path / "runtime-trace.ndjson.gz"
    path.write_bytes(NewlineBomb(1 * GiB).as_bytes())  # 1 MB on disk
    cli, script = both(path)
    assert cli == script
    code, body = cli
    assert code == 6
    [diagnostic] = body["diagnostics"]
    assert (diagnostic["reason"], diagnostic["limit"]) == ("too_large", "max_compression_ratio")
    inflated = re.search(r"\((\d+) bytes from the first", diagnostic["message"])
    assert inflated is not None and int(inflated.group(1)) <= 2 * MiB


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_time_outside_the_utc_range_exits_6_naming_its_line(tmp_path: Path, value: str) -> None:
    path = tmp_path / "runtime-trace.ndjson"
    path.write_bytes(ndjson(line(), line(timestamp=value)))
    cli, script = both(path)
    assert cli == script
    code, body = cli
    assert code == 6
    errors = [d for d in body["diagnostics"] if d["severity"] == "error"]
    assert [(d["line"], d["field"], d["reason"]) for d in errors] == [
        (2, "timestamp", "out_of_range")
    ]
    assert body["records"] == 1 and body["first_seen"] == body["last_seen"]
