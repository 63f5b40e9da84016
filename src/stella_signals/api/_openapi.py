"""The published OpenAPI document: FastAPI's, corrected to what the API really answers.

FastAPI documents a 422 ``HTTPValidationError`` on every route with parameters; this API
answers malformed requests with 400 problem+json instead (SPEC §6), so those entries are
replaced, and the bearer-token scheme is declared. Parameters the routes parse themselves
(ids, graph hashes, page sizes, the tenant header) get the format they are checked against,
every error answer the Problem schema, 401 its ``WWW-Authenticate`` and 503 its
``Retry-After``.

``GET /openapi.json`` needs a valid bearer token (SPEC §6: every request but ``/healthz``,
``/readyz`` and ``/metrics``), of any tenant and any scope: it describes the API, not a
tenant's data, so no ``X-Stella-Tenant`` is asked for. Without one it is the same 401 as
every other route. It is not an operation of the document it serves.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI, Header, Request
from fastapi.openapi.utils import get_openapi
from starlette.responses import JSONResponse

from stella_signals.api._auth import authenticated
from stella_signals.api._pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from stella_signals.api._schemas import GRAPH_HASH_PATTERN, ULID_PATTERN

__all__ = ["install_openapi"]

PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
OPENAPI_PATH = "/openapi.json"
#: What the routes check these parameters against (a mismatch is a 400 problem).
_PARAMETER_SCHEMAS: dict[str, dict[str, Any]] = {
    "graph_hash": {"type": "string", "pattern": GRAPH_HASH_PATTERN},
    "ingest_id": {"type": "string", "pattern": ULID_PATTERN},
    "event_id": {"type": "string", "pattern": ULID_PATTERN},
    "token_id": {"type": "string", "pattern": ULID_PATTERN},
    "page_size": {
        "type": "integer",
        "minimum": 1,
        "maximum": MAX_PAGE_SIZE,
        "default": DEFAULT_PAGE_SIZE,
    },
    "x-stella-tenant": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,62}$"},
}
_STATUS_VALUES = ["ingested", "orphaned", "expired", "failed"]
_RETRY_AFTER: dict[str, Any] = {
    "description": "seconds after which the same request is safe to retry",
    "schema": {"type": "integer", "minimum": 1},
}
_HEADERS: dict[str, dict[str, Any]] = {
    "401": {
        "WWW-Authenticate": {
            "description": "Bearer challenge",
            "required": True,
            "schema": {"type": "string", "pattern": "^Bearer"},
        }
    },
    "503": {"Retry-After": _RETRY_AFTER},
    "507": {"Retry-After": _RETRY_AFTER},
}
_PROBLEM_CONTENT = {
    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
}
_PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "reason": {"type": "string", "description": "stable reason code"},
        "ingest_id": {"type": "string", "description": "ULID of the refused ingest"},
        "errors": {
            "type": "array",
            "maxItems": 100,
            "items": {
                "type": "object",
                "description": "where and why: line (trace lines; null for JSON documents), "
                "field (a JSON pointer for JSON documents) and reason",
                "required": ["line", "field", "reason"],
                "properties": {
                    "line": {"type": ["integer", "null"]},
                    "field": {"type": ["string", "null"]},
                    "reason": {"type": "string"},
                },
            },
        },
    },
}


def _fix_parameters(path: str, operation: dict[str, Any]) -> None:
    for parameter in operation.get("parameters", []):
        name = parameter["name"]
        schema = _PARAMETER_SCHEMAS.get(name.lower())
        if name == "status" and path == "/api/v1/ingests":
            schema = {"type": "string", "enum": _STATUS_VALUES}
        if schema is None:
            continue
        parameter["schema"] = {**schema, "title": parameter.get("schema", {}).get("title", name)}
        if name.lower() == "x-stella-tenant":
            parameter["required"] = True


def _fix_operation(path: str, operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    _fix_parameters(path, operation)
    default_422 = responses.get("422", {}).get("content", {}).get("application/json")
    if default_422 is not None:
        if "application/problem+json" in responses["422"].get("content", {}):
            responses["422"]["content"] = dict(_PROBLEM_CONTENT)
        else:
            del responses["422"]
    if path in PUBLIC_PATHS:
        return
    operation["security"] = [{"bearer": []}]
    defaults = {
        "400": "malformed request, id, digest, page token or tenant header",
        "401": "missing, malformed or unknown bearer token",
        "403": "the token does not allow this tenant or lacks the scope",
        "503": "the metadata store or the CAS is unavailable (retry after Retry-After)",
        "507": "the server's disk is full; nothing was kept (retry after Retry-After)",
    }
    for status, description in defaults.items():
        responses.setdefault(status, {"description": description})
    for status, response in responses.items():
        if status[0] in "45":
            response["content"] = dict(_PROBLEM_CONTENT)
        if status in _HEADERS:
            response["headers"] = {**_HEADERS[status], **response.get("headers", {})}


def _any_valid_token(
    request: Request, authorization: str | None = Header(default=None, include_in_schema=False)
) -> None:
    """Admit any token issued, not revoked and not expired, whatever its tenants and scopes."""
    authenticated(request, authorization)


def install_openapi(app: FastAPI) -> None:
    """Serve the corrected document at ``GET /openapi.json``, behind a bearer token (the app
    is created with ``openapi_url=None``: FastAPI's own route would answer anyone)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        for path, operations in schema.get("paths", {}).items():
            for operation in operations.values():
                _fix_operation(path, operation)
        components = schema.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        schemas["Problem"] = _PROBLEM_SCHEMA
        components["securitySchemes"] = {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "`signals tokens create`; send X-Stella-Tenant with it",
            }
        }
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get(OPENAPI_PATH, include_in_schema=False, dependencies=[Depends(_any_valid_token)])
    def openapi_document() -> JSONResponse:
        return JSONResponse(app.openapi())
