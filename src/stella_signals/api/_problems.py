"""RFC 9457 problem details: every error the API returns, mapped from the error tree in one
table (STYLE habit 6)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.responses import JSONResponse

from stella_signals.errors import InvalidField, StellaError, http_status

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
    status, title = http_status(error)
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
