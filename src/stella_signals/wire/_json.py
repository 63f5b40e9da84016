"""Plain JSON values: read-only copies, plain copies back, type names and RFC 6901 pointers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

__all__ = ["duplicate_keys", "freeze", "json_pointer", "json_type", "thaw"]


def freeze(value: Any) -> Any:
    """A read-only copy of a JSON value: objects become mappingproxies, arrays tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({key: freeze(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(item) for item in value)
    return value


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
