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

from fastapi import Header, Request

from stella_signals.auth import Principal, Scope, bearer_token, token_hash
from stella_signals.errors import InvalidField, NotAuthenticated
from stella_signals.timeline import FailureReason

__all__ = ["TENANT_HEADER", "Admission", "admit", "require"]

TENANT_HEADER = "X-Stella-Tenant"


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
        token = bearer_token(authorization)
        record = request.app.state.services.repo.find_token(token_hash(token))
        if record is None or record.revoked:
            raise NotAuthenticated("unknown or revoked token")
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
