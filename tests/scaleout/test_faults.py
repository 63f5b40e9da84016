"""Faults of a scale-out deployment (issue #8): PostgreSQL restarted under load, the S3 store
unreachable, and a blob deleted behind the store's back."""

from __future__ import annotations

import gzip
import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import obstore
import pytest

from stella_signals.cas import CasUri, Namespace
from stella_signals.storage import FilesystemBlobStore, S3BlobStore, SqlRepository
from stella_signals.tenancy import TenantId
from stella_signals.timeline import check_chain
from stella_signals_dev.synth import SynthSpec, graph_bytes, trace_bytes
from tests.api.conftest import SPEC, Api, make_api
from tests.realservers.backends import Backend, issue_token, open_backend
from tests.realservers.postgres import PostgresServer, running_postgres
from tests.realservers.seaweed import SeaweedServer
from tests.realservers.signals_process import SignalsProcess, free_port

ACME = TenantId("acme")
PROBLEM = "application/problem+json"


def small_trace(seed: int) -> bytes:
    return gzip.compress(trace_bytes(SynthSpec(200, seed=seed, symbols=80, purls=8)))


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A cluster of this test's own, since the test restarts it."""
    with running_postgres() as server:
        yield server


@pytest.mark.slow
def test_postgres_restarted_under_load_answers_503_then_recovers(
    request: pytest.FixtureRequest, own_postgres: PostgresServer, tmp_path: Path
) -> None:
    s3 = open_backend("postgres-s3", request, migrated=False)  # for its bucket prefix only
    backend = Backend("postgres-s3", own_postgres.create_database(), s3.cas_url, environ=s3.environ)
    flags = ["--data-dir", str(tmp_path / "data"), *backend.flags()]
    token = issue_token(backend, tmp_path / "data", "acme")
    server = SignalsProcess(
        ["serve", *flags], tmp_path / "server.log", env=backend.environ, port=free_port()
    )
    server.start()
    headers = {"Authorization": f"Bearer {token}", "X-Stella-Tenant": "acme"}
    try:
        graph = httpx.post(
            f"{server.url}/api/v1/graphs", content=graph_bytes(SPEC), headers=headers
        ).json()["graph_hash"]
        answers: list[tuple[bytes, httpx.Response]] = []
        stop = threading.Event()
        seeds = itertools.count(100)

        def load() -> None:
            while not stop.is_set():
                body = small_trace(next(seeds))
                try:
                    response = httpx.post(
                        f"{server.url}/api/v1/runtime-facts?graph_hash={graph}",
                        content=body,
                        headers=headers | {"Content-Type": "application/x-ndjson"},
                        timeout=30,
                    )
                except httpx.HTTPError:  # pragma: no cover - the server itself stays up
                    continue
                answers.append((body, response))

        clients = [threading.Thread(target=load) for _ in range(2)]
        for client in clients:
            client.start()
        time.sleep(1.0)
        own_postgres.stop("fast")
        time.sleep(1.5)
        own_postgres.start()
        time.sleep(2.0)
        stop.set()
        for client in clients:
            client.join(60)

        statuses = {response.status_code for _, response in answers}
        assert statuses <= {201, 503}, statuses
        assert 503 in statuses, "the outage was not noticed"
        assert answers[-1][1].status_code == 201, "the server did not recover"
        for _, response in answers:
            if response.status_code == 503:
                assert response.headers["content-type"].startswith(PROBLEM)
                assert int(response.headers["Retry-After"]) > 0
                assert "Traceback" not in response.text
        # every retry of a refused upload is safe: ingested now, or found to be a duplicate
        for body, response in answers:
            if response.status_code == 503:
                retry = httpx.post(
                    f"{server.url}/api/v1/runtime-facts?graph_hash={graph}",
                    content=body,
                    headers=headers | {"Content-Type": "application/x-ndjson"},
                )
                assert retry.status_code in (200, 201), retry.text
        # nothing half-written: every ingest is whole, the chain verifies
        repo = SqlRepository(backend.database_url or "")
        try:
            ingests = repo.list_ingests(
                ACME, graph_hash=None, status=None, after=None, limit=10_000
            )
            assert ingests and all(i.status == "ingested" for i in ingests)
            events = list(repo.iter_events(ACME))
            assert check_chain(events, tenant="acme").ok
            event_ids = {e.event_id for e in events}
            for ingest in ingests:
                assert ingest.timeline_event_id in event_ids
                assert repo.list_facts(ACME, ingest.ingest_id)
            accepted = {r.json()["ingest_id"] for _, r in answers if r.status_code == 201}
            assert accepted <= {i.ingest_id for i in ingests}
        finally:
            repo.close()
    finally:
        server.stop()


@pytest.fixture
def s3_api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    yield from make_api(tmp_path, backend=open_backend("postgres-s3", request))


def test_s3_unreachable_answers_503_and_issues_no_receipt(
    s3_api: Api, seaweed: SeaweedServer, trace_gz: bytes
) -> None:
    graph = s3_api.post_graph()
    before = s3_api.events()
    seaweed.stop()
    try:
        response = s3_api.post_trace(trace_gz, graph)
        assert response.status_code == 503, response.text
        assert response.headers["content-type"].startswith(PROBLEM)
        assert int(response.headers["Retry-After"]) > 0
        ready = s3_api.client.get("/readyz")
        assert ready.status_code == 503
    finally:
        seaweed.start()
    # no receipt, no event, no ingest: the trace was not taken
    assert s3_api.events() == before
    listed = s3_api.client.get("/api/v1/ingests", headers=s3_api.headers()).json()["items"]
    assert listed == []
    retry = s3_api.post_trace(trace_gz, graph)
    assert retry.status_code == 201, retry.text
    assert s3_api.client.get("/readyz").status_code == 200


def delete_behind_the_stores_back(api: Api, uri: CasUri, seaweed: SeaweedServer | None) -> None:
    store = api.services.blobs
    if isinstance(store, S3BlobStore):
        assert seaweed is not None
        obstore.delete(seaweed.client(), store.key_of(ACME, uri))
    else:
        assert isinstance(store, FilesystemBlobStore)
        store.path_of(ACME, uri).unlink()


def test_a_blob_deleted_behind_the_stores_back_is_detected_on_read(
    api: Api, backend: Backend, request: pytest.FixtureRequest, trace_gz: bytes
) -> None:
    seaweed = request.getfixturevalue("seaweed") if backend.cas_url else None
    graph = api.post_graph()
    receipt = api.post_trace(trace_gz, graph).json()
    uri = CasUri.of(Namespace.RUNTIME, receipt["content_sha256"])
    path = f"/api/v1/cas/reachability/runtime/{receipt['content_sha256']}"
    assert api.client.get(path, headers=api.headers()).content == trace_gz
    delete_behind_the_stores_back(api, uri, seaweed)
    missing = api.client.get(path, headers=api.headers())
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith(PROBLEM)
    assert not api.services.blobs.exists(ACME, uri)
    # the evidence bundle cannot be built without it, and says so instead of lying
    bundle = api.client.get(
        f"/api/v1/evidence/{receipt['ingest_id']}/bundle", headers=api.headers()
    )
    assert bundle.status_code in (404, 409, 503), bundle.text
    assert bundle.headers["content-type"].startswith(PROBLEM)
    # the same bytes again put the blob back (create-only: nothing else changes)
    again = api.post_trace(trace_gz, graph)
    assert again.status_code == 200 and again.json()["duplicate"] is True
