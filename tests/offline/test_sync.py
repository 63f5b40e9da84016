"""Sync on reconnect (runbook §3 step 5): the offline site's events and evidence reach the
online tenant once, whatever number of times sync runs, and an interrupted sync resumes.

One `signals serve` per deployment serves the module (`shared_server`, tenant ``acme``):
each test syncs a site of its own, whose service key is made with the site, so the key one
test trusts vouches for no other test's site, and a refused sync imports nothing.

`signals-offline sync`, `export-receipt`, `stella timeline verify` and `stella evidence
verify` run as the console scripts an operator runs. The site's set-up (import a graph,
ingest bundles, export and trust its service key) runs the same commands in this process
(`set_up`: about 1 s of CPU less per command than an interpreter start-up); their console
scripts are tested in tests/offline/test_offline_ingest.py and tests/cli."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import tarfile
from pathlib import Path

import httpx
import pytest

from stella_signals.attest import load_public_key
from stella_signals.cli.offline import app as offline_app
from stella_signals.cli.signals import app as signals_app
from stella_signals.ingest import evidence_with_receipt
from stella_signals.locker import check_bundle, export_bundle
from stella_signals.tenancy import TenantId
from stella_signals.wiring import Services, load_settings
from stella_signals_dev.synth import SynthSpec, trace_bytes
from tests.api.test_server_process import (  # noqa: F401 - shared_server: the fixture
    BIN,
    Server,
    set_up,
    shared_server,
)
from tests.offline.test_offline_ingest import GRAPH, GRAPH_HASH, ingest_args, make_bundle
from tests.trace._lines import probe_manifest

#: Real `signals serve` processes and console scripts (docs/testing.md).
pytestmark = pytest.mark.e2e


def offline(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "signals-offline"), *args], capture_output=True, text=True)


def test_sync_pushes_once_and_resumes(shared_server: Server, tmp_path: Path) -> None:  # noqa: F811
    server = shared_server
    site = tmp_path / "site"
    data = ["--data-dir", str(site)]
    (tmp_path / "g.json").write_bytes(GRAPH)
    set_up(offline_app, "import-graph", str(tmp_path / "g.json"), "--tenant", "acme", *data)
    ids = []
    for seed in (1, 2, 3):
        trace = gzip.compress(trace_bytes(SynthSpec(300, seed=seed, symbols=50, purls=5)))
        # the first carries its probe manifest (SPEC §14): it must reach the online locker too
        extra = {"probe-manifest.json": probe_manifest(trace)} if seed == 1 else None
        bundle = make_bundle(tmp_path / f"b{seed}", trace, extra=extra)
        done = set_up(offline_app, *ingest_args(bundle), *data)
        ids.append(json.loads(done.stdout)["ingest_id"])
    # the online tenant trusts the site's service key for sync, exported by the site
    key = tmp_path / "site.pub.pem"
    set_up(signals_app, "keys", "export-service", "--data-dir", str(site), "--out", str(key))
    trust = ["keys", "add", str(key), "--tenant", "acme", "--purpose", "sync"]
    # (module_backend has put the backend's AWS_* variables in this process's environment)
    added = set_up(signals_app, *trust, "--data-dir", str(server.data_dir), *server.backend.flags())
    site_keyid = added.stdout.strip()
    common = [
        "--tenant",
        "acme",
        "--server",
        server.url,
        "--token-file",
        str(server.token_file),
        *data,
    ]
    first = offline("sync", *common, "--batch-size", "2", "--max-batches", "2")  # interrupted
    assert first.returncode == 0, first.stderr
    rest = offline("sync", *common, "--batch-size", "2")
    assert rest.returncode == 0, rest.stderr
    again = offline("sync", *common)
    assert again.returncode == 0

    events = httpx.get(
        f"{server.url}/api/v1/timeline/export", headers=server.headers()
    ).text.splitlines()
    imported = [json.loads(line) for line in events]
    site_events = 1 + 3 * 1  # graph + three ingests
    assert len(imported) == site_events
    assert [e["attributes"]["origin"]["seq"] for e in imported] == list(range(1, site_events + 1))
    assert all(e["source"] == "signals-offline" for e in imported)
    verify = subprocess.run([str(BIN / "stella"), "timeline", "verify", "--server", server.url,
                             "--tenant", "acme", "--token-file", str(server.token_file)],
                            capture_output=True, text=True)  # fmt: skip
    assert verify.returncode == 0, verify.stdout
    vouched = [line for line in verify.stdout.splitlines() if "imported from site event" in line]
    assert len(vouched) == site_events
    assert all(line.endswith(f"vouched for by site key {site_keyid}") for line in vouched)
    # The site's evidence of each ingest: its receipt and the bundle the site would export.
    site_services = Services.open(load_settings(data_dir=site, environ={}))
    try:
        ctx = site_services.ingest_context("test")
        site_evidence = {i: evidence_with_receipt(ctx, TenantId("acme"), i) for i in ids}
    finally:
        site_services.close()
    site_bundles = {i: export_bundle(record) for i, (record, _) in site_evidence.items()}
    # evidence: every offline ingest's trace is now in the online CAS
    for _, receipt in site_evidence.values():
        sha = receipt["content_sha256"]
        blob = httpx.get(
            f"{server.url}/api/v1/cas/reachability/runtime/{sha}", headers=server.headers()
        )
        assert blob.status_code == 200
        assert hashlib.sha256(blob.content).hexdigest() == sha
    # the site's own command exports the same receipt (one ingest: tests/offline covers it)
    exported = offline("export-receipt", ids[0], "--tenant", "acme", *data)
    assert exported.returncode == 0, exported.stderr
    assert (
        json.loads(exported.stdout)["content_sha256"] == site_evidence[ids[0]][1]["content_sha256"]
    )
    # ... and the Evidence Locker online serves each offline ingest's record and bundle: the
    # very bytes the site would export, still verifiable with the site's key
    with tarfile.open(fileobj=io.BytesIO(site_bundles[ids[0]]), mode="r:gz") as tar:
        assert "probe-manifest.json" in tar.getnames()
    site_key = load_public_key(key.read_bytes())
    for ingest_id in ids:
        record = httpx.get(f"{server.url}/api/v1/evidence/{ingest_id}", headers=server.headers())
        assert record.status_code == 200, record.text
        assert record.json()["receipt"]["ingest_id"] == ingest_id
        ingest = httpx.get(f"{server.url}/api/v1/ingests/{ingest_id}", headers=server.headers())
        assert ingest.status_code == 200 and ingest.json() == record.json()["receipt"]
        online = httpx.get(
            f"{server.url}/api/v1/evidence/{ingest_id}/bundle", headers=server.headers()
        )
        assert online.status_code == 200
        assert online.content == site_bundles[ingest_id]
        # `stella evidence verify` runs `check_bundle`: the console script checks the first
        # bundle (the one with a probe manifest), the function itself the others
        report = check_bundle(online.content, service_keys=[site_key])
        assert report.ok, report.to_dict()
    (tmp_path / "online.tar.gz").write_bytes(site_bundles[ids[0]])
    verified = subprocess.run(
        [str(BIN / "stella"), "evidence", "verify", str(tmp_path / "online.tar.gz"),
         "--service-key", str(key)], capture_output=True, text=True,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_unknown_site_key_is_refused(shared_server: Server, tmp_path: Path) -> None:  # noqa: F811
    server = shared_server
    site = tmp_path / "site"
    data = ["--data-dir", str(site)]
    (tmp_path / "g.json").write_bytes(GRAPH)
    set_up(offline_app, "import-graph", str(tmp_path / "g.json"), "--tenant", "acme", *data)
    trace = gzip.compress(trace_bytes(SynthSpec(100, seed=9, symbols=20, purls=3)))
    set_up(offline_app, *ingest_args(make_bundle(tmp_path / "b", trace)), *data)
    common = [
        "--tenant",
        "acme",
        "--server",
        server.url,
        "--token-file",
        str(server.token_file),
        *data,
    ]
    result = offline("sync", *common)
    assert result.returncode != 0, result.stderr
    assert "signals keys add --purpose sync" in " ".join(result.stderr.split())
    assert GRAPH_HASH.startswith("blake3:")
