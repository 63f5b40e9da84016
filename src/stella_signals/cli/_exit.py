"""Exit codes of `stella` and `signals-offline` (SPEC §10), mapped from errors in one place."""

from __future__ import annotations

import functools
from enum import IntEnum
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:  # the evidence locker loads for the commands that check a bundle
    from stella_signals.locker import BundleReport, ProblemKind

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


@functools.cache
def _table() -> tuple[tuple[type[StellaError], ExitCode], ...]:
    """Most specific first: the first matching class decides (the time errors' module is
    imported on the first error, not when a command line starts)."""
    from stella_signals.timeanchor import AnchorTimeRefused, TimeUntrusted

    time_errors = (TimeUntrusted, AnchorTimeRefused)
    return tuple((kind, ExitCode.TIME_UNTRUSTED) for kind in time_errors) + _TABLE


#: After the time errors (`_table`), most specific first.
_TABLE: tuple[tuple[type[StellaError], ExitCode], ...] = (
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
    for kind, code in _table():
        if isinstance(error, kind):
            return code
    return ExitCode.CHECK_FAILED


def _bundle_table() -> tuple[tuple[ProblemKind, ExitCode], ...]:
    """An Evidence Locker bundle's problems, most specific first: the first kind found
    decides."""
    from stella_signals.locker import ProblemKind

    return (
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
    for kind, code in _bundle_table():
        if kind in kinds:
            return code
    return ExitCode.CHECK_FAILED
