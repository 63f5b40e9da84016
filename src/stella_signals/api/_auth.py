"""Authentication and tenancy for every route but /healthz, /readyz, /metrics."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Header, Request

from stella_signals.auth import Principal, Scope, bearer_token, refuse_unless_active, token_hash
from stella_signals.errors import NotAuthenticated
from stella_signals.ports import TokenRecord

__all__ = ["authenticated", "require"]


def authenticated(request: Request, authorization: str | None) -> TokenRecord:
    """The stored token of the ``Authorization`` header, if it is known, not revoked and not
    expired at the service clock's now; `NotAuthenticated` (401) otherwise. The store is
    asked on every request: a token revoked by any server of the deployment, or by
    ``signals tokens revoke``, is refused from the next request on, by every server."""
    services = request.app.state.services
    record: TokenRecord | None = services.repo.find_token(token_hash(bearer_token(authorization)))
    if record is None:
        raise NotAuthenticated("unknown token")
    refuse_unless_active(record.status(services.clock.now()))
    return record


def require(scope: Scope) -> Callable[..., Principal]:
    """A dependency that admits the caller for ``scope`` under the X-Stella-Tenant header."""

    def dependency(
        request: Request,
        authorization: str | None = Header(default=None, include_in_schema=False),
        x_stella_tenant: str | None = Header(default=None, description="Tenant id (SPEC §1)"),
    ) -> Principal:
        record = authenticated(request, authorization)
        return Principal.admit(
            token_id=record.token_id,
            allowed_tenants=record.tenants,
            scopes=record.scopes,
            tenant_header=x_stella_tenant,
            scope=scope,
        )

    return dependency
