"""SPEC §6: `GET /api/v1/graphs/{h}/runtime` lists observed symbols — every item carries its
graph node's `symbol_id` beside the node id, purl, hits, first/last seen, containers and
ingest ids, whichever way the trace named the node (its symbol_id, its id or its code_id)."""

from __future__ import annotations

import json
from typing import Any

from stella_signals.api._schemas import RUNTIME_PAGE
from stella_signals_dev.synth import graph_bytes
from tests.api.conftest import SPEC, Api
from tests.graph._graphs import BASE, as_bytes, graph
from tests.trace._lines import line, ndjson

ITEM_FIELDS = {
    "node",
    "symbol_id",
    "purl",
    "observed",
    "hits",
    "first_seen",
    "last_seen",
    "containers",
    "ingest_ids",
}


def _items(api: Api, graph_hash: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    token = None
    while True:
        query = params | ({"page_token": token} if token else {})
        response = api.client.get(
            f"/api/v1/graphs/{graph_hash}/runtime", params=query, headers=api.headers()
        )
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        token = page["next_page_token"]
        if not token:
            return items


def test_every_item_carries_its_nodes_symbol_id(api: Api) -> None:
    graph_hash = api.post_graph(data=as_bytes(BASE))
    trace = ndjson(
        # by symbol_id
        line(symbol_id="sym:python:main", purl="pkg:pypi/app@1.0.0", count=2, container="c1"),
        # by node id: the item still names the node's symbol_id
        line(symbol_id="n2", purl="pkg:pypi/lib@2.0.0", count=1, container="c1"),
    )
    ingest_id = api.post_trace(trace, graph_hash).headers["X-Ingest-Id"]
    rows = {row["node"]: row for row in _items(api, graph_hash)}
    assert set(rows) == {"n1", "n2"}
    assert rows["n1"]["symbol_id"] == "sym:python:main"
    assert rows["n2"]["symbol_id"] == "sym:python:parse"
    # the rest is unchanged
    for row in rows.values():
        assert set(row) == ITEM_FIELDS
        assert row["observed"] is True and row["ingest_ids"] == [ingest_id]
        assert row["containers"] == ["c1"]
    assert rows["n1"]["hits"] == 2 and rows["n1"]["purl"] == "pkg:pypi/app@1.0.0"
    unobserved = _items(api, graph_hash, observed="unobserved")
    assert [(r["node"], r["symbol_id"], r["observed"]) for r in unobserved] == [
        ("n3", "sym:python:unused", False)
    ]
    every = _items(api, graph_hash, observed="all")
    assert [r["symbol_id"] for r in every] == [n["symbol_id"] for n in BASE["nodes"]]


def test_nodes_sharing_a_symbol_id_each_carry_it(api: Api) -> None:
    nodes = [
        {"id": "b", "symbol_id": "sym:native:shared", "lang": "c", "kind": "function"},
        {"id": "a", "symbol_id": "sym:native:shared", "lang": "c", "kind": "function"},
        {"id": "c", "symbol_id": "a", "lang": "c", "kind": "function"},  # another's id
    ]
    graph_hash = api.post_graph(data=as_bytes(graph(nodes=nodes, edges=[], roots=[])))
    every = _items(api, graph_hash, observed="all")
    assert [(r["node"], r["symbol_id"]) for r in every] == [
        ("a", "sym:native:shared"),
        ("b", "sym:native:shared"),
        ("c", "a"),
    ]


def test_symbol_ids_across_pages_match_the_graph(api: Api, trace_gz: bytes) -> None:
    graph_hash = api.post_graph()
    api.post_trace(trace_gz, graph_hash)
    expected = {n["id"]: n["symbol_id"] for n in json.loads(graph_bytes(SPEC))["nodes"]}
    observed = _items(api, graph_hash, page_size=97)
    assert observed and all(row["symbol_id"] == expected[row["node"]] for row in observed)
    every = _items(api, graph_hash, observed="all", page_size=500)
    assert {row["node"]: row["symbol_id"] for row in every} == expected


def test_the_documented_item_requires_a_symbol_id() -> None:
    item = RUNTIME_PAGE["properties"]["items"]["items"]
    assert "symbol_id" in item["required"]
    assert item["properties"]["symbol_id"]["type"] == "string"
