"""Evidence Locker bundles (SPEC §8): deterministic export, offline verification, tampering.

Records are built with real keys: the receipt is a dict shaped like the ingest pipeline's,
signed over its RFC 8785 bytes by a service key; the trace's runtime.dsse.json is a real
runtime-trace attestation. Every tamper names the check and the file that must fail.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from stella_signals.attest import (
    IN_TOTO_PAYLOAD_TYPE,
    RECEIPT_PAYLOAD_TYPE,
    RUNTIME_TRACE_PREDICATE,
    Envelope,
    EnvelopeSignature,
    InvalidEnvelope,
    KeyKind,
    PublicKey,
    Signer,
    Statement,
    Subject,
    generate_private_key_pem,
    load_signer,
    public_key_pem,
    runtime_trace_statement,
    sign_envelope,
    sign_runtime_trace,
    statement_bytes,
)
from stella_signals.canonical import canonical_json
from stella_signals.cli._evidence_cmds import app as evidence_app
from stella_signals.cli._exit import exit_code_for_bundle
from stella_signals.errors import InvalidTenant, VerificationFailed
from stella_signals.locker import (
    BUNDLE_SCHEMA,
    CHECKSUMS_NAME,
    MANIFEST_NAME,
    PROBE_MANIFEST_NAME,
    RECEIPT_DSSE_NAME,
    RECEIPT_NAME,
    RECEIPT_SCHEMA,
    RUNTIME_DSSE_NAME,
    SOURCE_MANIFEST_NAME,
    BundleCheck,
    BundleInvalid,
    BundleReport,
    EvidenceRecord,
    ProblemKind,
    check_bundle,
    default_trace_name,
    export_bundle,
    verify_bundle,
)
from stella_signals.trace import parse_trace
from tests._examples import examples
from tests.trace._lines import gz, line, ndjson, probe_manifest

TENANT = "acme"
INGEST_ID = "01JEVIDENCE0000000000000001"
GRAPH_HASH = "blake3:" + "0f" * 32
TRACE_NAME = "runtime-trace.ndjson.gz"
SRC = Path(__file__).resolve().parents[2] / "src"


# --- building records with real keys ----------------------------------------------------------


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def new_signer(kind: KeyKind = "ed25519") -> Signer:
    return load_signer(generate_private_key_pem(kind))


def attestation(trace: bytes, signer: Signer, name: str = TRACE_NAME) -> bytes:
    """A real runtime.dsse.json for ``trace`` (SPEC §5)."""
    report = parse_trace([trace], name=name)
    statement = runtime_trace_statement(
        file_name=name, report=report, tenant=TENANT, graph_hash=GRAPH_HASH
    )
    return sign_runtime_trace(statement=statement, signers=[signer]).to_json()


def receipt_for(trace: bytes, runtime_dsse: bytes | None, **changes: Any) -> dict[str, Any]:
    """A receipt shaped like the ingest pipeline's (SPEC §8)."""
    receipt: dict[str, Any] = {
        "schema": RECEIPT_SCHEMA,
        "ingest_id": INGEST_ID,
        "tenant": TENANT,
        "status": "ingested",
        "duplicate": False,
        "received_at": "2026-01-01T00:10:00Z",
        "content_sha256": sha256(trace),
        "cas_uri": f"cas://reachability/runtime/{sha256(trace)}",
        "graph_hash": GRAPH_HASH,
        "dsse_digest": None if runtime_dsse is None else "sha256:" + sha256(runtime_dsse),
        "counts": {
            "lines": 2,
            "records": 2,
            "unique_symbols": 1,
            "mapped_symbols": 1,
            "unmapped_symbols": 0,
            "edges_confirmed": 0,
        },
        "time": {
            "mode": "system",
            "anchor_time": None,
            "staleness_seconds": None,
            "drift_ms": None,
        },
        "timeline_event_id": "01JEVENT00000000000000000001",
    }
    receipt.update(changes)
    return receipt


def sign_receipt(receipt: Mapping[str, Any], signer: Signer) -> bytes:
    """What the pipeline stores: the envelope JSON over the receipt's RFC 8785 bytes."""
    return sign_envelope(canonical_json(dict(receipt)), RECEIPT_PAYLOAD_TYPE, [signer]).to_json()


@dataclass(frozen=True)
class World:
    service: Signer
    other_service: Signer
    attester: Signer
    trace: bytes
    other_trace: bytes
    runtime_dsse: bytes
    other_runtime_dsse: bytes
    receipt: dict[str, Any]
    record: EvidenceRecord
    bundle: bytes

    @property
    def service_keys(self) -> list[PublicKey]:
        return [self.service.public_key]

    @property
    def attestation_keys(self) -> list[PublicKey]:
        return [self.attester.public_key]

    def check(self, bundle: bytes, **kwargs: Any) -> BundleReport:
        kwargs.setdefault("attestation_keys", self.attestation_keys)
        return check_bundle(bundle, service_keys=self.service_keys, **kwargs)


@pytest.fixture(scope="module")
def world() -> World:
    service, attester = new_signer(), new_signer("ecdsa-p256")
    trace = gz(ndjson(line(), line(count=5)))
    other_trace = gz(ndjson(line(count=7)))
    runtime_dsse = attestation(trace, attester)
    receipt = receipt_for(trace, runtime_dsse)
    record = EvidenceRecord(
        ingest_id=INGEST_ID,
        tenant=TENANT,
        trace=trace,
        receipt_dsse=sign_receipt(receipt, service),
        runtime_dsse=runtime_dsse,
        bundle_manifest=b'{"schema":"stella.reach.runtime-bundle/v1"}',
    )
    return World(
        service=service,
        other_service=new_signer(),
        attester=attester,
        trace=trace,
        other_trace=other_trace,
        runtime_dsse=runtime_dsse,
        other_runtime_dsse=attestation(other_trace, attester),
        receipt=receipt,
        record=record,
        bundle=export_bundle(record),
    )


# --- taking bundles apart and putting them back together (tests trust their own bundles) ------


def unpack(bundle: bytes) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(bundle), mode="r:gz") as tar:
        for member in tar.getmembers():
            handle = tar.extractfile(member)
            assert handle is not None
            files[member.name] = handle.read()
    return files


def entry(name: str, data: bytes = b"", *, kind: bytes = tarfile.REGTYPE, link: str = "") -> Any:
    info = tarfile.TarInfo(name)
    info.size = len(data) if kind in (tarfile.REGTYPE, tarfile.AREGTYPE) else 0
    info.type = kind
    info.linkname = link
    return info, data


