"""A small, safe HTML templating: every value is escaped unless it is already `Markup`.

Templates are Python format strings (``"<p>{name}</p>"``) filled by `render`, whose formatter
escapes each field (``& < > " '``) after formatting it; only `Markup` (HTML this module built)
goes in as is. There is no way to mark a request value safe but `Markup(...)` in our own code,
and no attribute or index lookup in templates (``{a.b}`` and ``{a[0]}`` are refused), so a
template cannot reach past the values it is given.
"""

from __future__ import annotations

import html
import string
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

__all__ = ["Markup", "attrs", "escape", "join", "query", "render"]


class Markup(str):
    """HTML that is safe to emit as is (built by `render`, `join` or from literals)."""

    __slots__ = ()


def escape(value: object) -> Markup:
    """``value`` as HTML text: `Markup` unchanged, anything else ``str()``-ed and escaped."""
    if isinstance(value, Markup):
        return value
    return Markup(html.escape("" if value is None else str(value), quote=True))


class _Escaping(string.Formatter):
    def get_field(self, field_name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        if not field_name.isidentifier():
            raise ValueError(f"template field {field_name!r}: plain names only")
        return kwargs[field_name], field_name

    def format_field(self, value: Any, format_spec: str) -> str:
        if isinstance(value, Markup):
            return value
        return escape(format(value, format_spec) if format_spec else value)

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        if conversion is not None:
            raise ValueError("template conversions (!r, !s, !a) are not allowed")
        return value


_FORMATTER = _Escaping()


def render(template: str, **values: object) -> Markup:
    """``template`` with each ``{name}`` replaced by the escaped value (`Markup` as is)."""
    return Markup(_FORMATTER.vformat(template, (), values))


def join(parts: Iterable[object], separator: str = "") -> Markup:
    """Parts escaped (unless `Markup`) and joined."""
    return Markup(escape(separator).join(escape(part) for part in parts))


def attrs(**values: object) -> Markup:
    """HTML attributes, escaped; ``True`` gives a bare attribute, ``None``/``False`` none.
    A trailing ``_`` is dropped (``class_``) and ``_`` inside becomes ``-`` (``aria_label``)."""
    out = []
    for name, value in values.items():
        attribute = name.removesuffix("_").replace("_", "-")
        if value is None or value is False:
            continue
        if value is True:
            out.append(f" {attribute}")
        else:
            out.append(f' {attribute}="{escape(value)}"')
    return Markup("".join(out))


def query(path: str, **params: str | int | None) -> str:
    """``path`` with the non-empty ``params`` as a query string (values URL-encoded)."""
    given = {k.removesuffix("_"): str(v) for k, v in params.items() if v not in (None, "")}
    return f"{path}?{urlencode(given)}" if given else path
