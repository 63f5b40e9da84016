"""Symbol manifest ingest (SPEC §4): validate, store in the CAS, record — announced on the
Timeline (``symbols.manifest.ingested``) exactly once per tenant and manifest.

Whether a manifest is new is decided by the database, in the event's transaction, never by
the CAS: a crash after the blob is stored but before the event leaves the manifest
unrecorded, and the retry records and announces it.
"""

from __future__ import annotations

from dataclasses import dataclass

from stella_signals.cas import CasUri, Namespace
from stella_signals.ingest._context import IngestContext
from stella_signals.ports import EventDraft, SymbolManifestRecord
from stella_signals.symbols import parse_symbol_manifest
from stella_signals.tenancy import TenantId
from stella_signals.timeline import EventType

__all__ = ["SymbolsIngestResult", "ingest_symbol_manifest"]


@dataclass(frozen=True, slots=True)
class SymbolsIngestResult:
    cas_uri: CasUri
    sha256: str
    entries: int
    #: False when the tenant already had this manifest (nothing new recorded or announced).
    created: bool

    def to_dict(self) -> dict[str, object]:
        return {"cas_uri": str(self.cas_uri), "sha256": self.sha256, "entries": self.entries}


def ingest_symbol_manifest(
    ctx: IngestContext, tenant: TenantId, data: bytes
) -> SymbolsIngestResult:
    """`InvalidSymbolManifest` (every problem named) and nothing written when it is invalid."""
    manifest = parse_symbol_manifest(
        data, tenant=tenant, max_bytes=ctx.limits.max_symbol_manifest_bytes
    )
    stored = ctx.blobs.put(tenant, Namespace.SYMBOLS, [data])
    now = ctx.clock.now()
    entries = len(manifest.entries)
    created = ctx.repo.add_symbol_manifest(
        SymbolManifestRecord(
            tenant=tenant,
            sha256=stored.sha256,
            cas_uri=str(stored.uri),
            entries=entries,
            created_at=now,
        ),
        EventDraft(
            event_id=ctx.new_event_id(),
            event_type=EventType.SYMBOLS_MANIFEST_INGESTED.value,
            occurred_at=now,
            source=ctx.source,
            correlation_id=stored.sha256,
            attributes={"cas_uri": str(stored.uri), "sha256": stored.sha256, "entries": entries},
        ),
    )
    return SymbolsIngestResult(stored.uri, stored.sha256, entries, created)
