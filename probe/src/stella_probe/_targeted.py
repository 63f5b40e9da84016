"""Targeted mode: watch a list of functions by swapping their code objects.

When a target's module is loaded (or was already), its source is compiled again with one
statement, ``__stella_probe_hit__(k)``, at the top of each target's body, and every live
function object of the target (or, for a nested target, of its outermost enclosing function,
whose new constants hold the instrumented inner code) gets the new ``__code__``. The first hit
in a window swaps the original code back: the target then costs nothing until the next window
re-arms it. Counts are therefore lower bounds (1 = "ran at least once in the window").
"""

from __future__ import annotations

import ast
import gc
import os
import sys
import threading
import time
from types import CodeType, FunctionType, ModuleType
from typing import Any, Callable

from stella_probe._config import Target
from stella_probe._identity import Resolver, nested_codes
from stella_probe._naming import clean_qualname, symbol_id

__all__ = ["HIT_NAME", "Targeted"]

HIT_NAME = "__stella_probe_hit__"
_COMPREHENSIONS = ("<listcomp>", "<setcomp>", "<dictcomp>", "<genexpr>", "<lambda>")


class _Slot:
    __slots__ = ("armed_units", "first", "hit", "instrumented_at", "purl", "reason", "symbol_id",
                 "target", "units")  # fmt: skip

    def __init__(self, target: Target) -> None:
        self.target = target
        self.symbol_id = target.symbol_id
        self.purl = ""
        self.hit = False
        self.first = 0.0
        self.instrumented_at: float | None = None
        self.reason = "module_not_loaded"
        #: (function, original code, instrumented code) of the target's own function objects
        self.units: list[tuple[FunctionType, CodeType, CodeType]] = []
        self.armed_units = 0


