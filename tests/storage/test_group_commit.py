"""Group commit (issue 19): concurrent ingest commits share one transaction and its fsync,
each answered only after that transaction committed; a group that fails in any way is
rolled back whole and each of its writes runs again alone, so every caller gets the outcome
it would have had alone."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from stella_signals.errors import Conflict
from stella_signals.storage import SqlRepository, sqlite_url
from stella_signals.timeline import check_chain
from tests.storage.repository_contract import ACME, GLOBEX, draft, fact, ingest


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[SqlRepository]:
    """Groups are SQLite's (PostgreSQL commits each write alone: the last tests)."""
    repository = SqlRepository(sqlite_url(tmp_path / "signals.db"))
    repository.migrate()
    yield repository
    repository.close()


@pytest.fixture
def pg_repo(postgres_url: str) -> Iterator[SqlRepository]:
    repository = SqlRepository(postgres_url)
    repository.migrate()
    yield repository
    repository.close()


def _commits(repo: SqlRepository) -> list[int]:
    """A counter of the engine's committed transactions."""
    count = [0]

    @sa.event.listens_for(repo.engine, "commit")
    def _count(_conn: Any) -> None:
        count[0] += 1

    return count


def _in_thread(call: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = call()
        except Exception as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def _hold_the_group(repo: SqlRepository) -> tuple[threading.Event, threading.Thread]:
    """A first commit whose transaction waits for the returned event: commits arriving
    meanwhile queue for the next group."""
    go = threading.Event()
    record = ingest(90, tenant=GLOBEX)

    def blocking(conn: sa.Connection) -> Any:
        go.wait(30)
        return conn.execute(sa.text("SELECT 1")).scalar()

    thread, _ = _in_thread(lambda: repo._in_group_tx(blocking, tenant=record.tenant))
    return go, thread


def _queued(repo: SqlRepository, count: int) -> None:
    deadline = time.monotonic() + 30
    while len(repo._group._queue) < count:
        assert time.monotonic() < deadline, "the commits never queued"
        time.sleep(0.005)


def test_commits_that_arrive_together_share_one_transaction(repo: SqlRepository) -> None:
    commits = _commits(repo)
    go, first = _hold_the_group(repo)
    _queued(repo, 0)
    time.sleep(0.05)  # the first group runs its (blocked) transaction
    records = [ingest(n, tenant=ACME if n % 2 else GLOBEX, event=n) for n in range(1, 7)]
    waiting = [
        _in_thread(lambda r=r: repo.commit_ingest(r, [fact(f"s{r.size}", "n")], draft(r.size)))
        for r in records
    ]
    _queued(repo, len(records))
    before = commits[0]
    go.set()
    first.join(30)
    for thread, outcome in waiting:
        thread.join(30)
        assert "error" not in outcome, outcome
    assert commits[0] - before == 2  # the held group, then all six in one
    for record in records:
        assert repo.get_ingest(record.tenant, record.ingest_id) is not None
        assert len(repo.list_facts(record.tenant, record.ingest_id)) == 1
    for tenant in (ACME, GLOBEX):
        chain = list(repo.iter_events(tenant))
        assert len(chain) == 3
        assert check_chain(chain, tenant=tenant).ok


def test_a_failing_write_sends_its_group_to_run_alone(repo: SqlRepository) -> None:
    repo.commit_ingest(ingest(1), [], draft(1))
    commits = _commits(repo)
    go, first = _hold_the_group(repo)
    time.sleep(0.05)
    duplicate = ingest(2, content=1)  # the bytes of ingest 1 again: Conflict
    others = [ingest(3), ingest(4)]
    waiting = [
        _in_thread(lambda r=r: repo.commit_ingest(r, [fact("s", "n")], draft(r.size)))
        for r in [duplicate, *others]
    ]
    _queued(repo, 3)
    go.set()
    first.join(30)
    for thread, _ in waiting:
        thread.join(30)
    assert isinstance(waiting[0][1].get("error"), Conflict)
    assert all("error" not in outcome for _, outcome in waiting[1:])
    assert commits[0] == 3  # the held group; the failed group rolled back; two alone
    assert repo.get_ingest(ACME, duplicate.ingest_id) is None  # nothing half-written
    chain = list(repo.iter_events(ACME))
    assert chain[0].event_id == draft(1).event_id and len(chain) == 3
    assert check_chain(chain, tenant=ACME).ok


def test_on_postgresql_a_busy_tenant_never_stalls_another(pg_repo: SqlRepository) -> None:
    """Another server holds ACME's chain lock: GLOBEX's ingest commits at once, ACME's waits
    for the lock only (no group holds one tenant's lock while it waits for another's)."""
    holder = pg_repo.engine.connect()
    transaction = holder.begin()
    pg_repo._lock_tenant(holder, ACME)
    try:
        acme = ingest(1, tenant=ACME, event=1)
        acme_thread, acme_outcome = _in_thread(
            lambda: pg_repo.commit_ingest(acme, [fact("s", "n")], draft(1))
        )
        time.sleep(0.2)  # ACME's commit is now waiting for the held lock
        globex = ingest(2, tenant=GLOBEX, event=2)
        globex_thread, globex_outcome = _in_thread(
            lambda: pg_repo.commit_ingest(globex, [fact("s", "n")], draft(2))
        )
        globex_thread.join(10)
        assert not globex_thread.is_alive(), "GLOBEX waited for ACME's lock"
        assert "error" not in globex_outcome, globex_outcome
        assert acme_thread.is_alive()  # still waiting for ACME's lock
    finally:
        transaction.rollback()
        holder.close()
    acme_thread.join(30)
    assert "error" not in acme_outcome, acme_outcome
    assert pg_repo.get_ingest(ACME, acme.ingest_id) is not None


def test_on_postgresql_the_same_bytes_on_two_servers_never_deadlock(
    pg_repo: SqlRepository, postgres_url: str
) -> None:
    """Two servers (two repositories) commit the same tenant's same bytes at once, many
    times: one ingests, the other is told `Conflict` (a duplicate) — never an outage."""
    other = SqlRepository(postgres_url)
    try:
        outcomes: list[str] = []
        lock = threading.Lock()

        def commit(repo: SqlRepository, record: Any, n: int) -> None:
            try:
                repo.commit_ingest(record, [fact("s", "n")], draft(n))
                verdict = "ok"
            except Conflict:
                verdict = "duplicate"
            except Exception as exc:  # an outage (503) would land here
                verdict = f"error: {exc!r}"
            with lock:
                outcomes.append(verdict)

        threads = []
        for n in range(1, 41):
            first = ingest(100 + n, content=n, event=100 + n)
            second = ingest(200 + n, content=n, event=200 + n)
            threads += [
                threading.Thread(target=commit, args=(pg_repo, first, 100 + n)),
                threading.Thread(target=commit, args=(other, second, 200 + n)),
            ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sorted(set(outcomes)) == ["duplicate", "ok"], outcomes
        assert outcomes.count("ok") == 40 and outcomes.count("duplicate") == 40
        assert check_chain(list(pg_repo.iter_events(ACME)), tenant=ACME).ok
    finally:
        other.close()
