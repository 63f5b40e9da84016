"""Evidence Locker records and CAS downloads (runbook §5 step 5, §6 artefact checklist):
deterministic bundles that verify offline, and nothing across tenants — even by exact id."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

from typer.testing import CliRunner

from stella_signals.cli.stella import app as stella_app
from tests.api.conftest import Api

runner = CliRunner()


def ingest(api: Api, trace_gz: bytes) -> str:
    response = api.post_trace(trace_gz, api.post_graph())
    assert response.status_code == 201
    ingest_id: str = response.headers["X-Ingest-Id"]
    return ingest_id


def test_bundle_is_deterministic_and_verifies_offline(
    api: Api, trace_gz: bytes, tmp_path: Path
) -> None:
    ingest_id = ingest(api, trace_gz)
    first = api.client.get(f"/api/v1/evidence/{ingest_id}/bundle", headers=api.headers())
    second = api.client.get(f"/api/v1/evidence/{ingest_id}/bundle", headers=api.headers())
    assert first.status_code == 200 and first.content == second.content
    assert first.headers["content-type"] == "application/gzip"
    bundle = tmp_path / "evidence.tar.gz"
    bundle.write_bytes(first.content)
    key = api.client.get("/api/v1/keys/service", headers=api.headers()).json()["keys"][0]
    key_file = tmp_path / "service.pub.pem"
    key_file.write_text(key["public_key_pem"])
    ok = runner.invoke(
        stella_app, ["evidence", "verify", str(bundle), "--service-key", str(key_file)]
    )
    assert ok.exit_code == 0, ok.output
    tar = bytearray(gzip.decompress(first.content))
    assert tar.find(trace_gz) > 0
    at = tar.find(trace_gz) + len(trace_gz) // 2  # a byte of the trace itself, not padding
    tar[at] ^= 0xFF
    bundle.write_bytes(gzip.compress(bytes(tar), mtime=0))
    bad = runner.invoke(
        stella_app, ["evidence", "verify", str(bundle), "--service-key", str(key_file)]
    )
    assert bad.exit_code == 3  # SPEC §10: hash mismatch
    record = api.client.get(f"/api/v1/evidence/{ingest_id}", headers=api.headers()).json()
    assert record["receipt"]["ingest_id"] == ingest_id
    assert record["files"][0]["sha256"] == hashlib.sha256(trace_gz).hexdigest()


def test_cas_download_is_verified_and_tenant_scoped(api: Api, trace_gz: bytes) -> None:
    ingest(api, trace_gz)
    sha = hashlib.sha256(trace_gz).hexdigest()
    path = f"/api/v1/cas/reachability/runtime/{sha}"
    own = api.client.get(path, headers=api.headers())
    assert own.status_code == 200 and own.content == trace_gz
    assert api.client.get(path, headers=api.headers("globex")).status_code == 404
    assert (
        api.client.get(f"/api/v1/cas/reachability/nope/{sha}", headers=api.headers()).status_code
        == 400
    )
    assert (
        api.client.get("/api/v1/cas/reachability/runtime/xyz", headers=api.headers()).status_code
        == 400
    )


def test_no_read_route_leaks_across_tenants(api: Api, trace_gz: bytes) -> None:
    ingest_id = ingest(api, trace_gz)
    graph = api.post_graph()
    event_id = api.events()[0]["event_id"]
    sha = hashlib.sha256(trace_gz).hexdigest()
    as_globex = api.headers("globex")
    for path in (
        f"/api/v1/ingests/{ingest_id}",
        f"/api/v1/evidence/{ingest_id}",
        f"/api/v1/evidence/{ingest_id}/bundle",
        f"/api/v1/graphs/{graph}",
        f"/api/v1/timeline/events/{event_id}",
        f"/api/v1/cas/reachability/runtime/{sha}",
        f"/api/v1/cas/reachability/graphs/{graph.split(':')[1]}",
    ):
        response = api.client.get(path, headers=as_globex)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("application/problem+json")
    assert api.client.get("/api/v1/ingests", headers=as_globex).json()["items"] == []
    assert api.client.get("/api/v1/timeline/export", headers=as_globex).content == b""


def test_refused_ingests_have_no_evidence(api: Api) -> None:
    response = api.post_trace(b"junk", api.post_graph())
    ingest_id = response.headers["X-Ingest-Id"]
    assert api.client.get(f"/api/v1/evidence/{ingest_id}", headers=api.headers()).status_code == 404
