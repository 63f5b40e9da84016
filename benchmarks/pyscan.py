"""`stella graph scan` benchmark (issue 16): the corpus score and a scan of this project's
`.venv` (every installed distribution), in a fresh interpreter: wall and CPU time, peak RSS,
nodes, edges, time per 1,000 lines. Targets: precision ≥ 0.98, recall ≥ 0.80 on the corpus;
the `.venv` scan under 60 s and 1 GiB.

Run alone (`.venv/bin/python benchmarks/pyscan.py`) or as part of `make bench`. Writes
`benchmarks/results/pyscan-latest.json` and the pyscan section of `benchmarks/README.md`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _report import publish  # benchmarks/ is on sys.path when run as a script

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
TARGETS = {
    "precision_min": 0.98,
    "recall_min": 0.80,
    "venv_scan_seconds_max": 60,
    "venv_scan_peak_rss_mib_max": 1024,
}

#: The whole `stella graph scan --include-installed` path: list, scan, validate, hash.
SCAN_CODE = """
import json, os, resource, sys, time
from pathlib import Path
from stella_signals.graph import canonical_graph, parse_graph
from stella_signals.pyscan import installed_distributions, scan_sources
start = time.perf_counter()
cpu0 = os.times()
dists = installed_distributions(Path(sys.argv[1]))
listed = time.perf_counter()
result = scan_sources([], [], dists)
scanned = time.perf_counter()
canonical = canonical_graph(parse_graph(json.dumps(result.document).encode()))
done = time.perf_counter()
cpu1 = os.times()
edges = canonical.document["edges"]
RESULT = {
    "distributions": len(dists), "files": result.files, "lines": result.lines,
    "nodes": len(canonical.document["nodes"]),
    "call_edges": sum(1 for e in edges if e["kind"] == "call"),
    "import_edges": sum(1 for e in edges if e["kind"] == "import"),
    "roots": len(canonical.document["roots"]),
    "call_sites": result.document["analyzer"]["call_sites"],
    "unresolved": result.document["analyzer"]["unresolved"],
    "skipped": result.document["analyzer"]["skipped"],
    "list_s": round(listed - start, 2), "scan_s": round(scanned - listed, 2),
    "hash_s": round(done - scanned, 2), "total_s": round(done - start, 2),
    "cpu_s": round((cpu1.user + cpu1.system) - (cpu0.user + cpu0.system), 2),
    "graph_bytes": len(canonical.data), "graph_hash": str(canonical.hash),
    "workers": min(os.cpu_count() or 1, 4),
    "cpu_s_workers": round(os.times().children_user + os.times().children_system, 2),
    "peak_rss_mib_largest_worker": round(
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
}
"""


def child_measure(code: str, *args: str) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter; VmHWM (peak RSS) is added to its RESULT."""
    tail = (
        "\nimport json as _j\nfrom pathlib import Path as _P\n"
        "_s = _P('/proc/self/status').read_text().splitlines()\n"
        "RESULT['peak_rss_mib'] = round(int(next(x.split()[1] for x in _s "
        "if x.startswith('VmHWM:'))) / 1024, 1)\n"
        "print(_j.dumps(RESULT))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code + tail, *args], check=True, capture_output=True, text=True
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def corpus_score() -> dict[str, Any]:
    sys.path.insert(0, str(REPO))
    from tests.pyscan._corpus import PROGRAMS, score_corpus  # the tests' own scorer

    score, differences = score_corpus()
    return {
        "programs": len(PROGRAMS),
        "true_positives": score.true_positives,
        "false_positives": score.false_positives,
        "false_negatives": score.false_negatives,
        "precision": round(score.precision, 4),
        "recall": round(score.recall, 4),
        "differences": differences,
    }


def run(venv: Path) -> dict[str, Any]:
    load = os.getloadavg()[0]
    scan = child_measure(SCAN_CODE, str(venv))
    scan["ms_per_1000_lines"] = round(scan["total_s"] / scan["lines"] * 1e6, 1)
    scan["load_average_1m_before"] = round(load, 2)
    return {
        "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO
        ).stdout.strip(),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "corpus": corpus_score(),
        "venv_scan": scan,
        "targets": TARGETS,
    }


def markdown(result: dict[str, Any]) -> str:
    corpus, scan = result["corpus"], result["venv_scan"]
    unresolved = ", ".join(f"{k} {v:,}" for k, v in sorted(scan["unresolved"].items()))
    return "\n".join(
        [
            f"Python call-graph scanner, last run {result['when']} at {result['commit']} "
            f"({result['machine']['cpus']} CPUs, Python {result['machine']['python']}).",
            "",
            f"Corpus ({corpus['programs']} programs): precision {corpus['precision']}, "
            f"recall {corpus['recall']} ({corpus['true_positives']} edges found, "
            f"{corpus['false_positives']} wrong, {corpus['false_negatives']} missed).",
            "",
            "| `.venv` scan | value |",
            "|---|---:|",
            f"| distributions / files | {scan['distributions']} / {scan['files']:,} |",
            f"| lines | {scan['lines']:,} |",
            f"| nodes / call edges / import edges | {scan['nodes']:,} / "
            f"{scan['call_edges']:,} / {scan['import_edges']:,} |",
            f"| wall time (list + scan + hash) | {scan['total_s']} s "
            f"({scan['list_s']} + {scan['scan_s']} + {scan['hash_s']}) |",
            f"| CPU time (main + parse workers) | {scan['cpu_s']} + {scan['cpu_s_workers']} s |",
            f"| per 1,000 lines | {scan['ms_per_1000_lines']} ms |",
            f"| peak RSS (main; largest of {scan['workers']} parse workers) | "
            f"{scan['peak_rss_mib']} MiB; {scan['peak_rss_mib_largest_worker']} MiB |",
            f"| load average before | {scan['load_average_1m_before']} |",
            "",
            f"Call sites: {scan['call_sites']:,}; unresolved (counted, no edge): {unresolved}.",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--venv", type=Path, default=REPO / ".venv")
    args = parser.parse_args()
    result = run(args.venv)
    body = markdown(result)
    publish("pyscan", result, body, heading="Python call-graph scanner")
    print(body)


if __name__ == "__main__":
    main()
