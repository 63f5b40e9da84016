"""POST /api/v1/runtime-facts (SPEC §6): the runbook's online ingest, §2 step 4."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Depends, Request
from starlette.responses import JSONResponse, Response

from stella_signals.api._auth import Admission, admit
from stella_signals.api._bridge import SMALL_BODY_BYTES, blocking_chunks, buffered_chunks
from stella_signals.api._multipart import (
    MULTIPART,
    PROBE_MANIFEST,
    MultipartUpload,
    file_chunks,
    read_multipart,
)
from stella_signals.api._problems import PROBLEM, problem_for
from stella_signals.api._schemas import (
    GRAPH_HASH_PATTERN,
    RECEIPT,
    SHA256_HEX,
    ULID,
    header,
    json_response,
    multipart_with_dsse,
)
from stella_signals.auth import Principal, Scope
from stella_signals.digests import Digest
from stella_signals.errors import (
    HashMismatch,
    InvalidField,
    InvalidInput,
    LimitExceeded,
    StellaError,
    UnsupportedMediaType,
)
from stella_signals.ids import new_ulid
from stella_signals.ingest import (
    IngestContext,
    IngestFailed,
    IngestResult,
    Outcome,
    RuntimeUpload,
    ingest_runtime,
    parse_graph_hash,
    record_rejection,
)
from stella_signals.receipt import with_envelope
from stella_signals.timeline import FailureReason

__all__ = ["router"]

router = APIRouter()

#: Media types of a trace body (gzip is sniffed from the bytes, whatever the type says).
TRACE_MEDIA_TYPES = frozenset(
    {"application/x-ndjson", "application/gzip", "application/x-gzip", "application/octet-stream"}
)
#: The request body of a trace upload (also of a graph verify, without multipart).
TRACE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            **{
                media: {"schema": {"type": "string", "format": "binary"}}
                for media in sorted(TRACE_MEDIA_TYPES)
            },
            **multipart_with_dsse("runtime", PROBE_MANIFEST),
        },
    }
}
#: ``graph_hash`` is read by the route itself (a repeat is refused, never last-wins), so it
#: is documented here rather than declared as a FastAPI parameter.
GRAPH_HASH_QUERY: dict[str, Any] = {
    "name": "graph_hash",
    "in": "query",
    "required": True,
    "description": "blake3:<hex> of the static graph (once)",
    "schema": {"type": "string", "pattern": GRAPH_HASH_PATTERN},
}
_SHA256_DIGEST = re.compile(r"(?:^|,)\s*sha-256\s*=\s*:([A-Za-z0-9+/=]+):\s*(?:,|$)")
_SHA256_MEMBER = re.compile(r"(?:^|,)\s*sha-256\s*=", re.IGNORECASE)

#: Headers of every receipt answer (200, 201, 202).
RECEIPT_HEADERS = {
    "Content-SHA256": header("hex SHA-256 of the trace bytes as received", SHA256_HEX),
    "X-Graph-Hash": header("the graph the trace was posted for"),
    "X-Ingest-Id": header("the ingest (for a duplicate: the original one)", ULID),
    "Location": header("/api/v1/ingests/<id>"),
}
RESPONSES: dict[int | str, dict[str, Any]] = {
    200: json_response(
        RECEIPT,
        "duplicate: the newest receipt with `duplicate: true`; when the request brought a"
        " valid DSSE envelope that receipt does not name, it is attached first (a new signed"
        " receipt version, event `reach.runtime.dsse.attached`)",
        headers=RECEIPT_HEADERS,
    ),
    201: json_response(RECEIPT, "ingested: the signed receipt", headers=RECEIPT_HEADERS),
    202: json_response(
        RECEIPT,
        "orphan: graph unknown to the tenant; kept and queued for retry",
        headers=RECEIPT_HEADERS,
    ),
    400: PROBLEM
    | {
        "description": "schema errors (`errors`: line, field, reason; a malformed probe"
        " manifest names its field, e.g. `probe_manifest/window/start`)"
    },
    401: PROBLEM | {"description": "missing, malformed or unknown token"},
    403: PROBLEM | {"description": "token does not allow the tenant or lacks signals:write"},
    413: PROBLEM | {"description": "body over a limit (reason too_large)"},
    415: PROBLEM | {"description": "neither NDJSON nor multipart (unsupported_media_type)"},
    422: PROBLEM
    | {
        "description": "Content-Digest, DSSE subject or probe manifest `trace_sha256` mismatch"
        " (hash_mismatch); DSSE invalid"
        " (dsse_invalid) or required but missing (dsse_required)"
    },
    503: PROBLEM | {"description": "metadata store unavailable"},
}


def declared_sha256(header: str | None) -> str | None:
    """The sha-256 of an RFC 9530 ``Content-Digest`` header as hex (None when absent)."""
    if header is None:
        return None
    if len(_SHA256_MEMBER.findall(header)) > 1:
        raise InvalidField(
            "Content-Digest carries more than one sha-256 digest: which one is meant?",
            field="Content-Digest",
            reason=FailureReason.AMBIGUOUS_INPUT.value,
        )
    match = _SHA256_DIGEST.search(header)
    if match is None:
        if "sha-256" in header.lower():
            raise InvalidInput("malformed Content-Digest header", reason="invalid_content_digest")
        return None  # only algorithms we do not check
    try:
        raw = base64.b64decode(match.group(1), validate=True)
    except binascii.Error:
        raise InvalidInput(
            "malformed Content-Digest header", reason="invalid_content_digest"
        ) from None
    if len(raw) != 32:
        raise InvalidInput(
            "Content-Digest sha-256 must be 32 bytes", reason="invalid_content_digest"
        )
    return raw.hex()


def one_header(request: Request, name: str) -> str | None:
    """The one value of header ``name`` (None when absent): `InvalidField` when repeated."""
    values = request.headers.getlist(name)
    if len(values) > 1:
        raise InvalidField(
            f"the {name} header is sent {len(values)} times: send it once",
            field=name,
            reason=FailureReason.AMBIGUOUS_INPUT.value,
        )
    return values[0] if values else None


def one_query_value(request: Request, name: str) -> str:
    """The one value of query parameter ``name``: `InvalidField` when it is absent or
    repeated (ambiguous: neither the first nor the last is guessed)."""
    values = request.query_params.getlist(name)
    if not values:
        raise InvalidField(f"the {name} query parameter is required", field=name)
    if len(values) > 1:
        raise InvalidField(
            f"the {name} query parameter is given {len(values)} times: give it once",
            field=name,
            reason=FailureReason.AMBIGUOUS_INPUT.value,
        )
    return values[0]


def single_valued_query(request: Request) -> None:
    """Refuse a request that repeats any query parameter (400, ``ambiguous_input``, naming
    it): neither the first nor the last value is guessed. A router-wide dependency for every
    route whose parameters are not read through `one_query_value`."""
    for name in request.query_params:
        if len(request.query_params.getlist(name)) > 1:
            one_query_value(request, name)


def refusal_problem(failed: IngestFailed) -> Response:
    """The problem+json of a recorded refusal (`record_rejection`): whether the front door
    or the pipeline refused, the same reason, ingest id and per-line errors."""
    errors = [
        {"line": d.line, "field": d.field, "reason": d.reason.value} for d in failed.diagnostics
    ]
    return problem_for(
        failed.cause, ingest_id=failed.ingest_id, errors=errors, reason=failed.reason
    )


def receipt_response(result: IngestResult) -> JSONResponse:
    status = {Outcome.INGESTED: 201, Outcome.DUPLICATE: 200, Outcome.ORPHANED: 202}[result.outcome]
    return JSONResponse(
        with_envelope(result.receipt, result.receipt_dsse),
        status_code=status,
        headers={
            "Content-SHA256": result.content_sha256,
            "X-Graph-Hash": result.graph_hash,
            "X-Ingest-Id": result.ingest_id,
            "Location": f"/api/v1/ingests/{result.ingest_id}",
        },
    )


@router.post(
    "/api/v1/runtime-facts",
    status_code=201,
    responses=RESPONSES,
    summary="Ingest a runtime trace (gzip or plain NDJSON)",
    openapi_extra=TRACE_BODY | {"parameters": [GRAPH_HASH_QUERY]},
)
async def post_runtime_facts(
    request: Request,
    admission: Annotated[Admission, Depends(admit(Scope.WRITE))],
) -> Response:
    principal = admission.principal
    services = request.app.state.services
    ctx = services.ingest_context("signals-api")
    ingest_id = new_ulid(services.clock)
    received_at = services.clock.now()

    def refuse(error: StellaError) -> Response:
        failed = record_rejection(
            ctx,
            tenant=principal.tenant,
            ingest_id=ingest_id,
            error=error,
            received_at=received_at,
        )
        return refusal_problem(failed)

    try:
        if admission.refusal is not None:
            raise admission.refusal
        digest = parse_graph_hash(one_query_value(request, "graph_hash"))
        declared = declared_sha256(one_header(request, "Content-Digest"))
        media = (one_header(request, "Content-Type") or "").split(";")[0].strip().lower()
        if media not in TRACE_MEDIA_TYPES and media != MULTIPART:
            raise UnsupportedMediaType(
                f"content type {media or '(none)'!r} is not a trace: send application/x-ndjson"
                " (gzip or plain)"
            )
        length = request.headers.get("content-length")
        if (
            length is not None
            and length.isdigit()
            and int(length) > ctx.limits.max_compressed_bytes
        ):
            raise LimitExceeded(
                f"body of {length} bytes is over {ctx.limits.max_compressed_bytes}",
                limit="max_compressed_bytes",
            )
    except StellaError as error:
        return await anyio.to_thread.run_sync(refuse, error)

    dsse: bytes | None = None
    manifest: bytes | None = None
    body: Iterator[bytes]
    small = length is not None and length.isdigit() and int(length) <= SMALL_BODY_BYTES
    upload: MultipartUpload | None = None
    if media == MULTIPART:
        try:
            upload = await read_multipart(
                request,
                main="runtime",
                max_bytes=ctx.limits.max_compressed_bytes,
                max_manifest_bytes=ctx.limits.max_probe_manifest_bytes,
            )
        except StellaError as error:
            return await anyio.to_thread.run_sync(refuse, error)
        if declared is not None and declared != upload.sha256:
            await upload.close()
            return await anyio.to_thread.run_sync(
                refuse,
                HashMismatch(
                    f"Content-Digest says sha-256 {declared}, the body is {upload.sha256}"
                ),
            )
        declared = None  # it was about the whole multipart body, checked above
        body, dsse, manifest = file_chunks(upload.main), upload.dsse, upload.probe_manifest
    elif small:
        body = await buffered_chunks(request)
    else:
        body = blocking_chunks(request.stream())
    try:
        return await _ingest_and_answer(
            ctx, principal, ingest_id, digest, body, declared, dsse, manifest
        )
    finally:
        if upload is not None:
            await upload.close()


async def _ingest_and_answer(
    ctx: IngestContext,
    principal: Principal,
    ingest_id: str,
    digest: Digest,
    body: Iterator[bytes],
    declared: str | None,
    dsse: bytes | None,
    probe_manifest: bytes | None = None,
) -> Response:
    upload = RuntimeUpload(
        tenant=principal.tenant,
        ingest_id=ingest_id,
        graph_hash=digest,
        body=body,
        declared_sha256=declared,
        name=None,
        dsse=dsse,
        probe_manifest=probe_manifest,
    )
    try:
        result = await anyio.to_thread.run_sync(ingest_runtime, ctx, upload)
    except IngestFailed as failed:
        # A client that went away mid-body lands here too (reason client_disconnected,
        # recorded by the pipeline); the answer is written for nobody.
        return refusal_problem(failed)
    return receipt_response(result)
