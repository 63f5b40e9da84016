"""The compiled trace core is built by the package's own build wherever there is a compiler
(ADR 0008), and `STELLA_PURE_PYTHON` switches it off at run time."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from stella_signals.graph._compact import _compiled_core as _compiled_graph_core
from stella_signals.trace import trace_core
from stella_signals.trace._parse import _compiled_core
from tests._compiler import needs_compiler

ROOT = Path(__file__).resolve().parents[2]


@needs_compiler
def test_the_install_built_the_core() -> None:
    assert _compiled_core is not None, "make venv should have compiled _ctrace.c"
    assert _compiled_graph_core is not None, "make venv should have compiled _cgraph.c"


@pytest.mark.skipif(_compiled_core is None, reason="the compiled core is not built")
@pytest.mark.parametrize(("value", "expected"), [("1", "python"), ("yes", "python"),
                                                 ("0", "compiled"), ("", "compiled")])  # fmt: skip
def test_the_switch(value: str, expected: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STELLA_PURE_PYTHON", value)
    assert trace_core() == expected
    monkeypatch.delenv("STELLA_PURE_PYTHON")
    assert trace_core() == "compiled"


@pytest.mark.slow
def test_without_a_compiler_the_wheel_is_pure_python(tmp_path: Path) -> None:
    """No compiler: the build warns and goes on; the wheel holds no extension, is tagged for
    any platform, and its parser is the pure-Python one."""
    env = {**os.environ, "CC": str(tmp_path / "no-such-cc")}
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(tmp_path)],
        check=True, capture_output=True, timeout=600, env=env,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("stella_signals-*.whl")
    assert wheel.name.endswith("-py3-none-any.whl"), wheel.name
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        assert not [n for n in archive.namelist() if n.endswith((".so", ".pyd"))]
        archive.extractall(site)
    probe = "from stella_signals.trace import trace_core; print(trace_core())"
    done = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path[:0] = [{str(site)!r}]; {probe}"],
        check=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.stdout.strip() == "python"
