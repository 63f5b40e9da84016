"""Evidence Locker and CAS reads (SPEC §6, §8): tenant-scoped, digests verified."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from stella_signals.api._auth import Reader, Writer
from stella_signals.api._bridge import read_body
from stella_signals.api._problems import COMMON_RESPONSES, PROBLEM
from stella_signals.api._schemas import (
    EVIDENCE,
    EVIDENCE_IMPORT,
    binary_body,
    header,
    json_response,
    stored_responses,
    tar_gz_download,
    tar_gz_response,
)
from stella_signals.cas import CasUri, Namespace
from stella_signals.digests import sha256_hex
from stella_signals.errors import NotFound
from stella_signals.ids import parse_ulid
from stella_signals.ingest import evidence_record, evidence_with_receipt, import_evidence_bundle
from stella_signals.locker import RECEIPT_DSSE_NAME, RUNTIME_DSSE_NAME, export_bundle

__all__ = ["router"]

router = APIRouter()


def _file(path: str, data: bytes) -> dict[str, Any]:
    return {"path": path, "sha256": sha256_hex(data), "size": len(data)}


@router.get(
    "/api/v1/evidence/{ingest_id}",
    responses=COMMON_RESPONSES | {200: json_response(EVIDENCE, "the ingest's evidence record")},
    summary="An ingest's evidence",
)
async def get_evidence(request: Request, principal: Reader, ingest_id: str) -> Response:
    ingest_id = parse_ulid(ingest_id)
    ctx = request.app.state.services.ingest_context("signals-api")
    record, receipt = await anyio.to_thread.run_sync(
        evidence_with_receipt, ctx, principal.tenant, ingest_id
    )
    files = [
        _file(record.trace_name, record.trace),
        _file(RECEIPT_DSSE_NAME, record.receipt_dsse),
    ]
    if record.runtime_dsse is not None:
        files.append(_file(RUNTIME_DSSE_NAME, record.runtime_dsse))
    return JSONResponse(
        {
            "ingest_id": ingest_id,
            "tenant": principal.tenant,
            "receipt": receipt,
            "files": files,
            "bundle": f"/api/v1/evidence/{ingest_id}/bundle",
        }
    )


@router.get(
    "/api/v1/evidence/{ingest_id}/bundle",
    responses=COMMON_RESPONSES | {200: tar_gz_response("evidence")},
    summary="The ingest's evidence as a deterministic tar.gz (byte-identical on every export)",
)
async def get_bundle(request: Request, principal: Reader, ingest_id: str) -> Response:
    ingest_id = parse_ulid(ingest_id)
    ctx = request.app.state.services.ingest_context("signals-api")

    def build() -> bytes:
        return export_bundle(evidence_record(ctx, principal.tenant, ingest_id))

    return tar_gz_download(await anyio.to_thread.run_sync(build), "evidence", ingest_id)


@router.get(
    "/api/v1/cas/{namespace:path}/{digest}",
    responses=COMMON_RESPONSES
    | {
        200: {
            "description": "the blob's bytes, verified while streamed",
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
            "headers": {"X-Cas-Uri": header("cas:// URI of the blob")},
        }
    },
    summary="Download a blob of the tenant's CAS; its digest is verified while streaming",
)
def get_blob(request: Request, principal: Reader, namespace: str, digest: str) -> Response:
    services = request.app.state.services
    if namespace == Namespace.GRAPHS.value and digest.endswith(".dsse"):
        # SPEC §1 names a graph's envelope cas://reachability/graphs/<hex>.dsse; it is
        # stored content-addressed under attestations and named by the graph record.
        record = services.graph_records.get_graph(
            principal.tenant, f"blake3:{digest.removesuffix('.dsse')}"
        )
        if record is None or record.dsse_digest is None:
            raise NotFound(f"no attestation for graph {digest.removesuffix('.dsse')}")
        uri = CasUri.of(Namespace.ATTESTATIONS, record.dsse_digest.removeprefix("sha256:"))
    else:
        uri = CasUri.of(Namespace.parse(namespace), digest)
    # NotFound comes before the first byte. A blob altered on disk fails its digest check
    # at the end of the stream: the transfer is then cut short (a status code has already
    # gone out), so no client mistakes altered bytes for the blob it asked for.
    chunks = services.blobs.open(principal.tenant, uri)
    return StreamingResponse(
        chunks, media_type="application/octet-stream", headers={"X-Cas-Uri": str(uri)}
    )


@router.post(
    "/api/v1/evidence/import",
    status_code=201,
    responses=stored_responses(EVIDENCE_IMPORT, created="imported", existing="already imported")
    | {422: PROBLEM},
    summary="Import an offline site's Evidence Locker bundle (sync on reconnect)",
    openapi_extra=binary_body("application/gzip", description="an evidence bundle, as exported"),
)
async def import_evidence(request: Request, principal: Writer) -> Response:
    services = request.app.state.services
    limit = services.settings.limits.max_compressed_bytes + (8 << 20)
    data = await read_body(request, limit, limit_name="max_bundle_bytes")
    ctx = services.ingest_context("signals-sync")
    ingest_id, added = await anyio.to_thread.run_sync(
        import_evidence_bundle, ctx, principal.tenant, data
    )
    return JSONResponse(
        {"ingest_id": ingest_id, "imported": added}, status_code=201 if added else 200
    )
