"""Issue 14 item 8: a server killed during an upload leaves its partial ``.part`` staging
file; the next start-up and `signals worker` remove it (and count it in ``/metrics``), while
live uploads, of this or another process, are never touched."""

from __future__ import annotations

import gzip
import socket
import time

import httpx
import pytest

from stella_signals_dev.synth import SynthSpec, trace_bytes
from tests.api.test_server_process import Server, post_graph
from tests.api.test_server_process import server as server  # the fixture, re-exported
from tests.realservers.signals_process import signals

#: Real `signals serve` processes and console scripts (docs/testing.md).
pytestmark = pytest.mark.e2e

BIG = SynthSpec(60_000, seed=21, symbols=400, purls=30)


def _start_upload(server: Server, graph: str) -> socket.socket:
    """An upload that stops halfway and stays open, until its staging file has bytes."""
    body = gzip.compress(trace_bytes(BIG), compresslevel=0)  # big on disk: easy to see
    sock = socket.create_connection(("127.0.0.1", server.port))
    request = (
        f"POST /api/v1/runtime-facts?graph_hash={graph} HTTP/1.1\r\n"
        f"Host: 127.0.0.1\r\nContent-Type: application/x-ndjson\r\n"
        f"Authorization: {server.headers()['Authorization']}\r\nX-Stella-Tenant: acme\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    sock.sendall(request + body[: len(body) // 2])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if any(p.stat().st_size > 0 for p in server.staged_files()):
            return sock
        time.sleep(0.05)
    raise AssertionError("the upload never reached a staging file")


def _swept_total(server: Server) -> float:
    text = httpx.get(f"{server.url}/metrics").text
    [line] = [x for x in text.splitlines() if x.startswith("signals_staging_swept_total ")]
    return float(line.split()[1])


def test_a_restart_sweeps_the_part_file_a_kill_left(server: Server) -> None:
    graph = post_graph(server)
    upload = _start_upload(server, graph)
    server.kill()
    upload.close()
    [leftover] = server.staged_files()
    assert leftover.name.endswith(".part") or "staging" in str(leftover)
    server.start()
    assert server.staged_files() == []
    assert _swept_total(server) == 1
    # the restarted server's own upload in flight is not swept by the next start of another
    upload = _start_upload(server, graph)
    try:
        signals("worker", "--once", "--data-dir", str(server.data_dir),
                *server.backend.flags(), env=server.backend.environ)  # fmt: skip
        assert server.staged_files() != []
    finally:
        upload.close()


def test_signals_worker_sweeps_the_part_file_a_kill_left(server: Server) -> None:
    graph = post_graph(server)
    upload = _start_upload(server, graph)
    server.kill()
    upload.close()
    assert len(server.staged_files()) == 1
    worker = signals("worker", "--once", "--data-dir", str(server.data_dir),
                     *server.backend.flags(), env=server.backend.environ)  # fmt: skip
    assert "1 abandoned file(s) removed" in worker.stderr
    assert server.staged_files() == []
    server.start()  # nothing left for the start-up sweep
    assert _swept_total(server) == 0
