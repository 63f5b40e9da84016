"""Scale-out (issue #8, SPEC §13): three `signals serve` and two `signals worker` processes on
one PostgreSQL and one S3 bucket, started together, driven for two tenants at once with new
traces, duplicates sent to two servers at the same moment, orphans, and a graph arriving
while its orphans are still coming in.

Afterwards: every tenant chain is contiguous and verifies, no trace was ingested twice,
every orphan was ingested exactly once, and every answered ingest has its blob in the
bucket, its facts and its event."""

from __future__ import annotations

import gzip
import itertools
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from stella_signals.graph import canonical_graph, parse_graph
from stella_signals.timeline import check_chain, read_events_ndjson
from stella_signals_dev.synth import SynthSpec, graph_bytes, trace_bytes
from tests._traces import distinct_trace_spec
from tests.realservers.backends import Backend, issue_token, open_backend
from tests.realservers.signals_process import SignalsProcess, free_port

pytestmark = pytest.mark.slow

TENANTS = ("acme", "globex")
GRAPH_NOW = SynthSpec(400, seed=1, symbols=120, purls=12)
GRAPH_LATER = SynthSpec(400, seed=2, symbols=120, purls=12)
TRACES = 10  # per tenant, each sent twice at once to two servers
ORPHANS = 8  # per tenant before its graph arrives, and as many while it arrives


def gz_trace(n: int) -> bytes:
    """The ``n``-th distinct trace (tests/_traces.py: a new symbol universe per trace cost
    about 50 ms of CPU each, 3 s for the 52 of this test)."""
    return gzip.compress(trace_bytes(distinct_trace_spec(n, records=300, symbols=120, purls=12)))


@dataclass
class Deployment:
    servers: list[SignalsProcess]
    workers: list[SignalsProcess]
    tokens: dict[str, str]
    _next: Iterator[int]

    def server(self) -> SignalsProcess:
        return self.servers[next(self._next) % len(self.servers)]

    def headers(self, tenant: str, **extra: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.tokens[tenant]}",
            "X-Stella-Tenant": tenant,
            **extra,
        }

    def post_trace(
        self, tenant: str, body: bytes, graph: str, server: SignalsProcess | None = None
    ) -> httpx.Response:
        target = server or self.server()
        return httpx.post(
            f"{target.url}/api/v1/runtime-facts?graph_hash={graph}",
            content=body,
            headers=self.headers(tenant, **{"Content-Type": "application/x-ndjson"}),
            timeout=60,
        )

    def post_graph(self, tenant: str, data: bytes) -> str:
        response = httpx.post(
            f"{self.server().url}/api/v1/graphs",
            content=data,
            headers=self.headers(tenant),
            timeout=60,
        )
        assert response.status_code in (200, 201), response.text
        graph_hash: str = response.json()["graph_hash"]
        return graph_hash

    def get_all(self, tenant: str, path: str, **params: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            query = {**params, "page_size": 500} | ({"page_token": token} if token else {})
            response = httpx.get(
                f"{self.server().url}{path}", params=query, headers=self.headers(tenant)
            )
            assert response.status_code == 200, response.text
            body = response.json()
            items += body["items"]
            token = body.get("next_page_token")
            if not token:
                return items


@pytest.fixture
def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Deployment]:
    # an empty database: the five processes starting together must migrate it themselves
    backend: Backend = open_backend("postgres-s3", request, migrated=False)
    quiet = {**backend.environ, "STELLA_ORPHAN_RETRY_SECONDS": "0"}  # servers leave it to workers
    busy = {**backend.environ, "STELLA_ORPHAN_RETRY_SECONDS": "0.5"}

    def deployment_flags(name: str) -> list[str]:
        return ["--data-dir", str(tmp_path / name), *backend.flags()]

    servers = [
        SignalsProcess(
            ["serve", *deployment_flags(f"server{n}")],
            tmp_path / f"server{n}.log",
            env=quiet,
            port=free_port(),
        )
        for n in range(3)
    ]
    workers = [
        SignalsProcess(
            ["worker", *deployment_flags(f"worker{n}")], tmp_path / f"worker{n}.log", env=busy
        )
        for n in range(2)
    ]
    # All five start at once on an empty database: one migrates, the others wait for it.
    starters = [threading.Thread(target=p.start) for p in servers + workers]
    for thread in starters:
        thread.start()
    for thread in starters:
        thread.join()
    try:
        tokens = {tenant: issue_token(backend, tmp_path / "cli", tenant) for tenant in TENANTS}
        yield Deployment(servers, workers, tokens, itertools.count())
    finally:
        for process in servers + workers:
            process.stop()


