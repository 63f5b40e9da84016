"""The ingest services run on the in-memory ports alone: no database, no directory. Unit
tests of the services can use them (issue 15, item 3); what the ports guarantee is pinned for
every backend by ``tests/storage/repository_contract.py``."""

from __future__ import annotations

import gzip
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from stella_signals.attest import new_service_key_pem, service_key_from_pem
from stella_signals.clock import FixedClock
from stella_signals.graph import canonical_graph, parse_graph
from stella_signals.ids import new_ulid
from stella_signals.ingest import (
    GraphCatalog,
    IngestContext,
    Outcome,
    RuntimeUpload,
    ingest_graph,
    ingest_runtime,
    parse_graph_hash,
    retry_orphans,
)
from stella_signals.limits import Limits
from stella_signals.storage import MemoryBlobStore, MemoryIndexCache, MemoryRepository
from stella_signals.tenancy import parse_tenant
from stella_signals.timeline import check_chain
from stella_signals_dev.synth import SynthSpec, graph_bytes, trace_bytes

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ACME, GLOBEX = parse_tenant("acme"), parse_tenant("globex")
SPEC = SynthSpec(300, seed=5, symbols=60, purls=6)


def memory_context(clock: FixedClock) -> IngestContext:
    blobs, repo = MemoryBlobStore(), MemoryRepository()
    pem = repo.current_service_key(new_service_key_pem, clock.now())
    return IngestContext(
        blobs=blobs,
        repo=repo,
        graphs=GraphCatalog(blobs, MemoryIndexCache()),
        clock=clock,
        limits=Limits(),
        service_key=service_key_from_pem(pem, source="database"),
        source="test",
    )


def test_an_orphan_waits_for_its_graph_then_is_ingested_in_memory() -> None:
    clock = FixedClock(T0)
    ctx = memory_context(clock)
    graph = graph_bytes(SPEC)
    upload = RuntimeUpload(
        tenant=ACME,
        ingest_id=new_ulid(clock),
        graph_hash=parse_graph_hash(str(canonical_graph(parse_graph(graph)).hash)),
        body=[gzip.compress(trace_bytes(SPEC))],
    )
    assert ingest_runtime(ctx, upload).outcome is Outcome.ORPHANED
    assert ctx.repo.orphan_queue_depth() == 1
    assert retry_orphans(ctx, worker="w").rescheduled == 0  # not due before the first delay
    clock.advance(timedelta(seconds=5))
    ingest_graph(ctx, ACME, graph)
    assert ctx.repo.orphan_queue_depth() == 0
    record = ctx.repo.get_ingest(ACME, upload.ingest_id)
    assert record is not None and record.status == "ingested"
    assert record.receipt is not None and record.receipt["status"] == "ingested"
    assert ctx.repo.list_facts(ACME, upload.ingest_id)
    assert ctx.repo.observed_nodes(ACME, str(upload.graph_hash))
    events = list(ctx.repo.iter_events(ACME))
    assert events[0].event_type == "reach.runtime.orphaned"
    assert "reach.runtime.ingested" in {e.event_type for e in events}
    assert check_chain(events, tenant="acme").ok
    assert ctx.repo.get_ingest(GLOBEX, upload.ingest_id) is None
    # The same bytes again are a duplicate of the first ingest, not a second one.
    again = ingest_runtime(ctx, replace(upload, ingest_id=new_ulid(clock)))
    assert again.outcome is Outcome.DUPLICATE and again.ingest_id == upload.ingest_id
