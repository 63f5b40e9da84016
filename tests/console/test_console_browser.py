"""The console in a real browser (issue 20 item 4): Playwright driving Debian's Chromium
(`/usr/bin/chromium`, installed by `make tools`; never a downloaded browser) against one
`signals serve --demo` process shared by the module.

The demo tenant's trace is ingested with the runbook's `curl` first; a second trace posted
with `curl` mid-test must appear in the list. Every request any page makes is recorded: none
may leave the server's origin.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from stella_signals.attest import load_public_key
from stella_signals.locker import check_bundle
from stella_signals.vex import verify_vex
from stella_signals_dev.synth import SynthSpec, write_trace
from tests.console.demo import CHROMIUM, curl_ingest, seeded_demo
from tests.realservers.backends import Backend, issue_token
from tests.realservers.signals_process import signals
from tests.verdicts._world import CATALOG, make_world

pytestmark = pytest.mark.e2e


@dataclass
class Demo:
    url: str
    data_dir: Path
    token: str
    other_token: str
    graph_hash: str
    first_ingest: str
    requests: list[str]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: run `make tools`")
    with seeded_demo(tmp_path_factory.mktemp("console")) as seeded:
        other = issue_token(Backend("embedded"), seeded.data_dir, "globex")
        yield Demo(
            seeded.url,
            seeded.data_dir,
            seeded.token,
            other,
            seeded.graph_hash,
            seeded.first_ingest,
            [],
        )


@pytest.fixture(scope="module")
def browser(demo: Demo) -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


def new_page(browser: Browser, demo: Demo) -> Page:
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    page.on("request", lambda request: demo.requests.append(request.url))
    return page


def sign_in(page: Page, demo: Demo, token: str, tenant: str = "") -> Page:
    page.goto(f"{demo.url}/ui/")
    page.fill("#token", token)
    if tenant:
        page.fill("#tenant", tenant)
    page.click("button[type=submit]")
    return page


def test_sign_in_and_see_the_demo_tenants_ingests(browser: Browser, demo: Demo) -> None:
    page = new_page(browser, demo)
    response = page.goto(f"{demo.url}/ui/overview")
    assert page.url.startswith(f"{demo.url}/ui/sign-in")
    sign_in(page, demo, demo.token)
    assert page.url == f"{demo.url}/ui/overview"
    assert page.locator("h1").inner_text() == "Overview"
    assert "tenant demo" in page.locator("header").inner_text()
    assert page.locator("#h-time").is_visible()
    page.click("nav >> text=Ingests")
    assert page.locator(f"#ingests a:has-text('{demo.first_ingest}')").is_visible()
    response = page.goto(f"{demo.url}/ui/ingests")
    headers = response.headers
    assert "default-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "unsafe-inline" not in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["stella_token"]["httpOnly"] and cookies["stella_token"]["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""  # nothing readable from script


def test_a_trace_posted_with_curl_appears(browser: Browser, demo: Demo, tmp_path: Path) -> None:
    page = sign_in(new_page(browser, demo), demo, demo.token)
    spec = SynthSpec(300, seed=42, start=datetime(2026, 3, 1, tzinfo=UTC))
    trace = write_trace(tmp_path / "new.ndjson.gz", spec).path
    new_id = curl_ingest(demo.url, demo.token, "demo", demo.graph_hash, trace)
    page.goto(f"{demo.url}/ui/ingests?graph_hash={demo.graph_hash}&status=ingested")
    page.click(f"#ingests a:has-text('{new_id}')")
    assert page.url == f"{demo.url}/ui/ingests/{new_id}"
    assert "300" in page.locator("#h-t + dl").inner_text()  # the trace summary's records
    page.click("text=Verify now")
    assert "every check passed" in page.locator(".notice").inner_text()
    checks = page.locator("#checks").inner_text()
    for name in ("checksum", "receipt_signature", "timeline_link"):
        assert name in checks
    with page.expect_download() as info:
        page.click("text=Download the evidence bundle")
    data = Path(info.value.path()).read_bytes()
    keys = httpx.get(
        f"{demo.url}/api/v1/keys/service",
        headers={"Authorization": f"Bearer {demo.token}", "X-Stella-Tenant": "demo"},
    ).json()["keys"]
    report = check_bundle(
        data, service_keys=[load_public_key(k["public_key_pem"].encode()) for k in keys]
    )
    assert report.ok and report.ingest_id == new_id, report.to_dict()


def test_timeline_chain_and_graph_coverage(browser: Browser, demo: Demo) -> None:
    page = sign_in(new_page(browser, demo), demo, demo.token)
    page.click("nav >> text=Timeline")
    assert page.locator("#events tbody tr").count() >= 3
    page.click("text=Verify the whole chain")
    assert re.search(
        r"Chain verified from seq 1 up to seq \d+", page.locator(".notice").inner_text()
    )
    page.click("nav >> text=Graph coverage")
    page.click("#graphs a")
    assert page.locator("svg.graph .node").count() > 0
    assert page.locator("svg.graph .edge").count() > 0
    symbol = page.locator("#nodes tbody tr td").first.inner_text()
    page.fill("#q", symbol)
    page.press("#q", "Enter")
    assert page.locator("svg.graph .match").count() >= 1
    assert page.locator("#nodes tr.match").count() >= 1


@pytest.fixture(scope="module")
def evaluated(demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A real program scanned and run under the probe (tests/verdicts/_world.py), its graph
    and window posted to the demo tenant, a catalog evaluated with an OpenVEX document."""
    world = make_world(tmp_path_factory.mktemp("verdict-world"))
    headers = {"Authorization": f"Bearer {demo.token}", "X-Stella-Tenant": "demo"}
    graph = httpx.post(f"{demo.url}/api/v1/graphs", content=world.graph, headers=headers)
    graph_hash = graph.json()["graph_hash"]
    files = {
        "runtime": ("runtime-trace.ndjson.gz", world.first.trace, "application/x-ndjson"),
        "probe_manifest": ("probe-manifest.json", world.first.manifest, "application/json"),
    }
    posted = httpx.post(
        f"{demo.url}/api/v1/runtime-facts?graph_hash={graph_hash}", files=files, headers=headers
    )
    assert posted.status_code == 201, posted.text
    body = {"graph_hash": graph_hash, "catalog": CATALOG, "vex": ["openvex"]}
    answer = httpx.post(
        f"{demo.url}/api/v1/reachability/evaluate", json=body, headers=headers, timeout=60
    )
    assert answer.status_code == 200, answer.text
    return {"graph_hash": graph_hash, **answer.json()}


