"""Direct upload: each window POSTed as multipart (`runtime` + `probe_manifest`) to a tiny
stdlib HTTP server that records what it receives; transient errors are retried, the receipt is
kept beside the files, and an unreachable server only costs dropped windows."""

from __future__ import annotations

import email.parser
import email.policy
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.probe._probe import run_probe, windows

PROGRAMS = Path(__file__).parent / "programs"
GRAPH = "blake3:" + "ab" * 32


class Recorder(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.received: list[dict[str, Any]] = []
        self.statuses = [503]  # the first answer; then 201


class Handler(BaseHTTPRequestHandler):
    server: Recorder

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append(
            {"path": self.path, "headers": dict(self.headers), "body": body}
        )
        status = self.server.statuses.pop(0) if self.server.statuses else 201
        reply = json.dumps({"ingest_id": f"ingest-{len(self.server.received)}"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[Recorder]:
    recorder = Recorder()
    thread = threading.Thread(target=recorder.serve_forever, daemon=True)
    thread.start()
    yield recorder
    recorder.shutdown()
    recorder.server_close()


def parts(request: dict[str, Any]) -> dict[str, bytes]:
    head = f"Content-Type: {request['headers']['Content-Type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request["body"])
    return {p.get_param("name", header="content-disposition"): p.get_payload(decode=True)
            for p in message.iter_parts()}  # fmt: skip


def upload_options(url: str, tmp_path: Path) -> list[str]:
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    return ["--server", url, "--tenant", "acme", "--token-file", str(token),
            "--graph-hash", GRAPH, "--upload-retries", "2", "--upload-backoff", "0.05"]  # fmt: skip


@pytest.mark.e2e  # starts a Python interpreter (tests/_tiers.py)
def test_windows_are_uploaded_with_their_manifest(server: Recorder, tmp_path: Path) -> None:
    out = tmp_path / "out"
    url = f"http://127.0.0.1:{server.server_address[1]}"
    done = run_probe(
        [
            "--mode",
            "discovery",
            "--sample",
            "0.4/0",
            "--out",
            str(out),
            *upload_options(url, tmp_path),
        ],
        [str(PROGRAMS / "loop.py"), "1"],
        cwd=PROGRAMS,
    )
    assert done.returncode == 0, done.stderr
    found = [w for w in windows(out) if w.records]
    assert len(found) >= 2
    assert len(server.received) == len(found) + 1  # one 503, retried
    for request in server.received:
        assert request["path"] == f"/api/v1/runtime-facts?graph_hash=blake3%3A{'ab' * 32}"
        assert request["headers"]["Authorization"] == "Bearer s3cret"
        assert request["headers"]["X-Stella-Tenant"] == "acme"
    sent = {parts(r)["runtime"]: parts(r)["probe_manifest"] for r in server.received}
    receipts = set()
    for window in found:
        trace = (window.path / "runtime-trace.ndjson.gz").read_bytes()
        assert sent[trace] == (window.path / "probe-manifest.json").read_bytes()
        receipts.add(json.loads((window.path / "receipt.json").read_text())["ingest_id"])
    assert len(receipts) == len(found)
    assert all(w.manifest["dropped"] == 0 for w in windows(out))


@pytest.mark.e2e  # starts a Python interpreter (tests/_tiers.py)
def test_an_unreachable_server_drops_windows_and_counts_them(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    out = tmp_path / "out"
    done = run_probe(
        ["--mode", "discovery", "--sample", "0.3/0", "--out", str(out),
         *upload_options(f"http://127.0.0.1:{port}", tmp_path)],
        [str(PROGRAMS / "loop.py"), "1.3"],
        cwd=PROGRAMS,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = windows(out)
    assert found[-1].manifest["dropped"] >= 1  # earlier windows' uploads, given up
    assert not list(out.glob("*/receipt.json"))
    assert all((w.path / "runtime-trace.ndjson.gz").exists() for w in found if w.records)
