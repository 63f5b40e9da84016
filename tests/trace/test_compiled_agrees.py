"""The compiled trace core gives the pure-Python parser's report, exactly (ADR 0008).

Hypothesis builds traces from records with every field drawn from pools of the cases each
rule has to get right (timestamps at the ends of the range, counts at their bounds, escapes,
unicode, duplicate and unknown keys, whitespace, invalid UTF-8, overlong lines, BOMs, CRLF),
sends them plain or gzipped in random chunks under tight limits, and compares everything a
caller can see: counts, the kept diagnostics with their messages, every diagnostic the sink
received in order, facts, code ids, edges, or the limit passed. The pure-Python side is
checked both ways: its fast path and its careful path.
"""

from __future__ import annotations

import functools
import gzip
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stella_signals.errors import LimitExceeded
from stella_signals.limits import Limits
from stella_signals.trace import Diagnostic, _parse, parse_trace, trace_core
from stella_signals.trace._parse import _compiled_core
from tests._examples import examples

pytestmark = pytest.mark.skipif(_compiled_core is None, reason="the compiled core is not built")


@pytest.fixture(scope="module", autouse=True)
def core() -> Iterator[str]:
    """This module switches between the parsers itself (overrides conftest's fixture)."""
    yield "both"


SYMBOLS = ["sym:a", "sym:b", "s", "é", "sym:\u2603", "x" * 40, "", "sym:a\\b", "sym:\ud800"]
PURLS = [
    "pkg:pypi/requests@2.31.0",
    "pkg:npm/left-pad@1.0.0",
    "pkg:unknown",
    "pkg:deb/debian/libc6@2.36?arch=amd64",
    "not-a-purl",
    "",
    "pkg:pypi/caf\u00e9@1",
    "pkg:/x",
]
TIMESTAMPS = [
    "2026-01-01T00:00:00Z",
    "2026-01-01T00:00:00.5Z",
    "2026-01-01T00:00:00.123456+01:00",
    "2026-01-01T00:00:00.1234567Z",
    "2026-01-01T23:59:59-23:59",
    "2026-01-01t00:00:00z",
    "2026-01-01 00:00:00Z",
    "2026-01-01T00:00:00",
    "2026-02-29T00:00:00Z",
    "2024-02-29T12:00:00Z",
    "2026-13-01T00:00:00Z",
    "2026-01-01T24:00:00Z",
    "2026-01-01T00:00:60Z",
    "2026-01-01T00:00:00+24:00",
    "2026-01-01T00:00:00-00:00",
    "2026-01-01T00:00:00+0100",
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+00:01",
    "0001-01-01T00:30:00-00:01",
    "9999-12-31T23:59:59.999999Z",
    "9999-12-31T23:59:59-00:01",
    "9999-12-31T23:00:00+01:00",
    "0000-01-01T00:00:00Z",
    "1970-01-01T00:00:00.Z",
    "1969-12-31T23:59:59.999999Z",
]
COUNTS: list[Any] = [1, 2, 3, 2**53 - 1, 2**53, 0, -1, 1.0, "1", True, None, 10**20, 1e3]
PIDS: list[Any] = [0, 42, 2**63 - 1, 2**63, -1, 1.5, "42", None]
STRINGS = ["c1", "c2", "", "ü", "a\\nb", 'q"q', "\x7f", "sha256:" + "ab" * 32]
OPTIONAL = ["pid", "container", "code_id", "build_id", "loader_base", "process_name"]

texts = st.text(max_size=5)
# The strategies `records` draws from, built once: a strategy made inside the composite is
# built and validated again on every draw, which cost more than parsing the trace did.
symbol_ids = st.one_of(st.sampled_from(SYMBOLS), texts)
purls = st.sampled_from(PURLS)
timestamps = st.sampled_from(TIMESTAMPS)
counts = st.one_of(st.sampled_from(COUNTS), st.integers(1, 10))
pids = st.sampled_from(PIDS)
strings = st.sampled_from(STRINGS)
callers = st.sampled_from(SYMBOLS)
extra_names = st.sampled_from(["x", "nested", "symbol_ID"])
extra_values = st.one_of(st.integers(), st.lists(st.integers(), max_size=2), texts)
separators = st.sampled_from([(":", ","), (": ", ", "), (" :\t", " ,")])
openings = st.sampled_from(["{", " {", "\t{"])
one_in_3, one_in_4 = st.integers(0, 2), st.integers(0, 3)
one_in_9, one_in_10 = st.integers(0, 8), st.integers(0, 9)
shufflers = st.randoms()


