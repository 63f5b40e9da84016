"""The probe names symbols exactly as the scanner does (SPEC §14): the same functions give the
same ids, and every program of the scanner's corpus, run under the probe in discovery mode,
yields symbols that all map onto the scanner's graph and edges that are all in it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import stella_probe._naming as probe_naming
from hypothesis import given
from hypothesis import strategies as st
from stella_probe._identity import container_id

import stella_signals.pyscan._naming as scan_naming
from tests.probe._probe import (
    ALL_PROFILERS,
    KINDS,
    monitoring_pythons,
    outcome,
    records,
    run_probe,
    windows,
)
from tests.pyscan._corpus import PROGRAMS, call_edges, expected, scan_dir

#: Starts Python interpreters (the probe, another venv, a traced run): e2e, not unit
#: (tests/_tiers.py, docs/testing.md).
pytestmark = pytest.mark.e2e


NAMES = st.text(st.characters(codec="utf-8", exclude_characters="\0"), max_size=40)
SEGMENT = st.sampled_from(["f", "<locals>", "<lambda>", "<listcomp>", "C", "ü", "_x", "<module>"])


def test_the_probe_mirrors_every_naming_function() -> None:
    assert probe_naming.__all__ == scan_naming.__all__


@given(NAMES, NAMES, NAMES)
def test_same_ids_and_names(dist: str, module: str, qualname: str) -> None:
    assert probe_naming.symbol_id(dist, module, qualname) == scan_naming.symbol_id(
        dist, module, qualname
    )
    assert probe_naming.display_name(module, qualname) == scan_naming.display_name(module, qualname)
    assert probe_naming.normalise_dist(dist) == scan_naming.normalise_dist(dist)
    assert probe_naming.pypi_purl(dist, module) == scan_naming.pypi_purl(dist, module)
    assert probe_naming.generic_purl(dist) == scan_naming.generic_purl(dist)
    assert probe_naming.module_name_from_path(module) == scan_naming.module_name_from_path(module)


@given(st.lists(SEGMENT, min_size=1, max_size=6))
def test_same_qualnames(parts: list[str]) -> None:
    raw = ".".join(parts)
    assert probe_naming.clean_qualname(raw) == scan_naming.clean_qualname(raw)


def test_known_ids() -> None:
    """Pinned values: a change to either side that changes ids fails here, not only in sync."""
    assert probe_naming.symbol_id("", "main", "main") == (
        "sym:python:" + scan_naming.symbol_id("", "main", "main").split(":", 2)[2]
    )
    assert probe_naming.clean_qualname("f.<locals>.<listcomp>.<locals>.<lambda>") == (
        "f.<listcomp>.<lambda>"
    )


#: Edges the probe saw that no static graph can hold, by design of the corpus program:
#: ``getattr(robot, action)()`` with the name only known at run time.
DYNAMIC_EDGES = {"dynamic": {("main.command", "main.Robot.talk")}}


def maps_onto_the_scanners_graph(program: Path, seen: list[dict[str, Any]]) -> None:
    """Every symbol the probe saw is a node of the scanner's graph of ``program``, and every
    edge is in it and in the human-written expected graph (dynamic precision 1.0)."""
    document = scan_dir(program)
    display = {node["id"]: node["display"] for node in document["nodes"]}
    assert seen, "the program ran: the probe saw it"
    assert {r["symbol_id"] for r in seen} <= set(display)  # every symbol maps
    assert {r["purl"] for r in seen} == {f"pkg:generic/{program.name}"}
    observed = {(display[r["caller_symbol_id"]], display[r["symbol_id"]])
                for r in seen if "caller_symbol_id" in r}  # fmt: skip
    want = {tuple(edge) for edge in expected(program)["edges"]}
    assert observed - want == DYNAMIC_EDGES.get(program.name, set())  # dynamic precision 1.0
    assert observed - call_edges(document) == DYNAMIC_EDGES.get(program.name, set())
    # most of what the human expects ran and was seen (edges guarded by branches may not)
    assert len(observed & want) >= len(want) // 2


@pytest.mark.parametrize("program", PROGRAMS, ids=[p.name for p in PROGRAMS])
def test_discovery_on_the_corpus_maps_onto_the_scanners_graph(
    program: Path, tmp_path: Path
) -> None:
    done = run_probe(["--mode", "discovery", "--out", str(tmp_path)], [str(program / "main.py")],
                     cwd=program)  # fmt: skip
    assert done.returncode == 0, done.stderr
    maps_onto_the_scanners_graph(program, records(tmp_path))


@pytest.mark.parametrize("python", monitoring_pythons(), ids=lambda p: Path(p).parts[-3])
@pytest.mark.parametrize("program", PROGRAMS, ids=[p.name for p in PROGRAMS])
def test_monitoring_on_the_corpus_records_what_setprofile_does(
    program: Path, python: str, tmp_path: Path, site_for: Callable[[str], dict[str, str]]
) -> None:
    """Python 3.12+: discovery's default hook, sys.monitoring (its compiled callback and its
    closure), records and reports exactly what the pure-Python setprofile profiler (the
    oracle) does -- records, process names and every manifest field but the profiler's own,
    which must name the profiler asked for (no silent fallback) -- and so maps onto the
    scanner's graph the same way."""
    seen = {}
    for name in ("python", "monitoring", "monitoring-python"):
        out = tmp_path / name
        done = run_probe(["--mode", "discovery", "--out", str(out)], [str(program / "main.py")],
                         cwd=program, python=python,
                         env={**site_for(python), **ALL_PROFILERS[name]})  # fmt: skip
        assert done.returncode == 0, done.stderr
        hook, compiled = KINDS[name]
        for window in windows(out):
            assert window.manifest["profiler"] == {
                "hook": hook, "compiled": compiled, "fallback": None,
            }, (name, window.manifest["profiler"])  # fmt: skip
        seen[name] = outcome(out)
    assert seen["monitoring"] == seen["python"]
    assert seen["monitoring-python"] == seen["python"]
    maps_onto_the_scanners_graph(program, records(tmp_path / "monitoring"))


