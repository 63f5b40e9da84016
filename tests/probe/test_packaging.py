"""`stella-probe` is a distribution of its own: its wheel holds the package and the
`stella_probe.pth` start-up hook, requires nothing (`cryptography` only through the optional
`sign` extra), and accepts Python 3.9."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests._compiler import COMPILER
from tests.probe._probe import REPO


@pytest.mark.slow
def test_the_wheel_has_the_hook_and_no_dependency(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check",
         "--no-deps", "--wheel-dir", str(tmp_path), str(REPO / "probe")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (wheel,) = tmp_path.glob("stella_probe-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = next(archive.read(n).decode() for n in names if n.endswith("/METADATA"))
    assert "stella_probe.pth" in names
    assert {"stella_probe/__init__.py", "stella_probe/__main__.py", "stella_probe/_hook.py",
            "stella_probe/_naming.py"} <= names  # fmt: skip
    assert "Requires-Python: >=3.9" in metadata
    # nothing required; only the optional `sign` extra (DSSE signing) pulls in cryptography
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert requires and all(
        line.startswith("Requires-Dist: cryptography") and "extra == 'sign'" in line
        for line in requires
    ), requires
    hook = (REPO / "probe" / "src" / "stella_probe.pth").read_text()
    assert hook.startswith("import ") and "STELLA_PROBE" in hook


@pytest.mark.slow
def test_the_wheel_has_the_compiled_profiler_or_none(tmp_path: Path) -> None:
    """With a compiler the wheel holds `stella_probe._cprofile` (tagged for this platform);
    without one the build warns and goes on: a pure wheel whose discovery mode runs the
    pure-Python profiler (docs/adr/0009)."""
    builds = {"without": {**os.environ, "CC": str(tmp_path / "no-such-cc")}}
    if shutil.which(COMPILER) is not None:
        builds["with"] = dict(os.environ)
    for name, env in builds.items():
        out = tmp_path / name
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check",
             "--no-deps", "--wheel-dir", str(out), str(REPO / "probe")],
            check=True, capture_output=True, timeout=300, env=env,
        )  # fmt: skip
        (wheel,) = out.glob("stella_probe-*.whl")
        with zipfile.ZipFile(wheel) as archive:
            compiled = [n for n in archive.namelist() if n.endswith((".so", ".pyd"))]
            assert not [n for n in archive.namelist() if n.endswith(".c")]
            archive.extractall(out / "site")
        kind = subprocess.run(
            [sys.executable, "-I", "-c", f"import sys; sys.path[:0] = [{str(out / 'site')!r}]; "
             "from stella_probe import Config, Probe; "
             "print(Probe(Config(mode='discovery')).profiler_kind)"],
            capture_output=True, text=True, check=True, timeout=120,
        ).stdout.strip()  # fmt: skip
        if name == "with":
            assert [Path(n).name.split(".")[0] for n in compiled] == ["_cprofile"], compiled
            assert not wheel.name.endswith("-none-any.whl"), wheel.name
            assert kind == "compiled"
        else:
            assert not compiled and wheel.name.endswith("-py3-none-any.whl"), wheel.name
            assert kind == "python"
