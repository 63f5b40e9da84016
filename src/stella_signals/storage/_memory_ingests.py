"""`GraphStore`, `IngestStore` and `OrphanQueue` in memory."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar

from stella_signals.errors import Conflict
from stella_signals.ports import (
    EdgeObservation,
    EdgeRow,
    EventDraft,
    FactRow,
    GraphRecord,
    IngestRecord,
    NodeObservation,
    OrphanItem,
    SymbolManifestRecord,
)
from stella_signals.storage._memory_base import MemoryDatabase, json_copy
from stella_signals.storage._reads import IngestReads, Page
from stella_signals.storage._writes import Lease, OrphanEnd, OrphanLeases
from stella_signals.tenancy import TenantId
from stella_signals.timeline import TimelineEvent

__all__ = ["MemoryGraphStore", "MemoryIngestStore"]


T = TypeVar("T")

#: Statuses of an accepted ingest: one per (tenant, bytes, graph).
_ACCEPTED = ("ingested", "orphaned")


def _stored(ingest: IngestRecord) -> IngestRecord:
    receipt = None if ingest.receipt is None else json_copy(ingest.receipt)
    return replace(ingest, receipt=receipt)


class MemoryGraphStore(MemoryDatabase):
    """`GraphStore` in memory."""

    def __init__(self) -> None:
        super().__init__()
        self._graphs: dict[tuple[TenantId, str], GraphRecord] = {}
        self._manifests: dict[tuple[TenantId, str], SymbolManifestRecord] = {}

    def add_graph(self, record: GraphRecord, event: EventDraft) -> bool:
        return self._add_once(self._graphs, (record.tenant, record.graph_hash), record, event)

    def get_graph(self, tenant: TenantId, graph_hash: str) -> GraphRecord | None:
        with self._lock:
            return self._graphs.get((tenant, graph_hash))

    def tenants_with_graph(self, graph_hash: str) -> list[TenantId]:
        with self._lock:
            return sorted(tenant for tenant, digest in self._graphs if digest == graph_hash)

    def add_symbol_manifest(self, record: SymbolManifestRecord, event: EventDraft) -> bool:
        return self._add_once(self._manifests, (record.tenant, record.sha256), record, event)

    def _add_once(
        self, table: dict[tuple[TenantId, str], Any], key: tuple[TenantId, str], record: Any,
        event: EventDraft,
    ) -> bool:  # fmt: skip
        """Keep ``record`` and append ``event`` unless the tenant has it already."""
        with self._lock:
            if key in table:
                return False
            appended = self._next(key[0], event)
            table[key] = record
            self._keep(appended)
            return True


@dataclass
class _Queued:
    """A row of the orphan queue."""

    item: OrphanItem
    lease_until: datetime | None = None
    leased_by: str | None = None


class MemoryIngestStore(IngestReads, OrphanLeases, MemoryGraphStore):
    """`IngestStore` and `OrphanQueue` in memory (one aggregate: an orphan is an ingest
    waiting for its graph, which is why this store sees the graphs)."""

    def __init__(self) -> None:
        super().__init__()
        self._ingests: dict[str, IngestRecord] = {}
        self._facts: dict[str, tuple[FactRow, ...]] = {}
        self._edges: dict[str, tuple[EdgeRow, ...]] = {}
        self._queue: dict[str, _Queued] = {}

    # -- ingests -----------------------------------------------------------------------
    def _check_new(self, ingest: IngestRecord) -> None:
        if ingest.ingest_id in self._ingests:
            raise Conflict(f"ingest {ingest.ingest_id} already exists")
        if ingest.status in _ACCEPTED and self._accepted(
            ingest.tenant, ingest.content_sha256, ingest.graph_hash
        ):
            raise Conflict("an ingest of these bytes for this graph already exists")

    def _accepted(
        self, tenant: TenantId, content_sha256: str | None, graph_hash: str | None
    ) -> IngestRecord | None:
        return next(
            (
                r
                for r in self._ingests.values()
                if r.tenant == tenant
                and r.content_sha256 == content_sha256
                and r.graph_hash == graph_hash
                and r.status in _ACCEPTED
            ),
            None,
        )

    def commit_ingest(
        self,
        ingest: IngestRecord,
        facts_: Sequence[FactRow],
        event: EventDraft,
        edges: Sequence[EdgeRow] = (),
    ) -> TimelineEvent:
        with self._lock:
            self._check_new(ingest)
            appended = self._next(ingest.tenant, event)
            self._ingests[ingest.ingest_id] = _stored(ingest)
            self._facts[ingest.ingest_id] = tuple(facts_)
            self._edges[ingest.ingest_id] = tuple(edges)
            if ingest.status == "ingested":
                self._graph_changed(ingest.tenant, ingest.graph_hash)
            if ingest.status == "orphaned" and ingest.graph_hash is not None:
                known = (ingest.tenant, ingest.graph_hash) in self._graphs
                item = OrphanItem.queued(ingest, graph_known=known)
                self._queue[ingest.ingest_id] = _Queued(item)
            return self._keep(appended)

    def record_failure(self, ingest: IngestRecord, event: EventDraft) -> TimelineEvent:
        with self._lock:
            self._check_new(ingest)
            appended = self._next(ingest.tenant, event)
            self._ingests[ingest.ingest_id] = _stored(ingest)
            return self._keep(appended)

    def _replaceable(self, ingest: IngestRecord, previous_event_id: str | None) -> bool:
        """The compare of compare-and-swap: the ingest is there, for this tenant, and (with
        ``previous_event_id``) its receipt is still that one."""
        stored = self._ingests.get(ingest.ingest_id)
        return (
            stored is not None
            and stored.tenant == ingest.tenant
            and (previous_event_id is None or stored.timeline_event_id == previous_event_id)
        )

    def supersede_receipt(
        self, ingest: IngestRecord, event: EventDraft, *, previous_event_id: str
    ) -> TimelineEvent | None:
        with self._lock:
            if not self._replaceable(ingest, previous_event_id):
                return None
            appended = self._next(ingest.tenant, event)
            self._ingests[ingest.ingest_id] = _stored(ingest)
            return self._keep(appended)

    def find_duplicate(
        self, tenant: TenantId, content_sha256: str, graph_hash: str
    ) -> IngestRecord | None:
        with self._lock:
            return self._accepted(tenant, content_sha256, graph_hash)

    def get_ingest(self, tenant: TenantId, ingest_id: str) -> IngestRecord | None:
        return self._owned(self._ingests, ingest_id, tenant)

    def _ingest_page(self, page: Page) -> list[IngestRecord]:
        return self._select(page, self._ingests.values())

    def list_facts(self, tenant: TenantId, ingest_id: str) -> list[FactRow]:
        with self._lock:
            if self.get_ingest(tenant, ingest_id) is None:
                return []
            return list(self._facts.get(ingest_id, ()))

    def list_edges(self, tenant: TenantId, ingest_id: str) -> list[EdgeRow]:
        with self._lock:
            if self.get_ingest(tenant, ingest_id) is None:
                return []
            return list(self._edges.get(ingest_id, ()))

    def _edge_page(self, graph_hash: str, page: Page) -> list[EdgeObservation]:
        summed: dict[tuple[str, str], EdgeObservation] = {}
        for ingest_id, rows in self._of_graph(self._edges, page.tenant, graph_hash):
            for row in rows:
                key = (row.caller_symbol_id, row.symbol_id)
                old = summed.get(key)
                if old is None:
                    summed[key] = EdgeObservation(*key, row.caller_node, row.callee_node,
                                               row.in_graph, row.hits, (ingest_id,))  # fmt: skip
                    continue
                summed[key] = EdgeObservation(
                    *key,
                    caller_node=_least(old.caller_node, row.caller_node),
                    callee_node=_least(old.callee_node, row.callee_node),
                    in_graph=old.in_graph or row.in_graph,
                    count=old.count + row.hits,
                    ingest_ids=tuple(sorted({*old.ingest_ids, ingest_id})),
                )
        return page.arrange(summed.values())

    def _of_graph(
        self, table: Mapping[str, tuple[T, ...]], tenant: TenantId, graph_hash: str
    ) -> list[tuple[str, tuple[T, ...]]]:
        """(ingest id, its rows of ``table``) of each of the graph's ingests with status
        ``ingested``, read under the lock."""
        with self._lock:
            return [
                (r.ingest_id, table.get(r.ingest_id, ()))
                for r in self._ingests.values()
                if r.tenant == tenant and r.graph_hash == graph_hash and r.status == "ingested"
            ]

    def _graph_facts(self, tenant: TenantId, graph_hash: str) -> Iterator[tuple[str, FactRow]]:
        """(ingest id, fact) of every mapped fact of the graph's accepted ingests."""
        for ingest_id, rows in self._of_graph(self._facts, tenant, graph_hash):
            for fact in rows:
                if fact.node is not None:
                    yield ingest_id, fact

    def observed_nodes(self, tenant: TenantId, graph_hash: str) -> dict[str, NodeObservation]:
        seen: dict[str, NodeObservation] = {}
        for _, fact in self._graph_facts(tenant, graph_hash):
            node = fact.node
            assert node is not None  # noqa: S101 - _graph_facts yields mapped facts only
            old = seen.get(node)
            seen[node] = NodeObservation(
                node=node,
                hits=fact.hits + (old.hits if old else 0),
                first_seen=min(fact.first_seen, old.first_seen) if old else fact.first_seen,
                last_seen=max(fact.last_seen, old.last_seen) if old else fact.last_seen,
            )
        return seen

    def _node_uses(
        self, tenant: TenantId, graph_hash: str, nodes: Sequence[str]
    ) -> Iterator[tuple[str, str | None, str]]:
        wanted = set(nodes)
        for ingest_id, fact in self._graph_facts(tenant, graph_hash):
            if fact.node in wanted:
                yield fact.node, fact.container, ingest_id

    # -- orphan queue ------------------------------------------------------------------
    def _claim_orphans(self, lease: Lease, graph: tuple[TenantId, str] | None) -> list[OrphanItem]:
        with self._lock:
            free = [
                row
                for row in self._queue.values()
                if (row.lease_until is None or row.lease_until < lease.now)
                and (
                    (row.item.tenant, row.item.graph_hash) == graph
                    if graph is not None
                    else row.item.next_attempt_at <= lease.now
                )
            ]
            free.sort(key=lambda row: row.item.next_attempt_at)
            claimed = free[: lease.limit]
            for row in claimed:
                row.lease_until = lease.until
                row.leased_by = lease.worker
            return [row.item for row in claimed]

    def _held(self, item: OrphanItem, worker: str) -> _Queued | None:
        row = self._queue.get(item.ingest_id)
        return row if row is not None and row.leased_by == worker else None

    def _end_orphan(self, end: OrphanEnd) -> TimelineEvent | None:
        ingest, facts_ = end.ingest, end.facts
        with self._lock:
            row = self._held(end.item, end.worker)
            if row is None:
                return None
            if not self._replaceable(ingest, end.previous_event_id):
                row.lease_until = row.leased_by = None  # due at once, from the newer receipt
                return None
            if facts_ and self._facts.get(ingest.ingest_id):
                raise Conflict(f"facts of ingest {ingest.ingest_id} are already recorded")
            appended = self._next(ingest.tenant, end.event)
            del self._queue[end.item.ingest_id]
            self._ingests[ingest.ingest_id] = _stored(ingest)
            if facts_:
                self._facts[ingest.ingest_id] = tuple(facts_)
            if end.edges:
                self._edges[ingest.ingest_id] = tuple(end.edges)
            if ingest.status == "ingested":
                self._graph_changed(ingest.tenant, ingest.graph_hash)
            return self._keep(appended)

    def reschedule_orphan(
        self, item: OrphanItem, *, worker: str, next_attempt_at: datetime
    ) -> bool:
        with self._lock:
            row = self._held(item, worker)
            if row is None:
                return False
            row.item = replace(
                row.item, next_attempt_at=next_attempt_at, attempts=item.attempts + 1
            )
            row.lease_until = row.leased_by = None
            return True

    def orphan_queue_depth(self) -> int:
        with self._lock:
            return len(self._queue)


def _least(a: str | None, b: str | None) -> str | None:
    """The smaller of two node ids, None only when both are (SQL's ``min`` over a column)."""
    if a is None or b is None:
        return b if a is None else a
    return min(a, b)
