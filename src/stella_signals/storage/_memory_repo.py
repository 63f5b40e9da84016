"""In-memory stores: a real `Repository` (one per aggregate, as in ``_sql_*.py``) for unit
tests of the services and for one-shot tools.

Each store keeps what its SQL twin keeps and answers the same contract tests
(``tests/storage/repository_contract.py``): the timeline is a hash chain that only grows,
keys are unique, compare-and-swap writes check what they replace, every read is within one
tenant. One lock per repository makes every method a transaction: a method checks, builds
the next event, and only then changes anything, so a refusal leaves nothing half-written.
Records go in and out as copies (receipts through JSON, as the database keeps them).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from stella_signals.clock import FixedClock
from stella_signals.errors import Conflict
from stella_signals.ids import new_ulid
from stella_signals.ports import (
    EventDraft,
    FactRow,
    GraphRecord,
    ImportedEvidence,
    IngestRecord,
    KeyPurpose,
    NodeObservation,
    OrphanItem,
    ServiceKeyRecord,
    SymbolManifestRecord,
    TenantPolicy,
    TokenRecord,
    TrustedKey,
    orphan_first_attempt,
)
from stella_signals.tenancy import TenantId
from stella_signals.timeline import TimelineEvent

__all__ = [
    "MemoryDatabase",
    "MemoryGraphStore",
    "MemoryIngestStore",
    "MemoryRepository",
    "MemoryServiceKeyStore",
    "MemorySyncStore",
    "MemoryTimelineStore",
    "MemoryTokenStore",
    "MemoryTrustStore",
]

#: Statuses of an accepted ingest: one per (tenant, bytes, graph).
_ACCEPTED = ("ingested", "orphaned")


def _json_copy(value: Mapping[str, Any]) -> dict[str, Any]:
    copied: dict[str, Any] = json.loads(json.dumps(dict(value)))
    return copied


def _stored(ingest: IngestRecord) -> IngestRecord:
    receipt = None if ingest.receipt is None else _json_copy(ingest.receipt)
    return replace(ingest, receipt=receipt)


class MemoryDatabase:
    """The lock every in-memory store shares, and the timelines every write appends to."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._events: dict[TenantId, list[TimelineEvent]] = {}
        self._event_ids: set[str] = set()

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def migrate(self, revision: str = "head") -> None:
        """Nothing to migrate: the schema is the code."""

    def close(self) -> None:
        """Nothing to release."""

    def ping(self) -> None:
        """Always answers."""

    def _next(self, tenant: TenantId, draft: EventDraft) -> TimelineEvent:
        """The event ``draft`` becomes when appended now; nothing is changed yet."""
        if draft.event_id in self._event_ids:
            raise Conflict(f"timeline event {draft.event_id} already exists")
        chain = self._events.get(tenant)
        return draft.chained_after(chain[-1] if chain else None, tenant)

    def _keep(self, event: TimelineEvent) -> TimelineEvent:
        self._events.setdefault(event.tenant, []).append(event)
        self._event_ids.add(event.event_id)
        return event


class MemoryTimelineStore(MemoryDatabase):
    """`TimelineStore` in memory."""

    def append_event(self, tenant: TenantId, event: EventDraft) -> TimelineEvent:
        with self._lock:
            return self._keep(self._next(tenant, event))

    def append_event_once(
        self, tenant: TenantId, event: EventDraft, *, same: Mapping[str, Any]
    ) -> TimelineEvent | None:
        with self._lock:
            for old in self._events.get(tenant, ()):
                if old.event_type == event.event_type and all(
                    old.attributes.get(key) == value for key, value in same.items()
                ):
                    return None
            return self._keep(self._next(tenant, event))

    def list_events(
        self,
        tenant: TenantId,
        *,
        event_type: str | None,
        since: datetime | None,
        after_seq: int | None,
        limit: int,
    ) -> list[TimelineEvent]:
        with self._lock:
            chain = list(self._events.get(tenant, ()))
        return [
            event
            for event in chain
            if (event_type is None or event.event_type == event_type)
            and (since is None or event.occurred_at >= since)
            and (after_seq is None or event.seq > after_seq)
        ][:limit]

    def get_event(self, tenant: TenantId, event_id: str) -> TimelineEvent | None:
        with self._lock:
            return next((e for e in self._events.get(tenant, ()) if e.event_id == event_id), None)

    def iter_events(self, tenant: TenantId) -> Iterator[TimelineEvent]:
        with self._lock:
            chain = list(self._events.get(tenant, ()))
        yield from chain


