"""Ports: the protocols services depend on. Adapters in ``storage/`` implement them.

Every method takes the tenant explicitly; implementations must keep tenants apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple, Protocol

from stella_signals.auth import TokenStatus, token_status
from stella_signals.cas import CasUri, Namespace
from stella_signals.clock import format_utc
from stella_signals.tenancy import TenantId
from stella_signals.timeline import EventType, TimelineEvent, next_event

__all__ = [
    "ORPHAN_FIRST_DELAY",
    "BlobStore",
    "CatalogRecord",
    "EdgeObservation",
    "EdgeRow",
    "EvaluationRecord",
    "EventDraft",
    "FactRow",
    "GraphRecord",
    "GraphStore",
    "ImportedEvidence",
    "IndexCache",
    "IngestRecord",
    "IngestStore",
    "KeyPurpose",
    "NodeObservation",
    "OrphanItem",
    "OrphanQueue",
    "Registration",
    "Repository",
    "ServiceKeyRecord",
    "ServiceKeyStore",
    "StagedBlob",
    "StoredBlob",
    "StoredUnknown",
    "StoredVerdict",
    "SymbolManifestRecord",
    "SyncStore",
    "TenantPolicy",
    "TimelineStore",
    "TokenRecord",
    "TokenStore",
    "TrustStore",
    "TrustedKey",
    "VerdictChange",
    "VerdictRow",
    "VerdictStore",
    "VexRecord",
    "orphan_first_attempt",
    "verdict_id",
]


@dataclass(frozen=True, slots=True)
class StoredBlob:
    """A blob as the store holds it: its address, size and SHA-256 of its bytes."""

    uri: CasUri
    size: int
    sha256: str
    #: False when an identical blob was already there (dedup), True when this put wrote it.
    created: bool


class StagedBlob(Protocol):
    """Bytes written and hashed, not yet visible. Publish or discard, exactly once.

    Use as a context manager: leaving the block without `publish` discards the bytes.
    """

    @property
    def uri(self) -> CasUri: ...

    @property
    def size(self) -> int: ...

    @property
    def sha256(self) -> str: ...

    def read(self) -> Iterator[bytes]:
        """Stream the staged bytes back (e.g. to parse them after hashing)."""
        ...

    def publish(self) -> StoredBlob:
        """Make the blob visible under its digest; a no-op copy if it already exists."""
        ...

    def discard(self) -> None: ...

    def __enter__(self) -> StagedBlob: ...

    def __exit__(self, *exc_info: object) -> None: ...


class BlobStore(Protocol):
    """A tenant-scoped, content-addressed, write-once blob store."""

    def stage(
        self,
        tenant: TenantId,
        namespace: Namespace,
        chunks: Iterable[bytes],
        *,
        max_bytes: int | None = None,
        expected_hex: str | None = None,
    ) -> StagedBlob:
        """Write ``chunks`` to a private staging area while hashing and counting.

        Raises `LimitExceeded` (limit ``max_compressed_bytes``) past ``max_bytes`` without
        keeping anything, and `HashMismatch` when ``expected_hex`` is given and differs.
        """
        ...

    def put(
        self,
        tenant: TenantId,
        namespace: Namespace,
        chunks: Iterable[bytes],
        *,
        max_bytes: int | None = None,
        expected_hex: str | None = None,
    ) -> StoredBlob:
        """`stage` then `publish`."""
        ...

    def exists(self, tenant: TenantId, uri: CasUri) -> bool: ...

    def iter_uris(self, tenant: TenantId, namespace: Namespace) -> Iterator[CasUri]:
        """Every published blob of ``tenant`` in ``namespace``, in digest order (inventory,
        backup checks); staged blobs are never listed."""
        ...

    def size(self, tenant: TenantId, uri: CasUri) -> int:
        """Size in bytes; `NotFound` when absent for this tenant."""
        ...

    def open(self, tenant: TenantId, uri: CasUri) -> Iterator[bytes]:
        """Stream the blob, verifying its digest; `HashMismatch` at the end if it was altered,
        `NotFound` when absent for this tenant."""
        ...


class IndexCache(Protocol):
    """Derived data kept per tenant and graph (graph indexes), rebuildable from the CAS: a
    miss or a lost entry costs a rebuild, never a wrong answer. ``graph_hex`` is the graph
    hash's 64 lower-case hex digits; anything else is ``ValueError``."""

    def get(self, tenant: TenantId, graph_hex: str) -> bytes | None:
        """The bytes kept for the graph, or None."""
        ...

    def put(self, tenant: TenantId, graph_hex: str, data: bytes) -> None:
        """Keep ``data`` for the graph, replacing an older entry whole: a reader sees the old
        bytes or the new ones, never a mix."""
        ...


