"""Header flood (issue 14, item 5): what unauthenticated clients make `signals serve` hold.

A real server (embedded default, its default bounds) on 127.0.0.1; then

* ``--connections`` (20) clients each send an unfinished header of ``--header-mib`` (8 MiB),
  all at once, while the server's RSS is sampled: the figure is its growth (< 20 MiB);
* one complete 5 MB header, one request with 101 header fields: their status (431);
* a client trickling its header one byte every 0.1 s: when the server cuts it off (408);
* ``max_connections`` idle connections held, then one more: its status (503).

Only loopback traffic; bounded in time (about 30 s). ``python reliability/header_flood.py
[--out FILE]``; exit 1 when a figure misses its goal.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from reliability._runner import RESULTS, finish  # noqa: E402
from stella_signals.wiring import Settings  # noqa: E402
from tests.realservers.signals_process import SignalsProcess, free_port  # noqa: E402

MiB = 1 << 20
GOAL_GROWTH_MIB = 20.0


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def _answer(sock: socket.socket) -> bytes:
    out = b""
    try:
        while chunk := sock.recv(65536):
            out += chunk
    except OSError:
        pass
    return out


def _status(answer: bytes) -> int | None:
    parts = answer.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def _exchange(port: int, request: bytes) -> int | None:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        try:
            sock.sendall(request)
        except OSError:
            pass
        return _status(_answer(sock))


def flood(port: int, pid: int, connections: int, header_bytes: int) -> dict[str, Any]:
    """``connections`` clients each sending an unfinished ``header_bytes`` header."""
    peak = {"rss": rss_mib(pid)}
    done = threading.Event()
    sent: list[int] = []
    answers: list[int | None] = []
    lock = threading.Lock()

    def sample() -> None:
        while not done.is_set():
            peak["rss"] = max(peak["rss"], rss_mib(pid))
            time.sleep(0.02)

    def client() -> None:
        count = 0
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            try:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Flood: ")
                chunk = b"a" * (64 * 1024)
                while count < header_bytes:
                    sock.sendall(chunk)
                    count += len(chunk)
            except OSError:
                pass
            status = _status(_answer(sock))
        with lock:
            sent.append(count)
            answers.append(status)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    threads = [threading.Thread(target=client, daemon=True) for _ in range(connections)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    seconds = time.monotonic() - started
    done.set()
    sampler.join(5)
    return {
        "peak_rss_mib": round(peak["rss"], 1),
        "seconds": round(seconds, 2),
        "answers": {str(k): answers.count(k) for k in sorted(set(answers), key=str)},
        "bytes_sent_mib_max": round(max(sent, default=0) / MiB, 2),
    }


def slow_client(port: int) -> tuple[int | None, float]:
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        started = time.monotonic()
        answer = b""
        sock.settimeout(0.1)
        while time.monotonic() - started < 60:
            try:
                sock.sendall(b"a")
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not chunk:
                break
            answer += chunk
        return _status(answer), round(time.monotonic() - started, 2)


def one_too_many(port: int, limit: int) -> int | None:
    held = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(limit)]
    try:
        time.sleep(0.5)
        with socket.create_connection(("127.0.0.1", port), timeout=30) as extra:
            return _status(_answer(extra))
    finally:
        for sock in held:
            sock.close()


def run(connections: int, header_mib: int) -> dict[str, Any]:
    defaults = Settings()
    with tempfile.TemporaryDirectory(prefix="header-flood-") as tmp:
        root = Path(tmp)
        server = SignalsProcess(
            ["serve", "--data-dir", str(root / "data")], root / "server.log", port=free_port()
        )
        server.start()
        try:
            assert server.process is not None and server.port is not None
            pid, port = server.process.pid, server.port
            for _ in range(20):  # warm up: the first requests load code and pools
                _exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            before = rss_mib(pid)
            flooded = flood(port, pid, connections, header_mib * MiB)
            time.sleep(1)
            after = rss_mib(pid)
            big = _exchange(
                port, b"GET /healthz HTTP/1.1\r\nX-Big: " + b"a" * 5_000_000 + b"\r\n\r\n"
            )
            fields = b"".join(b"X-F%d: 1\r\n" % i for i in range(defaults.limits.max_headers + 1))
            many = _exchange(port, b"GET /healthz HTTP/1.1\r\n" + fields + b"\r\n")
            slow_status, slow_seconds = slow_client(port)
            extra = one_too_many(port, defaults.max_connections)
        finally:
            server.stop()
    growth = round(max(flooded["peak_rss_mib"], after) - before, 1)
    return {
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO
        ).stdout.strip(),
        "flood_connections": connections,
        "flood_header_mib_each": header_mib,
        "rss_before_mib": round(before, 1),
        "rss_peak_mib": flooded["peak_rss_mib"],
        "rss_after_mib": round(after, 1),
        "rss_growth_mib": growth,
        "rss_growth_goal_mib": GOAL_GROWTH_MIB,
        "flood_answers": flooded["answers"],
        "flood_seconds": flooded["seconds"],
        "status_complete_5mb_header": big,
        "status_too_many_fields": many,
        "slow_client_status": slow_status,
        "slow_client_cut_after_seconds": slow_seconds,
        "header_timeout_seconds": defaults.header_timeout_seconds,
        "max_connections": defaults.max_connections,
        "status_one_connection_too_many": extra,
        "ok": growth < GOAL_GROWTH_MIB
        and big == 431
        and many == 431
        and slow_status == 408
        and extra == 503,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--header-mib", type=int, default=8)
    parser.add_argument("--out", type=Path, default=RESULTS / "header-flood.json")
    args = parser.parse_args()
    result = run(args.connections, args.header_mib)
    finish(result, args.out, failed=not result["ok"])


if __name__ == "__main__":
    main()
