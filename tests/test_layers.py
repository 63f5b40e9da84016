"""STYLE habit 1: the core never reaches up into services or adapters; front doors stay apart.

Issue 15 item 8 gave it teeth: no module imports another package's private (`_name`) module
or attribute, the core's code does no I/O, and the front doors (`api`, `cli`) import services,
wiring and the core, never the storage adapters."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "stella_signals"

#: Layer of each top-level module or package; a module may import its own layer or lower.
LAYERS = {
    "errors": 0,
    "limits": 0,
    "textfile": 0,
    "clock": 0,
    "digests": 0,
    "canonical": 0,
    "tenancy": 0,
    "strictjson": 0,
    "wire": 0,
    "cas": 0,
    "trace": 0,
    "bundle": 0,
    "graph": 0,
    "reach": 0,
    "vex": 0,
    "pyscan": 0,
    "symbols": 0,
    "attest": 0,
    "timeline": 0,
    "ids": 0,
    "auth": 0,
    "metrics": 1,
    "locker": 0,
    "receipt": 0,
    "timeanchor": 0,
    "ports": 1,
    "ingest": 2,
    "verdicts": 2,
    "storage": 3,
    "wiring": 4,
    "api": 5,
    "console": 5,
    "cli": 5,
}
FRONT_DOORS = {"cli", "api", "console"}
#: `signals serve` hosts the API in its process; no other command may import it (the `stella`
#: client talks to the API over HTTP, like any client).
HOSTS_THE_API = {"cli/signals.py"}
#: The API app mounts the web console under /ui (issue 20); nothing else imports it.
HOSTS_THE_CONSOLE = {"api/_app.py"}


def stella_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "stella_signals" and len(parts) > 1:
                found.add(parts[1])
    return found


def top_level(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


MODULES = [p for p in PACKAGE.rglob("*.py") if top_level(p) != "__init__"]


def test_every_module_has_a_layer() -> None:
    assert {top_level(p) for p in MODULES} <= set(LAYERS), "add new modules to LAYERS"


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(PACKAGE)) for p in MODULES])
def test_imports_point_down(path: Path) -> None:
    own = top_level(path)
    for target in stella_imports(path):
        if target == "__init__" or target == own:
            continue
        assert LAYERS[target] <= LAYERS[own], f"{own} (layer {LAYERS[own]}) imports {target}"
        if own in FRONT_DOORS and target in FRONT_DOORS and own != target:
            where = str(path.relative_to(PACKAGE))
            hosting = (where in HOSTS_THE_API and target == "api") or (
                where in HOSTS_THE_CONSOLE and target == "console"
            )
            assert hosting, f"{own} imports {target}"


# --- issue 15 item 8 ----------------------------------------------------------------------


def module_name(path: Path) -> str:
    """``stella_signals.trace._parse`` for trace/_parse.py, ``stella_signals.trace`` for its
    ``__init__.py``."""
    parts = ["stella_signals", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> Iterator[tuple[str, str, int]]:
    """(module, name or "", line) of every import in ``path``, relative ones resolved."""
    own = module_name(path).split(".")
    package = own if path.name == "__init__.py" else own[:-1]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, "", node.lineno
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, module] if module else base)
            for alias in node.names:
                yield module, alias.name, node.lineno


def is_private(segment: str) -> bool:
    return segment.startswith("_") and not segment.endswith("__")


def private_owner(dotted: str) -> str | None:
    """The module that owns the first private part of ``dotted`` (None: nothing private)."""
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        if is_private(part):
            return ".".join(parts[:i])
    return None


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(PACKAGE)) for p in MODULES])
def test_no_import_of_another_packages_private_name(path: Path) -> None:
    """``from stella_signals.ingest._pipeline import x`` is fine inside `ingest`, nowhere
    else: other packages use what the package's ``__init__`` exports."""
    me = module_name(path)
    for module, name, line in imported(path):
        if not module.startswith("stella_signals"):
            continue
        owner = private_owner(f"{module}.{name}" if name else module)
        if owner is not None:
            assert me == owner or me.startswith(owner + "."), (
                f"{me}:{line} imports {module}{'.' + name if name else ''}: private to {owner}"
            )


#: The pure core (STYLE habit 1: models, parsing, canonical JSON, hashing, verification): its
#: code reads and writes no file, socket, database or terminal. Package ``__init__`` files
#: that re-export an I/O module are not core (attest: key files; timeanchor: NTP).
CORE = {
    "errors.py",
    "limits.py",
    "digests.py",
    "canonical.py",
    "strictjson.py",
    "ids.py",
    "tenancy.py",
    "cas.py",
    "auth.py",
    "clock.py",  # the Clock protocol the core takes time from (SystemClock reads no file)
    "trace/__init__.py",
    "trace/_model.py",
    "trace/_parse.py",
    "trace/_purl.py",
    "trace/_probe_manifest.py",
    "trace/_stream.py",
    "graph/__init__.py",
    "graph/_canonical.py",
    "graph/_compact.py",
    "graph/_index.py",
    "graph/_model.py",
    "graph/_verify.py",
    "reach/__init__.py",
    "reach/_model.py",
    "vex/__init__.py",
    "vex/_statements.py",
    "vex/_openvex.py",
    "vex/_render.py",
    "vex/_cyclonedx.py",
    "vex/_sign.py",
    "reach/_catalog.py",
    "reach/_engine.py",
    "reach/_osv.py",
    "pyscan/_naming.py",  # SPEC §14 naming: the verdict engine derives target symbol ids
    "attest/_dsse.py",
    "attest/_members.py",
    "attest/_graph_attest.py",
    "attest/_keys.py",
    "attest/_sign.py",
    "attest/_statement.py",
    "attest/_verify.py",
    "timeline/__init__.py",
    "timeline/_chain.py",
    "timeline/_event.py",
    "symbols/__init__.py",
    "symbols/_manifest.py",
    "bundle/__init__.py",
    "bundle/_archive.py",
    "bundle/_manifest.py",
    "bundle/_check.py",
    "wire/__init__.py",
    "wire/_constants.py",
    "wire/_json.py",
    "wire/_problem.py",
    "wire/_rfc3339.py",
    "timeanchor/_anchor.py",
    "timeanchor/_status.py",
}
#: Libraries that reach files, processes, the network, a database or the terminal.
#: (`tarfile`, `gzip` and `io` stay allowed: the core uses them on bytes in memory; a call to
#: the builtin `open` is refused below.)
IO_MODULES = {
    "os", "pathlib", "shutil", "tempfile", "glob", "fileinput", "mmap", "fcntl", "sys",
    "socket", "ssl", "select", "selectors", "signal", "subprocess", "multiprocessing",
    "asyncio", "urllib", "http", "ftplib", "smtplib", "sqlite3", "logging",
    "sqlalchemy", "alembic", "psycopg", "httpx", "ntplib", "obstore", "uvicorn", "fastapi",
    "starlette", "typer", "rich", "prometheus_client",
}  # fmt: skip
#: `pathlib` names that never touch the file system.
PURE_PATHS = {"PurePath", "PurePosixPath", "PureWindowsPath"}
IO_BUILTINS = {"open", "print", "input"}
#: Known exceptions, each a fix left to another part of issue 15: {core module: reason}.
CORE_IO_EXCEPTIONS: dict[str, str] = {}