class MemoryTokenStore(MemoryDatabase):
    """`TokenStore` in memory. Tokens are found by their hash through a dict, as the SQL
    store finds them through a unique index: a hash is never compared byte by byte."""

    def __init__(self) -> None:
        super().__init__()
        self._tokens: dict[str, TokenRecord] = {}
        self._token_ids: dict[str, str] = {}  # SHA-256 of the token -> its id

    def add_token(
        self,
        *,
        token_hash: str,
        tenants: frozenset[str],
        scopes: frozenset[str],
        at: datetime,
        expires_at: datetime | None = None,
    ) -> str:
        with self._lock:
            if token_hash in self._token_ids:
                raise Conflict("a token with this hash already exists")
            token_id = new_ulid(FixedClock(at))
            self._tokens[token_id] = TokenRecord(
                token_id=token_id,
                tenants=frozenset(tenants),
                scopes=frozenset(scopes),
                created_at=at,
                expires_at=None if expires_at is None else expires_at.astimezone(UTC),
            )
            self._token_ids[token_hash] = token_id
            return token_id

    def find_token(self, token_hash: str) -> TokenRecord | None:
        with self._lock:
            token_id = self._token_ids.get(token_hash)
            return None if token_id is None else self._tokens[token_id]

    def list_tokens(
        self, *, tenant: TenantId | None, after: str | None = None, limit: int | None = None
    ) -> list[TokenRecord]:
        with self._lock:
            records = sorted(
                (r for r in self._tokens.values() if r.managed_by(tenant)),
                key=lambda r: r.token_id,
            )
        if after is not None:
            records = [r for r in records if r.token_id > after]
        return records if limit is None else records[:limit]

    def get_token(self, token_id: str, *, tenant: TenantId | None) -> TokenRecord | None:
        with self._lock:
            found = self._tokens.get(token_id)
        return found if found is not None and found.managed_by(tenant) else None

    def revoke_token(
        self, token_id: str, *, tenant: TenantId | None, at: datetime
    ) -> TokenRecord | None:
        with self._lock:
            record = self.get_token(token_id, tenant=tenant)
            if record is not None and record.revoked_at is None:
                record = self._tokens[token_id] = replace(record, revoked_at=at)
            return record


class MemoryGraphStore(MemoryDatabase):
    """`GraphStore` in memory."""

    def __init__(self) -> None:
        super().__init__()
        self._graphs: dict[tuple[TenantId, str], GraphRecord] = {}
        self._manifests: dict[tuple[TenantId, str], SymbolManifestRecord] = {}

    def add_graph(self, record: GraphRecord, event: EventDraft) -> bool:
        return self._add_once(self._graphs, (record.tenant, record.graph_hash), record, event)

    def get_graph(self, tenant: TenantId, graph_hash: str) -> GraphRecord | None:
        with self._lock:
            return self._graphs.get((tenant, graph_hash))

    def tenants_with_graph(self, graph_hash: str) -> list[TenantId]:
        with self._lock:
            return sorted(tenant for tenant, digest in self._graphs if digest == graph_hash)

    def add_symbol_manifest(self, record: SymbolManifestRecord, event: EventDraft) -> bool:
        return self._add_once(self._manifests, (record.tenant, record.sha256), record, event)

    def _add_once(
        self, table: dict[tuple[TenantId, str], Any], key: tuple[TenantId, str], record: Any,
        event: EventDraft,
    ) -> bool:  # fmt: skip
        """Keep ``record`` and append ``event`` unless the tenant has it already."""
        with self._lock:
            if key in table:
                return False
            appended = self._next(key[0], event)
            table[key] = record
            self._keep(appended)
            return True


@dataclass
class _Queued:
    """A row of the orphan queue."""

    item: OrphanItem
    lease_until: datetime | None = None
    leased_by: str | None = None


