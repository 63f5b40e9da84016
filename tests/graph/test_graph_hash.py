"""The graph hash (SPEC §3): golden vectors, invariance under reordering, sensitivity to
every semantic change, and agreement with the reference RFC 8785 implementation."""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import blake3
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from stella_signals.graph import canonical_graph, parse_graph
from tests._examples import examples
from tests.graph._graphs import BASE, as_bytes, graph

SMALL = {
    "schema": "richgraph-v1",
    "graph_hash": "blake3:" + "0" * 64,
    "nodes": [
        {"id": "b", "symbol_id": "s2", "lang": "c", "kind": "f"},
        {"id": "a", "symbol_id": "s1", "lang": "c", "kind": "f", "evidence": ["z", "a"]},
    ],
    "edges": [{"targetId": "a", "sourceId": "b"}],
    "roots": [],
}
#: Written out by hand from SPEC §3: aliases renamed, graph_hash dropped, nodes by id,
#: string arrays sorted, keys in RFC 8785 order, no whitespace; nothing filled in.
SMALL_CANONICAL = (
    b'{"edges":[{"from":"b","to":"a"}],"nodes":[{"evidence":["a","z"],"id":"a","kind":"f",'
    b'"lang":"c","symbol_id":"s1"},{"id":"b","kind":"f","lang":"c","symbol_id":"s2"}],'
    b'"roots":[],"schema":"richgraph-v1"}'
)
GOLDEN = {
    "small": "blake3:9394b7a0b4a74030560ca880ff65a590f513502fadac7fd9cb588c2f5adb0ca1",
    "base": "blake3:4e4557f1da1da2192b05a4a4db64dd2266ce12da47ce19dae5fec527f3b3b2f4",
}


def hash_of(doc: Any) -> str:
    return str(canonical_graph(parse_graph(as_bytes(doc))).hash)


def test_golden_small_graph_bytes_and_hash() -> None:
    canonical = canonical_graph(parse_graph(as_bytes(SMALL)))
    assert canonical.data == SMALL_CANONICAL
    assert str(canonical.hash) == "blake3:" + blake3.blake3(SMALL_CANONICAL).hexdigest()
    assert str(canonical.hash) == GOLDEN["small"]


def test_golden_base_graph() -> None:
    assert hash_of(BASE) == GOLDEN["base"]


def test_canonical_bytes_are_the_reference_rfc8785_bytes() -> None:
    canonical = canonical_graph(parse_graph(as_bytes(BASE)))
    assert canonical.data == rfc8785.dumps(canonical.document)
    assert json.loads(canonical.data) == canonical.document


def shuffled(doc: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    out = copy.deepcopy(doc)

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            items = list(value.items())
            rng.shuffle(items)
            return {k: walk(v) for k, v in items}
        if isinstance(value, list):
            items = [walk(v) for v in value]
            rng.shuffle(items)
            return items
        return value

    result: dict[str, Any] = walk(out)
    return result


@settings(max_examples=examples(60), deadline=None)
@given(st.integers(0, 2**32))
def test_hash_ignores_order_of_nodes_edges_roots_keys_and_string_arrays(seed: int) -> None:
    doc = graph()
    doc["edges"].append({"from": "n1", "to": "n2", "kind": "call", "confidence": 0.2})
    doc["edges"].append({"sourceId": "n1", "targetId": "n3"})
    doc["roots"].append({"id": "n1", "phase": "init", "source": "x"})
    doc["nodes"][1]["attributes"] = {"tags": ["c", "a", "b", "a"]}
    assert hash_of(shuffled(doc, random.Random(seed))) == hash_of(doc)


SEMANTIC_CHANGES = {
    "node symbol_id": lambda d: d["nodes"][0].update(symbol_id="sym:python:other"),
    "node added": lambda d: d["nodes"].append(
        {"id": "n4", "symbol_id": "s", "lang": "c", "kind": "f"}
    ),
    "edge removed": lambda d: d["edges"].pop(),
    "edge kind": lambda d: d["edges"][0].update(kind="import"),
    "edge kind absent vs empty": lambda d: d["edges"][0].update(kind=""),
    "confidence": lambda d: d["edges"][0].update(confidence=0.91),
    "root phase": lambda d: d["roots"][0].update(phase="init"),
    "roots emptied": lambda d: d.update(roots=[]),
    "analyzer version": lambda d: d["analyzer"].update(version="1.2.1"),
    "duplicate string kept": lambda d: d["nodes"][0]["evidence"].append("static"),
    "unknown field": lambda d: d.update({"x-note": "hello"}),
    "mixed array order": lambda d: d["nodes"][0].update(evidence=["static", 1]),
}


def test_every_semantic_change_changes_the_hash() -> None:
    base = hash_of(BASE)
    seen = {base}
    for name, change in SEMANTIC_CHANGES.items():
        doc = graph()
        change(doc)
        changed = hash_of(doc)
        assert changed != base, name
        seen.add(changed)
    assert len(seen) == len(SEMANTIC_CHANGES) + 1


def test_mixed_arrays_keep_their_order() -> None:
    one, two = graph(), graph()
    one["nodes"][0]["evidence"] = ["b", 1]
    two["nodes"][0]["evidence"] = [1, "b"]
    assert hash_of(one) != hash_of(two)


def test_top_level_graph_hash_is_not_hashed() -> None:
    assert hash_of(graph(graph_hash="blake3:" + "1" * 64)) == hash_of(BASE)


def test_tied_edges_do_not_make_the_hash_order_dependent() -> None:
    one = graph()
    one["edges"] = [
        {"from": "n1", "to": "n2", "kind": "call", "confidence": 0.1},
        {"from": "n1", "to": "n2", "kind": "call", "confidence": 0.9},
    ]
    two = graph()
    two["edges"] = list(reversed(one["edges"]))
    assert hash_of(one) == hash_of(two)


def test_missing_kind_sorts_as_empty_string() -> None:
    doc = graph()
    doc["edges"] = [{"from": "n1", "to": "n2", "kind": "a"}, {"from": "n1", "to": "n2"}]
    canonical = canonical_graph(parse_graph(as_bytes(doc)))
    assert [e.get("kind") for e in canonical.document["edges"]] == [None, "a"]
