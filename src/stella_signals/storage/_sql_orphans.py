"""The orphan queue on SQL (`OrphanQueue`): leases, so several workers share it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stella_signals.ports import EventDraft, FactRow, IngestRecord, OrphanItem
from stella_signals.storage._schema import orphan_queue
from stella_signals.storage._sql_base import SqlDatabase, utc
from stella_signals.storage._sql_ingests import insert_facts, update_ingest
from stella_signals.storage._sql_verdicts import mark_graph_changed
from stella_signals.tenancy import TenantId
from stella_signals.timeline import TimelineEvent

__all__ = ["SqlOrphanQueue"]


class _ReceiptChanged(Exception):
    """Rolls back an orphan's finish: its receipt was superseded since the worker read it."""


class SqlOrphanQueue(SqlDatabase):
    """`OrphanQueue` over a SQL database."""

    def claim_orphans(
        self,
        now: datetime,
        *,
        worker: str,
        lease_seconds: float,
        limit: int,
        tenant: TenantId | None = None,
        graph_hash: str | None = None,
    ) -> list[OrphanItem]:
        q = orphan_queue.c

        def work(conn: Connection) -> list[OrphanItem]:
            query = sa.select(orphan_queue).where(
                sa.or_(q.lease_until.is_(None), q.lease_until < now)
            )
            if graph_hash is not None and tenant is not None:
                query = query.where(q.tenant == tenant, q.graph_hash == graph_hash)
            else:
                query = query.where(q.next_attempt_at <= now)
            query = query.order_by(q.next_attempt_at).limit(limit)
            if self.dialect == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = list(conn.execute(query))
            if rows:
                conn.execute(
                    orphan_queue.update()
                    .where(q.ingest_id.in_([r.ingest_id for r in rows]))
                    .values(lease_until=now + timedelta(seconds=lease_seconds), leased_by=worker)
                )
            return [
                OrphanItem(
                    ingest_id=r.ingest_id,
                    tenant=TenantId(r.tenant),
                    graph_hash=r.graph_hash,
                    queued_at=utc(r.queued_at),
                    next_attempt_at=utc(r.next_attempt_at),
                    attempts=r.attempts,
                )
                for r in rows
            ]

        return self._in_tx(work)

    def _release(self, conn: Connection, item: OrphanItem, worker: str) -> bool:
        """Delete a leased queue row; False when another worker holds it now."""
        result = conn.execute(
            orphan_queue.delete().where(
                orphan_queue.c.ingest_id == item.ingest_id, orphan_queue.c.leased_by == worker
            )
        )
        return bool(result.rowcount)

    def _finish_leased(
        self,
        item: OrphanItem,
        worker: str,
        ingest: IngestRecord,
        previous_event_id: str | None,
        rest: Any,
    ) -> TimelineEvent | None:
        """Release a leased orphan, write its ingest row, then ``rest(conn)`` (facts, event),
        all in one transaction. When the receipt changed since the worker read it (a DSSE
        was attached meanwhile), nothing is written and the item is unleased, due at once."""

        def work(conn: Connection) -> TimelineEvent | None:
            if not self._release(conn, item, worker):
                return None
            if not update_ingest(conn, ingest, previous_event_id=previous_event_id):
                raise _ReceiptChanged
            appended: TimelineEvent = rest(conn)
            return appended

        try:
            result: TimelineEvent | None = self._in_tx(work)
        except _ReceiptChanged:
            self._in_tx(
                lambda conn: conn.execute(
                    orphan_queue.update()
                    .where(
                        orphan_queue.c.ingest_id == item.ingest_id,
                        orphan_queue.c.leased_by == worker,
                    )
                    .values(lease_until=None, leased_by=None)
                )
            )
            return None
        return result

    def finish_orphan(
        self,
        item: OrphanItem,
        *,
        worker: str,
        ingest: IngestRecord,
        facts: Sequence[FactRow],
        event: EventDraft,
        previous_event_id: str | None = None,
    ) -> TimelineEvent | None:
        def rest(conn: Connection) -> TimelineEvent:
            insert_facts(conn, self.dialect, ingest, facts)
            appended = self._append(conn, ingest.tenant, event)
            if ingest.status == "ingested":
                mark_graph_changed(conn, ingest.tenant, ingest.graph_hash)
            return appended

        return self._finish_leased(item, worker, ingest, previous_event_id, rest)

    def expire_orphan(
        self,
        item: OrphanItem,
        *,
        worker: str,
        ingest: IngestRecord,
        event: EventDraft,
        previous_event_id: str | None = None,
    ) -> TimelineEvent | None:
        return self._finish_leased(
            item,
            worker,
            ingest,
            previous_event_id,
            lambda conn: self._append(conn, ingest.tenant, event),
        )

    def reschedule_orphan(
        self, item: OrphanItem, *, worker: str, next_attempt_at: datetime
    ) -> bool:
        def work(conn: Connection) -> bool:
            result = conn.execute(
                orphan_queue.update()
                .where(
                    orphan_queue.c.ingest_id == item.ingest_id,
                    orphan_queue.c.leased_by == worker,
                )
                .values(
                    next_attempt_at=next_attempt_at,
                    attempts=item.attempts + 1,
                    lease_until=None,
                    leased_by=None,
                )
            )
            return bool(result.rowcount)

        return self._in_tx(work)

    def orphan_queue_depth(self) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(sa.select(sa.func.count()).select_from(orphan_queue)).scalar_one()
            )
