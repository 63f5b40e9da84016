"""Running real programs under the probe (subprocesses) and reading what it wrote."""

from __future__ import annotations

import functools
import gzip
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[2]
PROBE_SRC = REPO / "probe" / "src"
#: discovery's setprofile profilers: the compiled one and the pure-Python one (the oracle)
PROFILERS = {
    "compiled": {"STELLA_PROBE_HOOK": "setprofile"},
    "python": {"STELLA_PROBE_HOOK": "setprofile", "STELLA_PROBE_PURE_PYTHON": "1"},
}
#: discovery's sys.monitoring callbacks (Python >= 3.12): the compiled one and the closure
MONITORING = {
    "monitoring": {"STELLA_PROBE_HOOK": "monitoring"},
    "monitoring-python": {"STELLA_PROBE_HOOK": "monitoring", "STELLA_PROBE_PURE_PYTHON": "1"},
}
#: what each profiler's manifests say it was: (hook, compiled)
KINDS = {
    "compiled": ("setprofile", True),
    "python": ("setprofile", False),
    "monitoring": ("monitoring", True),
    "monitoring-python": ("monitoring", False),
}


def pythons() -> list[str]:
    """Every CPython 3.9+ on this machine with its headers: this one, and pyenv's."""
    found = {f"{sys.version_info[0]}.{sys.version_info[1]}": sys.executable}
    for candidate in sorted(Path("/root/.pyenv/versions").glob("3.*/bin/python")):
        version = candidate.parent.parent.name.rsplit(".", 1)[0]
        if version not in found and tuple(map(int, version.split("."))) >= (3, 9):
            found[version] = str(candidate)
    return [found[v] for v in sorted(found, key=lambda v: tuple(map(int, v.split("."))))]


@functools.cache
def layout(python: str) -> tuple[str, str, bool, tuple[int, int]]:
    """(include directory, extension suffix, free-threaded, version) of an interpreter."""
    query = ("import sys, sysconfig; print(sysconfig.get_paths()['include']); "
             "print(sysconfig.get_config_var('EXT_SUFFIX')); "
             "print(bool(sysconfig.get_config_var('Py_GIL_DISABLED'))); "
             "print(*sys.version_info[:2])")  # fmt: skip
    done = subprocess.run([python, "-c", query], capture_output=True, text=True, check=True)
    include, suffix, free, version = done.stdout.split("\n")[:4]
    major, minor = map(int, version.split())
    return include, suffix, free == "True", (major, minor)


def monitoring_pythons() -> list[str]:
    """The Pythons on this machine whose discovery mode can use sys.monitoring (3.12+, GIL)."""
    found = []
    for python in pythons():
        _, _, free, version = layout(python)
        if version >= (3, 12) and not free:
            found.append(python)
    return found


def hook() -> ModuleType:
    """probe/hatch_build.py (its compiler command; hatchling need not be installed)."""
    spec = importlib.util.spec_from_file_location(
        "probe_hatch_build", REPO / "probe/hatch_build.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def probe_site(python: str, site: Path, flags: list[str] | None = None) -> str | None:
    """A copy of the probe in ``site`` with its extension compiled for ``python``: None, or
    why the extension could not be built (the copy then runs the pure-Python profilers)."""
    shutil.copytree(REPO / "probe" / "src" / "stella_probe", site / "stella_probe",
                    ignore=shutil.ignore_patterns("*.so", "__pycache__"))  # fmt: skip
    include, suffix, _, _ = layout(python)
    source = REPO / "probe" / "src" / "stella_probe" / "_cprofile.c"
    target = site / "stella_probe" / f"_cprofile{suffix}"
    return hook().compile_profiler(source, target, flags, include=include)  # type: ignore[no-any-return]


@dataclass
class Window:
    path: Path
    manifest: dict[str, Any]
    records: list[dict[str, Any]]


def probe_env(**extra: str) -> dict[str, str]:
    """The probe importable without site-packages (``-S``): only the program, the standard
    library and the probe run, as in a service's own bare environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STELLA_PROBE", "PYTHON"))}
    env["PYTHONPATH"] = str(PROBE_SRC)
    env.update(extra)
    return env


def run_probe(
    options: list[str],
    program: list[str],
    *,
    cwd: Path,
    python: str = sys.executable,
    timeout: float = 60,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``env``: more variables (``PROFILERS[...]``, another ``PYTHONPATH``)."""
    return subprocess.run(
        [python, "-S", "-m", "stella_probe", "run", *options, "--", *program],
        cwd=cwd, env=probe_env(**(env or {})), capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def windows(out: Path) -> list[Window]:
    found = []
    for manifest_path in sorted(out.glob("window-*/probe-manifest.json")):
        manifest = json.loads(manifest_path.read_text())
        trace = manifest_path.parent / "runtime-trace.ndjson.gz"
        records = []
        if trace.exists():
            records = [
                json.loads(line) for line in gzip.decompress(trace.read_bytes()).splitlines()
            ]
        found.append(Window(manifest_path.parent, manifest, records))
    return found


def records(out: Path) -> list[dict[str, Any]]:
    return [r for w in windows(out) for r in w.records]


#: every discovery profiler, by name
ALL_PROFILERS = {**PROFILERS, **MONITORING}


@dataclass(frozen=True)
class Variant:
    """One discovery profiler under one Python: this one's setprofile profilers, and the
    monitoring callbacks of every Python 3.12+ on the machine (docs/adr/0009)."""

    python: str
    name: str
    env: dict[str, str]

    @property
    def version(self) -> tuple[int, int]:
        return layout(self.python)[3]

    def run(
        self, options: list[str], program: list[str], *, cwd: Path, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return run_probe(options, program, cwd=cwd, python=self.python, env=self.env,
                         timeout=timeout)  # fmt: skip


def variants() -> list[tuple[str, str]]:
    """(python, profiler name) of every variant this machine can run."""
    found = [(sys.executable, name) for name in PROFILERS]
    found += [(python, name) for python in monitoring_pythons() for name in MONITORING]
    return found


def variant_id(variant: tuple[str, str]) -> str:
    version = ".".join(map(str, layout(variant[0])[3]))
    return f"{version}-{variant[1]}"


#: Manifest fields that differ between two runs of the same program (times, pids, digests of
#: files holding them) and the profiler, which each comparison asserts on its own.
VARYING = {"window", "pid", "trace_sha256", "profiler"}


def outcome(out: Path) -> tuple[list[Any], list[dict[str, Any]]]:
    """What a run recorded, without what varies between runs (times, pids)."""
    found = windows(out)
    records = sorted(
        (r["symbol_id"], r.get("caller_symbol_id") or "", r["purl"], r["count"], r["process_name"])
        for w in found
        for r in w.records
    )
    manifests = [{k: v for k, v in w.manifest.items() if k not in VARYING} for w in found]
    return records, manifests
