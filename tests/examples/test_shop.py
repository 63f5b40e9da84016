"""The end-to-end example (docs/example.md, examples/shop/walkthrough.sh) against a real
`signals serve`: a real Flask service in its own environment (its pinned dependencies from
the package registry, cached under .cache/example/venv), its graph scanned, run under the real
probe in targeted then discovery mode, driven by real HTTP requests and stopped with SIGTERM;
then what the server knows is checked over the API and with `stella graph verify`; the
verdicts of the example's catalog (issue 18) are the server's (`stella reach evaluate`), its
signed VEX documents (`stella vex export`) verify offline with the service key, name their
evidence and come with their Evidence Locker bundle; the lab tenant's pair is evaluated again in
the background after its discovery ingest, and its unknowns are the runtime edges the graph
lacks."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import httpx
import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from stella_signals.attest import parse_envelope
from stella_signals.locker import read_vex_bundle
from stella_signals.wiring import Services
from tests.realservers.backends import Backend, grant_tokens
from tests.realservers.signals_process import BIN, SignalsProcess, free_port
from tests.vex._evaluations import openvex_validator

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SHOP = ROOT / "examples" / "shop"
#: The example's environment, kept between runs (ignored by git): rebuilt by the walkthrough
#: when requirements.txt or the probe's sources change.
VENV = ROOT / ".cache" / "example" / "venv"
EXERCISED, IDLE = "werkzeug.utils:secure_filename", "jinja2.utils:urlize"


def pins() -> dict[str, str]:
    lines = (SHOP / "requirements.txt").read_text().splitlines()
    found = (re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+)", line.strip()) for line in lines)
    return {m[1].lower(): m[2] for m in found if m}


def test_the_catalog_and_targets_name_two_functions_of_two_pinned_dependencies() -> None:
    """Fictional advisories against the pinned versions, fixed above them, on the two
    functions the probe watches."""
    catalog = json.loads((SHOP / "catalog.json").read_text())
    assert catalog["schema"] == "stella.vuln-catalog/v1"
    pinned = pins()
    symbols = []
    for entry in catalog["entries"]:
        assert set(entry) <= {"vuln_id", "aliases", "package", "affected", "fixed", "symbols"}
        assert entry["vuln_id"].startswith("EXAMPLE-")
        name = entry["package"].removeprefix("pkg:pypi/")
        version = Version(pinned[name])
        assert version in SpecifierSet(entry["affected"])
        assert all(Version(fixed) > version for fixed in entry["fixed"])
        symbols += entry["symbols"]
    assert symbols == [EXERCISED, IDLE]
    targets = [
        line.split("#")[0].strip() for line in (SHOP / "targets.txt").read_text().splitlines()
    ]
    assert [t for t in targets if t] == symbols


def api_get(url: str, headers: dict[str, str], path: str, **params: Any) -> Any:
    response = httpx.get(f"{url}{path}", params=params, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def every_item(url: str, headers: dict[str, str], path: str, **params: Any) -> list[Any]:
    """Every item of a paged list, following ``next_page_token``."""
    items: list[Any] = []
    params["page_size"] = 500
    while True:
        page = api_get(url, headers, path, **params)
        items += page["items"]
        if not page["next_page_token"]:
            return items
        params["page_token"] = page["next_page_token"]


def every_edge(url: str, headers: dict[str, str], graph: str, in_graph: str) -> list[Any]:
    return every_item(url, headers, f"/api/v1/graphs/{graph}/runtime", view="edges",
                      in_graph=in_graph)  # fmt: skip


def check_the_verdicts(verdicts: list[Any], production: dict[str, Any], receipt: str) -> None:
    """Issue 18's example, as the server recorded it: CR for the function a route runs, CU
    for the one nothing calls, both on the production ingest's receipt."""
    by_symbol = {v["symbol"]: v for v in verdicts}
    assert set(by_symbol) == {EXERCISED, IDLE}
    exercised, idle = by_symbol[EXERCISED], by_symbol[IDLE]
    assert exercised["state"] == "CR", exercised
    # the static path starts at the view Flask registered by decorator (a runtime root)
    assert exercised["path_display"][-2:] == ["app.receipt", "werkzeug.utils.secure_filename"]
    assert exercised["runtime"]["ingest_ids"] == [production["ingest_id"]]
    assert idle["state"] == "CU", idle
    assert idle["runtime"]["hits"] == 0
    assert exercised["evidence_digests"] == idle["evidence_digests"] == [receipt]


