"""What ran: per observed node of a graph, hits, first/last seen, containers, ingest ids;
and the coverage summary. Mirrors `stella graph verify` over every ingest of the graph."""

from __future__ import annotations

from stella_signals.graph import build_index, canonical_graph, map_trace, parse_graph
from stella_signals.trace import parse_trace
from stella_signals_dev.synth import graph_bytes
from tests.api.conftest import SPEC, Api
from tests.graph._graphs import BASE, as_bytes
from tests.trace._lines import line, ndjson


def test_observed_nodes_with_their_evidence(api: Api) -> None:
    graph = api.post_graph(data=as_bytes(BASE))
    first = ndjson(
        line(symbol_id="sym:python:main", purl="pkg:pypi/app@1.0.0", count=2, container="c1"),
        line(symbol_id="sym:python:parse", purl="pkg:pypi/lib@2.0.0", count=1, container="c1"),
    )
    second = ndjson(
        line(symbol_id="sym:python:main", purl="pkg:pypi/app@1.0.0", count=5, container="c2")
    )
    ids = [api.post_trace(body, graph).headers["X-Ingest-Id"] for body in (first, second)]
    page = api.client.get(f"/api/v1/graphs/{graph}/runtime", headers=api.headers()).json()
    rows = {row["node"]: row for row in page["items"]}
    assert set(rows) == {"n1", "n2"}
    assert rows["n1"]["hits"] == 7
    assert rows["n1"]["containers"] == ["c1", "c2"]
    assert rows["n1"]["ingest_ids"] == sorted(ids)
    assert rows["n2"]["ingest_ids"] == [ids[0]]
    unobserved = api.client.get(
        f"/api/v1/graphs/{graph}/runtime", params={"observed": "unobserved"}, headers=api.headers()
    ).json()
    assert [row["node"] for row in unobserved["items"]] == ["n3"]
    by_purl = api.client.get(
        f"/api/v1/graphs/{graph}/runtime",
        params={"purl": "pkg:pypi/lib@2.0.0"},
        headers=api.headers(),
    ).json()
    assert [row["node"] for row in by_purl["items"]] == ["n2"]
    coverage = api.client.get(f"/api/v1/graphs/{graph}/coverage", headers=api.headers()).json()
    assert (coverage["nodes_observed"], coverage["nodes_total"]) == (2, 3)
    assert (coverage["edges_confirmed"], coverage["edges_total"]) == (1, 2)
    assert {"purl": "pkg:pypi/lib@2.0.0", "nodes_observed": 1, "nodes_total": 1} in coverage[
        "by_purl"
    ]
    assert (
        api.client.get(f"/api/v1/graphs/{graph}/runtime", headers=api.headers("globex")).status_code
        == 404
    )


def test_coverage_agrees_with_verify_and_pages_cover_everything(api: Api, trace_gz: bytes) -> None:
    graph = api.post_graph()
    api.post_trace(trace_gz, graph)
    canonical = canonical_graph(parse_graph(graph_bytes(SPEC)))
    report = map_trace(parse_trace([trace_gz]), build_index(canonical.document, canonical.hash),
                       graph_hash_ok=True)  # fmt: skip
    coverage = api.client.get(f"/api/v1/graphs/{graph}/coverage", headers=api.headers()).json()
    assert coverage["nodes_observed"] == report.nodes_observed
    assert coverage["edges_confirmed"] == report.edges_confirmed
    seen, token = [], None
    while True:
        params = {"page_size": 100} | ({"page_token": token} if token else {})
        page = api.client.get(
            f"/api/v1/graphs/{graph}/runtime", params=params, headers=api.headers()
        ).json()
        seen += [row["node"] for row in page["items"]]
        token = page["next_page_token"]
        if not token:
            break
    assert len(seen) == len(set(seen)) == report.nodes_observed
    assert seen == sorted(seen)


