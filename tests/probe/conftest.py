"""The probe under test is this repository's (``probe/src``), whether or not the venv has it
installed (``make venv`` does, editable)."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests._compiler import COMPILER
from tests.probe._probe import ALL_PROFILERS, Variant, probe_site, variant_id, variants

PROBE_SRC = str(Path(__file__).resolve().parents[2] / "probe" / "src")
if PROBE_SRC not in sys.path:
    sys.path.insert(0, PROBE_SRC)


@pytest.fixture(scope="session")
def site_for(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], dict[str, str]]:
    """The environment that runs this repository's probe, its extension built for it, under
    a given Python (built once per Python; this interpreter's is the install's own)."""
    built: dict[str, dict[str, str]] = {}

    def site(python: str) -> dict[str, str]:
        if python == sys.executable:
            return {}
        if python not in built:
            folder = tmp_path_factory.mktemp("probe-site")
            problem = probe_site(python, folder)
            if problem is not None and shutil.which(COMPILER) is None:
                pytest.skip(problem)
            assert problem is None, problem
            built[python] = {"PYTHONPATH": str(folder)}
        return built[python]

    return site


@pytest.fixture(params=variants(), ids=variant_id)
def profiler(request: pytest.FixtureRequest, site_for: Callable[[str], dict[str, str]]) -> Variant:
    """Each discovery profiler in turn: this Python's setprofile ones, every 3.12+'s
    monitoring ones."""
    python, name = request.param
    return Variant(python, name, {**site_for(python), **ALL_PROFILERS[name]})
