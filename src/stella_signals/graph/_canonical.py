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

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import msgspec

from stella_signals.canonical import canonical_json
from stella_signals.digests import Algorithm, Digest, blake3_hex, new_hasher
from stella_signals.graph._compact import CompactGraph, compact_graph
from stella_signals.graph._index import GraphIndex, build_index
from stella_signals.graph._model import (
    DEFAULT_MAX_GRAPH_BYTES,
    RichGraph,
    check_size,
    parse_graph,
)

__all__ = ["CanonicalGraph", "canonical_graph", "canonicalise", "load_canonical"]

#: Size of the chunks `CanonicalGraph.chunks` slices whole bytes into.
_CHUNK = 1 << 20

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
    """A graph in canonical form: its RFC 8785 bytes and their BLAKE3 hash.

    Made by `canonical_graph` (the document and its bytes, whole) or `load_canonical` (which
    may keep a large graph in compact columns: its bytes are then made again on each
    `chunks` call, and ``data``/``document`` are built only when asked for)."""

    __slots__ = ("_claimed", "_compact", "_data", "_document", "_hash")

    def __init__(
        self,
        document: dict[str, Any] | None,
        data: bytes | None,
        *,
        compact: CompactGraph | None = None,
        claimed_hash: str | None = None,
    ) -> None:
        self._claimed = claimed_hash
        self._document = document
        self._data = data
        self._compact = compact
        self._hash = None if data is None else Digest(Algorithm.BLAKE3, blake3_hex(data))

    @property
    def hash(self) -> Digest:
        """The graph hash; for a compact graph the first read makes and hashes the bytes once
        (a store that hashes as it writes, `GraphCatalog.stage`, needs no such pass)."""
        if self._hash is None:
            hasher = new_hasher(Algorithm.BLAKE3)
            for chunk in self.chunks():
                hasher.update(chunk)
            self._hash = Digest(Algorithm.BLAKE3, hasher.hexdigest())
        return self._hash

    @property
    def known_hash(self) -> Digest | None:
        """The hash if it is known without a pass over the bytes."""
        return self._hash

    def chunks(self) -> Iterator[bytes]:
        """The canonical bytes, a few MiB at a time (what the CAS stores)."""
        if self._compact is not None:
            yield from self._compact.chunks()
        else:
            data = self.data
            for start in range(0, len(data), _CHUNK):
                yield data[start : start + _CHUNK]

    @property
    def data(self) -> bytes:
        if self._data is None:
            return b"".join(self.chunks())
        return self._data

    @property
    def document(self) -> dict[str, Any]:
        """The canonical document (read back from the bytes for a compact graph)."""
        if self._document is None:
            document: dict[str, Any] = msgspec.json.decode(self.data)
            return document
        return self._document

    @property
    def claimed_hash(self) -> str | None:
        """The top-level ``graph_hash`` the input carried about itself (not hashed)."""
        if self._compact is not None:
            return self._compact.claimed_hash
        return self._claimed

    def index(self, graph_hash: Digest | None = None) -> GraphIndex:
        """The graph's index (`build_index` of the canonical document); ``graph_hash`` when
        the caller already has it (saves the pass `hash` makes for a compact graph)."""
        digest = self.hash if graph_hash is None else graph_hash
        if self._compact is not None:
            return self._compact.index(digest)
        return build_index(self.document, digest)


def canonical_graph(graph: RichGraph) -> CanonicalGraph:
    claimed = graph.claimed_hash
    document = canonicalise(graph.document)
    data = _encode_sorted(document) if graph.fast_encodable else canonical_json(document)
    return CanonicalGraph(document, data, claimed_hash=claimed)


def load_canonical(data: bytes, *, max_bytes: int = DEFAULT_MAX_GRAPH_BYTES) -> CanonicalGraph:
    """Bytes → `CanonicalGraph`: the same result as ``canonical_graph(parse_graph(data))``
    (the same `InvalidGraph` problems, hash, bytes and index), by the compact path when it
    applies (`_compact`: far less memory and time for large graphs)."""
    check_size(data, max_bytes)
    compact = compact_graph(data)
    if compact is not None:
        return CanonicalGraph(None, None, compact=compact)
    return canonical_graph(parse_graph(data, max_bytes=max_bytes))
