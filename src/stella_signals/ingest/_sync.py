"""Sync on reconnect (runbook §3 step 5, SPEC §10): an offline site's events and evidence
are imported into the online tenant, once each, whatever number of times sync runs."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from stella_signals.attest import load_public_key
from stella_signals.cas import Namespace
from stella_signals.digests import sha256_hex
from stella_signals.errors import HashMismatch, InvalidInput
from stella_signals.ids import new_ulid
from stella_signals.ingest._pipeline import IngestContext
from stella_signals.locker import RUNTIME_DSSE_NAME, verify_bundle
from stella_signals.ports import EventDraft, KeyPurpose
from stella_signals.tenancy import TenantId
from stella_signals.timeline import TimelineEvent

__all__ = ["ImportStats", "import_events", "import_evidence_bundle"]


@dataclass
class ImportStats:
    appended: int = 0
    skipped: int = 0


def import_events(
    ctx: IngestContext, tenant: TenantId, events: Iterable[TimelineEvent]
) -> ImportStats:
    """Append each offline event to the tenant's chain, keeping its original id, hash, seq
    and source as ``attributes.origin``; events imported before are skipped."""
    stats = ImportStats()
    for event in events:
        if event.tenant != tenant:
            raise InvalidInput(f"event {event.event_id} is of tenant {event.tenant}, not {tenant}")
        if event.computed_hash() != event.hash:
            raise HashMismatch(f"event {event.event_id} (seq {event.seq}) does not match its hash")
        origin = {
            "event_id": event.event_id,
            "hash": event.hash,
            "seq": event.seq,
            "source": event.source,
        }
        draft = EventDraft(
            event_id=new_ulid(ctx.clock),
            event_type=event.event_type,
            occurred_at=event.occurred_at,
            source=event.source,
            correlation_id=event.correlation_id,
            attributes={**event.to_dict()["attributes"], "origin": origin},
        )
        if ctx.repo.import_event(tenant, event.event_id, draft, ctx.clock.now()) is None:
            stats.skipped += 1
        else:
            stats.appended += 1
    return stats


def import_evidence_bundle(ctx: IngestContext, tenant: TenantId, data: bytes) -> tuple[str, bool]:
    """Verify an Evidence Locker bundle (receipt signed by this service or by an offline
    site's service key the tenant trusts for receipts) and keep its evidence: trace and DSSE
    into the tenant's CAS, the signed receipt on record. Returns (ingest id, newly added)."""
    service_keys = [ctx.service_key.signer.public_key] + [
        load_public_key(key.public_pem)
        for key in ctx.repo.list_trusted_keys(tenant, KeyPurpose.RECEIPT)
    ]
    report = verify_bundle(data, service_keys=service_keys)
    if report.tenant != tenant or report.receipt is None or report.ingest_id is None:
        raise InvalidInput(f"evidence bundle is for tenant {report.tenant}, not {tenant}")
    trace_name = report.trace_name or ""
    ctx.blobs.put(tenant, Namespace.RUNTIME, [report.contents[trace_name]])
    if RUNTIME_DSSE_NAME in report.contents:
        ctx.blobs.put(tenant, Namespace.ATTESTATIONS, [report.contents[RUNTIME_DSSE_NAME]])
    added = ctx.repo.import_evidence(
        tenant,
        ingest_id=report.ingest_id,
        bundle_sha256=sha256_hex(data),
        receipt=json.loads(json.dumps(dict(report.receipt))),
        receipt_dsse=report.contents["receipt.dsse.json"],
        at=ctx.clock.now(),
    )
    return report.ingest_id, added
