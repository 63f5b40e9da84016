"""`edges_confirmed` through the out-adjacency (issue 19) equals the scan of every edge."""

from __future__ import annotations

from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stella_signals.graph import _verify
from stella_signals.graph._index import GraphIndex
from tests._examples import examples


def _index(nodes: int, edges: list[tuple[int, int]]) -> GraphIndex:
    return GraphIndex(
        graph_hash="blake3:" + "0" * 64,
        node_ids=[f"n{i}" for i in range(nodes)],
        node_symbols=[f"s{i}" for i in range(nodes)],
        node_purls=[None] * nodes,
        by_symbol={},
        by_code={},
        edge_from=array("I", [a for a, _ in edges]),
        edge_to=array("I", [b for _, b in edges]),
        roots=array("I"),
    )


@settings(max_examples=examples(300), deadline=None)
@given(st.data())
def test_adjacency_count_equals_the_scan(data: st.DataObject) -> None:
    nodes = data.draw(st.integers(min_value=1, max_value=60))
    node = st.integers(min_value=0, max_value=nodes - 1)
    edges = data.draw(st.lists(st.tuples(node, node), max_size=200))  # repeats, self-loops
    observed = frozenset(data.draw(st.sets(node)))
    index = _index(nodes, edges)
    flags = bytearray(nodes)
    for n in observed:
        flags[n] = 1
    expected = sum(1 for a, b in edges if flags[a] and flags[b])
    assert _verify._confirmed_edges(index, observed, flags) == expected
    adjacency = _verify._adjacency(index)  # the path a small trace takes, whatever its size
    assert adjacency is not None
    assert sum(1 for a in observed for b in adjacency.get(a, ()) if flags[b]) == expected


def test_large_graphs_are_scanned_without_an_adjacency(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_verify, "_ADJACENCY_MAX_EDGES", 2)
    index = _index(10, [(0, 1), (1, 2), (2, 0)])
    assert _verify._adjacency(index) is None
    flags = bytearray([1, 1, 0] + [0] * 7)
    assert _verify._confirmed_edges(index, frozenset({0, 1}), flags) == 1
