"""The one error tree of stella-signals, split by whose fault it is.

::

    StellaError                      reason: stable snake_case code, message: for humans
    ├── InvalidInput                 the client sent something we cannot accept
    │   ├── InvalidDocument          a document is invalid; carries its `wire.Problem`s
    │   │   └── InvalidTrace         a runtime trace breaks SPEC §2 (line diagnostics)
    │   ├── InvalidDigest            a digest string is malformed
    │   ├── InvalidCasUri            a cas:// URI is malformed
    │   ├── InvalidTenant            a tenant id is malformed
    │   ├── InvalidManifest          a bundle manifest is malformed
    │   ├── InvalidConfig            a setting, config file or secret file cannot be used
    │   ├── InvalidField             a request field is missing, malformed or given twice
    │   └── UnsupportedMediaType     a body of a type we do not take
    ├── VerificationFailed           the evidence does not check out
    │   ├── CheckFailed              ... and the check's report says which part and why
    │   └── HashMismatch             bytes differ from the digest or size they were declared with
    ├── NotAuthenticated             no valid bearer token
    ├── Forbidden                    the token does not allow this tenant or scope
    ├── NotFound                     no such object (for this tenant)
    ├── Conflict                     the object exists with other content
    ├── LimitExceeded                an input passed one of the named `Limits`
    └── Unavailable                  our side cannot serve now (storage, time source)

The CLI maps this tree to exit codes in one place (``stella_signals.cli._exit``); `http_status`
maps it to an HTTP status and title in one table, used by the API's problem+json
(``stella_signals.api._problems``) and the web console's error pages. Bugs (``TypeError``,
``RuntimeError``...) are never caught as ``StellaError``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from stella_signals.trace import Diagnostic
    from stella_signals.wire import Problem

__all__ = [
    "CheckFailed",
    "Conflict",
    "Forbidden",
    "HashMismatch",
    "InsufficientStorage",
    "InvalidCasUri",
    "InvalidConfig",
    "InvalidDigest",
    "InvalidDocument",
    "InvalidField",
    "InvalidInput",
    "InvalidManifest",
    "InvalidTenant",
    "InvalidTrace",
    "LimitExceeded",
    "NotAuthenticated",
    "NotFound",
    "StellaError",
    "Unavailable",
    "UnsupportedMediaType",
    "VerificationFailed",
    "http_status",
]


class StellaError(Exception):
    """Base of every error stella-signals raises on purpose."""

    #: Stable reason code; a subclass names its own (``class NotFound(StellaError,
    #: reason="not_found")``), an instance may refine it.
    default_reason = "error"

    def __init_subclass__(cls, *, reason: str = "", **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if reason:
            cls.default_reason = reason

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason

    def __str__(self) -> str:
        return self.message


class InvalidInput(StellaError, reason="schema_invalid"): ...


class InvalidDocument(InvalidInput):
    """A document (trace, graph, catalog, symbol manifest, OSV file) is invalid: ``problems``
    holds the first problems found (where, reason code, why), ``problem_count`` all of them."""

    problems: tuple[Problem, ...]

    def __init__(
        self,
        message: str,
        *,
        problems: Iterable[Problem] = (),
        problem_count: int = 0,
        reason: str | None = None,
    ) -> None:
        super().__init__(message, reason=reason)
        self.problems = tuple(problems)
        self.problem_count = max(problem_count, len(self.problems))


class InvalidTrace(InvalidDocument):
    """A runtime trace is invalid; ``diagnostics`` holds the first errors (line, field, reason)."""

    problems: tuple[Diagnostic, ...]

    def __init__(
        self,
        message: str,
        *,
        diagnostics: Iterable[Diagnostic] = (),
        reason: str | None = None,
    ) -> None:
        super().__init__(message, problems=diagnostics, reason=reason)

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        return self.problems


class InvalidDigest(InvalidInput, reason="invalid_digest"): ...


class InvalidCasUri(InvalidInput, reason="invalid_cas_uri"): ...


class InvalidTenant(InvalidInput, reason="invalid_tenant"): ...


class InvalidManifest(InvalidInput, reason="manifest_invalid"): ...


class InvalidConfig(InvalidInput, reason="config_invalid"):
    """A setting (flag, ``STELLA_*`` variable, config-file key) or a file it names (the config
    file, a token file) cannot be used: the operator's mistake, a usage error (exit 2)."""


class InvalidField(InvalidInput):
    """A field of a request (header, query parameter, multipart part) is missing, malformed
    or given more than once (reason ``ambiguous_input``: refused, never guessed); ``field``
    names it as the client sent it (``X-Stella-Tenant``, ``graph_hash``, ``runtime``)."""

    def __init__(self, message: str, *, field: str, reason: str | None = None) -> None:
        super().__init__(message, reason=reason)
        self.field = field


class UnsupportedMediaType(InvalidInput, reason="unsupported_media_type"): ...


class VerificationFailed(StellaError, reason="verification_failed"): ...


R = TypeVar("R")


class CheckFailed(VerificationFailed, Generic[R]):
    """The evidence failed a check; ``report``, when the check made one, says which part failed
    and why (the report of ``check_…()``, STYLE habit 5). ``SignatureInvalid`` and
    ``AnchorInvalid`` are ones."""

    def __init__(self, message: str, *, report: R | None = None, reason: str | None = None):
        super().__init__(message, reason=reason)
        self.report = report


class HashMismatch(VerificationFailed, reason="hash_mismatch"): ...


class NotAuthenticated(StellaError, reason="unauthenticated"): ...


class Forbidden(StellaError, reason="forbidden"): ...


class NotFound(StellaError, reason="not_found"): ...


class Conflict(StellaError, reason="conflict"): ...


class LimitExceeded(StellaError, reason="too_large"):
    """An input passed a named limit; ``limit`` is the `Limits` field name."""

    def __init__(self, message: str, *, limit: str, reason: str | None = None) -> None:
        super().__init__(message, reason=reason)
        self.limit = limit


class Unavailable(StellaError, reason="unavailable"):
    """A store or dependency of ours cannot be used right now (HTTP 503 + Retry-After): the
    same request, retried later, is safe."""

    retry_after_seconds: int = 5


class InsufficientStorage(Unavailable, reason="insufficient_storage"):
    """Our disk (or database volume) is full: HTTP 507 + Retry-After. Nothing was kept; the
    same request succeeds once space is freed."""

    retry_after_seconds: int = 60


#: Most specific first: (error kind, HTTP status, title).
_HTTP_STATUS: tuple[tuple[type[StellaError], int, str], ...] = (
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


def http_status(error: StellaError) -> tuple[int, str]:
    """The HTTP status and title of ``error`` (SPEC §6), for every front door that speaks HTTP."""
    for kind, status, title in _HTTP_STATUS:
        if isinstance(error, kind):
            return status, title
    return 500, "Internal error"  # pragma: no cover - every StellaError kind is listed
