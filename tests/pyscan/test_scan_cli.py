"""`stella graph scan` end to end: the graph goes through import, the API and verify
unchanged; installed distributions of another interpreter are scanned by their RECORD."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from stella_signals.cli.stella import app
from stella_signals.pyscan import symbol_id
from tests.api.conftest import make_api
from tests.pyscan._corpus import CORPUS

runner = CliRunner()
CLEAN_ENV: dict[str, str | None] = {"STELLA_TENANT": None, "STELLA_DATA_DIR": None}


def stella(*args: str | Path) -> Result:
    return runner.invoke(app, [str(a) for a in args], env=CLEAN_ENV)


def scan_to(out: Path, *args: str | Path) -> dict[str, Any]:
    result = stella("graph", "scan", *args, "--out", out)
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(out.read_bytes())
    return document


def trace_of(document: dict[str, Any]) -> bytes:
    """What a probe would report for every node, each call edge seen once."""
    lines = [
        {"symbol_id": n["symbol_id"], "purl": n["purl"], "timestamp": "2026-01-01T00:00:00Z",
         "count": 1, "pid": 1, "container": "c"}
        for n in document["nodes"]
    ]  # fmt: skip
    purl = {n["id"]: n["purl"] for n in document["nodes"]}
    lines += [
        {"symbol_id": e["to"], "purl": purl[e["to"]], "timestamp": "2026-01-01T00:00:00Z",
         "count": 1, "pid": 1, "container": "c", "caller_symbol_id": e["from"]}
        for e in document["edges"] if e["kind"] == "call"
    ]  # fmt: skip
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def test_round_trip_import_api_verify(tmp_path: Path) -> None:
    graph = tmp_path / "graph.json"
    document = scan_to(graph, CORPUS / "decorators", "--purl", "pkg:generic/demo@1.0")
    data = graph.read_bytes()
    assert {n["purl"] for n in document["nodes"]} == {"pkg:generic/demo@1.0"}
    hashed = stella("graph", "hash", graph)
    assert hashed.exit_code == 0, hashed.output
    graph_hash = hashed.stdout.strip()

    imported = stella("graph", "import", graph, "--tenant", "acme", "--data-dir", tmp_path / "d")
    assert imported.exit_code == 0, imported.output
    assert imported.stdout.strip() == graph_hash

    for api in make_api(tmp_path / "api"):
        assert api.post_graph(data=data) == graph_hash

    trace = tmp_path / "runtime-trace.ndjson"
    trace.write_bytes(trace_of(document))
    verified = stella("graph", "verify", "--runtime", trace, "--graph", graph, "--json")
    assert verified.exit_code == 0, verified.output
    report = json.loads(verified.stdout)
    assert report["graph_hash"] == graph_hash
    assert report["unmapped_symbols"] == 0
    assert report["edges_confirmed"] == report["edges_total"] - sum(
        1 for e in document["edges"] if e["kind"] != "call"
    )
    by_hash = stella(
        "graph", "verify", "--runtime", trace, "--graph", graph_hash,
        "--data-dir", tmp_path / "d", "--json",
    )  # fmt: skip
    assert by_hash.exit_code == 0, by_hash.output


def test_stdout_and_out_file_are_the_same_canonical_bytes(tmp_path: Path) -> None:
    out = tmp_path / "g.json"
    scan_to(out, CORPUS / "imports")
    printed = stella("graph", "scan", CORPUS / "imports")
    assert printed.exit_code == 0
    assert printed.stdout.encode() == out.read_bytes()
    assert json.loads(out.read_bytes())["nodes"][0]["purl"] == "pkg:generic/imports"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("graph", "scan", "no/such/dir"), "no such file"),
        (("graph", "scan", "{corpus}", "--python", "/no/python"), "--include-installed"),
        (("graph", "scan", "{corpus}", "--include-installed", "--python", "/no/python"),
         "no such interpreter"),
    ],
)  # fmt: skip
def test_bad_input_is_a_usage_error(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    out = tmp_path / "g.json"
    result = stella(*(a.format(corpus=CORPUS / "closures") for a in args), "--out", out)
    assert result.exit_code == 2
    assert message in result.output
    assert not out.exists()


def make_venv(where: Path) -> Path:
    """A real virtual environment with one installed distribution, `Tiny_Lib` 1.2."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    site = next(where.glob("lib/python3*/site-packages"))
    (site / "tinylib").mkdir()
    (site / "tinylib" / "__init__.py").write_text(
        "from .core import fetch\n\n\ndef main():\n    return fetch('x')\n"
    )
    (site / "tinylib" / "core.py").write_text(
        "def fetch(url):\n    return _open(url)\n\n\ndef _open(url):\n    return url\n"
    )
    (site / "tinylib" / "unlisted.py").write_text("def hidden():\n    return 1\n")
    info = site / "Tiny_Lib-1.2.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: Tiny_Lib\nVersion: 1.2\n")
    (info / "entry_points.txt").write_text("[console_scripts]\ntiny = tinylib:main\n")
    (info / "RECORD").write_text(
        "tinylib/__init__.py,,\ntinylib/core.py,,\nTiny_Lib-1.2.dist-info/METADATA,,\n"
        "Tiny_Lib-1.2.dist-info/RECORD,,\n../../../bin/tiny,,\n"
    )
    return where


