"""Typed runtime-trace records, diagnostics and the parse report (SPEC §2)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import cached_property, lru_cache
from typing import Annotated, Any

import msgspec

from stella_signals.errors import InvalidTrace
from stella_signals.wire import MAX_SAFE_INTEGER, Problem, Severity, json_pointer

__all__ = [
    "MAX_COUNT",
    "MAX_PID",
    "Diagnostic",
    "Edges",
    "Reason",
    "Record",
    "RuntimeFact",
    "Severity",
    "Tallies",
    "Tally",
    "TraceReport",
]

#: Largest `count` a record may carry: 2^53 - 1, exact in every JSON implementation.
MAX_COUNT = MAX_SAFE_INTEGER
#: Largest `pid`: a signed 64-bit integer.
MAX_PID = 2**63 - 1


class Reason(StrEnum):
    """Stable reason codes of trace diagnostics."""

    # errors
    INVALID_UTF8 = "invalid_utf8"
    INVALID_JSON = "invalid_json"
    NOT_AN_OBJECT = "not_an_object"
    DUPLICATE_KEY = "duplicate_key"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    OUT_OF_RANGE = "out_of_range"
    INVALID_PURL = "invalid_purl"
    INVALID_TIMESTAMP = "invalid_timestamp"
    NAIVE_TIMESTAMP = "naive_timestamp"
    INVALID_SYMBOL_ID = "invalid_symbol_id"
    LINE_TOO_LONG = "line_too_long"
    EMPTY_TRACE = "empty_trace"
    DECOMPRESSION_FAILED = "decompression_failed"
    TOO_LARGE = "too_large"
    # warnings
    BOM = "bom"
    NOT_GZIP = "not_gzip"
    MISSING_OPTIONAL_FIELD = "missing_optional_field"
    UNKNOWN_FIELD = "unknown_field"


class Diagnostic(Problem):
    """One problem in a trace: the wire toolkit's `Problem` at a 1-based ``line`` (None: the
    file) about one member of the line's object (``field``, kept as the one-token pointer
    ``/field``; None: the whole line), with a `Reason` code and a severity.

    Built in the trace parser's argument order (``severity, line, field, reason, message``);
    rendered as SPEC §6's trace error entry ``{severity, line, field, reason, message}``."""

    __slots__ = ()

    reason: Reason

    def __init__(
        self, severity: Severity, line: int | None, field: str | None, reason: Reason, message: str
    ) -> None:
        pointer = "" if field is None else json_pointer(field)
        Problem.__init__(self, pointer, reason, message, line=line, severity=severity)

    @property
    def field(self) -> str | None:
        """The member the diagnostic is about (None: the whole line or file)."""
        if not self.pointer:
            return None
        return self.pointer[1:].replace("~1", "/").replace("~0", "~")

    def to_dict(self) -> dict[str, str | int | None]:
        return {
            "severity": self.severity.value,
            "line": self.line,
            "field": self.field,
            "reason": self.reason.value,
            "message": self.message,
        }

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else "file"
        return f"{where}: {self.field or '-'}: {self.reason.value}: {self.message}"


class Record(msgspec.Struct, frozen=True, gc=False):
    """One trace line, typed. Unknown fields are ignored here and reported by the parser."""

    symbol_id: Annotated[str, msgspec.Meta(min_length=1)]
    purl: str
    timestamp: Annotated[datetime, msgspec.Meta(tz=True)]
    count: Annotated[int, msgspec.Meta(ge=1, le=MAX_COUNT)]
    pid: Annotated[int, msgspec.Meta(ge=0, le=MAX_PID)] | msgspec.UnsetType = msgspec.UNSET
    container: str | msgspec.UnsetType = msgspec.UNSET
    code_id: str | msgspec.UnsetType = msgspec.UNSET
    build_id: str | msgspec.UnsetType = msgspec.UNSET
    loader_base: str | msgspec.UnsetType = msgspec.UNSET
    process_name: str | msgspec.UnsetType = msgspec.UNSET
    caller_symbol_id: Annotated[str, msgspec.Meta(min_length=1)] | msgspec.UnsetType = msgspec.UNSET


#: Field → JSON type name, in SPEC order; the parser's single source of field rules.
REQUIRED_FIELDS: Mapping[str, str] = {
    "symbol_id": "string",
    "purl": "string",
    "timestamp": "string",
    "count": "integer",
}
OPTIONAL_FIELDS: Mapping[str, str] = {
    "pid": "integer",
    "container": "string",
    "code_id": "string",
    "build_id": "string",
    "loader_base": "string",
    "process_name": "string",
    "caller_symbol_id": "string",
}
#: Fields holding a symbol id (SPEC §1: 1..`max_symbol_id_bytes` bytes of UTF-8).
SYMBOL_ID_FIELDS = ("symbol_id", "caller_symbol_id")
#: Optional fields whose absence is worth a warning.
WARN_IF_ABSENT = ("pid", "container")

