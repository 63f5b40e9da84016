"""What ran (issue 5, item 4): per graph node, its symbol id and the runtime evidence of every
ingest, and a coverage summary per graph; with ``view=edges`` (issue 17), the caller → callee
pairs seen at run time, each saying whether the graph has that edge."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Annotated, Any, Literal

import anyio.to_thread
from fastapi import APIRouter, Query, Request
from starlette.responses import JSONResponse, Response

from stella_signals.api._auth import Reader
from stella_signals.api._pagination import decode_token, encode_token, page_size
from stella_signals.api._problems import COMMON_RESPONSES
from stella_signals.api._schemas import COVERAGE, RUNTIME_EDGE_PAGE, RUNTIME_PAGE, json_response
from stella_signals.auth import Principal
from stella_signals.clock import format_utc
from stella_signals.errors import InvalidField, InvalidInput, NotFound
from stella_signals.ingest import parse_graph_hash

__all__ = ["router"]

router = APIRouter()


def _load(request: Request, principal: Principal, graph_hash: str) -> tuple[Any, Any]:
    services = request.app.state.services
    digest = parse_graph_hash(graph_hash)
    if services.graph_records.get_graph(principal.tenant, str(digest)) is None:
        raise NotFound(f"no graph {digest}")
    index = services.graphs.load(principal.tenant, digest, rehash=False).index
    return index, services.ingests.observed_nodes(principal.tenant, str(digest))


#: Longest page token position of ``view=edges``: two symbol ids (each at most 1024 bytes
#: in a graph; a trace's are bounded by its line length) as a JSON array.
_EDGE_POSITION_CHARS = 16384


@router.get(
    "/api/v1/graphs/{graph_hash}/runtime",
    responses=COMMON_RESPONSES
    | {
        200: json_response(
            {"anyOf": [RUNTIME_PAGE, RUNTIME_EDGE_PAGE]},
            "a page of nodes, by node id; with view=edges a page of observed caller → callee"
            " pairs, by (caller_symbol_id, symbol_id)",
        )
    },
    summary="What ran: per node, its symbol id, hits, first/last seen, containers, ingest ids;"
    " or (view=edges) the edges seen at run time",
)
async def graph_runtime(
    request: Request,
    principal: Reader,
    graph_hash: str,
    purl: str | None = None,
    observed: Literal["observed", "unobserved", "all"] | None = None,
    view: Literal["nodes", "edges"] = "nodes",
    in_graph: bool | None = None,
    page_token: str | None = None,
    page_size_: Annotated[int | None, Query(alias="page_size")] = None,
) -> Response:
    size = page_size(page_size_)
    if view == "edges":
        for name, value in (("purl", purl), ("observed", observed)):
            if value is not None:
                raise InvalidField(f"{name} applies to view=nodes, not view=edges", field=name)
        return JSONResponse(
            await anyio.to_thread.run_sync(
                _edges_page, request, principal, graph_hash, in_graph, page_token, size
            )
        )
    if in_graph is not None:
        raise InvalidField("in_graph applies to view=edges", field="in_graph")
    after = decode_token(page_token)
    observed = observed or "observed"

    def run() -> dict[str, Any]:
        index, seen = _load(request, principal, graph_hash)
        order = sorted(range(index.nodes_total), key=index.node_ids.__getitem__)
        items: list[tuple[int, Any]] = []
        more = False
        for number in order:
            node_id = index.node_ids[number]
            if after is not None and node_id <= after:
                continue
            if purl is not None and index.node_purls[number] != purl:
                continue
            observation = seen.get(node_id)
            if (observed == "observed" and observation is None) or (
                observed == "unobserved" and observation is not None
            ):
                continue
            if len(items) == size:
                more = True
                break
            items.append((number, observation))
        details = request.app.state.services.ingests.node_details(
            principal.tenant, index.graph_hash, [index.node_ids[n] for n, o in items if o]
        )
        rows = []
        for number, observation in items:
            node_id = index.node_ids[number]
            row: dict[str, Any] = {
                "node": node_id,
                "symbol_id": index.node_symbols[number],
                "purl": index.node_purls[number],
                "observed": observation is not None,
                "hits": 0,
                "first_seen": None,
                "last_seen": None,
                "containers": [],
                "ingest_ids": [],
            }
            if observation is not None:
                containers, ingest_ids = details[node_id]
                row |= {
                    "hits": observation.hits,
                    "first_seen": format_utc(observation.first_seen),
                    "last_seen": format_utc(observation.last_seen),
                    "containers": list(containers),
                    "ingest_ids": list(ingest_ids),
                }
            rows.append(row)
        return {
            "graph_hash": index.graph_hash,
            "items": rows,
            "next_page_token": encode_token(rows[-1]["node"]) if more and rows else None,
        }

    return JSONResponse(await anyio.to_thread.run_sync(run))


def _edges_page(
    request: Request,
    principal: Principal,
    graph_hash: str,
    in_graph: bool | None,
    page_token: str | None,
    size: int,
) -> dict[str, Any]:
    """A page of the caller → callee pairs seen over every ingest of the graph."""
    position = decode_token(page_token, max_chars=_EDGE_POSITION_CHARS)
    after: tuple[str, str] | None = None
    if position is not None:
        try:
            caller, callee = json.loads(position)
        except (ValueError, TypeError):
            raise InvalidInput("malformed page_token", reason="invalid_page_token") from None
        if not isinstance(caller, str) or not isinstance(callee, str):
            raise InvalidInput("malformed page_token", reason="invalid_page_token")
        after = (caller, callee)
    services = request.app.state.services
    digest = parse_graph_hash(graph_hash)
    if services.graph_records.get_graph(principal.tenant, str(digest)) is None:
        raise NotFound(f"no graph {digest}")
    edges = services.ingests.observed_edges(
        principal.tenant, str(digest), in_graph=in_graph, after=after, limit=size + 1
    )
    page, more = edges[:size], len(edges) > size
    last = page[-1] if page else None
    return {
        "graph_hash": str(digest),
        "view": "edges",
        "items": [
            {
                "caller_symbol_id": e.caller_symbol_id,
                "symbol_id": e.symbol_id,
                "caller_node": e.caller_node,
                "callee_node": e.callee_node,
                "in_graph": e.in_graph,
                "count": e.count,
                "ingest_ids": list(e.ingest_ids),
            }
            for e in page
        ],
        "next_page_token": (
            encode_token(json.dumps([last.caller_symbol_id, last.symbol_id]))
            if more and last is not None
            else None
        ),
    }


@router.get(
    "/api/v1/graphs/{graph_hash}/coverage",
    responses=COMMON_RESPONSES | {200: json_response(COVERAGE, "the graph's coverage")},
    summary="Coverage: nodes observed / total, edges confirmed / total, by purl",
)
async def graph_coverage(request: Request, principal: Reader, graph_hash: str) -> Response:
    def run() -> dict[str, Any]:
        index, seen = _load(request, principal, graph_hash)
        flags = bytearray(index.nodes_total)
        by_purl: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for number, node_id in enumerate(index.node_ids):
            counts = by_purl[index.node_purls[number] or ""]
            counts[1] += 1
            if node_id in seen:
                flags[number] = 1
                counts[0] += 1
        confirmed = sum(
            1 for a, b in zip(index.edge_from, index.edge_to, strict=True) if flags[a] and flags[b]
        )
        return {
            "graph_hash": index.graph_hash,
            "nodes_observed": sum(flags),
            "nodes_total": index.nodes_total,
            "edges_confirmed": confirmed,
            "edges_total": index.edges_total,
            "by_purl": [
                {"purl": p or None, "nodes_observed": o, "nodes_total": t}
                for p, (o, t) in sorted(by_purl.items())
            ],
        }

    return JSONResponse(await anyio.to_thread.run_sync(run))
