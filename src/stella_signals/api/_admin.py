"""Admin routes (scope ``signals:admin``): a tenant's trusted keys and ingest policy."""

from __future__ import annotations

from functools import partial
from typing import Any

import anyio.to_thread
import msgspec
from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from stella_signals.api._auth import Admin
from stella_signals.api._bridge import read_body, read_json_body
from stella_signals.api._problems import COMMON_RESPONSES, PROBLEM
from stella_signals.api._schemas import (
    KEY_ADDED,
    KEY_PAGE,
    POLICY,
    binary_body,
    json_response,
    stored_responses,
)
from stella_signals.attest import load_public_key
from stella_signals.errors import InvalidInput, NotFound
from stella_signals.ports import KeyPurpose, TenantPolicy, TrustedKey

__all__ = ["router"]

router = APIRouter()
MAX_PEM_BYTES = 64 << 10
#: A policy is a few fields; the body is read whole, so it is bounded (413 past this).
MAX_POLICY_BYTES = 16 << 10


class _PolicyBody(msgspec.Struct, forbid_unknown_fields=True):
    require_dsse: bool
    dsse_threshold: int = 1


def _key_view(key: TrustedKey) -> dict[str, Any]:
    return {
        "keyid": key.keyid,
        "purpose": key.purpose.value,
        "public_key_pem": key.public_pem.decode(),
        "added_at": key.added_at.isoformat().replace("+00:00", "Z"),
        "revoked_at": key.revoked_at.isoformat().replace("+00:00", "Z") if key.revoked_at else None,
    }


@router.get(
    "/api/v1/keys",
    responses=COMMON_RESPONSES | {200: json_response(KEY_PAGE, "trusted keys, revoked ones too")},
    summary="The tenant's trusted keys",
)
def list_keys(
    request: Request, principal: Admin, purpose: KeyPurpose = KeyPurpose.ATTEST
) -> Response:
    keys = request.app.state.services.trust.list_trusted_keys(
        principal.tenant, purpose, include_revoked=True
    )
    return JSONResponse({"items": [_key_view(k) for k in keys], "next_page_token": None})


@router.post(
    "/api/v1/keys",
    status_code=201,
    responses=stored_responses(
        KEY_ADDED, created="trusted from now on", existing="already trusted"
    ),
    summary="Trust a public key (PEM body) for the tenant; effective at once",
    openapi_extra=binary_body("application/x-pem-file", description="a PEM public key"),
)
async def add_key(
    request: Request, principal: Admin, purpose: KeyPurpose = KeyPurpose.ATTEST
) -> Response:
    key = load_public_key(await read_body(request, MAX_PEM_BYTES, limit_name="max_pem_bytes"))
    services = request.app.state.services
    created = await anyio.to_thread.run_sync(  # the store blocks: never on the event loop
        services.trust_key, principal.tenant, purpose, key
    )
    return JSONResponse(
        {"keyid": key.keyid, "purpose": purpose.value}, status_code=201 if created else 200
    )


@router.delete(
    "/api/v1/keys/{keyid}",
    status_code=204,
    responses=COMMON_RESPONSES | {404: PROBLEM},
    summary="Revoke a trusted key",
)
def revoke_key(
    request: Request, principal: Admin, keyid: str, purpose: KeyPurpose = KeyPurpose.ATTEST
) -> Response:
    services = request.app.state.services
    if not services.trust.revoke_trusted_key(
        principal.tenant, purpose, keyid, services.clock.now()
    ):
        raise NotFound(f"no trusted {purpose.value} key {keyid}")
    return Response(status_code=204)


@router.get(
    "/api/v1/policy",
    responses=COMMON_RESPONSES | {200: json_response(POLICY, "the tenant's ingest policy")},
    summary="The tenant's ingest policy",
)
def get_policy(request: Request, principal: Admin) -> Response:
    policy = request.app.state.services.trust.get_policy(principal.tenant)
    return JSONResponse(
        {"require_dsse": policy.require_dsse, "dsse_threshold": policy.dsse_threshold}
    )


@router.put(
    "/api/v1/policy",
    responses=COMMON_RESPONSES
    | {200: json_response(POLICY, "the policy now in force"), 413: PROBLEM},
    summary="Set the tenant's ingest policy",
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": POLICY}}}
    },
)
async def put_policy(request: Request, principal: Admin) -> Response:
    body = await read_json_body(
        request, _PolicyBody, MAX_POLICY_BYTES, limit_name="max_policy_bytes", what="policy body"
    )
    if not 1 <= body.dsse_threshold <= 16:
        raise InvalidInput("dsse_threshold must be 1..16")
    services = request.app.state.services
    await anyio.to_thread.run_sync(
        partial(
            services.trust.set_policy,
            principal.tenant,
            TenantPolicy(require_dsse=body.require_dsse, dsse_threshold=body.dsse_threshold),
            services.clock.now(),
        )
    )
    return JSONResponse({"require_dsse": body.require_dsse, "dsse_threshold": body.dsse_threshold})