def pack(files: Mapping[str, bytes], *extra: tuple[tarfile.TarInfo, bytes]) -> bytes:
    """A tar.gz of ``files`` (in the given order) and then the ``extra`` raw entries."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in files.items():
            info, _ = entry(name, data)
            tar.addfile(info, io.BytesIO(data))
        for info, data in extra:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return gzip.compress(buffer.getvalue(), mtime=0)


def reseal(files: dict[str, bytes], **manifest_changes: Any) -> dict[str, bytes]:
    """Make manifest.json and checksums.txt consistent with ``files`` again (a careful
    tamperer's last step); ``manifest_changes`` edits other manifest members first."""
    manifest = json.loads(files[MANIFEST_NAME])
    manifest.update(manifest_changes)
    manifest["files"] = [
        {"path": path, "sha256": sha256(data), "size": len(data)}
        for path, data in sorted(files.items())
        if path not in (MANIFEST_NAME, CHECKSUMS_NAME)
    ]
    files[MANIFEST_NAME] = canonical_json(manifest)
    files[CHECKSUMS_NAME] = "".join(
        f"{sha256(data)}  {path}\n"
        for path, data in sorted(files.items())
        if path != CHECKSUMS_NAME
    ).encode()
    return files


def edited(bundle: bytes, edit: Callable[[dict[str, bytes]], object]) -> bytes:
    files = unpack(bundle)
    edit(files)
    return pack(files)


def flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


def pairs(report: BundleReport) -> set[tuple[str, str | None]]:
    return {(problem.check, problem.path) for problem in report.problems}


# --- a good bundle ----------------------------------------------------------------------------


def test_a_fresh_export_verifies(world: World) -> None:
    report = world.check(world.bundle)
    assert report.ok, report.problems
    assert report.problems == ()
    # The world's ingest came without a probe manifest (see with_probe_manifest below).
    assert [c.status for c in report.checks] == ["ok"] * (len(BundleCheck) - 1) + ["skipped"]
    assert [c.check for c in report.checks] == [c.value for c in BundleCheck]
    assert report.checks[-1].check == BundleCheck.PROBE_MANIFEST
    assert report.receipt == world.receipt
    assert report.receipt_verified
    assert report.receipt_keyids == (world.service.keyid,)
    assert report.attestation_keyids == (world.attester.keyid,)
    assert (report.ingest_id, report.tenant, report.trace_name) == (INGEST_ID, TENANT, TRACE_NAME)
    assert verify_bundle(world.bundle, service_keys=world.service_keys) == world.check(
        world.bundle, attestation_keys=()
    )
    json.dumps(report.to_dict())  # plain JSON data


def test_bundle_contents(world: World) -> None:
    files = unpack(world.bundle)
    assert sorted(files) == [
        SOURCE_MANIFEST_NAME,
        CHECKSUMS_NAME,
        MANIFEST_NAME,
        RECEIPT_DSSE_NAME,
        RECEIPT_NAME,
        TRACE_NAME,
        RUNTIME_DSSE_NAME,
    ]
    assert files[TRACE_NAME] == world.trace
    assert files[RUNTIME_DSSE_NAME] == world.runtime_dsse
    assert files[RECEIPT_DSSE_NAME] == world.record.receipt_dsse
    assert files[RECEIPT_NAME] == canonical_json(world.receipt)  # exactly the signed bytes
    assert files[SOURCE_MANIFEST_NAME] == world.record.bundle_manifest

    manifest = json.loads(files[MANIFEST_NAME])
    assert files[MANIFEST_NAME] == canonical_json(manifest)
    listed = [f["path"] for f in manifest["files"]]
    assert listed == sorted(set(files) - {MANIFEST_NAME, CHECKSUMS_NAME})
    assert manifest == {
        "schema": BUNDLE_SCHEMA,
        "ingest_id": INGEST_ID,
        "tenant": TENANT,
        "files": [{"path": p, "sha256": sha256(files[p]), "size": len(files[p])} for p in listed],
    }
    assert files[CHECKSUMS_NAME].decode() == "".join(
        f"{sha256(files[p])}  {p}\n" for p in sorted(set(files) - {CHECKSUMS_NAME})
    )


def test_one_file_listing_model_for_both_bundle_kinds(world: World) -> None:
    """The locker's files and its manifest.json listing are air-gap manifest entries."""
    from stella_signals.bundle import ManifestEntry

    report = world.check(world.bundle)
    assert all(type(f) is ManifestEntry for f in report.files)
    files = unpack(world.bundle)
    listed = json.loads(files[MANIFEST_NAME])["files"]
    assert listed == [
        f.to_dict() for f in report.files if f.path not in (CHECKSUMS_NAME, MANIFEST_NAME)
    ]
    assert [ManifestEntry(**f) for f in listed] == [
        ManifestEntry.of(f["path"], files[f["path"]]) for f in listed
    ]


def with_probe_manifest(world: World, manifest: bytes, digest: str | None = None) -> bytes:
    """The world's bundle with ``manifest`` and a receipt naming ``digest`` (its own)."""
    named = "sha256:" + sha256(manifest) if digest is None else digest
    receipt = receipt_for(world.trace, world.runtime_dsse, probe_manifest_digest=named)
    return export_bundle(
        replace(
            world.record,
            receipt_dsse=sign_receipt(receipt, world.service),
            probe_manifest=manifest,
        )
    )


def test_a_bundle_with_the_probe_manifest_its_receipt_names_verifies(world: World) -> None:
    bundle = with_probe_manifest(world, probe_manifest(world.trace))
    assert PROBE_MANIFEST_NAME in unpack(bundle)
    listed = json.loads(unpack(bundle)[MANIFEST_NAME])["files"]
    assert PROBE_MANIFEST_NAME in [f["path"] for f in listed]
    assert PROBE_MANIFEST_NAME in unpack(bundle)[CHECKSUMS_NAME].decode()
    report = world.check(bundle)
    assert report.ok, report.problems
    assert [c.status for c in report.checks] == ["ok"] * len(BundleCheck)


def test_a_probe_manifest_the_receipt_does_not_name_is_caught(world: World) -> None:
    manifest = probe_manifest(world.trace)
    other = with_probe_manifest(world, manifest, digest="sha256:" + "0" * 64)
    assert pairs(world.check(other)) == {("probe_manifest", PROBE_MANIFEST_NAME)}
    assert world.check(other).problems[0].kind == ProblemKind.HASH_MISMATCH
    of_another_trace = with_probe_manifest(world, probe_manifest(world.other_trace))
    assert pairs(world.check(of_another_trace)) == {("probe_manifest", PROBE_MANIFEST_NAME)}
    files = unpack(with_probe_manifest(world, manifest))
    del files[PROBE_MANIFEST_NAME]
    missing = world.check(pack(reseal(files)))
    assert pairs(missing) == {("probe_manifest", PROBE_MANIFEST_NAME)}


def test_plain_trace_without_dsse_or_bundle_manifest(world: World) -> None:
    trace = ndjson(line(), line(count=2))
    receipt = receipt_for(trace, None)
    record = EvidenceRecord(
        ingest_id=INGEST_ID,
        tenant=TENANT,
        trace=trace,
        receipt_dsse=sign_receipt(receipt, world.service),
    )
    assert record.trace_name == "runtime-trace.ndjson"
    bundle = export_bundle(record)
    assert sorted(unpack(bundle)) == [
        CHECKSUMS_NAME, MANIFEST_NAME, RECEIPT_DSSE_NAME, RECEIPT_NAME, "runtime-trace.ndjson"
    ]  # fmt: skip
    report = world.check(bundle)
    assert report.ok, report.problems
    statuses = {c.check: c.status for c in report.checks}
    assert statuses[BundleCheck.RUNTIME_DSSE] == "skipped"


def test_without_attestation_keys_the_envelope_claims_are_still_checked(world: World) -> None:
    report = world.check(world.bundle, attestation_keys=())
    assert report.ok
    assert report.attestation_keyids == ()
    (runtime,) = [c for c in report.checks if c.check == BundleCheck.RUNTIME_DSSE]
    assert "not checked" in runtime.message


def test_receipt_schema_is_the_pipelines() -> None:
    from stella_signals.receipt import RECEIPT_SCHEMA as PIPELINE_RECEIPT_SCHEMA

    assert RECEIPT_SCHEMA == PIPELINE_RECEIPT_SCHEMA


# --- determinism ------------------------------------------------------------------------------


def test_two_exports_are_byte_identical(world: World) -> None:
    again = replace(world.record)
    assert export_bundle(again) == world.bundle
    assert export_bundle(world.record) == world.bundle


def test_gzip_and_tar_headers_are_fixed(world: World) -> None:
    # ID1 ID2, deflate, no flags (no FNAME), MTIME 0, XFL 2, OS 255 (unknown).
    assert world.bundle[:10] == b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    raw = gzip.decompress(world.bundle)
    assert len(raw) % 10240 == 0  # whole tar records
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == sorted(m.name for m in members)
    for member in members:
        assert member.isreg() and member.type == tarfile.REGTYPE
        assert (member.mtime, member.uid, member.gid) == (0, 0, 0)
        assert (member.uname, member.gname, member.mode) == ("", "", 0o644)
        assert member.pax_headers == {}
        header = raw[member.offset : member.offset + 512]
        assert header[257:263] == b"ustar\x00"  # POSIX ustar, no GNU or PAX extensions


def test_the_tar_layout_is_pinned() -> None:
    """A fixed record gives a fixed tar (independent of the zlib in use): a golden digest."""
    payload = canonical_json({"ingest_id": "01JGOLDEN", "tenant": "golden"})
    signature = EnvelopeSignature(keyid="k", sig=b"\0" * 64)  # export does not verify
    envelope = Envelope(payload, RECEIPT_PAYLOAD_TYPE, (signature,)).to_json()
    record = EvidenceRecord(
        ingest_id="01JGOLDEN", tenant="golden", trace=b'{"a":1}\n', receipt_dsse=envelope
    )
    raw = gzip.decompress(export_bundle(record))
    assert sha256(raw) == GOLDEN_TAR_SHA256


GOLDEN_TAR_SHA256 = "4171603465fc64efd9855b7c75b05ff341bac71895f5cc1d34fe310d94032ea7"

_EXPORT_SCRIPT = """
import sys
from pathlib import Path
from stella_signals.locker import EvidenceRecord, export_bundle

d = Path(sys.argv[1])
record = EvidenceRecord(
    ingest_id=(d / "ingest_id").read_text(),
    tenant=(d / "tenant").read_text(),
    trace=(d / "trace").read_bytes(),
    receipt_dsse=(d / "receipt_dsse").read_bytes(),
    runtime_dsse=(d / "runtime_dsse").read_bytes(),
    bundle_manifest=(d / "bundle_manifest").read_bytes(),
)
(d / sys.argv[2]).write_bytes(export_bundle(record))
"""


@pytest.mark.e2e
def test_export_in_other_processes_with_other_hash_seeds_is_identical(
    world: World, tmp_path: Path
) -> None:
    record = world.record
    assert record.runtime_dsse is not None and record.bundle_manifest is not None
    (tmp_path / "ingest_id").write_text(record.ingest_id)
    (tmp_path / "tenant").write_text(record.tenant)
    (tmp_path / "trace").write_bytes(record.trace)
    (tmp_path / "receipt_dsse").write_bytes(record.receipt_dsse)
    (tmp_path / "runtime_dsse").write_bytes(record.runtime_dsse)
    (tmp_path / "bundle_manifest").write_bytes(record.bundle_manifest)
    for seed in ("1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(SRC)}
        subprocess.run(
            [sys.executable, "-c", _EXPORT_SCRIPT, str(tmp_path), f"out-{seed}"],
            check=True,
            env=env,
            timeout=120,
        )
        assert (tmp_path / f"out-{seed}").read_bytes() == world.bundle


# --- standard tools accept it -----------------------------------------------------------------


def test_stdlib_tarfile_extracts_and_sha256sum_accepts(world: World, tmp_path: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(world.bundle), mode="r:gz") as tar:
        tar.extractall(tmp_path, filter="data")
    assert {p.name for p in tmp_path.iterdir()} == set(unpack(world.bundle))
    if shutil.which("sha256sum") is None:  # pragma: no cover - coreutils is everywhere we run
        pytest.skip("sha256sum not installed")
    result = subprocess.run(
        ["sha256sum", "-c", "--strict", CHECKSUMS_NAME],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(": OK") == len(unpack(world.bundle)) - 1

    (tmp_path / TRACE_NAME).write_bytes(flip(world.trace, 20))
    damaged = subprocess.run(
        ["sha256sum", "-c", CHECKSUMS_NAME], cwd=tmp_path, capture_output=True, check=False
    )
    assert damaged.returncode != 0


def test_gnu_tar_lists_it(world: World, tmp_path: Path) -> None:
    if shutil.which("tar") is None:  # pragma: no cover
        pytest.skip("tar not installed")
    path = tmp_path / "evidence.tar.gz"
    path.write_bytes(world.bundle)
    result = subprocess.run(["tar", "-tzf", str(path)], capture_output=True, text=True, check=True)
    assert result.stdout.splitlines() == sorted(unpack(world.bundle))


# --- the tamper table -------------------------------------------------------------------------


@dataclass(frozen=True)
class Tamper:
    id: str
    make: Callable[[World], bytes]
    #: Exactly the (check, path) pairs the report must name.
    expected: frozenset[tuple[str, str | None]]


def _expect(*items: tuple[BundleCheck, str | None]) -> frozenset[tuple[str, str | None]]:
    return frozenset((check.value, path) for check, path in items)


C, L, M = BundleCheck.CHECKSUM, BundleCheck.LAYOUT, BundleCheck.MANIFEST
A, R, S, D = (
    BundleCheck.ARCHIVE,
    BundleCheck.RECEIPT,
    BundleCheck.RECEIPT_SIGNATURE,
    BundleCheck.RUNTIME_DSSE,
)


def _flip_trace(w: World) -> bytes:
    def edit(files: dict[str, bytes]) -> None:
        files[TRACE_NAME] = flip(files[TRACE_NAME], len(files[TRACE_NAME]) // 2)

    return edited(w.bundle, edit)


def _replace_trace_consistently(w: World) -> bytes:
    files = unpack(w.bundle)
    files[TRACE_NAME] = w.other_trace
    return pack(reseal(files))


def _edit_receipt_json(w: World) -> bytes:
    files = unpack(w.bundle)
    files[RECEIPT_NAME] = canonical_json({**w.receipt, "status": "orphaned"})
    return pack(reseal(files))


def _resign_receipt(w: World, signer: Signer | None = None, **changes: Any) -> bytes:
    files = unpack(w.bundle)
    receipt = {**w.receipt, **changes}
    files[RECEIPT_NAME] = canonical_json(receipt)
    files[RECEIPT_DSSE_NAME] = sign_receipt(receipt, signer or w.service)
    return pack(reseal(files))


def _receipt_as_other_payload_type(w: World) -> bytes:
    files = unpack(w.bundle)
    files[RECEIPT_DSSE_NAME] = sign_envelope(
        files[RECEIPT_NAME], IN_TOTO_PAYLOAD_TYPE, [w.service]
    ).to_json()
    return pack(reseal(files))


def _drop_checksum_line(w: World) -> bytes:
    def edit(files: dict[str, bytes]) -> None:
        lines = files[CHECKSUMS_NAME].splitlines(keepends=True)
        kept = [x for x in lines if not x.endswith(f"  {TRACE_NAME}\n".encode())]
        assert len(kept) == len(lines) - 1
        files[CHECKSUMS_NAME] = b"".join(kept)

    return edited(w.bundle, edit)


def _add_file(w: World) -> bytes:
    return edited(w.bundle, lambda files: files.update({"notes.txt": b"trust me\n"}))


def _add_file_consistently(w: World) -> bytes:
    files = unpack(w.bundle)
    files["notes.txt"] = b"trust me\n"
    return pack(reseal(files))


def _remove_file(w: World) -> bytes:
    return edited(w.bundle, lambda files: files.pop(RUNTIME_DSSE_NAME))


def _swap_runtime_dsse(w: World) -> bytes:
    files = unpack(w.bundle)
    files[RUNTIME_DSSE_NAME] = w.other_runtime_dsse
    return pack(reseal(files))


def _drop_runtime_dsse_consistently(w: World) -> bytes:
    files = unpack(w.bundle)
    del files[RUNTIME_DSSE_NAME]
    return pack(reseal(files))


def _manifest_ingest_id(w: World) -> bytes:
    def edit(files: dict[str, bytes]) -> None:
        manifest = json.loads(files[MANIFEST_NAME])
        manifest["ingest_id"] = "01JSOMEONEELSE000000000000"
        files[MANIFEST_NAME] = canonical_json(manifest)

    return edited(w.bundle, edit)


def _manifest_ingest_id_consistently(w: World) -> bytes:
    return pack(reseal(unpack(w.bundle), ingest_id="01JSOMEONEELSE000000000000"))


def _manifest_wrong_size(w: World) -> bytes:
    """manifest.json claims another size for bundle-manifest.json; checksums.txt is updated."""
    files = unpack(w.bundle)
    manifest = json.loads(files[MANIFEST_NAME])
    assert manifest["files"][0]["path"] == SOURCE_MANIFEST_NAME
    manifest["files"][0]["size"] += 1
    files[MANIFEST_NAME] = canonical_json(manifest)
    files[CHECKSUMS_NAME] = "".join(
        f"{sha256(data)}  {path}\n"
        for path, data in sorted(files.items())
        if path != CHECKSUMS_NAME
    ).encode()
    return pack(files)


def _with_extra_entries(*extra: tuple[tarfile.TarInfo, bytes]) -> Callable[[World], bytes]:
    return lambda w: pack(unpack(w.bundle), *extra)


def _truncate_tar_inside_good_gzip(w: World) -> bytes:
    raw = gzip.decompress(w.bundle)
    return gzip.compress(raw[: len(raw) // 2], mtime=0)


def _cut_tar_mid_entry(w: World) -> bytes:
    """The tar ends inside checksums.txt (its second entry); the gzip around it is sound."""
    raw = gzip.decompress(w.bundle)
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
        second = tar.getmembers()[1]
    assert second.name == CHECKSUMS_NAME
    return gzip.compress(raw[: second.offset_data + 100], mtime=0)


def _garbage_after_tar_entries(w: World) -> bytes:
    raw = gzip.decompress(w.bundle)
    end = raw.rstrip(b"\0")
    end = end + b"\0" * (-len(end) % 512)
    return gzip.compress(end + b"\x01" * 512 + b"\0" * 1024, mtime=0)


TAMPERS = [
    Tamper(
        "trace-byte-flipped",
        _flip_trace,
        _expect((C, TRACE_NAME), (M, TRACE_NAME), (R, TRACE_NAME), (D, RUNTIME_DSSE_NAME)),
    ),
    Tamper(
        "trace-replaced-with-checksums-and-manifest-updated",
        _replace_trace_consistently,
        _expect((R, TRACE_NAME), (D, RUNTIME_DSSE_NAME)),
    ),
    Tamper("receipt-json-edited", _edit_receipt_json, _expect((R, RECEIPT_NAME))),
    Tamper(
        "receipt-signed-by-another-key",
        lambda w: _resign_receipt(w, w.other_service),
        _expect((S, RECEIPT_DSSE_NAME)),
    ),
    Tamper(
        "receipt-signed-as-another-payload-type",
        _receipt_as_other_payload_type,
        _expect((S, RECEIPT_DSSE_NAME)),
    ),
    Tamper(
        "receipt-signed-for-another-tenant",
        lambda w: _resign_receipt(w, tenant="globex"),
        _expect((R, MANIFEST_NAME), (D, RUNTIME_DSSE_NAME)),  # the attestation says acme
    ),
    Tamper(
        "receipt-cas-uri-names-another-blob",
        lambda w: _resign_receipt(w, cas_uri="cas://reachability/runtime/" + "0" * 64),
        _expect((R, RECEIPT_NAME)),
    ),
    Tamper(
        "receipt-records-no-envelope-but-one-is-present",
        lambda w: _resign_receipt(w, dsse_digest=None),
        _expect((D, RUNTIME_DSSE_NAME)),
    ),
    Tamper(
        "receipt-of-another-schema",
        lambda w: _resign_receipt(w, schema="stella.reach.something-else/v1"),
        _expect((R, RECEIPT_NAME)),
    ),
    Tamper("checksums-line-removed", _drop_checksum_line, _expect((C, TRACE_NAME))),
    Tamper(
        "extra-file-added", _add_file, _expect((L, "notes.txt"), (C, "notes.txt"), (M, "notes.txt"))
    ),
    Tamper(
        "extra-file-added-and-listed",
        _add_file_consistently,
        _expect((L, "notes.txt")),
    ),
    Tamper(
        "file-removed",
        _remove_file,
        _expect((C, RUNTIME_DSSE_NAME), (M, RUNTIME_DSSE_NAME), (D, RUNTIME_DSSE_NAME)),
    ),
    Tamper(
        "runtime-dsse-swapped-for-another-traces-envelope",
        _swap_runtime_dsse,
        _expect((D, RUNTIME_DSSE_NAME)),
    ),
    Tamper(
        "dsse-digest-present-but-envelope-missing",
        _drop_runtime_dsse_consistently,
        _expect((D, RUNTIME_DSSE_NAME)),
    ),
    Tamper(
        "manifest-ingest-id-changed",
        _manifest_ingest_id,
        _expect((C, MANIFEST_NAME), (R, MANIFEST_NAME)),
    ),
    Tamper(
        "manifest-ingest-id-changed-and-checksums-updated",
        _manifest_ingest_id_consistently,
        _expect((R, MANIFEST_NAME)),
    ),
    Tamper("manifest-size-wrong", _manifest_wrong_size, _expect((M, SOURCE_MANIFEST_NAME))),
    Tamper(
        "symlink-entry",
        _with_extra_entries(entry("evil", kind=tarfile.SYMTYPE, link="/etc/passwd")),
        _expect((A, "evil")),
    ),
    Tamper(
        "hardlink-entry",
        _with_extra_entries(entry("evil", kind=tarfile.LNKTYPE, link=TRACE_NAME)),
        _expect((A, "evil")),
    ),
    Tamper(
        "dotdot-entry",
        _with_extra_entries(entry("../x", b"escape")),
        _expect((A, "../x")),
    ),
    Tamper(
        "absolute-entry",
        _with_extra_entries(entry("/tmp/x", b"escape")),
        _expect((A, "/tmp/x")),
    ),
    Tamper(
        "nested-entry",
        _with_extra_entries(entry("dir/x", b"nested")),
        _expect((A, "dir/x")),
    ),
    Tamper(
        "directory-entry",
        _with_extra_entries(entry("dir", kind=tarfile.DIRTYPE)),
        _expect((A, "dir")),
    ),
    Tamper(
        "fifo-entry",
        _with_extra_entries(entry("pipe", kind=tarfile.FIFOTYPE)),
        _expect((A, "pipe")),
    ),
    Tamper(
        "duplicate-entry",
        _with_extra_entries(entry(TRACE_NAME, b"second copy")),
        _expect((A, TRACE_NAME)),
    ),
    Tamper(
        "control-character-in-name",
        _with_extra_entries(entry("a\nb", b"x")),
        _expect((A, "a\\nb")),
    ),
    Tamper("not-gzip", lambda w: gzip.decompress(w.bundle), _expect((A, None))),
    Tamper("not-gzip-at-all", lambda w: b"hello, world\n", _expect((A, None))),
    Tamper("empty-input", lambda w: b"", _expect((A, None))),
    Tamper("truncated-archive", lambda w: w.bundle[: len(w.bundle) // 2], _expect((A, None))),
    Tamper("truncated-by-one-byte", lambda w: w.bundle[:-1], _expect((A, None))),
    Tamper("gzip-crc-wrong", lambda w: flip(w.bundle, len(w.bundle) - 6), _expect((A, None))),
    Tamper("trailing-data-after-gzip", lambda w: w.bundle + b"\0junk", _expect((A, None))),
    Tamper("two-gzip-members", lambda w: w.bundle + w.bundle, _expect((A, None))),
    Tamper("tar-truncated-inside-good-gzip", _truncate_tar_inside_good_gzip, _expect((A, None))),
    Tamper(
        "tar-cut-inside-an-entry",
        _cut_tar_mid_entry,
        _expect(
            (A, None),
            (A, CHECKSUMS_NAME),
            (L, None),
            (L, CHECKSUMS_NAME),
            (L, MANIFEST_NAME),
            (L, RECEIPT_DSSE_NAME),
            (L, RECEIPT_NAME),
        ),
    ),
    Tamper("garbage-after-tar-entries", _garbage_after_tar_entries, _expect((A, None))),
    Tamper("gzip-of-not-a-tar", lambda w: gzip.compress(b"x" * 4096), _expect((A, None))),
]


@pytest.mark.parametrize("tamper", TAMPERS, ids=[t.id for t in TAMPERS])
def test_tamper_is_caught_and_named(world: World, tamper: Tamper) -> None:
    report = world.check(tamper.make(world))
    assert not report.ok
    assert pairs(report) == tamper.expected, [str(p) for p in report.problems]
    failed = {c.check for c in report.checks if c.status == "failed"}
    assert failed == {check for check, _ in tamper.expected}
    json.dumps(report.to_dict())
    with pytest.raises(BundleInvalid) as caught:
        verify_bundle(
            tamper.make(world),
            service_keys=world.service_keys,
            attestation_keys=world.attestation_keys,
        )
    assert isinstance(caught.value, VerificationFailed)
    assert caught.value.reason == "evidence_bundle_invalid"
    assert pairs(caught.value.report) == tamper.expected


#: SPEC §10 exit code of `stella evidence verify` per tamper: 2 not a readable bundle, 3 a hash
#: mismatch, 4 a signature missing or invalid, 1 anything else (the first that applies).
TAMPER_EXIT_CODES = {
    "trace-byte-flipped": 3,
    "trace-replaced-with-checksums-and-manifest-updated": 3,
    "receipt-json-edited": 3,
    "receipt-signed-by-another-key": 4,
    "receipt-signed-as-another-payload-type": 4,
    "receipt-signed-for-another-tenant": 1,
    "receipt-cas-uri-names-another-blob": 1,
    "receipt-records-no-envelope-but-one-is-present": 1,
    "receipt-of-another-schema": 1,
    "checksums-line-removed": 1,
    "extra-file-added": 1,
    "extra-file-added-and-listed": 1,
    "file-removed": 4,
    "runtime-dsse-swapped-for-another-traces-envelope": 3,
    "dsse-digest-present-but-envelope-missing": 4,
    "manifest-ingest-id-changed": 3,
    "manifest-ingest-id-changed-and-checksums-updated": 1,
    "manifest-size-wrong": 3,
    "symlink-entry": 1,
    "hardlink-entry": 1,
    "dotdot-entry": 1,
    "absolute-entry": 1,
    "nested-entry": 1,
    "directory-entry": 1,
    "fifo-entry": 1,
    "duplicate-entry": 1,
    "control-character-in-name": 1,
    "not-gzip": 2,
    "not-gzip-at-all": 2,
    "empty-input": 2,
    "truncated-archive": 2,
    "truncated-by-one-byte": 2,
    "gzip-crc-wrong": 2,
    "trailing-data-after-gzip": 2,
    "two-gzip-members": 2,
    "tar-truncated-inside-good-gzip": 2,
    "tar-cut-inside-an-entry": 2,
    "garbage-after-tar-entries": 2,
    "gzip-of-not-a-tar": 2,
}


def test_every_tamper_has_an_exit_code() -> None:
    assert set(TAMPER_EXIT_CODES) == {t.id for t in TAMPERS}


@pytest.mark.parametrize("tamper", TAMPERS, ids=[t.id for t in TAMPERS])
def test_each_tamper_gets_its_spec_exit_code(world: World, tamper: Tamper) -> None:
    """`stella evidence verify` used exit 1 for every one of these (issue 14 item 15)."""
    assert exit_code_for_bundle(world.check(tamper.make(world))) == TAMPER_EXIT_CODES[tamper.id]


def test_a_sound_bundle_exits_0(world: World) -> None:
    assert exit_code_for_bundle(world.check(world.bundle)) == 0


# --- defective documents inside an otherwise sound archive -----------------------------------


def rechecksum(files: dict[str, bytes]) -> dict[str, bytes]:
    """Recompute checksums.txt only (manifest.json stays as edited)."""
    files[CHECKSUMS_NAME] = "".join(
        f"{sha256(data)}  {path}\n"
        for path, data in sorted(files.items())
        if path != CHECKSUMS_NAME
    ).encode()
    return files


def _edit_checksums(change: Callable[[bytes], bytes]) -> Callable[[World], bytes]:
    def make(w: World) -> bytes:
        files = unpack(w.bundle)
        files[CHECKSUMS_NAME] = change(files[CHECKSUMS_NAME])
        return pack(files)

    return make


def _edit_manifest(change: Callable[[dict[str, Any]], object]) -> Callable[[World], bytes]:
    def make(w: World) -> bytes:
        files = unpack(w.bundle)
        manifest = json.loads(files[MANIFEST_NAME])
        change(manifest)
        files[MANIFEST_NAME] = canonical_json(manifest)
        return pack(rechecksum(files))

    return make


def _raw_manifest(data: bytes) -> Callable[[World], bytes]:
    def make(w: World) -> bytes:
        files = unpack(w.bundle)
        files[MANIFEST_NAME] = data
        return pack(rechecksum(files))

    return make


def _set_file(name: str, data: bytes | None) -> Callable[[World], bytes]:
    def make(w: World) -> bytes:
        files = unpack(w.bundle)
        if data is None:
            del files[name]
        else:
            files[name] = data
        return pack(reseal(files))

    return make


def _signed_receipt_payload(payload: bytes) -> Callable[[World], bytes]:
    def make(w: World) -> bytes:
        files = unpack(w.bundle)
        files[RECEIPT_NAME] = payload
        files[RECEIPT_DSSE_NAME] = sign_envelope(
            payload, RECEIPT_PAYLOAD_TYPE, [w.service]
        ).to_json()
        return pack(reseal(files))

    return make


def _runtime_dsse_recorded(envelope: Callable[[World], bytes]) -> Callable[[World], bytes]:
    """Replace runtime.dsse.json and re-sign the receipt so it records the new envelope."""

    def make(w: World) -> bytes:
        data = envelope(w)
        files = unpack(w.bundle)
        receipt = {**w.receipt, "dsse_digest": "sha256:" + sha256(data)}
        files[RUNTIME_DSSE_NAME] = data
        files[RECEIPT_NAME] = canonical_json(receipt)
        files[RECEIPT_DSSE_NAME] = sign_receipt(receipt, w.service)
        return pack(reseal(files))

    return make


def _statement_envelope(predicate_type: str, payload_type: str = IN_TOTO_PAYLOAD_TYPE) -> Any:
    def envelope(w: World) -> bytes:
        statement = Statement(
            subject=(Subject(name=TRACE_NAME, digest={"sha256": sha256(w.trace)}),),
            predicate_type=predicate_type,
            predicate={"tenant": TENANT},
        )
        return sign_envelope(statement_bytes(statement), payload_type, [w.attester]).to_json()

    return envelope


def _first_entry(change: Callable[[dict[str, Any]], object]) -> Callable[[dict[str, Any]], None]:
    def edit(manifest: dict[str, Any]) -> None:
        assert manifest["files"][0]["path"] == SOURCE_MANIFEST_NAME
        change(manifest["files"][0])

    return edit


CS, MF, BM, RJ = CHECKSUMS_NAME, MANIFEST_NAME, SOURCE_MANIFEST_NAME, RECEIPT_NAME
OTHER_PREDICATE = "https://example.com/not-a-runtime-trace/v1"


@dataclass(frozen=True)
class Defect:
    id: str
    make: Callable[[World], bytes]
    expected: frozenset[tuple[str, str | None]]
    #: Check runtime.dsse.json's signatures (else only what it claims).
    signed: bool = True


DEFECTS = [
    Defect("checksums-not-ascii", _edit_checksums(lambda b: b + "é\n".encode()), _expect((C, CS))),
    Defect("checksums-no-final-newline", _edit_checksums(lambda b: b[:-1]), _expect((C, CS))),
    Defect("checksums-junk-line", _edit_checksums(lambda b: b + b"junk\n"), _expect((C, CS))),
    Defect(
        "checksums-one-space",
        _edit_checksums(lambda b: b.replace(b"  ", b" ", 1)),
        _expect((C, CS), (C, BM)),
    ),
    Defect(
        "checksums-lists-a-file-twice",
        _edit_checksums(lambda b: b + b.splitlines(keepends=True)[0]),
        _expect((C, BM)),
    ),
    Defect(
        "checksums-lists-itself",
        _edit_checksums(lambda b: b + f"{'0' * 64}  {CS}\n".encode()),
        _expect((C, CS)),
    ),
    Defect("manifest-not-json", _raw_manifest(b"{"), _expect((M, MF))),
    Defect(
        "manifest-duplicate-key", _raw_manifest(b'{"tenant":"a","tenant":"b"}'), _expect((M, MF))
    ),
    Defect("manifest-not-an-object", _raw_manifest(b"[]"), _expect((M, MF))),
    Defect(
        "manifest-other-schema",
        _edit_manifest(lambda m: m.update(schema="stella.evidence.bundle/v0")),
        _expect((M, MF)),
    ),
    Defect("manifest-no-tenant", _edit_manifest(lambda m: m.pop("tenant")), _expect((M, MF))),
    Defect(
        "manifest-files-not-an-array",
        _edit_manifest(lambda m: m.update(files={})),
        _expect((M, MF)),
    ),
    Defect(
        "manifest-entry-not-an-object",
        _edit_manifest(lambda m: m["files"].append(5)),
        _expect((M, MF)),
    ),
    Defect(
        "manifest-entry-path-empty",
        _edit_manifest(_first_entry(lambda e: e.update(path=""))),
        _expect((M, MF), (M, BM)),
    ),
    Defect(
        "manifest-entry-sha256-uppercase",
        _edit_manifest(_first_entry(lambda e: e.update(sha256=e["sha256"].upper()))),
        _expect((M, MF), (M, BM)),
    ),
    Defect(
        "manifest-entry-size-boolean",
        _edit_manifest(_first_entry(lambda e: e.update(size=True))),
        _expect((M, MF), (M, BM)),
    ),
    Defect(
        "manifest-entry-digest-wrong",
        _edit_manifest(_first_entry(lambda e: e.update(sha256="0" * 64))),
        _expect((M, BM)),
    ),
    Defect(
        "manifest-lists-a-file-twice",
        _edit_manifest(lambda m: m["files"].append(dict(m["files"][0]))),
        _expect((M, BM)),
    ),
    Defect(
        "manifest-lists-checksums",
        _edit_manifest(lambda m: m["files"].append({"path": CS, "sha256": "0" * 64, "size": 1})),
        _expect((M, CS)),
    ),
    Defect("receipt-json-missing", _set_file(RJ, None), _expect((L, RJ))),
    Defect(
        "receipt-envelope-missing",
        _set_file(RECEIPT_DSSE_NAME, None),
        _expect((L, RECEIPT_DSSE_NAME)),
    ),
    Defect(
        "receipt-envelope-malformed",
        _set_file(RECEIPT_DSSE_NAME, b"{}"),
        _expect((S, RECEIPT_DSSE_NAME)),
    ),
    Defect("a-second-trace", _set_file("second.ndjson", b"{}\n"), _expect((L, "second.ndjson"))),
    Defect("no-trace", _set_file(TRACE_NAME, None), _expect((L, None))),
    Defect("signed-receipt-not-json", _signed_receipt_payload(b"not json"), _expect((R, RJ))),
    Defect(
        "signed-receipt-content-sha256-malformed",
        lambda w: _resign_receipt(w, content_sha256="XYZ"),
        _expect((R, RJ)),
    ),
    Defect(
        "signed-receipt-dsse-digest-malformed",
        lambda w: _resign_receipt(w, dsse_digest="md5:abc"),
        _expect((R, RJ), (D, RUNTIME_DSSE_NAME)),
    ),
    Defect(
        "runtime-envelope-malformed",
        _runtime_dsse_recorded(lambda w: b"{}"),
        _expect((D, RUNTIME_DSSE_NAME)),
    ),
    Defect(
        "unsigned-check:runtime-envelope-of-another-payload-type",
        _runtime_dsse_recorded(_statement_envelope(RUNTIME_TRACE_PREDICATE, RECEIPT_PAYLOAD_TYPE)),
        _expect((D, RUNTIME_DSSE_NAME)),
        signed=False,
    ),
    Defect(
        "unsigned-check:runtime-envelope-not-a-statement",
        _runtime_dsse_recorded(
            lambda w: sign_envelope(b"{}", IN_TOTO_PAYLOAD_TYPE, [w.attester]).to_json()
        ),
        _expect((D, RUNTIME_DSSE_NAME)),
        signed=False,
    ),
    Defect(
        "unsigned-check:runtime-envelope-of-another-predicate",
        _runtime_dsse_recorded(_statement_envelope(OTHER_PREDICATE)),
        _expect((D, RUNTIME_DSSE_NAME)),
        signed=False,
    ),
    Defect(
        "unsigned-check:runtime-envelope-about-another-trace",
        _runtime_dsse_recorded(lambda w: w.other_runtime_dsse),
        _expect((D, RUNTIME_DSSE_NAME)),
        signed=False,
    ),
]


@pytest.mark.parametrize("defect", DEFECTS, ids=[d.id for d in DEFECTS])
def test_defective_document_is_named(world: World, defect: Defect) -> None:
    keys = world.attestation_keys if defect.signed else []
    report = world.check(defect.make(world), attestation_keys=keys)
    assert pairs(report) == defect.expected, [str(p) for p in report.problems]
    json.dumps(report.to_dict())


def test_the_unsigned_check_accepts_a_good_envelope(world: World) -> None:
    make = _runtime_dsse_recorded(_statement_envelope(RUNTIME_TRACE_PREDICATE))
    assert world.check(make(world), attestation_keys=[]).ok


def test_unreadable_archive_skips_every_other_check(world: World) -> None:
    report = world.check(b"not a bundle")
    assert [(c.check, c.status) for c in report.checks] == [("archive", "failed")] + [
        (c.value, "skipped") for c in list(BundleCheck)[1:]
    ]
    assert report.receipt is None and not report.receipt_verified


def test_unsigned_receipt_is_still_reported_but_not_verified(world: World) -> None:
    report = check_bundle(world.bundle, service_keys=[])
    assert pairs(report) == _expect((S, RECEIPT_DSSE_NAME))
    assert report.receipt == world.receipt
    assert not report.receipt_verified


def test_runtime_envelope_signed_by_an_untrusted_attester(world: World) -> None:
    report = world.check(world.bundle, attestation_keys=[new_signer().public_key])
    assert pairs(report) == _expect((D, RUNTIME_DSSE_NAME))


# --- limits -----------------------------------------------------------------------------------


def test_gzip_bomb_is_refused_by_the_inflate_cap(world: World) -> None:
    bomb = gzip.compress(b"\0" * (8 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 16 * 1024
    report = world.check(bomb, max_extracted_bytes=1024 * 1024)
    assert pairs(report) == _expect((A, None))
    assert "inflates to more than" in report.problems[0].message


def test_input_over_the_cap_is_refused_before_inflating(world: World) -> None:
    report = world.check(world.bundle, max_extracted_bytes=len(world.bundle) - 1)
    assert pairs(report) == _expect((A, None))


def test_too_many_entries(world: World) -> None:
    extra = [entry(f"x{i}", b"") for i in range(10)]
    report = world.check(pack(unpack(world.bundle), *extra), max_members=8)
    assert pairs(report) == _expect((A, None))


@pytest.mark.parametrize("bad", [0, -1, True, 1.5])
def test_limits_must_be_positive_integers(world: World, bad: Any) -> None:
    with pytest.raises(ValueError, match="max_members"):
        world.check(world.bundle, max_members=bad)


@settings(max_examples=examples(60), deadline=None)
@given(data=st.data())
def test_damage_never_raises(world: World, data: st.DataObject) -> None:
    bundle = world.bundle
    cut = data.draw(st.integers(0, len(bundle)), label="cut")
    index = data.draw(st.integers(10, len(bundle) - 1), label="flip")
    truncated = world.check(bundle[:cut])
    assert truncated.ok == (cut == len(bundle))
    damaged = flip(bundle, index)
    if world.check(damaged).ok:
        # A deflate stream has bits that change no output (seen in CI at byte 231): the
        # evidence it holds is then the very same, which is all the checks vouch for.
        assert gzip.decompress(damaged) == gzip.decompress(bundle)


# --- the record -------------------------------------------------------------------------------


def test_default_trace_name_follows_the_magic_bytes() -> None:
    assert default_trace_name(gz(b"x")) == "runtime-trace.ndjson.gz"
    assert default_trace_name(b'{"a":1}\n') == "runtime-trace.ndjson"


def test_a_trace_name_can_be_given(world: World) -> None:
    record = replace(world.record, trace_name="probe-7.ndjson.gz")
    report = world.check(export_bundle(record))
    assert report.ok, report.problems
    assert report.trace_name == "probe-7.ndjson.gz"


@pytest.mark.parametrize(
    "name",
    ["../runtime.ndjson", "a/b.ndjson", "trace.txt", "manifest.json", ".ndjson", "x y.ndjson"],
)
def test_unsafe_trace_names_are_refused(world: World, name: str) -> None:
    with pytest.raises(ValueError, match="trace_name"):
        replace(world.record, trace_name=name)


def test_record_fields_are_checked(world: World) -> None:
    with pytest.raises(InvalidTenant):
        replace(world.record, tenant="Not A Tenant")
    with pytest.raises(ValueError, match="ingest_id"):
        replace(world.record, ingest_id="")
    with pytest.raises(TypeError):
        replace(world.record, trace="text")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ingest_id"):
        replace(world.record, ingest_id="01J\n")
    with pytest.raises(TypeError):
        replace(world.record, runtime_dsse="{}")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        replace(world.record, trace_name=None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        check_bundle("text", service_keys=[])  # type: ignore[arg-type]


def test_export_refuses_a_receipt_that_is_not_an_object(world: World) -> None:
    envelope = sign_envelope(b"[]", RECEIPT_PAYLOAD_TYPE, [world.service]).to_json()
    with pytest.raises(ValueError, match="not a JSON object"):
        export_bundle(replace(world.record, receipt_dsse=envelope))


def test_export_refuses_a_receipt_of_another_ingest(world: World) -> None:
    with pytest.raises(ValueError, match="ingest_id"):
        export_bundle(replace(world.record, ingest_id="01JOTHER"))


def test_export_refuses_an_envelope_that_is_not_a_receipt(world: World) -> None:
    with pytest.raises(InvalidEnvelope):
        export_bundle(replace(world.record, receipt_dsse=world.runtime_dsse))
    with pytest.raises(InvalidEnvelope):
        export_bundle(replace(world.record, receipt_dsse=b"{}"))


# --- stella evidence verify -------------------------------------------------------------------

cli = typer.Typer()
cli.add_typer(evidence_app, name="evidence")
runner = CliRunner()


@pytest.fixture
def files(world: World, tmp_path: Path) -> dict[str, Path]:
    paths = {
        "bundle": tmp_path / "evidence.tar.gz",
        "tampered": tmp_path / "tampered.tar.gz",
        "service": tmp_path / "service.pub.pem",
        "attester": tmp_path / "attester.pub.pem",
    }
    paths["bundle"].write_bytes(world.bundle)
    paths["tampered"].write_bytes(_flip_trace(world))
    paths["service"].write_bytes(world.service.public_key.pem)
    paths["attester"].write_bytes(world.attester.public_key.pem)
    return paths


def run(*args: str | Path) -> Any:
    return runner.invoke(cli, ["evidence", "verify", *map(str, args)])


def test_cli_ok(files: dict[str, Path]) -> None:
    result = run(files["bundle"], "--service-key", files["service"], "--key", files["attester"])
    assert result.exit_code == 0, result.output
    for check in BundleCheck:
        assert f"{check.value}:" in result.stdout
    assert "result: ok" in result.stdout


def test_cli_tampered_exits_3_and_names_the_problem(files: dict[str, Path]) -> None:
    """SPEC §10: a hash mismatch is exit 3 (it was 1, like every other failed check)."""
    result = run(files["tampered"], "--service-key", files["service"])
    assert result.exit_code == 3, result.output
    assert f"  - {TRACE_NAME}: sha256 is" in result.stdout
    assert "checksum:" in result.stdout and "FAILED" in result.stdout


def test_cli_json(files: dict[str, Path]) -> None:
    result = run(files["tampered"], "--service-key", files["service"], "--json")
    assert result.exit_code == 3
    document = json.loads(result.stdout)
    assert document["ok"] is False and document["exit_code"] == 3
    assert {"check": "checksum", "path": TRACE_NAME, "kind": "hash_mismatch"} in [
        {"check": p["check"], "path": p["path"], "kind": p["kind"]} for p in document["problems"]
    ]


def test_cli_wrong_service_key_exits_4(files: dict[str, Path], tmp_path: Path) -> None:
    """SPEC §10: a signature that is invalid (here: by a key not trusted) is exit 4."""
    other = tmp_path / "other.pub.pem"
    other.write_bytes(public_key_pem(generate_private_key_pem()))
    result = run(files["bundle"], "--service-key", other)
    assert result.exit_code == 4, result.output
    assert "receipt_signature:" in result.stdout


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"not a bundle", id="text"),
        pytest.param(bytes(range(256)) * 4, id="binary"),
        pytest.param(gzip.compress(b"gzip of something that is not a tar" * 40), id="gzip-no-tar"),
        pytest.param(b"\x1f\x8b\x08\x00garbage after the magic", id="corrupt-gzip"),
    ],
)
def test_cli_empty_or_garbage_bundle_exits_2(
    files: dict[str, Path], tmp_path: Path, content: bytes
) -> None:
    """SPEC §10: input that is not a bundle at all is unreadable input (exit 2, was 1)."""
    garbage = tmp_path / "garbage.tar.gz"
    garbage.write_bytes(content)
    result = run(garbage, "--service-key", files["service"])
    assert result.exit_code == 2, result.output
    assert "archive:" in result.stdout and "FAILED" in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["MISSING", "--service-key", "SERVICE"], id="missing-bundle"),
        pytest.param(["DIR", "--service-key", "SERVICE"], id="bundle-is-a-directory"),
        pytest.param(["BUNDLE", "--service-key", "MISSING"], id="missing-service-key"),
        pytest.param(["BUNDLE", "--service-key", "BUNDLE"], id="service-key-not-pem"),
        pytest.param(["BUNDLE", "--service-key", "SERVICE", "--key", "BUNDLE"], id="key-not-pem"),
        pytest.param(["BUNDLE", "--data-dir", "EMPTY"], id="no-service-key-anywhere"),
        pytest.param([], id="no-bundle"),
    ],
)
def test_cli_unreadable_input_or_usage_exits_2(
    files: dict[str, Path], tmp_path: Path, args: list[str]
) -> None:
    names = {
        "MISSING": tmp_path / "missing",
        "DIR": tmp_path,
        "BUNDLE": files["bundle"],
        "SERVICE": files["service"],
        "EMPTY": tmp_path / "no-deployment-here",
    }
    result = run(*[names.get(arg, arg) for arg in args])
    assert result.exit_code == 2, result.output


@pytest.mark.parametrize(
    "name", ["negative-seek-from-forged-header.bin", "overflow-from-forged-size.bin"]
)
def test_a_forged_tar_header_is_a_damaged_archive_not_a_crash(name: str) -> None:
    """Found by fuzzing the air-gap bundle reader: tarfile raises OverflowError or ValueError
    for forged header fields; the Evidence Locker's checker shares that reader's exposure."""
    data = (
        Path(__file__).resolve().parents[2] / "fuzz/regressions/bundle_archive" / name
    ).read_bytes()
    tar = data[1:]  # the harness input: a control byte, then a tar it gzips
    report = check_bundle(gzip.compress(tar, mtime=0), service_keys=[], attestation_keys=[])
    assert not report.ok
    assert any("damaged" in problem.message for problem in report.problems)


# --- receipt versions (a DSSE attached after the ingest, an orphan's retry) -------------------


def versioned_bundle(world: World, **changes: Any) -> bytes:
    receipt = receipt_for(world.trace, world.runtime_dsse, **changes)
    return export_bundle(replace(world.record, receipt_dsse=sign_receipt(receipt, world.service)))


def test_a_later_receipt_version_verifies_and_names_what_it_supersedes(world: World) -> None:
    supersedes = "sha256:" + sha256(world.record.receipt_dsse)
    report = world.check(versioned_bundle(world, version=2, supersedes=supersedes))
    assert report.ok, report.problems
    receipt_check = next(c for c in report.checks if c.check == BundleCheck.RECEIPT.value)
    assert f"receipt version 2, supersedes {supersedes}" in receipt_check.message


@pytest.mark.parametrize(
    "changes",
    [
        {"version": 2},
        {"version": 1, "supersedes": "sha256:" + "0" * 64},
        {"version": True, "supersedes": "sha256:" + "0" * 64},
        {"supersedes": "sha256:" + "0" * 64},
        {"version": 3, "supersedes": "0" * 64},
    ],
    ids=["no-supersedes", "version-1", "bool-version", "no-version", "bare-hex"],
)
def test_a_malformed_receipt_version_is_named(world: World, changes: dict[str, Any]) -> None:
    report = world.check(versioned_bundle(world, **changes))
    assert pairs(report) == {(BundleCheck.RECEIPT.value, RECEIPT_NAME)}
