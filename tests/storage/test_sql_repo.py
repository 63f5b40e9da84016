"""The SQLite metadata store: migrations create exactly the declared schema, the timeline is
append-only in the database itself, tenants are kept apart."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from stella_signals.ports import EventDraft, IngestRecord
from stella_signals.storage import SqlRepository, sqlite_url
from stella_signals.storage._schema import metadata
from stella_signals.tenancy import TenantId
from stella_signals.timeline import check_chain

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ACME, GLOBEX = TenantId("acme"), TenantId("globex")


@pytest.fixture
def repo(tmp_path: Path) -> SqlRepository:
    repository = SqlRepository(sqlite_url(tmp_path / "signals.db"))
    repository.migrate()
    return repository


def draft(n: int, kind: str = "reach.graph.ingested") -> EventDraft:
    return EventDraft(
        event_id=f"01M8EF{n:020d}",
        event_type=kind,
        occurred_at=NOW,
        source="test",
        correlation_id=None,
        attributes={"n": n},
    )


def test_migrations_create_exactly_the_declared_schema(repo: SqlRepository) -> None:
    with repo.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_migrate_is_idempotent(repo: SqlRepository) -> None:
    repo.migrate()
    repo.migrate()


def test_timeline_is_append_only_in_the_database(repo: SqlRepository) -> None:
    repo.append_event(ACME, draft(1))
    with repo.engine.connect() as conn:
        for statement in ("UPDATE timeline_events SET hash = 'x'", "DELETE FROM timeline_events"):
            with pytest.raises(sa.exc.DatabaseError, match="append-only"), conn.begin():
                conn.exec_driver_sql(statement)
    assert len(repo.list_events(ACME, event_type=None, since=None, after_seq=None, limit=10)) == 1


def test_chains_are_per_tenant_and_sound(repo: SqlRepository) -> None:
    for n in range(5):
        repo.append_event(ACME if n % 2 else GLOBEX, draft(n))
    acme = list(repo.iter_events(ACME))
    globex = list(repo.iter_events(GLOBEX))
    assert [e.seq for e in acme] == [1, 2] and [e.seq for e in globex] == [1, 2, 3]
    assert check_chain(acme, tenant="acme").ok and check_chain(globex, tenant="globex").ok
    assert repo.get_event(GLOBEX, acme[0].event_id) is None


def test_a_failed_ingest_is_recorded_with_its_event(repo: SqlRepository) -> None:
    record = IngestRecord(
        ingest_id="01M8EF0000000000000000000A",
        tenant=ACME,
        status="failed",
        received_at=NOW,
        reason="schema_invalid",
        detail="bad",
    )
    event = repo.record_failure(record, draft(9, "runtime.ingest.failed"))
    assert event.seq == 1
    assert repo.get_ingest(ACME, record.ingest_id) == record
    assert repo.get_ingest(GLOBEX, record.ingest_id) is None
