"""The end-to-end example (docs/example.md, examples/shop/walkthrough.sh) against a real
`signals serve`: a real Flask service in its own environment (its pinned dependencies from
the package registry, cached under .cache/example/venv), its graph scanned, run under the real
probe in targeted then discovery mode, driven by real HTTP requests and stopped with SIGTERM;
then what the server knows is checked over the API and with `stella graph verify`, and the
verdicts of the example's catalog (issue 18) come from the real verdict engine fed with what
the server stored (examples/verdicts.py), with their OpenVEX document."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import subprocess
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from stella_signals.attest import parse_envelope
from stella_signals.reach import Evaluation, State
from stella_signals.vex import render_openvex
from tests.realservers.signals_process import BIN, SignalsProcess, free_port, signals
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


def example_verdicts() -> ModuleType:
    """examples/verdicts.py, the example's verdict step, as a module."""
    spec = importlib.util.spec_from_file_location(
        "example_verdicts", ROOT / "examples" / "verdicts.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_the_verdicts_and_their_vex(evaluation: Evaluation, production: dict[str, Any]) -> None:
    """Issue 18's example: affected for the function a route runs, not affected for the one
    nothing calls, each statement naming its evidence (the production ingest's receipt)."""
    states = {v.symbol: v for v in evaluation.verdicts}
    assert set(states) == {EXERCISED, IDLE}
    exercised, idle = states[EXERCISED], states[IDLE]
    assert exercised.state is State.CR, exercised
    # the static path starts at the view Flask registered by decorator (a runtime root)
    assert exercised.path_display[-2:] == ("app.receipt", "werkzeug.utils.secure_filename")
    assert exercised.runtime.ingest_ids == (production["ingest_id"],)
    assert idle.state is State.CU, idle
    [receipt_digest] = evaluation.evidence_digests
    assert exercised.evidence_digests == idle.evidence_digests == (receipt_digest,)
    document = json.loads(render_openvex(evaluation, product="pkg:generic/shop",
                                         author="stella-signals example",
                                         timestamp=evaluation.computed_at))  # fmt: skip
    openvex_validator().validate(document)
    statements = {s["vulnerability"]["name"]: s for s in document["statements"]}
    affected, not_affected = statements["EXAMPLE-2026-0001"], statements["EXAMPLE-2026-0002"]
    assert affected["status"] == "affected"
    assert "3.1.99" in affected["action_statement"]
    assert not_affected["status"] == "not_affected"
    assert not_affected["justification"] == "vulnerable_code_not_in_execute_path"
    assert evaluation.graph_hash in not_affected["impact_statement"]
    for statement in (affected, not_affected):
        assert receipt_digest in statement["status_notes"]


def test_the_walkthrough_from_scan_to_what_ran(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    made = signals("tokens", "create", "--tenant", "shop", "--tenant", "shop-lab",
                   "--scope", "signals:read", "--scope", "signals:write", *data)  # fmt: skip
    token = made.stdout.strip().splitlines()[-1]
    server = SignalsProcess(["serve", *data], tmp_path / "server.log", port=free_port())
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

        # The verdicts on the production tenant's evidence, and their OpenVEX document. A
        # receipt is named by the SHA-256 of its signed envelope as the server keeps it: the
        # probe's copy of the receipt (its upload's answer) gives the same digest.
        verdicts = example_verdicts()
        with verdicts.Server(url, "shop", token) as api:
            evaluation = verdicts.evaluation_from_server(
                api, h, (SHOP / "catalog.json").read_bytes()
            )
        check_the_verdicts_and_their_vex(evaluation, production)
        # the walkthrough's own run of the step wrote the same decisions
        written = json.loads((work / "shop.openvex.json").read_text())
        openvex_validator().validate(written)
        assert {s["vulnerability"]["name"]: s["status"] for s in written["statements"]} == {
            "EXAMPLE-2026-0001": "affected",
            "EXAMPLE-2026-0002": "not_affected",
        }
        assert "EXAMPLE-2026-0002: not_affected (vulnerable_code_not_in_execute_path)" in out
        [probe_receipt] = (work / "windows").glob("window-*/receipt.json")
        envelope = json.loads(probe_receipt.read_bytes())["receipt_dsse"]
        signed = parse_envelope(json.dumps(envelope).encode()).to_json()
        assert evaluation.evidence_digests == ("sha256:" + hashlib.sha256(signed).hexdigest(),)

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
    finally:
        server.stop()


def test_the_example_service_is_not_a_dependency_of_stella_signals() -> None:
    """Flask is the example's own dependency, pinned in its requirements.txt only."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"].values()
    declared = [*project["dependencies"], *(d for extra in extras for d in extra)]
    names = {re.split(r"[\s<>=!~;\[]", d, maxsplit=1)[0].lower() for d in declared}
    assert "flask" in pins() and "flask" not in names
