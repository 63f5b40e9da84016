"""What offline sites sent, on SQL (`SyncStore`): each event and record kept once."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from stella_signals.ports import EventDraft, ImportedEvidence
from stella_signals.storage._schema import imported_events, imported_evidence
from stella_signals.storage._sql_base import SqlDatabase, record_of, row_of
from stella_signals.storage._writes import EvidenceImport
from stella_signals.tenancy import TenantId
from stella_signals.timeline import TimelineEvent

__all__ = ["SqlSyncStore"]


class SqlSyncStore(EvidenceImport, SqlDatabase):
    """`SyncStore` over a SQL database."""

    def import_event(
        self, tenant: TenantId, origin_event_id: str, event: EventDraft, at: datetime
    ) -> TimelineEvent | None:
        def work(conn: Connection) -> TimelineEvent | None:
            self._lock_tenant(conn, tenant)
            if self._find(conn, imported_events, tenant, origin_event_id=origin_event_id):
                return None
            appended = self._append(conn, tenant, event)
            conn.execute(
                imported_events.insert().values(
                    tenant=tenant,
                    origin_event_id=origin_event_id,
                    event_id=appended.event_id,
                    imported_at=at,
                )
            )
            return appended

        return self._in_tx(work)

    def imported_event_id(self, tenant: TenantId, origin_event_id: str) -> str | None:
        row = self._get(imported_events, tenant, origin_event_id=origin_event_id)
        return None if row is None else str(row.event_id)

    def _keep_evidence(self, tenant: TenantId, evidence: ImportedEvidence) -> bool:
        values = row_of(evidence, receipt=lambda receipt: json.dumps(dict(receipt)))
        return self._add_once(imported_evidence, tenant, values, key=("ingest_id",))

    def get_imported_evidence(self, tenant: TenantId, ingest_id: str) -> ImportedEvidence | None:
        row = self._get(imported_evidence, tenant, ingest_id=ingest_id)
        return None if row is None else _evidence(row)


def _evidence(row: Any) -> ImportedEvidence:
    return record_of(ImportedEvidence, row, receipt=json.loads, receipt_dsse=bytes)
