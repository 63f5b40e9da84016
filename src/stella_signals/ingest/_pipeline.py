"""THE ingest pipeline: receive → verify → parse → map → commit (DESIGN.md, STYLE habit 2).

The HTTP API and `signals-offline` both call `ingest_runtime`; they differ only in the
`IngestContext` they build (stores, clock, limits, key, ``source``) and in how they render
the `IngestResult` or the `IngestFailed` error. Every rejection after the tenant is known is
recorded: an ``ingests`` row with status ``failed`` and a ``runtime.ingest.failed`` event.

Commit point: the metadata transaction (ingest row, facts, timeline event, signed receipt).
The trace blob is published just before it; a crash in between leaves an unreferenced,
content-addressed blob that no API shows and that a retry of the same bytes reuses.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from stella_signals.attest import (
    RECEIPT_PAYLOAD_TYPE,
    InvalidEnvelope,
    ServiceKey,
    SignatureInvalid,
    load_public_key,
    parse_envelope,
    sign_envelope,
    verify_runtime_attestation,
)
from stella_signals.canonical import canonical_json
from stella_signals.cas import CasUri, Namespace
from stella_signals.clock import Clock, format_utc
from stella_signals.digests import Digest, sha256_hex
from stella_signals.errors import (
    Conflict,
    HashMismatch,
    InvalidTrace,
    LimitExceeded,
    StellaError,
    Unavailable,
)
from stella_signals.graph import VerifyReport, map_trace
from stella_signals.ingest._graphs import GraphCatalog
from stella_signals.ingest._time import TimeKeeper
from stella_signals.limits import Limits
from stella_signals.metrics import UNAVAILABLE_RESULT, Metrics
from stella_signals.ports import (
    BlobStore,
    EventDraft,
    FactRow,
    IngestRecord,
    KeyPurpose,
    Repository,
    StagedBlob,
    StoredBlob,
)
from stella_signals.receipt import RECEIPT_SCHEMA
from stella_signals.tenancy import TenantId
from stella_signals.timeanchor import TimeStatus, TimeUntrusted, system_status
from stella_signals.timeline import EventType, FailureReason, TimelineEvent
from stella_signals.trace import Diagnostic, TraceReport, parse_trace

__all__ = [
    "RECEIPT_SCHEMA",
    "GraphIngestResult",
    "IngestContext",
    "IngestFailed",
    "IngestResult",
    "Outcome",
    "RuntimeUpload",
    "enforce_trace_attestation",
    "ingest_runtime",
    "record_rejection",
]

#: First orphan retry (SPEC §12: 1 min doubling to 1 h).
ORPHAN_FIRST_RETRY = timedelta(minutes=1)
#: Tries to attach an envelope when other writers keep superseding the receipt first.
_ATTACH_ATTEMPTS = 5


@dataclass(frozen=True, kw_only=True)
class IngestContext:
    """Everything an ingest needs, built by a front door. ``source`` names it in events."""

    blobs: BlobStore
    repo: Repository
    graphs: GraphCatalog
    clock: Clock
    limits: Limits
    service_key: ServiceKey
    source: str
    metrics: Metrics | None = None
    #: Decides which time an ingest may trust; None = the local clock, untrusted.
    time: TimeKeeper | None = None

    def time_status(self, tenant: TenantId) -> TimeStatus:
        return (
            self.time.status(tenant) if self.time is not None else system_status(self.clock.now())
        )


@dataclass(frozen=True, kw_only=True)
class RuntimeUpload:
    tenant: TenantId
    ingest_id: str
    graph_hash: Digest
    body: Iterable[bytes]
    #: SHA-256 hex the client declared (``Content-Digest``), if any.
    declared_sha256: str | None = None
    name: str | None = None
    #: The DSSE envelope sent with the trace (multipart ``dsse`` part), exact bytes.
    dsse: bytes | None = None


class Outcome(StrEnum):
    INGESTED = "ingested"
    DUPLICATE = "duplicate"
    ORPHANED = "orphaned"


@dataclass(frozen=True, kw_only=True)
class IngestResult:
    outcome: Outcome
    ingest_id: str
    content_sha256: str
    graph_hash: str
    receipt: Mapping[str, Any]
    receipt_dsse: bytes | None
    verify: VerifyReport | None = None
    #: Bytes of the trace as received.
    size: int = 0
    #: A duplicate whose DSSE envelope this request attached (a new receipt version).
    attached: bool = False


@dataclass(frozen=True, slots=True)
class _Attestation:
    """A verified envelope of the trace: its ``sha256:`` digest, the trusted keys that
    signed it, and its exact bytes."""

    digest: str
    keyids: tuple[str, ...]
    envelope: bytes = field(repr=False)


class IngestFailed(StellaError):
    """An ingest was refused and the refusal recorded; ``cause`` is the original error."""

    def __init__(
        self,
        cause: StellaError,
        *,
        ingest_id: str,
        reason: str,
        diagnostics: Sequence[Diagnostic] = (),
        event: TimelineEvent | None = None,
    ) -> None:
        super().__init__(cause.message, reason=reason)
        self.cause = cause
        self.ingest_id = ingest_id
        self.diagnostics = tuple(diagnostics)
        self.event = event


@dataclass(frozen=True, kw_only=True)
class GraphIngestResult:
    graph_hash: Digest
    cas_uri: CasUri
    created: bool
    nodes: int
    edges: int
    event: TimelineEvent | None = field(default=None)


def _failure_reason(error: StellaError) -> str:
    if isinstance(error, LimitExceeded):
        return FailureReason.TOO_LARGE.value
    if isinstance(error, HashMismatch):
        return FailureReason.HASH_MISMATCH.value
    if error.reason in {r.value for r in FailureReason}:
        return error.reason
    return FailureReason.SCHEMA_INVALID.value


def record_rejection(
    ctx: IngestContext,
    *,
    tenant: TenantId,
    ingest_id: str,
    error: StellaError,
    received_at: datetime,
    content_sha256: str | None = None,
    graph_hash: str | None = None,
    size: int | None = None,
    diagnostics: Sequence[Diagnostic] = (),
) -> IngestFailed:
    """Record a refused ingest (row + ``runtime.ingest.failed``) and return the error to
    raise. Used by the pipeline and by front doors for what they refuse themselves (415)."""
    reason = _failure_reason(error)
    attributes: dict[str, Any] = {"ingest_id": ingest_id, "reason": reason, "detail": error.message}
    if content_sha256 is not None:
        attributes["content_sha256"] = content_sha256
    if graph_hash is not None:
        attributes["graph_hash"] = graph_hash
    if ctx.metrics is not None:
        ctx.metrics.ingest_finished(reason, records=0, size=size or 0, seconds=0.0)
    event = ctx.repo.record_failure(
        IngestRecord(
            ingest_id=ingest_id,
            tenant=tenant,
            status="failed",
            received_at=received_at,
            content_sha256=content_sha256,
            graph_hash=graph_hash,
            size=size,
            reason=reason,
            detail=error.message,
        ),
        EventDraft(
            event_id=_event_id(ctx),
            event_type=EventType.RUNTIME_INGEST_FAILED.value,
            occurred_at=received_at,
            source=ctx.source,
            correlation_id=ingest_id,
            attributes=attributes,
        ),
    )
    return IngestFailed(
        error, ingest_id=ingest_id, reason=reason, diagnostics=diagnostics, event=event
    )


def _event_id(ctx: IngestContext) -> str:
    from stella_signals.ids import new_ulid

    return new_ulid(ctx.clock)


def _time_block(status: TimeStatus) -> dict[str, Any]:
    return {
        "mode": status.mode.value,
        "anchor_time": format_utc(status.anchor_time) if status.anchor_time else None,
        "staleness_seconds": status.staleness_seconds,
        "drift_ms": status.drift_ms,
    }


def _sign(ctx: IngestContext, receipt: Mapping[str, Any]) -> bytes:
    envelope = sign_envelope(
        canonical_json(dict(receipt)), RECEIPT_PAYLOAD_TYPE, [ctx.service_key.signer]
    )
    return envelope.to_json()


def ingest_runtime(ctx: IngestContext, upload: RuntimeUpload) -> IngestResult:
    """Ingest one runtime trace for ``upload.tenant``. Raises `IngestFailed` (recorded)."""
    started = time.perf_counter()
    result = _ingest_runtime(ctx, upload)
    if ctx.metrics is not None:
        counts = result.receipt.get("counts", {})
        ctx.metrics.ingest_finished(
            result.outcome.value,
            records=int(counts.get("records") or 0)
            if result.outcome is not Outcome.DUPLICATE
            else 0,
            size=result.size,
            seconds=time.perf_counter() - started,
        )
        if result.outcome is Outcome.ORPHANED:
            ctx.metrics.orphan_queued(upload.tenant)
    return result


def _ingest_runtime(ctx: IngestContext, upload: RuntimeUpload) -> IngestResult:
    received_at = ctx.clock.now()
    tenant, ingest_id = upload.tenant, upload.ingest_id
    graph_hash = str(upload.graph_hash)
    staged: StagedBlob | None = None
    # Leaving this block discards the staged bytes unless they were published, whatever
    # happened (refusal, outage, crash of a step, duplicate).
    with contextlib.ExitStack() as cleanup:
        try:
            time_status = ctx.time_status(tenant)
            if time_status.blocked:  # refuse early, before reading the body (SPEC §11)
                raise TimeUntrusted(time_status)
            staged = cleanup.enter_context(
                ctx.blobs.stage(
                    tenant,
                    Namespace.RUNTIME,
                    upload.body,
                    max_bytes=ctx.limits.max_compressed_bytes,
                )
            )
            if upload.declared_sha256 is not None and upload.declared_sha256 != staged.sha256:
                raise HashMismatch(
                    f"Content-Digest says sha-256 {upload.declared_sha256}, "
                    f"the body is {staged.sha256}"
                )
            attestation = _attestation(ctx.repo, upload.tenant, upload.dsse, staged.sha256)
            duplicate = ctx.repo.find_duplicate(tenant, staged.sha256, graph_hash)
            if duplicate is not None:
                return _duplicate_or_attach(ctx, duplicate, attestation, time_status)
            report = parse_trace(staged.read(), name=upload.name, limits=ctx.limits)
            report.raise_for_errors()
            if ctx.repo.get_graph(tenant, graph_hash) is None:
                return _orphan(ctx, upload, staged, report, received_at, attestation, time_status)
            return _ingest(ctx, upload, staged, report, received_at, attestation, time_status)
        except IngestFailed:
            raise
        except StellaError as error:
            if isinstance(error, Unavailable) and not isinstance(error, TimeUntrusted):
                # An outage of our own stores is not the trace's fault and not a refusal:
                # nothing is recorded (the store may be the one that is down); the client
                # retries the same bytes after Retry-After and gets the ingest or its
                # duplicate.
                if ctx.metrics is not None:
                    ctx.metrics.ingest_finished(UNAVAILABLE_RESULT, records=0, size=0, seconds=0)
                raise
            if isinstance(error, InvalidTrace) and any(
                d.reason.value == "decompression_failed" for d in error.diagnostics
            ):
                error.reason = FailureReason.DECOMPRESSION_FAILED.value
            raise record_rejection(
                ctx,
                tenant=tenant,
                ingest_id=ingest_id,
                error=error,
                received_at=received_at,
                content_sha256=staged.sha256 if staged is not None else None,
                graph_hash=graph_hash,
                size=staged.size if staged is not None else None,
                diagnostics=error.diagnostics if isinstance(error, InvalidTrace) else (),
            ) from error


def enforce_trace_attestation(
    repo: Repository, tenant: TenantId, dsse: bytes | None, sha256: str
) -> str | None:
    """Enforce the runbook's imposed rule: a trace never bypasses DSSE verification.

    With an envelope: it must verify with keys the tenant trusts (policy threshold) and its
    subject must be the trace whose SHA-256 is ``sha256``. Without one: refused when the
    tenant requires DSSE. Returns the envelope's ``sha256:`` digest (None without one);
    raises `SignatureInvalid`.
    """
    attestation = _attestation(repo, tenant, dsse, sha256)
    return None if attestation is None else attestation.digest


def _attestation(
    repo: Repository, tenant: TenantId, dsse: bytes | None, sha256: str
) -> _Attestation | None:
    """`enforce_trace_attestation`, keeping which keys signed."""
    policy = repo.get_policy(tenant)
    if dsse is None:
        if policy.require_dsse:
            raise SignatureInvalid(
                f"tenant {tenant} requires a DSSE attestation with every trace "
                "(multipart part 'dsse')",
                reason=FailureReason.DSSE_REQUIRED.value,
            )
        return None
    try:
        envelope = parse_envelope(dsse)
    except InvalidEnvelope as exc:
        raise SignatureInvalid(f"malformed DSSE envelope: {exc}") from None
    trusted = [
        load_public_key(key.public_pem) for key in repo.list_trusted_keys(tenant, KeyPurpose.ATTEST)
    ]
    verified = verify_runtime_attestation(
        envelope,
        trusted=trusted,
        threshold=policy.dsse_threshold,
        trace_sha256=sha256,
        tenant=tenant,
    )
    return _Attestation("sha256:" + sha256_hex(dsse), tuple(sorted(verified.keyids)), dsse)


def _duplicate_result(original: IngestRecord, *, attached: bool = False) -> IngestResult:
    receipt = dict(original.receipt or {})
    receipt["duplicate"] = True
    return IngestResult(
        outcome=Outcome.DUPLICATE,
        ingest_id=original.ingest_id,
        content_sha256=original.content_sha256 or "",
        graph_hash=original.graph_hash or "",
        receipt=receipt,
        receipt_dsse=original.receipt_dsse,
        size=original.size or 0,
        attached=attached,
    )


def _duplicate_or_attach(
    ctx: IngestContext,
    original: IngestRecord,
    attestation: _Attestation | None,
    time_status: TimeStatus,
) -> IngestResult:
    """The answer to known bytes: their ingest's newest receipt, unless they came with a
    verified envelope that receipt does not name: then the envelope is attached (stored, a
    new receipt version that supersedes the last, ``reach.runtime.dsse.attached``).

    The receipt is replaced only if nobody superseded it since it was read (an orphan retry,
    another attach); else it is read again and the decision made anew."""
    for _ in range(_ATTACH_ATTEMPTS):
        receipt = original.receipt or {}
        if attestation is None or receipt.get("dsse_digest") == attestation.digest:
            return _duplicate_result(original)
        attached = _attach(ctx, original, attestation, time_status)
        if attached is not None:
            return _duplicate_result(attached, attached=True)
        again = ctx.repo.get_ingest(original.tenant, original.ingest_id)
        if again is None or again.status not in ("ingested", "orphaned"):
            break  # expired meanwhile: these bytes are no longer a known ingest
        original = again
    raise Unavailable(
        f"ingest {original.ingest_id} changed while its DSSE envelope was being attached; "
        "send the same trace and envelope again"
    )


def _attach(
    ctx: IngestContext,
    original: IngestRecord,
    attestation: _Attestation,
    time_status: TimeStatus,
) -> IngestRecord | None:
    """Attach ``attestation`` to an accepted ingest; the updated record, or None when its
    receipt was superseded by someone else first."""
    event_id = _event_id(ctx)
    receipt = {
        **(original.receipt or {}),
        **next_version(ctx, original),
        "dsse_digest": attestation.digest,
        "timeline_event_id": event_id,
    }
    dsse = _sign(ctx, receipt)
    ctx.blobs.put(original.tenant, Namespace.ATTESTATIONS, [attestation.envelope])
    kept = ctx.blobs.put(original.tenant, Namespace.RECEIPTS, [dsse])
    event = EventDraft(
        event_id=event_id,
        event_type=EventType.RUNTIME_DSSE_ATTACHED.value,
        occurred_at=ctx.clock.now(),
        source=ctx.source,
        correlation_id=original.ingest_id,
        attributes={
            "ingest_id": original.ingest_id,
            "cas_uri": receipt["cas_uri"],
            "content_sha256": receipt["content_sha256"],
            "graph_hash": receipt["graph_hash"],
            "dsse_digest": attestation.digest,
            "keyids": list(attestation.keyids),
            "receipt_version": receipt["version"],
            "receipt_digest": f"sha256:{kept.sha256}",
            "supersedes": receipt["supersedes"],
            "staleness_seconds": time_status.staleness_seconds,
            "drift_ms": time_status.drift_ms,
        },
    )
    updated = replace(original, receipt=receipt, receipt_dsse=dsse, timeline_event_id=event_id)
    previous = original.timeline_event_id or ""
    if ctx.repo.supersede_receipt(updated, event, previous_event_id=previous) is None:
        return None
    return updated


def next_version(ctx: IngestContext, previous: IngestRecord) -> dict[str, Any]:
    """``version`` and ``supersedes`` of the receipt that replaces ``previous``'s: one version
    up, and the ``sha256:`` of the signed envelope it replaces, kept at
    ``cas://evidence/receipts/<hex>`` so an auditor can walk the chain of versions back to
    the first (which has neither field: version 1)."""
    if previous.receipt is None or previous.receipt_dsse is None:  # pragma: no cover - a bug
        raise RuntimeError(f"ingest {previous.ingest_id} has no signed receipt to supersede")
    kept = ctx.blobs.put(previous.tenant, Namespace.RECEIPTS, [previous.receipt_dsse])
    return {
        "version": int(previous.receipt.get("version", 1)) + 1,
        "supersedes": f"sha256:{kept.sha256}",
    }


def _receipt(
    ctx: IngestContext,
    upload: RuntimeUpload,
    report: TraceReport,
    *,
    status: str,
    sha256: str,
    received_at: datetime,
    verify: VerifyReport | None,
    event_id: str,
    dsse_digest: str | None,
    time_status: TimeStatus,
) -> dict[str, Any]:
    return {
        "schema": RECEIPT_SCHEMA,
        "ingest_id": upload.ingest_id,
        "tenant": upload.tenant,
        "status": status,
        "duplicate": False,
        "received_at": format_utc(received_at),
        "content_sha256": sha256,
        "cas_uri": str(CasUri.of(Namespace.RUNTIME, sha256)),
        "graph_hash": str(upload.graph_hash),
        "dsse_digest": dsse_digest,
        "counts": {
            "lines": report.lines,
            "records": report.records,
            "unique_symbols": report.unique_symbols,
            "mapped_symbols": verify.mapped_symbols if verify else None,
            "unmapped_symbols": verify.unmapped_symbols if verify else None,
            "edges_confirmed": verify.edges_confirmed if verify else None,
        },
        "time": _time_block(time_status),
        "timeline_event_id": event_id,
    }


def _ingest(
    ctx: IngestContext,
    upload: RuntimeUpload,
    staged: StagedBlob,
    report: TraceReport,
    received_at: datetime,
    attestation: _Attestation | None,
    time_status: TimeStatus,
) -> IngestResult:
    loaded = ctx.graphs.load(upload.tenant, upload.graph_hash, rehash=False)
    verify = map_trace(report, loaded.index, graph_hash_ok=True)
    resolved = _node_of_symbols(report, loaded.index)
    receipt, dsse, stored = _sign_and_publish(
        ctx, upload, staged, report, received_at, attestation, time_status, verify
    )
    facts = fact_rows(report, resolved)
    event = ingested_event(ctx, receipt, report, verify, occurred_at=received_at)
    return _commit(ctx, upload, stored.sha256, stored.size, receipt, dsse, facts, event,
                   Outcome.INGESTED, received_at, verify, attestation, time_status)  # fmt: skip


def _orphan(
    ctx: IngestContext,
    upload: RuntimeUpload,
    staged: StagedBlob,
    report: TraceReport,
    received_at: datetime,
    attestation: _Attestation | None,
    time_status: TimeStatus,
) -> IngestResult:
    receipt, dsse, stored = _sign_and_publish(
        ctx, upload, staged, report, received_at, attestation, time_status, None
    )
    event = EventDraft(
        event_id=receipt["timeline_event_id"],
        event_type=EventType.RUNTIME_ORPHANED.value,
        occurred_at=received_at,
        source=ctx.source,
        correlation_id=upload.ingest_id,
        attributes={
            "ingest_id": upload.ingest_id,
            "cas_uri": str(stored.uri),
            "graph_hash": str(upload.graph_hash),
            "next_retry_at": format_utc(received_at + ORPHAN_FIRST_RETRY),
            "dsse_digest": receipt["dsse_digest"],
            "staleness_seconds": time_status.staleness_seconds,
            "drift_ms": time_status.drift_ms,
        },
    )
    return _commit(ctx, upload, stored.sha256, stored.size, receipt, dsse, [], event,
                   Outcome.ORPHANED, received_at, None, attestation, time_status)  # fmt: skip


def _sign_and_publish(
    ctx: IngestContext,
    upload: RuntimeUpload,
    staged: StagedBlob,
    report: TraceReport,
    received_at: datetime,
    attestation: _Attestation | None,
    time_status: TimeStatus,
    verify: VerifyReport | None,
) -> tuple[dict[str, Any], bytes, StoredBlob]:
    """The receipt (``ingested`` with a mapping, ``orphaned`` without), its signature, and
    the published blobs: everything before the commit."""
    receipt = _receipt(
        ctx,
        upload,
        report,
        status="ingested" if verify is not None else "orphaned",
        sha256=staged.sha256,
        received_at=received_at,
        verify=verify,
        event_id=_event_id(ctx),
        dsse_digest=None if attestation is None else attestation.digest,
        time_status=time_status,
    )
    return receipt, _sign(ctx, receipt), _publish(ctx, upload, staged)


def _publish(ctx: IngestContext, upload: RuntimeUpload, staged: StagedBlob) -> StoredBlob:
    """Publish the trace, and its envelope at cas://reachability/attestations/<sha256>."""
    if upload.dsse is not None:
        ctx.blobs.put(upload.tenant, Namespace.ATTESTATIONS, [upload.dsse])
    return staged.publish()


