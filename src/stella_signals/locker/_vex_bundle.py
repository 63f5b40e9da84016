"""The Evidence Locker bundle of a VEX document: everything needed to re-derive its verdicts
offline, as a deterministic ``.tar.gz`` laid out like an ingest's bundle (flat names,
``manifest.json`` in RFC 8785, ``checksums.txt``, written by `write_bundle_archive`)::

    checksums.txt                       "<sha256>  <path>" per file but itself, sorted
    manifest.json                       schema, vex id, tenant, format, graph hash, catalog
                                        digest, evaluation (since, until, computed_at), the
                                        ingests with their files, files [{path, sha256, size}]
    vex.<format>.json                   the VEX document, exactly as signed
    vex.<format>.json.dsse.json         its DSSE envelope (``stella vex verify`` finds it)
    catalog.json                        the catalog's canonical bytes (its digest)
    graph.json                          the graph's canonical bytes (its hash)
    evaluation.json                     the evaluation as computed (verdicts, unknowns)
    <ingest id>.receipt.dsse.json       each ingest's signed receipt
    <ingest id>.<trace name>            its trace, as received
    <ingest id>.probe-manifest.json     its probe manifest, when it had one
    <ingest id>.runtime.dsse.json       its trace's DSSE envelope, when it had one

`read_vex_bundle` is the offline reader: the safe tar reader, every file checked against
``checksums.txt`` and the manifest's listing, nothing extra, nothing missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stella_signals.bundle import (
    MANIFEST_NAME,
    ArchiveUnreadable,
    FileEntry,
    parse_file_entry,
    read_tar_gz,
    write_bundle_archive,
)
from stella_signals.canonical import canonical_json
from stella_signals.digests import sha256_hex
from stella_signals.errors import HashMismatch, InvalidManifest
from stella_signals.locker._bundle import CHECKSUMS_NAME, default_trace_name
from stella_signals.strictjson import loads_strict

__all__ = [
    "VEX_BUNDLE_SCHEMA",
    "VexBundle",
    "VexBundleIngest",
    "export_vex_bundle",
    "read_vex_bundle",
]

VEX_BUNDLE_SCHEMA = "stella.vex.bundle/v1"
CATALOG_NAME = "catalog.json"
GRAPH_NAME = "graph.json"
EVALUATION_NAME = "evaluation.json"
_DSSE_SUFFIX = ".dsse.json"
#: Most bytes a VEX bundle may inflate to (graphs and traces are capped on ingest).
MAX_VEX_BUNDLE_BYTES = 2 * 1024 * 1024 * 1024
MAX_VEX_BUNDLE_MEMBERS = 4096


@dataclass(frozen=True, slots=True, kw_only=True)
class VexBundleIngest:
    """One ingest the evaluation read: its signed receipt, trace, and what came with it."""

    ingest_id: str
    receipt_dsse: bytes = field(repr=False)
    trace: bytes = field(repr=False)
    probe_manifest: bytes | None = field(default=None, repr=False)
    runtime_dsse: bytes | None = field(default=None, repr=False)

    def files(self) -> dict[str, bytes]:
        prefix = self.ingest_id
        found = {
            f"{prefix}.receipt.dsse.json": self.receipt_dsse,
            f"{prefix}.{default_trace_name(self.trace)}": self.trace,
        }
        if self.probe_manifest is not None:
            found[f"{prefix}.probe-manifest.json"] = self.probe_manifest
        if self.runtime_dsse is not None:
            found[f"{prefix}.runtime.dsse.json"] = self.runtime_dsse
        return found


@dataclass(frozen=True, slots=True, kw_only=True)
class VexBundle:
    """What a VEX bundle holds. ``evaluate`` is how to call the engine again: ``since``,
    ``until`` and ``computed_at`` as RFC 3339 text (``since``/``until`` may be None)."""

    vex_id: str
    tenant: str
    format: str
    graph_hash: str
    catalog_digest: str
    evaluation_id: str
    evaluate: Mapping[str, str | None]
    document: bytes = field(repr=False)
    envelope: bytes = field(repr=False)
    catalog: bytes = field(repr=False)
    graph: bytes = field(repr=False)
    evaluation: bytes = field(repr=False)
    ingests: tuple[VexBundleIngest, ...] = ()

    @property
    def document_name(self) -> str:
        return f"vex.{self.format}.json"


def export_vex_bundle(bundle: VexBundle) -> bytes:
    """The bundle as a deterministic ``.tar.gz``: the same contents give the same bytes."""
    files: dict[str, bytes] = {
        bundle.document_name: bundle.document,
        bundle.document_name + _DSSE_SUFFIX: bundle.envelope,
        CATALOG_NAME: bundle.catalog,
        GRAPH_NAME: bundle.graph,
        EVALUATION_NAME: bundle.evaluation,
    }
    ingests = []
    for ingest in sorted(bundle.ingests, key=lambda i: i.ingest_id):
        own = ingest.files()
        if own.keys() & files.keys():
            raise ValueError(f"ingest {ingest.ingest_id} is in the bundle twice")
        files.update(own)
        ingests.append({"ingest_id": ingest.ingest_id, "files": sorted(own)})
    files[MANIFEST_NAME] = canonical_json(
        {
            "schema": VEX_BUNDLE_SCHEMA,
            "vex_id": bundle.vex_id,
            "tenant": bundle.tenant,
            "format": bundle.format,
            "document": bundle.document_name,
            "graph_hash": bundle.graph_hash,
            "catalog_digest": bundle.catalog_digest,
            "evaluation_id": bundle.evaluation_id,
            "evaluate": dict(bundle.evaluate),
            "ingests": ingests,
            "files": [FileEntry.of(path, data).to_dict() for path, data in sorted(files.items())],
        }
    )
    files[CHECKSUMS_NAME] = "".join(
        f"{sha256_hex(data)}  {path}\n" for path, data in sorted(files.items())
    ).encode("ascii")
    return write_bundle_archive(files)


def read_vex_bundle(data: bytes) -> VexBundle:
    """A VEX bundle's contents, every file checked against ``checksums.txt`` and the
    manifest. `InvalidManifest` for a bundle that is not laid out so, `HashMismatch` for a
    file whose bytes changed."""
    try:
        contents = read_tar_gz(
            data, max_bytes=MAX_VEX_BUNDLE_BYTES, max_entries=MAX_VEX_BUNDLE_MEMBERS
        )
    except ArchiveUnreadable as exc:
        raise InvalidManifest(f"not a VEX bundle: {exc}") from None
    if contents.damage is not None:
        raise InvalidManifest(contents.damage)
    files: dict[str, bytes] = {}
    for entry in contents.entries:
        if entry.data is None or entry.name in files or "/" in entry.name:
            raise InvalidManifest(f"{entry.name}: not a plain file listed once")
        files[entry.name] = entry.data
    manifest = _object(files.get(MANIFEST_NAME), MANIFEST_NAME)
    if manifest.get("schema") != VEX_BUNDLE_SCHEMA:
        raise InvalidManifest(f"{MANIFEST_NAME}: schema is not {VEX_BUNDLE_SCHEMA}")
    listed: dict[str, FileEntry] = {}
    for number, raw in enumerate(manifest.get("files", [])):
        item = parse_file_entry(raw, f"{MANIFEST_NAME} files[{number}]")
        listed[item.path] = item
    checksums = files.get(CHECKSUMS_NAME, b"").decode("ascii", "replace").splitlines()
    summed: dict[str, str] = {}
    for line in checksums:
        digest, _, path = line.partition("  ")
        summed[path] = digest
    if set(listed) != set(files) - {MANIFEST_NAME, CHECKSUMS_NAME} or set(summed) != set(files) - {
        CHECKSUMS_NAME
    }:
        raise InvalidManifest("the files are not those manifest.json and checksums.txt list")
    for path, item in listed.items():
        item.check(sha256=sha256_hex(files[path]), size=len(files[path]))
    for path, digest in summed.items():
        if digest != sha256_hex(files[path]):
            raise HashMismatch(f"{path}: sha256 differs from checksums.txt")
    try:
        return _contents(manifest, files)
    except (KeyError, TypeError, StopIteration) as exc:
        raise InvalidManifest(f"{MANIFEST_NAME} does not describe the bundle: {exc!r}") from None


def _contents(manifest: Mapping[str, Any], files: Mapping[str, bytes]) -> VexBundle:
    document_name = str(manifest["document"])
    ingests = []
    for item in manifest.get("ingests", []):
        ingest_id = str(item["ingest_id"])
        names = {name.removeprefix(ingest_id + "."): files[name] for name in item["files"]}
        trace = next(v for k, v in names.items() if k.endswith((".ndjson", ".ndjson.gz")))
        ingests.append(
            VexBundleIngest(
                ingest_id=ingest_id,
                receipt_dsse=names["receipt.dsse.json"],
                trace=trace,
                probe_manifest=names.get("probe-manifest.json"),
                runtime_dsse=names.get("runtime.dsse.json"),
            )
        )
    return VexBundle(
        vex_id=str(manifest["vex_id"]),
        tenant=str(manifest["tenant"]),
        format=str(manifest["format"]),
        graph_hash=str(manifest["graph_hash"]),
        catalog_digest=str(manifest["catalog_digest"]),
        evaluation_id=str(manifest["evaluation_id"]),
        evaluate=dict(manifest["evaluate"]),
        document=files[document_name],
        envelope=files[document_name + _DSSE_SUFFIX],
        catalog=files[CATALOG_NAME],
        graph=files[GRAPH_NAME],
        evaluation=files[EVALUATION_NAME],
        ingests=tuple(ingests),
    )


def _object(data: bytes | None, name: str) -> dict[str, Any]:
    if data is None:
        raise InvalidManifest(f"{name} is missing")
    try:
        value = loads_strict(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidManifest(f"{name}: not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidManifest(f"{name}: not a JSON object")
    return value
