"""Second pass: symbolic values → scanned definitions, call sites → edges.

Values (what an expression may evaluate to), as tuples:
``("mod", name)``, ``("ext", dotted)`` (code not scanned), ``("builtin", name)``,
``("fn", module, qualname, bound)`` (``bound`` 1 when the first parameter is already bound),
``("cls", module, qualname)``, ``("inst", module, qualname, cha)`` (``cha``: the instance may
be of a scanned subclass, as ``self`` is), ``("super", module, class qualname)`` (with
``module, class qualname`` of the method's own class appended for ``super(B, self)``),
``("param", module, function qualname, name)``, ``("container", frozenset((key, value)))``,
``("cmethod", container, name)``.

Only what the code proves becomes an edge; everything else is counted as unresolved.
"""

from __future__ import annotations

import builtins
import functools
from collections import Counter
from collections.abc import Collection, Iterable
from typing import Any

from stella_signals.pyscan._summary import DefInfo, ModuleSummary, SExpr

__all__ = ["Resolver"]

Value = tuple[Any, ...]
_EMPTY: frozenset[Value] = frozenset()
_BUILTINS = frozenset(dir(builtins))
#: builtins that call a function they are handed: positions and keywords of the callable
_CALLBACK_BUILTINS: dict[str, tuple[int | str, ...]] = {
    "map": (0,),
    "filter": (0,),
    "sorted": ("key",),
    "min": ("key",),
    "max": ("key",),
}
_CALLBACK_EXT: dict[str, tuple[int | str, ...]] = {
    "functools.reduce": (0,),
    "itertools.starmap": (0,),
    "itertools.filterfalse": (0,),
    "itertools.takewhile": (0,),
    "itertools.dropwhile": (0,),
    "itertools.groupby": (1, "key"),
    "itertools.accumulate": (1, "func"),
    "heapq.nsmallest": ("key",),
    "heapq.nlargest": ("key",),
}
_DUNDER_BUILTINS = {
    "len": "__len__",
    "iter": "__iter__",
    "next": "__next__",
    "repr": "__repr__",
    "hash": "__hash__",
}
#: Decorators (or decorator factories) that hand the function back, or a wrapper that only
#: calls it, and keep it nowhere else: a function under these alone is reached by the edges
#: the scanner draws. Any other decorator may register it where no edge leads (a web
#: framework's URL map, a CLI group, a task queue): see `Resolver.registering_decorator`.
_TRANSPARENT_DECORATORS = frozenset(
    {
        "builtins.staticmethod",
        "builtins.classmethod",
        "builtins.property",
        "functools.wraps",
        "functools.cache",
        "functools.lru_cache",
        "functools.cached_property",
        "functools.total_ordering",
        "functools.singledispatch",
        "functools.singledispatchmethod",
        "abc.abstractmethod",
        "abc.abstractproperty",
        "abc.abstractclassmethod",
        "abc.abstractstaticmethod",
        "contextlib.contextmanager",
        "contextlib.asynccontextmanager",
        "dataclasses.dataclass",
        "enum.unique",
        "warnings.deprecated",
        *(
            f"{module}.{name}"
            for module in ("typing", "typing_extensions")
            for name in ("overload", "final", "override", "no_type_check", "runtime_checkable")
        ),
        "typing_extensions.deprecated",
    }
)
#: ``@x.setter`` and the like on a property ``x``.
_PROPERTY_PARTS = frozenset({"setter", "getter", "deleter"})
_CONTAINER_METHODS = frozenset({"values", "items", "get", "pop", "copy", "setdefault"})
_MAX_DEPTH = 24
_FLOW_ROUNDS = 4


