"""Tokens in the metadata store, on SQLite and on PostgreSQL (issue 14, item 4): expiry kept
as the instant it is, revocation seen at once by another process's repository (no cache), a
tenant's admin scope limited to the tokens that allow that tenant alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from stella_signals.auth import TokenStatus, new_token, token_hash
from stella_signals.storage import SqlRepository, sqlite_url
from stella_signals.tenancy import TenantId
from tests.storage.test_sql_repo import repo  # noqa: F401 - the fixture, on both backends

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ACME, GLOBEX = TenantId("acme"), TenantId("globex")
READ = frozenset({"signals:read"})


def add(
    repository: SqlRepository,
    *tenants: str,
    expires_at: datetime | None = None,
    at: datetime = NOW,
) -> tuple[str, str]:
    """(token, token_id) of a new read token for ``tenants``."""
    token = new_token()
    token_id = repository.add_token(
        token_hash=token_hash(token),
        tenants=frozenset(tenants),
        scopes=READ,
        at=at,
        expires_at=expires_at,
    )
    return token, token_id


def test_an_expiry_is_kept_as_the_instant_it_names(repo: SqlRepository) -> None:  # noqa: F811
    plus_two = timezone(timedelta(hours=2))
    token, token_id = add(repo, "acme", expires_at=datetime(2026, 1, 2, 2, 0, tzinfo=plus_two))
    record = repo.find_token(token_hash(token))
    assert record is not None and record.token_id == token_id
    assert record.expires_at == datetime(2026, 1, 2, 0, 0, tzinfo=UTC)
    assert record.expires_at.utcoffset() == timedelta(0)
    assert record.status(NOW) is TokenStatus.ACTIVE
    assert record.status(datetime(2026, 1, 1, 23, 59, 59, 999999, tzinfo=UTC)) is TokenStatus.ACTIVE
    assert record.status(datetime(2026, 1, 2, tzinfo=UTC)) is TokenStatus.EXPIRED
    never, _ = add(repo, "acme")
    forever = repo.find_token(token_hash(never))
    assert forever is not None and forever.expires_at is None
    assert forever.status(datetime(9999, 1, 1, tzinfo=UTC)) is TokenStatus.ACTIVE


def test_a_tenant_manages_only_the_tokens_that_allow_it_alone(
    repo: SqlRepository,  # noqa: F811
) -> None:
    _, mine = add(repo, "acme")
    _, theirs = add(repo, "globex")
    _, shared = add(repo, "acme", "globex")
    assert [t.token_id for t in repo.list_tokens(tenant=ACME)] == [mine]
    assert [t.token_id for t in repo.list_tokens(tenant=GLOBEX)] == [theirs]
    assert {t.token_id for t in repo.list_tokens(tenant=None)} == {mine, theirs, shared}
    assert repo.get_token(mine, tenant=ACME) is not None
    for token_id in (theirs, shared):
        assert repo.get_token(token_id, tenant=ACME) is None
        assert repo.revoke_token(token_id, tenant=ACME, at=NOW) is None
        record = repo.get_token(token_id, tenant=None)
        assert record is not None and not record.revoked  # untouched
    assert repo.get_token(shared, tenant=None) is not None  # the operator's


def test_tokens_page_by_id(repo: SqlRepository) -> None:  # noqa: F811
    ids = [add(repo, "acme", at=NOW + timedelta(seconds=n))[1] for n in range(5)]
    assert ids == sorted(ids)
    first = repo.list_tokens(tenant=ACME, limit=2)
    rest = repo.list_tokens(tenant=ACME, after=first[-1].token_id)
    assert [t.token_id for t in first + rest] == ids


def test_a_revocation_keeps_its_first_time(repo: SqlRepository) -> None:  # noqa: F811
    token, token_id = add(repo, "acme")
    revoked = repo.revoke_token(token_id, tenant=ACME, at=NOW + timedelta(hours=1))
    assert revoked is not None and revoked.revoked_at == NOW + timedelta(hours=1)
    again = repo.revoke_token(token_id, tenant=None, at=NOW + timedelta(hours=2))
    assert again is not None and again.revoked_at == NOW + timedelta(hours=1)
    found = repo.find_token(token_hash(token))
    assert found is not None and found.status(NOW) is TokenStatus.REVOKED
    assert repo.revoke_token("01ARZ3NDEKTSV4RRFFQ69G5FAV", tenant=None, at=NOW) is None


def test_a_revocation_by_another_process_is_seen_by_the_next_lookup(
    repo: SqlRepository,  # noqa: F811
) -> None:
    """Two servers of one deployment: the second one's repository revokes, the first one's
    next lookup refuses (each lookup asks the database; nothing is cached)."""
    token, token_id = add(repo, "acme")
    other = SqlRepository(repo.url)
    try:
        before = repo.find_token(token_hash(token))
        assert before is not None and before.status(NOW) is TokenStatus.ACTIVE
        assert other.revoke_token(token_id, tenant=ACME, at=NOW) is not None
        after = repo.find_token(token_hash(token))
        assert after is not None and after.status(NOW) is TokenStatus.REVOKED
    finally:
        other.close()


def test_tokens_made_before_0009_never_expire(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "old.db")
    old = SqlRepository(url)
    old.migrate("0008")
    with old.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO tokens (token_id, token_hash, tenants, scopes, created_at) "
            "VALUES ('01ARZ3NDEKTSV4RRFFQ69G5FAV', ?, '[\"acme\"]', '[\"signals:read\"]', ?)",
            (token_hash("stl_old"), NOW.replace(tzinfo=None)),
        )
    old.close()
    repository = SqlRepository(url)
    repository.migrate()
    try:
        record = repository.find_token(token_hash("stl_old"))
        assert record is not None and record.expires_at is None
        assert record.status(NOW + timedelta(days=3650)) is TokenStatus.ACTIVE
    finally:
        repository.close()
