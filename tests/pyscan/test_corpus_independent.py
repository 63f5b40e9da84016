"""The scanner against a second corpus, written without reading the scanner: small programs
per feature in the style of PyCG's micro-benchmark (`corpus_independent/<category>/<case>/`,
`main.py` plus `expected.json`).

Every expected graph is checked against run time: the program runs under a profiler
(`_tracer.py`) and the Python-to-Python calls it really makes must be exactly the expected
edges, so an expected edge is one that happens and nothing that happens is left out. Edges a
static analyser cannot see (`eval`, a computed `getattr`) are in the expected graph too, and
count against recall: the truth does not bend to the tool. The only edges expected without
being observed are listed under `not_observed` with a `note`: a call in a function this run
never enters (a call graph has it all the same), or an edge the scanner's documented
conventions (docs/graphs.md) give because another instance type would make it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pyscan._corpus import call_edges, expected, scan_dir, score_corpus

#: Starts Python interpreters (the probe, another venv, a traced run): e2e, not unit
#: (tests/_tiers.py, docs/testing.md).
pytestmark = pytest.mark.e2e


CORPUS = Path(__file__).parent / "corpus_independent"
PROGRAMS = sorted(p.parent for p in CORPUS.glob("*/*/expected.json"))
TRACER = Path(__file__).parent / "_tracer.py"


def _name(program: Path) -> str:
    return f"{program.parent.name}/{program.name}"


def test_the_corpus_is_broad() -> None:
    assert len(PROGRAMS) >= 40
    assert len({p.parent.name for p in PROGRAMS}) >= 20


@pytest.mark.parametrize("program", PROGRAMS, ids=[_name(p) for p in PROGRAMS])
def test_expected_graph_is_what_runs(program: Path, tmp_path: Path) -> None:
    """Run the program under the profiler: the expected edges are exactly the calls made."""
    run = subprocess.run(
        [sys.executable, "-B", str(TRACER), str(program)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    observed = {tuple(edge) for edge in json.loads(run.stdout.strip().splitlines()[-1])}
    graph = expected(program)
    unseen = {tuple(edge) for edge in graph.get("not_observed", [])}
    want = {tuple(edge) for edge in graph["edges"]} - unseen
    assert (sorted(want - observed), sorted(observed - want)) == ([], [])
    assert unseen & observed == set(), "an edge this run makes is marked not_observed"


def test_precision_and_recall_over_the_independent_corpus() -> None:
    score, differences = score_corpus(PROGRAMS)
    print(
        f"\nindependent corpus: {len(PROGRAMS)} programs, precision {score.precision:.3f}, "
        f"recall {score.recall:.3f} (tp {score.true_positives}, fp {score.false_positives}, "
        f"fn {score.false_negatives})"
    )
    for program, diff in sorted(differences.items()):
        print(program, json.dumps(diff))
    assert score.precision >= 0.98, differences
    assert score.recall >= 0.80, differences


def test_scanning_runs_nothing() -> None:
    """The scanner reads source and never imports it: scanning leaves no bytecode behind."""
    program = CORPUS / "imports" / "relative"
    scan_dir(program)
    assert not list(program.rglob("__pycache__"))
    assert call_edges(scan_dir(program))  # and it found the program's calls