class Resolver:
    """Evaluates `SExpr`s against every module's summary; collects edges and counts."""

    def __init__(self, modules: dict[str, ModuleSummary]) -> None:
        self.modules = modules
        self.edges: set[tuple[tuple[str, str], tuple[str, str]]] = set()
        #: a call of a parameter: (caller, parameter, arguments, module of the arguments)
        self.param_calls: set[
            tuple[tuple[str, str], tuple[str, str, str], tuple[tuple[Any, SExpr], ...], str]
        ] = set()
        #: ``p.name(...)`` on a parameter p: (caller, parameter, name, resolved otherwise)
        self.param_attr_calls: set[tuple[tuple[str, str], tuple[str, str, str], str, bool]] = set()
        self.flows: dict[tuple[str, str, str], set[Value]] = {}
        self.unresolved: Counter[str] = Counter()
        #: call sites seen (the denominator of ``unresolved``)
        self.call_sites = 0
        self._global_memo: dict[tuple[str, str], frozenset[Value]] = {}
        self._return_memo: dict[tuple[str, str], frozenset[Value]] = {}
        self._attr_memo: dict[tuple[Any, ...], frozenset[Value]] = {}
        self._mro_memo: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {}
        self._active: set[Any] = set()
        self._depth = 0
        self._subclasses: dict[tuple[str, str], list[tuple[str, str]]] | None = None
        self._packages = {name.rsplit(".", 1)[0] for name in modules if "." in name}
        self.defined = frozenset(
            q.rsplit(".", 1)[-1] for summary in modules.values() for q in summary.defs
        )
        self.property_names = {
            q.rsplit(".", 1)[-1]
            for summary in modules.values()
            for q, info in summary.defs.items()
            if info.is_property
        }

    # -- symbolic values -----------------------------------------------------------------
    def resolve(self, sx: SExpr | None, m: str) -> frozenset[Value]:
        if sx is None or self._depth > _MAX_DEPTH:
            return _EMPTY
        self._depth += 1
        try:
            tag = sx[0]
            if tag == "global":
                return self.global_name(m, sx[1], builtin=True)
            if tag == "def":
                info = self.modules[m].defs.get(sx[1]) if m in self.modules else None
                if info is None:
                    return _EMPTY
                return frozenset({_def_value(m, sx[1], info)})
            if tag == "mod":
                return frozenset({self.module_value(sx[1])})
            if tag == "from":
                return self.import_from(sx[1], sx[2])
            if tag == "attr":
                if sx[2] == "__class__":
                    of_self = sx[1][0] == "self"
                    return _union(
                        self.class_of(v, of_self) for v in _ordered(self.resolve(sx[1], m))
                    )
                values = _union(self.attribute(v, sx[2]) for v in _ordered(self.resolve(sx[1], m)))
                if sx[1][0] != "self":
                    return values
                # self.x in a method: also what scanned subclasses assign to x (self may be
                # one of them); only for self, never for an instance that flows in, where
                # it would multiply every imprecision of the flow
                subs = self.subclasses().get((m, sx[1][1]), ())
                return values | _union(
                    self.instance_attr(("inst", *sub, False), sx[2]) for sub in subs
                )
            if tag == "call":
                return _union(self.call_result(v) for v in _ordered(self.resolve(sx[1], m)))
            if tag == "param":
                return frozenset({("param", m, sx[1], sx[2])})
            if tag == "self":
                return frozenset({("inst", m, sx[1], True)})
            if tag == "clsparam":  # cls in a class method: the class or a scanned subclass
                subs = self.subclasses().get((m, sx[1]), ())
                return frozenset({("cls", m, sx[1]), *(("cls", *sub) for sub in subs)})
            if tag == "typeof":  # type(x): the class of an instance
                if self.resolve(sx[2], m) != {("builtin", "type")}:
                    return _EMPTY
                of_self = sx[1][0] == "self"
                return _union(self.class_of(v, of_self) for v in _ordered(self.resolve(sx[1], m)))
            if tag == "ann":
                return frozenset(  # a declared type: any scanned subclass too
                    ("inst", v[1], v[2], True) for v in self.resolve(sx[1], m) if v[0] == "cls"
                )
            if tag == "super":
                return frozenset({("super", m, sx[1])})
            if tag == "superof":  # super(B, self) in class C: after B in the MROs from C
                return frozenset(
                    ("super", v[1], v[2], m, sx[2]) for v in self.resolve(sx[1], m) if v[0] == "cls"
                )
            if tag == "extras":  # entries added to a module-level container from anywhere
                extras = self.modules[m].container_extras.get(sx[1])
                return frozenset({("container", self.items(extras, m))}) if extras else _EMPTY
            if tag == "slice":  # x[a:b]; an instance's __getitem__ is given a slice
                base = self.resolve(sx[1], m)
                containers = frozenset(v for v in base if v[0] == "container")
                return self.item(base - containers, None) | {_slice(v, sx[2]) for v in containers}
            if tag == "getkey":
                return self.get_key(self.resolve(sx[1], m), sx[2], sx[3], m)
            if tag == "union":
                return _union(self.resolve(part, m) for part in sx[1])
            if tag == "dict":
                return frozenset({("container", self.items(sx[1], m))})
            if tag == "item":
                return self.item(self.resolve(sx[1], m), sx[2])
            if tag in ("elem", "elemvalues"):
                return self.elements(self.resolve(sx[1], m))
            if tag == "enter":
                return _union(
                    self.returns_of(fn)
                    for v in _ordered(self.resolve(sx[1], m))
                    if v[0] == "inst"
                    for fn in _ordered(self.class_attr(v, sx[2]))
                    if fn[0] == "fn"
                )
            if tag == "decorated":
                return self.decorated(sx[1], sx[2], m)
            return _EMPTY
        finally:
            self._depth -= 1

    def items(self, pairs: Iterable[tuple[Any, SExpr | None]], m: str) -> frozenset[Value]:
        out: set[Value] = set()
        for key, value in pairs:
            if value is None:
                continue
            if value[0] == "elemvalues":
                out.update((None, v) for v in self.elements(self.resolve(value[1], m)))
            else:
                out.update((key, v) for v in self.resolve(value, m))
        return frozenset(out)

    def item(self, values: frozenset[Value], key: Any) -> frozenset[Value]:
        out: set[Value] = set()
        for v in _ordered(values):
            if v[0] == "container":
                pairs = v[1]
                if key is not None and any(k == key for k, _ in pairs):
                    out.update(x for k, x in pairs if k == key or k is None)
                elif key is not None and all(k is not None for k, _ in pairs):
                    continue  # a constant key the literal does not have
                else:
                    out.update(x for _, x in pairs)
            elif v[0] == "inst":
                for fn in _ordered(self.class_attr(v, "__getitem__")):
                    if fn[0] == "fn":
                        out.update(self.returns_of(fn))
        return frozenset(out)

    def get_key(
        self, values: frozenset[Value], key: Any, default: SExpr | None, m: str
    ) -> frozenset[Value]:
        """``x.get(key, default)``: a dict's entry for the constant key, or the default."""
        containers = frozenset(v for v in values if v[0] == "container")
        out = set(self.item(containers, key))
        out.update(
            r
            for v in _ordered(values - containers)
            for fn in _ordered(self.attribute(v, "get"))
            for r in self.call_result(fn)
        )
        has_key = all(any(k == key for k, _ in v[1]) for v in containers)
        if default is not None and (values != containers or not has_key):
            out.update(self.resolve(default, m))
        return frozenset(out)

    def elements(self, values: frozenset[Value]) -> frozenset[Value]:
        out: set[Value] = set()
        for v in _ordered(values):
            if v[0] == "container":
                out.update(x for _, x in v[1])
            elif v[0] == "inst":  # iterating an instance: what its iterator's __next__ returns
                for it in _ordered(self.class_attr(v, "__iter__")):
                    if it[0] != "fn":
                        continue
                    for iterator in _ordered(self.returns_of(it)):
                        if iterator[0] != "inst":
                            continue
                        for nxt in _ordered(self.class_attr(iterator, "__next__")):
                            if nxt[0] == "fn":
                                out.update(self.returns_of(nxt))
        return frozenset(out)

    def module_value(self, name: str) -> Value:
        if name in self.modules or name in self._packages:
            return ("mod", name)
        return ("ext", name)

    def global_name(self, m: str, name: str, *, builtin: bool) -> frozenset[Value]:
        summary = self.modules.get(m)
        if summary is None:
            return frozenset({("ext", f"{m}.{name}")})
        key = (m, name)
        values = self._global_memo.get(key)
        if values is None:
            if key in self._active:
                return _EMPTY
            self._active.add(key)
            try:
                values = self._compute_global(summary, name)
            finally:
                self._active.discard(key)
            self._global_memo[key] = values
        if builtin:
            return values
        return frozenset(v for v in values if v[0] != "builtin")

    def _compute_global(self, summary: ModuleSummary, name: str) -> frozenset[Value]:
        m = summary.name
        values: frozenset[Value] = _EMPTY
        if name in summary.globals:
            values = _union(self.resolve(sx, m) for sx in summary.globals[name])
        else:
            for star in reversed(summary.star_imports):
                values = self.exported(star, name)
                if values:
                    break
            if not values and name in _BUILTINS:
                values = frozenset({("builtin", name)})
        extras = summary.container_extras.get(name)
        if extras:
            added = self.items(extras, m)
            values = frozenset(
                ("container", v[1] | added) if v[0] == "container" else v for v in values
            )
        return values

    def exported(self, module: str, name: str) -> frozenset[Value]:
        """``name`` as ``from module import *`` binds it."""
        summary = self.modules.get(module)
        if summary is None:
            return _EMPTY
        if summary.explicit_all is not None:
            if name not in summary.explicit_all:
                return _EMPTY
        elif name.startswith("_"):
            return _EMPTY
        values = self.global_name(module, name, builtin=False)
        if not values and f"{module}.{name}" in self.modules:
            return frozenset({("mod", f"{module}.{name}")})
        return values

    def import_from(self, module: str, name: str) -> frozenset[Value]:
        full = f"{module}.{name}"
        if module in self.modules:
            values = self.global_name(module, name, builtin=False)
            if values:
                return values
        if full in self.modules or full in self._packages:
            return frozenset({("mod", full)})
        if module in self.modules:
            return _EMPTY
        return frozenset({("ext", full)})

    # -- attributes ----------------------------------------------------------------------
    def attribute(self, v: Value, name: str) -> frozenset[Value]:
        kind = v[0]
        if kind == "mod":
            full = f"{v[1]}.{name}"
            if full in self.modules or full in self._packages:
                return frozenset({("mod", full)})
            if v[1] in self.modules:
                return self.global_name(v[1], name, builtin=False)
            return _EMPTY
        if kind == "ext":
            return frozenset({("ext", f"{v[1]}.{name}")})
        if kind == "builtin":
            return frozenset({("ext", f"builtins.{v[1]}.{name}")})
        if kind in ("cls", "inst", "super"):
            values = self.class_attr(v, name)
            if kind == "inst":
                values |= self.instance_attr(v, name)
                if v[3]:
                    values |= self.overrides(v, name)
            return values
        if kind == "container" and name in _CONTAINER_METHODS:
            return frozenset({("cmethod", v, name)})
        return _EMPTY

    def class_of(self, v: Value, of_self: bool) -> frozenset[Value]:
        """The class of an instance value; for ``self``, that of any scanned subclass too.
        An instance that flows in (or is declared) gives its own class only: its
        subclasses' constructors would multiply every imprecision of the flow."""
        if v[0] != "inst":
            return _EMPTY
        subs = self.subclasses().get((v[1], v[2]), ()) if v[3] and of_self else ()
        return frozenset({("cls", v[1], v[2]), *(("cls", *sub) for sub in subs)})

    def class_attr(self, v: Value, name: str) -> frozenset[Value]:
        """``name`` looked up along the MRO of the class of ``v`` (cls, inst or super)."""
        return self._memo(("class_attr", v[0] != "cls", v[0] == "super",
                           *(v[1:] if v[0] == "super" else v[1:3]), name),
                          lambda: self._class_attr(v, name))  # fmt: skip

    def _memo(self, key: tuple[Any, ...], compute: Any) -> frozenset[Value]:
        memo = self._attr_memo.get(key)
        if memo is not None:
            return memo
        if key in self._active:
            return _EMPTY
        self._active.add(key)
        try:
            values: frozenset[Value] = compute()
        finally:
            self._active.discard(key)
        self._attr_memo[key] = values
        return values

    def _class_attr(self, v: Value, name: str) -> frozenset[Value]:
        if v[0] == "super":
            return self.super_attr(v, name)
        mro = self.mro((v[1], v[2]))
        via_instance = v[0] in ("inst", "super")
        for m, q in mro:
            namespace = self.modules[m].classes[q].namespace
            if name in namespace:
                return frozenset(
                    self.bind(x, via_instance) for x in self.resolve(namespace[name], m)
                )
        return _EMPTY

    def super_attr(self, v: Value, name: str) -> frozenset[Value]:
        """``super().name`` in class C: the next definition after C along the MRO of C and
        of every scanned subclass of C (``self`` may be any of them)."""
        cls = (v[1], v[2])
        own = (v[3], v[4]) if len(v) > 3 else cls  # super(cls, self) in class `own`
        out: set[Value] = set()
        for start in (own, *self.subclasses().get(own, ())):
            mro = self.mro(start)
            after = mro[mro.index(cls) + 1 :] if cls in mro else ()
            for m, q in after:
                namespace = self.modules[m].classes[q].namespace
                if name in namespace:
                    out.update(self.bind(x, True) for x in self.resolve(namespace[name], m))
                    break
        return frozenset(out)

    def bind(self, x: Value, via_instance: bool) -> Value:
        if x[0] != "fn":
            return x
        info = self.modules[x[1]].defs[x[2]]
        # any function found on a class is bound when read through an instance (a decorated
        # method's wrapper, a function assigned in the class body), except a staticmethod
        plain = info.kind in ("function", "lambda") and not info.binding
        bound = info.binding == "class" or ((info.binding == "instance" or plain) and via_instance)
        return ("fn", x[1], x[2], 1 if bound else 0)

    def instance_attr(self, v: Value, name: str) -> frozenset[Value]:
        return self._memo(("instance_attr", v[1], v[2], name),
                          lambda: self._instance_attr(v, name))  # fmt: skip

    def _instance_attr(self, v: Value, name: str) -> frozenset[Value]:
        out: set[Value] = set()
        for m, q in self.mro((v[1], v[2])):
            for sx in self.modules[m].classes[q].instance_attrs.get(name, ()):
                out.update(self.resolve(sx, m))
        return frozenset(out)

    def overrides(self, v: Value, name: str) -> frozenset[Value]:
        """Methods of scanned subclasses that override ``name`` (``self`` may be one)."""
        return self._memo(("overrides", v[1], v[2], name), lambda: self._overrides(v, name))

    def _overrides(self, v: Value, name: str) -> frozenset[Value]:
        out: set[Value] = set()
        for m, q in self.subclasses().get((v[1], v[2]), ()):
            namespace = self.modules[m].classes[q].namespace
            if name in namespace:
                out.update(
                    self.bind(x, True) for x in self.resolve(namespace[name], m) if x[0] == "fn"
                )
        return frozenset(out)

    def subclasses(self) -> dict[tuple[str, str], list[tuple[str, str]]]:
        if self._subclasses is None:
            found: dict[tuple[str, str], list[tuple[str, str]]] = {}
            for m in sorted(self.modules):
                for q in self.modules[m].classes:
                    for ancestor in self.mro((m, q))[1:]:
                        found.setdefault(ancestor, []).append((m, q))
            self._subclasses = found
        return self._subclasses

    def mro(self, cls: tuple[str, str]) -> tuple[tuple[str, str], ...]:
        memo = self._mro_memo.get(cls)
        if memo is not None:
            return memo
        if ("mro", cls) in self._active:  # tagged: a global (module, name) is a pair too
            return (cls,)
        self._active.add(("mro", cls))
        try:
            m, q = cls
            bases: list[tuple[tuple[str, str], ...]] = []
            for sx in self.modules[m].classes[q].bases:
                found = sorted((v[1], v[2]) for v in self.resolve(sx, m) if v[0] == "cls")
                if len(found) == 1:
                    bases.append(self.mro(found[0]))
            result = (cls, *_c3(bases))
        finally:
            self._active.discard(("mro", cls))
        self._mro_memo[cls] = result
        return result

    # -- calls ---------------------------------------------------------------------------
    def call_result(self, v: Value) -> frozenset[Value]:
        kind = v[0]
        if kind == "cls":
            return frozenset({("inst", v[1], v[2], False)})
        if kind == "fn":
            return self.returns_of(v)
        if kind == "inst":
            return _union(
                self.returns_of(fn)
                for fn in _ordered(self.class_attr(v, "__call__"))
                if fn[0] == "fn"
            )
        if kind == "cmethod":
            container, name = v[1], v[2]
            pairs = container[1]
            if name == "copy":
                return frozenset({container})
            if name == "values":
                return frozenset({("container", frozenset((None, x) for _, x in pairs))})
            if name == "items":
                return frozenset(
                    {("container", frozenset((None, ("container", frozenset({(1, x)})))
                                             for _, x in pairs))}
                )  # fmt: skip
            return frozenset(x for _, x in pairs)
        return _EMPTY

    def returns_of(self, fn: Value) -> frozenset[Value]:
        key = (fn[1], fn[2])
        memo = self._return_memo.get(key)
        if memo is not None:
            return memo
        if ("ret", key) in self._active:
            return _EMPTY
        self._active.add(("ret", key))
        try:
            info = self.modules[fn[1]].defs[fn[2]]
            values = _union(self.resolve(sx, fn[1]) for sx in info.returns)
        finally:
            self._active.discard(("ret", key))
        self._return_memo[key] = values
        return values

    def decorated(self, decorators: tuple[SExpr, ...], inner: SExpr, m: str) -> frozenset[Value]:
        current = self.resolve(inner, m)
        for deco in reversed(decorators):
            applied: set[Value] = set()
            scanned = [d for d in _ordered(self.resolve(deco, m)) if d[0] == "fn"]
            for d in scanned:
                info = self.modules[d[1]].defs[d[2]]
                first = info.params[0] if info.params else None
                for x in self.returns_of(d):
                    if x[0] == "param" and x[1:] == (d[1], d[2], first):
                        applied.update(current)
                    else:
                        applied.add(x)
            if applied:
                current = frozenset(applied)
        return current

    def registering_decorator(
        self, m: str, decorators: list[tuple[SExpr, SExpr | None, str]]
    ) -> str:
        """The first of a definition's decorators (as written) that may keep the function
        where no edge leads; "" when every one is transparent: known to be (`functools.
        wraps`, `property`...), or proved so (a scanned function that only calls, returns
        or wraps the function it is given, see `_walker._kept_params`)."""
        for decorator, registrar, written in decorators:
            if self.property_part(registrar, m):
                continue
            values = self.resolve(registrar, m)
            if values and all(_transparent(v) for v in values):
                continue
            values = self.resolve(decorator, m)
            if values and all(self._keeps_nothing(v) for v in _ordered(values)):
                continue
            return written
        return ""

    def _keeps_nothing(self, v: Value) -> bool:
        """A scanned decorator that provably keeps nothing of the function it is given."""
        if v[0] != "fn":
            return False
        info = self.modules[v[1]].defs[v[2]]
        index = v[3]  # a bound method's first parameter is its instance
        if info.kept is None or index >= info.positional:
            return False
        callees = info.kept.get(info.params[index])
        return callees is not None and all(
            (found := self.resolve(callee, v[1])) and all(_harmless(c) for c in found)
            for callee in callees
        )

    def property_part(self, registrar: SExpr | None, m: str) -> bool:
        """``@x.setter`` (``getter``, ``deleter``) where ``x`` is a scanned property."""
        if registrar is None or registrar[0] != "attr" or registrar[2] not in _PROPERTY_PARTS:
            return False
        values = self.resolve(registrar[1], m)
        return bool(values) and all(
            v[0] == "fn" and self.modules[v[1]].defs[v[2]].is_property for v in values
        )

    # -- edges ---------------------------------------------------------------------------
    def edge(self, caller: tuple[str, str], target: Value) -> None:
        m, q = target[1], target[2]
        if self.modules[m].defs[q].is_stub and "." in q:
            owner = self.modules[m].classes.get(q.rsplit(".", 1)[0])
            if owner is not None and owner.is_protocol:
                self.unresolved["calls_to_protocols"] += 1
                return  # the implementation is whatever matches it structurally
        self.edges.add((caller, (m, q)))

    def call_value(self, caller: tuple[str, str], target: Value, args: list[Any], m: str) -> None:
        """``caller`` calls ``target`` with ``args`` [(position or keyword, sexpr)]."""
        kind = target[0]
        if kind == "fn":
            self.edge(caller, target)
            self.flow_args(target, args, m)
        elif kind == "cls":
            inst = ("inst", target[1], target[2], False)
            for name in ("__new__", "__init__"):
                for fn in _ordered(self.class_attr(inst, name)):
                    if fn[0] == "fn":
                        self.edge(caller, fn)
                        self.flow_args(("fn", fn[1], fn[2], 1), args, m)
        elif kind == "inst":
            for fn in _ordered(self.class_attr(target, "__call__")):
                if fn[0] == "fn":
                    self.edge(caller, fn)
                    self.flow_args(fn, args, m)
        elif kind == "param":
            self.param_calls.add((caller, (target[1], target[2], target[3]), tuple(args), m))

    def flow_args(self, fn: Value, args: list[Any], m: str) -> None:
        info = self.modules[fn[1]].defs[fn[2]]
        params = info.params
        offset = fn[3]
        for position, sx in args:
            if isinstance(position, int):
                index = position + offset
                if index >= info.positional:
                    continue
                name = params[index]
            elif position in params:
                name = position
            else:
                continue
            values = {v for v in self.resolve(sx, m) if v[0] in ("fn", "cls", "inst", "param")}
            if values:
                self.flows.setdefault((fn[1], fn[2], name), set()).update(values)

    def callbacks(
        self, caller: tuple[str, str], spec: tuple[int | str, ...], args: list[Any], m: str
    ) -> None:
        for position, sx in args:
            if position in spec:
                for v in _ordered(self.resolve(sx, m)):
                    self.call_value(caller, v, [], m)

    def replay(self, summary: ModuleSummary) -> None:
        """Resolve one module's recorded events into edges, then forget them."""
        _Replay(self, summary.name).run(summary.events)
        summary.events = []

    def finish(self) -> None:
        """Join calls through parameters with what flows into them (transitively)."""
        resolved: dict[tuple[str, str, str], set[Value]] = {}

        def values_of(param: tuple[str, str, str], seen: set[tuple[str, str, str]]) -> set[Value]:
            if param in resolved:
                return resolved[param]
            seen.add(param)
            out: set[Value] = set()
            for v in self.flows.get(param, ()):
                if v[0] == "param":
                    key = (v[1], v[2], v[3])
                    if key not in seen:
                        out.update(values_of(key, seen))
                else:
                    out.add(v)
            return out

        def known(param: tuple[str, str, str]) -> set[Value]:
            if param not in resolved:
                resolved[param] = values_of(param, set())
            return resolved[param]

        def flowing() -> int:
            return sum(len(values) for values in self.flows.values())

        # what a parameter call passes on flows further (a wrapper calling the function it
        # was given with its own arguments): repeat while that adds flows, a few rounds at most
        for _ in range(_FLOW_ROUNDS):
            before = flowing()
            for caller, param, args, m in sorted(self.param_calls, key=_canon):
                for v in _ordered(known(param)):
                    self.call_value(caller, v, list(args), m)
            if flowing() == before:
                break
            resolved.clear()
        for caller, param, args, m in sorted(self.param_calls, key=_canon):
            values = known(param)
            if not values:
                self.unresolved["calls_through_parameters"] += 1
            for v in _ordered(values):
                self.call_value(caller, v, list(args), m)
        for caller, param, name, elsewhere in sorted(self.param_attr_calls):
            targets = {
                t
                for v in _ordered(known(param))
                if v[0] in ("inst", "cls")
                for t in _ordered(self.attribute(v, name))
                if t[0] in ("fn", "cls", "inst")
            }
            if not targets and not elsewhere:
                self.unresolved["calls_through_parameters"] += 1
            for t in _ordered(targets):
                self.call_value(caller, t, [], caller[0])


