"""`stella bundle create` (issue 14 item 13): the producing side of the air-gap path. What it
writes — a directory or a deterministic .tar.gz — `signals-offline verify-bundle` accepts and
`signals-offline ingest-runtime` ingests; it never overwrites, and a refusal leaves nothing."""

from __future__ import annotations

import gzip
import hashlib
import json
import tarfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stella_signals.bundle import parse_manifest
from stella_signals.cli.offline import app as offline_app
from stella_signals.cli.stella import app as stella_app
from stella_signals_dev.synth import SynthSpec, trace_bytes
from tests.api.test_dsse_ingest import Signing
from tests.offline.test_bundle_files import trust
from tests.offline.test_offline_ingest import GRAPH, GRAPH_HASH, SPEC

runner = CliRunner()
TRACE = gzip.compress(trace_bytes(SPEC), mtime=0)  # the graph's own symbols


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Path]:
    signing = Signing()
    files = {
        "trace": tmp_path / "in" / "my-trace.ndjson.gz",
        "dsse": tmp_path / "in" / "my.dsse.json",
        "graph": tmp_path / "in" / "app.richgraph.json",
        "public": tmp_path / "in" / "signer.pub.pem",
    }
    files["trace"].parent.mkdir()
    files["trace"].write_bytes(TRACE)
    files["dsse"].write_bytes(signing.envelope(TRACE))
    files["graph"].write_bytes(GRAPH)
    files["public"].write_bytes(signing.public)
    return files


