"""Graph index for mapping runtime symbols: built once per graph, persisted beside it.

symbol_id → node, node id → node (SPEC §9: a record's symbol_id may equal a node's
``symbol_id`` or its ``id``), code_id → node, and the edges and roots as node numbers.
Nodes are numbered in canonical order, so the same graph always gives the same index.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from stella_signals.digests import Digest

__all__ = ["INDEX_FORMAT", "GraphIndex", "build_index"]

#: v2 added each node's symbol_id, v3 each node's display name (the verdict paths of SPEC §15
#: name their nodes); an older index is rebuilt from the graph in the CAS.
INDEX_FORMAT = "stella.graph-index/v3"


@dataclass(frozen=True, slots=True, eq=False)
class GraphIndex:
    graph_hash: str
    node_ids: list[str]
    node_symbols: list[str]
    node_purls: list[str | None]
    by_symbol: Mapping[str, int]
    by_code: Mapping[str, int]
    edge_from: array[int]
    edge_to: array[int]
    roots: array[int]
    #: each node's ``display`` (its id when the graph gives none).
    node_displays: list[str] = field(default_factory=list)

    @property
    def nodes_total(self) -> int:
        return len(self.node_ids)

    @property
    def edges_total(self) -> int:
        return len(self.edge_from)

    def to_bytes(self) -> bytes:
        return msgspec.msgpack.encode(
            {
                "format": INDEX_FORMAT,
                "graph_hash": self.graph_hash,
                "node_ids": self.node_ids,
                "node_symbols": self.node_symbols,
                "node_purls": self.node_purls,
                "node_displays": self.node_displays,
                "by_symbol": self.by_symbol,
                "by_code": self.by_code,
                "edge_from": self.edge_from.tobytes(),
                "edge_to": self.edge_to.tobytes(),
                "roots": self.roots.tobytes(),
                "itemsize": self.edge_from.itemsize,
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes, *, graph_hash: str) -> GraphIndex | None:
        """The index stored in ``data``, or None when it is not a current index of that graph
        (callers then rebuild it from the CAS)."""
        try:
            raw: dict[str, Any] = msgspec.msgpack.decode(data, type=dict[str, Any])
            if raw.get("format") != INDEX_FORMAT or raw.get("graph_hash") != graph_hash:
                return None
            arrays = []
            for name in ("edge_from", "edge_to", "roots"):
                values = array("I")
                if raw["itemsize"] != values.itemsize:
                    return None
                values.frombytes(raw[name])
                arrays.append(values)
            return cls(
                graph_hash=graph_hash,
                node_ids=list(raw["node_ids"]),
                node_symbols=list(raw["node_symbols"]),
                node_purls=list(raw["node_purls"]),
                node_displays=list(raw["node_displays"]),
                by_symbol=dict(raw["by_symbol"]),
                by_code=dict(raw["by_code"]),
                edge_from=arrays[0],
                edge_to=arrays[1],
                roots=arrays[2],
            )
        except (msgspec.DecodeError, KeyError, TypeError, ValueError):
            return None


def build_index(canonical_document: Mapping[str, Any], graph_hash: Digest) -> GraphIndex:
    """Index a canonical (validated) graph document."""
    nodes: list[dict[str, Any]] = canonical_document["nodes"]
    node_ids = [node["id"] for node in nodes]
    number = {node_id: i for i, node_id in enumerate(node_ids)}
    by_symbol: dict[str, int] = {}
    by_code: dict[str, int] = {}
    for i, node in enumerate(nodes):
        by_symbol.setdefault(node["symbol_id"], i)
        code_id = node.get("code_id")
        if code_id:
            by_code.setdefault(code_id, i)
    for i, node_id in enumerate(node_ids):
        by_symbol.setdefault(node_id, i)  # symbol_id matches win over id matches
    edges: list[dict[str, Any]] = canonical_document["edges"]
    return GraphIndex(
        graph_hash=str(graph_hash),
        node_ids=node_ids,
        node_symbols=[node["symbol_id"] for node in nodes],
        node_purls=[node.get("purl") for node in nodes],
        by_symbol=by_symbol,
        by_code=by_code,
        edge_from=array("I", (number[edge["from"]] for edge in edges)),
        edge_to=array("I", (number[edge["to"]] for edge in edges)),
        roots=array("I", (number[root["id"]] for root in canonical_document.get("roots", []))),
        node_displays=[node.get("display") or node["id"] for node in nodes],
    )
