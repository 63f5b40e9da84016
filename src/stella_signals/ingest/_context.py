"""The values an ingest passes between its stages, and what a front door gets back."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from stella_signals.attest import ServiceKey
from stella_signals.cas import CasUri
from stella_signals.clock import Clock
from stella_signals.digests import Digest
from stella_signals.errors import StellaError
from stella_signals.graph import VerifyReport
from stella_signals.ids import new_ulid
from stella_signals.ingest._graphs import GraphCatalog
from stella_signals.ingest._time import TimeKeeper
from stella_signals.limits import Limits
from stella_signals.metrics import Metrics
from stella_signals.ports import BlobStore, Repository, StagedBlob
from stella_signals.tenancy import TenantId
from stella_signals.timeanchor import TimeStatus, system_status
from stella_signals.timeline import TimelineEvent
from stella_signals.trace import Diagnostic

__all__ = [
    "Attestation",
    "GraphIngestResult",
    "IngestContext",
    "IngestFailed",
    "IngestResult",
    "Outcome",
    "Received",
    "RuntimeUpload",
]


@dataclass(frozen=True, kw_only=True)
class IngestContext:
    """Everything an ingest needs, built by a front door. ``source`` names it in events."""

    blobs: BlobStore
    repo: Repository
    graphs: GraphCatalog
    clock: Clock
    limits: Limits
    service_key: ServiceKey
    source: str
    metrics: Metrics | None = None
    #: Decides which time an ingest may trust; None = the local clock, untrusted.
    time: TimeKeeper | None = None

    def time_status(self, tenant: TenantId) -> TimeStatus:
        return (
            self.time.status(tenant) if self.time is not None else system_status(self.clock.now())
        )

    def new_event_id(self) -> str:
        """A fresh, time-ordered id for a timeline event."""
        return new_ulid(self.clock)


@dataclass(frozen=True, kw_only=True)
class RuntimeUpload:
    """A trace as a front door received it: the bytes still to be read."""

    tenant: TenantId
    ingest_id: str
    graph_hash: Digest
    body: Iterable[bytes]
    #: SHA-256 hex the client declared (``Content-Digest``), if any.
    declared_sha256: str | None = None
    name: str | None = None
    #: The DSSE envelope sent with the trace (multipart ``dsse`` part), exact bytes.
    dsse: bytes | None = None
    #: The probe manifest of the trace's window (SPEC §14, part ``probe_manifest``), exact
    #: bytes; checked against the trace, kept in the CAS and named by the receipt.
    probe_manifest: bytes | None = None


class Outcome(StrEnum):
    INGESTED = "ingested"
    DUPLICATE = "duplicate"
    ORPHANED = "orphaned"


@dataclass(frozen=True, kw_only=True)
class IngestResult:
    outcome: Outcome
    ingest_id: str
    content_sha256: str
    graph_hash: str
    #: The receipt's payload as answered (SPEC §8); ``duplicate`` says True for known bytes.
    receipt: Mapping[str, Any]
    receipt_dsse: bytes | None
    verify: VerifyReport | None = None
    #: Bytes of the trace as received.
    size: int = 0
    #: A duplicate whose DSSE envelope this request attached (a new receipt version).
    attached: bool = False

    @property
    def records(self) -> int:
        """Records this request ingested (none for a duplicate: they were counted before)."""
        if self.outcome is Outcome.DUPLICATE:
            return 0
        return int(self.receipt.get("counts", {}).get("records") or 0)


@dataclass(frozen=True, slots=True)
class Attestation:
    """A verified envelope of the trace: its ``sha256:`` digest, the trusted keys that
    signed it, and its exact bytes."""

    digest: str
    keyids: tuple[str, ...]
    envelope: bytes = field(repr=False)


@dataclass(frozen=True, kw_only=True)
class Received:
    """A trace staged and judged: its bytes (not yet published), when it arrived, the time
    the ingest trusted and its verified envelope, if any."""

    upload: RuntimeUpload
    staged: StagedBlob
    at: datetime
    time_status: TimeStatus
    attestation: Attestation | None
    #: ``sha256:`` of the probe manifest sent with the trace (checked), if any.
    probe_manifest_digest: str | None = None


class IngestFailed(StellaError):
    """An ingest was refused and the refusal recorded; ``cause`` is the original error."""

    def __init__(
        self,
        cause: StellaError,
        *,
        ingest_id: str,
        reason: str,
        diagnostics: Sequence[Diagnostic] = (),
        event: TimelineEvent | None = None,
    ) -> None:
        super().__init__(cause.message, reason=reason)
        self.cause = cause
        self.ingest_id = ingest_id
        self.diagnostics = tuple(diagnostics)
        self.event = event


@dataclass(frozen=True, kw_only=True)
class GraphIngestResult:
    graph_hash: Digest
    cas_uri: CasUri
    created: bool
    nodes: int
    edges: int
    event: TimelineEvent | None = field(default=None)
