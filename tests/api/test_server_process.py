"""The real server process (`signals serve`), driven by the runbook's curl and by
`stella ingest`; a client that disconnects mid-body; and a server killed mid-ingest."""

from __future__ import annotations

import gzip
import json
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from stella_signals.synth import SynthSpec, graph_bytes, trace_bytes, write_trace
from stella_signals.timeline import check_chain, parse_event

BIN = Path(sys.executable).parent
SPEC = SynthSpec(3000, seed=11, symbols=400, purls=30)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    data_dir: Path
    port: int
    token_file: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with (self.data_dir.parent / "server.log").open("ab") as log:
            self.process = subprocess.Popen(
                [
                    str(BIN / "signals"),
                    "serve",
                    "--port",
                    str(self.port),
                    "--data-dir",
                    str(self.data_dir),
                ],
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.token_file.read_text().strip()}",
            "X-Stella-Tenant": "acme",
        }


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    data_dir = tmp_path / "data"
    token = subprocess.run(
        [str(BIN / "signals"), "tokens", "create", "--tenant", "acme",
         "--scope", "signals:write", "--scope", "signals:read", "--data-dir", str(data_dir)],
        check=True, capture_output=True, text=True,
    ).stdout.strip().splitlines()[-1]  # fmt: skip
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    instance = Server(data_dir, free_port(), token_file)
    instance.start()
    yield instance
    instance.stop()


def post_graph(server: Server) -> str:
    response = httpx.post(
        f"{server.url}/api/v1/graphs", content=graph_bytes(SPEC), headers=server.headers()
    )
    assert response.status_code == 201, response.text
    graph_hash: str = response.json()["graph_hash"]
    return graph_hash


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_runbook_curl_works_as_written(server: Server, tmp_path: Path) -> None:
    graph = post_graph(server)
    trace = write_trace(tmp_path / "runtime-trace.ndjson.gz", SPEC)
    out = subprocess.run(
        ["curl", "-sS", "-i",
         "-H", f"Authorization: Bearer {server.token_file.read_text().strip()}",
         "-H", "X-Stella-Tenant: acme",
         "-H", "Content-Type: application/x-ndjson",
         "--data-binary", f"@{trace.path}",
         f"{server.url}/api/v1/runtime-facts?graph_hash={graph}"],
        check=True, capture_output=True,
    ).stdout.decode()  # fmt: skip
    while out.startswith("HTTP/1.1 100"):  # curl's Expect: 100-continue for larger bodies
        out = out.partition("\r\n\r\n")[2]
    head, _, body = out.partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 201")
    headers = {
        k.lower(): v.strip() for k, _, v in (h.partition(":") for h in head.splitlines()[1:])
    }
    assert headers["content-sha256"] == trace.sha256
    assert headers["x-graph-hash"] == graph
    assert json.loads(body)["ingest_id"] == headers["x-ingest-id"]


def test_stella_ingest_and_timeline_verify(server: Server, tmp_path: Path) -> None:
    graph = post_graph(server)
    trace = write_trace(tmp_path / "runtime-trace.ndjson.gz", SPEC)
    common = ["--server", server.url, "--tenant", "acme", "--token-file", str(server.token_file)]

    def stella(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(BIN / "stella"), *args], capture_output=True, text=True)

    first = stella("ingest", str(trace.path), "--graph-hash", graph, *common)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["status"] == "ingested"
    again = stella("ingest", str(trace.path), "--graph-hash", graph, *common)
    assert again.returncode == 0 and json.loads(again.stdout)["duplicate"] is True
    orphan = stella("ingest", str(trace.path), "--graph-hash", "blake3:" + "1" * 64, *common)
    assert orphan.returncode == 7
    bad = tmp_path / "bad.ndjson"
    bad.write_bytes(b'{"symbol_id": 1}\n')
    invalid = stella("ingest", str(bad), "--graph-hash", graph, *common)
    assert invalid.returncode == 6 and "line 1: symbol_id: wrong_type" in invalid.stderr
    verify = stella("timeline", "verify", *common)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    export = tmp_path / "export.ndjson"
    export.write_bytes(
        httpx.get(f"{server.url}/api/v1/timeline/export", headers=server.headers()).content
    )
    assert stella("timeline", "verify", str(export)).returncode == 0
    lines = export.read_bytes().splitlines()
    tampered = json.loads(lines[1])
    tampered["attributes"]["records"] = 1
    lines[1] = json.dumps(tampered).encode()
    export.write_bytes(b"\n".join(lines) + b"\n")
    broken = stella("timeline", "verify", str(export), "--json")
    assert broken.returncode == 1
    assert json.loads(broken.stdout)["first_break"]["seq"] == 2


def counts(data_dir: Path) -> dict[str, int]:
    with sqlite3.connect(data_dir / "signals.db") as db:
        return {
            table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
            for table in ("ingests", "facts", "timeline_events")
        }


