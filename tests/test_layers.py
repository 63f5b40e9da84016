"""STYLE habit 1: the core never reaches up into services or adapters; front doors stay apart."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "stella_signals"

#: Layer of each top-level module or package; a module may import its own layer or lower.
LAYERS = {
    "errors": 0,
    "limits": 0,
    "clock": 0,
    "digests": 0,
    "canonical": 0,
    "tenancy": 0,
    "strictjson": 0,
    "cas": 0,
    "trace": 0,
    "bundle": 0,
    "synth": 0,
    "graph": 0,
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
    "storage": 3,
    "wiring": 4,
    "api": 5,
    "cli": 5,
}
FRONT_DOORS = {"cli", "api"}
#: `signals serve` hosts the API in its process; no other command may import it (the `stella`
#: client talks to the API over HTTP, like any client).
HOSTS_THE_API = {"cli/signals.py"}


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
            hosting = str(path.relative_to(PACKAGE)) in HOSTS_THE_API and target == "api"
            assert hosting, f"{own} imports {target}"
