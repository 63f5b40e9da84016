"""A function of the project's own code that a decorator may register where no edge leads (a
web framework's URL map, a CLI group) is a declared entry point: a runtime root with source
``decorator:<the decorator as written>``. Transparent decorators (staticmethod, property,
functools.wraps, lru_cache...) make none, and installed code is never rooted this way."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from stella_signals.pyscan import Distribution, project_sources, scan_sources

# A registry as Flask keeps one: the view is stored in an instance's dictionary and called
# through it, which no static edge follows.
WEBLIB = """
class App:
    def __init__(self):
        self.views = {}

    def route(self, rule):
        def decorator(f):
            self.views[rule] = f
            return f
        return decorator

    def get(self, rule):
        return self.route(rule)

    def dispatch(self, path):
        return self.views[path]()


app = App()


@app.route("/health")
def health():
    return probe()


def probe():
    return "ok"
"""

SHOP = """
from weblib import App

app = App()


@app.get("/")
def index():
    return render()


@app.route("/about")
def about():
    return "about"


def render():
    return "page"


def orphan():
    return render()
"""

CLI = """
import click


@click.group()
def cli():
    pass


@cli.command(name="sync")
def sync():
    return work()


def work():
    return 1
"""

TRANSPARENT = """
import abc
import contextlib
import dataclasses
import functools
import typing
from functools import lru_cache, wraps


class Shape(abc.ABC):
    @abc.abstractmethod
    def area(self): ...

    @staticmethod
    def unit():
        return 1

    @classmethod
    def make(cls):
        return cls()

    @property
    def size(self):
        return self._size

    @size.setter
    def size(self, value):
        self._size = value

    @functools.cached_property
    def heavy(self):
        return 2


@lru_cache(maxsize=8)
def cached(x):
    return x


@functools.cache
def cached_too(x):
    return x


@contextlib.contextmanager
def opened():
    yield 1


@typing.overload
def one(x: int) -> int: ...
@typing.overload
def one(x: str) -> str: ...
def one(x):
    return x


@typing.final
def final_one():
    return 0


def outer(f):
    @wraps(f)
    def inner(*args):
        return f(*args)
    return inner


@dataclasses.dataclass
class Point:
    x: int = 0
"""


def write(folder: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def scan(project: Path, distributions: tuple[Distribution, ...] = ()) -> dict[str, Any]:
    files, entry_points = project_sources([project], None)
    return scan_sources(files, entry_points, distributions).document


def runtime_roots(document: dict[str, Any]) -> dict[str, str]:
    display = {n["id"]: n["display"] for n in document["nodes"]}
    return {display[r["id"]]: r["source"] for r in document["roots"] if r["phase"] == "runtime"}


def call_edges(document: dict[str, Any]) -> set[tuple[str, str]]:
    display = {n["id"]: n["display"] for n in document["nodes"]}
    return {(display[e["from"]], display[e["to"]]) for e in document["edges"]
            if e["kind"] == "call"}  # fmt: skip


def test_handlers_of_a_registry_the_scanner_follows_into_are_roots(tmp_path: Path) -> None:
    """The registry is scanned code here (project and library in one tree): the scanner
    follows the decorator but not the dictionary the view is called through."""
    write(tmp_path / "p", {"weblib.py": WEBLIB, "shop.py": SHOP})
    document = scan(tmp_path / "p")
    roots = runtime_roots(document)
    assert roots["shop.index"] == "decorator:app.get"
    assert roots["shop.about"] == "decorator:app.route"
    assert roots["weblib.health"] == "decorator:app.route"  # project code, wherever it is
    assert "shop.orphan" not in roots and "shop.render" not in roots
    assert "weblib.App.dispatch" not in roots
    # no edge leads to a view (it is called through the dictionary), so the root is all
    assert not any(callee == "shop.index" for _, callee in call_edges(document))
    assert ("shop.index", "shop.render") in call_edges(document)


def test_commands_of_a_cli_group_in_code_not_scanned_are_roots(tmp_path: Path) -> None:
    write(tmp_path / "p", {"tool.py": CLI})
    roots = runtime_roots(scan(tmp_path / "p"))
    assert roots == {"tool.cli": "decorator:click.group", "tool.sync": "decorator:cli.command"}


def test_transparent_decorators_make_no_root(tmp_path: Path) -> None:
    write(tmp_path / "p", {"lib/shapes.py": TRANSPARENT})
    document = scan(tmp_path / "p")
    assert runtime_roots(document) == {}
    # the decorated functions stay nodes, reached by edges like any other
    nodes = {n["display"] for n in document["nodes"]}
    assert {"lib.shapes.cached", "lib.shapes.Shape.size", "lib.shapes.opened"} <= nodes


def test_a_decorator_proved_to_keep_nothing_makes_no_root(tmp_path: Path) -> None:
    """A project's own decorator that only wraps (its wrapper calls the function, reads its
    name, hands it to functools.wraps) is transparent: the function is reached through the
    wrapper's edge, and is no root."""
    write(tmp_path / "p", {"m.py": """
        import functools
        import inspect

        def timed(f):
            is_async = inspect.iscoroutinefunction(f)

            @functools.wraps(f)
            def wrapper(*args):
                print(f.__name__, is_async)
                return f(*args)
            return wrapper

        def repeat(n):
            def deco(f):
                def run():
                    for _ in range(n):
                        f()
                return run
            return deco

        def identity(f):
            return f

        @functools.lru_cache
        @timed
        def slow():
            return 1

        @repeat(2)
        def ping():
            return 2

        @identity
        def same():
            return 3
        """})  # fmt: skip
    document = scan(tmp_path / "p")
    assert runtime_roots(document) == {}
    edges = call_edges(document)
    assert ("m.timed.wrapper", "m.slow") in edges and ("m.repeat.deco.run", "m.ping") in edges


