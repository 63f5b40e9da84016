"""Discovery's compiled profiler (`stella_probe._cprofile`, ADR 0009) is built by the probe's
own build wherever there is a compiler, compiles warning-free against every Python the probe
supports, and records exactly what the pure-Python profiler (the oracle) records: the same
programs under both give the same symbols, callers, purls and counts, and the same manifests
but for times and pids."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from stella_probe._config import Config
from stella_probe._probe import Probe, compiled_profiler

from tests._compiler import COMPILER, needs_compiler
from tests.probe._probe import (
    ALL_PROFILERS,
    KINDS,
    MONITORING,
    PROFILERS,
    REPO,
    hook,
    layout,
    monitoring_pythons,
    outcome,
    pythons,
    run_probe,
    windows,
)
from tests.pyscan._corpus import PROGRAMS as CORPUS

#: Starts Python interpreters (the probe, another venv, a traced run): e2e, not unit
#: (tests/_tiers.py, docs/testing.md).
pytestmark = pytest.mark.e2e


PROGRAMS = Path(__file__).parent / "programs"
SOURCE = REPO / "probe" / "src" / "stella_probe" / "_cprofile.c"


#: manifest fields that differ between two runs of the same program whatever the profiler
#: (``profiler`` says which ran: checked on its own)
def both(
    options: list[str],
    program: list[str],
    cwd: Path,
    tmp_path: Path,
    python: str = sys.executable,
    env: dict[str, str] | None = None,
) -> dict[str, tuple[list[Any], list[dict[str, Any]]]]:
    """The same program run under each profiler this Python has (the setprofile ones, and on
    3.12+ the monitoring ones): what each recorded. Each run's manifests must name the
    profiler asked for (a silent fallback would make the comparison empty)."""
    names = list(PROFILERS)
    _, _, free, version = layout(python)
    if version >= (3, 12) and not free:
        names += list(MONITORING)
    built = compiled_profiler() is not None if python == sys.executable else True
    seen = {}
    for name in names:
        out = tmp_path / name
        done = run_probe(["--mode", "discovery", "--out", str(out), *options], program, cwd=cwd,
                         python=python, env={**(env or {}), **ALL_PROFILERS[name]})  # fmt: skip
        assert done.returncode == 0, done.stderr
        hook_name, compiled = KINDS[name]
        for window in windows(out):
            assert window.manifest["profiler"] == {
                "hook": hook_name,
                "compiled": compiled and built,
                "fallback": None,
            }, (name, window.manifest["profiler"])
        seen[name] = outcome(out)
    return seen


def same(seen: dict[str, tuple[list[Any], list[dict[str, Any]]]]) -> bool:
    """Every profiler recorded what the pure-Python setprofile one (the oracle) did."""
    return all(outcome == seen["python"] for outcome in seen.values())


@needs_compiler
def test_the_install_built_the_profiler() -> None:
    assert compiled_profiler() is not None, "make venv should have compiled _cprofile.c"


@needs_compiler
@pytest.mark.parametrize(("value", "kind"), [("1", "python"), ("yes", "python"),
                                             ("0", "compiled"), ("", "compiled")])  # fmt: skip
def test_the_switch(value: str, kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STELLA_PROBE_PURE_PYTHON", value)
    assert Probe(Config(mode="discovery")).profiler_kind == kind
    monkeypatch.delenv("STELLA_PROBE_PURE_PYTHON")
    assert Probe(Config(mode="discovery")).profiler_kind == "compiled"
    assert Probe(Config(mode="targeted")).profiler_kind == "python"  # targeted profiles nothing


#: A build of the profiler for a Python: the extension's path, or why it could not be made.
Build = tuple[Path, str | None]


@pytest.fixture(scope="module")
def strict_build(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Build]:
    """The profiler compiled once per Python with ``-Werror``, for the two tests that build
    it: a build that passes ``-Werror`` is the very build the flags make without it."""
    built: dict[str, Build] = {}

    def build(python: str) -> Build:
        if python not in built:
            include, suffix, _, _ = layout(python)
            target = tmp_path_factory.mktemp("cprofile") / f"_cprofile{suffix}"
            built[python] = (
                target,
                hook().compile_profiler(SOURCE, target, ["-Werror"], include=include),
            )
        return built[python]

    return build


@needs_compiler
@pytest.mark.parametrize("python", pythons(), ids=lambda p: Path(p).parts[-3])
def test_it_compiles_without_a_warning(python: str, strict_build: Callable[[str], Build]) -> None:
    free_threaded = layout(python)[2]
    problem = strict_build(python)[1]
    if free_threaded:  # refused by design: the pure-Python profiler serves there
        assert problem is not None and "free-threaded" in problem
    else:
        assert problem is None, problem


@pytest.mark.parametrize("program", CORPUS, ids=[p.name for p in CORPUS])
def test_the_same_records_on_the_scanners_corpus(program: Path, tmp_path: Path) -> None:
    seen = both([], [str(program / "main.py")], program, tmp_path)
    assert seen["compiled"][0], "the program ran: the probe saw it"
    assert same(seen)


def test_the_same_records_from_threads(tmp_path: Path) -> None:
    seen = both([], [str(PROGRAMS / "threads.py")], PROGRAMS, tmp_path)
    assert same(seen)
    assert seen["compiled"][1][-1]["counts"] == "exact"


def test_the_same_keys_kept_and_calls_counted_beyond_max_keys(tmp_path: Path) -> None:
    module = tmp_path / "mod" / "many_funcs.py"
    module.parent.mkdir()
    module.write_text("".join(f"def f{i:03d}():\n    return {i}\n\n\n" for i in range(300)))
    seen = both(["--max-keys", "50"], [str(PROGRAMS / "many.py"), str(module.parent)], PROGRAMS,
                tmp_path)  # fmt: skip
    assert same(seen)
    ((manifest,),) = (seen["compiled"][1],)
    assert manifest["counts"] == "incomplete" and manifest["calls_not_recorded"] >= 250 * 3


def test_the_same_internal_error_report(tmp_path: Path) -> None:
    seen = both([], [str(PROGRAMS / "breaks_probe.py")], PROGRAMS, tmp_path)
    assert same(seen)
    assert seen["compiled"][1][-1]["disabled"] is True
    assert "RuntimeError: relpath is broken" in seen["compiled"][1][-1]["error"]


def test_the_same_records_in_a_forked_child(tmp_path: Path) -> None:
    seen = both([], [str(PROGRAMS / "forks.py")], PROGRAMS, tmp_path)
    assert same(seen)
    assert len(seen["compiled"][1]) == 2  # the parent's window and the child's


@needs_compiler
@pytest.mark.slow
@pytest.mark.parametrize("python", pythons(), ids=lambda p: Path(p).parts[-3])
def test_the_same_records_on_every_python(
    python: str, tmp_path: Path, strict_build: Callable[[str], Build]
) -> None:
    """The version guards (frame API before and after 3.11, the 3.12+ profiler shim): the
    probe with an extension built for that Python records what its pure-Python one does; on
    3.12+ so do both sys.monitoring callbacks, for a forked child and an internal error too.
    (The whole corpus under both monitoring callbacks against the pure-Python profiler is
    tests/probe/test_identity.py's, a program per test.)"""
    include, suffix, free_threaded, version = layout(python)
    if free_threaded:
        pytest.skip("free-threaded: no compiled profiler by design")
    site = tmp_path / "site"
    shutil.copytree(REPO / "probe" / "src" / "stella_probe", site / "stella_probe",
                    ignore=shutil.ignore_patterns("*.so", "__pycache__"))  # fmt: skip
    extension = site / "stella_probe" / f"_cprofile{suffix}"
    built, problem = strict_build(python)
    if problem is None:
        shutil.copy2(built, extension)
    else:  # a warning (test_it_compiles_without_a_warning fails on it): the plain build
        problem = hook().compile_profiler(SOURCE, extension, include=include)
    assert problem is None, problem
    env = {"PYTHONPATH": str(site)}
    check = "from stella_probe._probe import compiled_profiler; print(compiled_profiler())"
    loaded = subprocess.run([python, "-S", "-c", check], env={**env, "PATH": ""},
                            capture_output=True, text=True, check=True)  # fmt: skip
    assert "_cprofile" in loaded.stdout, loaded.stdout
    picked = ("generators", "closures", "dynamic")
    runs = [(p / "main.py", p) for p in CORPUS if p.name in picked]
    runs.append((PROGRAMS / "threads.py", PROGRAMS))
    if version >= (3, 12):
        runs += [(PROGRAMS / "forks.py", PROGRAMS), (PROGRAMS / "breaks_probe.py", PROGRAMS)]
    for number, (script, cwd) in enumerate(runs):
        seen = both([], [str(script)], cwd, tmp_path / str(number), python=python, env=env)
        assert seen["compiled"][0] or script.name == "breaks_probe.py", script
        assert same(seen), (script, {n: o == seen["python"] for n, o in seen.items()})


STRESS = """
import gc, sys, threading
sys.path.insert(0, sys.argv[1])
import many_funcs

functions = [getattr(many_funcs, n) for n in dir(many_funcs) if n.startswith("f")]


def worker():
    for _ in range(3):
        for f in functions:
            f()
        gc.collect()


threads = [threading.Thread(target=worker) for _ in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()


def gen():
    yield 1
    yield 2


for _ in range(500):
    list(gen())
exec("def e():\\n    return functions[0]()\\ne()")
print("ok")
"""


def stress(folder: Path) -> None:
    (folder / "mod").mkdir()
    (folder / "mod" / "many_funcs.py").write_text(
        "".join(f"def f{i:04d}():\n    return {i}\n\n\n" for i in range(1500))
    )
    (folder / "stress.py").write_text(STRESS)


def test_the_same_records_from_threads_sharing_functions(tmp_path: Path) -> None:
    """Four threads calling the same 1,500 new functions resolve them at the same time: one
    Symbol per code object all the same (the resolver once made two, splitting a function's
    counts over two records with the same ids)."""
    stress(tmp_path)
    program = [str(tmp_path / "stress.py"), str(tmp_path / "mod")]
    seen = both(["--max-keys", "4000"], program, tmp_path, tmp_path)
    assert same(seen)
    records = seen["compiled"][0]
    assert len({(r[0], r[1]) for r in records}) == len(records) > 1500


def sanitizer_runtimes() -> list[str] | None:
    """gcc's ASan and UBSan runtimes, when the compiler the build uses is gcc (it names them)."""
    gcc = shutil.which(COMPILER)
    if gcc is None:
        return None
    found = [
        subprocess.run([gcc, f"-print-file-name={lib}"], capture_output=True, text=True,
                       check=True).stdout.strip()
        for lib in ("libasan.so", "libubsan.so")
    ]  # fmt: skip
    return found if all(Path(p).is_absolute() and Path(p).exists() for p in found) else None


@pytest.mark.slow
@pytest.mark.parametrize("python", [sys.executable, *monitoring_pythons()[:1]],
                         ids=lambda p: Path(p).parts[-3])  # fmt: skip
def test_under_address_and_undefined_behaviour_sanitizers(tmp_path: Path, python: str) -> None:
    """An ASan + UBSan build of the extension (Python's allocations through ASan's malloc)
    runs four threads growing their tables past the initial size with collections between,
    generators, exec'd code, the duty cycle's parking and re-arming, a fork and an internal
    error: no report, and the same records as the Python profiler. On 3.12+ the same for the
    monitoring callback (the duty cycle then runs on it: the default hook)."""
    runtimes = sanitizer_runtimes()
    if runtimes is None:
        pytest.skip(f"{COMPILER}: no libasan and libubsan (not gcc?)")
    include, suffix, _, _ = layout(python)
    site = tmp_path / "site"
    shutil.copytree(REPO / "probe" / "src" / "stella_probe", site / "stella_probe",
                    ignore=shutil.ignore_patterns("*.so", "__pycache__"))  # fmt: skip
    flags = ["-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined",
             "-fno-sanitize-recover=all"]  # fmt: skip
    target = site / "stella_probe" / f"_cprofile{suffix}"
    assert hook().compile_profiler(SOURCE, target, flags, include=include) is None
    stress(tmp_path)
    env = {"PYTHONPATH": str(site), "LD_PRELOAD": " ".join(runtimes), "PYTHONMALLOC": "malloc",
           "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0",
           "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1"}  # fmt: skip
    runs = [
        ([str(tmp_path / "stress.py"), str(tmp_path / "mod")], tmp_path, ["--max-keys", "4000"]),
        ([str(PROGRAMS / "forks.py")], PROGRAMS, []),
        ([str(PROGRAMS / "breaks_probe.py")], PROGRAMS, []),
    ]
    for number, (program, cwd, options) in enumerate(runs):
        seen = both(options, program, cwd, tmp_path / str(number), python=python, env=env)
        assert same(seen), program
    options = ["--mode", "discovery", "--sample", "0.2/0.1", "--out", str(tmp_path / "c")]
    cycled = run_probe(options, [str(PROGRAMS / "loop.py"), "1.2", "thread"], cwd=PROGRAMS,
                       python=python, env=env)  # fmt: skip
    assert cycled.returncode == 0 and "Sanitizer" not in cycled.stderr, cycled.stderr
    assert len(windows(tmp_path / "c")) >= 3
