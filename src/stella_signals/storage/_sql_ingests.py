"""Runtime ingests, facts and receipts on SQL (`IngestStore`)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stella_signals.ports import (
    EventDraft,
    FactRow,
    IngestRecord,
    NodeObservation,
    orphan_first_attempt,
)
from stella_signals.storage._schema import facts, graphs, ingests, orphan_queue
from stella_signals.storage._sql_base import SqlDatabase, parsed_time, sqlite_time, utc
from stella_signals.storage._sql_verdicts import mark_graph_changed
from stella_signals.tenancy import TenantId
from stella_signals.timeline import TimelineEvent

__all__ = ["SqlIngestStore", "insert_facts", "update_ingest"]

#: Rows per INSERT batch for facts (bounded memory whatever the trace).
_FACT_BATCH = 5000


class SqlIngestStore(SqlDatabase):
    """`IngestStore` over a SQL database."""

    def commit_ingest(
        self, ingest: IngestRecord, facts_: Sequence[FactRow], event: EventDraft
    ) -> TimelineEvent:
        def work(conn: Connection) -> TimelineEvent:
            conn.execute(ingests.insert().values(**_ingest_values(ingest)))
            insert_facts(conn, self.dialect, ingest, facts_)
            appended = self._append(conn, ingest.tenant, event)  # takes the tenant's lock
            if ingest.status == "ingested":  # the graph's registered pairs are due again
                mark_graph_changed(conn, ingest.tenant, ingest.graph_hash)
            if ingest.status == "orphaned":
                # Under the tenant's lock a graph is either committed already (it arrived
                # while this trace was parsed, and its release pass cannot see this row) or
                # it commits after us and its pass releases us.
                arrived = conn.execute(
                    sa.select(graphs.c.graph_hash).where(
                        graphs.c.tenant == ingest.tenant, graphs.c.graph_hash == ingest.graph_hash
                    )
                ).first()
                conn.execute(
                    orphan_queue.insert().values(
                        ingest_id=ingest.ingest_id,
                        tenant=ingest.tenant,
                        graph_hash=ingest.graph_hash,
                        queued_at=ingest.received_at,
                        next_attempt_at=orphan_first_attempt(
                            ingest.received_at, graph_known=arrived is not None
                        ),
                        attempts=0,
                    )
                )
            return appended

        # A second accepted ingest of the same bytes is `Conflict` (storage/_sql_errors.py).
        return self._in_tx(work)

    def record_failure(self, ingest: IngestRecord, event: EventDraft) -> TimelineEvent:
        def work(conn: Connection) -> TimelineEvent:
            conn.execute(ingests.insert().values(**_ingest_values(ingest)))
            return self._append(conn, ingest.tenant, event)

        return self._in_tx(work)

    def supersede_receipt(
        self, ingest: IngestRecord, event: EventDraft, *, previous_event_id: str
    ) -> TimelineEvent | None:
        def work(conn: Connection) -> TimelineEvent | None:
            self._lock_tenant(conn, ingest.tenant)
            if not update_ingest(conn, ingest, previous_event_id=previous_event_id):
                return None
            return self._append(conn, ingest.tenant, event)

        return self._in_tx(work)

    def find_duplicate(
        self, tenant: TenantId, content_sha256: str, graph_hash: str
    ) -> IngestRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(ingests).where(
                    ingests.c.tenant == tenant,
                    ingests.c.content_sha256 == content_sha256,
                    ingests.c.graph_hash == graph_hash,
                    ingests.c.status.in_(("ingested", "orphaned")),
                )
            ).first()
        return _ingest_of(row) if row is not None else None

    def get_ingest(self, tenant: TenantId, ingest_id: str) -> IngestRecord | None:
        row = self._get(ingests, tenant, ingest_id=ingest_id)
        return _ingest_of(row) if row is not None else None

    def list_ingests(
        self,
        tenant: TenantId,
        *,
        graph_hash: str | None,
        status: str | None,
        after: str | None,
        limit: int,
    ) -> list[IngestRecord]:
        query = sa.select(ingests).where(ingests.c.tenant == tenant)
        if graph_hash is not None:
            query = query.where(ingests.c.graph_hash == graph_hash)
        if status is not None:
            query = query.where(ingests.c.status == status)
        if after is not None:
            query = query.where(ingests.c.ingest_id > after)
        query = query.order_by(ingests.c.ingest_id).limit(limit)
        with self.engine.connect() as conn:
            return [_ingest_of(row) for row in conn.execute(query)]

    def list_facts(self, tenant: TenantId, ingest_id: str) -> list[FactRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(facts)
                .where(facts.c.tenant == tenant, facts.c.ingest_id == ingest_id)
                .order_by(facts.c.seq)
            )
            return [
                FactRow(
                    symbol_id=row.symbol_id,
                    purl=row.purl,
                    container=row.container,
                    hits=row._mapping["count"],
                    first_seen=utc(row.first_seen),
                    last_seen=utc(row.last_seen),
                    node=row.node,
                )
                for row in rows
            ]

    def _graph_facts(self, tenant: TenantId, graph_hash: str) -> Any:
        return (
            sa.select(facts)
            .join(ingests, ingests.c.ingest_id == facts.c.ingest_id)
            .where(
                facts.c.tenant == tenant,
                ingests.c.tenant == tenant,
                ingests.c.graph_hash == graph_hash,
                ingests.c.status == "ingested",
                facts.c.node.is_not(None),
            )
            .subquery()
        )

    def observed_nodes(self, tenant: TenantId, graph_hash: str) -> dict[str, NodeObservation]:
        f = self._graph_facts(tenant, graph_hash)
        query = sa.select(
            f.c.node,
            sa.func.sum(f.c["count"]).label("hits"),
            sa.func.min(f.c.first_seen).label("first_seen"),
            sa.func.max(f.c.last_seen).label("last_seen"),
        ).group_by(f.c.node)
        with self.engine.connect() as conn:
            return {
                row.node: NodeObservation(
                    node=row.node,
                    hits=int(row.hits),
                    first_seen=parsed_time(row.first_seen),
                    last_seen=parsed_time(row.last_seen),
                )
                for row in conn.execute(query)
            }

    def node_details(
        self, tenant: TenantId, graph_hash: str, nodes: Sequence[str]
    ) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
        if not nodes:
            return {}
        f = self._graph_facts(tenant, graph_hash)
        query = (
            sa.select(f.c.node, f.c.container, f.c.ingest_id)
            .where(f.c.node.in_(list(nodes)))
            .distinct()
        )
        containers: dict[str, set[str]] = {}
        ingest_ids: dict[str, set[str]] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                if row.container is not None:
                    containers.setdefault(row.node, set()).add(row.container)
                ingest_ids.setdefault(row.node, set()).add(row.ingest_id)
        return {
            node: (tuple(sorted(containers.get(node, ()))), tuple(sorted(ingest_ids.get(node, ()))))
            for node in nodes
        }


def _ingest_values(ingest: IngestRecord) -> dict[str, Any]:
    return {
        "ingest_id": ingest.ingest_id,
        "tenant": ingest.tenant,
        "status": ingest.status,
        "received_at": ingest.received_at,
        "content_sha256": ingest.content_sha256,
        "graph_hash": ingest.graph_hash,
        "size": ingest.size,
        "reason": ingest.reason,
        "detail": ingest.detail,
        "receipt": json.dumps(dict(ingest.receipt)) if ingest.receipt is not None else None,
        "receipt_dsse": ingest.receipt_dsse,
        "timeline_event_id": ingest.timeline_event_id,
    }


def _ingest_of(row: Any) -> IngestRecord:
    receipt: Mapping[str, Any] | None = json.loads(row.receipt) if row.receipt else None
    return IngestRecord(
        ingest_id=row.ingest_id,
        tenant=TenantId(row.tenant),
        status=row.status,
        received_at=utc(row.received_at),
        content_sha256=row.content_sha256,
        graph_hash=row.graph_hash,
        size=row.size,
        reason=row.reason,
        detail=row.detail,
        receipt=receipt,
        receipt_dsse=row.receipt_dsse,
        timeline_event_id=row.timeline_event_id,
    )


def insert_facts(
    conn: Connection, dialect: str, ingest: IngestRecord, rows: Sequence[FactRow]
) -> None:
    """Facts in bulk: COPY on PostgreSQL, a driver-level executemany on SQLite
    (SQLAlchemy's per-row parameter processing cost more than the inserts themselves
    for 10^5 facts)."""
    if not rows:
        return
    columns = [c.name for c in facts.columns]
    ingest_id, tenant = ingest.ingest_id, ingest.tenant
    if dialect == "postgresql":
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        # Column names come from our own schema; the rows travel as COPY data.
        statement = f"COPY facts ({', '.join(columns)}) FROM STDIN"
        with cursor.copy(statement) as copy:
            for i, f in enumerate(rows):
                copy.write_row(
                    (ingest_id, tenant, i, f.symbol_id, f.purl, f.container, f.hits,
                     f.first_seen, f.last_seen, f.node)
                )  # fmt: skip
        return
    marks = ", ".join(["?"] * len(columns))
    # Column names come from our own schema; every value is a bound parameter.
    sql = f"INSERT INTO facts ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608
    for start in range(0, len(rows), _FACT_BATCH):
        batch = [
            (ingest_id, tenant, start + i, f.symbol_id, f.purl, f.container, f.hits,
             sqlite_time(f.first_seen), sqlite_time(f.last_seen), f.node)
            for i, f in enumerate(rows[start : start + _FACT_BATCH])
        ]  # fmt: skip
        conn.exec_driver_sql(sql, batch)


def update_ingest(
    conn: Connection, ingest: IngestRecord, *, previous_event_id: str | None = None
) -> bool:
    """Write ``ingest`` over its row; with ``previous_event_id``, only while the row's
    receipt is still that one (compare and swap). False when nothing was written."""
    values = _ingest_values(ingest)
    del values["ingest_id"], values["tenant"]
    query = ingests.update().where(
        ingests.c.ingest_id == ingest.ingest_id, ingests.c.tenant == ingest.tenant
    )
    if previous_event_id is not None:
        query = query.where(ingests.c.timeline_event_id == previous_event_id)
    return bool(conn.execute(query.values(**values)).rowcount)
