"""`signals-offline ingest-runtime --dsse` on bytes the site already ingested unsigned attaches
the envelope through the same pipeline as the API (issue 14 item 3): a new signed receipt
version, a ``reach.runtime.dsse.attached`` event, and evidence that verifies offline."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from typer.testing import CliRunner

from stella_signals.cli.stella import app as stella_app
from stella_signals.digests import sha256_hex
from stella_signals.ingest import evidence_record
from stella_signals.locker import export_bundle
from stella_signals.tenancy import parse_tenant
from stella_signals.wiring import Services, load_settings
from tests.api.test_dsse_ingest import Signing
from tests.offline.test_bundle_files import TRACE, TRACE_NAME, event_types, trust
from tests.offline.test_offline_ingest import GRAPH, ingest_args, make_bundle, offline

runner = CliRunner()


def test_an_envelope_for_known_bytes_is_attached_offline(tmp_path: Path) -> None:
    signing, data_dir = Signing(), tmp_path / "data"
    trust(data_dir, signing, tmp_path)
    unsigned = make_bundle(tmp_path / "one", TRACE, extra={"graph.richgraph.json": GRAPH})
    first = offline(data_dir, *ingest_args(unsigned))
    assert first.exit_code == 0, first.output
    ingest_id = json.loads(first.stdout)["ingest_id"]
    assert json.loads(first.stdout)["dsse_digest"] is None
    envelope = signing.envelope(TRACE, name=TRACE_NAME)
    signed = make_bundle(
        tmp_path / "two",
        TRACE,
        extra={"runtime.dsse.json": envelope, "graph.richgraph.json": GRAPH},
    )
    args = [*ingest_args(signed), "--dsse", str(signed / "runtime.dsse.json")]

    attached = offline(data_dir, *args)

    assert attached.exit_code == 0, attached.output
    receipt = json.loads(attached.stdout)
    assert receipt["ingest_id"] == ingest_id and receipt["duplicate"] is True
    assert receipt["dsse_digest"] == "sha256:" + sha256_hex(envelope)
    assert receipt["version"] == 2 and receipt["supersedes"].startswith("sha256:")
    assert "DSSE attached" in attached.stderr
    assert event_types(data_dir)[-1] == "reach.runtime.dsse.attached"
    exported = json.loads(offline(data_dir, "export-receipt", ingest_id, "--tenant", "acme").stdout)
    assert exported["dsse_digest"] == receipt["dsse_digest"] and exported["version"] == 2

    again = offline(data_dir, *args)  # the same envelope again: nothing new
    assert again.exit_code == 0 and json.loads(again.stdout) == receipt
    assert event_types(data_dir).count("reach.runtime.dsse.attached") == 1

    # the site's Evidence Locker record holds the envelope and verifies offline
    services = Services.open(load_settings(data_dir=data_dir, environ={}))
    try:
        record = evidence_record(services.ingest_context("test"), parse_tenant("acme"), ingest_id)
    finally:
        services.close()
    assert record.runtime_dsse == envelope
    bundle = tmp_path / "evidence.tar.gz"
    bundle.write_bytes(export_bundle(record))
    (tmp_path / "attest.pub.pem").write_bytes(signing.public)
    verified = runner.invoke(
        stella_app,
        ["evidence", "verify", str(bundle), "--data-dir", str(data_dir),
         "--key", str(tmp_path / "attest.pub.pem")],
        env={"STELLA_SERVICE_KEY_FILE": None, "STELLA_DATABASE_URL": None},
    )  # fmt: skip
    assert verified.exit_code == 0, verified.output
    assert "receipt version 2" in verified.stdout


def test_an_envelope_of_other_bytes_is_refused_offline(tmp_path: Path) -> None:
    signing, data_dir = Signing(), tmp_path / "data"
    trust(data_dir, signing, tmp_path)
    unsigned = make_bundle(tmp_path / "one", TRACE, extra={"graph.richgraph.json": GRAPH})
    assert offline(data_dir, *ingest_args(unsigned)).exit_code == 0
    other_bytes = gzip.compress(gzip.decompress(TRACE) + b"\n", mtime=0)
    wrong = signing.envelope(other_bytes, name=TRACE_NAME)
    signed = make_bundle(
        tmp_path / "two", TRACE, extra={"runtime.dsse.json": wrong, "graph.richgraph.json": GRAPH}
    )
    refused = offline(data_dir, *ingest_args(signed))
    assert refused.exit_code == 3, refused.output
    assert "hash_mismatch" in refused.output
    assert event_types(data_dir)[-1] == "runtime.ingest.failed"
    assert "reach.runtime.dsse.attached" not in event_types(data_dir)