# -- metadata: tokens, graphs, ingests, facts, timeline -------------------------------------


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """A bearer token as stored: only its SHA-256 is kept, never the token. ``token_id`` is
    its public id (a ULID, not derived from the secret)."""

    token_id: str
    tenants: frozenset[str]
    scopes: frozenset[str]
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def managed_by(self, tenant: TenantId | None) -> bool:
        """Whether ``tenant``'s admin manages this token: only when it allows that tenant
        alone (a token that spans tenants is the operator's: another tenant's admin must not
        cut it off). None: the operator, who manages every token."""
        return tenant is None or self.tenants == frozenset({tenant})

    def status(self, now: datetime) -> TokenStatus:
        return token_status(revoked_at=self.revoked_at, expires_at=self.expires_at, now=now)

    def public_view(self, now: datetime) -> dict[str, Any]:
        """What the API and ``signals tokens list`` show of a token: never its secret, nor
        its hash (anyone holding the hash could test guesses offline)."""

        def when(moment: datetime | None) -> str | None:
            return None if moment is None else format_utc(moment)

        return {
            "token_id": self.token_id,
            "tenants": sorted(self.tenants),
            "scopes": sorted(self.scopes),
            "created_at": format_utc(self.created_at),
            "expires_at": when(self.expires_at),
            "revoked_at": when(self.revoked_at),
            "status": self.status(now).value,
        }


@dataclass(frozen=True, slots=True)
class GraphRecord:
    tenant: TenantId
    graph_hash: str
    cas_uri: str
    size: int
    nodes: int
    edges: int
    created_at: datetime
    #: ``sha256:<hex>`` of the graph's DSSE envelope, when one was verified at import.
    dsse_digest: str | None = None


@dataclass(frozen=True, slots=True)
class SymbolManifestRecord:
    """A SYMBOL_MANIFEST/v1 stored for a tenant (SPEC §4)."""

    tenant: TenantId
    sha256: str
    cas_uri: str
    entries: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class IngestRecord:
    """One runtime ingest (also failed ones: they keep their id, reason and detail)."""

    ingest_id: str
    tenant: TenantId
    status: str  # ingested | orphaned | expired | failed
    received_at: datetime
    content_sha256: str | None = None
    graph_hash: str | None = None
    size: int | None = None
    reason: str | None = None
    detail: str | None = None
    #: The receipt (SPEC §8) as a JSON object, and its DSSE envelope (JSON bytes).
    receipt: Mapping[str, Any] | None = None
    receipt_dsse: bytes | None = None
    timeline_event_id: str | None = None


class FactRow(NamedTuple):
    """Aggregated runtime fact of one ingest; ``node`` is the graph node id it mapped to.

    A tuple: an ingest writes one per distinct (symbol, purl, container), often 10^5 of them.
    """

    symbol_id: str
    purl: str
    container: str | None
    hits: int
    first_seen: datetime
    last_seen: datetime
    node: str | None


class EdgeRow(NamedTuple):
    """A caller → callee pair one ingest observed (records carrying ``caller_symbol_id``: a
    probe in discovery mode), with its summed count (``hits``). ``caller_node`` and
    ``callee_node`` are the graph node ids the ends map to (SPEC §9 resolution; None: no
    node), ``in_graph`` whether a graph edge joins them. At most ``Limits.max_edges`` per
    ingest (the parser refuses more)."""

    caller_symbol_id: str
    symbol_id: str
    hits: int
    caller_node: str | None
    callee_node: str | None
    in_graph: bool


