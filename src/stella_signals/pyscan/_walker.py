"""The first pass: one walk over a module's syntax tree, in source order.

It fills the module's `ModuleSummary`: definitions, what names are bound to, what functions
return, and every call site (explicit or implicit: decorators, ``with``, ``for``, operators,
attribute reads) as a symbolic event. Nothing is resolved here; `_resolve` does that once
every module is summarised, and the tree is dropped as soon as the walk ends.
"""

from __future__ import annotations

import ast
import sys
from typing import Any

from stella_signals.pyscan._summary import ClassInfo, DefInfo, ModuleSummary, SExpr

__all__ = ["ModuleWalker", "relative_base"]

#: Comprehensions that have their own code object (and so a qualname segment).
_COMPREHENSIONS: dict[type[ast.expr], str] = {ast.GeneratorExp: "<genexpr>"}
if sys.version_info < (3, 12):  # PEP 709 inlined the others in 3.12
    _COMPREHENSIONS.update(
        {ast.ListComp: "<listcomp>", ast.SetComp: "<setcomp>", ast.DictComp: "<dictcomp>"}
    )

#: Values kept for one name bound on several paths (more are dropped: edges lost, none made up).
_MAX_ALTERNATIVES = 16
_LEAVES = frozenset({ast.Name, ast.Constant})
_PROPERTY_NAMES = frozenset({"property", "cached_property"})
_PROPERTY_PARTS = frozenset({"setter", "getter", "deleter", "cached_property"})
_IMPLICIT_CLASSMETHODS = frozenset({"__init_subclass__", "__class_getitem__", "__new__"})
_BINOPS: dict[type[ast.operator], str] = {
    ast.Add: "__add__",
    ast.Sub: "__sub__",
    ast.Mult: "__mul__",
    ast.MatMult: "__matmul__",
    ast.Div: "__truediv__",
    ast.FloorDiv: "__floordiv__",
    ast.Mod: "__mod__",
    ast.Pow: "__pow__",
    ast.LShift: "__lshift__",
    ast.RShift: "__rshift__",
    ast.BitOr: "__or__",
    ast.BitXor: "__xor__",
    ast.BitAnd: "__and__",
}


def relative_base(module: str, is_package: bool, level: int) -> str | None:
    """The package a relative import of ``level`` dots starts from, or None past the top."""
    parts = module.split(".")
    if not is_package:
        parts = parts[:-1]
    if level > 1:
        if level - 1 > len(parts):
            return None
        parts = parts[: len(parts) - (level - 1)]
    return ".".join(parts) if parts else ""


class _Scope:
    __slots__ = (
        "child_prefix",
        "class_q",
        "func_q",
        "generator",
        "globals_decl",
        "kind",
        "locals",
        "node_q",
        "params",
        "parent",
    )

    def __init__(self, kind: str, node_q: str, child_prefix: str, parent: _Scope | None) -> None:
        self.kind = kind  # module | class | function | comp
        self.node_q = node_q  # qualname of the graph node that runs this scope's code
        self.child_prefix = child_prefix
        self.parent = parent
        self.locals: dict[str, SExpr | None] = {}
        self.params: dict[str, SExpr] = {}
        self.globals_decl: set[str] = set()
        self.class_q = ""  # for a class scope, its qualname
        self.func_q = ""  # for a function scope, its qualname
        self.generator = False


