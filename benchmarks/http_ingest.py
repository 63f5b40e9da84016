"""HTTP ingest benchmarks (issues 4 and 8): real `signals serve` processes on loopback, on the
embedded default (SQLite + filesystem CAS) and on PostgreSQL + S3 (SeaweedFS).

(a) one 1 M-record gzip trace posted end to end (validated, mapped, persisted, receipted);
(b) small ingests (issue 19): N concurrent clients (16) posting distinct 100-record traces for
    S seconds, then the same clients asking ``GET /healthz`` for as long (the ceiling of the
    HTTP stack on the same machine: ingests/s ÷ healthz/s is reported) — on PostgreSQL + S3
    once against one server and once spread over two (a round-robin "load balancer");
(c) the server's peak RSS (VmHWM) after ingesting a 10 M-record trace;
(d) PostgreSQL only: writing 200,000 fact rows with COPY vs a driver-level executemany.

The PostgreSQL cluster is durable (fsync on, the defaults), unlike the tests' throwaway one;
the embedded default is durable as it ships (SQLite ``synchronous=FULL``, the CAS fsyncs).

``python benchmarks/http_ingest.py --small-only`` runs only (b) on the embedded default
(``--scaleout`` adds PostgreSQL + S3 with two servers), printing JSON; ``--large-only`` runs
(a) alternating with DuckDB on the same file, for the ratio of issue 19 round by round, then
(c) on a fresh server (``--scaleout``: PostgreSQL + S3 too).
"""

from __future__ import annotations

import contextlib
import gzip
import itertools
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from stella_signals_dev.synth import SynthSpec, graph_bytes, trace_bytes

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # the real-server helpers live with the tests
    sys.path.insert(0, str(REPO))

from tests.realservers.backends import standalone_scaleout  # noqa: E402
from tests.realservers.signals_process import free_port  # noqa: E402


@dataclass
class Deployment:
    """Where the servers keep their state: ``signals`` flags and environment."""

    name: str
    flags: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    database_url: str | None = None


class _Server:
    def __init__(self, data_dir: Path, deployment: Deployment, headers: dict[str, str]) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.headers = headers
        self.process = subprocess.Popen(
            [str(BIN / "signals"), "serve", "--port", str(self.port),
             "--data-dir", str(data_dir), *deployment.flags],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, **deployment.env, "STELLA_ORPHAN_RETRY_SECONDS": "0"},
        )  # fmt: skip
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


def _token(work: Path, deployment: Deployment) -> dict[str, str]:
    token = subprocess.run(
        [str(BIN / "signals"), "tokens", "create", "--tenant", "bench", "--scope",
         "signals:write", "--scope", "signals:read", "--data-dir", str(work / "server0"),
         *deployment.flags],
        check=True, capture_output=True, text=True, env={**os.environ, **deployment.env},
    ).stdout.strip().splitlines()[-1]  # fmt: skip
    return {"Authorization": f"Bearer {token}", "X-Stella-Tenant": "bench"}


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


#: Records per trace of the small-ingest load (issue 19).
SMALL_RECORDS = 100


def _concurrent(
    servers: list[_Server],
    graph: str,
    clients: int,
    seconds: float,
    seed: int,
    *,
    records: int = SMALL_RECORDS,
) -> dict[str, Any]:
    """``clients`` threads posting distinct ``records``-record traces for ``seconds``, then
    the same threads asking ``GET /healthz`` for as long: both under the same load."""
    bases = [trace_bytes(SynthSpec(records, seed=seed + i, symbols=2000)) for i in range(16)]
    bodies = [  # more than the load can use; each distinct by the first record's pid
        gzip.compress(_with_first_pid(bases[i % len(bases)], i + 1), 1, mtime=0)
        for i in range(int(seconds * 1500) + clients * 10)
    ]
    ingest = _load(servers, clients, seconds, bodies, graph)
    health = _load(servers, clients, seconds, None, graph)
    ingest["records_per_trace"] = records
    ingest["healthz"] = health
    ingest["ingest_vs_healthz"] = round(ingest["ingests_per_s"] / health["ingests_per_s"], 3)
    return ingest


def _with_first_pid(trace: bytes, pid: int) -> bytes:
    """``trace`` with its first record's ``pid`` set to ``pid``: another trace, as cheap to
    make as a copy (synthesising each one costs a fifth of a second)."""
    first, newline, rest = trace.partition(b"\n")
    return re.sub(rb'"pid":\d+', b'"pid":%d' % pid, first, count=1) + newline + rest