@st.composite
def records(draw: st.DrawFn) -> bytes:
    fields: dict[str, Any] = {
        "symbol_id": draw(symbol_ids),
        "purl": draw(purls),
        "timestamp": draw(timestamps),
        "count": draw(counts),
    }
    for name in OPTIONAL:
        if draw(one_in_4):
            fields[name] = draw(pids if name == "pid" else strings)
    if draw(one_in_3) == 0:
        fields["caller_symbol_id"] = draw(callers)
    if draw(one_in_9) == 0:
        fields[draw(extra_names)] = draw(extra_values)
    for name in draw(st.lists(st.sampled_from(list(fields)), max_size=2)):
        if draw(st.booleans()):
            fields.pop(name, None)
    pairs = list(fields.items())
    draw(shufflers).shuffle(pairs)
    if pairs and draw(one_in_10) == 0:
        pairs.append(draw(st.sampled_from(pairs)))  # a duplicate key
    colon, comma = draw(separators)
    ascii_only = draw(st.booleans())
    body = comma.join(
        json.dumps(k, ensure_ascii=ascii_only) + colon + json.dumps(v, ensure_ascii=ascii_only)
        for k, v in pairs
    )
    try:
        return draw(openings).encode() + body.encode() + b"}"
    except UnicodeEncodeError:  # a lone surrogate: sent as its (invalid) UTF-8 bytes
        return b"{" + body.encode("utf-8", "surrogatepass") + b"}"


odd_lines = st.sampled_from(
    [
        b"",
        b"\r",
        b"  ",
        b"\x0c",
        b"\xe3\x80\x80",
        b"[]",
        b"{}",
        b"null",
        b"1",
        b'{"symbol_id":"x}',
        b"\xff\xfe",
        b"\xed\xa0\x80",
        b"\xc0\xaf",
        b"{",
        b"x" * 300,
        b'{"a":1},{"b":2}',
    ]
)
traces = st.lists(st.one_of(records(), records(), records(), odd_lines), max_size=14)
limits_st = st.builds(
    Limits,
    max_line_bytes=st.sampled_from([60, 120, 250, 64 * 1024]),
    max_symbol_id_bytes=st.sampled_from([4, 16, 1024]),
    max_kept_diagnostics=st.sampled_from([2, 1000]),
    max_records=st.sampled_from([3, 50_000_000]),
    max_edges=st.sampled_from([1, 1_000_000]),
)


def outcome(
    pieces: list[bytes], limits: Limits, path: str, *, sink: bool = True
) -> tuple[object, ...]:
    """Everything a caller sees from ``path`` ("compiled", "fast", "careful"), with or
    without a diagnostic sink (without one, the core only counts what cannot be kept)."""
    if path == "compiled":
        return _outcome(pieces, limits, path, sink=sink)
    return _oracle(tuple(pieces), limits, path, sink)


@functools.lru_cache(maxsize=16)
def _oracle(pieces: tuple[bytes, ...], limits: Limits, path: str, sink: bool) -> tuple[object, ...]:
    """The pure-Python paths' outcome, kept for the next comparison with the same pieces and
    limits: they are deterministic and do not read the compiled core's lane settings, and a
    test that checks the core under other lane settings compares it with the same oracle
    (their runs were most of such a test's time)."""
    return _outcome(list(pieces), limits, path, sink=sink)


def _outcome(pieces: list[bytes], limits: Limits, path: str, *, sink: bool) -> tuple[object, ...]:
    seen: list[Diagnostic] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STELLA_PURE_PYTHON", "0" if path == "compiled" else "1")
        assert trace_core() == ("compiled" if path == "compiled" else "python")
        try:
            report = parse_trace(
                pieces,
                name="t.ndjson.gz",
                limits=limits,
                on_diagnostic=seen.append if sink else None,
                _fast=path != "careful",
            )
        except LimitExceeded as exc:
            return ("limit", exc.limit, str(exc))
    return (
        report.sha256,
        report.size,
        report.records,
        report.lines,
        report.error_count,
        report.warning_count,
        report.diagnostics,
        tuple(seen),
        report.facts,
        report.unique_symbols,
        report.first_seen,
        report.last_seen,
        dict(report.code_ids),
        dict(report.edges),
    )


