"""The fast graph check (typed conversion + set arithmetic) must never accept what the
detailed checker refuses, and must produce the same document."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from stella_signals.graph import check_graph
from tests._examples import examples
from tests.graph._graphs import BASE

values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**60), max_value=2**60),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["", "n1", "n2", "n9", "load", "boot", "pkg:npm/x@1", "npm:x", "\ud800"]),
    st.lists(st.sampled_from(["b", "a", 1]), max_size=3),
    st.dictionaries(st.sampled_from(["k", "id"]), st.integers(), max_size=2),
)
places = st.sampled_from(
    [("nodes", 0), ("nodes", 1), ("nodes", 2), ("edges", 0), ("edges", 1), ("roots", 0)]
)
fields = st.sampled_from(
    ["id", "symbol_id", "lang", "kind", "purl", "code_id", "from", "to", "sourceId",
     "targetId", "confidence", "phase", "source", "evidence", "attributes", "x-extra"]
)  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    doc: dict[str, Any] = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(0, 3))):
        where, index = draw(places)
        field = draw(fields)
        if draw(st.booleans()):
            doc[where][index].pop(field, None)
        else:
            doc[where][index][field] = draw(values)
    if draw(st.integers(0, 5)) == 0:
        doc["analyzer"] = draw(values)
    return json.dumps(doc).encode()


@settings(max_examples=examples(400), deadline=None)
@given(mutated())
def test_fast_and_detailed_checks_agree(data: bytes) -> None:
    fast_graph, fast_problems = check_graph(data)
    slow_graph, slow_problems = check_graph(data, _fast=False)
    assert fast_problems == slow_problems
    assert (fast_graph is None) == (slow_graph is None)
    if fast_graph is not None and slow_graph is not None:
        assert fast_graph.document == slow_graph.document
        assert fast_graph.fast_encodable == slow_graph.fast_encodable