def _edges(api: Api, graph: str, **params: object) -> dict[str, object]:
    response = api.client.get(
        f"/api/v1/graphs/{graph}/runtime", params={"view": "edges", **params}, headers=api.headers()
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_observed_edges_say_whether_the_graph_has_them(api: Api) -> None:
    """Discovery-mode records (with ``caller_symbol_id``) are kept as edges per ingest and
    shown with ``view=edges``: the graph's edge n1 → n2 is ``in_graph``; n2 → n1 (two nodes
    the graph does not link) and n1 → an unknown symbol are the unexpected edges that
    `stella graph verify` reports, summed over ingests."""
    graph = api.post_graph(data=as_bytes(BASE))
    app, lib = "pkg:pypi/app@1.0.0", "pkg:pypi/lib@2.0.0"
    main, parse, ghost = "sym:python:main", "sym:python:parse", "sym:python:ghost"
    first = ndjson(
        line(symbol_id=main, purl=app, count=1),
        line(symbol_id=parse, purl=lib, count=3, caller_symbol_id=main),
        line(symbol_id=ghost, purl=app, count=1, caller_symbol_id=main),
    )
    second = ndjson(
        line(symbol_id=parse, purl=lib, count=2, caller_symbol_id=main),
        line(symbol_id=main, purl=app, count=4, caller_symbol_id=parse),
    )
    ids = [api.post_trace(body, graph).headers["X-Ingest-Id"] for body in (first, second)]
    page = _edges(api, graph)
    assert page["view"] == "edges" and page["next_page_token"] is None
    assert page["items"] == [
        {"caller_symbol_id": main, "symbol_id": ghost, "caller_node": "n1", "callee_node": None,
         "in_graph": False, "count": 1, "ingest_ids": [ids[0]]},
        {"caller_symbol_id": main, "symbol_id": parse, "caller_node": "n1", "callee_node": "n2",
         "in_graph": True, "count": 5, "ingest_ids": sorted(ids)},
        {"caller_symbol_id": parse, "symbol_id": main, "caller_node": "n2", "callee_node": "n1",
         "in_graph": False, "count": 4, "ingest_ids": [ids[1]]},
    ]  # fmt: skip
    unexpected = _edges(api, graph, in_graph="false")["items"]
    assert isinstance(unexpected, list)
    assert [(e["caller_symbol_id"], e["symbol_id"]) for e in unexpected] == [
        (main, ghost),
        (parse, main),
    ]
    report = api.client.post(
        f"/api/v1/graphs/{graph}/verify", content=first + second, headers=api.headers()
    ).json()
    assert [(e["caller_symbol_id"], e["symbol_id"]) for e in report["unexpected_edges"]] == [
        (main, ghost),
        (parse, main),
    ]
    seen, token = [], None
    while True:
        params: dict[str, object] = {"page_size": 1} | ({"page_token": token} if token else {})
        one = _edges(api, graph, **params)
        items = one["items"]
        assert isinstance(items, list) and len(items) <= 1
        seen += [(e["caller_symbol_id"], e["symbol_id"]) for e in items]
        token = one["next_page_token"]
        if not token:
            break
    assert seen == [(main, ghost), (main, parse), (parse, main)]
    # Nodes stay the default view, unchanged for existing clients.
    nodes = api.client.get(f"/api/v1/graphs/{graph}/runtime", headers=api.headers()).json()
    assert "view" not in nodes and {row["node"] for row in nodes["items"]} == {"n1", "n2"}
    foreign = api.client.get(
        f"/api/v1/graphs/{graph}/runtime", params={"view": "edges"}, headers=api.headers("globex")
    )
    assert foreign.status_code == 404


def test_edge_view_refuses_what_does_not_apply_and_repeats(api: Api) -> None:
    graph = api.post_graph(data=as_bytes(BASE))
    url = f"/api/v1/graphs/{graph}/runtime"
    for query, field in (
        ("view=edges&purl=pkg:pypi/app@1.0.0", "purl"),
        ("view=edges&observed=all", "observed"),
        ("in_graph=true", "in_graph"),
        ("view=edges&view=edges", "view"),
        ("view=edges&in_graph=true&in_graph=false", "in_graph"),
    ):
        response = api.client.get(f"{url}?{query}", headers=api.headers())
        assert response.status_code == 400, query
        assert response.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in response.json()["errors"]] == [field], query
    for token in ("bm90IGpzb24", "djE6WzFd"):  # "not json", "v1:[1]"
        response = api.client.get(
            url, params={"view": "edges", "page_token": token}, headers=api.headers()
        )
        assert response.status_code == 400
        assert response.json()["reason"] == "invalid_page_token"
    assert api.client.get(url, params={"view": "arcs"}, headers=api.headers()).status_code == 400
