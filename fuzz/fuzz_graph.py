"""Fuzz the richgraph-v1 parser, `stella_signals.graph.parse_graph` / `check_graph` (SPEC §3).

Input: the graph document. Oracles beyond the contract:

* the fast check and the detailed checker (``_fast=False``) agree on validity, and on the
  graph hash of a valid document;
* a valid graph's canonical bytes parse again, to the same canonical bytes and hash.
"""

from __future__ import annotations

from _harness import guarded, instrumented, main, require

with instrumented():
    from stella_signals.graph import canonical_graph, check_graph, parse_graph

MAX_LEN = 16 * 1024


def test_one_input(data: bytes) -> None:
    graph = guarded(lambda: parse_graph(data, max_bytes=MAX_LEN * 2))
    careful, problems = check_graph(data, max_bytes=MAX_LEN * 2, _fast=False)
    require((graph is None) == (careful is None), f"fast and careful disagree: {problems[:3]}")
    require((careful is None) == bool(problems), "a graph must come with no problems, or none")
    if graph is None or careful is None:
        return
    canonical = canonical_graph(graph)
    require(canonical.hash == canonical_graph(careful).hash, "fast and careful hash differ")
    again = canonical_graph(parse_graph(canonical.data, max_bytes=len(canonical.data)))
    require(again.data == canonical.data, "canonical bytes are not a fixed point")
    require(again.hash == canonical.hash, "re-parsed canonical graph hashes differently")


if __name__ == "__main__":
    main(test_one_input, max_len=MAX_LEN)
