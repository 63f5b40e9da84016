"""`SyncStore` in memory."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from stella_signals.ports import EventDraft, ImportedEvidence
from stella_signals.storage._memory_base import MemoryDatabase, json_copy
from stella_signals.storage._writes import EvidenceImport
from stella_signals.tenancy import TenantId
from stella_signals.timeline import TimelineEvent

__all__ = ["MemorySyncStore"]


class MemorySyncStore(EvidenceImport, MemoryDatabase):
    """`SyncStore` in memory."""

    def __init__(self) -> None:
        super().__init__()
        self._imported_events: dict[tuple[TenantId, str], str] = {}
        self._evidence: dict[tuple[TenantId, str], ImportedEvidence] = {}

    def import_event(
        self, tenant: TenantId, origin_event_id: str, event: EventDraft, at: datetime
    ) -> TimelineEvent | None:
        with self._lock:
            if (tenant, origin_event_id) in self._imported_events:
                return None
            appended = self._keep(self._next(tenant, event))
            self._imported_events[(tenant, origin_event_id)] = appended.event_id
            return appended

    def imported_event_id(self, tenant: TenantId, origin_event_id: str) -> str | None:
        with self._lock:
            return self._imported_events.get((tenant, origin_event_id))

    def _keep_evidence(self, tenant: TenantId, evidence: ImportedEvidence) -> bool:
        with self._lock:
            if (tenant, evidence.ingest_id) in self._evidence:
                return False
            self._evidence[(tenant, evidence.ingest_id)] = replace(
                evidence, receipt=json_copy(evidence.receipt)
            )
            return True

    def get_imported_evidence(self, tenant: TenantId, ingest_id: str) -> ImportedEvidence | None:
        with self._lock:
            found = self._evidence.get((tenant, ingest_id))
        return None if found is None else replace(found, receipt=json_copy(found.receipt))
