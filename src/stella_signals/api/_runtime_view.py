"""What ran (issue 5, item 4): per graph node, its symbol id and the runtime evidence of every
ingest, and a coverage summary per graph."""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated, Any, Literal

import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import JSONResponse, Response

from stella_signals.api._auth import require
from stella_signals.api._pagination import decode_token, encode_token, page_size
from stella_signals.api._problems import COMMON_RESPONSES
from stella_signals.api._schemas import COVERAGE, RUNTIME_PAGE, json_response
from stella_signals.auth import Principal, Scope
from stella_signals.clock import format_utc
from stella_signals.errors import NotFound
from stella_signals.ingest import parse_graph_hash

__all__ = ["router"]

router = APIRouter()
Reader = Annotated[Principal, Depends(require(Scope.READ))]


def _load(request: Request, principal: Principal, graph_hash: str) -> tuple[Any, Any]:
    services = request.app.state.services
    digest = parse_graph_hash(graph_hash)
    if services.graph_records.get_graph(principal.tenant, str(digest)) is None:
        raise NotFound(f"no graph {digest}")
    index = services.graphs.load(principal.tenant, digest, rehash=False).index
    return index, services.ingests.observed_nodes(principal.tenant, str(digest))


@router.get(
    "/api/v1/graphs/{graph_hash}/runtime",
    responses=COMMON_RESPONSES | {200: json_response(RUNTIME_PAGE, "a page of nodes, by node id")},
    summary="What ran: per node, its symbol id, hits, first/last seen, containers, ingest ids",
)
async def graph_runtime(
    request: Request,
    principal: Reader,
    graph_hash: str,
    purl: str | None = None,
    observed: Literal["observed", "unobserved", "all"] = "observed",
    page_token: str | None = None,
    page_size_: Annotated[int | None, Query(alias="page_size")] = None,
) -> Response:
    size = page_size(page_size_)
    after = decode_token(page_token)

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
