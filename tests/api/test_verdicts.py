"""Reachability verdicts and VEX through the API (SPEC §15), on a real scanned program and
real probe traces (tests/verdicts/_world.py): evaluate, read verdicts, history and unknowns,
fetch the signed documents and their bundle; every route scoped to its tenant."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stella_signals.attest import load_public_key
from stella_signals.locker import read_vex_bundle
from stella_signals.verdicts import reevaluate_due
from stella_signals.vex import verify_vex
from tests.api.conftest import Api
from tests.verdicts._world import CATALOG, Upload, World, make_world

EVALUATE = "/api/v1/reachability/evaluate"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(tmp_path_factory.mktemp("api-verdicts"))


def upload(api: Api, graph: str, window: Upload, who: str = "acme") -> str:
    files = {
        "runtime": ("runtime-trace.ndjson.gz", window.trace, "application/x-ndjson"),
        "probe_manifest": ("probe-manifest.json", window.manifest, "application/json"),
    }
    response = api.client.post(
        f"/api/v1/runtime-facts?graph_hash={graph}", files=files, headers=api.headers(who)
    )
    assert response.status_code == 201, response.text
    ingest_id: str = response.headers["X-Ingest-Id"]
    return ingest_id


def evaluate(api: Api, graph: str, who: str = "acme", **extra: Any) -> Any:
    return api.client.post(
        EVALUATE, json={"graph_hash": graph, "catalog": CATALOG, **extra}, headers=api.headers(who)
    )


def states(body: dict[str, Any]) -> dict[str, str]:
    return {v["vuln_id"]: v["state"] for v in body["verdicts"]}


def test_evaluate_serves_signed_vex_and_a_bundle(api: Api, world: World, tmp_path: Path) -> None:
    graph = api.post_graph(data=world.graph)
    ingest_id = upload(api, graph, world.first)
    response = evaluate(api, graph, vex=["openvex", "cyclonedx"], product="pkg:pypi/shop@1.0")
    assert response.status_code == 200, response.text
    body = response.json()
    assert states(body) == {
        "V-USED": "CR", "V-LATER": "RU", "V-UNUSED": "CU", "V-DYN": "X", "V-GHOST": "U",
    }  # fmt: skip
    assert body["ingest_ids"] == [ingest_id] and body["graph_hash"] == graph
    key = api.client.get("/api/v1/keys/service", headers=api.headers()).json()["keys"][0]
    public = load_public_key(key["public_key_pem"].encode())
    media = {"openvex": "application/openvex+json", "cyclonedx": "application/vnd.cyclonedx+json"}
    assert [v["format"] for v in body["vex"]] == ["openvex", "cyclonedx"]
    for vex in body["vex"]:
        document = api.client.get(vex["url"], headers=api.headers())
        assert document.status_code == 200
        assert document.headers["content-type"] == media[vex["format"]]
        assert document.headers["Content-SHA256"] == vex["sha256"]
        envelope = api.client.get(f"{vex['url']}/dsse", headers=api.headers())
        assert envelope.status_code == 200
        verified = verify_vex(envelope.content, key=public, document=document.content)
        assert verified.format.value == vex["format"]
    openvex = json.loads(api.client.get(body["vex"][0]["url"], headers=api.headers()).content)
    status = {s["vulnerability"]["name"]: s["status"] for s in openvex["statements"]}
    assert status["V-USED"] == "affected" and status["V-UNUSED"] == "not_affected"
    first = api.client.get(f"{body['vex'][0]['url']}/bundle", headers=api.headers())
    second = api.client.get(f"{body['vex'][0]['url']}/bundle", headers=api.headers())
    assert first.status_code == 200 and first.content == second.content
    assert first.headers["content-type"] == "application/gzip"
    bundle = read_vex_bundle(first.content)
    assert bundle.graph_hash == graph and [i.ingest_id for i in bundle.ingests] == [ingest_id]
    assert json.loads(bundle.evaluation)["verdicts"] == body["verdicts"]


def test_a_new_ingest_changes_a_verdict_and_the_history_shows_it(api: Api, world: World) -> None:
    graph = api.post_graph(data=world.graph)
    upload(api, graph, world.first)
    assert evaluate(api, graph).status_code == 200
    upload(api, graph, world.second)
    stats = reevaluate_due(api.services.ingest_context("test"), worker="test")
    assert (stats.evaluated, stats.changed) == (1, 1)
    [event] = api.events(type_="reach.verdict.changed")
    attributes = event["attributes"]
    assert isinstance(attributes, dict)
    assert (attributes["vuln_id"], attributes["from"], attributes["to"]) == ("V-LATER", "RU", "CR")
    assert attributes["graph_hash"] == graph
    history = api.client.get(
        "/api/v1/reachability/verdicts/history",
        params={"graph_hash": graph, "vuln_id": "V-LATER"},
        headers=api.headers(),
    ).json()["items"]
    assert [(h["from"], h["to"]) for h in history] == [(None, "RU"), ("RU", "CR")]
    assert history[1]["event_id"] == event["event_id"]
    current = api.client.get(
        "/api/v1/reachability/verdicts", params={"graph_hash": graph, "state": "CR"},
        headers=api.headers(),
    ).json()["items"]  # fmt: skip
    assert sorted(v["vuln_id"] for v in current) == ["V-LATER", "V-USED"]


def test_lists_page_and_unknowns_show_thin_evidence(api: Api, world: World) -> None:
    graph = api.post_graph(data=world.graph)
    upload(api, graph, world.first)
    assert evaluate(api, graph).status_code == 200
    seen: list[str] = []
    token = None
    while True:
        params: dict[str, Any] = {"graph_hash": graph, "page_size": 2}
        if token:
            params["page_token"] = token
        page = api.client.get("/api/v1/reachability/verdicts", params=params,
                              headers=api.headers()).json()  # fmt: skip
        seen += [v["vuln_id"] for v in page["items"]]
        token = page["next_page_token"]
        if token is None:
            break
    assert sorted(seen) == ["V-DYN", "V-GHOST", "V-LATER", "V-UNUSED", "V-USED"]
    unknowns = api.client.get(
        "/api/v1/unknowns", params={"graph_hash": graph}, headers=api.headers()
    ).json()["items"]
    kinds = {(u["kind"], u.get("vuln_id")) for u in unknowns}
    assert ("target_not_scanned", "V-GHOST") in kinds and ("disagreement", "V-DYN") in kinds


def test_refusals_are_problems_naming_field_and_reason(api: Api, world: World) -> None:
    graph = api.post_graph(data=world.graph)
    missing = evaluate(api, "blake3:" + "0" * 64)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    bad = api.client.post(
        EVALUATE,
        json={"graph_hash": graph, "catalog": {"schema": "stella.vuln-catalog/v1",
                                               "entries": [{"vuln_id": "V"}]}},
        headers=api.headers(),
    )  # fmt: skip
    assert bad.status_code == 400
    fields = {e["field"] for e in bad.json()["errors"]}
    assert fields and all(f.startswith("catalog/entries/0") for f in fields), fields
    for body, field in (
        ({"catalog": CATALOG}, "graph_hash"),
        ({"graph_hash": graph, "catalog": CATALOG, "extra": 1}, "extra"),
        ({"graph_hash": graph, "catalog": CATALOG, "since": "yesterday"}, "since"),
        ({"graph_hash": graph, "catalog": CATALOG, "vex": ["spdx"]}, "vex/0"),
    ):
        refused = api.client.post(EVALUATE, json=body, headers=api.headers())
        assert refused.status_code == 400, body
        assert refused.json()["errors"][0]["field"] == field
    duplicate = api.client.post(
        EVALUATE, content=b'{"graph_hash": "a", "graph_hash": "b", "catalog": {}}',
        headers=api.headers(),
    )  # fmt: skip
    assert duplicate.status_code == 400
    nothing = api.client.post(
        EVALUATE,
        json={"graph_hash": graph, "vex": ["openvex"],
              "catalog": {"schema": "stella.vuln-catalog/v1", "entries": [
                  {"vuln_id": "V-NONE", "package": "pkg:pypi/absent", "affected": ""}]}},
        headers=api.headers(),
    )  # fmt: skip
    assert nothing.status_code == 400 and nothing.json()["reason"] == "vex_empty"
    listed = api.client.get("/api/v1/reachability/verdicts/history", headers=api.headers())
    assert listed.json()["items"] == []  # refused before anything was recorded
    reader = evaluate(api, graph, who="acme-reader")
    assert reader.status_code == 403
    for path, params in (
        ("/api/v1/reachability/verdicts", "state=ZZ"),
        ("/api/v1/reachability/verdicts", "page_token=bm9wZQ"),
        ("/api/v1/vex", "page_token=bm9wZQ"),  # "nope": not a ULID
        ("/api/v1/reachability/verdicts/history", "graph_hash=nope"),
        ("/api/v1/unknowns", f"graph_hash={graph}&graph_hash={graph}"),
        ("/api/v1/vex/not-an-id", ""),
    ):
        assert api.client.get(f"{path}?{params}", headers=api.headers()).status_code == 400


def test_tenants_never_see_each_others_verdicts_or_vex(api: Api, world: World) -> None:
    graph = api.post_graph(data=world.graph)
    upload(api, graph, world.first)
    body = evaluate(api, graph, vex=["openvex"]).json()
    url = body["vex"][0]["url"]
    for suffix in ("", "/dsse", "/bundle"):
        foreign = api.client.get(url + suffix, headers=api.headers("globex"))
        assert foreign.status_code == 404, suffix
    assert evaluate(api, graph, who="globex").status_code == 404  # acme's graph
    for path in ("/api/v1/reachability/verdicts", "/api/v1/reachability/verdicts/history",
                 "/api/v1/unknowns"):  # fmt: skip
        items = api.client.get(path, headers=api.headers("globex")).json()["items"]
        assert items == [], path
        assert api.client.get(path, headers=api.headers()).json()["items"], path


def test_vex_documents_are_listed_newest_first_page_by_page(api: Api, world: World) -> None:
    graph = api.post_graph(data=world.graph)
    upload(api, graph, world.first)
    first = evaluate(api, graph, vex=["openvex"]).json()["vex"]
    second = evaluate(api, graph, vex=["cyclonedx", "openvex"]).json()["vex"]
    made = [*first, *second]
    seen: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        query = "page_size=2" + (f"&page_token={token}" if token else "")
        page = api.client.get(f"/api/v1/vex?{query}", headers=api.headers("acme-reader"))
        assert page.status_code == 200, page.text
        seen += page.json()["items"]
        token = page.json()["next_page_token"]
        if token is None:
            break
    assert [v["url"] for v in seen] == sorted((v["url"] for v in made), reverse=True)
    assert {v["url"]: (v["format"], v["sha256"]) for v in seen} == {
        v["url"]: (v["format"], v["sha256"]) for v in made
    }
    for item in seen:
        assert item["url"] == f"/api/v1/vex/{item['id']}"
        assert item["graph_hash"] == graph and item["catalog_digest"].startswith("sha256:")
        document = api.client.get(item["url"], headers=api.headers())
        assert document.headers["Content-SHA256"] == item["sha256"]
    other = api.client.get(f"/api/v1/vex?graph_hash={'0' * 64}", headers=api.headers())
    assert other.json() == {"items": [], "next_page_token": None}
    assert api.client.get("/api/v1/vex", headers=api.headers("globex")).json()["items"] == []
    for params, reason in (
        ("page_size=1&page_size=2", None),
        (f"graph_hash={graph}&graph_hash={graph}", None),
        ("page_token=bm9wZQ", "invalid_page_token"),
        ("graph_hash=nope", None),
        ("page_size=0", None),
    ):
        refused = api.client.get(f"/api/v1/vex?{params}", headers=api.headers())
        assert refused.status_code == 400, params
        assert reason is None or refused.json()["reason"] == reason
