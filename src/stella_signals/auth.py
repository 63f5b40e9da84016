"""Bearer tokens and scopes (SPEC §6): a token is shown once; only its SHA-256 is stored."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum

from stella_signals.errors import Forbidden, NotAuthenticated
from stella_signals.tenancy import TenantId, parse_tenant

__all__ = [
    "TOKEN_PREFIX",
    "Principal",
    "Scope",
    "bearer_token",
    "new_token",
    "token_hash",
]

TOKEN_PREFIX = "stl_"  # noqa: S105 - a prefix, not a secret


class Scope(StrEnum):
    READ = "signals:read"
    WRITE = "signals:write"
    ADMIN = "signals:admin"


def new_token() -> str:
    """A new random bearer token (256 bits), to be shown once."""
    return TOKEN_PREFIX + base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header; `NotAuthenticated` else."""
    if not authorization:
        raise NotAuthenticated("an Authorization: Bearer <token> header is required")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token or len(token) > 256:
        raise NotAuthenticated("malformed Authorization header: use Bearer <token>")
    return token


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, for which tenant: built only after the token and tenant checked out."""

    token_id: str
    tenant: TenantId
    scopes: frozenset[str]

    @classmethod
    def admit(
        cls,
        *,
        token_id: str,
        allowed_tenants: frozenset[str],
        scopes: frozenset[str],
        tenant_header: str | None,
        scope: Scope,
    ) -> Principal:
        """Check the tenant header against the token and the scope; `Forbidden` otherwise.

        A tenant header that is not a valid tenant id is a client error (`InvalidTenant`).
        """
        if tenant_header is None:
            raise Forbidden("the X-Stella-Tenant header is required")
        tenant = parse_tenant(tenant_header)
        if tenant not in allowed_tenants:
            raise Forbidden(f"this token does not allow tenant {tenant}")
        if scope.value not in scopes:
            raise Forbidden(f"this token lacks the {scope.value} scope")
        return cls(token_id=token_id, tenant=tenant, scopes=scopes)


def same_hash(a: str, b: str) -> bool:
    return hmac.compare_digest(a, b)
