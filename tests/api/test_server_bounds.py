"""Issue 14 item 5: what a client may make `signals serve` hold before it authenticates —
request line and headers (431 past 64 KiB in all, or past 100 fields), slow clients
(408 / closed), concurrent connections (503) — against a real server process."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stella_signals.limits import KiB
from tests.realservers.signals_process import SignalsProcess, free_port

#: A real `signals serve` process (docs/testing.md).
pytestmark = pytest.mark.e2e

TIMEOUT = 1.0  # the header and body timeouts of the server under test


def _serve(tmp_path: Path, **env: str) -> Iterator[SignalsProcess]:
    process = SignalsProcess(
        ["serve", "--data-dir", str(tmp_path / "data")], tmp_path / "server.log",
        env=env, port=free_port(),
    )  # fmt: skip
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SignalsProcess]:
    yield from _serve(
        tmp_path_factory.mktemp("bounds"),
        STELLA_HEADER_TIMEOUT_SECONDS=str(TIMEOUT),
        STELLA_BODY_TIMEOUT_SECONDS=str(TIMEOUT),
    )


def _connect(server: SignalsProcess) -> socket.socket:
    assert server.port is not None
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    return sock


def _answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    out = b""
    while chunk := sock.recv(65536):
        out += chunk
    return out


def _exchange(server: SignalsProcess, request: bytes) -> bytes:
    with _connect(server) as sock:
        try:
            sock.sendall(request)
        except OSError:  # the server stopped reading: its answer is still there
            pass
        return _answer(sock)


def _get(*headers: bytes) -> bytes:
    lines = [b"GET /healthz HTTP/1.1", b"Host: 127.0.0.1", *headers, b"Connection: close"]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def test_a_header_past_64_kib_is_refused_431(server: SignalsProcess) -> None:
    head = len(_get(b"X-Pad: "))
    fits = _get(b"X-Pad: " + b"a" * (64 * KiB - head))
    assert len(fits) == 64 * KiB
    assert _status(_exchange(server, fits)) == 200
    answer = _exchange(server, _get(b"X-Pad: " + b"a" * (64 * KiB - head + 1)))
    assert _status(answer) == 431
    assert b"application/problem+json" in answer and b'"reason":"headers_too_large"' in answer
    # and a complete 5 MB header (answered 200 before issue 14)
    assert _status(_exchange(server, _get(b"X-Big: " + b"a" * 5_000_000))) == 431


def test_a_long_request_line_counts_too(server: SignalsProcess) -> None:
    request = b"GET /healthz?" + b"q" * (64 * KiB) + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    assert _status(_exchange(server, request)) == 431


def test_too_many_header_fields_are_refused_431(server: SignalsProcess) -> None:
    def fields(n: int) -> list[bytes]:
        return [b"X-F%d: 1" % i for i in range(n)]

    assert _status(_exchange(server, _get(*fields(98)))) == 200  # + Host, Connection = 100
    answer = _exchange(server, _get(*fields(99)))
    assert _status(answer) == 431 and b"more than 100 header fields" in answer


def test_a_slow_client_is_cut_off(server: SignalsProcess) -> None:
    with _connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        started = time.monotonic()
        for _ in range(50):  # one byte every 0.1 s: never a complete head
            try:
                sock.sendall(b"a")
            except OSError:
                break
            time.sleep(0.1)
        answer = _answer(sock)
        assert time.monotonic() - started < TIMEOUT + 3
    assert _status(answer) == 408


def test_an_idle_connection_and_a_stalled_body_are_closed(server: SignalsProcess) -> None:
    with _connect(server) as idle:
        started = time.monotonic()
        assert _answer(idle) == b""  # closed without a word
        assert time.monotonic() - started < TIMEOUT + 3
    with _connect(server) as stalled:
        stalled.sendall(
            b"POST /api/v1/runtime-facts HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nab"
        )
        started = time.monotonic()
        _answer(stalled)  # whatever the app said, the connection ends
        assert time.monotonic() - started < TIMEOUT + 3


def test_connections_past_the_limit_are_refused_503(tmp_path: Path) -> None:
    for server in _serve(tmp_path, STELLA_MAX_CONNECTIONS="3"):
        held = [_connect(server) for _ in range(3)]
        try:
            time.sleep(0.2)
            with _connect(server) as extra:
                answer = _answer(extra)
            assert _status(answer) == 503 and b"too_many_connections" in answer
            assert b"retry-after: 1" in answer.lower()
        finally:
            for sock in held:
                sock.close()
        time.sleep(0.2)
        assert _status(_exchange(server, _get())) == 200


def test_the_bounds_come_from_the_config_file_and_the_environment(tmp_path: Path) -> None:
    from stella_signals.api import uvicorn_options
    from stella_signals.errors import InvalidInput
    from stella_signals.wiring import load_settings

    config = tmp_path / "signals.toml"
    config.write_text(
        "[server]\nheader_timeout_seconds = 3\nbody_timeout_seconds = 7.5\n"
        "keep_alive_seconds = 2\nmax_connections = 40\n"
        "[limits]\nmax_header_bytes = 8192\nmax_headers = 20\n"
    )
    settings = load_settings(config_file=config, environ={"STELLA_MAX_CONNECTIONS": "50"})
    bounds = uvicorn_options(settings)["http"].bounds
    assert (bounds.header_timeout_seconds, bounds.body_timeout_seconds) == (3, 7.5)
    assert (bounds.keep_alive_seconds, bounds.max_connections) == (2, 50)  # env wins
    assert (bounds.max_header_bytes, bounds.max_headers) == (8192, 20)
    assert uvicorn_options(settings)["timeout_keep_alive"] == 2
    for variable in ("STELLA_HEADER_TIMEOUT_SECONDS", "STELLA_MAX_CONNECTIONS"):
        with pytest.raises(InvalidInput, match="must be positive"):
            load_settings(environ={variable: "0"})
