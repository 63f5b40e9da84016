"""Orphan traces (SPEC §12): kept, queued, retried when their graph arrives or on back-off
(1 min doubling to 1 h), expired after 7 days. Any number of workers may run this at once:
items are leased in the database, and a worker that crashes mid-retry only delays the item
until its lease ends."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from stella_signals.cas import CasUri, Namespace
from stella_signals.errors import StellaError
from stella_signals.ingest._context import IngestContext
from stella_signals.ingest._graphs import parse_graph_hash
from stella_signals.ingest._stages import (
    failed_event,
    ingested_event,
    make_receipt,
    map_facts,
    parse,
    record_outcome,
    resolve_graph,
    superseding,
    with_receipt,
)
from stella_signals.ports import ORPHAN_FIRST_DELAY, IngestRecord, OrphanItem
from stella_signals.tenancy import TenantId
from stella_signals.timeline import FailureReason

__all__ = [
    "ORPHAN_LIFETIME",
    "RetryStats",
    "backoff",
    "retry_orphans",
    "worker_name",
]

ORPHAN_LIFETIME = timedelta(days=7)
MAX_DELAY = timedelta(hours=1)
#: How long a worker holds an item before another may take it over.
LEASE_SECONDS = 600.0


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:64]


def backoff(attempts: int) -> timedelta:
    """Wait before attempt ``attempts + 1``: 1 min (the first, set when queued), then 2, 4,
    8 ... minutes, capped at 1 h."""
    delay: timedelta = ORPHAN_FIRST_DELAY * (2 ** min(attempts, 16))
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
    """The tail of an ingest (parse, resolve graph, map, receipt), for stored bytes whose
    graph arrived: a new receipt version, ``reach.runtime.ingested``, the queue item done."""
    original = _original(ctx, item)
    sha256 = original.content_sha256 or ""
    try:
        report = parse(
            ctx.blobs.open(item.tenant, CasUri.of(Namespace.RUNTIME, sha256)), limits=ctx.limits
        )
    except StellaError:  # the stored bytes no longer parse: keep it queued, visibly
        stats.failed += 1
        ctx.repo.reschedule_orphan(item, worker=worker, next_attempt_at=ctx.clock.now() + MAX_DELAY)
        return
    graph = resolve_graph(ctx, item.tenant, parse_graph_hash(item.graph_hash))
    if graph is None:  # pragma: no cover - checked by the caller; graphs are never deleted
        raise RuntimeError(f"graph {item.graph_hash} of orphan {item.ingest_id} is gone")
    mapped = map_facts(report, graph)
    fresh = make_receipt(
        ctx,
        tenant=item.tenant,
        ingest_id=item.ingest_id,
        received_at=original.received_at,
        content_sha256=sha256,
        graph_hash=item.graph_hash,
        report=report,
        mapped=mapped,
        dsse_digest=None,
        time_status=ctx.time_status(item.tenant),
    )
    receipt = superseding(ctx, original, status=fresh.status, counts=fresh.counts, time=fresh.time)
    event = ingested_event(
        ctx, receipt, report, mapped.verify, occurred_at=ctx.clock.now(), retried_orphan=True
    )
    finished = ctx.repo.finish_orphan(
        item,
        worker=worker,
        ingest=with_receipt(ctx, original, receipt),
        facts=mapped.facts,
        edges=mapped.edges,
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
    receipt = superseding(ctx, original, status="expired")
    detail = f"graph {item.graph_hash} did not arrive within {ORPHAN_LIFETIME.days} days"
    event = replace(
        failed_event(
            ctx,
            ingest_id=item.ingest_id,
            reason=FailureReason.ORPHAN_EXPIRED.value,
            detail=detail,
            occurred_at=now,
            content_sha256=original.content_sha256,
            graph_hash=item.graph_hash,
        ),
        event_id=receipt.timeline_event_id,
    )
    updated = with_receipt(
        ctx, original, receipt, reason=FailureReason.ORPHAN_EXPIRED.value, detail=detail
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
        record_outcome(ctx, FailureReason.ORPHAN_EXPIRED.value)
    else:
        stats.lost += 1
