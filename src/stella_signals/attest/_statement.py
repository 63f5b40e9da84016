"""in-toto Statement v1 as our own typed model, and runtime-trace attestations (SPEC §5).

A `Statement` is frozen and valid by construction; its RFC 8785 bytes are computed once, when
it is made, and those are the bytes `sign_runtime_trace` signs. Untrusted payloads become
statements only through `parse_statement`. A runtime attestation is checked in two faces:
`check_runtime_attestation` reports, `verify_runtime_attestation` raises, and only the latter
makes a `VerifiedRuntimeAttestation`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import InitVar, dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from stella_signals.attest._dsse import Envelope
from stella_signals.attest._keys import PublicKey, Signer
from stella_signals.attest._members import InvalidMember, member
from stella_signals.attest._sign import IN_TOTO_PAYLOAD_TYPE, sign_envelope
from stella_signals.attest._verify import EnvelopeReport, SignatureInvalid, check_envelope
from stella_signals.canonical import canonical_json
from stella_signals.cas import CasUri, Namespace, parse_cas_uri
from stella_signals.clock import format_utc
from stella_signals.digests import Algorithm, Digest, parse_digest
from stella_signals.errors import HashMismatch, InvalidDigest, StellaError
from stella_signals.strictjson import loads_strict
from stella_signals.tenancy import parse_tenant
from stella_signals.trace import TraceReport
from stella_signals.wire import (
    JsonValueFault,
    NotJsonValue,
    Rfc3339,
    freeze_checked,
    json_type,
    parse_rfc3339,
    thaw,
)

__all__ = [
    "RICHGRAPH_PREDICATE",
    "RUNTIME_TRACE_PREDICATE",
    "STATEMENT_TYPE",
    "InvalidStatement",
    "RuntimeAttestationReport",
    "Statement",
    "Subject",
    "VerifiedRuntimeAttestation",
    "check_runtime_attestation",
    "parse_statement",
    "runtime_trace_statement",
    "sign_runtime_trace",
    "statement_bytes",
    "verify_runtime_attestation",
]

#: ``_type`` of every in-toto Statement v1.
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
#: ``predicateType`` of a runtime-trace attestation (SPEC §5).
RUNTIME_TRACE_PREDICATE = "https://stella-ops.org/attestations/runtime-trace/v1"
#: ``predicateType`` of a richgraph-v1 attestation.
RICHGRAPH_PREDICATE = "https://stella-ops.org/attestations/richgraph/v1"

_HEX = re.compile(r"(?:[0-9a-f]{2})+")
#: Hex digits of the digest algorithms whose length we know.
_HEX_LENGTHS = {"sha1": 40, "sha224": 56, "sha256": 64, "sha384": 96, "sha512": 128}

AttestationReason = Literal["dsse_invalid", "hash_mismatch"]


class InvalidStatement(InvalidMember):
    """A payload is not a well-formed in-toto Statement v1; ``field`` names the member at fault."""


# --- the model --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Subject:
    """One attested artefact: a name and a non-empty ``{algorithm: lowercase hex}`` digest set."""

    name: str
    digest: Mapping[str, str]

    def __post_init__(self) -> None:
        _text(self.name, "name")
        object.__setattr__(self, "digest", MappingProxyType(_digest_set(self.digest, "digest")))

    def __hash__(self) -> int:
        return hash((self.name, tuple(sorted(self.digest.items()))))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "digest": dict(self.digest)}


@dataclass(frozen=True, slots=True, eq=False)
class Statement:
    """An in-toto Statement v1. ``predicate`` is frozen deeply (objects read-only, arrays tuples).

    Two statements are equal when their RFC 8785 bytes are (so ``1`` and ``true`` differ).
    Build with `runtime_trace_statement` or `parse_statement`, or directly for other predicates.
    """

    subject: tuple[Subject, ...]
    predicate_type: str
    predicate: Mapping[str, Any]
    _bytes: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.subject, tuple) or not all(
            isinstance(s, Subject) for s in self.subject
        ):
            raise TypeError("Statement.subject must be a tuple of Subject")
        if not self.subject:
            raise InvalidStatement("subject: at least one subject is required", field="subject")
        _text(self.predicate_type, "predicateType")
        if not isinstance(self.predicate, Mapping):
            raise InvalidStatement(
                f"predicate: must be an object, got {json_type(self.predicate, empty_string=True)}",
                field="predicate",
            )
        object.__setattr__(self, "predicate", _freeze(self.predicate, "predicate"))
        try:
            data = canonical_json(self.to_dict())
        except ValueError as exc:  # lone surrogates, integers past 2^53...
            raise InvalidStatement(f"statement has no canonical JSON form: {exc}") from None
        object.__setattr__(self, "_bytes", data)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Statement):
            return NotImplemented
        return self._bytes == other._bytes

    def __hash__(self) -> int:
        return hash(self._bytes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data with the in-toto member names."""
        return {
            "_type": STATEMENT_TYPE,
            "subject": [s.to_dict() for s in self.subject],
            "predicateType": self.predicate_type,
            "predicate": thaw(self.predicate),
        }

    def subject_digests(self, algorithm: str = "sha256") -> tuple[str, ...]:
        """The ``algorithm`` digests of all subjects that carry one, in subject order."""
        return tuple(s.digest[algorithm] for s in self.subject if algorithm in s.digest)