class KeyPurpose(StrEnum):
    """What a tenant trusts a key for."""

    ATTEST = "attest"  # DSSE over runtime traces and graphs
    TIME = "time"  # signed time anchors (air-gap)
    #: Service keys of offline sites: their signed event batches and receipts may be
    #: imported on sync (formerly ``receipt``; migration 0010 renames stored rows).
    SYNC = "sync"


@dataclass(frozen=True, slots=True)
class ImportedEvidence:
    """An offline site's Evidence Locker record, imported on sync: its signed receipt; the
    trace and DSSE it names are in the tenant's CAS."""

    ingest_id: str
    receipt: Mapping[str, Any]
    receipt_dsse: bytes
    bundle_sha256: str
    imported_at: datetime


@dataclass(frozen=True, slots=True)
class TrustedKey:
    tenant: TenantId
    purpose: KeyPurpose
    keyid: str
    public_pem: bytes
    added_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ServiceKeyRecord:
    """A receipt key of the service: current (``retired_at`` None) or retired."""

    keyid: str
    public_pem: bytes
    created_at: datetime
    retired_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class TenantPolicy:
    """Per-tenant ingest policy: must every trace come with a DSSE, and how many distinct
    trusted keys must sign it."""

    require_dsse: bool = False
    dsse_threshold: int = 1


#: First retry of an orphan trace (SPEC §12: 1 min doubling to 1 h).
ORPHAN_FIRST_DELAY = timedelta(minutes=1)


def orphan_first_attempt(received_at: datetime, *, graph_known: bool) -> datetime:
    """When a newly queued orphan is first due. Its store calls this in the transaction
    that queues it, having looked under the tenant's lock whether the graph has arrived: a
    graph that committed while the trace was parsed has already run its release pass, which
    could not see this orphan, so the orphan is due at once; otherwise the graph's release
    pass frees it, and without one it waits the first delay."""
    return received_at if graph_known else received_at + ORPHAN_FIRST_DELAY


@dataclass(frozen=True, slots=True)
class OrphanItem:
    """A queued orphan trace, leased to one worker until ``lease_until``."""

    ingest_id: str
    tenant: TenantId
    graph_hash: str
    queued_at: datetime
    next_attempt_at: datetime
    attempts: int

    @classmethod
    def queued(cls, ingest: IngestRecord, *, graph_known: bool) -> OrphanItem:
        """The queue entry of ``ingest``, recorded as an orphan of its graph: never tried,
        first due as `orphan_first_attempt` says; every store queues an orphan this way."""
        if ingest.graph_hash is None:
            raise ValueError(f"orphan {ingest.ingest_id} names no graph")
        return cls(
            ingest_id=ingest.ingest_id,
            tenant=ingest.tenant,
            graph_hash=ingest.graph_hash,
            queued_at=ingest.received_at,
            next_attempt_at=orphan_first_attempt(ingest.received_at, graph_known=graph_known),
            attempts=0,
        )


@dataclass(frozen=True, slots=True)
class NodeObservation:
    """What ran of one graph node, over every ingest of the graph."""

    node: str
    hits: int
    first_seen: datetime
    last_seen: datetime
    containers: tuple[str, ...] = ()
    ingest_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class EdgeObservation:
    """A caller → callee pair seen at run time over every accepted ingest of a graph: the
    trace's own symbol ids, the nodes they map to, whether the graph has that edge, the summed
    count and the ingests that saw it (sorted)."""

    caller_symbol_id: str
    symbol_id: str
    caller_node: str | None
    callee_node: str | None
    in_graph: bool
    count: int
    ingest_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class EventDraft:
    """A timeline event before the repository chains it (seq, prev_hash, hash)."""

    event_id: str
    event_type: str
    occurred_at: datetime
    source: str
    correlation_id: str | None
    attributes: Mapping[str, Any]

    def chained_after(self, previous: TimelineEvent | None, tenant: TenantId) -> TimelineEvent:
        """The event this draft becomes as the next of ``tenant``'s chain after ``previous``
        (None: the first); every store appends what this returns."""
        return next_event(
            previous=previous,
            tenant=tenant,
            event_type=EventType(self.event_type),
            occurred_at=self.occurred_at,
            source=self.source,
            correlation_id=self.correlation_id,
            attributes=self.attributes,
            event_id=self.event_id,
        )