class MemoryIngestStore(MemoryGraphStore):
    """`IngestStore` and `OrphanQueue` in memory (one aggregate: an orphan is an ingest
    waiting for its graph, which is why this store sees the graphs)."""

    def __init__(self) -> None:
        super().__init__()
        self._ingests: dict[str, IngestRecord] = {}
        self._facts: dict[str, tuple[FactRow, ...]] = {}
        self._queue: dict[str, _Queued] = {}

    # -- ingests -----------------------------------------------------------------------
    def _check_new(self, ingest: IngestRecord) -> None:
        if ingest.ingest_id in self._ingests:
            raise Conflict(f"ingest {ingest.ingest_id} already exists")
        if ingest.status in _ACCEPTED and self._accepted(
            ingest.tenant, ingest.content_sha256, ingest.graph_hash
        ):
            raise Conflict("an ingest of these bytes for this graph already exists")

    def _accepted(
        self, tenant: TenantId, content_sha256: str | None, graph_hash: str | None
    ) -> IngestRecord | None:
        return next(
            (
                r
                for r in self._ingests.values()
                if r.tenant == tenant
                and r.content_sha256 == content_sha256
                and r.graph_hash == graph_hash
                and r.status in _ACCEPTED
            ),
            None,
        )

    def commit_ingest(
        self, ingest: IngestRecord, facts_: Sequence[FactRow], event: EventDraft
    ) -> TimelineEvent:
        with self._lock:
            self._check_new(ingest)
            appended = self._next(ingest.tenant, event)
            self._ingests[ingest.ingest_id] = _stored(ingest)
            self._facts[ingest.ingest_id] = tuple(facts_)
            if ingest.status == "orphaned" and ingest.graph_hash is not None:
                known = (ingest.tenant, ingest.graph_hash) in self._graphs
                due = orphan_first_attempt(ingest.received_at, graph_known=known)
                self._queue[ingest.ingest_id] = _Queued(
                    OrphanItem(
                        ingest_id=ingest.ingest_id,
                        tenant=ingest.tenant,
                        graph_hash=ingest.graph_hash,
                        queued_at=ingest.received_at,
                        next_attempt_at=due,
                        attempts=0,
                    )
                )
            return self._keep(appended)

    def record_failure(self, ingest: IngestRecord, event: EventDraft) -> TimelineEvent:
        with self._lock:
            self._check_new(ingest)
            appended = self._next(ingest.tenant, event)
            self._ingests[ingest.ingest_id] = _stored(ingest)
            return self._keep(appended)

    def _replaceable(self, ingest: IngestRecord, previous_event_id: str | None) -> bool:
        """The compare of compare-and-swap: the ingest is there, for this tenant, and (with
        ``previous_event_id``) its receipt is still that one."""
        stored = self._ingests.get(ingest.ingest_id)
        return (
            stored is not None
            and stored.tenant == ingest.tenant
            and (previous_event_id is None or stored.timeline_event_id == previous_event_id)
        )

    def supersede_receipt(
        self, ingest: IngestRecord, event: EventDraft, *, previous_event_id: str
    ) -> TimelineEvent | None:
        with self._lock:
            if not self._replaceable(ingest, previous_event_id):
                return None
            appended = self._next(ingest.tenant, event)
            self._ingests[ingest.ingest_id] = _stored(ingest)
            return self._keep(appended)

    def find_duplicate(
        self, tenant: TenantId, content_sha256: str, graph_hash: str
    ) -> IngestRecord | None:
        with self._lock:
            return self._accepted(tenant, content_sha256, graph_hash)

    def get_ingest(self, tenant: TenantId, ingest_id: str) -> IngestRecord | None:
        with self._lock:
            found = self._ingests.get(ingest_id)
        return found if found is not None and found.tenant == tenant else None

    def list_ingests(
        self,
        tenant: TenantId,
        *,
        graph_hash: str | None,
        status: str | None,
        after: str | None,
        limit: int,
    ) -> list[IngestRecord]:
        with self._lock:
            records = sorted(self._ingests.values(), key=lambda r: r.ingest_id)
        return [
            r
            for r in records
            if r.tenant == tenant
            and (graph_hash is None or r.graph_hash == graph_hash)
            and (status is None or r.status == status)
            and (after is None or r.ingest_id > after)
        ][:limit]

    def list_facts(self, tenant: TenantId, ingest_id: str) -> list[FactRow]:
        with self._lock:
            if self.get_ingest(tenant, ingest_id) is None:
                return []
            return list(self._facts.get(ingest_id, ()))

    def _graph_facts(self, tenant: TenantId, graph_hash: str) -> Iterator[tuple[str, FactRow]]:
        """(ingest id, fact) of every mapped fact of the graph's accepted ingests."""
        with self._lock:
            chosen = [
                (r.ingest_id, self._facts.get(r.ingest_id, ()))
                for r in self._ingests.values()
                if r.tenant == tenant and r.graph_hash == graph_hash and r.status == "ingested"
            ]
        for ingest_id, rows in chosen:
            for fact in rows:
                if fact.node is not None:
                    yield ingest_id, fact

    def observed_nodes(self, tenant: TenantId, graph_hash: str) -> dict[str, NodeObservation]:
        seen: dict[str, NodeObservation] = {}
        for _, fact in self._graph_facts(tenant, graph_hash):
            node = fact.node
            assert node is not None  # noqa: S101 - _graph_facts yields mapped facts only
            old = seen.get(node)
            seen[node] = NodeObservation(
                node=node,
                hits=fact.hits + (old.hits if old else 0),
                first_seen=min(fact.first_seen, old.first_seen) if old else fact.first_seen,
                last_seen=max(fact.last_seen, old.last_seen) if old else fact.last_seen,
            )
        return seen

    def node_details(
        self, tenant: TenantId, graph_hash: str, nodes: Sequence[str]
    ) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
        if not nodes:
            return {}
        wanted = set(nodes)
        containers: dict[str, set[str]] = {}
        ingest_ids: dict[str, set[str]] = {}
        for ingest_id, fact in self._graph_facts(tenant, graph_hash):
            if fact.node not in wanted:
                continue
            if fact.container is not None:
                containers.setdefault(fact.node, set()).add(fact.container)
            ingest_ids.setdefault(fact.node, set()).add(ingest_id)
        return {
            node: (tuple(sorted(containers.get(node, ()))), tuple(sorted(ingest_ids.get(node, ()))))
            for node in nodes
        }

    # -- orphan queue ------------------------------------------------------------------
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
        with self._lock:
            free = [
                row
                for row in self._queue.values()
                if (row.lease_until is None or row.lease_until < now)
                and (
                    (row.item.tenant == tenant and row.item.graph_hash == graph_hash)
                    if graph_hash is not None and tenant is not None
                    else row.item.next_attempt_at <= now
                )
            ]
            free.sort(key=lambda row: row.item.next_attempt_at)
            claimed = free[:limit]
            for row in claimed:
                row.lease_until = now + timedelta(seconds=lease_seconds)
                row.leased_by = worker
            return [row.item for row in claimed]

    def _held(self, item: OrphanItem, worker: str) -> _Queued | None:
        row = self._queue.get(item.ingest_id)
        return row if row is not None and row.leased_by == worker else None

    def _finish_leased(
        self,
        item: OrphanItem,
        worker: str,
        ingest: IngestRecord,
        previous_event_id: str | None,
        event: EventDraft,
        facts_: Sequence[FactRow] | None,
    ) -> TimelineEvent | None:
        with self._lock:
            row = self._held(item, worker)
            if row is None:
                return None
            if not self._replaceable(ingest, previous_event_id):
                row.lease_until = row.leased_by = None  # due at once, from the newer receipt
                return None
            if facts_ and self._facts.get(ingest.ingest_id):
                raise Conflict(f"facts of ingest {ingest.ingest_id} are already recorded")
            appended = self._next(ingest.tenant, event)
            del self._queue[item.ingest_id]
            self._ingests[ingest.ingest_id] = _stored(ingest)
            if facts_:
                self._facts[ingest.ingest_id] = tuple(facts_)
            return self._keep(appended)

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
        return self._finish_leased(item, worker, ingest, previous_event_id, event, facts)

    def expire_orphan(
        self,
        item: OrphanItem,
        *,
        worker: str,
        ingest: IngestRecord,
        event: EventDraft,
        previous_event_id: str | None = None,
    ) -> TimelineEvent | None:
        return self._finish_leased(item, worker, ingest, previous_event_id, event, None)

    def reschedule_orphan(
        self, item: OrphanItem, *, worker: str, next_attempt_at: datetime
    ) -> bool:
        with self._lock:
            row = self._held(item, worker)
            if row is None:
                return False
            row.item = replace(
                row.item, next_attempt_at=next_attempt_at, attempts=item.attempts + 1
            )
            row.lease_until = row.leased_by = None
            return True

    def orphan_queue_depth(self) -> int:
        with self._lock:
            return len(self._queue)


