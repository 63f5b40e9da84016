"""A DSSE envelope sent after an unsigned ingest of the same bytes is attached, not lost
(issue 14 item 3): stored, named by a new signed receipt version that supersedes the last,
announced by ``reach.runtime.dsse.attached`` and served by the Evidence Locker."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from stella_signals.attest import (
    RECEIPT_PAYLOAD_TYPE,
    load_public_key,
    parse_envelope,
    verify_envelope,
)
from stella_signals.cas import Namespace
from stella_signals.cli.stella import app as stella_app
from stella_signals.graph import canonical_graph, parse_graph
from stella_signals_dev.synth import graph_bytes
from tests.api.conftest import SPEC, Api
from tests.api.test_dsse_ingest import Signing, admin_api, post_multipart, trust

__all__ = ["admin_api"]  # the fixture, re-exported for pytest

runner = CliRunner()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def service_key(api: Api) -> bytes:
    keys = api.client.get("/api/v1/keys/service", headers=api.headers()).json()["keys"]
    pem: str = keys[0]["public_key_pem"]
    return pem.encode()


def signed_payload(api: Api, envelope: dict[str, Any]) -> dict[str, Any]:
    """The receipt an envelope (as answered) carries, after checking the service signed it."""
    parsed = parse_envelope(json.dumps(envelope).encode())
    verify_envelope(
        parsed, trusted=[load_public_key(service_key(api))], payload_type=RECEIPT_PAYLOAD_TYPE
    )
    payload: dict[str, Any] = json.loads(parsed.payload)
    return payload


def receipt_blob(api: Api, digest: str) -> bytes:
    """A receipt envelope from cas://evidence/receipts/<hex>, over the API."""
    response = api.client.get(
        f"/api/v1/cas/evidence/receipts/{digest.removeprefix('sha256:')}", headers=api.headers()
    )
    assert response.status_code == 200, response.text
    return response.content


def test_an_envelope_sent_after_an_unsigned_ingest_is_attached(
    admin_api: Api, trace_gz: bytes
) -> None:
    api, signing = admin_api, Signing()
    keyid = trust(api, signing.public)
    graph = api.post_graph()
    first = api.post_trace(trace_gz, graph)
    assert first.status_code == 201 and first.json()["dsse_digest"] is None
    ingest_id = first.headers["X-Ingest-Id"]
    dsse = signing.envelope(trace_gz)

    attached = post_multipart(api, trace_gz, dsse, graph)

    assert attached.status_code == 200, attached.text
    assert attached.headers["X-Ingest-Id"] == ingest_id
    body = attached.json()
    assert body["duplicate"] is True and body["ingest_id"] == ingest_id
    assert body["dsse_digest"] == sha256(dsse)
    assert body["timeline_event_id"] != first.json()["timeline_event_id"]
    assert body["version"] == 2
    # the new receipt is signed by the service, and names the one it supersedes ...
    receipt = signed_payload(api, body.pop("receipt_dsse"))
    assert receipt == body | {"duplicate": False}
    assert receipt["received_at"] == first.json()["received_at"]
    assert receipt["counts"] == first.json()["counts"]
    previous = receipt_blob(api, receipt["supersedes"])
    original = first.json()
    original.pop("receipt_dsse")
    assert json.loads(parse_envelope(previous).payload) == original
    # ... the envelope is stored, and the ingest answers with the newest receipt
    assert api.blobs(Namespace.ATTESTATIONS) == [dsse]
    now = api.client.get(f"/api/v1/ingests/{ingest_id}", headers=api.headers()).json()
    assert now["dsse_digest"] == sha256(dsse) and now["version"] == 2
    # one event says so, with the keys that signed and the receipt that says it
    events = api.events()
    assert [e["event_type"] for e in events].count("reach.runtime.ingested") == 1
    event = events[-1]
    assert event["event_type"] == "reach.runtime.dsse.attached"
    assert event["event_id"] == receipt["timeline_event_id"]
    attributes: dict[str, Any] = event["attributes"]  # type: ignore[assignment]
    assert attributes["ingest_id"] == ingest_id
    assert attributes["dsse_digest"] == sha256(dsse)
    assert attributes["keyids"] == [keyid]
    assert attributes["receipt_version"] == 2
    assert attributes["supersedes"] == receipt["supersedes"]
    current = receipt_blob(api, attributes["receipt_digest"])
    assert json.loads(parse_envelope(current).payload) == receipt


def test_the_locker_serves_the_attached_envelope_and_its_bundle_verifies(
    admin_api: Api, trace_gz: bytes, tmp_path: Path
) -> None:
    api, signing = admin_api, Signing()
    trust(api, signing.public)
    graph = api.post_graph()
    ingest_id = api.post_trace(trace_gz, graph).headers["X-Ingest-Id"]
    dsse = signing.envelope(trace_gz)
    assert post_multipart(api, trace_gz, dsse, graph).status_code == 200

    record = api.client.get(f"/api/v1/evidence/{ingest_id}", headers=api.headers()).json()
    assert record["receipt"]["dsse_digest"] == sha256(dsse)
    assert {"path": "runtime.dsse.json", "sha256": sha256(dsse)[7:], "size": len(dsse)} in (
        record["files"]
    )
    bundle = tmp_path / "evidence.tar.gz"
    bundle.write_bytes(
        api.client.get(f"/api/v1/evidence/{ingest_id}/bundle", headers=api.headers()).content
    )
    (tmp_path / "service.pub.pem").write_bytes(service_key(api))
    (tmp_path / "attest.pub.pem").write_bytes(signing.public)
    verified = runner.invoke(
        stella_app,
        ["evidence", "verify", str(bundle), "--json",
         "--service-key", str(tmp_path / "service.pub.pem"),
         "--key", str(tmp_path / "attest.pub.pem")],
    )  # fmt: skip
    assert verified.exit_code == 0, verified.output
    report = json.loads(verified.stdout)
    assert "runtime.dsse.json" in [f["path"] for f in report["files"]]
    assert report["receipt"]["version"] == 2