class _Replay:
    """The second pass over one module: its recorded events become edges."""

    def __init__(self, resolver: Resolver, m: str) -> None:
        self.r = resolver
        self.m = m

    def run(self, events: list[tuple[Any, ...]]) -> None:
        for event in events:
            tag = event[0]
            if tag == "call":
                self.call(*event[1:])
            elif tag == "decorate":
                self.decorate(event[1], event[2], event[3])
            elif tag == "dunder":
                self.dunder(event[1], event[2], event[3])
            elif tag == "load":
                self.load(event[1], event[2])

    def call(
        self,
        caller: str,
        func: SExpr | None,
        args: tuple[Any, ...],
        nargs: int,
        literal0: bool,
        literal1: bool,
        attr: str,
    ) -> None:
        r = self.r
        r.call_sites += 1
        here = (self.m, caller)
        targets = r.resolve(func, self.m)
        if func is not None and func[0] == "attr":
            params = [v for v in r.resolve(func[1], self.m) if v[0] == "param"]
            for p in params:  # joined with what flows into p once every module is seen
                r.param_attr_calls.add((here, (p[1], p[2], p[3]), func[2], bool(targets)))
            if params and not targets:
                return
        if not targets:
            if attr == "sort":
                r.callbacks(here, ("key",), list(args), self.m)
            r.unresolved["calls"] += 1
            return
        for target in _ordered(targets):
            kind = target[0]
            if kind == "builtin":
                self.builtin_call(here, target[1], list(args), nargs, literal0, literal1)
            elif kind == "ext":
                spec = _CALLBACK_EXT.get(target[1])
                if spec is not None:
                    r.callbacks(here, spec, list(args), self.m)
                elif target[1] == "importlib.import_module" and not literal0:
                    r.unresolved["dynamic_import"] += 1
                else:
                    r.unresolved["calls_into_unscanned_code"] += 1
            elif kind in ("fn", "cls", "inst", "param"):
                r.call_value(here, target, list(args), self.m)
                if kind == "fn" and target[3] and func is not None and func[0] == "attr":
                    info = r.modules[target[1]].defs[target[2]]
                    if info.kind != "method" and not info.binding:  # obj.f(): obj is f's first
                        r.flow_args(("fn", *target[1:3], 0), [(0, func[1])], self.m)

    def builtin_call(
        self,
        here: tuple[str, str],
        name: str,
        args: list[Any],
        nargs: int,
        literal0: bool,
        literal1: bool,
    ) -> None:
        r = self.r
        if name in ("eval", "exec", "compile"):
            r.unresolved["eval_exec"] += 1
        elif name in ("getattr", "setattr", "delattr", "hasattr") and not literal1:
            r.unresolved["dynamic_getattr"] += 1
        elif name == "__import__" and not literal0:
            r.unresolved["dynamic_import"] += 1
        elif name in _CALLBACK_BUILTINS:
            r.callbacks(here, _CALLBACK_BUILTINS[name], args, self.m)
        elif name == "iter" and nargs == 2:
            r.callbacks(here, (0,), args, self.m)
        elif name in _DUNDER_BUILTINS:
            for position, sx in args:
                if position == 0:
                    self.dunder(here[1], sx, (_DUNDER_BUILTINS[name],))

    def decorate(self, caller: str, decorator: SExpr, target: SExpr) -> None:
        r = self.r
        here = (self.m, caller)
        for deco in _ordered(r.resolve(decorator, self.m)):
            if deco[0] in ("fn", "cls", "inst", "param"):
                r.call_value(here, deco, [(0, target)], self.m)

    def dunder(self, caller: str, obj: SExpr, methods: tuple[str, ...]) -> None:
        r = self.r
        if methods == ("<set>",):
            self.load(caller, obj)
            return
        if not any(name in r.defined for name in methods):
            return
        for v in _ordered(r.resolve(obj, self.m)):
            if v[0] != "inst":
                continue
            for name in methods:
                for fn in _ordered(r.class_attr(v, name)):
                    if fn[0] != "fn":
                        continue
                    r.edge((self.m, caller), fn)
                    if name == "__iter__":
                        for it in _ordered(r.returns_of(fn)):
                            if it[0] == "inst":
                                for nxt in _ordered(r.class_attr(it, "__next__")):
                                    if nxt[0] == "fn":
                                        r.edge((self.m, caller), nxt)

    def load(self, caller: str, attr: SExpr) -> None:
        r = self.r
        if attr[0] != "attr" or attr[2] not in r.property_names:
            return
        for v in _ordered(r.resolve(attr[1], self.m)):
            if v[0] not in ("inst", "super"):
                continue
            for fn in _ordered(r.class_attr(v, attr[2])):
                if fn[0] == "fn" and r.modules[fn[1]].defs[fn[2]].is_property:
                    r.edge((self.m, caller), fn)


