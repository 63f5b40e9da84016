"""The two deployments every backend-sensitive suite runs on, unchanged (issue #8):

* ``embedded`` — SQLite + filesystem CAS under the data dir (the default);
* ``postgres-s3`` — a real PostgreSQL database and a real S3 bucket (SeaweedFS), each test
  with a fresh database and a fresh key prefix.
"""

from __future__ import annotations

import contextlib
import secrets
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from stella_signals.auth import TokenRequest
from stella_signals.wiring import Services, Settings, load_settings

if TYPE_CHECKING:
    from tests.realservers.seaweed import SeaweedServer

BACKENDS = ["embedded", "postgres-s3"]


@dataclass(frozen=True)
class Backend:
    name: str
    database_url: str | None = None
    cas_url: str | None = None
    #: What a process needs in its environment to reach the backend (AWS_* credentials).
    environ: Mapping[str, str] = field(default_factory=dict)

    def settings(self, data_dir: Path, **overrides: Any) -> Settings:
        return load_settings(
            data_dir=data_dir,
            environ={},
            database_url=self.database_url,
            cas_url=self.cas_url,
            **overrides,
        )

    def flags(self) -> list[str]:
        """The same deployment as `signals` command-line flags."""
        flags: list[str] = []
        if self.database_url:
            flags += ["--database", self.database_url]
        if self.cas_url:
            flags += ["--cas", self.cas_url]
        return flags


def grant_tokens(
    services: Services, grants: Mapping[str, tuple[Iterable[str], Iterable[str]]]
) -> dict[str, str]:
    """One bearer token per ``name -> (tenants, scopes)``, stored as ``signals tokens create``
    stores it (its hash only); returns name -> token."""
    tokens: dict[str, str] = {}
    for name, (tenants, scopes) in grants.items():
        request = TokenRequest(frozenset(scopes))
        token = services.issue_token(tenants=frozenset(tenants), request=request).secret
        tokens[name] = token
    return tokens


def issue_token(
    backend: Backend,
    data_dir: Path,
    tenant: str,
    scopes: Iterable[str] = ("signals:read", "signals:write"),
) -> str:
    """A bearer token of ``tenant`` on a deployment, stored as `signals tokens create` stores
    it, from this process (no ~1 s CLI start-up per fixture; tests/cli covers the command)."""
    services = Services.open(backend.settings(data_dir))
    try:
        return grant_tokens(services, {tenant: ([tenant], scopes)})[tenant]
    finally:
        services.close()


def scaleout_backend(database_url: str, seaweed: SeaweedServer, prefix: str) -> Backend:
    """The `postgres-s3` deployment on a database and a key prefix of the bucket."""
    return Backend(
        "postgres-s3",
        database_url=database_url,
        cas_url=f"s3://{seaweed.bucket}/{prefix}?endpoint_url={seaweed.endpoint_url}",
        environ={
            "AWS_ACCESS_KEY_ID": seaweed.access_key,
            "AWS_SECRET_ACCESS_KEY": seaweed.secret_key,
            "AWS_REGION": "us-east-1",
        },
    )


def open_backend(name: str, request: pytest.FixtureRequest, *, migrated: bool = True) -> Backend:
    """A deployment for one test: ``postgres-s3`` on a fresh database (with the schema at
    head unless ``migrated`` is false: `PostgresServer.create_database`) and a fresh key
    prefix of the bucket."""
    if name == "embedded":
        return Backend(name)
    postgres = request.getfixturevalue("postgres")
    seaweed = request.getfixturevalue("seaweed")
    database = postgres.create_database(migrated=migrated)
    backend = scaleout_backend(database, seaweed, f"t-{secrets.token_hex(6)}")
    monkeypatch = request.getfixturevalue("monkeypatch")
    for key, value in backend.environ.items():
        monkeypatch.setenv(key, value)
    return backend


@contextlib.contextmanager
def standalone_scaleout(*, durable: bool = False) -> Iterator[Backend]:
    """PostgreSQL + S3 outside pytest (benchmarks, reliability runs): a fresh cluster and a
    fresh `weed mini`, both on loopback, gone afterwards."""
    from tests.realservers.postgres import running_postgres
    from tests.realservers.seaweed import SeaweedServer

    with running_postgres(durable=durable) as postgres, tempfile.TemporaryDirectory() as tmp:
        seaweed = SeaweedServer(Path(tmp))
        seaweed.start()
        try:
            yield scaleout_backend(postgres.create_database("signals"), seaweed, "signals")
        finally:
            seaweed.stop()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Backend:
    return open_backend(request.param, request)


@pytest.fixture(scope="module", params=BACKENDS)
def module_backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """`backend` for a module's shared fixtures (one server per module and deployment): a
    fresh database and key prefix per module instead of per test."""
    if request.param == "embedded":
        yield Backend("embedded")
        return
    postgres = request.getfixturevalue("postgres")
    seaweed = request.getfixturevalue("seaweed")
    database = postgres.create_database(migrated=True)
    backend = scaleout_backend(database, seaweed, f"m-{secrets.token_hex(6)}")
    with pytest.MonkeyPatch.context() as monkeypatch:
        for key, value in backend.environ.items():
            monkeypatch.setenv(key, value)
        yield backend
