"""Authentication and tenancy for every route but /healthz, /readyz, /metrics.

``X-Stella-Tenant`` is taken once: a request that repeats it is ambiguous and refused (400,
reason ``ambiguous_input``), never first- or last-wins. When the repeats name different
tenants no tenant can be trusted, so nothing is recorded anywhere; when they all name the
same tenant (and the token allows it) that tenant is certain, and an ingest route records
the refusal under it like any other (`Admission.refusal`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request

from stella_signals.auth import Principal, Scope, bearer_token, refuse_unless_active, token_hash
from stella_signals.errors import InvalidField, NotAuthenticated
from stella_signals.ports import TokenRecord
from stella_signals.timeline import FailureReason

__all__ = [
    "TENANT_HEADER",
    "Admin",
    "Admission",
    "Reader",
    "Writer",
    "admit",
    "authenticated",
    "require",
]

TENANT_HEADER = "X-Stella-Tenant"


def authenticated(request: Request, authorization: str | None) -> TokenRecord:
    """The stored token of the ``Authorization`` header, if it is known, not revoked and not
    expired at the service clock's now; `NotAuthenticated` (401) otherwise. The store is
    asked on every request: a token revoked by any server of the deployment, or by
    ``signals tokens revoke``, is refused from the next request on, by every server."""
    services = request.app.state.services
    record: TokenRecord | None = services.tokens.find_token(token_hash(bearer_token(authorization)))
    if record is None:
        raise NotAuthenticated("unknown token")
    refuse_unless_active(record.status(services.clock.now()))
    return record


@dataclass(frozen=True, slots=True)
class Admission:
    """An admitted caller, and the refusal its request still gets although its tenant is
    certain (a tenant header repeated with one value): for routes that record refusals."""

    principal: Principal
    refusal: InvalidField | None = None


def _tenant_header(request: Request) -> tuple[str | None, InvalidField | None]:
    """The tenant header's value, and the refusal of a repeated header naming one tenant;
    a repeated header naming several tenants is raised at once."""
    values = request.headers.getlist(TENANT_HEADER)
    if len(values) <= 1:
        return (values[0] if values else None), None
    refusal = InvalidField(
        f"{TENANT_HEADER} is sent {len(values)} times: send it once",
        field=TENANT_HEADER,
        reason=FailureReason.AMBIGUOUS_INPUT.value,
    )
    if len(set(values)) > 1:
        raise refusal
    return values[0], refusal


def admit(scope: Scope) -> Callable[..., Admission]:
    """A dependency that admits the caller for ``scope`` under the X-Stella-Tenant header,
    leaving a refusal under a certain tenant to the route (see the module docstring)."""

    def dependency(
        request: Request,
        authorization: str | None = Header(default=None, include_in_schema=False),
        x_stella_tenant: str | None = Header(default=None, description="Tenant id (SPEC §1)"),
    ) -> Admission:
        record = authenticated(request, authorization)
        tenant_header, refusal = _tenant_header(request)
        principal = Principal.admit(
            token_id=record.token_id,
            allowed_tenants=record.tenants,
            scopes=record.scopes,
            tenant_header=tenant_header,
            scope=scope,
        )
        return Admission(principal, refusal)

    return dependency


def require(scope: Scope) -> Callable[..., Principal]:
    """A dependency that admits the caller for ``scope`` under the X-Stella-Tenant header."""
    admitted = admit(scope)

    def dependency(
        request: Request,
        authorization: str | None = Header(default=None, include_in_schema=False),
        x_stella_tenant: str | None = Header(default=None, description="Tenant id (SPEC §1)"),
    ) -> Principal:
        admission = admitted(request, authorization, x_stella_tenant)
        if admission.refusal is not None:
            raise admission.refusal
        return admission.principal

    return dependency


#: A route's principal, admitted for reading, writing or administering the tenant.
Reader = Annotated[Principal, Depends(require(Scope.READ))]
Writer = Annotated[Principal, Depends(require(Scope.WRITE))]
Admin = Annotated[Principal, Depends(require(Scope.ADMIN))]
