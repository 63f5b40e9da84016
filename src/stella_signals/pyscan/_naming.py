"""SPEC §14: how a Python symbol is named. Pure, standard library only, and small on purpose:
the runtime probe (`stella_probe`) mirrors these functions line for line, so a trace maps onto
a scanned graph without any table in between.
"""

from __future__ import annotations

import base64
import hashlib
import re

__all__ = [
    "clean_qualname",
    "display_name",
    "generic_purl",
    "module_name_from_path",
    "normalise_dist",
    "pypi_purl",
    "symbol_id",
]

_PEP503 = re.compile(r"[-_.]+")


def normalise_dist(name: str) -> str:
    """A distribution name as PEP 503 normalises it (``Foo.Bar_baz`` → ``foo-bar-baz``)."""
    return _PEP503.sub("-", name).lower()


def clean_qualname(co_qualname: str) -> str:
    """A code object's ``co_qualname`` with every ``.<locals>`` removed (``f.<locals>.g`` →
    ``f.g``); module-level code (``<module>``) has the empty qualname."""
    if co_qualname == "<module>":
        return ""
    return co_qualname.replace(".<locals>", "")


def module_name_from_path(relative_path: str) -> str | None:
    """The dotted module name of a ``.py`` file given by its ``/``-separated path relative to
    its import root (a ``sys.path`` entry, or the project root for a script): ``app/cli.py`` →
    ``app.cli``, ``pkg/__init__.py`` → ``pkg``. None when the path names no importable module
    (a part that is not an identifier, not a ``.py`` file)."""
    if not relative_path.endswith(".py"):
        return None
    parts = relative_path[: -len(".py")].split("/")
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    if not all(part.isidentifier() for part in parts):
        return None
    return ".".join(parts)


def symbol_id(dist: str, module: str, qualname: str) -> str:
    """``sym:python:`` + base64url-no-pad(SHA-256(dist NUL module NUL qualname))."""
    digest = hashlib.sha256(f"{dist}\0{module}\0{qualname}".encode()).digest()
    return "sym:python:" + base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def display_name(module: str, qualname: str) -> str:
    """``module.qualname``, or ``module`` alone for module-level code."""
    return f"{module}.{qualname}" if qualname else module


def pypi_purl(name: str, version: str) -> str:
    """``pkg:pypi/<normalised name>@<version>`` of an installed distribution."""
    return f"pkg:pypi/{normalise_dist(name)}@{_purl_escape(version)}"


def generic_purl(folder: str) -> str:
    """The default purl of a project: ``pkg:generic/<folder name>``."""
    return f"pkg:generic/{_purl_escape(folder)}"


def _purl_escape(text: str) -> str:
    return "".join(
        ch if ch.isascii() and (ch.isalnum() or ch in ".-_~") else _percent(ch) for ch in text
    )


def _percent(ch: str) -> str:
    return "".join(f"%{byte:02X}" for byte in ch.encode("utf-8"))
