"""A scan: read the files, two passes, a richgraph-v1 document (SPEC §3, §14).

Each file is parsed once and its tree dropped at once: the first pass keeps only each
module's `ModuleSummary` (definitions, bindings, returns and its call sites as small
symbolic tuples); the second resolves each module's call sites against all summaries and
drops them. Memory grows with the number of definitions and call sites, never with trees.
"""

from __future__ import annotations

import ast
import multiprocessing
import os
import sys
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from stella_signals import __version__
from stella_signals.pyscan._naming import display_name, symbol_id
from stella_signals.pyscan._resolve import Resolver
from stella_signals.pyscan._sources import Distribution, SourceFile, distribution_sources
from stella_signals.pyscan._summary import ModuleSummary
from stella_signals.pyscan._walker import ModuleWalker

__all__ = ["ANALYZER_NAME", "ScanResult", "scan_sources"]

ANALYZER_NAME = "stella-pyscan"
#: Files from which the first pass runs in worker processes, how many, files per task.
_PARALLEL_FROM = 200
_MAX_WORKERS = 4
_CHUNK = 16


@dataclass(slots=True)
class ScanResult:
    document: dict[str, Any]
    files: int = 0
    lines: int = 0
    skipped: Counter[str] = field(default_factory=Counter)


def summarise(source: SourceFile) -> ModuleSummary | str:
    """The first pass over one file: its summary, or why it was skipped. The tree lives
    only inside this call."""
    try:
        data = source.path.read_bytes()
    except OSError:
        return "unreadable_files"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarning of odd escapes in third-party code
            tree = ast.parse(data, filename=str(source.path))
    except (SyntaxError, ValueError, RecursionError):
        return "syntax_errors"
    summary = ModuleSummary(
        source.module, source.dist, source.purl, source.rel, source.path.name == "__init__.py"
    )
    summary.lines = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
    try:
        ModuleWalker(summary).walk(tree)
    except RecursionError:  # expressions nested deeper than the walker follows
        return "too_deeply_nested"
    return summary


def _summaries(sources: list[SourceFile]) -> Iterator[ModuleSummary | str]:
    """`summarise` each file, in order; in worker processes when there are many files and
    more than one CPU (parsing is most of a scan's time)."""
    workers = min(os.cpu_count() or 1, _MAX_WORKERS)
    if workers < 2 or len(sources) < _PARALLEL_FROM or sys.platform != "linux":
        yield from map(summarise, sources)
        return
    # fork: the workers are this process's children (their CPU and memory are accounted to
    # it) and start at once; the scan runs in a single-threaded CLI.
    context = multiprocessing.get_context("fork")
    with context.Pool(workers) as pool:
        yield from pool.imap(summarise, sources, chunksize=_CHUNK)


def scan_sources(
    project: Sequence[SourceFile],
    entry_points: Sequence[str] = (),
    distributions: Sequence[Distribution] = (),
) -> ScanResult:
    """Scan ``project`` files (and every file of ``distributions``) into a graph."""
    result = ScanResult({})
    sources: dict[str, SourceFile] = {}
    scripts: list[str] = []
    ordered = sorted(project, key=lambda s: (s.module, s.rel))
    for dist in sorted(distributions, key=lambda d: (d.dist, d.version)):
        ordered.extend(distribution_sources(dist))
    for source in ordered:  # the project first, then distributions by name: first one wins
        if source.module in sources:
            result.skipped["duplicate_modules"] += 1
            continue
        sources[source.module] = source
    modules: dict[str, ModuleSummary] = {}
    names = sorted(sources)
    for name, summary in zip(names, _summaries([sources[n] for n in names]), strict=True):
        if isinstance(summary, str):
            result.skipped[summary] += 1
            continue
        source = sources[name]
        modules[name] = summary
        result.files += 1
        result.lines += summary.lines
        if source.script or summary.has_main_guard or source.path.name == "__main__.py":
            scripts.append(name)
    resolver = Resolver(modules)
    for name in sorted(modules):
        resolver.replay(modules[name])
    resolver.finish()
    declared = list(entry_points)
    for dist in distributions:
        declared.extend(value for _, value in dist.scripts)
    result.document = _document(modules, resolver, scripts, declared, result)
    return result


def _node_id(modules: dict[str, ModuleSummary], m: str, q: str) -> str:
    return symbol_id(modules[m].dist, m, q)


def _document(
    modules: dict[str, ModuleSummary],
    resolver: Resolver,
    scripts: list[str],
    entry_points: list[str],
    result: ScanResult,
) -> dict[str, Any]:
    nodes: list[dict[str, Any]] = []
    roots: list[dict[str, Any]] = []
    for m in sorted(modules):
        summary = modules[m]
        module_id = _node_id(modules, m, "")
        nodes.append(_node(module_id, "module", summary, "", 1))
        roots.append({"id": module_id, "phase": "load", "source": "module"})
        for q, info in summary.defs.items():
            nodes.append(_node(_node_id(modules, m, q), info.kind, summary, q, info.line))
    for m in scripts:
        roots.append({"id": _node_id(modules, m, ""), "phase": "runtime", "source": "script"})
    for value in sorted(set(entry_points)):
        target = _entry_point(modules, value)
        if target is not None:
            roots.append({"id": target, "phase": "runtime", "source": "entry_point"})
    for m in sorted(modules):  # decorators of the project's own code only (see `_walker`)
        for q, info in modules[m].defs.items():
            registrar = resolver.registering_decorator(m, info.decorators)
            if registrar:
                node = _node_id(modules, m, q)
                roots.append({"id": node, "phase": "runtime", "source": f"decorator:{registrar}"})
    edges = {
        (_node_id(modules, *caller), _node_id(modules, *callee), "call")
        for caller, callee in resolver.edges
    }
    for m in sorted(modules):
        for imported in modules[m].imports:
            if imported in modules and imported != m:
                edges.add((_node_id(modules, m, ""), _node_id(modules, imported, ""), "import"))
    unresolved = dict(sorted(resolver.unresolved.items()))
    return {
        "schema": "richgraph-v1",
        "analyzer": {
            "name": ANALYZER_NAME,
            "version": __version__,
            "python": f"{sys.version_info.major}.{sys.version_info.minor}",
            "modules": len(modules),
            "lines": result.lines,
            "call_sites": resolver.call_sites,
            "unresolved": unresolved,
            "skipped": dict(sorted(result.skipped.items())),
        },
        "nodes": nodes,
        "edges": [{"from": a, "to": b, "kind": k} for a, b, k in sorted(edges)],
        "roots": roots,
    }


def _node(node_id: str, kind: str, summary: ModuleSummary, q: str, line: int) -> dict[str, Any]:
    return {
        "id": node_id,
        "symbol_id": node_id,
        "lang": "python",
        "kind": kind,
        "display": display_name(summary.name, q),
        "purl": summary.purl,
        "attributes": {"file": summary.path, "line": line},
    }


def _entry_point(modules: dict[str, ModuleSummary], value: str) -> str | None:
    """``module:attr.path [extras]`` → the node it names, when scanned."""
    spec = value.split("[", 1)[0].strip()
    module, _, attr = spec.partition(":")
    module, attr = module.strip(), attr.strip()
    summary = modules.get(module)
    if summary is None:
        return None
    if not attr:
        return _node_id(modules, module, "")
    return _node_id(modules, module, attr) if attr in summary.defs else None