class MemoryTrustStore(MemoryDatabase):
    """`TrustStore` in memory: trusted keys, policies, time anchors."""

    def __init__(self) -> None:
        super().__init__()
        self._keys: dict[tuple[TenantId, KeyPurpose, str], TrustedKey] = {}
        self._policies: dict[TenantId, TenantPolicy] = {}
        self._anchors: dict[TenantId, list[tuple[int, bytes]]] = {}

    def add_trusted_key(self, key: TrustedKey) -> bool:
        with self._lock:
            index = (key.tenant, key.purpose, key.keyid)
            old = self._keys.get(index)
            if old is not None and old.revoked_at is None:
                return False
            self._keys[index] = replace(key, revoked_at=None)
            return True

    def list_trusted_keys(
        self, tenant: TenantId, purpose: KeyPurpose, *, include_revoked: bool = False
    ) -> list[TrustedKey]:
        with self._lock:
            keys = [
                k
                for (t, p, _), k in self._keys.items()
                if t == tenant and p == purpose and (include_revoked or k.revoked_at is None)
            ]
        return sorted(keys, key=lambda k: k.keyid)

    def revoke_trusted_key(
        self, tenant: TenantId, purpose: KeyPurpose, keyid: str, at: datetime
    ) -> bool:
        with self._lock:
            key = self._keys.get((tenant, purpose, keyid))
            if key is None or key.revoked_at is not None:
                return False
            self._keys[(tenant, purpose, keyid)] = replace(key, revoked_at=at)
            return True

    def get_policy(self, tenant: TenantId) -> TenantPolicy:
        with self._lock:
            return self._policies.get(tenant, TenantPolicy())

    def set_policy(self, tenant: TenantId, policy: TenantPolicy, at: datetime) -> None:
        self.update_policy(tenant, lambda _current: policy, at)

    def update_policy(
        self, tenant: TenantId, change: Callable[[TenantPolicy], TenantPolicy], at: datetime
    ) -> TenantPolicy:
        with self._lock:
            policy = change(self.get_policy(tenant))
            self._policies[tenant] = policy
            return policy

    def add_time_anchor(
        self,
        tenant: TenantId,
        *,
        counter: int,
        anchor_time: datetime,
        envelope: bytes,
        at: datetime,
    ) -> bool:
        with self._lock:
            anchors = self._anchors.setdefault(tenant, [])
            if anchors and counter <= anchors[-1][0]:
                return False
            anchors.append((counter, bytes(envelope)))
            return True

    def latest_time_anchor(self, tenant: TenantId) -> tuple[int, bytes] | None:
        with self._lock:
            anchors = self._anchors.get(tenant)
            return anchors[-1] if anchors else None