def test_core_modules_exist() -> None:
    assert {str(p.relative_to(PACKAGE)) for p in MODULES} >= CORE


@cache
def exported_from(package: str) -> dict[str, str]:
    """Name → module it comes from, for what a package's ``__init__`` imports."""
    init = PACKAGE.joinpath(*package.split(".")[1:], "__init__.py")
    return {name: module for module, name, _ in imported(init) if name}


def defining_module(module: str, name: str) -> str:
    """The stella_signals module that ``from module import name`` really reads."""
    parts = module.split(".")[1:]
    as_package = PACKAGE.joinpath(*parts)
    if name and as_package.joinpath(f"{name}.py").is_file():
        return f"{module}.{name}"
    if name and as_package.joinpath(name, "__init__.py").is_file():
        return f"{module}.{name}"
    if as_package.joinpath("__init__.py").is_file():
        return exported_from(module).get(name, module)
    return module


def core_module(dotted: str) -> bool:
    parts = dotted.split(".")[1:]
    candidates = ["/".join(parts) + ".py", "/".join([*parts, "__init__.py"])]
    return any(candidate in CORE for candidate in candidates)


@pytest.mark.parametrize("rel", sorted(CORE))
def test_the_core_does_no_io(rel: str) -> None:
    """A core module imports no I/O library, calls no ``open``/``print``/``input``, and takes
    from stella_signals only what core modules define (re-exports followed one level)."""
    path = PACKAGE / rel
    found: list[str] = []
    for module, name, line in imported(path):
        top = module.split(".")[0]
        if top in IO_MODULES and not (top == "pathlib" and name in PURE_PATHS):
            found.append(f"line {line}: imports {module}{'.' + name if name else ''}")
        if top == "stella_signals" and module != "stella_signals":
            source = defining_module(module, name)
            if not core_module(source):
                found.append(f"line {line}: imports {name or module} from {source}, not core")
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in IO_BUILTINS:
                found.append(f"line {node.lineno}: calls {node.func.id}()")
    if rel in CORE_IO_EXCEPTIONS:
        assert found, f"{rel} is clean now: drop it from CORE_IO_EXCEPTIONS"
        return
    assert not found, f"{rel} does I/O:\n" + "\n".join(found)


#: What `api` and `cli` may import: the core and the ports (layer 0-1), the services (2) and
#: the composition root; never an adapter (`storage`): wiring builds those.
FRONT_DOOR_MAX_LAYER = LAYERS["ingest"]
#: Known exceptions, each a fix left to another part of issue 15: {(module, target): reason}.
FRONT_DOOR_EXCEPTIONS: dict[tuple[str, str], str] = {}
FRONT_DOOR_MODULES = [p for p in MODULES if top_level(p) in FRONT_DOORS]


@pytest.mark.parametrize(
    "path", FRONT_DOOR_MODULES, ids=[str(p.relative_to(PACKAGE)) for p in FRONT_DOOR_MODULES]
)
def test_front_doors_import_services_wiring_and_the_core_only(path: Path) -> None:
    rel = str(path.relative_to(PACKAGE))
    for target in stella_imports(path):
        if target in FRONT_DOORS or target == "wiring" or target == "__init__":
            continue  # the front doors among themselves: test_imports_point_down
        allowed = LAYERS[target] <= FRONT_DOOR_MAX_LAYER
        if (rel, target) in FRONT_DOOR_EXCEPTIONS:
            assert not allowed
            continue
        assert allowed, f"{rel} imports {target} (layer {LAYERS[target]}): go through wiring"


@pytest.mark.parametrize(
    "path", FRONT_DOOR_MODULES, ids=[str(p.relative_to(PACKAGE)) for p in FRONT_DOOR_MODULES]
)
def test_front_doors_call_named_ports_not_the_repository(path: Path) -> None:
    """`services.tokens.find_token(...)`, never `services.repo.find_token(...)`: a front door
    names the aggregate it touches (`wiring.Services` has one property per port, ADR 0006)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = [
        f"line {node.lineno}: .repo"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr == "repo"
    ]
    assert not found, f"{path.relative_to(PACKAGE)} reaches into the repository:\n" + "\n".join(
        found
    )
