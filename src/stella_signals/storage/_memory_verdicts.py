"""`VerdictStore` in memory."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from stella_signals.ports import (
    CatalogRecord,
    EvaluationRecord,
    Registration,
    StoredUnknown,
    StoredVerdict,
    VerdictChange,
    VexRecord,
)
from stella_signals.storage._memory_base import MemoryDatabase, json_copy
from stella_signals.storage._reads import Page, VerdictReads
from stella_signals.storage._writes import (
    EvaluationRecording,
    EvaluationWrite,
    Lease,
    PairSchedule,
    verdict_changes,
    with_events,
)
from stella_signals.tenancy import TenantId
from stella_signals.timeline import TimelineEvent

__all__ = ["MemoryVerdictStore"]

_Pair = tuple[TenantId, str, str]


@dataclass
class _Registered:
    registration: Registration
    lease_until: datetime | None = None
    leased_by: str | None = None


class MemoryVerdictStore(VerdictReads, PairSchedule, EvaluationRecording, MemoryDatabase):
    """`VerdictStore` in memory."""

    def __init__(self) -> None:
        super().__init__()
        self._catalogs: dict[tuple[TenantId, str], CatalogRecord] = {}
        self._evaluations: dict[str, EvaluationRecord] = {}
        self._verdicts: dict[_Pair, dict[tuple[str, str, str], StoredVerdict]] = {}
        self._history: list[VerdictChange] = []
        self._unknowns: dict[_Pair, list[StoredUnknown]] = {}
        self._registrations: dict[_Pair, _Registered] = {}
        self._vex: dict[str, VexRecord] = {}

    def _graph_changed(self, tenant: TenantId, graph_hash: str | None) -> None:
        """Called under the lock by the ingest store when an ingest of the graph commits."""
        for (owner, graph, _catalog), row in self._registrations.items():
            if owner == tenant and graph == graph_hash:
                r = row.registration
                row.registration = replace(r, change_seq=r.change_seq + 1)

    # -- catalogs ----------------------------------------------------------------------
    def add_catalog(self, record: CatalogRecord) -> bool:
        with self._lock:
            key = (record.tenant, record.digest)
            if key in self._catalogs:
                return False
            self._catalogs[key] = record
            return True

    def get_catalog(self, tenant: TenantId, digest: str) -> CatalogRecord | None:
        with self._lock:
            return self._catalogs.get((tenant, digest))

    # -- registrations -------------------------------------------------------------------
    def _register(self, fresh: Registration, at: datetime) -> Registration:
        with self._lock:
            pair = (fresh.tenant, fresh.graph_hash, fresh.catalog_digest)
            row = self._registrations.get(pair)
            if row is None:
                row = self._registrations[pair] = _Registered(fresh)
            else:
                row.registration = replace(row.registration, since=fresh.since)
            return row.registration

    def _claim_pairs(self, lease: Lease) -> list[Registration]:
        with self._lock:
            claimed = []
            for pair in sorted(self._registrations):
                row = self._registrations[pair]
                if not row.registration.due:
                    continue
                if row.lease_until is not None and row.lease_until > lease.now:
                    continue
                row.lease_until = lease.until
                row.leased_by = lease.worker
                claimed.append(row.registration)
                if len(claimed) == lease.limit:
                    break
            return claimed

    # -- evaluations ---------------------------------------------------------------------
    def _record_evaluation(
        self, write: EvaluationWrite
    ) -> tuple[list[VerdictChange], list[TimelineEvent]]:
        evaluation, verdicts, seen_seq = write.evaluation, write.verdicts, write.seen_seq
        tenant = evaluation.tenant
        pair = (tenant, evaluation.graph_hash, evaluation.catalog_digest)
        with self._lock:
            row = self._registrations.get(pair)
            if write.stale(None if row is None else row.registration.evaluated_seq):
                self._evaluations[evaluation.evaluation_id] = replace(evaluation, changed=0)
                return [], []
            current = self._verdicts.get(pair, {})
            # Build everything first (events chain one after the other), then keep it.
            changes, events = with_events(
                verdict_changes(evaluation, verdicts, {k: v.state for k, v in current.items()}),
                write.event,
                lambda drafts: self._next_many(tenant, drafts),
            )
            updated = dict(current)
            for position, verdict in enumerate(verdicts):
                kept = replace(verdict, body=json_copy(verdict.body))
                updated[verdict.key] = StoredVerdict.after(
                    evaluation, kept, position, current.get(verdict.key)
                )
            for appended in events:
                self._keep(appended)
            self._verdicts[pair] = updated
            self._history.extend(changes)
            self._evaluations[evaluation.evaluation_id] = replace(
                evaluation, changed=sum(1 for c in changes if c.from_state is not None)
            )
            self._unknowns[pair] = [replace(u, body=json_copy(u.body)) for u in write.unknowns]
            row = self._registrations.get(pair)
            if row is not None:
                r = row.registration
                row.registration = replace(r, evaluated_seq=max(r.evaluated_seq, seen_seq))
                row.lease_until = row.leased_by = None
            return changes, events

    def get_evaluation(self, tenant: TenantId, evaluation_id: str) -> EvaluationRecord | None:
        return self._owned(self._evaluations, evaluation_id, tenant)

    # -- reads ---------------------------------------------------------------------------
    def _verdict_page(self, page: Page) -> list[StoredVerdict]:
        rows = (v for table in self._verdicts.values() for v in table.values())
        return [replace(v, body=json_copy(v.body)) for v in self._select(page, rows)]

    def _history_page(self, page: Page) -> list[VerdictChange]:
        return self._select(page, self._history)

    def _unknown_page(self, page: Page) -> list[StoredUnknown]:
        rows = (u for table in self._unknowns.values() for u in table)
        return [replace(u, body=json_copy(u.body)) for u in self._select(page, rows)]

    # -- VEX -----------------------------------------------------------------------------
    def add_vex(self, record: VexRecord) -> None:
        with self._lock:
            self._vex[record.vex_id] = record

    def get_vex(self, tenant: TenantId, vex_id: str) -> VexRecord | None:
        return self._owned(self._vex, vex_id, tenant)

    def _vex_page(self, page: Page) -> list[VexRecord]:
        return self._select(page, self._vex.values())
