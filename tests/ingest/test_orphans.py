"""Orphan traces under a fixed clock (runbook §4, SPEC §12): queued, retried when the graph
arrives, backed off 1 min doubling to 1 h, expired after 7 days; leases keep workers apart."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from stella_signals.clock import FixedClock
from stella_signals.ids import new_ulid
from stella_signals.ingest import (
    IngestContext,
    Outcome,
    RuntimeUpload,
    backoff,
    ingest_graph,
    ingest_runtime,
    parse_graph_hash,
    retry_orphans,
)
from stella_signals.tenancy import parse_tenant
from stella_signals.timeline import check_chain
from stella_signals.wiring import Services
from stella_signals_dev.synth import SynthSpec, graph_bytes, trace_bytes
from tests.realservers.backends import Backend

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ACME = parse_tenant("acme")
SPEC = SynthSpec(500, seed=21, symbols=100, purls=10)


@pytest.fixture
def world(tmp_path: Path, backend: Backend) -> Iterator[tuple[Services, FixedClock, IngestContext]]:
    """On both deployments: the queue is claimed with FOR UPDATE SKIP LOCKED on PostgreSQL."""
    clock = FixedClock(T0)
    services = Services.open(backend.settings(tmp_path), clock=clock)
    yield services, clock, services.ingest_context("test")
    services.close()


def graph_hash() -> str:
    from stella_signals.graph import canonical_graph, parse_graph

    return str(canonical_graph(parse_graph(graph_bytes(SPEC))).hash)


def orphan(ctx: IngestContext, clock: FixedClock, seed: int = 0) -> str:
    body = gzip.compress(trace_bytes(SynthSpec(500, seed=seed, symbols=100, purls=10)))
    result = ingest_runtime(
        ctx,
        RuntimeUpload(
            tenant=ACME,
            ingest_id=new_ulid(clock),
            graph_hash=parse_graph_hash(graph_hash()),
            body=[body],
        ),
    )
    assert result.outcome is Outcome.ORPHANED
    return result.ingest_id


def next_attempt(services: Services) -> datetime:
    import sqlalchemy as sa

    from stella_signals.storage._schema import orphan_queue

    with services.repo.engine.connect() as conn:
        value = conn.execute(sa.select(orphan_queue.c.next_attempt_at)).scalar_one()
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def event_types(services: Services) -> list[str]:
    return [e.event_type for e in services.repo.iter_events(ACME)]


def test_the_graph_arriving_ingests_its_orphans_at_once(world) -> None:  # type: ignore[no-untyped-def]
    services, clock, ctx = world
    first, second = orphan(ctx, clock, 1), orphan(ctx, clock, 2)
    assert services.repo.orphan_queue_depth() == 2
    clock.advance(timedelta(seconds=5))
    ingest_graph(ctx, ACME, graph_bytes(SPEC))
    assert services.repo.orphan_queue_depth() == 0
    for ingest_id in (first, second):
        record = services.repo.get_ingest(ACME, ingest_id)
        assert record is not None and record.status == "ingested"
        assert record.receipt is not None and record.receipt["status"] == "ingested"
        assert record.receipt["counts"]["mapped_symbols"] is not None
        assert services.repo.list_facts(ACME, ingest_id)
    events = list(services.repo.iter_events(ACME))
    ingested = [e for e in events if e.event_type == "reach.runtime.ingested"]
    assert sorted(e.attributes["ingest_id"] for e in ingested) == sorted([first, second])
    assert event_types(services)[:2] == ["reach.runtime.orphaned"] * 2
    assert check_chain(events, tenant="acme").ok


def test_back_off_doubles_to_an_hour_then_expires_after_seven_days(world) -> None:  # type: ignore[no-untyped-def]
    services, clock, ctx = world
    ingest_id = orphan(ctx, clock)
    assert [backoff(n) for n in (0, 1, 2, 5, 6, 20)] == [
        timedelta(minutes=m) for m in (1, 2, 4, 32, 60, 60)
    ]
    assert retry_orphans(ctx, worker="w").rescheduled == 0  # not due before a minute
    delays = []
    for _ in range(8):
        clock.advance(timedelta(hours=1))
        stats = retry_orphans(ctx, worker="w")
        assert stats.rescheduled == 1
        delays.append(next_attempt(services) - clock.now())
    assert delays[:3] == [timedelta(minutes=2), timedelta(minutes=4), timedelta(minutes=8)]
    assert delays[-1] == timedelta(hours=1)
    clock.advance(timedelta(days=7))
    stats = retry_orphans(ctx, worker="w")
    assert stats.expired == 1
    record = services.repo.get_ingest(ACME, ingest_id)
    assert record is not None and record.status == "expired" and record.reason == "orphan_expired"
    last = list(services.repo.iter_events(ACME))[-1]
    assert last.event_type == "runtime.ingest.failed"
    assert last.attributes["reason"] == "orphan_expired"
    assert services.repo.orphan_queue_depth() == 0
    # the same bytes may now come again, as a new ingest
    assert orphan(ctx, clock) != ingest_id


def test_two_workers_never_process_one_item_and_a_crash_leaves_it_queued(world) -> None:  # type: ignore[no-untyped-def]
    services, clock, ctx = world
    orphan(ctx, clock)
    ingest_graph_without_release(services, ctx)
    clock.advance(timedelta(minutes=2))
    now = clock.now()
    claimed_a = services.repo.claim_orphans(now, worker="a", lease_seconds=600, limit=10)
    claimed_b = services.repo.claim_orphans(now, worker="b", lease_seconds=600, limit=10)
    assert len(claimed_a) == 1 and claimed_b == []
    # worker a "crashes": it never finishes. Until its lease ends nobody else takes the item.
    assert retry_orphans(ctx, worker="b").ingested == 0
    clock.advance(timedelta(minutes=11))
    stats = retry_orphans(ctx, worker="b")
    assert stats.ingested == 1
    # a late finish by the crashed worker writes nothing
    assert services.repo.reschedule_orphan(claimed_a[0], worker="a", next_attempt_at=now) is False
    assert event_types(services).count("reach.runtime.ingested") == 1


def ingest_graph_without_release(services: Services, ctx: IngestContext) -> None:
    """Record the graph without the at-once release, to exercise the timed path."""
    from stella_signals.ports import GraphRecord

    imported = ctx.graphs.import_graph(ACME, graph_bytes(SPEC))
    from stella_signals.ports import EventDraft

    services.repo.add_graph(
        GraphRecord(ACME, str(imported.graph_hash), str(imported.uri), imported.size,
                    imported.index.nodes_total, imported.index.edges_total, T0),
        EventDraft(new_ulid(ctx.clock), "reach.graph.ingested", T0, "test", None, {}),
    )  # fmt: skip


def test_an_envelope_attached_while_a_worker_retries_is_kept(world) -> None:  # type: ignore[no-untyped-def]
    """A worker reads the orphan's receipt, then a DSSE is attached (a new receipt version)
    before the worker finishes: its finish, built on the older receipt, writes nothing and
    releases the item, and the next pass ingests it from the newer receipt, envelope kept."""
    from dataclasses import replace

    from stella_signals.attest import load_public_key
    from stella_signals.cas import CasUri, Namespace
    from stella_signals.digests import sha256_hex
    from stella_signals.ports import EventDraft, KeyPurpose, TrustedKey
    from tests.api.test_dsse_ingest import Signing

    services, clock, ctx = world
    signing = Signing()
    key = load_public_key(signing.public)
    services.repo.add_trusted_key(
        TrustedKey(ACME, KeyPurpose.ATTEST, key.keyid, key.pem, clock.now())
    )
    ingest_id = orphan(ctx, clock)
    ingest_graph_without_release(services, ctx)
    clock.advance(timedelta(minutes=2))
    [item] = services.repo.claim_orphans(clock.now(), worker="a", lease_seconds=600, limit=10)
    stale = services.repo.get_ingest(ACME, ingest_id)  # what worker "a" read
    assert stale is not None and stale.timeline_event_id is not None

    uri = CasUri.of(Namespace.RUNTIME, stale.content_sha256 or "")
    body = b"".join(services.blobs.open(ACME, uri))  # the orphan's own bytes
    dsse = signing.envelope(body)
    attached = ingest_runtime(
        ctx,
        RuntimeUpload(
            tenant=ACME, ingest_id=new_ulid(clock), graph_hash=parse_graph_hash(graph_hash()),
            body=[body], dsse=dsse,
        ),
    )  # fmt: skip
    assert attached.attached and attached.receipt["version"] == 2

    late = services.repo.finish_orphan(
        item,
        worker="a",
        ingest=replace(stale, status="ingested", timeline_event_id=new_ulid(clock)),
        facts=[],
        event=EventDraft(new_ulid(clock), "reach.runtime.ingested", T0, "test", None, {}),
        previous_event_id=stale.timeline_event_id,
    )
    assert late is None
    now = services.repo.get_ingest(ACME, ingest_id)
    assert now is not None and now.status == "orphaned" and now.receipt is not None
    assert now.receipt["version"] == 2 and "reach.runtime.ingested" not in event_types(services)

    assert retry_orphans(ctx, worker="b").ingested == 1  # released: due at once
    done = services.repo.get_ingest(ACME, ingest_id)
    assert done is not None and done.status == "ingested" and done.receipt is not None
    assert done.receipt["dsse_digest"] == "sha256:" + sha256_hex(dsse)
    assert done.receipt["version"] == 3
    assert done.receipt["supersedes"] == "sha256:" + sha256_hex(now.receipt_dsse or b"")
    kept = CasUri.of(Namespace.RECEIPTS, done.receipt["supersedes"].removeprefix("sha256:"))
    assert b"".join(services.blobs.open(ACME, kept)) == now.receipt_dsse
    assert check_chain(list(services.repo.iter_events(ACME)), tenant="acme").ok


def test_an_orphan_keeps_its_observed_edges_once_its_graph_arrives(world) -> None:  # type: ignore[no-untyped-def]
    """The retry maps callers as the first attempt would: the pairs, their nodes and whether
    the graph has each edge are stored with the facts."""
    from stella_signals.graph import canonical_graph, parse_graph
    from tests.graph._graphs import BASE, as_bytes
    from tests.trace._lines import line, ndjson

    services, clock, ctx = world
    graph = as_bytes(BASE)
    digest = canonical_graph(parse_graph(graph)).hash
    body = ndjson(
        line(symbol_id="sym:python:parse", purl="pkg:pypi/lib@2.0.0", count=3,
             caller_symbol_id="sym:python:main"),
        line(symbol_id="sym:python:main", purl="pkg:pypi/app@1.0.0", count=2,
             caller_symbol_id="sym:python:unused"),
    )  # fmt: skip
    result = ingest_runtime(
        ctx, RuntimeUpload(tenant=ACME, ingest_id=new_ulid(clock), graph_hash=digest, body=[body])
    )
    assert result.outcome is Outcome.ORPHANED
    assert services.repo.list_edges(ACME, result.ingest_id) == []
    ingest_graph(ctx, ACME, graph)
    stored = services.repo.list_edges(ACME, result.ingest_id)
    assert sorted(stored) == [
        ("sym:python:main", "sym:python:parse", 3, "n1", "n2", True),
        ("sym:python:unused", "sym:python:main", 2, "n3", "n1", False),
    ]
    [unexpected] = services.repo.observed_edges(ACME, str(digest), in_graph=False)
    assert (unexpected.caller_symbol_id, unexpected.count) == ("sym:python:unused", 2)
    assert unexpected.ingest_ids == (result.ingest_id,)
