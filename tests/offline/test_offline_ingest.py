"""The air-gap workflow (runbook §3) with `signals-offline`: a bundle checked against its
manifest, ingested through the same pipeline as the API, and the same evidence as online."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from stella_signals.cli.offline import app
from stella_signals.graph import canonical_graph, parse_graph
from stella_signals.tenancy import parse_tenant
from stella_signals.wiring import Services, load_settings
from stella_signals_dev.synth import SynthSpec, graph_bytes, trace_bytes
from tests.api.conftest import Api
from tests.symbols.test_symbol_manifest import valid_manifest

runner = CliRunner()
SPEC = SynthSpec(1500, seed=31, symbols=200, purls=20)
GRAPH = graph_bytes(SPEC)
GRAPH_HASH = str(canonical_graph(parse_graph(GRAPH)).hash)


def make_bundle(root: Path, trace: bytes, *, extra: dict[str, bytes] | None = None,
                listed: dict[str, bytes] | None = None) -> Path:  # fmt: skip
    bundle = root / "bundle"
    bundle.mkdir(parents=True, exist_ok=True)
    files = {"runtime-trace.ndjson.gz": trace, **(extra or {})}
    for name, data in files.items():
        (bundle / name).write_bytes(data)
    entries = listed if listed is not None else files
    manifest = {
        "schema": "stella.reach.runtime-bundle/v1",
        "tenant": "acme",
        "graph_hash": GRAPH_HASH,
        "generated_at": "2026-03-01T00:00:00Z",
        "files": [
            {"path": n, "sha256": hashlib.sha256(d).hexdigest(), "size": len(d)}
            for n, d in sorted(entries.items())
        ],
    }
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    return bundle


def offline(data_dir: Path, *args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, [*args, "--data-dir", str(data_dir)])


def ingest_args(bundle: Path) -> list[str]:
    return ["ingest-runtime", "--tenant", "acme", "--graph-hash", GRAPH_HASH,
            "--runtime", str(bundle / "runtime-trace.ndjson.gz"),
            "--manifest", str(bundle / "manifest.json")]  # fmt: skip


@pytest.fixture
def trace() -> bytes:
    return gzip.compress(trace_bytes(SPEC), mtime=0)


def test_offline_and_online_give_the_same_evidence(tmp_path: Path, trace: bytes, api: Api) -> None:
    data_dir = tmp_path / "offline"
    bundle = make_bundle(tmp_path, trace)
    assert (
        offline(data_dir, "import-graph", str(tmp_path / "g.json"), "--tenant", "acme").exit_code
        == 2
    )
    (tmp_path / "g.json").write_bytes(GRAPH)
    assert (
        offline(data_dir, "import-graph", str(tmp_path / "g.json"), "--tenant", "acme").exit_code
        == 0
    )
    result = offline(
        data_dir, *ingest_args(bundle), "--receipt-out", str(tmp_path / "receipt.json")
    )
    assert result.exit_code == 0, result.output
    offline_receipt = json.loads((tmp_path / "receipt.json").read_text())

    online_graph = api.post_graph(data=GRAPH)
    assert online_graph == GRAPH_HASH
    online = api.post_trace(trace, online_graph)
    assert online.status_code == 201
    online_receipt = online.json()

    def comparable(receipt: dict[str, Any]) -> dict[str, Any]:
        skip = {"ingest_id", "received_at", "timeline_event_id", "receipt_dsse"}
        return {k: v for k, v in receipt.items() if k not in skip}

    assert comparable(offline_receipt) == comparable(online_receipt)
    services = Services.open(load_settings(data_dir=data_dir, environ={}))
    try:
        acme = parse_tenant("acme")
        offline_facts = services.repo.list_facts(acme, offline_receipt["ingest_id"])
        offline_events = list(services.repo.iter_events(acme))
    finally:
        services.close()
    online_facts = api.services.repo.list_facts(acme, online_receipt["ingest_id"])
    assert offline_facts == online_facts
    offline_event = next(e for e in offline_events if e.event_type == "reach.runtime.ingested")
    online_event = next(
        e for e in api.services.repo.iter_events(acme) if e.event_type == "reach.runtime.ingested"
    )
    assert offline_event.source == "signals-offline" and online_event.source == "signals-api"
    strip = {"ingest_id"}
    assert {k: v for k, v in offline_event.attributes.items() if k not in strip} == {
        k: v for k, v in online_event.attributes.items() if k not in strip
    }
    exported = offline(data_dir, "export-receipt", offline_receipt["ingest_id"], "--tenant", "acme")
    assert json.loads(exported.stdout) == offline_receipt


def test_hash_mismatch_with_the_manifest_imports_nothing(tmp_path: Path, trace: bytes) -> None:
    data_dir = tmp_path / "data"
    flipped = bytearray(trace)
    flipped[len(flipped) // 2] ^= 0xFF
    bundle = make_bundle(tmp_path, trace, listed={"runtime-trace.ndjson.gz": bytes(flipped)})
    result = offline(data_dir, *ingest_args(bundle))
    assert result.exit_code == 3, result.output
    services = Services.open(load_settings(data_dir=data_dir, environ={}))
    try:
        events = list(services.repo.iter_events(parse_tenant("acme")))
    finally:
        services.close()
    assert [(e.event_type, e.attributes["reason"]) for e in events] == [
        ("runtime.ingest.failed", "hash_mismatch")
    ]
    assert not (data_dir / "cas" / "acme" / "reachability" / "runtime").exists()


def test_orphan_then_graph_import(tmp_path: Path, trace: bytes) -> None:
    data_dir = tmp_path / "data"
    bundle = make_bundle(tmp_path, trace)
    result = offline(data_dir, *ingest_args(bundle))
    assert result.exit_code == 7, result.output
    ingest_id = json.loads(result.stdout)["ingest_id"]
    (tmp_path / "g.json").write_bytes(GRAPH)
    assert (
        offline(data_dir, "import-graph", str(tmp_path / "g.json"), "--tenant", "acme").exit_code
        == 0
    )
    receipt = json.loads(offline(data_dir, "export-receipt", ingest_id, "--tenant", "acme").stdout)
    assert receipt["status"] == "ingested"


def test_schema_invalid_trace_is_exit_6(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path, b'{"symbol_id": 1}\n')
    assert offline(tmp_path / "data", *ingest_args(bundle)).exit_code == 6


def test_bundle_of_another_tenant_is_refused(tmp_path: Path, trace: bytes) -> None:
    bundle = make_bundle(tmp_path, trace)
    args = ingest_args(bundle)
    args[args.index("acme")] = "globex"
    assert offline(tmp_path / "data", *args).exit_code == 2


@pytest.mark.parametrize(
    ("case", "code"),
    [("ok", 0), ("missing", 6), ("unlisted", 6), ("dotdot", 6), ("mismatch", 3)],
)
def test_verify_bundle(tmp_path: Path, trace: bytes, case: str, code: int) -> None:
    if case == "ok":
        bundle = make_bundle(tmp_path, trace)
    elif case == "missing":
        bundle = make_bundle(
            tmp_path, trace, listed={"runtime-trace.ndjson.gz": trace, "runtime.dsse.json": b"{}"}
        )
    elif case == "unlisted":
        bundle = make_bundle(tmp_path, trace, extra={"notes.txt": b"hi"},
                             listed={"runtime-trace.ndjson.gz": trace})  # fmt: skip
    elif case == "dotdot":
        bundle = make_bundle(
            tmp_path, trace, listed={"runtime-trace.ndjson.gz": trace, "../etc/passwd": b"x"}
        )
    else:
        bundle = make_bundle(tmp_path, trace, listed={"runtime-trace.ndjson.gz": b"other"})
    result = runner.invoke(app, ["verify-bundle", str(bundle)])
    assert result.exit_code == code, result.output


def tarball(bundle: Path, *, extra: dict[str, bytes] | None = None) -> Path:
    import io
    import tarfile

    out = bundle.parent / "bundle.tar.gz"
    with tarfile.open(out, "w:gz") as archive:
        for path in sorted(bundle.iterdir()):
            archive.add(path, arcname=path.name)
        for name, data in (extra or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out


def test_verify_bundle_as_tar_gz(tmp_path: Path, trace: bytes) -> None:
    bundle = make_bundle(tmp_path, trace)
    assert runner.invoke(app, ["verify-bundle", str(tarball(bundle))]).exit_code == 0
    unlisted = runner.invoke(app, ["verify-bundle", str(tarball(bundle, extra={"x.txt": b"x"}))])
    assert unlisted.exit_code == 6
    escaping = runner.invoke(app, ["verify-bundle", str(tarball(bundle, extra={"../x": b"x"}))])
    assert escaping.exit_code == 6
    garbage = tmp_path / "junk.tar.gz"
    garbage.write_bytes(b"not gzip")
    assert runner.invoke(app, ["verify-bundle", str(garbage)]).exit_code == 6


def test_import_symbols_records_and_announces_a_manifest_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    path = tmp_path / "symbols.json"
    path.write_text(json.dumps(valid_manifest()))
    first = offline(data_dir, "import-symbols", str(path), "--tenant", "acme")
    again = offline(data_dir, "import-symbols", str(path), "--tenant", "acme")
    assert first.exit_code == again.exit_code == 0, first.output
    assert first.stdout == again.stdout
    assert first.stdout.startswith("cas://reachability/symbols/")
    services = Services.open(load_settings(data_dir=data_dir, environ={}))
    try:
        events = list(services.repo.iter_events(parse_tenant("acme")))
    finally:
        services.close()
    [event] = [e for e in events if e.event_type == "symbols.manifest.ingested"]
    assert event.attributes["cas_uri"] == first.stdout.strip()
    assert event.source == "signals-offline"