@pytest.mark.e2e  # starts a Python interpreter (tests/_tiers.py)
def test_include_installed_of_another_venv(tmp_path: Path) -> None:
    venv = make_venv(tmp_path / "venv")
    project = tmp_path / "shop"
    project.mkdir()
    (project / "app.py").write_text(
        textwrap.dedent(
            """\
            import tinylib
            from tinylib.core import fetch as get


            def handler():
                tinylib.fetch("a")
                return get("b")


            if __name__ == "__main__":
                handler()
            """
        )
    )
    document = scan_to(tmp_path / "g.json", project, "--include-installed", "--python", venv)
    nodes = {n["display"]: n for n in document["nodes"]}
    assert "tinylib.unlisted" not in nodes  # not in RECORD: no distribution installed it
    fetch = nodes["tinylib.core.fetch"]
    assert fetch["purl"] == "pkg:pypi/tiny-lib@1.2"
    assert fetch["symbol_id"] == symbol_id("tiny-lib", "tinylib.core", "fetch")
    assert nodes["app.handler"]["purl"] == "pkg:generic/shop"
    assert nodes["app.handler"]["symbol_id"] == symbol_id("", "app", "handler")
    display = {n["id"]: d for d, n in nodes.items()}
    edges = {(display[e["from"]], display[e["to"]]) for e in document["edges"]
             if e["kind"] == "call"}  # fmt: skip
    assert ("app.handler", "tinylib.core.fetch") in edges
    assert ("tinylib.core.fetch", "tinylib.core._open") in edges
    roots = {(display[r["id"]], r["phase"]) for r in document["roots"]}
    assert ("tinylib.main", "runtime") in roots  # the console_scripts entry point
    assert ("app", "runtime") in roots
    assert ("tinylib.core", "load") in roots


def test_declared_entry_points_are_runtime_roots(tmp_path: Path) -> None:
    project = tmp_path / "tool"
    (project / "src" / "tool").mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        '[project]\nname = "tool"\nversion = "1"\n'
        '[project.scripts]\ntool = "tool.cli:main"\nbroken = "tool.cli:missing"\n'
    )
    (project / "src" / "tool" / "__init__.py").write_text("")
    (project / "src" / "tool" / "cli.py").write_text(
        "def main():\n    return helper()\n\n\ndef helper():\n    return 0\n"
    )
    document = scan_to(tmp_path / "g.json", project)
    display = {n["id"]: n["display"] for n in document["nodes"]}
    runtime = {display[r["id"]] for r in document["roots"] if r["phase"] == "runtime"}
    assert runtime == {"tool.cli.main"}  # src layout: named tool.cli, not src.tool.cli
    assert {"tool", "tool.cli"} <= {display[r["id"]] for r in document["roots"]}