def agree(pieces: list[bytes], limits: Limits) -> None:
    compiled = outcome(pieces, limits, "compiled")
    assert compiled == outcome(pieces, limits, "careful")
    assert compiled == outcome(pieces, limits, "fast")
    quiet = outcome(pieces, limits, "compiled", sink=False)
    assert quiet == outcome(pieces, limits, "careful", sink=False)


@settings(max_examples=examples(600), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    traces,
    st.sampled_from([b"\n", b"\r\n"]),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.integers(1, 64),
    limits_st,
)
def test_compiled_core_gives_the_oracle_report(
    lines: list[bytes],
    end: bytes,
    bom: bool,
    final_newline: bool,
    gzipped: bool,
    chunk: int,
    limits: Limits,
) -> None:
    data = end.join(lines) + (end if final_newline else b"")
    if bom:
        data = b"\xef\xbb\xbf" + data
    if gzipped:
        data = gzip.compress(data, mtime=0)
    agree([data[i : i + chunk] for i in range(0, len(data), chunk)], limits)
    agree([data], limits)


def test_sums_past_64_bits_stay_exact() -> None:
    """Counts are summed without overflow: 3,000 records of 2^53 - 1 pass 2^64."""
    line = json.dumps(
        {
            "symbol_id": "s",
            "purl": "pkg:unknown",
            "timestamp": "2026-01-01T00:00:00Z",
            "count": 2**53 - 1,
            "caller_symbol_id": "c",
        }
    ).encode()
    data = (line + b"\n") * 3000
    agree([data], Limits())
    report = parse_trace([data])
    assert report.facts[0].count == 3000 * (2**53 - 1) > 2**64
    assert report.edges == {("c", "s"): 3000 * (2**53 - 1)}


def test_many_distinct_keys_and_a_bad_line_among_them() -> None:
    """Tables grow past their first sizes; a bad line in the middle costs only itself."""
    lines = [
        json.dumps(
            {
                "symbol_id": f"s{i}",
                "purl": f"pkg:pypi/p{i % 300}@1",
                "timestamp": f"2026-01-01T00:{i % 60:02d}:00Z",
                "count": i + 1,
                "container": f"c{i % 7}",
                "pid": i,
                "code_id": f"k{i}",
                "caller_symbol_id": f"s{i // 2}",
            }
        ).encode()
        for i in range(20_000)
    ]
    lines[12_345] = b'{"symbol_id": 1}'
    data = b"\n".join(lines)
    agree([data[i : i + 65_536] for i in range(0, len(data), 65_536)], Limits())
    report = parse_trace([data])
    assert report.records == 19_999 and {d.line for d in report.errors} == {12_346}


def test_big_chunks_scanned_while_the_next_inflates() -> None:
    """Chunks of 64 KiB and more are scanned by a helper thread while the next one inflates:
    the same report, also when the gzip stream breaks or a limit passes mid-way.

    20,000 lines inflate to three chunks (1 MiB, 1 MiB, 0.35 MiB): the first scanned inline,
    the other two by the helper thread; the record limit passes in the second chunk, as the
    decompressed-bytes limit does (it crosses 2,000,000 there)."""
    lines = [
        json.dumps(
            {
                "symbol_id": f"s{i % 5000}",
                "purl": "pkg:unknown" if i % 1000 else "pkg:bad purl",
                "timestamp": "2026-01-01T00:00:00Z",
                "count": 1,
                "pid": 1,
                "container": "c",
            }
        ).encode()
        for i in range(20_000)
    ]
    raw = b"\n".join(lines) + b"\n"
    assert 2 << 20 < len(raw) < 3 << 20
    body = gzip.compress(raw, compresslevel=1)
    pieces = [body[i : i + 200_000] for i in range(0, len(body), 200_000)]
    agree(pieces, Limits())
    agree([*pieces[:-1], pieces[-1][:-20]], Limits())  # truncated: decompression fails
    agree(pieces, Limits(max_records=10_000))
    agree(pieces, Limits(max_decompressed_bytes=2_000_000))


