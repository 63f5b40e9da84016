"""Exit codes of `stella` and `signals-offline` (SPEC §10), mapped from errors in one place."""

from __future__ import annotations

from enum import IntEnum

from stella_signals.errors import (
    HashMismatch,
    InvalidInput,
    InvalidTenant,
    LimitExceeded,
    NotFound,
    StellaError,
    VerificationFailed,
)
from stella_signals.timeanchor import AnchorTimeRefused, TimeUntrusted

__all__ = ["ExitCode", "exit_code_for"]


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
    (InvalidInput, ExitCode.SCHEMA_INVALID),
    (LimitExceeded, ExitCode.SCHEMA_INVALID),
    (NotFound, ExitCode.USAGE),
)


def exit_code_for(error: StellaError) -> ExitCode:
    for kind, code in _TABLE:
        if isinstance(error, kind):
            return code
    return ExitCode.CHECK_FAILED