def test_module_level_code_has_no_caller(tmp_path: Path) -> None:
    program = next(p for p in PROGRAMS if p.name == "imports")
    done = run_probe(["--mode", "discovery", "--out", str(tmp_path)], [str(program / "main.py")],
                     cwd=program)  # fmt: skip
    assert done.returncode == 0, done.stderr
    display = {n["id"]: n for n in scan_dir(program)["nodes"]}
    for record in records(tmp_path):
        if display[record["symbol_id"]]["kind"] == "module":
            assert "caller_symbol_id" not in record


def older_python() -> str | None:
    for version in ("3.9", "3.10"):
        for candidate in (
            f"python{version}",
            *Path("/root/.pyenv/versions").glob(f"{version}.*/bin/python"),
        ):
            try:
                done = subprocess.run(
                    [str(candidate), "-c", "pass"], capture_output=True, check=False
                )
            except OSError:
                continue
            if done.returncode == 0:
                return str(candidate)
    return None


def test_python_39_names_like_311(tmp_path: Path) -> None:
    """Before 3.11 code objects have no co_qualname: the probe's fallback gives the same ids."""
    old = older_python()
    if old is None:
        pytest.skip("no Python < 3.11 on this machine")
    program = next(p for p in PROGRAMS if p.name == "closures")
    ids = []
    for python, out in ((sys.executable, tmp_path / "new"), (old, tmp_path / "old")):
        done = run_probe(["--mode", "discovery", "--out", str(out)], [str(program / "main.py")],
                         cwd=program, python=python)  # fmt: skip
        assert done.returncode == 0, done.stderr
        ids.append({(r["symbol_id"], r.get("caller_symbol_id")) for r in records(out)})
    assert ids[0] == ids[1]


def test_container_id_from_cgroup_text() -> None:
    cid = "3f4e" * 16
    assert container_id(f"0::/system.slice/docker-{cid}.scope\n") == cid
    assert container_id(f"12:memory:/kubepods/burstable/pod1/{cid}\n1:name=systemd:/\n") == cid
    assert container_id("0::/user.slice/user-1000.slice/session-2.scope\n") is None


def test_run_as_module_names_like_run_as_script(tmp_path: Path) -> None:
    program = next(p for p in PROGRAMS if p.name == "closures")
    seen = []
    for out, command in ((tmp_path / "script", [str(program / "main.py")]),
                         (tmp_path / "module", ["-m", "main"])):  # fmt: skip
        done = run_probe(["--mode", "discovery", "--out", str(out)], command, cwd=program)
        assert done.returncode == 0, done.stderr
        seen.append({(r["symbol_id"], r.get("caller_symbol_id")) for r in records(out)})
    assert seen[0] == seen[1]
