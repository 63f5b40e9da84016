"""The other routes of the online-ingest issue: graphs, verify, symbols, lists and pages."""

from __future__ import annotations

import json

from stella_signals.cas import Namespace
from stella_signals.tenancy import TenantId
from stella_signals_dev.synth import SynthSpec, graph_bytes, trace_bytes
from tests.api.conftest import SPEC, Api
from tests.symbols.test_symbol_manifest import valid_manifest


def test_graph_post_is_idempotent_and_invalid_graphs_name_pointers(api: Api) -> None:
    first = api.client.post("/api/v1/graphs", content=graph_bytes(SPEC), headers=api.headers())
    again = api.client.post("/api/v1/graphs", content=graph_bytes(SPEC), headers=api.headers())
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.headers["X-Graph-Hash"] == again.headers["X-Graph-Hash"]
    assert len(api.events(type_="reach.graph.ingested")) == 1
    bad = api.client.post(
        "/api/v1/graphs", content=b'{"schema":"x","nodes":[],"edges":[]}', headers=api.headers()
    )
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["pointer"] == "/schema"


def test_verify_route_reports_without_storing(api: Api) -> None:
    graph = api.post_graph()
    before = len(api.events())
    response = api.client.post(
        f"/api/v1/graphs/{graph}/verify", content=trace_bytes(SPEC), headers=api.headers()
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["graph_hash"] == graph and report["records"] == SPEC.records
    assert report["mapped_symbols"] > 0
    assert len(api.events()) == before and api.runtime_blobs() == []
    missing = api.client.post(
        f"/api/v1/graphs/blake3:{'0' * 64}/verify", content=b"", headers=api.headers()
    )
    assert missing.status_code == 404


def test_symbol_manifest_ingest(api: Api) -> None:
    body = json.dumps(valid_manifest()).encode()
    first = api.client.post("/api/v1/symbols/ingest", content=body, headers=api.headers())
    assert first.status_code == 201, first.text
    assert first.json()["cas_uri"].startswith("cas://reachability/symbols/")
    assert (
        api.client.post("/api/v1/symbols/ingest", content=body, headers=api.headers()).status_code
        == 200
    )
    assert len(api.events(type_="symbols.manifest.ingested")) == 1
    other = api.client.post("/api/v1/symbols/ingest", content=body, headers=api.headers("globex"))
    assert other.status_code == 400
    assert other.json()["errors"][0]["reason"] == "tenant_mismatch"


def test_a_manifest_stored_before_a_crash_is_announced_when_retried(api: Api) -> None:
    """A crash between storing the blob and recording it must not lose the event: whether a
    manifest is new is the database's answer, not the CAS's."""
    body = json.dumps(valid_manifest()).encode()
    api.services.blobs.put(TenantId("acme"), Namespace.SYMBOLS, [body])  # then the crash
    retry = api.client.post("/api/v1/symbols/ingest", content=body, headers=api.headers())
    assert retry.status_code == 201, retry.text
    [event] = api.events(type_="symbols.manifest.ingested")
    assert event["attributes"] == retry.json()  # type: ignore[comparison-overlap]


def test_lists_paginate(api: Api) -> None:
    graph = api.post_graph()
    for seed in range(5):
        body = trace_bytes(SynthSpec(50, seed=seed, symbols=30, purls=5))
        assert api.post_trace(body, graph).status_code in (201, 202)
    seen: list[str] = []
    token = None
    while True:
        params = {"page_size": 2} | ({"page_token": token} if token else {})
        page = api.client.get("/api/v1/ingests", params=params, headers=api.headers()).json()
        seen += [item["ingest_id"] for item in page["items"]]
        token = page["next_page_token"]
        if token is None:
            break
    assert len(seen) == 5 and seen == sorted(seen)
    events = api.client.get(
        "/api/v1/timeline/events", params={"page_size": 3}, headers=api.headers()
    ).json()
    assert len(events["items"]) == 3 and events["next_page_token"]
    nxt = api.client.get(
        "/api/v1/timeline/events",
        params={"page_token": events["next_page_token"]},
        headers=api.headers(),
    ).json()
    assert nxt["items"][0]["seq"] == 4
    bad = api.client.get("/api/v1/ingests", params={"page_token": "!!"}, headers=api.headers())
    assert bad.status_code == 400
    assert (
        api.client.get(
            "/api/v1/ingests", params={"page_size": 501}, headers=api.headers()
        ).status_code
        == 400
    )
    assert api.client.get("/api/v1/ingests/not-a-ulid", headers=api.headers()).status_code == 400


def test_metrics_count_ingests_by_result_for_operators(api: Api, trace_gz: bytes) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    graph = api.post_graph()
    api.post_trace(trace_gz, graph)
    api.post_trace(trace_gz, graph)
    api.post_trace(b"nope", graph)
    api.post_trace(trace_gz, "blake3:" + "1" * 64)
    response = api.client.get("/metrics")  # no token: the endpoint is for operators
    assert response.status_code == 200
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }
    ingest = "signals_runtime_ingest_total"
    assert samples[(ingest, (("result", "ingested"),))] == 1
    assert samples[(ingest, (("result", "duplicate"),))] == 1
    assert samples[(ingest, (("result", "schema_invalid"),))] == 1
    assert samples[(ingest, (("result", "orphaned"),))] == 1
    assert samples[("reachability_orphan_traces_total", (("tenant", "acme"),))] == 1
    assert samples[("reachability_orphan_queue_depth", ())] == 1
    assert samples[("signals_runtime_ingest_records_total", ())] == 2 * SPEC.records
