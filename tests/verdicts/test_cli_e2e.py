"""`stella reach` and `stella vex export` against a real `signals serve` (embedded default):
evaluate, re-evaluation by the server's background loop after a new ingest, history,
unknowns, and a VEX document that `stella vex verify` checks offline with the key
`signals keys export-service` writes; the unknowns of a discovery ingest, as `GET
/api/v1/unknowns` and `stella reach unknowns` list them.

One server serves the module (`deployment`); each test works in a tenant of its own, whose
graphs, verdicts, unknowns and timeline start empty."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.realservers.backends import Backend, issue_token
from tests.realservers.signals_process import BIN, SignalsProcess, serve_with_token, signals
from tests.verdicts._world import CATALOG, Upload, World, discover, make_world

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(tmp_path_factory.mktemp("cli-verdicts"))


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SignalsProcess, Path]]:
    """One `signals serve` for the module (its tests leave it running)."""
    root = tmp_path_factory.mktemp("cli-verdicts-server")
    data = root / "data"
    process, _ = serve_with_token(
        Backend("embedded"), data, root / "serve.log", env={"STELLA_ORPHAN_RETRY_SECONDS": "0.3"}
    )
    try:
        yield process, data
    finally:
        process.stop()


@pytest.fixture
def server(
    deployment: tuple[SignalsProcess, Path],
) -> tuple[SignalsProcess, dict[str, str], Path]:
    """The module's server, seen by a tenant of this test's own: its graphs, verdicts,
    unknowns and timeline start empty, as on a fresh server."""
    process, data = deployment
    tenant = f"t{secrets.token_hex(6)}"
    token = issue_token(Backend("embedded"), data, tenant)
    return process, {"Authorization": f"Bearer {token}", "X-Stella-Tenant": tenant}, data


def stella(*args: str, token: Path, url: str, tenant: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "stella"), *args, "--tenant", tenant, "--server", url, "--token-file",
         str(token)],
        capture_output=True, text=True, timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith("STELLA_")},
    )  # fmt: skip


def upload(url: str, headers: dict[str, str], graph: str, window: Upload) -> None:
    files = {
        "runtime": ("runtime-trace.ndjson.gz", window.trace, "application/x-ndjson"),
        "probe_manifest": ("probe-manifest.json", window.manifest, "application/json"),
    }
    response = httpx.post(f"{url}/api/v1/runtime-facts?graph_hash={graph}", files=files,
                          headers=headers)  # fmt: skip
    assert response.status_code == 201, response.text


def test_reach_and_vex_commands_through_a_real_server(
    server: tuple[SignalsProcess, dict[str, str], Path], world: World, tmp_path: Path
) -> None:
    process, headers, data = server
    url = process.url
    token, tenant = tmp_path / "token", headers["X-Stella-Tenant"]
    token.write_text(headers["Authorization"].removeprefix("Bearer "))
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps(CATALOG))
    graph = httpx.post(f"{url}/api/v1/graphs", content=world.graph, headers=headers).json()
    graph_hash = graph["graph_hash"]
    upload(url, headers, graph_hash, world.first)

    done = stella("reach", "evaluate", "--graph", graph_hash, "--catalog", str(catalog),
                  token=token, url=url, tenant=tenant)  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line.split() for line in done.stdout.splitlines()[1:-1]}
    assert rows["V-USED"][3] == "CR" and rows["V-LATER"][3] == "RU"
    assert rows["V-UNUSED"][3] == "CU"

    # A new ingest: the server's background loop re-evaluates the registered pair.
    upload(url, headers, graph_hash, world.second)
    # Wait on the API (a request, not a `stella` process of ~1 s of CPU per poll), then
    # read the history with the command.
    query = {"graph_hash": graph_hash, "vuln_id": "V-LATER"}
    deadline = time.monotonic() + 30
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        while time.monotonic() < deadline:
            answer = client.get("/api/v1/reachability/verdicts/history", params=query)
            assert answer.status_code == 200, answer.text
            if len(answer.json()["items"]) >= 2:
                break
            time.sleep(0.1)
    done = stella("reach", "history", "--graph", graph_hash, "--vuln", "V-LATER", "--json",
                  token=token, url=url, tenant=tenant)  # fmt: skip
    assert done.returncode == 0, done.stderr
    history: list[dict[str, Any]] = json.loads(done.stdout)["items"]
    assert [(h["from"], h["to"]) for h in history] == [(None, "RU"), ("RU", "CR")]
    events = httpx.get(f"{url}/api/v1/timeline/events", params={"type": "reach.verdict.changed"},
                       headers=headers).json()["items"]  # fmt: skip
    assert [e["attributes"]["to"] for e in events] == ["CR"]

    done = stella(
        "reach", "unknowns", "--graph", graph_hash, "--json", token=token, url=url, tenant=tenant
    )
    assert done.returncode == 0, done.stderr
    kinds = {u["kind"] for u in json.loads(done.stdout)["items"]}
    assert {"target_not_scanned", "disagreement"} <= kinds

    out = tmp_path / "vex.json"
    done = stella("vex", "export", "--graph", graph_hash, "--catalog", str(catalog),
                  "--format", "openvex", "--product", "pkg:pypi/shop@1.0", "--out", str(out),
                  token=token, url=url, tenant=tenant)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "vex.json.dsse.json").is_file()
    key = tmp_path / "service.pem"
    signals("keys", "export-service", "--data-dir", str(data), "--out", str(key))
    verified = subprocess.run([str(BIN / "stella"), "vex", "verify", str(out), "--key", str(key)],
                              capture_output=True, text=True, timeout=60)  # fmt: skip
    assert verified.returncode == 0, verified.stderr
    statuses = {s["vulnerability"]["name"]: s["status"]
                for s in json.loads(out.read_bytes())["statements"]}  # fmt: skip
    assert statuses["V-USED"] == "affected" and statuses["V-LATER"] == "affected"
    assert statuses["V-UNUSED"] == "not_affected"

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"schema": "stella.vuln-catalog/v1", "entries": [{"vuln_id": 1}]}))
    refused = stella("reach", "evaluate", "--graph", graph_hash, "--catalog", str(bad),
                     token=token, url=url, tenant=tenant)  # fmt: skip
    assert refused.returncode == 6, refused.stderr
    unknown = stella("reach", "evaluate", "--graph", "blake3:" + "0" * 64, "--catalog",
                     str(catalog), token=token, url=url, tenant=tenant)  # fmt: skip
    assert unknown.returncode == 2 and "404" in unknown.stderr


def test_a_discovery_ingest_s_unknowns_through_the_api_and_the_cli(
    server: tuple[SignalsProcess, dict[str, str], Path], world: World, tmp_path: Path
) -> None:
    """The four kinds of issue 18 item 5 on a real server: the discovery trace's call from
    ``main`` through ``getattr`` is an edge the graph lacks (`unexpected_edge`), the function
    compiled at run time is in no node (`unmapped_symbol`), `V-GHOST` names no scanned code
    (`target_not_scanned`) and `dynamic` ran without a static path (`disagreement`, X)."""
    process, headers, _ = server
    url = process.url
    token, tenant = tmp_path / "token", headers["X-Stella-Tenant"]
    token.write_text(headers["Authorization"].removeprefix("Bearer "))
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps(CATALOG))
    graph_hash = httpx.post(f"{url}/api/v1/graphs", content=world.graph,
                            headers=headers).json()["graph_hash"]  # fmt: skip
    for window in discover(world, tmp_path / "discovery"):
        upload(url, headers, graph_hash, window)
    done = stella("reach", "evaluate", "--graph", graph_hash, "--catalog", str(catalog),
                  token=token, url=url, tenant=tenant)  # fmt: skip
    assert done.returncode == 0, done.stderr

    listed = httpx.get(f"{url}/api/v1/unknowns", params={"graph_hash": graph_hash},
                       headers=headers)  # fmt: skip
    assert listed.status_code == 200, listed.text
    assert listed.json()["next_page_token"] is None
    items = listed.json()["items"]
    kinds = {"unexpected_edge", "unmapped_symbol", "target_not_scanned", "disagreement"}
    assert {u["kind"] for u in items} == kinds
    symbol_of = {n["display"]: n["symbol_id"] for n in json.loads(world.graph)["nodes"]}
    main, dynamic = symbol_of["app.main"], symbol_of["vulnlib.core.dynamic"]
    assert any(
        u["kind"] == "unexpected_edge" and u["detail"].startswith(f"{main} -> {dynamic}:")
        for u in items
    )
    as_json = stella(
        "reach", "unknowns", "--graph", graph_hash, "--json", token=token, url=url, tenant=tenant
    )
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["items"] == items
    table = stella("reach", "unknowns", "--graph", graph_hash, token=token, url=url, tenant=tenant)
    assert table.returncode == 0, table.stderr
    rows = table.stdout.splitlines()
    assert rows[0].split() == ["KIND", "VULN", "SYMBOL", "DETAIL"]
    assert {row.split()[0] for row in rows[1:]} == kinds and len(rows) == len(items) + 1
