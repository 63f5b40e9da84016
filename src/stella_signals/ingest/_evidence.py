"""The Evidence Locker record of an ingest (SPEC §8): trace, DSSE and probe manifest if any,
signed receipt — of an ingest made here, or of an offline site's ingest imported on sync
(SPEC §10)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stella_signals.cas import CasUri, Namespace
from stella_signals.errors import NotFound
from stella_signals.ingest._context import IngestContext
from stella_signals.locker import EvidenceRecord
from stella_signals.tenancy import TenantId

__all__ = ["evidence_record", "evidence_with_receipt"]


def evidence_record(ctx: IngestContext, tenant: TenantId, ingest_id: str) -> EvidenceRecord:
    """Gather an ingest's evidence from the CAS and the metadata store, digests verified.

    `NotFound` for an ingest of another tenant, a refused ingest (it has no evidence), or an
    unknown id. The trace is read whole: an export is bounded by the trace size limit.
    """
    return evidence_with_receipt(ctx, tenant, ingest_id)[0]


def evidence_with_receipt(
    ctx: IngestContext, tenant: TenantId, ingest_id: str
) -> tuple[EvidenceRecord, Mapping[str, Any]]:
    """`evidence_record` and the receipt it holds, from one lookup."""
    receipt, receipt_dsse = _receipt_of(ctx, tenant, ingest_id)
    content_sha256 = receipt.get("content_sha256")
    if not isinstance(content_sha256, str):
        raise NotFound(f"no evidence for ingest {ingest_id}")
    trace = b"".join(ctx.blobs.open(tenant, CasUri.of(Namespace.RUNTIME, content_sha256)))
    runtime_dsse = None
    dsse_digest = receipt.get("dsse_digest")
    if isinstance(dsse_digest, str) and dsse_digest.startswith("sha256:"):
        uri = CasUri.of(Namespace.ATTESTATIONS, dsse_digest.removeprefix("sha256:"))
        runtime_dsse = b"".join(ctx.blobs.open(tenant, uri))
    probe_manifest = None
    manifest_digest = receipt.get("probe_manifest_digest")
    if isinstance(manifest_digest, str) and manifest_digest.startswith("sha256:"):
        uri = CasUri.of(Namespace.PROBE_MANIFESTS, manifest_digest.removeprefix("sha256:"))
        probe_manifest = b"".join(ctx.blobs.open(tenant, uri))
    record = EvidenceRecord(
        ingest_id=ingest_id,
        tenant=tenant,
        trace=trace,
        receipt_dsse=receipt_dsse,
        runtime_dsse=runtime_dsse,
        probe_manifest=probe_manifest,
    )
    return record, receipt


def _receipt_of(
    ctx: IngestContext, tenant: TenantId, ingest_id: str
) -> tuple[Mapping[str, Any], bytes]:
    """The ingest's receipt and its signed envelope: of an ingest made here, else of one
    imported from an offline site. `NotFound` when neither has evidence."""
    record = ctx.repo.get_ingest(tenant, ingest_id)
    if record is not None:  # made here: a refused ingest has no evidence
        if record.receipt is None or record.receipt_dsse is None or not record.content_sha256:
            raise NotFound(f"no evidence for ingest {ingest_id}")
        return record.receipt, record.receipt_dsse
    imported = ctx.repo.get_imported_evidence(tenant, ingest_id)
    if imported is None:
        raise NotFound(f"no evidence for ingest {ingest_id}")
    return imported.receipt, imported.receipt_dsse
