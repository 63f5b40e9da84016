"""The graph hash (SPEC §3): canonicalise, RFC 8785, BLAKE3.

Canonical form of a validated document: input aliases already renamed (parsing did that);
top-level ``graph_hash`` dropped; ``nodes`` sorted by ``id``, ``edges`` by (``from``, ``to``,
``kind`` or ``""``), ``roots`` by (``id``, ``phase``); every array whose items are all strings,
at any depth, sorted by code point (duplicates kept). Nothing else changes.

SPEC's sort keys can tie (two edges with the same endpoints and kind but another
confidence); ties are broken by the items' own canonical bytes, so the hash never depends on
input order. Documented in docs/graphs.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from stella_signals.canonical import canonical_json
from stella_signals.digests import Algorithm, Digest, blake3_hex
from stella_signals.graph._model import RichGraph

__all__ = ["CanonicalGraph", "canonical_graph", "canonicalise"]

_encode_sorted = msgspec.json.Encoder(order="sorted").encode
_SortKey = Callable[[dict[str, Any]], tuple[str, ...]]


def _sorted_items(items: list[dict[str, Any]], key: _SortKey) -> list[dict[str, Any]]:
    """Sort by ``key``; break ties by canonical bytes so input order never matters."""
    ordered = items
    ordered.sort(key=key)
    start = 0
    for end in range(1, len(ordered) + 1):
        if end == len(ordered) or key(ordered[end]) != key(ordered[start]):
            if end - start > 1:
                ordered[start:end] = sorted(ordered[start:end], key=canonical_json)
            start = end
    return ordered


def _node_key(node: dict[str, Any]) -> tuple[str, ...]:
    return (node["id"],)


def _edge_key(edge: dict[str, Any]) -> tuple[str, ...]:
    return (edge["from"], edge["to"], edge.get("kind", ""))


def _root_key(root: dict[str, Any]) -> tuple[str, ...]:
    return (root["id"], root["phase"])


def canonicalise(document: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical JSON value of a validated richgraph-v1 document.

    Parsing already sorted the string arrays (`RichGraph`); this drops ``graph_hash`` and
    sorts nodes, edges and roots, in place below the top level (a graph of millions of nodes
    is not copied).
    """
    doc = {key: value for key, value in document.items() if key != "graph_hash"}
    doc["nodes"] = _sorted_items(doc["nodes"], _node_key)
    doc["edges"] = _sorted_items(doc["edges"], _edge_key)
    if "roots" in doc:
        doc["roots"] = _sorted_items(doc["roots"], _root_key)
    return doc


class CanonicalGraph:
    """A graph in canonical form: its RFC 8785 bytes and their BLAKE3 hash."""

    __slots__ = ("data", "document", "hash")

    def __init__(self, document: dict[str, Any], data: bytes) -> None:
        self.document = document
        self.data = data
        self.hash = Digest(Algorithm.BLAKE3, blake3_hex(data))


def canonical_graph(graph: RichGraph) -> CanonicalGraph:
    document = canonicalise(graph.document)
    data = _encode_sorted(document) if graph.fast_encodable else canonical_json(document)
    return CanonicalGraph(document, data)
