"""RFC 9457 problem details: every error the API returns, mapped from the error tree in one
table (STYLE habit 6)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.responses import JSONResponse

from stella_signals.errors import (
    Conflict,
    Forbidden,
    HashMismatch,
    InsufficientStorage,
    InvalidField,
    InvalidInput,
    LimitExceeded,
    NotAuthenticated,
    NotFound,
    StellaError,
    Unavailable,
    UnsupportedMediaType,
    VerificationFailed,
)

__all__ = ["COMMON_RESPONSES", "PROBLEM", "PROBLEM_JSON", "ProblemBody", "problem", "problem_for"]

PROBLEM_JSON = "application/problem+json"
#: OpenAPI description of a problem response, and the ones every authenticated route has.
PROBLEM: dict[str, Any] = {
    "content": {PROBLEM_JSON: {}},
    "description": "problem details (RFC 9457)",
}
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: PROBLEM,
    401: PROBLEM,
    403: PROBLEM,
    404: PROBLEM,
}
TYPE_BASE = "https://stella-ops.org/problems/"
MAX_ERRORS = 100

#: Most specific first: (error kind, HTTP status, title).
_TABLE: tuple[tuple[type[StellaError], int, str], ...] = (
    (NotAuthenticated, 401, "Authentication required"),
    (Forbidden, 403, "Forbidden"),
    (NotFound, 404, "Not found"),
    (UnsupportedMediaType, 415, "Unsupported media type"),
    (LimitExceeded, 413, "Payload too large"),
    (HashMismatch, 422, "Hash mismatch"),
    (VerificationFailed, 422, "Verification failed"),
    (InvalidInput, 400, "Invalid input"),
    (Conflict, 409, "Conflict"),
    (InsufficientStorage, 507, "Insufficient storage"),
    (Unavailable, 503, "Service unavailable"),
)


def status_for(error: StellaError) -> tuple[int, str]:
    for kind, status, title in _TABLE:
        if isinstance(error, kind):
            return status, title
    return 500, "Internal error"  # pragma: no cover - every StellaError kind is listed


ProblemBody = dict[str, Any]


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    reason: str,
    ingest_id: str | None = None,
    errors: Sequence[dict[str, Any]] = (),
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    body: ProblemBody = {
        "type": TYPE_BASE + reason.replace("_", "-"),
        "title": title,
        "status": status,
        "detail": detail,
        "reason": reason,
    }
    if ingest_id is not None:
        body["ingest_id"] = ingest_id
    if errors:
        body["errors"] = list(errors)[:MAX_ERRORS]
    body.update(extra or {})
    response = JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)
    return response


def problem_for(
    error: StellaError,
    *,
    ingest_id: str | None = None,
    errors: Sequence[dict[str, Any]] = (),
    reason: str | None = None,
) -> JSONResponse:
    status, title = status_for(error)
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="stella-signals"'
    if ingest_id is not None:
        headers["X-Ingest-Id"] = ingest_id
    retry_after = getattr(error, "retry_after_seconds", None)
    if isinstance(retry_after, int | float) and retry_after > 0:
        headers["Retry-After"] = str(int(retry_after))
    extra: dict[str, Any] = {}
    time_status = getattr(error, "status", None)
    if time_status is not None and hasattr(time_status, "staleness_seconds"):
        # SPEC §6: a refusal for stale time or drift carries staleness_seconds (and drift_ms).
        extra["staleness_seconds"] = time_status.staleness_seconds
        extra["drift_ms"] = time_status.drift_ms
    if not errors and isinstance(error, InvalidField):
        errors = [{"line": None, "field": error.field, "reason": reason or error.reason}]
    return problem(
        status,
        title,
        error.message,
        reason=reason or error.reason,
        ingest_id=ingest_id,
        errors=errors,
        headers=headers or None,
        extra=extra,
    )
