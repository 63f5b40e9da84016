"""Which files a scan reads: a project's tree, and the distributions an interpreter has
installed (asked from that interpreter, by each distribution's ``RECORD``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from stella_signals.errors import InvalidInput
from stella_signals.pyscan._naming import (
    generic_purl,
    module_name_from_path,
    normalise_dist,
    pypi_purl,
)

__all__ = [
    "Distribution",
    "SourceFile",
    "distribution_sources",
    "installed_distributions",
    "interpreter_for",
    "project_sources",
]

#: Directories never entered when walking a project.
_SKIPPED_DIRS = frozenset({"__pycache__", "node_modules", "site-packages"})
_QUERY_TIMEOUT = 120

#: Runs inside the target interpreter (any Python >= 3.8): standard library only.
_QUERY = r"""
import importlib.metadata as md, json, sys
out = []
for d in md.distributions():
    try:
        name = d.metadata["Name"]
        files = []
        for f in d.files or ():
            s = str(f).replace("\\", "/")
            if s.endswith(".py"):
                files.append([s, str(d.locate_file(f))])
        eps = [[e.name, e.value] for e in d.entry_points if e.group == "console_scripts"]
    except Exception:
        continue
    if name:
        out.append({"name": name, "version": d.version, "files": files, "scripts": eps})
json.dump(out, sys.stdout)
"""


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One ``.py`` file to scan and how its symbols are named (SPEC §14)."""

    path: Path
    #: ``/``-separated path shown in node attributes (relative to the project or site dir)
    rel: str
    module: str
    dist: str
    purl: str
    script: bool = False


@dataclass(frozen=True, slots=True)
class Distribution:
    name: str
    version: str
    #: (path relative to the site directory as RECORD writes it, absolute path)
    files: tuple[tuple[str, str], ...]
    #: console_scripts entry points: (name, "module:attr")
    scripts: tuple[tuple[str, str], ...]

    @property
    def dist(self) -> str:
        return normalise_dist(self.name)


def project_sources(paths: list[Path], purl: str | None) -> tuple[list[SourceFile], list[str]]:
    """The files of the project at ``paths`` and its declared entry points (``mod:attr``).

    A file given by itself is a script. In a directory, a module inside a package is named
    from the directory above its top package (``src/pkg/a.py`` → ``pkg.a``); any other
    file by its path relative to the directory given (``app/cli.py`` → ``app.cli``).
    """
    files: list[SourceFile] = []
    entry_points: list[str] = []
    for given in paths:
        path = given.resolve()
        if not path.exists():
            raise InvalidInput(f"{given}: no such file or directory", reason="not_found")
        folder = path if path.is_dir() else path.parent
        project_purl = purl or generic_purl(folder.name or "project")
        if path.is_file():
            root = _package_root(path.parent)
            module = module_name_from_path(path.relative_to(root).as_posix())
            if module is None:
                raise InvalidInput(f"{given}: not an importable .py file", reason="not_python")
            files.append(SourceFile(path, path.name, module, "", project_purl, script=True))
            continue
        base = _package_root(path)
        entry_points.extend(_declared_scripts(path))
        for file in _walk(path):
            in_package = (file.parent / "__init__.py").is_file()
            root = _package_root(file.parent) if in_package else base
            if not _inside(root, base):
                root = base
            module = module_name_from_path(file.relative_to(root).as_posix())
            if module is not None:
                rel = file.relative_to(base).as_posix()
                files.append(SourceFile(file, rel, module, "", project_purl))
    return files, entry_points


def _package_root(folder: Path) -> Path:
    """The first ancestor of ``folder`` (or itself) that is not a package."""
    while (folder / "__init__.py").is_file() and folder.parent != folder:
        folder = folder.parent
    return folder


def _inside(path: Path, base: Path) -> bool:
    return path == base or base in path.parents


def _walk(folder: Path) -> list[Path]:
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        dirnames[:] = sorted(
            d
            for d in dirnames
            if not d.startswith(".")
            and d not in _SKIPPED_DIRS
            and not (here / d / "pyvenv.cfg").exists()
        )
        found.extend(here / f for f in sorted(filenames) if f.endswith(".py"))
    return found


def _declared_scripts(folder: Path) -> list[str]:
    pyproject = folder / "pyproject.toml"
    if not pyproject.is_file():
        return []
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{pyproject}: {exc}", reason="invalid_pyproject") from exc
    project = data.get("project", {})
    out: list[str] = []
    for table in ("scripts", "gui-scripts"):
        scripts = project.get(table, {}) if isinstance(project, dict) else {}
        if isinstance(scripts, dict):
            out.extend(v for v in scripts.values() if isinstance(v, str))
    return out


def interpreter_for(python: Path | None) -> Path:
    """An interpreter path, or a virtual environment's directory → its interpreter."""
    if python is None:
        return Path(sys.executable)
    if python.is_dir():
        for candidate in (python / "bin" / "python", python / "Scripts" / "python.exe"):
            if candidate.exists():
                return candidate
        raise InvalidInput(f"{python}: a directory without bin/python", reason="no_interpreter")
    if not python.exists():
        raise InvalidInput(f"{python}: no such interpreter", reason="no_interpreter")
    return python


def installed_distributions(python: Path | None) -> list[Distribution]:
    """Ask ``python`` (isolated mode: no user site, no current directory) what it has installed.

    The first of several distributions of one (normalised) name wins, as import would."""
    interpreter = interpreter_for(python)
    try:
        done = subprocess.run(  # noqa: S603 - the user names the interpreter to inspect
            [str(interpreter), "-I", "-c", _QUERY],
            capture_output=True,
            timeout=_QUERY_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InvalidInput(f"{interpreter}: cannot run: {exc}", reason="no_interpreter") from exc
    if done.returncode != 0:
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:]
        raise InvalidInput(
            f"{interpreter}: listing distributions failed (exit {done.returncode}): "
            f"{' '.join(tail)}",
            reason="no_interpreter",
        )
    try:
        listed = json.loads(done.stdout)
        dists: dict[str, Distribution] = {}
        for item in listed:
            dist = Distribution(
                str(item["name"]),
                str(item["version"]),
                tuple((str(rel), str(path)) for rel, path in item["files"]),
                tuple((str(name), str(value)) for name, value in item["scripts"]),
            )
            dists.setdefault(dist.dist, dist)
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(
            f"{interpreter}: unexpected answer listing distributions: {exc}",
            reason="no_interpreter",
        ) from exc
    return [dists[name] for name in sorted(dists)]


def distribution_sources(dist: Distribution) -> list[SourceFile]:
    purl = pypi_purl(dist.name, dist.version)
    out: list[SourceFile] = []
    for rel, path in sorted(dist.files):
        if rel.startswith(("../", "/")):
            continue
        module = module_name_from_path(rel)
        if module is not None:
            out.append(SourceFile(Path(path), rel, module, dist.dist, purl))
    return out
