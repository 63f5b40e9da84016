"""The orphan queue on SQL (`OrphanQueue`): leases, so several workers share it."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stella_signals.ports import OrphanItem
from stella_signals.storage._schema import orphan_queue
from stella_signals.storage._sql_base import SqlDatabase, record_of
from stella_signals.storage._sql_ingests import insert_edges, insert_facts, update_ingest
from stella_signals.storage._sql_verdicts import mark_graph_changed
from stella_signals.storage._writes import Lease, OrphanEnd, OrphanLeases
from stella_signals.tenancy import TenantId
from stella_signals.timeline import TimelineEvent

__all__ = ["SqlOrphanQueue"]


class _ReceiptChanged(Exception):
    """Rolls back an orphan's finish: its receipt was superseded since the worker read it."""


class SqlOrphanQueue(OrphanLeases, SqlDatabase):
    """`OrphanQueue` over a SQL database."""

    def _claim_orphans(self, lease: Lease, graph: tuple[TenantId, str] | None) -> list[OrphanItem]:
        q = orphan_queue.c

        def work(conn: Connection) -> list[OrphanItem]:
            query = sa.select(orphan_queue).where(
                sa.or_(q.lease_until.is_(None), q.lease_until < lease.now)
            )
            if graph is not None:
                query = query.where(q.tenant == graph[0], q.graph_hash == graph[1])
            else:
                query = query.where(q.next_attempt_at <= lease.now)
            query = query.order_by(q.next_attempt_at).limit(lease.limit)
            if self.dialect == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = list(conn.execute(query))
            if rows:
                conn.execute(
                    orphan_queue.update()
                    .where(q.ingest_id.in_([r.ingest_id for r in rows]))
                    .values(lease_until=lease.until, leased_by=lease.worker)
                )
            return [record_of(OrphanItem, r) for r in rows]

        return self._in_tx(work)

    def _release(self, conn: Connection, item: OrphanItem, worker: str) -> bool:
        """Delete a leased queue row; False when another worker holds it now."""
        result = conn.execute(
            orphan_queue.delete().where(
                orphan_queue.c.ingest_id == item.ingest_id, orphan_queue.c.leased_by == worker
            )
        )
        return bool(result.rowcount)

    def _end_orphan(self, end: OrphanEnd) -> TimelineEvent | None:
        ingest = end.ingest

        def work(conn: Connection) -> TimelineEvent | None:
            if not self._release(conn, end.item, end.worker):
                return None
            if not update_ingest(conn, ingest, previous_event_id=end.previous_event_id):
                raise _ReceiptChanged  # a DSSE was attached since the worker read it
            if end.facts is not None:
                insert_facts(conn, self.dialect, ingest, end.facts)
                insert_edges(conn, self.dialect, ingest, end.edges)
            appended = self._append(conn, ingest.tenant, end.event)
            if ingest.status == "ingested":
                mark_graph_changed(conn, ingest.tenant, ingest.graph_hash)
            return appended

        try:
            result: TimelineEvent | None = self._in_tx(work)
        except _ReceiptChanged:
            self._in_tx(
                lambda conn: conn.execute(
                    orphan_queue.update()
                    .where(
                        orphan_queue.c.ingest_id == end.item.ingest_id,
                        orphan_queue.c.leased_by == end.worker,
                    )
                    .values(lease_until=None, leased_by=None)
                )
            )
            return None
        return result

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
