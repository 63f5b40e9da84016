"""Graphs and symbol manifests on SQL (`GraphStore`)."""

from __future__ import annotations

import sqlalchemy as sa

from stella_signals.ports import EventDraft, GraphRecord, SymbolManifestRecord
from stella_signals.storage._schema import graphs, symbol_manifests
from stella_signals.storage._sql_base import SqlDatabase, record_of, row_of
from stella_signals.tenancy import TenantId

__all__ = ["SqlGraphStore"]


class SqlGraphStore(SqlDatabase):
    """`GraphStore` over a SQL database."""

    def add_graph(self, record: GraphRecord, event: EventDraft) -> bool:
        return self._add_once(
            graphs, record.tenant, row_of(record), key=("graph_hash",), event=event
        )

    def add_symbol_manifest(self, record: SymbolManifestRecord, event: EventDraft) -> bool:
        return self._add_once(
            symbol_manifests, record.tenant, row_of(record), key=("sha256",), event=event
        )

    def get_graph(self, tenant: TenantId, graph_hash: str) -> GraphRecord | None:
        row = self._get(graphs, tenant, graph_hash=graph_hash)
        return None if row is None else record_of(GraphRecord, row)

    def tenants_with_graph(self, graph_hash: str) -> list[TenantId]:
        query = (
            sa.select(graphs.c.tenant)
            .where(graphs.c.graph_hash == graph_hash)
            .order_by(graphs.c.tenant)
        )
        with self.engine.connect() as conn:
            return [TenantId(row.tenant) for row in conn.execute(query)]
