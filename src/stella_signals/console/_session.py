"""Console sessions: a bearer token in an HttpOnly cookie, checked like the API checks it.

The session is the token itself (``stella_token``) and the tenant chosen at sign-in
(``stella_tenant``), both HttpOnly, SameSite=Strict, Path=/ui, Secure when served over TLS.
Nothing is kept on the server: every request looks the token up by its SHA-256 in the store
(`auth.token_hash`), and refuses it when unknown, revoked or expired at the service clock,
exactly as `/api/v1` does, so a revoked or expired token is signed out on its next request,
on every server of a deployment. The tenant goes through `Principal.admit` with the scope the
page needs, as an ``X-Stella-Tenant`` header would.

CSRF: every form carries ``csrf``, an HMAC-SHA256 keyed by the session's token over the
tenant (`csrf_token`). Only the holder of the session can compute it; a POST whose field is
not the value of its own cookies is refused (403) before anything runs. The sign-in form,
before any session exists, uses a random double-submit value (cookie ``stella_signin`` and the
form field must be equal).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from stella_signals.auth import (
    Principal,
    Scope,
    bearer_token,
    refuse_unless_active,
    token_hash,
)
from stella_signals.errors import Forbidden, InvalidField, NotAuthenticated
from stella_signals.ports import TokenRecord
from stella_signals.wiring import Services

__all__ = [
    "SIGNIN_COOKIE",
    "TENANT_COOKIE",
    "TOKEN_COOKIE",
    "Session",
    "SignedOut",
    "check_csrf",
    "check_signin_csrf",
    "clear_cookie",
    "clear_session",
    "csrf_token",
    "find_active_token",
    "new_signin_csrf",
    "open_session",
    "set_cookie",
]

TOKEN_COOKIE = "stella_token"  # noqa: S105 - a cookie name
TENANT_COOKIE = "stella_tenant"
SIGNIN_COOKIE = "stella_signin"
COOKIE_PATH = "/ui"
_CSRF_CONTEXT = b"stella-console-csrf/v1\x00"


class SignedOut(Exception):
    """No usable session: the browser is sent to sign-in and its cookies are cleared."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in browser: its token's record, the tenant it works in (None until chosen)
    and the CSRF value its forms must carry."""

    record: TokenRecord
    token: str
    tenant: str | None
    csrf: str

    @property
    def tenants(self) -> list[str]:
        return sorted(self.record.tenants)

    def admit(self, scope: Scope) -> Principal:
        """The principal for ``scope`` in the session's tenant (`Forbidden` as the API)."""
        return Principal.admit(
            token_id=self.record.token_id,
            allowed_tenants=self.record.tenants,
            scopes=self.record.scopes,
            tenant_header=self.tenant,
            scope=scope,
        )


def csrf_token(token: str, tenant: str | None) -> str:
    """The CSRF value of a session: HMAC-SHA256(key = the bearer token, tenant)."""
    mac = hmac.new(token.encode(), _CSRF_CONTEXT + (tenant or "").encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()


def find_active_token(services: Services, token: str) -> TokenRecord:
    """The stored record of ``token`` if it is well formed, known, not revoked and not
    expired; `NotAuthenticated` (reason ``unauthenticated``, ``token_revoked`` or
    ``token_expired``) otherwise: the checks of the API's ``Authorization`` header."""
    record = services.tokens.find_token(token_hash(bearer_token(f"Bearer {token}")))
    if record is None:
        raise NotAuthenticated("unknown token")
    refuse_unless_active(record.status(services.clock.now()))
    return record


def _refuse_repeated_cookies(request: Request) -> None:
    """A session cookie sent twice (two paths, or one planted by a sibling site) is
    ambiguous: refused (400, reason ``ambiguous_input``), never first- or last-wins."""
    names = [
        part.split("=", 1)[0].strip()
        for header in request.headers.getlist("cookie")
        for part in header.split(";")
    ]
    for name in (TOKEN_COOKIE, TENANT_COOKIE):
        if names.count(name) > 1:
            raise InvalidField(
                f"cookie {name} is sent {names.count(name)} times: sign out and in again",
                field=name,
                reason="ambiguous_input",
            )


def open_session(request: Request, services: Services) -> Session:
    """The request's session; `SignedOut` when it has none or its token no longer admits
    anyone (unknown, revoked, expired); `InvalidField` when a session cookie is repeated."""
    _refuse_repeated_cookies(request)
    token = request.cookies.get(TOKEN_COOKIE)
    if not token:
        raise SignedOut("signed_out")
    try:
        record = find_active_token(services, token)
    except NotAuthenticated as exc:
        raise SignedOut(exc.reason or "unauthenticated") from None
    tenant = request.cookies.get(TENANT_COOKIE) or None
    return Session(record=record, token=token, tenant=tenant, csrf=csrf_token(token, tenant))


def check_csrf(session: Session, sent: str | None) -> None:
    """`Forbidden` (reason ``csrf``) unless ``sent`` is the session's CSRF value."""
    if not sent or not hmac.compare_digest(sent.encode(), session.csrf.encode()):
        raise Forbidden("the form's CSRF token is missing or wrong: reload the page", reason="csrf")


def new_signin_csrf() -> str:
    return secrets.token_urlsafe(32)


def check_signin_csrf(request: Request, sent: str | None) -> None:
    """The sign-in form's double submit: the field must equal the ``stella_signin`` cookie."""
    cookie = request.cookies.get(SIGNIN_COOKIE)
    if not cookie or not sent or not hmac.compare_digest(cookie.encode(), sent.encode()):
        raise Forbidden(
            "the sign-in form's CSRF token is missing or wrong: reload it", reason="csrf"
        )


def set_cookie(request: Request, response: Response, name: str, value: str) -> None:
    """An HttpOnly, SameSite=Strict cookie for /ui, Secure when the request came over TLS."""
    response.set_cookie(
        name,
        value,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def clear_cookie(request: Request, response: Response, name: str) -> None:
    """Expire a cookie `set_cookie` set (same path and attributes)."""
    response.delete_cookie(
        name,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def clear_session(request: Request, response: Response) -> None:
    for name in (TOKEN_COOKIE, TENANT_COOKIE):
        clear_cookie(request, response, name)
