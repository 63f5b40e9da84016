"""A real program with a real installed distribution, scanned by the real scanner and run
under the real probe: the evidence every state test of the verdict engine is built from.

`vulnlib` 1.2 is installed (a ``*.dist-info`` with METADATA and RECORD) in a fresh venv;
`oldlib` 3.0 too (outside every affected range of the catalog: never a candidate). The
program ``app.py`` imports `vulnlib`, waits past the probe's first window (so the targets are
watched for whole windows afterwards), then calls `used` directly, `dynamic` through a
``getattr`` no scanner resolves, and `generated`, a function compiled at run time that no
scanner sees. ``reachable_not_run`` and ``reachable_unwatched`` have a static path (through
``maybe``) but never run; ``unused`` and ``unused_unwatched`` have none.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from stella_signals.graph import GraphIndex, build_index, canonical_graph, parse_graph
from stella_signals.ports import FactRow
from stella_signals.pyscan import installed_distributions, project_sources, scan_sources
from stella_signals.reach import IngestEvidence, ObservedEdge
from stella_signals.trace import ProbeManifest, parse_probe_manifest, parse_trace

REPO = Path(__file__).resolve().parents[2]
PROBE_SRC = REPO / "probe" / "src"

VULNLIB_CORE = """\
def used():
    return _helper()


def _helper():
    return 1


def reachable_not_run():
    return 2


def reachable_unwatched():
    return 3


def unused():
    return 4


def unused_unwatched():
    return 5


def dynamic():
    return 6


exec(compile("def generated():\\n    return 7\\n", __file__, "exec"))
"""

APP = """\
import sys
import time

import oldlib
import vulnlib.core as core


def handler():
    return core.used()


def maybe():
    core.reachable_unwatched()
    return core.reachable_not_run()


def main():
    time.sleep(float(sys.argv[1]))
    handler()
    getattr(core, "dyn" + "amic")()
    core.generated()
    oldlib.old()
    if len(sys.argv) > 5:
        maybe()
    time.sleep(float(sys.argv[1]))


if __name__ == "__main__":
    main()
"""

#: What the targeted run watches (as a vulnerability catalog names them).
TARGETS = (
    "vulnlib.core:used",
    "vulnlib.core:reachable_not_run",
    "vulnlib.core:unused",
    "vulnlib.core:dynamic",
)
WINDOW_SECONDS = 0.4


def _install(site: Path, dist: str, version: str, package: str, files: dict[str, str]) -> None:
    (site / package).mkdir()
    for name, text in files.items():
        (site / package / name).write_text(text)
    info = site / f"{dist}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    record = [f"{package}/{name},," for name in files]
    record += [f"{info.name}/METADATA,,", f"{info.name}/RECORD,,"]
    (info / "RECORD").write_text("\n".join(record) + "\n")


def make_world(root: Path) -> tuple[Path, Path]:
    """(venv python, project directory)."""
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next(venv.glob("lib/python3*/site-packages"))
    _install(site, "VulnLib", "1.2", "vulnlib",
             {"__init__.py": "", "core.py": VULNLIB_CORE})  # fmt: skip
    _install(site, "oldlib", "3.0", "oldlib",
             {"__init__.py": "def old():\n    return 0\n"})  # fmt: skip
    project = root / "shop"
    project.mkdir()
    (project / "app.py").write_text(textwrap.dedent(APP))
    return venv / "bin" / "python", project


def scan(python: Path, project: Path) -> GraphIndex:
    files, entry_points = project_sources([project], None)
    result = scan_sources(files, entry_points, installed_distributions(python))
    graph = parse_graph(json.dumps(result.document).encode())
    canonical = canonical_graph(graph)
    return build_index(canonical.document, canonical.hash)


@dataclass
class Window:
    manifest: ProbeManifest
    manifest_bytes: bytes
    trace: bytes | None


def run(python: Path, project: Path, out: Path, *options: str) -> list[Window]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STELLA_PROBE", "PYTHON"))}
    env["PYTHONPATH"] = str(PROBE_SRC)
    done = subprocess.run(
        [str(python), "-m", "stella_probe", "run", "--out", str(out),
         "--window", str(WINDOW_SECONDS), *options, "--", str(project / "app.py"),
         str(WINDOW_SECONDS * 2.5)],
        cwd=project, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = []
    for path in sorted(out.glob("window-*/probe-manifest.json")):
        data = path.read_bytes()
        trace = path.parent / "runtime-trace.ndjson.gz"
        found.append(
            Window(parse_probe_manifest(data), data, trace.read_bytes() if trace.exists() else None)
        )
    found.sort(key=lambda w: w.manifest.window_start)
    return found


def ingest(index: GraphIndex | None, window: Window, name: str) -> IngestEvidence:
    """What the service would hand the engine for one uploaded window: its facts mapped onto
    the graph, its runtime edges, its manifest. The receipt digest stands for the signed
    receipt (here: a digest of the trace and manifest, unique per window)."""
    facts: list[FactRow] = []
    edges: list[ObservedEdge] = []
    if window.trace is not None and gzip.decompress(window.trace).strip():
        report = parse_trace([window.trace])
        assert report.valid, report.diagnostics
        for fact in report.facts:
            number = index.by_symbol.get(fact.symbol_id) if index is not None else None
            node = index.node_ids[number] if index is not None and number is not None else None
            facts.append(FactRow(fact.symbol_id, fact.purl, fact.container, fact.count,
                                 fact.first_seen, fact.last_seen, node))  # fmt: skip
        edges = [ObservedEdge(caller, callee, count)
                 for (caller, callee), count in sorted(report.edges.items())]  # fmt: skip
    seal = hashlib.sha256((window.trace or b"") + window.manifest_bytes).hexdigest()
    return IngestEvidence(
        ingest_id=name,
        receipt_digest=f"sha256:{seal}",
        received_at=window.manifest.window_end + timedelta(milliseconds=1),
        manifest=window.manifest,
        manifest_digest="sha256:" + hashlib.sha256(window.manifest_bytes).hexdigest(),
        facts=tuple(facts),
        edges=tuple(edges),
    )
