"""Load and soak (issue #9, item 5): N clients on loopback for S seconds posting a mix of new,
invalid, duplicate and orphan traces to a real `signals serve`, on the embedded default or on
PostgreSQL + S3.

Checked: no 5xx, every answer is the expected one for its kind (201 new, 400 invalid, 200
duplicate, 202 orphan), no accepted ingest lost (every 201/202 is in the database, whole, and
nothing else is), the chain verifies, and the server's RSS is flat after warm-up.

    python reliability/load.py [--seconds 600] [--clients 16] [--backend embedded|postgres-s3]
"""

from __future__ import annotations

import argparse
import gzip
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from reliability._runner import RESULTS, finish  # noqa: E402
from reliability.crash import deployment  # noqa: E402
from reliability.state import check_state  # noqa: E402
from stella_signals.tenancy import TenantId  # noqa: E402
from stella_signals_dev.synth import SynthSpec, graph_bytes, trace_bytes  # noqa: E402
from tests._traces import distinct_trace_spec  # noqa: E402
from tests.realservers.backends import Backend  # noqa: E402
from tests.realservers.signals_process import serve_with_token  # noqa: E402

ACME = TenantId("acme")
EXPECTED = {"new": 201, "invalid": 400, "duplicate": 200, "orphan": 202}
MIX = (("new", 0.55), ("invalid", 0.15), ("duplicate", 0.15), ("orphan", 0.15))


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else 0.0


def run(backend: Backend, work: Path, *, seconds: float, clients: int) -> dict[str, Any]:
    server, headers = serve_with_token(backend, work / "data", work / "server.log")
    assert server.process is not None
    lock = threading.Lock()
    statuses: dict[str, dict[str, int]] = {kind: {} for kind in EXPECTED}
    latencies: list[float] = []
    unexpected: list[str] = []
    accepted_ids: set[str] = set()
    accepted_bodies: deque[bytes] = deque(maxlen=256)  # recent ones, to send again
    seeds = iter(range(10**9))
    rss: list[tuple[float, float]] = []
    try:
        graph = httpx.post(
            f"{server.url}/api/v1/graphs",
            content=graph_bytes(SynthSpec(1000, seed=1, symbols=300, purls=20)),
            headers=headers,
        ).json()["graph_hash"]
        started = time.monotonic()
        stop_at = started + seconds

        def body_for(kind: str, rng: random.Random) -> tuple[str, bytes, str]:
            with lock:
                seed = next(seeds)
                previous = rng.choice(accepted_bodies) if accepted_bodies else None
            if kind == "duplicate":
                if previous is not None:
                    return kind, previous, graph
                kind = "new"  # nothing accepted yet to send again
            spec = distinct_trace_spec(
                seed, records=500, symbols=300, purls=20, base_seed=1_000_000
            )
            data = trace_bytes(spec)
            if kind == "invalid":
                data += b'{"symbol_id": 42}\n'
            target = graph if kind != "orphan" else "blake3:" + f"{seed:064x}"
            return kind, gzip.compress(data, 1, mtime=0), target

        def client(n: int) -> None:
            rng = random.Random(n)
            kinds, weights = zip(*MIX, strict=True)
            with httpx.Client(base_url=server.url, headers=headers, timeout=60) as http:
                while time.monotonic() < stop_at:
                    kind, body, target = body_for(rng.choices(kinds, weights)[0], rng)
                    begin = time.perf_counter()
                    try:
                        response = http.post(
                            "/api/v1/runtime-facts",
                            params={"graph_hash": target},
                            content=body,
                            headers={"Content-Type": "application/x-ndjson"},
                        )
                    except httpx.HTTPError as exc:
                        with lock:
                            unexpected.append(f"{kind}: transport error {exc!r}")
                        continue
                    elapsed = time.perf_counter() - begin
                    with lock:
                        latencies.append(elapsed)
                        counts = statuses[kind]
                        counts[str(response.status_code)] = (
                            counts.get(str(response.status_code), 0) + 1
                        )
                        if response.status_code != EXPECTED[kind]:
                            unexpected.append(
                                f"{kind}: {response.status_code} {response.text[:200]}"
                            )
                        if response.status_code in (201, 202):
                            accepted_ids.add(response.json()["ingest_id"])
                            if response.status_code == 201:
                                accepted_bodies.append(body)

        def sample() -> None:
            while time.monotonic() < stop_at:
                rss.append((round(time.monotonic() - started, 1), round(_rss_mib(pid), 1)))
                time.sleep(max(0.0, min(2.0, stop_at - time.monotonic())))

        pid = server.process.pid
        threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
        threads.append(threading.Thread(target=sample))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.monotonic() - started
        state = check_state(backend.settings(work / "data"), ACME)
    finally:
        server.stop()
    violations = list(unexpected[:20])
    five_xx = sum(v for c in statuses.values() for k, v in c.items() if k.startswith("5"))
    if five_xx:
        violations.append(f"{five_xx} answers were 5xx")
    if state.accepted != len(accepted_ids):
        violations.append(f"{len(accepted_ids)} ingests answered 2xx, {state.accepted} stored")
    violations += state.violations
    # RSS after warm-up: the last third of the run against the middle third.
    third = len(rss) // 3
    middle = max((r for _, r in rss[third : 2 * third]), default=0.0)
    last = max((r for _, r in rss[2 * third :]), default=0.0)
    return {
        "backend": backend.name,
        "clients": clients,
        "seconds": round(wall, 1),
        "requests": len(latencies),
        "requests_per_s": round(len(latencies) / wall, 1),
        "statuses": statuses,
        "five_xx": five_xx,
        "unexpected": len(unexpected),
        "accepted": len(accepted_ids),
        "stored_accepted": state.accepted,
        "latency_ms": {
            "p50": round(statistics.median(latencies) * 1000, 1) if latencies else 0,
            "p95": round(_percentile(latencies, 0.95) * 1000, 1),
            "p99": round(_percentile(latencies, 0.99) * 1000, 1),
            "max": round(max(latencies, default=0) * 1000, 1),
        },
        "rss_mib": {
            "first": rss[0][1] if rss else 0,
            "middle_third_max": middle,
            "last_third_max": last,
            "growth_after_warmup": round(last - middle, 1),
            "samples": rss,
        },
        "chain_ok": state.chain_ok,
        "violations": violations,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--backend", choices=["embedded", "postgres-s3"], default="embedded")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    with deployment(args.backend) as backend, tempfile.TemporaryDirectory() as tmp:
        result = run(backend, Path(tmp), seconds=args.seconds, clients=args.clients)
    summary = {k: v for k, v in result.items() if k != "rss_mib"}
    finish(
        result,
        args.out or RESULTS / f"load-{args.backend}.json",
        failed=bool(result["violations"]),
        shown=summary | {"rss_growth": result["rss_mib"]["growth_after_warmup"]},
    )


if __name__ == "__main__":
    main()