def test_a_verdict_its_path_and_its_signed_vex(
    browser: Browser, demo: Demo, evaluated: dict[str, Any]
) -> None:
    page = sign_in(new_page(browser, demo), demo, demo.token)
    page.click("nav >> text=Verdicts")
    page.fill("#f-graph", evaluated["graph_hash"])
    page.fill("#f-vuln", "V-USED")
    page.click("form.filters >> text=Filter")
    row = page.locator("#verdicts tr.verdict").first
    assert "V-USED" in row.inner_text() and "CVE-2026-1001" in row.inner_text()
    assert row.locator(".badge").inner_text() == "CR"
    details = page.locator("#verdicts tr.evidence details").first
    details.locator("summary").click()  # the evidence: the path from a root, the runtime hits
    evidence = details.inner_text()
    assert "path from a root" in evidence and "vulnlib.core" in evidence
    assert re.search(r"[1-9][0-9]* hit\(s\)", evidence)
    path = details.locator("ol li").all_inner_texts()
    assert len(path) >= 2 and "used" in path[-1]
    details.locator("text=how this verdict changed").click()
    assert page.locator("#history tbody tr").count() == 1  # its first state, CR
    assert "first" in page.locator("#history").inner_text()
    page.go_back()
    (vex,) = evaluated["vex"]
    page.fill("#vex-id", vex["id"])
    page.click("text=Open")
    assert page.url == f"{demo.url}/ui/vex/{vex['id']}"
    assert "matches the record" in page.content()
    assert "signed by service key" in page.content()
    with page.expect_download() as document_download:
        page.click("text=Download the openvex document")
    with page.expect_download() as dsse_download:
        page.click("text=Download its DSSE envelope")
    document = Path(document_download.value.path()).read_bytes()
    envelope = Path(dsse_download.value.path()).read_bytes()
    keys = httpx.get(
        f"{demo.url}/api/v1/keys/service",
        headers={"Authorization": f"Bearer {demo.token}", "X-Stella-Tenant": "demo"},
    ).json()["keys"]
    key = load_public_key(keys[0]["public_key_pem"].encode())
    verified = verify_vex(envelope, key=key, document=document)  # raises unless signed
    assert verified.digest == "sha256:" + vex["sha256"]
    statuses = {s["vulnerability"]["name"]: s["status"] for s in json.loads(document)["statements"]}
    assert statuses["V-USED"] == "affected" and statuses["V-UNUSED"] == "not_affected"
    page.click("nav >> text=Unknowns")
    assert page.locator("#unknowns tbody tr").count() >= 1
    assert "target_not_scanned" in page.locator("#unknowns").inner_text()
    # another tenant: the document is not found
    other = sign_in(new_page(browser, demo), demo, demo.other_token)
    assert other.goto(f"{demo.url}/ui/vex/{vex['id']}").status == 404
    assert other.goto(f"{demo.url}/ui/vex/{vex['id']}/document").status == 404
    other.goto(f"{demo.url}/ui/verdicts")
    assert "V-USED" not in other.content()


