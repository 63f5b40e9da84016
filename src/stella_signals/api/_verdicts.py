"""Reachability verdicts and VEX (SPEC §15): evaluate a catalog against a graph, read the
current verdicts, their history and the unknowns, and fetch signed VEX documents with their
envelope and Evidence Locker bundle. Tenant-scoped: another tenant's id is 404."""

from __future__ import annotations

import re
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Query, Request
from starlette.responses import JSONResponse, Response

from stella_signals.api._auth import Reader, Writer
from stella_signals.api._bridge import read_body
from stella_signals.api._pagination import decode_token, json_page, page_size, ulid_token
from stella_signals.api._problems import COMMON_RESPONSES, PROBLEM, problem_for
from stella_signals.api._schemas import (
    DSSE_ENVELOPE,
    EVALUATION,
    SHA256_HEX,
    UNKNOWN_PAGE,
    VERDICT_HISTORY_PAGE,
    VERDICT_PAGE,
    VEX_PAGE,
    header,
    json_body,
    json_response,
    tar_gz_download,
    tar_gz_response,
)
from stella_signals.clock import format_utc
from stella_signals.digests import sha256_hex
from stella_signals.errors import InvalidInput
from stella_signals.ids import parse_ulid
from stella_signals.ingest import parse_graph_hash
from stella_signals.ports import StoredUnknown, StoredVerdict, VerdictChange, verdict_id
from stella_signals.reach import InvalidCatalog, State
from stella_signals.verdicts import (
    change_json,
    evaluate_request,
    parse_evaluate_request,
    vex_bundle,
    vex_document,
    vex_envelope,
    vex_item,
)
from stella_signals.vex import CYCLONEDX_PAYLOAD_TYPE, OPENVEX_PAYLOAD_TYPE, VexFormat

__all__ = ["router"]

router = APIRouter()

#: Page tokens of verdicts, history and unknowns: an evaluation id and a position in it
#: (`ports.verdict_id`).
_POSITION_TOKEN = re.compile(r"([0-7][0-9A-HJKMNP-TV-Z]{25})\.([0-9]{9})")
#: Page tokens of VEX documents: the last document's id.


def _position(token: str | None) -> tuple[str, int] | None:
    position = decode_token(token)
    if position is None:
        return None
    match = _POSITION_TOKEN.fullmatch(position)
    if match is None:
        raise InvalidInput("malformed page_token", reason="invalid_page_token")
    return match.group(1), int(match.group(2))


def _graph(graph_hash: str | None) -> str | None:
    return None if graph_hash is None else str(parse_graph_hash(graph_hash))


def _verdict_item(row: StoredVerdict) -> dict[str, Any]:
    return {
        **dict(row.body),
        "verdict_id": row.verdict_id,
        "catalog_digest": row.catalog_digest,
        "evaluation_id": row.evaluation_id,
        "changed_at": format_utc(row.changed_at),
    }


def _unknown_item(row: StoredUnknown) -> dict[str, Any]:
    return {
        **dict(row.body),
        "catalog_digest": row.catalog_digest,
        "evaluation_id": row.evaluation_id,
    }


def _verdict_position(row: VerdictChange | StoredUnknown) -> str:
    """The page position of a history entry or an unknown: its evaluation and its place in it."""
    return verdict_id(row.evaluation_id, row.position)


def _context(request: Request) -> Any:
    return request.app.state.services.ingest_context("signals-api")


# -- evaluate ---------------------------------------------------------------------------------
@router.post(
    "/api/v1/reachability/evaluate",
    responses=COMMON_RESPONSES
    | {
        200: json_response(EVALUATION, "the evaluation, as recorded, and its VEX documents"),
        413: PROBLEM,
    },
    summary="Evaluate a vulnerability catalog against a graph and the runtime evidence of a "
    "window (SPEC §15); optionally render and sign VEX documents",
    openapi_extra=json_body(
        {
            "type": "object",
            "required": ["graph_hash", "catalog"],
            "properties": {
                "graph_hash": {"type": "string"},
                "catalog": {"type": "object", "description": "stella.vuln-catalog/v1"},
                "since": {"type": "string", "format": "date-time"},
                "vex": {"type": "array", "items": {"enum": ["openvex", "cyclonedx"]}},
                "product": {"type": "string", "description": "a purl"},
            },
            "additionalProperties": False,
        }
    ),
)
async def post_evaluate(request: Request, principal: Writer) -> Response:
    services = request.app.state.services
    limit = services.settings.limits.max_graph_bytes
    data = await read_body(request, limit, limit_name="max_graph_bytes")
    parsed = parse_evaluate_request(data)
    ctx = _context(request)
    try:
        outcome, stored = await anyio.to_thread.run_sync(
            evaluate_request, ctx, principal.tenant, parsed
        )
    except InvalidCatalog as exc:
        errors = [
            {**p.to_dict(), "field": "catalog" + p.pointer, "pointer": "/catalog" + p.pointer}
            for p in exc.problems
        ]
        return problem_for(exc, errors=errors)
    return JSONResponse({**outcome.to_json(), "vex": [s.to_json() for s in stored]})


