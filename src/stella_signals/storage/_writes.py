"""Write methods every backend answers the same way: the port's keyword form is taken once
here and handed to the backend's primitive. What each write guarantees is documented once,
on its port in ``ports.py``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from stella_signals.clock import FixedClock
from stella_signals.ids import new_ulid
from stella_signals.ports import (
    EdgeRow,
    EvaluationRecord,
    EventDraft,
    FactRow,
    ImportedEvidence,
    IngestRecord,
    OrphanItem,
    Registration,
    StoredUnknown,
    TokenRecord,
    VerdictChange,
    VerdictRow,
)
from stella_signals.tenancy import TenantId
from stella_signals.timeline import TimelineEvent

__all__ = [
    "AnchorAppend",
    "AnchorEntry",
    "EvaluationRecording",
    "EvaluationWrite",
    "EvidenceImport",
    "Lease",
    "OrphanEnd",
    "OrphanLeases",
    "PairSchedule",
    "TokenIssue",
    "verdict_changes",
    "with_events",
]


@dataclass(frozen=True, slots=True)
class Lease:
    """A claim: ``worker`` leases at most ``limit`` free items at ``now`` until ``until``."""

    worker: str
    now: datetime
    until: datetime
    limit: int

    @classmethod
    def of(cls, now: datetime, *, worker: str, lease_seconds: float, limit: int) -> Lease:
        return cls(worker, now, now + timedelta(seconds=lease_seconds), limit)


class PairSchedule:
    """`VerdictStore.register_pair` and `claim_reevaluations`: a new pair starts with no
    change seen and none evaluated (the backend keeps it, or only its ``since`` when the pair
    is registered); a claim is a `Lease`."""

    def register_pair(
        self,
        tenant: TenantId,
        graph_hash: str,
        catalog_digest: str,
        *,
        since: datetime | None,
        at: datetime,
    ) -> Registration:
        fresh = Registration(tenant, graph_hash, catalog_digest, since, 0, 0)
        return self._register(fresh, at)

    def _register(self, fresh: Registration, at: datetime) -> Registration:
        """Keep ``fresh`` (registered ``at``) unless its pair is registered: then replace
        only the kept ``since``. The registration as it now stands."""
        raise NotImplementedError

    def claim_reevaluations(
        self, now: datetime, *, worker: str, lease_seconds: float, limit: int
    ) -> list[Registration]:
        return self._claim_pairs(
            Lease.of(now, worker=worker, lease_seconds=lease_seconds, limit=limit)
        )

    def _claim_pairs(self, lease: Lease) -> list[Registration]:
        """Lease the due pairs whose lease ran out by ``lease.now`` (or that have none), in
        (tenant, graph, catalog) order."""
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class EvaluationWrite:
    """A `VerdictStore.record_evaluation` call, its unknowns as the rows kept (position and
    kind from the evaluation's list)."""

    evaluation: EvaluationRecord
    verdicts: Sequence[VerdictRow]
    unknowns: list[StoredUnknown]
    seen_seq: int
    event: Callable[[VerdictChange], EventDraft]

    def stale(self, evaluated_seq: int | None) -> bool:
        """Whether a newer evaluation (one that saw more ingests: ``evaluated_seq``, None
        when the pair is not registered) is recorded already: this one is then kept as an
        evaluation only."""
        return evaluated_seq is not None and self.seen_seq < evaluated_seq


class EvaluationRecording:
    """`VerdictStore.record_evaluation`: the call becomes an `EvaluationWrite`; the backend
    keeps it in one transaction (`_record_evaluation`)."""

    def record_evaluation(
        self,
        evaluation: EvaluationRecord,
        verdicts: Sequence[VerdictRow],
        unknowns: Sequence[Mapping[str, Any]],
        *,
        seen_seq: int,
        event: Callable[[VerdictChange], EventDraft],
    ) -> tuple[list[VerdictChange], list[TimelineEvent]]:
        rows = [
            StoredUnknown(
                tenant=evaluation.tenant,
                graph_hash=evaluation.graph_hash,
                catalog_digest=evaluation.catalog_digest,
                evaluation_id=evaluation.evaluation_id,
                position=position,
                kind=str(unknown.get("kind", "")),
                body=unknown,
            )
            for position, unknown in enumerate(unknowns)
        ]
        return self._record_evaluation(EvaluationWrite(evaluation, verdicts, rows, seen_seq, event))

    def _record_evaluation(
        self, write: EvaluationWrite
    ) -> tuple[list[VerdictChange], list[TimelineEvent]]:
        raise NotImplementedError


def verdict_changes(
    evaluation: EvaluationRecord,
    verdicts: Sequence[VerdictRow],
    states: Mapping[tuple[str, str, str], str],
) -> list[VerdictChange]:
    """The history entries ``verdicts`` make over the states stored (target → state): one
    per first or changed state, in the evaluation's order."""
    return [
        VerdictChange.of(evaluation, verdict, states.get(verdict.key), position)
        for position, verdict in enumerate(verdicts)
        if states.get(verdict.key) != verdict.state
    ]


def with_events(
    changes: list[VerdictChange],
    event: Callable[[VerdictChange], EventDraft],
    append: Callable[[list[EventDraft]], list[TimelineEvent]],
) -> tuple[list[VerdictChange], list[TimelineEvent]]:
    """``append`` the event of each change from a previous state (a first state has none)
    and name it in its change: `VerdictStore.record_evaluation`'s answer."""
    stated = [c for c in changes if c.from_state is not None]
    events = append([event(c) for c in stated])
    named = {c.position: e.event_id for c, e in zip(stated, events, strict=True)}
    return [replace(c, event_id=named.get(c.position)) for c in changes], events


class TokenIssue:
    """`TokenStore.add_token`: the new token's record (its public id, a ULID of ``at``, and
    its expiry in UTC) is built here; the backend keeps it under the token's hash."""

    def add_token(
        self,
        *,
        token_hash: str,
        tenants: frozenset[str],
        scopes: frozenset[str],
        at: datetime,
        expires_at: datetime | None = None,
    ) -> str:
        record = TokenRecord(
            token_id=new_ulid(FixedClock(at)),
            tenants=frozenset(tenants),
            scopes=frozenset(scopes),
            created_at=at,
            # UTC: SQLite keeps no offset, and reads every stored time as UTC.
            expires_at=None if expires_at is None else expires_at.astimezone(UTC),
        )
        self._insert_token(token_hash, record)
        return record.token_id

    def _insert_token(self, token_hash: str, record: TokenRecord) -> None:
        """Keep ``record`` under ``token_hash``; `Conflict` when that hash is taken."""
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class AnchorEntry:
    """A verified time anchor to keep for ``tenant`` (its envelope as received)."""

    tenant: TenantId
    counter: int
    anchor_time: datetime
    envelope: bytes
    at: datetime

    def follows(self, highest: int | None) -> bool:
        """Whether it may be kept after the highest counter kept for the tenant: only a
        rising counter (an equal or lower one is a replay)."""
        return highest is None or self.counter > highest


class AnchorAppend:
    """`TrustStore.add_time_anchor`: the entry and its rule (`AnchorEntry.follows`) are here;
    the backend reads the tenant's highest counter and appends, in one transaction."""

    def add_time_anchor(
        self,
        tenant: TenantId,
        *,
        counter: int,
        anchor_time: datetime,
        envelope: bytes,
        at: datetime,
    ) -> bool:
        return self._append_anchor(AnchorEntry(tenant, counter, anchor_time, bytes(envelope), at))

    def _append_anchor(self, entry: AnchorEntry) -> bool:
        """Keep ``entry`` if it `follows` the tenant's highest counter: then True."""
        raise NotImplementedError


class EvidenceImport:
    """`SyncStore.import_evidence`: the record is built here; the backend keeps it once."""

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
        evidence = ImportedEvidence(
            ingest_id=ingest_id,
            receipt=receipt,
            receipt_dsse=bytes(receipt_dsse),
            bundle_sha256=bundle_sha256,
            imported_at=at,
        )
        return self._keep_evidence(tenant, evidence)

    def _keep_evidence(self, tenant: TenantId, evidence: ImportedEvidence) -> bool:
        """Keep ``evidence`` for ``tenant`` unless its ingest id is there: then False."""
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class OrphanEnd:
    """How a leased orphan ends: ``worker`` releases ``item`` and replaces its ingest row by
    ``ingest`` (compared with ``previous_event_id`` when given), keeps ``facts`` and
    ``edges`` (``facts`` None: an expiry, nothing to keep) and appends ``event``."""

    item: OrphanItem
    worker: str
    ingest: IngestRecord
    event: EventDraft
    previous_event_id: str | None
    facts: Sequence[FactRow] | None
    edges: Sequence[EdgeRow] = ()


class OrphanLeases:
    """`OrphanQueue.claim_orphans`, `finish_orphan` and `expire_orphan`: a claim is a
    `Lease` (of one graph's items, or of the due ones), and the two ends of a leased orphan
    are one operation, `_end_orphan`."""

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
        graph = None if tenant is None or graph_hash is None else (tenant, graph_hash)
        lease = Lease.of(now, worker=worker, lease_seconds=lease_seconds, limit=limit)
        return self._claim_orphans(lease, graph)

    def _claim_orphans(self, lease: Lease, graph: tuple[TenantId, str] | None) -> list[OrphanItem]:
        """Lease the free items (no lease, or one that ran out before ``lease.now``): every
        item of ``graph``, or without one the items due by ``lease.now``; soonest due first."""
        raise NotImplementedError

    def finish_orphan(
        self,
        item: OrphanItem,
        *,
        worker: str,
        ingest: IngestRecord,
        facts: Sequence[FactRow],
        event: EventDraft,
        previous_event_id: str | None = None,
        edges: Sequence[EdgeRow] = (),
    ) -> TimelineEvent | None:
        return self._end_orphan(
            OrphanEnd(item, worker, ingest, event, previous_event_id, facts, edges)
        )

    def expire_orphan(
        self,
        item: OrphanItem,
        *,
        worker: str,
        ingest: IngestRecord,
        event: EventDraft,
        previous_event_id: str | None = None,
    ) -> TimelineEvent | None:
        return self._end_orphan(OrphanEnd(item, worker, ingest, event, previous_event_id, None))

    def _end_orphan(self, end: OrphanEnd) -> TimelineEvent | None:
        """All of ``end`` in one transaction. None, and nothing written, when the lease was
        lost; when the receipt changed since the worker read it, nothing is written and the
        item is unleased, due at once (to be retried from the newer receipt)."""
        raise NotImplementedError
