"""What every in-memory store shares: one lock and the timelines writes append to.

Each store keeps what its SQL twin keeps and answers the same contract tests
(``tests/storage/repository_contract.py``): the timeline is a hash chain that only grows,
keys are unique, compare-and-swap writes check what they replace, every read is within one
tenant. One lock per repository makes every method a transaction: a method checks, builds
the next event, and only then changes anything, so a refusal leaves nothing half-written.
Records go in and out as copies (receipts through JSON, as the database keeps them).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from stella_signals.errors import Conflict
from stella_signals.ports import EventDraft
from stella_signals.storage._reads import Page, R
from stella_signals.tenancy import TenantId
from stella_signals.timeline import TimelineEvent

__all__ = ["MemoryDatabase", "json_copy"]


def json_copy(value: Mapping[str, Any]) -> dict[str, Any]:
    copied: dict[str, Any] = json.loads(json.dumps(dict(value)))
    return copied


class MemoryDatabase:
    """The lock every in-memory store shares, and the timelines every write appends to."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._events: dict[TenantId, list[TimelineEvent]] = {}
        self._event_ids: set[str] = set()

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def migrate(self, revision: str = "head") -> None:
        """Nothing to migrate: the schema is the code."""

    def close(self) -> None:
        """Nothing to release."""

    def ping(self) -> None:
        """Always answers."""

    def _next(self, tenant: TenantId, draft: EventDraft) -> TimelineEvent:
        """The event ``draft`` becomes when appended now; nothing is changed yet."""
        return self._next_many(tenant, [draft])[0]

    def _next_many(self, tenant: TenantId, drafts: list[EventDraft]) -> list[TimelineEvent]:
        """The events ``drafts`` become when appended now, one after the other; nothing is
        changed yet (`_keep` each)."""
        events: list[TimelineEvent] = []
        for draft in drafts:
            if draft.event_id in self._event_ids or any(
                e.event_id == draft.event_id for e in events
            ):
                raise Conflict(f"timeline event {draft.event_id} already exists")
            chain = self._events.get(tenant)
            previous = events[-1] if events else (chain[-1] if chain else None)
            events.append(draft.chained_after(previous, tenant))
        return events

    def _select(self, page: Page, records: Iterable[R]) -> list[R]:
        """``page`` of ``records``, read under the lock (the in-memory list reads)."""
        with self._lock:
            rows = list(records)
        return page.select(rows)

    def _owned(self, table: Mapping[str, R], key: str, tenant: TenantId) -> R | None:
        """``table[key]`` when it is ``tenant``'s: another tenant's record is not there."""
        with self._lock:
            found = table.get(key)
        return found if found is not None and found.tenant == tenant else None

    def _graph_changed(self, tenant: TenantId, graph_hash: str | None) -> None:
        """An ingest of the graph commits (under the lock): the verdict store, when the
        repository has one, marks the graph's registered (graph, catalog) pairs due."""

    def _keep(self, event: TimelineEvent) -> TimelineEvent:
        self._events.setdefault(event.tenant, []).append(event)
        self._event_ids.add(event.event_id)
        return event
