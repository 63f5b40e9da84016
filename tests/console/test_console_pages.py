"""The console's pages in-process (Starlette's TestClient over the real app and an embedded
data dir): paging, filters, refusals, sign-in and tenant choice, headers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from reliability.api_fuzz import ALL_SCOPES, LiveApp, open_app
from stella_signals.console._views import PAGE_SIZE

GRANTS = {
    "acme": (["acme"], ALL_SCOPES),
    "both": (["acme", "globex"], ALL_SCOPES),
    "write": (["acme"], ("signals:write",)),
}
GRAPH = "blake3:" + "0" * 64


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveApp]:
    with open_app(tmp_path / "data", GRANTS) as app:
        yield app


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def signed_in(live: LiveApp, name: str, tenant: str = "") -> TestClient:
    client = TestClient(live.app)
    form = client.get("/ui/sign-in")
    answer = client.post(
        "/ui/sign-in",
        data={"csrf": csrf_of(form.text), "token": live.tokens[name], "tenant": tenant},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return client


def refuse_traces(live: LiveApp, n: int) -> None:
    """``n`` refused ingests (a line that is no trace record): each a failed ingest row."""
    client = TestClient(live.app)
    headers = {
        "Authorization": f"Bearer {live.tokens['acme']}",
        "X-Stella-Tenant": "acme",
        "Content-Type": "application/x-ndjson",
    }
    for i in range(n):
        answer = client.post(
            f"/api/v1/runtime-facts?graph_hash={GRAPH}", content=f'{{"n": {i}}}\n', headers=headers
        )
        assert answer.status_code == 400


def test_lists_are_paged_and_ask_for_one_page_only(live: LiveApp) -> None:
    refuse_traces(live, PAGE_SIZE + 5)
    limits: list[Any] = []
    repo = live.services.repo
    original = repo.list_ingests

    def counting(*args: Any, **kwargs: Any) -> Any:
        limits.append(kwargs["limit"])
        return original(*args, **kwargs)

    repo.list_ingests = counting  # type: ignore[method-assign]
    client = signed_in(live, "acme")
    first = client.get("/ui/ingests?status=failed")
    assert first.status_code == 200
    assert first.text.count('<a href="/ui/ingests/') == PAGE_SIZE
    assert limits == [PAGE_SIZE + 1]
    next_link = re.search(r'href="(/ui/ingests\?[^"]*after=[^"]+)" rel="next"', first.text)
    assert next_link, "no next page link"
    second = client.get(next_link.group(1).replace("&amp;", "&"))
    assert second.text.count('<a href="/ui/ingests/') == 5
    assert 'rel="next"' not in second.text
    timeline = client.get("/ui/timeline")  # one event per refusal
    assert timeline.text.count("runtime.ingest.failed") >= PAGE_SIZE
    assert 'rel="next"' in timeline.text


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/ui/ingests?graph_hash=nope", 400),
        ("/ui/ingests?status=weird", 400),
        ("/ui/ingests?status=failed&status=ingested", 400),  # ambiguous: refused
        ("/ui/ingests?after=not-an-id", 400),
        ("/ui/ingests/not-an-id", 400),
        ("/ui/ingests/01ARZ3NDEKTSV4RRFFQ69G5FAV", 404),
        ("/ui/graphs/" + GRAPH, 404),
        ("/ui/timeline?type=no.such.type", 400),
        ("/ui/vex/01ARZ3NDEKTSV4RRFFQ69G5FAV", 404),
        ("/ui/no-such-page", 404),
    ],
)
def test_refusals_are_html_pages_with_the_apis_status(
    live: LiveApp, path: str, status: int
) -> None:
    answer = signed_in(live, "acme").get(path)
    assert answer.status_code == status, answer.text[:300]
    assert answer.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in answer.headers["content-security-policy"]


def test_sign_in_refusals(live: LiveApp) -> None:
    client = TestClient(live.app)
    csrf = csrf_of(client.get("/ui/sign-in").text)
    unknown = client.post("/ui/sign-in", data={"csrf": csrf, "token": "stl_nope"})
    assert unknown.status_code == 401 and "not known" in unknown.text
    csrf = csrf_of(unknown.text)
    foreign = client.post(
        "/ui/sign-in", data={"csrf": csrf, "token": live.tokens["acme"], "tenant": "globex"}
    )
    assert foreign.status_code == 403 and "does not allow tenant globex" in foreign.text
    assert "stella_token" not in client.cookies
    no_csrf = TestClient(live.app).post("/ui/sign-in", data={"token": live.tokens["acme"]})
    assert no_csrf.status_code == 403
    json_body = client.post("/ui/sign-in", json={"token": live.tokens["acme"]})
    assert json_body.status_code == 415


def test_a_token_for_two_tenants_chooses_and_switches(live: LiveApp) -> None:
    client = TestClient(live.app)
    csrf = csrf_of(client.get("/ui/sign-in").text)
    answer = client.post(
        "/ui/sign-in", data={"csrf": csrf, "token": live.tokens["both"]}, follow_redirects=False
    )
    assert answer.headers["location"] == "/ui/tenant"
    assert client.get("/ui/overview", follow_redirects=False).headers["location"] == "/ui/tenant"
    chooser = client.get("/ui/tenant")
    assert 'value="acme"' in chooser.text and 'value="globex"' in chooser.text
    chosen = client.post(
        "/ui/tenant", data={"csrf": csrf_of(chooser.text), "tenant": "globex"},
        follow_redirects=False,
    )  # fmt: skip
    assert chosen.status_code == 303
    overview = client.get("/ui/overview")
    assert overview.status_code == 200 and 'value="globex" selected' in overview.text
    forged = client.post("/ui/tenant", data={"csrf": "x", "tenant": "acme"})
    assert forged.status_code == 403


def test_a_token_without_read_gets_403_pages(live: LiveApp) -> None:
    client = signed_in(live, "write")
    assert client.get("/ui/overview").status_code == 403


def test_sign_out_clears_the_session(live: LiveApp) -> None:
    client = signed_in(live, "acme")
    page = client.get("/ui/overview")
    answer = client.post("/ui/sign-out", data={"csrf": csrf_of(page.text)}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/ui/sign-in")
    cookies = answer.headers.get_list("set-cookie")
    assert any(c.startswith("stella_token=") and "Max-Age=0" in c for c in cookies)
    assert client.get("/ui/overview", follow_redirects=False).status_code == 303


def test_headers_of_pages_and_assets(live: LiveApp) -> None:
    client = signed_in(live, "acme")
    page = client.get("/ui/overview")
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["x-frame-options"] == "DENY"
    css = client.get("/ui/static/console.css")
    assert css.headers["content-type"].startswith("text/css")
    assert "no-store" not in css.headers["cache-control"]
    assert client.get("/ui/static/../_app.py").status_code == 404
    assert client.post("/ui/overview").status_code == 405


def test_cookies_are_secure_over_tls(live: LiveApp) -> None:
    client = TestClient(live.app, base_url="https://testserver")
    form = client.get("/ui/sign-in")
    assert "secure" in form.headers["set-cookie"].lower()
    answer = client.post(
        "/ui/sign-in",
        data={"csrf": csrf_of(form.text), "token": live.tokens["acme"]},
        follow_redirects=False,
    )
    session = [c for c in answer.headers.get_list("set-cookie") if c.startswith("stella_")]
    assert session and all("Secure" in c and "HttpOnly" in c for c in session), session
    plain = TestClient(live.app).get("/ui/sign-in")
    assert "secure" not in plain.headers["set-cookie"].lower()


def test_verdicts_and_unknowns_are_paged(live: LiveApp) -> None:
    from stella_signals_dev.synth import SynthSpec, graph_bytes

    headers = {"Authorization": f"Bearer {live.tokens['acme']}", "X-Stella-Tenant": "acme"}
    api = TestClient(live.app)
    graph = api.post("/api/v1/graphs", content=graph_bytes(SynthSpec(10, seed=5)), headers=headers)
    assert graph.status_code == 201, graph.text
    catalog = {
        "schema": "stella.vuln-catalog/v1",
        "entries": [
            {"vuln_id": f"V-{i:02d}", "package": "pkg:pypi/psycopg2", "affected": "<99",
             "symbols": [f"psycopg2.ghost{i}:fn"]}
            for i in range(PAGE_SIZE + 5)
        ],
    }  # fmt: skip
    body = {"graph_hash": graph.json()["graph_hash"], "catalog": catalog}
    evaluated = api.post("/api/v1/reachability/evaluate", json=body, headers=headers)
    assert evaluated.status_code == 200, evaluated.text
    client = signed_in(live, "acme")
    for path, marker in (("/ui/verdicts", 'class="verdict"'), ("/ui/unknowns", "<td>target_")):
        first = client.get(path)
        assert first.status_code == 200
        assert first.text.count(marker) == PAGE_SIZE, path
        link = re.search(r'href="([^"]*after=[^"]+)" rel="next"', first.text)
        assert link, path
        second = client.get(link.group(1).replace("&amp;", "&"))
        assert second.status_code == 200, second.text[:300]
        assert second.text.count(marker) == 5, path
        assert 'rel="next"' not in second.text


def test_a_session_cookie_sent_twice_is_refused(live: LiveApp) -> None:
    token = live.tokens["acme"]
    for cookie in (
        f"stella_token={token}; stella_tenant=acme; stella_token={token}",
        f"stella_token={token}; stella_tenant=acme; stella_tenant=globex",
    ):
        for path in ("/ui/overview", "/ui/tenant"):
            answer = TestClient(live.app).get(path, headers={"Cookie": cookie})
            assert answer.status_code == 400 and "sent 2 times" in answer.text, path
