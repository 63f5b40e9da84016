"""One problem in a document and the sink that collects them.

A problem says where (an RFC 6901 pointer, ``""`` for the whole document; in a line-oriented
document such as a JSON Lines trace also the 1-based ``line``), what (a reason code), why (a
message) and how bad (``severity``: an error refuses the document, a warning does not). It
renders as SPEC §6's error entry ``{line, field, reason}``: a JSON document has no useful
line, so ``field`` is the pointer (also kept as ``pointer``). Every problem kind of the
product is this type or a subclass of it (graph, catalog, OSV, symbol manifest, bundle
layout, evidence bundle, trace diagnostic).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar, Generic, TypeVar

__all__ = ["Problem", "ProblemSink", "Severity"]


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem: where (JSON pointer, ``""`` for the whole document), what, and why."""

    #: How `__str__` names the whole document (a format may prefer its own word).
    ROOT: ClassVar[str] = "(document)"

    pointer: str
    reason: str
    message: str
    #: 1-based line of a line-oriented document; None in a JSON document (keyword-only, so
    #: that a subclass's own fields stay positional after ``message``).
    line: int | None = field(default=None, kw_only=True)
    severity: Severity = field(default=Severity.ERROR, kw_only=True)

    def to_dict(self) -> dict[str, str | int | None]:
        return {
            "line": self.line,
            "field": self.pointer or None,
            "reason": str(self.reason),
            "pointer": self.pointer,
            "message": self.message,
        }

    def __str__(self) -> str:
        return f"{self.pointer or self.ROOT}: {self.reason}: {self.message}"


P = TypeVar("P", bound=Problem)


class ProblemSink(Generic[P]):
    """Collects problems: keeps the first ``limit`` and counts them all."""

    def __init__(self, make: Callable[[str, str, str], P], limit: int) -> None:
        self._make = make
        self._limit = limit
        self.problems: list[P] = []
        self.total = 0

    def add(self, pointer: str, reason: str, message: str) -> None:
        self.total += 1
        if len(self.problems) < self._limit:
            self.problems.append(self._make(pointer, reason, message))