def test_the_same_envelope_again_changes_nothing(admin_api: Api, trace_gz: bytes) -> None:
    api, signing = admin_api, Signing()
    trust(api, signing.public)
    graph = api.post_graph()
    api.post_trace(trace_gz, graph)
    dsse = signing.envelope(trace_gz)
    attached = post_multipart(api, trace_gz, dsse, graph).json()
    events = api.events()

    again = post_multipart(api, trace_gz, dsse, graph)

    assert again.status_code == 200
    assert again.json() == attached
    assert api.events() == events
    assert api.blobs(Namespace.ATTESTATIONS) == [dsse]


def test_an_envelope_signed_with_the_first_upload_is_not_attached_again(
    admin_api: Api, trace_gz: bytes
) -> None:
    api, signing = admin_api, Signing()
    trust(api, signing.public)
    graph = api.post_graph()
    dsse = signing.envelope(trace_gz)
    first = post_multipart(api, trace_gz, dsse, graph)
    assert first.status_code == 201
    again = post_multipart(api, trace_gz, dsse, graph)
    assert again.status_code == 200
    assert again.json()["timeline_event_id"] == first.json()["timeline_event_id"]
    assert "version" not in again.json()
    assert [e["event_type"] for e in api.events()][-1] == "reach.runtime.ingested"


def test_another_valid_envelope_supersedes_the_attached_one(
    admin_api: Api, trace_gz: bytes
) -> None:
    api, one, two = admin_api, Signing(), Signing()
    trust(api, one.public)
    trust(api, two.public)
    graph = api.post_graph()
    first = post_multipart(api, trace_gz, one.envelope(trace_gz), graph).json()
    second = post_multipart(api, trace_gz, two.envelope(trace_gz), graph)
    assert second.status_code == 200
    body = second.json()
    assert body["dsse_digest"] == sha256(two.envelope(trace_gz))
    assert body["version"] == 2
    previous = json.loads(parse_envelope(receipt_blob(api, body["supersedes"])).payload)
    assert previous["dsse_digest"] == first["dsse_digest"]  # the first envelope stays named
    assert len(api.blobs(Namespace.ATTESTATIONS)) == 2


def test_an_envelope_of_other_bytes_is_refused_and_changes_nothing(
    admin_api: Api, trace_gz: bytes
) -> None:
    api, signing = admin_api, Signing()
    trust(api, signing.public)
    graph = api.post_graph()
    first = api.post_trace(trace_gz, graph)
    ingest_id = first.headers["X-Ingest-Id"]
    other = signing.envelope(gzip.compress(gzip.decompress(trace_gz) + b"\n", mtime=0))

    refused = post_multipart(api, trace_gz, other, graph)

    assert refused.status_code == 422 and refused.json()["reason"] == "hash_mismatch"
    assert refused.json()["ingest_id"] != ingest_id
    assert api.events()[-1]["event_type"] == "runtime.ingest.failed"
    now = api.client.get(f"/api/v1/ingests/{ingest_id}", headers=api.headers()).json()
    assert now["dsse_digest"] is None and "version" not in now
    assert api.blobs(Namespace.ATTESTATIONS) == []


def test_an_invalid_envelope_for_known_bytes_is_refused(admin_api: Api, trace_gz: bytes) -> None:
    api = admin_api
    trust(api, Signing().public)
    graph = api.post_graph()
    ingest_id = api.post_trace(trace_gz, graph).headers["X-Ingest-Id"]
    for envelope in (Signing().envelope(trace_gz), b'{"payload": "!!"}'):  # untrusted, malformed
        refused = post_multipart(api, trace_gz, envelope, graph)
        assert refused.status_code == 422 and refused.json()["reason"] == "dsse_invalid"
    now = api.client.get(f"/api/v1/ingests/{ingest_id}", headers=api.headers()).json()
    assert now["dsse_digest"] is None
    assert "reach.runtime.dsse.attached" not in [e["event_type"] for e in api.events()]


def test_an_envelope_attached_to_an_orphan_survives_its_retry(
    admin_api: Api, trace_gz: bytes
) -> None:
    api, signing = admin_api, Signing()
    trust(api, signing.public)
    graph_hash = str(canonical_graph(parse_graph(graph_bytes(SPEC))).hash)
    orphan = api.post_trace(trace_gz, graph_hash)
    assert orphan.status_code == 202
    ingest_id = orphan.headers["X-Ingest-Id"]
    dsse = signing.envelope(trace_gz)
    attached = post_multipart(api, trace_gz, dsse, graph_hash)
    assert attached.status_code == 200, attached.text
    assert attached.json()["status"] == "orphaned"
    assert attached.json()["dsse_digest"] == sha256(dsse)
    v2 = attached.json()["receipt_dsse"]

    assert api.post_graph() == graph_hash  # the orphan is ingested at once

    now = api.client.get(f"/api/v1/ingests/{ingest_id}", headers=api.headers()).json()
    assert now["status"] == "ingested"
    assert now["dsse_digest"] == sha256(dsse) and now["version"] == 3
    previous = parse_envelope(receipt_blob(api, now["supersedes"]))
    assert json.loads(previous.payload) == signed_payload(api, v2)
    evidence = api.client.get(f"/api/v1/evidence/{ingest_id}", headers=api.headers()).json()
    assert "runtime.dsse.json" in [f["path"] for f in evidence["files"]]