def test_a_client_that_stops_mid_body_leaves_nothing(server: Server) -> None:
    graph = post_graph(server)
    before = counts(server.data_dir)
    body = gzip.compress(trace_bytes(SPEC))
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        request = (
            f"POST /api/v1/runtime-facts?graph_hash={graph} HTTP/1.1\r\n"
            f"Host: 127.0.0.1\r\nContent-Type: application/x-ndjson\r\n"
            f"Authorization: {server.headers()['Authorization']}\r\nX-Stella-Tenant: acme\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        sock.sendall(request + body[: len(body) // 2])
        time.sleep(0.5)
    staging = server.data_dir / "cas" / ".staging"
    deadline = time.monotonic() + 20  # the server notices the disconnect on its own time
    while staging.exists() and any(staging.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not staging.exists() or not any(staging.iterdir())
    assert counts(server.data_dir) == before
    runtime = server.data_dir / "cas" / "acme" / "reachability" / "runtime"
    assert not runtime.exists() or not any(p.is_file() for p in runtime.rglob("*"))


def test_a_server_killed_mid_ingest_leaves_all_or_nothing(server: Server, tmp_path: Path) -> None:
    big = SynthSpec(150_000, seed=12, symbols=400, purls=30)
    response = httpx.post(
        f"{server.url}/api/v1/graphs", content=graph_bytes(big), headers=server.headers()
    )
    graph = response.json()["graph_hash"]
    rng = random.Random(5)
    for round_ in range(3):
        trace = write_trace(
            tmp_path / f"t{round_}.ndjson.gz",
            SynthSpec(150_000, seed=100 + round_, symbols=400, purls=30),
        )
        sender = threading.Thread(
            target=lambda path=trace.path: _post_quietly(server, graph, path), daemon=True
        )
        sender.start()
        time.sleep(rng.uniform(0.2, 1.5))
        server.kill()
        sender.join(10)
        server.start()
    # every accepted ingest is whole: its blob, facts and event; nothing else exists
    with sqlite3.connect(server.data_dir / "signals.db") as db:
        accepted = db.execute(
            "SELECT ingest_id, content_sha256, timeline_event_id FROM ingests"
            " WHERE status = 'ingested'"
        ).fetchall()
        for ingest_id, sha, event_id in accepted:
            assert (
                db.execute("SELECT count(*) FROM facts WHERE ingest_id=?", (ingest_id,)).fetchone()[
                    0
                ]
                > 0
            )
            assert (
                db.execute(
                    "SELECT count(*) FROM timeline_events WHERE event_id=?", (event_id,)
                ).fetchone()[0]
                == 1
            )
            assert (
                server.data_dir / "cas" / "acme" / "reachability" / "runtime" / sha[:2] / sha
            ).is_file()
        orphan_facts = db.execute(
            "SELECT count(*) FROM facts WHERE ingest_id NOT IN (SELECT ingest_id FROM ingests)"
        ).fetchone()[0]
        assert orphan_facts == 0
        bodies = [row[0] for row in db.execute("SELECT body FROM timeline_events ORDER BY seq")]
    events = [parse_event(body.encode()) for body in bodies]
    assert check_chain(events, tenant="acme").ok
    # and the service still ingests after the crashes
    again = write_trace(tmp_path / "after.ndjson.gz", SPEC)
    response = httpx.post(
        f"{server.url}/api/v1/runtime-facts?graph_hash={graph}",
        content=again.path.read_bytes(),
        headers=server.headers() | {"Content-Type": "application/x-ndjson"},
    )
    assert response.status_code == 201, response.text


def _post_quietly(server: Server, graph: str, path: Path) -> None:
    try:
        httpx.post(
            f"{server.url}/api/v1/runtime-facts?graph_hash={graph}",
            content=path.read_bytes(),
            headers=server.headers() | {"Content-Type": "application/x-ndjson"},
            timeout=30,
        )
    except httpx.HTTPError:
        pass


def test_stella_graph_verify_against_the_server(server: Server, tmp_path: Path) -> None:
    graph = post_graph(server)
    trace = write_trace(tmp_path / "runtime-trace.ndjson.gz", SPEC)
    args = [
        *("graph", "verify", "--runtime", str(trace.path), "--graph", graph, "--json"),
        *("--server", server.url, "--tenant", "acme", "--token-file", str(server.token_file)),
    ]
    result = subprocess.run([str(BIN / "stella"), *args], capture_output=True, text=True)
    report = json.loads(result.stdout)
    assert result.returncode == (0 if report["unmapped_symbols"] == 0 else 1), result.stderr
    assert report["records"] == SPEC.records and report["graph_hash"] == graph
    local = tmp_path / "graph.json"
    local.write_bytes(graph_bytes(SPEC))
    offline_args = [
        "graph",
        "verify",
        "--runtime",
        str(trace.path),
        "--graph",
        str(local),
        "--json",
    ]
    offline = subprocess.run([str(BIN / "stella"), *offline_args], capture_output=True, text=True)
    assert json.loads(offline.stdout) == report
