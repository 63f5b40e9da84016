"""Bearer tokens and scopes (SPEC §6): a token is shown once; only its SHA-256 is stored.

A token also has a public id (a ULID, never derived from the secret) by which operators list
and revoke it, and may carry an expiry. Whether a stored token still admits anyone is decided
here, from its record and the injected clock's time (`token_status`), for every request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from stella_signals.errors import Forbidden, InvalidInput, NotAuthenticated
from stella_signals.tenancy import TenantId, parse_tenant
from stella_signals.wire import Rfc3339, parse_rfc3339

__all__ = [
    "TOKEN_PREFIX",
    "Principal",
    "Scope",
    "TokenRequest",
    "TokenStatus",
    "bearer_token",
    "new_token",
    "parse_duration",
    "parse_expiry_time",
    "parse_scopes",
    "refuse_unless_active",
    "token_expiry",
    "token_hash",
    "token_status",
]

TOKEN_PREFIX = "stl_"  # noqa: S105 - a prefix, not a secret


class Scope(StrEnum):
    READ = "signals:read"
    WRITE = "signals:write"
    ADMIN = "signals:admin"


class TokenStatus(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


def token_status(
    *, revoked_at: datetime | None, expires_at: datetime | None, now: datetime
) -> TokenStatus:
    """A stored token's standing at ``now``: revoked (whenever that was), expired (from the
    instant ``expires_at`` on), else active."""
    if revoked_at is not None:
        return TokenStatus.REVOKED
    if expires_at is not None and now >= expires_at:
        return TokenStatus.EXPIRED
    return TokenStatus.ACTIVE


def refuse_unless_active(status: TokenStatus) -> None:
    """`NotAuthenticated` (401) for a stored token that is revoked or expired."""
    if status is TokenStatus.REVOKED:
        raise NotAuthenticated("this token has been revoked", reason="token_revoked")
    if status is TokenStatus.EXPIRED:
        raise NotAuthenticated("this token has expired", reason="token_expired")


def parse_scopes(values: list[str]) -> frozenset[str]:
    """The scopes named by ``values``; each may hold several, comma-separated (``a,b``).
    `InvalidInput` (reason ``unknown_scope``) for an unknown or empty one, or none at all."""
    known = {s.value for s in Scope}
    found: set[str] = set()
    for value in values:
        for item in (part.strip() for part in value.split(",")):
            if item not in known:
                raise InvalidInput(
                    f"unknown scope {item!r}: use {', '.join(sorted(known))}",
                    reason="unknown_scope",
                )
            found.add(item)
    if not found:
        raise InvalidInput("at least one scope is required", reason="unknown_scope")
    return frozenset(found)


_DURATION = re.compile(r"(?:(\d{1,9})([wdhms]))+")
_DURATION_PART = re.compile(r"(\d{1,9})([wdhms])")
_UNIT_SECONDS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}


def parse_duration(text: str) -> timedelta:
    """A positive duration as numbers with units, largest first or not: ``90d``, ``12h``,
    ``1h30m``, ``3600s``, ``2w``. `InvalidInput` (reason ``invalid_expiry``) otherwise."""
    if len(text) > 64 or not _DURATION.fullmatch(text):
        raise InvalidInput(
            f"duration {text[:64]!r}: use numbers with units w, d, h, m, s (e.g. 90d, 1h30m)",
            reason="invalid_expiry",
        )
    seconds = sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(text))
    if seconds <= 0:
        raise InvalidInput(f"duration {text!r} must be positive", reason="invalid_expiry")
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise InvalidInput(f"duration {text!r} is too long", reason="invalid_expiry") from None


def parse_expiry_time(text: str) -> datetime:
    """An RFC 3339 date-time with ``Z`` or an offset (a local time is ambiguous: refused)."""
    moment = parse_rfc3339(text, Rfc3339.MICROS)
    if moment is not None:
        return moment
    raise InvalidInput(
        f"expiry {text[:64]!r} is not an RFC 3339 time with Z or an offset "
        "(e.g. 2027-01-31T00:00:00Z)",
        reason="invalid_expiry",
    )


def token_expiry(
    *, now: datetime, expires_in: timedelta | None, expires_at: datetime | None
) -> datetime | None:
    """When a token created at ``now`` expires: after ``expires_in``, at ``expires_at``, or
    never (neither given). Both at once is ambiguous, an expiry not after ``now`` useless:
    `InvalidInput` (reason ``invalid_expiry``)."""
    if expires_in is not None and expires_at is not None:
        raise InvalidInput(
            "give an expiry as a duration or as a time, not both", reason="invalid_expiry"
        )
    if expires_in is not None:
        try:
            return now + expires_in
        except OverflowError:
            raise InvalidInput("expiry is past the year 9999", reason="invalid_expiry") from None
    if expires_at is not None and expires_at <= now:
        raise InvalidInput(
            f"expiry {expires_at.isoformat()} is not in the future", reason="invalid_expiry"
        )
    return expires_at


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """What a new token is to allow and how long, parsed from a front door's words (the API's
    JSON body, the CLI's options); `expiry` is decided at the creation time."""

    scopes: frozenset[str]
    expires_in: timedelta | None = None
    expires_at: datetime | None = None

    @classmethod
    def parse(
        cls, scopes: list[str], *, expires_in: str | None, expires_at: str | None
    ) -> TokenRequest:
        """Scopes as `parse_scopes` reads them, a duration as `parse_duration`, a time as
        `parse_expiry_time`: `InvalidInput` at the first that is wrong, in that order. Both an
        expiry duration and time are let through: `expiry` refuses them."""
        return cls(
            scopes=parse_scopes(scopes),
            expires_in=parse_duration(expires_in) if expires_in is not None else None,
            expires_at=parse_expiry_time(expires_at) if expires_at is not None else None,
        )

    def expiry(self, now: datetime) -> datetime | None:
        """When a token made at ``now`` for this request expires (`token_expiry`)."""
        return token_expiry(now=now, expires_in=self.expires_in, expires_at=self.expires_at)


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
