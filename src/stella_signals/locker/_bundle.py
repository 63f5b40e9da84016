"""Evidence Locker bundles (SPEC §8): a deterministic export and its offline verification.

One Evidence Locker record per ingest: the trace exactly as received, its DSSE envelope if
any, the air-gap bundle manifest if the ingest came from one, and the service-signed receipt.
`export_bundle` writes it as a flat ``.tar.gz`` that is byte-identical on every export::

    bundle-manifest.json   the air-gap bundle's manifest.json, as received (optional)
    checksums.txt          "<sha256>  <path>" per file but itself, sorted (``sha256sum -c``)
    manifest.json          RFC 8785: schema, ingest_id, tenant, files [{path, sha256, size}]
    receipt.dsse.json      the signed receipt envelope, as stored
    receipt.json           the envelope's payload: the exact bytes the service signed
    <trace name>           runtime-trace.ndjson.gz (or .ndjson), as received
    runtime.dsse.json      the trace's DSSE envelope, as received (optional)

Determinism: entries sorted by name, USTAR headers with mtime 0, uid/gid 0, empty
uname/gname, mode 0644; the gzip member (written by `stella_signals.bundle`'s
`write_bundle_archive`, which air-gap bundles share) has mtime 0, no file name, OS "unknown"
and zlib level 9. The
tar inside is fully fixed; the deflate stream is whatever the linked zlib makes at level 9,
so machines agree byte for byte when they run the same deflate implementation (classic zlib
has long been stable; zlib-ng, e.g. Fedora's zlib-ng-compat, compresses differently).

Verification has two faces (STYLE habit 5): `check_bundle` returns a `BundleReport` and never
raises for a bad bundle; `verify_bundle` raises `BundleInvalid` carrying that report. The tar
is read into memory member by member (never extracted), with a cap on inflated bytes, by the
same safe reader as air-gap bundles (`stella_signals.bundle.read_tar_gz`).
"""

from __future__ import annotations

import re
import tarfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Literal

from stella_signals.attest import (
    IN_TOTO_PAYLOAD_TYPE,
    RECEIPT_PAYLOAD_TYPE,
    RUNTIME_TRACE_PREDICATE,
    Envelope,
    EnvelopeReport,
    InvalidEnvelope,
    InvalidStatement,
    PublicKey,
    RuntimeAttestationReport,
    check_envelope,
    check_runtime_attestation,
    parse_envelope,
    parse_statement,
)
from stella_signals.bundle import (
    BUNDLE_DSSE_NAME,
    BUNDLE_PROBE_MANIFEST_NAME,
    MANIFEST_NAME,
    ArchiveFault,
    ArchiveUnreadable,
    FileEntry,
    TarEntry,
    parse_file_entry,
    read_tar_gz,
    write_bundle_archive,
)
from stella_signals.canonical import canonical_json
from stella_signals.cas import CasUri, Namespace
from stella_signals.digests import sha256_hex
from stella_signals.errors import InvalidField, InvalidManifest, LimitExceeded, VerificationFailed
from stella_signals.limits import require_count
from stella_signals.receipt import RECEIPT_SCHEMA
from stella_signals.strictjson import loads_strict
from stella_signals.tenancy import parse_tenant
from stella_signals.trace import parse_probe_manifest
from stella_signals.wire import Problem, thaw

#: ``schema`` of our own manifest.json.
BUNDLE_SCHEMA = "stella.evidence.bundle/v1"

CHECKSUMS_NAME = "checksums.txt"
RECEIPT_NAME = "receipt.json"
RECEIPT_DSSE_NAME = "receipt.dsse.json"
#: Both bundle kinds call the trace's DSSE envelope so (and their listing manifest.json).
RUNTIME_DSSE_NAME = BUNDLE_DSSE_NAME
#: The probe manifest the receipt names (SPEC §14), under the air-gap bundle's name too.
PROBE_MANIFEST_NAME = BUNDLE_PROBE_MANIFEST_NAME
#: The air-gap bundle's own manifest.json (SPEC §10), renamed so it cannot clash with ours.
SOURCE_MANIFEST_NAME = "bundle-manifest.json"

GZIP_TRACE_NAME = "runtime-trace.ndjson.gz"
PLAIN_TRACE_NAME = "runtime-trace.ndjson"
#: A file whose name ends so is the trace; every other name is one of the fixed names above.
TRACE_SUFFIXES = (".ndjson", ".ndjson.gz")

_REQUIRED = (CHECKSUMS_NAME, MANIFEST_NAME, RECEIPT_DSSE_NAME, RECEIPT_NAME)
_KNOWN = frozenset((*_REQUIRED, RUNTIME_DSSE_NAME, SOURCE_MANIFEST_NAME, PROBE_MANIFEST_NAME))

#: Most bytes `check_bundle` inflates (and accepts as input): traces are capped at 512 MiB as
#: received (SPEC §2), everything else in a bundle is small.
DEFAULT_MAX_EXTRACTED_BYTES = 1024 * 1024 * 1024
#: Most tar entries read; a good bundle has at most seven.
DEFAULT_MAX_MEMBERS = 64

