"""A real program scanned by the real scanner and run twice under the real probe
(`tests/reach/_program.py`): the evidence the verdict service is tested on.

The first run calls ``vulnlib.core.used`` and ``dynamic`` (which no scanner resolves); the
second also calls ``maybe()``, so ``reachable_not_run`` runs. Only windows whose trace has
records can be uploaded (a window that saw nothing writes no trace), so each run gives the
window of its calls, with its probe manifest.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from stella_signals.canonical import canonical_json
from stella_signals.pyscan import installed_distributions, project_sources, scan_sources
from tests.reach import _program

CATALOG = {
    "schema": "stella.vuln-catalog/v1",
    "entries": [
        {"vuln_id": "V-USED", "aliases": ["CVE-2026-1001"], "package": "pkg:pypi/VulnLib",
         "affected": ">=1.0,<1.3", "fixed": ["1.3"], "symbols": ["vulnlib.core:used"]},
        {"vuln_id": "V-LATER", "package": "pkg:pypi/vulnlib", "affected": "<2",
         "fixed": ["2.0"], "symbols": ["vulnlib.core:reachable_not_run"]},
        {"vuln_id": "V-UNUSED", "package": "pkg:pypi/vulnlib", "affected": "<2",
         "fixed": ["2.0"], "symbols": ["vulnlib.core:unused"]},
        {"vuln_id": "V-DYN", "package": "pkg:pypi/vulnlib", "affected": "<2",
         "symbols": ["vulnlib.core:dynamic"]},
        {"vuln_id": "V-GHOST", "package": "pkg:pypi/vulnlib", "affected": "<2",
         "symbols": ["vulnlib.core:ghost"]},
        {"vuln_id": "V-OLD", "package": "pkg:pypi/oldlib", "affected": "<2",
         "symbols": ["oldlib:old"]},
    ],
}  # fmt: skip
CATALOG_BYTES = json.dumps(CATALOG).encode()


@dataclass(frozen=True)
class Upload:
    trace: bytes
    manifest: bytes


@dataclass(frozen=True)
class World:
    graph: bytes
    first: Upload  # used + dynamic ran; reachable_not_run was watched and did not
    second: Upload  # reachable_not_run ran too


def _run(python: Path, project: Path, out: Path, targets: Path, *argv: str) -> Upload:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STELLA_PROBE", "PYTHON"))}
    env["PYTHONPATH"] = str(_program.PROBE_SRC)
    window = str(_program.WINDOW_SECONDS)
    done = subprocess.run(
        [str(python), "-m", "stella_probe", "run", "--out", str(out), "--window", window,
         "--targets", str(targets), "--", str(project / "app.py"),
         str(_program.WINDOW_SECONDS * 2.5), *argv],
        cwd=project, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    traced = sorted(out.glob("window-*/runtime-trace.ndjson.gz"))
    assert len(traced) == 1, f"expected one window with calls, got {traced}"
    return Upload(traced[0].read_bytes(), (traced[0].parent / "probe-manifest.json").read_bytes())


def make_world(root: Path) -> World:
    python, project = _program.make_world(root)
    files, entry_points = project_sources([project], None)
    result = scan_sources(files, entry_points, installed_distributions(python))
    targets = root / "targets.txt"
    targets.write_text("\n".join(_program.TARGETS) + "\n")
    first = _run(python, project, root / "first", targets)
    second = _run(python, project, root / "second", targets, "a", "b", "c", "d")
    return World(canonical_json(result.document), first, second)
