"""The named stages of an ingest, each on its own (the pipeline is their sequence)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from stella_signals.attest import SignatureInvalid
from stella_signals.clock import FixedClock
from stella_signals.errors import InvalidTrace, LimitExceeded
from stella_signals.ids import new_ulid
from stella_signals.ingest import (
    IngestContext,
    Outcome,
    RuntimeUpload,
    ingest_graph,
    ingest_runtime,
    parse_graph_hash,
)
from stella_signals.ingest._stages import (
    FactRows,
    attest,
    make_receipt,
    parse,
    record_rejection,
    resolve_graph,
)
from stella_signals.limits import DEFAULT_LIMITS
from stella_signals.ports import TenantPolicy
from stella_signals.tenancy import parse_tenant
from stella_signals.timeanchor import system_status
from stella_signals.trace import MAX_COUNT
from stella_signals.wiring import Services, load_settings
from tests.trace._lines import line, ndjson

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ACME = parse_tenant("acme")
GRAPH = parse_graph_hash("blake3:" + "cd" * 32)


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[IngestContext]:
    services = Services.open(load_settings(data_dir=tmp_path, environ={}), clock=FixedClock(T0))
    yield services.ingest_context("test")
    services.close()


def test_attest_without_an_envelope_obeys_the_tenants_policy(ctx: IngestContext) -> None:
    assert attest(ctx.repo, ACME, None, "ab" * 32) is None
    ctx.repo.set_policy(ACME, TenantPolicy(require_dsse=True), T0)
    with pytest.raises(SignatureInvalid) as refused:
        attest(ctx.repo, ACME, None, "ab" * 32)
    assert refused.value.reason == "dsse_required"


def test_attest_refuses_a_malformed_envelope(ctx: IngestContext) -> None:
    with pytest.raises(SignatureInvalid, match="malformed DSSE envelope"):
        attest(ctx.repo, ACME, b"{}", "ab" * 32)


def test_parse_reads_once_and_refuses_with_every_diagnostic(ctx: IngestContext) -> None:
    report = parse([ndjson(line(), line(count=2))], limits=ctx.limits)
    assert (report.lines, report.records, report.unique_symbols) == (2, 2, 1)
    with pytest.raises(InvalidTrace) as refused:
        parse([ndjson(line(), b"{", line(count=0))], limits=ctx.limits, name="t.ndjson")
    assert [d.line for d in refused.value.diagnostics] == [2, 3]


def test_an_unknown_graph_resolves_to_none(ctx: IngestContext) -> None:
    assert resolve_graph(ctx, ACME, GRAPH) is None


def test_a_receipt_without_a_mapping_is_an_orphans(ctx: IngestContext) -> None:
    report = parse([ndjson(line())], limits=ctx.limits)
    receipt = make_receipt(
        ctx,
        tenant=ACME,
        ingest_id="01J0000000000000000000000A",
        received_at=T0,
        content_sha256="ab" * 32,
        graph_hash=str(GRAPH),
        report=report,
        mapped=None,
        dsse_digest=None,
        time_status=system_status(T0),
    )
    assert receipt.status == "orphaned" and receipt.counts.mapped_symbols is None
    assert receipt.counts.records == 1 and receipt.time.mode == "system"


def test_one_call_records_a_refusal_row_event_and_metric(ctx: IngestContext) -> None:
    failed = record_rejection(
        ctx,
        tenant=ACME,
        ingest_id="01J0000000000000000000000A",
        error=LimitExceeded("too big", limit="max_compressed_bytes"),
        received_at=T0,
        graph_hash=str(GRAPH),
    )
    assert failed.reason == "too_large" and failed.event is not None
    row = ctx.repo.get_ingest(ACME, "01J0000000000000000000000A")
    assert row is not None and (row.status, row.reason) == ("failed", "too_large")
    (event,) = ctx.repo.list_events(
        ACME, event_type="runtime.ingest.failed", since=None, after_seq=None, limit=10
    )
    assert event.attributes["reason"] == "too_large" and event.event_id == failed.event.event_id
    assert ctx.metrics is not None
    assert b'result="too_large"' in ctx.metrics.render()[0]


def test_a_graph_is_looked_up_until_registered_then_remembered(ctx: IngestContext) -> None:
    """`resolve_graph` asks the store while the graph is absent (it may arrive at any
    moment) and stops asking once it is there (a graph is never deleted; issue 19)."""
    asked: list[bool] = []

    def lookup(answer: bool) -> bool:
        asked.append(answer)
        return answer

    catalog = ctx.graphs
    assert not catalog.registered(ACME, GRAPH, lambda: lookup(False))
    assert not catalog.registered(ACME, GRAPH, lambda: lookup(False))
    assert catalog.registered(ACME, GRAPH, lambda: lookup(True))
    assert catalog.registered(ACME, GRAPH, lambda: lookup(False))  # not asked any more
    assert asked == [False, False, True]
    other = parse_tenant("globex")  # per tenant: another tenant's graph is its own question
    assert not catalog.registered(other, GRAPH, lambda: lookup(False))


def test_counts_that_add_up_past_the_largest_are_stored_at_it(ctx: IngestContext) -> None:
    """1,100 records of the largest count (their sum is about 2^63, past a 64-bit column):
    the ingest stores the fact and the edge at 2^53-1, a lower bound, instead of failing."""
    graph = json.dumps(
        {
            "schema": "richgraph-v1",
            "nodes": [{"id": "n1", "symbol_id": "sym:python:a", "lang": "python", "kind": "f"}],
            "edges": [],
        }
    ).encode()
    stored = ingest_graph(ctx, ACME, graph)
    big = line(symbol_id="sym:python:a", count=MAX_COUNT, caller_symbol_id="sym:python:c")
    upload = RuntimeUpload(
        tenant=ACME,
        ingest_id=new_ulid(ctx.clock),
        graph_hash=parse_graph_hash(str(stored.graph_hash)),
        body=[ndjson(*[big] * 1_100)],
    )
    assert ingest_runtime(ctx, upload).outcome is Outcome.INGESTED
    assert [f.hits for f in ctx.repo.list_facts(ACME, upload.ingest_id)] == [MAX_COUNT]
    assert [e.hits for e in ctx.repo.list_edges(ACME, upload.ingest_id)] == [MAX_COUNT]


def test_fact_rows_are_made_anew_each_pass_in_the_reports_order() -> None:
    """`FactRows` (issue 19): no list of the rows is kept; each pass (a group commit that
    failed runs again alone) makes the same rows, in the report's fact order, with the nodes."""
    report = parse(
        [
            ndjson(
                *[line(symbol_id=f"sym:python:{n % 7}", container=f"c{n % 3}") for n in range(40)]
            )
        ],
        limits=DEFAULT_LIMITS,
    )
    rows = FactRows(report, {"sym:python:2": "n2"})
    first, second = list(rows), list(rows)
    assert first == second and len(rows) == len(first) == len(report.tallies) == 21
    assert first[0] is not second[0]  # made anew, not kept
    assert [(r.symbol_id, r.container) for r in first] == [
        (f.symbol_id, f.container) for f in report.iter_facts()
    ]
    assert {r.node for r in first if r.symbol_id == "sym:python:2"} == {"n2"}
    assert {r.node for r in first if r.symbol_id != "sym:python:2"} == {None}
    assert rows[3] == first[3] and rows[-2:] == first[-2:]
