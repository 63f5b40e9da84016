"""The list reads every store answers the same way on every backend.

A port's list method names its filters, its order and its cursor; `Page` is that call as a
value. The mixins below take the port's keyword form once and hand the `Page` to the
backend: SQL answers it with `SqlDatabase._select_page` (one WHERE, ORDER BY and LIMIT),
memory with `Page.select` (the same over records). What each read returns and in which
order is documented once, on its port in ``ports.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

from stella_signals.ports import (
    EdgeObservation,
    IngestRecord,
    StoredUnknown,
    StoredVerdict,
    VerdictChange,
    VexRecord,
)
from stella_signals.tenancy import TenantId
from stella_signals.timeline import TimelineEvent

__all__ = ["IngestReads", "Page", "TimelineReads", "VerdictReads"]


class _Record(Protocol):
    @property
    def tenant(self) -> TenantId: ...


R = TypeVar("R", bound=_Record)
A = TypeVar("A")

#: Events `TimelineReads.iter_events` reads at a time.
_EVENTS_PAGE = 1000


@dataclass(frozen=True, slots=True)
class Page:
    """One tenant's records whose fields equal ``equal`` (and are at least ``at_least``),
    ordered by the fields ``order`` (descending if asked), after the cursor ``after`` (a
    value per ``order`` field), at most ``limit`` of them."""

    tenant: TenantId
    order: tuple[str, ...]
    after: tuple[Any, ...] | None
    limit: int | None
    equal: Mapping[str, Any] = field(default_factory=dict)
    at_least: Mapping[str, Any] = field(default_factory=dict)
    descending: bool = False

    @classmethod
    def of(
        cls,
        tenant: TenantId,
        order: str | tuple[str, ...],
        after: Any,
        limit: int | None,
        *,
        descending: bool = False,
        at_least: Mapping[str, Any] | None = None,
        **equal: Any,
    ) -> Page:
        """A page ordered by one field (``order`` a name, ``after`` a value) or several (a
        tuple of names, a tuple of values); a filter given as None does not filter."""
        return cls(
            tenant=tenant,
            order=(order,) if isinstance(order, str) else order,
            after=after if after is None or isinstance(after, tuple) else (after,),
            limit=limit,
            equal={name: value for name, value in equal.items() if value is not None},
            at_least={k: v for k, v in (at_least or {}).items() if v is not None},
            descending=descending,
        )

    def key(self, record: Any) -> tuple[Any, ...]:
        return tuple(getattr(record, name) for name in self.order)

    def select(self, records: Iterable[R]) -> list[R]:
        """The page of ``records`` (the in-memory answer)."""
        return self.arrange(r for r in records if r.tenant == self.tenant)

    def arrange(self, records: Iterable[A]) -> list[A]:
        """The page of ``records`` that are all the tenant's already."""
        after = self.after
        chosen = [
            r
            for r in records
            if all(getattr(r, name) == value for name, value in self.equal.items())
            and all(getattr(r, name) >= value for name, value in self.at_least.items())
            and (after is None or (self.key(r) < after if self.descending else self.key(r) > after))
        ]
        chosen.sort(key=self.key, reverse=self.descending)
        return chosen if self.limit is None else chosen[: self.limit]