#: The typed rule of each field, as `Record` declares it (without the UNSET default).
FIELD_TYPES: Mapping[str, Any] = {
    "symbol_id": Annotated[str, msgspec.Meta(min_length=1)],
    "purl": str,
    "timestamp": Annotated[datetime, msgspec.Meta(tz=True)],
    "count": Annotated[int, msgspec.Meta(ge=1, le=MAX_COUNT)],
    "pid": Annotated[int, msgspec.Meta(ge=0, le=MAX_PID)],
    "container": str,
    "code_id": str,
    "build_id": str,
    "loader_base": str,
    "process_name": str,
    "caller_symbol_id": Annotated[str, msgspec.Meta(min_length=1)],
}


@lru_cache(maxsize=64)
def shaped_record(present: frozenset[str]) -> type[msgspec.Struct]:
    """A record type for lines that carry exactly the optional fields ``present``.

    Those fields are required, the other optional fields default to UNSET, and unknown fields
    are refused: a batch of one shape then needs no per-record presence check.
    """
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = [
        (name, FIELD_TYPES[name]) for name in REQUIRED_FIELDS
    ]
    fields += [(name, FIELD_TYPES[name]) for name in OPTIONAL_FIELDS if name in present]
    fields += [
        (name, FIELD_TYPES[name] | msgspec.UnsetType, msgspec.UNSET)
        for name in OPTIONAL_FIELDS
        if name not in present
    ]
    return msgspec.defstruct(
        "ShapedRecord", fields, frozen=True, gc=False, forbid_unknown_fields=True
    )


class RuntimeFact(msgspec.Struct, frozen=True, gc=False):
    """Records aggregated by (`symbol_id`, `purl`, `container`); times in UTC."""

    symbol_id: str
    purl: str
    container: str | None
    count: int
    first_seen: datetime
    last_seen: datetime


class Tally(msgspec.Struct, gc=False):
    """Running aggregate of one (symbol_id, purl, container); not GC-tracked, so millions of
    them cost the cyclic collector nothing."""

    count: int
    first: datetime
    last: datetime


#: (symbol_id, purl, container or UNSET) → its tally.
Tallies = Mapping[tuple[str, str, object], Tally]
#: (caller_symbol_id, symbol_id) → summed count, from the records that carry a caller.
Edges = Mapping[tuple[str, str], int]


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is UTC else moment.astimezone(UTC)


def _sort_key(key: tuple[str, str, object]) -> tuple[str, str, str]:
    container = key[2]
    return (key[0], key[1], "" if container is msgspec.UNSET else str(container))


@dataclass(frozen=True, kw_only=True)
class TraceReport:
    """What parsing one trace found. ``check`` face: never raises for a bad trace."""

    name: str | None
    sha256: str
    size: int
    gzip: bool
    lines: int
    records: int
    error_count: int
    warning_count: int
    #: The first `Limits.max_kept_diagnostics` diagnostics, in line order.
    diagnostics: tuple[Diagnostic, ...]
    unique_symbols: int
    first_seen: datetime | None
    last_seen: datetime | None
    #: symbol_id → code_id, for records that carried a code_id (first one seen).
    code_ids: Mapping[str, str] = field(default_factory=dict)
    tallies: Tallies = field(default_factory=dict, repr=False)
    #: Call edges seen at run time (SPEC §9), at most `Limits.max_edges` distinct pairs.
    edges: Edges = field(default_factory=dict, repr=False)

    @cached_property
    def facts(self) -> tuple[RuntimeFact, ...]:
        """Aggregated facts, sorted by (symbol_id, purl, container); built on first use."""
        return tuple(self.iter_facts())

    def iter_facts(self) -> Iterator[RuntimeFact]:
        """The same facts, one at a time and not kept (a 10 M-record trace may have 10^6)."""
        return self.facts_in(self.fact_order())

    def fact_order(self) -> list[tuple[str, str, object]]:
        """The keys of `tallies` in the facts' order (symbol_id, purl, container)."""
        return sorted(self.tallies, key=_sort_key)

    def facts_in(self, keys: Iterable[tuple[str, str, object]]) -> Iterator[RuntimeFact]:
        """The facts of ``keys`` (`fact_order`, sorted once for several passes), one at a time."""
        for fields in self.fact_fields(keys):
            yield RuntimeFact(*fields)

    def fact_fields(
        self, keys: Iterable[tuple[str, str, object]]
    ) -> Iterator[tuple[str, str, str | None, int, datetime, datetime]]:
        """`facts_in` as plain tuples of `RuntimeFact`'s fields, for a caller that makes rows
        of its own from 10^5 of them (``ingest.FactRows``)."""
        tallies = self.tallies
        unset = msgspec.UNSET
        for key in keys:
            tally = tallies[key]
            container = key[2]
            yield (
                key[0],
                key[1],
                None if container is unset else str(container),
                tally.count,
                _utc(tally.first),
                _utc(tally.last),
            )

    @property
    def valid(self) -> bool:
        return self.error_count == 0

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity is Severity.ERROR)

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity is Severity.WARNING)

    def raise_for_errors(self) -> None:
        """``verify`` face: raise `InvalidTrace` carrying the kept errors."""
        if self.valid:
            return
        errors = self.errors
        first = f"; first: {errors[0]}" if errors else ""
        raise InvalidTrace(
            f"runtime trace {self.name or '<stream>'} has {self.error_count} error(s){first}",
            diagnostics=errors,
        )
