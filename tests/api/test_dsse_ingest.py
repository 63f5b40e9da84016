"""The runbook's imposed rule: runtime traces never bypass CAS/DSSE verification.

Multipart uploads (`runtime` + `dsse`) are verified against the keys the tenant trusts; the
envelope lands at cas://reachability/attestations/<sha256> and the receipt names it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from stella_signals.attest import (
    generate_private_key_pem,
    load_signer,
    public_key_pem,
    runtime_trace_statement,
    sign_runtime_trace,
)
from stella_signals.cas import Namespace
from stella_signals.trace import parse_trace
from tests.api.conftest import Api, make_api
from tests.realservers.backends import Backend

NO_GRAPH = "blake3:" + "0" * 64


class Signing:
    def __init__(self) -> None:
        self.private = generate_private_key_pem("ed25519")
        self.signer = load_signer(self.private)
        self.public = public_key_pem(self.private)

    def envelope(self, trace: bytes, *, tenant: str = "acme", name: str = "t.ndjson.gz") -> bytes:
        report = parse_trace([trace], name=name)
        statement = runtime_trace_statement(
            file_name=name, report=report, tenant=tenant, graph_hash=None
        )
        return sign_runtime_trace(statement=statement, signers=[self.signer]).to_json()


@pytest.fixture
def admin_api(tmp_path: Path, backend: Backend):  # type: ignore[no-untyped-def]
    for api in make_api(tmp_path, backend=backend):
        from stella_signals.auth import new_token, token_hash

        token = new_token()
        api.services.repo.add_token(
            token_hash=token_hash(token),
            tenants=frozenset({"acme"}),
            scopes=frozenset({"signals:admin"}),
            at=api.services.clock.now(),
        )
        api.tokens["acme-admin"] = token
        yield api


def trust(api: Api, pem: bytes) -> str:
    response = api.client.post(
        "/api/v1/keys", content=pem, headers=api.headers("acme-admin", tenant="acme")
    )
    assert response.status_code in (200, 201), response.text
    keyid: str = response.json()["keyid"]
    return keyid


def post_multipart(api: Api, trace: bytes, dsse: bytes | None, graph: str = NO_GRAPH):  # type: ignore[no-untyped-def]
    files = {"runtime": ("runtime-trace.ndjson.gz", trace, "application/gzip")}
    if dsse is not None:
        files["dsse"] = ("runtime.dsse.json", dsse, "application/json")
    return api.client.post(
        f"/api/v1/runtime-facts?graph_hash={graph}", files=files, headers=api.headers()
    )


def test_signed_trace_is_accepted_and_its_envelope_kept(admin_api: Api, trace_gz: bytes) -> None:
    signing = Signing()
    trust(admin_api, signing.public)
    dsse = signing.envelope(trace_gz)
    graph = admin_api.post_graph()
    response = post_multipart(admin_api, trace_gz, dsse, graph)
    assert response.status_code == 201, response.text
    digest = hashlib.sha256(dsse).hexdigest()
    receipt = response.json()
    assert receipt["dsse_digest"] == f"sha256:{digest}"
    assert response.headers["Content-SHA256"] == hashlib.sha256(trace_gz).hexdigest()
    assert admin_api.blobs(Namespace.ATTESTATIONS) == [dsse]
    event = admin_api.events(type_="reach.runtime.ingested")[-1]
    assert event["attributes"]["dsse_digest"] == f"sha256:{digest}"  # type: ignore[index]


def test_untrusted_key_is_dsse_invalid(admin_api: Api, trace_gz: bytes) -> None:
    trust(admin_api, Signing().public)
    response = post_multipart(admin_api, trace_gz, Signing().envelope(trace_gz))
    assert response.status_code == 422
    assert response.json()["reason"] == "dsse_invalid"
    assert admin_api.runtime_blobs() == []


def test_subject_of_other_bytes_is_hash_mismatch(admin_api: Api, trace_gz: bytes) -> None:
    signing = Signing()
    trust(admin_api, signing.public)
    other = trace_gz[:-8] + b"\0" * 8
    envelope = signing.envelope(trace_gz)
    response = post_multipart(admin_api, other, envelope)
    assert response.status_code == 422
    assert response.json()["reason"] == "hash_mismatch"


def test_statement_for_another_tenant_is_refused(admin_api: Api, trace_gz: bytes) -> None:
    signing = Signing()
    trust(admin_api, signing.public)
    response = post_multipart(admin_api, trace_gz, signing.envelope(trace_gz, tenant="globex"))
    assert response.status_code == 422 and response.json()["reason"] == "dsse_invalid"


def test_malformed_envelope_is_dsse_invalid(admin_api: Api, trace_gz: bytes) -> None:
    response = post_multipart(admin_api, trace_gz, b'{"payload": "!!"}')
    assert response.status_code == 422 and response.json()["reason"] == "dsse_invalid"


def test_required_dsse_policy(admin_api: Api, trace_gz: bytes) -> None:
    admin = admin_api.headers("acme-admin", tenant="acme")
    put = admin_api.client.put(
        "/api/v1/policy", content=json.dumps({"require_dsse": True}), headers=admin
    )
    assert put.status_code == 200
    plain = admin_api.post_trace(trace_gz, NO_GRAPH)
    assert plain.status_code == 422 and plain.json()["reason"] == "dsse_required"
    no_part = post_multipart(admin_api, trace_gz, None)
    assert no_part.status_code == 422 and no_part.json()["reason"] == "dsse_required"
    signing = Signing()
    trust(admin_api, signing.public)
    assert post_multipart(admin_api, trace_gz, signing.envelope(trace_gz)).status_code == 202


def test_threshold_two_needs_two_trusted_keys(admin_api: Api, trace_gz: bytes) -> None:
    one, two = Signing(), Signing()
    trust(admin_api, one.public)
    trust(admin_api, two.public)
    admin = admin_api.headers("acme-admin", tenant="acme")
    admin_api.client.put(
        "/api/v1/policy",
        content=json.dumps({"require_dsse": True, "dsse_threshold": 2}),
        headers=admin,
    )
    assert post_multipart(admin_api, trace_gz, one.envelope(trace_gz)).status_code == 422


def test_revoked_key_stops_counting_at_once(admin_api: Api, trace_gz: bytes) -> None:
    signing = Signing()
    keyid = trust(admin_api, signing.public)
    admin = admin_api.headers("acme-admin", tenant="acme")
    assert admin_api.client.delete(f"/api/v1/keys/{keyid}", headers=admin).status_code == 204
    response = post_multipart(admin_api, trace_gz, signing.envelope(trace_gz))
    assert response.status_code == 422


def test_admin_routes_need_the_admin_scope(admin_api: Api) -> None:
    assert admin_api.client.get("/api/v1/keys", headers=admin_api.headers()).status_code == 403
    assert admin_api.client.get("/api/v1/policy", headers=admin_api.headers()).status_code == 403
    admin = admin_api.headers("acme-admin", tenant="acme")
    assert admin_api.client.get("/api/v1/keys", headers=admin).json()["items"] == []
