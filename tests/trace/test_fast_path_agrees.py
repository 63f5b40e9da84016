"""The fast path (typed batch decode + quote accounting) must agree with the careful path.

Hypothesis builds traces mixing good lines with the subtle cases the quote count has to
catch: duplicate keys, unknown keys, escapes, whitespace, split objects, nested values.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stella_signals.trace import parse_trace
from tests._examples import examples
from tests.trace._lines import GOOD

FIELDS = [*GOOD, "code_id", "build_id", "loader_base", "process_name", "caller_symbol_id", "x"]
FIELDS.append("nested")

values = st.one_of(
    st.integers(min_value=-3, max_value=2**64),
    st.text(max_size=6),
    st.sampled_from(
        [
            "pkg:npm/left-pad@1.0.0",
            "pkg:unknown",
            "2026-01-01T00:00:00Z",
            "2026-01-01T00:00:00",
            'q"uote',
            "back\\slash",
            "sym:python:a",
        ]
    ),
    st.none(),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.sampled_from(["a", "count"]), st.integers(), max_size=2),
)


@st.composite
def json_lines(draw: st.DrawFn) -> bytes:
    base: dict[str, Any] = dict(GOOD)
    for key in draw(st.lists(st.sampled_from(FIELDS), max_size=3, unique=True)):
        if draw(st.booleans()):
            base.pop(key, None)
        else:
            base[key] = draw(values)
    pairs = list(base.items())
    if pairs and draw(st.integers(0, 4)) == 0:  # duplicate a key, maybe with another value
        key, value = draw(st.sampled_from(pairs))
        pairs.append((key, draw(st.one_of(st.just(value), values))))
    separators = draw(st.sampled_from([(",", ":"), (", ", ": "), (",", " : ")]))
    body = (
        "{"
        + separators[0].join(
            json.dumps(k) + separators[1] + json.dumps(v, ensure_ascii=draw(st.booleans()))
            for k, v in pairs
        )
        + "}"
    )
    return body.encode()


odd_lines = st.sampled_from(
    [b"", b"  ", b"[]", b"{}", b"null", b'{"a":1},{"b":2}', b'{"symbol_id":"x}', b"\xff", b"{"]
)

traces = st.lists(st.one_of(json_lines(), json_lines(), json_lines(), odd_lines), max_size=12)


def summary(data: bytes, fast: bool) -> tuple[object, ...]:
    report = parse_trace([data], _fast=fast)
    return (
        report.records,
        report.lines,
        report.error_count,
        [(d.line, d.field, d.reason, d.severity) for d in report.diagnostics],
        report.facts,
        dict(report.code_ids),
        dict(report.edges),
    )


@settings(max_examples=examples(400), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(traces, st.sampled_from([b"\n", b"\r\n"]))
def test_fast_and_careful_paths_agree(lines: list[bytes], end: bytes) -> None:
    data = b"".join(item + end for item in lines)
    assert summary(data, fast=True) == summary(data, fast=False)
