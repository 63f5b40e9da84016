"""One problem in a JSON document and the sink that collects them.

A problem says where (an RFC 6901 pointer, ``""`` for the whole document), what (a reason
code) and why (a message). It renders as SPEC §6's error entry ``{line, field, reason}``: a
JSON document has no useful line, so ``field`` is the pointer (also kept as ``pointer``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Generic, TypeVar

__all__ = ["Problem", "ProblemSink"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem: where (JSON pointer, ``""`` for the whole document), what, and why."""

    #: How `__str__` names the whole document (a format may prefer its own word).
    ROOT: ClassVar[str] = "(document)"

    pointer: str
    reason: str
    message: str

    def to_dict(self) -> dict[str, str | None]:
        return {
            "line": None,
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