def test_a_trace_without_containers_counts_its_warnings() -> None:
    """Every record lacks pid and container: past the kept diagnostics the core only counts
    the warnings, and the report is the oracle's."""
    line = json.dumps(
        {"symbol_id": "s", "purl": "pkg:unknown", "timestamp": "2026-01-01T00:00:00Z", "count": 1}
    ).encode()
    data = b"\n".join([line] * 5000 + [b"{bad"] + [line] * 5000)
    for limits in (Limits(), Limits(max_kept_diagnostics=3)):
        agree([data[i : i + 70_000] for i in range(0, len(data), 70_000)], limits)
    report = parse_trace([data])
    assert report.warning_count == 20_000 and report.error_count == 1


@settings(max_examples=examples(400), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    traces,
    st.sampled_from([b"\n", b"\r\n"]),
    st.booleans(),
    st.integers(1, 64),
    st.sampled_from([1, 2, 40, 200]),
    st.sampled_from([None, 0, 1, 3]),
    limits_st,
)
def test_two_lanes_give_the_oracle_report(
    lines: list[bytes],
    end: bytes,
    final_newline: bool,
    chunk: int,
    split_min: int,
    lane_max_keys: int | None,
    limits: Limits,
) -> None:
    """The core splits a run of complete lines between two threads (ADR 0010), each with
    tables of its own, merged at the end, or at the start of a chunk once the keys pass
    ``lane_max_keys`` (then one lane scans on): the same report, line numbers, diagnostics
    in order and limits as one lane and as the oracle. ``split_min`` makes tiny runs split."""
    data = end.join(lines * 3) + (end if final_newline else b"")
    pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_parse, "_SPLIT_MIN_BYTES", split_min)
        patch.setattr(_parse, "_LANE_MAX_KEYS", lane_max_keys)
        two_lanes = outcome(pieces, limits, "compiled"), outcome([data], limits, "compiled")
        quiet = outcome([data], limits, "compiled", sink=False)
    assert two_lanes[0] == outcome(pieces, limits, "careful")
    assert two_lanes[1] == outcome([data], limits, "careful")
    assert two_lanes[1] == outcome([data], limits, "compiled")
    assert quiet == outcome([data], limits, "careful", sink=False)


def test_two_lanes_on_big_chunks_near_the_limits() -> None:
    """Chunks of 1 MiB split between two lanes (the default size): codes ids from the lowest
    line whichever lane saw it, edges and counts summed across lanes, a bad purl and bad
    lines in both halves; near a limit the lanes merge and the scan stops where one lane
    would.

    16,000 lines make three chunks (1 MiB, 1 MiB, 0.5 MiB; bad lines at 0 and 4,999 fall in
    both halves of the first): the record limit passes in the second chunk; the edge limit
    (never reached: 3,000 distinct edges) makes the lanes count the lines of the first chunk
    exactly before they split, and merge at the second, as near the record limit."""
    lines = [
        json.dumps(
            {
                "symbol_id": f"s{i % 3000}",
                "purl": "pkg:unknown" if i % 997 else "pkg:bad purl",
                "timestamp": f"2026-01-01T00:{i % 60:02d}:00Z",
                "count": i % 5 + 1,
                "container": f"c{i % 3}",
                "code_id": f"k{i}",
                "caller_symbol_id": f"s{(i * 7) % 3000}",
            }
        ).encode()
        if i % 4999
        else b'{"symbol_id": 1}'
        for i in range(16_000)
    ]
    data = b"\n".join(lines) + b"\n"
    pieces = [data[i : i + (1 << 20)] for i in range(0, len(data), 1 << 20)]
    assert len(pieces) == 3
    for limits in (Limits(), Limits(max_records=10_000), Limits(max_edges=8_000)):
        agree(pieces, limits)
    with pytest.MonkeyPatch.context() as patch:  # the second lane merged after the first MiB
        patch.setattr(_parse, "_LANE_MAX_KEYS", 100)
        for limits in (Limits(), Limits(max_records=10_000)):
            agree(pieces, limits)
