"""Verdicts of a vulnerability catalog from what a Signals server stored, through the verdict
engine of stella-signals (SPEC §15), then an OpenVEX document: the example's verdict step
(docs/example.md, step 10). Kept beside the shop, not in it: the shop's graph is of the shop.

    .venv/bin/python examples/verdicts.py --server URL --tenant T --token-file F --graph H \\
        --catalog examples/shop/catalog.json --product pkg:generic/shop --out shop.openvex.json

Everything comes from the server's API and is parsed by the product's own parsers: the graph
from the CAS, and for each ingest of the graph its receipt and receipt-envelope digest (the
Evidence Locker), its trace and its probe manifest (the CAS). Run it with the Python that has
stella-signals installed (`.venv/bin/python`), not the shop's.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from stella_signals.graph import build_index, canonical_graph, parse_graph
from stella_signals.ports import FactRow
from stella_signals.reach import Evaluation, IngestEvidence, evaluate, parse_catalog
from stella_signals.trace import parse_probe_manifest, parse_trace
from stella_signals.vex import render_openvex

AUTHOR = "stella-signals example (examples/verdicts.py)"


class Server:
    def __init__(self, url: str, tenant: str, token: str) -> None:
        headers = {"Authorization": f"Bearer {token}", "X-Stella-Tenant": tenant}
        self.client = httpx.Client(base_url=url, headers=headers, timeout=60)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    def get(self, path: str, **query: Any) -> bytes:
        answer = self.client.get(path, params=query)
        if answer.status_code != 200:
            raise SystemExit(f"GET {path}: {answer.status_code} {answer.text}")
        return answer.content

    def json(self, path: str, **query: Any) -> Any:
        return json.loads(self.get(path, **query))

    def pages(self, path: str, **query: Any) -> Iterator[Any]:
        query["page_size"] = 500
        while True:
            page = self.json(path, **query)
            yield from page["items"]
            if not page["next_page_token"]:
                return
            query["page_token"] = page["next_page_token"]

    def blob(self, namespace: str, digest: str) -> bytes:
        return self.get(f"/api/v1/cas/{namespace}/{digest.split(':', 1)[-1]}")


def evaluation_from_server(server: Server, graph_hash: str, catalog: bytes) -> Evaluation:
    """Evaluate ``catalog`` on the graph and every ingest of it the server holds."""
    graph = canonical_graph(parse_graph(server.blob("reachability/graphs", graph_hash)))
    if str(graph.hash) != graph_hash:
        raise SystemExit(f"the server's graph hashes to {graph.hash}, not {graph_hash}")
    index = build_index(graph.document, graph.hash)
    evidence = []
    for item in server.pages("/api/v1/ingests", graph_hash=graph_hash, status="ingested"):
        locker = server.json(f"/api/v1/evidence/{item['ingest_id']}")
        receipt = locker["receipt"]
        # a receipt is named by the SHA-256 of its signed envelope as the server keeps it
        [envelope_sha256] = [f["sha256"] for f in locker["files"]
                             if f["path"] == "receipt.dsse.json"]  # fmt: skip
        trace = parse_trace([server.blob("reachability/runtime", receipt["content_sha256"])])
        if not trace.valid:
            raise SystemExit(f"ingest {item['ingest_id']}: its trace does not parse")
        facts = []
        for fact in trace.facts:
            number = index.by_symbol.get(fact.symbol_id)
            node = index.node_ids[number] if number is not None else None
            facts.append(FactRow(fact.symbol_id, fact.purl, fact.container, fact.count,
                                 fact.first_seen, fact.last_seen, node))  # fmt: skip
        manifest_digest = receipt.get("probe_manifest_digest")
        manifest = (
            parse_probe_manifest(server.blob("reachability/probe-manifests", manifest_digest))
            if manifest_digest
            else None
        )
        evidence.append(IngestEvidence(
            ingest_id=item["ingest_id"],
            receipt_digest=f"sha256:{envelope_sha256}",
            received_at=datetime.fromisoformat(receipt["received_at"]),
            manifest=manifest,
            manifest_digest=manifest_digest,
            facts=tuple(facts),
        ))  # fmt: skip
    return evaluate(parse_catalog(catalog), index, evidence, since=None, until=None,
                    computed_at=datetime.now(UTC))  # fmt: skip


def openvex(evaluation: Evaluation, product: str) -> bytes:
    return render_openvex(evaluation, product=product, author=AUTHOR,
                          timestamp=evaluation.computed_at)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True)
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--token-file", required=True, type=Path)
    parser.add_argument("--graph", required=True, help="the graph hash (blake3:<hex>)")
    parser.add_argument("--catalog", required=True, type=Path)
    parser.add_argument("--product", required=True, help="what the document is about (purl)")
    parser.add_argument("--out", required=True, type=Path, help="the OpenVEX document")
    args = parser.parse_args(argv)
    token = args.token_file.read_text().strip()
    with Server(args.server, args.tenant, token) as server:
        evaluation = evaluation_from_server(server, args.graph, args.catalog.read_bytes())
    for v in evaluation.verdicts:
        path = " -> ".join(v.path_display) if v.path_display else "no static path"
        print(f"{v.vuln_id} {v.symbol}: {v.state.value} (hits {v.runtime.hits}; {path})")
    print("evidence:", ", ".join(evaluation.evidence_digests))
    args.out.write_bytes(openvex(evaluation, args.product))
    print(f"OpenVEX: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
