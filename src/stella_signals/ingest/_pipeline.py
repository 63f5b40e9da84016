"""THE ingest pipeline: receive → verify → parse → map → commit (DESIGN.md, STYLE habit 2).

The HTTP API and `signals-offline` both call `ingest_runtime`; they differ only in the
`IngestContext` they build (stores, clock, limits, key, ``source``) and in how they render
the `IngestResult` or the `IngestFailed` error. Every rejection after the tenant is known is
recorded (`record_rejection`): an ``ingests`` row with status ``failed``, a
``runtime.ingest.failed`` event and the metric.

`ingest_runtime` only orders the named stages of `_stages`, where each is documented
(including why the reads it does before the commit transaction are safe there).

Commit point: the metadata transaction (ingest row, facts, timeline event, signed receipt).
The trace blob is published just before it; a crash in between leaves an unreferenced,
content-addressed blob that no API shows and that a retry of the same bytes reuses.
"""

from __future__ import annotations

import contextlib
import time
from datetime import datetime

from stella_signals.errors import InvalidTrace, StellaError, Unavailable
from stella_signals.ingest import _stages as stage
from stella_signals.ingest._context import (
    IngestContext,
    IngestFailed,
    IngestResult,
    Outcome,
    Received,
    RuntimeUpload,
)
from stella_signals.metrics import UNAVAILABLE_RESULT
from stella_signals.ports import Repository, StagedBlob
from stella_signals.tenancy import TenantId
from stella_signals.timeanchor import TimeUntrusted
from stella_signals.timeline import FailureReason

__all__ = ["enforce_trace_attestation", "ingest_runtime"]


def ingest_runtime(ctx: IngestContext, upload: RuntimeUpload) -> IngestResult:
    """Ingest one runtime trace for ``upload.tenant``. Raises `IngestFailed` (recorded)."""
    started, received_at = time.perf_counter(), ctx.clock.now()
    staged: StagedBlob | None = None
    # Leaving this block discards the staged bytes unless they were published, whatever
    # happened (refusal, outage, crash of a stage, duplicate).
    with contextlib.ExitStack() as cleanup:
        try:
            time_status = stage.check_time(ctx, upload.tenant)
            staged = stage.receive(ctx, upload, cleanup)
            attestation = stage.attest(ctx.repo, upload.tenant, upload.dsse, staged.sha256)
            manifest = stage.check_manifest(ctx, upload.probe_manifest, staged.sha256)
            known = ctx.repo.find_duplicate(upload.tenant, staged.sha256, str(upload.graph_hash))
            if known is not None:
                result = stage.answer_duplicate(ctx, known, attestation, time_status)
            else:
                received = Received(upload=upload, staged=staged, at=received_at,
                                    time_status=time_status, attestation=attestation,
                                    probe_manifest_digest=manifest)  # fmt: skip
                report = stage.parse(staged.read(), name=upload.name, limits=ctx.limits)
                graph = stage.resolve_graph(ctx, upload.tenant, upload.graph_hash)
                mapped = None if graph is None else stage.map_facts(report, graph)
                result = stage.commit(ctx, stage.seal(ctx, received, report, mapped))
        except IngestFailed:
            raise
        except StellaError as error:
            raise _refused(ctx, upload, error, received_at, staged) from error
    seconds = time.perf_counter() - started
    stage.record_outcome(
        ctx, result.outcome.value, records=result.records, size=result.size, seconds=seconds
    )
    if result.outcome is Outcome.ORPHANED and ctx.metrics is not None:
        ctx.metrics.orphan_queued(upload.tenant)
    return result


def _refused(
    ctx: IngestContext,
    upload: RuntimeUpload,
    error: StellaError,
    received_at: datetime,
    staged: StagedBlob | None,
) -> StellaError:
    """What to raise for ``error``: recorded as a refusal, unless it is our own outage."""
    if isinstance(error, Unavailable) and not isinstance(error, TimeUntrusted):
        # An outage of our own stores is not the trace's fault and not a refusal: nothing
        # is recorded (the store may be the one that is down); the client retries the same
        # bytes after Retry-After and gets the ingest or its duplicate.
        stage.record_outcome(ctx, UNAVAILABLE_RESULT)
        return error
    if isinstance(error, InvalidTrace) and any(
        d.reason.value == "decompression_failed" for d in error.diagnostics
    ):
        error.reason = FailureReason.DECOMPRESSION_FAILED.value
    return stage.record_rejection(
        ctx,
        tenant=upload.tenant,
        ingest_id=upload.ingest_id,
        error=error,
        received_at=received_at,
        content_sha256=staged.sha256 if staged is not None else None,
        graph_hash=str(upload.graph_hash),
        size=staged.size if staged is not None else None,
        diagnostics=error.diagnostics if isinstance(error, InvalidTrace) else (),
    )


def enforce_trace_attestation(
    repo: Repository, tenant: TenantId, dsse: bytes | None, sha256: str
) -> str | None:
    """The `attest` stage for a caller that only needs the envelope's ``sha256:`` digest
    (None without one); raises `SignatureInvalid`."""
    attestation = stage.attest(repo, tenant, dsse, sha256)
    return None if attestation is None else attestation.digest
