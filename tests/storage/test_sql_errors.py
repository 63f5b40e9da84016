"""One mapping of database failures (``storage/_sql_errors.py``): whichever store issued
the query, a full disk is `InsufficientStorage`, an unreachable database `Unavailable`, a
second accepted ingest of the same bytes `Conflict`; nothing else is swallowed."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from stella_signals.errors import Conflict, InsufficientStorage, Unavailable
from stella_signals.ports import EventDraft, FactRow, IngestRecord, TenantPolicy
from stella_signals.storage import SqlRepository, sqlite_url
from stella_signals.storage._sql_errors import database_error
from stella_signals.tenancy import TenantId

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ACME = TenantId("acme")


def draft(n: int) -> EventDraft:
    return EventDraft(f"01M8EF{n:020d}", "reach.runtime.ingested", NOW, "test", None, {})


def record(n: int, content: int) -> IngestRecord:
    return IngestRecord(
        ingest_id=f"01M8EG{n:020d}",
        tenant=ACME,
        status="ingested",
        received_at=NOW,
        content_sha256=f"{content:064x}",
        graph_hash="sha256:" + "a" * 64,
        size=1,
    )


def test_a_full_disk_is_insufficient_storage_and_keeps_nothing(tmp_path: Path) -> None:
    repo = SqlRepository(sqlite_url(tmp_path / "full.db"))
    repo.migrate()
    with repo.engine.connect() as conn:
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()

    @sa.event.listens_for(repo.engine, "connect")
    def _cap(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages + 2}")

    repo.engine.dispose()  # new connections, capped
    facts = [
        FactRow(f"symbol-{i}-" + "x" * 200, "pkg:pypi/demo@1", None, 1, NOW, NOW, None)
        for i in range(2000)
    ]
    try:
        with pytest.raises(InsufficientStorage, match="disk full"):
            repo.commit_ingest(record(1, 1), facts, draft(1))
        assert repo.get_ingest(ACME, record(1, 1).ingest_id) is None
        assert list(repo.iter_events(ACME)) == []
    finally:
        repo.close()


def test_an_unreachable_database_is_unavailable_from_every_store() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    repo = SqlRepository(f"postgresql://u:p@127.0.0.1:{port}/db")
    try:
        with pytest.raises(Unavailable, match="metadata store unavailable"):
            repo.ping()
        with pytest.raises(Unavailable, match="metadata store unavailable"):
            repo.get_policy(ACME)
        with pytest.raises(Unavailable, match="metadata store unavailable"):
            repo.set_policy(ACME, TenantPolicy(), NOW)
    finally:
        repo.close()


def test_a_second_accepted_ingest_is_a_conflict(tmp_path: Path) -> None:
    repo = SqlRepository(sqlite_url(tmp_path / "signals.db"))
    repo.migrate()
    try:
        repo.commit_ingest(record(1, 7), [], draft(1))
        with pytest.raises(Conflict, match="already exists"):
            repo.commit_ingest(record(2, 7), [], draft(2))
    finally:
        repo.close()


def test_other_integrity_errors_are_not_translated() -> None:
    error = sa.exc.IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed: tokens.x"))
    assert database_error(error) is None
    operational = sa.exc.OperationalError("SELECT", {}, Exception("database is locked"))
    assert isinstance(database_error(operational), Unavailable)