def statement_bytes(statement: Statement) -> bytes:
    """The RFC 8785 bytes of ``statement`` (computed when it was made): the payload to sign."""
    return statement._bytes


def runtime_trace_statement(
    *, file_name: str, report: TraceReport, tenant: str, graph_hash: str | None
) -> Statement:
    """The SPEC §5 statement for a valid trace; ``graph_hash`` is emitted as ``blake3:<hex>``.

    Raises `InvalidTrace` for a trace with errors, `InvalidTenant`, or `InvalidDigest` for a
    graph hash that is not BLAKE3.
    """
    report.raise_for_errors()
    if report.first_seen is None or report.last_seen is None:  # pragma: no cover - valid ⇒ set
        raise ValueError("a valid trace report has first_seen and last_seen")
    predicate: dict[str, Any] = {"tenant": parse_tenant(tenant)}
    if graph_hash is not None:
        predicate["graph_hash"] = str(_graph_digest(graph_hash))
    predicate.update(
        cas_uri=str(CasUri.of(Namespace.RUNTIME, report.sha256)),
        records=report.records,
        unique_symbols=report.unique_symbols,
        first_seen=format_utc(report.first_seen),
        last_seen=format_utc(report.last_seen),
    )
    return Statement(
        subject=(Subject(name=file_name, digest={"sha256": report.sha256}),),
        predicate_type=RUNTIME_TRACE_PREDICATE,
        predicate=predicate,
    )


