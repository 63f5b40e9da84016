"""What the first pass keeps of a module once its syntax tree is dropped.

Expressions are kept as small symbolic tuples (``SExpr``) that the resolver evaluates lazily
against every module's summary:

=====================================  ==============================================
``("global", name)``                   a module-level name of the module being resolved
``("def", qualname)``                  a function, class or lambda defined in that module
``("mod", dotted)``                    a module (``import a.b as x``)
``("from", module, name)``             ``from module import name`` (module absolute)
``("attr", sexpr, name)``              attribute access
``("call", sexpr)``                    the value a call returns
``("param", func qualname, name)``     a parameter of a function of that module
``("self", class qualname)``           the first parameter of a method
``("clsparam", class qualname)``       the first parameter of a class method
``("ann", sexpr)``                     an instance of the annotated class
``("super", class qualname)``          ``super()`` in a method of that class
``("superof", sexpr, class qualname)``  ``super(B, self)`` in a method of that class
``("getkey", sexpr, key, default)``    ``x.get(key, default)`` with a constant key
``("typeof", sexpr, type sexpr)``      ``type(x)`` (when ``type`` is the builtin)
``("extras", name)``                   what code anywhere adds to a module-level container
``("slice", sexpr, bounds or None)``   ``x[a:b:c]`` (bounds: constant ints or None)
``("union", (sexpr, ...))``            one of these
``("dict", ((key or None, sexpr), ...))``  a container literal (list/tuple/set: keys None)
``("item", sexpr, key or None)``       ``x[key]``
``("elem", sexpr)``                    an element when iterating
``("enter", sexpr, method)``          what ``with x as y`` binds (``__enter__``/``__aenter__``)
``("decorated", (deco, ...), sexpr)``  a definition under its decorators (outermost first)
=====================================  ==============================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["ClassInfo", "DefInfo", "ModuleSummary", "SExpr"]

SExpr = tuple[Any, ...]


@dataclass(slots=True)
class DefInfo:
    """A function, method, lambda or class of a module."""

    kind: str  # function | method | lambda | class
    line: int
    params: tuple[str, ...] = ()
    #: instance | class | static for methods, "" otherwise
    binding: str = ""
    is_property: bool = False
    returns: list[SExpr] = field(default_factory=list)
    #: how many of ``params`` can be passed by position (the rest are keyword-only)
    positional: int = 0
    #: the body is only a docstring, ``...``, ``pass`` or ``raise NotImplementedError``
    is_stub: bool = False
    #: the project's own code only: each decorator (outermost first) as (the decorator,
    #: what it calls, as written), ``@app.get("/")`` → (the sexpr of ``app.get("/")``, of
    #: ``app.get``, ``"app.get"``); every definition of the qualname adds its own
    decorators: list[tuple[SExpr, SExpr | None, str]] = field(default_factory=list)
    #: for a function shaped like a decorator (it returns a parameter or defines a function),
    #: its parameters that provably stay inside it (only called, returned, or handed to the
    #: callees listed, which `_resolve` checks), each with those callees; None: not known
    kept: dict[str, tuple[SExpr | None, ...]] | None = None


@dataclass(slots=True)
class ClassInfo:
    bases: tuple[SExpr, ...]
    #: the class body's final bindings (methods, nested classes, class attributes)
    namespace: dict[str, SExpr] = field(default_factory=dict)
    #: ``self.x = ...`` assignments in its methods
    instance_attrs: dict[str, list[SExpr]] = field(default_factory=dict)
    #: lists ``Protocol`` among its bases: its stub methods never run for a structural match
    is_protocol: bool = False


@dataclass(slots=True)
class ModuleSummary:
    name: str
    dist: str
    purl: str
    path: str
    is_package: bool
    defs: dict[str, DefInfo] = field(default_factory=dict)
    classes: dict[str, ClassInfo] = field(default_factory=dict)
    #: every value a module-level name is bound to (flow-insensitive: functions see them all)
    globals: dict[str, list[SExpr]] = field(default_factory=dict)
    #: ``X[k] = v`` / ``X.append(v)`` on a module-level container X, from anywhere
    container_extras: dict[str, list[tuple[Any, SExpr]]] = field(default_factory=dict)
    star_imports: list[str] = field(default_factory=list)
    explicit_all: tuple[str, ...] | None = None
    imports: set[str] = field(default_factory=set)
    #: call sites and implicit calls, symbolic, in source order (see `_walker`)
    events: list[tuple[Any, ...]] = field(default_factory=list)
    has_main_guard: bool = False
    lines: int = 0
