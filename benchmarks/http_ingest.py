"""HTTP ingest benchmarks (issue 4): a real `signals serve` process on loopback.

(a) one 1 M-record gzip trace posted end to end (validated, mapped, persisted, receipted);
(b) N concurrent clients posting distinct 1,000-record traces for S seconds;
(c) the server's peak RSS (VmHWM) after ingesting a 10 M-record trace.
"""

from __future__ import annotations

import gzip
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from stella_signals.synth import SynthSpec, graph_bytes, trace_bytes

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class _Server:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = _free_port()
        token = subprocess.run(
            [str(BIN / "signals"), "tokens", "create", "--tenant", "bench", "--scope",
             "signals:write", "--scope", "signals:read", "--data-dir", str(data_dir)],
            check=True, capture_output=True, text=True,
        ).stdout.strip().splitlines()[-1]  # fmt: skip
        self.headers = {"Authorization": f"Bearer {token}", "X-Stella-Tenant": "bench"}
        self.process = subprocess.Popen(
            [str(BIN / "signals"), "serve", "--port", str(self.port), "--data-dir", str(data_dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        for _ in range(300):
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def peak_rss_mib(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text().splitlines()
        return int(next(x.split()[1] for x in status if x.startswith("VmHWM:"))) / 1024

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            yield chunk


def _post_file(server: _Server, graph: str, path: Path) -> tuple[float, dict[str, Any]]:
    start = time.perf_counter()
    response = httpx.post(
        f"{server.url}/api/v1/runtime-facts",
        params={"graph_hash": graph},
        content=_file_chunks(path),
        headers=server.headers | {"Content-Type": "application/x-ndjson"},
        timeout=3600,
    )
    elapsed = time.perf_counter() - start
    assert response.status_code == 201, response.text[:500]
    receipt: dict[str, Any] = response.json()
    return elapsed, receipt


def _concurrent(server: _Server, graph: str, clients: int, seconds: float) -> dict[str, Any]:
    bodies = [
        gzip.compress(trace_bytes(SynthSpec(1000, seed=10_000 + i, symbols=2000)), 1, mtime=0)
        for i in range(clients * 60)
    ]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    next_body = iter(range(len(bodies)))

    def client() -> None:
        with httpx.Client(base_url=server.url, headers=server.headers, timeout=60) as http:
            while time.monotonic() < stop_at:
                with lock:
                    index = next(next_body, None)
                if index is None:
                    return
                start = time.perf_counter()
                response = http.post(
                    "/api/v1/runtime-facts",
                    params={"graph_hash": graph},
                    content=bodies[index],
                    headers={"Content-Type": "application/x-ndjson"},
                )
                elapsed = time.perf_counter() - start
                with lock:
                    latencies.append(elapsed)
                    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    latencies.sort()
    return {
        "clients": clients,
        "seconds": round(wall, 2),
        "ingests": len(latencies),
        "ingests_per_s": round(len(latencies) / wall, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 1),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
    }


def http_benchmarks(
    spec: SynthSpec, trace_1m: Path, trace_10m: Path | None, *, clients: int, seconds: float
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="stella-bench-") as work:
        server = _Server(Path(work) / "data")
        try:
            response = httpx.post(
                f"{server.url}/api/v1/graphs", content=graph_bytes(spec), headers=server.headers,
                timeout=600,
            )  # fmt: skip
            graph = response.json()["graph_hash"]
            elapsed, receipt = _post_file(server, graph, trace_1m)
            records = receipt["counts"]["records"]
            results["single_1m"] = {
                "seconds": round(elapsed, 3),
                "records": records,
                "records_per_s": round(records / elapsed),
                "mapped_symbols": receipt["counts"]["mapped_symbols"],
            }
            print(f"HTTP ingest 1 M: {results['single_1m']}", flush=True)
            if clients:
                small = SynthSpec(1000, seed=10_000, symbols=2000)
                small_graph = httpx.post(
                    f"{server.url}/api/v1/graphs", content=graph_bytes(small),
                    headers=server.headers, timeout=600,
                ).json()["graph_hash"]  # fmt: skip
                results["concurrent"] = _concurrent(server, small_graph, clients, seconds)
                print(f"HTTP concurrent: {results['concurrent']}", flush=True)
            if trace_10m is not None:
                elapsed, receipt = _post_file(server, graph, trace_10m)
                results["single_10m"] = {
                    "seconds": round(elapsed, 1),
                    "records_per_s": round(receipt["counts"]["records"] / elapsed),
                    "server_peak_rss_mib": round(server.peak_rss_mib(), 1),
                }
                print(f"HTTP ingest 10 M: {results['single_10m']}", flush=True)
        finally:
            server.stop()
    return results