_GZIP_MAGIC = b"\x1f\x8b"

#: Tar entry types other than regular files and links, as named in problems.
_ENTRY_KINDS = {
    tarfile.DIRTYPE: "directory",
    tarfile.FIFOTYPE: "FIFO",
    tarfile.CHRTYPE: "character device",
    tarfile.BLKTYPE: "block device",
    tarfile.CONTTYPE: "contiguous file",
    tarfile.GNUTYPE_SPARSE: "sparse file",
}

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_CHECKSUM_LINE = re.compile(r"([0-9a-f]{64})  ([^\n]+)")
_DSSE_DIGEST = re.compile(r"sha256:([0-9a-f]{64})")


# --- the record -------------------------------------------------------------------------------


def default_trace_name(trace: bytes) -> str:
    """``runtime-trace.ndjson.gz`` for gzip bytes (magic ``1f 8b``), else ``.ndjson``."""
    return GZIP_TRACE_NAME if trace.startswith(_GZIP_MAGIC) else PLAIN_TRACE_NAME


@dataclass(frozen=True, slots=True, kw_only=True)
class EvidenceRecord:
    """What the Evidence Locker keeps for one ingest; every byte string exactly as received.

    ``trace_name`` defaults (when left ``""``) to `default_trace_name` of the trace; a name
    given must be a plain file name ending in ``.ndjson`` or ``.ndjson.gz``. ``receipt_dsse``
    is the service-signed receipt envelope's JSON bytes; ``runtime_dsse`` the trace's DSSE
    envelope; ``bundle_manifest`` the air-gap bundle's manifest.json; ``probe_manifest`` the
    probe manifest the receipt names (``probe_manifest_digest``).
    """

    ingest_id: str
    tenant: str
    trace: bytes = field(repr=False)
    receipt_dsse: bytes = field(repr=False)
    trace_name: str = ""
    runtime_dsse: bytes | None = field(default=None, repr=False)
    bundle_manifest: bytes | None = field(default=None, repr=False)
    probe_manifest: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.ingest_id, str) or not self.ingest_id.isprintable():
            raise ValueError(f"ingest_id must be a printable string, got {self.ingest_id!r}")
        if not self.ingest_id:
            raise ValueError("ingest_id must not be empty")
        parse_tenant(self.tenant)  # InvalidTenant
        for name in ("trace", "receipt_dsse"):
            if not isinstance(getattr(self, name), bytes):
                raise TypeError(f"EvidenceRecord.{name} must be bytes")
        for name in ("runtime_dsse", "bundle_manifest", "probe_manifest"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, bytes):
                raise TypeError(f"EvidenceRecord.{name} must be bytes or None")
        if not isinstance(self.trace_name, str):
            raise TypeError("EvidenceRecord.trace_name must be a string")
        if not self.trace_name:
            object.__setattr__(self, "trace_name", default_trace_name(self.trace))
        elif not (_SAFE_NAME.fullmatch(self.trace_name) and _is_trace_name(self.trace_name)):
            raise ValueError(
                f"trace_name must be a plain file name (A-Z a-z 0-9 . _ -) ending in .ndjson "
                f"or .ndjson.gz, got {self.trace_name!r}"
            )


def _is_trace_name(name: str) -> bool:
    return name.endswith(TRACE_SUFFIXES)


# --- export -----------------------------------------------------------------------------------


def export_bundle(record: EvidenceRecord) -> bytes:
    """The record as a deterministic ``.tar.gz``: same record, same bytes, on any machine.

    Raises `InvalidEnvelope` when ``receipt_dsse`` is not a receipt envelope, and
    ``ValueError`` when the signed receipt names another ingest or tenant than the record
    (stored evidence that disagrees with itself is a bug to surface, not to export).
    """
    envelope = parse_envelope(record.receipt_dsse)
    if envelope.payload_type != RECEIPT_PAYLOAD_TYPE:
        raise InvalidEnvelope(
            f"receipt envelope has payload type {envelope.payload_type!r}, "
            f"expected {RECEIPT_PAYLOAD_TYPE!r}",
            field="payloadType",
        )
    receipt = _json_object(envelope.payload)
    if receipt is None:
        raise ValueError("the signed receipt is not a JSON object")
    for name in ("ingest_id", "tenant"):
        if receipt.get(name) != getattr(record, name):
            raise ValueError(
                f"the signed receipt says {name} {receipt.get(name)!r}, "
                f"the record {getattr(record, name)!r}"
            )

    files: dict[str, bytes] = {
        RECEIPT_NAME: envelope.payload,
        RECEIPT_DSSE_NAME: record.receipt_dsse,
        record.trace_name: record.trace,
    }
    if record.runtime_dsse is not None:
        files[RUNTIME_DSSE_NAME] = record.runtime_dsse
    if record.bundle_manifest is not None:
        files[SOURCE_MANIFEST_NAME] = record.bundle_manifest
    if record.probe_manifest is not None:
        files[PROBE_MANIFEST_NAME] = record.probe_manifest
    files[MANIFEST_NAME] = canonical_json(
        {
            "schema": BUNDLE_SCHEMA,
            "ingest_id": record.ingest_id,
            "tenant": record.tenant,
            "files": [FileEntry.of(path, data).to_dict() for path, data in sorted(files.items())],
        }
    )
    files[CHECKSUMS_NAME] = "".join(
        f"{sha256_hex(data)}  {path}\n" for path, data in sorted(files.items())
    ).encode("ascii")
    return write_bundle_archive(files)


