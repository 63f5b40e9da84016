"""Hypothesis properties of issue #9 not already held elsewhere.

Already covered, not repeated here: `canonical_json_fast` and the graph encoder equal the
``rfc8785`` reference (tests/core/test_canonical_fast.py); the hash of one fixed graph under
shuffling (tests/graph/test_graph_hash.py); any single-field mutation of a timeline event
(tests/timeline/test_timeline.py); fast and careful trace paths agree
(tests/trace/test_fast_path_agrees.py). Added: the canonical JSON round trip, idempotence and
key order; graph hash invariance on *generated* graphs; hash-chain reorder, removal and
duplication found at the right seq; trace aggregation equal to a naive reference.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stella_signals.canonical import canonical_json
from stella_signals.clock import FixedClock
from stella_signals.graph import canonical_graph, parse_graph
from stella_signals.ids import MonotonicUlids
from stella_signals.strictjson import loads_strict
from stella_signals.timeline import BreakReason, EventType, TimelineEvent, check_chain, next_event
from stella_signals.trace import parse_trace
from tests._examples import examples

SAFE = 2**53 - 1
FAST = settings(
    max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

# --- canonical JSON (RFC 8785) ------------------------------------------------------------------

json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-SAFE, SAFE),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=8),
        st.sampled_from(["\ue000", "\U0001f600", "\u2028", "\x7f", "\x00", "é"]),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.one_of(st.text(max_size=3), st.sampled_from(["\ue000", "\U0001f600", "é", "A"])),
            children,
            max_size=4,
        ),
    ),
    max_leaves=25,
)


def _utf16(key: str) -> bytes:
    return key.encode("utf-16-be")


def _keys_in_utf16_order(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    assert keys == sorted(keys, key=_utf16), keys
    return dict(pairs)


def _safe(value: Any) -> bool:
    """No double at or past 2^53: RFC 8785 writes those as integers, which Python's JSON
    reads back as ints (the project's parsers refuse them: graphs, timeline attributes)."""
    if isinstance(value, float):
        return abs(value) < 2**53
    if isinstance(value, dict):
        return all(map(_safe, value.values()))
    if isinstance(value, list):
        return all(map(_safe, value))
    return True


@settings(max_examples=examples(250), deadline=None)
@given(json_values)
def test_canonical_json_round_trips_and_is_idempotent(value: Any) -> None:
    data = canonical_json(value)
    assert b"\n" not in data and data == data.strip()
    # RFC 8785's number model: every number an IEEE 754 double.
    doubles = json.loads(data, parse_int=float, object_pairs_hook=_keys_in_utf16_order)
    assert doubles == value
    assert canonical_json(doubles) == data
    if _safe(value):  # Python's model too, through the project's strict parser
        back = loads_strict(data)
        assert back == value
        assert canonical_json(back) == data


# --- graph hash ---------------------------------------------------------------------------------

IDS = ["a", "b", "c", "d", "é", "\U0001f600"]


@st.composite
def graphs(draw: st.DrawFn) -> dict[str, Any]:
    ids = draw(st.lists(st.sampled_from(IDS), min_size=1, max_size=5, unique=True))
    nodes = []
    for node_id in ids:
        node: dict[str, Any] = {"id": node_id, "symbol_id": f"sym:{node_id}", "lang": "c"}
        node["kind"] = draw(st.sampled_from(["function", "method"]))
        if draw(st.booleans()):
            node["evidence"] = draw(st.lists(st.sampled_from(["x", "y", "z"]), max_size=3))
        if draw(st.booleans()):
            node["attributes"] = {"tags": draw(st.lists(st.text(max_size=2), max_size=3))}
        nodes.append(node)
    edges = []
    for _ in range(draw(st.integers(0, 6))):
        edge: dict[str, Any] = {
            "from": draw(st.sampled_from(ids)),
            "to": draw(st.sampled_from(ids)),
        }
        if draw(st.booleans()):
            edge["kind"] = draw(st.sampled_from(["call", "import", ""]))
        if draw(st.booleans()):  # ties on (from, to, kind) are broken by the whole edge
            edge["confidence"] = draw(st.sampled_from([0, 0.25, 0.5, 1]))
        edges.append(edge)
    roots = [
        {"id": draw(st.sampled_from(ids)), "phase": draw(st.sampled_from(["load", "init"]))}
        for _ in range(draw(st.integers(0, 3)))
    ]
    return {"schema": "richgraph-v1", "nodes": nodes, "edges": edges, "roots": roots}


def _hash(doc: dict[str, Any], *, indent: int | None = None) -> str:
    return str(canonical_graph(parse_graph(json.dumps(doc, indent=indent).encode())).hash)


def _reordered(value: Any, draw: st.DrawFn, *, aliases: bool = False) -> Any:
    """Every object's keys and every array's items permuted; maybe edges given as aliases."""
    if isinstance(value, dict):
        items = draw(st.permutations(list(value.items())))
        out = {k: _reordered(v, draw, aliases=k == "edges") for k, v in items}
        return out
    if isinstance(value, list):
        items = [_reordered(v, draw) for v in draw(st.permutations(value))]
        if aliases:
            for edge in items:
                if draw(st.booleans()):
                    edge["sourceId"] = edge.pop("from")
                if draw(st.booleans()):
                    edge["targetId"] = edge.pop("to")
        return items
    return value


@FAST
@given(graphs(), st.data())
def test_graph_hash_ignores_every_reordering(doc: dict[str, Any], data: st.DataObject) -> None:
    shuffled = _reordered(doc, data.draw)
    assert _hash(shuffled, indent=data.draw(st.sampled_from([None, 2]))) == _hash(doc)


# --- hash chain ---------------------------------------------------------------------------------

T0 = datetime(2025, 1, 2, tzinfo=UTC)


def _chain(n: int) -> list[TimelineEvent]:
    clock = FixedClock(T0)
    ids = MonotonicUlids(clock, randbytes=bytes)
    events: list[TimelineEvent] = []
    for i in range(n):
        events.append(
            next_event(
                previous=events[-1] if events else None,
                tenant="acme",
                event_type=EventType.RUNTIME_INGESTED,
                occurred_at=clock.now(),
                source="signals-api",
                correlation_id=None,
                attributes={"records": i},
                event_id=ids(),
            )
        )
        clock.advance(timedelta(seconds=1))
    return events


@dataclass(frozen=True)
class Expected:
    position: int  # 1-based, in the altered sequence
    reason: BreakReason


def _check(events: list[TimelineEvent], expected: Expected | None) -> None:
    report = check_chain(events)
    if expected is None:
        assert report.ok, report.message
        return
    brk = report.first_break
    assert brk is not None
    assert (brk.position, brk.reason) == (expected.position, expected.reason)
    assert brk.seq == events[expected.position - 1].seq
    assert report.head == (events[expected.position - 2] if expected.position > 1 else None)


@FAST
@given(st.integers(2, 7), st.data())
def test_any_reordering_is_found_at_the_first_moved_event(n: int, data: st.DataObject) -> None:
    events = _chain(n)
    order = data.draw(st.permutations(range(n)))
    moved = [events[i] for i in order]
    first = next((p for p, i in enumerate(order) if i != p), None)
    _check(moved, None if first is None else Expected(first + 1, BreakReason.SEQ_GAP))


@FAST
@given(st.integers(1, 7), st.data())
def test_a_removed_event_is_found_where_it_was(n: int, data: st.DataObject) -> None:
    events = _chain(n)
    k = data.draw(st.integers(0, n - 1))
    # Cutting the last event off leaves a sound, shorter chain: only a trusted head tells.
    _check(
        events[:k] + events[k + 1 :], None if k == n - 1 else Expected(k + 1, BreakReason.SEQ_GAP)
    )


@FAST
@given(st.integers(1, 7), st.data())
def test_a_repeated_event_is_found_at_the_repeat(n: int, data: st.DataObject) -> None:
    events = _chain(n)
    k = data.draw(st.integers(0, n - 1))
    at = data.draw(st.integers(k + 1, n))  # the copy goes anywhere after the original
    altered = [*events[:at], events[k], *events[at:]]
    _check(altered, Expected(at + 1, BreakReason.SEQ_NOT_INCREASING))


# --- trace aggregation ---------------------------------------------------------------------------

OFFSETS = [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))]