def _commit(
    ctx: IngestContext,
    upload: RuntimeUpload,
    sha256: str,
    size: int,
    receipt: dict[str, Any],
    dsse: bytes,
    facts: Sequence[FactRow],
    event: EventDraft,
    outcome: Outcome,
    received_at: datetime,
    verify: VerifyReport | None,
    attestation: _Attestation | None,
    time_status: TimeStatus,
) -> IngestResult:
    record = IngestRecord(
        ingest_id=upload.ingest_id,
        tenant=upload.tenant,
        status=receipt["status"],
        received_at=received_at,
        content_sha256=sha256,
        graph_hash=str(upload.graph_hash),
        size=size,
        receipt=receipt,
        receipt_dsse=dsse,
        timeline_event_id=event.event_id,
    )
    try:
        ctx.repo.commit_ingest(record, facts, event)
    except Conflict:
        # Another request committed the same bytes for the same graph first: answer as a
        # duplicate of that one (one ingest, one duplicate), attaching this envelope to it.
        original = ctx.repo.find_duplicate(upload.tenant, sha256, str(upload.graph_hash))
        if original is None:  # pragma: no cover - the conflicting row exists by definition
            raise
        return _duplicate_or_attach(ctx, original, attestation, time_status)
    return IngestResult(
        outcome=outcome,
        ingest_id=upload.ingest_id,
        content_sha256=sha256,
        graph_hash=str(upload.graph_hash),
        receipt=receipt,
        receipt_dsse=dsse,
        verify=verify,
        size=size,
    )


