"""Run every fuzz harness for a bounded time and write ``fuzz/results/latest.json``.

    .venv/bin/python fuzz/run.py [--seconds 60] [--only trace graph ...]

Each harness runs in its own subprocess (libFuzzer flags ``-max_total_time``,
``-rss_limit_mb=2048``, ``-timeout=10``), reading its seeds from ``fuzz/corpus/<name>/`` and
growing a working corpus in ``fuzz/results/corpus/<name>/``. A crash stops libFuzzer; the
runner restarts the harness for what is left of its time (at most `MAX_RESTARTS` times), so
one shallow bug does not hide the rest. Crash inputs land in
``fuzz/results/crashes/<name>/``. Exit status: 0 when no harness crashed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

FUZZ = Path(__file__).resolve().parent
RESULTS = FUZZ / "results"
MAX_RESTARTS = 5
#: Seconds below which a restart after a crash is not worth libFuzzer's start-up.
MIN_SLICE = 5

_EXECUTED = re.compile(rb"stat::number_of_executed_units:\s*(\d+)")
_PROGRESS = re.compile(rb"^#(\d+)\s", re.MULTILINE)
_ARTIFACT = re.compile(rb"(?:Test unit|artifact_prefix.*?) written to (\S+)")


def harness_names() -> list[str]:
    """Every ``fuzz/fuzz_<name>.py``, by name."""
    return sorted(path.stem.removeprefix("fuzz_") for path in FUZZ.glob("fuzz_*.py"))


def libfuzzer_command(
    name: str, corpora: list[Path], *, artifacts: Path, flags: list[str]
) -> list[str]:
    """The command line running harness ``name`` (shared with the CI test)."""
    return [
        sys.executable,
        str(FUZZ / f"fuzz_{name}.py"),
        "-rss_limit_mb=2048",
        "-timeout=10",
        "-print_final_stats=1",
        f"-artifact_prefix={artifacts}/",
        *flags,
        *map(str, corpora),
    ]


def executed_units(output: bytes) -> int:
    """Inputs tried, from libFuzzer's final stats (or its last progress line)."""
    match = _EXECUTED.search(output)
    if match:
        return int(match.group(1))
    progress = _PROGRESS.findall(output)
    return int(progress[-1]) if progress else 0


@dataclass
class HarnessResult:
    inputs_tried: int = 0
    seconds: float = 0.0
    crashes: int = 0
    crash_files: list[str] = field(default_factory=list)
    runs: int = 0
    exit_codes: list[int] = field(default_factory=list)


#: Harnesses of compiled code, each run on the sanitizer build in its results folder
#: (``fuzz/build_ctrace.py``, ``fuzz/build_cgraph.py``; both run by `make fuzz`).
SANITIZED = {"ctrace": "ctrace-asan", "cgraph": "cgraph-asan"}


def harness_env(name: str) -> dict[str, str] | None:
    """The environment of harness ``name``: for a `SANITIZED` one, its sanitizer build's when
    there is one."""
    variant = RESULTS / SANITIZED.get(name, "-") / "env.json"
    if name not in SANITIZED or not variant.is_file():
        return None
    return {**os.environ, **json.loads(variant.read_text())}


def run_harness(name: str, seconds: int) -> HarnessResult:
    crashes = RESULTS / "crashes" / name
    working = RESULTS / "corpus" / name
    crashes.mkdir(parents=True, exist_ok=True)
    working.mkdir(parents=True, exist_ok=True)
    result = HarnessResult()
    started = time.monotonic()
    while result.runs <= MAX_RESTARTS:
        left = seconds - (time.monotonic() - started)
        if result.runs and left < MIN_SLICE:
            break
        command = libfuzzer_command(
            name,
            [working, FUZZ / "corpus" / name],
            artifacts=crashes,
            flags=[f"-max_total_time={max(1, round(left))}"],
        )
        done = subprocess.run(
            command, capture_output=True, check=False, cwd=FUZZ.parent, env=harness_env(name)
        )
        output = done.stdout + done.stderr
        result.runs += 1
        result.exit_codes.append(done.returncode)
        result.inputs_tried += executed_units(output)
        written = [Path(m.decode()) for m in _ARTIFACT.findall(output)]
        new = [str(p.relative_to(FUZZ.parent)) for p in written if p.is_file()]
        result.crash_files += [p for p in new if p not in result.crash_files]
        if done.returncode == 0:
            break
        if not new:  # a failure without an input to show for it: keep the log
            log = crashes / f"failure-{int(time.time())}.log"
            log.write_bytes(output)
            result.crash_files.append(str(log.relative_to(FUZZ.parent)))
    result.crashes = len(result.crash_files)
    result.seconds = round(time.monotonic() - started, 1)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60, help="time per harness (60)")
    parser.add_argument("--only", nargs="*", choices=harness_names(), help="harnesses to run")
    args = parser.parse_args(argv)
    names = args.only or harness_names()
    results: dict[str, HarnessResult] = {}
    for name in names:
        print(f"fuzz {name}: {args.seconds} s ...", flush=True)
        results[name] = run_harness(name, args.seconds)
        print(f"  {json.dumps(asdict(results[name]))}", flush=True)
    report = {
        "harnesses": {name: asdict(result) for name, result in results.items()},
        "totals": {
            "harnesses": len(results),
            "inputs_tried": sum(r.inputs_tried for r in results.values()),
            "seconds": round(sum(r.seconds for r in results.values()), 1),
            "crashes": sum(r.crashes for r in results.values()),
        },
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["totals"]))
    return 1 if report["totals"]["crashes"] else 0


if __name__ == "__main__":
    sys.exit(main())
