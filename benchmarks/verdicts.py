"""Verdict engine benchmark (issue 18): 10,000 targets against a 1 M-node graph with 1 M
runtime facts, in one `reach.evaluate` call.

The inputs are synthetic and built in memory (not timed): a `GraphIndex` of NODES nodes
(1,000 PyPI packages of 1,000 functions each, SPEC §14 symbol ids, ~2 edges a node, 1,000
roots), a catalog of 1,000 advisories naming 10 functions each (5 % of them in no scanned
code), and INGESTS ingests of FACTS / INGESTS facts each (symbols drawn from the graph, 2 %
unmapped), each with a targeted probe manifest that watched every target and 1,000 runtime
edges. What is timed is `evaluate` alone (wall and CPU time: on a shared machine the wall
time grows with the load, which the report gives); the peak RSS is the whole process (inputs
included), read from the kernel after the run.

Targets: < 10 s and < 2 GiB. Writes `benchmarks/results/verdicts-latest.json` and the
verdicts section of `benchmarks/README.md`.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import resource
import time
from array import array
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from _report import publish  # benchmarks/ is on sys.path when run as a script

from stella_signals.graph import GraphIndex
from stella_signals.ports import FactRow
from stella_signals.pyscan import symbol_id
from stella_signals.reach import (
    CatalogEntry,
    IngestEvidence,
    ObservedEdge,
    evaluate,
    make_catalog,
)
from stella_signals.trace import ProbeManifest

TARGETS = {"seconds_max": 10.0, "peak_rss_mib_max": 2048}
START = datetime(2026, 12, 1, tzinfo=UTC)


def build_graph(nodes: int, packages: int, rng: random.Random) -> GraphIndex:
    per = nodes // packages
    ids, symbols, purls, displays = [], [], [], []
    for i in range(nodes):
        package, k = divmod(i, per)
        module, qualname = f"lib{package}.m{k // 100}", f"f{k % 100}"
        ids.append(f"n{i:07d}")
        symbols.append(symbol_id(f"lib{package}", module, qualname))
        purls.append(f"pkg:pypi/lib{package}@1.{package % 2}")
        displays.append(f"{module}.{qualname}")
    edge_from, edge_to = array("I"), array("I")
    for i in range(nodes):
        for _ in range(2):
            edge_from.append(i)
            edge_to.append(rng.randrange(nodes))
    roots = array("I", sorted(rng.sample(range(nodes), packages)))
    by_symbol = {s: i for i, s in enumerate(symbols)}
    by_symbol.update({node_id: i for i, node_id in enumerate(ids)})
    return GraphIndex(
        graph_hash="blake3:" + "ab" * 32, node_ids=ids, node_symbols=symbols, node_purls=purls,
        by_symbol=by_symbol, by_code={}, edge_from=edge_from, edge_to=edge_to, roots=roots,
        node_displays=displays,
    )  # fmt: skip


def build_catalog(
    packages: int, targets: int, per: int, rng: random.Random
) -> tuple[Any, list[str]]:
    entries, texts = [], []
    per_advisory = targets // packages
    for package in range(packages):
        # ~5 % beyond the package's functions: in no scanned code
        picked = rng.sample(range(per + per // 20), per_advisory)
        symbols = tuple(f"lib{package}.m{k // 100}:f{k % 100}" for k in picked)
        texts.extend(symbols)
        entries.append(
            CatalogEntry(
                vuln_id=f"GHSA-{package:04d}",
                package=f"pkg:pypi/lib{package}",
                affected=">=1.0,<1.2",
                fixed=("1.2",),
                symbols=symbols,
            )
        )
    return make_catalog(entries), texts


def build_ingests(
    graph: GraphIndex, texts: list[str], facts: int, ingests: int, rng: random.Random
) -> list[IngestEvidence]:
    out = []
    n = graph.nodes_total
    watched = tuple(sorted(set(texts)))
    for j in range(ingests):
        rows = []
        for _ in range(facts // ingests):
            i = rng.randrange(n)
            first = START + timedelta(seconds=rng.randrange(3600))
            if rng.random() < 0.02:  # a symbol the graph lacks
                sym = symbol_id("ghost", "ghost", f"g{rng.randrange(10**6)}")
                rows.append(FactRow(sym, "pkg:pypi/ghost@1", None, 1, first, first, None))
            else:
                sym = graph.node_symbols[i].encode().decode()  # its own string, as read from a DB
                rows.append(FactRow(sym, graph.node_purls[i], None, rng.randrange(1, 50), first,
                                    first + timedelta(seconds=5), graph.node_ids[i]))  # fmt: skip
        edges = tuple(
            ObservedEdge(graph.node_symbols[rng.randrange(n)], graph.node_symbols[rng.randrange(n)])
            for _ in range(1000)
        )
        manifest = ProbeManifest(
            mode="targeted", window_start=START, window_end=START + timedelta(hours=1),
            python="3.11.9", pid=1000 + j, container=None, targets_total=len(watched),
            targets_instrumented=len(watched), targets_pending=0, dropped=0, trace_sha256=None,
            extra={"counts": "lower_bound", "disabled": False,
                   "targets_watched_whole_window": watched},
        )  # fmt: skip
        out.append(IngestEvidence(
            ingest_id=f"ing-{j}", receipt_digest=f"sha256:{j:064x}",
            received_at=START + timedelta(hours=1), manifest=manifest,
            manifest_digest=f"sha256:{j + 10**6:064x}", facts=tuple(rows), edges=edges,
        ))  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=1_000_000)
    parser.add_argument("--packages", type=int, default=1_000)
    parser.add_argument("--targets", type=int, default=10_000)
    parser.add_argument("--facts", type=int, default=1_000_000)
    parser.add_argument("--ingests", type=int, default=10)
    args = parser.parse_args()
    rng = random.Random(18)  # noqa: S311 - fixture data, not security
    began = time.perf_counter()
    graph = build_graph(args.nodes, args.packages, rng)
    catalog, texts = build_catalog(args.packages, args.targets, args.nodes // args.packages, rng)
    ingests = build_ingests(graph, texts, args.facts, args.ingests, rng)
    setup = time.perf_counter() - began
    t0, cpu0 = time.perf_counter(), time.process_time()
    evaluation = evaluate(catalog, graph, ingests, since=None, until=None,
                          computed_at=START + timedelta(hours=2))  # fmt: skip
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    load = os.getloadavg()[0]  # the machine may be shared: wall time is inflated by load
    states = Counter(v.state.value for v in evaluation.verdicts)
    kinds = Counter(u.kind for u in evaluation.unknowns)
    result = {
        "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average_1m": round(load, 2),
        },
        "inputs": {
            "nodes": graph.nodes_total,
            "edges": graph.edges_total,
            "targets": sum(len(e.symbols) for e in catalog.entries),
            "facts": sum(len(i.facts) for i in ingests),
            "ingests": len(ingests),
        },
        "measured": {
            "seconds": round(seconds, 3),
            "cpu_seconds": round(cpu, 3),
            "peak_rss_mib": round(peak_mib, 1),
            "setup_seconds": round(setup, 1),
            "verdicts": len(evaluation.verdicts),
            "states": dict(sorted(states.items())),
            "unknowns": dict(sorted(kinds.items())),
        },
        "targets": TARGETS,
        "met": {
            "seconds": seconds < TARGETS["seconds_max"],
            "peak_rss_mib": peak_mib < TARGETS["peak_rss_mib_max"],
        },
    }
    m, t, ok = result["measured"], TARGETS, result["met"]
    body = "\n".join([
        f"{m['verdicts']:,} verdicts ({result['inputs']['targets']:,} catalog targets) against "
        f"{graph.nodes_total:,} nodes / {graph.edges_total:,} edges and "
        f"{result['inputs']['facts']:,} facts in {len(ingests)} ingests "
        f"({result['when']}, Python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"load average {load:.1f} at the end of the run).",
        "",
        "| measure | measured | target | met |",
        "|---|---|---|---|",
        f"| `evaluate` wall time | {m['seconds']} s | < {t['seconds_max']} s | {ok['seconds']} |",
        f"| `evaluate` CPU time (what contention does not inflate) | {m['cpu_seconds']} s | | |",
        f"| peak RSS (whole process, inputs included) | {m['peak_rss_mib']} MiB | "
        f"< {t['peak_rss_mib_max']} MiB | {ok['peak_rss_mib']} |",
        "",
        f"States: {m['states']}; unknowns: {m['unknowns']}.",
    ])  # fmt: skip
    publish("verdicts", result, body, heading="Reachability verdicts")
    print(body)


if __name__ == "__main__":
    main()