class TokenStore(Protocol):
    """Bearer tokens: only their hashes are kept, never a token."""

    def add_token(
        self,
        *,
        token_hash: str,
        tenants: frozenset[str],
        scopes: frozenset[str],
        at: datetime,
        expires_at: datetime | None = None,
    ) -> str:
        """Store a token's hash; its new public id."""
        ...

    def find_token(self, token_hash: str) -> TokenRecord | None:
        """The token with this SHA-256, read from the store on every call (no cache: a
        revocation by any process is seen by the next request everywhere)."""
        ...

    def list_tokens(
        self, *, tenant: TenantId | None, after: str | None = None, limit: int | None = None
    ) -> list[TokenRecord]:
        """Tokens by id. ``tenant``: only the tokens that allow that tenant alone (what a
        tenant's admin manages); None: every token (operators' local tools only)."""
        ...

    def get_token(self, token_id: str, *, tenant: TenantId | None) -> TokenRecord | None:
        """The token ``token_id``, within ``tenant``'s tokens as `list_tokens` scopes them."""
        ...

    def revoke_token(
        self, token_id: str, *, tenant: TenantId | None, at: datetime
    ) -> TokenRecord | None:
        """Revoke the token (``revoked_at`` = ``at``; a revoked token keeps its first
        ``revoked_at``); the record as it now stands, None when there is no such token within
        ``tenant``'s tokens."""
        ...


class GraphStore(Protocol):
    """Call graphs and symbol manifests of each tenant; a new one is announced on the
    timeline in the same transaction."""

    def add_graph(self, record: GraphRecord, event: EventDraft) -> bool:
        """Record a graph; False (and no event) when the tenant already has it."""
        ...

    def get_graph(self, tenant: TenantId, graph_hash: str) -> GraphRecord | None: ...

    def tenants_with_graph(self, graph_hash: str) -> list[TenantId]:
        """Every tenant that has ``graph_hash``, sorted. Across tenants: only for operators'
        local tools (`stella graph verify` without ``--tenant``), never over HTTP."""
        ...

    def add_symbol_manifest(self, record: SymbolManifestRecord, event: EventDraft) -> bool:
        """Record a symbol manifest; False (and no event) when the tenant already has it."""
        ...


class IngestStore(Protocol):
    """Runtime ingests with their facts, receipts and what ran of each graph. An accepted
    ingest, its facts and its event are written together or not at all."""

    def commit_ingest(
        self,
        ingest: IngestRecord,
        facts: Sequence[FactRow],
        event: EventDraft,
        edges: Sequence[EdgeRow] = (),
    ) -> TimelineEvent:
        """Record an accepted ingest with its facts and observed edges; `Conflict` when the
        same tenant already has an accepted ingest of the same bytes for the same graph."""
        ...

    def record_failure(self, ingest: IngestRecord, event: EventDraft) -> TimelineEvent: ...

    def supersede_receipt(
        self, ingest: IngestRecord, event: EventDraft, *, previous_event_id: str
    ) -> TimelineEvent | None:
        """Replace an accepted ingest's receipt by a newer signed version (``ingest`` carries
        it) and append ``event``; None, and nothing written, when the stored receipt is no
        longer the one whose ``timeline_event_id`` is ``previous_event_id`` (someone else
        superseded it first: read it again)."""
        ...

    def find_duplicate(
        self, tenant: TenantId, content_sha256: str, graph_hash: str
    ) -> IngestRecord | None: ...

    def get_ingest(self, tenant: TenantId, ingest_id: str) -> IngestRecord | None: ...

    def list_ingests(
        self,
        tenant: TenantId,
        *,
        graph_hash: str | None,
        status: str | None,
        after: str | None,
        limit: int,
    ) -> list[IngestRecord]: ...

    def list_facts(self, tenant: TenantId, ingest_id: str) -> list[FactRow]: ...

    def list_edges(self, tenant: TenantId, ingest_id: str) -> list[EdgeRow]:
        """The caller → callee pairs one ingest observed, in the order they were given."""
        ...

    def observed_edges(
        self,
        tenant: TenantId,
        graph_hash: str,
        *,
        in_graph: bool | None = None,
        after: tuple[str, str] | None = None,
        limit: int | None = None,
    ) -> list[EdgeObservation]:
        """Caller → callee pairs seen over every ingest of the graph with status
        ``ingested``, summed per (``caller_symbol_id``, ``symbol_id``) and sorted by it;
        ``in_graph`` False: only the pairs no graph edge joins (SPEC §9 unexpected edges);
        ``after``: only pairs sorted after that one; ``limit``: at most that many."""
        ...

    def observed_nodes(self, tenant: TenantId, graph_hash: str) -> dict[str, NodeObservation]:
        """Per observed node of the graph: hits, first and last seen (no details)."""
        ...

    def node_details(
        self, tenant: TenantId, graph_hash: str, nodes: Sequence[str]
    ) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
        """node → (containers, ingest ids), for a page of nodes."""
        ...


