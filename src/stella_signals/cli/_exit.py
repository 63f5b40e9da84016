"""Exit codes of `stella` and `signals-offline` (SPEC §10), mapped from errors in one place."""

from __future__ import annotations

from enum import IntEnum

from stella_signals.errors import (
    HashMismatch,
    InvalidConfig,
    InvalidInput,
    InvalidTenant,
    LimitExceeded,
    NotFound,
    StellaError,
    VerificationFailed,
)
from stella_signals.locker import BundleReport, ProblemKind
from stella_signals.timeanchor import AnchorTimeRefused, TimeUntrusted

__all__ = ["ExitCode", "exit_code_for", "exit_code_for_bundle"]


class ExitCode(IntEnum):
    OK = 0
    CHECK_FAILED = 1
    USAGE = 2
    HASH_MISMATCH = 3
    SIGNATURE_INVALID = 4
    TIME_UNTRUSTED = 5
    SCHEMA_INVALID = 6
    ORPHAN = 7


#: Most specific first: the first matching class decides.
_TABLE: tuple[tuple[type[StellaError], ExitCode], ...] = (
    (TimeUntrusted, ExitCode.TIME_UNTRUSTED),
    (AnchorTimeRefused, ExitCode.TIME_UNTRUSTED),
    (HashMismatch, ExitCode.HASH_MISMATCH),
    (VerificationFailed, ExitCode.SIGNATURE_INVALID),
    (InvalidTenant, ExitCode.USAGE),
    (InvalidConfig, ExitCode.USAGE),
    (InvalidInput, ExitCode.SCHEMA_INVALID),
    (LimitExceeded, ExitCode.SCHEMA_INVALID),
    (NotFound, ExitCode.USAGE),
)


def exit_code_for(error: StellaError, *, argument: bool = False) -> ExitCode:
    """The exit code for ``error``; with ``argument`` the error is about a value typed on the
    command line (a URI, an id), so malformed input is a usage error (exit 2)."""
    if argument and isinstance(error, InvalidInput):
        return ExitCode.USAGE
    for kind, code in _TABLE:
        if isinstance(error, kind):
            return code
    return ExitCode.CHECK_FAILED


#: An Evidence Locker bundle's problems, most specific first: the first kind found decides.
_BUNDLE_TABLE: tuple[tuple[ProblemKind, ExitCode], ...] = (
    (ProblemKind.UNREADABLE, ExitCode.USAGE),
    (ProblemKind.HASH_MISMATCH, ExitCode.HASH_MISMATCH),
    (ProblemKind.SIGNATURE, ExitCode.SIGNATURE_INVALID),
)


def exit_code_for_bundle(report: BundleReport) -> ExitCode:
    """0 for a sound bundle; else 2 not a readable bundle, 3 a hash mismatch, 4 a signature
    missing or invalid, 1 any other problem (the first that applies)."""
    if report.ok:
        return ExitCode.OK
    kinds = {problem.kind for problem in report.problems}
    for kind, code in _BUNDLE_TABLE:
        if kind in kinds:
            return code
    return ExitCode.CHECK_FAILED