def drive_tenant(deployment: Deployment, tenant: str, pool: ThreadPoolExecutor) -> dict[str, Any]:
    """Everything one tenant sends; returns the answers."""
    offset = 1000 if tenant == "globex" else 0
    graph_now = deployment.post_graph(tenant, graph_bytes(GRAPH_NOW))
    later_bytes = graph_bytes(GRAPH_LATER)
    graph_later = str(canonical_graph(parse_graph(later_bytes)).hash)

    # New traces, each sent to two different servers at the same moment.
    traces = [gz_trace(offset + n) for n in range(TRACES)]
    twins = [
        pool.submit(deployment.post_trace, tenant, body, graph_now, deployment.servers[i % 3])
        for n, body in enumerate(traces)
        for i in (n, n + 1)
    ]
    # Orphans before the graph exists...
    early = [gz_trace(offset + 100 + n) for n in range(ORPHANS)]
    early_futures = [pool.submit(deployment.post_trace, tenant, b, graph_later) for b in early]
    early_answers = [f.result() for f in early_futures]
    # ... and more while it arrives.
    late = [gz_trace(offset + 200 + n) for n in range(ORPHANS)]
    late_futures = [pool.submit(deployment.post_trace, tenant, b, graph_later) for b in late]
    arrived = pool.submit(deployment.post_graph, tenant, later_bytes)
    late_answers = [f.result() for f in late_futures]
    assert arrived.result() == graph_later
    return {
        "graph_now": graph_now,
        "graph_later": graph_later,
        "twins": [f.result() for f in twins],
        "early": early_answers,
        "late": late_answers,
        "traces": traces + early + late,
    }


def test_three_servers_and_two_workers_share_one_state(deployment: Deployment) -> None:
    with ThreadPoolExecutor(8) as pool, ThreadPoolExecutor(len(TENANTS)) as tenants:
        answers = tenants.map(lambda t: drive_tenant(deployment, t, pool), TENANTS)
        runs = dict(zip(TENANTS, answers, strict=True))

    for tenant, run in runs.items():
        # duplicates: of each pair sent at once, exactly one ingest and one duplicate
        statuses = [r.status_code for r in run["twins"]]
        assert Counter(statuses) == {201: TRACES, 200: TRACES}, statuses
        pairs = [run["twins"][i : i + 2] for i in range(0, len(run["twins"]), 2)]
        for first, second in pairs:
            assert first.json()["ingest_id"] == second.json()["ingest_id"]
        assert all(r.status_code == 202 for r in run["early"])
        assert all(r.status_code in (201, 202) for r in run["late"])

        # every orphan is ingested, by a server or a worker, within a bounded time
        deadline = time.monotonic() + 60
        while deployment.get_all(tenant, "/api/v1/ingests", status="orphaned"):
            assert time.monotonic() < deadline, "orphans were not all processed"
            time.sleep(0.5)

        export = httpx.get(
            f"{deployment.server().url}/api/v1/timeline/export", headers=deployment.headers(tenant)
        )
        events = list(read_events_ndjson(export.content.splitlines()))
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert check_chain(events, tenant=tenant).ok
        ingested = [e for e in events if e.event_type == "reach.runtime.ingested"]
        ids = [e.attributes["ingest_id"] for e in ingested]
        # exactly once: one ingested event per trace, for every trace sent
        assert len(ids) == len(set(ids)) == len(run["traces"])
        expected = {r.json()["ingest_id"] for r in run["twins"] + run["early"] + run["late"]}
        assert set(ids) == expected
        ingests = deployment.get_all(tenant, "/api/v1/ingests", status="ingested")
        assert {i["ingest_id"] for i in ingests} == expected
        keys = Counter((i["content_sha256"], i["graph_hash"]) for i in ingests)
        assert max(keys.values()) == 1
        # every blob is in the bucket, whole, through any server
        for item in ingests:
            blob = httpx.get(
                f"{deployment.server().url}/api/v1/cas/reachability/runtime/{item['content_sha256']}",
                headers=deployment.headers(tenant),
            )
            assert blob.status_code == 200 and blob.content in run["traces"]
        # tenants never see each other
        other = next(t for t in TENANTS if t != tenant)
        assert not expected & {r.json()["ingest_id"] for r in runs[other]["twins"]}
