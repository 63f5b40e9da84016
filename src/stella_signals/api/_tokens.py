"""Bearer tokens of the caller's tenant (scope ``signals:admin``): list, create, revoke.

A tenant's admin manages the tokens that allow its tenant alone; a token another tenant
could use too (made by the operator with ``signals tokens create --tenant A --tenant B``) is
the operator's, and these routes answer 404 for it, as for another tenant's token. The
secret is answered once, by `POST`; nothing ever shows it again, nor its hash.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated

import anyio.to_thread
import msgspec
from fastapi import APIRouter, Query, Request
from starlette.responses import JSONResponse, Response

from stella_signals.api._auth import Admin
from stella_signals.api._bridge import read_json_body
from stella_signals.api._pagination import json_page, page_size, ulid_token
from stella_signals.api._problems import COMMON_RESPONSES, PROBLEM
from stella_signals.api._schemas import (
    TOKEN,
    TOKEN_CREATED,
    TOKEN_PAGE,
    TOKEN_REQUEST,
    header,
    json_response,
)
from stella_signals.auth import TokenRequest
from stella_signals.errors import NotFound
from stella_signals.ids import parse_ulid

__all__ = ["MAX_TOKEN_REQUEST_BYTES", "router"]

router = APIRouter()
#: A token request is a few fields; the body is read whole, so it is bounded (413 past this).
MAX_TOKEN_REQUEST_BYTES = 16 << 10
#: The secret must not linger in caches (RFC 9111 §5.2.2.5).
_NO_STORE = {"Cache-Control": "no-store"}


class _TokenRequest(msgspec.Struct, forbid_unknown_fields=True):
    scopes: list[str]
    expires_in: str | None = None
    expires_at: str | None = None


@router.get(
    "/api/v1/tokens",
    responses=COMMON_RESPONSES
    | {200: json_response(TOKEN_PAGE, "the tenant's tokens, revoked and expired ones too")},
    summary="The tenant's bearer tokens (never their secrets)",
)
def list_tokens(
    request: Request,
    principal: Admin,
    page_token: str | None = None,
    page_size_: Annotated[int | None, Query(alias="page_size")] = None,
) -> Response:
    size = page_size(page_size_)
    after = ulid_token(page_token)
    services = request.app.state.services
    records = services.tokens.list_tokens(tenant=principal.tenant, after=after, limit=size + 1)
    now = services.clock.now()
    return json_page(records, size, lambda r: r.public_view(now), lambda r: r.token_id)


@router.post(
    "/api/v1/tokens",
    status_code=201,
    responses=COMMON_RESPONSES
    | {
        201: json_response(
            TOKEN_CREATED,
            "the new token; its secret (`token`) is shown this once",
            headers={
                "Location": header("/api/v1/tokens/<token_id>"),
                "Cache-Control": header("no-store"),
            },
        ),
        413: PROBLEM,
    },
    summary="Create a bearer token for the tenant, optionally expiring",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": TOKEN_REQUEST}},
        }
    },
)
async def create_token(request: Request, principal: Admin) -> Response:
    body = await read_json_body(
        request, _TokenRequest, MAX_TOKEN_REQUEST_BYTES,
        limit_name="max_token_request_bytes", what="token request",
    )  # fmt: skip
    token_request = TokenRequest.parse(
        body.scopes, expires_in=body.expires_in, expires_at=body.expires_at
    )
    services = request.app.state.services
    issued = await anyio.to_thread.run_sync(
        partial(services.issue_token, tenants=frozenset({principal.tenant}), request=token_request)
    )
    now = issued.record.created_at
    view = {k: v for k, v in issued.record.public_view(now).items() if k != "status"}
    return JSONResponse(
        view | {"token": issued.secret},
        status_code=201,
        headers=_NO_STORE | {"Location": f"/api/v1/tokens/{issued.token_id}"},
    )


@router.get(
    "/api/v1/tokens/{token_id}",
    responses=COMMON_RESPONSES | {200: json_response(TOKEN, "the token (never its secret)")},
    summary="One of the tenant's bearer tokens",
)
def get_token(request: Request, principal: Admin, token_id: str) -> Response:
    services = request.app.state.services
    record = services.tokens.get_token(parse_ulid(token_id), tenant=principal.tenant)
    if record is None:
        raise NotFound(f"no token {token_id}")
    return JSONResponse(record.public_view(services.clock.now()))


@router.delete(
    "/api/v1/tokens/{token_id}",
    status_code=204,
    responses=COMMON_RESPONSES | {404: PROBLEM},
    summary="Revoke a bearer token: refused (401) from its next request on, by every server",
)
def revoke_token(request: Request, principal: Admin, token_id: str) -> Response:
    services = request.app.state.services
    revoked = services.tokens.revoke_token(
        parse_ulid(token_id), tenant=principal.tenant, at=services.clock.now()
    )
    if revoked is None:
        raise NotFound(f"no token {token_id}")
    return Response(status_code=204)
