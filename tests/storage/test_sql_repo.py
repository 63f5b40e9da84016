"""The metadata store on SQLite and on PostgreSQL: migrations create exactly the declared
schema, the timeline is append-only in the database itself, old data survives migrations.

What every backend of the ports must do (memory too) is in `repository_contract.py`."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from stella_signals.ports import (
    EventDraft,
    SymbolManifestRecord,
)
from stella_signals.storage import SqlRepository, sqlite_url
from stella_signals.storage._schema import HEAD_REVISION, metadata
from stella_signals.tenancy import TenantId

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ACME, GLOBEX = TenantId("acme"), TenantId("globex")


@pytest.fixture(params=["sqlite", "postgresql"])
def repo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlRepository]:
    if request.param == "sqlite":
        url = sqlite_url(tmp_path / "signals.db")
    else:
        url = request.getfixturevalue("postgres_url")
    repository = SqlRepository(url)
    repository.migrate()
    yield repository
    repository.close()


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


def test_the_head_revision_the_code_names_is_the_newest_migration(repo: SqlRepository) -> None:
    """`migrate` skips Alembic for a database at `HEAD_REVISION`: a new migration that did not
    move it would never run on a database at the old head."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", "stella_signals.storage:migrations")
    assert ScriptDirectory.from_config(config).get_heads() == [HEAD_REVISION]
    assert repo.revision() == HEAD_REVISION


def test_a_database_at_head_opens_without_alembic_and_an_older_one_is_upgraded(
    tmp_path: Path,
) -> None:
    url = sqlite_url(tmp_path / "old.db")
    old = SqlRepository(url)
    old.migrate("0010")
    assert old.revision() == "0010"
    old.close()
    probe = (
        "import sys; from stella_signals.storage import SqlRepository; "
        f"r = SqlRepository({url!r}); r.migrate(); print(r.revision(), 'alembic' in sys.modules)"
    )
    upgraded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert upgraded.stdout.split() == [HEAD_REVISION, "True"], upgraded.stderr
    reopened = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert reopened.stdout.split() == [HEAD_REVISION, "False"], reopened.stderr


def test_timeline_is_append_only_in_the_database(repo: SqlRepository) -> None:
    repo.append_event(ACME, draft(1))
    with repo.engine.connect() as conn:
        for statement in ("UPDATE timeline_events SET hash = 'x'", "DELETE FROM timeline_events"):
            with pytest.raises(sa.exc.DatabaseError, match="append-only"), conn.begin():
                conn.exec_driver_sql(statement)
    assert len(repo.list_events(ACME, event_type=None, since=None, after_seq=None, limit=10)) == 1


def test_each_append_chains_after_the_stored_last_event_whoever_wrote_it(
    repo: SqlRepository,
) -> None:
    """A process remembers the chain head it appended (issue 19), but chains after what the
    database holds: another process's append in between, or its own append rolled back,
    never makes it chain after a stale head."""
    other = SqlRepository(repo.url)  # a second server on the same database
    try:
        repo.append_event(ACME, draft(1))
        second = other.append_event(ACME, draft(2))
        third = repo.append_event(ACME, draft(3))  # it remembers its own first event
        assert (third.seq, third.prev_hash) == (3, second.hash)

        class Abandoned(Exception):
            pass

        def append_then_fail(conn: sa.Connection) -> None:
            repo._append(conn, ACME, draft(4))
            raise Abandoned

        with pytest.raises(Abandoned):
            repo._in_tx(append_then_fail)  # remembered as head, then rolled back
        fifth = repo.append_event(ACME, draft(5))
        assert (fifth.seq, fifth.prev_hash) == (4, third.hash)
        assert other.append_event(ACME, draft(6)).prev_hash == fifth.hash

        # Its append rolled back, then another server stores the same seq with another hash:
        # the remembered head has the stored seq but not the stored hash, so it is not used.
        with pytest.raises(Abandoned):
            repo._in_tx(append_then_fail)  # remembers seq 6 with the hash of draft(4)
        seventh = other.append_event(ACME, draft(7))  # the stored seq 6
        eighth = repo.append_event(ACME, draft(8))
        assert (seventh.seq, eighth.seq, eighth.prev_hash) == (6, 7, seventh.hash)
    finally:
        other.close()


def test_manifests_announced_before_0008_are_on_record_after_it(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "old.db")
    old = SqlRepository(url)
    old.migrate("0007")

    def announced(n: int, sha: str, **extra: object) -> EventDraft:
        attributes = {"cas_uri": f"cas://reachability/symbols/{sha}", "sha256": sha, "entries": 3}
        return EventDraft(
            event_id=f"01M8EF{n:020d}",
            event_type="symbols.manifest.ingested",
            occurred_at=NOW,
            source="signals-api",
            correlation_id=sha,
            attributes={**attributes, **extra},
        )

    here, imported = "d" * 64, "e" * 64
    old.append_event(ACME, announced(1, here))
    old.append_event(ACME, announced(2, here))  # the race this revision closes
    old.append_event(ACME, announced(3, imported, origin={"event_id": "x"}))
    old.close()
    repo = SqlRepository(url)
    repo.migrate()
    try:

        def again(sha: str, n: int) -> bool:
            record = SymbolManifestRecord(ACME, sha, f"cas://reachability/symbols/{sha}", 3, NOW)
            return repo.add_symbol_manifest(record, draft(n))

        assert not again(here, 10)  # on record: no second announcement
        assert again(imported, 11)  # stored offline, not here: recorded when stored here
    finally:
        repo.close()