@dataclass
class _ServiceKey:
    record: ServiceKeyRecord
    private_pem: bytes | None


class MemoryServiceKeyStore(MemoryDatabase):
    """`ServiceKeyStore` in memory."""

    def __init__(self) -> None:
        super().__init__()
        self._service_keys: dict[str, _ServiceKey] = {}

    def _retire_all(self, at: datetime, *, but: str | None = None) -> None:
        for keyid, key in self._service_keys.items():
            if key.record.retired_at is None and keyid != but:
                key.record = replace(key.record, retired_at=at)

    def current_service_key(
        self, generate: Callable[[], tuple[str, bytes, bytes]], at: datetime
    ) -> bytes:
        with self._lock:
            current = [
                k
                for k in self._service_keys.values()
                if k.private_pem is not None and k.record.retired_at is None
            ]
            if current:
                chosen = min(current, key=lambda k: k.record.created_at)
                assert chosen.private_pem is not None  # noqa: S101 - filtered above
                return chosen.private_pem
            keyid, public_pem, private_pem = generate()
            if keyid in self._service_keys:
                raise Conflict(f"service key {keyid} already exists")
            self._retire_all(at)
            self._service_keys[keyid] = _ServiceKey(
                ServiceKeyRecord(keyid=keyid, public_pem=public_pem, created_at=at), private_pem
            )
            return private_pem

    def register_service_key(self, keyid: str, public_pem: bytes, at: datetime) -> None:
        with self._lock:
            known = self._service_keys.get(keyid)
            if known is not None and known.record.retired_at is None:
                return
            self._retire_all(at, but=keyid)
            if known is None:
                self._service_keys[keyid] = _ServiceKey(
                    ServiceKeyRecord(keyid=keyid, public_pem=public_pem, created_at=at), None
                )
            else:  # a retired key brought back
                known.record = replace(known.record, retired_at=None)

    def list_service_keys(self) -> list[ServiceKeyRecord]:
        with self._lock:
            records = [k.record for k in self._service_keys.values()]
        return sorted(records, key=lambda r: (r.created_at, r.keyid))


class MemorySyncStore(MemoryDatabase):
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
        with self._lock:
            if (tenant, ingest_id) in self._evidence:
                return False
            self._evidence[(tenant, ingest_id)] = ImportedEvidence(
                ingest_id=ingest_id,
                receipt=_json_copy(receipt),
                receipt_dsse=bytes(receipt_dsse),
                bundle_sha256=bundle_sha256,
                imported_at=at,
            )
            return True

    def get_imported_evidence(self, tenant: TenantId, ingest_id: str) -> ImportedEvidence | None:
        with self._lock:
            found = self._evidence.get((tenant, ingest_id))
        return None if found is None else replace(found, receipt=_json_copy(found.receipt))


class MemoryRepository(
    MemoryTokenStore,
    MemoryIngestStore,
    MemoryTimelineStore,
    MemoryTrustStore,
    MemoryServiceKeyStore,
    MemorySyncStore,
):
    """Every in-memory store over one lock and one set of timelines: a `Repository`."""
