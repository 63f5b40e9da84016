"""Run a corpus program under `sys.setprofile` and report the Python-to-Python calls that
really happened, named as SPEC §14 names them (display `module.qualname`).

Used by the independent corpus to check its hand-written graphs against run time. Run as
`python _tracer.py FOLDER`: executes `FOLDER/main.py` as `__main__` (named `main`, as a script
given alone is) and prints the observed edges as JSON on the last line of stdout.

Conventions, as docs/graphs.md documents them for the scanner:
- module-level code and class bodies are never callees (importing is not a call, defining a
  class is not a call), but they are callers (module `m`, class body `m.C`);
- comprehension and generator-expression frames are not nodes: their calls belong to the
  function around them;
- a call made by code outside the program (the standard library, `functools`, `contextlib`)
  is attributed to the nearest program frame that led to it (the code that handed the
  callable over).
"""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path
from types import FrameType
from typing import Any

_COMPREHENSIONS = {"<listcomp>", "<setcomp>", "<dictcomp>", "<genexpr>"}
_CO_OPTIMIZED = 0x0001


def _display(frame: FrameType) -> str:
    module = frame.f_globals.get("__name__", "?")
    if module == "__main__":
        module = "main"
    qualname = frame.f_code.co_qualname.replace(".<locals>", "")
    return module if qualname == "<module>" else f"{module}.{qualname}"


def trace(folder: Path) -> set[tuple[str, str]]:
    root = str(folder.resolve())
    edges: set[tuple[str, str]] = set()

    def inside(frame: FrameType) -> bool:
        return frame.f_code.co_filename.startswith(root + "/")

    def caller_of(frame: FrameType) -> FrameType | None:
        up = frame.f_back
        while up is not None and (not inside(up) or up.f_code.co_name in _COMPREHENSIONS):
            up = up.f_back
        return up

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event != "call" or not inside(frame):
            return
        code = frame.f_code
        if code.co_name in _COMPREHENSIONS or not code.co_flags & _CO_OPTIMIZED:
            return  # comprehension, module-level code or class body: not a callee
        caller = caller_of(frame)
        if caller is not None:
            edges.add((_display(caller), _display(frame)))

    sys.path.insert(0, root)
    sys.setprofile(profile)
    try:
        runpy.run_path(str(Path(root) / "main.py"), run_name="__main__")
    finally:
        sys.setprofile(None)
    return edges


if __name__ == "__main__":
    observed = trace(Path(sys.argv[1]))
    print("\n" + json.dumps(sorted(observed)))  # the last line: the program may print too
