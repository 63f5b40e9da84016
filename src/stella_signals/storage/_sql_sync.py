"""What offline sites sent, on SQL (`SyncStore`): each event and record kept once."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from stella_signals.ports import EventDraft, ImportedEvidence
from stella_signals.storage._schema import imported_events, imported_evidence
from stella_signals.storage._sql_base import SqlDatabase, utc
from stella_signals.tenancy import TenantId
from stella_signals.timeline import TimelineEvent

__all__ = ["SqlSyncStore"]


class SqlSyncStore(SqlDatabase):
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

    def import_evidence(
        self,
        tenant: TenantId,
        *,
        ingest_id: str,
        bundle_sha256: str,
        receipt: Mapping[str, Any],
        receipt_dsse: bytes,
        at: datetime,
    ) -> bool:
        def work(conn: Connection) -> bool:
            self._lock_tenant(conn, tenant)
            if self._find(conn, imported_evidence, tenant, ingest_id=ingest_id):
                return False
            conn.execute(
                imported_evidence.insert().values(
                    tenant=tenant,
                    ingest_id=ingest_id,
                    bundle_sha256=bundle_sha256,
                    receipt=json.dumps(dict(receipt)),
                    receipt_dsse=receipt_dsse,
                    imported_at=at,
                )
            )
            return True

        return self._in_tx(work)

    def get_imported_evidence(self, tenant: TenantId, ingest_id: str) -> ImportedEvidence | None:
        row = self._get(imported_evidence, tenant, ingest_id=ingest_id)
        if row is None:
            return None
        return ImportedEvidence(
            ingest_id=row.ingest_id,
            receipt=json.loads(row.receipt),
            receipt_dsse=bytes(row.receipt_dsse),
            bundle_sha256=row.bundle_sha256,
            imported_at=utc(row.imported_at),
        )
