"""The verdict service on the in-memory ports, on a real scanned program and real probe
traces uploaded through the real ingest pipeline (tests/verdicts/_world.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from stella_signals.attest import (
    RECEIPT_PAYLOAD_TYPE,
    PublicKey,
    check_envelope,
    new_service_key_pem,
    parse_envelope,
    service_key_from_pem,
)
from stella_signals.clock import FixedClock
from stella_signals.digests import sha256_hex
from stella_signals.errors import NotFound
from stella_signals.graph import build_index, canonical_graph, parse_graph
from stella_signals.ids import new_ulid
from stella_signals.ingest import (
    GraphCatalog,
    IngestContext,
    Outcome,
    RuntimeUpload,
    ingest_graph,
    ingest_runtime,
    parse_graph_hash,
)
from stella_signals.limits import Limits
from stella_signals.locker import VexBundle, read_vex_bundle
from stella_signals.ports import FactRow
from stella_signals.pyscan import symbol_id
from stella_signals.reach import IngestEvidence, ObservedEdge, evaluate, parse_catalog
from stella_signals.storage import MemoryBlobStore, MemoryIndexCache, MemoryRepository
from stella_signals.tenancy import parse_tenant
from stella_signals.timeline import check_chain
from stella_signals.trace import parse_probe_manifest, parse_trace
from stella_signals.verdicts import (
    evaluate_pair,
    receipt_digest,
    reevaluate_due,
    store_catalog,
    vex_bundle,
    vex_document,
    vex_envelope,
)
from stella_signals.vex import VexFormat, verify_vex
from tests.verdicts._world import CATALOG_BYTES, Upload, World, discover, make_world

#: Starts Python interpreters (the probe, another venv, a traced run): e2e, not unit
#: (tests/_tiers.py, docs/testing.md).
pytestmark = pytest.mark.e2e


T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
ACME, GLOBEX = parse_tenant("acme"), parse_tenant("globex")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(tmp_path_factory.mktemp("verdicts"))


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


def upload(ctx: IngestContext, tenant: str, graph_hash: str, window: Upload) -> str:
    ingest_id = new_ulid(ctx.clock)
    result = ingest_runtime(
        ctx,
        RuntimeUpload(
            tenant=parse_tenant(tenant),
            ingest_id=ingest_id,
            graph_hash=parse_graph_hash(graph_hash),
            body=[window.trace],
            probe_manifest=window.manifest,
        ),
    )
    assert result.outcome is Outcome.INGESTED
    return ingest_id


def states(outcome_json: dict[str, object]) -> dict[str, str]:
    verdicts = outcome_json["verdicts"]
    assert isinstance(verdicts, list)
    return {v["vuln_id"]: v["state"] for v in verdicts}


def setup(world: World) -> tuple[FixedClock, IngestContext, str]:
    clock = FixedClock(T0)
    ctx = memory_context(clock)
    graph_hash = str(ingest_graph(ctx, ACME, world.graph).graph_hash)
    return clock, ctx, graph_hash


def test_an_evaluation_judges_real_evidence_and_records_verdicts(world: World) -> None:
    clock, ctx, graph_hash = setup(world)
    first = upload(ctx, "acme", graph_hash, world.first)
    catalog, created = store_catalog(ctx, ACME, CATALOG_BYTES)
    assert created and store_catalog(ctx, ACME, CATALOG_BYTES)[1] is False
    clock.advance(timedelta(minutes=1))
    outcome, vex = evaluate_pair(ctx, ACME, parse_graph_hash(graph_hash), catalog, since=None)
    body = outcome.to_json()
    assert states(body) == {
        "V-USED": "CR", "V-LATER": "RU", "V-UNUSED": "CU", "V-DYN": "X", "V-GHOST": "U",
    }  # fmt: skip
    assert vex == []
    used = next(v for v in body["verdicts"] if v["vuln_id"] == "V-USED")
    record = ctx.repo.get_ingest(ACME, first)
    assert record is not None and record.receipt_dsse is not None
    assert used["evidence_digests"] == [receipt_digest(record.receipt_dsse)]
    assert used["runtime"]["ingest_ids"] == [first] and used["runtime"]["hits"] >= 1
    assert body["ingest_ids"] == [first]
    # First states are history without events: the timeline has only the ingest's events.
    assert {c.from_state for c in outcome.changes} == {None} and outcome.events == ()
    kinds = {u["kind"] for u in body["unknowns"]}
    assert {"target_not_scanned", "disagreement"} <= kinds
    stored = ctx.repo.list_verdicts(ACME, graph_hash=graph_hash, limit=50)
    assert {v.vuln_id: v.state for v in stored} == states(body)
    assert ctx.repo.list_unknowns(ACME, graph_hash=graph_hash, limit=50)
    assert ctx.repo.list_verdicts(GLOBEX, graph_hash=graph_hash, limit=50) == []


def test_a_new_ingest_changes_a_verdict_writes_its_event_and_history(world: World) -> None:
    clock, ctx, graph_hash = setup(world)
    upload(ctx, "acme", graph_hash, world.first)
    catalog, _ = store_catalog(ctx, ACME, CATALOG_BYTES)
    evaluate_pair(ctx, ACME, parse_graph_hash(graph_hash), catalog, since=None)
    # Nothing new: the worker has nothing due.
    assert reevaluate_due(ctx, worker="w").evaluated == 0
    clock.advance(timedelta(minutes=5))
    second = upload(ctx, "acme", graph_hash, world.second)
    clock.advance(timedelta(minutes=1))
    stats = reevaluate_due(ctx, worker="w")
    assert (stats.evaluated, stats.changed, stats.failed) == (1, 1, 0)
    [event] = [e for e in ctx.repo.iter_events(ACME) if e.event_type == "reach.verdict.changed"]
    assert dict(event.attributes).items() >= {
        "vuln_id": "V-LATER", "symbol": "vulnlib.core:reachable_not_run", "from": "RU",
        "to": "CR", "graph_hash": graph_hash,
    }.items()  # fmt: skip
    assert check_chain(list(ctx.repo.iter_events(ACME)), tenant="acme").ok
    history = ctx.repo.verdict_history(ACME, graph_hash=graph_hash, vuln_id="V-LATER", limit=10)
    assert [(h.from_state, h.to_state) for h in history] == [(None, "RU"), ("RU", "CR")]
    assert history[1].event_id == event.event_id
    [current] = ctx.repo.list_verdicts(ACME, graph_hash=graph_hash, vuln_id="V-LATER", limit=5)
    assert current.state == "CR" and second in current.body["runtime"]["ingest_ids"]
    assert reevaluate_due(ctx, worker="w").evaluated == 0  # done until the next ingest


@pytest.fixture(scope="module")
def discovered(world: World, tmp_path_factory: pytest.TempPathFactory) -> tuple[Upload, ...]:
    return discover(world, tmp_path_factory.mktemp("discovery"))


def test_a_discovery_ingest_lists_the_four_kinds_of_unknowns(
    world: World, discovered: tuple[Upload, ...]
) -> None:
    """Issue 18 item 5 through the service: the edges a discovery ingest stored
    (`IngestStore.list_edges`) become `unexpected_edge` unknowns beside `unmapped_symbol`,
    `target_not_scanned` and `disagreement` (X), recorded for `GET /api/v1/unknowns`."""
    clock, ctx, graph_hash = setup(world)
    ingest_ids = [upload(ctx, "acme", graph_hash, window) for window in discovered]
    stored_edges = {
        (e.caller_symbol_id, e.symbol_id)
        for ingest_id in ingest_ids
        for e in ctx.repo.list_edges(ACME, ingest_id)
    }
    symbol_of = {n["display"]: n["symbol_id"] for n in json.loads(world.graph)["nodes"]}
    main, dynamic = symbol_of["app.main"], symbol_of["vulnlib.core.dynamic"]
    generated = symbol_id("vulnlib", "vulnlib.core", "generated")
    assert generated not in symbol_of.values()
    assert {(main, dynamic), (main, generated)} <= stored_edges
    catalog, _ = store_catalog(ctx, ACME, CATALOG_BYTES)
    clock.advance(timedelta(minutes=1))
    outcome, _ = evaluate_pair(ctx, ACME, parse_graph_hash(graph_hash), catalog, since=None)
    body = outcome.to_json()
    # discovery manifests never support "did not run": nothing is RU or CU
    assert states(body) == {
        "V-USED": "CR", "V-LATER": "SR", "V-UNUSED": "SU", "V-DYN": "X", "V-GHOST": "U",
    }  # fmt: skip
    stored = ctx.repo.list_unknowns(ACME, graph_hash=graph_hash, limit=1000)
    assert [dict(u.body) for u in stored] == body["unknowns"]
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for unknown in body["unknowns"]:
        by_kind.setdefault(unknown["kind"], []).append(unknown)
    assert set(by_kind) == {
        "unexpected_edge", "unmapped_symbol", "target_not_scanned", "disagreement",
    }  # fmt: skip
    edges = {u["detail"].split(": seen at run time")[0] for u in by_kind["unexpected_edge"]}
    assert {f"{main} -> {dynamic}", f"{main} -> {generated}"} <= edges
    assert all(set(u["ingest_ids"]) <= set(ingest_ids) for u in by_kind["unexpected_edge"])
    assert generated in {u["symbol"] for u in by_kind["unmapped_symbol"]}
    assert [(u["vuln_id"], u["symbol"]) for u in by_kind["target_not_scanned"]] == [
        ("V-GHOST", "vulnlib.core:ghost")
    ]
    assert [(u["vuln_id"], u["symbol"]) for u in by_kind["disagreement"]] == [
        ("V-DYN", "vulnlib.core:dynamic")
    ]
    assert ctx.repo.list_unknowns(GLOBEX, graph_hash=graph_hash, limit=10) == []


def test_unknown_graph_and_foreign_graph_are_not_found(world: World) -> None:
    _, ctx, graph_hash = setup(world)
    catalog, _ = store_catalog(ctx, GLOBEX, CATALOG_BYTES)
    with pytest.raises(NotFound):
        evaluate_pair(ctx, GLOBEX, parse_graph_hash(graph_hash), catalog, since=None)


def test_vex_documents_are_signed_kept_and_bundled_with_their_evidence(world: World) -> None:
    clock, ctx, graph_hash = setup(world)
    upload(ctx, "acme", graph_hash, world.first)
    clock.advance(timedelta(minutes=1))
    upload(ctx, "acme", graph_hash, world.second)
    catalog, _ = store_catalog(ctx, ACME, CATALOG_BYTES)
    clock.advance(timedelta(minutes=1))
    formats = [VexFormat.OPENVEX, VexFormat.CYCLONEDX]
    outcome, stored = evaluate_pair(
        ctx, ACME, parse_graph_hash(graph_hash), catalog, since=None, vex=formats,
        product="pkg:pypi/shop@1.0",
    )  # fmt: skip
    assert [s.record.format for s in stored] == ["openvex", "cyclonedx"]
    for item in stored:
        record, document = vex_document(ctx, ACME, item.record.vex_id)
        _, envelope = vex_envelope(ctx, ACME, item.record.vex_id)
        verified = verify_vex(envelope, key=ctx.service_key.public_key, document=document)
        assert verified.format.value == record.format
        with pytest.raises(NotFound):
            vex_document(ctx, GLOBEX, item.record.vex_id)
    openvex = json.loads(vex_document(ctx, ACME, stored[0].record.vex_id)[1])
    status = {s["vulnerability"]["name"]: s["status"] for s in openvex["statements"]}
    assert status["V-USED"] == "affected" and status["V-UNUSED"] == "not_affected"

    # The bundle re-derives the same verdicts offline, from its own contents only.
    data = vex_bundle(ctx, ACME, stored[0].record.vex_id)
    assert vex_bundle(ctx, ACME, stored[0].record.vex_id) == data  # deterministic
    with pytest.raises(NotFound):
        vex_bundle(ctx, GLOBEX, stored[0].record.vex_id)
    bundle = read_vex_bundle(data)
    verify_vex(bundle.envelope, key=ctx.service_key.public_key, document=bundle.document)
    assert rederive(bundle, ctx.service_key.public_key) == json.loads(bundle.evaluation)
    assert json.loads(bundle.evaluation) == outcome.evaluation.to_json()


def rederive(bundle: VexBundle, key: PublicKey) -> dict[str, Any]:
    """What an auditor does offline: check each receipt's signature, map each trace onto the
    graph, and call the engine with the bundle's window."""
    canonical = canonical_graph(parse_graph(bundle.graph))
    assert str(canonical.hash) == bundle.graph_hash
    index = build_index(canonical.document, canonical.hash)
    catalog = parse_catalog(bundle.catalog)
    assert catalog.digest == bundle.catalog_digest
    ingests = []
    for item in bundle.ingests:
        envelope = parse_envelope(item.receipt_dsse)
        assert check_envelope(envelope, trusted=[key], payload_type=RECEIPT_PAYLOAD_TYPE).ok
        receipt = json.loads(envelope.payload)
        assert receipt["content_sha256"] == sha256_hex(item.trace)
        report = parse_trace([item.trace])
        facts = []
        for fact in report.iter_facts():
            number = index.by_symbol.get(fact.symbol_id)
            node = index.node_ids[number] if number is not None else None
            facts.append(FactRow(fact.symbol_id, fact.purl, fact.container, fact.count,
                                 fact.first_seen, fact.last_seen, node))  # fmt: skip
        manifest = parse_probe_manifest(item.probe_manifest) if item.probe_manifest else None
        ingests.append(
            IngestEvidence(
                ingest_id=item.ingest_id,
                receipt_digest=receipt_digest(item.receipt_dsse),
                received_at=datetime.fromisoformat(receipt["received_at"]),
                manifest=manifest,
                manifest_digest=receipt.get("probe_manifest_digest"),
                facts=facts,
                edges=[ObservedEdge(a, b, n) for (a, b), n in sorted(report.edges.items())],
            )
        )

    def when(text: str | None) -> datetime | None:
        return None if text is None else datetime.fromisoformat(text)

    computed_at = when(bundle.evaluate["computed_at"])
    assert computed_at is not None
    evaluation = evaluate(
        catalog, index, ingests, since=when(bundle.evaluate["since"]),
        until=when(bundle.evaluate["until"]), computed_at=computed_at,
    )  # fmt: skip
    return evaluation.to_json()
