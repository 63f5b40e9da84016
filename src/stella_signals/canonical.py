"""RFC 8785 (JCS) canonical JSON: the only serialisation we ever hash.

`canonical_json` is the reference (the ``rfc8785`` package). `canonical_json_fast` gives the
same bytes much faster for the documents we meet (graphs of millions of objects): it checks
that msgspec's sorted encoding provably agrees with RFC 8785 for this value, and falls back
to the reference otherwise. A property test holds the two byte-identical.
"""

from __future__ import annotations

from typing import Any

import msgspec
import rfc8785

from stella_signals.wire import MAX_SAFE_INTEGER

__all__ = ["canonical_json", "canonical_json_fast"]

_encode_sorted = msgspec.json.Encoder(order="sorted").encode
#: Past the largest integer an IEEE 754 double holds exactly; RFC 8785 numbers are doubles.
_SAFE = MAX_SAFE_INTEGER + 1
#: msgspec and ECMAScript print non-integral doubles identically inside this range.
_FIXED_LOW, _FIXED_HIGH = 1e-5, 1e16


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 bytes of a JSON value (dicts, lists, str, int, float, bool, None).

    A value without floats whose keys sort the same by code point and by UTF-16 code unit
    (receipts, events: the per-ingest documents) is encoded by msgspec, whose sorted output
    is then RFC 8785 byte for byte; anything else by the reference. Never modifies ``value``.
    """
    if _plain(value):
        try:
            return _encode_sorted(value)
        except UnicodeEncodeError:  # lone surrogates: the reference says why
            pass
    try:
        return bytes(rfc8785.dumps(value))
    except (rfc8785.CanonicalizationError, TypeError, UnicodeEncodeError) as exc:
        raise ValueError(f"value cannot be canonicalised: {exc}") from exc


def _plain(value: Any) -> bool:
    """``value`` holds only dicts with `_key_ok` string keys, lists, strings, bools, None and
    integers within ±2^53: types on which msgspec's sorted encoding is RFC 8785's."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is dict:
            for key, child in item.items():
                if type(key) is not str or not _key_ok(key):
                    return False
                stack.append(child)
        elif kind is list:
            stack.extend(item)
        elif kind is int:
            if abs(item) >= _SAFE:
                return False
        elif kind is not str and kind is not bool and item is not None:
            return False
    return True


def _key_ok(key: str) -> bool:
    # msgspec sorts keys by code point, RFC 8785 by UTF-16 code unit: they differ only when a
    # key holds a character at or above U+E000.
    return key.isascii() or max(key) < "\ue000"


def _number_ok(value: float) -> bool:
    magnitude = abs(value)
    return value.is_integer() or _FIXED_LOW <= magnitude < _FIXED_HIGH


def _normalise(value: Any) -> Any:
    """A copy-free check of ``value``: returns the value with integral doubles turned into
    ints (RFC 8785 prints ``5.0`` as ``5``), or raises `_Fallback` when msgspec's encoding
    could differ from RFC 8785 anywhere inside it."""
    if isinstance(value, float):
        if not _number_ok(value):
            raise _Fallback
        if value.is_integer():
            if abs(value) >= _SAFE:
                raise _Fallback
            return int(value)
        return value
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= _SAFE:
        raise _Fallback
    stack: list[Any] = [value] if isinstance(value, dict | list) else []
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                if not _key_ok(key):
                    raise _Fallback
                if isinstance(child, dict | list):
                    stack.append(child)
                elif isinstance(child, float) or (
                    isinstance(child, int) and not isinstance(child, bool) and abs(child) >= _SAFE
                ):
                    item[key] = _normalise(child)
        else:
            for index, child in enumerate(item):
                if isinstance(child, dict | list):
                    stack.append(child)
                elif isinstance(child, float) or (
                    isinstance(child, int) and not isinstance(child, bool) and abs(child) >= _SAFE
                ):
                    item[index] = _normalise(child)
    return value


class _Fallback(Exception):
    """msgspec's bytes might differ from RFC 8785 for this value: use the reference."""


def canonical_json_fast(value: Any) -> bytes:
    """Same bytes as `canonical_json`. May replace integral floats by ints inside ``value``
    (the same JSON number); the caller must own ``value``."""
    try:
        return _encode_sorted(_normalise(value))
    except _Fallback:
        return canonical_json(value)
    except UnicodeEncodeError as exc:  # lone surrogates: no canonical form
        raise ValueError(f"value cannot be canonicalised: {exc}") from exc
