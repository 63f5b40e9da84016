"""The compact import path (`load_canonical`) gives what the general path gives: the same
canonical bytes, hash, index and problems, on generated graphs valid and invalid. Every test
runs with the edges read by the compiled scan (`_cgraph.c`) and by the pure-Python path."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stella_signals.graph import (
    InvalidGraph,
    _compact,
    build_index,
    canonical_graph,
    load_canonical,
    parse_graph,
)
from stella_signals.graph._compact import _compiled_core, compact_graph, graph_core
from tests._examples import examples
from tests.graph._graphs import BASE, as_bytes
from tests.graph.test_fast_validation_agrees import mutated


@pytest.fixture(scope="module", params=["compiled", "python"], autouse=True)
def edge_path(request: pytest.FixtureRequest) -> Iterator[str]:
    """Which path reads the edges (module scope: the Hypothesis tests use it too)."""
    wanted: str = request.param
    if wanted == "compiled" and _compiled_core is None:
        pytest.skip("the compiled graph core is not built (no C compiler at install)")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STELLA_PURE_PYTHON", "0" if wanted == "compiled" else "1")
        assert graph_core() == wanted
        yield wanted


# Ids and texts with characters that sort differently in UTF-8, UTF-16 and code points.
texts = st.text(alphabet=st.sampled_from("ab9_:/é€\ue000\uffff😀"), min_size=1, max_size=4)
numbers = st.one_of(
    st.integers(-(2**53) + 1, 2**53 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 1.0, 1e-7, 5e-324, 0.1, 1e21]),
)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), numbers, texts),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(texts, inner, max_size=3)),
    max_leaves=6,
)
confidences = st.one_of(
    st.floats(0, 1), st.sampled_from([0, 1, 0.0, -0.0, 1.0, 1e-6, 0.5]), st.just(...)
)


# The strategies `graphs` draws from, built once: a strategy made inside the composite is
# built and validated again on every draw, which cost more than the comparison did.
id_lists = st.lists(texts, min_size=1, max_size=8, unique=True)
langs = st.sampled_from(["c", "python"])
optional_texts = st.one_of(st.just(""), texts)
node_purls = st.sampled_from(["pkg:pypi/a@1", "pkg:npm/b@2.0"])
node_evidence = st.lists(st.one_of(texts, json_values), max_size=3)
json_objects = st.dictionaries(texts, json_values, max_size=3)
edge_counts = st.integers(0, 12)
edge_kinds = st.sampled_from(["", "call", "import", "é"])
edge_purls = st.just("pkg:pypi/a@1")
edge_evidence = st.lists(json_values, max_size=2)
phases = st.sampled_from(["load", "init"])
root_counts = st.integers(0, 4)
graph_hashes = st.just("blake3:" + "0" * 64)
extra_keys = st.sampled_from(["x-note", "\ue000k", "zz"])


def _maybe(draw: st.DrawFn, target: dict[str, Any], key: str, strategy: Any) -> None:
    if draw(st.booleans()):
        value = draw(strategy)
        if value is not ...:
            target[key] = value


@st.composite
def graphs(draw: st.DrawFn) -> dict[str, Any]:
    ids = draw(id_lists)
    nodes = []
    for node_id in ids:
        node: dict[str, Any] = {
            "id": node_id,
            "symbol_id": draw(texts),
            "lang": draw(langs),
            "kind": draw(texts),
        }
        for key in ("display", "code_id", "build_id", "symbol_digest"):
            _maybe(draw, node, key, optional_texts)
        _maybe(draw, node, "purl", node_purls)
        _maybe(draw, node, "evidence", node_evidence)
        _maybe(draw, node, "attributes", json_objects)
        nodes.append(node)
    edges = []
    node_ids = st.sampled_from(ids)
    for _ in range(draw(edge_counts)):
        edge: dict[str, Any] = {
            "from": draw(node_ids),
            "to": draw(node_ids),
        }
        _maybe(draw, edge, "kind", edge_kinds)
        _maybe(draw, edge, "purl", edge_purls)
        _maybe(draw, edge, "confidence", confidences)
        _maybe(draw, edge, "evidence", edge_evidence)
        edges.append(edge)
    doc: dict[str, Any] = {"schema": "richgraph-v1", "nodes": nodes, "edges": edges}
    if draw(st.booleans()):
        doc["roots"] = [
            {"id": draw(node_ids), "phase": draw(phases)}
            | ({"source": draw(texts)} if draw(st.booleans()) else {})
            for _ in range(draw(root_counts))
        ]
    _maybe(draw, doc, "analyzer", json_objects)
    _maybe(draw, doc, "graph_hash", graph_hashes)
    _maybe(draw, doc, draw(extra_keys), json_values)
    return doc


def _general(data: bytes) -> tuple[bytes, str, bytes]:
    canonical = canonical_graph(parse_graph(data))
    return (
        canonical.data,
        str(canonical.hash),
        build_index(canonical.document, canonical.hash).to_bytes(),
    )


def _compact_result(data: bytes) -> tuple[bytes, str, bytes]:
    canonical = load_canonical(data)
    return canonical.data, str(canonical.hash), canonical.index().to_bytes()


def _outcome(path: Callable[[bytes], tuple[bytes, str, bytes]], data: bytes) -> Any:
    """What ``path`` makes of ``data``: its result, or the problems it refuses it with."""
    try:
        return path(data)
    except InvalidGraph as exc:
        return exc.problems


def _encodings(doc: dict[str, Any]) -> list[bytes]:
    return [
        json.dumps(doc, ensure_ascii=False).encode(),
        json.dumps(doc, ensure_ascii=False, indent=1).encode(),  # whitespace between items
    ]


@settings(max_examples=examples(300), deadline=None)
@given(graphs(), st.sampled_from([1, 40, 1 << 22]))
def test_compact_path_gives_the_general_paths_bytes_hash_and_index(
    doc: dict[str, Any], piece_bytes: int
) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_compact, "PIECE_BYTES", piece_bytes)  # many pieces, cuts in odd places
        for data in _encodings(doc):
            try:
                expected = _general(data)
            except InvalidGraph:  # an integral double past 2^53 somewhere: refused by both
                assert compact_graph(data) is None
                continue
            assert compact_graph(data) is not None  # no backslash, no alias: the compact path
            assert _compact_result(data) == expected


@settings(max_examples=examples(300), deadline=None)
@given(mutated())
def test_compact_path_refuses_or_agrees_on_spoilt_graphs(data: bytes) -> None:
    assert _outcome(_compact_result, data) == _outcome(_general, data)


def test_cuts_inside_strings_and_nested_values_fall_back_to_item_splitting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    doc = json.loads(as_bytes(BASE))
    doc["nodes"][0]["display"] = "a},{b"
    doc["nodes"][1]["attributes"] = {"x": [{"a": 1}, {"b": 2}], "y": "},{"}
    doc["edges"][0]["evidence"] = [{"k": "},{"}, {"k": 2}]
    monkeypatch.setattr(_compact, "PIECE_BYTES", 1)
    data = json.dumps(doc).encode()
    assert compact_graph(data) is not None
    assert _compact_result(data) == _general(data)


@pytest.mark.parametrize(
    "spoil",
    [
        lambda s: s.replace('"kind": "call", "confidence": 0.9', '"kind": "call", "kind": "x"'),
        lambda s: s.replace('"id": "n3"', '"id": "n3", "x-extra": 1'),
        lambda s: s.replace('"lang": "python"', '"lang": "py\\u0074hon"', 1),
        lambda s: s.replace('"from"', '"sourceId"', 1),
    ],
    ids=["duplicate key", "unknown field", "escape", "alias"],
)
def test_what_the_compact_path_cannot_prove_goes_the_general_way(spoil: Any) -> None:
    data = spoil(as_bytes(BASE).decode()).encode()
    assert compact_graph(data) is None
    assert _outcome(_compact_result, data) == _outcome(_general, data)


def test_streamed_chunks_are_the_whole_bytes() -> None:
    data = as_bytes(BASE)
    canonical = load_canonical(data)
    assert canonical.known_hash is None  # the compact path hashes only when asked
    assert b"".join(canonical.chunks()) == canonical_graph(parse_graph(data)).data
    assert canonical.document == canonical_graph(parse_graph(data)).document