def check_the_openvex(document: dict[str, Any], graph_hash: str, receipt: str) -> None:
    """`affected` with what to do; `not_affected` saying why (the window, the graph); each
    statement naming its evidence, the receipt's digest."""
    openvex_validator().validate(document)
    statements = {s["vulnerability"]["name"]: s for s in document["statements"]}
    affected, not_affected = statements["EXAMPLE-2026-0001"], statements["EXAMPLE-2026-0002"]
    assert affected["status"] == "affected"
    assert "3.1.99" in affected["action_statement"]
    assert not_affected["status"] == "not_affected"
    assert not_affected["justification"] == "vulnerable_code_not_in_execute_path"
    assert graph_hash in not_affected["impact_statement"]
    assert "watched it for the whole window" in not_affected["impact_statement"]
    for statement in (affected, not_affected):
        assert receipt in statement["status_notes"]
        assert [p["@id"] for p in statement["products"]] == ["pkg:generic/shop"]


def check_the_cyclonedx(document: dict[str, Any], receipt: str) -> None:
    analyses = {v["id"]: v["analysis"] for v in document["vulnerabilities"]}
    assert analyses["EXAMPLE-2026-0001"]["state"] == "exploitable"
    assert analyses["EXAMPLE-2026-0002"]["state"] == "not_affected"
    assert analyses["EXAMPLE-2026-0002"]["justification"] == "code_not_reachable"
    assert all(receipt in a["detail"] for a in analyses.values())


