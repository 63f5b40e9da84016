"""Start-up time of the command lines (issue 15): `stella --help`, `signals --help`,
`signals-offline --help` and an offline check (`stella trace validate` of a small trace).

Each case runs its console script ROUNDS times in a fresh process; the figure is the median
wall time (the machine is shared: the minimum is reported beside it), next to the floor of a
bare `python -c pass`. The packages SQLAlchemy, Alembic and FastAPI must not be loaded by any
of these cases (tests/cli/test_startup_imports.py checks it); the target is under 0.5 s for
`stella --help`. Writes `benchmarks/results/cli-startup-latest.json` and its section of
`benchmarks/README.md`."""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _report import publish  # benchmarks/ is on sys.path when run as a script

BIN = Path(sys.executable).parent
TARGET_STELLA_HELP_SECONDS = 0.5
#: One good trace record (SPEC §5).
RECORD = {
    "symbol_id": "sym:python:2u5Cv0Qe4uPc0d3lA8nXhYjz0Jk5b6hH6lH4N3wqfX0",
    "purl": "pkg:pypi/requests@2.31.0",
    "timestamp": "2026-01-01T00:00:00Z",
    "pid": 42,
    "container": "sha256:" + "ab" * 32,
    "count": 3,
}


def wall_times(argv: list[str], rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        trace = Path(tmp) / "runtime-trace.ndjson"
        trace.write_text(json.dumps(RECORD) + "\n")
        cases = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "stella --help": [str(BIN / "stella"), "--help"],
            "signals --help": [str(BIN / "signals"), "--help"],
            "signals-offline --help": [str(BIN / "signals-offline"), "--help"],
            "stella trace validate": [str(BIN / "stella"), "trace", "validate", str(trace)],
        }
        measured: dict[str, Any] = {}
        for name, argv in cases.items():
            times = wall_times(argv, args.rounds)
            measured[name] = {
                "median_s": round(statistics.median(times), 3),
                "min_s": round(min(times), 3),
            }
            print(f"{name:24} median {measured[name]['median_s']:.3f} s", flush=True)

    result = {
        "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "rounds": args.rounds,
        "cases": measured,
        "targets": {"stella_help_median_s_max": TARGET_STELLA_HELP_SECONDS},
    }
    lines = [
        f"Median (min) wall time of {args.rounds} runs, each in a fresh process "
        f"({result['when']}):",
        "",
        "| command | median | min |",
        "| --- | --- | --- |",
        *(
            f"| `{name}` | {m['median_s']:.3f} s | {m['min_s']:.3f} s |"
            for name, m in measured.items()
        ),
        "",
        f"Target: `stella --help` under {TARGET_STELLA_HELP_SECONDS} s; none of these loads "
        "SQLAlchemy, Alembic or FastAPI.",
    ]
    publish("cli-startup", result, "\n".join(lines), heading="Command-line start-up")


if __name__ == "__main__":
    main()