class OrphanQueue(Protocol):
    """Orphan traces waiting for their graph (SPEC §12); every method is safe with several
    workers at once (a lease per item)."""

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
        """Lease due items (or every item of one graph) no live lease holds."""
        ...

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
        """Turn a leased orphan into an ingest (with its facts and observed edges); None
        (nothing written) if the lease was lost, or if ``previous_event_id`` is given and the
        stored receipt is no longer that one (then the item is released at once, to be
        retried from the newer receipt)."""
        ...

    def expire_orphan(
        self,
        item: OrphanItem,
        *,
        worker: str,
        ingest: IngestRecord,
        event: EventDraft,
        previous_event_id: str | None = None,
    ) -> TimelineEvent | None:
        """Expire a leased orphan; None as for `finish_orphan`."""
        ...

    def reschedule_orphan(
        self, item: OrphanItem, *, worker: str, next_attempt_at: datetime
    ) -> bool: ...

    def orphan_queue_depth(self) -> int: ...


class TimelineStore(Protocol):
    """Each tenant's hash-chained, append-only timeline (SPEC §7): the store allocates
    seq and links every event to the one before; the chain never forks."""

    def append_event(self, tenant: TenantId, event: EventDraft) -> TimelineEvent: ...

    def append_event_once(
        self, tenant: TenantId, event: EventDraft, *, same: Mapping[str, Any]
    ) -> TimelineEvent | None:
        """Append ``event`` unless the tenant's timeline already holds an event of its type
        whose attributes carry every item of ``same``; checked and appended in one
        transaction, so concurrent processes write it once. None when it was there."""
        ...

    def list_events(
        self,
        tenant: TenantId,
        *,
        event_type: str | None,
        since: datetime | None,
        after_seq: int | None,
        limit: int,
    ) -> list[TimelineEvent]: ...

    def get_event(self, tenant: TenantId, event_id: str) -> TimelineEvent | None: ...

    def iter_events(self, tenant: TenantId) -> Iterator[TimelineEvent]: ...


class TrustStore(Protocol):
    """What a tenant trusts: keys per purpose, its ingest policy and its time anchors."""

    def add_trusted_key(self, key: TrustedKey) -> bool:
        """Trust a key (again, if it was revoked); False when already trusted."""
        ...

    def list_trusted_keys(
        self, tenant: TenantId, purpose: KeyPurpose, *, include_revoked: bool = False
    ) -> list[TrustedKey]: ...

    def revoke_trusted_key(
        self, tenant: TenantId, purpose: KeyPurpose, keyid: str, at: datetime
    ) -> bool: ...

    def get_policy(self, tenant: TenantId) -> TenantPolicy: ...

    def set_policy(self, tenant: TenantId, policy: TenantPolicy, at: datetime) -> None: ...

    def update_policy(
        self, tenant: TenantId, change: Callable[[TenantPolicy], TenantPolicy], at: datetime
    ) -> TenantPolicy:
        """Apply ``change`` to the tenant's policy as it stands, in one transaction: two
        concurrent updates of different fields both hold. Returns the policy now in force."""
        ...

    def add_time_anchor(
        self,
        tenant: TenantId,
        *,
        counter: int,
        anchor_time: datetime,
        envelope: bytes,
        at: datetime,
    ) -> bool:
        """Keep an anchor verified by the caller; False when its counter is not above the
        highest kept (a replay)."""
        ...

    def latest_time_anchor(self, tenant: TenantId) -> tuple[int, bytes] | None:
        """(counter, envelope) of the tenant's newest anchor."""
        ...


