"""Strict JSON for untrusted documents: duplicate keys and NaN/Infinity are errors.

Two parsers that disagree on ``{"a": 1, "a": 2}`` are a classic way to smuggle a value past a
verifier, so every untrusted JSON document goes through here (or through an equivalent check).
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["DuplicateKeyError", "loads_strict"]


class DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(f"duplicate key {key!r}")
        self.key = key


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):  # rare: find which key, for the message
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKeyError(key)
            seen.add(key)
    return result


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads_strict(text: str | bytes) -> Any:
    """Parse JSON; raise `DuplicateKeyError` or `ValueError` (incl. ``JSONDecodeError``).

    ``RecursionError`` on absurd nesting is turned into ``ValueError``.
    """
    try:
        return json.loads(text, object_pairs_hook=_pairs, parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
