"""richgraph-v1 validation: a named table of broken graphs, each with pointer and reason."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from stella_signals.graph import InvalidGraph, check_graph, parse_graph
from tests.graph._graphs import BASE, as_bytes, graph


def edit(fn: Callable[[dict[str, Any]], None]) -> bytes:
    doc = copy.deepcopy(BASE)
    fn(doc)
    return as_bytes(doc)


BROKEN: list[tuple[str, bytes, str, str]] = [
    ("not JSON", b"{", "", "invalid_json"),
    (
        "duplicate key",
        b'{"schema":"richgraph-v1","schema":"x","nodes":[],"edges":[]}',
        "",
        "duplicate_key",
    ),
    ("not an object", b"[]", "", "not_an_object"),
    (
        "duplicate key, valid last",
        b'{"schema":"x","schema":"richgraph-v1","nodes":[],"edges":[]}',
        "",
        "duplicate_key",
    ),
    (
        "duplicate node field",
        b'{"schema":"richgraph-v1","nodes":[{"id":"a","id":"b","symbol_id":"s","lang":"c",'
        b'"kind":"f"}],"edges":[]}',
        "",
        "duplicate_key",
    ),
    ("wrong schema", as_bytes(graph(schema="richgraph-v2")), "/schema", "wrong_schema"),
    ("schema missing", as_bytes(graph(schema=...)), "/schema", "missing_field"),
    ("nodes missing", as_bytes(graph(nodes=...)), "/nodes", "missing_field"),
    ("edges not array", as_bytes(graph(edges={})), "/edges", "wrong_type"),
    ("analyzer not object", as_bytes(graph(analyzer="x")), "/analyzer", "wrong_type"),
    ("node not object", edit(lambda d: d["nodes"].append(7)), "/nodes/3", "not_an_object"),
    (
        "duplicate node id",
        edit(lambda d: d["nodes"].append(dict(d["nodes"][0]))),
        "/nodes/3/id",
        "duplicate_node_id",
    ),
    ("node id missing", edit(lambda d: d["nodes"][1].pop("id")), "/nodes/1/id", "missing_field"),
    (
        "node symbol_id missing",
        edit(lambda d: d["nodes"][0].pop("symbol_id")),
        "/nodes/0/symbol_id",
        "missing_field",
    ),
    (
        "node lang wrong type",
        edit(lambda d: d["nodes"][0].update(lang=3)),
        "/nodes/0/lang",
        "wrong_type",
    ),
    (
        "node kind empty",
        edit(lambda d: d["nodes"][2].update(kind="")),
        "/nodes/2/kind",
        "empty_field",
    ),
    (
        "node purl invalid",
        edit(lambda d: d["nodes"][0].update(purl="npm:x")),
        "/nodes/0/purl",
        "invalid_purl",
    ),
    (
        "node attributes not object",
        edit(lambda d: d["nodes"][0].update(attributes=[])),
        "/nodes/0/attributes",
        "wrong_type",
    ),
    (
        "node evidence not array",
        edit(lambda d: d["nodes"][0].update(evidence="x")),
        "/nodes/0/evidence",
        "wrong_type",
    ),
    (
        "edge to missing node",
        edit(lambda d: d["edges"][0].update(to="n9")),
        "/edges/0/to",
        "unknown_node",
    ),
    (
        "edge from missing",
        edit(lambda d: d["edges"][1].pop("from")),
        "/edges/1/from",
        "missing_field",
    ),
    (
        "edge confidence above 1",
        edit(lambda d: d["edges"][0].update(confidence=1.5)),
        "/edges/0/confidence",
        "confidence_out_of_range",
    ),
    (
        "edge confidence negative",
        edit(lambda d: d["edges"][0].update(confidence=-0.1)),
        "/edges/0/confidence",
        "confidence_out_of_range",
    ),
    (
        "edge confidence string",
        edit(lambda d: d["edges"][0].update(confidence="high")),
        "/edges/0/confidence",
        "wrong_type",
    ),
    (
        "edge confidence bool",
        edit(lambda d: d["edges"][0].update(confidence=True)),
        "/edges/0/confidence",
        "wrong_type",
    ),
    (
        "edge alias and name both",
        edit(lambda d: d["edges"][0].update(sourceId="n2")),
        "/edges/0/sourceId",
        "conflicting_alias",
    ),
    ("edge not object", edit(lambda d: d["edges"].append(None)), "/edges/2", "not_an_object"),
    (
        "root to missing node",
        edit(lambda d: d["roots"][0].update(id="nx")),
        "/roots/0/id",
        "unknown_node",
    ),
    (
        "root unknown phase",
        edit(lambda d: d["roots"][0].update(phase="boot")),
        "/roots/0/phase",
        "unknown_phase",
    ),
    (
        "root phase missing",
        edit(lambda d: d["roots"][0].pop("phase")),
        "/roots/0/phase",
        "missing_field",
    ),
    ("roots not array", as_bytes(graph(roots="n1")), "/roots", "wrong_type"),
    (
        "integer too big for JCS",
        edit(lambda d: d["analyzer"].update(build=2**60)),
        "/analyzer/build",
        "number_out_of_range",
    ),
    (
        "pointer escapes",
        edit(lambda d: d["analyzer"].update({"a/b~c": 2**60})),
        "/analyzer/a~1b~0c",
        "number_out_of_range",
    ),
    (  # the UTF-8 form of a surrogate is not UTF-8, whatever a decoder lets through
        "raw surrogate in a string",
        as_bytes(BASE).replace(b'"sym:python:main"', b'"sym:python:main\xed\xa0\x80"'),
        "",
        "invalid_json",
    ),
    (
        "raw surrogate in a member name",
        edit(lambda d: d["analyzer"].update({"xk": 1})).replace(b'"xk"', b'"x\xed\xa0\x80"'),
        "",
        "invalid_json",
    ),
    (  # an escape may name a lone surrogate: valid JSON, no UTF-8 form, refused where it is
        "escaped surrogate in a member name",
        edit(lambda d: d["analyzer"].update({"xk": 1})).replace(b'"xk"', b'"x\\ud800"'),
        "/analyzer/x\ud800",
        "invalid_string",
    ),
]


@pytest.mark.parametrize(
    ("data", "pointer", "reason"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN]
)
def test_broken_graph_names_pointer_and_reason(data: bytes, pointer: str, reason: str) -> None:
    graph_, problems = check_graph(data)
    assert graph_ is None
    assert (pointer, reason) in [(p.pointer, p.reason) for p in problems], problems
    with pytest.raises(InvalidGraph) as caught:
        parse_graph(data)
    assert caught.value.reason == "schema_invalid"
    assert caught.value.problems == problems


def test_all_problems_reported_together() -> None:
    def spoil(doc: dict[str, Any]) -> None:
        doc["edges"][0]["to"] = "n9"
        doc["roots"][0]["phase"] = "boot"
        doc["nodes"][2]["kind"] = 5

    _, problems = check_graph(edit(spoil))
    assert {p.reason for p in problems} == {"unknown_node", "unknown_phase", "wrong_type"}


def test_aliases_are_accepted_and_renamed() -> None:
    def alias(doc: dict[str, Any]) -> None:
        edge = doc["edges"][0]
        edge["sourceId"], edge["targetId"] = edge.pop("from"), edge.pop("to")

    parsed = parse_graph(edit(alias))
    assert parsed.edges[0]["from"] == "n1" and parsed.edges[0]["to"] == "n2"
    assert "sourceId" not in parsed.edges[0]


def test_unknown_fields_are_kept() -> None:
    def extend(doc: dict[str, Any]) -> None:
        doc["x-scanner"] = {"run": 7}
        doc["nodes"][0]["x-extra"] = ["b", "a"]

    parsed = parse_graph(edit(extend))
    assert parsed.document["x-scanner"] == {"run": 7}
    assert parsed.nodes[0]["x-extra"] == ["a", "b"]  # kept; string arrays come sorted (SPEC §3)


def test_roots_are_optional_and_edge_kind_defaults_nothing() -> None:
    doc = graph(roots=...)
    doc["edges"][0].pop("kind")
    parsed = parse_graph(as_bytes(doc))
    assert "kind" not in parsed.edges[0]