# --- the report -------------------------------------------------------------------------------


class BundleCheck(StrEnum):
    """The checks `check_bundle` runs, in order; a `BundleProblem` names one of them."""

    ARCHIVE = "archive"
    """gzip and tar are well-formed, within limits, regular files with plain names only."""
    LAYOUT = "layout"
    """The required files and exactly one trace are present, and nothing unknown."""
    CHECKSUM = "checksum"
    """checksums.txt lists exactly the files present (but itself), with their sha256."""
    MANIFEST = "manifest"
    """manifest.json lists exactly the files present (but itself and checksums.txt)."""
    RECEIPT_SIGNATURE = "receipt_signature"
    """receipt.dsse.json is signed by a service key, as an ingest receipt."""
    RECEIPT = "receipt"
    """receipt.json is the signed payload and agrees with the manifest and the trace."""
    RUNTIME_DSSE = "runtime_dsse"
    """runtime.dsse.json is the envelope the receipt records, about this trace."""
    PROBE_MANIFEST = "probe_manifest"
    """probe-manifest.json is the one the receipt names, a probe manifest of this trace."""


CheckStatus = Literal["ok", "failed", "skipped"]


class ProblemKind(StrEnum):
    """What a `BundleProblem` means for the bundle as evidence (the CLI's exit code, SPEC §10)."""

    UNREADABLE = "unreadable"
    """The input is not a readable bundle (not gzip, not a tar, truncated, over a limit)."""
    HASH_MISMATCH = "hash_mismatch"
    """Bytes differ from the digest or size they are declared with (a listing, the receipt)."""
    SIGNATURE = "signature_invalid"
    """A signature is missing, malformed, invalid or by a key that is not trusted."""
    INVALID = "invalid"
    """Anything else: the layout, a listing or a document is wrong."""


@dataclass(frozen=True, slots=True)
class BundleProblem(Problem):
    """One thing wrong with a bundle: the wire toolkit's `Problem` whose place is a file of
    the bundle (``""``: the bundle itself) and whose reason is the check that found it, plus
    the ``kind`` that picks the exit code; rendered as ``{check, path, message, kind}``."""

    kind: ProblemKind = ProblemKind.INVALID

    @property
    def check(self) -> str:
        return self.reason

    @property
    def path(self) -> str | None:
        return self.pointer or None

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "path": self.path,
            "message": self.message,
            "kind": self.kind.value,
        }

    def __str__(self) -> str:
        return f"{self.check}: {self.path or '(bundle)'}: {self.message}"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of one check: ``failed`` when it found a problem, ``skipped`` (with the
    reason in ``message``) when what it checks is absent or unreadable."""

    check: str
    status: CheckStatus
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "status": self.status, "message": self.message}


#: A regular file found in the bundle, with its digest and size as found.
BundleFile = FileEntry


@dataclass(frozen=True, slots=True)
class BundleReport:
    """What `check_bundle` found; ``ok`` only when there is no problem at all.

    ``receipt`` is the signed receipt payload parsed (receipt.json when the envelope is
    unreadable); trust it only when ``receipt_verified``. ``ingest_id`` and ``tenant`` are
    the manifest's claims.
    """

    ok: bool
    checks: tuple[CheckResult, ...]
    problems: tuple[BundleProblem, ...]
    files: tuple[BundleFile, ...]
    ingest_id: str | None
    tenant: str | None
    trace_name: str | None
    receipt: Mapping[str, Any] | None
    receipt_verified: bool
    #: Service keys that signed the receipt.
    receipt_keyids: tuple[str, ...]
    #: Attestation keys that signed runtime.dsse.json (empty when none were given).
    attestation_keyids: tuple[str, ...]
    #: The files' bytes, only when the bundle checked out (``ok``); for importing it.
    contents: Mapping[str, bytes] = field(default_factory=dict, repr=False, compare=False)

    def problems_of(self, check: str) -> tuple[BundleProblem, ...]:
        return tuple(p for p in self.problems if p.check == check)

    def raise_for_problems(self) -> None:
        """Raise `BundleInvalid` carrying this report unless it is ``ok``."""
        if not self.ok:
            first = self.problems[0]
            more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
            raise BundleInvalid(f"evidence bundle rejected: {first}{more}", report=self)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data, for the timeline and for operators."""
        return {
            "ok": self.ok,
            "checks": [c.to_dict() for c in self.checks],
            "problems": [p.to_dict() for p in self.problems],
            "files": [f.to_dict() for f in self.files],
            "ingest_id": self.ingest_id,
            "tenant": self.tenant,
            "trace_name": self.trace_name,
            "receipt": None if self.receipt is None else thaw(self.receipt),
            "receipt_verified": self.receipt_verified,
            "receipt_keyids": list(self.receipt_keyids),
            "attestation_keyids": list(self.attestation_keyids),
        }