def test_another_tenant_sees_nothing_of_the_demo(browser: Browser, demo: Demo) -> None:
    page = sign_in(new_page(browser, demo), demo, demo.other_token)
    assert "tenant globex" in page.locator("header").inner_text()
    page.goto(f"{demo.url}/ui/ingests")
    assert demo.first_ingest not in page.content()
    response = page.goto(f"{demo.url}/ui/ingests/{demo.first_ingest}")
    assert response.status == 404
    response = page.goto(f"{demo.url}/ui/graphs/{demo.graph_hash}")
    assert response.status == 404
    response = page.goto(f"{demo.url}/ui/ingests/{demo.first_ingest}/bundle")
    assert response.status == 404
    # nor by naming the demo tenant at sign-in
    page.context.clear_cookies()
    sign_in(page, demo, demo.other_token, tenant="demo")
    assert "does not allow tenant demo" in page.locator(".notice").inner_text()


def test_forms_without_the_csrf_token_are_refused(browser: Browser, demo: Demo) -> None:
    page = sign_in(new_page(browser, demo), demo, demo.token)
    url = f"{demo.url}/ui/ingests/{demo.first_ingest}/verify"
    for form in ({}, {"csrf": "forged"}):
        response = page.request.post(url, form=form)  # the session's cookies go along
        assert response.status == 403, response.text()
        assert "CSRF" in response.text()
    page.goto(f"{demo.url}/ui/ingests/{demo.first_ingest}")
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    assert page.request.post(url, form={"csrf": csrf}).status == 200


def test_a_revoked_token_is_signed_out_on_the_next_page(browser: Browser, demo: Demo) -> None:
    out = signals(
        "tokens", "create", "--tenant", "demo", "--scope", "signals:read",
        "--data-dir", str(demo.data_dir),
    )  # fmt: skip
    token = out.stdout.strip().splitlines()[-1]
    token_id = re.search(r"[0-9A-Z]{26}", out.stderr)
    assert token_id, out.stderr
    page = sign_in(new_page(browser, demo), demo, token)
    assert page.url.endswith("/ui/overview")
    signals("tokens", "revoke", token_id.group(0), "--data-dir", str(demo.data_dir))
    page.click("nav >> text=Timeline")
    assert "/ui/sign-in" in page.url
    assert "revoked" in page.locator(".notice").inner_text()
    assert "stella_token" not in {c["name"] for c in page.context.cookies()}


def test_keyboard_skip_link_and_phone_width(browser: Browser, demo: Demo) -> None:
    page = sign_in(new_page(browser, demo), demo, demo.token)
    page.goto(f"{demo.url}/ui/overview")
    page.wait_for_load_state("load")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")  # the skip link moves the focus to the page's content
    assert page.evaluate("document.activeElement.id") == "main"
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{demo.url}/ui/ingests")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width  # no sideways scrolling of the page (tables scroll inside)


def test_no_request_left_the_server(demo: Demo) -> None:
    """Runs last in the module: every page the tests opened asked this origin only."""
    assert demo.requests, "the browser tests recorded no request"
    foreign = [u for u in demo.requests if not u.startswith(demo.url + "/")]
    assert foreign == []
    assert any(u.endswith("/ui/static/console.css") for u in demo.requests)