class VerdictReads:
    """`VerdictStore`'s list reads."""

    def list_verdicts(
        self,
        tenant: TenantId,
        *,
        graph_hash: str | None,
        catalog_digest: str | None = None,
        vuln_id: str | None = None,
        state: str | None = None,
        after: str | None = None,
        limit: int,
    ) -> list[StoredVerdict]:
        return self._verdict_page(
            Page.of(
                tenant,
                "verdict_id",
                after,
                limit,
                graph_hash=graph_hash,
                catalog_digest=catalog_digest,
                vuln_id=vuln_id,
                state=state,
            )
        )

    def verdict_history(
        self,
        tenant: TenantId,
        *,
        graph_hash: str | None,
        vuln_id: str | None = None,
        symbol: str | None = None,
        after: tuple[str, int] | None = None,
        limit: int,
    ) -> list[VerdictChange]:
        return self._history_page(
            Page.of(
                tenant,
                ("evaluation_id", "position"),
                after,
                limit,
                graph_hash=graph_hash,
                vuln_id=vuln_id,
                symbol=symbol,
            )
        )

    def list_unknowns(
        self,
        tenant: TenantId,
        *,
        graph_hash: str | None,
        after: tuple[str, int] | None = None,
        limit: int,
    ) -> list[StoredUnknown]:
        return self._unknown_page(
            Page.of(tenant, ("evaluation_id", "position"), after, limit, graph_hash=graph_hash)
        )

    def list_vex(
        self,
        tenant: TenantId,
        *,
        graph_hash: str | None = None,
        after: str | None = None,
        limit: int,
    ) -> list[VexRecord]:
        return self._vex_page(
            Page.of(tenant, "vex_id", after, limit, descending=True, graph_hash=graph_hash)
        )

    def _verdict_page(self, page: Page) -> list[StoredVerdict]:
        raise NotImplementedError

    def _history_page(self, page: Page) -> list[VerdictChange]:
        raise NotImplementedError

    def _unknown_page(self, page: Page) -> list[StoredUnknown]:
        raise NotImplementedError

    def _vex_page(self, page: Page) -> list[VexRecord]:
        raise NotImplementedError


class IngestReads:
    """`IngestStore.list_ingests` and `node_details`."""

    def list_ingests(
        self,
        tenant: TenantId,
        *,
        graph_hash: str | None,
        status: str | None,
        after: str | None,
        limit: int,
    ) -> list[IngestRecord]:
        return self._ingest_page(
            Page.of(tenant, "ingest_id", after, limit, graph_hash=graph_hash, status=status)
        )

    def node_details(
        self, tenant: TenantId, graph_hash: str, nodes: Sequence[str]
    ) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
        if not nodes:
            return {}
        containers: dict[str, set[str]] = {}
        ingest_ids: dict[str, set[str]] = {}
        for node, container, ingest_id in self._node_uses(tenant, graph_hash, nodes):
            if container is not None:
                containers.setdefault(node, set()).add(container)
            ingest_ids.setdefault(node, set()).add(ingest_id)
        return {
            node: (tuple(sorted(containers.get(node, ()))), tuple(sorted(ingest_ids.get(node, ()))))
            for node in nodes
        }

    def observed_edges(
        self,
        tenant: TenantId,
        graph_hash: str,
        *,
        in_graph: bool | None = None,
        after: tuple[str, str] | None = None,
        limit: int | None = None,
    ) -> list[EdgeObservation]:
        page = Page.of(tenant, ("caller_symbol_id", "symbol_id"), after, limit, in_graph=in_graph)
        return self._edge_page(graph_hash, page)

    def _ingest_page(self, page: Page) -> list[IngestRecord]:
        raise NotImplementedError

    def _edge_page(self, graph_hash: str, page: Page) -> list[EdgeObservation]:
        """``page`` of the graph's observed edges, summed over its ingests with status
        ``ingested`` (``page.equal`` may hold ``in_graph``)."""
        raise NotImplementedError

    def _node_uses(
        self, tenant: TenantId, graph_hash: str, nodes: Sequence[str]
    ) -> Iterable[tuple[str, str | None, str]]:
        """(node, container, ingest id) of each fact mapped to one of ``nodes`` in the
        graph's ingests with status ``ingested``."""
        raise NotImplementedError


class TimelineReads:
    """`TimelineStore.list_events`."""

    def list_events(
        self,
        tenant: TenantId,
        *,
        event_type: str | None,
        since: datetime | None,
        after_seq: int | None,
        limit: int,
    ) -> list[TimelineEvent]:
        return self._event_page(
            Page.of(
                tenant,
                "seq",
                None if after_seq is None else (after_seq,),
                limit,
                at_least={"occurred_at": since},
                event_type=event_type,
            )
        )

    def iter_events(self, tenant: TenantId) -> Iterator[TimelineEvent]:
        """The chain a page at a time: a long chain is never held whole."""
        after = 0
        while True:
            page = self.list_events(
                tenant, event_type=None, since=None, after_seq=after, limit=_EVENTS_PAGE
            )
            yield from page
            if len(page) < _EVENTS_PAGE:
                return
            after = page[-1].seq

    def _event_page(self, page: Page) -> list[TimelineEvent]:
        raise NotImplementedError