class Targeted:
    def __init__(
        self,
        targets: tuple[Target, ...],
        resolver: Resolver,
        on_error: Callable[[BaseException], object],
    ):
        self.resolver = resolver
        self.on_error = on_error
        self.slots = [_Slot(t) for t in targets]
        self.lock = threading.RLock()
        self.by_module: dict[str, list[int]] = {}
        self.by_symbol: dict[str, list[int]] = {}
        for index, slot in enumerate(self.slots):
            if slot.target.module:
                self.by_module.setdefault(slot.target.module, []).append(index)
            else:
                self.by_symbol.setdefault(slot.target.symbol_id, []).append(index)
        self.done_modules: set[str] = set()
        self.main_polls = 60
        self.finder = _Finder(self)

    # -- installation --------------------------------------------------------------------------
    def install(self) -> None:
        sys.meta_path.insert(0, self.finder)
        for module in list(sys.modules.values()):
            if isinstance(module, ModuleType):
                self.module_loaded(module)

    def uninstall(self) -> None:
        with self.lock:
            if self.finder in sys.meta_path:
                sys.meta_path.remove(self.finder)
            for slot in self.slots:
                for function, original, _ in slot.units:
                    function.__code__ = original

    def wants(self, name: str) -> bool:
        return name in self.by_module or bool(self.pending_symbols())

    def pending_symbols(self) -> list[int]:
        return [i for ids in self.by_symbol.values() for i in ids
                if self.slots[i].instrumented_at is None]  # fmt: skip

    def module_loaded(self, module: ModuleType, *, retry: bool = False) -> None:
        try:
            self._module_loaded(module, retry)
        except Exception as exc:
            self.on_error(exc)

    def poll_main(self) -> None:
        """The script run as ``__main__`` is not imported: its functions exist only once its
        code has run them into being. Look again on the probe's ticks (for the first 30 s)."""
        if self.main_polls > 0:
            self.main_polls -= 1
            module = sys.modules.get("__main__")
            if isinstance(module, ModuleType):
                self.module_loaded(module, retry=True)

    def _module_loaded(self, module: ModuleType, retry: bool) -> None:
        file = getattr(module, "__file__", None)
        if not isinstance(file, str) or not file.endswith(".py"):
            return
        path = os.path.realpath(file)
        name = self.resolver._module(vars(module), path)
        with self.lock:
            if path in self.done_modules and not retry:
                return
            wanted = {i: self.slots[i].target.qualname for i in self.by_module.get(name, ())
                      if self.slots[i].instrumented_at is None}  # fmt: skip
            symbol_slots = self.pending_symbols()
            if not wanted and not symbol_slots:
                return
            dist, purl = self.resolver.owner(path)
            if symbol_slots:
                by_id = {symbol_id(dist, name, q): q for q in _live_qualnames(module, name)}
                for i in symbol_slots:
                    qualname = by_id.get(self.slots[i].symbol_id)
                    if qualname is not None:
                        wanted[i] = qualname
            if not wanted:
                return
            self.done_modules.add(path)
            try:
                with open(path, "rb") as handle:
                    source = handle.read()
                tree = ast.parse(source, path)
            except (OSError, SyntaxError, ValueError):
                for i in wanted:
                    self.slots[i].reason = "no_source"
                return
            for i, qualname in wanted.items():
                self.slots[i].symbol_id = symbol_id(dist, name, qualname)
                self.slots[i].purl = purl
            self._instrument(module, path, tree, wanted)

    def _instrument(
        self, module: ModuleType, path: str, tree: ast.Module, wanted: dict[int, str]
    ) -> None:
        by_qualname: dict[str, list[int]] = {}
        for i, qualname in wanted.items():
            by_qualname.setdefault(qualname, []).append(i)
        injector = _Injector(by_qualname)
        new_tree = ast.fix_missing_locations(injector.visit(tree))
        for qualname, indices in by_qualname.items():
            if qualname not in injector.found:
                for i in indices:
                    self.slots[i].reason = "not_a_def_in_source"
        filename = module.__file__ or path  # the same co_filename as the original code
        compiled = compile(new_tree, filename, "exec", dont_inherit=True)
        new_codes = _codes_by_name(compiled)
        vars(module)[HIT_NAME] = self.hit
        now = time.time()
        ancestors = {q.rsplit(".", n)[0] for q in injector.found for n in range(q.count(".") + 1)}
        swapped: set[str] = set()
        for obj in gc.get_objects():
            if type(obj) is not FunctionType or obj.__code__.co_filename != module.__file__:
                continue
            code = obj.__code__
            qualname = clean_qualname(getattr(code, "co_qualname", None) or obj.__qualname__)
            if qualname not in ancestors:
                continue
            new = new_codes.get((qualname, code.co_firstlineno))
            if new is None or new.co_freevars != code.co_freevars or new.co_name != code.co_name:
                continue
            obj.__code__ = new
            swapped.add(qualname)
            for i in by_qualname.get(qualname, ()):
                self.slots[i].units.append((obj, code, new))
                self.slots[i].armed_units += 1
        for qualname in injector.found:
            covered = any(qualname == s or qualname.startswith(s + ".") for s in swapped)
            for i in by_qualname[qualname]:
                if covered:
                    self.slots[i].instrumented_at = now
                    self.slots[i].reason = ""
                else:
                    self.slots[i].reason = "no_live_function"

    # -- run time ------------------------------------------------------------------------------
    def hit(self, index: int) -> None:
        """Called by an instrumented target: the first hit of a window records and disarms."""
        try:
            slot = self.slots[index]
            if slot.hit:
                return
            with self.lock:
                if slot.hit:
                    return
                slot.hit = True
                slot.first = time.time()
                for function, original, _ in slot.units:
                    function.__code__ = original
        except Exception as exc:
            self.on_error(exc)

    def rotate(self, window_start: float) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """This window's records and manifest fields; re-arms the targets hit in it."""
        with self.lock:
            records: list[dict[str, Any]] = []
            for slot in self.slots:
                if slot.hit:
                    records.append({"symbol_id": slot.symbol_id, "purl": slot.purl,
                                    "timestamp": slot.first, "count": 1})  # fmt: skip
                    slot.hit = False
                    for function, _, armed in slot.units:
                        function.__code__ = armed
            watched = [
                s.target.text
                for s in self.slots
                if s.instrumented_at is not None and s.instrumented_at <= window_start
            ]
            instrumented = sum(1 for s in self.slots if s.instrumented_at is not None)
            fields = {
                "counts": "lower_bound",
                "targets_total": len(self.slots),
                "targets_instrumented": instrumented,
                "targets_pending": len(self.slots) - instrumented,
                "targets_watched_whole_window": watched,
                "targets_not_instrumented": [{"target": s.target.text, "reason": s.reason}
                                             for s in self.slots if s.instrumented_at is None],
            }  # fmt: skip
        return records, fields


