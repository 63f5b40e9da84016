"""Newline gzip bombs (issue 14, item 6): how fast each way in refuses them.

A 1 MB gzip of 1 GiB of newlines and a 10 MB gzip of 10 GiB (built in memory by
`tests/trace/_bombs.py`, never inflated whole), each refused by:

- ``parse_trace`` in this process, reading the file in 1 MiB chunks;
- ``stella trace validate --json`` as a subprocess (interpreter start-up included; the
  start-up alone is measured on a one-record trace);
- ``POST /api/v1/runtime-facts`` to a real ``signals serve`` (embedded), from the first byte
  sent to the 413.

A synthetic 100,000-record trace goes the same ways as a control: it must be accepted.
Goal: every bomb refused (ratio, `too_large`) in under 1 s, parse and HTTP alike.

``python reliability/bombs.py [--out FILE]``
"""

from __future__ import annotations

import gzip
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from reliability._runner import run_in_tmp  # noqa: E402
from stella_signals.errors import LimitExceeded  # noqa: E402
from stella_signals.trace import parse_trace  # noqa: E402
from stella_signals.wiring import read_file_chunks  # noqa: E402
from stella_signals_dev.synth import SynthSpec, graph_bytes, trace_bytes  # noqa: E402
from tests.realservers.signals_process import (  # noqa: E402
    BIN,
    SignalsProcess,
    create_token,
    free_port,
)
from tests.trace._bombs import GiB, NewlineBomb  # noqa: E402
from tests.trace._lines import line, ndjson  # noqa: E402

GOAL_SECONDS = 1.0
BOMBS = {"1MB-to-1GiB": 1 * GiB, "10MB-to-10GiB": 10 * GiB}


def _parse(path: Path) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        report = parse_trace(read_file_chunks(path), name=path.name)
    except LimitExceeded as exc:
        return {
            "seconds": round(time.perf_counter() - started, 3),
            "refused": True,
            "limit": exc.limit,
            "reason": exc.reason,
            "message": str(exc),
        }
    return {
        "seconds": round(time.perf_counter() - started, 3),
        "refused": False,
        "valid": report.valid,
        "records": report.records,
    }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cli(path: Path) -> dict[str, Any]:
    """Wall and CPU seconds of the command (CPU: robust on a busy machine)."""
    started, cpu = time.perf_counter(), _children_cpu()
    done = subprocess.run(
        [str(BIN / "stella"), "trace", "validate", "--json", str(path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    seconds = round(time.perf_counter() - started, 3)
    cpu_seconds = round(_children_cpu() - cpu, 3)
    body = json.loads(done.stdout)
    reasons = sorted({d["reason"] for d in body.get("diagnostics", []) if d["severity"] == "error"})
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "exit_code": done.returncode,
        "reasons": reasons,
    }


def _http(url: str, headers: dict[str, str], graph: str, body: bytes) -> dict[str, Any]:
    started = time.perf_counter()
    response = httpx.post(
        f"{url}/api/v1/runtime-facts?graph_hash={graph}",
        content=body,
        headers=headers | {"Content-Type": "application/x-ndjson"},
        timeout=600,
    )
    seconds = round(time.perf_counter() - started, 3)
    problem = response.json()
    return {
        "seconds": seconds,
        "status": response.status_code,
        "reason": problem.get("reason") if response.status_code >= 400 else None,
        "ingest_id": bool(response.headers.get("X-Ingest-Id")),
    }


def run(work: Path) -> dict[str, Any]:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO
    ).stdout.strip()
    result: dict[str, Any] = {
        "commit": commit or "unknown",
        "goal_seconds": GOAL_SECONDS,
        "bombs": {},
        "violations": [],
    }
    violations: list[str] = result["violations"]
    files: dict[str, Path] = {}
    for name, size in BOMBS.items():
        files[name] = work / f"{name}.ndjson.gz"
        files[name].write_bytes(NewlineBomb(size).as_bytes())
    control = work / "control-100k.ndjson.gz"
    control_plain = trace_bytes(SynthSpec(100_000, seed=7, symbols=3000, purls=50))
    control.write_bytes(gzip.compress(control_plain, 6))
    tiny = work / "one-record.ndjson"
    tiny.write_bytes(ndjson(line()))
    startup = _cli(tiny)
    result["cli_startup_seconds"] = startup["seconds"]
    result["cli_startup_cpu_seconds"] = startup["cpu_seconds"]

    data = work / "data"
    flags = ["--data-dir", str(data)]
    token = create_token("acme", *flags)
    headers = {"Authorization": f"Bearer {token}", "X-Stella-Tenant": "acme"}
    server = SignalsProcess(["serve", *flags], work / "server.log", port=free_port())
    server.start()
    try:
        graph = httpx.post(
            f"{server.url}/api/v1/graphs",
            content=graph_bytes(SynthSpec(2000, seed=3, symbols=300, purls=20)),
            headers=headers,
            timeout=60,
        ).json()["graph_hash"]
        for name, path in files.items():
            figures = {
                "decompressed_bytes": BOMBS[name],
                "compressed_bytes": path.stat().st_size,
                "parse": _parse(path),
                "cli": _cli(path),
                "http": _http(server.url, headers, graph, path.read_bytes()),
            }
            result["bombs"][name] = figures
            parse, cli, http = figures["parse"], figures["cli"], figures["http"]
            if not parse["refused"] or parse["limit"] != "max_compression_ratio":
                violations.append(f"{name}: parse_trace did not refuse it by ratio")
            if cli["exit_code"] != 6 or cli["reasons"] != ["too_large"]:
                violations.append(f"{name}: stella trace validate answered {cli}")
            if (http["status"], http["reason"], http["ingest_id"]) != (413, "too_large", True):
                violations.append(f"{name}: HTTP answered {http}")
            for way in ("parse", "http"):
                if figures[way]["seconds"] >= GOAL_SECONDS:
                    violations.append(f"{name}: {way} took {figures[way]['seconds']} s")
        result["control"] = {
            "records": 100_000,
            "compressed_bytes": control.stat().st_size,
            "ratio": round(len(control_plain) / control.stat().st_size, 1),
            "parse": _parse(control),
            "cli": _cli(control),
            "http": _http(server.url, headers, graph, control.read_bytes()),
        }
        if result["control"]["parse"].get("valid") is not True:
            violations.append("the control trace was not accepted by parse_trace")
        if result["control"]["http"]["status"] not in (201, 202):
            violations.append(f"the control trace answered {result['control']['http']}")
    finally:
        server.stop()
    return result


def main() -> None:
    run_in_tmp(run, "bombs", __doc__ or "")


if __name__ == "__main__":
    main()