class ServiceKeyStore(Protocol):
    """The service's own receipt keys, shared by every server of a deployment."""

    def current_service_key(
        self, generate: Callable[[], tuple[str, bytes, bytes]], at: datetime
    ) -> bytes:
        """The private PEM kept in the database; the first caller stores ``generate()``'s
        (keyid, public PEM, private PEM) — exactly one key wins however many race."""
        ...

    def register_service_key(self, keyid: str, public_pem: bytes, at: datetime) -> None:
        """Record a key from a file as current (its private half stays in the file) and
        retire every other key."""
        ...

    def list_service_keys(self) -> list[ServiceKeyRecord]: ...


class SyncStore(Protocol):
    """What offline sites sent (sync): their events and evidence records, each kept once."""

    def import_event(
        self, tenant: TenantId, origin_event_id: str, event: EventDraft, at: datetime
    ) -> TimelineEvent | None:
        """Append an offline site's event once; None when that origin was imported before."""
        ...

    def imported_event_id(self, tenant: TenantId, origin_event_id: str) -> str | None:
        """The id under which an offline site's event was imported, or None."""
        ...

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
        """Keep an offline ingest's evidence record once; False when already imported."""
        ...

    def get_imported_evidence(
        self, tenant: TenantId, ingest_id: str
    ) -> ImportedEvidence | None: ...


# -- reachability verdicts (SPEC §15) ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CatalogRecord:
    """A vulnerability catalog a tenant posted, kept in its CAS (``reachability/catalogs``)
    under the SHA-256 of its canonical bytes (``digest`` is ``sha256:<hex>``)."""

    tenant: TenantId
    digest: str
    cas_uri: str
    entries: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class EvaluationRecord:
    """One evaluation of a catalog against a graph: the window it read and what it found."""

    evaluation_id: str
    tenant: TenantId
    graph_hash: str
    catalog_digest: str
    #: The window asked for (``since``; None: every ingest of the graph) and read.
    since: datetime | None
    window_start: datetime | None
    window_end: datetime | None
    computed_at: datetime
    verdicts: int
    unknowns: int
    #: ``sha256:`` of every receipt read, and of every probe manifest of those ingests.
    evidence_digests: tuple[str, ...] = ()
    manifest_digests: tuple[str, ...] = ()
    #: The ingests read, by id (their receipts and manifests re-derive the verdicts).
    ingest_ids: tuple[str, ...] = ()
    #: Verdicts whose state changed from a previous one (set by the store).
    changed: int = 0
    #: Hex SHA-256 of the evaluation's JSON as computed, kept in the CAS
    #: (``reachability/evaluations``).
    document_sha256: str | None = None


@dataclass(frozen=True, slots=True)
class VerdictRow:
    """A verdict as an evaluation hands it to the store: its key, state and JSON body."""

    vuln_id: str
    package: str
    symbol: str
    state: str
    body: Mapping[str, Any]

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.vuln_id, self.package, self.symbol)


def verdict_id(evaluation_id: str, position: int) -> str:
    """The id of a target's current verdict: the evaluation that first judged it and its
    place there (``<ULID>.<9 digits>``: ordered as strings, time-ordered like the ULID)."""
    return f"{evaluation_id}.{position:09d}"


