"""Which symbol a code object is (SPEC §14): module, qualname, owning distribution, purl.

Resolved once per code object and cached by its id (the cache keeps the code object alive, so
an id is never reused while cached). Code the scanner never puts in a graph is not recorded:
the standard library and the probe itself are *transparent* (a call they make is attributed
to the nearest recorded frame above them, as a builtin's would be); code compiled from a string
(``eval``/``exec``) is a *barrier* (what it calls is recorded without a caller: no graph can
hold that edge). Module-level code and class bodies are recorded without a caller too: they run
because a module is loaded or a class defined, not because anything called them.
"""

from __future__ import annotations

import dis
import os
import re
import sys
import sysconfig
import threading
from collections.abc import Iterator
from importlib import metadata
from types import CodeType
from typing import Any

from stella_probe._naming import (
    clean_qualname,
    display_name,
    module_name_from_path,
    normalise_dist,
    pypi_purl,
    symbol_id,
)

__all__ = [
    "BARRIER",
    "RECORD",
    "TRANSPARENT",
    "Resolver",
    "Symbol",
    "container_id",
    "nested_codes",
]

RECORD, TRANSPARENT, BARRIER = 0, 1, 2
_COMPREHENSIONS = frozenset({"<listcomp>", "<setcomp>", "<dictcomp>", "<genexpr>"})
#: CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR: their frames are resumed, not called.
_RESUMABLE = 0x20 | 0x80 | 0x200
_CO_NEWLOCALS = 0x2
_CONTAINER = re.compile(r"(?<![0-9a-f])([0-9a-f]{64})(?![0-9a-f])")


class Symbol:
    """A resolved code object. A comprehension carries the symbol of the function around it
    (it is no node of its own) and is never recorded as a callee."""

    __slots__ = (
        "code",
        "comprehension",
        "display",
        "first_lasti",
        "kind",
        "module_level",
        "purl",
        "skip",
        "symbol_id",
    )

    def __init__(
        self,
        code: CodeType | None,
        kind: int,
        symbol: str = "",
        purl: str = "",
        display: str = "",
        *,
        module_level: bool = False,
        comprehension: bool = False,
        first_lasti: int | None = None,
    ) -> None:
        self.code = code
        self.kind = kind
        self.symbol_id = symbol
        self.purl = purl
        self.display = display
        self.module_level = module_level
        self.comprehension = comprehension
        self.first_lasti = first_lasti
        #: never recorded as a callee
        self.skip = kind != RECORD or comprehension


class Resolver:
    def __init__(self, project_root: str, project_purl: str, *, include_stdlib: bool = False):
        self.root = os.path.realpath(project_root)
        self.project_purl = project_purl
        #: id(code) → Symbol; read without a lock by the profilers (dict reads are atomic)
        self.cache: dict[int, Symbol] = {}
        self._lock = threading.RLock()
        self._real: dict[str, str] = {}
        self._owners: dict[str, tuple[str, str]] = {}
        self._dists_by_entry: dict[str, dict[str, tuple[str, str]]] = {}
        self._fallback_qualnames: dict[str, dict[tuple[int, str], str]] = {}
        self._own = os.path.dirname(os.path.realpath(__file__)) + os.sep
        stdlib: list[str] = []
        if not include_stdlib:
            paths = sysconfig.get_paths()
            stdlib += [os.path.realpath(paths[k]) for k in ("stdlib", "platstdlib") if k in paths]
        self._stdlib = tuple(p.rstrip(os.sep) + os.sep for p in stdlib)

    def before_fork(self) -> None:
        """Hold the lock across a fork, so that no other thread holds it then: in the child
        nobody would ever release it, and the child's first new function would wait forever
        (the at-fork handlers themselves are new functions to resolve)."""
        self._lock.acquire()

    def after_fork_in_parent(self) -> None:
        self._lock.release()

    def after_fork(self) -> None:
        """In a forked child: a lock of its own, free."""
        self._lock = threading.RLock()

    def resolve(self, code: CodeType, f_globals: dict[str, Any]) -> Symbol:
        cached = self.cache.get(id(code))
        if cached is not None:
            return cached
        with self._lock:
            cached = self.cache.get(id(code))  # another thread may have resolved it meanwhile:
            if cached is not None:  # one Symbol per code object, or its counts split in two
                return cached
            symbol = self._build(code, f_globals)
            if symbol.kind != BARRIER:  # string code is made afresh: caching it would grow
                self.cache[id(code)] = symbol
        return symbol

    def name(self, code: CodeType, f_globals: dict[str, Any]) -> tuple[str, str, str, str]:
        """(module, qualname, dist, purl) of a code object from a file."""
        path = self._realpath(code.co_filename)
        module = self._module(f_globals, path)
        raw = getattr(code, "co_qualname", None) or self._fallback_qualname(code, path)
        dist, purl = self.owner(path)
        return module, clean_qualname(raw), dist, purl

    def _build(self, code: CodeType, f_globals: dict[str, Any]) -> Symbol:
        filename = code.co_filename
        if filename.startswith("<"):
            return Symbol(code, TRANSPARENT if filename.startswith("<frozen") else BARRIER)
        path = self._realpath(filename)
        if path.startswith(self._own) or (path.startswith(self._stdlib) and not _installed(path)):
            return Symbol(code, TRANSPARENT)
        module = self._module(f_globals, path)
        raw = getattr(code, "co_qualname", None) or self._fallback_qualname(code, path)
        comprehension = code.co_name in _COMPREHENSIONS
        if comprehension:
            raw = _enclosing(raw)
        qualname = clean_qualname(raw)
        dist, purl = self.owner(path)
        first_lasti = _first_lasti(code) if code.co_flags & _RESUMABLE else None
        return Symbol(
            code,
            RECORD,
            symbol_id(dist, module, qualname),
            purl,
            display_name(module, qualname),
            # module-level code and class bodies run when defined, not called: no caller
            module_level=not comprehension
            and (qualname == "" or not code.co_flags & _CO_NEWLOCALS),
            comprehension=comprehension,
            first_lasti=first_lasti,
        )

    def _realpath(self, filename: str) -> str:
        real = self._real.get(filename)
        if real is None:
            real = self._real[filename] = os.path.realpath(filename)
        return real

    def _module(self, f_globals: dict[str, Any], path: str) -> str:
        name = f_globals.get("__name__")
        if name == "__main__":
            spec = f_globals.get("__spec__")
            spec_name = getattr(spec, "name", None)
            if isinstance(spec_name, str) and spec_name:
                return spec_name  # run with -m: named as the import system names it
            name = None  # a script: named by its path relative to the project root
        if isinstance(name, str) and name:
            return name
        rel = os.path.relpath(path, self.root).replace(os.sep, "/")
        module = None if rel.startswith("../") else module_name_from_path(rel)
        return module or os.path.splitext(os.path.basename(path))[0]

    def owner(self, path: str) -> tuple[str, str]:
        """(normalised dist, purl) of the distribution whose RECORD lists ``path``, else
        ("", the project's purl)."""
        found = self._owners.get(path)
        if found is not None:
            return found
        with self._lock:
            found = ("", self.project_purl)
            entries = [
                e
                for e in (self._realpath(p or ".") for p in sys.path)
                if path.startswith(e + os.sep)
            ]
            for entry in sorted(entries, key=len, reverse=True):
                owned = self._dists_by_entry.get(entry)
                if owned is None:
                    owned = self._dists_by_entry[entry] = _distribution_files(entry)
                if path in owned:
                    found = owned[path]
                    break
            self._owners[path] = found
        return found

    def _fallback_qualname(self, code: CodeType, path: str) -> str:
        """Before Python 3.11 code objects carry no ``co_qualname``: compile the file once and
        name its code objects as the compiler names functions (``__qualname__``)."""
        table = self._fallback_qualnames.get(path)
        if table is None:
            table = self._fallback_qualnames[path] = _qualname_table(path)
        if code.co_name == "<module>":
            return "<module>"
        return table.get((code.co_firstlineno, code.co_name), code.co_name)


