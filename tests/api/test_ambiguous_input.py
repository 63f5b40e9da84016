"""Ambiguous or incomplete requests to POST /api/v1/runtime-facts are refused, never guessed:
a repeated tenant header, query parameter or multipart part, a multipart body without a
boundary, a missing graph_hash. Each is a 400 problem naming the field, with an ingest id and
a runtime.ingest.failed event, as for every other refusal (issue 14 item 10)."""

from __future__ import annotations

import base64
import hashlib

import pytest

from tests.api.conftest import Api
from tests.api.test_runtime_ingest import NO_GRAPH, assert_refused

NDJSON = {"Content-Type": "application/x-ndjson"}


def field_of(body: dict[str, object]) -> list[object]:
    errors = body["errors"]
    assert isinstance(errors, list)
    return [error["field"] for error in errors]


def test_two_tenant_headers_naming_two_tenants_are_refused_and_recorded_nowhere(
    api: Api, trace_gz: bytes
) -> None:
    token = api.headers()["Authorization"]
    for order in (["acme", "globex"], ["globex", "acme"]):
        headers = [("Authorization", token), *(("X-Stella-Tenant", t) for t in order)]
        response = api.client.post(
            f"/api/v1/runtime-facts?graph_hash={NO_GRAPH}",
            content=trace_gz,
            headers=[*headers, ("Content-Type", "application/x-ndjson")],
        )
        assert response.status_code == 400, response.text
        body = response.json()
        assert body["reason"] == "ambiguous_input"
        assert field_of(body) == ["X-Stella-Tenant"]
        # No tenant can be trusted: no ingest id, nothing recorded under either tenant.
        assert "X-Ingest-Id" not in response.headers and "ingest_id" not in body
    assert api.events("acme") == [] and api.events("globex") == []
    assert api.runtime_blobs() == [] and api.runtime_blobs("globex") == []


def test_a_repeated_tenant_header_is_refused_before_the_token_can_pick_one(
    api: Api, trace_gz: bytes
) -> None:
    """The first header names a tenant the token allows, the second one it does not: the
    token does not settle which was meant."""
    headers = [
        ("Authorization", api.headers()["Authorization"]),
        ("X-Stella-Tenant", "acme"),
        ("X-Stella-Tenant", "initech"),
        ("Content-Type", "application/x-ndjson"),
    ]
    response = api.client.post(
        f"/api/v1/runtime-facts?graph_hash={NO_GRAPH}", content=trace_gz, headers=headers
    )
    assert response.status_code == 400 and response.json()["reason"] == "ambiguous_input"
    assert api.events("acme") == []


def test_the_same_tenant_twice_is_refused_and_recorded_under_it(api: Api, trace_gz: bytes) -> None:
    headers = [
        ("Authorization", api.headers()["Authorization"]),
        ("X-Stella-Tenant", "acme"),
        ("X-Stella-Tenant", "acme"),
        ("Content-Type", "application/x-ndjson"),
    ]
    response = api.client.post(
        f"/api/v1/runtime-facts?graph_hash={NO_GRAPH}", content=trace_gz, headers=headers
    )
    body = assert_refused(api, response, 400, "ambiguous_input")
    assert field_of(body) == ["X-Stella-Tenant"]


