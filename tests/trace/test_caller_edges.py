"""`caller_symbol_id` (SPEC §2): a known field, checked like `symbol_id`, whose records sum into
(caller, callee) edges on both parse paths, bounded by `Limits.max_edges`."""

from __future__ import annotations

import pytest

from stella_signals.errors import LimitExceeded
from stella_signals.limits import Limits
from stella_signals.trace import Reason, parse_trace
from tests.trace._lines import line, ndjson

CALLS = ndjson(
    line(symbol_id="b", caller_symbol_id="a", count=2),
    line(symbol_id="b", caller_symbol_id="a", count=5, container="other"),
    line(symbol_id="c", caller_symbol_id="b", count=1),
    line(symbol_id="a", count=9),  # no caller: an entry point, not an edge
)


@pytest.mark.parametrize("fast", [True, False])
def test_edges_sum_counts_by_caller_and_callee(fast: bool) -> None:
    report = parse_trace([CALLS], _fast=fast)
    assert report.valid and report.warning_count == 0  # caller_symbol_id is no unknown field
    assert dict(report.edges) == {("a", "b"): 7, ("b", "c"): 1}
    assert report.records == 4


@pytest.mark.parametrize("fast", [True, False])
def test_one_shape_of_callers_and_no_callers_at_all(fast: bool) -> None:
    every = ndjson(*(line(symbol_id=f"s{i}", caller_symbol_id="main") for i in range(3)))
    assert dict(parse_trace([every], _fast=fast).edges) == {("main", f"s{i}"): 3 for i in range(3)}
    assert parse_trace([ndjson(line(), line(symbol_id="x"))], _fast=fast).edges == {}


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", Reason.INVALID_SYMBOL_ID),
        ("x" * 1025, Reason.INVALID_SYMBOL_ID),
        (7, Reason.WRONG_TYPE),
    ],
)
def test_a_bad_caller_is_refused_on_its_line(fast: bool, value: object, reason: Reason) -> None:
    report = parse_trace([ndjson(line(), line(caller_symbol_id=value))], _fast=fast)
    assert [(e.line, e.field, e.reason) for e in report.errors] == [(2, "caller_symbol_id", reason)]
    assert report.edges == {}


@pytest.mark.parametrize("fast", [True, False])
def test_distinct_edges_past_the_limit_are_refused(fast: bool) -> None:
    limits = Limits(max_edges=1)
    assert len(parse_trace([CALLS], limits=Limits(max_edges=2), _fast=fast).edges) == 2
    with pytest.raises(LimitExceeded) as caught:
        parse_trace([CALLS], limits=limits, _fast=fast)
    assert caught.value.limit == "max_edges"