class _Injector(ast.NodeTransformer):
    """Puts ``__stella_probe_hit__(k)`` first in the body of each wanted def."""

    def __init__(self, wanted: dict[str, list[int]]) -> None:
        self.wanted = wanted
        self.stack: list[str] = []
        self.found: set[str] = set()

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        self.stack.append(node.name)
        self.generic_visit(node)
        self.stack.pop()
        return node

    def _def(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.AST:
        self.stack.append(node.name)
        qualname = ".".join(self.stack)
        self.generic_visit(node)
        self.stack.pop()
        for index in self.wanted.get(qualname, ()):
            self.found.add(qualname)
            call = ast.Expr(ast.Call(ast.Name(HIT_NAME, ast.Load()), [ast.Constant(index)], []))
            node.body.insert(0, ast.copy_location(call, node.body[0]))
        return node

    visit_FunctionDef = _def
    visit_AsyncFunctionDef = _def


def _live_qualnames(module: ModuleType, name: str) -> set[str]:
    """Cleaned qualnames of the functions a loaded module defines (its functions, its classes'
    methods, and the code nested in them), found without reading its source."""
    found: set[str] = set()
    codes: list[tuple[CodeType, str]] = []
    seen: set[int] = set()
    stack: list[Any] = list(vars(module).values())
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, (staticmethod, classmethod)):
            stack.append(obj.__func__)
        elif isinstance(obj, property):
            stack.extend(f for f in (obj.fget, obj.fset, obj.fdel) if f is not None)
        elif isinstance(obj, FunctionType) and obj.__module__ == name:
            codes.append((obj.__code__, obj.__qualname__))
        elif isinstance(obj, type) and obj.__module__ == name:
            stack.extend(vars(obj).values())
    while codes:
        code, raw = codes.pop()
        raw = getattr(code, "co_qualname", raw)
        found.add(clean_qualname(raw))
        for const in code.co_consts:
            if isinstance(const, CodeType) and const.co_name not in _COMPREHENSIONS:
                codes.append((const, f"{raw}.<locals>.{const.co_name}"))
    return found


def _codes_by_name(top: CodeType) -> dict[tuple[str, int], CodeType]:
    """(cleaned qualname, first line) → code object, for every def in a compiled module."""
    return {(clean_qualname(raw), code.co_firstlineno): code
            for code, raw in nested_codes(top) if code.co_name not in _COMPREHENSIONS}  # fmt: skip


class _Finder:
    """First on ``sys.meta_path``: for a module holding targets, lets the real finders find it
    and wraps that module's loader's ``exec_module`` (on the loader instance only) so the
    targets are instrumented as soon as the module has run."""

    def __init__(self, targeted: Targeted) -> None:
        self.targeted = targeted
        self.local = threading.local()

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if getattr(self.local, "busy", False) or not self.targeted.wants(fullname):
            return None
        self.local.busy = True
        try:
            for finder in list(sys.meta_path):
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    break
            else:
                return None
            loader = spec.loader
            exec_module = getattr(loader, "exec_module", None)
            if exec_module is not None and getattr(spec, "has_location", False):
                targeted = self.targeted

                def wrapped(module: ModuleType) -> None:
                    exec_module(module)
                    targeted.module_loaded(module)

                try:
                    setattr(loader, "exec_module", wrapped)  # noqa: B010 - this instance only
                except (AttributeError, TypeError):
                    pass
            return spec
        except Exception:
            return None
        finally:
            self.local.busy = False
