"""What the console pages show, read through the same services and ports as the API routes
(the named ports of `Services`, the graph catalog, the Evidence Locker, the time keeper). No
HTML here.

Every list is one bounded query: a page of at most `PAGE_SIZE` rows (plus one to know whether
another page follows), or, for the overview's counts, at most `MAX_COUNTED` rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from stella_signals.attest import load_public_key
from stella_signals.clock import FixedClock
from stella_signals.console._alerts import WINDOW_MINUTES, Alert, evaluate_alerts
from stella_signals.digests import sha256_hex
from stella_signals.errors import InvalidInput, NotFound, StellaError
from stella_signals.graph import GraphIndex
from stella_signals.ids import new_ulid, parse_ulid
from stella_signals.ingest import evidence_record, parse_graph_hash
from stella_signals.locker import BundleReport, check_bundle, export_bundle
from stella_signals.ports import (
    IngestRecord,
    KeyPurpose,
    StoredUnknown,
    StoredVerdict,
    VerdictChange,
    VexRecord,
    verdict_id,
)
from stella_signals.tenancy import TenantId
from stella_signals.timeanchor import TimeStatus
from stella_signals.timeline import (
    ChainReport,
    EventType,
    ImportedOrigin,
    TimelineEvent,
    check_chain,
)
from stella_signals.verdicts import vex_document, vex_envelope
from stella_signals.vex import verify_vex
from stella_signals.wiring import Services

__all__ = [
    "HOURS",
    "MAX_COUNTED",
    "PAGE_SIZE",
    "STATE_MEANING",
    "STATUSES",
    "Check",
    "EventRow",
    "GraphView",
    "IngestDetail",
    "Overview",
    "Page",
    "VexView",
    "graph_view",
    "graphs_page",
    "history_page",
    "ingest_detail",
    "ingests_page",
    "overview",
    "timeline_page",
    "unknowns_page",
    "verdicts_page",
    "verify_ingest",
    "verify_timeline",
    "vex_list_page",
    "vex_view",
]

PAGE_SIZE = 25
T = TypeVar("T")
MAX_COUNTED = 2000
HOURS = 24
STATUSES = ("ingested", "orphaned", "expired", "failed")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_after: str | None


def _paged(rows: list[T], position: Callable[[T], str]) -> Page[T]:
    """A page from a query asked for PAGE_SIZE + 1 rows: the extra one says another page
    follows, which starts after the ``position`` of this page's last row."""
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return Page(rows, position(rows[-1]) if more else None)


def _graph_filter(graph_hash: str | None) -> str | None:
    """A page's graph filter: the hash as the stores key it, None when the field is empty."""
    return str(parse_graph_hash(graph_hash)) if graph_hash else None


def _lowest_ulid_at(moment: datetime) -> str:
    """The smallest ULID of ``moment``'s millisecond: ids after it were made at or after it."""
    return new_ulid(FixedClock(moment), randbytes=bytes)


def _since(services: Services, tenant: TenantId, since: datetime, **kw: Any) -> list[IngestRecord]:
    after = _lowest_ulid_at(since - timedelta(milliseconds=1))
    return services.ingests.list_ingests(tenant, after=after, limit=MAX_COUNTED + 1, **kw)


# -- overview -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Overview:
    #: (hour start, counts by status), oldest first, the last HOURS hours.
    hours: list[tuple[datetime, dict[str, int]]]
    counted: int
    capped: bool
    orphans_waiting: int
    orphans_capped: bool
    time: TimeStatus
    alerts: list[Alert]
    queue_depth: int


