"""POST /api/v1/runtime-facts as the runbook uses it (§2 steps 4-5), and every outcome of
SPEC §6: the problem body, the runtime.ingest.failed event, and nothing else written."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from stella_signals.attest import (
    RECEIPT_PAYLOAD_TYPE,
    load_public_key,
    parse_envelope,
    verify_envelope,
)
from stella_signals.canonical import canonical_json
from stella_signals.limits import Limits
from stella_signals.storage._schema import facts, ingests
from stella_signals.timeline import check_chain, parse_event
from tests.api.conftest import Api, make_api
from tests.trace._lines import line, ndjson

NO_GRAPH = "blake3:" + "0" * 64


def rows(api: Api, table: sa.Table) -> list[sa.Row[tuple[object, ...]]]:
    with api.services.repo.engine.connect() as conn:
        return list(conn.execute(sa.select(table)))


def test_ingest_returns_headers_receipt_and_writes_everything(api: Api, trace_gz: bytes) -> None:
    graph = api.post_graph()
    response = api.post_trace(trace_gz, graph)
    assert response.status_code == 201, response.text
    sha = hashlib.sha256(trace_gz).hexdigest()
    assert response.headers["Content-SHA256"] == sha
    assert response.headers["X-Graph-Hash"] == graph
    ingest_id = response.headers["X-Ingest-Id"]
    assert response.headers["Location"] == f"/api/v1/ingests/{ingest_id}"
    receipt = response.json()
    assert receipt["schema"] == "stella.reach.runtime-ingest-receipt/v1"
    assert (receipt["ingest_id"], receipt["tenant"], receipt["status"]) == (
        ingest_id,
        "acme",
        "ingested",
    )
    assert receipt["duplicate"] is False
    assert receipt["cas_uri"] == f"cas://reachability/runtime/{sha}"
    assert receipt["counts"]["records"] == 2000
    assert (
        receipt["counts"]["mapped_symbols"] + receipt["counts"]["unmapped_symbols"]
        == receipt["counts"]["unique_symbols"]
    )
    assert receipt["time"]["mode"] == "system"
    # the blob is in the CAS, byte for byte
    assert api.runtime_blobs() == [trace_gz]
    # the timeline event (runbook §2 step 5) names the CAS digest and the ingest id
    event = api.events(type_="reach.runtime.ingested")[-1]
    assert event["event_id"] == receipt["timeline_event_id"]
    attributes = event["attributes"]
    assert isinstance(attributes, dict)
    assert attributes["ingest_id"] == ingest_id and attributes["content_sha256"] == sha
    assert attributes["cas_uri"] == receipt["cas_uri"] and attributes["records"] == 2000
    # facts were stored for what ran
    assert len([r for r in rows(api, facts) if r.ingest_id == ingest_id]) > 0
    # GET returns the same receipt
    again = api.client.get(f"/api/v1/ingests/{ingest_id}", headers=api.headers())
    assert again.status_code == 200
    assert {k: v for k, v in again.json().items()} == {
        k: v for k, v in receipt.items() if k != "receipt_dsse"
    }


def test_receipt_is_signed_by_the_service_key(api: Api, trace_gz: bytes) -> None:
    receipt = api.post_trace(trace_gz, api.post_graph()).json()
    keys = api.client.get("/api/v1/keys/service", headers=api.headers()).json()["keys"]
    public = load_public_key(keys[0]["public_key_pem"].encode())
    envelope = parse_envelope(json.dumps(receipt.pop("receipt_dsse")).encode())
    verified = verify_envelope(envelope, trusted=[public], payload_type=RECEIPT_PAYLOAD_TYPE)
    assert verified.payload == canonical_json(receipt)
    assert verified.keyids == (keys[0]["keyid"],)


def test_duplicate_returns_the_original_receipt_and_no_event(api: Api, trace_gz: bytes) -> None:
    graph = api.post_graph()
    first = api.post_trace(trace_gz, graph)
    before = len(api.events())
    second = api.post_trace(trace_gz, graph)
    assert second.status_code == 200
    assert second.json()["duplicate"] is True
    assert second.headers["X-Ingest-Id"] == first.headers["X-Ingest-Id"]
    assert second.json()["ingest_id"] == first.json()["ingest_id"]
    assert len(api.events()) == before
    assert len(api.runtime_blobs()) == 1


def test_orphan_is_kept_and_answered_202(api: Api, trace_gz: bytes) -> None:
    response = api.post_trace(trace_gz, NO_GRAPH)
    assert response.status_code == 202
    assert response.json()["status"] == "orphaned"
    assert response.json()["counts"]["mapped_symbols"] is None
    assert len(api.runtime_blobs()) == 1
    event = api.events(type_="reach.runtime.orphaned")[-1]
    attributes = event["attributes"]
    assert isinstance(attributes, dict) and attributes["graph_hash"] == NO_GRAPH
    assert "next_retry_at" in attributes


def test_graph_of_another_tenant_is_unknown_here(api: Api, trace_gz: bytes) -> None:
    graph = api.post_graph("globex")
    assert api.post_trace(trace_gz, graph, who="acme").status_code == 202


def assert_refused(api: Api, response, status: int, reason: str) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """The problem body, the failed event with its reason, and nothing else written."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, object] = response.json()
    assert {"type", "title", "status", "detail", "reason"} <= set(body)
    assert body["status"] == status and body["reason"] == reason
    ingest_id = response.headers["X-Ingest-Id"]
    assert body["ingest_id"] == ingest_id
    failed = [
        e
        for e in api.events(type_="runtime.ingest.failed")
        if isinstance(e["attributes"], dict) and e["attributes"]["ingest_id"] == ingest_id
    ]
    assert len(failed) == 1
    assert failed[0]["attributes"]["reason"] == reason  # type: ignore[index]
    assert api.runtime_blobs() == []
    assert [r.status for r in rows(api, ingests) if r.ingest_id == ingest_id] == ["failed"]
    assert [r for r in rows(api, facts) if r.ingest_id == ingest_id] == []
    assert api.events(type_="reach.runtime.ingested") == []
    return body


