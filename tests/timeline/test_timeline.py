"""Timeline events (SPEC §7): golden hash, parsing at the edge, chain checks, NDJSON export."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from stella_signals.canonical import canonical_json
from stella_signals.clock import FixedClock
from stella_signals.errors import InvalidInput, VerificationFailed
from stella_signals.ids import MonotonicUlids
from stella_signals.tenancy import TenantId
from stella_signals.timeline import (
    MAX_EVENT_BYTES,
    BreakReason,
    EventType,
    FailureReason,
    InvalidEvent,
    TimelineEvent,
    check_chain,
    events_to_ndjson,
    next_event,
    parse_event,
    read_events_ndjson,
    verify_chain,
)
from tests._examples import examples

T0 = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
HEX = "ab" * 32
OTHER_HASH = "sha256:" + "0" * 64


def make_chain(
    n: int,
    *,
    tenant: str = "acme",
    attributes: Callable[[int], Mapping[str, Any]] = lambda i: {"records": i},
) -> list[TimelineEvent]:
    clock = FixedClock(T0)
    ids = MonotonicUlids(clock, randbytes=bytes)
    events: list[TimelineEvent] = []
    previous = None
    for i in range(n):
        previous = next_event(
            previous=previous,
            tenant=tenant,
            event_type=EventType.RUNTIME_INGESTED,
            occurred_at=clock.now(),
            source="signals-api",
            correlation_id=f"req-{i}",
            attributes=attributes(i),
            event_id=ids(),
        )
        events.append(previous)
        clock.advance(timedelta(seconds=1))
    return events


def resign(event: TimelineEvent) -> TimelineEvent:
    """The event with its hash recomputed: a tamperer who knows the hash rule."""
    return replace(event, hash=event.computed_hash())


# --- golden -------------------------------------------------------------------------------


def test_golden_event_hash() -> None:
    attributes = {
        "ingest_id": "01JGJFGRSEZHA9TCXVWCRYFG5Z",
        "cas_uri": f"cas://reachability/runtime/{HEX}",
        "content_sha256": HEX,
        "graph_hash": f"blake3:{HEX}",
        "records": 3,
        "mapped_symbols": 2,
        "unmapped_symbols": 1,
        "note": "café \u2028",
    }
    first = next_event(
        previous=None,
        tenant="acme",
        event_type=EventType.RUNTIME_INGESTED,
        occurred_at=datetime(2025, 1, 2, 4, 4, 5, 500000, tzinfo=timezone(timedelta(hours=1))),
        source="signals-api",
        correlation_id=None,
        attributes=attributes,
        event_id="01ARZ3NDEKTSV4RRFFQ69G5FAV",
    )
    # RFC 8785 by hand: keys sorted, no whitespace, non-ASCII as UTF-8, U+2028 unescaped.
    expected = (
        '{"attributes":{'
        f'"cas_uri":"cas://reachability/runtime/{HEX}",'
        f'"content_sha256":"{HEX}",'
        f'"graph_hash":"blake3:{HEX}",'
        '"ingest_id":"01JGJFGRSEZHA9TCXVWCRYFG5Z",'
        '"mapped_symbols":2,'
        '"note":"café \u2028",'
        '"records":3,'
        '"unmapped_symbols":1},'
        '"correlation_id":null,'
        '"event_id":"01ARZ3NDEKTSV4RRFFQ69G5FAV",'
        '"event_type":"reach.runtime.ingested",'
        '"occurred_at":"2025-01-02T03:04:05.500000Z",'
        '"prev_hash":null,'
        '"seq":1,'
        '"source":"signals-api",'
        '"tenant":"acme"}'
    ).encode()
    assert first.hash == "sha256:" + hashlib.sha256(expected).hexdigest()
    assert first.hash == "sha256:92aaa6f5814ce3c9fb16f3bbdfb9083e637ef83c3de7232daf60c34062150efd"
    assert first.seq == 1
    assert first.prev_hash is None

    second = next_event(
        previous=first,
        tenant="acme",
        event_type=EventType.RUNTIME_INGEST_FAILED,
        occurred_at=datetime(2025, 1, 2, 3, 4, 6, tzinfo=UTC),
        source="signals-offline",
        correlation_id="01ARZ3NDEKTSV4RRFFQ69G5FAW",
        attributes={"ingest_id": "01ARZ3NDEKTSV4RRFFQ69G5FAW", "reason": FailureReason.TOO_LARGE},
        event_id="01ARZ3NDEKTSV4RRFFQ69G5FAX",
    )
    expected2 = (
        '{"attributes":{"ingest_id":"01ARZ3NDEKTSV4RRFFQ69G5FAW","reason":"too_large"},'
        '"correlation_id":"01ARZ3NDEKTSV4RRFFQ69G5FAW",'
        '"event_id":"01ARZ3NDEKTSV4RRFFQ69G5FAX",'
        '"event_type":"runtime.ingest.failed",'
        '"occurred_at":"2025-01-02T03:04:06Z",'
        f'"prev_hash":"{first.hash}",'
        '"seq":2,'
        '"source":"signals-offline",'
        '"tenant":"acme"}'
    ).encode()
    assert second.hash == "sha256:" + hashlib.sha256(expected2).hexdigest()
    assert second.prev_hash == first.hash
    assert check_chain([first, second]).ok


def test_to_dict_is_exactly_what_is_hashed() -> None:
    event = make_chain(1)[0]
    as_dict = event.to_dict()
    assert list(as_dict) == [
        "event_id",
        "seq",
        "event_type",
        "tenant",
        "occurred_at",
        "source",
        "correlation_id",
        "attributes",
        "prev_hash",
        "hash",
    ]
    without = {k: v for k, v in as_dict.items() if k != "hash"}
    assert as_dict["hash"] == "sha256:" + hashlib.sha256(canonical_json(without)).hexdigest()
    assert event.canonical_bytes() == canonical_json(as_dict)
    assert json.loads(event.canonical_bytes()) == as_dict


def test_enums_cover_spec() -> None:
    assert {t.value for t in EventType} == {
        "reach.runtime.ingested",
        "runtime.ingest.failed",
        "reach.runtime.orphaned",
        "reach.runtime.dsse.attached",
        "reach.graph.ingested",
        "symbols.manifest.ingested",
        "airgap.staleness.threshold",
        "reach.verdict.changed",  # SPEC §15
    }
    assert len(FailureReason) == 12  # SPEC §7's ten, and issue 14's two
    assert FailureReason("orphan_expired") is FailureReason.ORPHAN_EXPIRED
    assert FailureReason("ambiguous_input") is FailureReason.AMBIGUOUS_INPUT
    assert FailureReason("client_disconnected") is FailureReason.CLIENT_DISCONNECTED


# --- the model ----------------------------------------------------------------------------


def test_events_are_deeply_immutable_and_normalised() -> None:
    source: dict[str, Any] = {"list": [1, 2.0, {"x": -0.0}], "half": 0.5}
    event = make_chain(1, attributes=lambda _: source)[0]
    source["list"].append(3)  # the caller's object does not leak in
    assert event.to_dict()["attributes"] == {"list": [1, 2, {"x": 0}], "half": 0.5}
    assert type(event.to_dict()["attributes"]["list"][1]) is int
    with pytest.raises(TypeError):
        event.attributes["new"] = 1  # type: ignore[index]
    assert isinstance(event.attributes["list"], tuple)
    assert event == parse_event(event.canonical_bytes())
    assert hash(event) == hash(parse_event(event.canonical_bytes()))


def test_next_event_refuses_another_tenants_previous() -> None:
    head = make_chain(1)[-1]
    with pytest.raises(ValueError, match="tenant"):
        next_event(
            previous=head,
            tenant="globex",
            event_type=EventType.GRAPH_INGESTED,
            occurred_at=T0,
            source="signals-api",
            correlation_id=None,
            attributes={},
            event_id="01ARZ3NDEKTSV4RRFFQ69G5FAV",
        )


def test_next_event_refuses_oversized_events() -> None:
    with pytest.raises(ValueError, match="exceeds"):
        make_chain(1, attributes=lambda _: {"detail": "x" * MAX_EVENT_BYTES})
    big = make_chain(1, attributes=lambda _: {"detail": "x" * (MAX_EVENT_BYTES - 400)})[0]
    assert len(big.canonical_bytes()) <= MAX_EVENT_BYTES
    assert list(read_events_ndjson(events_to_ndjson([big]))) == [big]


@pytest.mark.parametrize(
    ("occurred_at", "reason"),
    [
        (datetime(2025, 1, 2), "invalid_time"),  # naive
        ("2025-01-02T03:04:05Z", "wrong_type"),
        (datetime.max.replace(tzinfo=timezone(timedelta(hours=-1))), "out_of_range"),
        (datetime(1969, 12, 31, 23, tzinfo=UTC), "out_of_range"),
    ],
    ids=["naive", "string", "overflows-utc", "before-1970"],
)
def test_next_event_checks_occurred_at(occurred_at: Any, reason: str) -> None:
    with pytest.raises(InvalidEvent) as info:
        next_event(
            previous=None,
            tenant="acme",
            event_type=EventType.GRAPH_INGESTED,
            occurred_at=occurred_at,
            source="signals-api",
            correlation_id=None,
            attributes={},
            event_id="01ARZ3NDEKTSV4RRFFQ69G5FAV",
        )
    assert (info.value.field, info.value.reason) == ("occurred_at", reason)


@pytest.mark.parametrize(
    ("attributes", "field", "reason"),
    [
        ({"n": 2**53}, "attributes/n", "out_of_range"),
        ({"n": -(2**53)}, "attributes/n", "out_of_range"),
        ({"n": 1e300}, "attributes/n", "out_of_range"),
        ({"n": float("nan")}, "attributes/n", "out_of_range"),
        ({"a/b": [1, float("inf")]}, "attributes/a~1b/1", "out_of_range"),
        ({"s": "\ud800"}, "attributes/s", "invalid_string"),
        ({"\udfff": 1}, "attributes", "invalid_string"),
        ({"t": {1, 2}}, "attributes/t", "wrong_type"),
        ({"k": {1: "x"}}, "attributes/k", "wrong_type"),
        ({"b": b"bytes"}, "attributes/b", "wrong_type"),
    ],
)
def test_attributes_must_be_exact_json(attributes: Any, field: str, reason: str) -> None:
    with pytest.raises(InvalidEvent) as info:
        make_chain(1, attributes=lambda _: attributes)
    assert (info.value.field, info.value.reason) == (field, reason)
    assert isinstance(info.value, InvalidInput)


def test_safe_integer_bounds_accepted() -> None:
    top = 2**53 - 1
    event = make_chain(1, attributes=lambda _: {"max": top, "min": -top, "f": float(top)})[0]
    assert event.to_dict()["attributes"] == {"max": top, "min": -top, "f": top}


# --- parse_event: the edge ----------------------------------------------------------------


def valid_dict() -> dict[str, Any]:
    return make_chain(1)[0].to_dict()


def with_(**changes: Any) -> dict[str, Any]:
    data = valid_dict()
    data.update(changes)
    return data


def without(name: str) -> dict[str, Any]:
    data = valid_dict()
    del data[name]
    return data


BAD_EVENTS: dict[str, tuple[Any, str | None, str]] = {
    "missing-hash": (without("hash"), "hash", "missing_field"),
    "missing-prev-hash": (without("prev_hash"), "prev_hash", "missing_field"),
    "missing-correlation-id": (without("correlation_id"), "correlation_id", "missing_field"),
    "unknown-field": (with_(extra=1), "extra", "unknown_field"),
    "seq-string": (with_(seq="1"), "seq", "wrong_type"),
    "seq-bool": (with_(seq=True), "seq", "wrong_type"),
    "seq-float": (with_(seq=1.0), "seq", "wrong_type"),
    "seq-zero": (with_(seq=0), "seq", "out_of_range"),
    "seq-huge": (with_(seq=2**53), "seq", "out_of_range"),
    "event-id-lower": (with_(event_id="01arz3ndektsv4rrffq69g5fav"), "event_id", "invalid_id"),
    "event-id-int": (with_(event_id=1), "event_id", "wrong_type"),
    "event-type-unknown": (with_(event_type="reach.other"), "event_type", "unknown_event_type"),
    "tenant-upper": (with_(tenant="Acme"), "tenant", "invalid_tenant"),
    "tenant-null": (with_(tenant=None), "tenant", "wrong_type"),
    "time-offset": (with_(occurred_at="2025-01-02T03:04:05+00:00"), "occurred_at", "invalid_time"),
    "time-zero-fraction": (
        with_(occurred_at="2025-01-02T03:04:05.000000Z"),
        "occurred_at",
        "invalid_time",
    ),
    "time-short-fraction": (
        with_(occurred_at="2025-01-02T03:04:05.5Z"),
        "occurred_at",
        "invalid_time",
    ),
    "time-lower-z": (with_(occurred_at="2025-01-02T03:04:05z"), "occurred_at", "invalid_time"),
    "time-naive": (with_(occurred_at="2025-01-02T03:04:05"), "occurred_at", "invalid_time"),
    "time-date-only": (with_(occurred_at="2025-01-02"), "occurred_at", "invalid_time"),
    "time-garbage": (with_(occurred_at="yesterday"), "occurred_at", "invalid_time"),
    "time-number": (with_(occurred_at=1735787045), "occurred_at", "wrong_type"),
    "time-before-1970": (
        with_(occurred_at="1969-12-31T23:59:59Z"),
        "occurred_at",
        "out_of_range",
    ),
    "source-empty": (with_(source=""), "source", "empty"),
    "source-null": (with_(source=None), "source", "wrong_type"),
    "correlation-id-int": (with_(correlation_id=5), "correlation_id", "wrong_type"),
    "attributes-list": (with_(attributes=[]), "attributes", "wrong_type"),
    "attributes-null": (with_(attributes=None), "attributes", "wrong_type"),
    "attributes-big-int": (with_(attributes={"x": [2**60]}), "attributes/x/0", "out_of_range"),
    "prev-hash-upper": (with_(prev_hash="sha256:" + "AB" * 32), "prev_hash", "invalid_hash"),
    "prev-hash-empty": (with_(prev_hash=""), "prev_hash", "invalid_hash"),
    "hash-bare-hex": (with_(hash="ab" * 32), "hash", "invalid_hash"),
    "hash-null": (with_(hash=None), "hash", "invalid_hash"),
    "not-an-object": ([], None, "wrong_type"),
}


@pytest.mark.parametrize(("data", "field", "reason"), BAD_EVENTS.values(), ids=list(BAD_EVENTS))
def test_parse_event_rejects(data: Any, field: str | None, reason: str) -> None:
    for form in (data, json.dumps(data), json.dumps(data).encode()):
        with pytest.raises(InvalidEvent) as info:
            parse_event(form)
        assert (info.value.field, info.value.reason) == (field, reason)
        assert info.value.line is None


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xff{}", "invalid_utf8"),
        (b'{"seq": 1, "seq": 2}', "duplicate_key"),
        (b'{"seq": NaN}', "invalid_json"),
        (b"{", "invalid_json"),
        (b"", "invalid_json"),
        ("\ufeff{}".encode(), "invalid_json"),
    ],
)
def test_parse_event_rejects_bad_json(raw: bytes, reason: str) -> None:
    with pytest.raises(InvalidEvent) as info:
        parse_event(raw)
    assert info.value.reason == reason


def test_parse_event_keeps_a_wrong_hash() -> None:
    data = with_(hash=OTHER_HASH)
    event = parse_event(data)
    assert event.hash == OTHER_HASH
    assert event.computed_hash() != OTHER_HASH
    assert event.to_dict() == data


def test_parse_event_accepts_a_fraction() -> None:
    event = parse_event(with_(occurred_at="2025-01-02T03:04:05.000001Z"))
    assert event.occurred_at == T0 + timedelta(microseconds=1)


# --- chain checks -------------------------------------------------------------------------


def test_a_chain_of_n_events_verifies() -> None:
    events = make_chain(200)
    assert [e.seq for e in events] == list(range(1, 201))
    report = verify_chain(events, tenant="acme")
    assert report.ok
    assert report.events_checked == 200
    assert report.head == events[-1]
    assert report.first_break is None
    assert "200 event(s)" in report.message
    assert report.to_dict()["head_hash"] == events[-1].hash


def test_empty_chain_is_ok() -> None:
    report = check_chain([])
    assert report.ok
    assert report.events_checked == 0
    assert report.head is None
    assert report.message == "timeline intact: no events"


def test_checking_page_by_page() -> None:
    events = make_chain(10)
    report = check_chain(events[:4], tenant="acme")
    report = check_chain(events[4:7], start_after=report.head)
    report = check_chain(events[7:], start_after=report.head)
    assert report.ok
    assert report.head == events[-1]
    # A page that does not follow the trusted head is a break.
    gap = check_chain(events[5:], start_after=events[3])
    assert gap.first_break is not None
    assert (gap.first_break.seq, gap.first_break.reason) == (6, BreakReason.SEQ_GAP)
    with pytest.raises(ValueError, match="start_after"):
        check_chain(events[4:], tenant="globex", start_after=events[3])


def _swap(events: list[TimelineEvent], i: int, j: int) -> list[TimelineEvent]:
    events = list(events)
    events[i], events[j] = events[j], events[i]
    return events


def _at(events: list[TimelineEvent], i: int, event: TimelineEvent) -> list[TimelineEvent]:
    return [*events[:i], event, *events[i + 1 :]]


def _other_tenant(event: TimelineEvent) -> TimelineEvent:
    return replace(event, tenant=TenantId("globex"))


TAMPERING: dict[str, tuple[Callable[[list[TimelineEvent]], list[TimelineEvent]], int, str]] = {
    "attribute-changed": (
        lambda ev: _at(ev, 2, replace(ev[2], attributes={"records": 999})),
        3,
        "hash_mismatch",
    ),
    "attribute-changed-and-rehashed": (
        lambda ev: _at(ev, 2, resign(replace(ev[2], attributes={"records": 999}))),
        4,
        "prev_hash_mismatch",
    ),
    "stored-hash-changed": (
        lambda ev: _at(ev, 4, replace(ev[4], hash=OTHER_HASH)),
        5,
        "hash_mismatch",
    ),
    "reordered": (lambda ev: _swap(ev, 1, 2), 3, "seq_gap"),
    "dropped": (lambda ev: ev[:2] + ev[3:], 4, "seq_gap"),
    "first-dropped": (lambda ev: ev[1:], 2, "seq_gap"),
    "duplicated": (lambda ev: [*ev[:3], ev[2], *ev[3:]], 3, "seq_not_increasing"),
    "duplicate-seq-forged": (
        lambda ev: [*ev[:3], resign(replace(ev[2], source="forger")), *ev[3:]],
        3,
        "seq_not_increasing",
    ),
    "wrong-prev-hash": (
        lambda ev: _at(ev, 3, resign(replace(ev[3], prev_hash=OTHER_HASH))),
        4,
        "prev_hash_mismatch",
    ),
    "null-prev-hash": (
        lambda ev: _at(ev, 3, resign(replace(ev[3], prev_hash=None))),
        4,
        "prev_hash_mismatch",
    ),
    "wrong-tenant": (lambda ev: _at(ev, 1, resign(_other_tenant(ev[1]))), 2, "tenant_mismatch"),
    "first-prev-not-null": (
        lambda ev: _at(ev, 0, resign(replace(ev[0], prev_hash=OTHER_HASH))),
        1,
        "first_prev_not_null",
    ),
}


@pytest.mark.parametrize(("tamper", "seq", "reason"), TAMPERING.values(), ids=list(TAMPERING))
def test_tampering_is_found(
    tamper: Callable[[list[TimelineEvent]], list[TimelineEvent]], seq: int, reason: str
) -> None:
    events = tamper(make_chain(5))
    report = check_chain(events)
    assert not report.ok
    assert report.first_break is not None
    assert (report.first_break.seq, report.first_break.reason) == (seq, reason)
    assert report.first_break.event_id == events[report.first_break.position - 1].event_id
    assert report.events_checked == report.first_break.position
    with pytest.raises(VerificationFailed) as info:
        verify_chain(events)
    assert info.value.reason == "timeline_broken"
    assert f"seq {seq}" in str(info.value)
    assert reason in str(info.value)


def test_tenant_argument_pins_the_chain() -> None:
    report = check_chain(make_chain(3), tenant="globex")
    assert report.first_break is not None
    assert (report.first_break.seq, report.first_break.reason) == (1, "tenant_mismatch")
    assert report.head is None
    assert report.to_dict()["first_break"] == {
        "seq": 1,
        "event_id": report.first_break.event_id,
        "reason": "tenant_mismatch",
        "message": report.first_break.message,
        "position": 1,
    }


def test_check_stops_at_the_first_break() -> None:
    events = make_chain(3)

    def stream() -> Iterator[TimelineEvent]:
        yield events[0]
        yield events[2]
        raise AssertionError("read past the first break")

    report = check_chain(stream())
    assert report.first_break is not None
    assert report.first_break.position == 2
    assert report.head == events[0]


# --- property: any single-field mutation is detected --------------------------------------

SAFE = 2**53 - 1
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-SAFE, max_value=SAFE),
    st.floats(min_value=-1e15, max_value=1e15, allow_nan=False),
    st.text(max_size=8),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.text(max_size=4), children, max_size=3),
    ),
    max_leaves=10,
)
attribute_maps = st.dictionaries(st.text(max_size=6), json_values, max_size=4)
hashes = st.binary(min_size=32, max_size=32).map(lambda b: "sha256:" + b.hex())
ulids = st.binary(min_size=16, max_size=16).map(
    lambda b: "".join(
        "0123456789ABCDEFGHJKMNPQRSTVWXYZ"[(int.from_bytes(b, "big") >> s) & 31]
        for s in range(125, -1, -5)
    )
)

MUTATIONS: dict[str, st.SearchStrategy[Any]] = {
    "event_id": ulids,
    "seq": st.integers(min_value=1, max_value=SAFE),
    "event_type": st.sampled_from(list(EventType)),
    "tenant": st.sampled_from(["acme", "globex", "a", "t-1"]),
    "occurred_at": st.datetimes(
        min_value=datetime(1970, 1, 1), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
    ),
    "source": st.text(min_size=1, max_size=8),
    "correlation_id": st.none() | st.text(min_size=1, max_size=8),
    "attributes": attribute_maps,
    "prev_hash": st.none() | hashes,
    "hash": hashes,
}


def _mutate(
    data: st.DataObject, event: TimelineEvent, *, fields: Iterable[str] = MUTATIONS
) -> tuple[str, TimelineEvent]:
    name = data.draw(st.sampled_from(sorted(fields)), label="field")
    value = data.draw(MUTATIONS[name], label="value")
    mutated = replace(event, **{name: value})
    assume(mutated.to_dict() != event.to_dict())
    return name, mutated


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.lists(attribute_maps, min_size=1, max_size=6))
def test_any_single_field_mutation_is_detected(data: st.DataObject, attrs: list[Any]) -> None:
    events = make_chain(len(attrs), attributes=lambda i: attrs[i])
    assert check_chain(events).ok
    k = data.draw(st.integers(0, len(events) - 1), label="index")
    _, mutated = _mutate(data, events[k])
    report = check_chain(_at(events, k, mutated))
    assert report.first_break is not None
    assert report.first_break.position in (k + 1, k + 2)


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.lists(attribute_maps, min_size=2, max_size=6))
def test_a_rehashed_mutation_is_detected_by_the_next_event(
    data: st.DataObject, attrs: list[Any]
) -> None:
    events = make_chain(len(attrs), attributes=lambda i: attrs[i])
    k = data.draw(st.integers(0, len(events) - 2), label="index")
    # Every field but `hash`, which re-hashing would simply put back.
    _, mutated = _mutate(data, events[k], fields=set(MUTATIONS) - {"hash"})
    report = check_chain(_at(events, k, resign(mutated)))
    assert report.first_break is not None
    assert report.first_break.position in (k + 1, k + 2)


def test_a_rehashed_last_event_needs_a_known_head() -> None:
    # The documented limit of a hash chain: the tail is only as safe as the trusted head.
    events = make_chain(3)
    forged = resign(replace(events[-1], attributes={"records": 999}))
    assert check_chain([*events[:-1], forged]).ok


# --- NDJSON export ------------------------------------------------------------------------


@settings(max_examples=examples(100), deadline=None)
@given(st.lists(attribute_maps, min_size=0, max_size=5))
def test_ndjson_round_trip_is_byte_stable(attrs: list[Any]) -> None:
    events = make_chain(len(attrs), attributes=lambda i: attrs[i])
    lines = list(events_to_ndjson(events))
    assert all(line.endswith(b"\n") and line.count(b"\n") == 1 for line in lines)
    back = list(read_events_ndjson(lines))
    assert back == events
    assert list(events_to_ndjson(back)) == lines
    assert verify_chain(read_events_ndjson(lines)).events_checked == len(events)


def test_ndjson_reader_tolerates_blank_lines_and_crlf() -> None:
    events = make_chain(3)
    lines = [line.replace(b"\n", b"\r\n") for line in events_to_ndjson(events)]
    file = [b"\n", lines[0], b"  \r\n", lines[1], lines[2].rstrip(b"\r\n")]
    assert list(read_events_ndjson(file)) == events


def test_ndjson_reader_accepts_non_canonical_spelling() -> None:
    event = make_chain(1)[0]
    spaced = json.dumps(event.to_dict(), indent=None, separators=(", ", ": ")).encode()
    assert list(read_events_ndjson([spaced])) == [event]


def test_ndjson_errors_name_the_line() -> None:
    lines = list(events_to_ndjson(make_chain(3)))
    lines.insert(2, b"\n")
    lines[3] = lines[3].replace(b'"seq":3', b'"seq":"3"')
    with pytest.raises(InvalidEvent) as info:
        list(read_events_ndjson(lines))
    assert (info.value.line, info.value.field, info.value.reason) == (4, "seq", "wrong_type")
    assert str(info.value).startswith("timeline event: line 4: seq: ")


def test_ndjson_line_limit() -> None:
    with pytest.raises(InvalidEvent) as info:
        list(read_events_ndjson([b"[]\n", b"x" * 11 + b"\n"], max_line_bytes=10))
    assert (info.value.line, info.value.reason) == (1, "wrong_type")
    with pytest.raises(InvalidEvent) as info:
        list(read_events_ndjson([b"  \n", b"x" * 11 + b"\n"], max_line_bytes=10))
    assert (info.value.line, info.value.reason) == (2, "line_too_long")


def test_ndjson_reader_is_lazy() -> None:
    events = make_chain(2)

    def lines() -> Iterator[bytes]:
        yield from events_to_ndjson(events)
        yield b"not json\n"

    reader = read_events_ndjson(lines())
    assert next(reader) == events[0]
    assert next(reader) == events[1]
    with pytest.raises(InvalidEvent, match="line 3"):
        next(reader)
