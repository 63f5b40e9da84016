"""The fuzz harnesses (``fuzz/``) as tests: (a) every input that once crashed a parser
(``fuzz/regressions/<name>/``, kept forever) and every seed (``fuzz/corpus/<name>/``) replayed
through its harness, which asserts the parser contract; (b) a short libFuzzer pass per
harness, in a subprocess, that must exit 0."""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

FUZZ = Path(__file__).resolve().parents[2] / "fuzz"
if str(FUZZ) not in sys.path:
    sys.path.insert(0, str(FUZZ))  # the harnesses import their shared `_harness` module


def _load_runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("stella_fuzz_runner", FUZZ / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


runner = _load_runner()
HARNESSES: list[str] = runner.harness_names()
#: Replaying one input, uninstrumented, takes milliseconds; this catches a hang.
SECONDS_PER_INPUT = 5.0
CI_RUNS = 300


def test_every_parser_has_a_harness() -> None:
    assert HARNESSES == sorted(
        [
            "bundle_archive",
            "bundle_manifest",
            "cgraph",
            "ctrace",
            "dsse",
            "graph",
            "symbols",
            "timeanchor",
            "trace",
        ]
    )


def _harness(name: str) -> Callable[[bytes], None]:
    entry: Callable[[bytes], None] = importlib.import_module(f"fuzz_{name}").test_one_input
    return entry


def _inputs(name: str) -> list[Path]:
    folders = (FUZZ / "regressions" / name, FUZZ / "corpus" / name)
    return sorted(p for folder in folders if folder.is_dir() for p in folder.iterdir())


@pytest.mark.parametrize("name", HARNESSES)
def test_regressions_and_seeds_keep_the_contract(name: str) -> None:
    inputs = _inputs(name)
    assert inputs, f"no seeds for {name}: run fuzz/make_corpus.py"
    harness = _harness(name)
    for path in inputs:
        started = time.monotonic()
        harness(path.read_bytes())  # raises on a contract violation
        elapsed = time.monotonic() - started
        assert elapsed < SECONDS_PER_INPUT, f"{path.name} took {elapsed:.1f} s"


def test_regression_folders_belong_to_harnesses() -> None:
    folder = FUZZ / "regressions"
    names = {p.name for p in folder.iterdir() if p.is_dir()} if folder.is_dir() else set()
    assert names <= set(HARNESSES)


@pytest.mark.system
@pytest.mark.parametrize("name", HARNESSES)
def test_short_libfuzzer_pass(name: str, tmp_path: Path) -> None:
    command = runner.libfuzzer_command(
        name,
        [tmp_path / "corpus", FUZZ / "corpus" / name],
        artifacts=tmp_path,
        flags=[f"-runs={CI_RUNS}", "-seed=1"],
    )
    (tmp_path / "corpus").mkdir()
    done = subprocess.run(command, capture_output=True, check=False, timeout=120)
    output = (done.stdout + done.stderr).decode(errors="replace")
    assert done.returncode == 0, output[-4000:]
    assert runner.executed_units(done.stdout + done.stderr) >= CI_RUNS, output[-2000:]
