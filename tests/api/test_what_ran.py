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
