"""Orphan traces (SPEC §12): kept, queued, retried when their graph arrives or on back-off
(1 min doubling to 1 h), expired after 7 days. Any number of workers may run this at once:
items are leased in the database, and a worker that crashes mid-retry only delays the item
until its lease ends."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from stella_signals.cas import CasUri, Namespace
from stella_signals.errors import StellaError
from stella_signals.graph import map_trace
from stella_signals.ingest._graphs import parse_graph_hash
from stella_signals.ingest._pipeline import (
    IngestContext,
    RuntimeUpload,
    _event_id,
    _node_of_symbols,
    _receipt,
    _sign,
    fact_rows,
    ingested_event,
    next_version,
)
from stella_signals.ports import EventDraft, IngestRecord, OrphanItem
from stella_signals.tenancy import TenantId
from stella_signals.timeline import EventType, FailureReason
from stella_signals.trace import parse_trace

__all__ = [
    "ORPHAN_LIFETIME",
    "RetryStats",
    "backoff",
    "retry_orphans",
    "worker_name",
]

ORPHAN_LIFETIME = timedelta(days=7)
FIRST_DELAY = timedelta(minutes=1)
MAX_DELAY = timedelta(hours=1)
#: How long a worker holds an item before another may take it over.
LEASE_SECONDS = 600.0


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:64]


def backoff(attempts: int) -> timedelta:
    """Wait before attempt ``attempts + 1``: 1 min (the first, set when queued), then 2, 4,
    8 ... minutes, capped at 1 h."""
    delay: timedelta = FIRST_DELAY * (2 ** min(attempts, 16))
    return min(delay, MAX_DELAY)


@dataclass
class RetryStats:
    ingested: int = 0
    rescheduled: int = 0
    expired: int = 0
    lost: int = 0
    failed: int = 0


def retry_orphans(
    ctx: IngestContext,
    *,
    worker: str,
    limit: int = 100,
    tenant: TenantId | None = None,
    graph_hash: str | None = None,
) -> RetryStats:
    """One pass over the due queue items (or every item of one graph, when it just arrived)."""
    now = ctx.clock.now()
    stats = RetryStats()
    items = ctx.repo.claim_orphans(
        now,
        worker=worker,
        lease_seconds=LEASE_SECONDS,
        limit=limit,
        tenant=tenant,
        graph_hash=graph_hash,
    )
    for item in items:
        if now - item.queued_at >= ORPHAN_LIFETIME:
            _expire(ctx, item, worker, now, stats)
        elif ctx.repo.get_graph(item.tenant, item.graph_hash) is None:
            done = ctx.repo.reschedule_orphan(
                item, worker=worker, next_attempt_at=now + backoff(item.attempts + 1)
            )
            stats.rescheduled += done
            stats.lost += not done
        else:
            _ingest(ctx, item, worker, stats)
    return stats


def _original(ctx: IngestContext, item: OrphanItem) -> IngestRecord:
    record = ctx.repo.get_ingest(item.tenant, item.ingest_id)
    if record is None or record.receipt is None:  # pragma: no cover - the FK guarantees it
        raise RuntimeError(f"queued orphan {item.ingest_id} has no ingest record")
    return record


def _ingest(ctx: IngestContext, item: OrphanItem, worker: str, stats: RetryStats) -> None:
    original = _original(ctx, item)
    receipt_before: dict[str, Any] = dict(original.receipt or {})
    sha256 = original.content_sha256 or ""
    digest = parse_graph_hash(item.graph_hash)
    chunks = ctx.blobs.open(item.tenant, CasUri.of(Namespace.RUNTIME, sha256))
    try:
        report = parse_trace(chunks, limits=ctx.limits)
        report.raise_for_errors()
    except StellaError:  # the stored bytes no longer parse: keep it queued, visibly
        stats.failed += 1
        ctx.repo.reschedule_orphan(item, worker=worker, next_attempt_at=ctx.clock.now() + MAX_DELAY)
        return
    loaded = ctx.graphs.load(item.tenant, digest, rehash=False)
    verify = map_trace(report, loaded.index, graph_hash_ok=True)
    resolved = _node_of_symbols(report, loaded.index)
    event_id = _event_id(ctx)
    upload = RuntimeUpload(tenant=item.tenant, ingest_id=item.ingest_id, graph_hash=digest, body=[])
    receipt = _receipt(
        ctx,
        upload,
        report,
        status="ingested",
        sha256=sha256,
        received_at=original.received_at,
        verify=verify,
        event_id=event_id,
        dsse_digest=receipt_before.get("dsse_digest"),
        time_status=ctx.time_status(item.tenant),
    ) | next_version(ctx, original)
    facts = fact_rows(report, resolved)
    event = ingested_event(
        ctx, receipt, report, verify, occurred_at=ctx.clock.now(), retried_orphan=True
    )
    updated = IngestRecord(
        ingest_id=item.ingest_id,
        tenant=item.tenant,
        status="ingested",
        received_at=original.received_at,
        content_sha256=sha256,
        graph_hash=item.graph_hash,
        size=original.size,
        receipt=receipt,
        receipt_dsse=_sign(ctx, receipt),
        timeline_event_id=event_id,
    )
    finished = ctx.repo.finish_orphan(
        item,
        worker=worker,
        ingest=updated,
        facts=facts,
        event=event,
        previous_event_id=original.timeline_event_id,
    )
    if finished:
        stats.ingested += 1
    else:
        stats.lost += 1


def _expire(
    ctx: IngestContext, item: OrphanItem, worker: str, now: datetime, stats: RetryStats
) -> None:
    original = _original(ctx, item)
    receipt = dict(original.receipt or {}) | next_version(ctx, original)
    receipt["status"] = "expired"
    event_id = _event_id(ctx)
    receipt["timeline_event_id"] = event_id
    detail = f"graph {item.graph_hash} did not arrive within {ORPHAN_LIFETIME.days} days"
    event = EventDraft(
        event_id=event_id,
        event_type=EventType.RUNTIME_INGEST_FAILED.value,
        occurred_at=now,
        source=ctx.source,
        correlation_id=item.ingest_id,
        attributes={
            "ingest_id": item.ingest_id,
            "reason": FailureReason.ORPHAN_EXPIRED.value,
            "detail": detail,
            "content_sha256": original.content_sha256,
            "graph_hash": item.graph_hash,
        },
    )
    updated = IngestRecord(
        ingest_id=item.ingest_id,
        tenant=item.tenant,
        status="expired",
        received_at=original.received_at,
        content_sha256=original.content_sha256,
        graph_hash=item.graph_hash,
        size=original.size,
        reason=FailureReason.ORPHAN_EXPIRED.value,
        detail=detail,
        receipt=receipt,
        receipt_dsse=_sign(ctx, receipt),
        timeline_event_id=event_id,
    )
    expired = ctx.repo.expire_orphan(
        item,
        worker=worker,
        ingest=updated,
        event=event,
        previous_event_id=original.timeline_event_id,
    )
    if expired:
        stats.expired += 1
        if ctx.metrics is not None:
            ctx.metrics.ingest_finished(
                FailureReason.ORPHAN_EXPIRED.value, records=0, size=0, seconds=0.0
            )
    else:
        stats.lost += 1
