"""Plain JSON values: read-only copies, plain copies back, type names and RFC 6901 pointers."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from stella_signals.wire._constants import MAX_SAFE_INTEGER

__all__ = [
    "JsonValueFault",
    "NotJsonValue",
    "duplicate_keys",
    "freeze",
    "freeze_checked",
    "json_pointer",
    "json_type",
    "thaw",
]


def freeze(value: Any) -> Any:
    """A read-only copy of a JSON value: objects become mappingproxies, arrays tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({key: freeze(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(item) for item in value)
    return value


class JsonValueFault(StrEnum):
    """Why `freeze_checked` refuses a value."""

    KEY_NOT_TEXT = "key_not_text"
    NOT_FINITE = "not_finite"
    BEYOND_SAFE_INTEGER = "beyond_safe_integer"
    LONE_SURROGATE = "lone_surrogate"
    NOT_JSON = "not_json"


class NotJsonValue(ValueError):
    """What `freeze_checked` refused: ``value`` (for a key fault, the key) at ``path``, the
    tokens from the root to it (to the object holding it, for a key fault)."""

    def __init__(self, fault: JsonValueFault, path: tuple[str | int, ...], value: object):
        super().__init__(f"{json_pointer(*path) or '/'}: {fault.value}")
        self.fault = fault
        self.path = path
        self.value = value


def freeze_checked(value: object, *, exact: bool = False) -> Any:
    """A deep read-only copy of JSON data (objects → mappingproxies, arrays → tuples), or
    `NotJsonValue`: object keys are strings, numbers finite, nothing but JSON types. With
    ``exact``, also what RFC 8785 encodes exactly and the same on every reader: integral
    floats become ints, magnitudes stay within ``MAX_SAFE_INTEGER``, text is valid UTF-8 (no
    lone surrogate)."""
    return _freeze_checked(value, (), exact)


def _freeze_checked(value: object, path: tuple[str | int, ...], exact: bool) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        if isinstance(value, float):
            if not math.isfinite(value):
                raise NotJsonValue(JsonValueFault.NOT_FINITE, path, value)
            if not exact or not value.is_integer():
                return float(value)
        if exact and abs(value) > MAX_SAFE_INTEGER:
            raise NotJsonValue(JsonValueFault.BEYOND_SAFE_INTEGER, path, value)
        return int(value)
    if isinstance(value, str):
        if exact:
            _check_text(value, path)
        return str(value)
    if isinstance(value, Mapping):
        frozen: dict[str, Any] = {}
        for key, child in value.items():
            if not isinstance(key, str):
                raise NotJsonValue(JsonValueFault.KEY_NOT_TEXT, path, key)
            if exact:
                _check_text(key, path)
            frozen[str(key)] = _freeze_checked(child, (*path, key), exact)
        return MappingProxyType(frozen)
    if isinstance(value, list | tuple):
        return tuple(_freeze_checked(child, (*path, i), exact) for i, child in enumerate(value))
    raise NotJsonValue(JsonValueFault.NOT_JSON, path, value)


def _check_text(text: str, path: tuple[str | int, ...]) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise NotJsonValue(JsonValueFault.LONE_SURROGATE, path, text) from None


def thaw(value: Any) -> Any:
    """Plain JSON data (dicts and lists) from a `freeze` result or any nesting of mappings,
    lists and tuples."""
    if isinstance(value, Mapping):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [thaw(item) for item in value]
    return value


def json_type(value: object, *, empty_string: bool = False) -> str:
    """The JSON type name of ``value`` for messages (``"empty string"`` for ``""`` when
    ``empty_string``); a value that is not JSON data is named by its Python type."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "empty string" if empty_string and not value else "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def json_pointer(*tokens: str | int) -> str:
    """The RFC 6901 pointer of ``tokens`` (``~`` → ``~0``, ``/`` → ``~1``); ``""`` is the root."""
    return "".join("/" + str(t).replace("~", "~0").replace("/", "~1") for t in tokens)


class _Pairs(list[tuple[str, Any]]):
    """A JSON object as its key/value pairs, duplicates kept."""


def duplicate_keys(data: str | bytes) -> list[tuple[str, str]]:
    """(pointer, key) of every repeated key of a JSON document (an object's own before those
    inside its members): where `loads_strict`'s `DuplicateKeyError` is, for a message (empty
    for text that is not JSON)."""
    try:
        tree = json.loads(data, object_pairs_hook=_Pairs)
    except (ValueError, RecursionError):
        return []
    found: list[tuple[str, str]] = []
    stack: list[tuple[str, Any]] = [("", tree)]
    while stack:
        pointer, node = stack.pop()
        children: list[tuple[str, Any]] = []
        if isinstance(node, _Pairs):
            seen: set[str] = set()
            for key, value in node:
                child = pointer + json_pointer(key)
                if key in seen:
                    found.append((child, key))
                seen.add(key)
                children.append((child, value))
        elif isinstance(node, list):
            children = [(pointer + json_pointer(i), value) for i, value in enumerate(node)]
        stack.extend(reversed(children))
    return found
