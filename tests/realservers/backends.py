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
from typing import Any

import pytest

from stella_signals.auth import new_token, token_hash
from stella_signals.wiring import Services, Settings, load_settings

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
        token = new_token()
        services.repo.add_token(
            token_hash=token_hash(token),
            tenants=frozenset(tenants),
            scopes=frozenset(scopes),
            at=services.clock.now(),
        )
        tokens[name] = token
    return tokens


def open_backend(name: str, request: pytest.FixtureRequest) -> Backend:
    if name == "embedded":
        return Backend(name)
    postgres = request.getfixturevalue("postgres")
    seaweed = request.getfixturevalue("seaweed")
    prefix = f"t-{secrets.token_hex(6)}"
    environ = {
        "AWS_ACCESS_KEY_ID": seaweed.access_key,
        "AWS_SECRET_ACCESS_KEY": seaweed.secret_key,
        "AWS_REGION": "us-east-1",
    }
    monkeypatch = request.getfixturevalue("monkeypatch")
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    return Backend(
        name,
        database_url=postgres.create_database(),
        cas_url=f"s3://{seaweed.bucket}/{prefix}?endpoint_url={seaweed.endpoint_url}",
        environ=environ,
    )


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
            yield Backend(
                "postgres-s3",
                database_url=postgres.create_database("signals"),
                cas_url=f"s3://{seaweed.bucket}/signals?endpoint_url={seaweed.endpoint_url}",
                environ={
                    "AWS_ACCESS_KEY_ID": seaweed.access_key,
                    "AWS_SECRET_ACCESS_KEY": seaweed.secret_key,
                    "AWS_REGION": "us-east-1",
                },
            )
        finally:
            seaweed.stop()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Backend:
    return open_backend(request.param, request)
