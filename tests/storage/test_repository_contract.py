"""Every metadata port's contract on every backend: in memory, SQLite and PostgreSQL.

The SQL databases start at head as copies of one migrated once (SQLite: per process,
tests/_template_db.py; PostgreSQL: per cluster, `create_database(migrated=True)`): these
tests are of the ports, and running the Alembic chain for each of them was most of their
set-up. The migrations themselves are tested in test_sql_repo.py (the declared schema,
idempotence, head, upgrades) and test_sync_purpose_migration.py, on fresh databases."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from stella_signals.ports import Repository
from stella_signals.storage import MemoryRepository, SqlRepository, sqlite_url
from stella_signals.storage._sql_base import SqlDatabase
from tests._template_db import migrated_template

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
        path = tmp_path / "signals.db"
        shutil.copyfile(migrated_template(SqlDatabase.migrate), path)
        url = sqlite_url(path)
    else:
        url = request.getfixturevalue("postgres").create_database(migrated=True)
    repository = SqlRepository(url)
    repository.migrate()  # at head already: a no-op, as on any restart
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
