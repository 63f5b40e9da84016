"""`signals tokens create | list | revoke` (issue 14, item 4): an optional expiry at creation,
a list that never prints a secret nor its hash, revocation by public id, and the exit codes
(0 done, 1 no such token, 2 usage)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from stella_signals.auth import TokenStatus, new_token, token_hash
from stella_signals.cli.signals import app
from stella_signals.ports import TokenRecord
from stella_signals.wiring import Services, load_settings

runner = CliRunner()
READ, WRITE = "signals:read", "signals:write"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def _signals(data_dir: Path, *argv: str) -> Any:
    return runner.invoke(app, [*argv, "--data-dir", str(data_dir)])


def _create(data_dir: Path, *extra: str, tenant: str = "acme") -> tuple[str, str]:
    """(token, token_id) from `tokens create`."""
    result = _signals(data_dir, "tokens", "create", "--tenant", tenant, "--scope", READ, *extra)
    assert result.exit_code == 0, result.output
    token = result.stdout.splitlines()[-1]
    token_id = result.stderr.split()[1]  # "token <id> for ..."
    return token, token_id


def _listed(data_dir: Path, *extra: str) -> list[dict[str, Any]]:
    result = _signals(data_dir, "tokens", "list", *extra)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.fixture
def services(data_dir: Path) -> Iterator[Services]:
    opened = Services.open(load_settings(data_dir=data_dir, environ={}))
    yield opened
    opened.close()


def _record(services: Services, token: str) -> TokenRecord:
    record = services.repo.find_token(token_hash(token))
    assert record is not None
    return record


def test_create_with_an_expiry(data_dir: Path, services: Services) -> None:
    before = datetime.now(UTC)
    token, token_id = _create(data_dir, "--expires-in", "90d")
    record = _record(services, token)
    assert record.token_id == token_id and record.expires_at is not None
    assert timedelta(days=90) <= record.expires_at - before <= timedelta(days=90, minutes=5)
    at, _ = _create(data_dir, "--expires-at", "2999-01-01T02:00:00+02:00")
    assert _record(services, at).expires_at == datetime(2999, 1, 1, tzinfo=UTC)
    never, _ = _create(data_dir)
    assert _record(services, never).expires_at is None


@pytest.mark.parametrize(
    "expiry",
    [
        ["--expires-in", "0s"],
        ["--expires-in", "soon"],
        ["--expires-in", "999999999w"],
        ["--expires-at", "2000-01-01T00:00:00Z"],
        ["--expires-at", "2999-01-01T00:00:00"],
        ["--expires-in", "1d", "--expires-at", "2999-01-01T00:00:00Z"],
    ],
    ids=["zero", "words", "past-9999", "past", "local-time", "both"],
)
def test_a_bad_expiry_is_a_usage_error(data_dir: Path, expiry: list[str]) -> None:
    result = _signals(data_dir, "tokens", "create", "--tenant", "acme", "--scope", READ, *expiry)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert _listed(data_dir, "--all") == []


def test_list_never_prints_a_secret_nor_its_hash(data_dir: Path, services: Services) -> None:
    token, token_id = _create(data_dir, "--expires-at", "2999-01-01T00:00:00Z")
    result = _signals(data_dir, "tokens", "list")
    assert result.exit_code == 0
    output = result.stdout + result.stderr
    assert token not in output and token_hash(token) not in output
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        {
            "token_id": token_id,
            "tenants": ["acme"],
            "scopes": [READ],
            "created_at": _record(services, token).public_view(datetime.now(UTC))["created_at"],
            "expires_at": "2999-01-01T00:00:00Z",
            "revoked_at": None,
            "status": "active",
        }
    ]


def test_list_shows_revoked_and_expired_tokens_with_all(data_dir: Path, services: Services) -> None:
    _, active = _create(data_dir)
    _, revoked = _create(data_dir)
    _, other = _create(data_dir, tenant="globex")
    expired = services.repo.add_token(
        token_hash=token_hash(new_token()),
        tenants=frozenset({"acme"}),
        scopes=frozenset({READ}),
        at=datetime.now(UTC) - timedelta(days=2),
        expires_at=datetime.now(UTC) - timedelta(days=1),
    )
    assert _signals(data_dir, "tokens", "revoke", revoked).exit_code == 0
    assert {t["token_id"] for t in _listed(data_dir)} == {active, other}
    everything = {t["token_id"]: t["status"] for t in _listed(data_dir, "--all")}
    assert everything == {
        active: "active",
        revoked: "revoked",
        other: "active",
        expired: "expired",
    }
    acme = {t["token_id"] for t in _listed(data_dir, "--all", "--tenant", "acme")}
    assert acme == {active, revoked, expired}


def test_revoke_exit_codes(data_dir: Path, services: Services) -> None:
    token, token_id = _create(data_dir)
    first = _signals(data_dir, "tokens", "revoke", token_id)
    assert first.exit_code == 0, first.output
    assert f"revoked token {token_id}" in first.stderr
    record = _record(services, token)
    assert record.status(datetime.now(UTC)) is TokenStatus.REVOKED
    again = _signals(data_dir, "tokens", "revoke", token_id)
    assert again.exit_code == 0 and "already revoked" in again.stderr
    assert _record(services, token).revoked_at == record.revoked_at
    unknown = _signals(data_dir, "tokens", "revoke", "01ARZ3NDEKTSV4RRFFQ69G5FAV")
    assert unknown.exit_code == 1 and "no token" in unknown.stderr
    malformed = _signals(data_dir, "tokens", "revoke", token)  # a secret is not an id
    assert malformed.exit_code == 2
    assert token[:8] not in malformed.output  # not even echoed back, in part
    assert _signals(data_dir, "tokens", "revoke").exit_code == 2
