"""What the DSSE envelope and in-toto statement parsers share: an error that names the member
at fault, and the lookup of a required member. Each parser raises its own error type."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stella_signals.errors import InvalidInput

__all__ = ["InvalidMember", "member"]


class InvalidMember(InvalidInput, reason="dsse_invalid"):
    """A document is malformed; ``field`` names the member at fault (``signatures[1].sig``)."""

    def __init__(self, message: str, *, field: str | None = None, reason: str | None = None):
        super().__init__(message, reason=reason)
        self.field = field


def member(obj: Mapping[str, Any], name: str, where: str, error: type[InvalidMember]) -> object:
    """``obj[name]``, or ``error`` naming ``where.name`` (``name`` at the top) as missing."""
    field = f"{where}.{name}" if where else name
    if name not in obj:
        raise error(f"{field}: missing", field=field)
    return obj[name]