records = st.fixed_dictionaries(
    {
        "symbol_id": st.sampled_from(["sym:a", "sym:b", "sym:é"]),
        "purl": st.sampled_from(["pkg:npm/x@1", "pkg:pypi/y@2", "pkg:unknown"]),
        "count": st.integers(1, 2**40),
        "moment": st.datetimes(
            min_value=datetime(2025, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)
        ),
        "offset": st.sampled_from(OFFSETS),
        "container": st.sampled_from(["c1", "c2", None]),
    }
)


def _line(record: dict[str, Any]) -> bytes:
    out = {k: record[k] for k in ("symbol_id", "purl", "count")}
    out["timestamp"] = record["moment"].astimezone(record["offset"]).isoformat()
    if record["container"] is not None:
        out["container"] = record["container"]
    return json.dumps(out).encode() + b"\n"


def _order(fact: tuple[Any, ...]) -> tuple[str, str, str, bool]:
    symbol_id, purl, container = fact[0]
    return (symbol_id, purl, container or "", container is None)


def _seen(record: dict[str, Any]) -> datetime:
    """The timestamp as written in the line, read back by the standard library."""
    return datetime.fromisoformat(record["moment"].astimezone(record["offset"]).isoformat())


def _naive(recs: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """The reference: sum of counts, min first seen, max last seen per key, in UTC."""
    groups: dict[tuple[str, str, str | None], list[dict[str, Any]]] = {}
    for rec in recs:
        groups.setdefault((rec["symbol_id"], rec["purl"], rec["container"]), []).append(rec)
    facts = [
        (
            key,
            sum(r["count"] for r in group),
            min(map(_seen, group)).astimezone(UTC),
            max(map(_seen, group)).astimezone(UTC),
        )
        for key, group in groups.items()
    ]
    return sorted(facts, key=_order)


@FAST
@given(st.lists(records, min_size=1, max_size=25), st.booleans(), st.integers(1, 97))
def test_trace_aggregation_equals_a_naive_reference(
    recs: list[dict[str, Any]], fast: bool, chunk: int
) -> None:
    data = b"".join(map(_line, recs))
    report = parse_trace([data[i : i + chunk] for i in range(0, len(data), chunk)], _fast=fast)
    assert report.valid, report.diagnostics
    facts = [
        ((f.symbol_id, f.purl, f.container), f.count, f.first_seen, f.last_seen)
        for f in report.facts
    ]
    facts.sort(key=_order)
    assert facts == _naive(recs)
    assert all(f[2].tzinfo is UTC and f[3].tzinfo is UTC for f in facts)
    assert report.records == len(recs)
    assert report.unique_symbols == len({r["symbol_id"] for r in recs})
    assert report.first_seen == min(f[2] for f in facts)
    assert report.last_seen == max(f[3] for f in facts)