def create(inputs: dict[str, Path], out: Path, *extra: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    args = ["bundle", "create", "--trace", str(inputs["trace"]), "--tenant", "acme"]
    return runner.invoke(stella_app, [*args, "--out", str(out), *extra], env=env)


def full(inputs: dict[str, Path]) -> list[str]:
    return ["--dsse", str(inputs["dsse"]), "--graph", str(inputs["graph"])]


def ingest(bundle: Path, data_dir: Path):  # type: ignore[no-untyped-def]
    return runner.invoke(
        offline_app,
        ["ingest-runtime", "--tenant", "acme", "--graph-hash", GRAPH_HASH,
         "--runtime", str(bundle / "runtime-trace.ndjson.gz"),
         "--manifest", str(bundle / "manifest.json"), "--data-dir", str(data_dir)],
    )  # fmt: skip


def trusting_site(tmp_path: Path, inputs: dict[str, Path]) -> Path:
    data_dir = tmp_path / "site"
    trust(data_dir, _PublicOnly(inputs["public"].read_bytes()), tmp_path)  # type: ignore[arg-type]
    return data_dir


class _PublicOnly:
    def __init__(self, public: bytes) -> None:
        self.public = public


def test_a_directory_bundle_verifies_and_ingests(tmp_path: Path, inputs: dict[str, Path]) -> None:
    out = tmp_path / "bundle"
    created = create(inputs, out, *full(inputs))
    assert created.exit_code == 0, created.output
    assert sorted(p.name for p in out.iterdir()) == [
        "graph.richgraph.json", "manifest.json", "runtime-trace.ndjson.gz", "runtime.dsse.json",
    ]  # fmt: skip
    assert (out / "runtime-trace.ndjson.gz").read_bytes() == TRACE  # carried byte for byte
    manifest = parse_manifest((out / "manifest.json").read_bytes())
    assert (manifest.tenant, manifest.graph_hash) == ("acme", GRAPH_HASH)
    data_dir = trusting_site(tmp_path, inputs)
    verified = runner.invoke(
        offline_app, ["verify-bundle", str(out), "--tenant", "acme", "--data-dir", str(data_dir)]
    )
    assert verified.exit_code == 0, verified.output
    ingested = ingest(out, data_dir)
    assert ingested.exit_code == 0, ingested.output  # the bundled graph was imported first
    receipt = json.loads(ingested.stdout)
    assert receipt["status"] == "ingested" and receipt["dsse_digest"] is not None
    assert receipt["counts"]["mapped_symbols"] > 0  # mapped: not an orphan


def test_a_tarball_bundle_verifies_and_ingests_once_unpacked(
    tmp_path: Path, inputs: dict[str, Path]
) -> None:
    out = tmp_path / "bundle.tar.gz"
    created = create(inputs, out, *full(inputs))
    assert created.exit_code == 0, created.output
    data_dir = trusting_site(tmp_path, inputs)
    verified = runner.invoke(
        offline_app, ["verify-bundle", str(out), "--tenant", "acme", "--data-dir", str(data_dir)]
    )
    assert verified.exit_code == 0, verified.output
    unpacked = tmp_path / "unpacked"
    with tarfile.open(out) as archive:
        archive.extractall(unpacked, filter="data")
    assert runner.invoke(offline_app, ["verify-bundle", str(unpacked)]).exit_code == 0
    ingested = ingest(unpacked, data_dir)
    assert ingested.exit_code == 0, ingested.output


def test_the_tarball_is_deterministic(tmp_path: Path, inputs: dict[str, Path]) -> None:
    epoch = {"SOURCE_DATE_EPOCH": "1767225600"}
    one, two = tmp_path / "one.tar.gz", tmp_path / "two.tar.gz"
    assert create(inputs, one, *full(inputs), env=epoch).exit_code == 0
    assert create(inputs, two, *full(inputs), env=epoch).exit_code == 0
    assert one.read_bytes() == two.read_bytes()
    assert one.read_bytes()[4:8] == b"\0\0\0\0"  # gzip header mtime 0
    with tarfile.open(one) as archive:
        members = archive.getmembers()
        manifest = json.loads(archive.extractfile("manifest.json").read())  # type: ignore[union-attr]
    names = [m.name for m in members]
    assert names == sorted(names) == [
        "graph.richgraph.json", "manifest.json", "runtime-trace.ndjson.gz", "runtime.dsse.json",
    ]  # fmt: skip
    for member in members:
        assert member.isreg() and member.mode == 0o644
        assert (member.mtime, member.uid, member.gid, member.uname, member.gname) == (
            0,
            0,
            0,
            "",
            "",
        )
    assert manifest["generated_at"] == "2026-01-01T00:00:00Z"


@pytest.mark.parametrize("kind", ["directory", "empty-directory", "tarball"])
def test_an_existing_output_is_never_overwritten(
    tmp_path: Path, inputs: dict[str, Path], kind: str
) -> None:
    out = tmp_path / ("bundle.tar.gz" if kind == "tarball" else "bundle")
    if kind == "tarball":
        out.write_bytes(b"precious")
    else:
        out.mkdir()
        if kind == "directory":
            (out / "keep.txt").write_bytes(b"precious")
    result = create(inputs, out)
    assert result.exit_code == 2, result.output
    assert "already exists" in result.output
    if kind == "tarball":
        assert out.read_bytes() == b"precious"
    else:
        assert [p.name for p in out.iterdir()] == (
            [] if kind == "empty-directory" else ["keep.txt"]
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["in", out.name])


def test_a_graph_hash_is_recorded_without_carrying_a_graph(
    tmp_path: Path, inputs: dict[str, Path]
) -> None:
    out = tmp_path / "bundle"
    assert create(inputs, out, "--graph", GRAPH_HASH).exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "runtime-trace.ndjson.gz"]
    assert parse_manifest((out / "manifest.json").read_bytes()).graph_hash == GRAPH_HASH
    assert runner.invoke(offline_app, ["verify-bundle", str(out)]).exit_code == 0


def test_a_plain_ndjson_trace_is_carried_unchanged(tmp_path: Path, inputs: dict[str, Path]) -> None:
    plain = trace_bytes(SynthSpec(50, seed=2, symbols=10, purls=3))
    inputs["trace"].write_bytes(plain)
    out = tmp_path / "bundle"
    assert create(inputs, out).exit_code == 0
    assert (out / "runtime-trace.ndjson").read_bytes() == plain
    assert runner.invoke(offline_app, ["verify-bundle", str(out)]).exit_code == 0