def test_the_walkthrough_from_scan_to_what_ran(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    # One token for both tenants, stored from this process as `signals tokens create`
    # stores it (tests/cli/test_tokens_lifecycle.py covers the command).
    services = Services.open(Backend("embedded").settings(tmp_path / "data"))
    try:
        scopes = ["signals:read", "signals:write"]
        token = grant_tokens(services, {"shop": (["shop", "shop-lab"], scopes)})["shop"]
    finally:
        services.close()
    # The background loop every second, not every 5 s (the default): step 12 of the
    # walkthrough waits for it, polling with a `stella` process each time.
    server = SignalsProcess(
        ["serve", *data],
        tmp_path / "server.log",
        env={"STELLA_ORPHAN_RETRY_SECONDS": "1"},
        port=free_port(),
    )
    server.start()
    headers = {"Authorization": f"Bearer {token}", "X-Stella-Tenant": "shop"}
    lab = headers | {"X-Stella-Tenant": "shop-lab"}
    try:
        token_file = tmp_path / "token"
        token_file.write_text(token + "\n")
        work = tmp_path / "work"
        env = {
            **os.environ,
            "STELLA_BIN": str(BIN),
            "EXAMPLE_WORK": str(work),
            "EXAMPLE_VENV": str(VENV),
            "SIGNALS_URL": server.url,
            "SIGNALS_TENANT": "shop",
            "SIGNALS_LAB_TENANT": "shop-lab",
            "SIGNALS_TOKEN_FILE": str(token_file),
            "SIGNALS_DATA_DIR": str(tmp_path / "data"),
        }
        done = subprocess.run(
            ["bash", str(SHOP / "walkthrough.sh")],
            env=env, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        out = done.stdout
        assert "werkzeug.utils.secure_filename: observed, 1 hit(s)" in out
        assert "jinja2.utils.urlize: not observed" in out
        graph = json.loads((work / "graph.json").read_text())
        graph_hash = re.search(r"^graph hash: (blake3:[0-9a-f]{64})$", out, re.M)
        assert graph_hash is not None
        h = graph_hash[1]
        node_of = {n["display"]: n["id"] for n in graph["nodes"]}
        symbol_of = {n["display"]: n.get("symbol_id", n["id"]) for n in graph["nodes"]}
        dispatch_symbol = symbol_of["flask.app.Flask.dispatch_request"]
        exercised, idle = (node_of[s.replace(":", ".")] for s in (EXERCISED, IDLE))
        url = server.url

        # The targeted run is the production tenant's one ingest, with its probe manifest
        # (both targets watched for the whole window: the evidence that urlize did not run);
        # the discovery run is the lab tenant's.
        def ingests(tenant_headers: dict[str, str]) -> list[Any]:
            found = api_get(url, tenant_headers, "/api/v1/ingests", graph_hash=h)["items"]
            assert all(r["status"] == "ingested" for r in found)
            return list(found)

        def manifest(tenant_headers: dict[str, str], receipt: dict[str, Any]) -> Any:
            digest = receipt["probe_manifest_digest"].removeprefix("sha256:")
            blob = httpx.get(f"{url}/api/v1/cas/reachability/probe-manifests/{digest}",
                             headers=tenant_headers, timeout=30)  # fmt: skip
            assert blob.status_code == 200
            return json.loads(blob.content)

        [production] = ingests(headers)
        targeted = manifest(headers, production)
        assert targeted["mode"] == "targeted"
        assert (targeted["targets_total"], targeted["targets_instrumented"]) == (2, 2)
        assert set(targeted["targets_watched_whole_window"]) == {EXERCISED, IDLE}
        [lab_ingest] = ingests(lab)
        assert manifest(lab, lab_ingest)["mode"] == "discovery"

        # The verdicts of the production tenant's evidence, as the server recorded them. A
        # receipt is named by the SHA-256 of its signed envelope as the server keeps it: the
        # probe's copy of the receipt (its upload's answer) gives the same digest.
        [probe_receipt] = (work / "windows").glob("window-*/receipt.json")
        envelope = json.loads(probe_receipt.read_bytes())["receipt_dsse"]
        signed = parse_envelope(json.dumps(envelope).encode()).to_json()
        receipt = "sha256:" + hashlib.sha256(signed).hexdigest()
        verdicts = every_item(url, headers, "/api/v1/reachability/verdicts", graph_hash=h)
        check_the_verdicts(verdicts, production, receipt)
        for symbol, state in ((EXERCISED, "CR"), (IDLE, "CU")):
            assert re.search(rf"^EXAMPLE-\S+ +pkg:pypi/\S+ +{symbol} +{state} ", out, re.M), out

        # The signed documents, checked offline with the service key the walkthrough exported
        # (`signals keys export-service`: the key the server publishes), and the bundle.
        keys = api_get(url, headers, "/api/v1/keys/service")["keys"]
        [current] = [k["public_key_pem"] for k in keys if k["status"] == "current"]
        assert (work / "service.pub.pem").read_text().startswith(current)
        check_the_openvex(json.loads((work / "shop.openvex.json").read_bytes()), h, receipt)
        check_the_cyclonedx(json.loads((work / "shop.cdx.json").read_bytes()), receipt)
        for name in ("shop.openvex.json", "shop.cdx.json"):
            verified = subprocess.run(
                [str(BIN / "stella"), "vex", "verify", str(work / name),
                 "--key", str(work / "service.pub.pem"), "--json"],
                capture_output=True, text=True, timeout=120, check=False,
            )  # fmt: skip
            assert verified.returncode == 0, verified.stdout + verified.stderr
            assert json.loads(verified.stdout)["ok"] is True
        vex_id = re.search(r"^openvex document (\S+) ", out, re.M)
        assert vex_id is not None
        answer = httpx.get(f"{url}/api/v1/vex/{vex_id[1]}/bundle", headers=headers, timeout=30)
        assert answer.status_code == 200, answer.text
        assert answer.content == (work / "shop.openvex.bundle.tar.gz").read_bytes()
        bundle = read_vex_bundle(answer.content)
        assert (bundle.graph_hash, bundle.format) == (h, "openvex")
        assert bundle.document == (work / "shop.openvex.json").read_bytes()
        assert [i.ingest_id for i in bundle.ingests] == [production["ingest_id"]]
        assert hashlib.sha256(bundle.ingests[0].receipt_dsse).hexdigest() == receipt[7:]
        lab_bundle = httpx.get(f"{url}/api/v1/vex/{vex_id[1]}/bundle", headers=lab, timeout=30)
        assert lab_bundle.status_code == 404  # another tenant's document

        # What ran: the exercised function, not the other.
        def rows(package: str, observed: str, tenant_headers: dict[str, str]) -> dict[str, Any]:
            purl = f"pkg:pypi/{package}@{pins()[package]}"
            found = every_item(url, tenant_headers, f"/api/v1/graphs/{h}/runtime",
                               observed=observed, purl=purl)  # fmt: skip
            return {row["node"]: row for row in found}

        assert rows("werkzeug", "observed", headers)[exercised]["ingest_ids"] == [
            production["ingest_id"]
        ]
        assert idle not in rows("jinja2", "observed", headers)
        assert rows("jinja2", "unobserved", headers)[idle]["observed"] is False
        assert exercised in rows("werkzeug", "observed", lab)
        assert idle not in rows("jinja2", "observed", lab)

        # `stella graph verify` maps the targeted trace wholly; the discovery trace's
        # unexpected edges are exactly the stored edges the graph does not have.
        traces = {
            mode: next((work / folder).glob("window-*/runtime-trace.ndjson.gz"))
            for mode, folder in (("targeted", "windows"), ("discovery", "discovery"))
        }
        reports = {}
        for mode, trace in traces.items():
            tenant = "shop" if mode == "targeted" else "shop-lab"
            verify = subprocess.run(
                [str(BIN / "stella"), "graph", "verify", "--runtime", str(trace), "--graph", h,
                 "--server", url, "--tenant", tenant, "--token-file", str(token_file), "--json"],
                capture_output=True, text=True, timeout=120, check=False,
            )  # fmt: skip
            assert verify.returncode in (0, 1), verify.stderr
            reports[mode] = json.loads(verify.stdout)
        targeted_report = reports["targeted"]
        assert (targeted_report["records"], targeted_report["mapped_symbols"]) == (1, 1)
        assert targeted_report["unmapped_symbols"] == targeted_report["nodes_observed"] - 1 == 0
        assert reports["discovery"]["unmapped_symbols"] == 0
        assert every_edge(url, headers, h, "false") == []  # targeted traces have no callers
        unexpected = every_edge(url, lab, h, "false")
        assert [(e["caller_symbol_id"], e["symbol_id"], e["count"]) for e in unexpected] == [
            (e["caller_symbol_id"], e["symbol_id"], e["count"])
            for e in reports["discovery"]["unexpected_edges"]
        ]
        known = every_edge(url, lab, h, "true")
        assert len(known) >= reports["discovery"]["edges_observed"] > 0
        dispatch = node_of["flask.app.Flask.dispatch_request"]
        assert (dispatch, node_of["app.receipt"]) in {
            (e["caller_node"], e["callee_node"]) for e in unexpected
        }, "Flask calls views through a dict the scanner cannot follow: an unexpected edge"

        # The lab tenant's pair, registered before its discovery run (SR: no evidence yet),
        # was evaluated again by the server's background loop once the discovery window was
        # ingested: SR -> CR, with its event, by an evaluation no client asked for.
        history = every_item(url, lab, "/api/v1/reachability/verdicts/history", graph_hash=h,
                             vuln_id="EXAMPLE-2026-0001")  # fmt: skip
        assert [(x["from"], x["to"]) for x in history] == [(None, "SR"), ("SR", "CR")]
        asked = set(re.findall(r"^evaluation (\S+): ", out, re.M))
        assert history[0]["evaluation_id"] in asked
        assert history[1]["evaluation_id"] not in asked
        [event] = api_get(url, lab, "/api/v1/timeline/events", type="reach.verdict.changed")[
            "items"
        ]
        assert event["event_id"] == history[1]["event_id"]
        assert event["attributes"]["from"] == "SR" and event["attributes"]["to"] == "CR"
        assert api_get(url, headers, "/api/v1/timeline/events",
                       type="reach.verdict.changed")["items"] == []  # fmt: skip

        # Unknowns: none on the production tenant's targeted evidence; on the lab tenant's,
        # exactly the observed edges the graph lacks, Flask's dispatch to each view among them.
        assert every_item(url, headers, "/api/v1/unknowns", graph_hash=h) == []
        lab_unknowns = every_item(url, lab, "/api/v1/unknowns", graph_hash=h)
        assert {u["kind"] for u in lab_unknowns} == {"unexpected_edge"}
        pairs = {u["detail"].split(": seen at run time")[0] for u in lab_unknowns}
        assert pairs == {f"{e['caller_symbol_id']} -> {e['symbol_id']}" for e in unexpected}
        assert len(lab_unknowns) == len(unexpected)
        views = {u["symbol"] for u in lab_unknowns if dispatch_symbol in u["detail"]}
        assert views >= {symbol_of[f"app.{v}"] for v in ("index", "product", "receipt")}
        assert "lab unknowns: {'unexpected_edge': " in out
    finally:
        server.stop()


def test_the_example_service_is_not_a_dependency_of_stella_signals() -> None:
    """Flask is the example's own dependency, pinned in its requirements.txt only."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"].values()
    declared = [*project["dependencies"], *(d for extra in extras for d in extra)]
    names = {re.split(r"[\s<>=!~;\[]", d, maxsplit=1)[0].lower() for d in declared}
    assert "flask" in pins() and "flask" not in names
