"""A runtime bundle's optional files (SPEC §10): `runtime.dsse.json` and
`graph.richgraph.json`, listed in its manifest, are used by `signals-offline ingest-runtime`
without naming them again, and checked by `verify-bundle --tenant`."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stella_signals.cli.signals import app as signals_app
from stella_signals.tenancy import parse_tenant
from stella_signals.wiring import Services, load_settings
from stella_signals_dev.synth import SynthSpec, graph_bytes, trace_bytes
from tests.api.test_dsse_ingest import Signing
from tests.offline.test_offline_ingest import GRAPH, GRAPH_HASH, ingest_args, make_bundle, offline

runner = CliRunner()
TRACE = gzip.compress(trace_bytes(SynthSpec(1500, seed=31, symbols=200, purls=20)), mtime=0)
TRACE_NAME = "runtime-trace.ndjson.gz"


def trust(data_dir: Path, signing: Signing, tmp_path: Path) -> None:
    pem = tmp_path / "trusted.pub.pem"
    pem.write_bytes(signing.public)
    added = runner.invoke(
        signals_app, ["keys", "add", "--tenant", "acme", str(pem), "--data-dir", str(data_dir)]
    )
    assert added.exit_code == 0, added.output


def event_types(data_dir: Path) -> list[str]:
    services = Services.open(load_settings(data_dir=data_dir, environ={}))
    try:
        return [e.event_type for e in services.repo.iter_events(parse_tenant("acme"))]
    finally:
        services.close()


def test_the_bundles_graph_is_imported_so_the_trace_maps(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    bundle = make_bundle(tmp_path, TRACE, extra={"graph.richgraph.json": GRAPH})
    result = offline(data_dir, *ingest_args(bundle))
    assert result.exit_code == 0, result.output  # not 7: the graph came with the trace
    receipt = json.loads(result.stdout)
    assert receipt["status"] == "ingested" and receipt["graph_hash"] == GRAPH_HASH
    assert receipt["counts"]["mapped_symbols"] > 0
    assert event_types(data_dir) == ["reach.graph.ingested", "reach.runtime.ingested"]
    again = offline(data_dir, *ingest_args(bundle))  # the graph is there: not imported twice
    assert again.exit_code == 0 and json.loads(again.stdout)["duplicate"] is True
    assert event_types(data_dir).count("reach.graph.ingested") == 1


def test_a_bundled_graph_is_checked_against_the_manifest_even_when_known(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    bundle = make_bundle(tmp_path, TRACE, extra={"graph.richgraph.json": GRAPH})
    assert offline(data_dir, *ingest_args(bundle)).exit_code == 0
    (bundle / "graph.richgraph.json").write_bytes(GRAPH.replace(b"richgraph-v1", b"richgraph-v2"))
    again = offline(data_dir, *ingest_args(bundle))
    assert again.exit_code == 3, again.output  # the tenant has the graph; the file still lies
    assert event_types(data_dir)[-1] == "runtime.ingest.failed"


def test_a_bundled_graph_that_is_not_the_named_graph_imports_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    other = graph_bytes(SynthSpec(100, seed=5, symbols=20, purls=4))
    bundle = make_bundle(tmp_path, TRACE, extra={"graph.richgraph.json": other})
    result = offline(data_dir, *ingest_args(bundle))
    assert result.exit_code == 3, result.output
    assert "hash_mismatch" in result.output
    assert event_types(data_dir) == ["runtime.ingest.failed"]


def test_the_bundles_envelope_is_verified_without_naming_it(tmp_path: Path) -> None:
    signing, data_dir = Signing(), tmp_path / "data"
    trust(data_dir, signing, tmp_path)
    envelope = signing.envelope(TRACE, name=TRACE_NAME)
    bundle = make_bundle(
        tmp_path, TRACE, extra={"runtime.dsse.json": envelope, "graph.richgraph.json": GRAPH}
    )
    result = offline(data_dir, *ingest_args(bundle))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["dsse_digest"].startswith("sha256:")


def test_a_bundled_envelope_by_an_untrusted_key_is_refused(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    envelope = Signing().envelope(TRACE, name=TRACE_NAME)  # nobody trusts this key
    bundle = make_bundle(
        tmp_path, TRACE, extra={"runtime.dsse.json": envelope, "graph.richgraph.json": GRAPH}
    )
    result = offline(data_dir, *ingest_args(bundle))
    assert result.exit_code == 4, result.output


def test_an_explicit_dsse_that_does_not_exist_is_a_usage_error(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path, TRACE)
    args = [*ingest_args(bundle), "--dsse", str(tmp_path / "absent.json")]
    assert offline(tmp_path / "data", *args).exit_code == 2


@pytest.mark.parametrize(
    ("who", "trusted", "code"),
    [("acme", True, 0), ("acme", False, 4), ("globex", True, 2)],
    ids=["trusted", "untrusted", "other-tenant"],
)
def test_verify_bundle_with_a_tenant_checks_its_envelope(
    tmp_path: Path, who: str, trusted: bool, code: int
) -> None:
    signing, data_dir = Signing(), tmp_path / "data"
    if trusted:
        trust(data_dir, signing, tmp_path)
    bundle = make_bundle(
        tmp_path, TRACE, extra={"runtime.dsse.json": signing.envelope(TRACE, name=TRACE_NAME)}
    )
    result = offline(data_dir, "verify-bundle", str(bundle), "--tenant", who, "--json")
    assert result.exit_code == code, result.output
    plain = offline(data_dir, "verify-bundle", str(bundle))  # hashes only, as before
    assert plain.exit_code == 0, plain.output
