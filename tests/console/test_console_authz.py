"""The console's routes in the authorisation matrix (issue 20 item 2): every route by every
kind of caller, with a browser session (cookies) made of that caller's token and tenant."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.routing import Route

from reliability import authz
from reliability.api_fuzz import LiveApp, open_app


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveApp]:
    with open_app(tmp_path / "data", authz.GRANTS) as app:
        yield app


def test_every_console_route_by_every_caller(live: LiveApp) -> None:
    result = authz.ui_matrix(live)
    assert result["routes_without_expectation"] == [], "give each new /ui route its scope"
    assert result["expectations_without_route"] == []
    assert result["violations"] == []
    assert result["routes"] == len(authz.UI_ROUTES) >= 16
    for label, row in result["matrix"].items():
        statuses = row["statuses"]
        if row["requires"] == authz.READ:
            assert [statuses[c] for c in authz.REFUSED] == [303] * 5, label
            assert statuses["other_tenant"] == statuses["write"] == statuses["admin"] == 403
            assert statuses["bad_tenant_header"] == 400, label
            # the ids name nothing; /ui/vex?id= sends the browser on to the document's page
            assert statuses["read"] in (200, 303, 404), label


def test_a_console_route_without_an_expectation_fails_the_matrix(live: LiveApp) -> None:
    mount = next(r for r in live.app.routes if getattr(r, "path", "") == "/ui")
    mount.routes.append(Route("/forgotten", lambda request: None, methods=["GET"]))
    try:
        result = authz.ui_matrix(live)
    finally:
        mount.routes.pop()
    assert result["routes_without_expectation"] == ["GET /ui/forgotten"]
    assert result["violations_total"] >= 1
