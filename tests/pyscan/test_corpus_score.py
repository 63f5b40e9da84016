"""The scanner against the corpus a human wrote down: precision ≥ 0.98, recall ≥ 0.80."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pyscan._corpus import PROGRAMS, call_edges, expected, scan_dir, score_corpus

FEATURES = {
    "annotations", "branches", "callbacks", "class_attributes", "closures", "context_managers",
    "decorators", "dispatch", "dynamic", "exceptions", "generators", "imports", "inheritance",
    "lambdas", "operators", "properties", "protocols", "returns", "shadowing", "super_calls",
}  # fmt: skip


def test_the_corpus_covers_every_feature() -> None:
    assert {p.name for p in PROGRAMS} >= FEATURES


def test_precision_and_recall_over_the_corpus() -> None:
    score, differences = score_corpus()
    assert score.precision >= 0.98, differences
    assert score.recall >= 0.80, differences


@pytest.mark.parametrize("program", PROGRAMS, ids=[p.name for p in PROGRAMS])
def test_no_edge_the_human_graph_lacks(program: Path) -> None:
    """A wrong edge turns "unreachable" into "reachable": none, program by program."""
    want = {tuple(edge) for edge in expected(program)["edges"]}
    assert call_edges(scan_dir(program)) - want == set()


def test_dynamic_code_is_counted_not_guessed() -> None:
    program = next(p for p in PROGRAMS if p.name == "dynamic")
    document = scan_dir(program)
    assert document["analyzer"]["call_sites"] == 12  # every call in the program, counted
    unresolved = document["analyzer"]["unresolved"]
    for reason, least in expected(program)["unresolved_at_least"].items():
        assert unresolved.get(reason, 0) >= least, unresolved
    targets = {to for _, to in call_edges(document)}
    assert "main.Robot.talk" not in targets  # only named by a string at run time
    assert "main.secret" not in targets  # only named inside eval()


def test_roots_scripts_run_and_every_module_loads() -> None:
    program = next(p for p in PROGRAMS if p.name == "imports")
    document = scan_dir(program)
    display = {node["id"]: node["display"] for node in document["nodes"]}
    roots = {(display[r["id"]], r["phase"]) for r in document["roots"]}
    modules = {n["display"] for n in document["nodes"] if n["kind"] == "module"}
    assert modules == {"main", "app", "app.core", "app.util", "app.util.text", "app.util.stars"}
    assert {(m, "load") for m in modules} | {("main", "runtime")} == roots
    imports = {
        (display[e["from"]], display[e["to"]]) for e in document["edges"] if e["kind"] == "import"
    }
    assert ("main", "app.util.text") in imports
    assert ("app.core", "app.util") in imports
