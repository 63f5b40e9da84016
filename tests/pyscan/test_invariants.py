"""Invariants on real code: this repository's src/ and distributions of the test venv."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from stella_signals.graph import canonical_graph, parse_graph
from stella_signals.pyscan import (
    Distribution,
    SourceFile,
    _scan,
    installed_distributions,
    project_sources,
    scan_sources,
    symbol_id,
)

#: Starts Python interpreters (the probe, another venv, a traced run): e2e, not unit
#: (tests/_tiers.py, docs/testing.md).
pytestmark = pytest.mark.e2e


REPO = Path(__file__).resolve().parents[2]
REAL_DISTRIBUTIONS = ("httpx", "typer", "click")


@cache
def venv_distributions() -> tuple[Distribution, ...]:
    wanted = {d.dist: d for d in installed_distributions(None) if d.dist in REAL_DISTRIBUTIONS}
    assert set(wanted) == set(REAL_DISTRIBUTIONS)
    return tuple(wanted[name] for name in REAL_DISTRIBUTIONS)


def scanned(
    files: list[SourceFile], entry_points: list[str], dists: tuple[Distribution, ...]
) -> dict[str, Any]:
    return scan_sources(files, entry_points, dists).document


def graph_hash(document: dict[str, Any]) -> str:
    return str(canonical_graph(parse_graph(json.dumps(document).encode())).hash)


Inputs = tuple[list[SourceFile], list[str], tuple[Distribution, ...]]


@pytest.fixture(scope="module")
def repo_and_libraries() -> Inputs:
    files, entry_points = project_sources([REPO / "src"], None)
    return files, entry_points, venv_distributions()


@pytest.fixture(scope="module")
def document(repo_and_libraries: Inputs) -> dict[str, Any]:
    """One scan of the inputs, its first pass in worker processes (as for any project of
    more than a few files), shared by the checks that only read it: a scan of src/ and three
    libraries is seconds of CPU, and the module used to run seven."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_scan, "_PARALLEL_FROM", 2)
        return scanned(*repo_and_libraries)


def test_ids_unique_and_every_endpoint_a_node(document: dict[str, Any]) -> None:
    ids = [node["id"] for node in document["nodes"]]
    assert len(ids) == len(set(ids))
    known = set(ids)
    assert all(e["from"] in known and e["to"] in known for e in document["edges"])
    assert all(r["id"] in known for r in document["roots"])
    parse_graph(json.dumps(document).encode())  # the product's own validation agrees
    by_display = {n["display"]: n for n in document["nodes"]}
    client = by_display["httpx._client.Client.get"]
    assert client["purl"].startswith("pkg:pypi/httpx@")
    assert client["symbol_id"] == symbol_id("httpx", "httpx._client", "Client.get")
    own = by_display["stella_signals.pyscan._naming.symbol_id"]
    assert own["purl"] == "pkg:generic/src"
    assert own["symbol_id"] == symbol_id("", "stella_signals.pyscan._naming", "symbol_id")


def test_edges_from_the_app_land_on_library_nodes(document: dict[str, Any]) -> None:
    node = {n["id"]: n for n in document["nodes"]}
    crossing = {
        (node[e["from"]]["display"], node[e["to"]]["display"])
        for e in document["edges"]
        if e["kind"] == "call"
        and node[e["from"]]["purl"] == "pkg:generic/src"
        and node[e["to"]]["purl"].startswith("pkg:pypi/")
    }
    targets = {to for _, to in crossing}
    assert "httpx._client.Client.__init__" in targets
    assert any(t.startswith("typer.main.Typer.") for t in targets)


def test_hash_stable_across_runs_and_file_order(
    repo_and_libraries: Inputs, document: dict[str, Any]
) -> None:
    """Two more scans (the shared one is the first run): again, and in reverse order."""
    files, entry_points, dists = repo_and_libraries
    first = graph_hash(document)
    again = graph_hash(scanned(files, entry_points, dists))
    reversed_order = graph_hash(
        scanned(list(reversed(files)), list(reversed(entry_points)), tuple(reversed(dists)))
    )
    assert first == again == reversed_order


def test_worker_processes_give_the_same_graph(
    repo_and_libraries: Inputs, document: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first pass runs in worker processes for many files (the shared scan): same bytes
    as one process alone."""
    files, entry_points, dists = repo_and_libraries
    monkeypatch.setattr(_scan, "_PARALLEL_FROM", 10**9)
    alone = graph_hash(scanned(files, entry_points, dists))
    assert graph_hash(document) == alone