def overview(services: Services, tenant: TenantId) -> Overview:
    now = services.clock.now()
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=HOURS - 1)
    records = _since(services, tenant, start, graph_hash=None, status=None)
    capped = len(records) > MAX_COUNTED
    records = records[:MAX_COUNTED]
    hours = [(start + timedelta(hours=h), dict.fromkeys(STATUSES, 0)) for h in range(HOURS)]
    for record in records:
        slot = int((record.received_at - start).total_seconds() // 3600)
        if 0 <= slot < HOURS and record.status in hours[slot][1]:
            hours[slot][1][record.status] += 1
    window = now - timedelta(minutes=WINDOW_MINUTES)
    recent = [r for r in records if r.received_at >= window]
    orphans = services.ingests.list_ingests(
        tenant, graph_hash=None, status="orphaned", after=None, limit=MAX_COUNTED + 1
    )
    # The tenant's own orphans only: the queue's depth over every tenant is an operator's
    # figure (`/metrics`), not something one tenant may learn of the others.
    depth = len(orphans)
    time = services.time.status(tenant, record=False)
    return Overview(
        hours=hours,
        counted=len(records),
        capped=capped,
        orphans_waiting=min(len(orphans), MAX_COUNTED),
        orphans_capped=len(orphans) > MAX_COUNTED,
        time=time,
        alerts=evaluate_alerts(recent, queue_depth=depth, time=time),
        queue_depth=depth,
    )


# -- ingests --------------------------------------------------------------------------------
def ingests_page(
    services: Services,
    tenant: TenantId,
    *,
    graph_hash: str | None,
    status: str | None,
    after: str | None,
) -> Page[IngestRecord]:
    """A page of the tenant's ingests, by id (the API's order); filters checked as the API
    checks them (`InvalidInput` for a malformed graph hash, status or position)."""
    graph = _graph_filter(graph_hash)
    if status and status not in STATUSES:
        raise _invalid(f"unknown status {status!r}: use one of {', '.join(STATUSES)}")
    if after:
        parse_ulid(after)
    records = services.ingests.list_ingests(
        tenant, graph_hash=graph, status=status or None, after=after or None, limit=PAGE_SIZE + 1
    )
    return _paged(records, lambda r: r.ingest_id)


def _invalid(message: str) -> StellaError:
    return InvalidInput(message, reason="invalid_request")


@dataclass(frozen=True, slots=True)
class IngestDetail:
    ingest_id: str
    status: str
    receipt: Mapping[str, Any] | None
    imported: bool
    record: IngestRecord | None
    #: The event the receipt names (its keyids say who signed an attached DSSE).
    event: TimelineEvent | None
    has_evidence: bool


def ingest_detail(services: Services, tenant: TenantId, ingest_id: str) -> IngestDetail:
    """`NotFound` for an id of another tenant or none (`InvalidInput` for a malformed one)."""
    ingest_id = parse_ulid(ingest_id)
    record = services.ingests.get_ingest(tenant, ingest_id)
    if record is not None:
        receipt = record.receipt
        imported = False
        status = record.status
    else:
        found = services.sync.get_imported_evidence(tenant, ingest_id)
        if found is None:
            raise NotFound(f"no ingest {ingest_id}")
        receipt, imported, status = found.receipt, True, str(found.receipt.get("status", ""))
    event_id = receipt.get("timeline_event_id") if receipt else None
    event = None
    if isinstance(event_id, str):
        try:
            event = services.timeline.get_event(tenant, parse_ulid(event_id))
        except StellaError:
            event = None
    has_evidence = receipt is not None and isinstance(receipt.get("content_sha256"), str)
    return IngestDetail(ingest_id, status, receipt, imported, record, event, has_evidence)


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: str  # ok | failed | skipped
    message: str


def verify_ingest(services: Services, tenant: TenantId, ingest_id: str) -> list[Check]:
    """Re-check an ingest's evidence now, on the server: the Evidence Locker bundle as
    `stella evidence verify` checks it (digests, receipt signature by a service key, the
    trace's DSSE with the keys the tenant trusts), then the receipt's timeline event: its
    own hash and its link to the event before it."""
    ingest_id = parse_ulid(ingest_id)
    ctx = services.ingest_context("signals-console")
    data = export_bundle(evidence_record(ctx, tenant, ingest_id))
    service_keys = [
        load_public_key(k.public_pem) for k in services.service_keys.list_service_keys()
    ]
    attest = [
        load_public_key(k.public_pem)
        for k in services.trust.list_trusted_keys(tenant, KeyPurpose.ATTEST)
    ]
    report: BundleReport = check_bundle(data, service_keys=service_keys, attestation_keys=attest)
    checks = [
        Check(
            c.check,
            str(c.status),
            "; ".join(
                [c.message]
                + [f"{p.path or '(bundle)'}: {p.message}" for p in report.problems_of(c.check)]
            ).strip("; "),
        )
        for c in report.checks
    ]
    checks.append(_chain_link(services, tenant, report.receipt))
    return checks


def _chain_link(services: Services, tenant: TenantId, receipt: Mapping[str, Any] | None) -> Check:
    name = "timeline_link"
    event_id = receipt.get("timeline_event_id") if receipt else None
    if not isinstance(event_id, str):
        return Check(name, "failed", "the receipt names no timeline event")
    event = services.timeline.get_event(tenant, event_id)
    if event is None:
        return Check(name, "failed", f"the receipt's event {event_id} is not in the timeline")
    previous = _before(services, tenant, event)
    report = check_chain([event], tenant=tenant, start_after=previous)
    if not report.ok:
        return Check(name, "failed", report.message)
    ingest = event.attributes.get("ingest_id")
    if receipt is not None and ingest not in (None, receipt.get("ingest_id")):
        return Check(name, "failed", f"event {event_id} is about ingest {ingest}")
    link = f"prev_hash is seq {previous.seq}'s hash" if previous else "first event"
    return Check(name, "ok", f"event seq {event.seq} hashes to its hash; {link}")


def _before(services: Services, tenant: TenantId, event: TimelineEvent) -> TimelineEvent | None:
    if event.seq <= 1:
        return None
    found = services.timeline.list_events(
        tenant, event_type=None, since=None, after_seq=event.seq - 2, limit=1
    )
    return found[0] if found else None


# -- timeline -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class EventRow:
    event: TimelineEvent
    hash_ok: bool
    #: prev_hash is the hash of the event before it (None: that event is not on this page
    #: and was not looked up, i.e. a filtered page).
    link_ok: bool | None
    origin: ImportedOrigin | None


def timeline_page(
    services: Services, tenant: TenantId, *, event_type: str | None, after_seq: str | None
) -> Page[EventRow]:
    if event_type and event_type not in {t.value for t in EventType}:
        raise _invalid(f"unknown event type {event_type!r}")
    after = None
    if after_seq:
        if not after_seq.isascii() or not after_seq.isdigit() or len(after_seq) > 16:
            raise _invalid("malformed page position")
        after = int(after_seq)
    events = services.timeline.list_events(
        tenant, event_type=event_type or None, since=None, after_seq=after, limit=PAGE_SIZE + 1
    )
    page = _paged(events, lambda e: str(e.seq))
    events = page.items
    previous = _before(services, tenant, events[0]) if events and not event_type else None
    rows = []
    for event in events:
        hash_ok = event.computed_hash() == event.hash
        if event_type:
            link_ok = None
        elif event.seq == 1:
            link_ok = event.prev_hash is None
        else:
            link_ok = (
                previous is not None
                and previous.seq == event.seq - 1
                and (event.prev_hash == previous.hash)
            )
        rows.append(EventRow(event, hash_ok, link_ok, ImportedOrigin.of(event)))
        previous = event
    return Page(rows, page.next_after)


def verify_timeline(services: Services, tenant: TenantId) -> ChainReport:
    """The whole chain from seq 1, streamed (constant memory)."""
    return check_chain(services.timeline.iter_events(tenant), tenant=tenant)


# -- graphs ---------------------------------------------------------------------------------
def graphs_page(
    services: Services, tenant: TenantId, *, after_seq: str | None
) -> Page[TimelineEvent]:
    """The tenant's graphs, from their ``reach.graph.ingested`` events (by seq)."""
    after = None
    if after_seq:
        if not after_seq.isascii() or not after_seq.isdigit() or len(after_seq) > 16:
            raise _invalid("malformed page position")
        after = int(after_seq)
    events = services.timeline.list_events(
        tenant,
        event_type=EventType.GRAPH_INGESTED.value,
        since=None,
        after_seq=after,
        limit=PAGE_SIZE + 1,
    )
    return _paged(events, lambda e: str(e.seq))


@dataclass(frozen=True, slots=True)
class GraphView:
    graph_hash: str
    index: GraphIndex
    hits: dict[str, int] = field(repr=False)
    nodes_observed: int
    edges_confirmed: int
    dsse_digest: str | None


def graph_view(services: Services, tenant: TenantId, graph_hash: str) -> GraphView:
    digest = parse_graph_hash(graph_hash)
    record = services.graph_records.get_graph(tenant, str(digest))
    if record is None:
        raise NotFound(f"no graph {digest}")
    index = services.graphs.load(tenant, digest, rehash=False).index
    seen = services.ingests.observed_nodes(tenant, str(digest))
    hits = {node: observation.hits for node, observation in seen.items()}
    flags = bytearray(index.nodes_total)
    for number, node_id in enumerate(index.node_ids):
        if node_id in hits:
            flags[number] = 1
    confirmed = sum(
        1 for a, b in zip(index.edge_from, index.edge_to, strict=True) if flags[a] and flags[b]
    )
    return GraphView(str(digest), index, hits, sum(flags), confirmed, record.dsse_digest)


# -- verdicts, unknowns, VEX (SPEC §15) -----------------------------------------------------
#: What each state means (SPEC §15), for the page's legend and the state cells' titles.
STATE_MEANING = {
    "U": "unknown: the target is in no scanned code",
    "SR": "a static path from a root",
    "SU": "no static path",
    "RO": "observed at run time",
    "RU": "watched for the whole window and not observed",
    "CR": "confirmed reachable: a static path, and it ran",
    "CU": "confirmed unreachable: no static path, and not seen while watched",
    "X": "static and runtime disagree: it ran with no static path",
}


def verdicts_page(
    services: Services,
    tenant: TenantId,
    *,
    graph_hash: str | None,
    vuln_id: str | None,
    state: str | None,
    after: str | None,
) -> Page[StoredVerdict]:
    """A page of the tenant's current verdicts (by verdict id, the API's order)."""
    graph = _graph_filter(graph_hash)
    if state and state not in STATE_MEANING:
        raise _invalid(f"unknown state {state!r}: use one of {', '.join(STATE_MEANING)}")
    position = _position(after)
    rows = services.verdicts.list_verdicts(
        tenant,
        graph_hash=graph,
        vuln_id=vuln_id or None,
        state=state or None,
        after=verdict_id(*position) if position else None,
        limit=PAGE_SIZE + 1,
    )
    return _paged(rows, lambda v: v.verdict_id)


def _position(text: str | None) -> tuple[str, int] | None:
    """A page position of verdicts, history and unknowns: ``<evaluation id>.<position>``
    (`ports.verdict_id`)."""
    if not text:
        return None
    ulid, sep, number = text.partition(".")
    if not sep or not number.isascii() or not number.isdigit() or len(number) > 9:
        raise _invalid("malformed page position")
    return parse_ulid(ulid), int(number)


def unknowns_page(
    services: Services, tenant: TenantId, *, graph_hash: str | None, after: str | None
) -> Page[StoredUnknown]:
    graph = _graph_filter(graph_hash)
    rows = services.verdicts.list_unknowns(
        tenant, graph_hash=graph, after=_position(after), limit=PAGE_SIZE + 1
    )
    return _paged(rows, lambda u: verdict_id(u.evaluation_id, u.position))


def vex_list_page(services: Services, tenant: TenantId, *, after: str | None) -> Page[VexRecord]:
    """The tenant's VEX documents, newest first (the API's order)."""
    rows = services.verdicts.list_vex(
        tenant, after=parse_ulid(after) if after else None, limit=PAGE_SIZE + 1
    )
    return _paged(rows, lambda v: v.vex_id)


def history_page(
    services: Services,
    tenant: TenantId,
    *,
    graph_hash: str | None,
    vuln_id: str | None,
    symbol: str | None,
    after: str | None,
) -> Page[VerdictChange]:
    """How verdicts changed, oldest first (the API's history order)."""
    graph = _graph_filter(graph_hash)
    rows = services.verdicts.verdict_history(
        tenant,
        graph_hash=graph,
        vuln_id=vuln_id or None,
        symbol=symbol or None,
        after=_position(after),
        limit=PAGE_SIZE + 1,
    )
    return _paged(rows, lambda c: verdict_id(c.evaluation_id, c.position))


@dataclass(frozen=True, slots=True)
class VexView:
    record: VexRecord
    document_sha256: str
    #: The signature check: (ok, message).
    signature: tuple[bool, str]


def vex_view(services: Services, tenant: TenantId, vex_id: str) -> VexView:
    """A VEX document's record, its digest re-computed and its DSSE signature checked against
    the service's receipt keys (current or retired), as `stella vex verify` does offline."""
    ctx = services.ingest_context("signals-console")
    record, document = vex_document(ctx, tenant, parse_ulid(vex_id))
    _, envelope = vex_envelope(ctx, tenant, record.vex_id)
    message = "signed by no service key"
    ok = False
    for key in services.service_keys.list_service_keys():
        try:
            verified = verify_vex(envelope, key=load_public_key(key.public_pem), document=document)
        except StellaError as exc:
            message = str(exc)
            continue
        ok, message = True, f"signed by service key {key.keyid} over {verified.digest}"
        break
    return VexView(record, sha256_hex(document), (ok, message))
