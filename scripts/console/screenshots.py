"""`make screenshots`: a PNG of each console page under docs/screenshots/.

Starts `signals serve --demo` on a throwaway data dir, ingests the demo trace with the
runbook's curl, a second trace and a refused one, evaluates a catalog against a real program
scanned and run under the probe (tests/verdicts/_world.py) with an OpenVEX document, signs in
with Playwright driving Debian's Chromium (/usr/bin/chromium; never a downloaded browser) and
photographs each page at a laptop's width, plus the overview at a phone's.

    .venv/bin/python scripts/console/screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
from playwright.sync_api import Page, sync_playwright  # noqa: E402

from stella_signals_dev.synth import SynthSpec, write_trace  # noqa: E402
from tests.console.demo import CHROMIUM, curl_ingest, seeded_demo  # noqa: E402
from tests.verdicts._world import CATALOG, make_world  # noqa: E402

LAPTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}


def shoot(page: Page, out: Path, name: str) -> None:
    path = out / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with seeded_demo(root) as server:
            graph, token, first = server.graph_hash, server.token, server.first_ingest
            spec = SynthSpec(300, seed=42, start=datetime(2026, 3, 1, tzinfo=UTC))
            curl_ingest(
                server.url, token, "demo", graph, write_trace(root / "t.ndjson.gz", spec).path
            )
            httpx.post(  # a refused one, for the list and the alerts
                f"{server.url}/api/v1/runtime-facts?graph_hash={graph}",
                content=b'{"not": "a trace"}\n',
                headers={
                    "Authorization": f"Bearer {token}",
                    "X-Stella-Tenant": "demo",
                    "Content-Type": "application/x-ndjson",
                },
            )
            world = make_world(root / "world")  # a real program, scanned and probed
            headers = {"Authorization": f"Bearer {token}", "X-Stella-Tenant": "demo"}
            vgraph = httpx.post(
                f"{server.url}/api/v1/graphs", content=world.graph, headers=headers
            ).json()["graph_hash"]
            httpx.post(
                f"{server.url}/api/v1/runtime-facts?graph_hash={vgraph}",
                files={
                    "runtime": ("t.ndjson.gz", world.first.trace, "application/x-ndjson"),
                    "probe_manifest": ("m.json", world.first.manifest, "application/json"),
                },
                headers=headers,
            ).raise_for_status()
            evaluation = httpx.post(
                f"{server.url}/api/v1/reachability/evaluate",
                json={"graph_hash": vgraph, "catalog": CATALOG, "vex": ["openvex"]},
                headers=headers,
                timeout=60,
            )
            evaluation.raise_for_status()
            vex_id = evaluation.json()["vex"][0]["id"]
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
                page = browser.new_page(viewport=LAPTOP)
                page.goto(f"{server.url}/ui/sign-in")
                shoot(page, args.out, "sign-in")
                page.fill("#token", token)
                page.click("button[type=submit]")
                shoot(page, args.out, "overview")
                page.goto(f"{server.url}/ui/ingests")
                shoot(page, args.out, "ingests")
                page.goto(f"{server.url}/ui/ingests/{first}")
                page.click("text=Verify now")
                page.locator("#h-e").scroll_into_view_if_needed()
                shoot(page, args.out, "ingest-verified")
                page.goto(f"{server.url}/ui/timeline")
                page.click("text=Verify the whole chain")
                shoot(page, args.out, "timeline")
                page.goto(f"{server.url}/ui/graphs/{graph}")
                page.locator("#h-pic").scroll_into_view_if_needed()
                shoot(page, args.out, "graph-coverage")
                page.goto(f"{server.url}/ui/verdicts?graph_hash={vgraph}&vuln_id=V-USED")
                page.locator("#verdicts summary").first.click()
                shoot(page, args.out, "verdicts")
                page.goto(f"{server.url}/ui/vex/{vex_id}")
                shoot(page, args.out, "vex")
                page.set_viewport_size(PHONE)
                page.goto(f"{server.url}/ui/overview")
                shoot(page, args.out, "overview-phone")
                browser.close()


if __name__ == "__main__":
    main()
