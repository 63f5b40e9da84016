"""Runbook §2 step 6 as written: `stella graph verify --runtime runtime-trace.ndjson.gz --graph
<graph_hash>` with no --tenant, on the operator's machine, against the local data dir.

The tenant is the one tenant of the local deployment that has the graph; none is "graph not
found" (exit 2); several is exit 2 asking for --tenant; and nothing is ever looked up across
tenants over HTTP.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from stella_signals.cli.stella import app
from stella_signals_dev.synth import SynthSpec, graph_bytes, trace_bytes

runner = CliRunner()
SPEC = SynthSpec(500, seed=11, symbols=120, purls=10)
OTHER_SPEC = SynthSpec(500, seed=12, symbols=120, purls=10)
#: No ambient tenant or deployment: every test says which data dir it means.
CLEAN_ENV: dict[str, str | None] = {
    "STELLA_TENANT": None,
    "STELLA_DATA_DIR": None,
    "STELLA_DATABASE_URL": None,
    "STELLA_SERVER": None,
}


def stella(*args: str | Path) -> Result:
    return runner.invoke(app, [str(a) for a in args], env=CLEAN_ENV)


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """An operator's working directory: the runtime trace and the static graphs."""
    (tmp_path / "runtime-trace.ndjson.gz").write_bytes(gzip.compress(trace_bytes(SPEC), mtime=0))
    (tmp_path / "graph.richgraph.json").write_bytes(graph_bytes(SPEC))
    (tmp_path / "other.richgraph.json").write_bytes(graph_bytes(OTHER_SPEC))
    return tmp_path


def import_graph(data_dir: Path, graph: Path, tenant: str) -> str:
    result = stella("graph", "import", graph, "--tenant", tenant, "--data-dir", data_dir)
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def verify(work: Path, data_dir: Path, graph_hash: str, *extra: str) -> Result:
    return stella(
        "graph", "verify", "--runtime", work / "runtime-trace.ndjson.gz", "--graph", graph_hash,
        "--data-dir", data_dir, "--json", *extra,
    )  # fmt: skip


def run_stella(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The installed `stella`, as the operator runs it (no STELLA_* in the environment)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STELLA_")}
    stella_bin = Path(sys.executable).parent / "stella"
    return subprocess.run(
        [str(stella_bin), *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.e2e
def test_runbook_step_6_as_written_finds_the_tenant_in_the_local_data_dir(work: Path) -> None:
    """Exactly the runbook's command line, run in a directory holding the data dir ./data."""
    graph_hash = import_graph(work / "data", work / "graph.richgraph.json", "acme")
    step_6 = ["graph", "verify", "--runtime", "runtime-trace.ndjson.gz", "--graph", graph_hash]
    as_written = run_stella(work, *step_6)
    with_tenant = run_stella(work, *step_6, "--tenant", "acme")
    assert with_tenant.returncode in (0, 1), with_tenant.stderr
    assert as_written.returncode == with_tenant.returncode, as_written.stderr
    assert f"graph {graph_hash}" in as_written.stdout
    assert as_written.stdout == with_tenant.stdout
    assert "tenant acme" in as_written.stderr


def test_without_tenant_the_report_is_the_one_with_the_tenant(work: Path) -> None:
    data_dir = work / "data"
    graph_hash = import_graph(data_dir, work / "graph.richgraph.json", "acme")
    import_graph(data_dir, work / "other.richgraph.json", "globex")  # another tenant, other graph
    without = verify(work, data_dir, graph_hash)
    with_tenant = verify(work, data_dir, graph_hash, "--tenant", "acme")
    assert with_tenant.exit_code in (0, 1), with_tenant.output
    assert without.exit_code == with_tenant.exit_code, without.output
    report = json.loads(without.stdout)
    assert report == json.loads(with_tenant.stdout)
    assert report["graph_hash"] == graph_hash and report["mapped_symbols"] > 0


def test_a_graph_several_tenants_have_needs_tenant_and_names_them(work: Path) -> None:
    data_dir = work / "data"
    graph = work / "graph.richgraph.json"
    graph_hash = import_graph(data_dir, graph, "globex")
    assert import_graph(data_dir, graph, "acme") == graph_hash
    result = verify(work, data_dir, graph_hash)
    assert result.exit_code == 2, result.output
    assert "--tenant" in result.stderr
    assert "acme, globex" in result.stderr  # both, sorted
    assert result.stdout == ""
    chosen = verify(work, data_dir, graph_hash, "--tenant", "globex")
    assert chosen.exit_code in (0, 1), chosen.output
    assert json.loads(chosen.stdout)["graph_hash"] == graph_hash


def test_a_hash_no_tenant_has_is_not_found(work: Path) -> None:
    data_dir = work / "data"
    import_graph(data_dir, work / "graph.richgraph.json", "acme")
    unknown = "blake3:" + "ab" * 32
    result = verify(work, data_dir, unknown)
    assert result.exit_code == 2, result.output
    assert "graph not found" in result.stderr and unknown in result.stderr


def test_no_local_deployment_is_not_found_and_creates_nothing(work: Path) -> None:
    graph_hash = "blake3:" + "cd" * 32
    result = verify(work, work / "nowhere", graph_hash)
    assert result.exit_code == 2, result.output
    assert "graph not found" in result.stderr
    assert not (work / "nowhere").exists()


def test_a_malformed_hash_is_still_exit_2_before_any_lookup(work: Path) -> None:
    result = verify(work, work / "nowhere", "nonsense")
    assert result.exit_code == 2, result.output
    assert not (work / "nowhere").exists()


def test_with_server_the_tenant_is_still_required_and_nothing_is_asked_over_http(
    work: Path,
) -> None:
    """Looking across tenants is for the local data dir only: --server without --tenant is
    refused before any request (nothing listens on the discard port)."""
    data_dir = work / "data"
    graph_hash = import_graph(data_dir, work / "graph.richgraph.json", "acme")
    result = verify(work, data_dir, graph_hash, "--server", "http://127.0.0.1:9")
    assert result.exit_code == 2, result.output
    assert "--tenant is needed with --server" in result.stderr
    assert "cannot reach" not in result.stderr
