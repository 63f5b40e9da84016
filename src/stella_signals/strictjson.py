"""Strict JSON for untrusted documents: duplicate keys and NaN/Infinity are errors.

Two parsers that disagree on ``{"a": 1, "a": 2}`` are a classic way to smuggle a value past a
verifier, so every untrusted JSON document goes through here (or through an equivalent check).
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["DuplicateKeyError", "has_raw_surrogate", "loads_strict"]


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


#: The UTF-8 form of a surrogate code point (U+D800..U+DFFF): not UTF-8 (RFC 3629), yet
#: ``json.loads`` decodes bytes with ``surrogatepass`` and lets it through.
_RAW_SURROGATE = re.compile(rb"\xed[\xa0-\xbf]")


def has_raw_surrogate(data: bytes) -> bool:
    """Whether ``data`` holds the UTF-8 form of a surrogate (a memchr-fast test first)."""
    return b"\xed" in data and _RAW_SURROGATE.search(data) is not None


def _refuse_raw_surrogates(data: bytes) -> None:
    found = _RAW_SURROGATE.search(data) if b"\xed" in data else None
    if found is not None:
        before = data[: found.start()].decode("utf-8", "surrogatepass")
        raise json.JSONDecodeError(
            "invalid UTF-8: the encoded form of a surrogate code point",
            data.decode("utf-8", "surrogatepass"),
            len(before),
        )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads_strict(text: str | bytes) -> Any:
    """Parse JSON; raise `DuplicateKeyError` or `ValueError` (incl. ``JSONDecodeError``, also
    for bytes that hold the UTF-8 form of a surrogate, which is not UTF-8).

    ``RecursionError`` on absurd nesting is turned into ``ValueError``.
    """
    if isinstance(text, bytes | bytearray):
        _refuse_raw_surrogates(bytes(text))
    try:
        return json.loads(text, object_pairs_hook=_pairs, parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
