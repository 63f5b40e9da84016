"""Running real programs under the probe (subprocesses) and reading what it wrote."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
PROBE_SRC = REPO / "probe" / "src"
#: discovery's two profilers: the compiled one (when built: the default) and the pure-Python one
PROFILERS = {"compiled": {}, "python": {"STELLA_PROBE_PURE_PYTHON": "1"}}


@dataclass
class Window:
    path: Path
    manifest: dict[str, Any]
    records: list[dict[str, Any]]


def probe_env(**extra: str) -> dict[str, str]:
    """The probe importable without site-packages (``-S``): only the program, the standard
    library and the probe run, as in a service's own bare environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STELLA_PROBE", "PYTHON"))}
    env["PYTHONPATH"] = str(PROBE_SRC)
    env.update(extra)
    return env


def run_probe(
    options: list[str],
    program: list[str],
    *,
    cwd: Path,
    python: str = sys.executable,
    timeout: float = 60,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``env``: more variables (``PROFILERS[...]``, another ``PYTHONPATH``)."""
    return subprocess.run(
        [python, "-S", "-m", "stella_probe", "run", *options, "--", *program],
        cwd=cwd, env=probe_env(**(env or {})), capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def windows(out: Path) -> list[Window]:
    found = []
    for manifest_path in sorted(out.glob("window-*/probe-manifest.json")):
        manifest = json.loads(manifest_path.read_text())
        trace = manifest_path.parent / "runtime-trace.ndjson.gz"
        records = []
        if trace.exists():
            records = [
                json.loads(line) for line in gzip.decompress(trace.read_bytes()).splitlines()
            ]
        found.append(Window(manifest_path.parent, manifest, records))
    return found


def records(out: Path) -> list[dict[str, Any]]:
    return [r for w in windows(out) for r in w.records]
