"""Issue 15 item 6: the product wheel carries the product only. The synthetic generator
(`stella_signals_dev`) stays in the repository; from a product install the developer commands
say in one line that they need it, and the dev install (`make venv`) runs them."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stella_signals.cli.stella import app as stella_app
from tests._compiler import needs_compiler

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
MISSING = "needs the developer tools (stella_signals_dev)"


@dataclass(frozen=True)
class ProductInstall:
    wheel: Path
    python: Path

    def run(self, cwd: Path, script: str, *args: str) -> subprocess.CompletedProcess[str]:
        """Run console script ``script`` (``stella`` or ``signals``) of the product install."""
        code = f"from stella_signals.cli.{script} import main; main()"
        return subprocess.run(
            [str(self.python), "-c", code, *args],
            cwd=cwd, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> ProductInstall:
    """The wheel `python -m build` makes (the sdist, then the wheel built from the unpacked
    sdist, as a packager does; with the dev venv's hatchling, so nothing is downloaded),
    unpacked beside the dev venv's third-party packages in a fresh venv: what an operator
    installs, without the repository's `src/` on the path."""
    base = tmp_path_factory.mktemp("product")
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", str(ROOT), "--outdir", str(base)],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    (wheel,) = base.glob("stella_signals-*.whl")
    site = base / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)  # noqa: S202 (the wheel this fixture just built)
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    # A .pth line adds a directory but runs none of its .pth files: the dev venv's editable
    # hook (which puts `src/` on the path) stays out.
    dependencies = sysconfig.get_paths()["purelib"]
    (Path(purelib) / "product.pth").write_text(f"{site}\n{dependencies}\n")
    return ProductInstall(wheel, python)


@needs_compiler
def test_the_sdist_builds_both_compiled_cores(product: ProductInstall) -> None:
    """The build hook only warns when a core does not compile (a machine without a compiler
    still gets a working pure-Python wheel), so a source file missing from the sdist (the
    cores' shared header) would pass unnoticed but for this: the wheel was built from the
    sdist, and it must hold both extensions."""
    (sdist,) = product.wheel.parent.glob("stella_signals-*.tar.gz")
    with tarfile.open(sdist) as archive:
        sources = {name.split("/", 1)[1] for name in archive.getnames()}
    assert {
        "src/stella_signals/_cshared.h",
        "src/stella_signals/trace/_ctrace.c",
        "src/stella_signals/graph/_cgraph.c",
    } <= sources
    with zipfile.ZipFile(product.wheel) as archive:
        built = {n.rsplit("/", 1)[1].split(".")[0] for n in archive.namelist() if n.endswith(".so")}
    assert built == {"_ctrace", "_cgraph"}


def test_the_wheel_holds_the_product_package_only(product: ProductInstall) -> None:
    with zipfile.ZipFile(product.wheel) as archive:
        names = archive.namelist()
        metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
        requires = [
            line.removeprefix("Requires-Dist: ")
            for line in archive.read(metadata).decode().splitlines()
            if line.startswith("Requires-Dist: ")
        ]
    top = {name.split("/")[0] for name in names if ".dist-info/" not in name}
    assert top == {"stella_signals"}, top
    assert not [name for name in names if "synth" in name or "stella_signals_dev" in name]
    assert "stella_signals/cli/stella.py" in names and "stella_signals/py.typed" in names
    # The console serves its assets from the package (air-gapped sites have no CDN).
    assert "stella_signals/console/static/console.css" in names
    # The trace parser gunzips with isal: it stays a product dependency.
    assert any(r.startswith("isal") and "extra ==" not in r for r in requires), requires


def test_product_install_runs_without_the_developer_tools(
    product: ProductInstall, tmp_path: Path
) -> None:
    probe = subprocess.run(
        [str(product.python), "-c", "import stella_signals, stella_signals_dev"],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert "No module named 'stella_signals_dev'" in probe.stderr
    help_ = product.run(tmp_path, "stella", "--help")
    assert help_.returncode == 0, help_.stderr
    assert "dev" in help_.stdout  # the commands stay listed: running them explains


@pytest.mark.parametrize(
    ("script", "args", "command"),
    [
        ("stella", ["dev", "synth", "--out", "trace.ndjson.gz"], "stella dev synth"),
        ("stella", ["dev", "demo", "--data-dir", "data"], "stella dev demo"),
        ("signals", ["serve", "--demo", "--data-dir", "data"], "signals serve --demo"),
    ],
)
def test_developer_commands_say_in_one_line_that_the_tools_are_missing(
    product: ProductInstall, tmp_path: Path, script: str, args: list[str], command: str
) -> None:
    result = product.run(tmp_path, script, *args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {command} {MISSING}"), lines
    assert not list(tmp_path.iterdir()), "nothing is written or created before refusing"


def test_dev_install_runs_stella_dev_synth(tmp_path: Path) -> None:
    trace, graph = tmp_path / "t.ndjson.gz", tmp_path / "g.json"
    result = CliRunner().invoke(
        stella_app,
        ["dev", "synth", "--records", "50", "--out", str(trace), "--graph-out", str(graph)],
    )
    assert result.exit_code == 0, result.output
    assert "50 records" in result.stdout and trace.stat().st_size > 0 and graph.stat().st_size > 0
