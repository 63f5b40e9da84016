"""Plain JSON values: read-only copies, plain copies back, type names and RFC 6901 pointers."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

__all__ = ["freeze", "json_pointer", "json_type", "thaw"]


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