#: Callees a decorator may hand the function to without it being kept anywhere.
_HARMLESS_CALLEES = frozenset(
    {
        "functools.wraps",
        "functools.update_wrapper",
        "inspect.iscoroutinefunction",
        "inspect.isgeneratorfunction",
        "inspect.signature",
        "asyncio.iscoroutinefunction",
        "builtins.callable",
        "builtins.isinstance",
    }
)


def _harmless(v: Value) -> bool:
    if v[0] == "builtin":
        return f"builtins.{v[1]}" in _HARMLESS_CALLEES
    return v[0] == "ext" and v[1] in _HARMLESS_CALLEES


def _transparent(v: Value) -> bool:
    if v[0] == "builtin":
        return f"builtins.{v[1]}" in _TRANSPARENT_DECORATORS
    return v[0] == "ext" and v[1] in _TRANSPARENT_DECORATORS


def _def_value(m: str, q: str, info: DefInfo) -> Value:
    return ("cls", m, q) if info.kind == "class" else ("fn", m, q, 0)


@functools.lru_cache(maxsize=1 << 16)
def _canon(x: Any) -> str:
    """A text of a value (or symbolic expression) that is the same in every interpreter: a
    frozenset's members sorted, where ``repr`` would list them in hash order, which varies
    with ``PYTHONHASHSEED`` for strings."""
    if isinstance(x, frozenset):
        return "{" + ",".join(sorted(_canon(y) for y in x)) + "}"
    if isinstance(x, tuple):
        return "(" + ",".join(_canon(y) for y in x) + ")"
    return repr(x)


