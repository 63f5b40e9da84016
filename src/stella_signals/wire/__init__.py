"""The wire toolkit: what every parser of untrusted documents shares (no I/O).

Strict JSON (`loads_strict`: duplicate keys and NaN refused; `duplicate_keys` says where),
RFC 6901 pointers, read-only JSON values, one `Problem` type and its `ProblemSink`, one
RFC 3339 parser with the strictness as a parameter, and the shared numeric limits.
"""

from stella_signals.strictjson import DuplicateKeyError, loads_strict
from stella_signals.wire._constants import MAX_SAFE_INTEGER
from stella_signals.wire._json import (
    JsonValueFault,
    NotJsonValue,
    duplicate_keys,
    freeze,
    freeze_checked,
    json_pointer,
    json_type,
    thaw,
)
from stella_signals.wire._problem import Problem, ProblemSink, Severity
from stella_signals.wire._rfc3339 import Rfc3339, parse_rfc3339

__all__ = [
    "MAX_SAFE_INTEGER",
    "DuplicateKeyError",
    "JsonValueFault",
    "NotJsonValue",
    "Problem",
    "ProblemSink",
    "Rfc3339",
    "Severity",
    "duplicate_keys",
    "freeze",
    "freeze_checked",
    "json_pointer",
    "json_type",
    "loads_strict",
    "parse_rfc3339",
    "thaw",
]
