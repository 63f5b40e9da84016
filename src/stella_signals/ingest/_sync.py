"""Sync on reconnect (runbook §3 step 5, SPEC §10): an offline site's events and evidence
are imported into the online tenant, once each, whatever number of times sync runs.

Imports prove where they come from. The site signs each batch of events it pushes (a DSSE
envelope over the events as exported, `SYNC_PAYLOAD_TYPE`) with its service key, the key it
signs receipts with; the online tenant trusts that key for sync (`KeyPurpose.SYNC`, not the
keys it trusts for traces). Every ``reach.runtime.ingested`` of a batch must come with its
evidence, imported before it (`import_evidence_bundle`), whose receipt the same site key
signed and which names the same trace. A batch with one refused event imports nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stella_signals.attest import (
    RECEIPT_PAYLOAD_TYPE,
    SYNC_PAYLOAD_TYPE,
    Envelope,
    InvalidEnvelope,
    PublicKey,
    Signer,
    check_envelope,
    parse_envelope,
    sign_envelope,
)
from stella_signals.cas import Namespace
from stella_signals.digests import sha256_hex
from stella_signals.errors import HashMismatch, InvalidInput, VerificationFailed
from stella_signals.ids import new_ulid
from stella_signals.ingest._context import IngestContext
from stella_signals.ingest._stages import trusted_keys
from stella_signals.locker import (
    PROBE_MANIFEST_NAME,
    RUNTIME_DSSE_NAME,
    BundleInvalid,
    verify_bundle,
)
from stella_signals.ports import EventDraft, KeyPurpose
from stella_signals.tenancy import TenantId
from stella_signals.timeline import (
    EventType,
    TimelineEvent,
    events_to_ndjson,
    read_events_ndjson,
)

__all__ = [
    "ImportStats",
    "SyncRefused",
    "import_evidence_bundle",
    "import_signed_events",
    "sign_event_batch",
]

#: The fields of a ``reach.runtime.ingested`` event its receipt must state alike.
_RECEIPT_FIELDS = ("ingest_id", "content_sha256", "cas_uri", "graph_hash")


class SyncRefused(VerificationFailed):
    """An import does not prove where it comes from (HTTP 422). Reasons: ``sync_unsigned``
    (not a signed batch), ``sync_untrusted_key`` (no key the tenant trusts for sync signed
    it), ``sync_evidence_missing`` (an ingest event without its evidence),
    ``sync_evidence_mismatch`` (evidence another key signed, or of another trace),
    ``sync_event_conflict`` (an event id the tenant has, with other content)."""

    default_reason = "sync_refused"


@dataclass
class ImportStats:
    appended: int = 0
    skipped: int = 0
    #: The site key that signed the batch (None when nothing was signed: evidence only).
    keyid: str | None = None


def sign_event_batch(signer: Signer, events: Sequence[TimelineEvent]) -> bytes:
    """The JSON envelope a site pushes: ``events`` as exported, signed with its service key."""
    payload = b"".join(events_to_ndjson(events))
    return sign_envelope(payload, SYNC_PAYLOAD_TYPE, [signer]).to_json()


def import_signed_events(ctx: IngestContext, tenant: TenantId, data: bytes) -> ImportStats:
    """Import a site's signed event batch into ``tenant``'s chain.

    Each new event is appended with its original id, hash, seq and source, and the keyid of
    the site key that vouched for it, under ``attributes.origin``; an event the tenant
    already has (its own id is in the chain, or it was imported before) is skipped. Raises
    `SyncRefused` (nothing imported) when the batch is unsigned, signed by no key the tenant
    trusts for sync, or holds an ingest event whose evidence is absent or not the same
    site's; `HashMismatch` for an event that does not match its hash.
    """
    try:
        envelope = parse_envelope(data)
    except InvalidEnvelope as exc:
        raise SyncRefused(
            f"an import must be a batch of events signed by the site's service key (a DSSE "
            f"envelope of type {SYNC_PAYLOAD_TYPE}, as signals-offline sync sends): {exc}",
            reason="sync_unsigned",
        ) from None
    site = _site_key(ctx, tenant, envelope)
    events = list(read_events_ndjson(envelope.payload.splitlines()))
    fresh = [event for event in events if _is_new(ctx, tenant, event)]
    for event in fresh:  # every check before the first append: all or nothing
        if event.event_type is EventType.RUNTIME_INGESTED:
            _check_evidence(ctx, tenant, event, site)
    stats = ImportStats(skipped=len(events) - len(fresh), keyid=site.keyid)
    for event in fresh:
        origin = {
            "event_id": event.event_id,
            "hash": event.hash,
            "seq": event.seq,
            "source": event.source,
            "keyid": site.keyid,
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
            stats.skipped += 1  # a concurrent sync of the same batch got there first
        else:
            stats.appended += 1
    return stats


def _site_key(ctx: IngestContext, tenant: TenantId, envelope: Envelope) -> PublicKey:
    """The key, trusted by ``tenant`` for sync, that signed the batch."""
    trusted = trusted_keys(ctx.repo, tenant, KeyPurpose.SYNC)
    report = check_envelope(envelope, trusted=trusted, payload_type=SYNC_PAYLOAD_TYPE)
    if report.ok:
        return next(key for key in trusted if key.keyid == report.keyids[0])
    hint = ""
    if not trusted:
        hint = f"; {tenant} trusts no site key for sync"
    other = _trusted_for_other_purpose(ctx, tenant, envelope)
    if other is not None:
        hint = f"; key {other[0]} is trusted for {other[1]}, not for sync"
    raise SyncRefused(
        f"event batch is not signed by a key {tenant} trusts for sync: {report.message}{hint} "
        f"(trust the site's service key with `signals keys add --purpose sync`)",
        reason="sync_untrusted_key",
    )


def _trusted_for_other_purpose(
    ctx: IngestContext, tenant: TenantId, envelope: Envelope
) -> tuple[str, str] | None:
    """(keyid, purpose) of a key the tenant trusts for something else that signed the batch:
    worth naming in the refusal, never enough to accept it."""
    for purpose in KeyPurpose:
        if purpose is KeyPurpose.SYNC:
            continue
        keys = trusted_keys(ctx.repo, tenant, purpose)
        report = check_envelope(envelope, trusted=keys, payload_type=envelope.payload_type)
        if report.keyids:
            return report.keyids[0], purpose.value
    return None


def _is_new(ctx: IngestContext, tenant: TenantId, event: TimelineEvent) -> bool:
    """False when the tenant has the event already (a no-op to import); `SyncRefused` when
    it has another event under that id."""
    if event.tenant != tenant:
        raise InvalidInput(f"event {event.event_id} is of tenant {event.tenant}, not {tenant}")
    if event.computed_hash() != event.hash:
        raise HashMismatch(f"event {event.event_id} (seq {event.seq}) does not match its hash")
    copy_id = ctx.repo.imported_event_id(tenant, event.event_id)
    present = ctx.repo.get_event(tenant, copy_id or event.event_id)
    if present is None:
        return True
    origin = present.attributes.get("origin") if copy_id is not None else None
    known = origin.get("hash") if isinstance(origin, Mapping) else present.hash
    if known != event.hash:
        raise SyncRefused(
            f"event {event.event_id} (seq {event.seq}) is in {tenant}'s timeline already, "
            f"with hash {known}, not {event.hash}",
            reason="sync_event_conflict",
        )
    return False


def _check_evidence(
    ctx: IngestContext, tenant: TenantId, event: TimelineEvent, site: PublicKey
) -> None:
    """An ingest event is imported only with its evidence: the site's signed receipt for
    the same ingest, trace and graph, imported before the event."""
    attributes: Mapping[str, Any] = event.attributes
    ingest_id = attributes.get("ingest_id")
    where = f"event {event.event_id} (seq {event.seq}, {event.event_type.value})"
    evidence = (
        ctx.repo.get_imported_evidence(tenant, ingest_id) if isinstance(ingest_id, str) else None
    )
    if evidence is None:
        raise SyncRefused(
            f"{where} arrives without its evidence: import the Evidence Locker bundle of "
            f"ingest {ingest_id} first (POST /api/v1/evidence/import; signals-offline sync "
            f"does)",
            reason="sync_evidence_missing",
        )
    report = check_envelope(
        parse_envelope(evidence.receipt_dsse), trusted=[site], payload_type=RECEIPT_PAYLOAD_TYPE
    )
    if not report.ok:
        raise SyncRefused(
            f"{where}: the receipt of ingest {ingest_id} is not signed by the site key "
            f"{site.keyid} that signed the events: {report.message}",
            reason="sync_evidence_mismatch",
        )
    receipt = json.loads(parse_envelope(evidence.receipt_dsse).payload)
    for name in _RECEIPT_FIELDS:
        if receipt.get(name) != attributes.get(name):
            raise SyncRefused(
                f"{where}: {name} is {attributes.get(name)!r} but the site's receipt of "
                f"ingest {ingest_id} says {receipt.get(name)!r}",
                reason="sync_evidence_mismatch",
            )


def import_evidence_bundle(ctx: IngestContext, tenant: TenantId, data: bytes) -> tuple[str, bool]:
    """Verify an Evidence Locker bundle (receipt signed by this service or by an offline
    site's service key the tenant trusts for sync) and keep its evidence: trace and DSSE
    into the tenant's CAS, the signed receipt on record. Returns (ingest id, newly added)."""
    service_keys = [
        ctx.service_key.signer.public_key,
        *trusted_keys(ctx.repo, tenant, KeyPurpose.SYNC),
    ]
    try:
        report = verify_bundle(data, service_keys=service_keys)
    except BundleInvalid as exc:
        if any(problem.check == "receipt_signature" for problem in exc.report.problems):
            raise BundleInvalid(
                f"{exc} (an offline site's receipts are taken when {tenant} trusts the site's "
                f"service key for sync: `signals keys add --purpose sync`)",
                report=exc.report,
                reason=exc.reason,
            ) from None
        raise
    if report.tenant != tenant or report.receipt is None or report.ingest_id is None:
        raise InvalidInput(f"evidence bundle is for tenant {report.tenant}, not {tenant}")
    trace_name = report.trace_name or ""
    ctx.blobs.put(tenant, Namespace.RUNTIME, [report.contents[trace_name]])
    if RUNTIME_DSSE_NAME in report.contents:
        ctx.blobs.put(tenant, Namespace.ATTESTATIONS, [report.contents[RUNTIME_DSSE_NAME]])
    if PROBE_MANIFEST_NAME in report.contents:
        ctx.blobs.put(tenant, Namespace.PROBE_MANIFESTS, [report.contents[PROBE_MANIFEST_NAME]])
    added = ctx.repo.import_evidence(
        tenant,
        ingest_id=report.ingest_id,
        bundle_sha256=sha256_hex(data),
        receipt=json.loads(json.dumps(dict(report.receipt))),
        receipt_dsse=report.contents["receipt.dsse.json"],
        at=ctx.clock.now(),
    )
    return report.ingest_id, added
