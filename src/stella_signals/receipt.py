"""The signed ingest receipt (SPEC §8): one model for the pipeline, the locker and the CLIs.

Core: no I/O. A `Receipt` knows its wire form (`to_payload`), the bytes the service signs
(`canonical_bytes`, `signing_input`), how it is signed (`sign`), what the timeline events
about it carry (`event_attributes`), and how a newer version supersedes it (`superseding`).
A receipt answered to a client embeds its signed envelope (`with_envelope`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any, Literal

from stella_signals.attest import RECEIPT_PAYLOAD_TYPE, Signer, pae, sign_envelope
from stella_signals.canonical import canonical_json
from stella_signals.cas import CasUri, Namespace
from stella_signals.clock import format_utc
from stella_signals.timeanchor import TimeStatus

__all__ = [
    "RECEIPT_PAYLOAD_TYPE",
    "RECEIPT_SCHEMA",
    "Receipt",
    "ReceiptCounts",
    "ReceiptStatus",
    "ReceiptTime",
    "with_envelope",
]

#: ``schema`` of every signed ingest receipt.
RECEIPT_SCHEMA = "stella.reach.runtime-ingest-receipt/v1"

ReceiptStatus = Literal["ingested", "orphaned", "expired"]


@dataclass(frozen=True, kw_only=True, slots=True)
class ReceiptCounts:
    """What the trace held; the mapping counts are None until it is mapped (orphans)."""

    lines: int
    records: int
    unique_symbols: int
    mapped_symbols: int | None = None
    unmapped_symbols: int | None = None
    edges_confirmed: int | None = None

    def to_payload(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, kw_only=True, slots=True)
class ReceiptTime:
    """The receipt's ``time`` block: which time the ingest trusted (SPEC §11)."""

    mode: str
    anchor_time: str | None
    staleness_seconds: float | None
    drift_ms: float | None

    @classmethod
    def of(cls, status: TimeStatus) -> ReceiptTime:
        return cls(
            mode=status.mode.value,
            anchor_time=format_utc(status.anchor_time) if status.anchor_time else None,
            staleness_seconds=status.staleness_seconds,
            drift_ms=status.drift_ms,
        )

    def to_payload(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, kw_only=True, slots=True)
class Receipt:
    """One version of an ingest's receipt. Version 1 has no ``version``/``supersedes`` in its
    payload; a later version names the ``sha256:`` of the signed envelope it replaces."""

    ingest_id: str
    tenant: str
    status: ReceiptStatus
    received_at: datetime
    content_sha256: str
    graph_hash: str
    dsse_digest: str | None
    counts: ReceiptCounts
    time: ReceiptTime
    timeline_event_id: str
    version: int = 1
    supersedes: str | None = None
    #: ``sha256:`` of the probe manifest sent with the trace (SPEC §14), kept at
    #: ``cas://reachability/probe-manifests/<hex>``; in the payload only when there is one,
    #: so that receipts without one stay byte-identical to older ones.
    probe_manifest_digest: str | None = None

    @property
    def cas_uri(self) -> str:
        """Where the trace is: ``cas://reachability/runtime/<sha256>``."""
        return str(CasUri.of(Namespace.RUNTIME, self.content_sha256))

    def to_payload(self, *, duplicate: bool = False) -> dict[str, Any]:
        """The wire form (SPEC §8). ``duplicate`` is False in what is signed; an answer to
        known bytes says True."""
        payload: dict[str, Any] = {
            "schema": RECEIPT_SCHEMA,
            "ingest_id": self.ingest_id,
            "tenant": self.tenant,
            "status": self.status,
            "duplicate": duplicate,
            "received_at": format_utc(self.received_at),
            "content_sha256": self.content_sha256,
            "cas_uri": self.cas_uri,
            "graph_hash": self.graph_hash,
            "dsse_digest": self.dsse_digest,
            "counts": self.counts.to_payload(),
            "time": self.time.to_payload(),
            "timeline_event_id": self.timeline_event_id,
        }
        if self.probe_manifest_digest is not None:
            payload["probe_manifest_digest"] = self.probe_manifest_digest
        if self.version > 1:
            payload["version"] = self.version
            payload["supersedes"] = self.supersedes
        return payload

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Receipt:
        """A receipt this service wrote (read back from its store): trusted input."""
        if payload.get("schema") != RECEIPT_SCHEMA:
            raise ValueError(f"not an ingest receipt: schema {payload.get('schema')!r}")
        counts, time = payload["counts"], payload["time"]
        return cls(
            ingest_id=payload["ingest_id"],
            tenant=payload["tenant"],
            status=payload["status"],
            received_at=datetime.fromisoformat(payload["received_at"]),
            content_sha256=payload["content_sha256"],
            graph_hash=payload["graph_hash"],
            dsse_digest=payload["dsse_digest"],
            counts=ReceiptCounts(**counts),
            time=ReceiptTime(**time),
            timeline_event_id=payload["timeline_event_id"],
            version=int(payload.get("version", 1)),
            supersedes=payload.get("supersedes"),
            probe_manifest_digest=payload.get("probe_manifest_digest"),
        )

    def canonical_bytes(self) -> bytes:
        """The DSSE payload: RFC 8785 bytes of `to_payload`."""
        return canonical_json(self.to_payload())

    def signing_input(self) -> bytes:
        """What the service's signature covers: DSSE PAE of the payload type and bytes."""
        return pae(RECEIPT_PAYLOAD_TYPE, self.canonical_bytes())

    def sign(self, signers: Sequence[Signer]) -> bytes:
        """The signed envelope, as canonical JSON bytes."""
        return sign_envelope(self.canonical_bytes(), RECEIPT_PAYLOAD_TYPE, signers).to_json()

    def superseding(self, replaced_envelope_sha256: str, **changes: Any) -> Receipt:
        """The next version, replacing the envelope whose SHA-256 hex is given (kept at
        ``cas://evidence/receipts/<hex>`` so an auditor can walk the chain back)."""
        return replace(
            self,
            version=self.version + 1,
            supersedes=f"sha256:{replaced_envelope_sha256}",
            **changes,
        )

    def event_attributes(self, time: ReceiptTime | None = None) -> dict[str, Any]:
        """What every timeline event about this receipt says of it (the ingest, its trace and
        graph, its envelope, and the time the event trusted: ``time``, else the receipt's)."""
        when = self.time if time is None else time
        return {
            "ingest_id": self.ingest_id,
            "cas_uri": self.cas_uri,
            "content_sha256": self.content_sha256,
            "graph_hash": self.graph_hash,
            "dsse_digest": self.dsse_digest,
            "staleness_seconds": when.staleness_seconds,
            "drift_ms": when.drift_ms,
        }


def with_envelope(payload: Mapping[str, Any], envelope: bytes | None) -> dict[str, Any]:
    """A receipt as answered to a client: its payload with the signed envelope embedded as
    ``receipt_dsse`` (when it has one)."""
    body = dict(payload)
    if envelope is not None:
        body["receipt_dsse"] = json.loads(envelope)
    return body
