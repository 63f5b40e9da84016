"""Graphs may come with a DSSE envelope over their canonical form (issue 6, item 5): verified
with the tenant's trusted keys like traces, stored, and named by the graph record."""

from __future__ import annotations

import hashlib
from pathlib import Path

from typer.testing import CliRunner

from stella_signals.attest import (
    generate_private_key_pem,
    graph_statement,
    load_signer,
    public_key_pem,
    sign_graph,
)
from stella_signals.cas import Namespace
from stella_signals.cli.signals import app as signals_app
from stella_signals.cli.stella import app as stella_app
from stella_signals.graph import canonical_graph, parse_graph
from stella_signals_dev.synth import graph_bytes
from tests.api.conftest import SPEC, Api
from tests.api.test_dsse_ingest import admin_api, trust  # noqa: F401 - fixture

runner = CliRunner()


def envelope_for(
    graph: bytes, private: bytes, *, tenant: str = "acme", other: bool = False
) -> bytes:
    canonical = canonical_graph(
        parse_graph(graph if not other else graph.replace(b'"n1"', b'"n1x"'))
    )
    statement = graph_statement(graph_hash=canonical.hash, tenant=tenant, name="graph.json")
    return sign_graph(statement=statement, signers=[load_signer(private)]).to_json()


def post(api: Api, graph: bytes, dsse: bytes):  # type: ignore[no-untyped-def]
    files = {
        "graph": ("graph.json", graph, "application/json"),
        "dsse": ("g.dsse.json", dsse, "application/json"),
    }
    return api.client.post("/api/v1/graphs", files=files, headers=api.headers())


def test_attested_graph_is_stored_with_its_envelope(admin_api: Api) -> None:  # noqa: F811
    private = generate_private_key_pem()
    trust(admin_api, public_key_pem(private))
    graph = graph_bytes(SPEC)
    dsse = envelope_for(graph, private)
    response = post(admin_api, graph, dsse)
    assert response.status_code == 201, response.text
    graph_hash = response.json()["graph_hash"]
    record = admin_api.client.get(
        f"/api/v1/graphs/{graph_hash}", headers=admin_api.headers()
    ).json()
    digest = hashlib.sha256(dsse).hexdigest()
    assert record["dsse_digest"] == f"sha256:{digest}"
    assert record["dsse_uri"] == f"cas://reachability/graphs/{graph_hash.split(':')[1]}.dsse"
    assert admin_api.blobs(Namespace.ATTESTATIONS) == [dsse]


def test_untrusted_or_wrong_graph_envelopes_write_nothing(admin_api: Api) -> None:  # noqa: F811
    private = generate_private_key_pem()
    graph = graph_bytes(SPEC)
    untrusted = post(admin_api, graph, envelope_for(graph, private))
    assert untrusted.status_code == 422 and untrusted.json()["reason"] == "dsse_invalid"
    trust(admin_api, public_key_pem(private))
    wrong_tenant = post(admin_api, graph, envelope_for(graph, private, tenant="globex"))
    assert wrong_tenant.status_code == 422
    other_graph = post(admin_api, graph, envelope_for(graph, private, other=True))
    assert other_graph.status_code == 422 and other_graph.json()["reason"] == "hash_mismatch"
    assert admin_api.blobs(Namespace.GRAPHS) == []


def test_cli_attest_graph_then_import(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    assert runner.invoke(stella_app, ["keys", "generate", "--out", str(keys)]).exit_code == 0
    data = ["--data-dir", str(tmp_path / "data")]
    added = runner.invoke(
        signals_app, ["keys", "add", str(keys / "key.pub.pem"), "--tenant", "acme", *data]
    )
    assert added.exit_code == 0, added.output
    graph = tmp_path / "graph.json"
    graph.write_bytes(graph_bytes(SPEC))
    bundle = tmp_path / "graph.dsse.json"
    signed = runner.invoke(
        stella_app,
        [
            "attest",
            "graph",
            str(graph),
            "--key",
            str(keys / "key.pem"),
            "--tenant",
            "acme",
            "--bundle",
            str(bundle),
        ],
    )
    assert signed.exit_code == 0, signed.output
    imported = runner.invoke(
        stella_app,
        ["graph", "import", str(graph), "--tenant", "acme", "--dsse", str(bundle), *data],
    )
    assert imported.exit_code == 0, imported.output
    other_tenant = runner.invoke(
        stella_app,
        ["graph", "import", str(graph), "--tenant", "globex", "--dsse", str(bundle), *data],
    )
    assert other_tenant.exit_code == 4
