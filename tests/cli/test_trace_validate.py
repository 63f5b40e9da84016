"""`stella trace validate` and its script wrapper, as the runbook uses them (§5)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stella_signals.cli.stella import app
from tests.conftest import REPO
from tests.trace._lines import gz, line, ndjson

runner = CliRunner()


@pytest.fixture
def good_trace(tmp_path: Path) -> Path:
    path = tmp_path / "runtime-trace.ndjson.gz"
    path.write_bytes(gz(ndjson(line(), line(count=5, container="c2"))))
    return path


@pytest.fixture
def bad_trace(tmp_path: Path) -> Path:
    path = tmp_path / "runtime-trace.ndjson"
    path.write_bytes(ndjson(line(), line(count=0), b"[]", line(pid=...)))
    return path


def manifest_for(path: Path, *, sha256: str | None = None, size: int | None = None) -> Path:
    import hashlib

    data = path.read_bytes()
    doc = {
        "schema": "stella.reach.runtime-bundle/v1",
        "tenant": "acme",
        "graph_hash": "blake3:" + "0" * 64,
        "generated_at": "2026-01-01T00:00:00Z",
        "files": [
            {
                "path": path.name,
                "sha256": sha256 or hashlib.sha256(data).hexdigest(),
                "size": len(data) if size is None else size,
            }
        ],
    }
    out = path.parent / "manifest.json"
    out.write_text(json.dumps(doc))
    return out


def test_valid_trace_exits_0_with_summary_and_sha256(good_trace: Path) -> None:
    result = runner.invoke(app, ["trace", "validate", str(good_trace)])
    assert result.exit_code == 0, result.output
    sha = subprocess.run(
        ["sha256sum", str(good_trace)], capture_output=True, text=True, check=True
    ).stdout.split()[0]
    assert f"sha256:   {sha}" in result.output
    assert "records:  2 in 2 lines" in result.output
    assert "result:   valid" in result.output


def test_invalid_trace_exits_6_one_line_per_problem(bad_trace: Path) -> None:
    result = runner.invoke(app, ["trace", "validate", str(bad_trace)])
    assert result.exit_code == 6
    lines = result.output.splitlines()
    assert "line 2: count: out_of_range: count must be in 1..9007199254740991: 0" in lines
    assert any(ln.startswith("line 3: -: not_an_object: ") for ln in lines)
    assert "line 4: pid: missing_optional_field: optional field pid is absent" in lines
    assert "result:   INVALID (2 errors, 1 warnings)" in lines


def test_json_report(bad_trace: Path) -> None:
    result = runner.invoke(app, ["trace", "validate", "--json", str(bad_trace)])
    assert result.exit_code == 6
    report = json.loads(result.output)
    assert report["valid"] is False
    assert report["records"] == 2
    assert report["error_count"] == 2
    assert report["diagnostics"][0] == {
        "severity": "error",
        "line": 2,
        "field": "count",
        "reason": "out_of_range",
        "message": "count must be in 1..9007199254740991: 0",
    }


def test_manifest_match_and_mismatch(good_trace: Path) -> None:
    manifest = manifest_for(good_trace)
    ok = runner.invoke(app, ["trace", "validate", str(good_trace), "--manifest", str(manifest)])
    assert ok.exit_code == 0 and "manifest: matches" in ok.output
    manifest_for(good_trace, sha256="0" * 64)
    bad = runner.invoke(app, ["trace", "validate", str(good_trace), "--manifest", str(manifest)])
    assert bad.exit_code == 3 and "MISMATCH" in bad.output
    manifest_for(good_trace, size=1)
    short = runner.invoke(
        app, ["trace", "validate", "--json", str(good_trace), "--manifest", str(manifest)]
    )
    assert short.exit_code == 3
    assert json.loads(short.output)["manifest"]["reason"] == "hash_mismatch"


def test_file_not_listed_in_manifest_is_a_mismatch(good_trace: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.ndjson"
    other.write_bytes(ndjson(line()))
    manifest = manifest_for(good_trace)
    result = runner.invoke(app, ["trace", "validate", str(other), "--manifest", str(manifest)])
    assert result.exit_code == 3


@pytest.mark.parametrize(
    "doc",
    [
        b"{",
        b'{"schema":"other/v1","tenant":"a","graph_hash":"","generated_at":"","files":[]}',
        b'{"schema":"stella.reach.runtime-bundle/v1","schema":"x"}',
        b'{"schema":"stella.reach.runtime-bundle/v1","tenant":"a","graph_hash":"","generated_at":"",'
        b'"files":[{"path":"../etc/passwd","sha256":"' + b"0" * 64 + b'","size":1}]}',
        b'{"schema":"stella.reach.runtime-bundle/v1","tenant":"a","graph_hash":"","generated_at":"",'
        b'"files":[{"path":"/abs","sha256":"' + b"0" * 64 + b'","size":1}]}',
    ],
    ids=["truncated", "wrong-schema", "duplicate-key", "dotdot", "absolute"],
)
def test_tampered_or_malformed_manifest_exits_6(good_trace: Path, doc: bytes) -> None:
    manifest = good_trace.parent / "manifest.json"
    manifest.write_bytes(doc)
    result = runner.invoke(app, ["trace", "validate", str(good_trace), "--manifest", str(manifest)])
    assert result.exit_code == 6, result.output


def test_unreadable_input_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["trace", "validate", str(tmp_path / "missing.ndjson")])
    assert result.exit_code == 2
    assert runner.invoke(app, ["trace", "validate"]).exit_code == 2


def test_limit_exit_6_and_named(tmp_path: Path) -> None:
    # 32 MiB of zeros (about 1000:1) is refused as soon as the ratio is checked, past the
    # first `ratio_grace_bytes` (1 MiB); a larger bomb only cost time compressing it here.
    path = tmp_path / "big.ndjson"
    path.write_bytes(b"")
    with path.open("ab") as handle:
        import zlib

        bomb = zlib.compressobj(9, zlib.DEFLATED, 31)
        for _ in range(32):
            handle.write(bomb.compress(b"\0" * (1 << 20)))
        handle.write(bomb.flush())
    result = runner.invoke(app, ["trace", "validate", "--json", str(path)])
    assert result.exit_code == 6
    body = json.loads(result.output)
    assert body["diagnostics"][0]["limit"] == "max_compression_ratio"


@pytest.mark.e2e
def test_script_wrapper_runs_the_same_code(bad_trace: Path) -> None:
    script = REPO / "scripts" / "reachability" / "validate_runtime_trace.py"
    proc = subprocess.run(
        [sys.executable, str(script), str(bad_trace), "--json"], capture_output=True, text=True
    )
    assert proc.returncode == 6, proc.stderr
    assert json.loads(proc.stdout)["error_count"] == 2


@pytest.mark.e2e
def test_script_runs_as_written_with_a_python_outside_the_venv(bad_trace: Path) -> None:
    """Runbook §5 says "run scripts/reachability/validate_runtime_trace.py": an operator's
    python3 has none of our dependencies, so the script hands over to the checkout's venv."""
    script = REPO / "scripts" / "reachability" / "validate_runtime_trace.py"
    outside = Path(sys.base_prefix) / "bin" / "python3"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    proc = subprocess.run(
        [str(outside), str(script), str(bad_trace)], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 6, proc.stderr
    assert "error" in proc.stdout


def test_console_script_is_installed() -> None:
    stella = Path(sys.executable).parent / "stella"
    assert stella.exists() or shutil.which("stella")