class BundleInvalid(VerificationFailed):
    """An evidence bundle failed verification; ``report`` names every problem."""

    default_reason = "evidence_bundle_invalid"

    def __init__(self, message: str, *, report: BundleReport, reason: str | None = None):
        super().__init__(message, reason=reason)
        self.report = report


# --- check and verify -------------------------------------------------------------------------


def check_bundle(
    data: bytes,
    *,
    service_keys: Sequence[PublicKey],
    attestation_keys: Sequence[PublicKey] = (),
    max_extracted_bytes: int = DEFAULT_MAX_EXTRACTED_BYTES,
    max_members: int = DEFAULT_MAX_MEMBERS,
) -> BundleReport:
    """Check an exported bundle offline; never raises for a bad bundle.

    The receipt must be signed by one of ``service_keys``. runtime.dsse.json, when present,
    must be the envelope the receipt's ``dsse_digest`` names and attest this trace; its
    signatures are checked only when ``attestation_keys`` are given.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"check_bundle needs bytes, got {type(data).__name__}")
    require_count(max_extracted_bytes, "max_extracted_bytes")
    require_count(max_members, "max_members")
    return _Checker(
        bytes(data),
        service_keys=tuple(service_keys),
        attestation_keys=tuple(attestation_keys),
        max_extracted_bytes=max_extracted_bytes,
        max_members=max_members,
    ).run()


def verify_bundle(
    data: bytes,
    *,
    service_keys: Sequence[PublicKey],
    attestation_keys: Sequence[PublicKey] = (),
    max_extracted_bytes: int = DEFAULT_MAX_EXTRACTED_BYTES,
    max_members: int = DEFAULT_MAX_MEMBERS,
) -> BundleReport:
    """`check_bundle`, then the ``ok`` report or `BundleInvalid` (a `VerificationFailed`)."""
    report = check_bundle(
        data,
        service_keys=service_keys,
        attestation_keys=attestation_keys,
        max_extracted_bytes=max_extracted_bytes,
        max_members=max_members,
    )
    report.raise_for_problems()
    return report


@dataclass
class _Checker:
    """One run of the checks over one bundle; collects problems and per-check outcomes."""

    data: bytes
    _: KW_ONLY
    service_keys: tuple[PublicKey, ...]
    attestation_keys: tuple[PublicKey, ...]
    max_extracted_bytes: int
    max_members: int
    problems: list[BundleProblem] = field(default_factory=list, init=False)
    skipped: dict[str, str] = field(default_factory=dict, init=False)
    notes: dict[str, str] = field(default_factory=dict, init=False)
    files: dict[str, bytes] = field(default_factory=dict, init=False)
    digests: dict[str, str] = field(default_factory=dict, init=False)
    trace_name: str | None = field(default=None, init=False)
    manifest_ingest_id: str | None = field(default=None, init=False)
    manifest_tenant: str | None = field(default=None, init=False)
    receipt_envelope: Envelope | None = field(default=None, init=False)
    receipt_report: EnvelopeReport | None = field(default=None, init=False)
    receipt: dict[str, Any] | None = field(default=None, init=False)
    attestation_keyids: tuple[str, ...] = field(default=(), init=False)

    def problem(
        self,
        check: BundleCheck,
        path: str | None,
        message: str,
        kind: ProblemKind = ProblemKind.INVALID,
    ) -> None:
        self.problems.append(BundleProblem(path or "", check.value, message, kind))

    def unreadable(self, message: str) -> None:
        """The archive cannot be read at all: nothing else can be checked."""
        self.problem(BundleCheck.ARCHIVE, None, message, ProblemKind.UNREADABLE)

    def skip(self, check: BundleCheck, why: str) -> None:
        self.skipped[check.value] = why

    def run(self) -> BundleReport:
        if self._read_archive():
            self.digests = {name: sha256_hex(data) for name, data in self.files.items()}
            self._check_layout()
            self._check_checksums()
            self._check_manifest()
            self._check_receipt_signature()
            self._check_receipt()
            self._check_runtime_dsse()
            self._check_probe_manifest()
        else:
            for check in BundleCheck:
                if check is not BundleCheck.ARCHIVE:
                    self.skip(check, "the archive could not be read")
        return self._report()

    def _report(self) -> BundleReport:
        failed = {p.check for p in self.problems}
        checks = []
        for check in BundleCheck:
            if check.value in failed:
                count = sum(1 for p in self.problems if p.check == check.value)
                checks.append(CheckResult(check.value, "failed", f"{count} problem(s)"))
            elif check.value in self.skipped:
                checks.append(CheckResult(check.value, "skipped", self.skipped[check.value]))
            else:
                checks.append(CheckResult(check.value, "ok", self.notes.get(check.value, "")))
        receipt_verified = (
            self.receipt_report is not None and self.receipt_report.ok and self.receipt is not None
        )
        return BundleReport(
            ok=not self.problems,
            checks=tuple(checks),
            problems=tuple(self.problems),
            files=tuple(
                sorted(FileEntry(n, self.digests[n], len(d)) for n, d in self.files.items())
            ),
            ingest_id=self.manifest_ingest_id,
            tenant=self.manifest_tenant,
            trace_name=self.trace_name,
            receipt=None if self.receipt is None else MappingProxyType(self.receipt),
            receipt_verified=receipt_verified,
            receipt_keyids=self.receipt_report.keyids if self.receipt_report else (),
            attestation_keyids=self.attestation_keyids,
            contents=MappingProxyType(dict(self.files)) if not self.problems else {},
        )

    # --- archive ------------------------------------------------------------------------------

    def _read_archive(self) -> bool:
        """Fill ``files`` from the tar.gz; False when the archive cannot be read at all."""
        arc = BundleCheck.ARCHIVE
        if len(self.data) > self.max_extracted_bytes:
            self.unreadable(
                f"bundle is {len(self.data)} bytes, over the limit of {self.max_extracted_bytes}"
            )
            return False
        if not self.data.startswith(_GZIP_MAGIC):
            self.unreadable("not a gzip file (no 1f 8b magic bytes)")
            return False
        try:
            contents = read_tar_gz(
                self.data, max_bytes=self.max_extracted_bytes, max_entries=self.max_members
            )
        except ArchiveUnreadable as exc:
            self.unreadable(self._unreadable_message(exc))
            return False
        if contents.damage is not None:
            self.problem(arc, None, contents.damage, ProblemKind.UNREADABLE)
        for entry in contents.entries:
            self._take(entry)
        self.notes[arc.value] = (
            f"{len(self.files)} regular file(s), {contents.inflated_bytes} bytes inflated"
        )
        return True

    def _unreadable_message(self, exc: ArchiveUnreadable) -> str:
        return {
            ArchiveFault.CORRUPT_GZIP: f"corrupt gzip data: {exc.detail}",
            ArchiveFault.TRUNCATED_GZIP: "truncated gzip data: the stream ends early",
            ArchiveFault.TRAILING_DATA: "data after the end of the gzip stream",
            ArchiveFault.TOO_LARGE: (
                f"inflates to more than {self.max_extracted_bytes} bytes "
                "(limit max_extracted_bytes)"
            ),
            ArchiveFault.NOT_TAR: f"not a readable tar archive: {exc.detail}",
            ArchiveFault.TOO_MANY_ENTRIES: f"more than {self.max_members} tar entries",
        }[exc.fault]

    def _take(self, entry: TarEntry) -> None:
        name = entry.name
        shown = _display(name)
        refusal = _entry_refusal(entry.info)
        if refusal is not None:
            self.problem(BundleCheck.ARCHIVE, shown, refusal)
        elif name in self.files:
            self.problem(BundleCheck.ARCHIVE, shown, "duplicate entry (the first one is checked)")
        elif entry.data is None:
            self.problem(BundleCheck.ARCHIVE, shown, "entry data is truncated")
        else:
            self.files[name] = entry.data

    # --- layout, checksums, manifest ----------------------------------------------------------

    def _check_layout(self) -> None:
        check = BundleCheck.LAYOUT
        for name in _REQUIRED:
            if name not in self.files:
                kind = ProblemKind.SIGNATURE if name == RECEIPT_DSSE_NAME else ProblemKind.INVALID
                self.problem(check, name, "required file is missing", kind)
        traces = sorted(name for name in self.files if _is_trace_name(name))
        if not traces:
            self.problem(check, None, "no trace file (*.ndjson or *.ndjson.gz)")
        elif len(traces) == 1:
            self.trace_name = traces[0]
            self.notes[check.value] = f"trace {traces[0]}"
        else:
            for name in traces[1:]:
                self.problem(check, name, f"more than one trace file: {', '.join(traces)}")
        for name in sorted(self.files):
            if name not in _KNOWN and not _is_trace_name(name):
                self.problem(check, name, "unexpected file: not part of the bundle layout")

    def _check_checksums(self) -> None:
        check = BundleCheck.CHECKSUM
        data = self.files.get(CHECKSUMS_NAME)
        if data is None:
            self.skip(check, f"{CHECKSUMS_NAME} is missing")
            return
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError:
            self.problem(check, CHECKSUMS_NAME, "not ASCII text")
            return
        listed: dict[str, str] = {}
        lines = text.split("\n")
        if lines[-1]:
            self.problem(check, CHECKSUMS_NAME, "the last line has no line end")
        else:
            lines.pop()
        for number, line in enumerate(lines, start=1):
            match = _CHECKSUM_LINE.fullmatch(line)
            if match is None:
                self.problem(check, CHECKSUMS_NAME, f"line {number}: not '<sha256>  <path>'")
                continue
            digest, path = match.groups()
            if path in listed:
                self.problem(check, _display(path), f"line {number}: listed twice")
                continue
            listed[path] = digest
        expected = set(self.files) - {CHECKSUMS_NAME}
        self._compare_listing(check, CHECKSUMS_NAME, listed, None, expected)
        self.notes[check.value] = f"{len(listed)} file(s) listed"

    def _check_manifest(self) -> None:
        check = BundleCheck.MANIFEST
        data = self.files.get(MANIFEST_NAME)
        if data is None:
            self.skip(check, f"{MANIFEST_NAME} is missing")
            return
        document = _json_object(data)
        if document is None:
            self.problem(check, MANIFEST_NAME, "not a JSON object (strict UTF-8 JSON)")
            return
        if document.get("schema") != BUNDLE_SCHEMA:
            self.problem(
                check, MANIFEST_NAME,
                f"schema is {document.get('schema')!r}, expected {BUNDLE_SCHEMA!r}",
            )  # fmt: skip
        for name in ("ingest_id", "tenant"):
            value = document.get(name)
            if not isinstance(value, str) or not value:
                self.problem(check, MANIFEST_NAME, f"{name} must be a non-empty string")
            elif name == "ingest_id":
                self.manifest_ingest_id = value
            else:
                self.manifest_tenant = value
        entries = document.get("files")
        if not isinstance(entries, list):
            self.problem(check, MANIFEST_NAME, "files must be an array")
            return
        digests: dict[str, str] = {}
        sizes: dict[str, int] = {}
        for index, item in enumerate(entries):
            where = f"files[{index}]"
            try:
                entry = parse_file_entry(item, where)
            except InvalidManifest as exc:
                self.problem(check, MANIFEST_NAME, str(exc))
                continue
            if entry.path in digests:
                self.problem(
                    check, _display(entry.path), f"{where}: listed twice in {MANIFEST_NAME}"
                )
            else:
                digests[entry.path], sizes[entry.path] = entry.sha256, entry.size
        expected = set(self.files) - {CHECKSUMS_NAME, MANIFEST_NAME}
        self._compare_listing(check, MANIFEST_NAME, digests, sizes, expected)
        self.notes[check.value] = f"{len(digests)} file(s) listed"

    def _compare_listing(
        self,
        check: BundleCheck,
        listing: str,
        digests: Mapping[str, str],
        sizes: Mapping[str, int] | None,
        expected: set[str],
    ) -> None:
        """Listed files against the files present: missing, unlisted, size, digest."""
        for path in sorted(digests):
            shown = _display(path)
            if path not in self.files:
                self.problem(check, shown, f"listed in {listing} but not in the bundle")
            elif path not in expected:
                self.problem(check, shown, f"must not be listed in {listing}")
            elif sizes is not None and sizes[path] != len(self.files[path]):
                self.problem(
                    check, shown,
                    f"size is {len(self.files[path])} bytes, {listing} says {sizes[path]}",
                    ProblemKind.HASH_MISMATCH,
                )  # fmt: skip
            elif digests[path] != self.digests[path]:
                self.problem(
                    check, shown,
                    f"sha256 is {self.digests[path]}, {listing} says {digests[path]}",
                    ProblemKind.HASH_MISMATCH,
                )  # fmt: skip
        for path in sorted(expected - set(digests)):
            self.problem(check, _display(path), f"not listed in {listing}")

    # --- receipt ------------------------------------------------------------------------------

    def _check_receipt_signature(self) -> None:
        check = BundleCheck.RECEIPT_SIGNATURE
        data = self.files.get(RECEIPT_DSSE_NAME)
        if data is None:
            self.skip(check, f"{RECEIPT_DSSE_NAME} is missing")
            return
        try:
            envelope = parse_envelope(data)
        except InvalidEnvelope as exc:
            self.problem(
                check, RECEIPT_DSSE_NAME, f"malformed DSSE envelope: {exc}", ProblemKind.SIGNATURE
            )
            return
        self.receipt_envelope = envelope
        report = check_envelope(
            envelope, trusted=self.service_keys, payload_type=RECEIPT_PAYLOAD_TYPE
        )
        self.receipt_report = report
        if report.ok:
            self.notes[check.value] = report.message
        else:
            self.problem(
                check, RECEIPT_DSSE_NAME, f"receipt signature rejected: {report.message}",
                ProblemKind.SIGNATURE,
            )  # fmt: skip

    def _check_receipt(self) -> None:
        check = BundleCheck.RECEIPT
        receipt_json = self.files.get(RECEIPT_NAME)
        envelope = self.receipt_envelope
        if envelope is not None:
            payload = envelope.payload
            if receipt_json is not None and receipt_json != envelope.payload:
                self.problem(
                    check, RECEIPT_NAME, f"differs from the payload signed in {RECEIPT_DSSE_NAME}",
                    ProblemKind.HASH_MISMATCH,
                )  # fmt: skip
        elif receipt_json is not None:
            payload = receipt_json
        else:
            self.skip(check, "no receipt to check")
            return
        receipt = _json_object(payload)
        if receipt is None:
            self.problem(
                check, RECEIPT_NAME, "the receipt is not a JSON object (strict UTF-8 JSON)"
            )
            return
        self.receipt = receipt
        if receipt.get("schema") != RECEIPT_SCHEMA:
            self.problem(
                check, RECEIPT_NAME,
                f"schema is {receipt.get('schema')!r}, expected {RECEIPT_SCHEMA!r}",
            )  # fmt: skip
        claims = {"ingest_id": self.manifest_ingest_id, "tenant": self.manifest_tenant}
        for name, claimed in claims.items():
            if claimed is not None and receipt.get(name) != claimed:
                self.problem(
                    check, MANIFEST_NAME,
                    f"{name} is {claimed!r}, the signed receipt says {receipt.get(name)!r}",
                )  # fmt: skip
        content_sha256 = receipt.get("content_sha256")
        if not isinstance(content_sha256, str) or not _HEX64.fullmatch(content_sha256):
            self.problem(check, RECEIPT_NAME, "content_sha256 must be 64 lowercase hex")
        else:
            expected_uri = str(CasUri.of(Namespace.RUNTIME, content_sha256))
            if receipt.get("cas_uri") != expected_uri:
                self.problem(
                    check, RECEIPT_NAME,
                    f"cas_uri is {receipt.get('cas_uri')!r}, expected {expected_uri!r}",
                )  # fmt: skip
            if self.trace_name is not None:
                actual = self.digests[self.trace_name]
                if actual != content_sha256:
                    self.problem(
                        check, self.trace_name,
                        f"sha256 is {actual}, the receipt's content_sha256 is {content_sha256}",
                        ProblemKind.HASH_MISMATCH,
                    )  # fmt: skip
        dsse_digest = receipt.get("dsse_digest")
        if dsse_digest is not None and (
            not isinstance(dsse_digest, str) or not _DSSE_DIGEST.fullmatch(dsse_digest)
        ):
            self.problem(check, RECEIPT_NAME, "dsse_digest must be null or sha256:<64 hex>")
        self.notes[check.value] = "agrees with the manifest and the trace" + _version_note(
            receipt, lambda message: self.problem(check, RECEIPT_NAME, message)
        )

    # --- runtime.dsse.json --------------------------------------------------------------------

    def _check_runtime_dsse(self) -> None:
        check = BundleCheck.RUNTIME_DSSE
        data = self._recorded_file(
            check, RUNTIME_DSSE_NAME, "dsse_digest", ("a DSSE envelope", "envelope"),
            ProblemKind.SIGNATURE,
        )  # fmt: skip
        if data is None:
            return
        try:
            envelope = parse_envelope(data)
        except InvalidEnvelope as exc:
            self.problem(
                check, RUNTIME_DSSE_NAME, f"malformed DSSE envelope: {exc}", ProblemKind.SIGNATURE
            )
            return
        trace_sha256 = None if self.trace_name is None else self.digests[self.trace_name]
        if self.attestation_keys and trace_sha256 is not None:
            self._check_attestation_signed(envelope, trace_sha256)
        else:
            self._check_attestation_claims(envelope, trace_sha256)

    def _recorded_file(
        self,
        check: BundleCheck,
        name: str,
        field: str,
        what: tuple[str, str],
        missing: ProblemKind = ProblemKind.INVALID,
    ) -> bytes | None:
        """The bytes of ``name``, a file the receipt records by its ``sha256:`` in ``field``
        (``what``: how to name it, with and without its article); None when absent (skipped,
        or a ``missing`` problem when the receipt records one). A digest that differs from the
        receipt's is a problem, and the bytes are still returned for the other checks."""
        recorded = None if self.receipt is None else self.receipt.get(field)
        data = self.files.get(name)
        if data is None:
            if recorded is not None:
                said = f"the receipt records {what[0]} ({recorded}) but the bundle has none"
                self.problem(check, name, said, missing)
            else:
                self.skip(check, f"no {name}, and the receipt records none")
            return None
        actual = "sha256:" + self.digests[name]
        if self.receipt is not None and recorded is None:
            self.problem(check, name, f"present, but the receipt records no {what[1]}")
        elif self.receipt is not None and recorded != actual:
            said = f"digest is {actual}, the receipt's {field} is {recorded}"
            self.problem(check, name, said, ProblemKind.HASH_MISMATCH)
        return data

    def _check_probe_manifest(self) -> None:
        check, name = BundleCheck.PROBE_MANIFEST, PROBE_MANIFEST_NAME
        what = ("a probe manifest", "probe manifest")
        data = self._recorded_file(check, name, "probe_manifest_digest", what)
        if data is None:
            return
        trace_sha256 = None if self.trace_name is None else self.digests[self.trace_name]
        try:
            manifest = parse_probe_manifest(data)
        except (InvalidField, LimitExceeded) as exc:
            self.problem(check, name, f"malformed probe manifest: {exc}")
            return
        if trace_sha256 is not None and manifest.trace_sha256 != trace_sha256:
            said = f"trace_sha256 is {manifest.trace_sha256}, the trace is {trace_sha256}"
            self.problem(check, name, said, ProblemKind.HASH_MISMATCH)

    def _check_attestation_signed(self, envelope: Envelope, trace_sha256: str) -> None:
        tenant = None if self.receipt is None else self.receipt.get("tenant")
        report: RuntimeAttestationReport = check_runtime_attestation(
            envelope,
            trusted=self.attestation_keys,
            threshold=1,
            trace_sha256=trace_sha256,
            tenant=tenant if isinstance(tenant, str) else self.manifest_tenant,
        )
        self.attestation_keyids = report.envelope.keyids
        if report.ok:
            self.notes[BundleCheck.RUNTIME_DSSE.value] = report.message
        else:
            if report.reason == "hash_mismatch":
                kind = ProblemKind.HASH_MISMATCH
            elif not report.envelope.ok:
                kind = ProblemKind.SIGNATURE
            else:  # signed by trusted keys, but about another tenant or a bad predicate
                kind = ProblemKind.INVALID
            self.problem(BundleCheck.RUNTIME_DSSE, RUNTIME_DSSE_NAME, report.message, kind)

    def _check_attestation_claims(self, envelope: Envelope, trace_sha256: str | None) -> None:
        """Without attestation keys: what the envelope claims, its signatures unchecked."""
        check = BundleCheck.RUNTIME_DSSE
        if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE:
            self.problem(
                check, RUNTIME_DSSE_NAME,
                f"payload type is {envelope.payload_type!r}, expected {IN_TOTO_PAYLOAD_TYPE!r}",
            )  # fmt: skip
            return
        try:
            statement = parse_statement(envelope.payload)
        except InvalidStatement as exc:
            self.problem(check, RUNTIME_DSSE_NAME, f"payload is not an in-toto Statement: {exc}")
            return
        if statement.predicate_type != RUNTIME_TRACE_PREDICATE:
            self.problem(
                check, RUNTIME_DSSE_NAME,
                f"predicate type is {statement.predicate_type!r}, "
                f"expected {RUNTIME_TRACE_PREDICATE!r}",
            )  # fmt: skip
        if trace_sha256 is not None and trace_sha256 not in statement.subject_digests("sha256"):
            self.problem(
                check, RUNTIME_DSSE_NAME,
                f"no subject has the trace's sha256 {trace_sha256}",
                ProblemKind.HASH_MISMATCH,
            )  # fmt: skip
        self.notes[check.value] = "signatures not checked: no attestation keys given"


