"""The console's ASGI app, mounted by the API app at ``/ui`` (one process, one port).

Every page opens the session (`_session`), admits its principal for the scope the matching
API route needs (``signals:read`` for every page and for the verify actions, which only
read), and reads through `_views`. Every POST checks the form's CSRF value first. Every
response carries a strict Content-Security-Policy (nothing but this origin; no inline script
or style), ``X-Content-Type-Options: nosniff``, ``frame-ancestors 'none'`` and no caching of
pages; static assets are served from the package, never from elsewhere.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl, quote

import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stella_signals.auth import Scope as TokenScope
from stella_signals.console import _pages, _views
from stella_signals.console._html import Markup
from stella_signals.console._session import (
    SIGNIN_COOKIE,
    TENANT_COOKIE,
    TOKEN_COOKIE,
    Session,
    SignedOut,
    check_csrf,
    check_signin_csrf,
    clear_cookie,
    clear_session,
    csrf_token,
    find_active_token,
    new_signin_csrf,
    open_session,
    set_cookie,
)
from stella_signals.console._svg import draw_observed
from stella_signals.digests import sha256_hex
from stella_signals.errors import (
    Forbidden,
    InvalidField,
    InvalidInput,
    LimitExceeded,
    NotAuthenticated,
    NotFound,
    StellaError,
    UnsupportedMediaType,
    http_status,
)
from stella_signals.ids import parse_ulid
from stella_signals.ingest import evidence_record
from stella_signals.locker import export_bundle
from stella_signals.tenancy import TenantId, parse_tenant
from stella_signals.timeline import ChainReport
from stella_signals.verdicts import vex_bundle, vex_document, vex_envelope
from stella_signals.vex import VexFormat
from stella_signals.wiring import Services

__all__ = ["CONTENT_SECURITY_POLICY", "create_console"]

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
MAX_FORM_BYTES = 16 * 1024
MAX_FORM_FIELDS = 16
_STATIC_TYPES = {".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}


class _SecurityHeaders:
    def __init__(self, app: Starlette) -> None:
        self.app = app
        #: The console's routes, for `Mount.routes` (the authorisation matrix lists them).
        self.routes = app.routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/") or scope["path"].startswith("/ui/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() not in {h for h, _ in _SECURITY_HEADERS}
                ]
                headers += _SECURITY_HEADERS
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


@dataclass(frozen=True, slots=True)
class _Ctx:
    request: Request
    services: Services
    session: Session
    tenant: TenantId
    query: dict[str, str]
    form: dict[str, str]


class _ChooseTenant(Exception):
    """Signed in without a tenant yet."""


def _single_valued(request: Request) -> dict[str, str]:
    """The query string; a parameter given twice is ambiguous and refused (as the API)."""
    found: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        if key in found:
            raise InvalidField(
                f"query parameter {key!r} is given more than once", field=key,
                reason="ambiguous_input",
            )  # fmt: skip
        found[key] = value
    return found


async def _read_form(request: Request) -> dict[str, str]:
    media = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        raise UnsupportedMediaType(
            f"a form must be application/x-www-form-urlencoded, not {media!r}"
        )
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise LimitExceeded(
                f"form is larger than {MAX_FORM_BYTES} bytes", limit="max_form_bytes"
            )
    try:
        pairs = parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS,
            strict_parsing=False,
        )  # fmt: skip
    except (UnicodeDecodeError, ValueError):
        raise InvalidInput("the form is not UTF-8 or has too many fields") from None
    form: dict[str, str] = {}
    for key, value in pairs:
        if key in form:
            raise InvalidField(
                f"form field {key!r} is given more than once", field=key, reason="ambiguous_input"
            )
        form[key] = value
    return form


def _html(markup: Markup, status: int = 200) -> HTMLResponse:
    return HTMLResponse(str(markup), status_code=status)


def _error(exc: StellaError, *, csrf: str | None = None) -> HTMLResponse:
    """An error as an HTML page with the API's status for it (with the navigation when the
    browser is signed in: ``csrf`` of its session)."""
    status, title = http_status(exc)
    return _html(_pages.error_page(status, title, str(exc), signed_in_csrf=csrf), status)


def _signed_out(request: Request, reason: str) -> Response:
    response = RedirectResponse(f"/ui/sign-in?reason={quote(reason)}", status_code=303)
    clear_session(request, response)
    return response


Handler = Callable[[_Ctx], Response]


def create_console(services: Services) -> ASGIApp:
    """The console app over ``services`` (the API app's, opened and closed by its owner)."""

    def page(
        *, post: bool = False, scope: TokenScope = TokenScope.READ
    ) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
        def decorate(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
            async def endpoint(request: Request) -> Response:
                opened: list[Session] = []
                try:
                    query = _single_valued(request)
                    form = await _read_form(request) if post else {}

                    def run() -> Response:
                        session = open_session(request, services)
                        opened.append(session)
                        if post:
                            check_csrf(session, form.get("csrf"))
                        if session.tenant is None:
                            raise _ChooseTenant
                        principal = session.admit(scope)
                        return handler(
                            _Ctx(request, services, session, principal.tenant, query, form)
                        )

                    return await anyio.to_thread.run_sync(run)
                except SignedOut as exc:
                    return _signed_out(request, exc.reason)
                except _ChooseTenant:
                    return RedirectResponse("/ui/tenant", status_code=303)
                except NotAuthenticated as exc:
                    return _signed_out(request, exc.reason)
                except StellaError as exc:
                    return _error(exc, csrf=opened[0].csrf if opened else None)

            return endpoint

        return decorate

    def chrome(ctx: _Ctx, title: str, body: Markup, active: str, status: int = 200) -> HTMLResponse:
        return _html(
            _pages.layout(
                title,
                body,
                active=active,
                tenant=ctx.tenant,
                tenants=ctx.session.tenants,
                csrf=ctx.session.csrf,
            ),
            status,
        )

    # -- sign-in, tenant, sign-out -------------------------------------------------------
    def signin_form(request: Request, *, error: str | None = None, status: int = 200) -> Response:
        csrf = new_signin_csrf()
        reason = request.query_params.get("reason")
        response = _html(_pages.signin_page(csrf, reason=reason, error=error), status)
        set_cookie(request, response, SIGNIN_COOKIE, csrf)
        return response

    async def signin_get(request: Request) -> Response:
        return signin_form(request)

    async def signin_post(request: Request) -> Response:
        try:
            form = await _read_form(request)
            check_signin_csrf(request, form.get("csrf"))
        except StellaError as exc:
            status, _title = http_status(exc)
            return signin_form(request, error=str(exc), status=status)
        token = form.get("token", "").strip()
        wanted = form.get("tenant", "").strip()

        def run() -> Response:
            try:
                record = find_active_token(services, token)
            except NotAuthenticated as exc:
                message = {
                    "token_revoked": "This token has been revoked.",
                    "token_expired": "This token has expired.",
                }.get(exc.reason, "This token is not known (or malformed).")
                return signin_form(request, error=message, status=401)
            tenant: str | None
            if wanted:
                try:
                    tenant = parse_tenant(wanted)
                except InvalidInput as exc:
                    return signin_form(request, error=str(exc), status=400)
                if tenant not in record.tenants:
                    return signin_form(
                        request, error=f"This token does not allow tenant {tenant}.", status=403
                    )
            else:
                tenant = next(iter(record.tenants)) if len(record.tenants) == 1 else None
            target = "/ui/overview" if tenant else "/ui/tenant"
            response = RedirectResponse(target, status_code=303)
            set_cookie(request, response, TOKEN_COOKIE, token)
            if tenant:
                set_cookie(request, response, TENANT_COOKIE, tenant)
            else:
                clear_cookie(request, response, TENANT_COOKIE)
            clear_cookie(request, response, SIGNIN_COOKIE)
            return response

        return await anyio.to_thread.run_sync(run)

    async def signout(request: Request) -> Response:
        try:
            form = await _read_form(request)
            session = await anyio.to_thread.run_sync(open_session, request, services)
            check_csrf(session, form.get("csrf"))
        except SignedOut:
            return _signed_out(request, "signed_out")
        except StellaError as exc:
            return _error(exc)
        return _signed_out(request, "signed_out")

    def tenant_session(request: Request) -> Session:
        return open_session(request, services)

    async def tenant_get(request: Request) -> Response:
        try:
            session = await anyio.to_thread.run_sync(tenant_session, request)
        except SignedOut as exc:
            return _signed_out(request, exc.reason)
        except StellaError as exc:
            return _error(exc)
        return _html(_pages.tenant_page(session.tenants, csrf_token(session.token, session.tenant)))

    async def tenant_post(request: Request) -> Response:
        try:
            form = await _read_form(request)
            session = await anyio.to_thread.run_sync(tenant_session, request)
            check_csrf(session, form.get("csrf"))
            tenant = parse_tenant(form.get("tenant", ""))
            if tenant not in session.record.tenants:
                raise Forbidden(f"this token does not allow tenant {tenant}")
        except SignedOut as exc:
            return _signed_out(request, exc.reason)
        except StellaError as exc:
            return _error(exc)
        response = RedirectResponse("/ui/overview", status_code=303)
        set_cookie(request, response, TENANT_COOKIE, tenant)
        return response

    async def root(request: Request) -> Response:
        return RedirectResponse("/ui/overview", status_code=303)

    # -- pages ---------------------------------------------------------------------------
    @page()
    def overview(ctx: _Ctx) -> Response:
        data = _views.overview(ctx.services, ctx.tenant)
        return chrome(ctx, "Overview", _pages.overview_page(data, ctx.tenant), "overview")

    def listing(
        view: Callable[..., Any],
        render: Callable[..., Markup],
        filters: tuple[str, ...],
        title: str,
        section: str,
    ) -> Handler:
        """A list page: its ``filters`` and ``after`` from the query string, trimmed, go alike
        to the view that reads the page and to the page that renders it."""

        def handler(ctx: _Ctx) -> Response:
            query = {name: ctx.query.get(name, "").strip() for name in (*filters, "after")}
            found = view(ctx.services, ctx.tenant, **query)
            return chrome(ctx, title, render(found, **query), section)

        return handler

    ingests = page()(
        listing(
            _views.ingests_page, _pages.ingests_page, ("graph_hash", "status"), "Ingests", "ingests"
        )
    )

    def ingest_response(ctx: _Ctx, checks: list[_views.Check] | None) -> Response:
        ingest_id = ctx.request.path_params["ingest_id"]
        detail = _views.ingest_detail(ctx.services, ctx.tenant, ingest_id)
        body = _pages.ingest_page(detail, ctx.session.csrf, checks)
        return chrome(ctx, "Ingest", body, "ingests")

    @page()
    def ingest(ctx: _Ctx) -> Response:
        return ingest_response(ctx, None)

    @page(post=True)
    def verify(ctx: _Ctx) -> Response:
        ingest_id = ctx.request.path_params["ingest_id"]
        checks = _views.verify_ingest(ctx.services, ctx.tenant, ingest_id)
        return ingest_response(ctx, checks)

    @page()
    def bundle(ctx: _Ctx) -> Response:
        ingest_id = parse_ulid(ctx.request.path_params["ingest_id"])
        record = evidence_record(
            ctx.services.ingest_context("signals-console"), ctx.tenant, ingest_id
        )
        data = export_bundle(record)
        return Response(
            data,
            media_type="application/gzip",
            headers={"Content-Disposition": f'attachment; filename="evidence-{ingest_id}.tar.gz"'},
        )

    def timeline_response(ctx: _Ctx, chain: ChainReport | None) -> Response:
        event_type = ctx.query.get("type", "").strip()
        after = ctx.query.get("after", "").strip()
        found = _views.timeline_page(
            ctx.services, ctx.tenant, event_type=event_type, after_seq=after
        )
        body = _pages.timeline_page(
            found, event_type=event_type, after=after, csrf=ctx.session.csrf, chain=chain
        )
        return chrome(ctx, "Timeline", body, "timeline")

    @page()
    def timeline(ctx: _Ctx) -> Response:
        return timeline_response(ctx, None)

    @page(post=True)
    def timeline_verify(ctx: _Ctx) -> Response:
        return timeline_response(ctx, _views.verify_timeline(ctx.services, ctx.tenant))

    @page()
    def graphs(ctx: _Ctx) -> Response:
        after = ctx.query.get("after", "").strip()
        found = _views.graphs_page(ctx.services, ctx.tenant, after_seq=after)
        return chrome(ctx, "Graph coverage", _pages.graphs_page(found, after=after), "graphs")

    @page()
    def graph(ctx: _Ctx) -> Response:
        q = ctx.query.get("q", "").strip()[:200]
        view = _views.graph_view(ctx.services, ctx.tenant, ctx.request.path_params["graph_hash"])
        link = f"/ui/graphs/{quote(view.graph_hash, safe=':')}"
        picture = draw_observed(view.index, view.hits, query=q, link=link)
        return chrome(ctx, "Graph coverage", _pages.graph_page(view, picture, q), "graphs")

    verdicts = page()(
        listing(
            _views.verdicts_page, _pages.verdicts_page, ("graph_hash", "vuln_id", "state"),
            "Verdicts and VEX", "verdicts",
        )
    )  # fmt: skip
    history = page()(
        listing(
            _views.history_page, _pages.history_page, ("graph_hash", "vuln_id", "symbol"),
            "Verdict history", "verdicts",
        )
    )  # fmt: skip
    unknowns = page()(
        listing(_views.unknowns_page, _pages.unknowns_page, ("graph_hash",), "Unknowns", "unknowns")
    )
    vex_list = listing(_views.vex_list_page, _pages.vex_list_page, (), "VEX documents", "verdicts")

    @page()
    def vex_lookup(ctx: _Ctx) -> Response:
        if "id" in ctx.query:
            vex_id = parse_ulid(ctx.query["id"].strip())
            return RedirectResponse(f"/ui/vex/{vex_id}", status_code=303)
        return vex_list(ctx)

    @page()
    def vex(ctx: _Ctx) -> Response:
        view = _views.vex_view(ctx.services, ctx.tenant, ctx.request.path_params["vex_id"])
        return chrome(ctx, "VEX document", _pages.vex_page(view), "verdicts")

    @page()
    def vex_file(ctx: _Ctx) -> Response:
        vex_id = parse_ulid(ctx.request.path_params["vex_id"])
        what = ctx.request.path_params["what"]
        vctx = ctx.services.ingest_context("signals-console")
        if what == "document":
            record, data = vex_document(vctx, ctx.tenant, vex_id)
            media, name = VexFormat(record.format).payload_type, f"vex-{vex_id}.json"
        elif what == "dsse":
            _, data = vex_envelope(vctx, ctx.tenant, vex_id)
            media, name = "application/json", f"vex-{vex_id}.dsse.json"
        elif what == "bundle":
            data = vex_bundle(vctx, ctx.tenant, vex_id)
            media, name = "application/gzip", f"vex-{vex_id}.tar.gz"
        else:
            raise NotFound(f"no {what!r} of a VEX document")
        return Response(
            data,
            media_type=media,
            headers={
                "Content-Disposition": f'attachment; filename="{name}"',
                "Content-SHA256": sha256_hex(data),
            },
        )

    # -- static --------------------------------------------------------------------------
    assets: dict[str, tuple[bytes, str]] = {}
    folder = resources.files("stella_signals.console") / "static"
    for item in folder.iterdir():
        suffix = "." + item.name.rsplit(".", 1)[-1]
        if suffix in _STATIC_TYPES:
            assets[item.name] = (item.read_bytes(), _STATIC_TYPES[suffix])

    async def static(request: Request) -> Response:
        found = assets.get(request.path_params["name"])
        if found is None:
            return _html(
                _pages.error_page(404, "Not found", "no such file", signed_in_csrf=None), 404
            )
        data, media = found
        return Response(data, media_type=media, headers={"Cache-Control": "public, max-age=3600"})

    routes = [
        Route("/", root, methods=["GET"]),
        Route("/sign-in", signin_get, methods=["GET"]),
        Route("/sign-in", signin_post, methods=["POST"]),
        Route("/sign-out", signout, methods=["POST"]),
        Route("/tenant", tenant_get, methods=["GET"]),
        Route("/tenant", tenant_post, methods=["POST"]),
        Route("/overview", overview, methods=["GET"]),
        Route("/ingests", ingests, methods=["GET"]),
        Route("/ingests/{ingest_id}", ingest, methods=["GET"]),
        Route("/ingests/{ingest_id}/verify", verify, methods=["POST"]),
        Route("/ingests/{ingest_id}/bundle", bundle, methods=["GET"]),
        Route("/timeline", timeline, methods=["GET"]),
        Route("/timeline/verify", timeline_verify, methods=["POST"]),
        Route("/graphs", graphs, methods=["GET"]),
        Route("/graphs/{graph_hash}", graph, methods=["GET"]),
        Route("/verdicts", verdicts, methods=["GET"]),
        Route("/verdicts/history", history, methods=["GET"]),
        Route("/unknowns", unknowns, methods=["GET"]),
        Route("/vex", vex_lookup, methods=["GET"]),
        Route("/vex/{vex_id}", vex, methods=["GET"]),
        Route("/vex/{vex_id}/{what}", vex_file, methods=["GET"]),
        Route("/static/{name}", static, methods=["GET"]),
    ]

    async def not_found(request: Request, exc: Any) -> Response:
        status = getattr(exc, "status_code", 404)
        title = {404: "Not found", 405: "Method not allowed"}.get(status, "Error")
        response = _html(_pages.error_page(status, title, title, signed_in_csrf=None), status)
        if status == 405 and getattr(exc, "headers", None):
            response.headers["Allow"] = exc.headers.get("Allow", "")
        return response

    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found})
    return _SecurityHeaders(app)
