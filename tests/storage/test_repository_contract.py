"""Every metadata port's contract on every backend: in memory, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stella_signals.ports import Repository
from stella_signals.storage import MemoryRepository, SqlRepository, sqlite_url

from .repository_contract import (
    GraphStoreContract,
    IngestStoreContract,
    OrphanQueueContract,
    ServiceKeyStoreContract,
    SyncStoreContract,
    TimelineStoreContract,
    TokenStoreContract,
    TrustStoreContract,
    VerdictStoreContract,
)


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def repo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Repository]:
    if request.param == "memory":
        yield MemoryRepository()
        return
    if request.param == "sqlite":
        url = sqlite_url(tmp_path / "signals.db")
    else:
        url = request.getfixturevalue("postgres_url")
    repository = SqlRepository(url)
    repository.migrate()
    yield repository
    repository.close()


class TestTokenStore(TokenStoreContract):
    pass


class TestGraphStore(GraphStoreContract):
    pass


class TestIngestStore(IngestStoreContract):
    pass


class TestOrphanQueue(OrphanQueueContract):
    pass


class TestTimelineStore(TimelineStoreContract):
    pass


class TestTrustStore(TrustStoreContract):
    pass


class TestServiceKeyStore(ServiceKeyStoreContract):
    pass


class TestSyncStore(SyncStoreContract):
    pass


class TestVerdictStore(VerdictStoreContract):
    pass