def _load(
    servers: list[_Server],
    clients: int,
    seconds: float,
    bodies: list[bytes] | None,
    graph: str,
) -> dict[str, Any]:
    """Each client posts the next unused body (or, without bodies, asks ``/healthz``) until
    ``seconds`` have passed or the bodies run out; every request's latency is kept."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    next_body = iter(range(len(bodies))) if bodies is not None else itertools.count()
    # Client n talks to server n mod N: a round-robin load balancer.
    targets = itertools.cycle(servers)

    def client(server: _Server) -> None:
        with httpx.Client(base_url=server.url, headers=server.headers, timeout=60) as http:
            while time.monotonic() < stop_at:
                with lock:
                    index = next(next_body, None)
                if index is None:
                    return
                start = time.perf_counter()
                if bodies is None:
                    response = http.get("/healthz")
                else:
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

    busy_before, servers_before = _machine_busy_seconds(), _cpu_seconds(servers)
    client_before = time.process_time()
    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(next(targets),)) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    latencies.sort()
    cpus = os.cpu_count() or 1
    server_cpu = _cpu_seconds(servers) - servers_before
    return {
        # Where the CPU went: all of the machine's cores, the servers, this client process.
        "machine_cpu_busy": round((_machine_busy_seconds() - busy_before) / (wall * cpus), 3),
        "server_cpu_s": round(server_cpu, 2),
        "server_cpu_ms_per_request": round(server_cpu * 1000 / max(1, len(latencies)), 2),
        "client_cpu_s": round(time.process_time() - client_before, 2),
        "cpu_s_available": round(wall * cpus, 2),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "servers": len(servers),
        "clients": clients,
        "seconds": round(wall, 2),
        "ingests": len(latencies),
        "ingests_per_s": round(len(latencies) / wall, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p99_ms": round(latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000, 1),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
    }


def _cpu_seconds(servers: list[_Server]) -> float:
    """User + system CPU seconds the server processes have used so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for server in servers:
        fields = Path(f"/proc/{server.process.pid}/stat").read_text().rpartition(")")[2].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def _machine_busy_seconds() -> float:
    """CPU seconds all cores spent not idle (``/proc/stat``)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _post_graph(server: _Server, spec: SynthSpec) -> str:
    response = httpx.post(
        f"{server.url}/api/v1/graphs", content=graph_bytes(spec), headers=server.headers,
        timeout=600,
    )  # fmt: skip
    assert response.status_code in (200, 201), response.text[:500]
    graph_hash: str = response.json()["graph_hash"]
    return graph_hash


def deployment_benchmarks(
    deployment: Deployment,
    spec: SynthSpec,
    trace_1m: Path | None,
    trace_10m: Path | None,
    *,
    clients: int,
    seconds: float,
    max_servers: int,
) -> dict[str, Any]:
    """The benchmarks of one deployment; without ``trace_1m`` only the small-ingest load."""
    results: dict[str, Any] = {}
    label = deployment.name
    with tempfile.TemporaryDirectory(prefix="stella-bench-") as tmp:
        work = Path(tmp)
        headers = _token(work, deployment)
        servers = [_Server(work / f"server{n}", deployment, headers) for n in range(max_servers)]
        try:
            first = servers[0]
            graph = _post_graph(first, spec)
            if trace_1m is not None:
                elapsed, receipt = _post_file(first, graph, trace_1m)
                records = receipt["counts"]["records"]
                results["single_1m"] = {
                    "seconds": round(elapsed, 3),
                    "records": records,
                    "records_per_s": round(records / elapsed),
                    "mapped_symbols": receipt["counts"]["mapped_symbols"],
                }
                print(f"[{label}] HTTP ingest 1 M: {results['single_1m']}", flush=True)
            if clients:
                small_graph = _post_graph(first, SynthSpec(1000, seed=10_000, symbols=2000))
                for count in range(1, max_servers + 1):
                    key = "concurrent" if count == 1 else f"concurrent_{count}_servers"
                    results[key] = _concurrent(
                        servers[:count], small_graph, clients, seconds, seed=10_000 * count
                    )
                    print(
                        f"[{label}] HTTP concurrent, {count} server(s): {results[key]}",
                        file=sys.stderr,
                    )
            if trace_10m is not None:
                elapsed, receipt = _post_file(first, graph, trace_10m)
                results["single_10m"] = {
                    "seconds": round(elapsed, 1),
                    "records_per_s": round(receipt["counts"]["records"] / elapsed),
                    "server_peak_rss_mib": round(first.peak_rss_mib(), 1),
                }
                print(f"[{label}] HTTP ingest 10 M: {results['single_10m']}", flush=True)
        finally:
            for server in servers:
                server.stop()
    return results


def facts_insert_benchmark(database_url: str, rows: int = 200_000) -> dict[str, Any]:
    """COPY (what the repository uses on PostgreSQL) against a driver-level executemany of
    the same rows, each in its own transaction, on a durable cluster."""
    from stella_signals.clock import SystemClock
    from stella_signals.ids import new_ulid
    from stella_signals.ports import FactRow, IngestRecord
    from stella_signals.storage import SqlRepository
    from stella_signals.storage._schema import facts, ingests
    from stella_signals.storage._sql_ingests import insert_facts
    from stella_signals.tenancy import TenantId

    repo = SqlRepository(database_url)
    repo.migrate()
    now = datetime.now(UTC)
    tenant = TenantId("bench")
    sample = [
        FactRow(f"sym:py/pkg{n % 400}/mod/fn{n}", f"pkg:pypi/pkg{n % 400}@1.0.{n % 7}",
                f"sha256:{n % 50:064x}", n % 1000 + 1, now, now + timedelta(seconds=n % 60),
                f"n{n}" if n % 3 else None)
        for n in range(rows)
    ]  # fmt: skip
    columns = [c.name for c in facts.columns]
    sql = f"INSERT INTO facts ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"  # noqa: S608
    timings: dict[str, float] = {}
    try:
        for method in ("copy", "executemany", "copy", "executemany"):
            ingest = IngestRecord(new_ulid(SystemClock()), tenant, "ingested", now)
            with repo.engine.begin() as conn:
                conn.execute(
                    ingests.insert().values(
                        ingest_id=ingest.ingest_id,
                        tenant=tenant,
                        status="ingested",
                        received_at=now,
                    )
                )
                start = time.perf_counter()
                if method == "copy":
                    insert_facts(conn, repo.dialect, ingest, sample)
                else:
                    conn.exec_driver_sql(
                        sql,
                        [
                            (
                                ingest.ingest_id,
                                tenant,
                                i,
                                f.symbol_id,
                                f.purl,
                                f.container,
                                f.hits,
                                f.first_seen,
                                f.last_seen,
                                f.node,
                            )
                            for i, f in enumerate(sample)
                        ],
                    )
                elapsed = time.perf_counter() - start
            timings[method] = min(timings.get(method, elapsed), elapsed)
    finally:
        repo.close()
    return {
        "rows": rows,
        "copy_s": round(timings["copy"], 3),
        "executemany_s": round(timings["executemany"], 3),
        "copy_rows_per_s": round(rows / timings["copy"]),
        "executemany_rows_per_s": round(rows / timings["executemany"]),
    }  # fmt: skip


@contextlib.contextmanager
def scaleout_deployment() -> Iterator[Deployment]:
    """A durable PostgreSQL cluster and a SeaweedFS bucket, both on loopback."""
    with standalone_scaleout(durable=True) as backend:
        yield Deployment(
            "postgres-s3", flags=backend.flags(), env=dict(backend.environ),
            database_url=backend.database_url,
        )  # fmt: skip


def http_benchmarks(
    spec: SynthSpec,
    trace_1m: Path,
    trace_10m: Path | None,
    *,
    clients: int,
    seconds: float,
    scaleout: bool = True,
) -> dict[str, Any]:
    results: dict[str, Any] = {
        "embedded": deployment_benchmarks(
            Deployment("embedded"), spec, trace_1m, trace_10m,
            clients=clients, seconds=seconds, max_servers=1,
        )
    }  # fmt: skip
    if scaleout:
        with scaleout_deployment() as deployment:
            results["postgres-s3"] = deployment_benchmarks(
                deployment, spec, trace_1m, trace_10m,
                clients=clients, seconds=seconds, max_servers=2,
            )  # fmt: skip
            assert deployment.database_url is not None
            results["facts_insert"] = facts_insert_benchmark(deployment.database_url)
            print(f"[postgres] facts insert: {results['facts_insert']}", flush=True)
    return results


def large_vs_duckdb(rounds: int) -> dict[str, Any]:
    """The 1 M-record trace posted to the embedded default, alternating with DuckDB's
    ``read_json`` + ``GROUP BY`` of the same file (`run.duckdb_group_by`), ``rounds`` times:
    each round's ratio of records/s, as issue 19's target is stated, with the load."""
    from run import duckdb_group_by, fixture  # benchmarks/ is on sys.path as a script

    path = fixture(1_000_000)
    spec = SynthSpec(1_000_000, seed=1, symbols=20_000, purls=400)
    deployment = Deployment("embedded")
    per_round: list[dict[str, Any]] = []
    for _ in range(rounds):  # a fresh server each round: the same bytes again are a duplicate
        with tempfile.TemporaryDirectory(prefix="stella-bench-") as tmp:
            work = Path(tmp)
            server = _Server(work / "server0", deployment, _token(work, deployment))
            try:
                graph = _post_graph(server, spec)
                load = os.getloadavg()[0]
                start = time.perf_counter()
                records = duckdb_group_by(path)
                duck = records / (time.perf_counter() - start)
                cpu_before = _cpu_seconds([server])
                elapsed, receipt = _post_file(server, graph, path)
                ours = receipt["counts"]["records"] / elapsed
                per_round.append({
                    "http_records_per_s": round(ours),
                    "duckdb_records_per_s": round(duck),
                    "ratio": round(ours / duck, 3),
                    "http_seconds": round(elapsed, 3),
                    "server_cpu_s": round(_cpu_seconds([server]) - cpu_before, 2),
                    "load_average": [round(load, 2), round(os.getloadavg()[0], 2)],
                })  # fmt: skip
                print(per_round[-1], file=sys.stderr, flush=True)
            finally:
                server.stop()
    ratios = sorted(r["ratio"] for r in per_round)
    return {"rounds": per_round, "ratio_median": ratios[len(ratios) // 2], "target": 0.7}


def large_rss(*, embedded: bool, scaleout: bool) -> dict[str, Any]:
    """The 10 M-record trace posted to a fresh server of each deployment asked for: its time
    and the server's peak RSS (issue 19: under 300 MiB). Without the small-ingest load that
    `make bench` runs on the same server first, which leaves a higher floor."""
    from run import fixture  # benchmarks/ is on sys.path as a script

    path = fixture(10_000_000)
    spec = SynthSpec(1_000_000, seed=1, symbols=20_000, purls=400)
    results: dict[str, Any] = {}

    def one(deployment: Deployment) -> None:
        with contextlib.redirect_stdout(sys.stderr):  # its progress lines: stdout is JSON
            measured = deployment_benchmarks(
                deployment, spec, None, path, clients=0, seconds=0, max_servers=1
            )
        results[f"{deployment.name}_10m"] = measured["single_10m"] | {
            "load_average": [round(x, 2) for x in os.getloadavg()]
        }

    if embedded:
        one(Deployment("embedded"))
    if scaleout:
        with scaleout_deployment() as deployment:
            one(deployment)
    return results


def main() -> None:
    """Parts of the HTTP benchmarks, printed as JSON, for working on the request path
    without the whole of ``make bench`` (which runs everything through run.py):
    ``--small-only``, the small-ingest load (issue 19); ``--large-only``, the 1 M-record
    ingest against DuckDB, round by round, then the 10 M-record ingest's server peak RSS on
    a fresh server (``--scaleout``: PostgreSQL + S3 too; ``--no-embedded``: only that)."""
    import argparse
    import json

    parser = argparse.ArgumentParser(description=main.__doc__)
    only = parser.add_mutually_exclusive_group(required=True)
    only.add_argument("--small-only", action="store_true")
    only.add_argument("--large-only", action="store_true")
    parser.add_argument("--rounds", type=int, default=3, help="--large-only rounds")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--scaleout", action=argparse.BooleanOptionalAction, default=False)
    parser.add_argument("--embedded", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    if args.large_only:
        large: dict[str, Any] = {"load_average_before": [round(x, 2) for x in os.getloadavg()]}
        if args.embedded:
            large["embedded_1m_vs_duckdb"] = large_vs_duckdb(args.rounds)
        large |= large_rss(embedded=args.embedded, scaleout=args.scaleout)
        large["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
        print(json.dumps(large, indent=2))
        return
    spec = SynthSpec(1000, seed=1, symbols=2000)
    results: dict[str, Any] = {}
    if args.embedded:
        results["embedded"] = deployment_benchmarks(
            Deployment("embedded"), spec, None, None,
            clients=args.clients, seconds=args.seconds, max_servers=1,
        )  # fmt: skip
    if args.scaleout:
        with scaleout_deployment() as deployment:
            results["postgres-s3"] = deployment_benchmarks(
                deployment, spec, None, None,
                clients=args.clients, seconds=args.seconds, max_servers=2,
            )  # fmt: skip
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
