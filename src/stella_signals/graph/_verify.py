"""Map a runtime trace onto an indexed graph: the `stella graph verify` report (SPEC §9)."""

from __future__ import annotations

import threading
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any, NamedTuple

from stella_signals.graph._index import GraphIndex
from stella_signals.trace import TraceReport

__all__ = [
    "EdgePair",
    "PurlMismatch",
    "UnexpectedEdge",
    "UnmappedSymbol",
    "VerifyReport",
    "map_trace",
    "resolve_edges",
]


@dataclass(frozen=True, slots=True)
class UnmappedSymbol:
    symbol_id: str
    purl: str
    count: int


@dataclass(frozen=True, slots=True)
class PurlMismatch:
    symbol_id: str
    trace_purl: str
    graph_purl: str


@dataclass(frozen=True, slots=True)
class UnexpectedEdge:
    """A caller → callee pair seen at run time that no graph edge joins."""

    caller_symbol_id: str
    symbol_id: str
    count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyReport:
    graph_hash: str
    graph_hash_ok: bool
    records: int
    unique_symbols: int
    mapped_symbols: int
    unmapped_symbols: int
    unmapped: tuple[UnmappedSymbol, ...]
    purl_mismatches: tuple[PurlMismatch, ...]
    nodes_total: int
    nodes_observed: int
    edges_total: int
    edges_confirmed: int
    roots_total: int
    roots_observed: int
    edges_observed: int
    unexpected_edges: tuple[UnexpectedEdge, ...]
    #: Node numbers (canonical order) that the trace observed, for storage of facts.
    observed_nodes: frozenset[int] = frozenset()

    @property
    def all_mapped(self) -> bool:
        return self.unmapped_symbols == 0

    def to_dict(self) -> dict[str, Any]:
        """The flat SPEC §9 JSON object."""
        return {
            "graph_hash": self.graph_hash,
            "graph_hash_ok": self.graph_hash_ok,
            "records": self.records,
            "unique_symbols": self.unique_symbols,
            "mapped_symbols": self.mapped_symbols,
            "unmapped_symbols": self.unmapped_symbols,
            "unmapped": [
                {"symbol_id": u.symbol_id, "purl": u.purl, "count": u.count} for u in self.unmapped
            ],
            "purl_mismatches": [
                {"symbol_id": m.symbol_id, "trace_purl": m.trace_purl, "graph_purl": m.graph_purl}
                for m in self.purl_mismatches
            ],
            "nodes_total": self.nodes_total,
            "nodes_observed": self.nodes_observed,
            "edges_total": self.edges_total,
            "edges_confirmed": self.edges_confirmed,
            "roots_total": self.roots_total,
            "roots_observed": self.roots_observed,
            "edges_observed": self.edges_observed,
            "unexpected_edges": [
                {"caller_symbol_id": e.caller_symbol_id, "symbol_id": e.symbol_id, "count": e.count}
                for e in self.unexpected_edges
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VerifyReport:
        """The report `to_dict` wrote (a server's answer to `POST .../verify`)."""
        values: dict[str, Any] = {}
        for spec_field in fields(cls):
            if spec_field.name == "observed_nodes":
                continue  # not part of the report: kept for storage only
            raw = data[spec_field.name]
            item = _LIST_ITEMS.get(spec_field.name)
            values[spec_field.name] = raw if item is None else tuple(item(**x) for x in raw)
        return cls(**values)


#: The report's lists and the type of their items.
_LIST_ITEMS: dict[str, Callable[..., Any]] = {
    "unmapped": UnmappedSymbol,
    "purl_mismatches": PurlMismatch,
    "unexpected_edges": UnexpectedEdge,
}


#: Graphs up to this many edges get an out-adjacency (kept for the last few indexes used),
#: so that a small trace costs the edges of its own nodes rather than a scan of every edge
#: (issue 19: the scan was the largest cost of a 100-record ingest against 5,000 edges).
_ADJACENCY_MAX_EDGES = 250_000
_ADJACENCY_SLOTS = 8
_adjacencies: OrderedDict[int, tuple[GraphIndex, dict[int, list[int]]]] = OrderedDict()
_adjacency_lock = threading.Lock()


def _adjacency(index: GraphIndex) -> dict[int, list[int]] | None:
    """node → its edges' targets (one entry per edge), or None for a graph too large."""
    if index.edges_total > _ADJACENCY_MAX_EDGES:
        return None
    # Keyed by identity (the entry holds the index, so an id is not reused while kept);
    # built under the lock, so that concurrent ingests against a new graph build it once.
    with _adjacency_lock:
        hit = _adjacencies.get(id(index))
        if hit is not None:
            _adjacencies.move_to_end(id(index))
            return hit[1]
        adjacency: dict[int, list[int]] = defaultdict(list)
        for a, b in zip(index.edge_from, index.edge_to, strict=True):
            adjacency[a].append(b)
        built = dict(adjacency)
        _adjacencies[id(index)] = (index, built)
        while len(_adjacencies) > _ADJACENCY_SLOTS:
            _adjacencies.popitem(last=False)
        return built


def _confirmed_edges(index: GraphIndex, observed: frozenset[int], flags: bytearray) -> int:
    """How many edges have both ends among ``observed`` (``flags``: 1 for those nodes)."""
    adjacency = _adjacency(index) if len(observed) * 4 < index.nodes_total else None
    if adjacency is None:
        return sum(
            1 for a, b in zip(index.edge_from, index.edge_to, strict=True) if flags[a] and flags[b]
        )
    return sum(1 for a in observed for b in adjacency.get(a, ()) if flags[b])


def map_trace(trace: TraceReport, index: GraphIndex, *, graph_hash_ok: bool) -> VerifyReport:
    """Resolve every distinct symbol of ``trace``: exact ``symbol_id`` (node symbol_id or id),
    else the record's ``code_id``, else unmapped. Work is per distinct key, not per record."""
    by_symbol, by_code, code_ids = index.by_symbol, index.by_code, trace.code_ids
    node_purls = index.node_purls
    resolved: dict[str, int | None] = {}
    unmapped_counts: dict[tuple[str, str], int] = defaultdict(int)
    mismatches: set[tuple[str, str, str]] = set()
    for (symbol_id, purl, _container), tally in trace.tallies.items():
        if symbol_id in resolved:
            node = resolved[symbol_id]
        else:
            node = by_symbol.get(symbol_id)
            if node is None and symbol_id in code_ids:
                node = by_code.get(code_ids[symbol_id])
            resolved[symbol_id] = node
        if node is None:
            unmapped_counts[(symbol_id, purl)] += tally.count
            continue
        graph_purl = node_purls[node]
        if graph_purl is not None and graph_purl != purl:
            mismatches.add((symbol_id, purl, graph_purl))
    observed = frozenset(node for node in resolved.values() if node is not None)
    flags = bytearray(index.nodes_total)
    for node in observed:
        flags[node] = 1
    edges_confirmed = _confirmed_edges(index, observed, flags)
    edges_observed, unexpected = _match_edges(trace, index)
    mapped = sum(1 for node in resolved.values() if node is not None)
    return VerifyReport(
        graph_hash=index.graph_hash,
        graph_hash_ok=graph_hash_ok,
        records=trace.records,
        unique_symbols=len(resolved),
        mapped_symbols=mapped,
        unmapped_symbols=len(resolved) - mapped,
        unmapped=tuple(
            UnmappedSymbol(symbol_id, purl, count)
            for (symbol_id, purl), count in sorted(unmapped_counts.items())
        ),
        purl_mismatches=tuple(PurlMismatch(*m) for m in sorted(mismatches)),
        nodes_total=index.nodes_total,
        nodes_observed=len(observed),
        edges_total=index.edges_total,
        edges_confirmed=edges_confirmed,
        roots_total=len(index.roots),
        roots_observed=sum(1 for root in index.roots if flags[root]),
        edges_observed=edges_observed,
        unexpected_edges=unexpected,
        observed_nodes=observed,
    )


class EdgePair(NamedTuple):
    """One caller → callee pair the trace saw, resolved on the graph: the node number each
    end maps to (None: no node) and whether a graph edge joins them."""

    caller_symbol_id: str
    symbol_id: str
    hits: int
    caller_node: int | None
    callee_node: int | None
    in_graph: bool


def resolve_edges(trace: TraceReport, index: GraphIndex) -> Iterator[EdgePair]:
    """Every caller → callee pair of ``trace`` (in the trace's order), both ends resolved as
    records are (exact ``symbol_id`` = node symbol_id or id, else the ``code_id`` a record of
    that symbol carried)."""
    if not trace.edges:
        return
    by_symbol, by_code, code_ids = index.by_symbol, index.by_code, trace.code_ids
    width = index.nodes_total

    def node_of(symbol_id: str) -> int | None:
        node = by_symbol.get(symbol_id)
        if node is None and symbol_id in code_ids:
            node = by_code.get(code_ids[symbol_id])
        return node

    graph_pairs = {a * width + b for a, b in zip(index.edge_from, index.edge_to, strict=True)}
    for (caller, callee), count in trace.edges.items():
        a, b = node_of(caller), node_of(callee)
        joined = a is not None and b is not None and a * width + b in graph_pairs
        yield EdgePair(caller, callee, count, a, b, joined)


def _match_edges(trace: TraceReport, index: GraphIndex) -> tuple[int, tuple[UnexpectedEdge, ...]]:
    """(graph edges whose caller → callee pair the trace saw, the pairs seen that no graph edge
    joins). A pair with an unmapped end is unexpected too. Every graph edge entry counts once,
    whatever its kind: parallel edges count separately."""
    if not trace.edges:
        return 0, ()
    width = index.nodes_total
    seen: set[int] = set()
    unexpected: list[UnexpectedEdge] = []
    for pair in resolve_edges(trace, index):
        a, b = pair.caller_node, pair.callee_node
        if pair.in_graph and a is not None and b is not None:
            seen.add(a * width + b)
        else:
            unexpected.append(UnexpectedEdge(pair.caller_symbol_id, pair.symbol_id, pair.hits))
    observed = sum(
        1 for a, b in zip(index.edge_from, index.edge_to, strict=True) if a * width + b in seen
    )
    unexpected.sort(key=lambda e: (e.caller_symbol_id, e.symbol_id))
    return observed, tuple(unexpected)
