"""The wire toolkit: one RFC 3339 parser whose strictness is a parameter, JSON helpers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stella_signals.clock import format_utc
from stella_signals.wire import (
    MAX_SAFE_INTEGER,
    DuplicateKeyError,
    JsonValueFault,
    NotJsonValue,
    Problem,
    ProblemSink,
    Rfc3339,
    duplicate_keys,
    freeze,
    freeze_checked,
    json_pointer,
    json_type,
    loads_strict,
    parse_rfc3339,
    thaw,
)

ALL = list(Rfc3339)
NOON = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def test_max_safe_integer_is_the_largest_exact_double() -> None:
    assert MAX_SAFE_INTEGER == 2**53 - 1
    assert float(MAX_SAFE_INTEGER) == MAX_SAFE_INTEGER
    assert float(MAX_SAFE_INTEGER + 2) != MAX_SAFE_INTEGER + 2


@pytest.mark.parametrize("strictness", ALL)
def test_every_level_reads_the_canonical_form(strictness: Rfc3339) -> None:
    assert parse_rfc3339("2025-03-01T12:00:00Z", strictness) == NOON
    moment = parse_rfc3339("2025-03-01T12:00:00.250000Z", strictness)
    assert moment == NOON + timedelta(milliseconds=250)
    assert moment is not None and moment.tzinfo is UTC


@pytest.mark.parametrize("strictness", ALL)
@pytest.mark.parametrize(
    "text",
    [
        "2025-03-01T12:00:00",  # naive: ambiguous
        "2025-03-01",
        "2025-03-01 12:00:00Z",
        "2025-02-30T12:00:00Z",
        "2025-03-01T24:00:00Z",
        "2025-03-01T23:59:60Z",
        "2025-03-01T12:00:00+24:00",
        "2025-03-01T12:00:00+01:60",
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
        "9999-12-31T23:59:59-01:00",  # after year 9999 in UTC
        "2025-03-01T12:00:00.Z",
        "\uff12\uff10\uff12\uff15-03-01T12:00:00Z",  # full-width digits
        "",
    ],
)
def test_no_level_reads_these(strictness: Rfc3339, text: str) -> None:
    assert parse_rfc3339(text, strictness) is None


@pytest.mark.parametrize(
    ("text", "accepted_by"),
    [
        ("2025-03-01t12:00:00z", {Rfc3339.FULL, Rfc3339.MICROS}),
        ("2025-03-01T12:00:00.123456789Z", {Rfc3339.FULL}),
        ("2025-03-01T13:30:00+01:30", {Rfc3339.FULL, Rfc3339.MICROS, Rfc3339.UPPER_MICROS}),
        ("2025-03-01T12:00:00.5Z", {Rfc3339.FULL, Rfc3339.MICROS, Rfc3339.UPPER_MICROS}),
        ("2025-03-01T12:00:00.000000Z", {Rfc3339.FULL, Rfc3339.MICROS, Rfc3339.UPPER_MICROS}),
    ],
)
def test_strictness_levels(text: str, accepted_by: set[Rfc3339]) -> None:
    for strictness in Rfc3339:
        parsed = parse_rfc3339(text, strictness)
        assert (parsed is not None) == (strictness in accepted_by), strictness


def test_offsets_and_long_fractions_name_the_same_instant() -> None:
    assert parse_rfc3339("2025-03-01T13:30:00+01:30") == NOON
    assert parse_rfc3339("2025-03-01T10:00:00-02:00") == NOON
    assert parse_rfc3339("2025-03-01T12:00:00.1234569Z") == NOON.replace(microsecond=123456)


@given(st.datetimes(min_value=datetime(1000, 1, 1), timezones=st.just(UTC)))
def test_canonical_reads_exactly_what_format_utc_writes(moment: datetime) -> None:
    text = format_utc(moment)
    assert parse_rfc3339(text, Rfc3339.CANONICAL) == moment
    assert parse_rfc3339(text.replace("Z", "+00:00"), Rfc3339.CANONICAL) is None


def test_freeze_and_thaw_round_trip() -> None:
    value = {"a": [1, {"b": None}], "c": "x"}
    frozen = freeze(value)
    assert isinstance(frozen, MappingProxyType) and frozen["a"] == (
        1,
        MappingProxyType({"b": None}),
    )
    assert thaw(frozen) == value
    assert thaw((1, [2])) == [1, [2]]


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (None, "null"),
        (True, "boolean"),
        (1, "number"),
        (1.5, "number"),
        ("", "string"),
        ([], "array"),
        ((), "array"),
        ({}, "object"),
        (MappingProxyType({}), "object"),
        (b"x", "bytes"),
    ],
)
def test_json_type(value: object, name: str) -> None:
    assert json_type(value) == name


def test_json_type_can_name_the_empty_string() -> None:
    assert json_type("", empty_string=True) == "empty string"
    assert json_type("x", empty_string=True) == "string"


def test_json_pointer_escapes_tokens() -> None:
    assert json_pointer() == ""
    assert json_pointer("entries", 3, "a/b~c") == "/entries/3/a~1b~0c"


def test_problem_renders_as_the_spec_error_entry() -> None:
    problem = Problem("/entries/0/sha256", "invalid_sha256", "expected 64 hex digits")
    assert problem.to_dict() == {
        "line": None,
        "field": "/entries/0/sha256",
        "reason": "invalid_sha256",
        "pointer": "/entries/0/sha256",
        "message": "expected 64 hex digits",
    }
    assert str(problem) == "/entries/0/sha256: invalid_sha256: expected 64 hex digits"
    whole = Problem("", "not_an_object", "got array")
    assert whole.to_dict()["field"] is None
    assert str(whole) == "(document): not_an_object: got array"


def test_sink_keeps_the_first_problems_and_counts_all() -> None:
    sink = ProblemSink(Problem, limit=2)
    for i in range(5):
        sink.add(json_pointer(i), "wrong_type", f"item {i}")
    assert sink.total == 5
    assert [p.pointer for p in sink.problems] == ["/0", "/1"]


def test_duplicate_keys_are_found_at_their_pointers() -> None:
    text = '{"a": 1, "b": [{"k": 1, "k": 2}], "a": 3, "x/y": {"z": 0, "z": 0}}'
    with pytest.raises(DuplicateKeyError):
        loads_strict(text)
    assert duplicate_keys(text) == [("/a", "a"), ("/b/0/k", "k"), ("/x~1y/z", "z")]
    assert duplicate_keys(b'{"a": 1}') == []
    assert duplicate_keys(b"{") == []


def test_the_utf8_form_of_a_surrogate_is_not_json_text() -> None:
    """Python's json.loads decodes bytes with surrogatepass; a document holding ED A0..BF is
    refused with its line and column, and its neighbours (U+D7FF, U+E000) are not."""
    with pytest.raises(json.JSONDecodeError) as caught:
        loads_strict(b'{"a":\n "x\xed\xa0\x80"}')
    assert (caught.value.lineno, caught.value.colno) == (2, 4)
    assert "surrogate" in caught.value.msg
    assert loads_strict(b'{"a": "\xed\x9f\xbf\xee\x80\x80"}') == {"a": "\ud7ff\ue000"}
    assert loads_strict('{"a": "\\ud800"}') == {"a": "\ud800"}  # an escape: the caller's call


def test_freeze_checked_copies_json_data_read_only() -> None:
    frozen = freeze_checked({"a": [1, 2.5, True, None, "x"]})
    assert frozen == MappingProxyType({"a": (1, 2.5, True, None, "x")})
    assert freeze_checked({"n": 5.0}, exact=True) == {"n": 5}
    assert type(freeze_checked({"n": 5.0}, exact=True)["n"]) is int
    assert type(freeze_checked({"n": 5.0})["n"]) is float
    assert freeze_checked({"n": 2**60}) == {"n": 2**60}


@pytest.mark.parametrize(
    ("value", "exact", "fault", "path"),
    [
        ({"a": [float("nan")]}, False, JsonValueFault.NOT_FINITE, ("a", 0)),
        ({"a": {1: 2}}, False, JsonValueFault.KEY_NOT_TEXT, ("a",)),
        ({"a": {"b": b"x"}}, False, JsonValueFault.NOT_JSON, ("a", "b")),
        ({"a": 2**53}, True, JsonValueFault.BEYOND_SAFE_INTEGER, ("a",)),
        ({"a": -(2.0**53)}, True, JsonValueFault.BEYOND_SAFE_INTEGER, ("a",)),
        ({"a": ["\ud800"]}, True, JsonValueFault.LONE_SURROGATE, ("a", 0)),
        ({"a": {"\udfff": 1}}, True, JsonValueFault.LONE_SURROGATE, ("a",)),
    ],
)
def test_freeze_checked_says_what_and_where(
    value: object, exact: bool, fault: JsonValueFault, path: tuple[str | int, ...]
) -> None:
    with pytest.raises(NotJsonValue) as caught:
        freeze_checked(value, exact=exact)
    assert (caught.value.fault, caught.value.path) == (fault, path)


def test_only_exact_freezing_bounds_numbers_and_text() -> None:
    assert freeze_checked({"a": 2**53, "b": "\ud800"}) == {"a": 2**53, "b": "\ud800"}
