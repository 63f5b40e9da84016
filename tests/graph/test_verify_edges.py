"""`edges_observed` and `unexpected_edges` of the verify report (SPEC §9): records carrying
`caller_symbol_id` confirm graph edges or show the edges the static graph misses; the API and
the CLI report the same numbers."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from stella_signals.cli.stella import app
from stella_signals.graph import UnexpectedEdge, VerifyReport, map_trace
from stella_signals.limits import Limits
from tests.api.conftest import make_api
from tests.api.test_server_process import BIN, Server, server  # noqa: F401 - fixture
from tests.graph._graphs import as_bytes, graph
from tests.graph.test_verify import index_of, trace
from tests.trace._lines import line, ndjson

runner = CliRunner()

#: BASE (n1 main → n2 parse → n3 unused) plus an `import` edge parallel to n1 → n2.
DOC = graph()
DOC["edges"].append({"from": "n1", "to": "n2", "kind": "import"})

CALLS = ndjson(
    line(symbol_id="sym:python:main", purl="pkg:pypi/app@1.0.0"),
    line(symbol_id="sym:python:parse", caller_symbol_id="sym:python:main", count=2),
    line(symbol_id="sym:python:parse", caller_symbol_id="n1", count=4, container="c2"),
    # callee by node id, caller by the code_id another record gave it: n2 → n3
    line(symbol_id="sym:python:renamed", code_id="gnu-build-id:aa11", purl="pkg:pypi/lib@2.0.0"),
    line(symbol_id="n3", caller_symbol_id="sym:python:renamed", count=1),
    # not in the graph: n3 → n1, an unknown caller, an unknown callee
    line(symbol_id="sym:python:main", caller_symbol_id="n3", count=5),
    line(symbol_id="sym:python:main", caller_symbol_id="n3", count=6, container="c2"),
    line(symbol_id="sym:python:parse", caller_symbol_id="sym:python:ghost", count=7),
    line(symbol_id="sym:python:nowhere", caller_symbol_id="sym:python:main", count=8),
)


def test_observed_and_unexpected_edges_are_exact() -> None:
    report = map_trace(trace(CALLS), index_of(DOC), graph_hash_ok=True)
    # n1 → n2 (call and import: each entry counts) and n2 → n3
    assert (report.edges_observed, report.edges_total) == (3, 3)
    assert report.unexpected_edges == (
        UnexpectedEdge("n3", "sym:python:main", 11),
        UnexpectedEdge("sym:python:ghost", "sym:python:parse", 7),
        UnexpectedEdge("sym:python:main", "sym:python:nowhere", 8),
    )
    # an edge whose ends both ran is confirmed, observed or not
    assert report.edges_confirmed == 3
    assert report.to_dict()["unexpected_edges"][0] == {
        "caller_symbol_id": "n3", "symbol_id": "sym:python:main", "count": 11,
    }  # fmt: skip
    assert VerifyReport.from_dict(report.to_dict()).to_dict() == report.to_dict()


def test_one_pair_observes_only_the_edges_that_join_it() -> None:
    report = map_trace(
        trace(line(symbol_id="sym:python:unused", caller_symbol_id="sym:python:parse")),
        index_of(DOC),
        graph_hash_ok=True,
    )
    assert (report.edges_observed, report.unexpected_edges) == (1, ())


def test_a_trace_without_callers_observes_no_edge() -> None:
    report = map_trace(
        trace(line(symbol_id="sym:python:main"), line(symbol_id="sym:python:parse")),
        index_of(DOC),
        graph_hash_ok=True,
    )
    assert report.edges_confirmed == 2
    assert (report.edges_observed, report.unexpected_edges) == (0, ())
    assert report.to_dict()["unexpected_edges"] == []


def test_api_and_cli_give_the_same_report(tmp_path: Path) -> None:
    graph_file, trace_file = tmp_path / "graph.json", tmp_path / "calls.ndjson"
    graph_file.write_bytes(as_bytes(DOC))
    trace_file.write_bytes(CALLS)
    result = runner.invoke(
        app, ["graph", "verify", "--runtime", str(trace_file), "--graph", str(graph_file), "--json"]
    )
    assert result.exit_code == 1, result.output  # sym:python:nowhere is unmapped
    local = json.loads(result.stdout)
    for api in make_api(tmp_path / "api"):
        graph_hash = api.post_graph(data=as_bytes(DOC))
        response = api.client.post(
            f"/api/v1/graphs/{graph_hash}/verify", content=CALLS, headers=api.headers()
        )
        assert response.status_code == 200, response.text
        assert response.json() == local
    assert local["edges_observed"] == 3 and len(local["unexpected_edges"]) == 3


def test_text_report_shows_edges(tmp_path: Path) -> None:
    graph_file, trace_file = tmp_path / "graph.json", tmp_path / "calls.ndjson"
    graph_file.write_bytes(as_bytes(DOC))
    trace_file.write_bytes(CALLS)
    result = runner.invoke(
        app, ["graph", "verify", "--runtime", str(trace_file), "--graph", str(graph_file)]
    )
    out = result.stdout
    assert "edges observed" in out and "unexpected edges: 3" in out
    assert "n3 → sym:python:main  11" in out


def test_the_api_refuses_more_distinct_edges_than_its_limit(tmp_path: Path) -> None:
    for api in make_api(tmp_path, limits=Limits(max_edges=4)):
        graph_hash = api.post_graph(data=as_bytes(DOC))
        response = api.client.post(
            f"/api/v1/graphs/{graph_hash}/verify", content=CALLS, headers=api.headers()
        )
        assert response.status_code == 413, response.text
        assert response.json()["reason"] == "too_large"
        assert "caller → callee" in response.json()["detail"]


def test_an_invalid_caller_is_an_input_error(tmp_path: Path) -> None:
    bad, graph_file = tmp_path / "bad.ndjson", tmp_path / "graph.json"
    bad.write_bytes(ndjson(line(caller_symbol_id="")))
    graph_file.write_bytes(as_bytes(DOC))
    result = runner.invoke(
        app, ["graph", "verify", "--runtime", str(bad), "--graph", str(graph_file)]
    )
    assert result.exit_code == 2
    assert "caller_symbol_id: invalid_symbol_id" in result.output


@pytest.mark.e2e  # a real `signals serve` and the `stella` console script
def test_stella_verify_with_server_prints_the_servers_edges(
    server: Server,  # noqa: F811 - fixture
    tmp_path: Path,
) -> None:
    """`--server` rebuilds the report from the API's answer: the edges survive the trip."""
    graph_file, trace_file = tmp_path / "graph.json", tmp_path / "calls.ndjson"
    graph_file.write_bytes(as_bytes(DOC))
    trace_file.write_bytes(CALLS)
    posted = httpx.post(
        f"{server.url}/api/v1/graphs", content=as_bytes(DOC), headers=server.headers()
    )
    assert posted.status_code == 201, posted.text
    remote = ["--server", server.url, "--tenant", "acme", "--token-file", str(server.token_file)]
    common = ["graph", "verify", "--runtime", str(trace_file), "--json"]
    online = subprocess.run(
        [str(BIN / "stella"), *common, "--graph", posted.json()["graph_hash"], *remote],
        capture_output=True,
        text=True,
    )
    offline = subprocess.run(
        [str(BIN / "stella"), *common, "--graph", str(graph_file)], capture_output=True, text=True
    )
    assert online.returncode == offline.returncode == 1, online.stderr + offline.stderr
    assert json.loads(online.stdout) == json.loads(offline.stdout)
    assert json.loads(online.stdout)["edges_observed"] == 3