@pytest.mark.parametrize(
    ("defect", "code"),
    [("invalid-trace", 6), ("dsse-of-other-bytes", 3), ("dsse-of-another-tenant", 4),
     ("garbage-dsse", 4), ("invalid-graph", 6), ("bad-graph-hash", 2), ("bad-tenant", 2),
     ("no-trace", 2)],
)  # fmt: skip
def test_a_refusal_leaves_nothing_behind(
    tmp_path: Path, inputs: dict[str, Path], defect: str, code: int
) -> None:
    signing, extra, tenant = Signing(), list(full(inputs)), "acme"
    if defect == "invalid-trace":
        inputs["trace"].write_bytes(b'{"symbol_id": 1}\n')
    elif defect == "dsse-of-other-bytes":
        inputs["dsse"].write_bytes(
            signing.envelope(gzip.compress(trace_bytes(SynthSpec(5, seed=9)), mtime=0))
        )
    elif defect == "dsse-of-another-tenant":
        inputs["dsse"].write_bytes(signing.envelope(TRACE, tenant="globex"))
    elif defect == "garbage-dsse":
        inputs["dsse"].write_bytes(b"{}")
    elif defect == "invalid-graph":
        inputs["graph"].write_bytes(b"{}")
    elif defect == "bad-graph-hash":
        extra = ["--graph", "blake3:nope"]
    elif defect == "bad-tenant":
        tenant = "Not A Tenant"
    else:
        inputs["trace"].unlink()
    out = tmp_path / "bundle.tar.gz"
    args = ["bundle", "create", "--trace", str(inputs["trace"]), "--tenant", tenant]
    result = runner.invoke(stella_app, [*args, "--out", str(out), *extra])
    assert result.exit_code == code, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


def test_a_probe_manifest_travels_in_the_bundle_and_the_receipt_names_it(
    tmp_path: Path, inputs: dict[str, Path]
) -> None:
    from tests.trace._lines import probe_manifest

    manifest = tmp_path / "in" / "probe-manifest.json"
    manifest.write_bytes(probe_manifest(TRACE))
    other = tmp_path / "in" / "other-manifest.json"
    other.write_bytes(probe_manifest(b"another window's trace"))
    refused = create(inputs, tmp_path / "refused", "--probe-manifest", str(other))
    assert refused.exit_code == 3, refused.output  # SPEC §10: hash mismatch
    assert not (tmp_path / "refused").exists()
    out = tmp_path / "bundle"
    created = create(inputs, out, *full(inputs), "--probe-manifest", str(manifest))
    assert created.exit_code == 0, created.output
    assert (out / "probe-manifest.json").read_bytes() == manifest.read_bytes()
    listed = parse_manifest((out / "manifest.json").read_bytes())
    assert listed.listed("probe-manifest.json") is not None
    ingested = ingest(out, trusting_site(tmp_path, inputs))
    assert ingested.exit_code == 0, ingested.output
    digest = "sha256:" + hashlib.sha256(manifest.read_bytes()).hexdigest()
    assert json.loads(ingested.stdout)["probe_manifest_digest"] == digest


def test_a_bundled_probe_manifest_that_was_altered_is_refused(
    tmp_path: Path, inputs: dict[str, Path]
) -> None:
    from tests.trace._lines import probe_manifest

    manifest = tmp_path / "in" / "probe-manifest.json"
    manifest.write_bytes(probe_manifest(TRACE))
    out = tmp_path / "bundle"
    assert create(inputs, out, *full(inputs), "--probe-manifest", str(manifest)).exit_code == 0
    (out / "probe-manifest.json").write_bytes(probe_manifest(TRACE, dropped=3))
    refused = ingest(out, trusting_site(tmp_path, inputs))
    assert refused.exit_code == 3, refused.output
