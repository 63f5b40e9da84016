"""The metadata store on SQLite and on PostgreSQL: migrations create exactly the declared
schema, the timeline is append-only in the database itself, tenants are kept apart."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from stella_signals.attest import new_service_key_pem
from stella_signals.ports import (
    EventDraft,
    GraphRecord,
    IngestRecord,
    SymbolManifestRecord,
    TenantPolicy,
)
from stella_signals.storage import SqlRepository, sqlite_url
from stella_signals.storage._schema import metadata
from stella_signals.tenancy import TenantId
from stella_signals.timeline import check_chain

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


def test_servers_racing_for_the_service_key_share_one(repo: SqlRepository) -> None:
    generated: list[str] = []

    def generate() -> tuple[str, bytes, bytes]:
        keyid, public, private = new_service_key_pem()
        generated.append(keyid)
        return keyid, public, private

    with ThreadPoolExecutor(4) as pool:
        pems = set(pool.map(lambda _: repo.current_service_key(generate, NOW), range(8)))
    assert len(pems) == 1 and len(generated) == 1
    [record] = repo.list_service_keys()
    assert record.keyid == generated[0] and record.retired_at is None


def test_a_new_key_file_retires_the_previous_key(repo: SqlRepository) -> None:
    first, second = new_service_key_pem(), new_service_key_pem()
    repo.register_service_key(first[0], first[1], NOW)
    repo.register_service_key(first[0], first[1], NOW)  # a restart changes nothing
    repo.register_service_key(second[0], second[1], NOW + timedelta(days=1))
    keys = {k.keyid: k for k in repo.list_service_keys()}
    assert keys[first[0]].retired_at == NOW + timedelta(days=1)
    assert keys[second[0]].retired_at is None and keys[second[0]].public_pem == second[1]


def orphan(n: int, graph: str) -> IngestRecord:
    return IngestRecord(
        ingest_id=f"01M8EF{n:020d}",
        tenant=ACME,
        status="orphaned",
        received_at=NOW,
        content_sha256=f"{n:064x}",
        graph_hash=graph,
        size=1,
    )


def test_an_orphan_whose_graph_arrived_meanwhile_is_due_at_once(repo: SqlRepository) -> None:
    """The graph's release pass cannot see a trace still parsing when the graph commits; the
    trace's own commit sees the graph and queues itself as due now, not in a minute."""
    arrived, absent = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    graph = GraphRecord(ACME, arrived, "cas://x", 1, 1, 0, NOW)
    repo.add_graph(graph, draft(100))
    repo.commit_ingest(orphan(1, arrived), [], draft(101, "reach.runtime.orphaned"))
    repo.commit_ingest(orphan(2, absent), [], draft(102, "reach.runtime.orphaned"))
    due = repo.claim_orphans(NOW, worker="w", lease_seconds=60, limit=10)
    assert [item.graph_hash for item in due] == [arrived]


def test_a_symbol_manifest_is_announced_once_whoever_races(repo: SqlRepository) -> None:
    def record(tenant: TenantId) -> SymbolManifestRecord:
        return SymbolManifestRecord(tenant, "c" * 64, "cas://reachability/symbols/c", 2, NOW)

    with ThreadPoolExecutor(4) as pool:
        created = list(
            pool.map(lambda n: repo.add_symbol_manifest(record(ACME), draft(200 + n)), range(8))
        )
    assert created.count(True) == 1
    assert repo.add_symbol_manifest(record(GLOBEX), draft(300))  # tenants are apart
    for tenant in (ACME, GLOBEX):
        events = list(repo.iter_events(tenant))
        assert [e.event_type for e in events] == ["reach.graph.ingested"]  # draft()'s type
        assert check_chain(events, tenant=tenant).ok


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


def test_concurrent_policy_updates_are_never_lost(repo: SqlRepository) -> None:
    """`update_policy` reads and writes in one transaction: racing updates of different fields
    (`signals policy set` on two terminals, or on two servers) all hold."""

    def more_keys(policy: TenantPolicy) -> TenantPolicy:
        return replace(policy, dsse_threshold=policy.dsse_threshold + 1)

    def require(policy: TenantPolicy) -> TenantPolicy:
        return replace(policy, require_dsse=True)

    changes = [more_keys, require] * 6
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda change: repo.update_policy(ACME, change, NOW), changes))
    assert repo.get_policy(ACME) == TenantPolicy(require_dsse=True, dsse_threshold=7)
    assert repo.get_policy(GLOBEX) == TenantPolicy()
