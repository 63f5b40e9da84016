"""The Signals HTTP API (SPEC §6): the app factory and the error handlers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from stella_signals import __version__
from stella_signals.api import (
    _admin,
    _evidence,
    _routes,
    _runtime,
    _runtime_view,
    _tokens,
    _verdicts,
)
from stella_signals.api._openapi import install_openapi
from stella_signals.api._problems import PROBLEM, problem, problem_for
from stella_signals.api._schemas import HEALTH, READY, json_response
from stella_signals.console import CONSOLE_PREFIX, create_console
from stella_signals.errors import StellaError
from stella_signals.wiring import OrphanRetrier, Services, check_ready, sweep_staging

__all__ = ["create_app"]


def _allowed_methods(app: FastAPI, request: Request) -> str:
    """Every method some route takes at the request's path."""
    methods: set[str] = set()
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, Route) and route.methods:
            match, _ = route.matches({**request.scope, "method": "GET"})
            if match is not Match.NONE:
                methods |= route.methods
    return ", ".join(sorted(methods))


class _ConcretePathsFirst:
    """OpenAPI matches a concrete path before a templated one: ``GET /api/v1/evidence/import``
    is the import operation, which only takes POST (405, ``Allow: POST``), not the evidence of
    an ingest called "import"; ``DELETE /api/v1/keys/service`` is no key revocation. The
    router alone would hand both to the templated route."""

    def __init__(self, app: ASGIApp, *, routes_of: FastAPI) -> None:
        self.app = app
        self.routes_of = routes_of
        self._methods: dict[str, frozenset[str]] | None = None

    def methods(self) -> dict[str, frozenset[str]]:
        if self._methods is None:
            found: dict[str, set[str]] = {}
            for context in iter_route_contexts(self.routes_of.routes):
                path = context.path_format
                if path and "{" not in path and context.methods:
                    found.setdefault(path, set()).update(context.methods)
            self._methods = {path: frozenset(methods) for path, methods in found.items()}
        return self._methods

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            allowed = self.methods().get(scope["path"])
            if allowed is not None and scope["method"] not in allowed:
                response = problem(
                    405, "Method Not Allowed", "Method Not Allowed", reason="method_not_allowed",
                    headers={"Allow": ", ".join(sorted(allowed))},
                )  # fmt: skip
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(services: Services) -> FastAPI:
    """An app over already-opened services (the caller owns their lifetime)."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Embedded default: orphans are retried in-process (SPEC §13); `signals worker`
        # processes may run beside it, the queue leases keep them apart.
        # Uploads a crashed process left half-written: swept before serving (issue 14).
        try:
            sweep_staging(services)
        except StellaError:  # a store outage must not stop the start; /readyz reports it
            logging.getLogger(__name__).exception("staging sweep failed at start-up")
        retrier = OrphanRetrier(services) if services.settings.orphan_retry_seconds > 0 else None
        if retrier is not None:
            retrier.start()
        try:
            yield
        finally:
            if retrier is not None:
                retrier.stop()

    app = FastAPI(
        title="stella-signals",
        version=__version__,
        description="Runtime reachability evidence: ingest, map, prove.",
        lifespan=lifespan,
        # SPEC §6: only /healthz, /readyz and /metrics answer without a token; the document
        # is served by `install_openapi` behind one, and there are no documentation pages.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.services = services
    app.include_router(_runtime.router)
    # Every other route refuses a repeated query parameter (the runtime route reads its one
    # parameter itself, so that the refusal is recorded with an ingest id).
    single_valued = [Depends(_runtime.single_valued_query)]
    for router in (
        _routes.router,
        _admin.router,
        _tokens.router,
        _evidence.router,
        _runtime_view.router,
        _verdicts.router,
    ):
        app.include_router(router, dependencies=single_valued)
    install_openapi(app)
    # The web console (issue 20): its own routes, cookie sessions and HTML errors, in the
    # same process; a Mount, so it is not part of the API's OpenAPI document.
    app.mount(CONSOLE_PREFIX, create_console(services))
    app.add_middleware(_ConcretePathsFirst, routes_of=app)

    @app.exception_handler(StellaError)
    async def _stella_error(request: Request, exc: StellaError) -> Response:
        return problem_for(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {
                "line": None,
                "field": ".".join(str(p) for p in err.get("loc", ())),
                "reason": err.get("type", ""),
            }
            for err in exc.errors()
        ]
        return problem(400, "Invalid request", "the request is malformed", reason="invalid_request",
                       errors=errors)  # fmt: skip

    @app.exception_handler(Exception)
    async def _internal_error(request: Request, exc: Exception) -> Response:
        # A bug: the server logs the traceback (Starlette re-raises after this answer); the
        # client gets a generic problem, never the exception text, a stack or a file path.
        return problem(500, "Internal error", "an internal error occurred", reason="internal_error")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        reason = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        # Keep the exception's headers; a 405 says every method the path allows (RFC 9110),
        # where Starlette names those of the first route that matched the path only.
        headers = dict(exc.headers) if exc.headers else {}
        if exc.status_code == 405:
            headers["Allow"] = _allowed_methods(app, request) or headers.get("Allow", "")
        return problem(
            exc.status_code,
            str(exc.detail),
            str(exc.detail),
            reason=reason,
            headers=headers or None,
        )

    @app.get(
        "/metrics",
        summary="Prometheus metrics (operators: scrape on the service network; no token)",
        responses={
            200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
            503: PROBLEM | {"description": "the metadata store is unavailable"},
        },
    )
    def metrics() -> Response:
        services.metrics.set_orphan_queue_depth(services.orphans.orphan_queue_depth())
        latest = services.time.latest()
        services.metrics.set_time(
            latest.staleness_seconds if latest else None, latest.drift_ms if latest else None
        )
        body, content_type = services.metrics.render()
        return Response(body, media_type=content_type)

    @app.get(
        "/healthz",
        summary="Liveness",
        responses={200: json_response(HEALTH, "the process serves")},
    )
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    @app.get(
        "/readyz",
        summary="Readiness: metadata store, CAS and data dir usable",
        responses={
            200: json_response(READY, "ready"),
            503: json_response(READY, "not ready: the metadata store, CAS or data dir"),
        },
    )
    def readyz() -> Response:
        try:
            check_ready(services)
        except StellaError as exc:
            return JSONResponse({"status": "unavailable", "detail": str(exc)}, status_code=503)
        if not services.settings.data_dir.is_dir():
            return JSONResponse({"status": "unavailable", "detail": "no data dir"}, status_code=503)
        return JSONResponse({"status": "ready"})

    return app
