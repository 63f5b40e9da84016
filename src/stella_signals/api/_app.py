"""The Signals HTTP API (SPEC §6): the app factory and the error handlers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from stella_signals import __version__
from stella_signals.api import _admin, _evidence, _routes, _runtime, _runtime_view
from stella_signals.api._openapi import install_openapi
from stella_signals.api._problems import problem, problem_for
from stella_signals.errors import StellaError
from stella_signals.wiring import OrphanRetrier, Services, check_ready

__all__ = ["create_app"]


def create_app(services: Services) -> FastAPI:
    """An app over already-opened services (the caller owns their lifetime)."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Embedded default: orphans are retried in-process (SPEC §13); `signals worker`
        # processes may run beside it, the queue leases keep them apart.
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
    )
    app.state.services = services
    app.include_router(_runtime.router)
    app.include_router(_routes.router)
    app.include_router(_admin.router)
    app.include_router(_evidence.router)
    app.include_router(_runtime_view.router)
    install_openapi(app)

    @app.exception_handler(StellaError)
    async def _stella_error(request: Request, exc: StellaError) -> Response:
        return problem_for(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"field": ".".join(str(p) for p in err.get("loc", ())), "reason": err.get("type", "")}
            for err in exc.errors()
        ]
        return problem(400, "Invalid request", "the request is malformed", reason="invalid_request",
                       errors=errors)  # fmt: skip

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        reason = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return problem(exc.status_code, str(exc.detail), str(exc.detail), reason=reason)

    @app.get(
        "/metrics",
        summary="Prometheus metrics (operators: scrape on the service network; no token)",
        responses={200: {"content": {"text/plain": {}}}},
    )
    def metrics() -> Response:
        services.metrics.set_orphan_queue_depth(services.repo.orphan_queue_depth())
        latest = services.time.latest()
        services.metrics.set_time(
            latest.staleness_seconds if latest else None, latest.drift_ms if latest else None
        )
        body, content_type = services.metrics.render()
        return Response(body, media_type=content_type)

    @app.get("/healthz", include_in_schema=True, summary="Liveness")
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    @app.get("/readyz", summary="Readiness: metadata store, CAS and data dir usable")
    def readyz() -> Response:
        try:
            check_ready(services)
        except StellaError as exc:
            return JSONResponse({"status": "unavailable", "detail": str(exc)}, status_code=503)
        if not services.settings.data_dir.is_dir():
            return JSONResponse({"status": "unavailable", "detail": "no data dir"}, status_code=503)
        return JSONResponse({"status": "ready"})

    return app