def fact_rows(report: TraceReport, resolved: Mapping[str, str]) -> list[FactRow]:
    """The facts to store: one row per (symbol, purl, container), with its graph node."""
    return [
        FactRow(f.symbol_id, f.purl, f.container, f.count, f.first_seen, f.last_seen,
                resolved.get(f.symbol_id))
        for f in report.iter_facts()
    ]  # fmt: skip


def ingested_event(
    ctx: IngestContext,
    receipt: Mapping[str, Any],
    report: TraceReport,
    verify: VerifyReport,
    *,
    occurred_at: datetime,
    **extra: Any,
) -> EventDraft:
    """``reach.runtime.ingested`` for a receipt (runbook §2 step 5: CAS digest, ingest id)."""
    return EventDraft(
        event_id=receipt["timeline_event_id"],
        event_type=EventType.RUNTIME_INGESTED.value,
        occurred_at=occurred_at,
        source=ctx.source,
        correlation_id=receipt["ingest_id"],
        attributes={
            "ingest_id": receipt["ingest_id"],
            "cas_uri": receipt["cas_uri"],
            "content_sha256": receipt["content_sha256"],
            "graph_hash": receipt["graph_hash"],
            "records": report.records,
            "mapped_symbols": verify.mapped_symbols,
            "unmapped_symbols": verify.unmapped_symbols,
            "dsse_digest": receipt["dsse_digest"],
            "staleness_seconds": receipt["time"]["staleness_seconds"],
            "drift_ms": receipt["time"]["drift_ms"],
            **extra,
        },
    )


def _node_of_symbols(report: TraceReport, index: Any) -> dict[str, str]:
    """symbol_id → graph node id, by the SPEC §9 resolution rule."""
    nodes: dict[str, str] = {}
    for symbol_id in {key[0] for key in report.tallies}:
        number = index.by_symbol.get(symbol_id)
        if number is None and symbol_id in report.code_ids:
            number = index.by_code.get(report.code_ids[symbol_id])
        if number is not None:
            nodes[symbol_id] = index.node_ids[number]
    return nodes
