"""The scanner names symbols exactly as CPython does (SPEC §14): the qualnames of the code
objects the compiler makes, and the module names the import system gives each file."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path
from types import CodeType
from typing import Any

import pytest

from stella_signals.pyscan import clean_qualname, project_sources, scan_sources
from tests.pyscan._corpus import CORPUS, PROGRAMS

REPO = Path(__file__).resolve().parents[2]
#: Real third-party packages of the test venv, scanned as projects for their names.
THIRD_PARTY = [Path(importlib.import_module(name).__file__ or "").parent
               for name in ("httpx", "click", "rich")]  # fmt: skip
#: Code objects of comprehensions are not graph nodes (their calls belong to the function
#: around them); lambdas inside them keep the comprehension's segment in their qualname.
COMPREHENSIONS = ("<listcomp>", "<setcomp>", "<dictcomp>", "<genexpr>")


def cpython_qualnames(path: Path) -> set[str]:
    code = compile(path.read_bytes(), str(path), "exec")
    found: set[str] = set()
    stack: list[CodeType] = [code]
    while stack:
        current = stack.pop()
        if not current.co_qualname.endswith(COMPREHENSIONS):
            found.add(clean_qualname(current.co_qualname))
        stack.extend(c for c in current.co_consts if isinstance(c, CodeType))
    return found


def scanned_qualnames(document: dict[str, Any]) -> dict[str, set[str]]:
    """file → qualnames of its nodes; and file → module name (under key "module:" + file)."""
    by_file: dict[str, set[str]] = {}
    modules = {n["attributes"]["file"]: n["display"] for n in document["nodes"]
               if n["kind"] == "module"}  # fmt: skip
    for node in document["nodes"]:
        file = node["attributes"]["file"]
        module = modules[file]
        display = node["display"]
        qualname = "" if display == module else display.removeprefix(module + ".")
        by_file.setdefault(file, set()).add(qualname)
    return by_file


@pytest.mark.parametrize(
    "folder",
    [*PROGRAMS, REPO / "src" / "stella_signals", *THIRD_PARTY],
    ids=[*(p.name for p in PROGRAMS), "stella_signals", *(p.name for p in THIRD_PARTY)],
)
def test_qualnames_are_cpythons(folder: Path) -> None:
    files, entry_points = project_sources([folder], None)
    by_file = scanned_qualnames(scan_sources(files, entry_points).document)
    assert by_file
    base = folder.parent if (folder / "__init__.py").exists() else folder
    for rel, qualnames in by_file.items():
        assert qualnames == cpython_qualnames(base / rel), rel


_WHERE = """
import importlib, json, sys
out = {}
for name in sys.argv[1:]:
    out[name] = importlib.import_module(name).__file__
print(json.dumps(out))
"""


@pytest.mark.parametrize("folder", PROGRAMS, ids=[p.name for p in PROGRAMS])
@pytest.mark.e2e  # starts a Python interpreter (tests/_tiers.py)
def test_module_names_are_the_import_systems(folder: Path) -> None:
    files, _ = project_sources([folder], None)
    names = {f.module: f.path for f in files}
    done = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(folder)!r})\n" + _WHERE,
         *sorted(names)],
        capture_output=True, check=True, cwd=CORPUS,
    )  # fmt: skip
    imported = json.loads(done.stdout)
    assert {name: Path(path) for name, path in imported.items()} == names