def test_400_schema_errors_list_line_field_reason(api: Api) -> None:
    graph = api.post_graph()
    bad = ndjson(line(), line(count=0), b"[]", line(purl="nope"))
    body = assert_refused(api, api.post_trace(bad, graph), 400, "schema_invalid")
    assert body["errors"] == [
        {"line": 2, "field": "count", "reason": "out_of_range"},
        {"line": 3, "field": None, "reason": "not_an_object"},
        {"line": 4, "field": "purl", "reason": "invalid_purl"},
    ]


def test_400_truncated_gzip_is_decompression_failed(api: Api, trace_gz: bytes) -> None:
    assert_refused(
        api, api.post_trace(trace_gz[:-20], api.post_graph()), 400, "decompression_failed"
    )


def test_400_empty_body(api: Api) -> None:
    assert_refused(api, api.post_trace(b"", api.post_graph()), 400, "schema_invalid")


def test_413_too_large(tmp_path: Path, trace_gz: bytes) -> None:
    for api in make_api(tmp_path, Limits(max_compressed_bytes=1000)):
        assert_refused(api, api.post_trace(trace_gz, api.post_graph()), 413, "too_large")


def test_413_gzip_bomb(api: Api) -> None:
    bomb = gzip.compress(b"\n" * (20 * 1024 * 1024), compresslevel=9)
    assert_refused(api, api.post_trace(bomb, api.post_graph()), 413, "too_large")


def test_415_media_type(api: Api, trace_gz: bytes) -> None:
    response = api.post_trace(trace_gz, api.post_graph(), **{"Content-Type": "text/plain"})
    assert_refused(api, response, 415, "unsupported_media_type")


def test_422_content_digest_mismatch(api: Api, trace_gz: bytes) -> None:
    wrong = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    response = api.post_trace(
        trace_gz, api.post_graph(), **{"Content-Digest": f"sha-256=:{wrong}:"}
    )
    assert_refused(api, response, 422, "hash_mismatch")


def test_matching_content_digest_is_accepted(api: Api, trace_gz: bytes) -> None:
    right = base64.b64encode(hashlib.sha256(trace_gz).digest()).decode()
    digest = f"sha-512=:AAAA:, sha-256=:{right}:"
    assert (
        api.post_trace(trace_gz, api.post_graph(), **{"Content-Digest": digest}).status_code == 201
    )


def test_400_malformed_graph_hash(api: Api, trace_gz: bytes) -> None:
    body = assert_refused(api, api.post_trace(trace_gz, "blake3:xyz"), 400, "schema_invalid")
    assert "graph hash" in str(body["detail"])