# --- helpers ----------------------------------------------------------------------------------


def _version_note(receipt: Mapping[str, Any], problem: Callable[[str], None]) -> str:
    """A receipt that replaced an earlier one (a DSSE attached later, an orphan's retry)
    carries ``version`` (2 and up) and ``supersedes`` (``sha256:`` of the signed envelope it
    replaced); a first receipt has neither. Reports malformed ones through ``problem``."""
    version, supersedes = receipt.get("version"), receipt.get("supersedes")
    if version is None and supersedes is None:
        return ""
    if isinstance(version, bool) or not isinstance(version, int) or version < 2:
        problem("version must be an integer >= 2 when present")
    elif not isinstance(supersedes, str) or not _DSSE_DIGEST.fullmatch(supersedes):
        problem("supersedes must be sha256:<64 hex> when the receipt has a version")
    else:
        return f"; receipt version {version}, supersedes {supersedes}"
    return ""


def _entry_refusal(member: tarfile.TarInfo) -> str | None:
    """Why a tar entry is refused, or None for a regular file with a plain name."""
    name = member.name
    parts = re.split(r"[/\\]", name)
    if member.issym() or member.islnk():
        kind = "symbolic" if member.issym() else "hard"
        return f"{kind} link entries are refused (to {_display(member.linkname)!r})"
    if member.type not in (tarfile.REGTYPE, tarfile.AREGTYPE):
        kind = _ENTRY_KINDS.get(member.type, f"type {member.type.decode('latin-1')!r}")
        return f"only regular files are allowed, not a {kind}"
    if name.startswith(("/", "\\")):
        return "absolute path"
    if ".." in parts:
        return "path escapes the bundle ('..')"
    if len(parts) > 1:
        return "nested path: a bundle is flat"
    if not _SAFE_NAME.fullmatch(name):
        return "file name is not plain (A-Z a-z 0-9 . _ -, at most 100 characters)"
    return None


def _display(name: str) -> str:
    """``name`` safe to print and to JSON-encode (no control characters, no surrogates)."""
    if name.isprintable() and not any("\ud800" <= ch <= "\udfff" for ch in name):
        return name
    return ascii(name)[1:-1]


def _json_object(data: bytes) -> dict[str, Any] | None:
    """Strict UTF-8 JSON (no duplicate keys) that is an object, else None."""
    try:
        document = loads_strict(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None
    return document if isinstance(document, dict) else None
