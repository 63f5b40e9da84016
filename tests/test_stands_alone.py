"""A fresh clone stands alone (issue 14 item 16): the conformance vectors the tests read are in
the repository with their licences and provenance, and nothing refers to a path outside it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.conftest import REPO, VECTORS

#: Where the project's files used to point outside the repository.
OUTSIDE = re.compile(
    r"\.\./shared|shared/(?:SPEC|DESIGN|STYLE)\.md|shared/vectors|shared/seed"
    r"|(?:^|[\s\"'`(=:])/work/"  # an absolute path into the machine's work folder
)
#: Folders a checkout may hold that are not the project's files.
NOT_OURS = {".git", ".venv", ".lockvenv", "data", ".hypothesis", ".pytest_cache", ".mypy_cache",
            ".ruff_cache", "__pycache__", "work", "results"}  # fmt: skip


def project_files() -> list[Path]:
    """Tracked and new (not ignored) files; a tree without git: every file outside NOT_OURS."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, check=False,
    )  # fmt: skip
    if listed.returncode == 0:
        return [REPO / name for name in listed.stdout.decode().split("\0") if name]
    return [
        p for p in REPO.rglob("*")
        if p.is_file() and not NOT_OURS & set(p.relative_to(REPO).parts)
    ]  # fmt: skip


def test_no_file_refers_to_a_path_outside_the_repository() -> None:
    offenders = []
    for path in project_files():
        if not path.is_file() or path.is_relative_to(VECTORS):  # upstream data, kept unchanged
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary fixtures (fuzz corpus, regressions)
        for number, line in enumerate(text.splitlines(), start=1):
            if path.name != "test_stands_alone.py" and OUTSIDE.search(line):
                offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert offenders == []


def test_every_vector_folder_has_its_licence_and_provenance() -> None:
    readme = (VECTORS / "README.md").read_text()
    folders = sorted(p for p in VECTORS.iterdir() if p.is_dir())
    assert [p.name for p in folders] == ["jcs", "openvex", "purl"]
    for folder in folders:
        assert (folder / "LICENSE").stat().st_size > 500, f"{folder.name} has no licence text"
        row = next(line for line in readme.splitlines() if line.startswith(f"| `{folder.name}/`"))
        assert re.search(r"commit [0-9a-f]{12}", row), row  # the upstream revision
        assert "github.com/" in row  # the upstream project


def test_the_contract_is_in_the_repository() -> None:
    """README and docs point readers to docs/contract.md, which explains every section."""
    readme = (REPO / "README.md").read_text()
    assert "docs/contract.md" in readme
    contract = (REPO / "docs" / "contract.md").read_text()
    for number in range(1, 14):
        assert re.search(rf"^## {number}\. ", contract, re.MULTILINE), f"§{number} missing"


def test_make_pytest_installs_every_tool_a_test_would_skip_without() -> None:
    """`make test` → `pytest` → `tools`: each command a test looks up with shutil.which is
    installed from Debian when missing (promtool comes in the `prometheus` package)."""
    makefile = (REPO / "Makefile").read_text()
    tools_line = next(line for line in makefile.splitlines() if line.startswith("TOOLS := "))
    installed = dict(pair.split(":") for pair in tools_line.removeprefix("TOOLS := ").split())
    assert installed["promtool"] == "prometheus"
    looked_up = set()
    for path in (REPO / "tests").rglob("*.py"):
        looked_up |= set(re.findall(r"shutil\.which\(\"([\w-]+)\"\)", path.read_text()))
    looked_up.discard("stella")  # our own console script, from `make venv`
    assert looked_up <= set(installed), looked_up - set(installed)
    assert re.search(r"^pytest: .*\btools\b", makefile, re.MULTILINE)
