"""The timeline on SQL (`TimelineStore`); the append itself is `SqlDatabase._append`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stella_signals.ports import EventDraft
from stella_signals.storage._reads import Page, TimelineReads
from stella_signals.storage._schema import timeline_events
from stella_signals.storage._sql_base import SqlDatabase
from stella_signals.tenancy import TenantId
from stella_signals.timeline import TimelineEvent, parse_event

__all__ = ["SqlTimelineStore"]


class SqlTimelineStore(TimelineReads, SqlDatabase):
    """`TimelineStore` over a SQL database."""

    def append_event(self, tenant: TenantId, event: EventDraft) -> TimelineEvent:
        return self._in_tx(lambda conn: self._append(conn, tenant, event))

    def append_event_once(
        self, tenant: TenantId, event: EventDraft, *, same: Mapping[str, Any]
    ) -> TimelineEvent | None:
        def work(conn: Connection) -> TimelineEvent | None:
            self._lock_tenant(conn, tenant)
            bodies = conn.execute(
                sa.select(timeline_events.c.body).where(
                    timeline_events.c.tenant == tenant,
                    timeline_events.c.event_type == event.event_type,
                )
            )
            for row in bodies:
                attributes = parse_event(row.body.encode()).attributes
                if all(attributes.get(key) == value for key, value in same.items()):
                    return None
            return self._append(conn, tenant, event)

        return self._in_tx(work)

    def _event_page(self, page: Page) -> list[TimelineEvent]:
        return [parse_event(row.body.encode()) for row in self._select_page(timeline_events, page)]

    def get_event(self, tenant: TenantId, event_id: str) -> TimelineEvent | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(timeline_events.c.body).where(
                    timeline_events.c.tenant == tenant, timeline_events.c.event_id == event_id
                )
            ).first()
        return parse_event(row.body.encode()) if row is not None else None