@dataclass(frozen=True, slots=True)
class StoredVerdict:
    """The current verdict of one target of a (graph, catalog): ``verdict_id`` is its stable
    id (time-ordered: the order of `list_verdicts`), ``changed_at`` when its state last
    changed, ``evaluation_id`` the evaluation that last wrote it."""

    verdict_id: str
    tenant: TenantId
    graph_hash: str
    catalog_digest: str
    vuln_id: str
    package: str
    symbol: str
    state: str
    evaluation_id: str
    changed_at: datetime
    body: Mapping[str, Any]

    @classmethod
    def after(
        cls,
        evaluation: EvaluationRecord,
        verdict: VerdictRow,
        position: int,
        before: StoredVerdict | None,
    ) -> StoredVerdict:
        """The current verdict of a target once ``verdict`` (at ``position`` of
        ``evaluation``) is recorded over ``before``, the stored one: the id stays the one the
        first evaluation of the target gave it, ``changed_at`` moves only with the state. (The
        SQL store applies the same rule to every row of an evaluation in two statements.)"""
        if before is None:
            ident, changed_at = (
                verdict_id(evaluation.evaluation_id, position),
                evaluation.computed_at,
            )
        else:
            ident = before.verdict_id
            same = before.state == verdict.state
            changed_at = before.changed_at if same else evaluation.computed_at
        return cls(
            verdict_id=ident,
            tenant=evaluation.tenant,
            graph_hash=evaluation.graph_hash,
            catalog_digest=evaluation.catalog_digest,
            vuln_id=verdict.vuln_id,
            package=verdict.package,
            symbol=verdict.symbol,
            state=verdict.state,
            evaluation_id=evaluation.evaluation_id,
            changed_at=changed_at,
            body=verdict.body,
        )


@dataclass(frozen=True, slots=True)
class VerdictChange:
    """One entry of a verdict's history: its state went ``from_state`` → ``to_state`` at
    ``at`` in evaluation ``evaluation_id`` (``from_state`` None: its first state). ``position``
    is the verdict's place in that evaluation: (evaluation_id, position) orders the history."""

    tenant: TenantId
    graph_hash: str
    catalog_digest: str
    vuln_id: str
    package: str
    symbol: str
    from_state: str | None
    to_state: str
    at: datetime
    evaluation_id: str
    position: int
    event_id: str | None = None

    @classmethod
    def of(
        cls,
        evaluation: EvaluationRecord,
        verdict: VerdictRow,
        from_state: str | None,
        position: int,
    ) -> VerdictChange:
        """The change ``verdict`` (at ``position`` of ``evaluation``) makes to a target whose
        stored state is ``from_state``: every store records its history entries this way."""
        return cls(
            tenant=evaluation.tenant,
            graph_hash=evaluation.graph_hash,
            catalog_digest=evaluation.catalog_digest,
            vuln_id=verdict.vuln_id,
            package=verdict.package,
            symbol=verdict.symbol,
            from_state=from_state,
            to_state=verdict.state,
            at=evaluation.computed_at,
            evaluation_id=evaluation.evaluation_id,
            position=position,
        )


@dataclass(frozen=True, slots=True)
class StoredUnknown:
    """An unknown of the latest evaluation of a (graph, catalog); ``body`` is its JSON."""

    tenant: TenantId
    graph_hash: str
    catalog_digest: str
    evaluation_id: str
    position: int
    kind: str
    body: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class VexRecord:
    """A signed VEX document: the document and its DSSE envelope are in the tenant's CAS."""

    vex_id: str
    tenant: TenantId
    format: str  # openvex | cyclonedx
    sha256: str  # hex of the document's bytes
    cas_uri: str
    dsse_uri: str
    graph_hash: str
    catalog_digest: str
    evaluation_id: str
    created_at: datetime
    product: str | None = None


@dataclass(frozen=True, slots=True)
class Registration:
    """A (graph, catalog) pair evaluated once, re-evaluated when its graph's evidence
    changes: ``change_seq`` counts the ingests committed for the graph since registration,
    ``evaluated_seq`` the count the latest evaluation had seen; the pair is due while
    ``change_seq > evaluated_seq``."""

    tenant: TenantId
    graph_hash: str
    catalog_digest: str
    since: datetime | None
    change_seq: int
    evaluated_seq: int

    @property
    def due(self) -> bool:
        return self.change_seq > self.evaluated_seq