def _installed(path: str) -> bool:
    return f"{os.sep}site-packages{os.sep}" in path or f"{os.sep}dist-packages{os.sep}" in path


def _enclosing(raw: str) -> str:
    """``f.<locals>.<listcomp>`` → ``f``; a comprehension at module level → ``<module>``."""
    parts = raw.split(".")
    while parts and (parts[-1] in _COMPREHENSIONS or parts[-1] == "<locals>"):
        parts.pop()
    return ".".join(parts) if parts else "<module>"


def _first_lasti(code: CodeType) -> int:
    """``f_lasti`` of a generator's frame when its body first starts (later 'call' events of
    the same frame are resumptions, not calls)."""
    if sys.version_info < (3, 11):
        return -1
    for instruction in dis.get_instructions(code):
        if instruction.opname == "RESUME":
            return instruction.offset
    return 0


def _distribution_files(entry: str) -> dict[str, tuple[str, str]]:
    owned: dict[str, tuple[str, str]] = {}
    try:
        dists = list(metadata.distributions(path=[entry]))
    except Exception:
        return owned
    for dist in dists:
        try:
            name = dist.metadata["Name"]
            if not name:
                continue
            owner = (normalise_dist(name), pypi_purl(name, dist.version))
            for file in dist.files or ():
                if str(file).endswith(".py"):
                    owned.setdefault(os.path.realpath(str(dist.locate_file(file))), owner)
        except Exception:  # noqa: S112 - one broken RECORD must not hide the others
            continue
    return owned


def _qualname_table(path: str) -> dict[tuple[int, str], str]:
    table: dict[tuple[int, str], str] = {}
    try:
        with open(path, "rb") as handle:
            top = compile(handle.read(), path, "exec", dont_inherit=True)
    except Exception:
        return table
    for code, qualname in nested_codes(top):
        table.setdefault((code.co_firstlineno, code.co_name), qualname)
    return table


def nested_codes(top: CodeType) -> Iterator[tuple[CodeType, str]]:
    """Every code object inside a module's code, with the raw qualname the compiler gives it
    (``f.<locals>.g``; a class body's children are ``C.m``)."""
    stack: list[tuple[CodeType, str, bool]] = [(top, "", False)]
    while stack:
        code, prefix, in_function = stack.pop()
        for const in code.co_consts:
            if isinstance(const, CodeType):
                sep = ".<locals>." if in_function else "."
                qualname = prefix + sep + const.co_name if prefix else const.co_name
                yield const, qualname
                stack.append((const, qualname, bool(const.co_flags & _CO_NEWLOCALS)))


def container_id(cgroup_text: str) -> str | None:
    """The container id in ``/proc/self/cgroup`` (or mountinfo) text: the last 64-hex id of a
    path (docker, containerd, cri-o and podman all put it there), None outside a container."""
    found = None
    for line in cgroup_text.splitlines():
        ids = _CONTAINER.findall(line)
        if ids:
            found = ids[-1]
    return found