# -- verdicts ---------------------------------------------------------------------------------
@router.get(
    "/api/v1/reachability/verdicts",
    responses=COMMON_RESPONSES | {200: json_response(VERDICT_PAGE, "a page of current verdicts")},
    summary="The current verdict of each target (per graph and catalog), in a stable order",
)
def list_verdicts(
    request: Request,
    principal: Reader,
    graph_hash: str | None = None,
    vuln_id: str | None = None,
    state: str | None = None,
    catalog_digest: str | None = None,
    page_token: str | None = None,
    page_size_: Annotated[int | None, Query(alias="page_size")] = None,
) -> Response:
    size = page_size(page_size_)
    after = _position(page_token)
    if state is not None and state not in {s.value for s in State}:
        raise InvalidInput(f"unknown state {state!r}", reason="invalid_state")
    rows = request.app.state.services.verdicts.list_verdicts(
        principal.tenant,
        graph_hash=_graph(graph_hash),
        catalog_digest=catalog_digest,
        vuln_id=vuln_id,
        state=state,
        after=None if after is None else verdict_id(*after),
        limit=size + 1,
    )
    return json_page(rows, size, _verdict_item, lambda row: row.verdict_id)


@router.get(
    "/api/v1/reachability/verdicts/history",
    responses=COMMON_RESPONSES
    | {200: json_response(VERDICT_HISTORY_PAGE, "a page of state changes, oldest first")},
    summary="How verdicts changed: each first state and each change, with its evaluation and "
    "its reach.verdict.changed event",
)
def verdict_history(
    request: Request,
    principal: Reader,
    graph_hash: str | None = None,
    vuln_id: str | None = None,
    symbol: str | None = None,
    page_token: str | None = None,
    page_size_: Annotated[int | None, Query(alias="page_size")] = None,
) -> Response:
    size = page_size(page_size_)
    rows = request.app.state.services.verdicts.verdict_history(
        principal.tenant,
        graph_hash=_graph(graph_hash),
        vuln_id=vuln_id,
        symbol=symbol,
        after=_position(page_token),
        limit=size + 1,
    )
    return json_page(rows, size, change_json, _verdict_position)


@router.get(
    "/api/v1/unknowns",
    responses=COMMON_RESPONSES | {200: json_response(UNKNOWN_PAGE, "a page of unknowns")},
    summary="Where evidence is too thin to trust a not_affected: unmapped symbols, unexpected "
    "edges, targets in no scanned code, X verdicts (latest evaluation of each graph and catalog)",
)
def list_unknowns(
    request: Request,
    principal: Reader,
    graph_hash: str | None = None,
    page_token: str | None = None,
    page_size_: Annotated[int | None, Query(alias="page_size")] = None,
) -> Response:
    size = page_size(page_size_)
    rows = request.app.state.services.verdicts.list_unknowns(
        principal.tenant, graph_hash=_graph(graph_hash), after=_position(page_token),
        limit=size + 1,
    )  # fmt: skip
    return json_page(rows, size, _unknown_item, _verdict_position)


# -- VEX --------------------------------------------------------------------------------------
_DOCUMENT_HEADERS = {
    "Content-SHA256": header("hex SHA-256 of the document", SHA256_HEX),
    "X-Vex-Format": header("openvex or cyclonedx"),
}


@router.get(
    "/api/v1/vex",
    responses=COMMON_RESPONSES | {200: json_response(VEX_PAGE, "a page of VEX documents")},
    summary="The tenant's signed VEX documents, newest first",
)
def list_vex(
    request: Request,
    principal: Reader,
    graph_hash: str | None = None,
    page_token: str | None = None,
    page_size_: Annotated[int | None, Query(alias="page_size")] = None,
) -> Response:
    size = page_size(page_size_)
    after = ulid_token(page_token)
    rows = request.app.state.services.verdicts.list_vex(
        principal.tenant, graph_hash=_graph(graph_hash), after=after, limit=size + 1
    )
    return json_page(rows, size, vex_item, lambda row: row.vex_id)


@router.get(
    "/api/v1/vex/{vex_id}",
    responses=COMMON_RESPONSES
    | {
        200: {
            "description": "the VEX document, exactly as signed",
            "content": {
                OPENVEX_PAYLOAD_TYPE: {"schema": {"type": "object"}},
                CYCLONEDX_PAYLOAD_TYPE: {"schema": {"type": "object"}},
            },
            "headers": _DOCUMENT_HEADERS,
        }
    },
    summary="A signed VEX document (OpenVEX 0.2.0 or CycloneDX 1.6)",
)
def get_vex(request: Request, principal: Reader, vex_id: str) -> Response:
    record, document = vex_document(_context(request), principal.tenant, parse_ulid(vex_id))
    return Response(
        document,
        media_type=VexFormat(record.format).payload_type,
        headers={"Content-SHA256": sha256_hex(document), "X-Vex-Format": record.format},
    )


@router.get(
    "/api/v1/vex/{vex_id}/dsse",
    responses=COMMON_RESPONSES
    | {200: json_response(DSSE_ENVELOPE, "the document's DSSE envelope, signed by the service")},
    summary="The DSSE envelope of a VEX document (`stella vex verify` checks it offline)",
)
def get_vex_dsse(request: Request, principal: Reader, vex_id: str) -> Response:
    _, envelope = vex_envelope(_context(request), principal.tenant, parse_ulid(vex_id))
    return Response(
        envelope, media_type="application/json", headers={"Content-SHA256": sha256_hex(envelope)}
    )


@router.get(
    "/api/v1/vex/{vex_id}/bundle",
    responses=COMMON_RESPONSES | {200: tar_gz_response("vex")},
    summary="A VEX document's Evidence Locker bundle: the document, its envelope, the catalog, "
    "the graph, the evaluation and each ingest's signed receipt, trace and probe manifest",
)
async def get_vex_bundle(request: Request, principal: Reader, vex_id: str) -> Response:
    vex_id = parse_ulid(vex_id)
    ctx = _context(request)
    data = await anyio.to_thread.run_sync(vex_bundle, ctx, principal.tenant, vex_id)
    return tar_gz_download(data, "vex", vex_id)
