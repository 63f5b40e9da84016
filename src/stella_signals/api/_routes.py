"""The other routes of SPEC §6 for this version: graphs, ingests, symbols, timeline, keys."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, BinaryIO

import anyio.to_thread
from fastapi import APIRouter, Query, Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from stella_signals.api._auth import Reader, Writer
from stella_signals.api._bridge import blocking_chunks, read_body
from stella_signals.api._multipart import MULTIPART, read_multipart
from stella_signals.api._pagination import decode_token, json_page, page_size, ulid_token
from stella_signals.api._problems import COMMON_RESPONSES, PROBLEM, problem_for
from stella_signals.api._runtime import TRACE_BODY
from stella_signals.api._schemas import (
    EVENT,
    EVENT_PAGE,
    GRAPH_CREATED,
    GRAPH_HASH,
    GRAPH_RECORD,
    INGEST_PAGE,
    INGEST_VIEW,
    SERVICE_KEYS,
    SYMBOLS_STORED,
    TIME_STATUS,
    TIMELINE_IMPORT,
    ULID,
    VERIFY_REPORT,
    binary_body,
    header,
    json_body,
    json_response,
    multipart_with_dsse,
    stored_responses,
)
from stella_signals.clock import format_utc
from stella_signals.errors import InvalidInput, LimitExceeded, NotFound
from stella_signals.graph import InvalidGraph, map_trace
from stella_signals.ids import parse_ulid
from stella_signals.ingest import (
    import_signed_events,
    ingest_graph,
    ingest_symbol_manifest,
    parse_graph_hash,
)
from stella_signals.ports import IngestRecord
from stella_signals.symbols import InvalidSymbolManifest
from stella_signals.timeline import events_to_ndjson
from stella_signals.trace import parse_trace
from stella_signals.wire import MAX_SAFE_INTEGER

__all__ = ["router"]

router = APIRouter()
#: Timeline page tokens carry the last seq served; seqs stay within 1..2^53-1 (SPEC §7).
_SEQ_TOKEN = re.compile(r"[0-9]{1,16}")
MAX_SEQ = MAX_SAFE_INTEGER


def _read_all(handle: BinaryIO, limit: int) -> bytes:
    handle.seek(0)
    data = handle.read(limit + 1)
    if len(data) > limit:
        raise LimitExceeded(f"graph is larger than {limit} bytes", limit="max_graph_bytes")
    return data


def _ingest_view(record: IngestRecord) -> dict[str, Any]:
    if record.receipt is not None:
        return dict(record.receipt)
    return {
        "ingest_id": record.ingest_id,
        "tenant": record.tenant,
        "status": record.status,
        "received_at": record.received_at.isoformat().replace("+00:00", "Z"),
        "reason": record.reason,
        "detail": record.detail,
        "content_sha256": record.content_sha256,
        "graph_hash": record.graph_hash,
    }


# -- graphs ---------------------------------------------------------------------------------
_GRAPH_HEADERS = {"X-Graph-Hash": header("the graph's hash", GRAPH_HASH)}
_GRAPH_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"type": "object", "description": "richgraph-v1"}},
            **multipart_with_dsse("graph"),
        },
    }
}


@router.post(
    "/api/v1/graphs",
    status_code=201,
    responses=stored_responses(
        GRAPH_CREATED,
        created="graph stored",
        existing="graph already known",
        headers=_GRAPH_HEADERS,
    )
    | {422: PROBLEM | {"description": "DSSE invalid (dsse_invalid) or of another graph"}},
    summary="Ingest a richgraph-v1 static graph (JSON, or multipart `graph` + `dsse`)",
    openapi_extra=_GRAPH_BODY,
)
async def post_graph(request: Request, principal: Writer) -> Response:
    services = request.app.state.services
    limit = services.settings.limits.max_graph_bytes
    media = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    dsse: bytes | None = None
    if media == MULTIPART:
        upload = await read_multipart(request, main="graph", max_bytes=limit)
        try:
            data, dsse = await anyio.to_thread.run_sync(_read_all, upload.main, limit), upload.dsse
        finally:
            await upload.close()
    else:
        data = await read_body(request, limit, limit_name="max_graph_bytes")
    ctx = services.ingest_context("signals-api")
    try:
        result = await anyio.to_thread.run_sync(
            lambda: ingest_graph(ctx, principal.tenant, data, dsse=dsse)
        )
    except InvalidGraph as exc:
        errors = [p.to_dict() for p in exc.problems]
        return problem_for(exc, errors=errors)
    return JSONResponse(
        {
            "graph_hash": str(result.graph_hash),
            "cas_uri": str(result.cas_uri),
            "nodes": result.nodes,
            "edges": result.edges,
            "created": result.created,
        },
        status_code=201 if result.created else 200,
        headers={"X-Graph-Hash": str(result.graph_hash)},
    )


@router.get(
    "/api/v1/graphs/{graph_hash}",
    responses=COMMON_RESPONSES
    | {200: json_response(GRAPH_RECORD, "the graph's record", headers=_GRAPH_HEADERS)},
    summary="A graph's record",
)
def get_graph(request: Request, principal: Reader, graph_hash: str) -> Response:
    digest = parse_graph_hash(graph_hash)
    record = request.app.state.services.graph_records.get_graph(principal.tenant, str(digest))
    if record is None:
        raise NotFound(f"no graph {digest}")
    return JSONResponse(
        {
            "graph_hash": record.graph_hash,
            "cas_uri": record.cas_uri,
            "size": record.size,
            "nodes": record.nodes,
            "edges": record.edges,
            "created_at": record.created_at.isoformat().replace("+00:00", "Z"),
            "dsse_digest": record.dsse_digest,
            "dsse_uri": f"{record.cas_uri}.dsse" if record.dsse_digest else None,
        },
        headers={"X-Graph-Hash": record.graph_hash},
    )


_VERIFY_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            media: schema
            for media, schema in TRACE_BODY["requestBody"]["content"].items()
            if media != MULTIPART
        },
    }
}


@router.post(
    "/api/v1/graphs/{graph_hash}/verify",
    responses=COMMON_RESPONSES
    | {200: json_response(VERIFY_REPORT, "the SPEC §9 verify report"), 413: PROBLEM},
    summary="Verify a trace against a graph (SPEC §9 report); nothing is stored",
    openapi_extra=_VERIFY_BODY,
)
async def verify_graph(request: Request, principal: Reader, graph_hash: str) -> Response:
    services = request.app.state.services
    digest = parse_graph_hash(graph_hash)
    record = await anyio.to_thread.run_sync(
        services.graph_records.get_graph, principal.tenant, str(digest)
    )
    if record is None:
        raise NotFound(f"no graph {digest}")
    limits = services.settings.limits
    stream = blocking_chunks(request.stream())

    def run() -> dict[str, Any]:
        loaded = services.graphs.load(principal.tenant, digest)
        report = parse_trace(stream, limits=limits)
        report.raise_for_errors()
        return map_trace(report, loaded.index, graph_hash_ok=True).to_dict()

    return JSONResponse(await anyio.to_thread.run_sync(run))


# -- ingests --------------------------------------------------------------------------------
@router.get(
    "/api/v1/ingests/{ingest_id}",
    responses=COMMON_RESPONSES
    | {
        200: json_response(
            INGEST_VIEW,
            "the receipt as it stands now, or the refusal",
            headers={"X-Ingest-Id": header("the ingest", ULID)},
        )
    },
    summary="An ingest's receipt",
)
def get_ingest(request: Request, principal: Reader, ingest_id: str) -> Response:
    ingest_id = parse_ulid(ingest_id)
    services = request.app.state.services
    record = services.ingests.get_ingest(principal.tenant, ingest_id)
    if record is not None:
        return JSONResponse(_ingest_view(record), headers={"X-Ingest-Id": record.ingest_id})
    imported = services.sync.get_imported_evidence(principal.tenant, ingest_id)  # an offline site's
    if imported is None:
        raise NotFound(f"no ingest {ingest_id}")
    return JSONResponse(dict(imported.receipt), headers={"X-Ingest-Id": ingest_id})


@router.get(
    "/api/v1/ingests",
    responses=COMMON_RESPONSES | {200: json_response(INGEST_PAGE, "a page of ingests")},
    summary="Ingests of the tenant",
)
def list_ingests(
    request: Request,
    principal: Reader,
    graph_hash: str | None = None,
    status: str | None = None,
    page_token: str | None = None,
    page_size_: Annotated[int | None, Query(alias="page_size")] = None,
) -> Response:
    size = page_size(page_size_)
    after = ulid_token(page_token)
    graph = str(parse_graph_hash(graph_hash)) if graph_hash is not None else None
    if status is not None and status not in {"ingested", "orphaned", "expired", "failed"}:
        raise InvalidInput(f"unknown status {status!r}", reason="invalid_status")
    records = request.app.state.services.ingests.list_ingests(
        principal.tenant, graph_hash=graph, status=status, after=after, limit=size + 1
    )
    return json_page(records, size, _ingest_view, lambda r: r.ingest_id)


# -- symbols --------------------------------------------------------------------------------
@router.post(
    "/api/v1/symbols/ingest",
    status_code=201,
    responses=stored_responses(
        SYMBOLS_STORED, created="manifest stored", existing="manifest already stored"
    ),
    summary="Ingest a SYMBOL_MANIFEST/v1",
    openapi_extra=json_body(description="SYMBOL_MANIFEST/v1"),
)
async def post_symbols(request: Request, principal: Writer) -> Response:
    services = request.app.state.services
    limits = services.settings.limits
    data = await read_body(
        request, limits.max_symbol_manifest_bytes, limit_name="max_symbol_manifest_bytes"
    )

    ctx = services.ingest_context("signals-api")
    try:
        result = await anyio.to_thread.run_sync(
            lambda: ingest_symbol_manifest(ctx, principal.tenant, data)
        )
    except InvalidSymbolManifest as exc:
        return problem_for(exc, errors=[p.to_dict() for p in exc.problems])
    return JSONResponse(result.to_dict(), status_code=201 if result.created else 200)


# -- timeline -------------------------------------------------------------------------------
@router.get(
    "/api/v1/timeline/events",
    responses=COMMON_RESPONSES | {200: json_response(EVENT_PAGE, "a page of events, by seq")},
    summary="Timeline events",
)
def list_events(
    request: Request,
    principal: Reader,
    type_: Annotated[str | None, Query(alias="type")] = None,
    since: datetime | None = None,
    page_token: str | None = None,
    page_size_: Annotated[int | None, Query(alias="page_size")] = None,
) -> Response:
    size = page_size(page_size_)
    after = decode_token(page_token)
    after_seq = None
    if after is not None:
        # ASCII digits only (str.isdigit() takes "²"), and no further than a seq can go:
        # the database refuses integers past 64 bits, which was a 500.
        if not _SEQ_TOKEN.fullmatch(after) or int(after) > MAX_SEQ:
            raise InvalidInput("malformed page_token", reason="invalid_page_token")
        after_seq = int(after)
    if since is not None and since.tzinfo is None:
        raise InvalidInput("since needs Z or an offset", reason="invalid_since")
    events = request.app.state.services.timeline.list_events(
        principal.tenant, event_type=type_, since=since, after_seq=after_seq, limit=size + 1
    )
    return json_page(events, size, lambda e: e.to_dict(), lambda e: str(e.seq))


@router.get(
    "/api/v1/timeline/events/{event_id}",
    responses=COMMON_RESPONSES | {200: json_response(EVENT, "the event, exactly as hashed")},
    summary="One event",
)
def get_event(request: Request, principal: Reader, event_id: str) -> Response:
    event = request.app.state.services.timeline.get_event(principal.tenant, parse_ulid(event_id))
    if event is None:
        raise NotFound(f"no event {event_id}")
    return JSONResponse(event.to_dict())


@router.get(
    "/api/v1/timeline/export",
    responses=COMMON_RESPONSES
    | {
        200: {
            "description": "one RFC 8785 event per line",
            "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
        }
    },
    summary="The tenant's whole timeline as NDJSON (one canonical event per line)",
)
def export_events(request: Request, principal: Reader) -> Response:
    timeline = request.app.state.services.timeline
    return StreamingResponse(
        events_to_ndjson(timeline.iter_events(principal.tenant)), media_type="application/x-ndjson"
    )


@router.post(
    "/api/v1/timeline/import",
    responses=COMMON_RESPONSES
    | {
        200: json_response(TIMELINE_IMPORT, "events appended and skipped"),
        413: PROBLEM,
        422: PROBLEM,
    },
    summary="Import an offline site's signed event batch (sync on reconnect); each event once",
    openapi_extra=binary_body(
        "application/json",
        description="a DSSE envelope (payloadType application/vnd.stella.timeline-sync+ndjson) "
        "over the site's events as exported, signed by a site key the tenant trusts for sync",
    ),
)
async def import_timeline(request: Request, principal: Writer) -> Response:
    services = request.app.state.services
    data = await read_body(
        request, services.settings.limits.max_graph_bytes, limit_name="max_timeline_import_bytes"
    )
    ctx = services.ingest_context("signals-sync")

    def run() -> dict[str, Any]:
        stats = import_signed_events(ctx, principal.tenant, data)  # the site's key vouched
        return {"appended": stats.appended, "skipped": stats.skipped, "keyid": stats.keyid}

    return JSONResponse(await anyio.to_thread.run_sync(run))


# -- keys -----------------------------------------------------------------------------------
@router.get(
    "/api/v1/keys/service",
    responses=COMMON_RESPONSES | {200: json_response(SERVICE_KEYS, "current key first")},
    summary="The service's receipt keys",
)
def service_keys(request: Request, principal: Reader) -> Response:
    """Every key receipts were signed with: the current one and the retired ones, by keyid
    (SPEC §13), so receipts issued before a rotation still verify."""
    services = request.app.state.services
    current = services.service_key.keyid
    records = services.service_keys.list_service_keys()
    keys = [
        {
            "keyid": record.keyid,
            "public_key_pem": record.public_pem.decode(),
            "status": "current" if record.keyid == current else "retired",
            "created_at": format_utc(record.created_at),
            "retired_at": format_utc(record.retired_at) if record.retired_at else None,
        }
        for record in records
    ]
    keys.sort(key=lambda k: (k["status"] != "current", k["keyid"]))
    return JSONResponse({"keys": keys})


# -- time -----------------------------------------------------------------------------------
@router.get(
    "/api/v1/time/status",
    responses=COMMON_RESPONSES | {200: json_response(TIME_STATUS, "the tenant's time status")},
    summary="Which time ingest trusts",
)
def time_status(request: Request, principal: Reader) -> Response:
    status = request.app.state.services.time.status(principal.tenant, record=False)  # a GET
    return JSONResponse(status.to_dict())
