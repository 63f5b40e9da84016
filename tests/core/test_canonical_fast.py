"""`canonical_json_fast` and the graph encoder give the reference RFC 8785 bytes, always."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from stella_signals.canonical import canonical_json, canonical_json_fast
from stella_signals.graph import InvalidGraph, canonical_graph, parse_graph
from tests._examples import examples

SAFE = 2**53 - 1

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-SAFE, max_value=SAFE),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
    st.sampled_from(["\ue000", "\U0001f600", "a\u2028b", "\x7f", "\x00"]),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(
            st.one_of(st.text(max_size=4), st.sampled_from(["\ue000", "\U0001f600", "é"])),
            children,
            max_size=5,
        ),
    ),
    max_leaves=30,
)


def encodable(value: Any) -> bool:
    try:
        canonical_json(copy.deepcopy(value))
    except ValueError:
        return False
    return True


@settings(max_examples=examples(500), deadline=None)
@given(json_values)
def test_fast_equals_reference(value: Any) -> None:
    if not encodable(value):
        return
    assert canonical_json_fast(copy.deepcopy(value)) == canonical_json(copy.deepcopy(value))


@settings(max_examples=examples(300), deadline=None)
@given(json_values, json_values)
def test_graph_encoding_equals_reference(extra: Any, attribute: Any) -> None:
    doc = {
        "schema": "richgraph-v1",
        "nodes": [
            {"id": "b", "symbol_id": "s", "lang": "c", "kind": "f", "attributes": {"x": attribute}},
            {"id": "a", "symbol_id": "t", "lang": "c", "kind": "f"},
        ],
        "edges": [{"from": "a", "to": "b", "confidence": 0.25}],
        "x-extra": extra,
    }
    if not encodable(doc):
        return
    data = json.dumps(doc).encode()
    try:
        graph = parse_graph(data)
    except InvalidGraph as exc:  # numbers whose canonical form is an unsafe integer
        assert {p.reason for p in exc.problems} == {"number_out_of_range"}
        return
    canonical = canonical_graph(graph)
    assert canonical.data == canonical_json(json.loads(canonical.data))
    assert json.loads(canonical.data) == json.loads(canonical_json(canonical.document))


@settings(max_examples=examples(500), deadline=None)
@given(json_values)
def test_canonical_json_equals_the_rfc8785_package(value: Any) -> None:
    """`canonical_json` encodes float-free values with msgspec (issue 19): the bytes, and
    the refusals, are still the reference's; and ``value`` is left as it was."""
    before = copy.deepcopy(value)
    try:
        expected: bytes | None = bytes(rfc8785.dumps(copy.deepcopy(value)))
    except (rfc8785.CanonicalizationError, TypeError, UnicodeEncodeError):
        expected = None
    if expected is None:
        with pytest.raises(ValueError, match="cannot be canonicalised"):
            canonical_json(value)
    else:
        assert canonical_json(value) == expected
    assert value == before
