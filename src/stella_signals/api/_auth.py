"""Authentication and tenancy for every route but /healthz, /readyz, /metrics."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Header, Request

from stella_signals.auth import Principal, Scope, bearer_token, token_hash
from stella_signals.errors import NotAuthenticated

__all__ = ["require"]


def require(scope: Scope) -> Callable[..., Principal]:
    """A dependency that admits the caller for ``scope`` under the X-Stella-Tenant header."""

    def dependency(
        request: Request,
        authorization: str | None = Header(default=None, include_in_schema=False),
        x_stella_tenant: str | None = Header(default=None, description="Tenant id (SPEC §1)"),
    ) -> Principal:
        token = bearer_token(authorization)
        record = request.app.state.services.repo.find_token(token_hash(token))
        if record is None or record.revoked:
            raise NotAuthenticated("unknown or revoked token")
        return Principal.admit(
            token_id=record.token_id,
            allowed_tenants=record.tenants,
            scopes=record.scopes,
            tenant_header=x_stella_tenant,
            scope=scope,
        )

    return dependency
