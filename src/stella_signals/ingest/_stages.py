"""The named stages of an ingest (DESIGN.md "one ingest pipeline"): typed values in and out.

``ingest_runtime`` (`_pipeline`) is these stages in order; the orphan retry, the graph ingest
and sync call the same ones instead of re-implementing them:

    check_time → receive → attest → (answer_duplicate) → parse → resolve_graph → map_facts
    → seal (make_receipt, sign, publish) → commit          refusals: record_rejection

Reads outside the commit transaction, and why each is safe there (the commit is
``Repository.commit_ingest``, one transaction; the ports stay as they are):

- ``check_time`` (time anchors, NTP): a statement about the moment the trace was received;
  it is written into the receipt as such, and a blocked status refuses before anything is
  written.
- ``attest`` (policy, trusted keys): the trust decision is taken at reception, like a TLS
  handshake; a key revoked while the trace streams does not undo a signature made while it
  was trusted, and the receipt names the envelope it judged.
- ``find_duplicate`` (before parsing): a hint that saves the work; the unique key on
  (tenant, bytes, graph) makes ``commit`` raise `Conflict` for a race lost, and ``commit``
  then answers as a duplicate, exactly as if the hint had seen it.
- ``resolve_graph``: graphs are never deleted, and a graph is content-addressed (its bytes
  and index cannot change), so "present" stays true. "Absent" may turn stale: the commit
  of an orphan re-checks under the tenant's lock and queues it due at once when its graph
  arrived meanwhile (``commit_ingest``).
- ``answer_duplicate`` re-reads the ingest it attaches to and replaces its receipt by
  compare-and-swap (``supersede_receipt``): a receipt superseded meanwhile is read again.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, overload

from stella_signals.attest import (
    Envelope,
    InvalidEnvelope,
    PublicKey,
    SignatureInvalid,
    load_public_key,
    parse_envelope,
    verify_runtime_attestation,
)
from stella_signals.cas import Namespace
from stella_signals.clock import format_utc
from stella_signals.digests import Digest, sha256_hex
from stella_signals.errors import Conflict, HashMismatch, LimitExceeded, StellaError, Unavailable
from stella_signals.graph import GraphIndex, VerifyReport, map_trace, resolve_edges
from stella_signals.ingest._context import (
    Attestation,
    IngestContext,
    IngestFailed,
    IngestResult,
    Outcome,
    Received,
    RuntimeUpload,
)
from stella_signals.ingest._graphs import LoadedGraph
from stella_signals.limits import Limits
from stella_signals.ports import (
    ORPHAN_FIRST_DELAY,
    EdgeRow,
    EventDraft,
    FactRow,
    IngestRecord,
    KeyPurpose,
    Repository,
    StagedBlob,
)
from stella_signals.receipt import Receipt, ReceiptCounts, ReceiptStatus, ReceiptTime
from stella_signals.tenancy import TenantId
from stella_signals.timeanchor import TimeStatus, TimeUntrusted
from stella_signals.timeline import EventType, FailureReason
from stella_signals.trace import (
    MAX_COUNT,
    Diagnostic,
    TraceReport,
    check_probe_manifest,
    parse_trace,
)

__all__ = [
    "ORPHAN_FIRST_RETRY",
    "FactRows",
    "Mapped",
    "Pending",
    "answer_duplicate",
    "attest",
    "check_time",
    "commit",
    "envelope_of",
    "failed_event",
    "ingested_event",
    "make_receipt",
    "map_facts",
    "orphaned_event",
    "parse",
    "receive",
    "record_outcome",
    "record_rejection",
    "resolve_graph",
    "seal",
    "superseding",
    "trusted_keys",
    "with_receipt",
]

#: First orphan retry (SPEC §12: 1 min doubling to 1 h).
ORPHAN_FIRST_RETRY = ORPHAN_FIRST_DELAY
#: Tries to attach an envelope when other writers keep superseding the receipt first.
_ATTACH_ATTEMPTS = 5


# -- time, receive, attest -----------------------------------------------------------------


def check_time(ctx: IngestContext, tenant: TenantId) -> TimeStatus:
    """The time this ingest may trust; `TimeUntrusted` when it must be refused (SPEC §11),
    before the body is read."""
    status = ctx.time_status(tenant)
    if status.blocked:
        raise TimeUntrusted(status)
    return status


def receive(ctx: IngestContext, upload: RuntimeUpload, cleanup: contextlib.ExitStack) -> StagedBlob:
    """Stage the body (bounded by the size limit); the staged bytes are discarded when
    ``cleanup`` closes unless published. `HashMismatch` when the client declared other bytes."""
    staged = cleanup.enter_context(
        ctx.blobs.stage(
            upload.tenant,
            Namespace.RUNTIME,
            upload.body,
            max_bytes=ctx.limits.max_compressed_bytes,
        )
    )
    if upload.declared_sha256 is not None and upload.declared_sha256 != staged.sha256:
        raise HashMismatch(
            f"Content-Digest says sha-256 {upload.declared_sha256}, the body is {staged.sha256}"
        )
    return staged


def check_manifest(ctx: IngestContext, manifest: bytes | None, sha256: str) -> str | None:
    """The ``sha256:`` digest of the probe manifest sent with the trace whose SHA-256 hex is
    ``sha256`` (None without one); `InvalidField` when it is malformed, `HashMismatch` when
    it describes other bytes."""
    if manifest is None:
        return None
    check_probe_manifest(manifest, sha256, limits=ctx.limits)
    return "sha256:" + sha256_hex(manifest)


def trusted_keys(
    repo: Repository, tenant: TenantId, purpose: KeyPurpose = KeyPurpose.ATTEST
) -> list[PublicKey]:
    """The keys ``tenant`` trusts for ``purpose`` (attestations of traces and graphs, by
    default; an offline site's service key for sync). The store is asked every time (a key
    revoked anywhere is no longer trusted from the next request on); only the parse of each
    PEM is remembered, by its bytes."""
    return [_public_key(key.public_pem) for key in repo.list_trusted_keys(tenant, purpose)]


#: PEM bytes → the parsed key: a pure function of its argument, so kept (issue 19).
_public_key = functools.lru_cache(maxsize=1024)(load_public_key)


def envelope_of(dsse: bytes) -> Envelope:
    """The DSSE envelope in ``dsse``; `SignatureInvalid` when it is malformed."""
    try:
        return parse_envelope(dsse)
    except InvalidEnvelope as exc:
        raise SignatureInvalid(f"malformed DSSE envelope: {exc}") from None


def attest(
    repo: Repository, tenant: TenantId, dsse: bytes | None, sha256: str
) -> Attestation | None:
    """The runbook's imposed rule: a trace never bypasses DSSE verification.

    With an envelope: it must verify with keys the tenant trusts (policy threshold) and its
    subject must be the trace whose SHA-256 is ``sha256``. Without one: refused when the
    tenant requires DSSE, else None. Raises `SignatureInvalid`.
    """
    policy = repo.get_policy(tenant)
    if dsse is None:
        if policy.require_dsse:
            raise SignatureInvalid(
                f"tenant {tenant} requires a DSSE attestation with every trace "
                "(multipart part 'dsse')",
                reason=FailureReason.DSSE_REQUIRED.value,
            )
        return None
    verified = verify_runtime_attestation(
        envelope_of(dsse),
        trusted=trusted_keys(repo, tenant),
        threshold=policy.dsse_threshold,
        trace_sha256=sha256,
        tenant=tenant,
    )
    return Attestation("sha256:" + sha256_hex(dsse), tuple(sorted(verified.keyids)), dsse)


# -- parse, resolve graph, map -------------------------------------------------------------


def parse(chunks: Iterable[bytes], *, limits: Limits, name: str | None = None) -> TraceReport:
    """The trace, parsed once; `InvalidTrace` (with every diagnostic) when it has errors."""
    report = parse_trace(chunks, name=name, limits=limits)
    report.raise_for_errors()
    return report


def resolve_graph(ctx: IngestContext, tenant: TenantId, graph_hash: Digest) -> LoadedGraph | None:
    """The tenant's graph with its index, or None when it has not arrived (an orphan). The
    store is asked until it has the graph; then the catalog remembers it (it stays)."""
    if not ctx.graphs.registered(
        tenant, graph_hash, lambda: ctx.repo.get_graph(tenant, str(graph_hash)) is not None
    ):
        return None
    return ctx.graphs.load(tenant, graph_hash, rehash=False)


class FactRows(Sequence[FactRow]):
    """The fact rows of a mapped trace, made as they are read (issue 19): a 10 M-record trace
    has 10^5 facts, and a list of them beside the report's tallies cost 18 MiB at the peak of
    its ingest, and the cyclic collector a quarter of the mapping time while it grew. Iterate
    it (each pass makes the rows anew, in the report's fact order); indexing makes them all,
    so each index costs a pass (for tests and small traces: the stores only iterate)."""

    __slots__ = ("_keys", "_nodes", "_report")

    def __init__(self, report: TraceReport, nodes: Mapping[str, str]) -> None:
        self._report = report
        self._keys = report.fact_order()  # sorted once, outside the commit's transaction
        self._nodes = nodes

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[FactRow]:
        nodes = self._nodes
        # A sum of counts is exact in the report, but a stored count is kept at 2^53-1 (the
        # largest a record may carry, and the largest integer canonical JSON and a 64-bit
        # column hold exactly): a lower bound that only a forged or broken trace reaches.
        for symbol_id, purl, container, count, first, last in self._report.fact_fields(self._keys):
            yield FactRow(symbol_id, purl, container, min(count, MAX_COUNT), first, last,
                          nodes.get(symbol_id))  # fmt: skip

    @overload
    def __getitem__(self, index: int) -> FactRow: ...
    @overload
    def __getitem__(self, index: slice) -> list[FactRow]: ...
    def __getitem__(self, index: int | slice) -> FactRow | list[FactRow]:
        return list(self)[index]


@dataclass(frozen=True, slots=True)
class Mapped:
    """A trace mapped onto its graph: the counts, and the facts and observed edges to store."""

    verify: VerifyReport
    facts: FactRows
    edges: list[EdgeRow]


def map_facts(report: TraceReport, graph: LoadedGraph) -> Mapped:
    """Map the trace onto the graph (SPEC §9) and resolve each fact's graph node and each
    observed caller → callee pair's nodes (as many pairs as the parser let through: at most
    ``max_edges``)."""
    index = graph.index
    verify = map_trace(report, index, graph_hash_ok=True)
    facts = FactRows(report, _node_of_symbols(report, index))
    names = index.node_ids
    edges = [
        EdgeRow(p.caller_symbol_id, p.symbol_id, min(p.hits, MAX_COUNT),
                None if p.caller_node is None else names[p.caller_node],
                None if p.callee_node is None else names[p.callee_node], p.in_graph)
        for p in resolve_edges(report, index)
    ]  # fmt: skip
    return Mapped(verify, facts, edges)


def _node_of_symbols(report: TraceReport, index: GraphIndex) -> dict[str, str]:
    """symbol_id → graph node id, by the SPEC §9 resolution rule."""
    nodes: dict[str, str] = {}
    for symbol_id in {key[0] for key in report.tallies}:
        number = index.by_symbol.get(symbol_id)
        if number is None and symbol_id in report.code_ids:
            number = index.by_code.get(report.code_ids[symbol_id])
        if number is not None:
            nodes[symbol_id] = index.node_ids[number]
    return nodes


# -- receipt -------------------------------------------------------------------------------


def make_receipt(
    ctx: IngestContext,
    *,
    tenant: TenantId,
    ingest_id: str,
    received_at: datetime,
    content_sha256: str,
    graph_hash: str,
    report: TraceReport,
    mapped: Mapped | None,
    dsse_digest: str | None,
    time_status: TimeStatus,
    probe_manifest_digest: str | None = None,
) -> Receipt:
    """Version 1 of a receipt: ``ingested`` with a mapping, ``orphaned`` without."""
    verify = None if mapped is None else mapped.verify
    status: ReceiptStatus = "orphaned" if mapped is None else "ingested"
    return Receipt(
        ingest_id=ingest_id,
        tenant=tenant,
        status=status,
        received_at=received_at,
        content_sha256=content_sha256,
        graph_hash=graph_hash,
        dsse_digest=dsse_digest,
        counts=ReceiptCounts(
            lines=report.lines,
            records=report.records,
            unique_symbols=report.unique_symbols,
            mapped_symbols=verify.mapped_symbols if verify else None,
            unmapped_symbols=verify.unmapped_symbols if verify else None,
            edges_confirmed=verify.edges_confirmed if verify else None,
        ),
        time=ReceiptTime.of(time_status),
        timeline_event_id=ctx.new_event_id(),
        probe_manifest_digest=probe_manifest_digest,
    )


def superseding(ctx: IngestContext, previous: IngestRecord, **changes: Any) -> Receipt:
    """The receipt that replaces ``previous``'s: one version up, naming the ``sha256:`` of
    the signed envelope it replaces, which is kept at ``cas://evidence/receipts/<hex>`` so an
    auditor can walk the chain of versions back to the first; with a new event id."""
    if previous.receipt is None or previous.receipt_dsse is None:  # pragma: no cover - a bug
        raise RuntimeError(f"ingest {previous.ingest_id} has no signed receipt to supersede")
    kept = ctx.blobs.put(previous.tenant, Namespace.RECEIPTS, [previous.receipt_dsse])
    return Receipt.from_payload(previous.receipt).superseding(
        kept.sha256, timeline_event_id=ctx.new_event_id(), **changes
    )


def with_receipt(
    ctx: IngestContext,
    record: IngestRecord,
    receipt: Receipt,
    envelope: bytes | None = None,
    **changes: Any,
) -> IngestRecord:
    """``record`` holding ``receipt`` (status, trace, graph, event) and its signed
    ``envelope`` (signed here when not given)."""
    return replace(
        record,
        status=receipt.status,
        content_sha256=receipt.content_sha256,
        graph_hash=receipt.graph_hash,
        receipt=receipt.to_payload(),
        receipt_dsse=receipt.sign([ctx.service_key.signer]) if envelope is None else envelope,
        timeline_event_id=receipt.timeline_event_id,
        **changes,
    )


def ingested_event(
    ctx: IngestContext,
    receipt: Receipt,
    report: TraceReport,
    verify: VerifyReport,
    *,
    occurred_at: datetime,
    **extra: Any,
) -> EventDraft:
    """``reach.runtime.ingested`` for a receipt (runbook §2 step 5: CAS digest, ingest id)."""
    return EventDraft(
        event_id=receipt.timeline_event_id,
        event_type=EventType.RUNTIME_INGESTED.value,
        occurred_at=occurred_at,
        source=ctx.source,
        correlation_id=receipt.ingest_id,
        attributes={
            **receipt.event_attributes(),
            "records": report.records,
            "mapped_symbols": verify.mapped_symbols,
            "unmapped_symbols": verify.unmapped_symbols,
            **extra,
        },
    )


def orphaned_event(ctx: IngestContext, receipt: Receipt) -> EventDraft:
    """``reach.runtime.orphaned``: kept, retried from ``next_retry_at`` (SPEC §12)."""
    attributes = receipt.event_attributes()
    del attributes["content_sha256"]  # as it always was: the cas_uri names the bytes
    return EventDraft(
        event_id=receipt.timeline_event_id,
        event_type=EventType.RUNTIME_ORPHANED.value,
        occurred_at=receipt.received_at,
        source=ctx.source,
        correlation_id=receipt.ingest_id,
        attributes={
            **attributes,
            "next_retry_at": format_utc(receipt.received_at + ORPHAN_FIRST_RETRY),
        },
    )


def seal(
    ctx: IngestContext, received: Received, report: TraceReport, mapped: Mapped | None
) -> Pending:
    """Everything before the commit: the receipt (``ingested`` with a mapping, ``orphaned``
    without), its signature, its event, and the published blobs (the trace, its envelope at
    cas://reachability/attestations/<sha256>, its probe manifest at
    cas://reachability/probe-manifests/<sha256>)."""
    upload, attestation = received.upload, received.attestation
    receipt = make_receipt(
        ctx,
        tenant=upload.tenant,
        ingest_id=upload.ingest_id,
        received_at=received.at,
        content_sha256=received.staged.sha256,
        graph_hash=str(upload.graph_hash),
        report=report,
        mapped=mapped,
        dsse_digest=None if attestation is None else attestation.digest,
        time_status=received.time_status,
        probe_manifest_digest=received.probe_manifest_digest,
    )
    envelope = receipt.sign([ctx.service_key.signer])
    if attestation is not None:
        ctx.blobs.put(upload.tenant, Namespace.ATTESTATIONS, [attestation.envelope])
    if upload.probe_manifest is not None:
        ctx.blobs.put(upload.tenant, Namespace.PROBE_MANIFESTS, [upload.probe_manifest])
    stored = received.staged.publish()
    if mapped is None:
        event = orphaned_event(ctx, receipt)
    else:
        event = ingested_event(ctx, receipt, report, mapped.verify, occurred_at=received.at)
    return Pending(
        receipt=receipt,
        envelope=envelope,
        size=stored.size,
        facts=[] if mapped is None else mapped.facts,
        edges=[] if mapped is None else mapped.edges,
        event=event,
        verify=None if mapped is None else mapped.verify,
        attestation=attestation,
        time_status=received.time_status,
    )


# -- commit --------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Pending:
    """An ingest ready to commit: its signed receipt, facts and event, the trace published."""

    receipt: Receipt
    envelope: bytes
    size: int
    facts: Sequence[FactRow]
    edges: Sequence[EdgeRow]
    event: EventDraft
    verify: VerifyReport | None
    attestation: Attestation | None
    time_status: TimeStatus


def commit(ctx: IngestContext, pending: Pending) -> IngestResult:
    """The commit point: ingest row, facts, observed edges, timeline event and signed receipt in one
    transaction. A race lost to the same bytes for the same graph answers as a duplicate of
    the winner (one ingest, one duplicate), attaching this envelope to it."""
    receipt = pending.receipt
    record = with_receipt(
        ctx,
        IngestRecord(
            ingest_id=receipt.ingest_id,
            tenant=TenantId(receipt.tenant),
            status=receipt.status,
            received_at=receipt.received_at,
            size=pending.size,
        ),
        receipt,
        pending.envelope,
    )
    try:
        ctx.repo.commit_ingest(record, pending.facts, pending.event, pending.edges)
    except Conflict:
        original = ctx.repo.find_duplicate(
            record.tenant, receipt.content_sha256, receipt.graph_hash
        )
        if original is None:  # pragma: no cover - the conflicting row exists by definition
            raise
        return answer_duplicate(ctx, original, pending.attestation, pending.time_status)
    return IngestResult(
        outcome=Outcome.INGESTED if receipt.status == "ingested" else Outcome.ORPHANED,
        ingest_id=receipt.ingest_id,
        content_sha256=receipt.content_sha256,
        graph_hash=receipt.graph_hash,
        receipt=record.receipt or {},
        receipt_dsse=pending.envelope,
        verify=pending.verify,
        size=pending.size,
    )


# -- duplicates and attached envelopes -----------------------------------------------------


def _duplicate_result(original: IngestRecord, *, attached: bool = False) -> IngestResult:
    return IngestResult(
        outcome=Outcome.DUPLICATE,
        ingest_id=original.ingest_id,
        content_sha256=original.content_sha256 or "",
        graph_hash=original.graph_hash or "",
        receipt={**(original.receipt or {}), "duplicate": True},
        receipt_dsse=original.receipt_dsse,
        size=original.size or 0,
        attached=attached,
    )


def answer_duplicate(
    ctx: IngestContext,
    original: IngestRecord,
    attestation: Attestation | None,
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
    attestation: Attestation,
    time_status: TimeStatus,
) -> IngestRecord | None:
    """Attach ``attestation`` to an accepted ingest; the updated record, or None when its
    receipt was superseded by someone else first."""
    receipt = superseding(ctx, original, dsse_digest=attestation.digest)
    envelope = receipt.sign([ctx.service_key.signer])
    ctx.blobs.put(original.tenant, Namespace.ATTESTATIONS, [attestation.envelope])
    kept = ctx.blobs.put(original.tenant, Namespace.RECEIPTS, [envelope])
    event = EventDraft(
        event_id=receipt.timeline_event_id,
        event_type=EventType.RUNTIME_DSSE_ATTACHED.value,
        occurred_at=ctx.clock.now(),
        source=ctx.source,
        correlation_id=original.ingest_id,
        attributes={
            **receipt.event_attributes(ReceiptTime.of(time_status)),
            "keyids": list(attestation.keyids),
            "receipt_version": receipt.version,
            "receipt_digest": f"sha256:{kept.sha256}",
            "supersedes": receipt.supersedes,
        },
    )
    updated = with_receipt(ctx, original, receipt, envelope)
    previous = original.timeline_event_id or ""
    if ctx.repo.supersede_receipt(updated, event, previous_event_id=previous) is None:
        return None
    return updated


# -- refusals and metrics ------------------------------------------------------------------


def _failure_reason(error: StellaError) -> str:
    if isinstance(error, LimitExceeded):
        return FailureReason.TOO_LARGE.value
    if isinstance(error, HashMismatch):
        return FailureReason.HASH_MISMATCH.value
    if error.reason in {r.value for r in FailureReason}:
        return error.reason
    return FailureReason.SCHEMA_INVALID.value


def failed_event(
    ctx: IngestContext,
    *,
    ingest_id: str,
    reason: str,
    detail: str,
    occurred_at: datetime,
    content_sha256: str | None,
    graph_hash: str | None,
) -> EventDraft:
    """``runtime.ingest.failed`` (SPEC §7: ingest_id, reason, detail, content_sha256?,
    graph_hash?)."""
    attributes: dict[str, Any] = {"ingest_id": ingest_id, "reason": reason, "detail": detail}
    if content_sha256 is not None:
        attributes["content_sha256"] = content_sha256
    if graph_hash is not None:
        attributes["graph_hash"] = graph_hash
    return EventDraft(
        event_id=ctx.new_event_id(),
        event_type=EventType.RUNTIME_INGEST_FAILED.value,
        occurred_at=occurred_at,
        source=ctx.source,
        correlation_id=ingest_id,
        attributes=attributes,
    )


def record_outcome(
    ctx: IngestContext, result: str, *, records: int = 0, size: int = 0, seconds: float = 0.0
) -> None:
    """Count one finished ingest (``stella_ingest_*`` metrics): its outcome or refusal
    reason, the one place the pipeline, the front doors and the orphan worker count."""
    if ctx.metrics is not None:
        ctx.metrics.ingest_finished(result, records=records, size=size, seconds=seconds)


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
    """THE place a refused ingest is recorded: its ``failed`` row, the ``runtime.ingest.failed``
    event and the metric; returns the error to raise, which the front door renders (HTTP
    problem or CLI exit code). Used by the pipeline and by the front doors for what they
    refuse themselves before the pipeline runs (415, a bad bundle)."""
    reason = _failure_reason(error)
    record_outcome(ctx, reason, size=size or 0)
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
        failed_event(
            ctx,
            ingest_id=ingest_id,
            reason=reason,
            detail=error.message,
            occurred_at=received_at,
            content_sha256=content_sha256,
            graph_hash=graph_hash,
        ),
    )
    return IngestFailed(
        error, ingest_id=ingest_id, reason=reason, diagnostics=diagnostics, event=event
    )
