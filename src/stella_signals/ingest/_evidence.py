"""The Evidence Locker record of an ingest (SPEC §8): trace, DSSE if any, signed receipt."""

from __future__ import annotations

from stella_signals.cas import CasUri, Namespace
from stella_signals.errors import NotFound
from stella_signals.ingest._pipeline import IngestContext
from stella_signals.locker import EvidenceRecord
from stella_signals.tenancy import TenantId

__all__ = ["evidence_record"]


def evidence_record(ctx: IngestContext, tenant: TenantId, ingest_id: str) -> EvidenceRecord:
    """Gather an ingest's evidence from the CAS and the metadata store, digests verified.

    `NotFound` for an ingest of another tenant, a refused ingest (it has no evidence), or an
    unknown id. The trace is read whole: an export is bounded by the trace size limit.
    """
    record = ctx.repo.get_ingest(tenant, ingest_id)
    if record is None or record.receipt_dsse is None or record.content_sha256 is None:
        raise NotFound(f"no evidence for ingest {ingest_id}")
    trace = b"".join(ctx.blobs.open(tenant, CasUri.of(Namespace.RUNTIME, record.content_sha256)))
    runtime_dsse = None
    dsse_digest = (record.receipt or {}).get("dsse_digest")
    if isinstance(dsse_digest, str) and dsse_digest.startswith("sha256:"):
        uri = CasUri.of(Namespace.ATTESTATIONS, dsse_digest.removeprefix("sha256:"))
        runtime_dsse = b"".join(ctx.blobs.open(tenant, uri))
    return EvidenceRecord(
        ingest_id=record.ingest_id,
        tenant=tenant,
        trace=trace,
        receipt_dsse=record.receipt_dsse,
        runtime_dsse=runtime_dsse,
    )