def test_a_decorator_that_may_keep_the_function_makes_a_root(tmp_path: Path) -> None:
    """Stored (in a module's list, on an object), its wrapper stored, handed to code that is
    not known, used in a lambda: each may keep the function where no edge leads."""
    write(tmp_path / "p", {"m.py": """
        import functools
        import somewhere

        HANDLERS = []

        def register(f):
            HANDLERS.append(f)
            return f

        def wrap_and_keep(f):
            @functools.wraps(f)
            def wrapper():
                return f()
            HANDLERS.append(wrapper)
            return wrapper

        def hand_over(f):
            somewhere.remember(f)
            return f

        def lazily(f):
            return lambda: f()

        class Registry:
            def __init__(self):
                self.table = {}

            def add(self, f):
                self.table[f.__name__] = f
                return f

        registry = Registry()

        @register
        def a():
            pass

        @wrap_and_keep
        def b():
            pass

        @hand_over
        def c():
            pass

        @lazily
        def d():
            pass

        @registry.add
        def e():
            pass
        """})  # fmt: skip
    assert runtime_roots(scan(tmp_path / "p")) == {
        "m.a": "decorator:register",
        "m.b": "decorator:wrap_and_keep",
        "m.c": "decorator:hand_over",
        "m.d": "decorator:lazily",
        "m.e": "decorator:registry.add",
    }


def test_installed_code_is_not_rooted_by_its_decorators(tmp_path: Path) -> None:
    """The library's own `@app.route` view is not a root of the project's graph (its
    registration runs only when the library wants it); the project's views are."""
    site = tmp_path / "site"
    write(site, {"weblib/__init__.py": WEBLIB})
    weblib = Distribution(
        "weblib", "1.0", (("weblib/__init__.py", str(site / "weblib" / "__init__.py")),), ()
    )
    write(tmp_path / "p", {"shop.py": SHOP})
    document = scan(tmp_path / "p", (weblib,))
    roots = runtime_roots(document)
    assert roots == {
        "shop.index": "decorator:app.get",
        "shop.about": "decorator:app.route",
    }
    purls = {n["display"]: n["purl"] for n in document["nodes"]}
    assert purls["weblib.health"] == "pkg:pypi/weblib@1.0"


def test_a_nested_definition_under_a_registering_decorator_is_a_root(tmp_path: Path) -> None:
    """An application factory registers views when it runs: each is a root all the same."""
    write(tmp_path / "p", {"factory.py": """
        import flask

        def create_app():
            app = flask.Flask(__name__)

            @app.route("/")
            def home():
                return "home"

            return app
        """})  # fmt: skip
    assert runtime_roots(scan(tmp_path / "p")) == {"factory.create_app.home": "decorator:app.route"}
