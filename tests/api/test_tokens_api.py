"""Token lifecycle over the API (issue 14, item 4): a tenant's admin lists, creates and
revokes its tenant's tokens; a revoked or expired token is refused with 401 and a Bearer
challenge on its next request; the secret is answered once, by the creation, and never
again; another tenant's token is 404, as if it did not exist."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from stella_signals.api import create_app
from stella_signals.clock import FixedClock
from stella_signals.wiring import Services, load_settings
from tests.realservers.backends import grant_tokens

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
READ, WRITE, ADMIN = "signals:read", "signals:write", "signals:admin"


@dataclass
class Admin:
    client: TestClient
    clock: FixedClock
    tokens: dict[str, str]

    def as_(self, who: str, tenant: str | None = None) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.tokens[who]}",
            "X-Stella-Tenant": tenant or who.split("-")[0],
        }

    def create(self, who: str = "acme-admin", **body: Any) -> httpx.Response:
        return self.client.post(
            "/api/v1/tokens", json={"scopes": [READ], **body}, headers=self.as_(who)
        )

    def created(self, who: str = "acme-admin", **body: Any) -> dict[str, Any]:
        response = self.create(who, **body)
        assert response.status_code == 201, response.text
        answer: dict[str, Any] = response.json()
        return answer

    def read_with(self, token: str, tenant: str = "acme") -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}", "X-Stella-Tenant": tenant}
        return self.client.get("/api/v1/ingests", headers=headers)

    def listed(self, who: str = "acme-admin", **params: Any) -> dict[str, Any]:
        response = self.client.get("/api/v1/tokens", params=params, headers=self.as_(who))
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer


@pytest.fixture
def admin(tmp_path: Path) -> Iterator[Admin]:
    clock = FixedClock(NOW)
    settings = load_settings(data_dir=tmp_path / "data", environ={}, orphan_retry_seconds=0)
    services = Services.open(settings, clock=clock)
    tokens = grant_tokens(
        services,
        {
            "acme-admin": (["acme"], [ADMIN]),
            "globex-admin": (["globex"], [ADMIN]),
            "shared": (["acme", "globex"], [READ]),
        },
    )
    with TestClient(create_app(services)) as client:
        yield Admin(client, clock, tokens)
    services.close()


def _assert_refused(response: httpx.Response, reason: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["reason"] == reason


def test_a_created_token_is_answered_once_and_works(admin: Admin) -> None:
    response = admin.create(scopes=[READ, WRITE])
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert response.headers["location"] == f"/api/v1/tokens/{body['token_id']}"
    assert body["token"].startswith("stl_")
    assert body["tenants"] == ["acme"] and body["scopes"] == [READ, WRITE]
    assert body["created_at"] == "2026-03-01T12:00:00Z" and body["expires_at"] is None
    assert admin.read_with(body["token"]).status_code == 200
    # for its tenant only
    assert admin.read_with(body["token"], tenant="globex").status_code == 403


def test_the_secret_is_never_shown_again(admin: Admin) -> None:
    body = admin.created()
    secret, digest = body["token"], hashlib.sha256(body["token"].encode()).hexdigest()
    listing = admin.client.get("/api/v1/tokens", headers=admin.as_("acme-admin"))
    one = admin.client.get(f"/api/v1/tokens/{body['token_id']}", headers=admin.as_("acme-admin"))
    for response in (listing, one):
        assert response.status_code == 200
        assert secret not in response.text and digest not in response.text
        assert "token_hash" not in response.text and '"token"' not in response.text
    assert one.json() == {
        "token_id": body["token_id"],
        "tenants": ["acme"],
        "scopes": [READ],
        "created_at": "2026-03-01T12:00:00Z",
        "expires_at": None,
        "revoked_at": None,
        "status": "active",
    }


def test_a_revoked_token_is_refused_from_its_next_request_on(admin: Admin) -> None:
    body = admin.created()
    token, token_id = body["token"], body["token_id"]
    assert admin.read_with(token).status_code == 200
    admin.clock.advance(timedelta(minutes=5))
    revoke = admin.client.delete(f"/api/v1/tokens/{token_id}", headers=admin.as_("acme-admin"))
    assert revoke.status_code == 204, revoke.text
    _assert_refused(admin.read_with(token), "token_revoked")
    # also for the one route any token may read
    _assert_refused(
        admin.client.get("/openapi.json", headers={"Authorization": f"Bearer {token}"}),
        "token_revoked",
    )
    # revoking again is safe and keeps the first time
    admin.clock.advance(timedelta(minutes=5))
    again = admin.client.delete(f"/api/v1/tokens/{token_id}", headers=admin.as_("acme-admin"))
    assert again.status_code == 204
    shown = admin.client.get(f"/api/v1/tokens/{token_id}", headers=admin.as_("acme-admin"))
    assert shown.json()["revoked_at"] == "2026-03-01T12:05:00Z"
    assert shown.json()["status"] == "revoked"


def test_an_admin_can_revoke_its_own_token(admin: Admin) -> None:
    mine = admin.listed()["items"]
    assert len(mine) == 1  # the admin token itself
    headers = admin.as_("acme-admin")
    deleted = admin.client.delete(f"/api/v1/tokens/{mine[0]['token_id']}", headers=headers)
    assert deleted.status_code == 204
    _assert_refused(admin.client.get("/api/v1/tokens", headers=headers), "token_revoked")


@pytest.mark.parametrize(
    ("expiry", "lasts"),
    [
        ({"expires_in": "1h30m"}, timedelta(hours=1, minutes=30)),
        ({"expires_in": "2w"}, timedelta(weeks=2)),
        ({"expires_at": "2026-03-01T14:00:00+02:00"}, timedelta(0, 1)),  # 12:00Z + 1 s
        ({"expires_at": "2026-03-02T12:00:00Z"}, timedelta(days=1)),
    ],
    ids=["duration", "weeks", "offset-time", "utc-time"],
)
def test_an_expired_token_is_refused_from_its_expiry_on(
    admin: Admin, expiry: dict[str, str], lasts: timedelta
) -> None:
    if "+02:00" in expiry.get("expires_at", ""):
        admin.clock.advance(timedelta(seconds=-1))  # 1 s before the time it names
    body = admin.created(**expiry)
    expires_at = datetime.fromisoformat(body["expires_at"])
    assert expires_at == admin.clock.now() + lasts
    assert body["expires_at"].endswith("Z")
    admin.clock.advance(lasts - timedelta(microseconds=1))
    assert admin.read_with(body["token"]).status_code == 200
    admin.clock.advance(timedelta(microseconds=1))
    _assert_refused(admin.read_with(body["token"]), "token_expired")
    shown = admin.client.get(f"/api/v1/tokens/{body['token_id']}", headers=admin.as_("acme-admin"))
    assert shown.json()["status"] == "expired"


@pytest.mark.parametrize(
    "body",
    [
        {"scopes": ["signals:everything"]},
        {"scopes": []},
        {"scopes": [READ], "expires_in": "0s"},
        {"scopes": [READ], "expires_in": "90"},
        {"scopes": [READ], "expires_in": "-1d"},
        {"scopes": [READ], "expires_in": "999999999w"},
        {"scopes": [READ], "expires_at": "2026-03-01T12:00:00Z"},  # now: not in the future
        {"scopes": [READ], "expires_at": "2026-03-01T13:00:00"},  # no offset
        {"scopes": [READ], "expires_at": "tomorrow"},
        {"scopes": [READ], "expires_in": "1d", "expires_at": "2027-01-01T00:00:00Z"},
        {"scopes": [READ], "tenants": ["globex"]},
        {"scope": [READ]},
    ],
    ids=[
        "unknown-scope",
        "no-scope",
        "zero",
        "no-unit",
        "negative",
        "past-9999",
        "now",
        "local-time",
        "not-a-time",
        "both",
        "tenants",
        "misspelt",
    ],
)
def test_a_bad_token_request_is_400_and_creates_nothing(admin: Admin, body: dict[str, Any]) -> None:
    response = admin.client.post("/api/v1/tokens", json=body, headers=admin.as_("acme-admin"))
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert len(admin.listed()["items"]) == 1  # the admin's own


def test_a_tenant_never_sees_nor_revokes_another_tenants_tokens(admin: Admin) -> None:
    acme = admin.created()
    globex = admin.as_("globex-admin")
    listed = admin.listed("globex-admin")["items"]
    assert acme["token_id"] not in json.dumps(listed)
    assert [item["tenants"] for item in listed] == [["globex"]]
    shared_id = next(
        item["token_id"] for item in _all_tokens(admin) if item["tenants"] == ["acme", "globex"]
    )
    for token_id in (acme["token_id"], shared_id):
        got = admin.client.get(f"/api/v1/tokens/{token_id}", headers=globex)
        deleted = admin.client.delete(f"/api/v1/tokens/{token_id}", headers=globex)
        assert (got.status_code, deleted.status_code) == (404, 404)
        assert deleted.headers["content-type"].startswith("application/problem+json")
    # the shared token is the operator's: not even acme's admin revokes it over the API
    acme_admin = admin.as_("acme-admin")
    assert admin.client.delete(f"/api/v1/tokens/{shared_id}", headers=acme_admin).status_code == 404
    assert admin.read_with(acme["token"]).status_code == 200
    assert admin.read_with(admin.tokens["shared"], tenant="globex").status_code == 200


def _all_tokens(admin: Admin) -> list[dict[str, Any]]:
    """Every token, as the operator sees them (through the store, not over HTTP)."""
    services: Services = admin.client.app.state.services  # type: ignore[attr-defined]
    return [r.public_view(admin.clock.now()) for r in services.repo.list_tokens(tenant=None)]


def test_a_malformed_token_id_is_400(admin: Admin) -> None:
    headers = admin.as_("acme-admin")
    for method in ("GET", "DELETE"):
        response = admin.client.request(method, "/api/v1/tokens/not-a-ulid", headers=headers)
        assert response.status_code == 400, (method, response.text)


def test_a_page_token_naming_no_id_is_a_malformed_page_token(admin: Admin) -> None:
    """A well-encoded token whose position is not an id is refused as every list refuses a
    bad token: the client never wrote the position, the token is what is wrong."""
    from stella_signals.api._pagination import encode_token

    headers = admin.as_("acme-admin")
    for token in (encode_token("not-a-ulid"), "bm9wZQ"):
        response = admin.client.get(f"/api/v1/tokens?page_token={token}", headers=headers)
        assert response.status_code == 400, response.text
        assert response.json()["reason"] == "invalid_page_token"


def test_tokens_are_listed_by_page(admin: Admin) -> None:
    made = []
    for _ in range(4):
        admin.clock.advance(timedelta(seconds=1))
        made.append(admin.created()["token_id"])
    seen: list[str] = []
    params: dict[str, Any] = {"page_size": 2}
    while True:
        page = admin.listed(**params)
        assert len(page["items"]) <= 2
        seen += [item["token_id"] for item in page["items"]]
        if page["next_page_token"] is None:
            break
        params["page_token"] = page["next_page_token"]
    assert seen[1:] == made and len(seen) == 5  # the admin's own first
