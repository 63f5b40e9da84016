"""The probe manifest travels with its trace (SPEC §14): multipart part ``probe_manifest`` of
``POST /api/v1/runtime-facts``, checked against the trace, kept in the CAS at
``cas://reachability/probe-manifests/<sha256>`` and named by the receipt."""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
from pathlib import Path

from typer.testing import CliRunner

from stella_signals.cas import Namespace
from stella_signals.cli.stella import app as stella_app
from tests.api.conftest import Api
from tests.api.test_runtime_ingest import assert_refused
from tests.trace._lines import probe_manifest


def post_with_manifest(api: Api, graph: str, trace: bytes, manifest: bytes):  # type: ignore[no-untyped-def]
    files = {
        "runtime": ("runtime-trace.ndjson.gz", trace, "application/gzip"),
        "probe_manifest": ("probe-manifest.json", manifest, "application/json"),
    }
    return api.client.post(
        f"/api/v1/runtime-facts?graph_hash={graph}", files=files, headers=api.headers()
    )


def test_a_trace_with_its_probe_manifest_is_ingested_and_the_receipt_names_it(
    api: Api, trace_gz: bytes
) -> None:
    graph = api.post_graph()
    manifest = probe_manifest(trace_gz)
    response = post_with_manifest(api, graph, trace_gz, manifest)
    assert response.status_code == 201, response.text
    receipt = response.json()
    digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
    assert receipt["probe_manifest_digest"] == digest
    signed = json.loads(__import__("base64").b64decode(receipt["receipt_dsse"]["payload"]))
    assert signed["probe_manifest_digest"] == digest
    assert api.blobs(Namespace.PROBE_MANIFESTS) == [manifest]


def test_a_receipt_without_a_probe_manifest_does_not_name_one(api: Api, trace_gz: bytes) -> None:
    response = api.post_trace(trace_gz, api.post_graph())
    assert response.status_code == 201, response.text
    assert "probe_manifest_digest" not in response.json()


def test_a_duplicate_with_a_new_manifest_answers_the_original_receipt(
    api: Api, trace_gz: bytes
) -> None:
    graph = api.post_graph()
    assert api.post_trace(trace_gz, graph).status_code == 201
    again = post_with_manifest(api, graph, trace_gz, probe_manifest(trace_gz))
    assert again.status_code == 200, again.text
    assert again.json()["duplicate"] is True and "probe_manifest_digest" not in again.json()
    assert api.blobs(Namespace.PROBE_MANIFESTS) == []


def test_a_manifest_of_another_trace_is_a_recorded_hash_mismatch(api: Api, trace_gz: bytes) -> None:
    graph = api.post_graph()
    response = post_with_manifest(api, graph, trace_gz, probe_manifest(b"other bytes"))
    problem = assert_refused(api, response, 422, "hash_mismatch")
    assert "trace_sha256" in str(problem["detail"])
    assert api.blobs(Namespace.PROBE_MANIFESTS) == []


def test_a_malformed_manifest_is_a_recorded_refusal_naming_its_field(
    api: Api, trace_gz: bytes
) -> None:
    graph = api.post_graph()
    response = post_with_manifest(api, graph, trace_gz, probe_manifest(trace_gz, pid="seven"))
    problem = assert_refused(api, response, 400, "schema_invalid")
    assert [e["field"] for e in problem["errors"]] == ["probe_manifest/pid"]  # type: ignore[union-attr]
    assert "must be an integer" in str(problem["detail"])
    response = post_with_manifest(api, graph, trace_gz, b"not json")
    assert_refused(api, response, 400, "schema_invalid")


def test_a_probe_manifest_is_not_a_part_of_a_graph_upload(api: Api) -> None:
    from tests.api.conftest import SPEC, graph_bytes

    response = api.client.post(
        "/api/v1/graphs",
        files={"graph": ("g.json", graph_bytes(SPEC)), "probe_manifest": ("m.json", b"{}")},
        headers=api.headers(),
    )
    assert response.status_code == 400, response.text


def test_the_evidence_bundle_keeps_the_probe_manifest_and_verifies(
    api: Api, trace_gz: bytes, tmp_path: Path
) -> None:
    manifest = probe_manifest(trace_gz)
    response = post_with_manifest(api, api.post_graph(), trace_gz, manifest)
    assert response.status_code == 201, response.text
    ingest_id = response.headers["X-Ingest-Id"]
    exported = api.client.get(f"/api/v1/evidence/{ingest_id}/bundle", headers=api.headers())
    assert exported.status_code == 200
    with tarfile.open(fileobj=io.BytesIO(exported.content), mode="r:gz") as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
    assert files["probe-manifest.json"] == manifest
    listed = [f["path"] for f in json.loads(files["manifest.json"])["files"]]
    assert "probe-manifest.json" in listed
    bundle = tmp_path / "evidence.tar.gz"
    bundle.write_bytes(exported.content)
    key = api.client.get("/api/v1/keys/service", headers=api.headers()).json()["keys"][0]
    key_file = tmp_path / "service.pub.pem"
    key_file.write_text(key["public_key_pem"])
    verify = ["evidence", "verify", str(bundle), "--service-key", str(key_file)]
    ok = CliRunner().invoke(stella_app, verify)
    assert ok.exit_code == 0, ok.output
    assert re.search(r"^probe_manifest: +ok", ok.stdout, re.MULTILINE), ok.stdout
