"""An API over a real embedded default (SQLite + filesystem CAS) in a temp data dir."""

from __future__ import annotations

import functools
import gzip
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from stella_signals.api import create_app
from stella_signals.cas import Namespace
from stella_signals.limits import Limits
from stella_signals.tenancy import TenantId
from stella_signals.wiring import Services
from stella_signals_dev.synth import SynthSpec, graph_bytes, trace_bytes
from tests.realservers.backends import Backend, grant_tokens

SPEC = SynthSpec(2000, seed=5, symbols=300, purls=20)


@functools.cache
def spec_graph() -> bytes:
    """`graph_bytes(SPEC)`, made once per process (deterministic: the spec is seeded)."""
    return graph_bytes(SPEC)


@dataclass
class Api:
    client: TestClient
    services: Services
    tokens: dict[str, str]
    data_dir: Path

    def headers(self, who: str = "acme", tenant: str | None = None, **extra: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.tokens[who]}",
            "X-Stella-Tenant": tenant or who.split("-")[0],
            **extra,
        }

    def post_graph(self, who: str = "acme", data: bytes | None = None) -> str:
        response = self.client.post(
            "/api/v1/graphs", content=data or spec_graph(), headers=self.headers(who)
        )
        assert response.status_code in (200, 201), response.text
        graph_hash: str = response.json()["graph_hash"]
        return graph_hash

    def post_trace(self, body: bytes, graph_hash: str, who: str = "acme", **headers: str):  # type: ignore[no-untyped-def]
        return self.client.post(
            f"/api/v1/runtime-facts?graph_hash={graph_hash}",
            content=body,
            headers=self.headers(who, **{"Content-Type": "application/x-ndjson", **headers}),
        )

    def events(self, who: str = "acme", type_: str | None = None) -> list[dict[str, object]]:
        params = {"type": type_} if type_ else {}
        response = self.client.get(
            "/api/v1/timeline/events", params=params | {"page_size": 500}, headers=self.headers(who)
        )
        assert response.status_code == 200, response.text
        items: list[dict[str, object]] = response.json()["items"]
        return items

    def blobs(self, namespace: Namespace, tenant: str = "acme") -> list[bytes]:
        """Every published blob of a namespace, read back (and verified) through the store."""
        store, who = self.services.blobs, TenantId(tenant)
        return [b"".join(store.open(who, uri)) for uri in store.iter_uris(who, namespace)]

    def runtime_blobs(self, tenant: str = "acme") -> list[bytes]:
        return self.blobs(Namespace.RUNTIME, tenant)


def make_api(
    tmp_path: Path, limits: Limits | None = None, backend: Backend | None = None
) -> Iterator[Api]:
    backend = backend or Backend("embedded")
    settings = backend.settings(tmp_path / "data", orphan_retry_seconds=0)
    if limits is not None:
        settings = replace(settings, limits=limits)
    services = Services.open(settings)
    grants = {
        "acme": ({"acme"}, {"signals:read", "signals:write"}),
        "globex": ({"globex"}, {"signals:read", "signals:write"}),
        "acme-reader": ({"acme"}, {"signals:read"}),
    }
    tokens = grant_tokens(services, grants)
    with TestClient(create_app(services)) as client:
        yield Api(client, services, tokens, tmp_path / "data")
    services.close()


@pytest.fixture
def api(tmp_path: Path, backend: Backend) -> Iterator[Api]:
    yield from make_api(tmp_path, backend=backend)


@pytest.fixture(scope="session")
def trace_gz() -> bytes:
    return gzip.compress(trace_bytes(SPEC), mtime=0)