def _ordered(values: Collection[Value]) -> list[Value]:
    """``values`` in their canonical order. Resolving one value may memoise answers (and
    cycle cuts) that later ones read, so every walk over a set whose steps resolve anything
    goes in this order, never in the set's own (hash) order."""
    return sorted(values, key=_canon) if len(values) > 1 else list(values)


def _union(parts: Iterable[frozenset[Value]]) -> frozenset[Value]:
    out: set[Value] = set()
    for part in parts:
        out.update(part)
    return frozenset(out)


def _c3(seqs: list[tuple[tuple[str, str], ...]]) -> list[tuple[str, str]]:
    """C3 linearisation of the bases' MROs; depth-first order when it has no solution."""
    pending = [list(s) for s in seqs if s]
    pending.append([s[0] for s in seqs if s])
    result: list[tuple[str, str]] = []
    while True:
        pending = [s for s in pending if s]
        if not pending:
            return result
        for seq in pending:
            head = seq[0]
            if not any(head in s[1:] for s in pending):
                break
        else:
            seen: set[tuple[str, str]] = set(result)
            for mro in seqs:
                for c in mro:
                    if c not in seen:
                        seen.add(c)
                        result.append(c)
            return result
        result.append(head)
        for s in pending:
            if s and s[0] == head:
                del s[0]


def _slice(container: Value, bounds: tuple[int | None, ...] | None) -> Value:
    """A slice of a container: exact for constant bounds over a literal list or tuple (whose
    keys are its positions 0..n-1), otherwise every element at an unknown position."""
    pairs = container[1]
    keys = sorted(k for k, _ in pairs if type(k) is int)
    if bounds is None or len(keys) != len(pairs) or keys != list(range(len(keys))):
        return ("container", frozenset((None, x) for _, x in pairs))
    if bounds[2] == 0:
        return ("container", frozenset())  # a ValueError at run time
    kept = range(len(keys))[slice(*bounds)]
    return (
        "container",
        frozenset((i, x) for i, old in enumerate(kept) for k, x in pairs if k == old),
    )
