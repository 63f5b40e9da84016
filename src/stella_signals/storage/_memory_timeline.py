"""`TimelineStore` in memory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stella_signals.ports import EventDraft
from stella_signals.storage._memory_base import MemoryDatabase
from stella_signals.storage._reads import Page, TimelineReads
from stella_signals.tenancy import TenantId
from stella_signals.timeline import TimelineEvent

__all__ = ["MemoryTimelineStore"]


class MemoryTimelineStore(TimelineReads, MemoryDatabase):
    """`TimelineStore` in memory."""

    def append_event(self, tenant: TenantId, event: EventDraft) -> TimelineEvent:
        with self._lock:
            return self._keep(self._next(tenant, event))

    def append_event_once(
        self, tenant: TenantId, event: EventDraft, *, same: Mapping[str, Any]
    ) -> TimelineEvent | None:
        with self._lock:
            for old in self._events.get(tenant, ()):
                if old.event_type == event.event_type and all(
                    old.attributes.get(key) == value for key, value in same.items()
                ):
                    return None
            return self._keep(self._next(tenant, event))

    def _event_page(self, page: Page) -> list[TimelineEvent]:
        return self._select(page, self._events.get(page.tenant, ()))

    def get_event(self, tenant: TenantId, event_id: str) -> TimelineEvent | None:
        with self._lock:
            return next((e for e in self._events.get(tenant, ()) if e.event_id == event_id), None)