class VerdictStore(Protocol):
    """Catalogs, evaluations, current verdicts with their history, unknowns and VEX documents
    of each tenant. An evaluation's verdicts, history and ``reach.verdict.changed`` events are
    written together or not at all; an ingest committed for a graph marks that graph's
    registered (graph, catalog) pairs due in the ingest's own transaction."""

    def add_catalog(self, record: CatalogRecord) -> bool:
        """Keep a catalog's record; False when the tenant has it already."""
        ...

    def get_catalog(self, tenant: TenantId, digest: str) -> CatalogRecord | None: ...

    def register_pair(
        self,
        tenant: TenantId,
        graph_hash: str,
        catalog_digest: str,
        *,
        since: datetime | None,
        at: datetime,
    ) -> Registration:
        """Register (graph, catalog) for re-evaluation (``since`` replaces the one kept) and
        answer it as it stands: read its ``change_seq`` *before* gathering an evaluation's
        inputs and hand it to `record_evaluation`, so an ingest committed meanwhile leaves
        the pair due."""
        ...

    def record_evaluation(
        self,
        evaluation: EvaluationRecord,
        verdicts: Sequence[VerdictRow],
        unknowns: Sequence[Mapping[str, Any]],
        *,
        seen_seq: int,
        event: Callable[[VerdictChange], EventDraft],
    ) -> tuple[list[VerdictChange], list[TimelineEvent]]:
        """In one transaction: keep the evaluation, make ``verdicts`` the current ones of its
        (graph, catalog) (a target missing from ``verdicts`` keeps its last verdict), append
        a history entry for each first or changed state, replace the pair's unknowns, mark
        the pair evaluated up to ``seen_seq`` (and release its lease) and append
        ``event(change)`` for each change from a previous state (a first state has no
        event). Returns the history entries written and the events appended. An evaluation
        that saw less than one already recorded (``seen_seq`` below the pair's
        ``evaluated_seq``: it lost a race with a newer one) is kept as an evaluation only: the
        current verdicts, history, unknowns and timeline stay the newer one's."""
        ...

    def get_evaluation(self, tenant: TenantId, evaluation_id: str) -> EvaluationRecord | None: ...

    def list_verdicts(
        self,
        tenant: TenantId,
        *,
        graph_hash: str | None,
        catalog_digest: str | None = None,
        vuln_id: str | None = None,
        state: str | None = None,
        after: str | None = None,
        limit: int,
    ) -> list[StoredVerdict]:
        """Current verdicts by ``verdict_id``, after ``after``."""
        ...

    def verdict_history(
        self,
        tenant: TenantId,
        *,
        graph_hash: str | None,
        vuln_id: str | None = None,
        symbol: str | None = None,
        after: tuple[str, int] | None = None,
        limit: int,
    ) -> list[VerdictChange]:
        """History entries by (evaluation_id, position), after ``after``."""
        ...

    def list_unknowns(
        self,
        tenant: TenantId,
        *,
        graph_hash: str | None,
        after: tuple[str, int] | None = None,
        limit: int,
    ) -> list[StoredUnknown]:
        """Unknowns of the latest evaluation of every (graph, catalog), by (evaluation_id,
        position)."""
        ...

    def add_vex(self, record: VexRecord) -> None: ...

    def get_vex(self, tenant: TenantId, vex_id: str) -> VexRecord | None: ...

    def list_vex(
        self,
        tenant: TenantId,
        *,
        graph_hash: str | None = None,
        after: str | None = None,
        limit: int,
    ) -> list[VexRecord]:
        """The tenant's VEX documents newest first (``vex_id`` descending: ULIDs sort by
        time), those with an id below ``after`` when it is given."""
        ...

    def claim_reevaluations(
        self, now: datetime, *, worker: str, lease_seconds: float, limit: int
    ) -> list[Registration]:
        """Lease due pairs no live lease holds (every tenant: for `signals worker`)."""
        ...


class Repository(
    TokenStore,
    GraphStore,
    IngestStore,
    OrphanQueue,
    TimelineStore,
    TrustStore,
    ServiceKeyStore,
    SyncStore,
    VerdictStore,
    Protocol,
):
    """Metadata of every tenant: every store above over one database. Methods that take an
    `EventDraft` append that event to the tenant's timeline in the same transaction as the
    rest: all or nothing. Every method takes the tenant explicitly (the few that do not are
    for operators' local tools) and implementations keep tenants apart."""

    def migrate(self, revision: str = "head") -> None: ...
