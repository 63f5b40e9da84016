"""A revoked token is refused by every server of a deployment at once (issue 14, item 4): two
`signals serve` processes on one PostgreSQL and one bucket; a token revoked through one
server's API, or with `signals tokens revoke`, is answered 401 by both from the very next
request on (no server keeps a token cache)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.realservers.backends import Backend, open_backend
from tests.realservers.signals_process import SignalsProcess, free_port, signals

pytestmark = pytest.mark.slow


@dataclass
class TwoServers:
    servers: list[SignalsProcess]
    flags: list[str]
    environ: dict[str, str]

    def create(self, *scopes: str) -> tuple[str, str]:
        """(token, token_id) made by `signals tokens create` on the deployment."""
        scope_args = [arg for scope in scopes for arg in ("--scope", scope)]
        done = signals("tokens", "create", "--tenant", "acme", *scope_args, *self.flags,
                       env=self.environ)  # fmt: skip
        return done.stdout.splitlines()[-1], done.stderr.split()[1]


@pytest.fixture
def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TwoServers]:
    backend: Backend = open_backend("postgres-s3", request)
    environ = {**backend.environ, "STELLA_ORPHAN_RETRY_SECONDS": "0"}
    servers = [
        SignalsProcess(
            ["serve", "--data-dir", str(tmp_path / f"server{n}"), *backend.flags()],
            tmp_path / f"server{n}.log",
            env=environ,
            port=free_port(),
        )
        for n in range(2)
    ]
    try:
        for server in servers:
            server.start()
        yield TwoServers(servers, ["--data-dir", str(tmp_path / "cli"), *backend.flags()], environ)
    finally:
        for server in servers:
            server.stop()


def _read(server: SignalsProcess, token: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", "X-Stella-Tenant": "acme"}
    return httpx.get(f"{server.url}/api/v1/ingests", headers=headers, timeout=30)


def _assert_refused_everywhere(deployment: TwoServers, token: str) -> None:
    for server in deployment.servers:
        response = _read(server, token)
        assert response.status_code == 401, (server.url, response.text)
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["reason"] == "token_revoked"


def test_a_token_revoked_anywhere_is_refused_everywhere_at_once(deployment: TwoServers) -> None:
    admin, _ = deployment.create("signals:admin")
    by_api, by_api_id = deployment.create("signals:read")
    by_cli, by_cli_id = deployment.create("signals:read")
    first, second = deployment.servers
    for server in deployment.servers:  # both servers know both tokens (and have seen them)
        assert _read(server, by_api).status_code == 200
        assert _read(server, by_cli).status_code == 200

    # revoked through the first server's API: the second refuses the very next request
    revoke = httpx.delete(
        f"{first.url}/api/v1/tokens/{by_api_id}",
        headers={"Authorization": f"Bearer {admin}", "X-Stella-Tenant": "acme"},
        timeout=30,
    )
    assert revoke.status_code == 204, revoke.text
    _assert_refused_everywhere(deployment, by_api)
    assert _read(second, by_cli).status_code == 200  # the others are untouched

    # revoked by the operator's command: both servers refuse at once
    done = signals("tokens", "revoke", by_cli_id, *deployment.flags, env=deployment.environ)
    assert done.returncode == 0, done.stderr
    _assert_refused_everywhere(deployment, by_cli)

    # the second server lists both as revoked, never with a secret
    listing = httpx.get(
        f"{second.url}/api/v1/tokens",
        headers={"Authorization": f"Bearer {admin}", "X-Stella-Tenant": "acme"},
        timeout=30,
    )
    statuses = {item["token_id"]: item["status"] for item in listing.json()["items"]}
    assert statuses[by_api_id] == statuses[by_cli_id] == "revoked"
    assert by_api not in listing.text and by_cli not in listing.text and admin not in listing.text