def parse_statement(payload: bytes) -> Statement:
    """Parse untrusted payload bytes; raise `InvalidStatement` naming the field at fault.

    JSON is strict UTF-8 (no duplicate keys). Unknown members are ignored, as the in-toto
    parsing rules require; subjects keep only ``name`` and ``digest``.
    """
    try:
        document = loads_strict(payload.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidStatement(f"statement is not valid UTF-8 JSON: {exc}") from None
    if not isinstance(document, dict):
        raise InvalidStatement(
            f"statement must be a JSON object, got {json_type(document, empty_string=True)}"
        )
    statement_type = member(document, "_type", "", InvalidStatement)
    if statement_type != STATEMENT_TYPE:
        raise InvalidStatement(
            f"_type: expected {STATEMENT_TYPE!r}, got {statement_type!r}", field="_type"
        )
    raw_subjects = member(document, "subject", "", InvalidStatement)
    if not isinstance(raw_subjects, list):
        raise InvalidStatement(
            f"subject: must be an array, got {json_type(raw_subjects, empty_string=True)}",
            field="subject",
        )
    if not raw_subjects:
        raise InvalidStatement("subject: at least one subject is required", field="subject")
    subjects = tuple(_parse_subject(item, f"subject[{i}]") for i, item in enumerate(raw_subjects))
    predicate_type = _text(member(document, "predicateType", "", InvalidStatement), "predicateType")
    predicate = member(document, "predicate", "", InvalidStatement)
    if not isinstance(predicate, dict):
        raise InvalidStatement(
            f"predicate: must be an object, got {json_type(predicate, empty_string=True)}",
            field="predicate",
        )
    return Statement(subject=subjects, predicate_type=predicate_type, predicate=predicate)


def _parse_subject(item: object, where: str) -> Subject:
    if not isinstance(item, dict):
        raise InvalidStatement(
            f"{where}: must be an object, got {json_type(item, empty_string=True)}", field=where
        )
    name = _text(member(item, "name", where, InvalidStatement), f"{where}.name")
    digest = _digest_set(member(item, "digest", where, InvalidStatement), f"{where}.digest")
    return Subject(name=name, digest=digest)


# --- runtime attestations: check and verify ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class RuntimeAttestationReport:
    """What `check_runtime_attestation` found; ``ok`` only when every check passed.

    ``statement`` is the payload parsed as a Statement even when the signatures failed, so an
    operator can see what it claims; it (and the flags computed from it) is trustworthy only
    when ``statement_verified``.
    """

    envelope: EnvelopeReport
    statement: Statement | None
    statement_error: str | None
    predicate_type_ok: bool
    #: What is wrong with the runtime-trace predicate's members, if anything.
    predicate_error: str | None
    #: Some subject has a ``sha256`` digest equal to ``trace_sha256``.
    subject_match: bool
    #: Predicate tenant equals ``expected_tenant``; None when no tenant was asked for.
    tenant_ok: bool | None
    trace_sha256: str
    expected_tenant: str | None
    ok: bool
    reason: AttestationReason | None
    message: str

    @property
    def statement_verified(self) -> bool:
        """The statement came from a payload a threshold of trusted keys signed."""
        return self.envelope.ok and self.statement is not None

    @property
    def statement_tenant(self) -> object:
        """The predicate's ``tenant`` member as found (None when absent)."""
        return None if self.statement is None else self.statement.predicate.get("tenant")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data, for the timeline and for operators."""
        statement = self.statement
        return {
            "ok": self.ok,
            "reason": self.reason,
            "message": self.message,
            "envelope": self.envelope.to_dict(),
            "statement_verified": self.statement_verified,
            "statement_error": self.statement_error,
            "statement": None if statement is None else statement.to_dict(),
            "predicate_type": None if statement is None else statement.predicate_type,
            "expected_predicate_type": RUNTIME_TRACE_PREDICATE,
            "predicate_type_ok": self.predicate_type_ok,
            "predicate_error": self.predicate_error,
            "trace_sha256": self.trace_sha256,
            "subject_match": self.subject_match,
            "tenant": {
                "expected": self.expected_tenant,
                "statement": self.statement_tenant,
                "checked": self.expected_tenant is not None,
                "ok": self.tenant_ok,
            },
        }


_TOKEN = object()


@dataclass(frozen=True, slots=True)
class VerifiedRuntimeAttestation:
    """A runtime-trace statement that trusted keys signed, about the trace and tenant asked for.

    Only `verify_runtime_attestation` makes these: the constructor refuses to run without its
    token. ``payload`` holds the exact signed bytes.
    """

    statement: Statement
    payload: bytes
    keyids: tuple[str, ...]
    trace_sha256: str
    tenant: str
    graph_hash: str | None
    cas_uri: str
    report: RuntimeAttestationReport = field(repr=False)
    _token: InitVar[object]

    def __post_init__(self, _token: object) -> None:
        if _token is not _TOKEN:
            raise TypeError(
                "VerifiedRuntimeAttestation is made only by verify_runtime_attestation()"
            )


def check_runtime_attestation(
    envelope: Envelope,
    *,
    trusted: Sequence[PublicKey],
    threshold: int,
    trace_sha256: str,
    tenant: str | None,
) -> RuntimeAttestationReport:
    """Check a runtime-trace attestation of the trace whose SHA-256 is ``trace_sha256``.

    Never raises for a failed check. Signatures are checked first (payload type
    ``application/vnd.in-toto+json``, ``threshold`` distinct ``trusted`` keys); then the
    payload is parsed as a Statement, its predicate type and members checked, the predicate
    tenant compared with ``tenant`` (skipped when None) and the subjects with the trace.
    ``reason`` is ``hash_mismatch`` when only the subject digest is wrong, else
    ``dsse_invalid``.
    """
    Digest(Algorithm.SHA256, trace_sha256)  # InvalidDigest for a malformed expectation
    envelope_report = check_envelope(
        envelope, trusted=trusted, payload_type=IN_TOTO_PAYLOAD_TYPE, threshold=threshold
    )
    statement: Statement | None = None
    statement_error: str | None = None
    try:
        statement = parse_statement(envelope.payload)
    except InvalidStatement as exc:
        statement_error = str(exc)

    predicate_type_ok = False
    predicate_error: str | None = None
    subject_match = False
    tenant_ok: bool | None = None
    if statement is not None:
        predicate_type_ok = statement.predicate_type == RUNTIME_TRACE_PREDICATE
        subject_match = trace_sha256 in statement.subject_digests("sha256")
        if predicate_type_ok:
            # The CAS URI must name the trace too, once a subject has been matched with it;
            # without a match the mismatch is the subject's, reported as hash_mismatch.
            predicate_error = _runtime_predicate_problem(
                statement.predicate, trace_sha256 if subject_match else None
            )
        if tenant is not None:
            tenant_ok = statement.predicate.get("tenant") == tenant
    elif tenant is not None:
        tenant_ok = False

    reason: AttestationReason | None = "dsse_invalid"
    if not envelope_report.ok:
        message = f"DSSE envelope rejected: {envelope_report.message}"
    elif statement is None:
        message = f"payload is not an in-toto Statement v1: {statement_error}"
    elif not predicate_type_ok:
        message = (
            f"predicate type is {statement.predicate_type!r}, expected {RUNTIME_TRACE_PREDICATE!r}"
        )
    elif predicate_error is not None:
        message = f"runtime-trace predicate is invalid: {predicate_error}"
    elif tenant_ok is False:
        message = (
            f"statement is for tenant {statement.predicate.get('tenant')!r}, expected {tenant!r}"
        )
    elif not subject_match:
        reason = "hash_mismatch"
        named = ", ".join(
            f"{s.name} sha256:{s.digest.get('sha256', '-')}" for s in statement.subject
        )
        message = f"no subject has the trace's sha256 {trace_sha256} (subjects: {named})"
    else:
        reason = None
        message = f"runtime trace {trace_sha256} attested by {', '.join(envelope_report.keyids)}"
    return RuntimeAttestationReport(
        envelope=envelope_report,
        statement=statement,
        statement_error=statement_error,
        predicate_type_ok=predicate_type_ok,
        predicate_error=predicate_error,
        subject_match=subject_match,
        tenant_ok=tenant_ok,
        trace_sha256=trace_sha256,
        expected_tenant=tenant,
        ok=reason is None,
        reason=reason,
        message=message,
    )


def verify_runtime_attestation(
    envelope: Envelope,
    *,
    trusted: Sequence[PublicKey],
    threshold: int,
    trace_sha256: str,
    tenant: str | None,
) -> VerifiedRuntimeAttestation:
    """`check_runtime_attestation`, then the verified attestation or an error.

    Raises `HashMismatch` when only the subject digest differs from ``trace_sha256``, else
    `SignatureInvalid` (reason ``dsse_invalid``, carrying the envelope report).
    """
    report = check_runtime_attestation(
        envelope, trusted=trusted, threshold=threshold, trace_sha256=trace_sha256, tenant=tenant
    )
    if report.reason == "hash_mismatch":
        raise HashMismatch(f"runtime attestation: {report.message}")
    if not report.ok or report.statement is None:
        raise SignatureInvalid(
            f"runtime attestation rejected: {report.message}",
            report=report.envelope,
            reason="dsse_invalid",
        )
    predicate = report.statement.predicate
    graph_hash = predicate.get("graph_hash")
    return VerifiedRuntimeAttestation(
        report.statement,
        envelope.payload,
        report.envelope.keyids,
        trace_sha256,
        str(predicate["tenant"]),
        None if graph_hash is None else str(_graph_digest(str(graph_hash))),
        str(predicate["cas_uri"]),
        report,
        _TOKEN,
    )


def sign_runtime_trace(*, statement: Statement, signers: Sequence[Signer]) -> Envelope:
    """A DSSE envelope over `statement_bytes` of a runtime-trace statement, one signature each."""
    if statement.predicate_type != RUNTIME_TRACE_PREDICATE:
        raise ValueError(
            f"not a runtime-trace statement: predicate type {statement.predicate_type!r}"
        )
    return sign_envelope(statement_bytes(statement), IN_TOTO_PAYLOAD_TYPE, signers)


def _runtime_predicate_problem(
    predicate: Mapping[str, Any], trace_sha256: str | None
) -> str | None:
    """What is wrong with a runtime-trace predicate's members, or None; when ``trace_sha256``
    is given, ``cas_uri`` must name that blob."""
    for name in ("tenant", "cas_uri", "records", "unique_symbols", "first_seen", "last_seen"):
        if name not in predicate:
            return f"predicate.{name}: missing"
    checks: dict[str, Callable[[Any], object]] = {
        "tenant": parse_tenant,
        "cas_uri": parse_cas_uri,
        "graph_hash": _graph_digest,
    }
    for name, check in checks.items():
        if name in predicate:
            try:
                check(predicate[name])
            except StellaError as exc:
                return f"predicate.{name}: {exc}"
    cas_uri = parse_cas_uri(predicate["cas_uri"])
    if cas_uri.namespace is not Namespace.RUNTIME:
        return f"predicate.cas_uri: {cas_uri} is not in {Namespace.RUNTIME.value}"
    if trace_sha256 is not None and cas_uri.digest.hex != trace_sha256:
        return f"predicate.cas_uri: {cas_uri} is not the attested trace {trace_sha256}"
    for name in ("records", "unique_symbols"):
        value = predicate[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return f"predicate.{name}: must be a non-negative integer, got {value!r}"
    for name in ("first_seen", "last_seen"):
        if not _is_utc_time(predicate[name]):
            return f"predicate.{name}: must be an RFC 3339 time, got {predicate[name]!r}"
    return None


def _is_utc_time(value: object) -> bool:
    return isinstance(value, str) and parse_rfc3339(value, Rfc3339.FULL) is not None


def _graph_digest(text: object) -> Digest:
    if not isinstance(text, str):
        raise InvalidDigest(
            f"graph hash must be a string, got {json_type(text, empty_string=True)}"
        )
    digest = parse_digest(text, default=Algorithm.BLAKE3)
    if digest.algorithm is not Algorithm.BLAKE3:
        raise InvalidDigest(f"graph hash must be blake3:<hex>, got {text!r}")
    return digest


# --- helpers ----------------------------------------------------------------------------------


def _text(value: object, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidStatement(
            f"{where}: must be a non-empty string, got {json_type(value, empty_string=True)}",
            field=where,
        )
    return value


def _digest_set(value: object, where: str) -> dict[str, str]:
    """A checked copy of an in-toto DigestSet: non-empty, values lowercase hex."""
    if not isinstance(value, Mapping):
        raise InvalidStatement(
            f"{where}: must be an object, got {json_type(value, empty_string=True)}", field=where
        )
    if not value:
        raise InvalidStatement(f"{where}: at least one digest is required", field=where)
    checked: dict[str, str] = {}
    for algorithm, hex_digest in value.items():
        path = f"{where}.{algorithm}"
        _text(algorithm, f"{where} key")
        if not isinstance(hex_digest, str) or not _HEX.fullmatch(hex_digest):
            raise InvalidStatement(f"{path}: must be lowercase hex, got {hex_digest!r}", field=path)
        expected = _HEX_LENGTHS.get(algorithm)
        if expected is not None and len(hex_digest) != expected:
            raise InvalidStatement(
                f"{path}: {algorithm} needs {expected} hex digits, got {len(hex_digest)}",
                field=path,
            )
        checked[algorithm] = hex_digest
    return checked


def _freeze(value: object, where: str) -> Any:
    """A deep read-only copy of JSON data: objects as mapping proxies, arrays as tuples."""
    try:
        return freeze_checked(value)
    except NotJsonValue as exc:
        at = where + "".join(f"[{t}]" if isinstance(t, int) else f".{t}" for t in exc.path)
        if exc.fault is JsonValueFault.NOT_FINITE:
            raise InvalidStatement(f"{at}: {exc.value} is not a JSON number", field=at) from None
        if exc.fault is JsonValueFault.KEY_NOT_TEXT:
            raise TypeError(f"{at}: object keys must be strings, got {exc.value!r}") from None
        raise TypeError(f"{at}: {type(exc.value).__name__} is not JSON data") from None