@pytest.mark.parametrize(
    ("authorization", "status"),
    [(None, 401), ("Basic abc", 401), ("Bearer", 401), ("Bearer stl_unknown", 401)],
)
def test_401_without_a_valid_token(
    api: Api, trace_gz: bytes, authorization: str | None, status: int
) -> None:
    headers = {"X-Stella-Tenant": "acme", "Content-Type": "application/x-ndjson"}
    if authorization is not None:
        headers["Authorization"] = authorization
    response = api.client.post(
        f"/api/v1/runtime-facts?graph_hash={NO_GRAPH}", content=trace_gz, headers=headers
    )
    assert response.status_code == status
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "X-Ingest-Id" not in response.headers
    assert api.runtime_blobs() == []


def test_403_token_for_another_tenant_or_without_scope(api: Api, trace_gz: bytes) -> None:
    headers = api.headers("acme", tenant="globex", **{"Content-Type": "application/x-ndjson"})
    other = api.client.post(
        f"/api/v1/runtime-facts?graph_hash={NO_GRAPH}", content=trace_gz, headers=headers
    )
    assert other.status_code == 403
    reader = api.post_trace(trace_gz, NO_GRAPH, who="acme-reader")
    assert reader.status_code == 403
    assert api.runtime_blobs() == [] and api.runtime_blobs("globex") == []
    assert api.events("globex") == []


@pytest.mark.parametrize("tenant", ["ACME", "acme corp", "a" * 64, "../acme", ""])
def test_invalid_tenant_header_is_400(api: Api, trace_gz: bytes, tenant: str) -> None:
    headers = api.headers(tenant=tenant or " ", **{"Content-Type": "application/x-ndjson"})
    response = api.client.post(
        f"/api/v1/runtime-facts?graph_hash={NO_GRAPH}", content=trace_gz, headers=headers
    )
    assert response.status_code == 400
    assert response.json()["reason"] == "invalid_tenant"


def test_header_injection_is_refused(api: Api, trace_gz: bytes) -> None:
    headers = api.headers(tenant="acme\r\nX-Stella-Tenant: globex")
    response = api.client.post(
        f"/api/v1/runtime-facts?graph_hash={NO_GRAPH}", content=trace_gz, headers=headers
    )
    assert response.status_code == 400 and response.json()["reason"] == "invalid_tenant"
    assert api.events("globex") == [] and api.events("acme") == []


def test_two_clients_same_bytes_at_once_make_one_ingest(api: Api, trace_gz: bytes) -> None:
    graph = api.post_graph()
    results: list[int] = []

    def post() -> None:
        results.append(api.post_trace(trace_gz, graph).status_code)

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [200, 200, 200, 201]
    assert len(api.events(type_="reach.runtime.ingested")) == 1
    assert len(api.runtime_blobs()) == 1


def test_timeline_export_is_a_valid_chain(api: Api, trace_gz: bytes) -> None:
    graph = api.post_graph()
    api.post_trace(trace_gz, graph)
    api.post_trace(b"junk", graph)
    api.post_trace(trace_gz, NO_GRAPH)
    export = api.client.get("/api/v1/timeline/export", headers=api.headers())
    assert export.status_code == 200
    events = [parse_event(line_) for line_ in export.content.splitlines() if line_]
    assert [e.seq for e in events] == [1, 2, 3, 4]
    report = check_chain(events, tenant="acme")
    assert report.ok, report
    assert [e.to_dict() for e in events] == api.events()


def test_tenants_do_not_see_each_other(api: Api, trace_gz: bytes) -> None:
    graph = api.post_graph()
    ingest_id = api.post_trace(trace_gz, graph).headers["X-Ingest-Id"]
    as_globex = api.headers("globex")
    assert api.client.get(f"/api/v1/ingests/{ingest_id}", headers=as_globex).status_code == 404
    assert api.client.get(f"/api/v1/graphs/{graph}", headers=as_globex).status_code == 404
    assert api.client.get("/api/v1/ingests", headers=as_globex).json()["items"] == []
    assert api.events("globex") == []
    event_id = api.events()[0]["event_id"]
    assert (
        api.client.get(f"/api/v1/timeline/events/{event_id}", headers=as_globex).status_code == 404
    )