class ModuleWalker:
    """Walk one module's tree into ``summary``."""

    def __init__(self, summary: ModuleSummary) -> None:
        self.summary = summary
        self.scope = _Scope("module", "", "", None)
        self.events = summary.events

    # -- events (resolved by the second pass) ---------------------------------------------
    def on_call(self, caller: str, node: ast.Call, func: SExpr | None, args: list[Any]) -> None:
        """A call site: ``args`` is [(position or keyword, sexpr)]."""
        self.events.append(
            (
                "call",
                caller,
                func,
                tuple(args),
                len(node.args),
                _literal_arg(node, 0),
                _literal_arg(node, 1),
                node.func.attr if isinstance(node.func, ast.Attribute) else "",
            )
        )

    def on_decorate(self, caller: str, decorator: SExpr | None, target: SExpr) -> None:
        """A decorator applied (called) at definition time by ``caller``."""
        if decorator is not None:
            self.events.append(("decorate", caller, decorator, target))

    def on_dunder(self, caller: str, obj: SExpr | None, methods: tuple[str, ...]) -> None:
        """Special methods Python calls implicitly on ``obj`` (with, for, operators)."""
        if obj is not None:
            self.events.append(("dunder", caller, obj, methods))

    def on_load(self, caller: str, attr: SExpr) -> None:
        """An attribute read that is not called (properties run code)."""
        self.events.append(("load", caller, attr))

    # -- entry ---------------------------------------------------------------------------
    def walk(self, tree: ast.Module) -> None:
        self.body(tree.body)

    # -- scopes --------------------------------------------------------------------------
    def lookup(self, name: str) -> SExpr | None:
        """What ``name`` is bound to here. Code that runs later (a function, a lambda) sees a
        module-level name as any value the module ever binds it to, not the value it had
        when the function was defined."""
        s: _Scope | None = self.scope
        first = True
        deferred = False
        while s is not None:
            if s.kind == "class" and not first:
                s = s.parent
                continue
            if s.kind == "module" and deferred:
                return ("global", name)
            deferred = deferred or s.kind == "function"
            if name in s.locals:
                return s.locals[name]
            if name in s.params:
                return s.params[name]
            if s.kind == "module" or name in s.globals_decl:
                return ("global", name)
            first = False
            s = s.parent
        return ("global", name)

    def bind(self, name: str, value: SExpr | None) -> None:
        s = self.scope
        while s.kind == "comp" and s.parent is not None:  # walrus in a comprehension
            s = s.parent
        if s.kind == "module" or name in s.globals_decl:
            self.summary.globals.setdefault(name, []).append(value or ("unknown",))
            if s.kind == "module":
                s.locals[name] = value
            return
        s.locals[name] = value

    def child_q(self, name: str) -> str:
        if name in self.scope.globals_decl:
            return name
        return self.scope.child_prefix + name

    @property
    def caller(self) -> str:
        return self.scope.node_q

    # -- expressions to symbolic values --------------------------------------------------
    def sx(self, e: ast.expr | None) -> SExpr | None:
        if e is None:
            return None
        if isinstance(e, ast.Name):
            value = self.lookup(e.id)
            if value is not None and value[0] == "dict" and self.scope.kind == "module":
                return ("union", (value, ("extras", e.id)))  # and what functions add to it
            return value
        if isinstance(e, ast.Attribute):
            base = self.sx(e.value)
            return ("attr", base, e.attr) if base is not None else None
        if isinstance(e, ast.Call):
            return self.sx_call(e)
        if isinstance(e, ast.Lambda):
            return ("def", self.child_q("<lambda>"))
        if isinstance(e, ast.IfExp):
            return _union(self.sx(e.body), self.sx(e.orelse))
        if isinstance(e, ast.BoolOp):
            return _union(*(self.sx(v) for v in e.values))
        if isinstance(e, ast.NamedExpr):
            return self.sx(e.value)
        if isinstance(e, ast.Await):
            return self.sx(e.value)
        if isinstance(e, ast.List | ast.Tuple):
            if any(isinstance(elt, ast.Starred) for elt in e.elts):
                return ("dict", tuple((None, self.sx(_unstar(x))) for x in e.elts))
            return ("dict", tuple((i, self.sx(x)) for i, x in enumerate(e.elts)))
        if isinstance(e, ast.Set):
            return ("dict", tuple((None, self.sx(_unstar(x))) for x in e.elts))
        if isinstance(e, ast.Dict):
            items: list[tuple[Any, SExpr | None]] = []
            for k, v in zip(e.keys, e.values, strict=True):
                if k is None:  # {**other}
                    items.append((None, ("elemvalues", self.sx(v))))
                else:
                    items.append((_const_key(k), self.sx(v)))
            return ("dict", tuple(items))
        if isinstance(e, ast.Subscript):
            base = self.sx(e.value)
            if base is None:
                return None
            if isinstance(e.slice, ast.Slice):
                bounds = [_const_int(b) for b in (e.slice.lower, e.slice.upper, e.slice.step)]
                constant = all(b is not False for b in bounds)
                return ("slice", base, tuple(bounds) if constant else None)
            return ("item", base, _const_key(e.slice))
        if isinstance(e, ast.Starred):
            return self.sx(e.value)
        if isinstance(e, ast.BinOp):
            method = _BINOPS.get(type(e.op))
            left = self.sx(e.left)
            if method is None or left is None:
                return None
            return ("call", ("attr", left, method))  # a + b is a.__add__(b)
        return None

    def sx_call(self, e: ast.Call) -> SExpr | None:
        f = e.func
        if isinstance(f, ast.Name):
            if f.id == "super" and not e.args:
                cls = self.enclosing_class()
                return ("super", cls) if cls else None
            if f.id == "super" and len(e.args) == 2:  # super(Base, self): after Base
                cls = self.enclosing_class()
                after = self.sx(e.args[0])
                return ("superof", after, cls) if cls and after else None
            if f.id in ("staticmethod", "classmethod") and len(e.args) == 1:
                return self.sx(e.args[0])
            if f.id == "type" and len(e.args) == 1 and not e.keywords:
                of, func = self.sx(e.args[0]), self.lookup("type")
                return ("typeof", of, func) if of is not None and func is not None else None
        if _is_partial(f) and e.args:
            return self.sx(e.args[0])
        if (
            isinstance(f, ast.Attribute)
            and f.attr == "get"
            and 1 <= len(e.args) <= 2
            and not e.keywords
            and isinstance(e.args[0], ast.Constant)
        ):  # d.get("k", default): the entry "k" of a known dict, or the default
            base = self.sx(f.value)
            default = self.sx(e.args[1]) if len(e.args) == 2 else None
            return ("getkey", base, e.args[0].value, default) if base is not None else None
        if (
            isinstance(f, ast.Name)
            and f.id == "getattr"
            and len(e.args) >= 2
            and isinstance(e.args[1], ast.Constant)
            and isinstance(e.args[1].value, str)
        ):
            base = self.sx(e.args[0])
            return ("attr", base, e.args[1].value) if base is not None else None
        func = self.sx(f)
        return ("call", func) if func is not None else None

    def enclosing_class(self) -> str:
        s: _Scope | None = self.scope
        while s is not None and s.kind in ("function", "comp"):
            if s.kind == "function" and s.parent is not None and s.parent.kind == "class":
                return s.parent.class_q
            s = s.parent
        return ""

    # -- statements ----------------------------------------------------------------------
    def body(self, stmts: list[ast.stmt]) -> None:
        for stmt in stmts:
            self.stmt(stmt)

    def branches(
        self,
        paths: list[list[ast.stmt]],
        binds: list[tuple[str, SExpr | None] | None] | None = None,
    ) -> None:
        """Alternative paths (if/else, handlers, a loop body that may not run): each starts
        from the bindings before them (plus its own first binding: an ``except ... as``
        name); afterwards a name is bound to any of its values."""
        scope = self.scope
        before = scope.locals
        results: list[dict[str, SExpr | None]] = []
        for i, path in enumerate(paths):
            scope.locals = dict(before)
            first = binds[i] if binds else None
            if first is not None:
                self.bind(*first)
            self.body(path)
            results.append(scope.locals)
        merged: dict[str, SExpr | None] = {}
        for result in results:
            for name, value in result.items():
                if name not in merged:
                    merged[name] = value
                elif value is not None and merged[name] != value:
                    merged[name] = _union(merged[name], value)
        scope.locals = merged

    def stmt(self, s: ast.stmt) -> None:
        if isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef):
            self.function(s)
        elif isinstance(s, ast.ClassDef):
            self.classdef(s)
        elif isinstance(s, ast.Assign):
            self.expr(s.value)
            value = self.sx(s.value)
            for target in s.targets:
                self.assign(target, value, s.value)
        elif isinstance(s, ast.AnnAssign):
            declared = self.annotation(s.annotation)
            value = None
            if s.value is not None:
                self.expr(s.value)
                value = self.sx(s.value)
            if self.scope.kind == "class" and isinstance(s.target, ast.Name):
                if declared is not None:  # an instance attribute's declared type
                    info = self.summary.classes.get(self.scope.class_q)
                    if info is not None:
                        info.instance_attrs.setdefault(s.target.id, []).append(declared)
                if s.value is not None:
                    self.assign(s.target, value, s.value)
            elif s.value is not None:
                self.assign(s.target, _union(value, declared), s.value)
        elif isinstance(s, ast.AugAssign):
            self.expr(s.value)
            method = _BINOPS.get(type(s.op))
            if method is not None:
                self.on_dunder(self.caller, self.sx(s.target), ("__i" + method[2:], method))
        elif isinstance(s, ast.Expr):
            self.expr(s.value)
        elif isinstance(s, ast.Return):
            if s.value is not None:
                self.expr(s.value)
                self.add_return(self.sx(s.value))
        elif isinstance(s, ast.If):
            self.expr(s.test)
            if _is_main_guard(s.test) and self.scope.kind == "module":
                self.summary.has_main_guard = True
            self.branches([s.body, s.orelse])
        elif isinstance(s, ast.For | ast.AsyncFor):
            self.expr(s.iter)
            iterable = self.sx(s.iter)
            names = ("__aiter__", "__anext__") if isinstance(s, ast.AsyncFor) else ("__iter__",)
            self.on_dunder(self.caller, iterable, names)
            self.assign(s.target, ("elem", iterable) if iterable else None, None)
            self.branches([s.body, []])  # the body may run no time
            self.body(s.orelse)
        elif isinstance(s, ast.While):
            self.expr(s.test)
            self.branches([s.body, []])
            self.body(s.orelse)
        elif isinstance(s, ast.With | ast.AsyncWith):
            names = (
                ("__aenter__", "__aexit__") if isinstance(s, ast.AsyncWith) else
                ("__enter__", "__exit__")
            )  # fmt: skip
            for item in s.items:
                self.expr(item.context_expr)
                ctx = self.sx(item.context_expr)
                self.on_dunder(self.caller, ctx, names)
                if item.optional_vars is not None:
                    bound = ("enter", ctx, names[0]) if ctx else None
                    self.assign(item.optional_vars, bound, None)
            self.body(s.body)
        elif isinstance(s, ast.Try | ast.TryStar):
            self.body(s.body)
            for handler in s.handlers:
                if handler.type is not None:
                    self.expr(handler.type)
            paths: list[list[ast.stmt]] = [s.orelse]
            binds: list[tuple[str, SExpr | None] | None] = [None]
            for handler in s.handlers:
                paths.append(handler.body)
                exc = _instances(self.sx(handler.type)) if handler.name else None
                binds.append((handler.name, exc) if handler.name else None)
            self.branches(paths, binds)
            self.body(s.finalbody)
        elif isinstance(s, ast.Raise):
            for part in (s.exc, s.cause):
                if part is not None:
                    self.expr(part)
        elif isinstance(s, ast.Import):
            self.import_(s)
        elif isinstance(s, ast.ImportFrom):
            self.import_from(s)
        elif isinstance(s, ast.Global):
            self.scope.globals_decl.update(s.names)
        elif isinstance(s, ast.Match):
            self.expr(s.subject)
            for case in s.cases:
                if case.guard is not None:
                    self.expr(case.guard)
            self.branches([*(case.body for case in s.cases), []])
        else:
            for child in ast.iter_child_nodes(s):
                if isinstance(child, ast.expr):
                    self.expr(child)
                elif isinstance(child, ast.stmt):
                    self.stmt(child)

    def assign(self, target: ast.expr, value: SExpr | None, value_node: ast.expr | None) -> None:
        if isinstance(target, ast.Name):
            self.bind(target.id, value)
            if (
                target.id == "__all__"
                and self.scope.kind == "module"
                and isinstance(value_node, ast.List | ast.Tuple)
            ):
                names = [
                    elt.value
                    for elt in value_node.elts
                    if isinstance(elt, ast.Constant) and isinstance(elt.value, str)
                ]
                self.summary.explicit_all = tuple(names)
        elif isinstance(target, ast.Tuple | ast.List):
            for i, elt in enumerate(target.elts):
                if isinstance(elt, ast.Starred):
                    self.assign(elt.value, None, None)
                else:
                    self.assign(elt, ("item", value, i) if value else None, None)
        elif isinstance(target, ast.Attribute):
            self.expr(target.value)
            base = self.sx(target.value)
            if base is not None and base[0] == "self" and self.scope.kind == "function":
                info = self.summary.classes.get(base[1])
                if info is not None:
                    info.instance_attrs.setdefault(target.attr, []).append(value or ("unknown",))
            if base is not None:
                self.on_dunder(self.caller, ("attr", base, target.attr), ("<set>",))
        elif isinstance(target, ast.Subscript):
            self.expr(target.value)
            self.expr(target.slice)
            self.add_to_container(target.value, _const_key(target.slice), value)
            self.on_dunder(self.caller, self.sx(target.value), ("__setitem__",))
        elif isinstance(target, ast.Starred):
            self.assign(target.value, None, None)

    def add_to_container(self, container: ast.expr, key: Any, value: SExpr | None) -> None:
        if value is None or not isinstance(container, ast.Name):
            return
        bound = self.lookup(container.id)
        if bound is None:
            return
        if bound[0] == "global" or self._bound_in_module(container.id):
            # A module-level container filled anywhere (``HOOKS.append(f)`` beside its
            # assignment, or from a function): code reading it later sees every item.
            self.summary.container_extras.setdefault(container.id, []).append((key, value))
        elif bound[0] == "dict":
            self.rebind_local(container.id, ("dict", (*bound[1], (key, value))))

    def _bound_in_module(self, name: str) -> bool:
        """Whether ``name`` here is the module's own binding (not a local or parameter)."""
        s: _Scope | None = self.scope
        while s is not None:
            if s.kind == "module":
                return True
            # A class body's names are its own, but not seen from the functions inside it.
            if (s is self.scope or s.kind != "class") and (
                name in s.locals or name in s.params or name in s.globals_decl
            ):
                return name in s.globals_decl
            s = s.parent
        return False

    def rebind_local(self, name: str, value: SExpr) -> None:
        s: _Scope | None = self.scope
        while s is not None:
            if name in s.locals:
                s.locals[name] = value
                return
            s = s.parent

    def add_return(self, value: SExpr | None) -> None:
        s: _Scope | None = self.scope
        while s is not None and s.kind == "comp":
            s = s.parent
        if s is None or s.kind != "function" or value is None:
            return
        info = self.summary.defs.get(s.func_q)
        if info is not None and len(info.returns) < 32:
            info.returns.append(value)

    # -- definitions ---------------------------------------------------------------------
    def function(self, s: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for deco in s.decorator_list:
            self.expr(deco)
        self.arguments(s.args)
        q = self.child_q(s.name)
        in_class = self.scope.kind == "class"
        binding = ""
        is_property = False
        if in_class:
            binding = "instance"
            for deco in s.decorator_list:
                name = _deco_name(deco)
                if name == "staticmethod":
                    binding = "static"
                elif name == "classmethod":
                    binding = "class"
                elif name in _PROPERTY_NAMES or name in _PROPERTY_PARTS:
                    is_property = True
            if s.name in _IMPLICIT_CLASSMETHODS and binding == "instance":
                binding = "class"
        params = _param_names(s.args)
        info = self.summary.defs.get(q)
        if info is not None:  # one node for two definitions: neither is proved to keep
            info.kept = None
        if info is None:
            info = DefInfo(
                "method" if in_class else "function",
                s.lineno,
                params,
                binding,
                is_property,
            )
            info.positional = len(s.args.posonlyargs) + len(s.args.args)
            info.is_stub = _is_stub(s.body)
            kept = _kept_params(s)
            if kept is not None:
                info.kept = {
                    name: tuple(self.sx(callee) for callee in callees)
                    for name, callees in kept.items()
                }
            returned = self.annotation(s.returns)
            if returned is not None:
                info.returns.append(returned)
            self.summary.defs[q] = info
        decorators = tuple(self.sx(d) or ("unknown",) for d in s.decorator_list)
        if not self.summary.dist:  # a decorator may register it where no edge leads
            info.decorators.extend(
                (full, self.sx(_registrar(d)), _deco_display(d))
                for full, d in zip(decorators, s.decorator_list, strict=True)
            )
        target: SExpr = ("def", q)
        for decorator in reversed(decorators):
            self.on_decorate(self.caller, decorator, target)
            target = ("decorated", (decorator,), target)
        class_q = self.scope.class_q if in_class else ""
        self.bind(s.name, ("decorated", decorators, ("def", q)) if decorators else ("def", q))
        scope = _Scope("function", q, q + ".", self.scope)
        scope.func_q = q
        self.bind_params(scope, s.args, q, class_q, binding)
        outer, self.scope = self.scope, scope
        try:
            self.body(s.body)
        finally:
            self.scope = outer
        if scope.generator and not isinstance(s, ast.AsyncFunctionDef):
            info.returns.clear()

    def bind_params(
        self, scope: _Scope, args: ast.arguments, q: str, class_q: str, binding: str
    ) -> None:
        positional = [*args.posonlyargs, *args.args]
        # a default is evaluated where the function is defined: it flows into its parameter
        defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
        defaults += [*args.defaults, *args.kw_defaults]
        for i, arg in enumerate([*positional, *args.kwonlyargs]):
            value: SExpr = ("param", q, arg.arg)
            default = defaults[i]
            default_value = self.sx(default) if default is not None else None
            if default_value is not None:
                value = ("union", (value, default_value))
            if i == 0 and arg in positional and class_q:
                if binding == "instance":
                    value = ("self", class_q)
                elif binding == "class":
                    value = ("clsparam", class_q)
            elif arg.annotation is not None:
                hint = self.annotation(arg.annotation)
                if hint is not None:
                    value = ("union", (hint, value))
            scope.params[arg.arg] = value
        for extra in (args.vararg, args.kwarg):
            if extra is not None:
                scope.params[extra.arg] = ("unknown",)

    def annotation(self, annotation: ast.expr | None) -> SExpr | None:
        """An instance of the class(es) an annotation names (``Foo``, ``"Foo"``, ``Foo |
        None``, ``Optional[Foo]``, ``Union[A, B]``), or None."""
        if annotation is None:
            return None
        hints = [self.sx(e) for e in _annotation_classes(annotation, 0)]
        return _union(*(("ann", h) for h in hints if h is not None))

    def arguments(self, args: ast.arguments) -> None:
        for default in [*args.defaults, *args.kw_defaults]:
            if default is not None:
                self.expr(default)

    def classdef(self, s: ast.ClassDef) -> None:
        for deco in s.decorator_list:
            self.expr(deco)
        for base in s.bases:
            self.expr(base)
        for kw in s.keywords:
            self.expr(kw.value)
        q = self.child_q(s.name)
        bases = tuple(self.sx(b) or ("unknown",) for b in s.bases)
        self.summary.defs.setdefault(q, DefInfo("class", s.lineno))
        if q not in self.summary.classes:
            self.summary.classes[q] = ClassInfo(bases)
            self.summary.classes[q].is_protocol = any(
                _deco_name(b.value if isinstance(b, ast.Subscript) else b) == "Protocol"
                for b in s.bases
            )
        info = self.summary.classes[q]
        decorators = tuple(self.sx(d) or ("unknown",) for d in s.decorator_list)
        scope = _Scope("class", q, q + ".", self.scope)
        scope.class_q = q
        outer, self.scope = self.scope, scope
        try:
            self.body(s.body)
        finally:
            self.scope = outer
        for name, value in scope.locals.items():
            info.namespace[name] = value or ("unknown",)
        target: SExpr = ("def", q)
        for decorator in reversed(decorators):
            self.on_decorate(self.caller, decorator, target)
        self.bind(s.name, ("decorated", decorators, ("def", q)) if decorators else ("def", q))

    def lambda_(self, e: ast.Lambda) -> None:
        self.arguments(e.args)
        q = self.child_q("<lambda>")
        info = self.summary.defs.get(q)
        if info is None:
            info = DefInfo("lambda", e.lineno, _param_names(e.args))
            info.positional = len(e.args.posonlyargs) + len(e.args.args)
            self.summary.defs[q] = info
        scope = _Scope("function", q, q + ".", self.scope)
        scope.func_q = q
        self.bind_params(scope, e.args, q, "", "")
        outer, self.scope = self.scope, scope
        try:
            self.expr(e.body)
            value = self.sx(e.body)
            if value is not None and len(info.returns) < 32:
                info.returns.append(value)
        finally:
            self.scope = outer

    def comprehension(
        self, e: ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp
    ) -> None:
        segment = _COMPREHENSIONS.get(type(e))
        first = e.generators[0]
        self.expr(first.iter)  # evaluated in the enclosing scope
        if segment is None:
            scope = _Scope("comp", self.scope.node_q, self.scope.child_prefix, self.scope)
        else:
            scope = _Scope("comp", self.scope.node_q, self.scope.child_prefix + segment + ".",
                           self.scope)  # fmt: skip
        outer, self.scope = self.scope, scope
        try:
            for i, gen in enumerate(e.generators):
                if i:
                    self.expr(gen.iter)
                iterable = self.sx(gen.iter) if i else _rebase(self, outer, gen.iter)
                self.on_dunder(self.caller, iterable, ("__iter__",))
                self.comp_assign(gen.target, ("elem", iterable) if iterable else None)
                for cond in gen.ifs:
                    self.expr(cond)
            if isinstance(e, ast.DictComp):
                self.expr(e.key)
                self.expr(e.value)
            else:
                self.expr(e.elt)
        finally:
            self.scope = outer

    def comp_assign(self, target: ast.expr, value: SExpr | None) -> None:
        if isinstance(target, ast.Name):
            self.scope.locals[target.id] = value
        elif isinstance(target, ast.Tuple | ast.List):
            for i, elt in enumerate(target.elts):
                self.comp_assign(elt, ("item", value, i) if value else None)

    # -- imports -------------------------------------------------------------------------
    def import_(self, s: ast.Import) -> None:
        for alias in s.names:
            self.summary.imports.add(alias.name)
            if alias.asname:
                self.bind(alias.asname, ("mod", alias.name))
            else:
                top = alias.name.split(".")[0]
                self.bind(top, ("mod", top))

    def import_from(self, s: ast.ImportFrom) -> None:
        if s.level:
            base = relative_base(self.summary.name, self.summary.is_package, s.level)
            if base is None:
                return
            module = f"{base}.{s.module}" if s.module and base else (s.module or base)
        else:
            module = s.module or ""
        self.summary.imports.add(module)
        for alias in s.names:
            if alias.name == "*":
                if self.scope.kind == "module":
                    self.summary.star_imports.append(module)
                continue
            self.summary.imports.add(f"{module}.{alias.name}")
            self.bind(alias.asname or alias.name, ("from", module, alias.name))

    # -- expressions (calls) -------------------------------------------------------------
    def expr(self, e: ast.expr) -> None:
        stack: list[ast.AST] = [e]
        pop, push, extend = stack.pop, stack.append, stack.extend
        while stack:
            node = pop()
            if type(node) in _LEAVES:
                continue
            if isinstance(node, ast.Call):
                self.call(node)
                func = node.func.value if isinstance(node.func, ast.Attribute) else node.func
                extend(reversed([func, *node.args, *(k.value for k in node.keywords)]))
            elif isinstance(node, ast.Attribute):
                if isinstance(node.ctx, ast.Load):
                    value = self.sx(node)
                    if value is not None:
                        self.on_load(self.caller, value)
                push(node.value)
            elif isinstance(node, ast.Lambda):
                self.lambda_(node)
            elif isinstance(node, ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp):
                self.comprehension(node)
            elif isinstance(node, ast.NamedExpr):
                push(node.value)
                self.bind(node.target.id, self.sx(node.value))
            elif isinstance(node, ast.BinOp):
                method = _BINOPS.get(type(node.op))
                if method is not None:
                    self.on_dunder(self.caller, self.sx(node.left), (method,))
                extend((node.right, node.left))
            elif isinstance(node, ast.Subscript):
                if isinstance(node.ctx, ast.Load):
                    self.on_dunder(self.caller, self.sx(node.value), ("__getitem__",))
                extend((node.slice, node.value))
            elif isinstance(node, ast.Yield | ast.YieldFrom):
                self.mark_generator()
                if node.value is not None:
                    push(node.value)
            else:
                extend(reversed(list(ast.iter_child_nodes(node))))

    def mark_generator(self) -> None:
        s: _Scope | None = self.scope
        while s is not None and s.kind == "comp":
            s = s.parent
        if s is not None and s.kind == "function":
            s.generator = True

    def call(self, node: ast.Call) -> None:
        func = self.sx(node.func) if not _is_partial(node.func) else None
        args: list[Any] = []
        for i, arg in enumerate(node.args):
            if isinstance(arg, ast.Starred):
                break
            value = self.sx(arg)
            if value is not None:
                args.append((i, value))
        for kw in node.keywords:
            if kw.arg is not None:
                value = self.sx(kw.value)
                if value is not None:
                    args.append((kw.arg, value))
        self.on_call(self.caller, node, func, args)
        self.container_call(node)

    def container_call(self, node: ast.Call) -> None:
        if (
            isinstance(node.func, ast.Attribute)
            and node.func.attr in ("append", "add", "insert", "appendleft", "extend")
            and node.args
        ):
            item = node.args[-1]
            if node.func.attr == "extend":
                value = self.sx(item)
                self.add_to_container(
                    node.func.value, None, ("elemvalues", value) if value else None
                )
            else:
                self.add_to_container(node.func.value, None, self.sx(item))


def _rebase(walker: ModuleWalker, outer: _Scope, e: ast.expr) -> SExpr | None:
    """The first iterable of a comprehension, seen from the enclosing scope."""
    inner, walker.scope = walker.scope, outer
    try:
        return walker.sx(e)
    finally:
        walker.scope = inner


def _union(*values: SExpr | None) -> SExpr | None:
    parts: list[SExpr] = []
    for value in values:
        if value is None:
            continue
        for part in value[1] if value[0] == "union" else (value,):
            if part not in parts:
                parts.append(part)
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else ("union", tuple(parts[:_MAX_ALTERNATIVES]))


def _instances(exc: SExpr | None) -> SExpr | None:
    if exc is None:
        return None
    if exc[0] == "dict":
        return _union(*(("call", v) for _, v in exc[1] if v is not None))
    return ("call", exc)


def _literal_arg(node: ast.Call, index: int) -> bool:
    return len(node.args) > index and isinstance(node.args[index], ast.Constant)


def _unstar(e: ast.expr) -> ast.expr:
    return e.value if isinstance(e, ast.Starred) else e


def _const_key(e: ast.expr) -> Any:
    if (
        isinstance(e, ast.Constant)
        and isinstance(e.value, str | int)
        and not isinstance(e.value, bool)
    ):
        return e.value
    return None


def _const_int(e: ast.expr | None) -> int | bool | None:
    """A slice bound: an int, None when absent, False when not a constant."""
    if e is None:
        return None
    if isinstance(e, ast.UnaryOp) and isinstance(e.op, ast.USub):
        inner = _const_int(e.operand)
        return -inner if type(inner) is int else False
    if isinstance(e, ast.Constant) and type(e.value) is int:
        return e.value
    return False


def _is_partial(f: ast.expr) -> bool:
    return (isinstance(f, ast.Name) and f.id == "partial") or (
        isinstance(f, ast.Attribute)
        and f.attr == "partial"
        and isinstance(f.value, ast.Name)
        and f.value.id == "functools"
    )


def _registrar(deco: ast.expr) -> ast.expr:
    """What a decorator calls: ``app.get`` of ``@app.get("/")``, the decorator itself
    otherwise (``@lru_cache(maxsize=1)`` and ``@lru_cache`` both name ``lru_cache``)."""
    return deco.func if isinstance(deco, ast.Call) else deco


#: A decorator as a root's ``source`` names it (``decorator:app.get``), at most this long.
_DECO_DISPLAY_MAX = 120


def _deco_display(deco: ast.expr) -> str:
    text = ast.unparse(_registrar(deco))
    return text if len(text) <= _DECO_DISPLAY_MAX else text[: _DECO_DISPLAY_MAX - 1] + "…"


def _deco_name(deco: ast.expr) -> str:
    if isinstance(deco, ast.Name):
        return deco.id
    if isinstance(deco, ast.Attribute):
        return deco.attr
    return ""


def _is_stub(body: list[ast.stmt]) -> bool:
    for stmt in body:
        if isinstance(stmt, ast.Pass):
            continue
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # a docstring or ...
        if isinstance(stmt, ast.Raise) and stmt.exc is not None:
            exc = stmt.exc.func if isinstance(stmt.exc, ast.Call) else stmt.exc
            if _deco_name(exc) == "NotImplementedError":
                continue
        return False
    return True


def _annotation_classes(annotation: ast.expr, depth: int) -> list[ast.expr]:
    if depth > 3:
        return []
    if isinstance(annotation, ast.Name | ast.Attribute):
        return [annotation]
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        try:
            parsed = ast.parse(annotation.value, mode="eval").body
        except (SyntaxError, ValueError):
            return []
        return _annotation_classes(parsed, depth + 1)
    if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
        return [
            *_annotation_classes(annotation.left, depth + 1),
            *_annotation_classes(annotation.right, depth + 1),
        ]
    if isinstance(annotation, ast.Subscript) and _deco_name(annotation.value) in (
        "Optional",
        "Union",
    ):
        inner = annotation.slice
        parts = inner.elts if isinstance(inner, ast.Tuple) else [inner]
        return [c for part in parts for c in _annotation_classes(part, depth + 1)]
    return []


#: Attributes of a function whose reading hands nothing of it over.
_HARMLESS_ATTRS = frozenset({"__name__", "__qualname__", "__doc__", "__module__"})


def _kept_params(s: ast.FunctionDef | ast.AsyncFunctionDef) -> dict[str, list[ast.expr]] | None:
    """For a function shaped like a decorator (it defines a function or returns a
    parameter): which parameters provably stay inside it, each with the callees it is
    handed to as a positional argument (``wraps(f)``; `_resolve` checks what they are).

    A parameter stays inside when every use of it, in the function and the functions nested
    in it, is a call of it, ``return p``, a read of ``p.__name__`` (or ``__qualname__``,
    ``__doc__``, ``__module__``) or a positional argument; and the same holds for the
    functions nested in it (the wrapper that calls it), except that a nested function is
    handed to nothing. Anything else (stored, assigned, used in a lambda, a comprehension,
    a condition) may keep it where no edge leads."""
    params = _param_names(s.args)
    inner = [n for n in ast.walk(s) if n is not s and isinstance(n, (*_DEFS, ast.Lambda))]
    nested = {n.name for n in inner if isinstance(n, _DEFS)}
    returns_param = any(
        isinstance(n, ast.Return) and isinstance(n.value, ast.Name) and n.value.id in params
        for n in ast.walk(s)
    )
    if not params or not (nested or returns_param):
        return None
    parents: dict[ast.AST, ast.AST] = {}
    in_lambda: set[ast.AST] = set()
    for statement in s.body:
        for parent in ast.walk(statement):
            for child in ast.iter_child_nodes(parent):
                parents[child] = parent
                if isinstance(parent, ast.Lambda) or parent in in_lambda:
                    in_lambda.add(child)
    escaped: set[str] = set()
    passed: dict[str, list[ast.expr]] = {}
    watched = set(params) | nested
    for node, parent in parents.items():
        if not isinstance(node, ast.Name) or node.id not in watched:
            continue
        name = node.id
        if not isinstance(node.ctx, ast.Load) or node in in_lambda:
            escaped.add(name)
        elif isinstance(parent, ast.Call) and parent.func is node:
            continue
        elif isinstance(parent, ast.Return):
            continue
        elif isinstance(parent, ast.Attribute) and parent.attr in _HARMLESS_ATTRS:
            continue
        elif isinstance(parent, ast.Call) and node in parent.args and name in params:
            passed.setdefault(name, []).append(parent.func)
        else:
            escaped.add(name)
    for n in inner:  # a nested function's parameter of the same name: not followed
        if not isinstance(n, ast.ClassDef):
            escaped.update(set(_param_names(n.args)) & set(params))
    if escaped & nested:  # the wrapper is kept somewhere: so is what it calls
        return {}
    return {name: passed.get(name, []) for name in params if name not in escaped}


_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _param_names(args: ast.arguments) -> tuple[str, ...]:
    return tuple(a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs])


def _is_main_guard(test: ast.expr) -> bool:
    if not isinstance(test, ast.Compare) or len(test.ops) != 1:
        return False
    if not isinstance(test.ops[0], ast.Eq):
        return False
    sides = [test.left, test.comparators[0]]
    names = [s for s in sides if isinstance(s, ast.Name) and s.id == "__name__"]
    consts = [s for s in sides if isinstance(s, ast.Constant) and s.value == "__main__"]
    return bool(names and consts)