def test_a_repeated_tenant_header_is_refused_on_every_route(api: Api) -> None:
    headers = [
        ("Authorization", api.headers()["Authorization"]),
        ("X-Stella-Tenant", "acme"),
        ("X-Stella-Tenant", "acme"),
    ]
    response = api.client.get("/api/v1/timeline/events", headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["reason"] == "ambiguous_input"
    assert field_of(response.json()) == ["X-Stella-Tenant"]


def test_a_repeated_tenant_header_still_needs_a_valid_token(api: Api, trace_gz: bytes) -> None:
    headers = [("X-Stella-Tenant", "acme"), ("X-Stella-Tenant", "globex")]
    response = api.client.post(
        f"/api/v1/runtime-facts?graph_hash={NO_GRAPH}", content=trace_gz, headers=headers
    )
    assert response.status_code == 401


@pytest.mark.parametrize("second", ["other", "same"])
def test_a_repeated_graph_hash_is_refused(api: Api, trace_gz: bytes, second: str) -> None:
    graph = api.post_graph()
    other = graph if second == "same" else NO_GRAPH
    response = api.client.post(
        f"/api/v1/runtime-facts?graph_hash={NO_GRAPH}&graph_hash={other}",
        content=trace_gz,
        headers=api.headers(**NDJSON),
    )
    body = assert_refused(api, response, 400, "ambiguous_input")
    assert field_of(body) == ["graph_hash"]
    assert api.services.repo.orphan_queue_depth() == 0


def test_a_missing_graph_hash_is_a_recorded_refusal(api: Api, trace_gz: bytes) -> None:
    response = api.client.post(
        "/api/v1/runtime-facts", content=trace_gz, headers=api.headers(**NDJSON)
    )
    body = assert_refused(api, response, 400, "schema_invalid")
    assert field_of(body) == ["graph_hash"]


def multipart(parts: list[tuple[str, bytes]], boundary: str = "b0undary") -> bytes:
    out = b""
    for name, data in parts:
        out += (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{name}"'
                "\r\nContent-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + data
            + b"\r\n"
        )
    return out + f"--{boundary}--\r\n".encode()


@pytest.mark.parametrize(
    ("parts", "field"),
    [
        ([("runtime", b"A"), ("runtime", b"B")], "runtime"),
        ([("runtime", b"A"), ("dsse", b"{}"), ("dsse", b"{}")], "dsse"),
        ([("runtime", b"A"), ("runtime", b"B"), ("dsse", b"{}")], "runtime"),
        (
            [("runtime", b"A"), ("probe_manifest", b"{}"), ("probe_manifest", b"{}")],
            "probe_manifest",
        ),
    ],
    ids=["two-runtime", "two-dsse", "two-runtime-and-dsse", "two-probe-manifests"],
)
def test_a_repeated_multipart_part_is_refused(
    api: Api, trace_gz: bytes, parts: list[tuple[str, bytes]], field: str
) -> None:
    graph = api.post_graph()
    body = multipart(
        [(name, trace_gz + data if name == "runtime" else data) for name, data in parts]
    )
    response = api.client.post(
        f"/api/v1/runtime-facts?graph_hash={graph}",
        content=body,
        headers=api.headers(**{"Content-Type": "multipart/form-data; boundary=b0undary"}),
    )
    problem = assert_refused(api, response, 400, "ambiguous_input")
    assert field_of(problem) == [field]


def test_a_multipart_body_without_a_boundary_is_a_recorded_refusal(
    api: Api, trace_gz: bytes
) -> None:
    response = api.client.post(
        f"/api/v1/runtime-facts?graph_hash={api.post_graph()}",
        content=multipart([("runtime", trace_gz)]),
        headers=api.headers(**{"Content-Type": "multipart/form-data"}),
    )
    problem = assert_refused(api, response, 400, "schema_invalid")
    assert field_of(problem) == ["Content-Type"]


def test_a_malformed_multipart_body_is_a_recorded_refusal(api: Api) -> None:
    response = api.client.post(
        f"/api/v1/runtime-facts?graph_hash={api.post_graph()}",
        content=b"--b0undary\r\nno headers and no end",
        headers=api.headers(**{"Content-Type": "multipart/form-data; boundary=b0undary"}),
    )
    assert_refused(api, response, 400, "schema_invalid")


def test_a_multipart_upload_without_its_runtime_part_names_it(api: Api) -> None:
    response = api.client.post(
        f"/api/v1/runtime-facts?graph_hash={api.post_graph()}",
        content=multipart([("dsse", b"{}")]),
        headers=api.headers(**{"Content-Type": "multipart/form-data; boundary=b0undary"}),
    )
    problem = assert_refused(api, response, 400, "schema_invalid")
    assert field_of(problem) == ["runtime"]


def digest_of(data: bytes) -> str:
    return "sha-256=:" + base64.b64encode(hashlib.sha256(data).digest()).decode() + ":"


@pytest.mark.parametrize(
    ("field", "values"),
    [
        ("Content-Type", ["application/x-ndjson", "application/gzip"]),
        ("Content-Digest", ["TRACE", "OTHER"]),
        ("Content-Digest", ["TRACE, OTHER"]),
        ("Content-Digest", ["TRACE", "TRACE"]),
    ],
    ids=["two-content-types", "two-digest-headers", "two-digests-in-one", "same-digest-twice"],
)
def test_a_repeated_content_header_is_refused(
    api: Api, trace_gz: bytes, field: str, values: list[str]
) -> None:
    graph = api.post_graph()
    named = {"TRACE": digest_of(trace_gz), "OTHER": digest_of(b"other")}
    headers = [(k, v) for k, v in api.headers().items()]
    if field != "Content-Type":
        headers.append(("Content-Type", "application/x-ndjson"))
    for value in values:
        for name, digest in named.items():
            value = value.replace(name, digest)
        headers.append((field, value))
    response = api.client.post(
        f"/api/v1/runtime-facts?graph_hash={graph}", content=trace_gz, headers=headers
    )
    problem = assert_refused(api, response, 400, "ambiguous_input")
    assert field_of(problem) == [field]


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/ingests?graph_hash={NO_GRAPH}&graph_hash={NO_GRAPH}",
        "/api/v1/ingests?status=ingested&status=orphaned",
        "/api/v1/timeline/events?type=a&type=b",
        "/api/v1/ingests?page_size=5&page_size=500",
    ],
    ids=["graph_hash", "status", "type", "page_size"],
)
def test_every_route_refuses_a_repeated_query_parameter(api: Api, path: str) -> None:
    """Not only the runtime route: a list query with a parameter given twice is not answered
    for the first or the last value."""
    response = api.client.get(path, headers=api.headers())
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["reason"] == "ambiguous_input"
    assert field_of(body) == [path.split("?")[1].split("=")[0]]
