"""Graphs and symbol manifests on SQL (`GraphStore`)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stella_signals.ports import EventDraft, GraphRecord, SymbolManifestRecord
from stella_signals.storage._schema import graphs, symbol_manifests
from stella_signals.storage._sql_base import SqlDatabase, utc
from stella_signals.tenancy import TenantId

__all__ = ["SqlGraphStore"]


class SqlGraphStore(SqlDatabase):
    """`GraphStore` over a SQL database."""

    def add_graph(self, record: GraphRecord, event: EventDraft) -> bool:
        return self._add_once(
            graphs,
            record.tenant,
            {"graph_hash": record.graph_hash},
            {
                "cas_uri": record.cas_uri,
                "size": record.size,
                "nodes": record.nodes,
                "edges": record.edges,
                "created_at": record.created_at,
                "dsse_digest": record.dsse_digest,
            },
            event,
        )

    def add_symbol_manifest(self, record: SymbolManifestRecord, event: EventDraft) -> bool:
        return self._add_once(
            symbol_manifests,
            record.tenant,
            {"sha256": record.sha256},
            {"cas_uri": record.cas_uri, "entries": record.entries, "created_at": record.created_at},
            event,
        )

    def _add_once(
        self,
        table: sa.Table,
        tenant: TenantId,
        key: dict[str, Any],
        values: dict[str, Any],
        event: EventDraft,
    ) -> bool:
        """Insert a tenant's row keyed by ``key`` and append ``event``, in one transaction
        under the tenant lock; False (nothing written) when the row exists."""

        def work(conn: Connection) -> bool:
            self._lock_tenant(conn, tenant)
            if self._find(conn, table, tenant, **key) is not None:
                return False
            conn.execute(table.insert().values(tenant=tenant, **key, **values))
            self._append(conn, tenant, event)
            return True

        return self._in_tx(work)

    def get_graph(self, tenant: TenantId, graph_hash: str) -> GraphRecord | None:
        row = self._get(graphs, tenant, graph_hash=graph_hash)
        if row is None:
            return None
        return GraphRecord(
            tenant=TenantId(row.tenant),
            graph_hash=row.graph_hash,
            cas_uri=row.cas_uri,
            size=row.size,
            nodes=row.nodes,
            edges=row.edges,
            created_at=utc(row.created_at),
            dsse_digest=row.dsse_digest,
        )

    def tenants_with_graph(self, graph_hash: str) -> list[TenantId]:
        query = (
            sa.select(graphs.c.tenant)
            .where(graphs.c.graph_hash == graph_hash)
            .order_by(graphs.c.tenant)
        )
        with self.engine.connect() as conn:
            return [TenantId(row.tenant) for row in conn.execute(query)]
