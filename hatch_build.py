"""Build hook: compile the trace core (`src/stella_signals/trace/_ctrace.c`, ADR 0008) and
the graph-import core (`src/stella_signals/graph/_cgraph.c`, ADR 0011).

Runs for every wheel hatchling builds, the editable one of ``make venv`` included, with the
compiler ``CC`` names, else the one the running Python was built with (``sysconfig``). No
compiler, or a failed compile, is a warning, never a failed install: the pure-Python parser
then serves (`stella_signals.trace.trace_core()` says which one runs; for graphs,
`stella_signals.graph._compact.graph_core()`).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sysconfig
import tempfile
import warnings
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

#: The extension modules: (source, package directory, what it is, what serves without it).
MODULES = [
    (
        Path("src/stella_signals/trace/_ctrace.c"),
        "stella_signals/trace",
        "the compiled trace core",
        "pure-Python parser",
    ),
    (
        Path("src/stella_signals/graph/_cgraph.c"),
        "stella_signals/graph",
        "_cgraph.c",
        "pure-Python graph import",
    ),
]
FLAGS = [
    "-O2",
    "-fPIC",
    "-shared",
    "-std=gnu11",
    "-pthread",
    "-Wall",
    "-Wextra",
    "-fvisibility=hidden",
]


def compile_core(source: Path, target: Path, extra: list[str] | None = None) -> str | None:
    """Compile ``source`` to the extension module ``target``; None, or why it could not."""
    cc = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")
    if not cc or shutil.which(cc[0]) is None:
        return f"no C compiler ({cc[0] if cc else 'CC unset'})"
    include = sysconfig.get_paths()["include"]
    if not Path(include, "Python.h").is_file():
        return f"no Python headers in {include}"
    command = [*cc, *FLAGS, *(extra or []), f"-I{include}", str(source), "-o", str(target)]
    try:
        done = subprocess.run(  # noqa: S603 - the compiler sysconfig names, our own source
            command, capture_output=True, text=True, timeout=300, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{shlex.join(command)}: {exc}"
    if done.returncode != 0:
        return f"{shlex.join(command)} failed:\n{done.stderr[-4000:]}"
    return None


def module_name(stem: str) -> str:
    return stem + (sysconfig.get_config_var("EXT_SUFFIX") or ".so")


class CompiledTraceCore(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        for module_source, package_dir, what, fallback in MODULES:
            source = Path(self.root) / module_source
            name = module_name(source.stem)
            if version == "editable":  # next to the source: the editable install's path finds it
                target = source.with_name(name)
            else:
                target = Path(tempfile.mkdtemp(prefix=f"{source.stem}-")) / name
            problem = compile_core(source, target)
            if problem is not None:
                warnings.warn(
                    f"stella-signals: {what} was not built ({problem}); the {fallback} "
                    "will be used",
                    stacklevel=1,
                )
                continue
            build_data["pure_python"] = False
            build_data["infer_tag"] = True
            if version != "editable":
                build_data["force_include"][str(target)] = f"{package_dir}/{target.name}"
